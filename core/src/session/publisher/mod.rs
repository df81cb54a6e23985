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
//! | [`run`] | one publish attempt ([`run::Publisher`]: start, main loop, idempotent stop) and the attempt loop |
//!
//! It must never run an EOS callback twice, leave a track published after its
//! EOS while the room stays joined, or let a failed start leave the other
//! side running. Known bug carried here: `eos-before-register`. Fault
//! point `publisher.publish.answer-lost`: the room published a track but
//! its answer never came back, so the start fails with the track in the
//! room.

pub mod latch;
pub mod pipeline;
pub mod run;
pub mod signal;

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

/// Everything the publisher reports (one variant of [`crate::Event`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublisherEvent {
    /// Attempt `attempt` begins (a fresh room session and pipeline).
    AttemptStart { attempt: u64 },
    /// The room accepted the join.
    RoomJoined { attempt: u64 },
    /// The room published `track` as `sid`; samples are bound from now on.
    TrackPublished {
        attempt: u64,
        track: TrackKind,
        sid: String,
    },
    /// The track's EOS callback was stored; `after_eos`: the track had
    /// already ended (the callback ran at registration).
    EosRegistered {
        attempt: u64,
        track: TrackKind,
        after_eos: bool,
    },
    /// The pipeline reached PLAYING.
    PipelinePlaying { attempt: u64 },
    /// Both sides of `start` succeeded.
    Started { attempt: u64 },
    /// One side of `start` failed (the first failure of the group).
    StartFailed {
        attempt: u64,
        side: Side,
        error: String,
    },
    /// The other side was cancelled because of that failure (or a stop).
    StartCancelled { attempt: u64, side: Side },
    /// A track's streaming task reached EOS; `callback`: a registered EOS
    /// callback ran now (false: none registered yet).
    TrackEos {
        attempt: u64,
        track: TrackKind,
        callback: bool,
    },
    /// A track's EOS callback asked the room to unpublish it.
    Unpublish {
        attempt: u64,
        track: TrackKind,
        sid: String,
    },
    /// The main loop saw the pipeline's EOS (every track ended).
    PipelineEos { attempt: u64 },
    /// The main loop saw the room's signalling connection break.
    RoomLost { attempt: u64 },
    /// A SIGINT/SIGTERM arrived.
    Signal,
    /// `stop` began tearing the attempt down.
    StopBegin { attempt: u64, reason: StopReason },
    /// A second `stop` caller found the teardown already claimed and waited
    /// for it instead of running it again.
    StopJoined { attempt: u64, reason: StopReason },
    /// The pipeline went to NULL; `streaming`: streaming tasks it ended.
    PipelineNull { attempt: u64, streaming: usize },
    /// The room was left (`acked`: the room answered the leave in time).
    RoomLeft { attempt: u64, acked: bool },
    /// The teardown finished: nothing of this attempt runs any more.
    StopDone { attempt: u64 },
}

