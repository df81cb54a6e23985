//! Fault plans (and workloads) of the transcode scenarios, drawn from the
//! seed.
//!
//! Every plan publishes each broadcast within the first 1.5 s and leaves
//! the liveness phase (from the heal) fault-free: the heal re-publishes
//! every broadcast and disarms panics. Each seed first draws its swarm
//! (which fault kinds are on, how hard), then its events; both come from
//! the plan context (`SimRng::fork(seed, "<scenario>")`), so each
//! scenario's plans are independent of the others' draw order.

use super::fault::Fault;
use super::world::{ENCODERS, PUBLISHERS, TRANSCODE};
use relaysim_core::transcode::Phase;
use relaysim_harness::fault::NetFault;
use relaysim_harness::fault::{FaultPointDraw, PlanCtx};
use std::time::Duration;

type Ctx = PlanCtx<Fault>;

/// `transcode-ladder-churn`: faults stop here …
pub const CHURN_HEAL_AT: Duration = Duration::from_secs(16);
/// … and the run ends here (every re-publish after the heal has settled).
pub const CHURN_DURATION: Duration = Duration::from_secs(22);
/// `transcode-slow-consumer`.
pub const SLOW_HEAL_AT: Duration = Duration::from_secs(16);
/// Long enough after the heal for a slow drain of an unpublished broadcast
/// to work through its ring (16 fragments × at most 600 ms).
pub const SLOW_DURATION: Duration = Duration::from_secs(28);
/// How many publishers the slow-consumer world has.
pub const SLOW_PUBLISHERS: usize = 2;

/// Publish / unpublish / re-publish cycles for one publisher; returns the
/// publish times.
fn cycles(ctx: &mut Ctx, publisher: &str, heal_at: u64, max_cycles: u64) -> Vec<u64> {
    let mut t = ctx.rng.range(100, 1500);
    let mut publishes = vec![t];
    ctx.push_ms(
        t,
        Fault::BroadcastPublish {
            publisher: publisher.into(),
        },
    );
    for _ in 0..ctx.rng.range(1, max_cycles) {
        t += ctx.rng.range(1500, 5000);
        if t + 500 >= heal_at {
            break;
        }
        ctx.push_ms(
            t,
            Fault::BroadcastUnpublish {
                publisher: publisher.into(),
            },
        );
        // Fast re-publishes race the previous session's teardown; slow
        // ones leave a gap. The heal re-publishes anyway.
        t += if ctx.rng.chance(0.5) {
            ctx.rng.range(50, 600)
        } else {
            ctx.rng.range(1000, 3000)
        };
        if t + 200 >= heal_at {
            break;
        }
        ctx.push_ms(
            t,
            Fault::BroadcastPublish {
                publisher: publisher.into(),
            },
        );
        publishes.push(t);
    }
    publishes
}

/// Broadcasts publish, stop and re-publish; the admin API adds and removes
/// renditions at drawn times (most removals aimed at a publish, with a
/// landing window that covers its entry-created callback); transcoders
/// panic at drawn fragments, starts and stops.
pub fn ladder_churn(ctx: &mut Ctx) {
    let heal = CHURN_HEAL_AT.as_millis() as u64;
    let churn = ctx.kind("publisher-churn", 1.0).unwrap_or(0.5);
    let mut publishes = Vec::new();
    for (host, _) in PUBLISHERS {
        publishes.extend(cycles(ctx, host, heal, 2 + (churn * 2.0) as u64));
    }
    publishes.sort_unstable();

    let pool = ["720p", "480p", "240p", "360p"];
    let aim = ctx.rng.chance(0.8);
    let edits = ctx
        .kind("rendition-edits", 0.9)
        .map_or(0, |x| 2 + (x * 4.0) as u64);
    for _ in 0..edits {
        let (at, window_ms) = if aim && ctx.rng.chance(0.6) {
            let p = *ctx.rng.pick(&publishes);
            (
                p.saturating_sub(ctx.rng.range(0, 100)),
                ctx.rng.range(150, 400),
            )
        } else {
            (ctx.rng.range(500, heal - 1000), ctx.rng.range(0, 300))
        };
        let rendition = ctx.rng.pick(&pool).to_string();
        let fault = if ctx.rng.chance(0.55) {
            Fault::RenditionRemove {
                rendition,
                window_ms,
            }
        } else {
            Fault::RenditionAdd {
                rendition,
                window_ms,
            }
        };
        ctx.push_ms(at, fault);
    }

    if let Some(x) = ctx.kind("transcoder-panics", 0.7) {
        for _ in 0..1 + (x * 3.0) as u64 {
            let phase = match ctx.rng.range(0, 9) {
                0 => Phase::Start,
                1 => Phase::Stop,
                _ => Phase::Fragment,
            };
            let at = ctx.rng.range(500, heal - 1000);
            let rendition = ctx.rng.pick(&pool).to_string();
            let after = ctx.rng.range(0, 40);
            ctx.push_ms(
                at,
                Fault::TranscoderPanic {
                    rendition,
                    phase,
                    after,
                },
            );
        }
    }
    ctx.fault_points(0.2, FaultPointDraw::hot("transcode.", 500, heal - 1));
}

