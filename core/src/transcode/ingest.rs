//! The publisher-facing bridge: turns a publisher's frames into fragments in
//! the registry (LVQR's RTMP bridge, seed-systems.md §2.1).
//!
//! Owns [`IngestBridge`] (the registry it feeds, the live set of claimed
//! broadcast names and the wake-up of a publish waiting for one),
//! [`PublishSession`] (one publisher's claim and entries), the accept loop
//! ([`serve_ingest`]: a failed `accept()` is traced as
//! `transcode.ingest.accept.error` and waited out with
//! [`AcceptBackoff`], never returned) and the per-connection loop, which
//! reads the network and drives a session; all the shared state is in the first two, which take
//! no network and no timer but [`crate::rt::timeout`], so the shuttle model
//! `core/tests/shuttle/ingest_bridge.rs` drives exactly this code.
//!
//! A publisher's hello names its stream key; the broadcast is `live/<key>`,
//! one publisher per broadcast: a publish for a name still live (a fast
//! reconnect racing its own teardown) waits up to [`INGEST_IDLE_TIMEOUT`]
//! for the old session to end, and is turned away after that. On publish it
//! creates the video (`0.mp4`) and audio (`1.mp4`) entries — which fires the
//! entry-created callbacks — and only then sets their init segments, as
//! upstream ingest does. Each frame becomes one video fragment (groups bump
//! on keyframes) and one audio fragment. On unpublish (EOF, a read error, a
//! bad message or an idle link) it removes both entries, so a re-publish
//! creates fresh ones and fires entry-created again. It never decides
//! anything about transcoding, and never holds the live set's lock across
//! an await, a registry call or a wake-up. Each of its bounds that runs out leaves
//! `deadline.fired` in the trace: the claim (`transcode.ingest.claim`), the
//! first message (`.first-frame`) and the reads between frames (`.idle`).
//!
//! # Contract (asserted by the shuttle model `ingest-bridge`)
//!
//! 1. At most one session per broadcast name at every instant: a claim is
//!    one insertion into the live set under its lock, never a check and an
//!    insert in two acquisitions; the name is in [`IngestBridge::live`] for
//!    the whole session.
//! 2. A publish is refused only when its one bound over the whole wait runs
//!    out (`deadline.fired transcode.ingest.claim`, then
//!    `transcode.ingest.rejected`), and only while the name is held by
//!    another session; a refused publish holds nothing and created nothing.
//! 3. No lost wake-up: the waiter's `notified()` future is created before
//!    each check of the live set, and a release removes the name and then
//!    wakes every waiter, so a release between the check and the wait still
//!    wakes it.
//! 4. [`PublishSession::end`] (it consumes the session) removes the
//!    session's own entries and then releases its claim, exactly once; at
//!    quiescence the live set is empty.
//! 5. Every session gets fresh entries: entry-created fires for both of its
//!    tracks, with generations no earlier session of the name had. Entries
//!    are removed by generation, and before the release, so an old
//!    session's removal never removes the next session's entries.
//! 6. A session's fragments reach only its own generation's entries.
//!
//! A session dropped without [`PublishSession::end`] (its task dropped with
//! its host's runtime) keeps its name and its entries: releasing either
//! would trace events during a teardown, or free a name whose stale entries
//! a re-publish would then reuse.

use crate::event::Emitter;
use crate::media::{Frame, MediaMsg};
use crate::net::{AcceptBackoff, Net, NetListener, NetStream};
use crate::sync::Mutex;
use crate::transcode::broadcaster::FragmentBroadcaster;
use crate::transcode::event::TranscodeEvent;
use crate::transcode::fragment::{
    Fragment, FragmentFlags, FragmentMeta, AUDIO_TRACK, VIDEO_TIMESCALE, VIDEO_TRACK,
};
use crate::transcode::lock;
use crate::transcode::registry::FragmentBroadcasterRegistry;
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::BTreeSet;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

/// A live publisher that sends nothing for this long is treated as gone.
pub const INGEST_IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// The audio timescale.
pub const AUDIO_TIMESCALE: u32 = 48_000;
/// The video codec string the bridge announces.
pub const VIDEO_CODEC: &str = "avc1.64001f";
pub const AUDIO_CODEC: &str = "mp4a.40.2";

/// The broadcast a stream key publishes to.
pub fn broadcast_name(stream_key: &str) -> String {
    format!("live/{stream_key}")
}

/// Shared state of the bridge: the registry it feeds and the live set.
pub struct IngestBridge {
    registry: FragmentBroadcasterRegistry,
    live: Mutex<BTreeSet<String>>,
    /// Signalled whenever a broadcast leaves the live set.
    freed: tokio::sync::Notify,
    emitter: Emitter,
}

