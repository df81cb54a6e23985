//! `PipelinePhase` (one publish attempt's pipeline state: phase, streaming
//! tasks, ended count), whole surface: the main loop's start moving to
//! PLAYING (`play`, which starts one streaming task per track under the
//! lock), the teardown moving to NULL (`set_null`, twice: the stop and a
//! late second caller), the streaming tasks ending their tracks
//! (`track_ended`; each may be aborted first), and the world's facts reading
//! `streaming_alive` and `is_stopped`. A streaming task is a shuttle thread
//! behind a handle that records its aborts; like a tokio task, an abort
//! stops it only at its next check, so a track may still end after
//! `set_null` began.
//!
//! Invariants after every execution (and during it, where stated):
//! - NULL is terminal: a `play` that began after `set_null` returned is
//!   refused and spawned nothing; `is_stopped` never goes back;
//! - every task `play` started is aborted exactly once if `set_null` ran,
//!   and `set_null`'s count of running tasks never exceeds the tasks;
//! - the pipeline EOS (`track_ended` true) is posted at most once, only
//!   when `play` succeeded and every track ended, and never by a track
//!   that ended after `set_null` returned;
//! - with no `set_null`, a started pipeline posts its EOS exactly once;
//! - `streaming_alive` never exceeds the tracks, and is 0 once `set_null`
//!   returned.
//!
//! Across the executions: a start refused, a start stopped while its
//! tracks stream, and an EOS posted.

use super::explore;
use relaysim_core::session::publisher::pipeline::{PipelinePhase, StreamingTask};
use shuttle::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use shuttle::thread;
use std::sync::atomic::AtomicUsize as StdCount;
use std::sync::Arc;

const TRACKS: usize = 2;

/// A streaming task's handle: its thread checks `aborted` before ending
/// its track, as a tokio task stops only at its next await.
#[derive(Debug, Default)]
struct Task {
    aborted: AtomicUsize,
    finished: AtomicBool,
}

#[derive(Debug, Clone)]
struct Handle(Arc<Task>);

impl StreamingTask for Handle {
    fn is_finished(&self) -> bool {
        self.0.finished.load(Ordering::SeqCst)
    }
    fn abort(&self) {
        self.0.aborted.fetch_add(1, Ordering::SeqCst);
    }
}

/// What the run saw, for the invariants after it.
#[derive(Default)]
struct Log {
    started: shuttle::sync::Mutex<Vec<Arc<Task>>>,
    /// Each EOS posted: did `set_null` return before that track began ending?
    eos: shuttle::sync::Mutex<Vec<bool>>,
    /// `set_null` calls that returned.
    nulled: AtomicUsize,
    stream_threads: shuttle::sync::Mutex<Vec<thread::JoinHandle<()>>>,
}

/// Refused, started without EOS, EOS posted: counted across the executions.
type Outcomes = Arc<[StdCount; 3]>;