/// A slow transcoder next to a fast one; broadcasts publish, stop and
/// re-publish, so drains end and their accounting can be judged.
pub fn slow_consumer(ctx: &mut Ctx) {
    let heal = SLOW_HEAL_AT.as_millis() as u64;
    let churn = ctx.kind("publisher-churn", 1.0).unwrap_or(0.5);
    for (host, _) in PUBLISHERS.iter().take(SLOW_PUBLISHERS) {
        cycles(ctx, host, heal, 2 + (churn * 2.0) as u64);
    }
    ctx.fault_points(0.2, FaultPointDraw::hot("transcode.", 500, heal - 1));
}

/// `transcode-phases`: faults stop here …
pub const PHASES_HEAL_AT: Duration = Duration::from_secs(14);
/// … and the run ends here (the heal's bounce, a claim behind a stalled
/// session's idle bound and the re-publish all fit).
pub const PHASES_DURATION: Duration = Duration::from_secs(20);
/// Blackholes are restored and episodes begin by these times.
const PHASES_QUIET_MS: u64 = 13_000;
const PHASES_LAST_EPISODE_MS: u64 = 10_500;
const PHASES_LAST_CLAIM_MS: u64 = 4_500;

const MAIN: &str = ENCODERS[0].0;
const BACKUP: &str = ENCODERS[1].0;

/// A blackhole on `host`~transcode from `at` for `len` ms (cut to end
/// before the quiet phase).
fn blackhole(ctx: &mut Ctx, host: &str, at: u64, len: u64) {
    let until = (at + len).min(PHASES_QUIET_MS);
    if until <= at {
        return;
    }
    let (a, b) = (host.to_string(), TRANSCODE.to_string());
    ctx.push_ms(
        at,
        NetFault::Blackhole {
            a: a.clone(),
            b: b.clone(),
        },
    );
    ctx.push_ms(until, NetFault::Restore { a, b });
}

/// A silence before a hello: right at the first-frame bound (within a
/// tick either side of it, counting the link's latency), past it, or
/// short.
fn mute_ms(ctx: &mut Ctx) -> u64 {
    match ctx.rng.range(0, 2) {
        0 => ctx.rng.range(4_985, 5_010),
        1 => ctx.rng.range(5_300, 7_000),
        _ => ctx.rng.range(800, 3_000),
    }
}

/// A pause between frames: right at the idle bound (the last frame went
/// out up to one 100 ms frame interval before the pause began), past it,
/// or short.
fn pause_ms(ctx: &mut Ctx) -> u64 {
    match ctx.rng.range(0, 2) {
        0 => ctx.rng.range(4_900, 5_010),
        1 => ctx.rng.range(5_300, 6_500),
        _ => ctx.rng.range(800, 3_000),
    }
}

fn publish(ctx: &mut Ctx, at: u64, host: &str) {
    ctx.push_ms(
        at,
        Fault::BroadcastPublish {
            publisher: host.into(),
        },
    );
}

fn unpublish(ctx: &mut Ctx, at: u64, host: &str) {
    ctx.push_ms(
        at,
        Fault::BroadcastUnpublish {
            publisher: host.into(),
        },
    );
}

