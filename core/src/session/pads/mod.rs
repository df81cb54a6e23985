//! The MoQ source element's pad forwarding (seed-systems.md §3, `moqsrc`
//! after the async refactor): a session controller off the main loop, one
//! pump per track, and a main-loop forwarder that pushes caps and buffers
//! into the element's pads.
//!
//! Keeps the upstream's concurrency structure: `start` spawns the session
//! controller and the forwarder and returns at once; the controller
//! connects to the relay, reads the catalog, asks the main loop for each
//! track's pad (a create-pad round trip), subscribes the track and spawns its
//! pump; every pump sends its pad's messages through a queue that only the
//! forwarder — the single task standing for the GLib main context — drains
//! into the pad. What the fixed design adds, and each known bug takes back:
//!
//! - the pad queues are bounded ([`QUEUE_CAPACITY`]) and a full queue makes
//!   its pump wait, not grow (`pad-queue-unbounded` makes them unbounded);
//! - caps travel in-band, in front of the buffers they describe
//!   (`buffer-before-caps` sends them out of band on the control channel,
//!   where a buffer can overtake them);
//! - `stop` flushes every queue (waking a pump blocked on a full one: the
//!   flush cannot wedge), waits for the pumps, then delivers flush and drop
//!   to every pad itself, so it finishes within [`STOP_BOUND`] even while
//!   the main loop is stalled (`stop-drops-flush` restores upstream's order:
//!   queue a drop, then abort the forwarder before it ran);
//! - pad names come from the track (`video_<track>`), never from arrival
//!   order; a session's terminal error is reported exactly once.
//!
//! | module | owns |
//! |---|---|
//! | [`wire`] | the relay protocol: catalog, track subscription, frames |
//! | [`catalog`] | the sans-IO catalog diff (added / removed / config changed) |
//! | [`queue`] | [`queue::PadQueue`]: a pad's bounded queue with flush |
//! | [`element`] | the element's pads and what pushing into them means |
//! | [`forwarder`] | the main loop (and its stalls) and the forwarder task |
//! | [`pump`] | a track pump: the sans-IO per-frame step and its async driver |
//! | [`session`] | the session controller and the once-only error slot |
//! | [`src`] | [`src::MoqSrc`]: start, stop and the ordered teardown |
//!
//! Fault point `pads.track.read`: a pump's track read fails under a frame,
//! and the session reports its one error.

pub mod catalog;
pub mod element;
pub mod forwarder;
pub mod pump;
pub mod queue;
pub mod session;
pub mod src;
pub mod wire;

pub use element::{Downstream, Element};
pub use src::{MoqSrc, PadsConfig};
pub use wire::{Catalog, MediaKind, TrackInfo};

use std::fmt;
use std::time::Duration;

/// Messages a pad queue holds at most (the fixed design's bound).
pub const QUEUE_CAPACITY: usize = 32;
/// `stop` returns within this bound, stalled main loop or not.
pub const STOP_BOUND: Duration = Duration::from_millis(500);
/// How long the controller waits for the relay to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Queue depths are reported each time they first reach a multiple of this.
pub const DEPTH_REPORT_STEP: usize = 16;

/// The deterministic pad name of a track: `video_<track>` / `audio_<track>`.
pub fn pad_name(kind: MediaKind, track: &str) -> String {
    format!("{}_{track}", kind.as_str())
}

/// Stream format of a pad (its sticky CAPS event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caps {
    pub codec: String,
    /// The codec configuration generation (a resolution or profile change
    /// bumps it); buffers carry the generation they were encoded with.
    pub config: u32,
}

impl fmt::Display for Caps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.codec, self.config)
    }
}

/// One buffer as pushed into a pad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buffer {
    /// The relay's frame sequence number on its track.
    pub seq: u64,
    /// PTS relative to the track's first frame.
    pub pts_ms: u64,
    pub keyframe: bool,
    /// The codec configuration the frame was encoded with.
    pub config: u32,
}

