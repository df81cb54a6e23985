//! Numbered regression plans (`scenarios/regressions/*.json`): each replays
//! from its plan, on its recorded engine — bug on → fails its recorded
//! check, bugs off → passes; a file with no bug pins a false alarm of its
//! check, which must pass — and a pinned plan means the same run after an
//! unrelated change to the RNG draw order.

use relaysim_core::BugSet;
use relaysim_harness::report::failure_report;
use relaysim_harness::runner::RunOptions;
use relaysim_harness::{AnyScenario, ErasedPlan, PlanCtx, PlanFile, Scenario, Seed};
use relaysim_scenarios::cli::{parse_bugs, read_plan_file};
use relaysim_scenarios::find;
use relaysim_scenarios::restream::{self, Fault};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

fn regression_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/regressions exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn replay(
    scn: &dyn AnyScenario,
    file: &PlanFile,
    plan: &ErasedPlan,
    bugs: BugSet,
) -> relaysim_harness::SeedOutcome {
    scn.run_seed(
        Seed::parse(&file.seed).expect("seed"),
        &RunOptions {
            bugs,
            plan: Some(plan.clone()),
            engine: file.engine.unwrap_or_default(),
            ..RunOptions::default()
        },
        &AtomicBool::new(false),
    )
}

#[test]
fn every_regression_plan_fails_with_its_bug_and_passes_without() {
    let files = regression_files();
    assert!(files.len() >= 3, "regression plans missing: {files:?}");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            name.len() > 5 && name[..4].chars().all(|c| c.is_ascii_digit()) && &name[4..5] == "-",
            "{name}: regression files are NNNN-name.json"
        );
        let file = PlanFile::read(&path).expect("plan file");
        let scn = find(&file.scenario).expect("scenario");
        let (_, plan) = read_plan_file(scn, &path).expect("a valid plan of its scenario");
        assert!(
            file.postmortem.as_deref().is_some_and(|p| p.len() > 80),
            "{name}: needs a one-paragraph postmortem"
        );
        assert!(file.check.is_some(), "{name}: names the check it pins");
        let bugs = parse_bugs(&file.bugs).expect("bugs");
        if bugs.is_empty() {
            // A false alarm: the check once failed this run with every
            // bug off; the core was right and the oracle was fixed.
            let run = replay(scn, &file, &plan, bugs);
            assert!(
                run.passed(),
                "{name}: the false alarm is back:\n{}",
                run.failure.as_ref().map(failure_report).unwrap_or_default()
            );
            continue;
        }
        let with_bug = replay(scn, &file, &plan, bugs);
        let failure = with_bug
            .failure
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: passes with {bugs} on"));
        assert_eq!(
            Some(&failure.check),
            file.check.as_ref(),
            "{name}: {}",
            failure_report(failure)
        );
        let fixed = replay(scn, &file, &plan, BugSet::NONE);
        assert!(
            fixed.passed(),
            "{name} fails with every bug off:\n{}",
            fixed
                .failure
                .as_ref()
                .map(failure_report)
                .unwrap_or_default()
        );
    }
}

/// The same run as `vod-disconnect-race`, but its plan generator draws in
/// another order (here: from another stream), as an unrelated code change
/// would make it.
fn reordered_plan(ctx: &mut PlanCtx<Fault>) {
    *ctx = PlanCtx::new(
        Seed(ctx.seed.0.rotate_left(7) ^ 0x5eed),
        "vod-disconnect-race",
    );
    restream::plans::vod_disconnect_race(ctx);
}

#[test]
fn a_pinned_plan_survives_a_change_of_rng_draw_order() {
    let original: &Scenario<Fault> = &restream::VOD_DISCONNECT_RACE;
    let changed = Scenario {
        plan: reordered_plan,
        ..*original
    };
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("regressions/0002-vod-stale-fetch-applied-after-disconnect.json");
    let (file, plan) = read_plan_file(original, &path).unwrap();
    let seed = Seed::parse(&file.seed).unwrap();
    let bugs = parse_bugs(&file.bugs).unwrap();

    // Drawing by seed no longer gives the same plan…
    assert_ne!(
        changed.plan_for(seed).events,
        original.plan_for(seed).events
    );
    // …but the pinned plan replays the same run, trace for trace.
    let before = replay(original, &file, &plan, bugs);
    let after = replay(&changed, &file, &plan, bugs);
    assert_eq!(before.trace.text(), after.trace.text());
    assert_eq!(
        before.failure.map(|f| f.check),
        after.failure.map(|f| f.check)
    );
}
