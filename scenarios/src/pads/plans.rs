//! Fault plans (and workloads) of the pads scenarios, drawn from the seed
//! through the plan context (`SimRng::fork(seed, "<scenario>")`), so each
//! scenario's plans are independent of the others' draw order.
//!
//! Every plan starts the element within the first 0.3 s, keeps stalls and
//! relay outages over well before `HEAL_AT`, and plans nothing after it; the
//! heal asks the application to have the element running.

use super::fault::Fault;
use super::world::{GST, INITIAL_TRACKS, RELAY};
use relaysim_core::session::pads::{CONNECT_TIMEOUT, TRACK_IDLE_TIMEOUT};
use relaysim_harness::fault::NetFault;
use relaysim_harness::fault::{FaultPointDraw, PlanCtx};
use std::time::Duration;

type Ctx = PlanCtx<Fault>;

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
fn fault_points(ctx: &mut Ctx) {
    ctx.fault_points(0.3, FaultPointDraw::hot("pads.", 500, 7_000));
}

fn start(ctx: &mut Ctx) {
    let at = ctx.rng.range(100, 300);
    ctx.push_ms(at, Fault::PadsStart);
}

/// A stall of `len` ms at `at`, cut to end before the quiet phase.
fn stall(ctx: &mut Ctx, at: u64, len: u64) {
    let len = len.min(QUIET_FROM_MS.saturating_sub(at));
    if len > 0 {
        ctx.push_ms(at, Fault::MainLoopStall { ms: len });
    }
}

/// The main loop stalls, 0.3–2.5 s at a time, while frames keep arriving;
/// sometimes a track joins the catalog mid-run.
pub fn pads_stalled_forwarder(ctx: &mut Ctx) {
    start(ctx);
    let mut t = ctx.rng.range(800, 2_000);
    for _ in 0..ctx.rng.range(2, 4) {
        let len = ctx.rng.range(300, 2_500);
        stall(ctx, t, len);
        t += len + ctx.rng.range(300, 1_500);
        if t >= QUIET_FROM_MS {
            break;
        }
    }
    if ctx.kind("catalog-growth", 0.3).is_some() {
        let mut tracks: Vec<String> = INITIAL_TRACKS.iter().map(|t| t.to_string()).collect();
        tracks.push("screen".into());
        let at = ctx.rng.range(1_000, 7_000);
        ctx.push_ms(at, Fault::MoqCatalog { tracks });
    }
    fault_points(ctx);
}

/// The application stops and restarts the element, often while the main
/// loop is stalled and pumps are blocked on full queues.
pub fn pads_teardown(ctx: &mut Ctx) {
    start(ctx);
    let stalls = ctx.kind("main-loop-stall", 0.85).is_some();
    let mut t = ctx.rng.range(1_000, 2_500);
    for _ in 0..ctx.rng.range(1, 3) {
        // Room for the restart (gap ≤ 1.2 s) before the quiet phase.
        if t + 1_300 >= QUIET_FROM_MS {
            break;
        }
        if stalls && ctx.rng.chance(0.7) {
            // Long enough for the 50 fps audio queue to fill before the stop.
            let lead = ctx.rng.range(0, 900);
            let len = ctx.rng.range(700, 2_000);
            stall(ctx, t.saturating_sub(lead), len);
        }
        if ctx.rng.chance(0.15) {
            ctx.push_ms(t, Fault::PadsRestart);
            t += ctx.rng.range(1_000, 2_500);
        } else {
            ctx.push_ms(t, Fault::PadsStop);
            let gap = ctx.rng.range(50, 1_200);
            ctx.push_ms(t + gap, Fault::PadsStart);
            t += gap + ctx.rng.range(1_000, 2_500);
        }
    }
    if ctx.kind("catalog-growth", 0.3).is_some() {
        let mut tracks: Vec<String> = INITIAL_TRACKS.iter().map(|t| t.to_string()).collect();
        tracks.push("screen".into());
        let at = ctx.rng.range(500, 6_000);
        ctx.push_ms(at, Fault::MoqCatalog { tracks });
    }
    fault_points(ctx);
}

