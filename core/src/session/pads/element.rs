//! The element's pads, and what pushing into them means.
//!
//! Owns [`Element`]: the pad table (name → owning session, media kind,
//! current caps), pad creation with collision detection (a name is unique
//! across the element, as `gst_element_add_pad` requires), the push of one
//! [`PadMessage`] into a pad, and the stop path's flush + drop. Every call
//! into [`Downstream`] happens under the table's lock, standing for the
//! pad's stream lock: a buffer can never reach downstream after that pad's
//! flush or removal. The table comes from [`crate::sync`] so the loom model
//! checks forwarder pushes against `stop`.
//!
//! It never checks caps against buffers itself: downstream does (a real
//! decoder answers `not-negotiated`), and the harness's downstream records
//! every violation.

use crate::session::pads::wire::{MediaKind, TrackInfo};
use crate::session::pads::{Buffer, Caps, PadMessage};
use crate::sync::{lock, Mutex};
use std::collections::BTreeMap;

/// What is linked downstream of the element's pads. Calls arrive under the
/// element's lock: implementations must not block or call back.
pub trait Downstream: Send + Sync {
    fn caps(&self, session: u64, pad: &str, caps: &Caps);
    fn buffer(&self, session: u64, pad: &str, buffer: &Buffer);
    fn eos(&self, session: u64, pad: &str);
    /// FLUSH_START / FLUSH_STOP reached the pad (stop).
    fn flush(&self, session: u64, pad: &str);
    /// The pad was deactivated and removed.
    fn removed(&self, session: u64, pad: &str);
}

/// A downstream that only counts (real runs and unit tests).
#[derive(Debug, Default)]
pub struct CountingDownstream {
    counts: std::sync::Mutex<BTreeMap<String, (u64, u64)>>,
}

impl CountingDownstream {
    /// (caps events, buffers) per pad.
    pub fn counts(&self) -> BTreeMap<String, (u64, u64)> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn bump(&self, pad: &str, caps: u64, buffers: u64) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let e = c.entry(pad.to_string()).or_default();
        e.0 += caps;
        e.1 += buffers;
    }
}

impl Downstream for CountingDownstream {
    fn caps(&self, _: u64, pad: &str, _: &Caps) {
        self.bump(pad, 1, 0);
    }
    fn buffer(&self, _: u64, pad: &str, _: &Buffer) {
        self.bump(pad, 0, 1);
    }
    fn eos(&self, _: u64, _: &str) {}
    fn flush(&self, _: u64, _: &str) {}
    fn removed(&self, _: u64, _: &str) {}
}

/// Why a push did not reach downstream (GStreamer's flow returns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowError {
    /// No such pad for this session any more (removed by stop or a drop).
    NotLinked,
}

/// One pad of the element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PadInfo {
    pub name: String,
    /// The session that created it.
    pub session: u64,
    pub kind: MediaKind,
    pub track: String,
    pub caps: Option<Caps>,
}

/// The element: its pads and its downstream.
pub struct Element {
    pads: Mutex<BTreeMap<String, PadInfo>>,
    downstream: std::sync::Arc<dyn Downstream>,
}

impl Element {
    pub fn new(downstream: std::sync::Arc<dyn Downstream>) -> Element {
        Element {
            pads: Mutex::new(BTreeMap::new()),
            downstream,
        }
    }

    /// Adds the track's pad, or names the session owning that name already.
    pub fn create_pad(&self, session: u64, track: &TrackInfo) -> Result<String, u64> {
        let name = track.pad_name();
        let mut pads = lock(&self.pads);
        if let Some(existing) = pads.get(&name) {
            return Err(existing.session);
        }
        pads.insert(
            name.clone(),
            PadInfo {
                name: name.clone(),
                session,
                kind: track.kind,
                track: track.name.clone(),
                caps: None,
            },
        );
        Ok(name)
    }

    /// Pushes one message into `session`'s pad `pad`. A `Drop` removes it.
    pub fn push(&self, session: u64, pad: &str, msg: PadMessage) -> Result<(), FlowError> {
        let mut pads = lock(&self.pads);
        match pads.get_mut(pad) {
            Some(p) if p.session == session => {
                match msg {
                    PadMessage::Caps(caps) => {
                        self.downstream.caps(session, pad, &caps);
                        p.caps = Some(caps);
                    }
                    PadMessage::Buffer(b) => self.downstream.buffer(session, pad, &b),
                    PadMessage::Eos => self.downstream.eos(session, pad),
                    PadMessage::Drop => {
                        pads.remove(pad);
                        self.downstream.removed(session, pad);
                    }
                }
                Ok(())
            }
            _ => Err(FlowError::NotLinked),
        }
    }

    /// The stop path: flush and remove `session`'s pad. True if it existed;
    /// a pad is flushed and removed at most once.
    pub fn flush_and_remove(&self, session: u64, pad: &str) -> bool {
        let mut pads = lock(&self.pads);
        match pads.get(pad) {
            Some(p) if p.session == session => {
                pads.remove(pad);
                self.downstream.flush(session, pad);
                self.downstream.removed(session, pad);
                true
            }
            _ => false,
        }
    }

    /// Every pad, in name order.
    pub fn pads(&self) -> Vec<PadInfo> {
        lock(&self.pads).values().cloned().collect()
    }

    /// `session`'s pad names, in name order.
    pub fn pads_of(&self, session: u64) -> Vec<String> {
        lock(&self.pads)
            .values()
            .filter(|p| p.session == session)
            .map(|p| p.name.clone())
            .collect()
    }
}

impl std::fmt::Debug for Element {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Element")
            .field("pads", &self.pads().len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[cfg(not(feature = "loom"))]
mod tests {
    use super::*;

    fn cam() -> TrackInfo {
        TrackInfo {
            name: "cam".into(),
            kind: MediaKind::Video,
            codec: "h264".into(),
            config: 1,
        }
    }

    #[test]
    fn names_collide_across_sessions_until_removed() {
        let ds = std::sync::Arc::new(CountingDownstream::default());
        let e = Element::new(ds.clone());
        assert_eq!(e.create_pad(1, &cam()), Ok("video_cam".into()));
        assert_eq!(e.create_pad(2, &cam()), Err(1), "stale pad of session 1");
        assert_eq!(
            e.push(2, "video_cam", PadMessage::Eos),
            Err(FlowError::NotLinked),
            "session 2 cannot push into session 1's pad"
        );
        e.push(1, "video_cam", PadMessage::Caps(cam().caps()))
            .unwrap();
        for seq in 0..2 {
            let b = Buffer {
                seq,
                pts_ms: seq * 33,
                keyframe: seq == 0,
                config: 1,
            };
            e.push(1, "video_cam", PadMessage::Buffer(b)).unwrap();
        }
        assert_eq!(
            ds.counts()["video_cam"],
            (1, 2),
            "(caps, buffers) reached downstream"
        );
        assert!(
            !e.flush_and_remove(2, "video_cam"),
            "session 2 removed session 1's pad"
        );
        assert!(e.flush_and_remove(1, "video_cam"));
        assert!(!e.flush_and_remove(1, "video_cam"), "at most once");
        assert_eq!(e.create_pad(2, &cam()), Ok("video_cam".into()));
        assert_eq!(e.pads_of(2), vec!["video_cam".to_string()]);
        e.push(2, "video_cam", PadMessage::Drop).unwrap();
        assert!(e.pads().is_empty());
        assert_eq!(ds.counts()["video_cam"], (1, 2));
    }
}
