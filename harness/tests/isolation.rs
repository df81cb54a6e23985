//! The harness tests its process isolation: a toy family whose seeds abort
//! the process, overflow the stack, fail to allocate, exit mid-run, never
//! yield, freeze the whole process, or differ between processes — run
//! under supervised worker processes, where each must end in its own
//! outcome (`crash`, `timeout`, `determinism`) with its seed and replay
//! command while every other seed of the range still runs and passes. And
//! the hard watchdog of a single run and of a threaded batch: a seed that
//! never yields stops the process with exit code 124 and its report.
//!
//! This binary is its own worker (`harness = false`): run with `worker
//! MS` it serves the toy scenario on stdin and stdout; run with
//! `bounded-hang` it runs the hanging seed alone under
//! `run_seed_bounded`. Without arguments it runs every case and exits
//! non-zero on the first that fails. The toy family lives here, not in the
//! catalog: it exists only to break.

use relaysim_core::BugSet;
use relaysim_harness::check::{Check, CheckKind, Facts, FailureKind, ReplayHint, RunView, Verdict};
use relaysim_harness::fault::FamilyFault;
use relaysim_harness::report::failure_report;
use relaysim_harness::runner::{
    run_batch, run_seed_bounded, serve_worker, BatchOptions, BatchReport, Isolation, RunOptions,
    WorkerCommand, HANG_EXIT_CODE,
};
use relaysim_harness::scenario::{NetParams, Scenario, ScenarioInfo, World, WorldCtx};
use relaysim_harness::{PlanCtx, Seed};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Seeds that break, and how.
const ABORTS: u64 = 2;
const HANGS: u64 = 3;
const OVERFLOWS: u64 = 4;
const ALLOC_FAILS: u64 = 5;
const EXITS: u64 = 6;
const FREEZES: u64 = 7;
const PROCESS_DEPENDENT: u64 = 8;
const SEEDS: u64 = 12;

/// The seed budget of the toy's runs (its seeds take a few milliseconds).
const LIMIT: Duration = Duration::from_millis(400);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum Fault {
    /// Nothing happens (a step that every plan has).
    Tick,
}

impl FamilyFault for Fault {}

#[derive(Debug)]
struct Line(String);

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

struct ToyWorld;

impl World<Fault> for ToyWorld {
    fn apply(&mut self, _fault: &Fault) {}
    fn heal(&mut self) {}
    fn facts(&self) -> Facts {
        Facts::new()
    }
}

#[inline(never)]
fn recurse(depth: u64, sink: &mut [u8; 4096]) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    sink[(depth % 4096) as usize] = depth as u8;
    let mut local = [0u8; 4096];
    local[0] = sink[0];
    recurse(depth + 1, &mut local) + u64::from(local[1])
}

fn build(sim: &mut relaysim_harness::engine::Sim, ctx: &WorldCtx) -> Box<dyn World<Fault>> {
    let seed = ctx.seed.0;
    let rec = ctx.recorder.clone();
    sim.client("toy", async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rec.peer("toy", Line("toy.awake".into()));
        match seed {
            ABORTS => std::process::abort(),
            HANGS => {
                // Never yields: no step boundary is ever reached again.
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            OVERFLOWS => {
                let mut sink = [0u8; 4096];
                let _ = std::hint::black_box(recurse(0, &mut sink));
            }
            ALLOC_FAILS => {
                // Larger than any address space: the allocator refuses and
                // the process aborts.
                let mut v: Vec<u8> = Vec::with_capacity(std::hint::black_box(1usize << 47));
                v.push(1);
                std::hint::black_box(&v);
            }
            EXITS => std::process::exit(0),
            FREEZES => {
                // The whole process stops (its watchdog thread too): only
                // the supervisor's own deadline can end it.
                let _ = std::process::Command::new("kill")
                    .args(["-STOP", &std::process::id().to_string()])
                    .status();
            }
            PROCESS_DEPENDENT => {
                rec.peer("toy", Line(format!("toy.pid {}", std::process::id())));
            }
            _ => {}
        }
        Ok(())
    });
    Box::new(ToyWorld)
}

fn plan(ctx: &mut PlanCtx<Fault>) {
    ctx.push_ms(50, Fault::Tick);
}

fn awake(v: &RunView<'_>) -> Verdict {
    Verdict::reached(
        v.trace
            .entries
            .iter()
            .any(|e| e.to_string().contains("toy.awake")),
    )
}

static CHECKS: [Check; 1] = [Check {
    name: "toy-awake",
    kind: CheckKind::Sometimes,
    about: "the toy host woke up",
    eval: awake,
}];