/// A publish turned away: its name stayed live for the whole claim bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected;

impl IngestBridge {
    pub fn new(registry: FragmentBroadcasterRegistry) -> Arc<IngestBridge> {
        let emitter = registry.emitter().clone();
        Arc::new(IngestBridge {
            registry,
            live: Mutex::new(BTreeSet::new()),
            freed: tokio::sync::Notify::new(),
            emitter,
        })
    }

    pub fn registry(&self) -> &FragmentBroadcasterRegistry {
        &self.registry
    }

    /// Broadcasts with a live publisher, in name order.
    pub fn live(&self) -> Vec<String> {
        lock(&self.live).iter().cloned().collect()
    }

    /// Publishes `broadcast`: claims it (waiting up to
    /// [`INGEST_IDLE_TIMEOUT`] for a previous session of the name to end),
    /// creates its video and audio entries (entry-created callbacks fire
    /// here), then sets their init segments. A claim that runs out of its
    /// bound is traced (`deadline.fired`, then `ingest.rejected`) and
    /// refused.
    pub async fn publish(self: &Arc<Self>, broadcast: &str) -> Result<PublishSession, Rejected> {
        if !self.claim(broadcast).await {
            self.emitter.emit(TranscodeEvent::IngestRejected {
                broadcast: broadcast.to_string(),
                reason: "already-live",
            });
            return Err(Rejected);
        }
        // Entries first (callbacks fire here), init segments after: the order
        // upstream ingest uses, which drains must survive (`refresh_meta`).
        let video = self.registry.get_or_create(
            broadcast,
            VIDEO_TRACK,
            FragmentMeta::new(VIDEO_CODEC, VIDEO_TIMESCALE),
        );
        let audio = self.registry.get_or_create(
            broadcast,
            AUDIO_TRACK,
            FragmentMeta::new(AUDIO_CODEC, AUDIO_TIMESCALE),
        );
        video.set_init_segment(Bytes::from_static(b"ftyp+moov avc1"));
        audio.set_init_segment(Bytes::from_static(b"ftyp+moov mp4a"));
        let generation = video.generation();
        self.emitter.emit(TranscodeEvent::IngestPublish {
            broadcast: broadcast.to_string(),
            generation,
        });
        Ok(PublishSession {
            bridge: self.clone(),
            broadcast: broadcast.to_string(),
            video,
            audio,
            grouping: Grouping::default(),
            last_ts: None,
            fragments: 0,
        })
    }

    /// Claims `broadcast` for one publisher, waiting (bounded) for a
    /// previous session of the same name to end. One bound over the whole
    /// wait, however many releases of the name it sees.
    async fn claim(&self, broadcast: &str) -> bool {
        let wait = async {
            loop {
                // Created before the check: a release in between still wakes it.
                let freed = self.freed.notified();
                if lock(&self.live).insert(broadcast.to_string()) {
                    return;
                }
                freed.await;
            }
        };
        if crate::rt::timeout(INGEST_IDLE_TIMEOUT, wait).await.is_err() {
            self.emitter.deadline_fired("transcode.ingest.claim");
            return false;
        }
        true
    }

    fn release(&self, broadcast: &str) {
        lock(&self.live).remove(broadcast);
        self.freed.notify_waiters();
    }
}

/// One publisher's session: its claim on the broadcast name and its two
/// entries. Only [`PublishSession::end`] releases them (see the module
/// doc's contract).
pub struct PublishSession {
    bridge: Arc<IngestBridge>,
    broadcast: String,
    video: Arc<FragmentBroadcaster>,
    audio: Arc<FragmentBroadcaster>,
    grouping: Grouping,
    last_ts: Option<u64>,
    fragments: u64,
}

impl std::fmt::Debug for PublishSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishSession")
            .field("broadcast", &self.broadcast)
            .field("generation", &self.generation())
            .field("fragments", &self.fragments)
            .finish()
    }
}

impl PublishSession {
    pub fn broadcast(&self) -> &str {
        &self.broadcast
    }

    /// The video entry's generation (the one the trace names).
    pub fn generation(&self) -> u64 {
        self.video.generation()
    }

    /// This session's video entry.
    pub fn video(&self) -> &Arc<FragmentBroadcaster> {
        &self.video
    }

    /// This session's audio entry.
    pub fn audio(&self) -> &Arc<FragmentBroadcaster> {
        &self.audio
    }

    /// Frames emitted so far.
    pub fn fragments(&self) -> u64 {
        self.fragments
    }