/// What travels through a pad queue (upstream `PadMessage`, plus in-band
/// caps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PadMessage {
    Caps(Caps),
    Buffer(Buffer),
    Eos,
    /// Deactivate and remove the pad.
    Drop,
}

impl PadMessage {
    pub fn kind(&self) -> &'static str {
        match self {
            PadMessage::Caps(_) => "caps",
            PadMessage::Buffer(_) => "buffer",
            PadMessage::Eos => "eos",
            PadMessage::Drop => "drop",
        }
    }
}

/// Everything the pads component reports (one variant of [`crate::Event`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PadsEvent {
    /// `start` spawned session `session` (READY → PAUSED).
    SessionStart { session: u64 },
    /// The controller reached the relay and subscribed the catalog.
    Connected { session: u64 },
    /// A catalog (version, track names in name order) arrived.
    Catalog {
        session: u64,
        version: u64,
        tracks: String,
    },
    /// The main loop created a pad for a track.
    PadCreated {
        session: u64,
        pad: String,
        track: String,
    },
    /// A pad of that name already exists, owned by session `owner`: the
    /// create-pad request is refused.
    PadCollision {
        session: u64,
        pad: String,
        owner: u64,
    },
    /// Every track of the first catalog has its pad.
    NoMorePads { session: u64 },
    /// A pump found its pad's queue full and waits.
    PumpBlocked {
        session: u64,
        pad: String,
        depth: usize,
    },
    /// A blocked pump's message went in.
    PumpUnblocked { session: u64, pad: String },
    /// A pad queue first reached `depth` (a multiple of
    /// [`DEPTH_REPORT_STEP`]).
    QueueDepth {
        session: u64,
        pad: String,
        depth: usize,
    },
    /// The track left the catalog (or ended): its pump queued EOS and drop.
    TrackEnded { session: u64, pad: String },
    /// The forwarder delivered an in-band drop: the pad is gone.
    PadDropped { session: u64, pad: String },
    /// The main loop is busy for `ms` (a downstream push blocks it).
    MainLoopStall { ms: u64 },
    /// The session's terminal error, reported on the bus.
    Error { session: u64, error: String },
    /// A later error of the same session, not reported again.
    ErrorSuppressed { session: u64, error: String },
    /// `stop` began (PAUSED → READY) with `pads` pads of the session.
    StopBegin { session: u64, pads: usize },
    /// `stop` delivered flush and drop to a pad (`discarded`: queued
    /// messages the flush threw away).
    PadFlushed {
        session: u64,
        pad: String,
        discarded: usize,
    },
    /// `stop` returned; `removed` pads were torn down by it.
    StopDone { session: u64, removed: usize },
    /// The relay ended a track the session still serves; a newer catalog
    /// lists it, so it is subscribed (and its pad created) again.
    Resubscribe { session: u64, track: String },
}

