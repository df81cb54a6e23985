//! `relaysim run`: scenarios over seed ranges on worker threads, shards of
//! a range, the coverage table, and the determinism check across processes.
//!
//! Nothing a run finds is lost, and nothing is held back until the end:
//! each seed's `--json` line is written (and flushed) as that seed
//! finishes; a failing seed's plan is saved at once under the failures
//! directory and its report printed at once, naming the file; a batch's
//! memory is bounded by its jobs, not its range. Ctrl-C or SIGTERM stops
//! taking seeds, lets the seeds in flight finish, and ends with the summary
//! of what ran and exit 130 / 143; every JSONL line written is whole, and
//! each scenario's completion record says whether it was interrupted. A
//! failed write is reported and is never an exit 0.

use super::interrupt::Interrupts;
use super::output::progress;
use super::replay::plan_file_json;
use super::{parse_bugs, Status};
use crate::catalog::{all, find};
use clap::Args;
use relaysim_core::BugSet;
use relaysim_harness::check::Failure;
use relaysim_harness::report::failure_report;
use relaysim_harness::runner::{
    default_jobs, BatchOptions, BatchReport, Isolation, RunOptions, SEED_WALL_LIMIT,
};
use relaysim_harness::{AnyScenario, EngineKind, Seed, SeedOutcome, SeedRange};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Failure reports printed in full per scenario; later failures get one
/// line each (their plans are saved all the same).
const FULL_REPORTS: u64 = 5;

/// Where failing plans go unless `--failures-dir` says otherwise.
pub const DEFAULT_FAILURES_DIR: &str = "target/relaysim/failures";

/// Arguments of `relaysim run`.
#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// Scenario name (see `relaysim list`).
    pub scenario: Option<String>,
    /// Run every scenario.
    #[arg(long, conflicts_with = "scenario")]
    pub all: bool,
    /// N (seeds 0..N) or A..B; default: each scenario's default range.
    #[arg(long)]
    pub seeds: Option<String>,
    /// Switch a known bug on (repeatable).
    #[arg(long = "bug", value_name = "ID")]
    pub bugs: Vec<String>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// One JSON line per seed as it finishes, a summary and a completion
    /// record per scenario.
    #[arg(long)]
    pub json: bool,
    /// Print the coverage table of `sometimes` checks.
    #[arg(long)]
    pub coverage: bool,
    /// Rerun the seeds in a second process and compare trace hashes.
    #[arg(long)]
    pub check_determinism: bool,
    /// Run only shard K of N of the seed range (e.g. 3/8).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Where every failing seed's plan is saved
    /// (default: target/relaysim/failures).
    #[arg(long, value_name = "DIR")]
    pub failures_dir: Option<PathBuf>,
    /// Run seeds in supervised worker processes (default; a seed that
    /// never yields or aborts is a timeout or crash and the range goes on)
    /// or in worker threads of this process (faster to start).
    #[arg(long, value_enum, default_value_t)]
    pub isolation: IsolationArg,
    /// Each seed's wall-clock budget in seconds; a seed past it is a
    /// timeout (default: 120).
    #[arg(long, value_name = "SECS")]
    pub seed_timeout: Option<u64>,
    /// The simulation engine: turmoil (the reference) or fast (the
    /// event-driven engine for sweeps).
    #[arg(long, default_value_t = EngineKind::Turmoil)]
    pub engine: EngineKind,
    /// Run each seed on both engines and fail a seed whose verdicts differ
    /// (pass, or the failing check); traces may differ.
    #[arg(long, conflicts_with_all = ["engine", "check_determinism", "shard"])]
    pub cross_engine: bool,
}

/// `--isolation`: how a batch runs its seeds.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IsolationArg {
    /// Supervised worker processes of this binary.
    #[default]
    Processes,
    /// Worker threads of this process.
    Threads,
}

/// `--seed-timeout SECS` as a budget (at least one second).
pub fn parse_seed_timeout(secs: Option<u64>) -> Result<Duration, String> {
    match secs {
        Some(0) => Err("invalid --seed-timeout 0: a seed needs at least 1 second".into()),
        Some(s) if s > 86_400 => Err(format!(
            "invalid --seed-timeout {s}: at most 86400 seconds (a day) per seed"
        )),
        Some(s) => Ok(Duration::from_secs(s)),
        None => Ok(SEED_WALL_LIMIT),
    }
}

