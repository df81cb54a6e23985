//! The transcode runner's behaviour, driven deterministically.
//!
//! Parity with the upstream seed's fourteen runner tests (seed-systems.md
//! §2.4): one test here per behaviour there, same names. Upstream
//! synchronised with 40–150 ms wall-clock sleeps (two of them flaked on
//! macOS CI); here every test runs on a current-thread tokio runtime with
//! paused time, and `settle()` lets the spawned drains run to quiescence by
//! yielding, so the outcome is the same on every run. After the parity set:
//! the fixes (re-publish, removal racing a build, late init segment, no
//! runtime) and, with `known-bugs`, each transcode bug switched back on.

use bytes::Bytes;
use relaysim_core::event::{Emitter, Event, EventSink};
use relaysim_core::transcode::event::TranscodeEvent;
use relaysim_core::transcode::fragment::{FragmentFlags, FragmentMeta, AUDIO_TRACK, VIDEO_TRACK};
use relaysim_core::transcode::{
    default_ladder, preset_240p, preset_480p, preset_720p, Fragment, FragmentBroadcasterRegistry,
    PanicTrigger, PanickingTranscoderFactory, PassthroughTranscoderFactory, Phase, RenditionSpec,
    StatsKey, TranscodeRunner, TranscodeRunnerHandle, Transcoder, TranscoderContext,
    TranscoderFactory,
};
use relaysim_core::BugSet;
use std::sync::{Arc, Mutex};

pub(crate) fn video_meta() -> FragmentMeta {
    FragmentMeta::new("avc1.64001f", 90_000)
}

pub(crate) fn frag(idx: u64) -> Fragment {
    Fragment::new(
        VIDEO_TRACK,
        idx,
        0,
        0,
        idx * 1000,
        idx * 1000,
        1000,
        FragmentFlags::DELTA,
        Bytes::from(vec![0xAB; 16]),
    )
}

/// Lets every spawned drain run until it waits again (current-thread
/// runtime: a yield runs every ready task; paused time auto-advances past
/// any simulated work).
pub(crate) async fn settle() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}

pub(crate) fn passthrough(spec: RenditionSpec) -> Arc<dyn TranscoderFactory> {
    Arc::new(PassthroughTranscoderFactory::new(spec))
}

/// Records every transcode event.
#[derive(Default)]
struct Events(Mutex<Vec<TranscodeEvent>>);

impl EventSink for Events {
    fn record(&self, _host: &'static str, event: Event) {
        if let Event::Transcode(e) = event {
            self.0.lock().unwrap().push(e);
        }
    }
}

impl Events {
    fn names(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().iter().map(|e| e.name()).collect()
    }

    fn all(&self) -> Vec<TranscodeEvent> {
        self.0.lock().unwrap().clone()
    }
}

fn recorded_registry() -> (FragmentBroadcasterRegistry, Arc<Events>) {
    let events = Arc::new(Events::default());
    let registry =
        FragmentBroadcasterRegistry::with_options(1024, Emitter::new("transcode", events.clone()));
    (registry, events)
}

fn seen(h: &TranscodeRunnerHandle, r: &str, b: &str) -> u64 {
    h.fragments_seen("passthrough", r, b, VIDEO_TRACK)
}

// ---- parity with the upstream seed's tests --------------------------------

#[tokio::test(start_paused = true)]
async fn passthrough_sees_every_fragment_and_stops() {
    let registry = FragmentBroadcasterRegistry::new();
    let h = TranscodeRunner::new()
        .with_factory(PassthroughTranscoderFactory::new(preset_720p()))
        .install(&registry);
    let bc = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    for i in 0..5 {
        bc.emit(frag(i));
    }
    drop(bc);
    registry.remove("live/a", VIDEO_TRACK);
    settle().await;
    assert_eq!(seen(&h, "720p", "live/a"), 5);
    assert_eq!(h.panics("passthrough", "720p", "live/a", VIDEO_TRACK), 0);
    assert!(h.running().is_empty(), "the drain stopped");
}

