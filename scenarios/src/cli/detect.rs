//! `relaysim detect`: every known bug a scenario declares is switched on
//! and caught within its seed budget, then every scenario runs clean with
//! every bug off. The bugs come from the scenarios' declarations
//! ([`crate::catalog::bugs`]), never from a hand-kept list.

use super::run::run_scenario;
use crate::catalog::{all, find_bug_scenario, parse_bug};
use clap::Args;
use relaysim_core::{BugSet, KnownBug};
use relaysim_harness::detect::{first_detection, Detection};
use relaysim_harness::report::failure_report;
use relaysim_harness::runner::default_jobs;
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
}

impl Default for DetectArgs {
    fn default() -> Self {
        DetectArgs {
            ids: Vec::new(),
            budget: 50,
            clean_seeds: 100,
            jobs: None,
            json: false,
        }
    }
}

/// Runs `bug`'s detection scenario with the bug on until the first
/// failing seed.
pub fn detect_one(bug: KnownBug, budget: u64, jobs: usize) -> Detection {
    first_detection(find_bug_scenario(bug), bug, budget, jobs)
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
    let jobs = args.jobs.unwrap_or_else(default_jobs).max(1);
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
                *scn,
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
