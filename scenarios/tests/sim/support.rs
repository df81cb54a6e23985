//! Shared helpers of the simulation tests.

use relaysim_core::BugSet;
use relaysim_harness::report::failure_report;
use relaysim_harness::runner::{BatchOptions, RunOptions};
use relaysim_harness::{AnyScenario, Seed, SeedRange};
use relaysim_scenarios::cli::{parse_bugs, read_plan_file};

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

/// `RELAYSIM_ENGINE` (`turmoil` or `fast`), if set; turmoil otherwise.
pub fn engine_from_env() -> relaysim_harness::EngineKind {
    engine_env().unwrap_or_default()
}

/// `RELAYSIM_ENGINE`, if set.
fn engine_env() -> Option<relaysim_harness::EngineKind> {
    match std::env::var("RELAYSIM_ENGINE") {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().parse().expect("RELAYSIM_ENGINE")),
        _ => None,
    }
}

/// Runs `scn` as the test suite does and panics with the failure report
/// (seed, replay commands, plan, last events) if anything failed; the
/// number of seeds run.
pub fn run_and_assert(scn: &dyn AnyScenario) -> u64 {
    if let Some(path) = std::env::var_os("RELAYSIM_PLAN") {
        return replay_plan_file(scn, std::path::Path::new(&path));
    }
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
        (&seeds).into(),
        &BatchOptions {
            bugs,
            engine: engine_from_env(),
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
    assert_eq!(report.ran, report.expected, "every seed has an outcome");
    report.ran
}

/// `RELAYSIM_PLAN=FILE` (a failure report's test line for a run that
/// replayed a plan file): replays that plan, with `RELAYSIM_SEED` /
/// `RELAYSIM_BUG` / `RELAYSIM_ENGINE` or else the file's seed, bugs and
/// engine.
fn replay_plan_file(scn: &dyn AnyScenario, path: &std::path::Path) -> u64 {
    let (file, plan) = read_plan_file(scn, path).expect("RELAYSIM_PLAN");
    let seed = Seed::from_env()
        .expect("RELAYSIM_SEED")
        .unwrap_or_else(|| Seed::parse(&file.seed).expect("the plan file's seed"));
    let bugs = match std::env::var("RELAYSIM_BUG") {
        Ok(v) if !v.trim().is_empty() => bugs_from_env(),
        _ => parse_bugs(&file.bugs).expect("the plan file's bugs"),
    };
    println!(
        "{}",
        relaysim_harness::report::banner(scn.info(), seed, bugs, plan.as_ref())
    );
    let o = scn.run_seed(
        seed,
        &RunOptions {
            bugs,
            plan: Some(plan),
            engine: engine_env().or(file.engine).unwrap_or_default(),
            ..RunOptions::default()
        },
        &std::sync::atomic::AtomicBool::new(false),
    );
    if let Some(mut f) = o.failure {
        f.plan_file = Some(path.display().to_string());
        panic!("\n{}", failure_report(&f));
    }
    1
}

/// Asserts a `relaysim` run failed with exit 2 and exactly one stderr line
/// containing `needle`.
pub fn one_line_error(out: &std::process::Output, needle: &str) {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line expected, got {err:?}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
}
