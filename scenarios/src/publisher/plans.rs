//! Fault plans (and workloads) of the publisher scenarios, drawn from the
//! seed through the plan context (`SimRng::fork(seed, "<scenario>")`).
//!
//! The publisher host starts its first attempt at 0 s, so every knob is set
//! at 0 ms; signals and regime changes come later. Nothing is planned at or
//! after `HEAL_AT` (the runner drops it anyway).

use super::fault::Fault;
use super::world::{LIVEKIT, PUBLISHER};
use relaysim_core::entropy::SimRng;
use relaysim_harness::fault::{FaultPointDraw, NetFault, PlanCtx};
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

/// publisher-phases: the start episode is over by ~9 s, the steady one by
/// ~14 s; then the heal, and room for a signal at 12.3 s to wind down
/// within the leave bound + 5 s.
pub const PHASES_HEAL_AT: Duration = Duration::from_secs(15);
pub const PHASES_DURATION: Duration = Duration::from_secs(25);

fn link(ctx: &mut Ctx, at: u64, on: bool, hold: bool) {
    let (a, b) = (PUBLISHER.to_string(), LIVEKIT.to_string());
    let f = match (hold, on) {
        (false, true) => NetFault::Blackhole { a, b },
        (false, false) => NetFault::Restore { a, b },
        (true, true) => NetFault::Hold { a, b },
        (true, false) => NetFault::Release { a, b },
    };
    ctx.push_ms(at, f);
}

/// Faults aimed at each phase of the signalling session and at each of
/// the publisher's room deadlines. One start episode, from 0 s:
///
/// - the link blackholed under the first connect, restored at 1–7.5 s (the
///   connect hangs: its deadline at 5 s, or refused at the restore);
/// - the room silent under the first join until 5.1–5.9 s (the join's RPC
///   deadline);
/// - the room answering in 4.975–5 s until 3–4.5 s (answers land at the
///   RPC timeout, on either side of it);
/// - the link held just after the connect, while the join is in flight,
///   released at 5.2–7 s (the join's RPC deadline; what was held is
///   delivered after the publisher gave up);
/// - the link held under the first connect, a signal while it hangs, the
///   room silent: the stop's leave queues behind a connect and a join
///   that outlast its bound (the stop's leave deadline).
///
/// Then, unless signalled, one steady episode at 11–11.8 s: the link held
/// with a signal inside it, released just after the leave timeout (the
/// leave's deadline; the leave and the close arrive late), the idle link
/// blackholed and restored (nothing in flight is lost), or the room
/// silent with a signal (the leave's deadline). Tracks never end: the
/// session is steady until a fault or a signal ends it.
///
/// No blackhole swallows bytes of an established signalling connection:
/// the stream would stay stalled after the restore, and the room (which,
/// like the core's signalling, has no keepalive) would keep a ghost
/// participant for ever. Holds stand in for those half-open links.
pub fn publisher_phases(ctx: &mut Ctx) {
    ctx.push(
        Duration::ZERO,
        Fault::LivekitLatency {
            min_ms: 5,
            max_ms: 50,
        },
    );
    let start_max = ctx.rng.range(0, 300);
    ctx.push(
        Duration::ZERO,
        Fault::PipelineStart {
            min_ms: 0,
            max_ms: start_max,
            fail_percent: 0,
        },
    );
    let mut signalled = false;
    // Swarm kind `start-episode` (always on): its intensity picks the
    // episode.
    let start = ctx.kind("start-episode", 1.0).unwrap_or(0.0);
    match ((start * 5.0) as u64).min(4) {
        0 => {
            link(ctx, 0, true, false);
            let restore = if ctx.rng.chance(0.6) {
                ctx.rng.range(5_200, 7_500)
            } else {
                ctx.rng.range(1_000, 4_800)
            };
            link(ctx, restore, false, false);
        }
        1 => {
            ctx.push_ms(0, Fault::LivekitSilent { on: true });
            // Before the retry's join (~6 s): one RPC deadline per seed.
            let back = ctx.rng.range(5_100, 5_900);
            ctx.push_ms(back, Fault::LivekitSilent { on: false });
        }
        2 => {
            ctx.push_ms(
                0,
                Fault::LivekitLatency {
                    min_ms: 4_975,
                    max_ms: 5_000,
                },
            );
            // The last slow answer comes by 9.5 s.
            let back = ctx.rng.range(3_000, 4_500);
            ctx.push_ms(
                back,
                Fault::LivekitLatency {
                    min_ms: 5,
                    max_ms: 50,
                },
            );
        }
        3 => {
            ctx.push_ms(
                0,
                Fault::LivekitLatency {
                    min_ms: 200,
                    max_ms: 400,
                },
            );
            let at = ctx.rng.range(20, 150);
            link(ctx, at, true, true);
            let release = ctx.rng.range(5_200, 7_000);
            link(ctx, release, false, true);
            ctx.push_ms(
                release,
                Fault::LivekitLatency {
                    min_ms: 5,
                    max_ms: 50,
                },
            );
        }
        _ => {
            link(ctx, 0, true, true);
            ctx.push_ms(0, Fault::LivekitSilent { on: true });
            let signal = ctx.rng.range(300, 1_500);
            ctx.push_ms(signal, Fault::PublisherSignal);
            let release = ctx.rng.range(3_500, 4_800);
            link(ctx, release, false, true);
            ctx.push_ms(release + 6_000, Fault::LivekitSilent { on: false });
            signalled = true;
        }
    }
    if let Some(steady) = ctx.kind("steady-episode", 0.8).filter(|_| !signalled) {
        let t = ctx.rng.range(11_000, 11_800);
        match ((steady * 3.0) as u64).min(2) {
            0 => {
                link(ctx, t, true, true);
                let signal = t + ctx.rng.range(100, 600);
                ctx.push_ms(signal, Fault::PublisherSignal);
                let release = signal + ctx.rng.range(2_200, 2_500);
                link(ctx, release, false, true);
            }
            1 => {
                link(ctx, t, true, false);
                let restore = t + ctx.rng.range(500, 3_000);
                link(ctx, restore, false, false);
            }
            _ => {
                ctx.push_ms(t, Fault::LivekitSilent { on: true });
                let signal = t + ctx.rng.range(100, 600);
                ctx.push_ms(signal, Fault::PublisherSignal);
                ctx.push_ms(signal + 2_100, Fault::LivekitSilent { on: false });
            }
        }
    }
    // A lost publish answer during the start episodes.
    fault_points(ctx, 8_000);
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
            (&super::super::PUBLISHER_PHASES, PHASES_HEAL_AT),
        ] {
            for s in 0..100 {
                let a = scn.plan_for(Seed(s));
                assert_eq!(a, scn.plan_for(Seed(s)));
                assert!(a.events.iter().all(|e| e.at() < heal), "seed {s}: {a:?}");
            }
        }
    }
}
