//! Batches of seeds: a worker pool with a wall-clock watchdog, then the
//! in-process determinism recheck and the coverage judgement, each its own
//! step.
//!
//! Owns [`BatchOptions`], [`BatchReport`] and [`run_batch`], which composes
//! [`run_pool`], [`recheck_determinism`] and [`judge_coverage`]. Wall time
//! is read here only by the watchdog and to measure; it never reaches a
//! decision inside a run.

use super::{run_seed, RunOptions, SeedOutcome};
use crate::check::{CheckKind, Failure, FailureKind};
use crate::fault::{FamilyFault, FaultPlan};
use crate::scenario::{Scenario, ScenarioInfo};
use crate::seed::Seed;
use crate::trace::{first_divergence, Trace};
use relaysim_core::BugSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A batch judges coverage (`sometimes` checks) only from this many seeds
/// on: a handful of seeds cannot be expected to reach every rare state.
pub const COVERAGE_MIN_SEEDS: usize = 50;

/// How to run a batch.
pub struct BatchOptions<'a> {
    /// Known bugs switched on for every seed.
    pub bugs: BugSet,
    /// Worker threads.
    pub jobs: usize,
    /// Stop once a failure is found (every smaller seed still runs, so the
    /// first failing seed reported is the smallest).
    pub stop_at_first_failure: bool,
    /// Rerun every failing seed and every `determinism_every`-th passing
    /// seed, comparing trace hashes (0: no recheck).
    pub determinism_every: u64,
    /// Enforce `sometimes` checks over the batch.
    pub coverage: bool,
    /// Per-seed wall-clock budget.
    pub wall_limit: Duration,
    /// Called after each seed (progress bars).
    pub on_seed: Option<&'a (dyn Fn(&SeedOutcome) + Sync)>,
    /// Keep every seed's trace (memory grows with the batch).
    pub keep_traces: bool,
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
    /// In seed order (seeds skipped after a stop are absent).
    pub outcomes: Vec<SeedOutcome>,
    /// Seed failures, then determinism and coverage failures.
    pub failures: Vec<Failure>,
    /// Every `sometimes` check with its hit count.
    pub coverage: Vec<(&'static str, u64)>,
    /// Wall time of the batch (measurement only).
    pub wall: Duration,
}

impl BatchReport {
    /// No failure of any kind?
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The smallest failing seed.
    pub fn first_failure(&self) -> Option<&Failure> {
        self.failures.iter().min_by_key(|f| f.seed)
    }

    /// Simulated time summed over every seed.
    pub fn sim_time(&self) -> Duration {
        self.outcomes.iter().map(|o| o.sim_time).sum()
    }
}

struct Slot {
    deadline: Mutex<Option<std::time::Instant>>,
    cancel: AtomicBool,
}

