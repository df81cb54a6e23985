//! The engine seam: what a world builder and the runner need from a
//! simulation engine, and the two engines behind it.
//!
//! Owns [`EngineKind`] (the `--engine turmoil|fast` choice), [`Sim`] (one
//! run's engine: register hosts, step, apply the link faults, read the
//! clock), [`SimNet`] (core's `Net` on whichever engine runs this thread),
//! the clock and stream-count facts a host may read ([`elapsed`],
//! [`established_streams`]), and [`HostResult`], what host software returns.
//! turmoil is the reference engine; the fast engine (`fast`) is an
//! event-driven network on one paused tokio runtime. Worlds and peers name
//! only this module, never an engine. It must never let an engine choice
//! change a plan, and never read the wall clock.

pub mod fast;
mod net;
mod turmoil_engine;

pub use net::{SimListener, SimNet, SimStream};
pub use turmoil_engine::sim_for as turmoil_sim_for;

use crate::scenario::{NetParams, ScenarioInfo};
use crate::seed::Seed;
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

/// What host software returns (an error fails the run as `host-error`).
pub type HostResult = Result<(), Box<dyn std::error::Error>>;

/// Which engine runs a seed (in plan files by its CLI name).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// turmoil: fixed ticks over every host; the reference.
    #[default]
    Turmoil,
    /// The event-driven engine: one paused runtime, no tick.
    Fast,
}

impl EngineKind {
    /// Both engines, reference first.
    pub const ALL: [EngineKind; 2] = [EngineKind::Turmoil, EngineKind::Fast];

    /// The CLI name.
    pub const fn name(self) -> &'static str {
        match self {
            EngineKind::Turmoil => "turmoil",
            EngineKind::Fast => "fast",
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EngineKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "turmoil" => Ok(EngineKind::Turmoil),
            "fast" => Ok(EngineKind::Fast),
            other => Err(format!(
                "unknown engine {other:?} (expected turmoil or fast)"
            )),
        }
    }
}

/// One run's engine.
pub enum Sim {
    /// turmoil's simulation.
    Turmoil(Box<turmoil::Sim<'static>>),
    /// The fast engine.
    Fast(fast::Sim),
}

impl Sim {
    /// An empty simulation of `kind` with the scenario's tick, links and
    /// buffers, seeded by `seed`.
    pub fn new(kind: EngineKind, scn: &ScenarioInfo, seed: Seed) -> Sim {
        match kind {
            EngineKind::Turmoil => Sim::Turmoil(Box::new(turmoil_engine::sim_for(scn, seed))),
            EngineKind::Fast => Sim::Fast(fast::Sim::new(seed.0, scn.net)),
        }
    }

    /// An empty simulation from the parts: tick (turmoil's step), run
    /// length and links (what the conformance suite builds).
    pub fn with(
        kind: EngineKind,
        seed: Seed,
        tick: Duration,
        duration: Duration,
        net: NetParams,
    ) -> Sim {
        match kind {
            EngineKind::Turmoil => Sim::Turmoil(Box::new(turmoil_engine::sim_with(
                seed, tick, duration, net,
            ))),
            EngineKind::Fast => Sim::Fast(fast::Sim::new(seed.0, net)),
        }
    }

    /// Runs until `until` of simulated time has passed (every step the
    /// engine takes on the way); stops at a host's error.
    pub fn run_for(&mut self, until: Duration) -> Result<(), String> {
        while self.elapsed() < until {
            self.step_toward(until)?;
        }
        Ok(())
    }

    /// Which engine this is.
    pub fn kind(&self) -> EngineKind {
        match self {
            Sim::Turmoil(_) => EngineKind::Turmoil,
            Sim::Fast(_) => EngineKind::Fast,
        }
    }

    /// Registers a host named `name` whose software is `software()`.
    pub fn host<F, Fut>(&mut self, name: &str, software: F)
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = HostResult> + Send + 'static,
    {
        match self {
            Sim::Turmoil(s) => s.host(name, software),
            Sim::Fast(s) => s.host(name, software),
        }
    }

