//! The transcode core, whole surface: the broadcaster registry, the runner
//! and the broadcasters together, with real drains running as shuttle
//! tasks. Five threads: an ingest publishing `live/a`'s video and audio
//! tracks, emitting, then unpublishing the video track alone; a
//! reconnecting publisher publishing `live/a`'s video again from another
//! thread (as a new connection would), so the re-publish can land before
//! or after the unpublish, or between it and the runner's entry-removed
//! callback; a second ingest publishing `live/b`; the admin API adding the
//! 240p rendition and removing 480p; a viewer subscribing and reading
//! every accessor (keys, len, get, renditions, tasks, tracked, stats).
//! loom explores this only to a preemption bound of 3 with fake drains
//! (`loom_transcode_runner.rs`); here the drains are the real ones.
//!
//! Invariants, during the run: a (key, generation) gets at most one drain,
//! ever (checked at every spawn). Once every thread is done:
//! - no miss, no duplicate: every live (broadcast, video track) has exactly
//!   one drain not aborted per rendition of the ladder, of its live
//!   generation, and a live audio track none (the passthrough ladder
//!   transcodes video only): an unpublish never takes the drains of the
//!   re-publish that overtook its cleanup, and a re-publish is never taken
//!   for its previous life;
//! - no leak: no drain of a live generation for a rendition no longer in the
//!   ladder is left unaborted; nothing is aborted twice;
//! - the task table lists every expected drain as running.
//!
//! and after teardown (every entry removed, every producer dropped, every
//! drain task joined):
//! - every drain that started stopped: it ended by itself (`DrainEnded`,
//!   at most once) or was aborted (`DrainAborted`, at most once), and one
//!   that was never aborted ended by itself;
//! - a drain that ended by itself accounted for everything emitted after it
//!   subscribed (received + lagged = emitted).

use super::{explore, must_find};
use relaysim_core::event::{Event, EventSink};
use relaysim_core::transcode::drain::{Drain, DrainHandle, DrainSpawner};
use relaysim_core::transcode::fragment::{FragmentFlags, FragmentMeta, AUDIO_TRACK, VIDEO_TRACK};
use relaysim_core::transcode::{
    preset_240p, preset_480p, preset_720p, Fragment, FragmentBroadcasterRegistry,
    PassthroughTranscoderFactory, StatsKey, TranscodeEvent, TranscodeRunner, TryRecv,
};
use relaysim_core::{BugSet, Emitter};
use shuttle::future::{AbortHandle, JoinHandle};
use shuttle::thread;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Every event, in emission order.
#[derive(Default)]
struct Recorder(Mutex<Vec<TranscodeEvent>>);

impl EventSink for Recorder {
    fn record(&self, _host: &'static str, event: Event) {
        if let Some(e) = event.get::<TranscodeEvent>() {
            self.0.lock().unwrap().push(e.clone());
        }
    }
}

struct Spawned {
    key: StatsKey,
    generation: u64,
    aborts: Arc<Mutex<u32>>,
    join: Option<JoinHandle<()>>,
}

/// Runs each drain as a shuttle task; records its handle and its aborts.
#[derive(Default)]
struct ShuttleSpawner(Mutex<Vec<Spawned>>);

struct Handle {
    abort: AbortHandle,
    aborts: Arc<Mutex<u32>>,
}

impl DrainHandle for Handle {
    fn abort(&self) {
        *self.aborts.lock().unwrap() += 1;
        self.abort.abort();
    }

    fn is_finished(&self) -> bool {
        self.abort.is_finished()
    }
}

impl DrainSpawner for ShuttleSpawner {
    fn spawn(&self, drain: Drain) -> Option<Box<dyn DrainHandle>> {
        let (key, generation) = (drain.key().clone(), drain.generation());
        let twice = self
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.key == key && s.generation == generation);
        assert!(
            !twice,
            "a second drain for {key} gen {generation} (one drain per key and generation)"
        );
        let join = shuttle::future::spawn(drain.run());
        let aborts = Arc::new(Mutex::new(0));
        let handle = Handle {
            abort: join.abort_handle(),
            aborts: aborts.clone(),
        };
        self.0.lock().unwrap().push(Spawned {
            key,
            generation,
            aborts,
            join: Some(join),
        });
        Some(Box::new(handle))
    }
}

