//! The restream family's faults: the Twitch API's latency and errors, the
//! publisher (OBS) dropping and re-making its connection, and a silent peer
//! (one that accepts or makes a connection and then says nothing, which a
//! network fault cannot express).
//!
//! Owns [`Fault`]. Network faults and core fault points are the harness's
//! (`Step::Net`, `Step::Point`); this enum holds only what a restream world
//! applies to its peers, and never anything that is not plain data.

use relaysim_harness::fault::bounds;
use relaysim_harness::fault::{Band, FamilyFault, Scope};
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
    /// `host` goes silent. The Twitch API or a platform ingest accepts
    /// connections and then never reads or answers on them (a hung
    /// worker), and a connection or request already in progress hangs the
    /// same way; those connections stay hung for good, even after
    /// [`Fault::Speak`] (only new ones are served again). The publisher
    /// (`obs`) makes its TCP connection and sends nothing until it speaks
    /// again, then drops it and reconnects.
    Silent {
        /// `twitch-api`, an ingest host, or `obs`.
        host: String,
    },
    /// `host` answers new connections again (the heal does it for every
    /// host).
    Speak {
        /// As in [`Fault::Silent`].
        host: String,
    },
}

/// The hosts [`Fault::Silent`] may name.
pub const SILENT_HOSTS: &[&str] = &[
    super::world::TWITCH_API,
    super::world::TWITCH_INGEST,
    super::world::YOUTUBE_INGEST,
    super::world::KICK_INGEST,
    super::world::OBS,
];

impl FamilyFault for Fault {
    /// A silent peer disturbs its connections with the relay (the
    /// publisher's, for `obs`); 503s disturb the relay's Twitch requests.
    /// Latency draws and the publisher's own connects and disconnects are
    /// the workload.
    fn scope(&self) -> Option<Scope> {
        use super::world::{OBS, RELAY, TWITCH_API};
        match self {
            Fault::Silent { host } if host == OBS => Some(Scope::link(OBS, RELAY)),
            Fault::Silent { host } => Some(Scope::link(RELAY, host)),
            Fault::TwitchErrors { .. } => Some(Scope::link(RELAY, TWITCH_API)),
            _ => None,
        }
    }

    fn validate(&self) -> Result<(), String> {
        match self {
            Fault::TwitchLatency { min_ms, max_ms } => {
                bounds::ms_range("min_ms", *min_ms, "max_ms", *max_ms)
            }
            Fault::TwitchErrors { percent } => bounds::percent("percent", *percent),
            Fault::PublisherDisconnect | Fault::PublisherConnect => Ok(()),
            Fault::Silent { host } | Fault::Speak { host } => {
                if SILENT_HOSTS.contains(&host.as_str()) {
                    Ok(())
                } else {
                    Err(format!(
                        "host: {host:?} cannot be silenced (one of {})",
                        SILENT_HOSTS.join(", ")
                    ))
                }
            }
        }
    }

    fn band(&self) -> Option<Band> {
        match self {
            Fault::PublisherDisconnect => Some(Band::new("publisher disconnected", true)),
            Fault::PublisherConnect => Some(Band::new("publisher disconnected", false)),
            Fault::TwitchErrors { percent } => Some(Band::new("twitch errors", *percent > 0)),
            Fault::TwitchLatency { .. } => None,
            Fault::Silent { host } => Some(Band::new(format!("silent {host}"), true)),
            Fault::Speak { host } => Some(Band::new(format!("silent {host}"), false)),
        }
    }
}
