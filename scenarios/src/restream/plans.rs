//! Fault plans of the restream scenarios, drawn from the seed.
//!
//! Every plan starts the publisher within the first 1.5 s and leaves the
//! liveness phase (from `HEAL_AT`) fault-free; the runner heals everything
//! there. Draws come from the plan context (`SimRng::fork(seed,
//! "<scenario>")`), so each scenario's plans are independent of the
//! others' draw order.

use super::fault::Fault;
use super::world::{RELAY, TWITCH_API, TWITCH_INGEST};
use relaysim_harness::fault::{FaultPointDraw, NetFault, PlanCtx};
use std::time::Duration;

type Ctx = PlanCtx<Fault>;

/// Faults stop here.
pub const HEAL_AT: Duration = Duration::from_secs(40);
/// Runs end here (the liveness bound is 20 s after the later of the heal and
/// the last publish).
pub const DURATION: Duration = Duration::from_secs(65);

fn start(ctx: &mut Ctx) {
    let at = ctx.rng.range(200, 1500);
    ctx.push_ms(at, Fault::PublisherConnect);
}

/// Swarm kind `fault-points`: restream's core fault points for part of the
/// fault phase.
fn fault_points(ctx: &mut Ctx, p_on: f64) {
    let until = HEAL_AT.as_millis() as u64 - 1;
    ctx.fault_points(p_on, FaultPointDraw::hot("restream.", 2_000, until));
}

/// Twitch latency across 0–15 s (often past the 12 s total timeout), some
/// 503s, sometimes a partition between the relay and the API or its ingest,
/// sometimes core fault points.
pub fn vod_slow_twitch(ctx: &mut Ctx) {
    start(ctx);
    let max = ctx.rng.range(0, 15_000);
    let min = ctx.rng.range(0, max);
    ctx.push(
        Duration::ZERO,
        Fault::TwitchLatency {
            min_ms: min,
            max_ms: max,
        },
    );
    if let Some(x) = ctx.kind("twitch-errors", 0.3) {
        ctx.push(
            Duration::ZERO,
            Fault::TwitchErrors {
                percent: (5.0 + x * 35.0) as u8,
            },
        );
    }
    if ctx.kind("latency-regime", 0.5).is_some() {
        // A second regime mid-run.
        let at = Duration::from_millis(ctx.rng.range(10_000, 30_000));
        let max = ctx.rng.range(0, 15_000);
        let min = ctx.rng.range(0, max);
        ctx.push(
            at,
            Fault::TwitchLatency {
                min_ms: min,
                max_ms: max,
            },
        );
    }
    if let Some(x) = ctx.kind("partition", 0.25) {
        let peer = *ctx.rng.pick(&[TWITCH_API, TWITCH_INGEST]);
        let at = ctx.rng.range(3_000, 30_000);
        let len = 1_000 + (x * 7_000.0) as u64;
        ctx.push(
            Duration::from_millis(at),
            NetFault::Partition {
                a: RELAY.into(),
                b: peer.into(),
            },
        );
        ctx.push(
            Duration::from_millis(at + len),
            NetFault::Repair {
                a: RELAY.into(),
                b: peer.into(),
            },
        );
    }
    fault_points(ctx, 0.2);
}

/// OBS disconnects while fetches are in flight and reconnects, fast and
/// slow, several times.
pub fn vod_disconnect_race(ctx: &mut Ctx) {
    start(ctx);
    let min = ctx.rng.range(300, 3_000);
    let max = ctx.rng.range(min, 9_000);
    ctx.push(
        Duration::ZERO,
        Fault::TwitchLatency {
            min_ms: min,
            max_ms: max,
        },
    );
    // Intensity: how many cycles and how often the reconnect is fast.
    let x = ctx.kind("publisher-flap", 1.0).unwrap_or(0.5);
    let cycles = 2 + (x * 3.0) as u64;
    let mut t = ctx.rng.range(2_500, 6_000);
    for _ in 0..cycles {
        if t >= HEAL_AT.as_millis() as u64 - 1_000 {
            break;
        }
        ctx.push(Duration::from_millis(t), Fault::PublisherDisconnect);
        let gap = if ctx.rng.chance(0.4 + 0.4 * x) {
            ctx.rng.range(100, 800)
        } else {
            ctx.rng.range(2_000, 10_000)
        };
        // The heal reconnects anyway; keep the plan itself inside the fault phase.
        ctx.push(
            Duration::from_millis((t + gap).min(HEAL_AT.as_millis() as u64 - 1)),
            Fault::PublisherConnect,
        );
        t += gap + ctx.rng.range(2_500, 10_000);
    }
    fault_points(ctx, 0.2);
}

/// Twitch answers errors (or is unreachable) from the start, then recovers.
pub fn vod_twitch_down(ctx: &mut Ctx) {
    start(ctx);
    let max = ctx.rng.range(50, 3_000);
    let min = ctx.rng.range(20, max);
    ctx.push(
        Duration::ZERO,
        Fault::TwitchLatency {
            min_ms: min,
            max_ms: max,
        },
    );
    let recover = Duration::from_millis(ctx.rng.range(8_000, 30_000));
    if ctx.kind("twitch-errors", 0.7).is_some() {
        ctx.push(Duration::ZERO, Fault::TwitchErrors { percent: 100 });
        ctx.push(recover, Fault::TwitchErrors { percent: 0 });
    } else {
        ctx.kind("partition", 1.0);
        ctx.push(
            Duration::from_millis(100),
            NetFault::Partition {
                a: RELAY.into(),
                b: TWITCH_API.into(),
            },
        );
        ctx.push(
            recover,
            NetFault::Repair {
                a: RELAY.into(),
                b: TWITCH_API.into(),
            },
        );
    }
    fault_points(ctx, 0.2);
}

#[cfg(test)]
mod tests {
    use super::*;
    use relaysim_harness::Seed;

    #[test]
    fn plans_are_deterministic_and_fault_free_after_heal() {
        for scn in [
            &super::super::VOD_SLOW_TWITCH,
            &super::super::VOD_DISCONNECT_RACE,
            &super::super::VOD_TWITCH_DOWN,
        ] {
            for s in 0..50 {
                let a = scn.plan_for(Seed(s));
                assert_eq!(a, scn.plan_for(Seed(s)));
                assert!(a.events.iter().all(|e| e.at() < HEAL_AT), "seed {s}: {a:?}");
                assert!(a.events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
            }
        }
    }
}
