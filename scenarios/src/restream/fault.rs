//! The restream family's faults: the Twitch API's latency and errors, and
//! the publisher (OBS) dropping and re-making its connection.
//!
//! Owns [`Fault`]. Network faults and core fault points are the harness's
//! (`Step::Net`, `Step::Point`); this enum holds only what a restream world
//! applies to its peers, and never anything that is not plain data.

use relaysim_harness::fault::bounds;
use relaysim_harness::fault::{Band, FamilyFault};
use serde::{Deserialize, Serialize};

/// A restream application fault (or workload step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Twitch API response latency, drawn per request in `min_ms..=max_ms`.
    TwitchLatency {
        /// Shortest latency, in milliseconds.
        min_ms: u64,
        /// Longest latency, in milliseconds.
        max_ms: u64,
    },
    /// Percentage of Twitch API requests answered with HTTP 503.
    TwitchErrors {
        /// 0 to 100.
        percent: u8,
    },
    /// The publisher (OBS) drops its connection.
    PublisherDisconnect,
    /// The publisher connects (again).
    PublisherConnect,
}

impl FamilyFault for Fault {
    fn validate(&self) -> Result<(), String> {
        match self {
            Fault::TwitchLatency { min_ms, max_ms } => {
                bounds::ms_range("min_ms", *min_ms, "max_ms", *max_ms)
            }
            Fault::TwitchErrors { percent } => bounds::percent("percent", *percent),
            Fault::PublisherDisconnect | Fault::PublisherConnect => Ok(()),
        }
    }

    fn band(&self) -> Option<Band> {
        match self {
            Fault::PublisherDisconnect => Some(Band::new("publisher disconnected", true)),
            Fault::PublisherConnect => Some(Band::new("publisher disconnected", false)),
            Fault::TwitchErrors { percent } => Some(Band::new("twitch errors", *percent > 0)),
            Fault::TwitchLatency { .. } => None,
        }
    }
}
