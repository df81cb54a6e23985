//! Shrinking: delta-debugging a failing run's fault plan (and workload) to a
//! minimal plan that still fails the same check.
//!
//! Owns [`shrink`]. The predicate is "this plan, run with this seed and these
//! bugs, fails with the same failure kind and check — and, when bugs are on,
//! passes with every bug off" (so the minimal plan still blames the bug, not
//! a workload the removal broke); the algorithm is
//! Zeller's ddmin over plan events followed by a one-at-a-time removal pass,
//! so the result is 1-minimal: removing any single remaining event makes the
//! failure go away. The seed stays fixed (it drives turmoil and the peers);
//! only the plan shrinks. It never changes event times or values.

use crate::check::FailureKind;
use crate::engine::EngineKind;
use crate::fault::{FamilyFault, FaultEvent, FaultPlan};
use crate::runner::{run_seed_bounded, RunOptions, SEED_WALL_LIMIT};
use crate::scenario::{ErasedPlan, Scenario};
use crate::seed::Seed;
use relaysim_core::BugSet;
use std::sync::Arc;

/// A shrunk failure.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The failure kind kept while shrinking.
    pub kind: FailureKind,
    /// The check kept while shrinking.
    pub check: String,
    /// Events in the plan before shrinking.
    pub original_events: usize,
    /// The minimal plan (its swarm cleared: the draw no longer describes it).
    pub plan: ErasedPlan,
    /// Simulations run while shrinking.
    pub runs: usize,
}

/// Shrinks `plan` (the seed's own plan when `None`). Errors when the
/// starting plan does not fail.
pub fn shrink<F: FamilyFault>(
    scn: &Scenario<F>,
    seed: Seed,
    bugs: BugSet,
    plan: Option<FaultPlan<F>>,
) -> Result<Shrunk, String> {
    shrink_on(scn, seed, bugs, plan, EngineKind::Turmoil)
}

/// [`shrink`] with every run on `engine`.
pub fn shrink_on<F: FamilyFault>(
    scn: &Scenario<F>,
    seed: Seed,
    bugs: BugSet,
    plan: Option<FaultPlan<F>>,
    engine: EngineKind,
) -> Result<Shrunk, String> {
    let plan = plan.unwrap_or_else(|| scn.plan_for(seed));
    let run = |events: &[FaultEvent<F>]| {
        run_seed_bounded(
            scn,
            seed,
            &RunOptions {
                bugs,
                plan: Some(Arc::new(FaultPlan::new(events.to_vec()))),
                engine,
                ..RunOptions::default()
            },
            SEED_WALL_LIMIT,
        )
        .failure
        .map(|f| (f.kind, f.check))
    };
    let target = run(&plan.events).ok_or_else(|| {
        format!(
            "scenario {} seed {seed} with bugs {bugs} passes: nothing to shrink",
            scn.name
        )
    })?;
    let mut runs = 1;
    // A candidate must still fail the same way with the bugs on and, when
    // bugs are on, pass with every bug off: otherwise removing events could
    // break the scenario's own workload (say, a track that never ends) and
    // the "minimal" plan would fail for a reason that is not the bug.
    let mut fails = |events: &[FaultEvent<F>]| {
        runs += 1;
        if run(events).as_ref() != Some(&target) {
            return false;
        }
        if bugs.is_empty() {
            return true;
        }
        runs += 1;
        run_seed_bounded(
            scn,
            seed,
            &RunOptions {
                plan: Some(Arc::new(FaultPlan::new(events.to_vec()))),
                engine,
                ..RunOptions::default()
            },
            SEED_WALL_LIMIT,
        )
        .passed()
    };

    let mut events = plan.events.clone();
    // ddmin
    let mut n = 2usize;
    while events.len() >= 2 {
        let chunk = events.len().div_ceil(n);
        let parts: Vec<Vec<FaultEvent<F>>> = events
            .chunks(chunk)
            .map(<[FaultEvent<F>]>::to_vec)
            .collect();
        let mut reduced = false;
        for part in &parts {
            if fails(part) {
                events = part.clone();
                n = 2;
                reduced = true;
                break;
            }
        }
        if !reduced && parts.len() > 2 {
            for i in 0..parts.len() {
                let complement: Vec<FaultEvent<F>> = parts
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .flat_map(|(_, p)| p.iter().cloned())
                    .collect();
                if fails(&complement) {
                    events = complement;
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
        }
        if !reduced {
            if n >= events.len() {
                break;
            }
            n = (n * 2).min(events.len());
        }
    }
    // 1-minimal: drop single events until none can go.
    let mut i = 0;
    while i < events.len() {
        let mut candidate = events.clone();
        candidate.remove(i);
        if fails(&candidate) {
            events = candidate;
        } else {
            i += 1;
        }
    }
    // The empty plan, last (ddmin never tries it).
    if !events.is_empty() && fails(&[]) {
        events.clear();
    }
    Ok(Shrunk {
        kind: target.0,
        check: target.1,
        original_events: plan.events.len(),
        plan: Arc::new(FaultPlan::new(events)),
        runs,
    })
}
