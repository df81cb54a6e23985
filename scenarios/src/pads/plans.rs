//! Fault plans (and workloads) of the pads scenarios, drawn from the seed
//! with `SimRng::fork(seed, "<scenario>")`.
//!
//! Every plan starts the element within the first 0.3 s, keeps stalls and
//! relay outages over well before `HEAL_AT`, and plans nothing after it; the
//! heal asks the application to have the element running.

use super::world::INITIAL_TRACKS;
use relaysim_core::entropy::SimRng;
use relaysim_harness::fault::{Fault, FaultPlan, FaultPointDraw, Swarm};
use relaysim_harness::Seed;
use std::time::Duration;

/// Faults stop here.
pub const HEAL_AT: Duration = Duration::from_secs(9);
/// Runs end here: 3 s of fault-free streaming to judge liveness on.
pub const DURATION: Duration = Duration::from_secs(12);
/// Stalls and outages end by this time.
const QUIET_FROM_MS: u64 = 8_500;

/// Swarm kind `fault-points`: a track read may fail (`pads.track.read`,
/// once per frame) for part of 500 ms .. 7 s; the application restarts the
/// errored element. Drawn last, so the rest of a seed's plan is the same
/// with or without it.
fn fault_points(plan: &mut FaultPlan, swarm: &mut Swarm, rng: &mut SimRng) {
    swarm.fault_points(plan, rng, 0.3, FaultPointDraw::hot("pads.", 500, 7_000));
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn start(plan: &mut FaultPlan, rng: &mut SimRng) {
    plan.push(ms(rng.range(100, 300)), Fault::PadsStart);
}

/// A stall of up to `max` ms at `at`, ending before the quiet phase.
fn stall(plan: &mut FaultPlan, at: u64, len: u64) {
    let len = len.min(QUIET_FROM_MS.saturating_sub(at));
    if len > 0 {
        plan.push(ms(at), Fault::MainLoopStall { ms: len });
    }
}

/// The main loop stalls, 0.3–2.5 s at a time, while frames keep arriving;
/// sometimes a track joins the catalog mid-run.
pub fn pads_stalled_forwarder(seed: Seed) -> FaultPlan {
    let mut rng = SimRng::fork(seed.0, "pads-stalled-forwarder");
    let mut swarm = Swarm::new(seed.0, "pads-stalled-forwarder");
    let mut plan = FaultPlan::default();
    start(&mut plan, &mut rng);
    let mut t = rng.range(800, 2_000);
    for _ in 0..rng.range(2, 4) {
        let len = rng.range(300, 2_500);
        stall(&mut plan, t, len);
        t += len + rng.range(300, 1_500);
        if t >= QUIET_FROM_MS {
            break;
        }
    }
    if swarm.kind("catalog-growth", 0.3).is_some() {
        let mut tracks: Vec<String> = INITIAL_TRACKS.iter().map(|t| t.to_string()).collect();
        tracks.push("screen".into());
        plan.push(ms(rng.range(1_000, 7_000)), Fault::MoqCatalog { tracks });
    }
    fault_points(&mut plan, &mut swarm, &mut rng);
    swarm.finish(plan)
}

/// The application stops and restarts the element, often while the main
/// loop is stalled and pumps are blocked on full queues.
pub fn pads_teardown(seed: Seed) -> FaultPlan {
    let mut rng = SimRng::fork(seed.0, "pads-teardown");
    let mut swarm = Swarm::new(seed.0, "pads-teardown");
    let mut plan = FaultPlan::default();
    start(&mut plan, &mut rng);
    let stalls = swarm.kind("main-loop-stall", 0.85).is_some();
    let mut t = rng.range(1_000, 2_500);
    for _ in 0..rng.range(1, 3) {
        // Room for the restart (gap ≤ 1.2 s) before the quiet phase.
        if t + 1_300 >= QUIET_FROM_MS {
            break;
        }
        if stalls && rng.chance(0.7) {
            // Long enough for the 50 fps audio queue to fill before the stop.
            let lead = rng.range(0, 900);
            stall(&mut plan, t.saturating_sub(lead), rng.range(700, 2_000));
        }
        if rng.chance(0.15) {
            plan.push(ms(t), Fault::PadsRestart);
            t += rng.range(1_000, 2_500);
        } else {
            plan.push(ms(t), Fault::PadsStop);
            let gap = rng.range(50, 1_200);
            plan.push(ms(t + gap), Fault::PadsStart);
            t += gap + rng.range(1_000, 2_500);
        }
    }
    if swarm.kind("catalog-growth", 0.3).is_some() {
        let mut tracks: Vec<String> = INITIAL_TRACKS.iter().map(|t| t.to_string()).collect();
        tracks.push("screen".into());
        plan.push(ms(rng.range(500, 6_000)), Fault::MoqCatalog { tracks });
    }
    fault_points(&mut plan, &mut swarm, &mut rng);
    swarm.finish(plan)
}

/// Catalog changes (tracks added, removed, re-added — sometimes across a
/// main-loop stall, so the old pump is still blocked at the re-add), codec
/// config changes whose catalog update lags their first frames, restarts,
/// and sometimes a relay outage that errors the session.
pub fn pads_restart(seed: Seed) -> FaultPlan {
    let mut rng = SimRng::fork(seed.0, "pads-restart");
    let mut swarm = Swarm::new(seed.0, "pads-restart");
    let mut plan = FaultPlan::default();
    start(&mut plan, &mut rng);
    let mut tracks: Vec<String> = INITIAL_TRACKS.iter().map(|t| t.to_string()).collect();
    let mut t = rng.range(800, 2_000);
    for _ in 0..rng.range(1, 3) {
        let extra = *rng.pick(&["screen", "music"]);
        if tracks.iter().any(|x| x == extra) {
            tracks.retain(|x| x != extra);
        } else if rng.chance(0.5) && tracks.iter().any(|x| x == "mic") {
            tracks.retain(|x| x != "mic");
        } else {
            tracks.push(extra.to_string());
        }
        plan.push(
            ms(t),
            Fault::MoqCatalog {
                tracks: tracks.clone(),
            },
        );
        if !tracks.iter().any(|x| x == "mic") && rng.chance(0.6) {
            if rng.chance(0.5) {
                // The main loop is stalled across the removal: the old pump
                // may still be blocked on its full queue at the re-add.
                let lead = rng.range(700, 1_200);
                stall(
                    &mut plan,
                    t.saturating_sub(lead),
                    lead + rng.range(100, 600),
                );
            }
            // The removed track comes back under the same pad name — at
            // times in the same instant, so the relay's catalog subscribers
            // only ever see the re-add while the old subscription ended.
            tracks.push("mic".into());
            let back = if rng.chance(0.3) {
                rng.range(0, 3)
            } else {
                rng.range(0, 400)
            };
            plan.push(
                ms(t + back),
                Fault::MoqCatalog {
                    tracks: tracks.clone(),
                },
            );
        }
        t += rng.range(800, 2_500);
    }
    for _ in 0..rng.range(2, 4) {
        let track = *rng.pick(&["cam", "mic", "cam"]);
        plan.push(
            ms(rng.range(700, 8_000)),
            Fault::MoqConfigChange {
                track: track.into(),
                catalog_delay_ms: rng.range(0, 150),
            },
        );
    }
    for _ in 0..rng.range(1, 2) {
        plan.push(ms(rng.range(1_500, 8_000)), Fault::PadsRestart);
    }
    if swarm.kind("relay-outage", 0.3).is_some() {
        let at = rng.range(2_000, 7_000);
        plan.push(
            ms(at),
            Fault::MoqRelayDown {
                ms: rng.range(300, 1_500).min(QUIET_FROM_MS - at),
            },
        );
    }
    fault_points(&mut plan, &mut swarm, &mut rng);
    swarm.finish(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_deterministic_and_quiet_before_heal() {
        for gen in [pads_stalled_forwarder, pads_teardown, pads_restart] {
            for s in 0..100 {
                let a = gen(Seed(s));
                assert_eq!(a, gen(Seed(s)));
                for e in &a.events {
                    assert!(e.at() < HEAL_AT, "seed {s}: {a:?}");
                    if let Fault::MainLoopStall { ms } | Fault::MoqRelayDown { ms } = e.fault {
                        assert!(e.at_ms + ms <= QUIET_FROM_MS, "seed {s}: {e:?}");
                    }
                }
            }
        }
    }
}