impl PublisherEvent {
    pub fn name(&self) -> &'static str {
        match self {
            PublisherEvent::AttemptStart { .. } => "pub.attempt",
            PublisherEvent::RoomJoined { .. } => "pub.room.joined",
            PublisherEvent::TrackPublished { .. } => "pub.track.published",
            PublisherEvent::EosRegistered { .. } => "pub.eos.registered",
            PublisherEvent::PipelinePlaying { .. } => "pub.pipeline.playing",
            PublisherEvent::Started { .. } => "pub.started",
            PublisherEvent::StartFailed { .. } => "pub.start.failed",
            PublisherEvent::StartCancelled { .. } => "pub.start.cancelled",
            PublisherEvent::TrackEos { .. } => "pub.track.eos",
            PublisherEvent::Unpublish { .. } => "pub.track.unpublish",
            PublisherEvent::PipelineEos { .. } => "pub.pipeline.eos",
            PublisherEvent::RoomLost { .. } => "pub.room.lost",
            PublisherEvent::Signal => "pub.signal",
            PublisherEvent::StopBegin { .. } => "pub.stop.begin",
            PublisherEvent::StopJoined { .. } => "pub.stop.joined",
            PublisherEvent::PipelineNull { .. } => "pub.pipeline.null",
            PublisherEvent::RoomLeft { .. } => "pub.room.left",
            PublisherEvent::StopDone { .. } => "pub.stop.done",
        }
    }

    /// The attempt the event belongs to (`None` for process-wide events).
    pub fn attempt(&self) -> Option<u64> {
        match self {
            PublisherEvent::AttemptStart { attempt }
            | PublisherEvent::RoomJoined { attempt }
            | PublisherEvent::TrackPublished { attempt, .. }
            | PublisherEvent::EosRegistered { attempt, .. }
            | PublisherEvent::PipelinePlaying { attempt }
            | PublisherEvent::Started { attempt }
            | PublisherEvent::StartFailed { attempt, .. }
            | PublisherEvent::StartCancelled { attempt, .. }
            | PublisherEvent::TrackEos { attempt, .. }
            | PublisherEvent::Unpublish { attempt, .. }
            | PublisherEvent::PipelineEos { attempt }
            | PublisherEvent::RoomLost { attempt }
            | PublisherEvent::StopBegin { attempt, .. }
            | PublisherEvent::StopJoined { attempt, .. }
            | PublisherEvent::PipelineNull { attempt, .. }
            | PublisherEvent::RoomLeft { attempt, .. }
            | PublisherEvent::StopDone { attempt } => Some(*attempt),
            PublisherEvent::Signal => None,
        }
    }
}

impl fmt::Display for PublisherEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        if let Some(attempt) = self.attempt() {
            write!(f, " attempt={attempt}")?;
        }
        match self {
            PublisherEvent::TrackPublished { track, sid, .. }
            | PublisherEvent::Unpublish { track, sid, .. } => {
                write!(f, " track={track} sid={sid}")
            }
            PublisherEvent::EosRegistered {
                track, after_eos, ..
            } => write!(f, " track={track} after_eos={after_eos}"),
            PublisherEvent::StartFailed { side, error, .. } => {
                write!(f, " side={side} error={error:?}")
            }
            PublisherEvent::StartCancelled { side, .. } => write!(f, " side={side}"),
            PublisherEvent::TrackEos {
                track, callback, ..
            } => write!(f, " track={track} callback={callback}"),
            PublisherEvent::StopBegin { reason, .. }
            | PublisherEvent::StopJoined { reason, .. } => {
                write!(f, " reason={reason}")
            }
            PublisherEvent::PipelineNull { streaming, .. } => write!(f, " streaming={streaming}"),
            PublisherEvent::RoomLeft { acked, .. } => write!(f, " acked={acked}"),
            PublisherEvent::AttemptStart { .. }
            | PublisherEvent::RoomJoined { .. }
            | PublisherEvent::PipelinePlaying { .. }
            | PublisherEvent::Started { .. }
            | PublisherEvent::PipelineEos { .. }
            | PublisherEvent::RoomLost { .. }
            | PublisherEvent::Signal
            | PublisherEvent::StopDone { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_forms() {
        let e = PublisherEvent::TrackEos {
            attempt: 1,
            track: TrackKind::Video,
            callback: false,
        };
        assert_eq!(
            e.to_string(),
            "pub.track.eos attempt=1 track=video callback=false"
        );
        let s = PublisherEvent::StopBegin {
            attempt: 2,
            reason: StopReason::Signal,
        };
        assert_eq!(s.to_string(), "pub.stop.begin attempt=2 reason=signal");
        assert_eq!(PublisherEvent::Signal.to_string(), "pub.signal");
        assert_eq!(TrackKind::parse("audio"), Some(TrackKind::Audio));
        assert_eq!(TrackKind::parse("x"), None);
    }
}