static TOY: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "toy-isolation",
        family: "toy",
        about: "aborts, hangs and crashes on purpose",
        tick: Duration::from_millis(10),
        duration: Duration::from_secs(1),
        heal_at: Duration::from_millis(500),
        net: NetParams::DEFAULT,
        hosts: &["toy"],
        targets: &[],
        default_seeds: SEEDS,
        checks: &CHECKS,
        links: &[],
        replay: ReplayHint::RELAYSIM,
    },
    plan,
    build,
};

fn me() -> std::path::PathBuf {
    std::env::current_exe().expect("the test binary's path")
}

fn workers() -> WorkerCommand {
    WorkerCommand {
        program: me(),
        args: vec!["worker".into(), LIMIT.as_millis().to_string().into()],
        env: Vec::new(),
    }
}

fn batch(cmd: &WorkerCommand, seeds: std::ops::Range<u64>) -> BatchReport {
    let seeds: Vec<Seed> = seeds.map(Seed).collect();
    run_batch(
        &TOY,
        &seeds,
        &BatchOptions {
            bugs: BugSet::NONE,
            jobs: 2,
            determinism_every: 1,
            coverage: false,
            wall_limit: LIMIT,
            isolation: Isolation::Processes(cmd),
            ..BatchOptions::default()
        },
    )
}

fn check(ok: bool, what: impl std::fmt::Display) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what.to_string())
    }
}

/// Every seed has one outcome; each breaking seed its kind, detail and
/// replay command; every other seed passed; the batch failed.
fn every_way_of_dying_is_one_outcome() -> Result<(), String> {
    let report = batch(&workers(), 0..SEEDS);
    let ran: Vec<u64> = report.outcomes.iter().map(|o| o.seed.0).collect();
    check(
        ran == (0..SEEDS).collect::<Vec<_>>() && report.ran == SEEDS && report.expected == SEEDS,
        format!("one outcome per seed, got {ran:?}"),
    )?;
    check(!report.passed(), "the batch must fail")?;
    let expect = [
        (ABORTS, FailureKind::Crash, "killed by signal 6 (SIGABRT)"),
        (HANGS, FailureKind::Timeout, "never reached a step boundary"),
        (OVERFLOWS, FailureKind::Crash, "has overflowed its stack"),
        (ALLOC_FAILS, FailureKind::Crash, "memory allocation of"),
        (EXITS, FailureKind::Crash, "exited with code 0"),
        (
            FREEZES,
            FailureKind::Timeout,
            "its worker process was killed",
        ),
    ];
    for (seed, kind, says) in expect {
        let o = &report.outcomes[seed as usize];
        let f = o
            .failure
            .as_ref()
            .ok_or_else(|| format!("seed {seed} should have failed"))?;
        if std::env::var_os("ISOLATION_SHOW").is_some() {
            println!("seed {seed}: {} {}: {}", f.kind, f.check, f.detail);
        }
        check(
            f.kind == kind,
            format!("seed {seed}: {kind} expected, got {f:?}"),
        )?;
        check(
            f.detail.contains(says),
            format!("seed {seed}: {:?} lacks {says:?}", f.detail),
        )?;
        check(
            f.plan.len() == 1,
            format!("seed {seed}: the plan the worker announced is kept"),
        )?;
        let text = failure_report(f);
        let replay = format!(
            "replay   : cargo run --release --bin relaysim -- replay toy-isolation --seed {}",
            Seed(seed)
        );
        check(
            text.contains(&replay),
            format!("seed {seed}: no replay command in\n{text}"),
        )?;
    }
    // The process-dependent seed passes its checks in its worker, and the
    // supervisor's recheck finds its trace differs.
    let det: Vec<_> = report
        .failures
        .iter()
        .filter(|f| f.kind == FailureKind::Determinism)
        .collect();
    check(
        det.len() == 1
            && det[0].seed == Seed(PROCESS_DEPENDENT)
            && det[0].detail.contains("toy.pid"),
        format!("one determinism failure at {PROCESS_DEPENDENT} naming the pid line: {det:?}"),
    )?;
    let broken = [ABORTS, HANGS, OVERFLOWS, ALLOC_FAILS, EXITS, FREEZES];
    for o in &report.outcomes {
        if !broken.contains(&o.seed.0) {
            check(
                o.passed(),
                format!("seed {} should pass: {:?}", o.seed, o.failure),
            )?;
        }
    }
    Ok(())
}

