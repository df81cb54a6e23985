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
use relaysim_harness::{Scenario, Seed, SeedOutcome, SeedRange};
use serde_json::json;
use std::sync::atomic::AtomicBool;

pub fn parse_bugs(ids: &[String]) -> Result<BugSet, String> {
    let mut set = BugSet::NONE;
    for id in ids {
        for part in id.split(',').filter(|p| !p.is_empty()) {
            set = set.with(parse_bug(part)?);
        }
    }
    Ok(set)
}

pub fn list(json_out: bool) -> Result<bool, String> {
    for s in all() {
        let targets: Vec<&str> = s.targets.iter().map(|b| b.id()).collect();
        if json_out {
            println!(
                "{}",
                json!({
                    "scenario": s.name, "family": s.family, "about": s.about,
                    "targets": targets, "default_seeds": s.default_seeds,
                    "tick_ms": s.tick.as_millis() as u64, "duration_s": s.duration.as_secs(),
                    "checks": s.checks.iter().map(|c| c.name).collect::<Vec<_>>(),
                })
            );
        } else {
            println!(
                "{:<22} {:<10} seeds={:<4} targets={:<24} {}",
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
    let jobs = args.jobs.unwrap_or_else(default_jobs).max(1);
    let mut ok = true;
    for scn in scenarios {
        let range = explicit.unwrap_or(SeedRange::new(0, scn.default_seeds));
        if !args.json {
            eprintln!(
                "relaysim: scenario={} seeds={range} bugs={bugs} jobs={jobs}",
                scn.name
            );
        }
        let report = run_scenario(scn, range, bugs, jobs, args.json);
        ok &= report.passed();
        let wall = report.wall.as_secs_f64().max(1e-9);
        let n = report.outcomes.len();
        if args.json {
            for o in &report.outcomes {
                println!("{}", seed_json(o, scn.name, bugs));
            }
            println!(
                "{}",
                json!({
                    "summary": scn.name, "seeds": n, "failed": report.failures.len(),
                    "passed": report.passed(), "wall_s": wall,
                    "seeds_per_s": n as f64 / wall,
                    "sim_s_per_wall_s": report.sim_time().as_secs_f64() / wall,
                    "coverage": report.coverage.iter().map(|(c, h)| json!({"check": c, "hits": h})).collect::<Vec<_>>(),
                })
            );
            continue;
        }
        println!(
            "{:<22} {:>5} seeds  {:>4} failed  {:>7.2}s wall  {:>8.1} seeds/s  {:>9.0} sim-s/wall-s",
            scn.name,
            n,
            report.failures.len(),
            wall,
            n as f64 / wall,
            report.sim_time().as_secs_f64() / wall
        );
        if args.coverage {
            for (check, hits) in &report.coverage {
                println!("    sometimes {check:<36} {hits:>5} / {n} seeds");
            }
        }
        if let Some(first) = report.first_failure() {
            print!("{}", failure_report(first));
            if report.failures.len() > 1 {
                let more: Vec<String> = report
                    .failures
                    .iter()
                    .filter(|f| f.seed != first.seed || f.check != first.check)
                    .take(20)
                    .map(|f| format!("{} ({} {})", f.seed, f.kind, f.check))
                    .collect();
                println!("  also failed: {}", more.join(", "));
            }
        }
    }
    Ok(ok)
}

/// Replays one seed: banner, trace, verdict, then `trace-hash: <hex>` last.
pub fn replay(scenario: &str, seed: &str, bugs: &[String]) -> Result<bool, String> {
    let scn = find(scenario)?;
    let seed = Seed::parse(seed)?;
    let bugs = parse_bugs(bugs)?;
    let plan = (scn.plan)(seed);
    println!("{}", banner(scn, seed, bugs, &plan));
    let outcome = run_seed(
        scn,
        seed,
        &RunOptions {
            bugs,
            plan: Some(plan),
            ..RunOptions::default()
        },
        &AtomicBool::new(false),
    );
    print!("{}", outcome.trace.text());
    match &outcome.failure {
        Some(f) => print!("{}", failure_report(f)),
        None => println!(
            "PASS: every check held ({} events)",
            outcome.trace.entries.len()
        ),
    }
    println!("trace-hash: {}", outcome.trace_hash);
    Ok(outcome.passed())
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
        println!(
            "{:<24} {:<22} {:>12} {:>6} {:>10}  check",
            "bug", "scenario", "first-seed", "tried", "wall-ms"
        );
    }
    for bug in bugs {
        let d = detect_one(bug, budget, jobs);
        ok &= d.first_failing_seed.is_some();
        if json_out {
            println!(
                "{}",
                json!({
                    "bug": bug.id(), "scenario": d.scenario,
                    "first_failing_seed": d.first_failing_seed.map(|s| s.to_string()),
                    "seeds_tried": d.seeds_tried, "wall_ms": d.wall_ms, "check": d.check,
                })
            );
        } else {
            println!(
                "{:<24} {:<22} {:>12} {:>6} {:>10.1}  {}",
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
                println!(
                    "{}",
                    json!({"clean": scn.name, "seeds": report.outcomes.len(), "failed": report.failures.len()})
                );
            } else {
                println!(
                    "clean {:<22} {} seeds, {} failed",
                    scn.name,
                    report.outcomes.len(),
                    report.failures.len()
                );
                if let Some(f) = report.first_failure() {
                    print!("{}", failure_report(f));
                }
            }
        }
    }
    Ok(ok)
}
