//! `PipelineControl` (the pipeline's script and its random draws), whole
//! surface: the world editing the script (`set_start` to a failing start,
//! `set_eos` for video, `heal`, `set_eos` for audio, then video's source
//! cleared with `set_eos(None)`), two attempts drawing twice each
//! (`draw`), and the facts reading `snapshot` twice. Each call is stamped
//! with a logical clock on entry and exit.
//!
//! Invariants after every execution:
//! - the calls are linearizable against `PipelineScript`'s own sequential
//!   operations and the same seeded stream (`SimRng::fork(seed,
//!   "pipeline")`): some order of all the calls, keeping each thread's
//!   order and every call that returned before another began first, gives
//!   exactly the draws and snapshots returned. So a draw or a snapshot
//!   never sees a half-applied edit, a draw's script and random values
//!   belong to one moment, and the draws are deterministic given the
//!   order;
//! - `heal` restores the healthy start and keeps the sources' schedule: the
//!   final script is the world's edits applied in order.
//!
//! Across the executions: some draws come before the failing start, some
//! under it and some after the heal (both outcomes of `start_fails`).

use super::explore;
use relaysim_core::entropy::SimRng;
use relaysim_core::session::publisher::pipeline::{AttemptDraw, PipelineScript, HEALTHY_START_MS};
use relaysim_core::session::publisher::{PipelineControl, TrackKind};
use shuttle::sync::atomic::{AtomicUsize, Ordering};
use shuttle::thread;
use std::sync::Arc;
use std::time::Duration;

const SEED: u64 = 42;

#[derive(Debug, Clone)]
enum Op {
    SetStart(u64, u64, u8),
    SetEos(TrackKind, Option<Duration>),
    Heal,
    Draw,
    Snapshot,
}

#[derive(Debug, Clone, PartialEq)]
enum Out {
    Done,
    Draw(AttemptDraw),
    Script(PipelineScript),
}

#[derive(Debug, Clone)]
struct Call {
    op: Op,
    out: Out,
    entered: usize,
    returned: usize,
}

fn run(c: &PipelineControl, op: &Op) -> Out {
    match op {
        Op::SetStart(min, max, fail) => {
            c.set_start(*min, *max, *fail);
            Out::Done
        }
        Op::SetEos(track, after) => {
            c.set_eos(*track, *after);
            Out::Done
        }
        Op::Heal => {
            c.heal();
            Out::Done
        }
        Op::Draw => Out::Draw(c.draw()),
        Op::Snapshot => Out::Script(c.snapshot()),
    }
}

/// The sequential specification: the script's own operations on plain data.
fn spec(s: &mut PipelineScript, rng: &mut SimRng, op: &Op) -> Out {
    match op {
        Op::SetStart(min, max, fail) => {
            s.set_start(*min, *max, *fail);
            Out::Done
        }
        Op::SetEos(track, after) => {
            s.set_eos(*track, *after);
            Out::Done
        }
        Op::Heal => {
            s.heal();
            Out::Done
        }
        Op::Draw => Out::Draw(s.draw(rng)),
        Op::Snapshot => Out::Script(s.clone()),
    }
}

/// Is there an order of the calls, each thread's in its own order and
/// respecting real time, whose sequential replay returns what they did?
fn linearizable(threads: &[Vec<Call>], at: &mut [usize], s: &PipelineScript, rng: &SimRng) -> bool {
    if threads.iter().zip(at.iter()).all(|(t, i)| *i == t.len()) {
        return true;
    }
    for t in 0..threads.len() {
        let Some(call) = threads[t].get(at[t]) else {
            continue;
        };
        // Not yet if another thread's next call returned before this began.
        let blocked = (0..threads.len()).any(|u| {
            u != t
                && threads[u]
                    .get(at[u])
                    .is_some_and(|p| p.returned < call.entered)
        });
        if blocked {
            continue;
        }
        let (mut s2, mut rng2) = (s.clone(), rng.clone());
        if spec(&mut s2, &mut rng2, &call.op) != call.out {
            continue;
        }
        at[t] += 1;
        let ok = linearizable(threads, at, &s2, &rng2);
        at[t] -= 1;
        if ok {
            return true;
        }
    }
    false
}

