//! Fault plans (and workload) of the ws scenarios, drawn from the seed.
//!
//! Everything happens before `HEAL_AT`; client pauses and stalls end before
//! it too, so the liveness phase starts with a quiet, connected plugin.
//! Draws come from the plan context (`SimRng::fork(seed, "<scenario>")`).

use super::fault::Fault;
use super::world::{CLIENT, SERVER};
use super::{HEAL_AT, KEEPALIVE_TIMEOUT};
use relaysim_core::entropy::SimRng;
use relaysim_core::session::ws::protocol::PayloadKind;
use relaysim_harness::fault::{FaultPointDraw, NetFault, PlanCtx};
use std::time::Duration;

type Ctx = PlanCtx<Fault>;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// Swarm kind `fault-points`: the server's connection may break as a
/// command arrives (`ws.session.reset`) for part of the episodes' span.
/// Drawn last, so the episodes of a seed are the same with or without it.
fn fault_points(ctx: &mut Ctx) {
    ctx.fault_points(0.3, FaultPointDraw::hot("ws.", 1_000, last_start()));
}

/// The last moment an episode may start.
fn last_start() -> u64 {
    HEAL_AT.as_millis() as u64 - 3_000
}

/// Multi-MB uploads timed against swap pushes: each episode asks for a swap
/// (from the server's copy, or from a client upload) and starts a
/// `write_audio` upload 0–0.7 s later, so the upload and the push of the
/// mirror and stems (1–6.5 MB) cross more often than not.
pub fn ws_bulk_crossfire(ctx: &mut Ctx) {
    let server_share = 0.4 + 0.5 * ctx.kind("server-swaps", 1.0).unwrap_or(0.6);
    let mut t = ctx.rng.range(1_000, 2_000);
    while t <= last_start() {
        if ctx.rng.chance(server_share) {
            ctx.push_ms(t, Fault::SwapServer);
        } else {
            let bytes = ctx.rng.range(MIB, 2 * MIB);
            ctx.push_ms(
                t,
                Fault::Upload {
                    cmd: PayloadKind::SwapSource,
                    bytes,
                },
            );
        }
        let cmd = if ctx.rng.chance(0.8) {
            PayloadKind::WriteAudio
        } else {
            PayloadKind::TimbreSource
        };
        let at = t + ctx.rng.range(0, 700);
        let bytes = ctx.rng.range(MIB, 5 * MIB / 2);
        ctx.push_ms(at, Fault::Upload { cmd, bytes });
        t += ctx.rng.range(3_500, 5_000);
    }
    fault_points(ctx);
}

fn any_kind(rng: &mut SimRng) -> PayloadKind {
    *rng.pick(&PayloadKind::ALL)
}

/// Orphan headers, a command in a payload slot, missing, late and stray
/// payloads, unknown commands, between ordinary uploads. Every seed has at
/// least one orphan header or command-in-slot.
pub fn ws_orphan_header(ctx: &mut Ctx) {
    let mut t = ctx.rng.range(1_000, 2_500);
    // At most one long quiet (> the 10 s payload timeout), early.
    if ctx.kind("long-quiet", 0.4).is_some() {
        let rng = &mut ctx.rng;
        let quiet = rng.range(10_500, 12_000);
        let f = if rng.chance(0.5) {
            Fault::MissingPayload {
                cmd: any_kind(rng),
                bytes: rng.range(64 * KIB, MIB),
                quiet_ms: quiet,
            }
        } else {
            Fault::LatePayload {
                cmd: any_kind(rng),
                bytes: rng.range(64 * KIB, MIB),
                delay_ms: quiet,
            }
        };
        ctx.push_ms(t, f);
        t += quiet + ctx.rng.range(1_000, 2_000);
    }
    let mut orphaned = false;
    while t <= last_start() {
        let rng = &mut ctx.rng;
        let cmd = any_kind(rng);
        let bytes = rng.range(64 * KIB, MIB);
        let f = match rng.range(0, 7) {
            0 | 1 => {
                orphaned = true;
                Fault::OrphanHeader { cmd, bytes }
            }
            2 => {
                orphaned = true;
                Fault::TextForBinary { cmd, bytes }
            }
            3 => Fault::LatePayload {
                cmd,
                bytes,
                delay_ms: rng.range(300, 3_000),
            },
            4 => Fault::StrayPayload {
                bytes: rng.range(4 * KIB, 64 * KIB),
            },
            5 => Fault::UnknownCommand,
            _ => Fault::Upload { cmd, bytes },
        };
        let quiet = f.quiet().map(|d| d.as_millis() as u64).unwrap_or(0);
        ctx.push_ms(t, f);
        t += quiet + ctx.rng.range(1_500, 3_000);
    }
    if !orphaned {
        let cmd = any_kind(&mut ctx.rng);
        let bytes = ctx.rng.range(64 * KIB, MIB);
        ctx.push_ms(last_start(), Fault::OrphanHeader { cmd, bytes });
    }
    fault_points(ctx);
}

