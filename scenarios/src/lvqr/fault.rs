//! The lvqr family's faults: broadcasts published and stopped, the admin
//! API editing the rendition ladder, and transcoder panics armed by the
//! plan.
//!
//! Owns [`Fault`] and [`Phase`]. The family has one host and no network
//! faults (the races live inside the runner, not on a wire); this enum
//! holds only what the lvqr world applies to its peers, and only plain
//! data.

use super::world::{rendition_pool, BROADCASTS};
use relaysim_harness::fault::{bounds, FamilyFault};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A `Transcoder` call an injected panic fires in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// `on_start`.
    Start,
    /// `on_fragment`.
    Fragment,
    /// `on_stop`.
    Stop,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Start => "start",
            Phase::Fragment => "fragment",
            Phase::Stop => "stop",
        })
    }
}

/// An lvqr application fault (or workload step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// The ingest publishes `broadcast` (a new session when it was down).
    BroadcastPublish {
        /// `live/a`, `live/b` or `live/c`.
        broadcast: String,
    },
    /// The ingest stops `broadcast`: its registry entry is removed and its
    /// producer dropped, as LVQR's RTMP bridge does on unpublish.
    BroadcastUnpublish {
        /// The broadcast.
        broadcast: String,
    },
    /// The admin API adds a rendition. It is pending for `window_ms`: it
    /// lands inside the first factory `build` of an entry-created callback
    /// in that window (when edits race publishes), else at the window's end.
    RenditionAdd {
        /// A name of the rendition pool.
        rendition: String,
        /// How long the edit may wait for a build to land in.
        window_ms: u64,
    },
    /// The admin API removes a rendition (lands like `RenditionAdd`).
    RenditionRemove {
        /// The rendition.
        rendition: String,
        /// How long the edit may wait for a build to land in.
        window_ms: u64,
    },
    /// The next transcoder of `rendition` for `broadcast` panics in
    /// `phase` (for `fragment`: after `after` more fragments).
    TranscoderPanic {
        /// The rendition.
        rendition: String,
        /// The source broadcast.
        broadcast: String,
        /// The call that panics.
        phase: Phase,
        /// For `fragment`: fragments let through first.
        after: u64,
    },
}

impl FamilyFault for Fault {
    fn validate(&self) -> Result<(), String> {
        let pool: Vec<&str> = rendition_pool().iter().map(|(name, _)| *name).collect();
        match self {
            Fault::BroadcastPublish { broadcast } | Fault::BroadcastUnpublish { broadcast } => {
                bounds::one_of("broadcast", broadcast, BROADCASTS)
            }
            Fault::RenditionAdd {
                rendition,
                window_ms,
            }
            | Fault::RenditionRemove {
                rendition,
                window_ms,
            } => {
                bounds::one_of("rendition", rendition, &pool)?;
                bounds::ms("window_ms", *window_ms)
            }
            Fault::TranscoderPanic {
                rendition,
                broadcast,
                after,
                ..
            } => {
                bounds::one_of("rendition", rendition, &pool)?;
                bounds::one_of("broadcast", broadcast, BROADCASTS)?;
                bounds::at_most("after", *after, 1_000_000)
            }
        }
    }
}
