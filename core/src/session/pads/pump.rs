//! A track pump: reads its track's frames from the relay and queues them,
//! as pad messages, for the forwarder.
//!
//! Owns [`PumpState`], the sans-IO per-frame step (PTS relative to the
//! track's first frame, as upstream; in-band caps in front of the first
//! buffer and of every buffer whose codec configuration changed), and
//! [`run_track_pump`], its async driver: every wait — for a frame, or for
//! space in a full queue — also watches the session's shutdown, so a pump
//! never outlives `stop` and never holds it up. A track that leaves the
//! catalog (or whose subscription the relay ends or refuses with 404) gets
//! EOS then drop, in-band, behind its last buffers; the pump's exit tells
//! the controller which.
//!
//! With `buffer-before-caps` on, the step emits no caps: the controller sends
//! them out of band instead, and a buffer encoded with a new configuration
//! can reach the pad before the caps describing it.

use crate::bugs::{BugSet, KnownBug};
use crate::event::Emitter;
use crate::net::NetStream;
use crate::session::pads::bus::ErrorSlot;
use crate::session::pads::event::PadsEvent;
use crate::session::pads::queue::{PadQueue, PushError};
use crate::session::pads::wire::{self, RelayMessage, TrackInfo, WireFrame};
use crate::session::pads::{Buffer, Caps, PadMessage, DEPTH_REPORT_STEP, TRACK_IDLE_TIMEOUT};
use crate::sync::Arc;
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

/// The pump's per-track state between frames.
#[derive(Debug, Clone)]
pub struct PumpState {
    pad: String,
    codec: String,
    inband_caps: bool,
    caps_config: Option<u32>,
    first_ts: Option<u64>,
}

impl PumpState {
    pub fn new(track: &TrackInfo, bugs: BugSet) -> PumpState {
        PumpState {
            pad: track.pad_name(),
            codec: track.codec.clone(),
            inband_caps: !bugs.on(KnownBug::BufferBeforeCaps),
            caps_config: None,
            first_ts: None,
        }
    }

    pub fn pad(&self) -> &str {
        &self.pad
    }

    /// The messages one frame becomes, in queue order.
    pub fn on_frame(&mut self, f: &WireFrame) -> Vec<PadMessage> {
        let mut out = Vec::with_capacity(2);
        if self.inband_caps && self.caps_config != Some(f.config) {
            self.caps_config = Some(f.config);
            out.push(PadMessage::Caps(Caps {
                codec: self.codec.clone(),
                config: f.config,
            }));
        }
        let base = *self.first_ts.get_or_insert(f.ts_ms);
        out.push(PadMessage::Buffer(Buffer {
            seq: f.seq,
            pts_ms: f.ts_ms.saturating_sub(base),
            keyframe: f.keyframe,
            config: f.config,
        }));
        out
    }
}

/// How a pump ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PumpExit {
    /// The session is stopping.
    Shutdown,
    /// Its queue was flushed under it.
    Flushed,
    /// The track ended (left the catalog, or the relay ended its
    /// subscription): EOS and drop queued.
    Ended,
    /// The relay does not serve the track (any more): EOS and drop queued.
    /// Not an error: the catalog the subscription came from was stale.
    Gone,
    /// The subscription failed; reported on the session's error slot.
    Failed,
}

/// What a pump runs with.
pub struct PumpCtx {
    pub session: u64,
    pub queue: Arc<PadQueue>,
    pub shutdown: watch::Receiver<bool>,
    /// Cancelled when the track leaves the catalog.
    pub end: CancellationToken,
    pub errors: std::sync::Arc<ErrorSlot>,
    pub emitter: Emitter,
}

struct Pump {
    ctx: PumpCtx,
    reported_depth: usize,
}

impl Pump {
    fn pad(&self) -> String {
        self.ctx.queue.pad().to_string()
    }

    fn note_depth(&mut self, depth: usize) {
        if depth > self.reported_depth && depth % DEPTH_REPORT_STEP == 0 {
            self.reported_depth = depth;
            self.ctx.emitter.emit(PadsEvent::QueueDepth {
                session: self.ctx.session,
                pad: self.pad(),
                depth,
            });
        }
    }

    /// Queues one message, waiting for space if the queue is full.
    async fn send(&mut self, msg: PadMessage) -> Result<(), PumpExit> {
        match self.ctx.queue.try_push(msg) {
            Ok(depth) => {
                self.note_depth(depth);
                Ok(())
            }
            Err(PushError::Flushing(_)) => Err(PumpExit::Flushed),
            Err(PushError::Full(msg)) => {
                self.ctx.emitter.emit(PadsEvent::PumpBlocked {
                    session: self.ctx.session,
                    pad: self.pad(),
                    depth: self.ctx.queue.depth(),
                });
                let pushed = tokio::select! {
                    biased;
                    _ = self.ctx.shutdown.wait_for(|s| *s) => return Err(PumpExit::Shutdown),
                    r = self.ctx.queue.push(msg) => r,
                };
                match pushed {
                    Ok(depth) => {
                        self.ctx.emitter.emit(PadsEvent::PumpUnblocked {
                            session: self.ctx.session,
                            pad: self.pad(),
                        });
                        self.note_depth(depth);
                        Ok(())
                    }
                    Err(_) => Err(PumpExit::Flushed),
                }
            }
        }
    }