/// One line per call: thread, [entered, returned], operation, result.
fn history(threads: &[Vec<Call>]) -> String {
    let mut lines = Vec::new();
    for (t, calls) in threads.iter().enumerate() {
        for c in calls {
            let out = match &c.out {
                Out::Done => String::new(),
                Out::Draw(d) => format!(
                    " → {:?} fails={} eos={:?}",
                    d.start_latency, d.start_fails, d.eos_after
                ),
                Out::Script(s) => format!(
                    " → start {:?} fail {}% eos {:?}",
                    s.start_ms, s.start_fail_percent, s.eos_after
                ),
            };
            lines.push(format!(
                "  thread {t} [{}, {}] {:?}{out}",
                c.entered, c.returned, c.op
            ));
        }
    }
    lines.join("\n")
}

/// Draws whose start succeeded, and failed, over all executions.
type Seen = Arc<std::sync::Mutex<[usize; 2]>>;

fn model(seen: Seen) -> impl Fn() + Send + Sync {
    move || {
        let control = PipelineControl::new(SEED);
        let clock = Arc::new(AtomicUsize::new(0));
        let world_ops = vec![
            Op::SetStart(50, 60, 100),
            Op::SetEos(TrackKind::Video, Some(Duration::from_millis(300))),
            Op::Heal,
            Op::SetEos(TrackKind::Audio, Some(Duration::from_millis(500))),
            Op::SetEos(TrackKind::Video, None),
        ];
        let scripts = [
            world_ops.clone(),
            vec![Op::Draw, Op::Draw],
            vec![Op::Draw, Op::Draw],
            vec![Op::Snapshot, Op::Snapshot],
        ];
        let handles: Vec<_> = scripts
            .into_iter()
            .map(|ops| {
                let (control, clock) = (control.clone(), clock.clone());
                thread::spawn(move || {
                    ops.into_iter()
                        .map(|op| {
                            let entered = clock.fetch_add(1, Ordering::SeqCst);
                            let out = run(&control, &op);
                            let returned = clock.fetch_add(1, Ordering::SeqCst);
                            Call {
                                op,
                                out,
                                entered,
                                returned,
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let threads: Vec<Vec<Call>> = handles.into_iter().map(|h| h.join().unwrap()).collect();

        // The scripts the world's edits pass through, in its order.
        let mut states = vec![PipelineScript::default()];
        let mut rng = SimRng::fork(SEED, "pipeline");
        for op in &world_ops {
            let mut next = states.last().unwrap().clone();
            spec(&mut next, &mut rng, op);
            states.push(next);
        }
        for call in threads.iter().flatten() {
            if let Out::Script(seen) = &call.out {
                assert!(
                    states.contains(seen),
                    "a snapshot saw a half-applied edit: {seen:?}"
                );
            }
        }
        let mut at = vec![0; threads.len()];
        assert!(
            linearizable(
                &threads,
                &mut at,
                &PipelineScript::default(),
                &SimRng::fork(SEED, "pipeline")
            ),
            "no order of the calls explains their results (a torn script, or draws not deterministic given the order):\n{}",
            history(&threads)
        );

        let expected = states.last().unwrap().clone();
        let fin = control.snapshot();
        assert_eq!(fin, expected, "the final script");
        assert_eq!(
            (fin.start_ms, fin.start_fail_percent),
            (HEALTHY_START_MS, 0),
            "heal did not restore the start"
        );
        let after_heal = &states[3];
        assert_eq!(
            after_heal.eos_after, states[2].eos_after,
            "heal touched the sources' schedule"
        );
        let mut fails = seen.lock().unwrap();
        for call in threads.iter().flatten() {
            if let Out::Draw(d) = &call.out {
                fails[usize::from(d.start_fails)] += 1;
            }
        }
    }
}

#[test]
fn shuttle_pipeline_control_whole_surface() {
    let seen = Seen::default();
    let n = explore("pipeline-control", model(seen.clone()));
    let [ok, failed] = *seen.lock().unwrap();
    if n > 1 {
        assert!(
            ok > 0 && failed > 0,
            "over {n} executions {ok} draws started and {failed} failed"
        );
    }
}
