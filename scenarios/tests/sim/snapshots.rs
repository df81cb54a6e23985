//! insta snapshots under `snapshots/` at the workspace root:
//!
//! - `traces/<scenario>.snap`: a passing trace per scenario (seed 0, bugs off);
//! - `cards/<bug>.snap`: a reproduction card per known bug — its failing
//!   trace at its canonical seed (the first failing seed of its scenario);
//! - `cards/report-format.snap`: the failure report's exact format.
//!
//! Review changes with `cargo insta review`; a commit that changes a
//! snapshot says why the new trace is right.

use relaysim_core::{BugSet, KnownBug};
use relaysim_harness::check::{Failure, FailureKind, ReplayHint};
use relaysim_harness::detect::card;
use relaysim_harness::fault::{FaultEvent, FaultPlan};
use relaysim_harness::report::failure_report;
use relaysim_harness::runner::RunOptions;
use relaysim_harness::Seed;
use relaysim_scenarios::all;
use relaysim_scenarios::catalog::{bugs, find_bug_scenario};
use relaysim_scenarios::restream::Fault;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

fn settings(dir: &str) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(format!("{}/../snapshots/{dir}", env!("CARGO_MANIFEST_DIR")));
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s
}

#[test]
fn passing_traces() {
    for scn in all() {
        let o = scn.run_seed(Seed(0), &RunOptions::default(), &AtomicBool::new(false));
        assert!(
            o.passed(),
            "{}",
            o.failure.as_ref().map(failure_report).unwrap_or_default()
        );
        let text = format!("{}trace-hash: {}\n", o.trace.text(), o.trace_hash);
        settings("traces").bind(|| insta::assert_snapshot!(scn.name, text));
    }
}

#[test]
fn reproduction_cards() {
    // Every bug a scenario declares has a card.
    for bug in bugs() {
        let text = card(find_bug_scenario(bug), bug, 50, 2).expect("caught");
        settings("cards").bind(|| insta::assert_snapshot!(bug.id(), text));
    }
}

#[test]
fn report_format() {
    let f = Failure {
        kind: FailureKind::Safety,
        check: "vod-single-flight".into(),
        detail: "dest=twitch has 2 VOD fetches in flight".into(),
        scenario: "vod-slow-twitch",
        seed: Seed(0x2a),
        bugs: BugSet::only(KnownBug::VodFetchStacking),
        at: Duration::from_millis(4010),
        plan: Arc::new(FaultPlan::new(vec![
            FaultEvent {
                at_ms: 0,
                fault: Fault::TwitchLatency {
                    min_ms: 2500,
                    max_ms: 9000,
                }
                .into(),
            },
            FaultEvent {
                at_ms: 700,
                fault: Fault::PublisherConnect.into(),
            },
        ])),
        tail: vec![
            "    2.000s relay          vod.fetch.start dest=twitch epoch=0".into(),
            "    4.000s relay          vod.fetch.start dest=twitch epoch=0".into(),
        ],
        replay: ReplayHint::RELAYSIM,
        plan_file: None,
        engine: Default::default(),
    };
    let text = failure_report(&f);
    // The contract a user relies on, independent of the snapshot:
    assert!(text.contains("seed     : 0x2a"));
    assert!(text.contains(
        "replay   : cargo run --release --bin relaysim -- replay vod-slow-twitch --seed 0x2a --bug vod-fetch-stacking"
    ));
    assert!(text.contains(
        "test     : RELAYSIM_SEED=0x2a RELAYSIM_BUG=vod-fetch-stacking cargo test -p relaysim-scenarios --test sim -- scenarios::vod_slow_twitch --exact"
    ));
    assert!(text.contains("FaultEvent { at_ms: 700, fault: Fault::PublisherConnect.into() },"));
    assert!(!text.contains("--engine") && !text.contains("RELAYSIM_ENGINE"));
    settings("cards").bind(|| insta::assert_snapshot!("report-format", text));

    // A run on the fast engine replays on the fast engine, from both lines.
    let mut fast = f.clone();
    fast.engine = relaysim_harness::EngineKind::Fast;
    fast.plan_file = Some("target/relaysim/failures/vod-slow-twitch-0x2a.json".into());
    let text = failure_report(&fast);
    assert!(text.contains(
        "replay   : cargo run --release --bin relaysim -- replay vod-slow-twitch --seed 0x2a --bug vod-fetch-stacking --engine fast --plan target/relaysim/failures/vod-slow-twitch-0x2a.json"
    ), "{text}");
    assert!(text.contains(
        "test     : RELAYSIM_SEED=0x2a RELAYSIM_BUG=vod-fetch-stacking RELAYSIM_ENGINE=fast RELAYSIM_PLAN=target/relaysim/failures/vod-slow-twitch-0x2a.json cargo test -p relaysim-scenarios --test sim -- scenarios::vod_slow_twitch --exact"
    ), "{text}");
}
