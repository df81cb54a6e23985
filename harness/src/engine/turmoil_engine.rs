//! The turmoil engine: the reference, fixed ticks over every host.
//!
//! Owns how a scenario's timing and links become a turmoil simulation. It
//! must never change a setting without every trace snapshot changing with
//! it (turmoil's traces are the reference).

use crate::scenario::ScenarioInfo;
use crate::seed::Seed;
use std::time::Duration;

/// An empty turmoil simulation with the scenario's tick, links and buffers,
/// seeded by `seed` (explicit epoch: nothing reads the wall clock).
pub fn sim_for(scn: &ScenarioInfo, seed: Seed) -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .rng_seed(seed.0)
        .epoch(std::time::UNIX_EPOCH)
        .tick_duration(scn.tick)
        .simulation_duration(scn.duration + Duration::from_secs(3600))
        .min_message_latency(scn.net.min_latency)
        .max_message_latency(scn.net.max_latency)
        .tcp_capacity(scn.net.tcp_capacity)
        .build()
}
