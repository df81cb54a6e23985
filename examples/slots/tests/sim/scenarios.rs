//! `slots-contention` over its default seeds, with every bug off.

use crate::support::{bounded, bugs_from_env};
use relaysim_example_slots::SLOTS_CONTENTION;
use relaysim_harness::report::failure_report;
use relaysim_harness::runner::{run_batch, BatchOptions};
use relaysim_harness::{Seed, SeedRange};
use std::time::Duration;

/// Every seed of 0..100 passes with every bug off, and the race's
/// precondition (two acquires in flight) is reached. `RELAYSIM_SEED` (one
/// seed), `RELAYSIM_SEEDS` (a range) and `RELAYSIM_BUG` replay a failure.
#[test]
fn slots_contention() {
    bounded("slots_contention", 120, || {
        let single = Seed::from_env().expect("RELAYSIM_SEED");
        let seeds: Vec<Seed> = match single {
            Some(seed) => vec![seed],
            None => SeedRange::from_env()
                .expect("RELAYSIM_SEEDS")
                .unwrap_or(SeedRange::new(0, SLOTS_CONTENTION.default_seeds))
                .seeds()
                .collect(),
        };
        let report = run_batch(
            &SLOTS_CONTENTION,
            &seeds,
            &BatchOptions {
                bugs: bugs_from_env(),
                jobs: 2,
                // A single replayed seed cannot judge coverage.
                coverage: single.is_none(),
                wall_limit: Duration::from_secs(30),
                ..BatchOptions::default()
            },
        );
        if let Some(f) = report.first_failure() {
            panic!(
                "\n{}({} more failure(s) in this batch)\n",
                failure_report(f),
                report.failures.len() - 1
            );
        }
        assert_eq!(report.outcomes.len(), seeds.len());
        println!(
            "{} seeds passed in {:.1}s; coverage {:?}",
            seeds.len(),
            report.wall.as_secs_f64(),
            report.coverage
        );
    });
}

/// Prints the banner, the plan and the whole trace of `RELAYSIM_SEED` (with
/// `RELAYSIM_BUG`): the replay a failure report's `relaysim replay` line
/// would give for a catalog scenario. Passes without `RELAYSIM_SEED`.
#[test]
fn replay() {
    let Some(seed) = Seed::from_env().expect("RELAYSIM_SEED") else {
        return;
    };
    bounded("replay", 30, move || {
        use relaysim_harness::runner::RunOptions;
        use relaysim_harness::AnyScenario;
        let scn: &dyn AnyScenario = &SLOTS_CONTENTION;
        let bugs = bugs_from_env();
        let plan = scn.plan(seed);
        println!(
            "{}",
            relaysim_harness::report::banner(scn.info(), seed, bugs, plan.as_ref())
        );
        println!("{}", plan.to_literal());
        let o = scn.run_seed(
            seed,
            &RunOptions {
                bugs,
                ..RunOptions::default()
            },
            &std::sync::atomic::AtomicBool::new(false),
        );
        print!("{}", o.trace.text());
        println!("trace-hash: {}", o.trace_hash);
        match &o.failure {
            Some(f) => println!("{}", failure_report(f)),
            None => println!("passed"),
        }
    });
}