/// The main encoder publishes `live/a`; then two or three episodes, each
/// aimed at a phase of its connection or a bound of the ingest, each
/// leaving the main encoder publishing:
///
/// - claim: the backup encoder publishes the same key while the main one
///   is live; the main one stops right at the claim bound, before it or
///   after it (the backup is turned away, retries, takes over); a
///   blackhole may land on the backup's link while it waits (handshake);
/// - pause: the main encoder stops sending frames around the idle bound;
/// - silent hello: the main encoder re-connects and waits around the
///   first-frame bound before its hello;
/// - steady blackhole: its link goes silent mid-stream (the ingest's idle
///   bound notices; the encoder does not), then the operator restarts it
///   (reconnect, claiming behind the stalled session);
/// - teardown blackhole: its link goes silent as it stops (the close is
///   lost; the ingest's idle bound ends the session) and it re-publishes
///   at once (a claim racing the idle bound).
///
/// A blackhole may also land on the very first connect.
pub fn phases(ctx: &mut Ctx) {
    let t0 = ctx.rng.range(100, 600);
    if ctx.kind("blackhole-connect", 0.3).is_some() {
        let len = ctx.rng.range(300, 3_000);
        let at = t0.saturating_sub(ctx.rng.range(0, 20));
        blackhole(ctx, MAIN, at, len);
    }
    if ctx.kind("silent-first-hello", 0.25).is_some() {
        let ms = mute_ms(ctx);
        ctx.push_ms(
            t0,
            Fault::EncoderMute {
                encoder: MAIN.into(),
                ms,
            },
        );
    }
    publish(ctx, t0, MAIN);
    let mut t = t0 + ctx.rng.range(1_500, 3_000);
    for _ in 0..ctx.rng.range(2, 3) {
        if t > PHASES_LAST_EPISODE_MS {
            break;
        }
        // A claim episode lasts up to 8.3 s: only early enough to end
        // before the quiet phase (the others there).
        // The first episode is a claim more often (it is the only one
        // early enough for a claim's whole course).
        let first_claim = t <= PHASES_LAST_CLAIM_MS && ctx.rng.chance(0.25);
        let kind = match ctx.rng.range(0, 4) {
            _ if first_claim => 0,
            0 if t > PHASES_LAST_CLAIM_MS => ctx.rng.range(1, 4),
            k => k,
        };
        t = match kind {
            0 => {
                publish(ctx, t, BACKUP);
                let d = match ctx.rng.range(0, 2) {
                    0 => ctx.rng.range(4_990, 5_030),
                    1 => ctx.rng.range(800, 4_500),
                    _ => ctx.rng.range(5_500, 6_500),
                };
                if ctx.rng.chance(0.3) {
                    let at = t + ctx.rng.range(20, 2_000);
                    let len = ctx.rng.range(200, 1_500);
                    blackhole(ctx, BACKUP, at, len);
                }
                unpublish(ctx, t + d, MAIN);
                let handover = t + d + ctx.rng.range(500, 1_500);
                unpublish(ctx, handover, BACKUP);
                let back = handover + ctx.rng.range(20, 300);
                publish(ctx, back, MAIN);
                back + ctx.rng.range(1_000, 2_000)
            }
            1 => {
                let ms = pause_ms(ctx);
                ctx.push_ms(
                    t,
                    Fault::EncoderPause {
                        encoder: MAIN.into(),
                        ms,
                    },
                );
                t + ms + ctx.rng.range(1_000, 2_000)
            }
            2 => {
                unpublish(ctx, t, MAIN);
                let ms = mute_ms(ctx);
                let back = t + ctx.rng.range(50, 300);
                ctx.push_ms(
                    back,
                    Fault::EncoderMute {
                        encoder: MAIN.into(),
                        ms,
                    },
                );
                publish(ctx, back, MAIN);
                back + ms + ctx.rng.range(1_000, 2_000)
            }
            3 => {
                let len = ctx.rng.range(500, 4_000).min(PHASES_QUIET_MS - 700 - t);
                blackhole(ctx, MAIN, t, len);
                let restart = t + len + ctx.rng.range(100, 800);
                unpublish(ctx, restart, MAIN);
                let back = restart + ctx.rng.range(20, 300);
                publish(ctx, back, MAIN);
                back + ctx.rng.range(1_500, 2_500)
            }
            _ => {
                let len = ctx.rng.range(200, 2_000);
                let lead = ctx.rng.range(0, 20);
                blackhole(ctx, MAIN, t.saturating_sub(lead), len);
                unpublish(ctx, t, MAIN);
                let back = t + ctx.rng.range(100, 400).max(len + 10);
                publish(ctx, back, MAIN);
                back + ctx.rng.range(1_500, 2_500)
            }
        };
    }
    // Swarm kind `fault-points`, drawn last (the episodes above keep their
    // draws): a frame lost at the ingest before the broadcasters.
    ctx.fault_points(
        0.2,
        FaultPointDraw::hot("transcode.", 500, PHASES_QUIET_MS - 1),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use relaysim_harness::Seed;

    #[test]
    fn plans_are_deterministic_and_fault_free_after_heal() {
        for (scn, heal) in [
            (&super::super::TRANSCODE_LADDER_CHURN, CHURN_HEAL_AT),
            (&super::super::TRANSCODE_SLOW_CONSUMER, SLOW_HEAL_AT),
            (&super::super::TRANSCODE_PHASES, PHASES_HEAL_AT),
        ] {
            for s in 0..100 {
                let a = scn.plan_for(Seed(s));
                assert_eq!(a, scn.plan_for(Seed(s)));
                assert!(a.events.iter().all(|e| e.at() < heal), "seed {s}: {a:?}");
                assert!(a.events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
            }
        }
    }
}
