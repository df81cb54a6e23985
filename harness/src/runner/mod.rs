//! The seed runner: one seed as one deterministic run on the chosen engine ([`run_seed`],
//! here), batches of seeds ([`run_batch`] and its steps, in `batch`), and
//! the worker processes a batch may run them in (`isolate`).
//!
//! # Where a seed runs, and what stops it
//!
//! - **In this thread** ([`run_seed`]): a cooperative `cancel` flag, read at
//!   every simulation step, stops a slow seed with a `timeout`.
//! - **Alone, under a watchdog** ([`run_seed_bounded`]; replay, shrink,
//!   cards, the determinism recheck, worker processes): the flag is set at
//!   the budget, and a seed that has not reached a step boundary
//!   [`HARD_GRACE`] later never yields: its report goes to stderr and the
//!   process exits with [`HANG_EXIT_CODE`].
//! - **In a batch on threads** ([`Isolation::Threads`], the library's
//!   default): one thread per job, the flag set by a watchdog thread, which
//!   also applies the hard stop (report, exit 124) to a seed that never
//!   yields. Fast; a seed that aborts or hangs takes the process down (with
//!   its report), never the batch silently.
//! - **In a batch on worker processes** ([`Isolation::Processes`], the
//!   CLI's default): one supervised process per job, killed and replaced
//!   when its seed hangs or kills it; see `isolate`'s module doc for the
//!   protocol and the deadlines.
//!
//! Owns the step loop (steps applied at their simulated time: network
//! faults to the engine, fault points to the core, the family's faults to its
//! world; the heal at `heal_at`; checks at the end) and per-seed panic
//! capture. Wall time is read here only to measure and, through the
//! cancel flag, to stop a runaway seed; it never reaches a decision inside
//! a run.

mod batch;
mod isolate;

pub use batch::{
    default_jobs, judge_coverage, recheck_determinism, run_batch, run_pool, BatchOptions,
    BatchReport, PoolResult, Sampled, COVERAGE_MIN_SEEDS, RECHECK_MAX,
};
pub use isolate::{serve_worker, Isolation, WorkerCommand};

use crate::check::{CheckKind, Facts, Failure, FailureKind, RunView, Verdict};
use crate::engine::{EngineKind, Sim};
use crate::fault::{FamilyFault, FaultPlan, NetFault, Step};
use crate::scenario::{typed_plan, ErasedPlan, Scenario, WorldCtx};
use crate::seed::Seed;
use crate::trace::{EntryKind, HarnessEvent, Recorder, Trace};
use relaysim_core::BugSet;
use std::cell::Cell;
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Trace lines shown in a failure report.
pub const TAIL_LINES: usize = 12;

/// How to run one seed.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Known bugs switched on.
    pub bugs: BugSet,
    /// Record the trace (off only for overhead benchmarks; checks then see
    /// an empty trace).
    pub capture: bool,
    /// Run this plan instead of the seed's (replay from a plan file). It
    /// must be a plan of the scenario's family.
    pub plan: Option<ErasedPlan>,
    /// Evaluate checks (off only for overhead benchmarks).
    pub checks: bool,
    /// The engine that runs the seed.
    pub engine: EngineKind,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            bugs: BugSet::NONE,
            capture: true,
            plan: None,
            checks: true,
            engine: EngineKind::Turmoil,
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
    /// The trace (emptied for passing seeds of a batch unless asked to keep
    /// it; empty when the seed ran in a worker process).
    pub trace: Trace,
    /// The trace's text, when the seed ran in a worker process and failed
    /// or its text was asked for (the typed entries stay in the worker).
    pub trace_text: Option<String>,
    /// The world's final facts.
    pub facts: Facts,
    /// The plan that ran.
    pub plan: ErasedPlan,
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

