//! Batches of seeds: a worker pool with a wall-clock watchdog, then the
//! in-process determinism recheck and the coverage judgement, each its own
//! step.
//!
//! Owns [`BatchOptions`], [`BatchReport`] and [`run_batch`], which composes
//! [`run_pool`], [`recheck_determinism`] and [`judge_coverage`].
//!
//! The accounting rule: every seed a batch takes on ends in exactly one
//! outcome, handed to `on_seed` as it finishes. A seed's code cannot unwind
//! past [`run_seed`]; a worker thread that dies anyway leaves its seed in
//! flight, which becomes a `crash` outcome; with worker processes, a seed
//! whose process hangs or dies is a `timeout` or `crash` (see `isolate`),
//! and seeds left without an outcome (workers that cannot start) fail the
//! batch. Memory is bounded by the jobs,
//! not the range: seeds are indexed, never collected, outcomes are kept
//! only when asked, and at most [`BatchOptions::keep_failures`] failures
//! are kept (the smallest seeds; every failure is still counted and handed
//! to `on_seed`). A stop flag (Ctrl-C) ends the batch after the seeds in
//! flight, and the report says so. Wall time is read here only by the
//! watchdog and to measure; it never reaches a decision inside a run.

use super::isolate::{self, Isolation, Ran};
use super::{run_seed, RunOptions, SeedOutcome, HARD_GRACE};
use crate::check::{CheckKind, Failure, FailureKind};
use crate::engine::EngineKind;
use crate::fault::{FamilyFault, FaultPlan};
use crate::scenario::{ErasedPlan, Scenario, ScenarioInfo};
use crate::seed::{Seed, Seeds};
use crate::trace::{first_divergence, Trace};
use relaysim_core::BugSet;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A batch judges coverage (`sometimes` checks) only from this many seeds
/// on: a handful of seeds cannot be expected to reach every rare state.
pub const COVERAGE_MIN_SEEDS: usize = 50;

/// Seeds the determinism recheck reruns, at most.
pub const RECHECK_MAX: usize = 64;

/// How to run a batch.
pub struct BatchOptions<'a> {
    /// Known bugs switched on for every seed.
    pub bugs: BugSet,
    /// Worker threads.
    pub jobs: usize,
    /// Stop once a failure is found (every smaller seed still runs, so the
    /// first failing seed reported is the smallest).
    pub stop_at_first_failure: bool,
    /// Rerun every failing seed and every `determinism_every`-th seed,
    /// comparing trace hashes (0: no recheck; at most [`RECHECK_MAX`]).
    pub determinism_every: u64,
    /// Enforce `sometimes` checks over the batch.
    pub coverage: bool,
    /// Per-seed wall-clock budget.
    pub wall_limit: Duration,
    /// Called after each seed, as it finishes (progress, streamed output).
    pub on_seed: Option<&'a (dyn Fn(&SeedOutcome) + Sync)>,
    /// Keep every seed's trace (memory grows with the batch).
    pub keep_traces: bool,
    /// Keep every seed's outcome in the report (memory grows with the
    /// batch; off for sweeps, which stream through `on_seed`).
    pub keep_outcomes: bool,
    /// Failures kept in the report (the smallest seeds); the rest are
    /// counted.
    pub keep_failures: usize,
    /// Set (by a signal handler) to stop taking seeds: the seeds in flight
    /// finish and the report is marked interrupted.
    pub stop: Option<&'a AtomicBool>,
    /// Worker threads, or supervised worker processes (see
    /// [`super::Isolation`]). Processes keep no traces or facts: with them,
    /// `keep_traces` keeps nothing and outcomes carry empty facts.
    pub isolation: Isolation<'a>,
    /// The engine every seed runs on.
    pub engine: EngineKind,
}