/// Runs `seeds` of `scn` on `opts.jobs` worker threads, each seed under
/// the watchdog; outcomes in seed order. With `stop_at_first_failure`,
/// seeds above the smallest failing one are dropped.
pub fn run_pool<F: FamilyFault>(
    scn: &Scenario<F>,
    seeds: &[Seed],
    opts: &BatchOptions<'_>,
) -> Vec<SeedOutcome> {
    let jobs = opts.jobs.max(1).min(seeds.len().max(1));
    let next = AtomicUsize::new(0);
    let stop_above = AtomicU64::new(u64::MAX);
    let done = AtomicBool::new(false);
    let results: Mutex<Vec<SeedOutcome>> = Mutex::new(Vec::with_capacity(seeds.len()));
    let slots: Vec<Slot> = (0..jobs)
        .map(|_| Slot {
            deadline: Mutex::new(None),
            cancel: AtomicBool::new(false),
        })
        .collect();
    let run_opts = RunOptions {
        bugs: opts.bugs,
        ..RunOptions::default()
    };

    std::thread::scope(|s| {
        // The watchdog: real time, outside every simulation.
        s.spawn(|| {
            while !done.load(Ordering::Acquire) {
                #[allow(clippy::disallowed_methods)] // the watchdog is wall-clock by definition
                let now = std::time::Instant::now();
                for slot in &slots {
                    let expired = slot
                        .deadline
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .is_some_and(|d| now > d);
                    if expired {
                        slot.cancel.store(true, Ordering::Relaxed);
                    }
                }
                #[allow(clippy::disallowed_methods)] // the watchdog thread, not simulated code
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let workers: Vec<_> = slots
            .iter()
            .map(|slot| {
                let (next, stop_above, results, run_opts) =
                    (&next, &stop_above, &results, &run_opts);
                s.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::AcqRel);
                    let Some(&seed) = seeds.get(i) else { break };
                    if seed.0 > stop_above.load(Ordering::Acquire) {
                        break;
                    }
                    slot.cancel.store(false, Ordering::Relaxed);
                    #[allow(clippy::disallowed_methods)] // watchdog deadline
                    let deadline = std::time::Instant::now() + opts.wall_limit;
                    *slot.deadline.lock().unwrap_or_else(|p| p.into_inner()) = Some(deadline);
                    let mut outcome = run_seed(scn, seed, run_opts, &slot.cancel);
                    *slot.deadline.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    if outcome.failure.is_some() && opts.stop_at_first_failure {
                        stop_above.fetch_min(seed.0, Ordering::AcqRel);
                    }
                    if let Some(cb) = opts.on_seed {
                        // A progress callback that panics must not lose
                        // the seed it was told about.
                        if let Err(p) = catch_unwind(AssertUnwindSafe(|| cb(&outcome))) {
                            outcome.failure.get_or_insert_with(|| Failure {
                                kind: FailureKind::Panic,
                                check: "panic".into(),
                                detail: format!(
                                    "panicked in the batch's per-seed callback: {}",
                                    super::panic_message(&*p)
                                ),
                                scenario: scn.name,
                                seed,
                                bugs: opts.bugs,
                                at: outcome.sim_time,
                                plan: outcome.plan.clone(),
                                tail: Vec::new(),
                            });
                        }
                    }
                    if outcome.passed() && !opts.keep_traces {
                        outcome.trace = Trace::default();
                    }
                    results
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(outcome);
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        done.store(true, Ordering::Release);
    });

    let mut outcomes = results.into_inner().unwrap_or_else(|p| p.into_inner());
    let cutoff = if opts.stop_at_first_failure {
        stop_above.load(Ordering::Acquire)
    } else {
        u64::MAX
    };
    outcomes.retain(|o| o.seed.0 <= cutoff);
    // Every requested seed (up to a stop) has exactly one outcome: a seed
    // whose worker died is a crash, never a silent gap.
    let mut have: std::collections::BTreeSet<Seed> = outcomes.iter().map(|o| o.seed).collect();
    for &seed in seeds.iter().filter(|s| s.0 <= cutoff) {
        if have.insert(seed) {
            outcomes.push(missing_outcome(scn, seed, opts.bugs));
        }
    }
    outcomes.sort_by_key(|o| o.seed);
    outcomes.dedup_by_key(|o| o.seed);
    outcomes
}

/// The outcome of a seed that never reported one (its worker died).
fn missing_outcome<F: FamilyFault>(scn: &Scenario<F>, seed: Seed, bugs: BugSet) -> SeedOutcome {
    let plan: crate::scenario::ErasedPlan = Arc::new(FaultPlan::<F>::default());
    SeedOutcome {
        seed,
        failure: Some(Failure {
            kind: FailureKind::Crash,
            check: "runner".into(),
            detail: "the worker running this seed died before reporting its outcome".into(),
            scenario: scn.name,
            seed,
            bugs,
            at: Duration::ZERO,
            plan: plan.clone(),
            tail: Vec::new(),
        }),
        hits: Vec::new(),
        trace_hash: String::new(),
        trace: Trace::default(),
        facts: crate::check::Facts::new(),
        plan,
        sim_time: Duration::ZERO,
        wall: Duration::ZERO,
    }
}

/// The same seed must give the same trace, in-process: reruns every
/// failing seed and every `every`-th seed (at most 64), drawing its plan
/// again, and returns a determinism failure for each whose trace hash
/// differs, with the first diverging line.
pub fn recheck_determinism<F: FamilyFault>(
    scn: &Scenario<F>,
    outcomes: &[SeedOutcome],
    bugs: BugSet,
    every: u64,
) -> Vec<Failure> {
    let mut failures = Vec::new();
    if every == 0 {
        return failures;
    }
    let run_opts = RunOptions {
        bugs,
        ..RunOptions::default()
    };
    let recheck = outcomes
        .iter()
        .enumerate()
        .filter(|(i, o)| !o.passed() || (*i as u64) % every == 0)
        .map(|(_, o)| o)
        .take(64);
    let never = AtomicBool::new(false);
    for first in recheck {
        if first
            .failure
            .as_ref()
            .is_some_and(|f| f.kind == FailureKind::Timeout)
        {
            continue;
        }
        // The same inputs as the first run: the plan is drawn from the
        // seed again, so the plan generator's determinism is checked too.
        let again = run_seed(scn, first.seed, &run_opts, &never);
        if again.trace_hash == first.trace_hash {
            continue;
        }
        let mut first_text = first.trace.text();
        if first_text.is_empty() {
            // Passing traces are dropped to save memory: rerun once more.
            first_text = run_seed(scn, first.seed, &run_opts, &never).trace.text();
        }
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
        });
    }
    failures
}

/// Every `sometimes` check with the number of seeds that reached it, and
/// (when `enforce` and the batch has [`COVERAGE_MIN_SEEDS`] seeds or more)
/// a coverage failure for each never reached. `empty_plan` stands in for
/// the plan of a failure that belongs to no one seed.
pub fn judge_coverage(
    scn: &ScenarioInfo,
    outcomes: &[SeedOutcome],
    bugs: BugSet,
    enforce: bool,
    empty_plan: &crate::scenario::ErasedPlan,
) -> (Vec<(&'static str, u64)>, Vec<Failure>) {
    let coverage: Vec<(&'static str, u64)> = scn
        .checks
        .iter()
        .filter(|c| c.kind == CheckKind::Sometimes)
        .map(|c| {
            (
                c.name,
                outcomes.iter().filter(|o| o.hits.contains(&c.name)).count() as u64,
            )
        })
        .collect();
    let mut failures = Vec::new();
    if enforce && outcomes.len() >= COVERAGE_MIN_SEEDS {
        for (name, hits) in &coverage {
            if *hits == 0 {
                failures.push(Failure {
                    kind: FailureKind::Coverage,
                    check: name.to_string(),
                    detail: format!("never reached in {} seeds", outcomes.len()),
                    scenario: scn.name,
                    seed: outcomes[0].seed,
                    bugs,
                    at: Duration::ZERO,
                    plan: empty_plan.clone(),
                    tail: Vec::new(),
                });
            }
        }
    }
    (coverage, failures)
}

/// Runs `seeds` of `scn` on `opts.jobs` worker threads, then rechecks
/// determinism and judges coverage.
pub fn run_batch<F: FamilyFault>(
    scn: &Scenario<F>,
    seeds: &[Seed],
    opts: &BatchOptions<'_>,
) -> BatchReport {
    #[allow(clippy::disallowed_methods)] // measuring only
    let started = std::time::Instant::now();
    let outcomes = run_pool(scn, seeds, opts);
    let mut failures: Vec<Failure> = outcomes.iter().filter_map(|o| o.failure.clone()).collect();
    failures.extend(recheck_determinism(
        scn,
        &outcomes,
        opts.bugs,
        opts.determinism_every,
    ));
    let empty: crate::scenario::ErasedPlan = Arc::new(FaultPlan::<F>::default());
    let (coverage, missed) = judge_coverage(scn, &outcomes, opts.bugs, opts.coverage, &empty);
    failures.extend(missed);
    BatchReport {
        scenario: scn.name,
        bugs: opts.bugs,
        outcomes,
        failures,
        coverage,
        wall: started.elapsed(),
    }
}