#[tokio::test(start_paused = true)]
async fn default_ladder_spawns_one_task_per_rendition() {
    let registry = FragmentBroadcasterRegistry::new();
    let h = TranscodeRunner::new()
        .with_ladder(default_ladder(), PassthroughTranscoderFactory::new)
        .install(&registry);
    let bc = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    bc.emit(frag(0));
    bc.emit(frag(1));
    settle().await;
    assert_eq!(h.tracked().len(), 3);
    for r in ["720p", "480p", "240p"] {
        assert_eq!(seen(&h, r, "live/a"), 2, "{r}");
    }
}

#[tokio::test(start_paused = true)]
async fn factory_opt_out_skips_non_video_tracks() {
    let registry = FragmentBroadcasterRegistry::new();
    let h = TranscodeRunner::new()
        .with_factory(PassthroughTranscoderFactory::new(preset_720p()))
        .install(&registry);
    let bc = registry.get_or_create(
        "live/a",
        AUDIO_TRACK,
        FragmentMeta::new("mp4a.40.2", 48_000),
    );
    bc.emit(frag(0));
    settle().await;
    assert!(h.tracked().is_empty());
}

#[tokio::test(start_paused = true)]
async fn panic_in_on_fragment_is_caught_and_counted() {
    let registry = FragmentBroadcasterRegistry::new();
    let h = TranscodeRunner::new()
        .with_factory(PanickingTranscoderFactory::new(
            passthrough(preset_720p()),
            PanicTrigger::at_group(2),
        ))
        .install(&registry);
    let bc = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    for i in 0..5 {
        bc.emit(frag(i));
    }
    settle().await;
    assert_eq!(seen(&h, "720p", "live/a"), 5);
    assert_eq!(h.panics("passthrough", "720p", "live/a", VIDEO_TRACK), 1);
}

/// A transcoder whose start panics and whose fragment hook must never run.
struct StartPanics(RenditionSpec);

struct Unreachable;

impl Transcoder for Unreachable {
    fn on_start(&mut self, _ctx: &TranscoderContext) {
        panic!("on_start fails");
    }

    fn on_fragment(&mut self, _fragment: &Fragment) {
        unreachable!("a transcoder whose start panicked is never fed");
    }
}

impl TranscoderFactory for StartPanics {
    fn name(&self) -> &str {
        "start-panics"
    }

    fn rendition(&self) -> &RenditionSpec {
        &self.0
    }

    fn build(&self, _ctx: &TranscoderContext) -> Option<Box<dyn Transcoder>> {
        Some(Box::new(Unreachable))
    }
}

