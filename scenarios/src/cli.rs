//! The `relaysim` subcommands, as library functions (the binary only parses
//! arguments), so tests can call them.
//!
//! Each returns `Ok(true)` for success, `Ok(false)` for a failure found, and
//! `Err(one line)` for bad input.

use crate::catalog::{all, find, find_bug_scenario, parse_bug};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use relaysim_core::{BugSet, KnownBug};
use relaysim_harness::report::{banner, failure_report};
use relaysim_harness::runner::{
    default_jobs, run_batch, run_seed, BatchOptions, BatchReport, RunOptions,
};
use relaysim_harness::{FaultPlan, PlanFile, Scenario, Seed, SeedOutcome, SeedRange};
use serde_json::json;
use std::sync::atomic::AtomicBool;

/// `println!` that ends the process quietly when stdout is closed
/// (`relaysim replay … | head`).
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if writeln!(out, $($t)*).is_err() {
            std::process::exit(0);
        }
    }};
}

/// `print!` with the same behaviour.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if write!(out, $($t)*).is_err() {
            std::process::exit(0);
        }
    }};
}

pub fn parse_bugs(ids: &[String]) -> Result<BugSet, String> {
    let mut set = BugSet::NONE;
    for id in ids {
        for part in id.split(',').filter(|p| !p.is_empty()) {
            set = set.try_with(parse_bug(part)?).map_err(|e| e.to_string())?;
        }
    }
    Ok(set)
}

pub fn list(json_out: bool) -> Result<bool, String> {
    for s in all() {
        let targets: Vec<&str> = s.targets.iter().map(|b| b.id()).collect();
        if json_out {
            outln!(
                "{}",
                json!({
                    "scenario": s.name, "family": s.family, "about": s.about,
                    "targets": targets, "default_seeds": s.default_seeds,
                    "tick_ms": s.tick.as_millis() as u64, "duration_s": s.duration.as_secs(),
                    "checks": s.checks.iter().map(|c| c.name).collect::<Vec<_>>(),
                })
            );
        } else {
            outln!(
                "{:<26} {:<10} seeds={:<4} targets={:<50} {}",
                s.name,
                s.family,
                s.default_seeds,
                if targets.is_empty() {
                    "-".to_string()
                } else {
                    targets.join(",")
                },
                s.about
            );
        }
    }
    // The core's fault points a plan can switch on (by family prefix).
    if !json_out {
        outln!("\nfault points (feature `fault-points`):");
    }
    for (site, about) in relaysim_core::faults::SITES {
        if json_out {
            outln!("{}", json!({"fault_point": site, "about": about}));
        } else {
            outln!("  {site:<32} {about}");
        }
    }
    Ok(true)
}