thread_local! {
    /// The first panic on this thread since the seed began (message and
    /// place), recorded by [`record_panics`]'s hook: a host's panic reaches
    /// the runner re-raised by tokio with a generic message, and this is
    /// the root cause to report.
    static FIRST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Installs (once per process) a panic hook that records each thread's
/// first panic for [`run_seed`], then runs the hook that was there before.
fn record_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = FIRST_PANIC.try_with(|first| {
                if let Ok(mut first) = first.try_borrow_mut() {
                    if first.is_none() {
                        let place = info
                            .location()
                            .map(|l| format!(" (at {}:{})", l.file(), l.line()))
                            .unwrap_or_default();
                        *first = Some(format!("{}{place}", panic_message(info.payload())));
                    }
                }
            });
            previous(info);
        }));
    });
}

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Runs one seed. `cancel` is the watchdog's flag: when it is set the run
/// stops with a `timeout` failure. A panic anywhere on the seed's path —
/// the plan generator, the world's build, a host, a fault's application,
/// the heal, the facts, a check — is caught and becomes a `panic` failure
/// naming where it happened; nothing a seed does unwinds past this call.
pub fn run_seed<F: FamilyFault>(
    scn: &Scenario<F>,
    seed: Seed,
    opts: &RunOptions,
    cancel: &AtomicBool,
) -> SeedOutcome {
    #[allow(clippy::disallowed_methods)] // measuring only; never reaches the simulation
    let started = std::time::Instant::now();
    let recorder = if opts.capture {
        Recorder::new()
    } else {
        Recorder::disabled()
    };
    let rec = recorder.clone();
    record_panics();
    FIRST_PANIC.with(|f| f.borrow_mut().take());
    let phase = Cell::new(Phase::Plan);
    let mut plan: Option<FaultPlan<F>> = None;
    let run = catch_unwind(AssertUnwindSafe(|| {
        let p = match &opts.plan {
            Some(p) => typed_plan(scn, p).unwrap_or_else(|e| panic!("{e}")),
            None => scn.plan_for(seed),
        };
        let p = plan.insert(p);
        simulate(scn, seed, opts, p, rec, cancel, &phase)
    }));
    let erased: ErasedPlan = Arc::new(plan.unwrap_or_default());
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
                    format!(
                        "panicked in {}: {}",
                        phase.get(),
                        FIRST_PANIC
                            .with(|f| f.borrow_mut().take())
                            .unwrap_or_else(|| panic_message(&*p))
                    ),
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
            let verdict = catch_unwind(AssertUnwindSafe(|| (check.eval)(&view)));
            match verdict {
                Ok(Verdict::Fail { at, detail }) => {
                    let kind = match check.kind {
                        CheckKind::Eventually => FailureKind::Liveness,
                        _ => FailureKind::Safety,
                    };
                    // Report the earliest violation.
                    if failure.as_ref().is_none_or(|f| at < f.3) {
                        failure = Some((kind, check.name.to_string(), detail, at));
                    }
                }
                Ok(Verdict::Hit) => hits.push(check.name),
                Ok(Verdict::Pass | Verdict::Miss) => {}
                Err(p) => {
                    // A check that panics is a broken oracle: it outranks
                    // every verdict of this run.
                    failure = Some((
                        FailureKind::Panic,
                        check.name.to_string(),
                        format!("panicked in check {}: {}", check.name, panic_message(&*p)),
                        end,
                    ));
                    break;
                }
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
        plan: erased.clone(),
        tail: trace.tail(at, TAIL_LINES),
        replay: scn.replay,
        plan_file: None,
        engine: opts.engine,
    });
    SeedOutcome {
        seed,
        failure,
        hits,
        trace_hash: trace.hash(),
        trace,
        trace_text: None,
        facts,
        plan: erased,
        sim_time: end,
        wall: started.elapsed(),
    }
}

/// The wall-clock budget of one seed run outside a batch (replay, shrink,
/// the determinism recheck, cards), as a batch's default.
pub const SEED_WALL_LIMIT: Duration = Duration::from_secs(120);

/// How long past its budget a seed may take to reach a step boundary
/// before [`run_seed_bounded`] stops the whole process.
pub const HARD_GRACE: Duration = Duration::from_secs(2);