impl Default for BatchOptions<'_> {
    fn default() -> Self {
        BatchOptions {
            bugs: BugSet::NONE,
            jobs: default_jobs(),
            stop_at_first_failure: false,
            determinism_every: 16,
            coverage: true,
            wall_limit: Duration::from_secs(120),
            on_seed: None,
            keep_traces: false,
            keep_outcomes: true,
            keep_failures: 1000,
            stop: None,
            isolation: Isolation::Threads,
            engine: EngineKind::Turmoil,
        }
    }
}

/// Worker threads by default: the machine's parallelism.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// A batch's results.
#[derive(Debug, Clone)]
pub struct BatchReport {
    /// The scenario run.
    pub scenario: &'static str,
    /// Known bugs switched on.
    pub bugs: BugSet,
    /// Seeds the batch was asked to run (up to a stop at the first
    /// failure).
    pub expected: u64,
    /// Seeds that ended in an outcome (equal to `expected` unless
    /// interrupted).
    pub ran: u64,
    /// Seeds that failed (all of them, kept or not).
    pub failed: u64,
    /// Simulated time summed over every seed that ran.
    pub sim: Duration,
    /// In seed order, when [`BatchOptions::keep_outcomes`] (seeds skipped
    /// after a stop are absent).
    pub outcomes: Vec<SeedOutcome>,
    /// Seed failures (the smallest seeds, at most `keep_failures`), then
    /// determinism and coverage failures.
    pub failures: Vec<Failure>,
    /// Every `sometimes` check with its hit count.
    pub coverage: Vec<(&'static str, u64)>,
    /// The stop flag ended the batch early.
    pub interrupted: bool,
    /// Wall time of the batch (measurement only).
    pub wall: Duration,
}

impl BatchReport {
    /// No failure of any kind, and nothing left unrun?
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.failed == 0 && !self.interrupted
    }

    /// The smallest failing seed.
    pub fn first_failure(&self) -> Option<&Failure> {
        self.failures.iter().min_by_key(|f| f.seed)
    }

    /// Simulated time summed over every seed.
    pub fn sim_time(&self) -> Duration {
        self.sim
    }
}

/// What a pool run leaves behind: counts, kept outcomes and failures, the
/// recheck sample and the coverage counts.
#[derive(Debug, Default)]
pub struct PoolResult {
    /// Seeds the pool was asked to run (up to a stop at the first failure).
    pub expected: u64,
    /// Seeds that ended in an outcome.
    pub ran: u64,
    /// Seeds that failed.
    pub failed: u64,
    /// Simulated time summed.
    pub sim: Duration,
    /// Kept outcomes, in seed order.
    pub outcomes: Vec<SeedOutcome>,
    /// Kept failures (smallest seeds), in seed order.
    pub failures: Vec<Failure>,
    /// The determinism recheck's sample.
    pub sample: Vec<Sampled>,
    /// `sometimes` hits by check name.
    pub hits: BTreeMap<&'static str, u64>,
    /// The stop flag ended the pool early.
    pub interrupted: bool,
    /// Seeds left without an outcome: the first seed left, and why
    /// (workers that could not start); the batch reports it as a failure.
    pub unrun: Option<(Seed, String)>,
}

/// A seed the determinism recheck reruns, and what its first run gave.
#[derive(Debug, Clone)]
pub struct Sampled {
    /// The seed.
    pub seed: Seed,
    /// Its first run's trace hash.
    pub trace_hash: String,
    /// Its first run's trace text, when kept (failing seeds, and sampled
    /// seeds that ran in a worker process).
    pub trace: Option<String>,
    /// Its first run timed out (its trace is cut short: not rechecked).
    pub timed_out: bool,
    /// Its first run's plan.
    pub plan: ErasedPlan,
}

struct Slot {
    deadline: Mutex<Option<std::time::Instant>>,
    cancel: AtomicBool,
    /// The seed in flight, until its outcome is recorded.
    current: Mutex<Option<(u64, Seed)>>,
}