/// One or two impairments drawn around the keepalive deadline — the link
/// held, or the plugin frozen — with swaps and uploads going on.
pub fn ws_keepalive(ctx: &mut Ctx) {
    let deadline = KEEPALIVE_TIMEOUT.as_millis() as u64;
    let end = HEAL_AT.as_millis() as u64 - 1_000;
    let hold_on = ctx.kind("held-link", 0.6).is_some();
    let stall_on = ctx.kind("plugin-stall", 0.6).is_some() || !hold_on;
    let mut t = ctx.rng.range(2_000, 5_000);
    for _ in 0..ctx.rng.range(1, 2) {
        // 1 s .. deadline + 4.5 s, weighted towards the deadline.
        let len = if ctx.rng.chance(0.5) {
            ctx.rng.range(deadline - 1_500, deadline + 1_500)
        } else {
            ctx.rng.range(1_000, deadline + 4_500)
        };
        if t + len > end {
            break;
        }
        if hold_on && (!stall_on || ctx.rng.chance(0.5)) {
            ctx.push_ms(
                t,
                NetFault::Hold {
                    a: CLIENT.into(),
                    b: SERVER.into(),
                },
            );
            ctx.push_ms(
                t + len,
                NetFault::Release {
                    a: CLIENT.into(),
                    b: SERVER.into(),
                },
            );
        } else {
            ctx.push_ms(t, Fault::Stall { ms: len });
        }
        t += len + ctx.rng.range(3_000, 5_000);
    }
    for _ in 0..ctx.rng.range(2, 4) {
        let at = ctx.rng.range(1_000, last_start());
        if ctx.rng.chance(0.5) {
            ctx.push_ms(at, Fault::SwapServer);
        } else {
            let bytes = ctx.rng.range(MIB, 2 * MIB);
            ctx.push_ms(
                at,
                Fault::Upload {
                    cmd: PayloadKind::WriteAudio,
                    bytes,
                },
            );
        }
    }
    fault_points(ctx);
}

/// ws-phases: the episodes are over by 22.5 s.
pub const PHASES_HEAL_AT: Duration = Duration::from_secs(23);
pub const PHASES_DURATION: Duration = Duration::from_secs(29);

fn link(ctx: &mut Ctx, at: u64, fault: fn(String, String) -> NetFault) {
    ctx.push_ms(at, fault(CLIENT.into(), SERVER.into()));
}

