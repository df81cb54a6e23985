//! The controller: publisher state machine, destination registry and media
//! fan-out.
//!
//! Owns `ingest_alive`, the publisher token, the publish lock, the
//! destination map, the media broadcast and the current publish session's
//! [`SessionHeaders`] (metadata, AVC and AAC sequence headers). Ingest calls
//! in ([`Controller::begin_publish`], [`Controller::on_media`],
//! [`Controller::mark_ingest_dead`]); the supervisor and pumps read. A pump
//! subscribes and snapshots the headers under the lock every header is
//! cached and broadcast under ([`Controller::subscribe_media`]), so a header
//! is either in its snapshot or in its receiver, never in neither. It never
//! spawns and never does I/O.

use crate::bugs::BugSet;
use crate::event::Emitter;
use crate::restream::destination::DestinationState;
use crate::restream::event::RestreamEvent;
use crate::restream::media::{Media, MediaFrame, SessionHeaders};
use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering, RwLock, RwLockReadGuard};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Frames buffered for pumps; a pump further behind than this skips ahead
/// (and waits for the next keyframe).
pub const MEDIA_RING_FRAMES: usize = 256;

/// What a new pump starts from: a receiver of every frame from now on, and
/// the current publish session's headers as they were at that instant.
pub struct MediaFeed {
    /// Frames from the subscription on.
    pub frames: broadcast::Receiver<MediaFrame>,
    /// The headers already cached when it subscribed.
    pub headers: SessionHeaders,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishError {
    /// The stream key does not match the relay's ingest key.
    BadKey,
    /// A publisher is already live (one publisher at a time).
    AlreadyExists,
}

impl PublishError {
    pub fn reason(&self) -> &'static str {
        match self {
            PublishError::BadKey => "bad-key",
            PublishError::AlreadyExists => "already-publishing",
        }
    }
}

#[derive(Debug)]
pub struct Controller {
    ingest_key: String,
    bugs: BugSet,
    emitter: Emitter,
    ingest_alive: AtomicBool,
    publisher_token: AtomicU64,
    publish_lock: tokio::sync::Mutex<()>,
    destinations: RwLock<BTreeMap<String, Arc<DestinationState>>>,
    media: broadcast::Sender<MediaFrame>,
    /// The current publish session's headers; every frame is broadcast
    /// under this lock.
    headers: Mutex<SessionHeaders>,
}

impl Controller {
    pub fn new(ingest_key: impl Into<String>, bugs: BugSet, emitter: Emitter) -> Controller {
        let (media, _) = broadcast::channel(MEDIA_RING_FRAMES);
        Controller {
            ingest_key: ingest_key.into(),
            bugs,
            emitter,
            ingest_alive: AtomicBool::new(false),
            publisher_token: AtomicU64::new(0),
            publish_lock: tokio::sync::Mutex::new(()),
            destinations: RwLock::new(BTreeMap::new()),
            media,
            headers: Mutex::new(SessionHeaders::default()),
        }
    }

    pub fn emitter(&self) -> &Emitter {
        &self.emitter
    }

    pub fn bugs(&self) -> BugSet {
        self.bugs
    }

    pub fn ingest_alive(&self) -> bool {
        self.ingest_alive.load(Ordering::Acquire)
    }

    pub fn publisher_token(&self) -> u64 {
        self.publisher_token.load(Ordering::Acquire)
    }

    /// Admits one publisher: checks the key, rejects a second publisher,
    /// bumps the token and marks ingest alive. Returns the new token.
    pub async fn begin_publish(&self, stream_key: &str) -> Result<u64, PublishError> {
        let result = self.begin_publish_inner(stream_key).await;
        match &result {
            Ok(token) => self
                .emitter
                .emit(RestreamEvent::PublishBegin { token: *token }),
            Err(e) => self
                .emitter
                .emit(RestreamEvent::PublishRejected { reason: e.reason() }),
        }
        result
    }

    async fn begin_publish_inner(&self, stream_key: &str) -> Result<u64, PublishError> {
        if stream_key != self.ingest_key {
            return Err(PublishError::BadKey);
        }
        let _guard = self.publish_lock.lock().await;
        if self.ingest_alive() {
            return Err(PublishError::AlreadyExists);
        }
        let token = self.publisher_token.fetch_add(1, Ordering::AcqRel) + 1;
        self.ingest_alive.store(true, Ordering::Release);
        Ok(token)
    }

    /// One message of publish session `token`, fanned out to every pump.
    /// Metadata and sequence headers are also cached for pumps that start
    /// later. A message of a session that is no longer the current one is
    /// dropped.
    pub fn on_media(&self, token: u64, media: Media) {
        // The token is checked under the headers lock: checked before it, a
        // frame of a session that ends meanwhile could be cached after the
        // next session's headers and reset them (found by
        // core/tests/shuttle/controller.rs).
        let mut headers = self.headers.lock().unwrap_or_else(|p| p.into_inner());
        if token != self.publisher_token() {
            return;
        }
        let frame = MediaFrame { token, media };
        headers.observe(&frame);
        // No receivers (no pump yet) is fine: frames are live, not stored.
        let _ = self.media.send(frame);
    }

