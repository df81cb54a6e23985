//! The pads component's events: one enum, [`PadsEvent`], wrapped by
//! [`crate::event::Event::Pads`] and emitted through the one
//! [`crate::event::Emitter`].
//!
//! Owns the normalized line form of every pads step (`pads.<name>
//! session=… key=value …`; the trace snapshots depend on it byte for byte).
//! It must never carry addresses, ports or wall time: fields are plain data.

use std::fmt;

/// Everything the pads component reports (wrapped by [`crate::Event::Pads`]).
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
    /// [`crate::session::pads::DEPTH_REPORT_STEP`]).
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
    fn events_are_normalized() {
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
    }
}
