//! The pads family's faults: the application starting, stopping and
//! restarting the MoQ source element, its main loop stalling, and the MoQ
//! relay changing its catalog, a track's codec config, or going down.
//!
//! Owns [`Fault`]. Network faults and core fault points are the harness's
//! (`Step::Net`, `Step::Point`); this enum holds only what a pads world
//! applies to its application and peers, and never anything that is not
//! plain data.

use super::peers::moq_relay::KNOWN_TRACKS;
use relaysim_harness::fault::bounds;
use relaysim_harness::fault::{FamilyFault, Scope};
use serde::{Deserialize, Serialize};

/// The track names the relay knows.
fn known() -> Vec<&'static str> {
    KNOWN_TRACKS.iter().map(|t| t.name).collect()
}

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

impl FamilyFault for Fault {
    /// A stalled main loop and a relay outage disturb the session's
    /// connections (`gst`~`moq-relay`); the application's commands and the
    /// relay's catalog and codec changes are the workload.
    fn scope(&self) -> Option<Scope> {
        use super::world::{GST, RELAY};
        match self {
            Fault::MainLoopStall { .. } | Fault::MoqRelayDown { .. } => {
                Some(Scope::link(GST, RELAY))
            }
            _ => None,
        }
    }

    fn validate(&self) -> Result<(), String> {
        match self {
            Fault::PadsStart | Fault::PadsStop | Fault::PadsRestart => Ok(()),
            Fault::MainLoopStall { ms } | Fault::MoqRelayDown { ms } => bounds::ms("ms", *ms),
            Fault::MoqCatalog { tracks } => {
                bounds::at_most("tracks", tracks.len() as u64, 64)?;
                tracks
                    .iter()
                    .try_for_each(|t| bounds::one_of("track", t, &known()))
            }
            Fault::MoqConfigChange {
                track,
                catalog_delay_ms,
            } => {
                bounds::one_of("track", track, &known())?;
                bounds::ms("catalog_delay_ms", *catalog_delay_ms)
            }
        }
    }
}
