//! The seed runner: one seed as one deterministic turmoil run, and batches
//! of seeds on worker threads.
//!
//! Owns the step loop (faults applied at their simulated time, the heal at
//! `heal_at`, checks at the end), per-seed panic capture, the per-seed
//! wall-clock watchdog, batch scheduling, coverage and the determinism
//! recheck. Wall time is read here only to measure and to stop a runaway
//! seed (the watchdog); it never reaches a decision inside a run.

use crate::check::{CheckKind, Facts, Failure, FailureKind, RunView, Verdict};
use crate::fault::{Fault, FaultPlan};
use crate::scenario::{Scenario, WorldCtx};
use crate::seed::Seed;
use crate::trace::{first_divergence, EntryKind, Recorder, Trace, WorldEvent};
use relaysim_core::BugSet;
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Trace lines shown in a failure report.
pub const TAIL_LINES: usize = 12;

/// A batch judges coverage (`sometimes` checks) only from this many seeds
/// on: a handful of seeds cannot be expected to reach every rare state.
pub const COVERAGE_MIN_SEEDS: usize = 50;

/// How to run one seed.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Known bugs switched on.
    pub bugs: BugSet,
    /// Record the trace (off only for overhead benchmarks; checks then see
    /// an empty trace).
    pub capture: bool,
    /// Run this plan instead of the seed's (replay from a plan file).
    pub plan: Option<FaultPlan>,
    /// Evaluate checks (off only for overhead benchmarks).
    pub checks: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            bugs: BugSet::NONE,
            capture: true,
            plan: None,
            checks: true,
        }
    }
}

/// The result of one seed.
#[derive(Debug, Clone)]
pub struct SeedOutcome {
    /// The seed run.
    pub seed: Seed,
    /// The first violation, if any.
    pub failure: Option<Failure>,
    /// `sometimes` checks reached by this seed.
    pub hits: Vec<&'static str>,
    /// FNV-1a of the normalized trace.
    pub trace_hash: String,
    /// The trace (emptied for passing seeds of a batch unless asked to keep it).
    pub trace: Trace,
    /// The world's final facts.
    pub facts: Facts,
    /// The plan that ran.
    pub plan: FaultPlan,
    /// Simulated time at the end.
    pub sim_time: Duration,
    /// Wall time the run took (measurement only).
    pub wall: Duration,
}

