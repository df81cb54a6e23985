//! Fault plans (and workloads) of the transcode scenarios, drawn from the
//! seed.
//!
//! Every plan publishes each broadcast within the first 1.5 s and leaves
//! the liveness phase (from the heal) fault-free: the heal re-publishes
//! every broadcast and disarms panics. Each seed first draws its swarm
//! (which fault kinds are on, how hard: `Swarm`), then its events from
//! `SimRng::fork(seed, "<scenario>")`.

use super::world::PUBLISHERS;
use relaysim_core::entropy::SimRng;
use relaysim_core::transcode::Phase;
use relaysim_harness::fault::{Fault, FaultPlan, FaultPointDraw, Swarm};
use relaysim_harness::Seed;
use std::time::Duration;

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

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Publish / unpublish / re-publish cycles for one publisher; returns the
/// publish times.
fn cycles(
    plan: &mut FaultPlan,
    rng: &mut SimRng,
    publisher: &str,
    heal_at: u64,
    max_cycles: u64,
) -> Vec<u64> {
    let mut t = rng.range(100, 1500);
    let mut publishes = vec![t];
    plan.push(
        ms(t),
        Fault::BroadcastPublish {
            publisher: publisher.into(),
        },
    );
    for _ in 0..rng.range(1, max_cycles) {
        t += rng.range(1500, 5000);
        if t + 500 >= heal_at {
            break;
        }
        plan.push(
            ms(t),
            Fault::BroadcastUnpublish {
                publisher: publisher.into(),
            },
        );
        // Fast re-publishes race the previous session's teardown; slow
        // ones leave a gap. The heal re-publishes anyway.
        t += if rng.chance(0.5) {
            rng.range(50, 600)
        } else {
            rng.range(1000, 3000)
        };
        if t + 200 >= heal_at {
            break;
        }
        plan.push(
            ms(t),
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
pub fn ladder_churn(seed: Seed) -> FaultPlan {
    let mut rng = SimRng::fork(seed.0, "transcode-ladder-churn");
    let mut swarm = Swarm::new(seed.0, "transcode-ladder-churn");
    let mut plan = FaultPlan::default();
    let heal = CHURN_HEAL_AT.as_millis() as u64;
    let churn = swarm.kind("publisher-churn", 1.0).unwrap_or(0.5);
    let mut publishes = Vec::new();
    for (host, _) in PUBLISHERS {
        publishes.extend(cycles(
            &mut plan,
            &mut rng,
            host,
            heal,
            2 + (churn * 2.0) as u64,
        ));
    }
    publishes.sort_unstable();

    let pool = ["720p", "480p", "240p", "360p"];
    let aim = rng.chance(0.8);
    let edits = swarm
        .kind("rendition-edits", 0.9)
        .map_or(0, |x| 2 + (x * 4.0) as u64);
    for _ in 0..edits {
        let (at, window_ms) = if aim && rng.chance(0.6) {
            let p = *rng.pick(&publishes);
            (p.saturating_sub(rng.range(0, 100)), rng.range(150, 400))
        } else {
            (rng.range(500, heal - 1000), rng.range(0, 300))
        };
        let rendition = rng.pick(&pool).to_string();
        let fault = if rng.chance(0.55) {
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
        plan.push(ms(at), fault);
    }

    if let Some(x) = swarm.kind("transcoder-panics", 0.7) {
        for _ in 0..1 + (x * 3.0) as u64 {
            let phase = match rng.range(0, 9) {
                0 => Phase::Start,
                1 => Phase::Stop,
                _ => Phase::Fragment,
            };
            plan.push(
                ms(rng.range(500, heal - 1000)),
                Fault::TranscoderPanic {
                    rendition: rng.pick(&pool).to_string(),
                    phase,
                    after: rng.range(0, 40),
                },
            );
        }
    }
    swarm.fault_points(
        &mut plan,
        &mut rng,
        0.2,
        FaultPointDraw::hot("transcode.", 500, heal - 1),
    );
    swarm.finish(plan)
}

/// A slow transcoder next to a fast one; broadcasts publish, stop and
/// re-publish, so drains end and their accounting can be judged.
pub fn slow_consumer(seed: Seed) -> FaultPlan {
    let mut rng = SimRng::fork(seed.0, "transcode-slow-consumer");
    let mut swarm = Swarm::new(seed.0, "transcode-slow-consumer");
    let mut plan = FaultPlan::default();
    let heal = SLOW_HEAL_AT.as_millis() as u64;
    let churn = swarm.kind("publisher-churn", 1.0).unwrap_or(0.5);
    for (host, _) in PUBLISHERS.iter().take(SLOW_PUBLISHERS) {
        cycles(&mut plan, &mut rng, host, heal, 2 + (churn * 2.0) as u64);
    }
    swarm.fault_points(
        &mut plan,
        &mut rng,
        0.2,
        FaultPointDraw::hot("transcode.", 500, heal - 1),
    );
    swarm.finish(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_deterministic_and_fault_free_after_heal() {
        for (gen, heal) in [
            (ladder_churn as fn(Seed) -> FaultPlan, CHURN_HEAL_AT),
            (slow_consumer, SLOW_HEAL_AT),
        ] {
            for s in 0..100 {
                let a = gen(Seed(s));
                assert_eq!(a, gen(Seed(s)));
                assert!(a.events.iter().all(|e| e.at() < heal), "seed {s}: {a:?}");
                assert!(a.events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
            }
        }
    }
}