fn frag(i: u64) -> Fragment {
    Fragment::new(
        VIDEO_TRACK,
        i,
        0,
        0,
        i,
        i,
        1,
        FragmentFlags::DELTA,
        bytes::Bytes::new(),
    )
}

fn meta() -> FragmentMeta {
    FragmentMeta::new("avc1.64001f", 90_000)
}

fn model(bugs: BugSet) -> impl Fn() + Send + Sync {
    move || {
        let events = Arc::new(Recorder::default());
        let spawner = Arc::new(ShuttleSpawner::default());
        let registry =
            FragmentBroadcasterRegistry::with_options(4, Emitter::new("transcode", events.clone()));
        let runner = TranscodeRunner::new()
            .with_factory(PassthroughTranscoderFactory::new(preset_720p()))
            .with_factory(PassthroughTranscoderFactory::new(preset_480p()))
            .with_spawner(spawner.clone())
            .with_bugs(bugs)
            .install(&registry);

        let ingest_a = {
            let registry = registry.clone();
            thread::spawn(move || {
                let video = registry.get_or_create("live/a", VIDEO_TRACK, meta());
                let audio = registry.get_or_create("live/a", AUDIO_TRACK, meta());
                video.emit(frag(0));
                audio.emit(frag(0));
                video.emit(frag(1));
                // The video track's publisher leaves; the audio track stays.
                let gone = registry.remove("live/a", VIDEO_TRACK);
                assert!(
                    gone.is_some(),
                    "live/a's video vanished before its unpublish"
                );
                drop((video, gone));
                audio
            })
        };
        let reconnect = {
            let registry = registry.clone();
            thread::spawn(move || {
                // Before the unpublish this joins the entry it removes;
                // after it, this is a fresh one.
                let bc = registry.get_or_create("live/a", VIDEO_TRACK, meta());
                bc.emit(frag(2));
                bc
            })
        };
        let ingest_b = {
            let registry = registry.clone();
            thread::spawn(move || {
                let bc = registry.get_or_create("live/b", VIDEO_TRACK, meta());
                let again = registry.get_or_create("live/b", VIDEO_TRACK, meta());
                assert!(Arc::ptr_eq(&bc, &again), "two broadcasters for one key");
                bc.emit(frag(0));
                bc
            })
        };
        let admin = {
            let runner = runner.clone();
            thread::spawn(move || {
                assert!(runner
                    .add_rendition(Arc::new(PassthroughTranscoderFactory::new(preset_240p()))));
                runner.remove_rendition("480p");
                assert!(
                    !runner
                        .add_rendition(Arc::new(PassthroughTranscoderFactory::new(preset_720p()))),
                    "a duplicate rendition was registered"
                );
            })
        };
        let viewer = {
            let (registry, runner) = (registry.clone(), runner.clone());
            thread::spawn(move || {
                if let Some(mut s) = registry.subscribe("live/a", VIDEO_TRACK) {
                    let mut last = None;
                    for _ in 0..3 {
                        // The ingest's fragments (0, 1) arrive in the order
                        // it emitted them; the reconnect's (2) may come
                        // before them when it joined the entry before the
                        // unpublish, so its place is not checked.
                        if let TryRecv::Fragment(f) = s.try_recv() {
                            if f.group_id < 2 {
                                assert!(last < Some(f.group_id), "out of order");
                                last = Some(f.group_id);
                            }
                        }
                        thread::yield_now();
                    }
                }
                let keys = registry.keys();
                assert!(keys.windows(2).all(|w| w[0] < w[1]), "keys out of order");
                let _ = (registry.len(), registry.get("live/b", VIDEO_TRACK));
                let _ = (runner.renditions(), runner.tasks(), runner.tracked());
                let _ = runner.fragments_seen("passthrough", "720p", "live/a", VIDEO_TRACK);
            })
        };
        let held = [
            ingest_a.join().unwrap(),
            reconnect.join().unwrap(),
            ingest_b.join().unwrap(),
        ];
        admin.join().unwrap();
        viewer.join().unwrap();

        let ladder: Vec<String> = runner.renditions().into_iter().map(|r| r.name).collect();
        let live: Vec<(String, String, u64)> = registry
            .keys()
            .into_iter()
            .map(|(b, t)| {
                let generation = registry.get(&b, &t).expect("listed").generation();
                (b, t, generation)
            })
            .collect();
        let timeline = || {
            events
                .0
                .lock()
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n    ")
        };
        {
            let spawned = spawner.0.lock().unwrap();
            let running = |s: &&Spawned| *s.aborts.lock().unwrap() == 0;
            for (b, t, generation) in &live {
                // The passthrough ladder transcodes video tracks only.
                let want = usize::from(t == VIDEO_TRACK);
                for r in &ladder {
                    let n = spawned
                        .iter()
                        .filter(running)
                        .filter(|s| {
                            s.key.broadcast == *b
                                && s.key.track == *t
                                && s.key.rendition == *r
                                && s.generation == *generation
                        })
                        .count();
                    assert!(
                        n <= want,
                        "{n} drains for {b}/{t} {r} gen {generation}:\n    {}",
                        timeline()
                    );
                    assert_eq!(
                        n,
                        want,
                        "missed drain: {b}/{t} (gen {generation}) is live without its {r} drain, ladder {ladder:?}:\n    {}",
                        timeline()
                    );
                }
            }
            for s in spawned.iter() {
                let aborts = *s.aborts.lock().unwrap();
                assert!(aborts <= 1, "{} aborted {aborts} times", s.key);
                let of_live = live.iter().any(|(b, t, g)| {
                    s.key.broadcast == *b && s.key.track == *t && s.generation == *g
                });
                assert!(
                    aborts == 1 || !of_live || ladder.contains(&s.key.rendition),
                    "leaked drain {} (gen {}): its rendition left the ladder {ladder:?} but it was never aborted:\n    {}",
                    s.key,
                    s.generation,
                    timeline()
                );
            }
        }
        let table: Vec<StatsKey> = runner.running();
        for (b, t, _) in live.iter().filter(|(_, t, _)| t == VIDEO_TRACK) {
            for r in &ladder {
                let key = StatsKey::new("passthrough", r, b, t);
                assert!(
                    table.contains(&key),
                    "{key} is missing from the task table {table:?}"
                );
            }
        }

        // Teardown: unpublish everything, drop every producer, join every drain.
        for (b, t, _) in &live {
            registry.remove(b, t);
        }
        drop(held);
        let joins: Vec<JoinHandle<()>> = spawner
            .0
            .lock()
            .unwrap()
            .iter_mut()
            .filter_map(|s| s.join.take())
            .collect();
        for j in joins {
            let _ = shuttle::future::block_on(j);
        }
        let mut ends: BTreeMap<(StatsKey, u64), (u32, u32)> = BTreeMap::new();
        for e in events.0.lock().unwrap().iter() {
            match e {
                TranscodeEvent::DrainEnded {
                    key,
                    generation,
                    seen,
                    lagged,
                    emitted,
                    ..
                } => {
                    assert_eq!(
                        seen + lagged,
                        *emitted,
                        "{key} gen {generation}: received {seen} + lagged {lagged} != emitted {emitted}"
                    );
                    ends.entry((key.clone(), *generation)).or_default().0 += 1;
                }
                TranscodeEvent::DrainAborted { key, generation } => {
                    ends.entry((key.clone(), *generation)).or_default().1 += 1;
                }
                _ => {}
            }
        }
        for s in spawner.0.lock().unwrap().iter() {
            let (ended, aborted) = ends
                .get(&(s.key.clone(), s.generation))
                .copied()
                .unwrap_or_default();
            assert!(
                ended <= 1 && aborted <= 1,
                "{} gen {} stopped {ended} + {aborted} times",
                s.key,
                s.generation
            );
            assert!(
                ended == 1 || (aborted == 1 && *s.aborts.lock().unwrap() == 1),
                "{} gen {} never stopped (ended {ended}, aborted {aborted}):\n    {}",
                s.key,
                s.generation,
                timeline()
            );
        }
    }
}

#[test]
fn shuttle_transcode_whole_surface() {
    explore("transcode", model(BugSet::NONE));
}

#[cfg(feature = "known-bugs")]
mod known_bugs {
    use super::*;
    use relaysim_core::KnownBug;

    #[test]
    fn shuttle_transcode_finds_rendition_remove_leak() {
        must_find(
            "transcode-rendition-remove-leak",
            &["leaked drain"],
            model(BugSet::only(KnownBug::RenditionRemoveLeak)),
        );
    }

    #[test]
    fn shuttle_transcode_finds_republish_never_transcoded() {
        must_find(
            "transcode-republish-never-transcoded",
            &["missed drain"],
            model(BugSet::only(KnownBug::RepublishNeverTranscoded)),
        );
    }
}