    /// A feed for a new pump: frames from now on, and the headers cached
    /// before (taken together, under the lock frames are sent under).
    pub fn subscribe_media(&self) -> MediaFeed {
        let headers = self.headers.lock().unwrap_or_else(|p| p.into_inner());
        MediaFeed {
            frames: self.media.subscribe(),
            headers: headers.clone(),
        }
    }

    /// Acts on the alive→dead edge only: invalidates every destination's
    /// session override (clear + epoch bump, under the override's lock). Does
    /// not touch the VOD latches.
    pub fn mark_ingest_dead(&self) {
        if !self.ingest_alive.swap(false, Ordering::AcqRel) {
            return;
        }
        let token = self.publisher_token();
        for state in self.destination_states() {
            let epoch = state.invalidate_session_override();
            self.emitter.emit(RestreamEvent::OverrideInvalidated {
                dest: state.id().to_string(),
                epoch,
            });
        }
        self.emitter.emit(RestreamEvent::IngestDead { token });
    }

    /// The destination's state, created on first use (pointer-stable).
    pub fn destination_state(&self, id: &str) -> Arc<DestinationState> {
        if let Some(s) = self.read_destinations().get(id) {
            return s.clone();
        }
        let mut map = self.destinations.write().unwrap_or_else(|p| p.into_inner());
        map.entry(id.to_string())
            .or_insert_with(|| Arc::new(DestinationState::new(id, self.bugs)))
            .clone()
    }

    /// Every destination's state, in id order.
    pub fn destination_states(&self) -> Vec<Arc<DestinationState>> {
        self.read_destinations().values().cloned().collect()
    }

    pub fn remove_destination(&self, id: &str) {
        let mut map = self.destinations.write().unwrap_or_else(|p| p.into_inner());
        map.remove(id);
    }

    fn read_destinations(&self) -> RwLockReadGuard<'_, BTreeMap<String, Arc<DestinationState>>> {
        self.destinations.read().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
#[cfg(not(feature = "loom"))]
mod tests {
    use super::*;

    fn ctl() -> Controller {
        Controller::new("key", BugSet::NONE, Emitter::tracing_only("relay"))
    }

    #[tokio::test]
    async fn one_publisher_at_a_time() {
        let c = ctl();
        assert_eq!(c.begin_publish("key").await, Ok(1));
        assert_eq!(
            c.begin_publish("key").await,
            Err(PublishError::AlreadyExists)
        );
        assert_eq!(c.begin_publish("bad").await, Err(PublishError::BadKey));
        c.mark_ingest_dead();
        assert_eq!(c.begin_publish("key").await, Ok(2));
    }

    #[tokio::test]
    async fn mark_ingest_dead_clears_all_overrides_on_the_edge_only() {
        let c = ctl();
        c.begin_publish("key").await.unwrap();
        let a = c.destination_state("twitch");
        let b = c.destination_state("twitch-2");
        a.set_override(Some("u1".into()));
        b.set_override(Some("u2".into()));
        c.mark_ingest_dead();
        assert_eq!((a.override_url(), b.override_url()), (None, None));
        assert_eq!((a.session_epoch(), b.session_epoch()), (1, 1));
        c.mark_ingest_dead();
        assert_eq!(a.session_epoch(), 1, "only the alive→dead edge acts");
    }

    #[tokio::test]
    async fn destination_state_is_pointer_stable() {
        let c = ctl();
        let a = c.destination_state("x");
        let b = c.destination_state("x");
        assert!(Arc::ptr_eq(&a, &b));
    }

    /// Every normalized line emitted, in order.
    #[derive(Default)]
    struct Lines(std::sync::Mutex<Vec<String>>);

    impl crate::event::EventSink for Lines {
        fn record(&self, _host: &'static str, event: crate::event::Event) {
            self.0.lock().unwrap().push(event.to_string());
        }
    }

    fn traced() -> (Controller, Arc<Lines>) {
        let lines = Arc::new(Lines::default());
        let c = Controller::new("key", BugSet::NONE, Emitter::new("relay", lines.clone()));
        (c, lines)
    }

    fn video(ts: u32, tag: &'static [u8]) -> Media {
        Media::Video {
            ts,
            tag: bytes::Bytes::from_static(tag),
        }
    }
    const AVC: &[u8] = &[0x17, 0, 0, 0, 0, 1];
    const KEY: &[u8] = &[0x17, 1, 0, 0, 0];
    const INTER: &[u8] = &[0x27, 1, 0, 0, 0];