/// The exit code of a process that [`run_seed_bounded`] stopped because a
/// seed never yielded (GNU `timeout`'s).
pub const HANG_EXIT_CODE: i32 = 124;

/// [`run_seed`] under its own watchdog, with a soft and a hard stop. After
/// `limit` of wall time the run stops at its next simulation step with a
/// `timeout` failure. A seed that does not reach a step boundary within
/// [`HARD_GRACE`] after that never yields (a busy loop in a host, a
/// blocked OS call) and cannot be stopped from inside its process: the
/// watchdog prints the seed's `timeout` report (seed, replay commands,
/// plan) on stderr and exits the process with [`HANG_EXIT_CODE`]. What
/// replay, shrink, the determinism recheck, cards and worker processes
/// run, so none of them can hang.
pub fn run_seed_bounded<F: FamilyFault>(
    scn: &Scenario<F>,
    seed: Seed,
    opts: &RunOptions,
    limit: Duration,
) -> SeedOutcome {
    let cancel = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            #[allow(clippy::disallowed_methods)] // the watchdog is wall-clock by definition
            let start = std::time::Instant::now();
            while !done.load(Ordering::Acquire) {
                let waited = start.elapsed();
                if waited > limit + HARD_GRACE {
                    hang_exit(scn, seed, opts, limit);
                }
                if waited > limit {
                    cancel.store(true, Ordering::Relaxed);
                }
                #[allow(clippy::disallowed_methods)] // the watchdog thread, not simulated code
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let outcome = run_seed(scn, seed, opts, &cancel);
        done.store(true, Ordering::Release);
        outcome
    })
}

/// A seed that never yields: its report on stderr, and the process ends.
pub(super) fn hang_exit<F: FamilyFault>(
    scn: &Scenario<F>,
    seed: Seed,
    opts: &RunOptions,
    limit: Duration,
) -> ! {
    let plan: ErasedPlan = match &opts.plan {
        Some(p) => p.clone(),
        None => catch_unwind(AssertUnwindSafe(|| scn.plan_for(seed)))
            .map(|p| Arc::new(p) as ErasedPlan)
            .unwrap_or_else(|_| Arc::new(FaultPlan::<F>::default())),
    };
    let f = Failure {
        kind: FailureKind::Timeout,
        check: "watchdog".into(),
        detail: format!(
            "the seed never reached a step boundary within {:.1} s of its {:.1} s budget (a host that never yields, or a blocked OS call): the process stopped itself",
            HARD_GRACE.as_secs_f64(),
            limit.as_secs_f64()
        ),
        scenario: scn.name,
        seed,
        bugs: opts.bugs,
        at: Duration::ZERO,
        plan,
        tail: Vec::new(),
        replay: scn.replay,
        plan_file: None,
        engine: opts.engine,
    };
    eprint!("{}", crate::report::failure_report(&f));
    std::process::exit(HANG_EXIT_CODE)
}

/// Where on a seed's path the run is, for naming a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Plan,
    Build,
    Apply,
    Heal,
    Step,
    Facts,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Plan => "the plan generator",
            Phase::Build => "the world's build",
            Phase::Apply => "the world's apply",
            Phase::Heal => "the world's heal",
            Phase::Step => "a host (a simulation step)",
            Phase::Facts => "the world's facts",
        })
    }
}

/// The longest simulated stretch the fast engine runs between reads of
/// the cancel flag.
const FAST_SLICE: Duration = Duration::from_secs(1);

type EarlyStop = (FailureKind, String, String, std::time::Duration);

