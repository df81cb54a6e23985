//! The LiveKit-style track publisher (seed-systems.md §4): a pipeline whose
//! tracks are published into a room, with the room join and the pipeline
//! start running in parallel.
//!
//! Keeps the upstream's concurrency structure: `start` runs two tasks as a
//! group (room join + track publish + EOS-callback registration, and the
//! pipeline's move to PLAYING); each track's streaming task writes samples
//! and fires its EOS on its own schedule; bus messages (the pipeline's EOS)
//! are handled by the main loop only once `start` returned; a signal task
//! may call `stop` at any time. Where the upstream had a plain errgroup
//! (no cancellation: the other goroutine runs to completion), a failure of
//! either side here cancels the other before `stop` tears down.
//!
//! | module | owns |
//! |---|---|
//! | [`latch`] | the per-track EOS latch: exactly-once callback whichever of EOS and registration comes first |
//! | [`signal`] | the room's signalling client (join / publish / unpublish / leave RPC over the `Net` seam) and its wire format |
//! | [`pipeline`] | the simulated pipeline: start latency and failure, per-track buffers and EOS at drawn times |
//! | [`run`] | one publish attempt ([`run::Publisher`]: start, main loop, idempotent stop), the attempt loop and its handle |
//! | [`stop`] | the stop protocol: claim once, cancel, tear down once, every caller returns after the teardown |
//! | [`event`] | [`PublisherEvent`], the component's trace events |
//!
//! It must never run an EOS callback twice, leave a track published after its
//! EOS while the room stays joined, or let a failed start leave the other
//! side running. Known bug carried here: `eos-before-register`. Fault
//! point `publisher.publish.answer-lost`: the room published a track but
//! its answer never came back, so the start fails with the track in the
//! room.
//!
//! # Contract
//!
//! Oracles per clause: `docs/contracts.md`.
//!
//! - **S1** Each track's EOS callback runs at most once, and only an ended
//!   track is unpublished.
//! - **S2** A published track whose EOS fired is gone from the room within
//!   2 s, whichever of EOS and registration came first.
//! - **S3** A failure of either side of `start` cancels the other; a failed
//!   or stopped start leaves no pipeline playing and no participant in the
//!   room.
//! - **R1** One teardown per attempt however many callers; nothing of an
//!   attempt runs after its stop finished.
//! - **L1** Once every track ended (or a signal came) the publisher winds
//!   down within 5 s; after a heal an attempt runs with every track
//!   published within 5 s.

pub mod event;
pub mod latch;
pub mod pipeline;
pub mod run;
pub mod signal;
pub mod stop;

pub use event::PublisherEvent;
pub use latch::{EosLatch, Firing, Registration};
pub use pipeline::{PipelineControl, PipelineScript};
pub use run::{run_publisher, PublisherConfig, PublisherHandle};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// How long the signalling client waits for one RPC answer.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `stop` waits for the room to acknowledge the leave.
pub const LEAVE_TIMEOUT: Duration = Duration::from_secs(2);
/// The wait before the next attempt after a failed start.
pub const RETRY_BACKOFF: Duration = Duration::from_millis(1000);

/// A published track (upstream: at most one video and one audio source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrackKind {
    Video,
    Audio,
}

impl TrackKind {
    pub const ALL: [TrackKind; 2] = [TrackKind::Video, TrackKind::Audio];

    pub fn as_str(self) -> &'static str {
        match self {
            TrackKind::Video => "video",
            TrackKind::Audio => "audio",
        }
    }

    pub fn parse(s: &str) -> Option<TrackKind> {
        TrackKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Sample interval of the simulated source (30 fps video, 20 ms audio).
    pub fn sample_interval(self) -> Duration {
        match self {
            TrackKind::Video => Duration::from_micros(33_333),
            TrackKind::Audio => Duration::from_millis(20),
        }
    }
}

impl fmt::Display for TrackKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two halves of `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    /// Room join, track publish, EOS-callback registration.
    Room,
    /// The pipeline's move to PLAYING.
    Pipeline,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Room => "room",
            Side::Pipeline => "pipeline",
        })
    }
}

/// Why an attempt is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopReason {
    /// One side of `start` failed.
    StartFailed,
    /// Every track reached EOS (the bus's pipeline EOS).
    PipelineEos,
    /// The room's signalling connection broke after start.
    RoomLost,
    /// SIGINT / SIGTERM.
    Signal,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::StartFailed => "start-failed",
            StopReason::PipelineEos => "pipeline-eos",
            StopReason::RoomLost => "room-lost",
            StopReason::Signal => "signal",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_kinds_parse() {
        assert_eq!(TrackKind::parse("audio"), Some(TrackKind::Audio));
        assert_eq!(TrackKind::parse("x"), None);
    }
}
