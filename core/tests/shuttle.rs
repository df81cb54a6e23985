//! shuttle models: the whole public surface of every shared-state type in
//! core whose state space loom cannot finish, under randomized preemptive
//! scheduling (a seeded random walk, then seeded PCT).
//!
//! Run with the shuttle step (docs/models.md):
//! `cargo test --workspace --features relaysim-core/shuttle --test shuttle`
//!
//! With the `shuttle` feature, `relaysim_core::sync` is shuttle's, so the
//! models drive the real types and shuttle preempts at every lock and atomic
//! inside them. Each model runs its operations from at least three threads
//! and asserts the type's invariants after every execution. Schedulers are
//! seeded from the model's name, so a run is reproducible; a failure
//! persists the failing schedule to a file and the panic message carries
//! the exact command that replays it (see [`explore`]).
//! `RELAYSIM_SHUTTLE_ITERS` sets the iterations per scheduler (default
//! [`DEFAULT_ITERS`]).
//!
//! This file owns the exploration harness only; each model lives in its
//! own module under `core/tests/shuttle/`. It must never use a wall clock or
//! OS entropy to choose a schedule.

#[path = "shuttle/controller.rs"]
mod controller;
#[path = "shuttle/destination.rs"]
mod destination;
#[path = "shuttle/element.rs"]
mod element;
#[path = "shuttle/eos_latch.rs"]
mod eos_latch;
#[path = "shuttle/error_slot.rs"]
mod error_slot;
#[path = "shuttle/ingest_bridge.rs"]
mod ingest_bridge;
#[path = "shuttle/main_loop.rs"]
mod main_loop;
#[path = "shuttle/pad_queue.rs"]
mod pad_queue;
#[path = "shuttle/pipeline_control.rs"]
mod pipeline_control;
#[path = "shuttle/pipeline_phase.rs"]
mod pipeline_phase;
#[path = "shuttle/publisher_handle.rs"]
mod publisher_handle;
#[path = "shuttle/publisher_track.rs"]
mod publisher_track;
#[path = "shuttle/pump_registry.rs"]
mod pump_registry;
#[path = "shuttle/session_slot.rs"]
mod session_slot;
#[path = "shuttle/stop_once.rs"]
mod stop_once;
#[path = "shuttle/time.rs"]
mod time;
#[path = "shuttle/transcode.rs"]
mod transcode;
#[path = "shuttle/ws_budget.rs"]
mod ws_budget;
#[path = "shuttle/ws_conn.rs"]
mod ws_conn;

use shuttle::scheduler::{PctScheduler, RandomScheduler, Scheduler};
use shuttle::{Config, FailurePersistence, Runner};
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Iterations per scheduler (random walk, then PCT) when
/// `RELAYSIM_SHUTTLE_ITERS` is unset.
pub const DEFAULT_ITERS: usize = 5000;

/// PCT's bug depth: the number of ordering constraints a bug needs. Three
/// covers every known bug here (claim / apply / invalidate is the deepest).
pub const PCT_DEPTH: usize = 3;

/// The command line that runs this test binary.
pub const COMMAND: &str = "cargo test --workspace --features relaysim-core/shuttle --test shuttle";

fn iterations() -> usize {
    match std::env::var("RELAYSIM_SHUTTLE_ITERS") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("RELAYSIM_SHUTTLE_ITERS={v:?} is not a count")),
        Err(_) => DEFAULT_ITERS,
    }
}

/// A fixed 64-bit FNV-1a of the model's name: its schedulers' seed.
fn seed_of(model: &str) -> u64 {
    model.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Where shuttle persists failing schedules. One directory for the whole
/// process: shuttle installs its panic hook once, with the first runner's
/// configuration, so every runner must name the same place.
fn failure_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("shuttle-failures")
}

fn schedules(dir: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(non-string panic)".into())
}

/// The panic message of `body` replayed on the schedule in `file`, or
/// `None` if that schedule runs to the end without a failure.
fn replay_failure<F>(body: &Arc<F>, file: &Path) -> Option<String>
where
    F: Fn() + Send + Sync + 'static,
{
    let b = body.clone();
    catch_unwind(AssertUnwindSafe(|| {
        shuttle::replay_from_file(move || b(), file)
    }))
    .err()
    .map(|p| panic_text(&*p))
}

/// Which of the schedules that appeared during a failing exploration is
/// its own. Models explore side by side (libtest's threads), and shuttle's
/// panic hook writes every model's failing schedule into the one directory,
/// so two models failing at once both see two new files. An exploration's
/// own schedule is always among them: alone, it is that one; otherwise it
/// is the one that replays `body` to a failure with the same first line.
fn own_schedule<F>(fresh: &[PathBuf], body: &Arc<F>, first: &str) -> Option<PathBuf>
where
    F: Fn() + Send + Sync + 'static,
{
    match fresh {
        [] => None,
        [only] => Some(only.clone()),
        several => several
            .iter()
            .find(|f| replay_failure(body, f).is_some_and(|m| m.lines().next() == Some(first)))
            .cloned(),
    }
}