/// The step loop.
fn simulate<F: FamilyFault>(
    scn: &Scenario<F>,
    seed: Seed,
    opts: &RunOptions,
    plan: &FaultPlan<F>,
    recorder: Arc<Recorder>,
    cancel: &AtomicBool,
    phase: &Cell<Phase>,
) -> Result<(Facts, Duration), EarlyStop> {
    let (bugs, engine) = (opts.bugs, opts.engine);
    let mut sim = Sim::new(engine, scn, seed);
    let ctx = WorldCtx {
        seed,
        bugs,
        recorder: recorder.clone(),
    };
    phase.set(Phase::Build);
    let mut world = (scn.build)(&mut sim, &ctx);
    if std::env::var_os("RELAYSIM_CANARY_NONDETERMINISM").is_some() {
        // The determinism checks' own canary: a deliberately process-dependent
        // trace line. Never set outside the tests of those checks.
        recorder.at(
            Duration::ZERO,
            "harness",
            EntryKind::Harness(HarnessEvent::Canary {
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
    let mut silent: BTreeSet<(String, String)> = BTreeSet::new();
    let mut down: BTreeSet<String> = BTreeSet::new();
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
            recorder.at(now, "harness", EntryKind::Fault(Arc::new(fault.clone())));
            match fault {
                Step::Net(NetFault::Partition { a, b }) => {
                    sim.partition(a.as_str(), b.as_str());
                    cut.insert((a.clone(), b.clone()));
                }
                Step::Net(NetFault::Repair { a, b }) => {
                    sim.repair(a.as_str(), b.as_str());
                    cut.remove(&(a.clone(), b.clone()));
                }
                Step::Net(NetFault::Hold { a, b }) => {
                    sim.hold(a.as_str(), b.as_str());
                    held.insert((a.clone(), b.clone()));
                }
                Step::Net(NetFault::Release { a, b }) => {
                    sim.release(a.as_str(), b.as_str());
                    held.remove(&(a.clone(), b.clone()));
                }
                Step::Net(NetFault::Blackhole { a, b }) => {
                    sim.blackhole(a.as_str(), b.as_str());
                    silent.insert((a.clone(), b.clone()));
                }
                Step::Net(NetFault::Restore { a, b }) => {
                    sim.restore(a.as_str(), b.as_str());
                    silent.remove(&(a.clone(), b.clone()));
                }
                Step::Net(NetFault::Crash { host }) => {
                    sim.crash(host.as_str());
                    down.insert(host.clone());
                }
                Step::Net(NetFault::Bounce { host }) => {
                    sim.bounce(host.as_str());
                    down.remove(host);
                }
                Step::Point { site, permille } => {
                    relaysim_core::faults::set(site, f64::from(*permille) / 1000.0);
                }
                Step::App(app) => {
                    phase.set(Phase::Apply);
                    world.apply(app);
                }
            }
        }
        if !healed && now >= scn.heal_at {
            healed = true;
            recorder.at(now, "harness", EntryKind::Harness(HarnessEvent::Heal));
            for (a, b) in std::mem::take(&mut cut) {
                sim.repair(a.as_str(), b.as_str());
            }
            for (a, b) in std::mem::take(&mut held) {
                sim.release(a.as_str(), b.as_str());
            }
            for (a, b) in std::mem::take(&mut silent) {
                sim.restore(a.as_str(), b.as_str());
            }
            // A host still down at the heal is restarted: the liveness phase
            // judges a whole system.
            for host in std::mem::take(&mut down) {
                sim.bounce(host.as_str());
            }
            relaysim_core::faults::clear();
            phase.set(Phase::Heal);
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
        phase.set(Phase::Step);
        // turmoil steps one tick whatever the target; the fast engine runs
        // to the next planned step, the heal or the end, in slices short
        // enough for the cancel flag to be read.
        let mut target = (now + FAST_SLICE).min(scn.duration);
        if let Some(e) = plan.events.get(next) {
            if !healed {
                target = target.min(e.at());
            }
        }
        if !healed {
            target = target.min(scn.heal_at);
        }
        if target <= now {
            target = now + scn.tick;
        }
        if let Err(e) = sim.step_toward(target) {
            return Err((FailureKind::Panic, "host-error".into(), e, sim.elapsed()));
        }
    }
    phase.set(Phase::Facts);
    Ok((world.facts(), sim.elapsed()))
}
