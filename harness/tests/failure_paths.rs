//! The harness tests its own failure paths: a toy family whose seeds fail
//! on purpose in every place a seed can fail — a check that panics, a plan
//! generator that panics, a host that panics, a world whose apply panics,
//! a run that differs between two runs of one seed — and assertions that
//! each is reported with the right kind, seed and replay command, and that
//! every other seed of the batch still ran and has its own outcome.
//!
//! The toy family lives here, not in the catalog: it exists only to break.

use relaysim_core::BugSet;
use relaysim_harness::check::{Check, CheckKind, Facts, FailureKind, ReplayHint, RunView, Verdict};
use relaysim_harness::fault::FamilyFault;
use relaysim_harness::report::failure_report;
use relaysim_harness::runner::{run_batch, BatchOptions, BatchReport};
use relaysim_harness::scenario::{NetParams, Scenario, ScenarioInfo, World, WorldCtx};
use relaysim_harness::{PlanCtx, Seed};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Seeds that break, and how.
const CHECK_PANICS: u64 = 3;
const PLAN_PANICS: u64 = 5;
const HOST_PANICS: u64 = 7;
const APPLY_PANICS: u64 = 9;
const DIVERGES: u64 = 11;
const SEEDS: u64 = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum Fault {
    /// The world's apply panics.
    Explode,
    /// Nothing happens (a step that every plan has).
    Tick,
}

impl FamilyFault for Fault {}

/// Every run of `DIVERGES` records a different line (a process-wide
/// counter: the classic hidden state that breaks determinism).
static RUNS: AtomicU64 = AtomicU64::new(0);

#[derive(Debug)]
struct Line(String);

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

struct ToyWorld;

impl World<Fault> for ToyWorld {
    fn apply(&mut self, fault: &Fault) {
        match fault {
            Fault::Explode => panic!("the toy world's apply exploded"),
            Fault::Tick => {}
        }
    }
    fn heal(&mut self) {}
    fn facts(&self) -> Facts {
        Facts::new()
    }
}

fn build(sim: &mut relaysim_harness::engine::Sim, ctx: &WorldCtx) -> Box<dyn World<Fault>> {
    let seed = ctx.seed.0;
    let rec = ctx.recorder.clone();
    sim.client("toy", async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rec.peer("toy", Line("toy.awake".into()));
        if seed == HOST_PANICS {
            panic!("the toy host panicked");
        }
        if seed == DIVERGES {
            let n = RUNS.fetch_add(1, Ordering::SeqCst);
            rec.peer("toy", Line(format!("toy.run n={n}")));
        }
        Ok(())
    });
    Box::new(ToyWorld)
}

fn plan(ctx: &mut PlanCtx<Fault>) {
    if ctx.seed.0 == PLAN_PANICS {
        panic!("the toy plan generator panicked");
    }
    ctx.push_ms(50, Fault::Tick);
    if ctx.seed.0 == APPLY_PANICS {
        ctx.push_ms(60, Fault::Explode);
    }
}

fn check_panics_on_one_seed(v: &RunView<'_>) -> Verdict {
    let awake = v
        .trace
        .entries
        .iter()
        .any(|e| e.to_string().contains("toy.awake"));
    // A check sees no seed: the world marks its trace with one.
    if v.trace
        .text()
        .contains(&format!("seed-marker={CHECK_PANICS}\n"))
    {
        panic!("the toy check panicked");
    }
    Verdict::reached(awake)
}

static CHECKS: [Check; 1] = [Check {
    name: "toy-awake",
    kind: CheckKind::Sometimes,
    about: "the toy host woke up",
    eval: check_panics_on_one_seed,
}];

static TOY: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "toy-failure-paths",
        family: "toy",
        about: "breaks on purpose",
        tick: Duration::from_millis(10),
        duration: Duration::from_secs(1),
        heal_at: Duration::from_millis(500),
        net: NetParams::DEFAULT,
        hosts: &["toy"],
        targets: &[],
        default_seeds: SEEDS,
        checks: &CHECKS,
        links: &[],

        replay: ReplayHint::RELAYSIM,
    },
    plan,
    build: build_marked,
};