/// Runs `body` under shuttle: `RELAYSIM_SHUTTLE_ITERS` executions under a
/// random scheduler, then as many under PCT (depth [`PCT_DEPTH`]), both
/// seeded from `model`. Returns the executions run.
///
/// `model` names the model (and its failure directory); it must be unique
/// per test. On a failing execution, shuttle writes the schedule to
/// `<target tmp>/shuttle-failures/scheduleNNN.txt`, and this panics
/// with the invariant's message followed by the command that replays that
/// schedule: `RELAYSIM_SHUTTLE_REPLAY=<model>=<file>` plus this test,
/// `--exact`. With `RELAYSIM_SHUTTLE_REPLAY` set, only that one schedule of
/// that one model runs (every other model is skipped).
pub fn explore<F>(model: &str, body: F) -> usize
where
    F: Fn() + Send + Sync + 'static,
{
    let dir = failure_dir();
    std::fs::create_dir_all(&dir).expect("create the shuttle failure directory");
    let body = Arc::new(body);
    if let Ok(replay) = std::env::var("RELAYSIM_SHUTTLE_REPLAY") {
        // `<model>=<schedule file>`: replay that model's schedule, skip the rest.
        return match replay.strip_prefix(model).and_then(|r| r.strip_prefix('=')) {
            Some(file) => {
                eprintln!("{model}: replaying {file}");
                shuttle::replay_from_file(move || body(), file);
                1
            }
            None => 0,
        };
    }
    let iters = iterations();
    let seed = seed_of(model);
    let test = std::thread::current()
        .name()
        .unwrap_or("<this test>")
        .to_string();
    let mut config = Config::new();
    config.failure_persistence = FailurePersistence::File(Some(dir.clone()));
    let schedulers: [(&str, Box<dyn Scheduler + Send>); 2] = [
        (
            "random",
            Box::new(RandomScheduler::new_from_seed(seed, iters)),
        ),
        (
            "pct",
            Box::new(PctScheduler::new_from_seed(seed, PCT_DEPTH, iters)),
        ),
    ];
    let mut total = 0;
    for (name, scheduler) in schedulers {
        let before = schedules(&dir);
        let runner = Runner::new(scheduler, config.clone());
        let b = body.clone();
        match catch_unwind(AssertUnwindSafe(|| runner.run(move || b()))) {
            Ok(n) => total += n,
            Err(p) => {
                let msg = panic_text(&*p);
                let fresh: Vec<PathBuf> = schedules(&dir).difference(&before).cloned().collect();
                let first = msg.lines().next().unwrap_or_default();
                let replay = match own_schedule(&fresh, &body, first) {
                    Some(f) => format!(
                        "RELAYSIM_SHUTTLE_REPLAY={model}={} {COMMAND} -- --exact {test}",
                        f.display()
                    ),
                    None => format!("(no schedule was persisted in {})", dir.display()),
                };
                // A fresh panic (not `resume_unwind`), so the panic hook
                // prints the replay command with the message.
                panic!(
                    "{msg}\n\nshuttle model `{model}` failed under the {name} scheduler (seed {seed:#x}, {iters} iterations).\nreplay: {replay}"
                );
            }
        }
    }
    eprintln!("{model}: {total} executions, no invariant broken");
    total
}

/// For the known-bug tests: `explore` must fail with a message containing
/// one of `needles`, and replaying the persisted schedule must fail the same
/// way. Returns the failure message.
pub fn must_find<F>(model: &str, needles: &[&str], body: F) -> String
where
    F: Fn() + Send + Sync + 'static,
{
    let body = Arc::new(body);
    let b = body.clone();
    let err = catch_unwind(AssertUnwindSafe(|| explore(model, move || b())))
        .expect_err("shuttle must find the bug");
    let msg = panic_text(&*err);
    assert!(
        needles.iter().any(|n| msg.contains(n)),
        "{model}: shuttle failed with {msg:?}, expected one of {needles:?}"
    );
    // The printed schedule replays to the same failure.
    let file = msg
        .split(&format!("RELAYSIM_SHUTTLE_REPLAY={model}="))
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{model}: no replay command in {msg:?}"));
    let again = replay_failure(&body, &file)
        .unwrap_or_else(|| panic!("{model}: the persisted schedule must replay the failure"));
    let first_line = msg.lines().next().unwrap_or_default();
    assert!(
        again.lines().next() == Some(first_line),
        "{model}: replay failed differently: {again:?} vs {first_line:?}"
    );
    msg
}