/// Parses `K/N` (1-based K).
pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("invalid shard {s:?}: expected K/N with 1 <= K <= N, e.g. 3/8");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let k: u64 = k.trim().parse().map_err(|_| bad())?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// The worker-thread count: `--jobs N` (at least 1) or every core.
pub fn parse_jobs(jobs: Option<usize>) -> Result<usize, String> {
    match jobs {
        Some(0) => Err("invalid --jobs 0: at least one worker is needed".into()),
        Some(n) => Ok(n),
        None => Ok(default_jobs()),
    }
}

/// What one scenario's batch is run with.
pub struct RunCtx<'a> {
    /// Known bugs switched on.
    pub bugs: BugSet,
    /// Worker threads.
    pub jobs: usize,
    /// One JSON line per seed as it finishes (and no progress bar).
    pub json: bool,
    /// No progress bar.
    pub quiet: bool,
    /// Print each failure's report as it is found (text mode).
    pub report_failures: bool,
    /// The range asked for, before sharding (for the records).
    pub requested: SeedRange,
    /// This shard, if any.
    pub shard: Option<(u64, u64)>,
    /// Where failing plans are saved (`None`: not saved).
    pub failures_dir: Option<&'a Path>,
    /// Set by Ctrl-C / SIGTERM.
    pub stop: Option<&'a AtomicBool>,
    /// Collect every seed's trace hash (for the determinism check).
    pub collect_hashes: bool,
    /// Judge coverage (off for `detect`'s clean sweep of few seeds).
    pub coverage: bool,
    /// Worker processes or threads.
    pub isolation: IsolationArg,
    /// Each seed's wall-clock budget.
    pub seed_timeout: Duration,
    /// The engine every seed runs on.
    pub engine: EngineKind,
}

/// One scenario's batch: its report, and what the streaming part found.
pub struct ScenarioRun {
    /// The batch.
    pub report: BatchReport,
    /// Write errors (plan files), one line each.
    pub write_errors: Vec<String>,
    /// Every seed's trace hash, when collected.
    pub hashes: BTreeMap<Seed, String>,
}

fn shard_text(shard: Option<(u64, u64)>) -> serde_json::Value {
    shard.map_or(serde_json::Value::Null, |(k, n)| json!(format!("{k}/{n}")))
}

fn seed_json(o: &SeedOutcome, scn: &str, ctx: &RunCtx<'_>, plan_file: Option<&str>) -> String {
    json!({
        "scenario": scn,
        "seed": o.seed.to_string(),
        "bugs": ctx.bugs.to_string(),
        "passed": o.passed(),
        "failure": o.failure.as_ref().map(|f| json!({
            "kind": f.kind.to_string(), "check": f.check, "detail": f.detail,
            "at_ms": f.at.as_millis() as u64, "plan_file": plan_file,
        })),
        "trace_hash": o.trace_hash,
        "sim_ms": o.sim_time.as_millis() as u64,
        "wall_ms": o.wall.as_secs_f64() * 1000.0,
        "range": ctx.requested.to_string(),
        "shard": shard_text(ctx.shard),
        "version": env!("CARGO_PKG_VERSION"),
    })
    .to_string()
}

/// The file a failing seed's plan is saved to.
pub fn failure_file(dir: &Path, scenario: &str, seed: Seed, bugs: BugSet) -> PathBuf {
    let bugs = if bugs.is_empty() {
        String::new()
    } else {
        format!("-{}", bugs.to_string().replace(',', "+"))
    };
    dir.join(format!("{scenario}-{seed}{bugs}.json"))
}

/// Saves a failing seed's plan; the path written.
fn save_failure(scn: &dyn AnyScenario, f: &Failure, dir: &Path) -> Result<String, String> {
    let path = failure_file(dir, scn.name, f.seed, f.bugs);
    let text = plan_file_json(
        scn,
        f.seed,
        f.bugs,
        f.engine,
        f.plan.as_ref(),
        Some(f.check.clone()),
    );
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, text + "\n"))
        .map_err(|e| format!("cannot save the failing plan to {}: {e}", path.display()))?;
    Ok(path.display().to_string())
}