    /// Emits `f` as one video fragment (a keyframe opens the next group)
    /// and one audio fragment, to this session's entries. `false` if the
    /// fault point `transcode.ingest.drop` lost it first.
    pub fn frame(&mut self, f: &Frame) -> bool {
        if self.bridge.emitter.fault_point("transcode.ingest.drop") {
            // Lost between the socket and the broadcasters.
            return false;
        }
        let (group, object) = self.grouping.next(f.keyframe);
        let duration_ms = self.last_ts.map_or(0, |t| f.ts_ms.saturating_sub(t));
        self.last_ts = Some(f.ts_ms);
        let vts = f.ts_ms * u64::from(VIDEO_TIMESCALE) / 1000;
        let flags = if f.keyframe {
            FragmentFlags::KEYFRAME
        } else {
            FragmentFlags::DELTA
        };
        self.video.emit(
            Fragment::new(
                VIDEO_TRACK,
                group,
                object,
                0,
                vts,
                vts,
                duration_ms * u64::from(VIDEO_TIMESCALE) / 1000,
                flags,
                f.payload.clone(),
            )
            .with_ingest_time_ms(f.ts_ms),
        );
        let ats = f.ts_ms * u64::from(AUDIO_TIMESCALE) / 1000;
        self.audio.emit(Fragment::new(
            AUDIO_TRACK,
            f.seq,
            0,
            1,
            ats,
            ats,
            duration_ms * u64::from(AUDIO_TIMESCALE) / 1000,
            FragmentFlags::AUDIO,
            f.payload.slice(..f.payload.len().min(8)),
        ));
        self.fragments += 1;
        true
    }

    /// Unpublishes: removes this session's two entries (its generations
    /// only), traces `ingest.unpublish`, then releases the claim and wakes
    /// every publish waiting for the name. Returns the frames emitted.
    pub fn end(self) -> u64 {
        let PublishSession {
            bridge,
            broadcast,
            video,
            audio,
            fragments,
            ..
        } = self;
        let registry = &bridge.registry;
        // The registry drops its references, then ours go, which closes both
        // tracks once their subscribers drain.
        registry.remove_generation(&broadcast, VIDEO_TRACK, video.generation());
        registry.remove_generation(&broadcast, AUDIO_TRACK, audio.generation());
        bridge.emitter.emit(TranscodeEvent::IngestUnpublish {
            broadcast: broadcast.clone(),
            generation: video.generation(),
            fragments,
        });
        drop(video);
        drop(audio);
        bridge.release(&broadcast);
        fragments
    }
}

/// Serves publishers on `listener` forever: a failed `accept()` is traced
/// and waited out, never returned.
pub async fn serve_ingest<L: NetListener>(
    mut listener: L,
    bridge: Arc<IngestBridge>,
) -> io::Result<()> {
    let mut backoff = AcceptBackoff::default();
    loop {
        let stream = backoff
            .accept(&mut listener, |kind, backoff_ms| {
                bridge
                    .registry()
                    .emitter()
                    .emit(TranscodeEvent::IngestAcceptError { kind, backoff_ms })
            })
            .await;
        let bridge = bridge.clone();
        crate::rt::spawn(async move { handle_publisher(stream, bridge).await });
    }
}

/// Binds `addr` on `net` and serves publishers.
pub async fn listen_ingest<N: Net>(
    net: &N,
    addr: &str,
    bridge: Arc<IngestBridge>,
) -> io::Result<()> {
    let listener = net.bind(addr).await?;
    serve_ingest(listener, bridge).await
}

/// Numbers frames into (group, object): a keyframe opens the next group.
#[derive(Debug, Default)]
struct Grouping {
    group: Option<u64>,
    object: u64,
}

impl Grouping {
    fn next(&mut self, keyframe: bool) -> (u64, u64) {
        match self.group {
            Some(g) if !keyframe => {
                self.object += 1;
                (g, self.object)
            }
            Some(g) => {
                self.group = Some(g + 1);
                self.object = 0;
                (g + 1, 0)
            }
            None => {
                self.group = Some(0);
                self.object = 0;
                (0, 0)
            }
        }
    }
}