    /// The track ended: EOS then drop, behind its queued buffers; `exit` on
    /// success.
    async fn finish_track(&mut self, exit: PumpExit) -> PumpExit {
        self.ctx.emitter.emit(PadsEvent::TrackEnded {
            session: self.ctx.session,
            pad: self.pad(),
        });
        for msg in [PadMessage::Eos, PadMessage::Drop] {
            if let Err(exit) = self.send(msg).await {
                return exit;
            }
        }
        self.ctx.queue.close();
        exit
    }

    fn fail(&self, reason: String) -> PumpExit {
        self.ctx.errors.report(format!("{}: {reason}", self.pad()));
        // What is queued still reaches the pad; stop removes it.
        self.ctx.queue.close();
        PumpExit::Failed
    }
}

/// Runs one pump over its track subscription until the track ends, the
/// subscription fails, or the session stops.
pub async fn run_track_pump<S: NetStream>(
    mut track: Framed<S, LengthDelimitedCodec>,
    mut state: PumpState,
    ctx: PumpCtx,
) -> PumpExit {
    let mut pump = Pump {
        ctx,
        reported_depth: 0,
    };
    loop {
        let next = tokio::select! {
            biased;
            _ = pump.ctx.shutdown.wait_for(|s| *s) => return PumpExit::Shutdown,
            _ = pump.ctx.end.cancelled() => None,
            f = tokio::time::timeout(TRACK_IDLE_TIMEOUT, track.next()) => Some(f),
        };
        let next = match next {
            Some(Err(_idle)) => {
                pump.ctx.emitter.deadline_fired("pads.pump.idle");
                return pump.fail(format!(
                    "track read: nothing for {} s",
                    TRACK_IDLE_TIMEOUT.as_secs()
                ));
            }
            Some(Ok(f)) => Some(f),
            None => None,
        };
        let bytes = match next {
            None => return pump.finish_track(PumpExit::Ended).await,
            Some(Some(Ok(_))) if pump.ctx.emitter.fault_point("pads.track.read") => {
                // The subscription's stream breaks under this frame.
                return pump.fail("track read: connection reset".into());
            }
            Some(Some(Ok(b))) => b,
            Some(Some(Err(e))) => return pump.fail(format!("track read: {}", e.kind())),
            Some(None) => return pump.fail("track closed".into()),
        };
        match wire::decode::<RelayMessage>(&bytes) {
            Ok(RelayMessage::Frame(f)) => {
                for msg in state.on_frame(&f) {
                    if let Err(exit) = pump.send(msg).await {
                        return exit;
                    }
                }
            }
            Ok(RelayMessage::TrackEnded) => return pump.finish_track(PumpExit::Ended).await,
            Ok(RelayMessage::Error { status: 404, .. }) => {
                return pump.finish_track(PumpExit::Gone).await
            }
            Ok(RelayMessage::Error { reason, .. }) => return pump.fail(reason),
            Ok(RelayMessage::Catalog(_)) | Err(_) => {
                return pump.fail("unexpected message on a track".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::pads::wire::MediaKind;

    fn cam() -> TrackInfo {
        TrackInfo {
            name: "cam".into(),
            kind: MediaKind::Video,
            codec: "h264".into(),
            config: 1,
        }
    }

    fn frame(seq: u64, config: u32) -> WireFrame {
        WireFrame {
            seq,
            ts_ms: 1000 + seq * 33,
            keyframe: seq == 0,
            config,
        }
    }

    #[test]
    fn caps_in_band_before_first_and_changed_buffers() {
        let mut s = PumpState::new(&cam(), BugSet::NONE);
        let first = s.on_frame(&frame(0, 1));
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].kind(), "caps");
        assert_eq!(
            first[1],
            PadMessage::Buffer(Buffer {
                seq: 0,
                pts_ms: 0,
                keyframe: true,
                config: 1
            })
        );
        assert_eq!(s.on_frame(&frame(1, 1)).len(), 1);
        let changed = s.on_frame(&frame(2, 2));
        assert_eq!(
            changed[0],
            PadMessage::Caps(Caps {
                codec: "h264".into(),
                config: 2
            })
        );
        assert_eq!(s.pad(), "video_cam");
    }

    #[cfg(feature = "known-bugs")]
    #[test]
    fn known_bug_leaves_caps_out_of_band() {
        let mut s = PumpState::new(&cam(), BugSet::only(KnownBug::BufferBeforeCaps));
        assert_eq!(s.on_frame(&frame(0, 1))[0].kind(), "buffer");
    }
}