/// Runs one scenario's batch: progress bar, streamed JSON lines, failing
/// plans saved and reported as they are found.
pub fn run_scenario(scn: &dyn AnyScenario, range: SeedRange, ctx: &RunCtx<'_>) -> ScenarioRun {
    let pb = progress(range.len(), scn.name, ctx.json || ctx.quiet);
    let failures = AtomicU64::new(0);
    let write_errors = Mutex::new(Vec::new());
    let hashes = Mutex::new(BTreeMap::new());
    let cb = |o: &SeedOutcome| {
        let plan_file = match (&o.failure, ctx.failures_dir) {
            (Some(f), Some(dir)) => match save_failure(scn, f, dir) {
                Ok(p) => Some(p),
                Err(e) => {
                    pb.suspend(|| eprintln!("relaysim: error: {e}"));
                    write_errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(e);
                    None
                }
            },
            _ => None,
        };
        if ctx.collect_hashes {
            hashes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(o.seed, o.trace_hash.clone());
        }
        if ctx.json {
            outln!("{}", seed_json(o, scn.name, ctx, plan_file.as_deref()));
        } else if let (Some(f), true) = (&o.failure, ctx.report_failures) {
            let n = failures.load(Ordering::Relaxed);
            let mut f = f.clone();
            f.plan_file = plan_file;
            pb.suspend(|| {
                if n < FULL_REPORTS {
                    out!("{}", failure_report(&f));
                } else {
                    outln!(
                        "  also failed: {} ({} {}){}",
                        f.seed,
                        f.kind,
                        f.check,
                        f.plan_file
                            .as_ref()
                            .map(|p| format!(", plan {p}"))
                            .unwrap_or_default()
                    );
                }
            });
        }
        if o.failure.is_some() {
            failures.fetch_add(1, Ordering::Relaxed);
        }
        pb.set_message(format!("{} failed", failures.load(Ordering::Relaxed)));
        pb.inc(1);
    };
    // Without the executable (it cannot fail on a normal install) the
    // batch says so and runs in threads rather than not at all.
    let workers = match ctx.isolation {
        IsolationArg::Processes => match super::worker::command(scn, ctx.bugs, ctx.seed_timeout) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("relaysim: warning: {e}; running seeds in threads");
                None
            }
        },
        IsolationArg::Threads => None,
    };
    let report = scn.run_batch(
        range.into(),
        &BatchOptions {
            bugs: ctx.bugs,
            jobs: ctx.jobs,
            on_seed: Some(&cb),
            keep_outcomes: false,
            coverage: ctx.coverage,
            stop: ctx.stop,
            wall_limit: ctx.seed_timeout,
            isolation: workers
                .as_ref()
                .map_or(Isolation::Threads, Isolation::Processes),
            engine: ctx.engine,
            ..BatchOptions::default()
        },
    );
    pb.finish_and_clear();
    ScenarioRun {
        report,
        write_errors: write_errors.into_inner().unwrap_or_else(|p| p.into_inner()),
        hashes: hashes.into_inner().unwrap_or_else(|p| p.into_inner()),
    }
}