impl PadsEvent {
    pub fn name(&self) -> &'static str {
        match self {
            PadsEvent::SessionStart { .. } => "pads.session.start",
            PadsEvent::Connected { .. } => "pads.session.connected",
            PadsEvent::Catalog { .. } => "pads.catalog",
            PadsEvent::PadCreated { .. } => "pads.pad.created",
            PadsEvent::PadCollision { .. } => "pads.pad.collision",
            PadsEvent::NoMorePads { .. } => "pads.no-more-pads",
            PadsEvent::PumpBlocked { .. } => "pads.pump.blocked",
            PadsEvent::PumpUnblocked { .. } => "pads.pump.unblocked",
            PadsEvent::QueueDepth { .. } => "pads.queue.depth",
            PadsEvent::TrackEnded { .. } => "pads.track.ended",
            PadsEvent::PadDropped { .. } => "pads.pad.dropped",
            PadsEvent::MainLoopStall { .. } => "pads.mainloop.stall",
            PadsEvent::Error { .. } => "pads.error",
            PadsEvent::ErrorSuppressed { .. } => "pads.error.suppressed",
            PadsEvent::StopBegin { .. } => "pads.stop.begin",
            PadsEvent::PadFlushed { .. } => "pads.pad.flushed",
            PadsEvent::StopDone { .. } => "pads.stop.done",
            PadsEvent::Resubscribe { .. } => "pads.track.resubscribe",
        }
    }

    /// The session the event belongs to.
    pub fn session(&self) -> Option<u64> {
        match self {
            PadsEvent::SessionStart { session }
            | PadsEvent::Connected { session }
            | PadsEvent::Catalog { session, .. }
            | PadsEvent::PadCreated { session, .. }
            | PadsEvent::PadCollision { session, .. }
            | PadsEvent::NoMorePads { session }
            | PadsEvent::PumpBlocked { session, .. }
            | PadsEvent::PumpUnblocked { session, .. }
            | PadsEvent::QueueDepth { session, .. }
            | PadsEvent::TrackEnded { session, .. }
            | PadsEvent::PadDropped { session, .. }
            | PadsEvent::Error { session, .. }
            | PadsEvent::ErrorSuppressed { session, .. }
            | PadsEvent::StopBegin { session, .. }
            | PadsEvent::PadFlushed { session, .. }
            | PadsEvent::StopDone { session, .. }
            | PadsEvent::Resubscribe { session, .. } => Some(*session),
            PadsEvent::MainLoopStall { .. } => None,
        }
    }
}

impl fmt::Display for PadsEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        if let Some(s) = self.session() {
            write!(f, " session={s}")?;
        }
        match self {
            PadsEvent::Catalog {
                version, tracks, ..
            } => write!(f, " version={version} tracks={tracks}"),
            PadsEvent::PadCreated { pad, track, .. } => write!(f, " pad={pad} track={track}"),
            PadsEvent::PadCollision { pad, owner, .. } => write!(f, " pad={pad} owner={owner}"),
            PadsEvent::PumpBlocked { pad, depth, .. }
            | PadsEvent::QueueDepth { pad, depth, .. } => {
                write!(f, " pad={pad} depth={depth}")
            }
            PadsEvent::PumpUnblocked { pad, .. }
            | PadsEvent::TrackEnded { pad, .. }
            | PadsEvent::PadDropped { pad, .. } => write!(f, " pad={pad}"),
            PadsEvent::MainLoopStall { ms } => write!(f, " ms={ms}"),
            PadsEvent::Error { error, .. } | PadsEvent::ErrorSuppressed { error, .. } => {
                write!(f, " error={error:?}")
            }
            PadsEvent::StopBegin { pads, .. } => write!(f, " pads={pads}"),
            PadsEvent::PadFlushed { pad, discarded, .. } => {
                write!(f, " pad={pad} discarded={discarded}")
            }
            PadsEvent::StopDone { removed, .. } => write!(f, " removed={removed}"),
            PadsEvent::Resubscribe { track, .. } => write!(f, " track={track}"),
            PadsEvent::SessionStart { .. }
            | PadsEvent::Connected { .. }
            | PadsEvent::NoMorePads { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_deterministic_and_events_normalized() {
        assert_eq!(pad_name(MediaKind::Video, "cam"), "video_cam");
        assert_eq!(pad_name(MediaKind::Audio, "mic"), "audio_mic");
        let e = PadsEvent::PadCreated {
            session: 2,
            pad: "video_cam".into(),
            track: "cam".into(),
        };
        assert_eq!(
            e.to_string(),
            "pads.pad.created session=2 pad=video_cam track=cam"
        );
        assert_eq!(
            PadsEvent::MainLoopStall { ms: 1500 }.to_string(),
            "pads.mainloop.stall ms=1500"
        );
        let c = Caps {
            codec: "h264".into(),
            config: 2,
        };
        assert_eq!(c.to_string(), "h264/2");
    }
}
