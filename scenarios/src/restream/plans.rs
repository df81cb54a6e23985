//! Fault plans of the restream scenarios, drawn from the seed.
//!
//! Every plan starts the publisher within the first 1.5 s and leaves the
//! liveness phase (from `HEAL_AT`) fault-free; the runner heals everything
//! there. Draws come from `SimRng::fork(seed, "<scenario>")`, so each
//! scenario's plans are independent of the others' draw order.

use super::world::{RELAY, TWITCH_API, TWITCH_INGEST};
use relaysim_core::entropy::SimRng;
use relaysim_harness::fault::{Fault, FaultPlan, FaultPointDraw, Swarm};
use relaysim_harness::Seed;
use std::time::Duration;

/// Faults stop here.
pub const HEAL_AT: Duration = Duration::from_secs(40);
/// Runs end here (the liveness bound is 20 s after the later of the heal and
/// the last publish).
pub const DURATION: Duration = Duration::from_secs(65);

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn start(plan: &mut FaultPlan, rng: &mut SimRng) {
    plan.push(ms(rng.range(200, 1500)), Fault::PublisherConnect);
}

/// Swarm kind `fault-points`: restream's core fault points for part of the
/// fault phase.
fn fault_points(plan: &mut FaultPlan, swarm: &mut Swarm, rng: &mut SimRng, p_on: f64) {
    let until = HEAL_AT.as_millis() as u64 - 1;
    swarm.fault_points(
        plan,
        rng,
        p_on,
        FaultPointDraw::hot("restream.", 2_000, until),
    );
}

/// Twitch latency across 0–15 s (often past the 12 s total timeout), some
/// 503s, sometimes a partition between the relay and the API or its ingest,
/// sometimes core fault points.
pub fn vod_slow_twitch(seed: Seed) -> FaultPlan {
    let mut rng = SimRng::fork(seed.0, "vod-slow-twitch");
    let mut swarm = Swarm::new(seed.0, "vod-slow-twitch");
    let mut plan = FaultPlan::default();
    start(&mut plan, &mut rng);
    let max = rng.range(0, 15_000);
    let min = rng.range(0, max);
    plan.push(
        Duration::ZERO,
        Fault::TwitchLatency {
            min_ms: min,
            max_ms: max,
        },
    );
    if let Some(x) = swarm.kind("twitch-errors", 0.3) {
        plan.push(
            Duration::ZERO,
            Fault::TwitchErrors {
                percent: (5.0 + x * 35.0) as u8,
            },
        );
    }
    if swarm.kind("latency-regime", 0.5).is_some() {
        // A second regime mid-run.
        let at = ms(rng.range(10_000, 30_000));
        let max = rng.range(0, 15_000);
        plan.push(
            at,
            Fault::TwitchLatency {
                min_ms: rng.range(0, max),
                max_ms: max,
            },
        );
    }
    if let Some(x) = swarm.kind("partition", 0.25) {
        let peer = *rng.pick(&[TWITCH_API, TWITCH_INGEST]);
        let at = rng.range(3_000, 30_000);
        let len = 1_000 + (x * 7_000.0) as u64;
        plan.push(
            ms(at),
            Fault::Partition {
                a: RELAY.into(),
                b: peer.into(),
            },
        );
        plan.push(
            ms(at + len),
            Fault::Repair {
                a: RELAY.into(),
                b: peer.into(),
            },
        );
    }
    fault_points(&mut plan, &mut swarm, &mut rng, 0.2);
    swarm.finish(plan)
}

/// OBS disconnects while fetches are in flight and reconnects, fast and
/// slow, several times.
pub fn vod_disconnect_race(seed: Seed) -> FaultPlan {
    let mut rng = SimRng::fork(seed.0, "vod-disconnect-race");
    let mut swarm = Swarm::new(seed.0, "vod-disconnect-race");
    let mut plan = FaultPlan::default();
    start(&mut plan, &mut rng);
    let min = rng.range(300, 3_000);
    let max = rng.range(min, 9_000);
    plan.push(
        Duration::ZERO,
        Fault::TwitchLatency {
            min_ms: min,
            max_ms: max,
        },
    );
    // Intensity: how many cycles and how often the reconnect is fast.
    let x = swarm.kind("publisher-flap", 1.0).unwrap_or(0.5);
    let cycles = 2 + (x * 3.0) as u64;
    let mut t = rng.range(2_500, 6_000);
    for _ in 0..cycles {
        if t >= HEAL_AT.as_millis() as u64 - 1_000 {
            break;
        }
        plan.push(ms(t), Fault::PublisherDisconnect);
        let gap = if rng.chance(0.4 + 0.4 * x) {
            rng.range(100, 800)
        } else {
            rng.range(2_000, 10_000)
        };
        // The heal reconnects anyway; keep the plan itself inside the fault phase.
        plan.push(
            ms((t + gap).min(HEAL_AT.as_millis() as u64 - 1)),
            Fault::PublisherConnect,
        );
        t += gap + rng.range(2_500, 10_000);
    }
    fault_points(&mut plan, &mut swarm, &mut rng, 0.2);
    swarm.finish(plan)
}

/// Twitch answers errors (or is unreachable) from the start, then recovers.
pub fn vod_twitch_down(seed: Seed) -> FaultPlan {
    let mut rng = SimRng::fork(seed.0, "vod-twitch-down");
    let mut swarm = Swarm::new(seed.0, "vod-twitch-down");
    let mut plan = FaultPlan::default();
    start(&mut plan, &mut rng);
    let max = rng.range(50, 3_000);
    plan.push(
        Duration::ZERO,
        Fault::TwitchLatency {
            min_ms: rng.range(20, max),
            max_ms: max,
        },
    );
    let recover = ms(rng.range(8_000, 30_000));
    if swarm.kind("twitch-errors", 0.7).is_some() {
        plan.push(Duration::ZERO, Fault::TwitchErrors { percent: 100 });
        plan.push(recover, Fault::TwitchErrors { percent: 0 });
    } else {
        swarm.kind("partition", 1.0);
        plan.push(
            ms(100),
            Fault::Partition {
                a: RELAY.into(),
                b: TWITCH_API.into(),
            },
        );
        plan.push(
            recover,
            Fault::Repair {
                a: RELAY.into(),
                b: TWITCH_API.into(),
            },
        );
    }
    fault_points(&mut plan, &mut swarm, &mut rng, 0.2);
    swarm.finish(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_deterministic_and_fault_free_after_heal() {
        for gen in [vod_slow_twitch, vod_disconnect_race, vod_twitch_down] {
            for s in 0..50 {
                let a = gen(Seed(s));
                assert_eq!(a, gen(Seed(s)));
                assert!(a.events.iter().all(|e| e.at() < HEAL_AT), "seed {s}: {a:?}");
                assert!(a.events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
            }
        }
    }
}
