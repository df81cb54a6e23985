//! The transcode family's faults: publishers starting and stopping their
//! broadcasts, the admin API editing the rendition ladder, and transcoders
//! panicking where the plan arms them.
//!
//! Owns [`Fault`]. Network faults and core fault points are the harness's
//! (`Step::Net`, `Step::Point`); this enum holds only what a transcode world
//! applies to its peers, and never anything that is not plain data.

use super::world::{rendition_pool, ENCODERS, PUBLISHERS};
use relaysim_core::transcode::Phase;
use relaysim_harness::fault::bounds;
use relaysim_harness::fault::{FamilyFault, Scope};
use serde::{Deserialize, Serialize};

/// A transcode application fault (or workload step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// A named publisher host publishes (again).
    BroadcastPublish {
        /// The publisher host.
        publisher: String,
    },
    /// A named publisher host stops publishing.
    BroadcastUnpublish {
        /// The publisher host.
        publisher: String,
    },
    /// The admin API adds a rendition to the ladder. It runs on another
    /// thread: it lands at the first factory build within `window_ms`, else
    /// when the window ends.
    RenditionAdd {
        /// The rendition (a preset name).
        rendition: String,
        /// How long the edit may wait for a factory build to land in.
        window_ms: u64,
    },
    /// The admin API removes a rendition (lands like `RenditionAdd`).
    RenditionRemove {
        /// The rendition.
        rendition: String,
        /// How long the edit may wait for a factory build to land in.
        window_ms: u64,
    },
    /// An encoder's next connection says nothing for `ms` before its
    /// hello (a silent publisher).
    EncoderMute {
        /// The encoder host.
        encoder: String,
        /// How long, in milliseconds.
        ms: u64,
    },
    /// An encoder's publishing connection sends no frame for `ms`.
    EncoderPause {
        /// The encoder host.
        encoder: String,
        /// How long, in milliseconds.
        ms: u64,
    },
    /// Arms a panic in the next transcoder of `rendition` to reach `phase`
    /// (for `fragment`: after `after` more fragments of that rendition).
    TranscoderPanic {
        /// The rendition whose next transcoder panics.
        rendition: String,
        /// The call that panics (`start`, `fragment` or `stop`).
        phase: Phase,
        /// For `fragment`: after this many more fragments.
        after: u64,
    },
}

impl FamilyFault for Fault {
    /// An encoder's silence or pause disturbs its connection to the
    /// transcode host; publishes, rendition edits and armed transcoder
    /// panics (in-process, on no connection) are the workload.
    fn scope(&self) -> Option<Scope> {
        match self {
            Fault::EncoderMute { encoder, .. } | Fault::EncoderPause { encoder, .. } => {
                Some(Scope::link(encoder, super::world::TRANSCODE))
            }
            _ => None,
        }
    }

    fn validate(&self) -> Result<(), String> {
        let publishers: Vec<&str> = PUBLISHERS
            .iter()
            .chain(ENCODERS.iter())
            .map(|(h, _)| *h)
            .collect();
        let encoders: Vec<&str> = ENCODERS.iter().map(|(h, _)| *h).collect();
        let pool: Vec<String> = rendition_pool().into_iter().map(|r| r.name).collect();
        let pool: Vec<&str> = pool.iter().map(String::as_str).collect();
        match self {
            Fault::BroadcastPublish { publisher } | Fault::BroadcastUnpublish { publisher } => {
                bounds::one_of("publisher", publisher, &publishers)
            }
            Fault::EncoderMute { encoder, ms } | Fault::EncoderPause { encoder, ms } => {
                bounds::one_of("encoder", encoder, &encoders)?;
                bounds::ms("ms", *ms)
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
                rendition, after, ..
            } => {
                bounds::one_of("rendition", rendition, &pool)?;
                bounds::at_most("after", *after, 1_000_000)
            }
        }
    }
}
