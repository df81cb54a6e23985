//! loom model of the transcode runner's task table: a registry
//! entry-created callback (ingest publishing `live/a`) racing
//! `add_rendition` and `remove_rendition` (the admin API), every
//! interleaving up to the preemption bound.
//!
//! A second model races a publish's callback against an unpublish and
//! re-publish of the same name (the generation logic of the
//! `republish-never-transcoded` fix).
//!
//! Run with the loom step (README):
//! `cargo test --workspace --features relaysim-core/loom --test loom_transcode_runner`
//!
//! The runner is the real one (`relaysim_core::transcode`), its locks are
//! loom's (`crate::sync`), and drains go to a spawner that records them
//! instead of running them (loom cannot run tokio). Property, once every
//! thread is done: the drains in the task table that nobody aborted are
//! exactly the live video tracks × the factories still registered — no
//! leak (a drain for a removed rendition) and no miss (a live track without
//! its drain). On failure the panic message carries the interleaving, as
//! the operations were logged in the order loom ran them.

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use relaysim_core::transcode::drain::{Drain, DrainHandle, DrainSpawner};
use relaysim_core::transcode::fragment::{FragmentMeta, VIDEO_TRACK};
use relaysim_core::transcode::{
    preset_240p, preset_480p, preset_720p, FragmentBroadcasterRegistry,
    PassthroughTranscoderFactory, RenditionSpec, StatsKey, TranscodeRunner, Transcoder,
    TranscoderContext, TranscoderFactory,
};
use relaysim_core::BugSet;
use std::collections::BTreeSet;

type Log = Arc<Mutex<Vec<String>>>;

fn note(log: &Log, line: String) {
    log.lock().unwrap().push(line);
}

/// A passthrough factory that logs each build (user code, the window where
/// the runner holds no lock).
struct Logged {
    inner: PassthroughTranscoderFactory,
    log: Log,
}

impl TranscoderFactory for Logged {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn rendition(&self) -> &RenditionSpec {
        self.inner.rendition()
    }

    fn build(&self, ctx: &TranscoderContext) -> Option<Box<dyn Transcoder>> {
        note(
            &self.log,
            format!("build {} for {}", ctx.rendition.name, ctx.broadcast),
        );
        self.inner.build(ctx)
    }
}

struct RecordHandle {
    aborted: Arc<AtomicBool>,
}

impl DrainHandle for RecordHandle {
    fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
    }

    fn is_finished(&self) -> bool {
        false
    }
}

/// Records every drain it is handed, with its abort flag.
struct RecordSpawner {
    log: Log,
    spawned: Mutex<Vec<(StatsKey, Arc<AtomicBool>)>>,
}

impl DrainSpawner for RecordSpawner {
    fn spawn(&self, drain: Drain) -> Option<Box<dyn DrainHandle>> {
        let aborted = Arc::new(AtomicBool::new(false));
        note(&self.log, format!("spawn {}", drain.key()));
        self.spawned
            .lock()
            .unwrap()
            .push((drain.key().clone(), aborted.clone()));
        Some(Box::new(RecordHandle { aborted }))
    }
}

fn factory(spec: RenditionSpec, log: &Log) -> std::sync::Arc<dyn TranscoderFactory> {
    std::sync::Arc::new(Logged {
        inner: PassthroughTranscoderFactory::new(spec),
        log: log.clone(),
    })
}

fn model(bugs: BugSet) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let log: Log = Arc::new(Mutex::new(Vec::new()));
        let spawner = std::sync::Arc::new(RecordSpawner {
            log: log.clone(),
            spawned: Mutex::new(Vec::new()),
        });
        let registry = FragmentBroadcasterRegistry::new();
        let runner = TranscodeRunner::new()
            .with_factory_arc(factory(preset_720p(), &log))
            .with_factory_arc(factory(preset_480p(), &log))
            .with_spawner(spawner.clone())
            .with_bugs(bugs)
            .install(&registry);

        let ingest = {
            let (registry, log) = (registry.clone(), log.clone());
            thread::spawn(move || {
                note(&log, "ingest: publish live/a (entry-created fires)".into());
                let bc = registry.get_or_create(
                    "live/a",
                    VIDEO_TRACK,
                    FragmentMeta::new("avc1.64001f", 90_000),
                );
                note(&log, "ingest: entry-created callback done".into());
                bc
            })
        };
        let add = {
            let (runner, log) = (runner.clone(), log.clone());
            thread::spawn(move || {
                note(&log, "admin-1: add_rendition(240p) begins".into());
                runner.add_rendition(factory(preset_240p(), &log));
                note(&log, "admin-1: add_rendition(240p) returns".into());
            })
        };
        let remove = {
            let (runner, log) = (runner.clone(), log.clone());
            thread::spawn(move || {
                note(&log, "admin-2: remove_rendition(480p) begins".into());
                let n = runner.remove_rendition("480p");
                note(
                    &log,
                    format!("admin-2: remove_rendition(480p) returns, {n} aborted"),
                );
            })
        };
        let _live = ingest.join().unwrap();
        add.join().unwrap();
        remove.join().unwrap();

        let ladder: Vec<String> = runner.renditions().into_iter().map(|r| r.name).collect();
        let expected: BTreeSet<StatsKey> = registry
            .keys()
            .into_iter()
            .filter(|(_, t)| t == VIDEO_TRACK)
            .flat_map(|(b, t)| {
                ladder
                    .iter()
                    .map(move |r| StatsKey::new("passthrough", r, &b, &t))
            })
            .collect();
        let running: BTreeSet<StatsKey> = spawner
            .spawned
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, aborted)| !aborted.load(Ordering::SeqCst))
            .map(|(k, _)| k.clone())
            .collect();
        let table: BTreeSet<StatsKey> = runner.running().into_iter().collect();
        let log = log.lock().unwrap().join("\n    ");
        let leaked: Vec<String> = running
            .difference(&expected)
            .map(ToString::to_string)
            .collect();
        assert!(
            leaked.is_empty(),
            "leaked drain(s) {leaked:?} for a rendition no longer in the ladder {ladder:?}; interleaving:\n    {log}"
        );
        let missed: Vec<String> = expected
            .difference(&running)
            .map(ToString::to_string)
            .collect();
        assert!(
            missed.is_empty(),
            "missed drain(s) {missed:?}: live track without a drain for ladder {ladder:?}; interleaving:\n    {log}"
        );
        assert_eq!(running, table, "spawner and task table disagree:\n    {log}");
    });
}

