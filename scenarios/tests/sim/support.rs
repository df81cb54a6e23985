//! Shared helpers of the simulation tests.

use relaysim_core::BugSet;
use relaysim_harness::report::failure_report;
use relaysim_harness::runner::{BatchOptions, BatchReport};
use relaysim_harness::{AnyScenario, Seed, SeedRange};
use relaysim_scenarios::cli::parse_bugs;

/// The seeds a scenario test runs: `RELAYSIM_SEED` (one), else
/// `RELAYSIM_SEEDS`, else the scenario's default range.
pub fn seeds_for(scn: &dyn AnyScenario) -> (Vec<Seed>, bool) {
    if let Some(seed) = Seed::from_env().expect("RELAYSIM_SEED") {
        return (vec![seed], true);
    }
    let range = SeedRange::from_env()
        .expect("RELAYSIM_SEEDS")
        .unwrap_or(SeedRange::new(0, scn.default_seeds));
    (range.seeds().collect(), false)
}

/// `RELAYSIM_BUG`, if set.
pub fn bugs_from_env() -> BugSet {
    match std::env::var("RELAYSIM_BUG") {
        Ok(v) if !v.trim().is_empty() => parse_bugs(&[v]).expect("RELAYSIM_BUG"),
        _ => BugSet::NONE,
    }
}

/// Runs `scn` as the test suite does and panics with the failure report
/// (seed, replay commands, plan, last events) if anything failed.
pub fn run_and_assert(scn: &dyn AnyScenario) -> BatchReport {
    let (seeds, single) = seeds_for(scn);
    let bugs = bugs_from_env();
    if single {
        let plan = scn.plan(seeds[0]);
        println!(
            "{}",
            relaysim_harness::report::banner(scn.info(), seeds[0], bugs, plan.as_ref())
        );
    }
    let report = scn.run_batch(
        &seeds,
        &BatchOptions {
            bugs,
            // A single replayed seed cannot judge coverage.
            coverage: !single,
            ..BatchOptions::default()
        },
    );
    if let Some(f) = report.first_failure() {
        let others = report.failures.len() - 1;
        panic!(
            "\n{}({others} more failure(s) in this batch)\n",
            failure_report(f)
        );
    }
    report
}

/// Asserts a `relaysim` run failed with exit 2 and exactly one stderr line
/// containing `needle`.
pub fn one_line_error(out: &std::process::Output, needle: &str) {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line expected, got {err:?}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
}