impl SeedOutcome {
    /// No failure?
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Runs one seed. `cancel` is the watchdog's flag: when it is set the run
/// stops with a `timeout` failure.
pub fn run_seed(scn: &Scenario, seed: Seed, opts: &RunOptions, cancel: &AtomicBool) -> SeedOutcome {
    #[allow(clippy::disallowed_methods)] // measuring only; never reaches the simulation
    let started = std::time::Instant::now();
    let plan = opts.plan.clone().unwrap_or_else(|| (scn.plan)(seed));
    let recorder = if opts.capture {
        Recorder::new()
    } else {
        Recorder::disabled()
    };
    let rec = recorder.clone();
    let plan_for_run = plan.clone();
    let run = catch_unwind(AssertUnwindSafe(|| {
        simulate(scn, seed, opts.bugs, &plan_for_run, rec, cancel)
    }));
    let trace = recorder.snapshot();
    let (facts, end, early) = match run {
        Ok(Ok((facts, end))) => (facts, end, None),
        Ok(Err((kind, check, detail, at))) => (Facts::new(), at, Some((kind, check, detail, at))),
        Err(p) => {
            let at = trace.entries.last().map(|e| e.at).unwrap_or_default();
            (
                Facts::new(),
                at,
                Some((
                    FailureKind::Panic,
                    "panic".to_string(),
                    panic_message(&*p),
                    at,
                )),
            )
        }
    };

    let mut hits = Vec::new();
    let mut failure = early;
    if failure.is_none() && opts.checks {
        let view = RunView {
            trace: &trace,
            facts: &facts,
            heal_at: scn.heal_at,
            end,
        };
        for check in scn.checks {
            match (check.eval)(&view) {
                Verdict::Fail { at, detail } => {
                    let kind = match check.kind {
                        CheckKind::Eventually => FailureKind::Liveness,
                        _ => FailureKind::Safety,
                    };
                    // Report the earliest violation.
                    if failure.as_ref().is_none_or(|f| at < f.3) {
                        failure = Some((kind, check.name.to_string(), detail, at));
                    }
                }
                Verdict::Hit => hits.push(check.name),
                Verdict::Pass | Verdict::Miss => {}
            }
        }
    }
    let failure = failure.map(|(kind, check, detail, at)| Failure {
        kind,
        check,
        detail,
        scenario: scn.name,
        seed,
        bugs: opts.bugs,
        at,
        plan: plan.clone(),
        tail: trace.tail(at, TAIL_LINES),
    });
    SeedOutcome {
        seed,
        failure,
        hits,
        trace_hash: trace.hash(),
        trace,
        facts,
        plan,
        sim_time: end,
        wall: started.elapsed(),
    }
}

type EarlyStop = (FailureKind, String, String, std::time::Duration);

/// An empty turmoil simulation with the scenario's tick, links and buffers,
/// seeded by `seed` (explicit epoch: nothing reads the wall clock).
pub fn sim_for(scn: &Scenario, seed: Seed) -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .rng_seed(seed.0)
        .epoch(std::time::UNIX_EPOCH)
        .tick_duration(scn.tick)
        .simulation_duration(scn.duration + Duration::from_secs(3600))
        .min_message_latency(scn.net.min_latency)
        .max_message_latency(scn.net.max_latency)
        .tcp_capacity(scn.net.tcp_capacity)
        .build()
}

/// The step loop.
fn simulate(
    scn: &Scenario,
    seed: Seed,
    bugs: BugSet,
    plan: &FaultPlan,
    recorder: Arc<Recorder>,
    cancel: &AtomicBool,
) -> Result<(Facts, Duration), EarlyStop> {
    let mut sim = sim_for(scn, seed);
    let ctx = WorldCtx {
        seed,
        bugs,
        recorder: recorder.clone(),
    };
    let mut world = (scn.build)(&mut sim, &ctx);
    if std::env::var_os("RELAYSIM_CANARY_NONDETERMINISM").is_some() {
        // The determinism checks' own canary: a deliberately process-dependent
        // trace line. Never set outside the tests of those checks.
        recorder.at(
            Duration::ZERO,
            "harness",
            EntryKind::World(WorldEvent::Canary {
                pid: std::process::id(),
            }),
        );
    }
    // Fault points are per run, on this thread (turmoil runs every host here).
    struct PointsGuard;
    impl Drop for PointsGuard {
        fn drop(&mut self) {
            relaysim_core::faults::uninstall();
        }
    }
    relaysim_core::faults::install(seed.0);
    let _points = PointsGuard;
    let mut next = 0;
    let mut healed = false;
    let mut cut: BTreeSet<(String, String)> = BTreeSet::new();
    let mut held: BTreeSet<(String, String)> = BTreeSet::new();
    while sim.elapsed() < scn.duration {
        let now = sim.elapsed();
        while next < plan.events.len() && plan.events[next].at() <= now {
            let fault = &plan.events[next].fault;
            next += 1;
            if healed {
                // Faults planned past the heal are dropped: the liveness
                // phase is fault-free by definition.
                continue;
            }
            recorder.at(now, "harness", EntryKind::Fault(fault.clone()));
            match fault {
                Fault::Partition { a, b } => {
                    sim.partition(a.as_str(), b.as_str());
                    cut.insert((a.clone(), b.clone()));
                }
                Fault::Repair { a, b } => {
                    sim.repair(a.as_str(), b.as_str());
                    cut.remove(&(a.clone(), b.clone()));
                }
                Fault::Hold { a, b } => {
                    sim.hold(a.as_str(), b.as_str());
                    held.insert((a.clone(), b.clone()));
                }
                Fault::Release { a, b } => {
                    sim.release(a.as_str(), b.as_str());
                    held.remove(&(a.clone(), b.clone()));
                }
                Fault::FaultPoint { site, permille } => {
                    relaysim_core::faults::set(site, f64::from(*permille) / 1000.0);
                }
                app => world.apply(app),
            }
        }
        if !healed && now >= scn.heal_at {
            healed = true;
            recorder.at(now, "harness", EntryKind::World(WorldEvent::Heal));
            for (a, b) in std::mem::take(&mut cut) {
                sim.repair(a.as_str(), b.as_str());
            }
            for (a, b) in std::mem::take(&mut held) {
                sim.release(a.as_str(), b.as_str());
            }
            relaysim_core::faults::clear();
            world.heal();
        }
        if cancel.load(Ordering::Relaxed) {
            return Err((
                FailureKind::Timeout,
                "watchdog".into(),
                "the seed exceeded its wall-clock budget (a livelock, or a scenario too slow for its tick)".into(),
                now,
            ));
        }
        if let Err(e) = sim.step() {
            return Err((
                FailureKind::Panic,
                "host-error".into(),
                e.to_string(),
                sim.elapsed(),
            ));
        }
    }
    Ok((world.facts(), sim.elapsed()))
}

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

