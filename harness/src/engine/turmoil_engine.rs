//! The turmoil engine: the reference, fixed ticks over every host.
//!
//! Owns how a scenario's timing and links become a turmoil simulation. It
//! must never change a setting without every trace snapshot changing with
//! it (turmoil's traces are the reference).

use crate::scenario::{NetParams, ScenarioInfo};
use crate::seed::Seed;
use std::time::Duration;

/// An empty turmoil simulation with the scenario's tick, links and buffers,
/// seeded by `seed` (explicit epoch: nothing reads the wall clock).
pub fn sim_for(scn: &ScenarioInfo, seed: Seed) -> turmoil::Sim<'static> {
    sim_with(seed, scn.tick, scn.duration, scn.net)
}

/// The same from the parts: tick, run length and links.
pub fn sim_with(
    seed: Seed,
    tick: Duration,
    duration: Duration,
    net: NetParams,
) -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .rng_seed(seed.0)
        .epoch(std::time::UNIX_EPOCH)
        .tick_duration(tick)
        .simulation_duration(duration + Duration::from_secs(3600))
        .min_message_latency(net.min_latency)
        .max_message_latency(net.max_latency)
        .tcp_capacity(net.tcp_capacity)
        .build()
}
