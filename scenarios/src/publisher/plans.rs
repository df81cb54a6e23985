//! Fault plans (and workloads) of the publisher scenarios, drawn from the
//! seed with `SimRng::fork(seed, "<scenario>")`.
//!
//! The publisher host starts its first attempt at 0 s, so every knob is set
//! at 0 ms; signals and regime changes come later. Nothing is planned at or
//! after `HEAL_AT` (the runner drops it anyway).

use relaysim_core::entropy::SimRng;
use relaysim_harness::fault::{Fault, FaultPlan, FaultPointDraw, Swarm};
use relaysim_harness::Seed;
use std::time::Duration;

/// publisher-eos-race: every track has ended by ~7.5 s, or by ~10.5 s when
/// lost publish answers (fault points, until 2 s) made the first attempts
/// fail; then 5 s to wind down.
pub const EOS_RACE_HEAL_AT: Duration = Duration::from_secs(12);
pub const EOS_RACE_DURATION: Duration = Duration::from_secs(16);
/// publisher-join-fails: faults until 8 s, then 6 s to settle.
pub const JOIN_FAILS_HEAL_AT: Duration = Duration::from_secs(8);
pub const JOIN_FAILS_DURATION: Duration = Duration::from_secs(14);

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// When a track's source ends after PLAYING: half the time early (often
/// before its callback can be registered, sometimes at once), else late.
fn eos_after(rng: &mut SimRng) -> u64 {
    if rng.chance(0.5) {
        if rng.chance(0.3) {
            0
        } else {
            rng.range(1, 900)
        }
    } else {
        rng.range(1_500, 6_000)
    }
}

/// Swarm kind `fault-points`: a publish answer may be lost
/// (`publisher.publish.answer-lost`, a rare site: one pass per track and
/// attempt) throughout `0..until_ms`. Drawn last, so the rest of a seed's
/// plan is the same with or without it.
fn fault_points(plan: &mut FaultPlan, swarm: &mut Swarm, rng: &mut SimRng, until_ms: u64) {
    swarm.fault_points(
        plan,
        rng,
        0.3,
        FaultPointDraw::rare("publisher.", 0, until_ms),
    );
}

/// Room RPCs of 0-600 ms racing a pipeline start of 0-400 ms and track EOS
/// drawn early or late; sometimes a signal lands near the pipeline's end.
pub fn publisher_eos_race(seed: Seed) -> FaultPlan {
    let mut rng = SimRng::fork(seed.0, "publisher-eos-race");
    let mut swarm = Swarm::new(seed.0, "publisher-eos-race");
    let mut plan = FaultPlan::default();
    let lat_max = match swarm.kind("livekit-latency", 0.9) {
        Some(x) => 20 + (x * 580.0) as u64,
        None => rng.range(1, 20),
    };
    plan.push(
        Duration::ZERO,
        Fault::LiveKitLatency {
            min_ms: rng.range(0, lat_max / 3),
            max_ms: lat_max,
        },
    );
    let start_max = rng.range(0, 400);
    plan.push(
        Duration::ZERO,
        Fault::PipelineStart {
            min_ms: rng.range(0, start_max),
            max_ms: start_max,
            fail_percent: 0,
        },
    );
    let video = eos_after(&mut rng);
    let audio = eos_after(&mut rng);
    for (track, after_ms) in [("video", video), ("audio", audio)] {
        plan.push(
            Duration::ZERO,
            Fault::TrackEos {
                track: track.into(),
                after_ms,
            },
        );
    }
    if swarm.kind("publisher-signal", 0.4).is_some() {
        // Around the pipeline's end: races the stop its EOS starts.
        let last = start_max + video.max(audio);
        let at = (last + rng.range(0, 600)).saturating_sub(200);
        plan.push(ms(at.max(1)), Fault::PublisherSignal);
    }
    // The first attempt publishes within ~1.2 s; a lost answer makes
    // another attempt a second later.
    fault_points(&mut plan, &mut swarm, &mut rng, 2_000);
    swarm.finish(plan)
}

/// Joins and publishes refused, pipeline starts failing, slow answers:
/// attempt after attempt fails on one side while the other is starting;
/// sometimes a signal ends it all mid-way.
pub fn publisher_join_fails(seed: Seed) -> FaultPlan {
    let mut rng = SimRng::fork(seed.0, "publisher-join-fails");
    let mut swarm = Swarm::new(seed.0, "publisher-join-fails");
    let mut plan = FaultPlan::default();
    let lat_max = rng.range(20, 500);
    plan.push(
        Duration::ZERO,
        Fault::LiveKitLatency {
            min_ms: rng.range(0, lat_max),
            max_ms: lat_max,
        },
    );
    plan.push(
        Duration::ZERO,
        Fault::LiveKitErrors {
            join_percent: (20.0 + swarm.kind("join-errors", 1.0).unwrap_or(0.5) * 60.0) as u8,
            publish_percent: rng.range(0, 50) as u8,
        },
    );
    let start_max = rng.range(50, 900);
    plan.push(
        Duration::ZERO,
        Fault::PipelineStart {
            min_ms: rng.range(0, start_max),
            max_ms: start_max,
            fail_percent: rng.range(10, 60) as u8,
        },
    );
    if swarm.kind("error-regime-change", 0.5).is_some() {
        // A second regime: one side fails more, the other less.
        let at = ms(rng.range(2_000, 6_000));
        plan.push(
            at,
            Fault::LiveKitErrors {
                join_percent: rng.range(0, 90) as u8,
                publish_percent: rng.range(0, 90) as u8,
            },
        );
        plan.push(
            at,
            Fault::PipelineStart {
                min_ms: 0,
                max_ms: rng.range(0, 600),
                fail_percent: rng.range(0, 80) as u8,
            },
        );
    }
    if swarm.kind("publisher-signal", 0.3).is_some() {
        plan.push(ms(rng.range(500, 7_500)), Fault::PublisherSignal);
    }
    // Attempts come every 1-2 s until one starts; most start by 3 s.
    fault_points(&mut plan, &mut swarm, &mut rng, 3_000);
    swarm.finish(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_deterministic_and_end_before_heal() {
        for (gen, heal) in [
            (
                publisher_eos_race as fn(Seed) -> FaultPlan,
                EOS_RACE_HEAL_AT,
            ),
            (publisher_join_fails, JOIN_FAILS_HEAL_AT),
        ] {
            for s in 0..100 {
                let a = gen(Seed(s));
                assert_eq!(a, gen(Seed(s)));
                assert!(a.events.iter().all(|e| e.at() < heal), "seed {s}: {a:?}");
            }
        }
    }
}
