//! The shape of a scenario, the hooks a family's world implements, and the
//! type-erased scenario the catalog, CLI, runner and reports work on.
//!
//! Owns [`ScenarioInfo`] (name, family, timing, network, the known bugs it
//! targets with the checks expected to catch each, checks, timeline links),
//! [`Scenario`] (that plus the family's plan generator and world builder,
//! typed by the family's fault type), the [`World`] trait, and
//! [`AnyScenario`] with [`AnyPlan`], which erase the fault type so one
//! catalog holds every family. Concrete scenarios live in their family's
//! folder; nothing here knows one.

use crate::check::{Check, Facts, ReplayHint};
use crate::fault::{FamilyFault, FaultPlan, PlanCtx, PlanFile};
use crate::runner::{BatchOptions, BatchReport, RunOptions, SeedOutcome};
use crate::seed::{Seed, Seeds};
use crate::shrink::Shrunk;
use crate::trace::Recorder;
use relaysim_core::{BugSet, KnownBug};
use std::any::Any;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::AtomicBool;
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

impl NetParams {
    /// 1–5 ms links, 256-message socket buffers.
    pub const DEFAULT: NetParams = NetParams {
        min_latency: Duration::from_millis(1),
        max_latency: Duration::from_millis(5),
        tcp_capacity: 256,
    };
}

impl Default for NetParams {
    fn default() -> Self {
        NetParams::DEFAULT
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

/// A scenario's running world, as the runner drives it. `F` is the
/// family's fault type: `apply` matches it exhaustively (no catch-all), so
/// a new fault kind cannot be silently ignored.
pub trait World<F> {
    /// Applies one of the family's faults (network faults and fault points
    /// are the runner's).
    fn apply(&mut self, fault: &F);
    /// The liveness phase begins: stop every application fault.
    fn heal(&mut self);
    /// Final state for the checks.
    fn facts(&self) -> Facts;
}

/// A known bug a scenario exists to catch, and the checks expected to
/// catch it. Detection tests, reproduction cards and `relaysim detect` are
/// generated from these declarations.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The bug.
    pub bug: KnownBug,
    /// Names of this scenario's checks, any of which may catch it.
    pub checks: &'static [&'static str],
}

/// Everything about a scenario but its family's code: what the catalog,
/// reports and the CLI read.
#[derive(Debug, Clone, Copy)]
pub struct ScenarioInfo {
    /// Kebab-case; the CLI name. Its snake_case form names its test.
    pub name: &'static str,
    /// The component family, as the core names the component.
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
    /// Every host its world registers (a plan's network faults may name
    /// only these).
    pub hosts: &'static [&'static str],
    /// The known bugs this scenario exists to catch.
    pub targets: &'static [Target],
    /// Seeds run by `cargo test` and `relaysim run` by default (0..N).
    pub default_seeds: u64,
    /// Every check judged on each run.
    pub checks: &'static [Check],
    /// Causal arrows drawn on the HTML timeline (`relaysim replay --html`).
    pub links: &'static [crate::timeline::LinkRule],
    /// How its failures are replayed from a shell
    /// ([`ReplayHint::RELAYSIM`] for the catalog).
    pub replay: ReplayHint,
}

impl ScenarioInfo {
    /// The snake_case name (test function names).
    pub fn test_name(&self) -> String {
        self.name.replace('-', "_")
    }

    /// Does it target `bug`?
    pub fn targets_bug(&self, bug: KnownBug) -> bool {
        self.targets.iter().any(|t| t.bug == bug)
    }

    /// The checks expected to catch `bug` (empty if it is not a target).
    pub fn checks_for(&self, bug: KnownBug) -> &'static [&'static str] {
        self.targets
            .iter()
            .find(|t| t.bug == bug)
            .map_or(&[], |t| t.checks)
    }
}

/// One scenario of a family whose fault type is `F`.
pub struct Scenario<F: 'static> {
    /// Name, timing, targets, checks.
    pub info: ScenarioInfo,
    /// Draws a seed's plan (faults and workload) through the context.
    pub plan: fn(&mut PlanCtx<F>),
    /// Registers the world's hosts on the simulation.
    pub build: fn(&mut crate::engine::Sim, &WorldCtx) -> Box<dyn World<F>>,
}

// Manual: a derive would ask `F: Clone`.
impl<F> Clone for Scenario<F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F> Copy for Scenario<F> {}

impl<F> Deref for Scenario<F> {
    type Target = ScenarioInfo;
    fn deref(&self) -> &ScenarioInfo {
        &self.info
    }
}

impl<F> fmt::Debug for Scenario<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scenario")
            .field("name", &self.info.name)
            .finish()
    }
}

