//! `relaysim detect`: every known bug a scenario declares is switched on
//! and caught within its seed budget, then every scenario runs clean with
//! every bug off. The bugs come from the scenarios' declarations
//! ([`crate::catalog::bugs`]), never from a hand-kept list.
//!
//! With `--rates`, each bug runs a whole seed range instead of stopping at
//! its first failure, and the table gives the share of seeds its declared
//! checks fail: under 5% is a weak oracle, and fails the command.

use super::run::run_scenario;
use crate::catalog::{all, find_bug_scenario, parse_bug};
use clap::Args;
use relaysim_core::{BugSet, KnownBug};
use relaysim_harness::detect::{detection_rate, first_detection_on, Detection, Rate};
use relaysim_harness::report::failure_report;
use relaysim_harness::EngineKind;
use relaysim_harness::SeedRange;
use serde_json::json;

/// Arguments of `relaysim detect`.
#[derive(Args, Debug, Clone)]
pub struct DetectArgs {
    /// Bug ids (default: every bug a scenario targets).
    pub ids: Vec<String>,
    /// Seeds tried per bug.
    #[arg(long, default_value_t = 50)]
    pub budget: u64,
    /// Seeds of each scenario run with every bug off (0 skips the clean sweep).
    #[arg(long, default_value_t = 100)]
    pub clean_seeds: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// One JSON line per bug and per scenario.
    #[arg(long)]
    pub json: bool,
    /// How the clean sweep runs its seeds (see `relaysim run --isolation`).
    #[arg(long, value_enum, default_value_t)]
    pub isolation: super::run::IsolationArg,
    /// Detection rates: run every seed of a range per bug (no stop at the
    /// first failure) and fail any bug its declared checks catch in under
    /// 5% of the seeds.
    #[arg(long)]
    pub rates: bool,
    /// Seeds per bug with `--rates` (default: the scenario's default range).
    #[arg(long, requires = "rates")]
    pub rate_seeds: Option<u64>,
    /// The simulation engine (see `relaysim run --engine`).
    #[arg(long, default_value_t = EngineKind::Turmoil)]
    pub engine: EngineKind,
}

impl Default for DetectArgs {
    fn default() -> Self {
        DetectArgs {
            ids: Vec::new(),
            budget: 50,
            clean_seeds: 100,
            jobs: None,
            json: false,
            isolation: super::run::IsolationArg::default(),
            rates: false,
            rate_seeds: None,
            engine: EngineKind::Turmoil,
        }
    }
}

/// Runs `bug`'s detection scenario with the bug on until the first
/// failing seed.
pub fn detect_one(bug: KnownBug, budget: u64, jobs: usize, engine: EngineKind) -> Detection {
    first_detection_on(find_bug_scenario(bug), bug, budget, jobs, engine)
}

/// `relaysim detect`.
pub fn run(args: &DetectArgs) -> Result<bool, String> {
    let (budget, clean_seeds, json_out) = (args.budget, args.clean_seeds, args.json);
    let bugs: Vec<KnownBug> = if args.ids.is_empty() {
        crate::catalog::bugs()
    } else {
        args.ids
            .iter()
            .map(|i| parse_bug(i))
            .collect::<Result<_, _>>()?
    };
    if budget == 0 {
        return Err("--budget must be at least 1".into());
    }
    let jobs = super::run::parse_jobs(args.jobs)?;
    if args.rate_seeds == Some(0) {
        return Err("--rate-seeds must be at least 1".into());
    }
    let mut ok = true;
    ok &= if args.rates {
        rates(&bugs, args.rate_seeds, jobs, args.engine, json_out)
    } else {
        first_detections(&bugs, budget, jobs, args.engine, json_out)
    };
    if clean_seeds > 0 {
        let range = SeedRange::new(0, clean_seeds);
        let failures_dir = std::path::PathBuf::from(super::run::DEFAULT_FAILURES_DIR);
        for scn in all() {
            let ctx = super::run::RunCtx {
                bugs: BugSet::NONE,
                jobs,
                json: false,
                quiet: json_out,
                report_failures: !json_out,
                requested: range,
                shard: None,
                failures_dir: Some(&failures_dir),
                stop: None,
                collect_hashes: false,
                coverage: true,
                isolation: args.isolation,
                seed_timeout: relaysim_harness::runner::SEED_WALL_LIMIT,
                engine: args.engine,
            };
            let run = run_scenario(*scn, range, &ctx);
            let report = &run.report;
            ok &= report.passed() && run.write_errors.is_empty();
            // Failing seeds, plus the batch's determinism and coverage failures.
            let batch_level = report
                .failures
                .iter()
                .filter(|f| {
                    matches!(
                        f.kind,
                        relaysim_harness::check::FailureKind::Determinism
                            | relaysim_harness::check::FailureKind::Coverage
                    )
                })
                .count() as u64;
            let failed = report.failed + batch_level;
            if json_out {
                outln!(
                    "{}",
                    json!({"clean": scn.name, "seeds": report.ran, "failed": failed,
                           "first_failure": report.first_failure().map(|f| json!({
                               "seed": f.seed.to_string(), "kind": f.kind.to_string(), "check": f.check, "detail": f.detail})),
                    })
                );
            } else {
                outln!(
                    "clean {:<26} {} seeds, {} failed",
                    scn.name,
                    report.ran,
                    failed
                );
                for f in report.failures.iter().filter(|f| {
                    matches!(
                        f.kind,
                        relaysim_harness::check::FailureKind::Determinism
                            | relaysim_harness::check::FailureKind::Coverage
                    )
                }) {
                    out!("{}", failure_report(f));
                }
            }
        }
    }
    Ok(ok)
}