    /// Registers a host that runs `software` once (turmoil's client).
    pub fn client<Fut>(&mut self, name: &str, software: Fut)
    where
        Fut: Future<Output = HostResult> + Send + 'static,
    {
        match self {
            Sim::Turmoil(s) => s.client(name, software),
            Sim::Fast(s) => s.client(name, software),
        }
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        match self {
            Sim::Turmoil(s) => s.elapsed(),
            Sim::Fast(s) => s.elapsed(),
        }
    }

    /// Advances toward `target`: turmoil by exactly one tick, the fast
    /// engine straight to `target`. An error is a host's software failing.
    pub fn step_toward(&mut self, target: Duration) -> Result<(), String> {
        match self {
            Sim::Turmoil(s) => s.step().map(|_| ()).map_err(|e| e.to_string()),
            Sim::Fast(s) => s.run_until(target),
        }
    }

    /// Cuts the link between two hosts.
    pub fn partition(&mut self, a: &str, b: &str) {
        match self {
            Sim::Turmoil(s) => s.partition(a, b),
            Sim::Fast(s) => s.partition(a, b),
        }
    }

    /// Repairs a cut link.
    pub fn repair(&mut self, a: &str, b: &str) {
        match self {
            Sim::Turmoil(s) => s.repair(a, b),
            Sim::Fast(s) => s.repair(a, b),
        }
    }

    /// Holds the link's packets.
    pub fn hold(&mut self, a: &str, b: &str) {
        match self {
            Sim::Turmoil(s) => s.hold(a, b),
            Sim::Fast(s) => s.hold(a, b),
        }
    }

    /// Releases a held link.
    pub fn release(&mut self, a: &str, b: &str) {
        match self {
            Sim::Turmoil(s) => s.release(a, b),
            Sim::Fast(s) => s.release(a, b),
        }
    }

    /// Silences the link ([`NetFault::Blackhole`](crate::fault::NetFault)):
    /// both engines park what is on it and what is sent to it, so a connect
    /// hangs and a stream goes half-open.
    pub fn blackhole(&mut self, a: &str, b: &str) {
        self.hold(a, b);
    }

    /// Crashes a host ([`NetFault::Crash`](crate::fault::NetFault)): every
    /// task of its software is aborted, its sockets close, its ports stop
    /// listening. Panics for a host registered with [`Sim::client`] (its
    /// software runs once and cannot restart), and on the fast engine for a
    /// host with a task that was not spawned through
    /// `relaysim_core::rt::spawn` (it could not be aborted).
    pub fn crash(&mut self, host: &str) {
        match self {
            Sim::Turmoil(s) => s.crash(host),
            Sim::Fast(s) => s.crash(host),
        }
    }

    /// Restarts a host's software from scratch, crashing it first if it
    /// runs ([`NetFault::Bounce`](crate::fault::NetFault)). Panics as
    /// [`Sim::crash`] does.
    pub fn bounce(&mut self, host: &str) {
        match self {
            Sim::Turmoil(s) => s.bounce(host),
            Sim::Fast(s) => s.bounce(host),
        }
    }

    /// Ends a blackhole: everything it parked is lost (a cut), then the
    /// link is repaired. A hanging connect is refused; a stream that lost
    /// bytes keeps its gap.
    pub fn restore(&mut self, a: &str, b: &str) {
        match self {
            Sim::Turmoil(s) => {
                // A partition clears the link's queue, held messages
                // included; the repair makes it healthy again.
                s.partition(a, b);
                s.repair(a, b);
            }
            Sim::Fast(s) => s.restore(a, b),
        }
    }
}

/// Simulated time since the start of the run, read from inside a host (or
/// while the fast engine runs); `None` outside any simulation.
pub fn elapsed() -> Option<Duration> {
    if fast::active() {
        fast::elapsed()
    } else {
        turmoil::sim_elapsed()
    }
}

/// Established TCP streams of the current host (a reset removes one).
/// Panics outside a host.
pub fn established_streams() -> usize {
    if fast::active() {
        fast::established()
    } else {
        turmoil::established_tcp_stream_count()
    }
}
