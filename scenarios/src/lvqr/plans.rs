//! The plans (and workloads) of `lvqr-ladder-churn`, drawn from the seed.
//!
//! Every broadcast publishes within the first 1.5 s, then stops and
//! re-publishes a few times; the admin API removes and adds renditions,
//! most edits aimed just before a publish with a window that covers its
//! entry-created callback; transcoders panic at drawn phases. Nothing
//! happens after the heal but the heal itself (every broadcast published,
//! every panic disarmed). Each seed first draws its swarm (which kinds
//! are on, how hard), then its events, from the plan context.

use super::fault::{Fault, Phase};
use super::world::BROADCASTS;
use relaysim_harness::fault::PlanCtx;
use std::time::Duration;

type Ctx = PlanCtx<Fault>;

/// Faults stop here …
pub const HEAL_AT: Duration = Duration::from_secs(14);
/// … and the run ends here (every re-publish after the heal has flowed).
pub const DURATION: Duration = Duration::from_secs(18);

/// Publish / unpublish / re-publish cycles of one broadcast; returns the
/// publish times.
fn cycles(ctx: &mut Ctx, broadcast: &str, heal_at: u64, max_cycles: u64) -> Vec<u64> {
    let mut t = ctx.rng.range(100, 1500);
    let mut publishes = vec![t];
    ctx.push_ms(
        t,
        Fault::BroadcastPublish {
            broadcast: broadcast.into(),
        },
    );
    for _ in 0..ctx.rng.range(1, max_cycles) {
        t += ctx.rng.range(1500, 4000);
        if t + 500 >= heal_at {
            break;
        }
        ctx.push_ms(
            t,
            Fault::BroadcastUnpublish {
                broadcast: broadcast.into(),
            },
        );
        // Fast re-publishes race the old session's teardown; slow ones
        // leave a gap.
        t += if ctx.rng.chance(0.5) {
            ctx.rng.range(100, 600)
        } else {
            ctx.rng.range(1000, 3000)
        };
        if t + 200 >= heal_at {
            break;
        }
        ctx.push_ms(
            t,
            Fault::BroadcastPublish {
                broadcast: broadcast.into(),
            },
        );
        publishes.push(t);
    }
    publishes
}

/// `lvqr-ladder-churn`.
pub fn ladder_churn(ctx: &mut Ctx) {
    let heal = HEAL_AT.as_millis() as u64;
    let churn = ctx.kind("publisher-churn", 1.0).unwrap_or(0.5);
    let mut publishes = Vec::new();
    for b in BROADCASTS {
        publishes.extend(cycles(ctx, b, heal, 2 + (churn * 2.0) as u64));
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
            let broadcast = ctx.rng.pick(BROADCASTS).to_string();
            let after = ctx.rng.range(0, 40);
            ctx.push_ms(
                at,
                Fault::TranscoderPanic {
                    rendition,
                    broadcast,
                    phase,
                    after,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relaysim_harness::Seed;

    #[test]
    fn plans_are_deterministic_and_fault_free_after_heal() {
        let scn = &super::super::LVQR_LADDER_CHURN;
        for s in 0..100 {
            let a = scn.plan_for(Seed(s));
            assert_eq!(a, scn.plan_for(Seed(s)));
            assert!(a.events.iter().all(|e| e.at() < HEAL_AT), "seed {s}: {a:?}");
            assert!(a.events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        }
    }
}
