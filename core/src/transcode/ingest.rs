//! The publisher-facing bridge: turns a publisher's frames into fragments in
//! the registry (LVQR's RTMP bridge, seed-systems.md §2.1).
//!
//! Owns [`IngestBridge`] and its per-connection loop. A publisher's hello
//! names its stream key; the broadcast is `live/<key>`, one publisher per
//! broadcast: a publish for a name still live (a fast reconnect racing its
//! own teardown) waits up to [`INGEST_IDLE_TIMEOUT`] for the old session to
//! end, and is turned away after that. On publish it creates the video (`0.mp4`) and audio (`1.mp4`)
//! entries — which fires the entry-created callbacks — and only then sets
//! their init segments, as upstream ingest does. Each frame becomes one video
//! fragment (groups bump on keyframes) and one audio fragment. On unpublish
//! (EOF, a read error, a bad message or an idle link) it removes both
//! entries, so a re-publish creates fresh ones and fires entry-created
//! again. It never decides anything about transcoding. Each of its bounds
//! that runs out leaves `deadline.fired` in the trace: the claim
//! (`transcode.ingest.claim`), the first message (`.first-frame`) and the
//! reads between frames (`.idle`).

use crate::event::Emitter;
use crate::media::MediaMsg;
use crate::net::{Net, NetListener, NetStream};
use crate::sync::Mutex;
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

    /// Claims `broadcast` for one publisher, waiting (bounded) for a
    /// previous session of the same name to end.
    async fn claim(&self, broadcast: &str) -> bool {
        let deadline = tokio::time::Instant::now() + INGEST_IDLE_TIMEOUT;
        loop {
            // Created before the check: a release in between still wakes it.
            let freed = self.freed.notified();
            if lock(&self.live).insert(broadcast.to_string()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                self.emitter.deadline_fired("transcode.ingest.claim");
                return false;
            }
        }
    }

    fn release(&self, broadcast: &str) {
        lock(&self.live).remove(broadcast);
        self.freed.notify_waiters();
    }
}

/// Serves publishers on `listener` forever.
pub async fn serve_ingest<L: NetListener>(
    mut listener: L,
    bridge: Arc<IngestBridge>,
) -> io::Result<()> {
    loop {
        let (stream, _peer) = listener.accept().await?;
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
    let broadcast = broadcast_name(&stream_key);
    if !bridge.claim(&broadcast).await {
        bridge.emitter.emit(TranscodeEvent::IngestRejected {
            broadcast,
            reason: "already-live",
        });
        return;
    }
    let registry = bridge.registry.clone();
    // Entries first (callbacks fire here), init segments after: the order
    // upstream ingest uses, which drains must survive (`refresh_meta`).
    let video = registry.get_or_create(
        &broadcast,
        VIDEO_TRACK,
        FragmentMeta::new(VIDEO_CODEC, VIDEO_TIMESCALE),
    );
    let audio = registry.get_or_create(
        &broadcast,
        AUDIO_TRACK,
        FragmentMeta::new(AUDIO_CODEC, AUDIO_TIMESCALE),
    );
    video.set_init_segment(Bytes::from_static(b"ftyp+moov avc1"));
    audio.set_init_segment(Bytes::from_static(b"ftyp+moov mp4a"));
    let generation = video.generation();
    bridge.emitter.emit(TranscodeEvent::IngestPublish {
        broadcast: broadcast.clone(),
        generation,
    });

    let mut grouping = Grouping::default();
    let mut fragments = 0u64;
    let mut last_ts: Option<u64> = None;
    loop {
        let b = match tokio::time::timeout(INGEST_IDLE_TIMEOUT, input.next()).await {
            Ok(Some(Ok(b))) => b,
            Ok(_) => break,
            Err(_) => {
                bridge.emitter.deadline_fired("transcode.ingest.idle");
                break;
            }
        };
        let f = match MediaMsg::decode(b.freeze()) {
            Ok(MediaMsg::Frame(f)) => f,
            Ok(_) => continue,
            Err(_) => break,
        };
        if bridge.emitter.fault_point("transcode.ingest.drop") {
            // Lost between the socket and the broadcasters.
            continue;
        }
        let (group, object) = grouping.next(f.keyframe);
        let duration_ms = last_ts.map_or(0, |t| f.ts_ms.saturating_sub(t));
        last_ts = Some(f.ts_ms);
        let vts = f.ts_ms * u64::from(VIDEO_TIMESCALE) / 1000;
        let flags = if f.keyframe {
            FragmentFlags::KEYFRAME
        } else {
            FragmentFlags::DELTA
        };
        video.emit(
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
        audio.emit(Fragment::new(
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
        fragments += 1;
    }

    // Unpublish: the registry drops its references, then ours go, which
    // closes both tracks once their subscribers drain.
    registry.remove(&broadcast, VIDEO_TRACK);
    registry.remove(&broadcast, AUDIO_TRACK);
    bridge.emitter.emit(TranscodeEvent::IngestUnpublish {
        broadcast: broadcast.clone(),
        generation,
        fragments,
    });
    drop(video);
    drop(audio);
    bridge.release(&broadcast);
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
}
