//! Fault plans (and workloads) of the publisher scenarios, drawn from the
//! seed through the plan context (`SimRng::fork(seed, "<scenario>")`).
//!
//! The publisher host starts its first attempt at 0 s, so every knob is set
//! at 0 ms; signals and regime changes come later. Nothing is planned at or
//! after `HEAL_AT` (the runner drops it anyway).

use super::fault::Fault;
use relaysim_core::entropy::SimRng;
use relaysim_harness::fault::{FaultPointDraw, PlanCtx};
use std::time::Duration;

type Ctx = PlanCtx<Fault>;

/// publisher-eos-race: every track has ended by ~7.5 s, or by ~10.5 s when
/// lost publish answers (fault points, until 2 s) made the first attempts
/// fail; then 5 s to wind down.
pub const EOS_RACE_HEAL_AT: Duration = Duration::from_secs(12);
pub const EOS_RACE_DURATION: Duration = Duration::from_secs(16);
/// publisher-join-fails: faults until 8 s, then 6 s to settle.
pub const JOIN_FAILS_HEAL_AT: Duration = Duration::from_secs(8);
pub const JOIN_FAILS_DURATION: Duration = Duration::from_secs(14);

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
fn fault_points(ctx: &mut Ctx, until_ms: u64) {
    ctx.fault_points(0.3, FaultPointDraw::rare("publisher.", 0, until_ms));
}

/// Room RPCs of 0-600 ms racing a pipeline start of 0-400 ms and track EOS
/// drawn early or late; sometimes a signal lands near the pipeline's end.
pub fn publisher_eos_race(ctx: &mut Ctx) {
    let lat_max = match ctx.kind("livekit-latency", 0.9) {
        Some(x) => 20 + (x * 580.0) as u64,
        None => ctx.rng.range(1, 20),
    };
    let lat_min = ctx.rng.range(0, lat_max / 3);
    ctx.push(
        Duration::ZERO,
        Fault::LivekitLatency {
            min_ms: lat_min,
            max_ms: lat_max,
        },
    );
    let start_max = ctx.rng.range(0, 400);
    let start_min = ctx.rng.range(0, start_max);
    ctx.push(
        Duration::ZERO,
        Fault::PipelineStart {
            min_ms: start_min,
            max_ms: start_max,
            fail_percent: 0,
        },
    );
    let video = eos_after(&mut ctx.rng);
    let audio = eos_after(&mut ctx.rng);
    for (track, after_ms) in [("video", video), ("audio", audio)] {
        ctx.push(
            Duration::ZERO,
            Fault::TrackEos {
                track: track.into(),
                after_ms,
            },
        );
    }
    if ctx.kind("publisher-signal", 0.4).is_some() {
        // Around the pipeline's end: races the stop its EOS starts.
        let last = start_max + video.max(audio);
        let at = (last + ctx.rng.range(0, 600)).saturating_sub(200);
        ctx.push_ms(at.max(1), Fault::PublisherSignal);
    }
    // The first attempt publishes within ~1.2 s; a lost answer makes
    // another attempt a second later.
    fault_points(ctx, 2_000);
}

/// Joins and publishes refused, pipeline starts failing, slow answers:
/// attempt after attempt fails on one side while the other is starting;
/// sometimes a signal ends it all mid-way.
pub fn publisher_join_fails(ctx: &mut Ctx) {
    let lat_max = ctx.rng.range(20, 500);
    let lat_min = ctx.rng.range(0, lat_max);
    ctx.push(
        Duration::ZERO,
        Fault::LivekitLatency {
            min_ms: lat_min,
            max_ms: lat_max,
        },
    );
    let join_percent = (20.0 + ctx.kind("join-errors", 1.0).unwrap_or(0.5) * 60.0) as u8;
    let publish_percent = ctx.rng.range(0, 50) as u8;
    ctx.push(
        Duration::ZERO,
        Fault::LivekitErrors {
            join_percent,
            publish_percent,
        },
    );
    let start_max = ctx.rng.range(50, 900);
    let start_min = ctx.rng.range(0, start_max);
    let fail_percent = ctx.rng.range(10, 60) as u8;
    ctx.push(
        Duration::ZERO,
        Fault::PipelineStart {
            min_ms: start_min,
            max_ms: start_max,
            fail_percent,
        },
    );
    if ctx.kind("error-regime-change", 0.5).is_some() {
        // A second regime: one side fails more, the other less.
        let at = Duration::from_millis(ctx.rng.range(2_000, 6_000));
        let join_percent = ctx.rng.range(0, 90) as u8;
        let publish_percent = ctx.rng.range(0, 90) as u8;
        ctx.push(
            at,
            Fault::LivekitErrors {
                join_percent,
                publish_percent,
            },
        );
        let max_ms = ctx.rng.range(0, 600);
        let fail_percent = ctx.rng.range(0, 80) as u8;
        ctx.push(
            at,
            Fault::PipelineStart {
                min_ms: 0,
                max_ms,
                fail_percent,
            },
        );
    }
    if ctx.kind("publisher-signal", 0.3).is_some() {
        let at = ctx.rng.range(500, 7_500);
        ctx.push_ms(at, Fault::PublisherSignal);
    }
    // Attempts come every 1-2 s until one starts; most start by 3 s.
    fault_points(ctx, 3_000);
}

#[cfg(test)]
mod tests {
    use super::*;
    use relaysim_harness::Seed;

    #[test]
    fn plans_are_deterministic_and_end_before_heal() {
        for (scn, heal) in [
            (&super::super::PUBLISHER_EOS_RACE, EOS_RACE_HEAL_AT),
            (&super::super::PUBLISHER_JOIN_FAILS, JOIN_FAILS_HEAL_AT),
        ] {
            for s in 0..100 {
                let a = scn.plan_for(Seed(s));
                assert_eq!(a, scn.plan_for(Seed(s)));
                assert!(a.events.iter().all(|e| e.at() < heal), "seed {s}: {a:?}");
            }
        }
    }
}