/// `relaysim run`.
pub fn run(args: &RunArgs) -> Result<Status, String> {
    let bugs = parse_bugs(&args.bugs)?;
    let scenarios: Vec<&dyn AnyScenario> = match (&args.scenario, args.all) {
        (Some(name), false) => vec![find(name)?],
        (None, true) => all().to_vec(),
        _ => return Err("name a scenario or pass --all (see `relaysim list`)".into()),
    };
    let explicit = args.seeds.as_deref().map(SeedRange::parse).transpose()?;
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    let jobs = parse_jobs(args.jobs)?;
    let seed_timeout = parse_seed_timeout(args.seed_timeout)?;
    let failures_dir = args
        .failures_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_FAILURES_DIR));
    if args.cross_engine {
        let mut ok = true;
        for scn in scenarios {
            let range = explicit.unwrap_or(SeedRange::new(0, scn.default_seeds));
            ok &= cross_engine(scn, range, bugs, jobs, args.json);
        }
        return Ok(if ok { Status::Passed } else { Status::Failed });
    }
    let signals = Interrupts::install()?;
    let mut ok = true;
    let mut write_failed = false;
    for scn in scenarios {
        if signals.fired() {
            break;
        }
        let requested = explicit.unwrap_or(SeedRange::new(0, scn.default_seeds));
        let range = match shard {
            Some((k, n)) => requested.shard(k, n)?,
            None => requested,
        };
        if !args.json {
            eprintln!(
                "relaysim: scenario={} seeds={range} bugs={bugs} jobs={jobs}{}",
                scn.name,
                shard
                    .map(|(k, n)| format!(" shard={k}/{n}"))
                    .unwrap_or_default()
            );
        }
        let ctx = RunCtx {
            bugs,
            jobs,
            json: args.json,
            quiet: args.json,
            report_failures: !args.json,
            requested,
            shard,
            failures_dir: Some(&failures_dir),
            stop: Some(signals.flag()),
            collect_hashes: args.check_determinism,
            coverage: true,
            isolation: args.isolation,
            seed_timeout,
            engine: args.engine,
        };
        let run = if range.is_empty() {
            None
        } else {
            Some(run_scenario(scn, range, &ctx))
        };
        let (report, errors) = match &run {
            Some(r) => (Some(&r.report), r.write_errors.len()),
            None => (None, 0),
        };
        write_failed |= errors > 0;
        ok &= report.is_none_or(|r| r.passed());
        summarize(scn, range, &ctx, report, args.coverage);
        if let (Some(r), true) = (&run, args.check_determinism) {
            if !r.report.interrupted {
                ok &= check_determinism_across_processes(
                    scn,
                    range,
                    bugs,
                    jobs,
                    &r.hashes,
                    args.json,
                    args.engine,
                )?;
            }
        }
    }
    if let Some(code) = signals.exit_code() {
        eprintln!(
            "relaysim: interrupted by {}; what ran is above, failing plans are in {}",
            if code == 143 { "SIGTERM" } else { "SIGINT" },
            failures_dir.display()
        );
        return Ok(Status::Interrupted { code });
    }
    if write_failed {
        return Err(format!(
            "failing plans could not all be saved under {} (see above)",
            failures_dir.display()
        ));
    }
    Ok(ok.into())
}