#[test]
fn loom_runner_fix_holds() {
    model(BugSet::NONE);
}

/// Ingest publishes `live/a` while an unpublish / re-publish of the same
/// name runs on another thread, so the first entry's callback may still be
/// spawning when its entry is gone and the next generation exists.
/// Property: the task table ends with exactly the live generation's drains.
fn republish_model(bugs: BugSet) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let log: Log = Arc::new(Mutex::new(Vec::new()));
        let spawner = std::sync::Arc::new(RecordSpawner {
            log: log.clone(),
            spawned: Mutex::new(Vec::new()),
        });
        let registry = FragmentBroadcasterRegistry::new();
        let runner = TranscodeRunner::new()
            .with_factory_arc(factory(preset_720p(), &log))
            .with_spawner(spawner.clone())
            .with_bugs(bugs)
            .install(&registry);
        let meta = || FragmentMeta::new("avc1.64001f", 90_000);
        let first = {
            let (registry, log) = (registry.clone(), log.clone());
            thread::spawn(move || {
                note(&log, "ingest-1: publish live/a".into());
                drop(registry.get_or_create("live/a", VIDEO_TRACK, meta()));
                note(&log, "ingest-1: callback done".into());
            })
        };
        let again = {
            let (registry, log) = (registry.clone(), log.clone());
            thread::spawn(move || {
                let gone = registry
                    .remove("live/a", VIDEO_TRACK)
                    .map(|bc| bc.generation());
                note(
                    &log,
                    format!("ingest-2: unpublish live/a (removed gen {gone:?})"),
                );
                let bc = registry.get_or_create("live/a", VIDEO_TRACK, meta());
                note(
                    &log,
                    format!("ingest-2: re-publish live/a (gen {})", bc.generation()),
                );
                bc
            })
        };
        first.join().unwrap();
        let live = again.join().unwrap();
        let tasks = runner.tasks();
        let log = log.lock().unwrap().join("\n    ");
        let want = vec![(
            StatsKey::new("passthrough", "720p", "live/a", VIDEO_TRACK),
            live.generation(),
            false,
        )];
        assert_eq!(
            tasks,
            want,
            "the live generation {} is not transcoded exactly once; interleaving:\n    {log}",
            live.generation()
        );
    });
}

#[test]
fn loom_runner_republish_fix_holds() {
    republish_model(BugSet::NONE);
}

#[cfg(feature = "known-bugs")]
mod known_bugs {
    use super::*;
    use relaysim_core::KnownBug;

    #[test]
    fn loom_runner_finds_republish_never_transcoded() {
        let err = std::panic::catch_unwind(|| {
            republish_model(BugSet::only(KnownBug::RepublishNeverTranscoded))
        })
        .expect_err("loom must find the stale key");
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("is not transcoded exactly once"), "{msg}");
    }

    #[test]
    fn loom_runner_finds_rendition_remove_leak() {
        let err = std::panic::catch_unwind(|| model(BugSet::only(KnownBug::RenditionRemoveLeak)))
            .expect_err("loom must find the leak");
        let msg = err
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        assert!(msg.contains("leaked drain"), "loom failed with {msg:?}");
        // The interleaving: the removal runs while the callback is between
        // its snapshot and the spawn of the removed rendition.
        assert!(
            msg.contains("remove_rendition(480p) returns")
                && msg.contains("spawn passthrough/480p"),
            "{msg}"
        );
    }
}
