//! The ingest: one publisher per broadcast, writing into the published
//! `FragmentBroadcasterRegistry` as LVQR's own ingest bridges do.
//!
//! Owns [`Ingest`]. A publish is `get_or_create(name, "0.mp4", meta)`
//! (which runs the entry-created callbacks, the runner's among them) then
//! `set_init_segment`; while live, a fragment every 100 ms whose payload
//! carries the session and a logical stamp; an unpublish is
//! `registry.remove(name, "0.mp4")` and dropping the producer, which
//! closes the broadcaster and ends its drains.
//!
//! A session's registry name is the broadcast itself (`live/a`), as a
//! reconnecting RTMP publisher gets — or, with the caller-side workaround
//! for `lvqr-republish-never-transcoded`, a per-session name
//! (`live/a~s2`) from the second session on.

use super::factories::VIDEO_TRACK;
use super::{lock, LvqrEvent, Shared};
use bytes::Bytes;
use lvqr_fragment::{
    Fragment, FragmentBroadcaster, FragmentBroadcasterRegistry, FragmentFlags, FragmentMeta,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A frame every 100 ms.
pub const FRAME: Duration = Duration::from_millis(100);
/// A keyframe (new group) every 10 frames.
pub const GOP: u64 = 10;
/// The marker of a per-session registry name.
pub const SESSION_SUFFIX: &str = "~s";

/// The broadcast a registry name belongs to (`live/a~s2` → `live/a`).
pub fn base_of(name: &str) -> &str {
    name.split_once(SESSION_SUFFIX).map_or(name, |(b, _)| b)
}

struct Live {
    name: String,
    session: u64,
    bc: Arc<FragmentBroadcaster>,
    frames: u64,
}

/// One broadcast's publisher.
pub struct Ingest {
    broadcast: &'static str,
    wanted: AtomicBool,
    /// Re-publish under the broadcast's own name (as upstream's bridges
    /// do), rather than a per-session name.
    same_name: bool,
    sessions: Mutex<u64>,
    live: Mutex<Option<Live>>,
}

impl Ingest {
    /// A publisher for `broadcast`, down until the plan publishes it.
    pub fn new(broadcast: &'static str, same_name: bool) -> Arc<Ingest> {
        Arc::new(Ingest {
            broadcast,
            wanted: AtomicBool::new(false),
            same_name,
            sessions: Mutex::new(0),
            live: Mutex::new(None),
        })
    }

    /// The broadcast it publishes.
    pub fn broadcast(&self) -> &'static str {
        self.broadcast
    }

    /// From the plan: publish (`true`) or stop.
    pub fn set_wanted(&self, wanted: bool) {
        self.wanted.store(wanted, Ordering::SeqCst);
    }

    /// The live session's registry name and session, if live.
    pub fn live(&self) -> Option<(String, u64)> {
        lock(&self.live)
            .as_ref()
            .map(|l| (l.name.clone(), l.session))
    }

    /// The publisher's loop on the `lvqr` host: every frame interval,
    /// publish, stop, or emit one fragment.
    pub async fn serve(
        self: Arc<Self>,
        registry: FragmentBroadcasterRegistry,
        shared: Arc<Shared>,
    ) {
        let mut every = tokio::time::interval(FRAME);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let wanted = self.wanted.load(Ordering::SeqCst);
            let is_live = lock(&self.live).is_some();
            if wanted && !is_live {
                self.publish(&registry, &shared);
            } else if !wanted && is_live {
                self.unpublish(&registry, &shared);
            } else if is_live {
                self.emit(&shared);
            }
        }
    }

    fn publish(&self, registry: &FragmentBroadcasterRegistry, shared: &Shared) {
        let session = {
            let mut s = lock(&self.sessions);
            *s += 1;
            *s
        };
        let name = if self.same_name || session == 1 {
            self.broadcast.to_string()
        } else {
            format!("{}{SESSION_SUFFIX}{session}", self.broadcast)
        };
        shared.set_session(&name, session);
        shared.record(LvqrEvent::Publish {
            broadcast: self.broadcast.to_string(),
            name: name.clone(),
            session,
            stamp: shared.tick(),
        });
        let meta = FragmentMeta::new("avc1.640028", 90_000);
        let bc = registry.get_or_create(&name, VIDEO_TRACK, meta);
        bc.set_init_segment(Bytes::from_static(b"relaysim-init"));
        *lock(&self.live) = Some(Live {
            name,
            session,
            bc,
            frames: 0,
        });
    }

    fn unpublish(&self, registry: &FragmentBroadcasterRegistry, shared: &Shared) {
        let Some(live) = lock(&self.live).take() else {
            return;
        };
        shared.record(LvqrEvent::Unpublish {
            broadcast: self.broadcast.to_string(),
            name: live.name.clone(),
            session: live.session,
            stamp: shared.tick(),
        });
        registry.remove(&live.name, VIDEO_TRACK);
        drop(live);
    }

    fn emit(&self, shared: &Shared) {
        let mut guard = lock(&self.live);
        let Some(live) = guard.as_mut() else {
            return;
        };
        let n = live.frames;
        live.frames += 1;
        let mut payload = Vec::with_capacity(16);
        payload.extend_from_slice(&live.session.to_be_bytes());
        payload.extend_from_slice(&shared.tick().to_be_bytes());
        let flags = if n % GOP == 0 {
            FragmentFlags::KEYFRAME
        } else {
            FragmentFlags::DELTA
        };
        let frag = Fragment::new(
            VIDEO_TRACK,
            n / GOP,
            n % GOP,
            0,
            n * 9_000,
            n * 9_000,
            9_000,
            flags,
            Bytes::from(payload),
        );
        let bc = live.bc.clone();
        drop(guard);
        bc.emit(frag);
    }
}
