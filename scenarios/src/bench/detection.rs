//! Time to first detection: each known bug's seeds and wall time until its
//! scenario first fails, over disjoint seed ranges.

use super::{median, now};
use crate::catalog::find_bug_scenario;
use relaysim_core::{BugSet, KnownBug};
use relaysim_harness::runner::RunOptions;
use relaysim_harness::{EngineKind, Seed};
use std::sync::atomic::AtomicBool;

/// One known bug's time to first detection.
#[derive(Debug, Clone)]
pub struct DetectionBench {
    /// The bug.
    pub bug: KnownBug,
    /// Its detection scenario.
    pub scenario: &'static str,
    /// Per range: (seeds tried, wall ms), `None` when not caught.
    pub ranges: Vec<Option<(u64, f64)>>,
}

impl DetectionBench {
    /// Median wall milliseconds to the first failing seed, over the ranges
    /// that caught it.
    pub fn median_wall_ms(&self) -> f64 {
        median(self.ranges.iter().flatten().map(|r| r.1).collect())
    }
    /// Median seeds to the first failing one.
    pub fn median_seeds(&self) -> f64 {
        median(self.ranges.iter().flatten().map(|r| r.0 as f64).collect())
    }
    /// Ranges that caught it.
    pub fn caught(&self) -> usize {
        self.ranges.iter().flatten().count()
    }
}

/// Runs `ranges` disjoint ranges of `len` seeds of `bug`'s scenario with
/// the bug on, each until its first failing seed.
pub fn detection(bug: KnownBug, ranges: u64, len: u64, engine: EngineKind) -> DetectionBench {
    let scn = find_bug_scenario(bug);
    let never = AtomicBool::new(false);
    let opts = RunOptions {
        bugs: BugSet::only(bug),
        engine,
        ..RunOptions::default()
    };
    let mut out = Vec::new();
    for r in 0..ranges {
        let start = now();
        let mut found = None;
        for (i, s) in (r * len..(r + 1) * len).enumerate() {
            if scn.run_seed(Seed(s), &opts, &never).failure.is_some() {
                found = Some((i as u64 + 1, start.elapsed().as_secs_f64() * 1000.0));
                break;
            }
        }
        out.push(found);
    }
    DetectionBench {
        bug,
        scenario: scn.name,
        ranges: out,
    }
}