pub struct RunArgs {
    pub scenario: Option<String>,
    pub all: bool,
    pub seeds: Option<String>,
    pub bugs: Vec<String>,
    pub jobs: Option<usize>,
    pub json: bool,
    pub coverage: bool,
    pub check_determinism: bool,
    pub shard: Option<String>,
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

fn progress(len: u64, label: &str, quiet: bool) -> ProgressBar {
    let hidden = quiet || std::env::var_os("CI").is_some();
    let pb = ProgressBar::with_draw_target(
        Some(len),
        if hidden {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    pb.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} seeds, {msg} {per_sec} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_prefix(label.to_string());
    pb
}

fn seed_json(o: &SeedOutcome, scenario: &str, bugs: BugSet) -> serde_json::Value {
    json!({
        "scenario": scenario,
        "seed": o.seed.to_string(),
        "bugs": bugs.to_string(),
        "passed": o.passed(),
        "failure": o.failure.as_ref().map(|f| json!({
            "kind": f.kind.to_string(), "check": f.check, "detail": f.detail, "at_ms": f.at.as_millis() as u64,
        })),
        "trace_hash": o.trace_hash,
        "sim_ms": o.sim_time.as_millis() as u64,
        "wall_ms": o.wall.as_secs_f64() * 1000.0,
    })
}

/// Runs one scenario's batch with a progress bar.
pub fn run_scenario(
    scn: &Scenario,
    range: SeedRange,
    bugs: BugSet,
    jobs: usize,
    quiet: bool,
) -> BatchReport {
    let pb = progress(range.len(), scn.name, quiet);
    let failures = std::sync::atomic::AtomicU64::new(0);
    let cb = |o: &SeedOutcome| {
        if !o.passed() {
            failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        pb.set_message(format!(
            "{} failed",
            failures.load(std::sync::atomic::Ordering::Relaxed)
        ));
        pb.inc(1);
    };
    let seeds: Vec<Seed> = range.seeds().collect();
    let report = run_batch(
        scn,
        &seeds,
        &BatchOptions {
            bugs,
            jobs,
            on_seed: Some(&cb),
            ..BatchOptions::default()
        },
    );
    pb.finish_and_clear();
    report
}

pub fn run(args: RunArgs) -> Result<bool, String> {
    let bugs = parse_bugs(&args.bugs)?;
    let scenarios: Vec<&Scenario> = match (&args.scenario, args.all) {
        (Some(name), false) => vec![find(name)?],
        (None, true) => all().to_vec(),
        _ => return Err("name a scenario or pass --all (see `relaysim list`)".into()),
    };
    let explicit = args.seeds.as_deref().map(SeedRange::parse).transpose()?;
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    let jobs = args.jobs.unwrap_or_else(default_jobs).max(1);
    let mut ok = true;
    for scn in scenarios {
        let mut range = explicit.unwrap_or(SeedRange::new(0, scn.default_seeds));
        if let Some((k, n)) = shard {
            range = range.shard(k, n)?;
            if range.is_empty() {
                continue;
            }
        }
        if !args.json {
            eprintln!(
                "relaysim: scenario={} seeds={range} bugs={bugs} jobs={jobs}{}",
                scn.name,
                shard
                    .map(|(k, n)| format!(" shard={k}/{n}"))
                    .unwrap_or_default()
            );
        }
        let report = run_scenario(scn, range, bugs, jobs, args.json);
        ok &= report.passed();
        let wall = report.wall.as_secs_f64().max(1e-9);
        let n = report.outcomes.len();
        if args.json {
            for o in &report.outcomes {
                outln!("{}", seed_json(o, scn.name, bugs));
            }
            outln!(
                "{}",
                json!({
                    "summary": scn.name, "seeds": n, "failed": report.failures.len(),
                    "passed": report.passed(), "wall_s": wall,
                    "seeds_per_s": n as f64 / wall,
                    "sim_s_per_wall_s": report.sim_time().as_secs_f64() / wall,
                    "coverage": report.coverage.iter().map(|(c, h)| json!({"check": c, "hits": h})).collect::<Vec<_>>(),
                })
            );
        } else {
            outln!(
                "{:<26} {:>5} seeds  {:>4} failed  {:>7.2}s wall  {:>8.1} seeds/s  {:>9.0} sim-s/wall-s",
                scn.name,
                n,
                report.failures.len(),
                wall,
                n as f64 / wall,
                report.sim_time().as_secs_f64() / wall
            );
            if args.coverage {
                for (check, hits) in &report.coverage {
                    outln!("    sometimes {check:<36} {hits:>5} / {n} seeds");
                }
            }
            if let Some(first) = report.first_failure() {
                out!("{}", failure_report(first));
                if report.failures.len() > 1 {
                    let more: Vec<String> = report
                        .failures
                        .iter()
                        .filter(|f| f.seed != first.seed || f.check != first.check)
                        .take(20)
                        .map(|f| format!("{} ({} {})", f.seed, f.kind, f.check))
                        .collect();
                    outln!("  also failed: {}", more.join(", "));
                }
            }
        }
        if args.check_determinism {
            ok &= check_determinism_across_processes(scn, range, bugs, jobs, &report, args.json)?;
        }
    }
    Ok(ok)
}

/// Reruns `range` in a second `relaysim` process and compares trace hashes
/// seed by seed; on a mismatch prints the first diverging trace line of both.
fn check_determinism_across_processes(
    scn: &Scenario,
    range: SeedRange,
    bugs: BugSet,
    jobs: usize,
    report: &BatchReport,
    json_out: bool,
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
    .args(["--jobs", &jobs.to_string()]);
    for b in bugs.iter() {
        cmd.args(["--bug", b.id()]);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut theirs: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("bad output from the second process: {e}"))?;
        if let (Some(seed), Some(hash)) = (v["seed"].as_str(), v["trace_hash"].as_str()) {
            theirs.insert(seed.to_string(), hash.to_string());
        }
    }
    let mut ok = true;
    let mut compared = 0;
    for o in &report.outcomes {
        let seed = o.seed.to_string();
        let Some(hash) = theirs.get(&seed) else {
            continue;
        };
        compared += 1;
        if *hash == o.trace_hash {
            continue;
        }
        ok = false;
        // Both traces, for the first diverging line.
        let mine = run_seed(
            scn,
            o.seed,
            &RunOptions {
                bugs,
                ..RunOptions::default()
            },
            &AtomicBool::new(false),
        )
        .trace
        .text();
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["replay", scn.name, "--seed", &seed, "--trace-only"]);
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
        let (line, a, b) = relaysim_harness::trace::first_divergence(&mine, &other_text)
            .unwrap_or((0, "<same text>".into(), "<same text>".into()));
        if json_out {
            outln!(
                "{}",
                json!({"determinism": scn.name, "seed": seed, "this_hash": o.trace_hash, "other_hash": hash,
                       "line": line, "this": a, "other": b})
            );
        } else {
            outln!(
                "---- relaysim: scenario `{}` FAILED (determinism) at seed {seed} ----\n  trace hash {} in this process, {hash} in a second one\n  first divergence at line {line}:\n    this process  : {a}\n    second process: {b}\n  replay   : {}",
                scn.name,
                o.trace_hash,
                relaysim_harness::report::replay_cli(scn.name, o.seed, bugs)
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

/// What `relaysim replay` was asked for.
#[derive(Default)]
pub struct ReplayArgs {
    pub scenario: String,
    pub seed: Option<String>,
    pub bugs: Vec<String>,
    pub plan: Option<std::path::PathBuf>,
    pub save_plan: Option<std::path::PathBuf>,
    pub html: Option<std::path::PathBuf>,
    pub trace_only: bool,
}

/// Replays one seed (or a plan file): banner, trace, verdict, then
/// `trace-hash: <hex>` last.
pub fn replay(args: ReplayArgs) -> Result<bool, String> {
    let scn = find(&args.scenario)?;
    let file = args.plan.as_deref().map(PlanFile::read).transpose()?;
    if let Some(f) = &file {
        if f.scenario != scn.name {
            return Err(format!(
                "plan file {} is for scenario {:?}, not {:?}",
                args.plan
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                f.scenario,
                scn.name
            ));
        }
    }
    let seed = match (&args.seed, &file) {
        (Some(s), _) => Seed::parse(s)?,
        (None, Some(f)) => Seed::parse(&f.seed)?,
        (None, None) => return Err("give --seed S or --plan FILE".into()),
    };
    let bugs = match (&file, args.bugs.is_empty()) {
        (Some(f), true) => parse_bugs(&f.bugs)?,
        _ => parse_bugs(&args.bugs)?,
    };
    let plan = file.map(|f| f.plan).unwrap_or_else(|| (scn.plan)(seed));
    if !args.trace_only {
        outln!("{}", banner(scn, seed, bugs, &plan));
    }
    let outcome = run_seed(
        scn,
        seed,
        &RunOptions {
            bugs,
            plan: Some(plan.clone()),
            ..RunOptions::default()
        },
        &AtomicBool::new(false),
    );
    // Files first: printing ends the process quietly if stdout is closed.
    if let Some(path) = &args.save_plan {
        plan_file(
            scn,
            seed,
            bugs,
            &plan,
            outcome.failure.as_ref().map(|f| f.check.clone()),
        )
        .write(path)?;
        eprintln!("relaysim: plan written to {}", path.display());
    }
    if let Some(path) = &args.html {
        let title = format!("relaysim {} seed {seed} bugs {bugs}", scn.name);
        let html = relaysim_harness::timeline::render(
            &title,
            &outcome.trace,
            outcome.sim_time,
            outcome.failure.as_ref(),
            scn.links,
        );
        std::fs::write(path, html).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!(
            "relaysim: timeline written to {} (open it in a browser)",
            path.display()
        );
    }
    out!("{}", outcome.trace.text());
    if !args.trace_only {
        match &outcome.failure {
            Some(f) => out!("{}", failure_report(f)),
            None => outln!(
                "PASS: every check held ({} events)",
                outcome.trace.entries.len()
            ),
        }
    }
    outln!("trace-hash: {}", outcome.trace_hash);
    Ok(outcome.passed())
}

/// A plan file for one run.
pub fn plan_file(
    scn: &Scenario,
    seed: Seed,
    bugs: BugSet,
    plan: &FaultPlan,
    check: Option<String>,
) -> PlanFile {
    PlanFile {
        relaysim_plan: PlanFile::VERSION,
        scenario: scn.name.to_string(),
        seed: seed.to_string(),
        bugs: bugs.iter().map(|b| b.id().to_string()).collect(),
        check,
        postmortem: None,
        plan: plan.clone(),
    }
}

/// `relaysim shrink`: the minimal plan that still fails the same check.
pub fn shrink_cmd(
    scenario: &str,
    seed: &str,
    bugs: &[String],
    plan: Option<&std::path::Path>,
    out_file: Option<&std::path::Path>,
) -> Result<bool, String> {
    let scn = find(scenario)?;
    let seed = Seed::parse(seed)?;
    let bugs = parse_bugs(bugs)?;
    let start = match plan {
        Some(p) => {
            let f = PlanFile::read(p)?;
            if f.scenario != scn.name {
                return Err(format!(
                    "plan file {} is for scenario {:?}, not {:?}",
                    p.display(),
                    f.scenario,
                    scn.name
                ));
            }
            Some(f.plan)
        }
        None => None,
    };
    let shrunk = relaysim_harness::shrink::shrink(scn, seed, bugs, start)?;
    let file = plan_file(scn, seed, bugs, &shrunk.plan, Some(shrunk.check.clone()));
    // Files first: printing ends the process quietly if stdout is closed.
    if let Some(path) = out_file {
        file.write(path)?;
        eprintln!("relaysim: plan written to {}", path.display());
    }
    outln!(
        "shrunk {} seed {seed} bugs {bugs}: {} → {} fault events, still failing `{}` ({}), {} runs",
        scn.name,
        shrunk.original_events,
        shrunk.plan.len(),
        shrunk.check,
        shrunk.kind,
        shrunk.runs
    );
    outln!("plan file:\n{}", file.to_json());
    outln!("test literal:\n{}", shrunk.plan.to_literal());
    Ok(true)
}

/// `relaysim merge`: combines `run --json` outputs of shards.
pub fn merge(files: &[std::path::PathBuf], json_out: bool) -> Result<bool, String> {
    if files.is_empty() {
        return Err("name at least one file written by `relaysim run --json`".into());
    }
    // scenario → seed → (passed, failure json, bugs)
    let mut seeds: std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<u64, serde_json::Value>,
    > = Default::default();
    for path in files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
                format!(
                    "{}:{}: not a `relaysim run --json` line: {e}",
                    path.display(),
                    i + 1
                )
            })?;
            if v.get("summary").is_some() || v.get("determinism").is_some() {
                continue;
            }
            let (Some(scn), Some(seed)) = (v["scenario"].as_str(), v["seed"].as_str()) else {
                return Err(format!(
                    "{}:{}: a line without scenario and seed",
                    path.display(),
                    i + 1
                ));
            };
            let seed = Seed::parse(seed)?.0;
            if seeds
                .entry(scn.to_string())
                .or_default()
                .insert(seed, v.clone())
                .is_some()
            {
                return Err(format!(
                    "{}:{}: seed {seed:#x} of {scn} appears twice (overlapping shards?)",
                    path.display(),
                    i + 1
                ));
            }
        }
    }
    let mut ok = true;
    for (scn, by_seed) in &seeds {
        let failed: Vec<&serde_json::Value> = by_seed
            .values()
            .filter(|v| v["passed"] == json!(false))
            .collect();
        ok &= failed.is_empty();
        let lo = by_seed.keys().next().copied().unwrap_or(0);
        let hi = by_seed.keys().last().copied().unwrap_or(0);
        let contiguous = (hi - lo + 1) as usize == by_seed.len();
        if json_out {
            outln!(
                "{}",
                json!({"merged": scn, "seeds": by_seed.len(), "failed": failed.len(), "first": format!("{lo:#x}"),
                       "last": format!("{hi:#x}"), "contiguous": contiguous})
            );
        } else {
            outln!(
                "{scn:<22} {:>6} seeds ({lo:#x}..={hi:#x}{})  {:>4} failed",
                by_seed.len(),
                if contiguous { "" } else { ", with gaps" },
                failed.len()
            );
            for v in failed.iter().take(20) {
                let seed = v["seed"].as_str().unwrap_or("?");
                let bugs: Vec<String> = v["bugs"]
                    .as_str()
                    .filter(|b| *b != "none")
                    .map(|b| b.split(',').map(|x| format!(" --bug {x}")).collect())
                    .unwrap_or_default();
                outln!(
                    "    {seed}: {} {} — {}\n      replay: cargo run --release --bin relaysim -- replay {scn} --seed {seed}{}",
                    v["failure"]["kind"].as_str().unwrap_or("?"),
                    v["failure"]["check"].as_str().unwrap_or("?"),
                    v["failure"]["detail"].as_str().unwrap_or(""),
                    bugs.concat()
                );
            }
        }
    }
    Ok(ok)
}

/// One row of `relaysim detect`.
#[derive(Debug, Clone)]
pub struct Detection {
    pub bug: KnownBug,
    pub scenario: &'static str,
    pub first_failing_seed: Option<Seed>,
    pub seeds_tried: u64,
    pub wall_ms: f64,
    pub check: Option<String>,
}

/// Runs `bug`'s scenario with the bug on until the first failing seed.
pub fn detect_one(bug: KnownBug, budget: u64, jobs: usize) -> Detection {
    let scn = find_bug_scenario(bug);
    let seeds: Vec<Seed> = (0..budget).map(Seed).collect();
    let report = run_batch(
        scn,
        &seeds,
        &BatchOptions {
            bugs: BugSet::only(bug),
            jobs,
            stop_at_first_failure: true,
            determinism_every: 0,
            coverage: false,
            ..BatchOptions::default()
        },
    );
    let first = report.first_failure();
    Detection {
        bug,
        scenario: scn.name,
        first_failing_seed: first.map(|f| f.seed),
        seeds_tried: report.outcomes.len() as u64,
        wall_ms: report.wall.as_secs_f64() * 1000.0,
        check: first.map(|f| f.check.clone()),
    }
}

pub fn detect(
    ids: &[String],
    budget: u64,
    clean_seeds: u64,
    jobs: Option<usize>,
    json_out: bool,
) -> Result<bool, String> {
    let bugs: Vec<KnownBug> = if ids.is_empty() {
        KnownBug::ALL.to_vec()
    } else {
        ids.iter().map(|i| parse_bug(i)).collect::<Result<_, _>>()?
    };
    if budget == 0 {
        return Err("--budget must be at least 1".into());
    }
    let jobs = jobs.unwrap_or_else(default_jobs).max(1);
    let mut ok = true;
    if !json_out {
        outln!(
            "{:<30} {:<26} {:>12} {:>6} {:>10}  check",
            "bug",
            "scenario",
            "first-seed",
            "tried",
            "wall-ms"
        );
    }
    for bug in bugs {
        let d = detect_one(bug, budget, jobs);
        ok &= d.first_failing_seed.is_some();
        if json_out {
            outln!(
                "{}",
                json!({
                    "bug": bug.id(), "scenario": d.scenario,
                    "first_failing_seed": d.first_failing_seed.map(|s| s.to_string()),
                    "seeds_tried": d.seeds_tried, "wall_ms": d.wall_ms, "check": d.check,
                })
            );
        } else {
            outln!(
                "{:<30} {:<26} {:>12} {:>6} {:>10.1}  {}",
                bug.id(),
                d.scenario,
                d.first_failing_seed
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "NOT CAUGHT".into()),
                d.seeds_tried,
                d.wall_ms,
                d.check.as_deref().unwrap_or("-")
            );
        }
    }
    if clean_seeds > 0 {
        for scn in all() {
            let report = run_scenario(
                scn,
                SeedRange::new(0, clean_seeds),
                BugSet::NONE,
                jobs,
                json_out,
            );
            ok &= report.passed();
            if json_out {
                outln!(
                    "{}",
                    json!({"clean": scn.name, "seeds": report.outcomes.len(), "failed": report.failures.len()})
                );
            } else {
                outln!(
                    "clean {:<26} {} seeds, {} failed",
                    scn.name,
                    report.outcomes.len(),
                    report.failures.len()
                );
                if let Some(f) = report.first_failure() {
                    out!("{}", failure_report(f));
                }
            }
        }
    }
    Ok(ok)
}
