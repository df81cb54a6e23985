//! Real time beside the simulator: a family's scenario on `TokioNet` over
//! loopback, every timing divided by a scale, its seed's plan played at the
//! scaled times, and sanity facts that say the run did the scenario's work.
//!
//! Owns [`RealTime`], [`Fact`] and the shared run (a two-worker tokio
//! runtime, plan playback, the simulator's time for the same seed). Each
//! family's run ([`restream`], [`ws`]) wires the family's own configuration
//! (`restream::world::relay_config`, `ws::world::server_config`, …) to
//! loopback addresses instead of simulated host names.

pub mod restream;
pub mod ws;

use super::{median, now};
use relaysim_core::{Net, TokioNet};
use relaysim_harness::fault::{FamilyFault, FaultPlan, Step};
use relaysim_harness::runner::{run_seed, RunOptions};
use relaysim_harness::trace::{Recorder, Trace};
use relaysim_harness::{Scenario, Seed};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// One sanity fact of a real-time run: evidence that the scaled run did the
/// scenario's work (printed beside the timing; asserted by tests, unlike the
/// timing itself).
#[derive(Debug, Clone)]
pub struct Fact {
    /// Its key in the JSON line.
    pub key: &'static str,
    /// Its wording in the human line.
    pub human: String,
    /// Its value.
    pub value: serde_json::Value,
}

impl Fact {
    pub(crate) fn new(
        key: &'static str,
        human: String,
        value: impl Into<serde_json::Value>,
    ) -> Fact {
        Fact {
            key,
            human,
            value: value.into(),
        }
    }
}

/// A scenario on real sockets in real time.
#[derive(Debug, Clone)]
pub struct RealTime {
    /// The scenario.
    pub scenario: &'static str,
    /// The seed whose plan was played.
    pub seed: Seed,
    /// Every timing was divided by this.
    pub scale: u32,
    /// Wall time of the scaled run.
    pub wall_s: f64,
    /// The scenario's simulated length (what an unscaled run would take).
    pub scenario_s: f64,
    /// The same seed in the simulator, one core (median of a few runs).
    pub sim_wall_s: f64,
    /// Faults of the plan that loopback cannot apply (network faults).
    pub skipped_faults: usize,
    /// What the run did, in print order.
    pub facts: Vec<Fact>,
}

impl RealTime {
    /// Wall time an unscaled real-time run would take, over the simulator's.
    pub fn acceleration(&self) -> f64 {
        self.scenario_s / self.sim_wall_s
    }

    /// The value of the fact `key`.
    pub fn fact(&self, key: &str) -> Option<&serde_json::Value> {
        self.facts.iter().find(|f| f.key == key).map(|f| &f.value)
    }
}

/// A listener on 127.0.0.1 and its port.
pub(crate) async fn bind_loopback() -> std::io::Result<(tokio::net::TcpListener, u16)> {
    let l = TokioNet.bind("127.0.0.1:0").await?;
    let port = l.local_addr()?.port();
    Ok((l, port))
}

/// Runs of the seed in the simulator whose median wall time the real-time
/// run is compared with (a single run was seen to vary 2x between bench
/// runs).
const SIM_REPEATS: usize = 5;

/// What every real-time run shares: a two-worker tokio runtime, the seed's
/// plan, the scale, one recorder, and the simulator's wall time for the
/// same seed (median of [`SIM_REPEATS`] runs, measured first, on this
/// thread).
pub(crate) struct RealTimeRun<F: 'static> {
    pub(crate) scn: &'static Scenario<F>,
    pub(crate) seed: Seed,
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) k: u32,
    pub(crate) plan: FaultPlan<F>,
    pub(crate) sim_wall_s: f64,
    pub(crate) recorder: Arc<Recorder>,
}

impl<F: FamilyFault> RealTimeRun<F> {
    pub(crate) fn new(
        scn: &'static Scenario<F>,
        seed: Seed,
        scale: u32,
    ) -> Result<RealTimeRun<F>, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
        let never = AtomicBool::new(false);
        let sim_wall_s = median(
            (0..SIM_REPEATS)
                .map(|_| {
                    let start = now();
                    run_seed(scn, seed, &RunOptions::default(), &never);
                    start.elapsed().as_secs_f64()
                })
                .collect(),
        );
        Ok(RealTimeRun {
            scn,
            seed,
            rt,
            k: scale.max(1),
            plan: scn.plan_for(seed),
            sim_wall_s,
            recorder: Recorder::new(),
        })
    }

    pub(crate) fn div(&self, d: Duration) -> Duration {
        d / self.k
    }

    /// Plays the plan in real time, scaled: each fault before the heal goes
    /// to `apply` at its scaled time (`false`: loopback cannot apply it, and
    /// it is counted as skipped); `heal` runs at the scaled heal, and faults
    /// past it are dropped, as in the simulator. Returns at the scaled end
    /// with (wall seconds, faults skipped).
    pub(crate) async fn play(
        &self,
        mut apply: impl FnMut(&Step<F>) -> bool,
        heal: impl FnOnce(),
    ) -> (f64, usize) {
        let start = tokio::time::Instant::now();
        let heal_at = self.div(self.scn.heal_at);
        let mut skipped = 0;
        for e in self
            .plan
            .events
            .iter()
            .take_while(|e| self.div(e.at()) < heal_at)
        {
            tokio::time::sleep_until(start + self.div(e.at())).await;
            if !apply(&e.fault) {
                skipped += 1;
            }
        }
        tokio::time::sleep_until(start + heal_at).await;
        heal();
        tokio::time::sleep_until(start + self.div(self.scn.duration)).await;
        (start.elapsed().as_secs_f64(), skipped)
    }

    /// Stops the runtime (its tasks run forever) and reports, with the
    /// sanity facts `facts` reads off the trace.
    pub(crate) fn finish(
        self,
        played: std::io::Result<(f64, usize)>,
        facts: impl FnOnce(&Trace) -> Vec<Fact>,
    ) -> Result<RealTime, String> {
        let (wall_s, skipped_faults) = played.map_err(|e| format!("real-time run failed: {e}"))?;
        self.rt.shutdown_timeout(Duration::from_millis(200));
        let facts = facts(&self.recorder.snapshot());
        Ok(RealTime {
            scenario: self.scn.name,
            seed: self.seed,
            scale: self.k,
            wall_s,
            scenario_s: self.scn.duration.as_secs_f64(),
            sim_wall_s: self.sim_wall_s,
            skipped_faults,
            facts,
        })
    }
}
