//! The publisher component's events: one enum, [`PublisherEvent`], wrapped
//! by [`crate::event::Event::Publisher`] and emitted through the one
//! [`crate::event::Emitter`].
//!
//! Owns the normalized line form of every publisher step (`pub.<name>
//! attempt=… key=value …`; the trace snapshots depend on it byte for byte).
//! It must never carry addresses, ports or wall time: fields are plain data.

use crate::session::publisher::{Side, StopReason, TrackKind};
use std::fmt;

/// Everything the publisher reports (wrapped by [`crate::Event::Publisher`]).
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
    }

    /// The trace's line form, for every variant that carries a value of
    /// one of the component's enums, with every value of that enum: each
    /// field is `key=value` with a value, and no two lines are the same (a
    /// reader, or a check reading the text, tells every value apart).
    #[test]
    fn every_field_has_a_value_and_every_value_its_own_line() {
        use crate::session::publisher::{Side, StopReason};
        let mut events = Vec::new();
        for side in [Side::Room, Side::Pipeline] {
            events.push(PublisherEvent::StartFailed {
                attempt: 1,
                side,
                error: "refused".into(),
            });
            events.push(PublisherEvent::StartCancelled { attempt: 1, side });
        }
        for reason in [
            StopReason::StartFailed,
            StopReason::PipelineEos,
            StopReason::RoomLost,
            StopReason::Signal,
        ] {
            events.push(PublisherEvent::StopBegin { attempt: 1, reason });
            events.push(PublisherEvent::StopJoined { attempt: 1, reason });
        }
        for track in TrackKind::ALL {
            events.push(PublisherEvent::TrackEos {
                attempt: 1,
                track,
                callback: true,
            });
            events.push(PublisherEvent::EosRegistered {
                attempt: 1,
                track,
                after_eos: false,
            });
            events.push(PublisherEvent::TrackPublished {
                attempt: 1,
                track,
                sid: "TR_1".into(),
            });
            events.push(PublisherEvent::Unpublish {
                attempt: 1,
                track,
                sid: "TR_1".into(),
            });
        }
        let lines: Vec<String> = events.iter().map(|e| e.to_string()).collect();
        for line in &lines {
            let mut words = line.split(' ');
            assert!(
                words.next().is_some_and(|name| name.starts_with("pub.")),
                "{line:?}: no event name"
            );
            for field in words {
                let (key, value) = field
                    .split_once('=')
                    .unwrap_or_else(|| panic!("{line:?}: {field:?} is not key=value"));
                assert!(!key.is_empty() && !value.is_empty(), "{line:?}: {field:?}");
            }
        }
        let distinct: std::collections::BTreeSet<&String> = lines.iter().collect();
        assert_eq!(
            distinct.len(),
            lines.len(),
            "two events print alike: {lines:#?}"
        );
    }
}
