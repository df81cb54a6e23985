//! The slots family's faults: the licence server's latency and refusals,
//! and clients that burst or crash.
//!
//! Owns [`Fault`]. Network faults (a held client link, a partitioned
//! licence server) and core fault points are the harness's (`Step::Net`,
//! `Step::Point`); this enum holds only what a slots world applies to its
//! peers, and never anything that is not plain data.

use relaysim_harness::fault::{Band, FamilyFault};
use serde::{Deserialize, Serialize};

/// A slots application fault (or workload step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// The licence server answers each query in `min_ms..=max_ms`.
    LicenceLatency {
        /// Shortest latency, in milliseconds.
        min_ms: u64,
        /// Longest latency, in milliseconds.
        max_ms: u64,
    },
    /// Share of queries the licence server answers `no`.
    LicenceRefusals {
        /// 0 to 100.
        percent: u8,
    },
    /// `client` opens `sessions` extra sessions at once, each acquiring a
    /// slot (a broadcast that needs several renditions).
    ClientBurst {
        /// The client host.
        client: String,
        /// How many sessions, at the same instant.
        sessions: u8,
    },
    /// `client`'s sessions die at once, without a `release`: the server
    /// learns it only from their connections closing.
    ClientCrash {
        /// The client host.
        client: String,
    },
}

impl FamilyFault for Fault {
    fn band(&self) -> Option<Band> {
        match self {
            Fault::LicenceRefusals { percent } => Some(Band::new("licence refusals", *percent > 0)),
            Fault::LicenceLatency { .. }
            | Fault::ClientBurst { .. }
            | Fault::ClientCrash { .. } => None,
        }
    }
}
