//! Detection: the known-bug machinery a family gets for free. With a bug
//! switched on, a scenario that declares it as a target must fail within a
//! seed budget, by one of the checks it declares for that bug; the first
//! failing seed, replayed, is the bug's reproduction card.
//!
//! Detection *rate* is the other half: how many seeds of a range fail with
//! the bug on, and by which check. A check that catches its bug in only a
//! few seeds is a weak oracle even when it catches it once.
//!
//! Owns [`Detection`], [`first_detection`], [`expect_caught`], [`card`],
//! and [`Rate`] with [`detection_rate`] and [`WEAK_RATE_PERMILLE`].
//! It works on any [`AnyScenario`], in the catalog or not, and never keeps
//! a list of bugs: the scenarios' [`crate::scenario::Target`]s are the list.

use crate::report::failure_report;
use crate::runner::{BatchOptions, RunOptions};
use crate::scenario::AnyScenario;
use crate::seed::{Seed, SeedRange};
use relaysim_core::{BugSet, KnownBug};
use std::collections::BTreeMap;

/// One bug's detection run: what `relaysim detect` prints per bug.
#[derive(Debug, Clone)]
pub struct Detection {
    /// The bug switched on.
    pub bug: KnownBug,
    /// The scenario run.
    pub scenario: &'static str,
    /// The smallest failing seed, if any seed of the budget failed.
    pub first_failing_seed: Option<Seed>,
    /// Seeds run.
    pub seeds_tried: u64,
    /// Wall time (measurement only).
    pub wall_ms: f64,
    /// The check that failed at the first failing seed.
    pub check: Option<String>,
}

/// Runs seeds `0..budget` of `scn` with `bug` on until the first failure
/// (every smaller seed still runs, so the seed reported is the smallest).
pub fn first_detection(
    scn: &dyn AnyScenario,
    bug: KnownBug,
    budget: u64,
    jobs: usize,
) -> Detection {
    first_detection_on(scn, bug, budget, jobs, crate::engine::EngineKind::Turmoil)
}

/// [`first_detection`] on a chosen engine.
pub fn first_detection_on(
    scn: &dyn AnyScenario,
    bug: KnownBug,
    budget: u64,
    jobs: usize,
    engine: crate::engine::EngineKind,
) -> Detection {
    let report = scn.run_batch(
        SeedRange::new(0, budget).into(),
        &BatchOptions {
            bugs: BugSet::only(bug),
            jobs,
            stop_at_first_failure: true,
            determinism_every: 0,
            coverage: false,
            engine,
            ..BatchOptions::default()
        },
    );
    let first = report.first_failure();
    Detection {
        bug,
        scenario: scn.info().name,
        first_failing_seed: first.map(|f| f.seed),
        seeds_tried: report.outcomes.len() as u64,
        wall_ms: report.wall.as_secs_f64() * 1000.0,
        check: first.map(|f| f.check.clone()),
    }
}

/// `Ok` with the detection when `scn` catches `bug` within `budget` seeds
/// by one of the checks it declares for it; else a message saying what
/// happened instead.
pub fn expect_caught(
    scn: &dyn AnyScenario,
    bug: KnownBug,
    budget: u64,
    jobs: usize,
) -> Result<Detection, String> {
    let expected = scn.info().checks_for(bug);
    if expected.is_empty() {
        return Err(format!(
            "{} does not declare {bug} as a target",
            scn.info().name
        ));
    }
    let d = first_detection(scn, bug, budget, jobs);
    let Some(seed) = d.first_failing_seed else {
        return Err(format!(
            "{bug} was NOT caught in {budget} seeds of {}",
            d.scenario
        ));
    };
    let check = d.check.clone().unwrap_or_default();
    if expected.contains(&check.as_str()) {
        Ok(d)
    } else {
        Err(format!(
            "{bug} was caught at seed {seed} of {} by `{check}`, expected one of {expected:?}",
            d.scenario
        ))
    }
}

