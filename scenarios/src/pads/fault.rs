//! The pads family's faults: the application starting, stopping and
//! restarting the MoQ source element, its main loop stalling, and the MoQ
//! relay changing its catalog, a track's codec config, or going down.
//!
//! Owns [`Fault`]. Network faults and core fault points are the harness's
//! (`Step::Net`, `Step::Point`); this enum holds only what a pads world
//! applies to its application and peers, and never anything that is not
//! plain data.

use relaysim_harness::fault::FamilyFault;
use serde::{Deserialize, Serialize};

/// A pads application fault (or workload step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// The application sets the MoQ source to PAUSED (starts a session).
    PadsStart,
    /// The application sets the MoQ source back to READY.
    PadsStop,
    /// PAUSED → READY → PAUSED in one go.
    PadsRestart,
    /// The element's main loop is busy for `ms` (a blocked downstream push).
    MainLoopStall {
        /// How long, in milliseconds.
        ms: u64,
    },
    /// The relay's catalog becomes exactly these tracks.
    MoqCatalog {
        /// The tracks.
        tracks: Vec<String>,
    },
    /// A track's codec config changes now; the catalog follows after
    /// `catalog_delay_ms`.
    MoqConfigChange {
        /// The track.
        track: String,
        /// How long the new catalog takes to arrive, in milliseconds.
        catalog_delay_ms: u64,
    },
    /// The relay closes every subscription and refuses new ones for `ms`.
    MoqRelayDown {
        /// How long, in milliseconds.
        ms: u64,
    },
}

impl FamilyFault for Fault {}