/// The scenario's summary line, coverage table, batch-level failures and
/// completion record.
fn summarize(
    scn: &dyn AnyScenario,
    range: SeedRange,
    ctx: &RunCtx<'_>,
    report: Option<&BatchReport>,
    coverage: bool,
) {
    let (ran, failed, wall, sim, interrupted) = report.map_or((0, 0, 0.0, 0.0, false), |r| {
        (
            r.ran,
            r.failed,
            r.wall.as_secs_f64().max(1e-9),
            r.sim_time().as_secs_f64(),
            r.interrupted,
        )
    });
    let batch_failures: Vec<&Failure> = report
        .map(|r| {
            r.failures
                .iter()
                .filter(|f| {
                    matches!(
                        f.kind,
                        relaysim_harness::check::FailureKind::Determinism
                            | relaysim_harness::check::FailureKind::Coverage
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let failed_total = failed + batch_failures.len() as u64;
    if ctx.json {
        for f in &batch_failures {
            outln!(
                "{}",
                json!({"batch_failure": scn.name, "kind": f.kind.to_string(), "check": f.check,
                       "seed": f.seed.to_string(), "detail": f.detail})
            );
        }
        outln!(
            "{}",
            json!({
                "summary": scn.name, "seeds": ran, "failed": failed_total,
                "passed": report.is_none_or(|r| r.passed()), "wall_s": wall,
                "seeds_per_s": ran as f64 / wall,
                "sim_s_per_wall_s": sim / wall,
                "coverage": report.map(|r| r.coverage.iter().map(|(c, h)| json!({"check": c, "hits": h})).collect::<Vec<_>>()).unwrap_or_default(),
            })
        );
        outln!(
            "{}",
            json!({
                "complete": scn.name, "range": ctx.requested.to_string(), "shard": shard_text(ctx.shard),
                "seeds": ran, "expected": range.len(), "bugs": ctx.bugs.to_string(),
                "version": env!("CARGO_PKG_VERSION"), "interrupted": interrupted,
            })
        );
        return;
    }
    for f in &batch_failures {
        out!("{}", failure_report(f));
    }
    outln!(
        "{:<26} {:>5} seeds  {:>4} failed  {:>7.2}s wall  {:>8.1} seeds/s  {:>9.0} sim-s/wall-s{}",
        scn.name,
        ran,
        failed_total,
        wall,
        ran as f64 / wall,
        sim / wall,
        if interrupted {
            format!("  INTERRUPTED after {ran} of {} seeds", range.len())
        } else {
            String::new()
        }
    );
    if coverage {
        if let Some(r) = report {
            for (check, hits) in &r.coverage {
                outln!("    sometimes {check:<36} {hits:>5} / {ran} seeds");
            }
        }
    }
}

/// Reruns `range` in a second `relaysim` process and compares trace hashes
/// seed by seed; on a mismatch prints the first diverging trace line of
/// both. The second run must exit as a run does (0 or 1), and report every
/// seed of the range: a dead or short second run is a failure, never a
/// pass.
fn check_determinism_across_processes(
    scn: &dyn AnyScenario,
    range: SeedRange,
    bugs: BugSet,
    jobs: usize,
    mine: &BTreeMap<Seed, String>,
    json_out: bool,
    engine: EngineKind,
) -> Result<bool, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the relaysim executable: {e}"))?;
    let mut cmd = std::process::Command::new(&exe);
    cmd.args([
        "run",
        scn.name,
        "--seeds",
        &format!("{}..{}", range.start, range.end),
        "--json",
    ])
    .args(["--jobs", &jobs.to_string()])
    .args(["--engine", engine.name()]);
    for b in bugs.iter() {
        cmd.args(["--bug", b.id()]);
    }
    let dir = std::env::temp_dir().join(format!("relaysim-determinism-{}", std::process::id()));
    cmd.arg("--failures-dir").arg(&dir);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let _ = std::fs::remove_dir_all(&dir);
    let mut problems = Vec::new();
    match out.status.code() {
        Some(0 | 1) => {}
        Some(c) => problems.push(format!("the second process exited with code {c}")),
        None => problems.push("the second process was killed by a signal".to_string()),
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut theirs: BTreeMap<Seed, String> = BTreeMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            problems.push(format!(
                "the second process wrote a line that is not JSON: {line:?}"
            ));
            continue;
        };
        if let (Some(seed), Some(hash)) = (v["seed"].as_str(), v["trace_hash"].as_str()) {
            if let Ok(seed) = Seed::parse(seed) {
                theirs.insert(seed, hash.to_string());
            }
        }
    }
    if theirs.len() as u64 != range.len() {
        problems.push(format!(
            "the second process reported {} of {} seeds",
            theirs.len(),
            range.len()
        ));
    }
    let mut ok = problems.is_empty();
    for p in &problems {
        if json_out {
            outln!("{}", json!({"determinism": scn.name, "error": p}));
        } else {
            outln!(
                "---- relaysim: scenario `{}` FAILED (determinism) ----\n  {p}",
                scn.name
            );
        }
    }
    let mut compared = 0;
    for (seed, hash) in &theirs {
        let Some(my_hash) = mine.get(seed) else {
            continue;
        };
        compared += 1;
        if hash == my_hash {
            continue;
        }
        ok = false;
        // Both traces, for the first diverging line.
        let my_text = scn
            .run_seed(
                *seed,
                &RunOptions {
                    bugs,
                    engine,
                    ..RunOptions::default()
                },
                &AtomicBool::new(false),
            )
            .trace
            .text();
        let mut cmd = std::process::Command::new(&exe);
        cmd.args([
            "replay",
            scn.name,
            "--seed",
            &seed.to_string(),
            "--trace-only",
            "--engine",
            engine.name(),
        ]);
        for b in bugs.iter() {
            cmd.args(["--bug", b.id()]);
        }
        let other = cmd
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        let other_text: String = String::from_utf8_lossy(&other.stdout)
            .lines()
            .filter(|l| !l.starts_with("trace-hash: "))
            .map(|l| format!("{l}\n"))
            .collect();
        let (line, a, b) = relaysim_harness::trace::first_divergence(&my_text, &other_text)
            .unwrap_or((0, "<same text>".into(), "<same text>".into()));
        if json_out {
            outln!(
                "{}",
                json!({"determinism": scn.name, "seed": seed.to_string(), "this_hash": my_hash, "other_hash": hash,
                       "line": line, "this": a, "other": b})
            );
        } else {
            outln!(
                "---- relaysim: scenario `{}` FAILED (determinism) at seed {seed} ----\n  trace hash {my_hash} in this process, {hash} in a second one\n  first divergence at line {line}:\n    this process  : {a}\n    second process: {b}\n  replay   : {}",
                scn.name,
                relaysim_harness::report::replay_cli(&scn.replay, scn.name, *seed, bugs, None, engine)
            );
        }
    }
    if !json_out {
        outln!(
            "determinism {:<22} {compared} seeds compared across processes, {}",
            scn.name,
            if ok { "all identical" } else { "MISMATCH" }
        );
    }
    Ok(ok)
}

/// A seed's verdict, as the cross-engine check compares it: pass, or the
/// kind and check of its failure.
fn verdict(o: &SeedOutcome) -> String {
    match &o.failure {
        None => "pass".to_string(),
        Some(f) => format!("{} {}", f.kind, f.check),
    }
}

/// `run --cross-engine`: every seed of `range` on turmoil and on the fast
/// engine (worker threads), compared verdict by verdict. Prints each
/// disagreement (both verdicts, both failure details, the replay commands)
/// and a summary; true when every seed agrees.
pub fn cross_engine(
    scn: &dyn AnyScenario,
    range: SeedRange,
    bugs: BugSet,
    jobs: usize,
    json_out: bool,
) -> bool {
    let batch = |engine| {
        scn.run_batch(
            range.into(),
            &BatchOptions {
                bugs,
                jobs,
                engine,
                coverage: false,
                determinism_every: 0,
                ..BatchOptions::default()
            },
        )
    };
    let (reference, fast) = (batch(EngineKind::Turmoil), batch(EngineKind::Fast));
    let fast_by_seed: BTreeMap<Seed, &SeedOutcome> =
        fast.outcomes.iter().map(|o| (o.seed, o)).collect();
    let mut agree = 0u64;
    let mut differ = Vec::new();
    for a in &reference.outcomes {
        let Some(b) = fast_by_seed.get(&a.seed) else {
            differ.push((a.seed, verdict(a), "no outcome".to_string()));
            continue;
        };
        let (va, vb) = (verdict(a), verdict(b));
        if va == vb {
            agree += 1;
            continue;
        }
        if json_out {
            outln!(
                "{}",
                json!({"cross_engine": scn.name, "seed": a.seed.to_string(), "bugs": bugs.to_string(),
                       "turmoil": va, "fast": vb,
                       "turmoil_detail": a.failure.as_ref().map(|f| f.detail.clone()),
                       "fast_detail": b.failure.as_ref().map(|f| f.detail.clone())})
            );
        } else {
            outln!(
                "---- relaysim: scenario `{}` engines DISAGREE at seed {} ----\n  turmoil : {va}{}\n  fast    : {vb}{}\n  replay  : {}\n            {}",
                scn.name,
                a.seed,
                a.failure.as_ref().map(|f| format!(" ({})", f.detail)).unwrap_or_default(),
                b.failure.as_ref().map(|f| format!(" ({})", f.detail)).unwrap_or_default(),
                relaysim_harness::report::replay_cli(&scn.replay, scn.name, a.seed, bugs, None, EngineKind::Turmoil),
                relaysim_harness::report::replay_cli(&scn.replay, scn.name, a.seed, bugs, None, EngineKind::Fast),
            );
        }
        differ.push((a.seed, va, vb));
    }
    let compared = reference.outcomes.len() as u64;
    if json_out {
        outln!(
            "{}",
            json!({"cross_engine_summary": scn.name, "range": range.to_string(), "bugs": bugs.to_string(),
                   "compared": compared, "agree": agree, "differ": differ.len(),
                   "turmoil_failed": reference.failed, "fast_failed": fast.failed})
        );
    } else {
        outln!(
            "cross-engine {:<24} {compared} seeds, {agree} agree, {} differ (turmoil failed {}, fast failed {})",
            scn.name,
            differ.len(),
            reference.failed,
            fast.failed
        );
    }
    differ.is_empty() && compared == range.len()
}