/// Catalog changes (tracks added, removed, re-added — sometimes across a
/// main-loop stall, so the old pump is still blocked at the re-add), codec
/// config changes whose catalog update lags their first frames, restarts,
/// and sometimes a relay outage that errors the session.
pub fn pads_restart(ctx: &mut Ctx) {
    start(ctx);
    let mut tracks: Vec<String> = INITIAL_TRACKS.iter().map(|t| t.to_string()).collect();
    let mut t = ctx.rng.range(800, 2_000);
    for _ in 0..ctx.rng.range(1, 3) {
        let extra = *ctx.rng.pick(&["screen", "music"]);
        if tracks.iter().any(|x| x == extra) {
            tracks.retain(|x| x != extra);
        } else if ctx.rng.chance(0.5) && tracks.iter().any(|x| x == "mic") {
            tracks.retain(|x| x != "mic");
        } else {
            tracks.push(extra.to_string());
        }
        ctx.push_ms(
            t,
            Fault::MoqCatalog {
                tracks: tracks.clone(),
            },
        );
        if !tracks.iter().any(|x| x == "mic") && ctx.rng.chance(0.6) {
            if ctx.rng.chance(0.5) {
                // The main loop is stalled across the removal: the old pump
                // may still be blocked on its full queue at the re-add.
                let lead = ctx.rng.range(700, 1_200);
                let len = lead + ctx.rng.range(100, 600);
                stall(ctx, t.saturating_sub(lead), len);
            }
            // The removed track comes back under the same pad name — at
            // times in the same instant, so the relay's catalog subscribers
            // only ever see the re-add while the old subscription ended.
            tracks.push("mic".into());
            let back = if ctx.rng.chance(0.3) {
                ctx.rng.range(0, 3)
            } else {
                ctx.rng.range(0, 400)
            };
            ctx.push_ms(
                t + back,
                Fault::MoqCatalog {
                    tracks: tracks.clone(),
                },
            );
        }
        t += ctx.rng.range(800, 2_500);
    }
    for _ in 0..ctx.rng.range(2, 4) {
        let track = *ctx.rng.pick(&["cam", "mic", "cam"]);
        let at = ctx.rng.range(700, 8_000);
        let catalog_delay_ms = ctx.rng.range(0, 150);
        ctx.push_ms(
            at,
            Fault::MoqConfigChange {
                track: track.into(),
                catalog_delay_ms,
            },
        );
    }
    for _ in 0..ctx.rng.range(1, 2) {
        let at = ctx.rng.range(1_500, 8_000);
        ctx.push_ms(at, Fault::PadsRestart);
    }
    if ctx.kind("relay-outage", 0.3).is_some() {
        let at = ctx.rng.range(2_000, 7_000);
        let ms = ctx.rng.range(300, 1_500).min(QUIET_FROM_MS - at);
        ctx.push_ms(at, Fault::MoqRelayDown { ms });
    }
    fault_points(ctx);
}

/// A blackhole on gst~moq-relay from `at` for `len` ms (cut to end before
/// the quiet phase); returns when it is restored. Blackholes never
/// overlap: a restore cuts the link (what is in flight is lost), and a
/// second one's restore would cut a session that connected in between
/// (see the module docs of `pads-phases` in `super`).
fn blackhole(ctx: &mut Ctx, at: u64, len: u64) -> u64 {
    let until = (at + len).min(QUIET_FROM_MS);
    if until <= at {
        return at;
    }
    let (a, b) = (GST.to_string(), RELAY.to_string());
    ctx.push_ms(
        at,
        NetFault::Blackhole {
            a: a.clone(),
            b: b.clone(),
        },
    );
    ctx.push_ms(until, NetFault::Restore { a, b });
    until
}

/// How long a blackhole over a connect lasts: ending right at the
/// session's connect bound (within a tick either side: the restore
/// refuses the hanging connect, or the bound ran out first), past it, or
/// well before it.
fn connect_hole_ms(ctx: &mut Ctx) -> u64 {
    let bound = CONNECT_TIMEOUT.as_millis() as u64;
    match ctx.rng.range(0, 2) {
        0 => ctx.rng.range(bound - 10, bound + 10),
        1 => ctx.rng.range(bound + 200, 2 * bound + 500),
        _ => ctx.rng.range(200, bound - 300),
    }
}