impl<F: FamilyFault> Scenario<F> {
    /// The seed's own plan.
    pub fn plan_for(&self, seed: Seed) -> FaultPlan<F> {
        let mut ctx = PlanCtx::new(seed, self.info.name);
        (self.plan)(&mut ctx);
        ctx.finish()
    }
}

/// A plan of any family, behind one object: what reports, the CLI and
/// saved files need of it. The runner downcasts it back to its family's
/// `FaultPlan<F>`.
pub trait AnyPlan: fmt::Debug + Send + Sync {
    /// Number of events.
    fn len(&self) -> usize;
    /// No events?
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The swarm draw, for banners.
    fn swarm_summary(&self) -> String;
    /// The distinct step kinds, sorted.
    fn kinds(&self) -> Vec<String>;
    /// A Rust expression rebuilding it.
    fn to_literal(&self) -> String;
    /// Pretty JSON.
    fn to_json(&self) -> String;
    /// A plan file holding it, as pretty JSON.
    fn plan_file_json(&self, header: PlanFile<()>) -> String;
    /// For downcasting to `FaultPlan<F>`.
    fn as_any(&self) -> &dyn Any;
}

impl<F: FamilyFault> AnyPlan for FaultPlan<F> {
    fn len(&self) -> usize {
        FaultPlan::len(self)
    }
    fn swarm_summary(&self) -> String {
        FaultPlan::swarm_summary(self)
    }
    fn kinds(&self) -> Vec<String> {
        FaultPlan::kinds(self)
    }
    fn to_literal(&self) -> String {
        FaultPlan::to_literal(self)
    }
    fn to_json(&self) -> String {
        FaultPlan::to_json(self)
    }
    fn plan_file_json(&self, header: PlanFile<()>) -> String {
        PlanFile {
            relaysim_plan: header.relaysim_plan,
            scenario: header.scenario,
            seed: header.seed,
            bugs: header.bugs,
            engine: header.engine,
            check: header.check,
            postmortem: header.postmortem,
            plan: self,
        }
        .to_json()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A plan of some family, shared.
pub type ErasedPlan = Arc<dyn AnyPlan>;

/// A scenario with its fault type erased: the catalog's element. Every
/// method runs the family's typed code.
pub trait AnyScenario: Send + Sync {
    /// Name, timing, targets, checks.
    fn info(&self) -> &ScenarioInfo;
    /// The seed's own plan.
    fn plan(&self, seed: Seed) -> ErasedPlan;
    /// Parses (and validates) a plan of this scenario's family from JSON.
    fn parse_plan(&self, json: &serde_json::Value) -> Result<ErasedPlan, String>;
    /// Runs one seed (see [`crate::runner::run_seed`]).
    fn run_seed(&self, seed: Seed, opts: &RunOptions, cancel: &AtomicBool) -> SeedOutcome;
    /// Runs one seed under its own watchdog (see
    /// [`crate::runner::run_seed_bounded`]).
    fn run_seed_bounded(&self, seed: Seed, opts: &RunOptions, limit: Duration) -> SeedOutcome;
    /// Runs a batch (see [`crate::runner::run_batch`]).
    fn run_batch(&self, seeds: Seeds<'_>, opts: &BatchOptions<'_>) -> BatchReport;
    /// Serves as a worker process of a supervised batch (see
    /// [`crate::runner::serve_worker`]).
    fn serve_worker(
        &self,
        bugs: BugSet,
        limit: Duration,
        input: &mut dyn std::io::BufRead,
        output: &mut dyn std::io::Write,
    ) -> Result<(), String>;
    /// Shrinks a failing plan on the reference engine (see
    /// [`crate::shrink::shrink`]).
    fn shrink(
        &self,
        seed: Seed,
        bugs: BugSet,
        plan: Option<&ErasedPlan>,
    ) -> Result<Shrunk, String> {
        self.shrink_on(seed, bugs, plan, crate::engine::EngineKind::Turmoil)
    }
    /// Shrinks a failing plan on `engine`.
    fn shrink_on(
        &self,
        seed: Seed,
        bugs: BugSet,
        plan: Option<&ErasedPlan>,
        engine: crate::engine::EngineKind,
    ) -> Result<Shrunk, String>;
}

impl<'a> Deref for dyn AnyScenario + 'a {
    type Target = ScenarioInfo;
    fn deref(&self) -> &ScenarioInfo {
        self.info()
    }
}

impl<'a> fmt::Debug for dyn AnyScenario + 'a {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scenario")
            .field("name", &self.info().name)
            .finish()
    }
}

/// Events a plan may hold (a generated plan has tens).
pub const MAX_PLAN_EVENTS: usize = 100_000;

/// Checks a plan against its scenario, with a one-line error naming the
/// first problem: too many events, an event past the run's end, a network
/// fault naming a host the world does not have (or a host with itself), a
/// fault point that is not one of the core's sites of this family, a
/// chance above 1000 permille, or a family fault its own `validate`
/// refuses. A plan that passes cannot make turmoil panic or be silently
/// ignored.
pub fn validate_plan<F: FamilyFault>(
    scn: &ScenarioInfo,
    plan: &FaultPlan<F>,
) -> Result<(), String> {
    use crate::fault::{NetFault, Step};
    if plan.events.len() > MAX_PLAN_EVENTS {
        return Err(format!(
            "the plan has {} events; at most {MAX_PLAN_EVENTS}",
            plan.events.len()
        ));
    }
    let end = scn.duration.as_millis() as u64;
    for (i, e) in plan.events.iter().enumerate() {
        let at = |what: String| format!("event {i} (at_ms {}): {what}", e.at_ms);
        if e.at_ms > end {
            return Err(at(format!(
                "after the end of the run ({end} ms of scenario {})",
                scn.name
            )));
        }
        match &e.fault {
            Step::Net(n) => {
                for h in n.hosts() {
                    if !scn.hosts.contains(&h) {
                        return Err(at(format!(
                            "no host {h:?} in scenario {}; its hosts: {}",
                            scn.name,
                            scn.hosts.join(", ")
                        )));
                    }
                }
                if let Some((a, b)) = n.link() {
                    if a == b {
                        return Err(at(format!("a link from {a:?} to itself")));
                    }
                }
                let _: &NetFault = n;
            }
            Step::Point { site, permille } => {
                let family_site = relaysim_core::faults::SITES
                    .iter()
                    .any(|(s, _)| s == site && s.starts_with(&format!("{}.", scn.family)));
                if !family_site {
                    return Err(at(format!(
                        "{site:?} is not a fault point of family {}",
                        scn.family
                    )));
                }
                if *permille > 1000 {
                    return Err(at(format!("permille {permille} is above 1000")));
                }
            }
            Step::App(f) => f.validate().map_err(at)?,
        }
    }
    Ok(())
}

/// The typed plan inside an erased one, or a message naming both families.
pub fn typed_plan<F: FamilyFault>(
    scn: &ScenarioInfo,
    plan: &ErasedPlan,
) -> Result<FaultPlan<F>, String> {
    plan.as_any()
        .downcast_ref::<FaultPlan<F>>()
        .cloned()
        .ok_or_else(|| {
            format!(
                "the plan is not a plan of scenario {}'s family ({})",
                scn.name, scn.family
            )
        })
}

impl<F: FamilyFault> AnyScenario for Scenario<F> {
    fn info(&self) -> &ScenarioInfo {
        &self.info
    }

