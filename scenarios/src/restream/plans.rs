//! Fault plans of the restream scenarios, drawn from the seed.
//!
//! Every plan starts the publisher within the first 1.5 s and leaves the
//! liveness phase (from `HEAL_AT`) fault-free; the runner heals everything
//! there. Draws come from the plan context (`SimRng::fork(seed,
//! "<scenario>")`), so each scenario's plans are independent of the
//! others' draw order.

use super::fault::Fault;
use super::world::{KICK_INGEST, OBS, RELAY, TWITCH_API, TWITCH_INGEST, YOUTUBE_INGEST};
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
    ctx.fault_points(p_on, point_draw(until));
}

/// The restream sites from 2 s to `until_ms`: the pump's writes and the
/// ingest's reads pass many times a second, the Twitch response once per
/// VOD fetch (a rare site).
fn point_draw(until_ms: u64) -> FaultPointDraw<'static> {
    FaultPointDraw::hot("restream.", 2_000, until_ms).with_rare(&["restream.twitch.response"])
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

/// `vod-phases` heals here (shorter than the others: it is a coverage
/// scenario, 50+ seeds in every `cargo test`).
pub const PHASES_HEAL_AT: Duration = Duration::from_secs(30);
/// `vod-phases` ends here: the liveness bound (20 s) after the last
/// publish, which can come up to OBS's 10 s read timeout after the heal (a
/// publisher that wrote into a blackhole until the restore), and a margin.
pub const PHASES_DURATION: Duration = Duration::from_secs(62);

/// When the first pumps and the first VOD fetch start: the first
/// supervisor tick after the publisher is up (it connects by 1.5 s).
const FIRST_TICK_MS: u64 = 2_000;

/// The first supervisor tick at or after `ms` (ticks every 2 s from 0).
fn next_tick(ms: u64) -> u64 {
    ms.div_ceil(2_000) * 2_000
}

/// A link fault that opens at `at` and closes `len` later, before the heal.
fn window(ctx: &mut Ctx, at: u64, len: u64, open: Step, close: Step) {
    let until = PHASES_HEAL_AT.as_millis() as u64 - 1;
    let at = at.min(until - 1);
    ctx.push_ms(at, open);
    ctx.push_ms((at + len).min(until), close);
}

type Step = relaysim_harness::fault::Step<Fault>;

fn blackhole(a: &str, b: &str) -> (Step, Step) {
    (
        NetFault::Blackhole {
            a: a.into(),
            b: b.into(),
        }
        .into(),
        NetFault::Restore {
            a: a.into(),
            b: b.into(),
        }
        .into(),
    )
}

fn silence(host: &str) -> (Step, Step) {
    (
        Fault::Silent { host: host.into() }.into(),
        Fault::Speak { host: host.into() }.into(),
    )
}

