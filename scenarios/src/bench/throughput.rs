//! Per-scenario throughput on one core, and what trace capture and checks
//! cost.

use super::now;
use relaysim_harness::runner::RunOptions;
use relaysim_harness::{AnyScenario, EngineKind, Seed};
use std::sync::atomic::AtomicBool;

/// Wall seconds to run `seeds` of `scn` on this thread with `opts`.
fn time_seeds(scn: &dyn AnyScenario, seeds: u64, opts: &RunOptions) -> (f64, f64) {
    let never = AtomicBool::new(false);
    let start = now();
    let mut sim = 0.0;
    for s in 0..seeds {
        sim += scn.run_seed(Seed(s), opts, &never).sim_time.as_secs_f64();
    }
    (start.elapsed().as_secs_f64(), sim)
}

/// One scenario's throughput on one core.
#[derive(Debug, Clone)]
pub struct Throughput {
    /// The engine it ran on.
    pub engine: EngineKind,
    /// The scenario.
    pub scenario: &'static str,
    /// Seeds run.
    pub seeds: u64,
    /// Wall seconds, trace and checks on.
    pub wall_s: f64,
    /// Simulated seconds.
    pub sim_s: f64,
    /// Same seeds, trace capture and checks off.
    pub bare_wall_s: f64,
}

impl Throughput {
    /// Seeds per wall second.
    pub fn seeds_per_s(&self) -> f64 {
        self.seeds as f64 / self.wall_s
    }
    /// Simulated seconds per wall second.
    pub fn sim_per_wall(&self) -> f64 {
        self.sim_s / self.wall_s
    }
    /// Wall time with trace and checks over wall time without.
    pub fn overhead_vs_bare_harness(&self) -> f64 {
        self.wall_s / self.bare_wall_s
    }
}

/// Times `seeds` seeds of `scn` on this thread, with and without trace
/// capture and checks.
pub fn throughput(scn: &'static dyn AnyScenario, seeds: u64, engine: EngineKind) -> Throughput {
    let on = RunOptions {
        engine,
        ..RunOptions::default()
    };
    let (wall_s, sim_s) = time_seeds(scn, seeds, &on);
    let (bare_wall_s, _) = time_seeds(
        scn,
        seeds,
        &RunOptions {
            capture: false,
            checks: false,
            ..on
        },
    );
    Throughput {
        engine,
        scenario: scn.name,
        seeds,
        wall_s,
        sim_s,
        bare_wall_s,
    }
}