/// Runs `seeds` of `scn` on `opts.jobs` worker threads.
pub fn run_batch(scn: &Scenario, seeds: &[Seed], opts: &BatchOptions<'_>) -> BatchReport {
    #[allow(clippy::disallowed_methods)] // measuring only
    let started = std::time::Instant::now();
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
                        cb(&outcome);
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
    outcomes.sort_by_key(|o| o.seed);
    if opts.stop_at_first_failure {
        let cutoff = stop_above.load(Ordering::Acquire);
        outcomes.retain(|o| o.seed.0 <= cutoff);
    }
    let mut failures: Vec<Failure> = outcomes.iter().filter_map(|o| o.failure.clone()).collect();

    // Determinism: the same seed must give the same trace, in-process.
    if opts.determinism_every > 0 {
        let recheck: Vec<&SeedOutcome> = outcomes
            .iter()
            .enumerate()
            .filter(|(i, o)| !o.passed() || (*i as u64) % opts.determinism_every == 0)
            .map(|(_, o)| o)
            .take(64)
            .collect();
        let never = AtomicBool::new(false);
        for first in recheck {
            if first
                .failure
                .as_ref()
                .is_some_and(|f| f.kind == FailureKind::Timeout)
            {
                continue;
            }
            let again = run_seed(
                scn,
                first.seed,
                &RunOptions {
                    plan: Some(first.plan.clone()),
                    ..run_opts.clone()
                },
                &never,
            );
            if again.trace_hash != first.trace_hash {
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
                    bugs: opts.bugs,
                    at: Duration::ZERO,
                    plan: first.plan.clone(),
                    tail: Vec::new(),
                });
            }
        }
    }

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
    if opts.coverage && outcomes.len() >= COVERAGE_MIN_SEEDS {
        for (name, hits) in &coverage {
            if *hits == 0 {
                failures.push(Failure {
                    kind: FailureKind::Coverage,
                    check: name.to_string(),
                    detail: format!("never reached in {} seeds", outcomes.len()),
                    scenario: scn.name,
                    seed: outcomes[0].seed,
                    bugs: opts.bugs,
                    at: Duration::ZERO,
                    plan: FaultPlan::default(),
                    tail: Vec::new(),
                });
            }
        }
    }

    BatchReport {
        scenario: scn.name,
        bugs: opts.bugs,
        outcomes,
        failures,
        coverage,
        wall: started.elapsed(),
    }
}