/// Each bug's first failing seed within `budget`; false when one is not
/// caught, or not by a check its scenario declares.
fn first_detections(
    bugs: &[KnownBug],
    budget: u64,
    jobs: usize,
    engine: EngineKind,
    json_out: bool,
) -> bool {
    let mut ok = true;
    if !json_out {
        outln!(
            "{:<32} {:<26} {:>12} {:>6} {:>10}  check",
            "bug",
            "scenario",
            "first-seed",
            "tried",
            "wall-ms"
        );
    }
    for &bug in bugs {
        let d = detect_one(bug, budget, jobs, engine);
        let expected = find_bug_scenario(bug).checks_for(bug);
        // Caught, and by a check the scenario declares for this bug.
        let by_declared = d.check.as_deref().is_some_and(|c| expected.contains(&c));
        ok &= d.first_failing_seed.is_some() && by_declared;
        if json_out {
            outln!(
                "{}",
                json!({
                    "bug": bug.id(), "scenario": d.scenario,
                    "first_failing_seed": d.first_failing_seed.map(|s| s.to_string()),
                    "seeds_tried": d.seeds_tried, "wall_ms": d.wall_ms, "check": d.check,
                    "declared_checks": expected, "caught_by_declared": by_declared,
                })
            );
        } else {
            outln!(
                "{:<32} {:<26} {:>12} {:>6} {:>10.1}  {}",
                bug.id(),
                d.scenario,
                d.first_failing_seed
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "NOT CAUGHT".into()),
                d.seeds_tried,
                d.wall_ms,
                match (&d.check, by_declared) {
                    (Some(c), true) => c.clone(),
                    (Some(c), false) => format!("{c} (NOT one of the declared {expected:?})"),
                    (None, _) => "-".into(),
                }
            );
        }
    }
    ok
}

/// `--rates`: each bug over a whole range; false when any is weak.
fn rates(
    bugs: &[KnownBug],
    seeds: Option<u64>,
    jobs: usize,
    engine: EngineKind,
    json_out: bool,
) -> bool {
    let mut ok = true;
    if !json_out {
        outln!(
            "{:<32} {:<26} {:>6} {:>7} {:>8} {:>10}  checks (failing seeds)",
            "bug",
            "scenario",
            "seeds",
            "caught",
            "rate",
            "first-seed"
        );
    }
    for &bug in bugs {
        let scn = find_bug_scenario(bug);
        let n = seeds.unwrap_or(scn.info().default_seeds.max(1));
        let r = detection_rate(scn, bug, n, jobs, engine);
        ok &= !r.is_weak();
        if json_out {
            outln!("{}", rate_json(&r));
        } else {
            outln!("{}", rate_line(&r));
        }
    }
    ok
}

fn rate_json(r: &Rate) -> serde_json::Value {
    json!({
        "bug": r.bug.id(), "scenario": r.scenario, "seeds": r.seeds, "failed": r.failed,
        "caught_by_declared": r.by_declared, "rate_permille": r.declared_permille(),
        "weak": r.is_weak(), "by_check": r.by_check,
        "first_failing_seed": r.first_failing_seed.map(|s| s.to_string()), "wall_ms": r.wall_ms,
    })
}

/// One table row: the share of seeds caught by a declared check, and every
/// check that failed a seed with its count (`WEAK` under 5%).
fn rate_line(r: &Rate) -> String {
    let checks = r
        .by_check
        .iter()
        .map(|(c, n)| format!("{c}={n}"))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{:<32} {:<26} {:>6} {:>7} {:>7.1}% {:>10}  {}{}",
        r.bug.id(),
        r.scenario,
        r.seeds,
        r.by_declared,
        r.declared_permille() as f64 / 10.0,
        r.first_failing_seed
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into()),
        if checks.is_empty() {
            "-".into()
        } else {
            checks
        },
        if r.is_weak() { "  WEAK (under 5%)" } else { "" },
    )
}
