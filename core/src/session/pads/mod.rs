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
//! | [`wire`] | the relay protocol: catalog, track subscription, frames; pad names |
//! | [`catalog`] | the sans-IO catalog diff (added / removed / config changed) |
//! | [`queue`] | [`queue::PadQueue`]: a pad's bounded queue with flush |
//! | [`element`] | the element's pads and what pushing into them means |
//! | [`forwarder`] | the main loop (its stall gate, [`forwarder::MainLoop`]) and the forwarder task |
//! | [`bus`] | the application bus's messages and the session's once-only error slot |
//! | [`pump`] | a track pump: the sans-IO per-frame step and its async driver |
//! | [`session`] | the session controller and its pump registry ([`session::Registry`]) |
//! | [`src`] | [`src::MoqSrc`]: start, stop and the ordered teardown; the session slot they share ([`src::SessionSlot`]) |
//! | [`event`] | [`PadsEvent`], the component's trace events |
//!
//! Fault point `pads.track.read`: a pump's track read fails under a frame,
//! and the session reports its one error.
//!
//! # Contract
//!
//! Oracles per clause: `docs/contracts.md`.
//!
//! - **S1** No pad queue ever holds more than [`QUEUE_CAPACITY`] messages.
//! - **S2** Every buffer reaches its pad after caps describing its codec
//!   configuration.
//! - **S3** Each pad's buffers arrive in order, none after its EOS.
//! - **S4** Pads are named after their track, never collide, and a restart
//!   never meets a stale pad.
//! - **S5** A session reports at most one error; a relay outage under a
//!   running session exactly one.
//! - **S6** Nothing vanishes uncounted: every message a pad's queue accepted
//!   reaches the pad, or the flush of the session's `stop` discards it and
//!   counts it (the `discarded` of `pads.pad.flushed`).
//! - **R1** When `stop` returns, every pad has seen its flush and been
//!   removed; `stop` returns within [`STOP_BOUND`]; nothing of the session
//!   happens after it.
//! - **L1** Once faults stop, every catalog track's pad receives buffers.
//! - **L2** A session whose relay link goes silent (half-open: no FIN, no
//!   RST) reports an error within [`TRACK_IDLE_TIMEOUT`] of its last frame,
//!   so the application can restart it; it never streams nothing silently.
//! - **L3** A session has connected, reported its error, or stopped within
//!   [`CONNECT_TIMEOUT`] of its start.
//! - **L4** The main loop serves the pads round-robin and never idles with
//!   work: a pad with a message queued is served before any other pad is
//!   served twice, and the main loop finds nothing to do only when every
//!   pad queue of its session is empty.
//! - **L5** A track whose subscription the relay ended while the session's
//!   catalog still lists it is subscribed again at once when a catalog
//!   newer than the one it was subscribed under lists it, and otherwise as
//!   soon as a newer one does; never again from the catalog it ended under
//!   (a stale catalog never makes it loop).

pub mod bus;
pub mod catalog;
pub mod element;
pub mod event;
pub mod forwarder;
pub mod pump;
pub mod queue;
pub mod session;
pub mod src;
pub mod wire;

pub use bus::BusMessage;
pub use element::{Downstream, Element};
pub use event::PadsEvent;
pub use src::{MoqSrc, PadsConfig};
pub use wire::{pad_name, Catalog, MediaKind, TrackInfo};

use std::fmt;
use std::time::Duration;

/// Messages a pad queue holds at most (the fixed design's bound).
pub const QUEUE_CAPACITY: usize = 32;
/// `stop` returns within this bound, stalled main loop or not.
pub const STOP_BOUND: Duration = Duration::from_millis(500);
/// How long the controller waits for the relay to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A track subscription that delivers nothing for this long has lost its
/// relay (a half-open link: no FIN, no RST ever comes): its pump fails, the
/// session reports the error, and the application restarts it. Frames come
/// every 20–66 ms; a pump blocked on a full queue is not reading, so a
/// stalled main loop does not count against it.
pub const TRACK_IDLE_TIMEOUT: Duration = Duration::from_secs(2);
/// Queue depths are reported each time they first reach a multiple of this.
pub const DEPTH_REPORT_STEP: usize = 16;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_display() {
        let c = Caps {
            codec: "h264".into(),
            config: 2,
        };
        assert_eq!(c.to_string(), "h264/2");
    }
}