/// Aims at a phase or a deadline of every restream connection (see
/// [`super::phases`]): blackholes (a connect hangs, a stream goes
/// half-open) and silent peers (accept, then nothing) on the pump, Twitch
/// and publisher links, aimed at the first pumps' and fetch's connect or
/// at a reconnect after a publisher flap, sometimes a Twitch answer that
/// lands within a tick of the 12 s total timeout, sometimes core fault
/// points.
pub fn vod_phases(ctx: &mut Ctx) {
    start(ctx);
    // The Twitch answer's latency: at the total timeout's edge, or ordinary.
    let latency_max;
    if ctx.kind("deadline-edge", 0.3).is_some() {
        // The request is read about 150 ms into the fetch and the answer
        // takes a tick to arrive: 11.65-11.9 s lands from one tick before
        // the 12 s total timeout to a tick after it.
        let edge = 11_650 + 50 * ctx.rng.range(0, 5);
        latency_max = edge;
        ctx.push(
            Duration::ZERO,
            Fault::TwitchLatency {
                min_ms: edge,
                max_ms: edge,
            },
        );
    } else {
        let max = ctx.rng.range(200, 4_000);
        let min = ctx.rng.range(20, max);
        latency_max = max;
        ctx.push(
            Duration::ZERO,
            Fault::TwitchLatency {
                min_ms: min,
                max_ms: max,
            },
        );
    }
    // The Twitch pump's URL-change restart (its old connection's
    // teardown): the tick after the first fetch's answer.
    let restart_at = next_tick(FIRST_TICK_MS + latency_max + 100);
    // A publisher flap: the pumps and the VOD fetch start over after it.
    let mut fetch_at = FIRST_TICK_MS;
    if let Some(x) = ctx.kind("publisher-flap", 0.6) {
        let down = ctx.rng.range(4_000, 16_000);
        let gap = ctx.rng.range(100, 3_000);
        ctx.push_ms(down, Fault::PublisherDisconnect);
        let up = down + gap;
        let mut publish = up + 400;
        if x > 0.5 {
            // It reconnects silent: the ingest's handshake wait (5 s) runs
            // out; once it speaks it reconnects after its 0.5 s retry.
            let len = gap + ctx.rng.range(5_500, 8_000);
            let (open, close) = silence(OBS);
            window(ctx, down, len, open, close);
            publish = down + len + 900;
        }
        ctx.push_ms(up, Fault::PublisherConnect);
        // The next tick after the publish fetches again.
        fetch_at = next_tick(publish);
    }
    let ingests = [TWITCH_INGEST, TWITCH_INGEST, YOUTUBE_INGEST, KICK_INGEST];
    // At the first pumps' connect, at the Twitch pump's restart, or
    // anywhere in the fault phase.
    let pump_at = |ctx: &mut Ctx| {
        let aim = ctx.rng.range(0, 100);
        if aim < 35 {
            (FIRST_TICK_MS - ctx.rng.range(0, 200), None)
        } else if aim < 60 {
            (restart_at - ctx.rng.range(0, 300), Some(TWITCH_INGEST))
        } else {
            (ctx.rng.range(2_500, 25_000), None)
        }
    };
    if ctx.kind("ingest-blackhole", 0.5).is_some() {
        let (at, aimed) = pump_at(ctx);
        let host = aimed.unwrap_or(*ctx.rng.pick(&ingests));
        let len = ctx.rng.range(1_000, 10_000);
        let (open, close) = blackhole(RELAY, host);
        window(ctx, at, len, open, close);
    }
    if ctx.kind("ingest-silent", 0.5).is_some() {
        let (at, aimed) = pump_at(ctx);
        let host = aimed.unwrap_or(*ctx.rng.pick(&ingests));
        let len = ctx.rng.range(2_000, 10_000);
        let (open, close) = silence(host);
        window(ctx, at, len, open, close);
    }
    // At a fetch's connect (just before its tick), or anywhere.
    let twitch_at = |ctx: &mut Ctx| {
        if ctx.rng.chance(0.7) {
            fetch_at - ctx.rng.range(0, 300)
        } else {
            ctx.rng.range(2_000, 25_000)
        }
    };
    if ctx.kind("twitch-blackhole", 0.4).is_some() {
        let at = twitch_at(ctx);
        let len = ctx.rng.range(3_000, 12_000);
        let (open, close) = blackhole(RELAY, TWITCH_API);
        window(ctx, at, len, open, close);
    }
    if ctx.kind("twitch-silent", 0.4).is_some() {
        let at = twitch_at(ctx);
        let len = ctx.rng.range(1_000, 10_000);
        let (open, close) = silence(TWITCH_API);
        window(ctx, at, len, open, close);
    }
    if ctx.kind("twitch-errors", 0.2).is_some() {
        let at = twitch_at(ctx);
        let len = ctx.rng.range(1_000, 8_000);
        window(
            ctx,
            at,
            len,
            Fault::TwitchErrors { percent: 60 }.into(),
            Fault::TwitchErrors { percent: 0 }.into(),
        );
    }
    if ctx.kind("obs-blackhole", 0.4).is_some() {
        let at = ctx.rng.range(3_000, 25_000);
        let len = ctx.rng.range(2_000, 9_000);
        let (open, close) = blackhole(OBS, RELAY);
        window(ctx, at, len, open, close);
    }
    let until = PHASES_HEAL_AT.as_millis() as u64 - 1;
    ctx.fault_points(0.2, point_draw(until));
}

#[cfg(test)]
mod tests {
    use relaysim_harness::Seed;

    #[test]
    fn plans_are_deterministic_and_fault_free_after_heal() {
        for scn in [
            &super::super::VOD_SLOW_TWITCH,
            &super::super::VOD_DISCONNECT_RACE,
            &super::super::VOD_TWITCH_DOWN,
            &super::super::VOD_PHASES,
        ] {
            for s in 0..50 {
                let a = scn.plan_for(Seed(s));
                assert_eq!(a, scn.plan_for(Seed(s)));
                assert!(
                    a.events.iter().all(|e| e.at() < scn.info.heal_at),
                    "seed {s}: {a:?}"
                );
                assert!(a.events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
            }
        }
    }
}