async fn handle_publisher<S: NetStream>(stream: S, bridge: Arc<IngestBridge>) {
    let mut input = FramedRead::new(stream, LengthDelimitedCodec::new());
    let first = match tokio::time::timeout(INGEST_IDLE_TIMEOUT, input.next()).await {
        Ok(Some(Ok(b))) => MediaMsg::decode(b.freeze()),
        Ok(_) => return,
        Err(_) => {
            bridge
                .emitter
                .deadline_fired("transcode.ingest.first-frame");
            return;
        }
    };
    let Ok(MediaMsg::Publish { stream_key }) = first else {
        return;
    };
    let Ok(mut session) = bridge.publish(&broadcast_name(&stream_key)).await else {
        return;
    };
    loop {
        let b = match tokio::time::timeout(INGEST_IDLE_TIMEOUT, input.next()).await {
            Ok(Some(Ok(b))) => b,
            Ok(_) => break,
            Err(_) => {
                bridge.emitter.deadline_fired("transcode.ingest.idle");
                break;
            }
        };
        match MediaMsg::decode(b.freeze()) {
            Ok(MediaMsg::Frame(f)) => {
                session.frame(&f);
            }
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    session.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_bumps_on_keyframes() {
        let mut g = Grouping::default();
        let got: Vec<(u64, u64)> = [true, false, false, true, false, true]
            .into_iter()
            .map(|k| g.next(k))
            .collect();
        assert_eq!(got, vec![(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (2, 0)]);
        let mut late = Grouping::default();
        assert_eq!(late.next(false), (0, 0), "a stream starting mid-group");
        assert_eq!(broadcast_name("a"), "live/a");
    }

    /// Each frame becomes one video fragment (its group and object from
    /// the keyframes, its time and duration in the 90 kHz video timescale,
    /// keyframe or delta flags, the whole payload, the ingest time) and one
    /// audio fragment (grouped by the frame's sequence number, in the
    /// 48 kHz timescale, at most 8 bytes of the payload), to the session's
    /// own entries; the session counts the frames and names its broadcast.
    #[tokio::test(start_paused = true)]
    async fn a_frame_becomes_one_video_and_one_audio_fragment() {
        let registry = FragmentBroadcasterRegistry::new();
        let bridge = IngestBridge::new(registry.clone());
        let mut session = bridge.publish("live/a").await.expect("free");
        let mut video = session.video().subscribe();
        let mut audio = session.audio().subscribe();
        assert_eq!(session.broadcast(), "live/a");
        let payload = Bytes::from_static(b"0123456789abcdef");
        for (seq, ts_ms, keyframe) in [(0, 1000, true), (1, 1040, false), (2, 1100, true)] {
            assert!(session.frame(&Frame {
                seq,
                ts_ms,
                keyframe,
                payload: payload.clone(),
            }));
        }
        assert_eq!(session.fragments(), 3);
        let take = |s: &mut crate::transcode::BroadcasterStream| {
            let mut got = Vec::new();
            while let crate::transcode::TryRecv::Fragment(f) = s.try_recv() {
                got.push(f);
            }
            got
        };
        let v = |group, object, ms: u64, dur_ms: u64, flags| {
            Fragment::new(
                VIDEO_TRACK,
                group,
                object,
                0,
                ms * 90,
                ms * 90,
                dur_ms * 90,
                flags,
                payload.clone(),
            )
            .with_ingest_time_ms(ms)
        };
        assert_eq!(
            take(&mut video),
            [
                v(0, 0, 1000, 0, FragmentFlags::KEYFRAME),
                v(0, 1, 1040, 40, FragmentFlags::DELTA),
                v(1, 0, 1100, 60, FragmentFlags::KEYFRAME),
            ]
        );
        let a = |seq, ms: u64, dur_ms: u64| {
            Fragment::new(
                AUDIO_TRACK,
                seq,
                0,
                1,
                ms * 48,
                ms * 48,
                dur_ms * 48,
                FragmentFlags::AUDIO,
                payload.slice(..8),
            )
        };
        assert_eq!(
            take(&mut audio),
            [a(0, 1000, 0), a(1, 1040, 40), a(2, 1100, 60)]
        );
        assert_eq!(session.end(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_publish_waits_for_its_name_and_is_refused_only_after_its_bound() {
        let registry = FragmentBroadcasterRegistry::new();
        let bridge = IngestBridge::new(registry.clone());
        let first = bridge.publish("live/a").await.expect("free");
        assert_eq!(bridge.live(), vec!["live/a".to_string()]);
        assert_eq!(registry.len(), 2);
        let start = tokio::time::Instant::now();
        assert_eq!(bridge.publish("live/a").await.unwrap_err(), Rejected);
        assert_eq!(start.elapsed(), INGEST_IDLE_TIMEOUT, "one bound");

        let b = bridge.clone();
        let waiter = crate::rt::spawn(async move { b.publish("live/a").await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut first = first;
        assert!(first.frame(&Frame {
            seq: 0,
            ts_ms: 0,
            keyframe: true,
            payload: Bytes::from_static(b"x"),
        }));
        let old = first.generation();
        assert_eq!(first.end(), 1);
        let second = waiter.await.unwrap().expect("woken by the release");
        assert!(second.generation() > old, "fresh entries");
        assert_eq!(
            registry.get("live/a", VIDEO_TRACK).unwrap().generation(),
            second.generation()
        );
        assert_eq!(second.end(), 0);
        assert!(bridge.live().is_empty() && registry.is_empty());
    }
}
