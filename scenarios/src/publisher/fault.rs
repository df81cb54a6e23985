//! The publisher family's faults: the LiveKit room's latency and refusals,
//! the pipeline's start, each track's EOS, and the signal that ends the
//! publisher.
//!
//! Owns [`Fault`]. Network faults and core fault points are the harness's
//! (`Step::Net`, `Step::Point`); this enum holds only what a publisher world
//! applies to its room server, pipeline and process, and never anything that
//! is not plain data.

use relaysim_core::session::publisher::TrackKind;
use relaysim_harness::fault::bounds;
use relaysim_harness::fault::{Band, FamilyFault, Scope};
use serde::{Deserialize, Serialize};

/// A publisher application fault (or workload step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// LiveKit answers each signalling request in `min_ms..=max_ms`.
    LivekitLatency {
        /// Shortest latency, in milliseconds.
        min_ms: u64,
        /// Longest latency, in milliseconds.
        max_ms: u64,
    },
    /// Percentages of LiveKit joins and publishes refused (503).
    LivekitErrors {
        /// Share of room joins refused, in percent.
        join_percent: u8,
        /// Share of track publishes refused, in percent.
        publish_percent: u8,
    },
    /// The publisher's pipeline reaches PLAYING in `min_ms..=max_ms`, or
    /// fails to in `fail_percent`% of attempts.
    PipelineStart {
        /// Shortest latency, in milliseconds.
        min_ms: u64,
        /// Longest latency, in milliseconds.
        max_ms: u64,
        /// Share of pipeline starts that fail, in percent.
        fail_percent: u8,
    },
    /// The publisher's `track` source ends `after_ms` after PLAYING (every
    /// attempt; workload rather than fault).
    TrackEos {
        /// The track.
        track: String,
        /// Milliseconds after the pipeline starts.
        after_ms: u64,
    },
    /// SIGINT/SIGTERM to the publisher.
    PublisherSignal,
    /// LiveKit hangs (`on`) or comes back (`!on`): connections are
    /// accepted and requests read, but none is answered or acted on.
    LivekitSilent {
        /// Silent from now on (else answering again).
        on: bool,
    },
}

impl FamilyFault for Fault {
    /// LiveKit's latency, refusals and silence disturb the signalling
    /// connection; the pipeline's start and its tracks' ends (in process)
    /// and the operator's signal are the workload.
    fn scope(&self) -> Option<Scope> {
        use super::world::{LIVEKIT, PUBLISHER};
        match self {
            Fault::LivekitLatency { .. }
            | Fault::LivekitErrors { .. }
            | Fault::LivekitSilent { .. } => Some(Scope::link(PUBLISHER, LIVEKIT)),
            _ => None,
        }
    }

    fn validate(&self) -> Result<(), String> {
        match self {
            Fault::LivekitLatency { min_ms, max_ms } => {
                bounds::ms_range("min_ms", *min_ms, "max_ms", *max_ms)
            }
            Fault::LivekitErrors {
                join_percent,
                publish_percent,
            } => {
                bounds::percent("join_percent", *join_percent)?;
                bounds::percent("publish_percent", *publish_percent)
            }
            Fault::PipelineStart {
                min_ms,
                max_ms,
                fail_percent,
            } => {
                bounds::ms_range("min_ms", *min_ms, "max_ms", *max_ms)?;
                bounds::percent("fail_percent", *fail_percent)
            }
            Fault::TrackEos { track, after_ms } => {
                let tracks: Vec<&str> = TrackKind::ALL.iter().map(|k| k.as_str()).collect();
                bounds::one_of("track", track, &tracks)?;
                bounds::ms("after_ms", *after_ms)
            }
            Fault::PublisherSignal | Fault::LivekitSilent { .. } => Ok(()),
        }
    }

    fn band(&self) -> Option<Band> {
        match self {
            Fault::LivekitSilent { on } => Some(Band::new("livekit silent", *on)),
            Fault::LivekitLatency { .. }
            | Fault::LivekitErrors { .. }
            | Fault::PipelineStart { .. }
            | Fault::TrackEos { .. }
            | Fault::PublisherSignal => None,
        }
    }
}