/// Faults aimed at each phase of the plugin's connection and at each of
/// the server's deadlines:
///
/// - the link held at 0–80 ms for 0.2–1.2 s: the first connect or its
///   WebSocket upgrade waits;
/// - at 1.5–2 s the idler opens a connection over the cap without an
///   upgrade request (the refusal's handshake deadline, 5 s) and one with
///   an upgrade request that never reads (the refusal's close grace);
/// - at 1.6–2.2 s a small header whose payload follows 9.96–10.04 s later
///   (it lands at the 10 s receive deadline, on either side), or never
///   (10.5–11.5 s of quiet: the deadline answers `*_failed`);
/// - at 12.5–13 s the link held for the keepalive deadline ± 0.3 s (a
///   pong at the deadline), or blackholed for 7.5–8.9 s: the keepalive kills
///   the session, the plugin's idle timeout gives the connection up, its
///   reconnects hang and time out until the restore refuses the last;
/// - swarm kind `fault-points`: the connection may break under a command
///   (`ws.session.reset`) from 8 s on.
pub fn ws_phases(ctx: &mut Ctx) {
    let hold = ctx.rng.range(0, 80);
    link(ctx, hold, |a, b| NetFault::Hold { a, b });
    let release = hold + ctx.rng.range(200, 1_200);
    link(ctx, release, |a, b| NetFault::Release { a, b });

    let idle = ctx.rng.range(1_500, 2_000);
    let hold_ms = ctx.rng.range(5_600, 6_500);
    ctx.push_ms(
        idle,
        Fault::Idle {
            upgrade: false,
            hold_ms,
        },
    );
    let (at, hold_ms) = (idle + ctx.rng.range(10, 300), ctx.rng.range(500, 2_000));
    ctx.push_ms(
        at,
        Fault::Idle {
            upgrade: true,
            hold_ms,
        },
    );

    let at = ctx.rng.range(1_600, 2_200);
    let cmd = any_kind(&mut ctx.rng);
    let bytes = ctx.rng.range(4 * KIB, 64 * KIB);
    let f = if ctx.kind("late-payload", 0.5).is_some() {
        Fault::LatePayload {
            cmd,
            bytes,
            delay_ms: ctx.rng.range(9_960, 10_040),
        }
    } else {
        Fault::MissingPayload {
            cmd,
            bytes,
            quiet_ms: ctx.rng.range(10_500, 11_500),
        }
    };
    ctx.push_ms(at, f);

    let t = ctx.rng.range(12_500, 13_000);
    if ctx.kind("blackhole", 0.5).is_none() {
        let deadline = KEEPALIVE_TIMEOUT.as_millis() as u64;
        let len = ctx.rng.range(deadline - 300, deadline + 300);
        link(ctx, t, |a, b| NetFault::Hold { a, b });
        link(ctx, t + len, |a, b| NetFault::Release { a, b });
    } else {
        let len = ctx.rng.range(7_500, 8_900);
        link(ctx, t, |a, b| NetFault::Blackhole { a, b });
        link(ctx, t + len, |a, b| NetFault::Restore { a, b });
    }
    // Swarm kind `fault-points`, after the refusals (a reset then would
    // hand the idler the one session) and drawn last.
    ctx.fault_points(0.3, FaultPointDraw::hot("ws.", 8_000, last_start()));
}

#[cfg(test)]
mod tests {
    use super::super::{WS_BULK_CROSSFIRE, WS_KEEPALIVE, WS_ORPHAN_HEADER, WS_PHASES};
    use super::*;
    use relaysim_harness::fault::Step;
    use relaysim_harness::Seed;
    use std::time::Duration;

    #[test]
    fn plans_are_deterministic_and_quiet_before_the_heal() {
        for scn in [
            &WS_BULK_CROSSFIRE,
            &WS_ORPHAN_HEADER,
            &WS_KEEPALIVE,
            &WS_PHASES,
        ] {
            for s in 0..100 {
                let a = scn.plan_for(Seed(s));
                assert_eq!(a, scn.plan_for(Seed(s)));
                assert!(!a.is_empty());
                for e in &a.events {
                    let quiet = e
                        .fault
                        .app()
                        .and_then(Fault::quiet)
                        .unwrap_or(Duration::ZERO);
                    assert!(e.at() + quiet < HEAL_AT, "seed {s}: {e:?}");
                }
            }
        }
        for s in 0..100 {
            let p = WS_ORPHAN_HEADER.plan_for(Seed(s));
            assert!(p.events.iter().any(|e| matches!(
                e.fault,
                Step::App(Fault::OrphanHeader { .. } | Fault::TextForBinary { .. })
            )));
        }
    }
}