struct Shared {
    result: PoolResult,
    /// Failures by seed, the largest dropped past the cap.
    failures: BTreeMap<Seed, Failure>,
    /// With `stop_at_first_failure`: every seed recorded, to count those
    /// at or below the final cutoff (a detection budget; 8 bytes a seed).
    recorded: Vec<Seed>,
}

/// Runs `seeds` of `scn` on `opts.jobs` worker threads, each seed under
/// the watchdog. With `stop_at_first_failure`, seeds above the smallest
/// failing one are dropped (the detection budget's semantics).
pub fn run_pool<F: FamilyFault>(
    scn: &Scenario<F>,
    seeds: Seeds<'_>,
    opts: &BatchOptions<'_>,
) -> PoolResult {
    let total = seeds.len();
    let jobs = opts.jobs.max(1).min(total.max(1) as usize);
    let next = AtomicU64::new(0);
    let stop_above = AtomicU64::new(u64::MAX);
    let done = AtomicBool::new(false);
    let shared = Mutex::new(Shared {
        result: PoolResult::default(),
        failures: BTreeMap::new(),
        recorded: Vec::new(),
    });
    let slots: Vec<Slot> = (0..jobs)
        .map(|_| Slot {
            deadline: Mutex::new(None),
            cancel: AtomicBool::new(false),
            current: Mutex::new(None),
        })
        .collect();
    let run_opts = RunOptions {
        bugs: opts.bugs,
        engine: opts.engine,
        ..RunOptions::default()
    };
    let stopped = || opts.stop.is_some_and(|s| s.load(Ordering::Acquire));
    let unrun: Mutex<Option<(Seed, String)>> = Mutex::new(None);

    // `i`: the seed's position in the range (the determinism sample is
    // every `determinism_every`-th position, whichever worker ran it).
    let record = |i: u64, mut outcome: SeedOutcome| {
        if let Some(f) = outcome.failure.as_mut() {
            f.engine = opts.engine;
        }
        if let Some(cb) = opts.on_seed {
            // A progress callback that panics must not lose the seed it
            // was told about.
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| cb(&outcome))) {
                outcome.failure.get_or_insert_with(|| Failure {
                    kind: FailureKind::Panic,
                    check: "panic".into(),
                    detail: format!(
                        "panicked in the batch's per-seed callback: {}",
                        super::panic_message(&*p)
                    ),
                    scenario: scn.name,
                    seed: outcome.seed,
                    bugs: opts.bugs,
                    at: outcome.sim_time,
                    plan: outcome.plan.clone(),
                    tail: Vec::new(),
                    replay: scn.replay,
                    plan_file: None,
                    engine: opts.engine,
                });
            }
        }
        let mut sh = shared.lock().unwrap_or_else(|p| p.into_inner());
        if opts.stop_at_first_failure {
            sh.recorded.push(outcome.seed);
        }
        let r = &mut sh.result;
        r.ran += 1;
        r.sim += outcome.sim_time;
        for h in &outcome.hits {
            *r.hits.entry(h).or_default() += 1;
        }
        let failed = outcome.failure.is_some();
        if opts.determinism_every > 0
            && r.sample.len() < RECHECK_MAX
            && (failed || i % opts.determinism_every == 0)
        {
            r.sample.push(Sampled {
                seed: outcome.seed,
                trace_hash: outcome.trace_hash.clone(),
                trace: outcome
                    .trace_text
                    .clone()
                    .or_else(|| failed.then(|| outcome.trace.text())),
                timed_out: outcome
                    .failure
                    .as_ref()
                    .is_some_and(|f| matches!(f.kind, FailureKind::Timeout | FailureKind::Crash)),
                plan: outcome.plan.clone(),
            });
        }
        if let Some(f) = &outcome.failure {
            r.failed += 1;
            sh.failures.insert(outcome.seed, f.clone());
            if sh.failures.len() > opts.keep_failures.max(1) {
                sh.failures.pop_last();
            }
        }
        if opts.keep_outcomes {
            if outcome.passed() && !opts.keep_traces {
                outcome.trace = Trace::default();
            }
            sh.result.outcomes.push(outcome);
        }
    };

    std::thread::scope(|s| {
        // The watchdog: real time, outside every simulation. At a seed's
        // budget it asks the seed to stop; a seed on a thread that has not
        // stopped `HARD_GRACE` later never yields, and no thread can be
        // stopped from outside: the process reports it and exits (124), so
        // a threaded batch (`cargo test`) can fail but never hang.
        s.spawn(|| {
            while !done.load(Ordering::Acquire) {
                #[allow(clippy::disallowed_methods)] // the watchdog is wall-clock by definition
                let now = std::time::Instant::now();
                for slot in &slots {
                    let deadline = *slot.deadline.lock().unwrap_or_else(|p| p.into_inner());
                    let Some(d) = deadline else { continue };
                    if now > d {
                        slot.cancel.store(true, Ordering::Relaxed);
                    }
                    if now > d + HARD_GRACE {
                        let seed = *slot.current.lock().unwrap_or_else(|p| p.into_inner());
                        if let Some((_, seed)) = seed {
                            super::hang_exit(scn, seed, &run_opts, opts.wall_limit);
                        }
                    }
                }
                #[allow(clippy::disallowed_methods)] // the watchdog thread, not simulated code
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let workers: Vec<_> = slots
            .iter()
            .map(|slot| {
                let (next, stop_above, run_opts, record, stopped, shared, unrun) = (
                    &next,
                    &stop_above,
                    &run_opts,
                    &record,
                    &stopped,
                    &shared,
                    &unrun,
                );
                s.spawn(move || {
                    let mut process = match opts.isolation {
                        Isolation::Threads => None,
                        Isolation::Processes(cmd) => Some(isolate::Slot::new(cmd)),
                    };
                    loop {
                        if stopped() {
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::AcqRel);
                        let Some(seed) = seeds.get(i) else { break };
                        if seed.0 > stop_above.load(Ordering::Acquire) {
                            break;
                        }
                        *slot.current.lock().unwrap_or_else(|p| p.into_inner()) = Some((i, seed));
                        let outcome = match process.as_mut() {
                            None => {
                                slot.cancel.store(false, Ordering::Relaxed);
                                #[allow(clippy::disallowed_methods)] // watchdog deadline
                                let deadline = std::time::Instant::now() + opts.wall_limit;
                                *slot.deadline.lock().unwrap_or_else(|p| p.into_inner()) =
                                    Some(deadline);
                                let o = run_seed(scn, seed, run_opts, &slot.cancel);
                                *slot.deadline.lock().unwrap_or_else(|p| p.into_inner()) = None;
                                o
                            }
                            Some(p) => {
                                // Ask for the trace's text only while the
                                // determinism sample may still take it.
                                let want_trace = opts.determinism_every > 0
                                    && i % opts.determinism_every == 0
                                    && shared
                                        .lock()
                                        .unwrap_or_else(|p| p.into_inner())
                                        .result
                                        .sample
                                        .len()
                                        < RECHECK_MAX;
                                match p.run(
                                    scn,
                                    seed,
                                    opts.bugs,
                                    opts.wall_limit,
                                    want_trace,
                                    opts.engine,
                                ) {
                                    Ran::Outcome(o) => *o,
                                    Ran::Broken(why) => {
                                        // The seed stays unrun: the batch
                                        // counts and names it.
                                        unrun
                                            .lock()
                                            .unwrap_or_else(|p| p.into_inner())
                                            .get_or_insert((seed, why));
                                        *slot.current.lock().unwrap_or_else(|p| p.into_inner()) =
                                            None;
                                        break;
                                    }
                                }
                            }
                        };
                        if outcome.failure.is_some() && opts.stop_at_first_failure {
                            stop_above.fetch_min(seed.0, Ordering::AcqRel);
                        }
                        record(i, outcome);
                        *slot.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    }
                })
            })
            .collect();
        for (w, slot) in workers.into_iter().zip(&slots) {
            if w.join().is_err() {
                // The worker died with a seed in flight: that seed's
                // outcome is a crash, never a gap.
                let lost = slot
                    .current
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take();
                if let Some((i, seed)) = lost {
                    record(
                        i,
                        isolate::lost(
                            scn,
                            seed,
                            opts.bugs,
                            None,
                            FailureKind::Crash,
                            "the worker thread running this seed died before reporting its outcome"
                                .into(),
                        ),
                    );
                }
            }
        }
        done.store(true, Ordering::Release);
    });

    let mut sh = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut result = sh.result;
    let cutoff = if opts.stop_at_first_failure {
        stop_above.load(Ordering::Acquire)
    } else {
        u64::MAX
    };
    result.failures = std::mem::take(&mut sh.failures)
        .into_values()
        .filter(|f| f.seed.0 <= cutoff)
        .collect();
    if cutoff != u64::MAX {
        // Seeds above the first failure were not asked for after all.
        result.outcomes.retain(|o| o.seed.0 <= cutoff);
        result.sample.retain(|s| s.seed.0 <= cutoff);
        result.ran = sh.recorded.iter().filter(|s| s.0 <= cutoff).count() as u64;
        result.failed = result.failures.len() as u64;
        result.expected = (0..total)
            .filter_map(|i| seeds.get(i))
            .take_while(|s| s.0 <= cutoff)
            .count() as u64;
    } else {
        result.expected = total;
    }
    result.outcomes.sort_by_key(|o| o.seed);
    result.interrupted = result.ran < result.expected && stopped();
    if result.ran < result.expected && !result.interrupted {
        let (seed, why) = unrun
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or_else(|| (Seed(0), "the pool ended early".into()));
        result.unrun = Some((
            seed,
            format!(
                "{} of {} seeds have no outcome (the first left: {seed}): {why}",
                result.expected - result.ran,
                result.expected
            ),
        ));
    }
    result
}

/// The same seed must give the same trace, in-process: reruns each seed
/// of the sample (every failing seed and every `every`-th seed, at most
/// [`RECHECK_MAX`]), drawing its plan again, and returns a determinism
/// failure for each whose trace hash differs, with the first diverging
/// line.
pub fn recheck_determinism<F: FamilyFault>(
    scn: &Scenario<F>,
    sample: &[Sampled],
    bugs: BugSet,
    engine: EngineKind,
) -> Vec<Failure> {
    let run_opts = RunOptions {
        bugs,
        engine,
        ..RunOptions::default()
    };
    let mut failures = Vec::new();
    for first in sample.iter().filter(|s| !s.timed_out) {
        // The same inputs as the first run: the plan is drawn from the
        // seed again, so the plan generator's determinism is checked too.
        let again = super::run_seed_bounded(scn, first.seed, &run_opts, super::SEED_WALL_LIMIT);
        if again.trace_hash == first.trace_hash {
            continue;
        }
        let first_text = match &first.trace {
            Some(t) => t.clone(),
            // Passing traces are not kept: rerun once more.
            None => super::run_seed_bounded(scn, first.seed, &run_opts, super::SEED_WALL_LIMIT)
                .trace
                .text(),
        };
        let (line, a, b) = first_divergence(&first_text, &again.trace.text()).unwrap_or((
            0,
            "<hash differs>".into(),
            "<hash differs>".into(),
        ));
        failures.push(Failure {
            kind: FailureKind::Determinism,
            check: "determinism".into(),
            detail: format!(
                "trace hash {} then {}; first divergence at line {line}:\n      run 1: {a}\n      run 2: {b}",
                first.trace_hash, again.trace_hash
            ),
            scenario: scn.name,
            seed: first.seed,
            bugs,
            at: Duration::ZERO,
            plan: first.plan.clone(),
            tail: Vec::new(),
            replay: scn.replay,
            plan_file: None,
        engine,
        });
    }
    failures
}

/// Every `sometimes` check with the number of seeds that reached it, and
/// (when `enforce` and `ran` is [`COVERAGE_MIN_SEEDS`] or more) a coverage
/// failure for each never reached. `first_seed` and `empty_plan` stand in
/// for the seed and plan of a failure that belongs to no one seed.
pub fn judge_coverage(
    scn: &ScenarioInfo,
    hits: &BTreeMap<&'static str, u64>,
    ran: u64,
    first_seed: Seed,
    bugs: BugSet,
    enforce: bool,
    empty_plan: &ErasedPlan,
) -> (Vec<(&'static str, u64)>, Vec<Failure>) {
    let coverage: Vec<(&'static str, u64)> = scn
        .checks
        .iter()
        .filter(|c| c.kind == CheckKind::Sometimes)
        .map(|c| (c.name, hits.get(c.name).copied().unwrap_or(0)))
        .collect();
    let mut failures = Vec::new();
    if enforce && ran >= COVERAGE_MIN_SEEDS as u64 {
        for (name, hits) in &coverage {
            if *hits == 0 {
                failures.push(Failure {
                    kind: FailureKind::Coverage,
                    check: name.to_string(),
                    detail: format!("never reached in {ran} seeds"),
                    scenario: scn.name,
                    seed: first_seed,
                    bugs,
                    at: Duration::ZERO,
                    plan: empty_plan.clone(),
                    tail: Vec::new(),
                    replay: scn.replay,
                    plan_file: None,
                    engine: Default::default(),
                });
            }
        }
    }
    (coverage, failures)
}

/// Runs `seeds` of `scn` on `opts.jobs` worker threads, then rechecks
/// determinism and judges coverage.
pub fn run_batch<'s, F: FamilyFault>(
    scn: &Scenario<F>,
    seeds: impl Into<Seeds<'s>>,
    opts: &BatchOptions<'_>,
) -> BatchReport {
    #[allow(clippy::disallowed_methods)] // measuring only
    let started = std::time::Instant::now();
    let seeds = seeds.into();
    let pool = run_pool(scn, seeds, opts);
    let mut failures = pool.failures;
    let empty: ErasedPlan = Arc::new(FaultPlan::<F>::default());
    if let Some((seed, why)) = pool.unrun {
        // Never green by accident: seeds without an outcome fail the batch.
        failures.push(Failure {
            kind: FailureKind::Crash,
            check: "runner".into(),
            detail: why,
            scenario: scn.name,
            seed,
            bugs: opts.bugs,
            at: Duration::ZERO,
            plan: empty.clone(),
            tail: Vec::new(),
            replay: scn.replay,
            plan_file: None,
            engine: opts.engine,
        });
    }
    failures.extend(recheck_determinism(
        scn,
        &pool.sample,
        opts.bugs,
        opts.engine,
    ));
    let first = seeds.get(0).unwrap_or_default();
    let (coverage, missed) = judge_coverage(
        scn,
        &pool.hits,
        pool.ran,
        first,
        opts.bugs,
        // An interrupted batch cannot judge coverage.
        opts.coverage && !pool.interrupted,
        &empty,
    );
    failures.extend(missed.into_iter().map(|mut f| {
        f.engine = opts.engine;
        f
    }));
    BatchReport {
        scenario: scn.name,
        bugs: opts.bugs,
        expected: pool.expected,
        ran: pool.ran,
        failed: pool.failed,
        sim: pool.sim,
        outcomes: pool.outcomes,
        failures,
        coverage,
        interrupted: pool.interrupted,
        wall: started.elapsed(),
    }
}
