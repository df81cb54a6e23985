//! The known bug, switched on: caught by a check the scenario declares for
//! it, and its reproduction card.

use crate::support::bounded;
use relaysim_example_slots::{SlotBugs, SLOTS_CONTENTION};
use relaysim_harness::detect::{card, expect_caught, first_detection};

/// `slots-check-then-await` is caught within 50 seeds by
/// `never-over-capacity`.
#[test]
fn slots_check_then_await_is_caught() {
    bounded("slots_check_then_await_is_caught", 60, || {
        let d = expect_caught(&SLOTS_CONTENTION, SlotBugs::CheckThenAwait, 50, 2)
            .unwrap_or_else(|e| panic!("{e}"));
        println!(
            "{} caught at seed {} by {} ({} seeds run)",
            d.bug,
            d.first_failing_seed
                .map(|s| s.to_string())
                .unwrap_or_default(),
            d.check.as_deref().unwrap_or("?"),
            d.seeds_tried
        );
    });
}

/// The reproduction card: the bug, where and how it is caught, the failure
/// report, and the trace up to the failure, at its first failing seed.
#[test]
fn reproduction_card() {
    let text = bounded("reproduction_card", 60, || {
        card(&SLOTS_CONTENTION, SlotBugs::CheckThenAwait, 50, 2).expect("caught")
    });
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(SlotBugs::CheckThenAwait.id(), text));
}

/// How often the bug shows: the detection rate over 50 seeds (printed;
/// asserted only to be most of them, so a retuned plan cannot silently make
/// the race rare).
#[test]
fn detection_rate() {
    bounded("detection_rate", 60, || {
        use relaysim_core::BugSet;
        use relaysim_harness::runner::{run_batch, BatchOptions};
        use relaysim_harness::Seed;
        let seeds: Vec<Seed> = (0..50).map(Seed).collect();
        let report = run_batch(
            &SLOTS_CONTENTION,
            &seeds,
            &BatchOptions {
                bugs: BugSet::only(SlotBugs::CheckThenAwait),
                jobs: 2,
                determinism_every: 0,
                coverage: false,
                ..BatchOptions::default()
            },
        );
        let caught = report
            .outcomes
            .iter()
            .filter(|o| {
                o.failure
                    .as_ref()
                    .is_some_and(|f| f.check == "never-over-capacity")
            })
            .count();
        let other: Vec<String> = report
            .outcomes
            .iter()
            .filter_map(|o| o.failure.as_ref())
            .filter(|f| f.check != "never-over-capacity")
            .map(|f| format!("{} by {}", f.seed, f.check))
            .collect();
        println!("slots-check-then-await: caught in {caught}/50 seeds; other failures: {other:?}");
        assert!(
            other.is_empty(),
            "failures by an undeclared check: {other:?}"
        );
        assert!(caught >= 25, "caught in only {caught}/50 seeds");
        // And the first failing seed is the one detection reports.
        let d = first_detection(&SLOTS_CONTENTION, SlotBugs::CheckThenAwait, 50, 2);
        assert_eq!(d.first_failing_seed, report.first_failure().map(|f| f.seed));
    });
}