    fn plan(&self, seed: Seed) -> ErasedPlan {
        Arc::new(self.plan_for(seed))
    }

    fn parse_plan(&self, json: &serde_json::Value) -> Result<ErasedPlan, String> {
        let plan: FaultPlan<F> = serde_json::from_value(json.clone())
            .map_err(|e| format!("not a fault plan of scenario {}: {e}", self.info.name))?;
        validate_plan(&self.info, &plan)?;
        Ok(Arc::new(plan.sorted()))
    }

    fn run_seed(&self, seed: Seed, opts: &RunOptions, cancel: &AtomicBool) -> SeedOutcome {
        crate::runner::run_seed(self, seed, opts, cancel)
    }

    fn serve_worker(
        &self,
        bugs: BugSet,
        limit: Duration,
        input: &mut dyn std::io::BufRead,
        output: &mut dyn std::io::Write,
    ) -> Result<(), String> {
        crate::runner::serve_worker(self, bugs, limit, input, output)
    }

    fn run_seed_bounded(&self, seed: Seed, opts: &RunOptions, limit: Duration) -> SeedOutcome {
        crate::runner::run_seed_bounded(self, seed, opts, limit)
    }

    fn run_batch(&self, seeds: Seeds<'_>, opts: &BatchOptions<'_>) -> BatchReport {
        crate::runner::run_batch(self, seeds, opts)
    }

    fn shrink_on(
        &self,
        seed: Seed,
        bugs: BugSet,
        plan: Option<&ErasedPlan>,
        engine: crate::engine::EngineKind,
    ) -> Result<Shrunk, String> {
        let plan = plan.map(|p| typed_plan::<F>(&self.info, p)).transpose()?;
        crate::shrink::shrink_on(self, seed, bugs, plan, engine)
    }
}
