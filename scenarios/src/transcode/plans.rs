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
use super::world::PUBLISHERS;
use relaysim_core::transcode::Phase;
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

#[cfg(test)]
mod tests {
    use super::*;
    use relaysim_harness::Seed;

    #[test]
    fn plans_are_deterministic_and_fault_free_after_heal() {
        for (scn, heal) in [
            (&super::super::TRANSCODE_LADDER_CHURN, CHURN_HEAL_AT),
            (&super::super::TRANSCODE_SLOW_CONSUMER, SLOW_HEAL_AT),
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
