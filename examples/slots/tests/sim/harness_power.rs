//! What the harness gives a family it has never heard of: determinism,
//! shrinking and plan-file replay, through `AnyScenario`.

use crate::support::bounded;
use relaysim_core::BugSet;
use relaysim_example_slots::{SlotBugs, SLOTS_CONTENTION};
use relaysim_harness::detect::first_detection;
use relaysim_harness::fault::{PlanFile, PLAN_FORMAT};
use relaysim_harness::runner::RunOptions;
use relaysim_harness::{AnyScenario, Seed};
use std::sync::atomic::AtomicBool;

fn scenario() -> &'static dyn AnyScenario {
    &SLOTS_CONTENTION
}

/// The seed the bug is first caught at.
fn first_failing_seed() -> (Seed, String) {
    let d = first_detection(scenario(), SlotBugs::CheckThenAwait, 50, 2);
    (
        d.first_failing_seed.expect("caught"),
        d.check.expect("a check"),
    )
}

/// The same seed gives the same trace, byte for byte, with the bug on and
/// off.
#[test]
fn same_seed_same_trace() {
    bounded("same_seed_same_trace", 60, || {
        let never = AtomicBool::new(false);
        for bugs in [BugSet::NONE, BugSet::only(SlotBugs::CheckThenAwait)] {
            for seed in [Seed(0), Seed(7)] {
                let opts = RunOptions {
                    bugs,
                    ..RunOptions::default()
                };
                let a = scenario().run_seed(seed, &opts, &never);
                let b = scenario().run_seed(seed, &opts, &never);
                assert!(!a.trace.entries.is_empty());
                assert_eq!(a.trace_hash, b.trace_hash, "seed {seed} bugs {bugs}");
                assert_eq!(a.trace.text(), b.trace.text());
            }
        }
    });
}

/// Shrinking the first failing seed gives a small plan that still fails
/// the same check with the bug on (and passes with it off).
#[test]
fn first_failure_shrinks_to_a_small_plan() {
    bounded("first_failure_shrinks_to_a_small_plan", 120, || {
        let (seed, check) = first_failing_seed();
        let bugs = BugSet::only(SlotBugs::CheckThenAwait);
        let shrunk = scenario().shrink(seed, bugs, None).expect("fails");
        println!(
            "seed {seed}: {} -> {} events ({} runs), check {}\n{}",
            shrunk.original_events,
            shrunk.plan.len(),
            shrunk.runs,
            shrunk.check,
            shrunk.plan.to_literal()
        );
        assert_eq!(shrunk.check, check);
        assert!(
            shrunk.plan.len() <= 3,
            "shrunk only to {}",
            shrunk.plan.len()
        );
        assert!(shrunk.plan.len() <= shrunk.original_events);
        let never = AtomicBool::new(false);
        let again = scenario().run_seed(
            seed,
            &RunOptions {
                bugs,
                plan: Some(shrunk.plan.clone()),
                ..RunOptions::default()
            },
            &never,
        );
        assert_eq!(again.failure.map(|f| f.check), Some(check));
        let fixed = scenario().run_seed(
            seed,
            &RunOptions {
                plan: Some(shrunk.plan.clone()),
                ..RunOptions::default()
            },
            &never,
        );
        assert!(fixed.passed(), "the shrunk plan fails with the bug off");
    });
}

/// A plan saved as a plan file and parsed back replays the same trace.
#[test]
fn plan_file_round_trip() {
    bounded("plan_file_round_trip", 60, || {
        let (seed, _) = first_failing_seed();
        let bugs = BugSet::only(SlotBugs::CheckThenAwait);
        let plan = scenario().plan(seed);
        assert!(!plan.is_empty());
        let text = plan.plan_file_json(PlanFile {
            relaysim_plan: PLAN_FORMAT,
            scenario: SLOTS_CONTENTION.name.to_string(),
            seed: seed.to_string(),
            bugs: vec![SlotBugs::CheckThenAwait.id().to_string()],
            engine: None,
            check: None,
            postmortem: None,
            plan: (),
        });
        let file: PlanFile = serde_json::from_str(&text).expect("a plan file");
        assert_eq!(file.scenario, "slots-contention");
        let parsed = scenario().parse_plan(&file.plan).expect("a slots plan");
        assert_eq!(parsed.to_json(), plan.to_json());
        let never = AtomicBool::new(false);
        let run = |plan| {
            scenario().run_seed(
                seed,
                &RunOptions {
                    bugs,
                    plan,
                    ..RunOptions::default()
                },
                &never,
            )
        };
        let from_seed = run(None);
        let from_file = run(Some(parsed));
        assert_eq!(from_seed.trace_hash, from_file.trace_hash);
        assert_eq!(
            from_seed.failure.map(|f| f.check),
            from_file.failure.map(|f| f.check)
        );
        // A plan of another family's shape is refused with a message.
        let bad = serde_json::json!({"events": [{"at_ms": 0, "fault": {"kind": "client-burst", "client": "client-a"}}]});
        let err = scenario().parse_plan(&bad).unwrap_err();
        assert!(err.contains("sessions"), "{err}");
    });
}