/// `pads-phases`: the element starts (at times into a silent link), then
/// two or three episodes, each aimed at a phase of the session:
///
/// - restart into a blackhole: the new session's connect hangs (its bound,
///   an error, the application's restart, more hanging connects until
///   the link is restored);
/// - handshake: the link goes silent or the main loop stalls just as a
///   session subscribes its catalog and asks for its pads;
/// - steady: the link goes silent mid-stream; the pumps' idle bound
///   notices (`pads.pump.idle`) and the application restarts the session
///   on its error, or an operator restarts it after the restore first;
/// - teardown: the element is stopped while the link is silent (and at
///   times the main loop stalled), then started again.
///
/// About a third of the seeds run without a stop grace (see
/// [`super::world::phases_stop_bound`]). The heal wants the element
/// running.
pub fn pads_phases(ctx: &mut Ctx) {
    let t0 = ctx.rng.range(100, 300);
    let mut quiet_from = t0;
    if ctx.kind("blackhole-first-connect", 0.3).is_some() {
        let len = connect_hole_ms(ctx);
        let lead = ctx.rng.range(0, 20);
        quiet_from = blackhole(ctx, t0.saturating_sub(lead), len);
    }
    ctx.push_ms(t0, Fault::PadsStart);
    let mut t = quiet_from + ctx.rng.range(800, 1_500);
    for _ in 0..ctx.rng.range(2, 3) {
        if t + 1_000 >= QUIET_FROM_MS {
            break;
        }
        t = match ctx.rng.range(0, 3) {
            0 => {
                let len = connect_hole_ms(ctx);
                let len = blackhole(ctx, t, len) - t;
                let lag = ctx.rng.range(0, 30);
                ctx.push_ms(t + lag, Fault::PadsRestart);
                t + len + ctx.rng.range(800, 1_500)
            }
            1 => {
                ctx.push_ms(t, Fault::PadsRestart);
                if ctx.rng.chance(0.5) {
                    let len = ctx.rng.range(100, 800);
                    let lag = ctx.rng.range(0, 10);
                    stall(ctx, t + lag, len);
                    t + len + ctx.rng.range(800, 1_500)
                } else {
                    let len = ctx.rng.range(300, 1_500);
                    let lag = ctx.rng.range(0, 15);
                    let len = blackhole(ctx, t + lag, len) - t;
                    let restart = t + len + ctx.rng.range(100, 400);
                    ctx.push_ms(restart, Fault::PadsRestart);
                    restart + ctx.rng.range(800, 1_500)
                }
            }
            2 => {
                let len = ctx.rng.range(300, 2_500);
                let len = blackhole(ctx, t, len) - t;
                if ctx.rng.chance(0.5) {
                    // An operator's restart after the restore.
                    let restart = t + len + ctx.rng.range(100, 400);
                    ctx.push_ms(restart, Fault::PadsRestart);
                    restart + ctx.rng.range(800, 1_500)
                } else {
                    // None: the pumps' idle bound notices the dead link,
                    // the application restarts the session on its error.
                    t + len.max(TRACK_IDLE_TIMEOUT.as_millis() as u64) + ctx.rng.range(1_500, 2_500)
                }
            }
            _ => {
                let len = ctx.rng.range(300, 2_000);
                let lead = ctx.rng.range(0, 300);
                let restored = blackhole(ctx, t.saturating_sub(lead), len);
                if ctx.rng.chance(0.5) {
                    let len = ctx.rng.range(300, 1_000);
                    stall(ctx, t.saturating_sub(lead), len);
                }
                ctx.push_ms(t, Fault::PadsStop);
                let back = t + ctx.rng.range(50, 1_200);
                ctx.push_ms(back, Fault::PadsStart);
                back.max(restored) + ctx.rng.range(800, 1_500)
            }
        };
    }
    // Swarm kind `fault-points`, drawn last (the episodes above keep their
    // draws).
    fault_points(ctx);
}

#[cfg(test)]
mod tests {
    use super::*;
    use relaysim_harness::Seed;

    #[test]
    fn plans_are_deterministic_and_quiet_before_heal() {
        for scn in [
            &super::super::PADS_STALLED_FORWARDER,
            &super::super::PADS_TEARDOWN,
            &super::super::PADS_RESTART,
            &super::super::PADS_PHASES,
        ] {
            for s in 0..100 {
                let a = scn.plan_for(Seed(s));
                assert_eq!(a, scn.plan_for(Seed(s)));
                for e in &a.events {
                    assert!(e.at() < HEAL_AT, "seed {s}: {a:?}");
                    if let Some(Fault::MainLoopStall { ms } | Fault::MoqRelayDown { ms }) =
                        e.fault.app()
                    {
                        assert!(e.at_ms + ms <= QUIET_FROM_MS, "seed {s}: {e:?}");
                    }
                }
            }
        }
    }
}