    /// Every publish attempt is traced: the admitted one with its token, a
    /// refused one with the reason a reviewer (and the checks) read.
    #[tokio::test]
    async fn every_publish_attempt_is_traced_with_its_token_or_reason() {
        let (c, lines) = traced();
        assert_eq!(PublishError::BadKey.reason(), "bad-key");
        assert_eq!(PublishError::AlreadyExists.reason(), "already-publishing");
        c.begin_publish("nope").await.unwrap_err();
        c.begin_publish("key").await.unwrap();
        c.begin_publish("key").await.unwrap_err();
        assert_eq!(
            *lines.0.lock().unwrap(),
            [
                "publish.rejected reason=bad-key",
                "publish.begin token=1",
                "publish.rejected reason=already-publishing",
            ]
        );
    }

    /// The alive→dead edge traces one invalidation per destination (its id
    /// and new epoch, in id order), then the dead ingest with its token.
    #[tokio::test]
    async fn a_dead_ingest_traces_each_invalidated_destination_then_itself() {
        let (c, lines) = traced();
        c.begin_publish("key").await.unwrap();
        c.destination_state("youtube");
        c.destination_state("twitch").invalidate_session_override();
        lines.0.lock().unwrap().clear();
        c.mark_ingest_dead();
        assert_eq!(
            *lines.0.lock().unwrap(),
            [
                "override.invalidated dest=twitch epoch=2",
                "override.invalidated dest=youtube epoch=1",
                "ingest.dead token=1",
            ]
        );
    }

    /// Frames of the current publish session reach every subscribed pump;
    /// a frame stamped with any other session is dropped: neither sent nor
    /// cached.
    #[tokio::test]
    async fn only_the_current_publish_session_reaches_the_pumps() {
        let c = ctl();
        let mut feed = c.subscribe_media();
        c.begin_publish("key").await.unwrap();
        c.on_media(1, video(10, KEY));
        c.on_media(2, video(20, KEY));
        c.mark_ingest_dead();
        c.begin_publish("key").await.unwrap();
        c.on_media(1, video(30, AVC));
        c.on_media(2, video(40, INTER));
        let mut got = Vec::new();
        while let Ok(f) = feed.frames.try_recv() {
            got.push((f.token, f.media.ts()));
        }
        assert_eq!(got, [(1, Some(10)), (2, Some(40))]);
        assert_eq!(
            c.subscribe_media().headers,
            SessionHeaders {
                token: 2,
                ..SessionHeaders::default()
            },
            "a late session's header is not cached either"
        );
    }

    /// A new pump's feed holds the session's headers cached before it
    /// subscribed, and every frame sent after: nothing in neither, nothing
    /// in both.
    #[tokio::test]
    async fn a_feed_holds_the_headers_before_it_and_the_frames_after_it() {
        let c = ctl();
        let t = c.begin_publish("key").await.unwrap();
        c.on_media(t, video(0, AVC));
        c.on_media(t, video(0, KEY));
        let mut feed = c.subscribe_media();
        assert_eq!(feed.headers.token, t);
        assert_eq!(feed.headers.avc, Some(video(0, AVC)));
        assert!(feed.frames.try_recv().is_err(), "nothing from before");
        c.on_media(t, video(40, INTER));
        assert_eq!(
            feed.frames.try_recv().map(|f| f.media),
            Ok(video(40, INTER))
        );
    }

    /// A removed destination is gone: it is no longer listed, and asking
    /// for it again starts a fresh state (no override, epoch 0).
    #[tokio::test]
    async fn a_removed_destination_starts_afresh() {
        let c = ctl();
        let old = c.destination_state("twitch");
        old.set_override(Some("rtmp://t/ivs-1/key".into()));
        old.invalidate_session_override();
        c.destination_state("youtube");
        c.remove_destination("twitch");
        let ids: Vec<String> = c
            .destination_states()
            .iter()
            .map(|s| s.id().to_string())
            .collect();
        assert_eq!(ids, ["youtube"]);
        let new = c.destination_state("twitch");
        assert!(!Arc::ptr_eq(&old, &new));
        assert_eq!((new.override_url(), new.session_epoch()), (None, 0));
    }

    /// The controller carries the relay's known-bug switches: the pumps it
    /// feeds read them from it, and its destinations run under them.
    #[cfg(feature = "known-bugs")]
    #[test]
    fn the_relays_bug_switches_reach_pumps_and_destinations() {
        use crate::bugs::KnownBug;
        let bugs = BugSet::only(KnownBug::VodFetchStacking);
        let c = Controller::new("key", bugs, Emitter::tracing_only("relay"));
        assert_eq!(c.bugs(), bugs);
        let d = c.destination_state("twitch");
        assert!(
            d.try_claim_vod_fetch() && d.try_claim_vod_fetch(),
            "the pre-fix path: no latch"
        );
    }
}