fn model(stop: bool, outcomes: Outcomes) -> impl Fn() + Send + Sync {
    move || {
        let phase = Arc::new(PipelinePhase::<Handle>::new(TRACKS));
        let log = Arc::new(Log::default());

        let starter = {
            let (phase, log) = (phase.clone(), log.clone());
            thread::spawn(move || {
                let nulled_before = log.nulled.load(Ordering::SeqCst) > 0;
                let spawned = Arc::new(AtomicBool::new(false));
                let s = spawned.clone();
                let played = phase.play(|| {
                    s.store(true, Ordering::SeqCst);
                    (0..TRACKS)
                        .map(|_| {
                            let task = Arc::new(Task::default());
                            log.started.lock().unwrap().push(task.clone());
                            let (phase, log2, t) = (phase.clone(), log.clone(), task.clone());
                            let th = thread::spawn(move || {
                                thread::yield_now();
                                if t.aborted.load(Ordering::SeqCst) == 0 {
                                    let after_null = log2.nulled.load(Ordering::SeqCst) > 0;
                                    if phase.track_ended() {
                                        log2.eos.lock().unwrap().push(after_null);
                                    }
                                }
                                t.finished.store(true, Ordering::SeqCst);
                            });
                            log.stream_threads.lock().unwrap().push(th);
                            Handle(task)
                        })
                        .collect()
                });
                assert_eq!(
                    played.is_ok(),
                    spawned.load(Ordering::SeqCst),
                    "a refused play spawned tasks, or a play spawned none"
                );
                assert!(
                    !(nulled_before && played.is_ok()),
                    "a play that began after set_null returned was accepted"
                );
                played.is_ok()
            })
        };
        let stoppers: Vec<_> = (0..if stop { 2 } else { 0 })
            .map(|_| {
                let (phase, log) = (phase.clone(), log.clone());
                thread::spawn(move || {
                    let running = phase.set_null();
                    assert!(
                        running <= TRACKS,
                        "set_null counted {running} running tasks"
                    );
                    log.nulled.fetch_add(1, Ordering::SeqCst);
                    assert_eq!(
                        phase.streaming_alive(),
                        0,
                        "tasks alive after set_null returned"
                    );
                })
            })
            .collect();
        let reader = {
            let (phase, log) = (phase.clone(), log.clone());
            thread::spawn(move || {
                let mut stopped = false;
                for _ in 0..3 {
                    let nulled = log.nulled.load(Ordering::SeqCst) > 0;
                    let alive = phase.streaming_alive();
                    assert!(
                        alive <= TRACKS,
                        "{alive} streaming tasks of {TRACKS} tracks"
                    );
                    let now = phase.is_stopped();
                    assert!(now || !stopped, "is_stopped went back");
                    assert!(now || !nulled, "not stopped after set_null returned");
                    stopped = now;
                    thread::yield_now();
                }
            })
        };

        let played = starter.join().unwrap();
        for s in stoppers {
            s.join().unwrap();
        }
        reader.join().unwrap();
        let threads = std::mem::take(&mut *log.stream_threads.lock().unwrap());
        for t in threads {
            t.join().unwrap();
        }

        let started = log.started.lock().unwrap().clone();
        assert_eq!(started.len(), if played { TRACKS } else { 0 });
        let nulled = log.nulled.load(Ordering::SeqCst) > 0;
        for (i, t) in started.iter().enumerate() {
            let aborts = t.aborted.load(Ordering::SeqCst);
            assert_eq!(
                aborts,
                usize::from(nulled),
                "streaming task {i} aborted {aborts} times (set_null ran: {nulled})"
            );
        }
        let eos = log.eos.lock().unwrap().clone();
        assert!(
            eos.len() <= 1,
            "the pipeline EOS was posted {} times",
            eos.len()
        );
        assert!(
            !eos.iter().any(|&after_null| after_null),
            "a track that ended after set_null returned posted the pipeline EOS"
        );
        if !stop && played {
            assert_eq!(
                eos.len(),
                1,
                "a pipeline never stopped did not post its EOS"
            );
        }
        let i = match (played, eos.len()) {
            (false, _) => 0,
            (true, 0) => 1,
            (true, _) => 2,
        };
        outcomes[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn shuttle_pipeline_phase_whole_surface() {
    let outcomes = Outcomes::default();
    let n = explore("pipeline-phase", model(true, outcomes.clone()));
    if n > 0 {
        let [refused, stopped, eos] = outcomes
            .each_ref()
            .map(|x| x.load(std::sync::atomic::Ordering::Relaxed));
        assert!(
            refused > 0 && stopped > 0 && eos > 0,
            "over {n} executions: {refused} refused, {stopped} stopped without EOS, {eos} with EOS"
        );
    }
}

#[test]
fn shuttle_pipeline_phase_unstopped_posts_its_eos() {
    explore(
        "pipeline-phase-unstopped",
        model(false, Outcomes::default()),
    );
}