#[tokio::test(start_paused = true)]
async fn panic_in_on_start_skips_drain_loop() {
    let registry = FragmentBroadcasterRegistry::new();
    let h = TranscodeRunner::new()
        .with_factory(StartPanics(preset_720p()))
        .install(&registry);
    let bc = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    for i in 0..3 {
        bc.emit(frag(i));
    }
    settle().await;
    assert_eq!(
        h.fragments_seen("start-panics", "720p", "live/a", VIDEO_TRACK),
        0
    );
    assert_eq!(h.panics("start-panics", "720p", "live/a", VIDEO_TRACK), 1);
    assert_eq!(
        h.panics_in("start-panics", "720p", "live/a", VIDEO_TRACK, Phase::Start),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn empty_runner_installs_callback_but_spawns_nothing() {
    let registry = FragmentBroadcasterRegistry::new();
    let h = TranscodeRunner::new().install(&registry);
    registry
        .get_or_create("live/a", VIDEO_TRACK, video_meta())
        .emit(frag(0));
    settle().await;
    assert!(h.tracked().is_empty());
}

#[test]
fn runner_default_is_empty() {
    assert_eq!(TranscodeRunner::default().factory_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn add_rendition_spawns_for_existing_live_source() {
    let registry = FragmentBroadcasterRegistry::new();
    let h = TranscodeRunner::new()
        .with_factory(PassthroughTranscoderFactory::new(preset_720p()))
        .install(&registry);
    let bc = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    bc.emit(frag(0));
    settle().await;
    assert!(h.add_rendition(passthrough(preset_480p())));
    bc.emit(frag(1));
    bc.emit(frag(2));
    settle().await;
    assert_eq!(seen(&h, "720p", "live/a"), 3);
    assert_eq!(seen(&h, "480p", "live/a"), 2, "post-add fragments only");
}

#[tokio::test(start_paused = true)]
async fn add_rendition_rejects_duplicate_name() {
    let registry = FragmentBroadcasterRegistry::new();
    let h = TranscodeRunner::new()
        .with_factory(PassthroughTranscoderFactory::new(preset_720p()))
        .install(&registry);
    assert!(!h.add_rendition(passthrough(preset_720p())));
    assert!(h.add_rendition(passthrough(preset_240p())));
    assert_eq!(h.factory_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn remove_rendition_aborts_its_drain_and_leaves_others() {
    let registry = FragmentBroadcasterRegistry::new();
    let h = TranscodeRunner::new()
        .with_ladder(
            vec![preset_720p(), preset_480p()],
            PassthroughTranscoderFactory::new,
        )
        .install(&registry);
    let bc = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    bc.emit(frag(0));
    settle().await;
    assert_eq!(h.remove_rendition("480p"), 1);
    for i in 1..4 {
        bc.emit(frag(i));
    }
    settle().await;
    assert!(seen(&h, "720p", "live/a") >= 3);
    assert!(seen(&h, "480p", "live/a") < seen(&h, "720p", "live/a"));
    assert!(h.renditions().iter().all(|r| r.name != "480p"));
    assert_eq!(
        h.running(),
        vec![StatsKey::new("passthrough", "720p", "live/a", VIDEO_TRACK)]
    );
}

#[tokio::test(start_paused = true)]
async fn does_not_transcode_a_rendition_output_broadcast() {
    let registry = FragmentBroadcasterRegistry::new();
    let h = TranscodeRunner::new()
        .with_factory(PassthroughTranscoderFactory::new(preset_720p()))
        .install(&registry);
    registry
        .get_or_create("live/x/720p", VIDEO_TRACK, video_meta())
        .emit(frag(0));
    registry
        .get_or_create("live/x", VIDEO_TRACK, video_meta())
        .emit(frag(0));
    settle().await;
    assert_eq!(seen(&h, "720p", "live/x/720p"), 0);
    assert_eq!(seen(&h, "720p", "live/x"), 1);
}

/// A second transcoder producing the same rendition.
struct Named(&'static str, RenditionSpec);

impl TranscoderFactory for Named {
    fn name(&self) -> &str {
        self.0
    }

    fn rendition(&self) -> &RenditionSpec {
        &self.1
    }

    fn build(&self, ctx: &TranscoderContext) -> Option<Box<dyn Transcoder>> {
        PassthroughTranscoderFactory::new(self.1.clone()).build(ctx)
    }
}

#[tokio::test(start_paused = true)]
async fn two_factories_share_a_rendition_name() {
    let registry = FragmentBroadcasterRegistry::new();
    let h = TranscodeRunner::new()
        .with_factory(PassthroughTranscoderFactory::new(preset_720p()))
        .with_factory(Named("other", preset_720p()))
        .install(&registry);
    assert_eq!(h.renditions().len(), 2);
    h.remove_rendition("720p");
    assert!(h.renditions().is_empty());
}

#[tokio::test(start_paused = true)]
async fn renditions_reflects_runtime_edits() {
    let registry = FragmentBroadcasterRegistry::new();
    let h = TranscodeRunner::new()
        .with_factory(PassthroughTranscoderFactory::new(preset_720p()))
        .install(&registry);
    assert!(h.add_rendition(passthrough(preset_480p())));
    assert_eq!(
        h.remove_rendition("720p"),
        0,
        "no live source, nothing aborted"
    );
    let names: Vec<String> = h.renditions().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["480p"]);
}

#[tokio::test(start_paused = true)]
async fn downstream_subscriber_still_sees_every_fragment() {
    let registry = FragmentBroadcasterRegistry::new();
    let h = TranscodeRunner::new()
        .with_factory(PanickingTranscoderFactory::new(
            passthrough(preset_720p()),
            PanicTrigger::at_group(1),
        ))
        .install(&registry);
    let bc = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    let mut downstream = registry.subscribe("live/a", VIDEO_TRACK).unwrap();
    let reader = tokio::spawn(async move {
        let mut groups = Vec::new();
        while let Some(f) = downstream.next_fragment().await {
            groups.push(f.group_id);
        }
        groups
    });
    for i in 0..4 {
        bc.emit(frag(i));
    }
    drop(bc);
    registry.remove("live/a", VIDEO_TRACK);
    assert_eq!(reader.await.unwrap(), vec![0, 1, 2, 3]);
    settle().await;
    assert_eq!(h.panics("passthrough", "720p", "live/a", VIDEO_TRACK), 1);
}

// ---- the fixes --------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn republished_broadcast_is_transcoded_again() {
    let (registry, events) = recorded_registry();
    let h = TranscodeRunner::new()
        .with_factory(PassthroughTranscoderFactory::new(preset_720p()))
        .install(&registry);
    let first = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    first.emit(frag(0));
    drop(first);
    registry.remove("live/a", VIDEO_TRACK);
    settle().await;
    assert!(h.running().is_empty());
    let second = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    assert_eq!(second.generation(), 2);
    second.emit(frag(1));
    settle().await;
    assert_eq!(
        seen(&h, "720p", "live/a"),
        2,
        "stats accumulate across sessions"
    );
    assert_eq!(
        h.tasks(),
        vec![(
            StatsKey::new("passthrough", "720p", "live/a", VIDEO_TRACK),
            2,
            false
        )]
    );
    let spawns = events
        .names()
        .iter()
        .filter(|n| **n == "transcode.drain.spawn")
        .count();
    assert_eq!(spawns, 2);
}

/// A factory whose `build` runs an admin operation first: a deterministic
/// stand-in for the admin API landing on another thread while ingest's
/// entry-created callback is building this transcoder.
struct BuildHook {
    inner: Arc<dyn TranscoderFactory>,
    hook: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl TranscoderFactory for BuildHook {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn rendition(&self) -> &RenditionSpec {
        self.inner.rendition()
    }

    fn build(&self, ctx: &TranscoderContext) -> Option<Box<dyn Transcoder>> {
        let hook = self.hook.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
        self.inner.build(ctx)
    }
}

/// Publishes `live/a` while a `remove_rendition("480p")` lands inside the
/// callback's build of 480p; returns the running keys afterwards, the
/// events, and the tasks alive then beyond those alive before
/// (`transcode_tasks` judges the drains by that count).
pub(crate) async fn remove_during_build(
    bugs: BugSet,
) -> (Vec<StatsKey>, Vec<TranscodeEvent>, usize) {
    let base = crate::support::alive_tasks();
    let (registry, events) = recorded_registry();
    let slot: Arc<Mutex<Option<TranscodeRunnerHandle>>> = Arc::default();
    let s = slot.clone();
    let hooked = Arc::new(BuildHook {
        inner: passthrough(preset_480p()),
        hook: Mutex::new(Some(Box::new(move || {
            let h = s.lock().unwrap().clone().unwrap();
            h.remove_rendition("480p");
        }))),
    });
    let h = TranscodeRunner::new()
        .with_factory(PassthroughTranscoderFactory::new(preset_720p()))
        .with_factory_arc(hooked)
        .with_bugs(bugs)
        .install(&registry);
    *slot.lock().unwrap() = Some(h.clone());
    let _live = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    settle().await;
    (
        h.running(),
        events.all(),
        crate::support::alive_tasks()
            .checked_sub(base)
            .expect("fewer tasks alive than before the runner existed"),
    )
}

#[tokio::test(start_paused = true)]
async fn removal_during_a_build_does_not_leak_a_drain() {
    let (running, events, _) = remove_during_build(BugSet::NONE).await;
    assert_eq!(
        running,
        vec![StatsKey::new("passthrough", "720p", "live/a", VIDEO_TRACK)]
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TranscodeEvent::DrainSkipped { .. })),
        "{events:?}"
    );
}

/// Records the metadata each transcoder starts with.
struct InitProbe(RenditionSpec, Arc<Mutex<Vec<bool>>>);

struct Probe(Arc<Mutex<Vec<bool>>>);

impl Transcoder for Probe {
    fn on_start(&mut self, ctx: &TranscoderContext) {
        self.0.lock().unwrap().push(ctx.meta.init_segment.is_some());
    }

    fn on_fragment(&mut self, _fragment: &Fragment) {}
}

impl TranscoderFactory for InitProbe {
    fn name(&self) -> &str {
        "probe"
    }

    fn rendition(&self) -> &RenditionSpec {
        &self.0
    }

    fn build(&self, ctx: &TranscoderContext) -> Option<Box<dyn Transcoder>> {
        assert!(
            ctx.meta.init_segment.is_none(),
            "callbacks fire before the init segment is set"
        );
        Some(Box::new(Probe(self.1.clone())))
    }
}

#[tokio::test(start_paused = true)]
async fn drains_start_with_a_late_init_segment() {
    let registry = FragmentBroadcasterRegistry::new();
    let started = Arc::new(Mutex::new(Vec::new()));
    let _h = TranscodeRunner::new()
        .with_factory(InitProbe(preset_720p(), started.clone()))
        .install(&registry);
    let bc = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    bc.set_init_segment(Bytes::from_static(b"moov"));
    settle().await;
    assert_eq!(*started.lock().unwrap(), vec![true]);
}

#[test]
fn no_runtime_means_no_drain_and_no_stats() {
    let (registry, events) = recorded_registry();
    let h = TranscodeRunner::new()
        .with_factory(PassthroughTranscoderFactory::new(preset_720p()))
        .install(&registry);
    registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    assert!(h.tracked().is_empty());
    assert!(h.tasks().is_empty());
    assert!(events.names().contains(&"transcode.drain.skip"));
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_one_transcoder_spares_its_siblings() {
    let registry = FragmentBroadcasterRegistry::new();
    let h = TranscodeRunner::new()
        .with_factory(PanickingTranscoderFactory::new(
            passthrough(preset_720p()),
            PanicTrigger::at_group(1),
        ))
        .with_factory(PassthroughTranscoderFactory::new(preset_480p()))
        .with_factory(PanickingTranscoderFactory::new(
            passthrough(preset_240p()),
            PanicTrigger::on_stop(),
        ))
        .install(&registry);
    let bc = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    for i in 0..4 {
        bc.emit(frag(i));
    }
    drop(bc);
    registry.remove("live/a", VIDEO_TRACK);
    settle().await;
    for r in ["720p", "480p", "240p"] {
        assert_eq!(seen(&h, r, "live/a"), 4, "{r}");
    }
    assert_eq!(h.panics("passthrough", "720p", "live/a", VIDEO_TRACK), 1);
    assert_eq!(h.panics("passthrough", "480p", "live/a", VIDEO_TRACK), 0);
    assert_eq!(
        h.panics("passthrough", "240p", "live/a", VIDEO_TRACK),
        1,
        "on_stop"
    );
    let phases = [Phase::Start, Phase::Fragment, Phase::Stop];
    let by_phase =
        |r: &str| phases.map(|p| h.panics_in("passthrough", r, "live/a", VIDEO_TRACK, p));
    assert_eq!(by_phase("720p"), [0, 1, 0]);
    assert_eq!(by_phase("240p"), [0, 0, 1]);
}

// ---- each transcode bug, switched back on ------------------------------------

#[cfg(feature = "known-bugs")]
mod known_bugs {
    use super::*;
    use relaysim_core::KnownBug;

    #[tokio::test(start_paused = true)]
    async fn republish_never_transcoded_keeps_the_stale_key() {
        let registry = FragmentBroadcasterRegistry::new();
        let h = TranscodeRunner::new()
            .with_factory(PassthroughTranscoderFactory::new(preset_720p()))
            .with_bugs(BugSet::only(KnownBug::RepublishNeverTranscoded))
            .install(&registry);
        let first = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
        first.emit(frag(0));
        drop(first);
        registry.remove("live/a", VIDEO_TRACK);
        settle().await;
        let second = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
        second.emit(frag(1));
        settle().await;
        assert_eq!(
            seen(&h, "720p", "live/a"),
            1,
            "the re-published session was never transcoded"
        );
        assert!(h.running().is_empty());
        assert_eq!(
            h.tasks().len(),
            1,
            "the finished session's slot is still there"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn rendition_remove_leak_spawns_for_the_removed_rendition() {
        let (running, _, _) =
            remove_during_build(BugSet::only(KnownBug::RenditionRemoveLeak)).await;
        assert!(
            running.contains(&StatsKey::new("passthrough", "480p", "live/a", VIDEO_TRACK)),
            "{running:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn transcoder_panic_kills_drain_loses_the_rest_of_the_stream() {
        let (registry, events) = recorded_registry();
        let h = TranscodeRunner::new()
            .with_factory(PanickingTranscoderFactory::new(
                passthrough(preset_720p()),
                PanicTrigger::at_group(2),
            ))
            .with_factory(PassthroughTranscoderFactory::new(preset_480p()))
            .with_bugs(BugSet::only(KnownBug::TranscoderPanicKillsDrain))
            .install(&registry);
        let bc = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
        for i in 0..5 {
            bc.emit(frag(i));
        }
        settle().await;
        assert_eq!(seen(&h, "720p", "live/a"), 3, "died at group 2");
        assert_eq!(
            h.panics("passthrough", "720p", "live/a", VIDEO_TRACK),
            0,
            "never counted"
        );
        assert_eq!(seen(&h, "480p", "live/a"), 5, "the sibling lives on");
        assert!(events.names().contains(&"transcode.drain.died"));
        drop(bc);
    }
}

/// A failed `accept()` (EMFILE, a reset before the accept) never stops the
/// transcode ingest listener: each is traced with its pause, the pauses
/// double, and the next publisher is still admitted.
#[tokio::test(start_paused = true)]
async fn accept_errors_never_stop_the_ingest() {
    use crate::support::mem_listener;
    use futures_util::SinkExt;
    use relaysim_core::media::MediaMsg;
    use relaysim_core::transcode::ingest::{serve_ingest, IngestBridge};
    use std::time::Duration;
    use tokio_util::codec::{FramedWrite, LengthDelimitedCodec};

    tokio::time::timeout(Duration::from_secs(30), async {
        let (registry, events) = recorded_registry();
        let bridge = IngestBridge::new(registry);
        let (listener, dialer) = mem_listener(64 * 1024);
        let t0 = tokio::time::Instant::now();
        let server = tokio::spawn(serve_ingest(listener, bridge.clone()));
        dialer.fail(std::io::Error::from_raw_os_error(24));
        dialer.fail(std::io::Error::from_raw_os_error(24));
        dialer.fail(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let mut publisher = FramedWrite::new(dialer.connect(), LengthDelimitedCodec::new());
        publisher
            .send(
                MediaMsg::Publish {
                    stream_key: "cam".into(),
                }
                .encode(),
            )
            .await
            .expect("send the hello");
        while bridge.live().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(
            bridge.live(),
            ["live/cam"],
            "admitted after the failed accepts"
        );
        assert!(!server.is_finished(), "the accept loop gave up");
        assert!(
            t0.elapsed() >= Duration::from_millis(70),
            "the pauses were not waited"
        );
        let emfile = format!("io-{:?}", std::io::Error::from_raw_os_error(24).kind());
        let errors: Vec<String> = events
            .all()
            .iter()
            .map(ToString::to_string)
            .filter(|l| l.starts_with("transcode.ingest.accept.error"))
            .collect();
        assert_eq!(
            errors,
            [
                format!("transcode.ingest.accept.error kind={emfile} backoff_ms=10"),
                format!("transcode.ingest.accept.error kind={emfile} backoff_ms=20"),
                "transcode.ingest.accept.error kind=io-ConnectionReset backoff_ms=40".to_string(),
            ]
        );
    })
    .await
    .expect("bounded");
}

// ---- rules no parity test states -------------------------------------------

/// S4 per drain: a drain slower than the ring skips what the ring dropped,
/// counts the skip in its key's `lagged` as it goes (not only when the
/// track ends), and at the end seen + lagged = emitted since it
/// subscribed, as its `drain.end` says.
#[tokio::test(start_paused = true)]
async fn a_lagging_drain_counts_what_it_skipped_as_it_goes() {
    let events = Arc::new(Events::default());
    let registry =
        FragmentBroadcasterRegistry::with_options(4, Emitter::new("transcode", events.clone()));
    let h = TranscodeRunner::new()
        .with_factory(PassthroughTranscoderFactory::new(preset_720p()))
        .install(&registry);
    let lagged = |h: &TranscodeRunnerHandle| h.lagged("passthrough", "720p", "live/a", VIDEO_TRACK);
    let bc = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    // 20 fragments before the drain first runs: a ring of 4 keeps 16..20.
    for i in 0..20 {
        bc.emit(frag(i));
    }
    settle().await;
    assert_eq!((seen(&h, "720p", "live/a"), lagged(&h)), (4, 16));
    // Another 10 at once: it skips 6 more.
    for i in 20..30 {
        bc.emit(frag(i));
    }
    settle().await;
    assert_eq!((seen(&h, "720p", "live/a"), lagged(&h)), (8, 22));
    drop(bc);
    registry.remove("live/a", VIDEO_TRACK);
    settle().await;
    let ended: Vec<String> = events
        .all()
        .iter()
        .filter(|e| e.name() == "transcode.drain.end")
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        ended,
        ["transcode.drain.end key=passthrough/720p:live/a/0.mp4 gen=1 reason=closed seen=8 lagged=22 emitted=30"]
    );
}

/// A transcoder that takes every track.
struct AnyTrack(RenditionSpec);

impl TranscoderFactory for AnyTrack {
    fn name(&self) -> &str {
        "any"
    }

    fn rendition(&self) -> &RenditionSpec {
        &self.0
    }

    fn build(&self, _ctx: &TranscoderContext) -> Option<Box<dyn Transcoder>> {
        Some(Box::new(
            relaysim_core::transcode::transcoder::PassthroughTranscoder::default(),
        ))
    }
}

/// R1: removing one entry prunes that entry's own slots only — not its
/// broadcast's other tracks, not other broadcasts — so the slots left stay
/// in the table, where `remove_rendition` finds and aborts them (S1).
#[tokio::test(start_paused = true)]
async fn removing_an_entry_prunes_only_its_own_slots() {
    let registry = FragmentBroadcasterRegistry::new();
    let h = TranscodeRunner::new()
        .with_factory(AnyTrack(preset_720p()))
        .install(&registry);
    let _a_video = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    let _a_audio = registry.get_or_create("live/a", AUDIO_TRACK, video_meta());
    let _b_video = registry.get_or_create("live/b", VIDEO_TRACK, video_meta());
    settle().await;
    registry.remove("live/a", VIDEO_TRACK);
    let key = |b: &str, t: &str| StatsKey::new("any", "720p", b, t);
    let slots: Vec<(StatsKey, u64)> = h.tasks().into_iter().map(|(k, g, _)| (k, g)).collect();
    assert_eq!(
        slots,
        [
            (key("live/a", AUDIO_TRACK), 2),
            (key("live/b", VIDEO_TRACK), 3)
        ]
    );
    assert_eq!(h.remove_rendition("720p"), 2);
    settle().await;
    assert!(h.running().is_empty(), "{:?}", h.running());
}

/// A runner given its own emitter traces there (its installation, its
/// drains), not on the registry's.
#[tokio::test(start_paused = true)]
async fn a_runner_given_an_emitter_traces_there() {
    let (registry, on_registry) = recorded_registry();
    let own = Arc::new(Events::default());
    let _h = TranscodeRunner::new()
        .with_factory(PassthroughTranscoderFactory::new(preset_720p()))
        .with_emitter(Emitter::new("transcode", own.clone()))
        .install(&registry);
    registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    settle().await;
    assert_eq!(
        own.all().first().map(ToString::to_string).as_deref(),
        Some("transcode.runner.installed ladder=passthrough/720p")
    );
    assert!(own.names().contains(&"transcode.drain.spawn"));
    assert!(
        !on_registry
            .names()
            .iter()
            .any(|n| n.starts_with("transcode.runner") || n.starts_with("transcode.drain")),
        "{:?}",
        on_registry.names()
    );
}

/// A builder counts the factories it was given, one per ladder rung.
#[test]
fn a_builder_counts_its_factories() {
    let runner = TranscodeRunner::new()
        .with_factory(PassthroughTranscoderFactory::new(preset_720p()))
        .with_ladder(
            vec![preset_480p(), preset_240p()],
            PassthroughTranscoderFactory::new,
        );
    assert_eq!(runner.factory_count(), 3);
}

/// Every registration is told apart from every other, those added at run
/// time included: a rendition removed while its drain is being built is
/// skipped, even with renditions registered after it still in the list.
#[tokio::test(start_paused = true)]
async fn a_rendition_removed_during_its_build_is_skipped_whatever_was_added_after_it() {
    let registry = FragmentBroadcasterRegistry::new();
    let slot: Arc<Mutex<Option<TranscodeRunnerHandle>>> = Arc::default();
    let s = slot.clone();
    let h = TranscodeRunner::new()
        .with_factory(PassthroughTranscoderFactory::new(preset_720p()))
        .install(&registry);
    *slot.lock().unwrap() = Some(h.clone());
    assert!(h.add_rendition(Arc::new(BuildHook {
        inner: passthrough(preset_480p()),
        hook: Mutex::new(Some(Box::new(move || {
            let h = s.lock().unwrap().clone().unwrap();
            h.remove_rendition("480p");
        }))),
    })));
    assert!(h.add_rendition(passthrough(preset_240p())));
    let _live = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    settle().await;
    let key = |r: &str| StatsKey::new("passthrough", r, "live/a", VIDEO_TRACK);
    assert_eq!(h.running(), [key("240p"), key("720p")]);
}

/// A listener that hands out one in-memory listener, recording the
/// address it was bound to.
#[derive(Clone)]
struct BindOnce {
    listener: Arc<Mutex<Option<crate::support::MemListener>>>,
    bound: Arc<Mutex<Vec<String>>>,
}

impl relaysim_core::net::Net for BindOnce {
    type Stream = tokio::io::DuplexStream;
    type Listener = crate::support::MemListener;

    async fn connect(&self, _addr: &str) -> std::io::Result<tokio::io::DuplexStream> {
        Err(std::io::ErrorKind::ConnectionRefused.into())
    }

    async fn bind(&self, addr: &str) -> std::io::Result<crate::support::MemListener> {
        self.bound.lock().unwrap().push(addr.to_string());
        self.listener
            .lock()
            .unwrap()
            .take()
            .ok_or_else(|| std::io::ErrorKind::AddrInUse.into())
    }
}

/// `listen_ingest` binds the address it is given and serves publishers
/// there: a hello dialed to it is published.
#[tokio::test(start_paused = true)]
async fn listen_ingest_serves_publishers_on_the_address_it_binds() {
    use futures_util::SinkExt;
    use relaysim_core::media::MediaMsg;
    use relaysim_core::transcode::ingest::{listen_ingest, IngestBridge};
    use std::time::Duration;
    use tokio_util::codec::{FramedWrite, LengthDelimitedCodec};

    tokio::time::timeout(Duration::from_secs(30), async {
        let bridge = IngestBridge::new(FragmentBroadcasterRegistry::new());
        let (listener, dialer) = crate::support::mem_listener(64 * 1024);
        let net = BindOnce {
            listener: Arc::new(Mutex::new(Some(listener))),
            bound: Arc::default(),
        };
        let (n, b) = (net.clone(), bridge.clone());
        tokio::spawn(async move { listen_ingest(&n, "0.0.0.0:1936", b).await });
        let mut publisher = FramedWrite::new(dialer.connect(), LengthDelimitedCodec::new());
        publisher
            .send(
                MediaMsg::Publish {
                    stream_key: "cam".into(),
                }
                .encode(),
            )
            .await
            .expect("send the hello");
        while bridge.live().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(bridge.live(), ["live/cam"]);
        assert_eq!(*net.bound.lock().unwrap(), ["0.0.0.0:1936"]);
    })
    .await
    .expect("bounded");
}

/// A drain that dies of an uncaught panic (the pre-isolation path of
/// `transcoder-panic-kills-drain`) is reported with its key, the
/// generation of the entry it read, and the panic's text.
#[cfg(feature = "known-bugs")]
#[tokio::test(start_paused = true)]
async fn a_dead_drain_is_reported_with_its_key_generation_and_panic() {
    use relaysim_core::KnownBug;
    let (registry, events) = recorded_registry();
    let _h = TranscodeRunner::new()
        .with_factory(PanickingTranscoderFactory::new(
            passthrough(preset_720p()),
            PanicTrigger::at_group(0),
        ))
        .with_bugs(BugSet::only(KnownBug::TranscoderPanicKillsDrain))
        .install(&registry);
    // The audio entry takes generation 1: the video one is the second.
    let _audio = registry.get_or_create(
        "live/a",
        AUDIO_TRACK,
        FragmentMeta::new("mp4a.40.2", 48_000),
    );
    let bc = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    bc.emit(frag(0));
    settle().await;
    let died: Vec<String> = events
        .all()
        .iter()
        .filter(|e| e.name() == "transcode.drain.died")
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        died,
        [
            r#"transcode.drain.died key=passthrough/720p:live/a/0.mp4 gen=2 panic="injected panic in on_fragment""#
        ]
    );
}