/// The reproduction card of `bug`: what it is, where and how it is caught
/// (its first failing seed within `budget`), the failure report, and the
/// trace up to the failure. Errors when the bug is not caught.
pub fn card(
    scn: &dyn AnyScenario,
    bug: KnownBug,
    budget: u64,
    jobs: usize,
) -> Result<String, String> {
    let d = first_detection(scn, bug, budget, jobs);
    let seed = d
        .first_failing_seed
        .ok_or_else(|| format!("{bug} was NOT caught in {budget} seeds of {}", d.scenario))?;
    let o = scn.run_seed_bounded(
        seed,
        &RunOptions {
            bugs: BugSet::only(bug),
            ..RunOptions::default()
        },
        crate::runner::SEED_WALL_LIMIT,
    );
    let f = o
        .failure
        .ok_or_else(|| format!("{bug}: seed {seed} failed in the batch but passed alone"))?;
    Ok(format!(
        "bug       : {} ({})\nmechanism : {}\nfix       : {}\nscenario  : {}\nseed      : {} (first failing seed of 0..{budget})\ncaught by : {} ({}) at {:.3}s\n\n{}\ntrace up to the failure:\n{}",
        bug.id(),
        bug.system(),
        bug.mechanism(),
        bug.fix(),
        scn.info().name,
        seed,
        f.check,
        f.kind,
        f.at.as_secs_f64(),
        failure_report(&f),
        o.trace.text_until(f.at),
    ))
}

/// Below this share of failing seeds (in permille: 5%), a bug's detection
/// is weak: a sweep of the scenario's default range may well miss it.
pub const WEAK_RATE_PERMILLE: u64 = 50;

/// How often a bug is caught over a whole seed range.
#[derive(Debug, Clone)]
pub struct Rate {
    /// The bug switched on.
    pub bug: KnownBug,
    /// The scenario run.
    pub scenario: &'static str,
    /// Seeds run (every seed of the range: no stop at the first failure).
    pub seeds: u64,
    /// Seeds that failed, by any check or kind.
    pub failed: u64,
    /// Failing seeds per failing check (a seed counts once, under the
    /// check that failed it).
    pub by_check: BTreeMap<String, u64>,
    /// Failing seeds whose check is one the scenario declares for the bug.
    pub by_declared: u64,
    /// The smallest failing seed.
    pub first_failing_seed: Option<Seed>,
    /// Wall time (measurement only).
    pub wall_ms: f64,
}

impl Rate {
    /// Failing seeds by a declared check, in permille of the seeds run.
    pub fn declared_permille(&self) -> u64 {
        if self.seeds == 0 {
            return 0;
        }
        self.by_declared * 1000 / self.seeds
    }

    /// Caught by a declared check in fewer than [`WEAK_RATE_PERMILLE`] of
    /// the seeds.
    pub fn is_weak(&self) -> bool {
        self.declared_permille() < WEAK_RATE_PERMILLE
    }
}

/// Runs every seed of `0..seeds` of `scn` with `bug` on, on `engine`, and
/// counts the failures by check.
pub fn detection_rate(
    scn: &dyn AnyScenario,
    bug: KnownBug,
    seeds: u64,
    jobs: usize,
    engine: crate::engine::EngineKind,
) -> Rate {
    let report = scn.run_batch(
        SeedRange::new(0, seeds).into(),
        &BatchOptions {
            bugs: BugSet::only(bug),
            jobs,
            engine,
            stop_at_first_failure: false,
            determinism_every: 0,
            coverage: false,
            ..BatchOptions::default()
        },
    );
    rate_of(scn, bug, &report)
}

fn rate_of(scn: &dyn AnyScenario, bug: KnownBug, report: &crate::runner::BatchReport) -> Rate {
    let expected = scn.info().checks_for(bug);
    let mut by_check: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_declared = 0;
    let mut first: Option<Seed> = None;
    for o in &report.outcomes {
        if let Some(f) = &o.failure {
            *by_check.entry(f.check.clone()).or_default() += 1;
            if expected.contains(&f.check.as_str()) {
                by_declared += 1;
            }
            first = Some(first.map_or(o.seed, |s| s.min(o.seed)));
        }
    }
    Rate {
        bug,
        scenario: scn.info().name,
        seeds: report.outcomes.len() as u64,
        failed: report.failed,
        by_check,
        by_declared,
        first_failing_seed: first,
        wall_ms: report.wall.as_secs_f64() * 1000.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(seeds: u64, by_declared: u64) -> Rate {
        Rate {
            bug: relaysim_core::KnownBug::ALL[0],
            scenario: "s",
            seeds,
            failed: by_declared,
            by_check: BTreeMap::new(),
            by_declared,
            first_failing_seed: None,
            wall_ms: 0.0,
        }
    }

    #[test]
    fn a_rate_under_five_percent_is_weak_and_five_percent_is_not() {
        assert!(rate(100, 4).is_weak());
        assert!(!rate(100, 5).is_weak());
        assert!(rate(1000, 49).is_weak());
        assert!(!rate(20, 1).is_weak());
        assert!(rate(0, 0).is_weak(), "no seeds run is no detection");
    }
}