/// Workers that cannot start: a few seeds are crashes naming why, the
/// rest are counted as unrun, and the batch fails.
fn a_worker_that_cannot_start_fails_the_batch() -> Result<(), String> {
    let cmd = WorkerCommand {
        program: "/nonexistent/relaysim-worker".into(),
        args: Vec::new(),
        env: Vec::new(),
    };
    let report = batch(&cmd, 0..10);
    check(!report.passed(), "the batch must fail")?;
    check(
        report.ran < 10,
        format!("seeds cannot have run: {}", report.ran),
    )?;
    let unrun = report
        .failures
        .iter()
        .find(|f| f.check == "runner" && f.detail.contains("have no outcome"))
        .ok_or_else(|| format!("no unrun failure in {:?}", report.failures))?;
    check(
        unrun.detail.contains("could not start") && unrun.detail.contains("of 10 seeds"),
        &unrun.detail,
    )?;
    Ok(())
}

/// A single run that never yields ends its process with 124 and the
/// seed's timeout report.
fn a_single_run_that_never_yields_exits_124() -> Result<(), String> {
    let out = std::process::Command::new(me())
        .arg("bounded-hang")
        .output()
        .map_err(|e| e.to_string())?;
    let err = String::from_utf8_lossy(&out.stderr);
    check(
        out.status.code() == Some(HANG_EXIT_CODE),
        format!("exit {HANG_EXIT_CODE} expected: {:?}\n{err}", out.status),
    )?;
    check(
        err.contains("FAILED (timeout) at seed 0x3")
            && err.contains(
                "replay   : cargo run --release --bin relaysim -- replay toy-isolation --seed 0x3",
            ),
        format!("no timeout report with its replay command:\n{err}"),
    )
}

/// One self-test: `Err` says what went wrong.
type Case = fn() -> Result<(), String>;

/// A threaded batch (what `cargo test` runs) with a seed that never
/// yields cannot hang either: the process reports the seed and exits 124.
fn a_threaded_batch_with_a_seed_that_never_yields_exits_124() -> Result<(), String> {
    let out = std::process::Command::new(me())
        .arg("threaded-hang")
        .output()
        .map_err(|e| e.to_string())?;
    let err = String::from_utf8_lossy(&out.stderr);
    check(
        out.status.code() == Some(HANG_EXIT_CODE),
        format!("exit {HANG_EXIT_CODE} expected: {:?}\n{err}", out.status),
    )?;
    check(
        err.contains("FAILED (timeout) at seed 0x3")
            && err.contains("replay toy-isolation --seed 0x3"),
        format!("no timeout report with its replay command:\n{err}"),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("worker") => {
            let ms: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(400);
            let stdin = std::io::stdin();
            let stdout = std::io::stdout();
            if let Err(e) = serve_worker(
                &TOY,
                BugSet::NONE,
                Duration::from_millis(ms),
                stdin.lock(),
                stdout.lock(),
            ) {
                eprintln!("toy worker: {e}");
                std::process::exit(2);
            }
            return;
        }
        Some("threaded-hang") => {
            let seeds: Vec<Seed> = [0, HANGS, 1].map(Seed).to_vec();
            let _ = run_batch(
                &TOY,
                &seeds,
                &BatchOptions {
                    jobs: 2,
                    coverage: false,
                    wall_limit: LIMIT,
                    ..BatchOptions::default()
                },
            );
            eprintln!("a threaded batch returned past a seed that never yields");
            std::process::exit(1);
        }
        Some("bounded-hang") => {
            let _ = run_seed_bounded(&TOY, Seed(HANGS), &RunOptions::default(), LIMIT);
            eprintln!("run_seed_bounded returned from a seed that never yields");
            std::process::exit(1);
        }
        // `cargo test -- --list` and test runners that list first.
        _ if args.iter().any(|a| a == "--list") => {
            println!("isolation: test");
            return;
        }
        _ => {}
    }
    let cases: [(&str, Case); 4] = [
        (
            "every_way_of_dying_is_one_outcome",
            every_way_of_dying_is_one_outcome,
        ),
        (
            "a_worker_that_cannot_start_fails_the_batch",
            a_worker_that_cannot_start_fails_the_batch,
        ),
        (
            "a_single_run_that_never_yields_exits_124",
            a_single_run_that_never_yields_exits_124,
        ),
        (
            "a_threaded_batch_with_a_seed_that_never_yields_exits_124",
            a_threaded_batch_with_a_seed_that_never_yields_exits_124,
        ),
    ];
    let mut failed = 0;
    for (name, case) in cases {
        match case() {
            Ok(()) => println!("test {name} ... ok"),
            Err(e) => {
                println!("test {name} ... FAILED\n{e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        println!("{failed} of {} isolation tests failed", cases.len());
        std::process::exit(101);
    }
    println!("test result: ok. {} passed", cases.len());
}