/// `build`, plus a trace line naming the seed, so the check can break on
/// exactly one seed.
fn build_marked(sim: &mut relaysim_harness::engine::Sim, ctx: &WorldCtx) -> Box<dyn World<Fault>> {
    ctx.recorder
        .peer("toy", Line(format!("seed-marker={}", ctx.seed.0)));
    build(sim, ctx)
}

fn batch() -> BatchReport {
    let seeds: Vec<Seed> = (0..SEEDS).map(Seed).collect();
    run_batch(
        &TOY,
        &seeds,
        &BatchOptions {
            bugs: BugSet::NONE,
            jobs: 2,
            // Recheck every seed in-process, so the divergent one is caught.
            determinism_every: 1,
            coverage: false,
            ..BatchOptions::default()
        },
    )
}

#[test]
fn every_seed_has_one_outcome_and_every_failure_its_kind_and_place() {
    let report = batch();
    // Every seed ran, in order, once.
    let ran: Vec<u64> = report.outcomes.iter().map(|o| o.seed.0).collect();
    assert_eq!(ran, (0..SEEDS).collect::<Vec<_>>());
    assert!(!report.passed());

    let failed = |seed: u64| {
        report
            .outcomes
            .iter()
            .find(|o| o.seed.0 == seed)
            .and_then(|o| o.failure.clone())
            .unwrap_or_else(|| panic!("seed {seed} should have failed"))
    };
    let expect = [
        (CHECK_PANICS, "panicked in check toy-awake"),
        (PLAN_PANICS, "panicked in the plan generator"),
        (HOST_PANICS, "the toy host panicked"),
        (APPLY_PANICS, "panicked in the world's apply"),
    ];
    for (seed, says) in expect {
        let f = failed(seed);
        assert_eq!(f.kind, FailureKind::Panic, "seed {seed}: {f:?}");
        assert!(f.detail.contains(says), "seed {seed}: {}", f.detail);
        let report = failure_report(&f);
        assert!(
            report.contains(&format!(
                "replay   : cargo run --release --bin relaysim -- replay toy-failure-paths --seed {}",
                Seed(seed)
            )),
            "{report}"
        );
    }
    // The divergent seed passes its checks but fails the determinism recheck.
    let det: Vec<_> = report
        .failures
        .iter()
        .filter(|f| f.kind == FailureKind::Determinism)
        .collect();
    assert_eq!(det.len(), 1, "{det:?}");
    assert_eq!(det[0].seed, Seed(DIVERGES));
    assert!(det[0].detail.contains("toy.run n="), "{}", det[0].detail);

    // Every other seed passed.
    let broken = [CHECK_PANICS, PLAN_PANICS, HOST_PANICS, APPLY_PANICS];
    for o in &report.outcomes {
        if !broken.contains(&o.seed.0) {
            assert!(o.passed(), "seed {}: {:?}", o.seed, o.failure);
        }
    }
}

#[test]
fn a_panicking_progress_callback_loses_no_seed() {
    // Seeds that break nothing else.
    let seeds: Vec<Seed> = (12..16).map(Seed).collect();
    let cb = |o: &relaysim_harness::SeedOutcome| {
        if o.seed.0 == 14 {
            panic!("the progress bar broke");
        }
    };
    let report = run_batch(
        &TOY,
        &seeds,
        &BatchOptions {
            jobs: 2,
            on_seed: Some(&cb),
            determinism_every: 0,
            coverage: false,
            ..BatchOptions::default()
        },
    );
    assert_eq!(report.outcomes.len(), 4);
    let broke = &report.outcomes[2];
    assert_eq!(broke.seed, Seed(14));
    let f = broke
        .failure
        .as_ref()
        .expect("the callback's panic is recorded");
    assert!(f.detail.contains("per-seed callback"), "{}", f.detail);
    assert!(report
        .outcomes
        .iter()
        .filter(|o| o.seed.0 != 14)
        .all(|o| o.passed()));
}
