//! The shape of a scenario, and the hooks its world implements.
//!
//! Owns [`Scenario`] (name, family, timing, the fault-plan generator, the
//! world builder, checks, the known bugs it targets) and the [`World`]
//! trait. Concrete scenarios live in `relaysim-scenarios`; nothing here knows
//! one.

use crate::check::{Check, Facts};
use crate::fault::{Fault, FaultPlan};
use crate::seed::Seed;
use crate::trace::Recorder;
use relaysim_core::{BugSet, KnownBug};
use std::sync::Arc;
use std::time::Duration;

/// Network parameters of a scenario's turmoil world.
#[derive(Debug, Clone, Copy)]
pub struct NetParams {
    /// Lower bound of a message's link latency.
    pub min_latency: Duration,
    /// Upper bound of a message's link latency.
    pub max_latency: Duration,
    /// Per-socket receive buffer, in messages (turmoil's `tcp_capacity`).
    pub tcp_capacity: usize,
}

impl Default for NetParams {
    fn default() -> Self {
        NetParams {
            min_latency: Duration::from_millis(1),
            max_latency: Duration::from_millis(5),
            tcp_capacity: 256,
        }
    }
}

/// What a world builder gets.
#[derive(Clone)]
pub struct WorldCtx {
    /// The run's seed (turmoil, tokio and peers draw from it).
    pub seed: Seed,
    /// Known bugs switched on for the run.
    pub bugs: BugSet,
    /// Where hosts record their events.
    pub recorder: Arc<Recorder>,
}

/// A scenario's running world, as the runner drives it.
pub trait World {
    /// Applies an application fault (network faults are applied by the runner).
    fn apply(&mut self, fault: &Fault);
    /// The liveness phase begins: stop every application fault.
    fn heal(&mut self);
    /// Final state for the checks.
    fn facts(&self) -> Facts;
}

/// One scenario of the catalog. `Clone` so a test can vary one part (say,
/// the plan generator) and keep the rest.
#[derive(Clone)]
pub struct Scenario {
    /// Kebab-case; the CLI name. Its snake_case form names its test.
    pub name: &'static str,
    /// The component family (`restream`, …).
    pub family: &'static str,
    /// One sentence, shown in `relaysim list` and in failure reports.
    pub about: &'static str,
    /// turmoil's step; chosen from the timing the scenario's races need.
    pub tick: Duration,
    /// Simulated length of a run.
    pub duration: Duration,
    /// When faults stop and the liveness phase begins.
    pub heal_at: Duration,
    /// Link latency and socket buffers.
    pub net: NetParams,
    /// The known bugs this scenario exists to catch.
    pub targets: &'static [KnownBug],
    /// Seeds run by `cargo test` and `relaysim run` by default (0..N).
    pub default_seeds: u64,
    /// The fault plan (and workload) of a seed.
    pub plan: fn(Seed) -> FaultPlan,
    /// Registers the world's hosts on the simulation.
    pub build: fn(&mut turmoil::Sim<'static>, &WorldCtx) -> Box<dyn World>,
    /// Every check judged on each run.
    pub checks: &'static [Check],
    /// Causal arrows drawn on the HTML timeline (`relaysim replay --html`).
    pub links: &'static [crate::timeline::LinkRule],
}

impl Scenario {
    /// The snake_case name (test function names).
    pub fn test_name(&self) -> String {
        self.name.replace('-', "_")
    }
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("name", &self.name)
            .finish()
    }
}
