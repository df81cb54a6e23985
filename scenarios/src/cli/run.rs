//! `relaysim run`: scenarios over seed ranges on worker threads, shards of
//! a range, the coverage table, and the determinism check across processes.

use super::output::progress;
use super::parse_bugs;
use crate::catalog::{all, find};
use clap::Args;
use relaysim_core::BugSet;
use relaysim_harness::report::failure_report;
use relaysim_harness::runner::{default_jobs, BatchOptions, BatchReport, RunOptions};
use relaysim_harness::{AnyScenario, Seed, SeedOutcome, SeedRange};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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
    /// One JSON line per seed, then a summary line.
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
    scn: &dyn AnyScenario,
    range: SeedRange,
    bugs: BugSet,
    jobs: usize,
    quiet: bool,
) -> BatchReport {
    let pb = progress(range.len(), scn.name, quiet);
    let failures = AtomicU64::new(0);
    let cb = |o: &SeedOutcome| {
        if !o.passed() {
            failures.fetch_add(1, Ordering::Relaxed);
        }
        pb.set_message(format!("{} failed", failures.load(Ordering::Relaxed)));
        pb.inc(1);
    };
    let seeds: Vec<Seed> = range.seeds().collect();
    let report = scn.run_batch(
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

/// `relaysim run`.
pub fn run(args: &RunArgs) -> Result<bool, String> {
    let bugs = parse_bugs(&args.bugs)?;
    let scenarios: Vec<&dyn AnyScenario> = match (&args.scenario, args.all) {
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
    scn: &dyn AnyScenario,
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
        let mine = scn
            .run_seed(
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
