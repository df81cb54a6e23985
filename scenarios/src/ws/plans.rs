//! Fault plans (and workload) of the ws scenarios, drawn from the seed.
//!
//! Everything happens before `HEAL_AT`; client pauses and stalls end before
//! it too, so the liveness phase starts with a quiet, connected plugin.
//! Draws come from `SimRng::fork(seed, "<scenario>")`.

use super::world::{CLIENT, SERVER};
use super::{HEAL_AT, KEEPALIVE_TIMEOUT};
use relaysim_core::entropy::SimRng;
use relaysim_core::session::ws::protocol::PayloadKind;
use relaysim_harness::fault::{Fault, FaultPlan, FaultPointDraw, Swarm};
use relaysim_harness::peers::ws_client::WsFault;
use relaysim_harness::Seed;
use std::time::Duration;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn ws(plan: &mut FaultPlan, at_ms: u64, f: WsFault) {
    plan.push(ms(at_ms), Fault::Ws(f));
}

/// Swarm kind `fault-points`: the server's connection may break as a
/// command arrives (`ws.session.reset`) for part of the episodes' span.
/// Drawn last, so the episodes of a seed are the same with or without it.
fn fault_points(plan: &mut FaultPlan, swarm: &mut Swarm, rng: &mut SimRng) {
    swarm.fault_points(
        plan,
        rng,
        0.3,
        FaultPointDraw::hot("ws.", 1_000, last_start()),
    );
}

/// The last moment an episode may start.
fn last_start() -> u64 {
    HEAL_AT.as_millis() as u64 - 3_000
}

/// Multi-MB uploads timed against swap pushes: each episode asks for a swap
/// (from the server's copy, or from a client upload) and starts a
/// `write_audio` upload 0–0.7 s later, so the upload and the push of the
/// mirror and stems (1–6.5 MB) cross more often than not.
pub fn ws_bulk_crossfire(seed: Seed) -> FaultPlan {
    let mut rng = SimRng::fork(seed.0, "ws-bulk-crossfire");
    let mut swarm = Swarm::new(seed.0, "ws-bulk-crossfire");
    let mut plan = FaultPlan::default();
    let server_share = 0.4 + 0.5 * swarm.kind("server-swaps", 1.0).unwrap_or(0.6);
    let mut t = rng.range(1_000, 2_000);
    while t <= last_start() {
        if rng.chance(server_share) {
            ws(&mut plan, t, WsFault::SwapServer);
        } else {
            ws(
                &mut plan,
                t,
                WsFault::Upload {
                    cmd: PayloadKind::SwapSource,
                    bytes: rng.range(MIB, 2 * MIB),
                },
            );
        }
        let cmd = if rng.chance(0.8) {
            PayloadKind::WriteAudio
        } else {
            PayloadKind::TimbreSource
        };
        ws(
            &mut plan,
            t + rng.range(0, 700),
            WsFault::Upload {
                cmd,
                bytes: rng.range(MIB, 5 * MIB / 2),
            },
        );
        t += rng.range(3_500, 5_000);
    }
    fault_points(&mut plan, &mut swarm, &mut rng);
    swarm.finish(plan)
}

fn any_kind(rng: &mut SimRng) -> PayloadKind {
    *rng.pick(&PayloadKind::ALL)
}

/// Orphan headers, a command in a payload slot, missing, late and stray
/// payloads, unknown commands, between ordinary uploads. Every seed has at
/// least one orphan header or command-in-slot.
pub fn ws_orphan_header(seed: Seed) -> FaultPlan {
    let mut rng = SimRng::fork(seed.0, "ws-orphan-header");
    let mut swarm = Swarm::new(seed.0, "ws-orphan-header");
    let mut plan = FaultPlan::default();
    let mut t = rng.range(1_000, 2_500);
    // At most one long quiet (> the 10 s payload timeout), early.
    if swarm.kind("long-quiet", 0.4).is_some() {
        let quiet = rng.range(10_500, 12_000);
        let f = if rng.chance(0.5) {
            WsFault::MissingPayload {
                cmd: any_kind(&mut rng),
                bytes: rng.range(64 * KIB, MIB),
                quiet_ms: quiet,
            }
        } else {
            WsFault::LatePayload {
                cmd: any_kind(&mut rng),
                bytes: rng.range(64 * KIB, MIB),
                delay_ms: quiet,
            }
        };
        ws(&mut plan, t, f);
        t += quiet + rng.range(1_000, 2_000);
    }
    let mut orphaned = false;
    while t <= last_start() {
        let cmd = any_kind(&mut rng);
        let bytes = rng.range(64 * KIB, MIB);
        let f = match rng.range(0, 7) {
            0 | 1 => {
                orphaned = true;
                WsFault::OrphanHeader { cmd, bytes }
            }
            2 => {
                orphaned = true;
                WsFault::TextForBinary { cmd, bytes }
            }
            3 => WsFault::LatePayload {
                cmd,
                bytes,
                delay_ms: rng.range(300, 3_000),
            },
            4 => WsFault::StrayPayload {
                bytes: rng.range(4 * KIB, 64 * KIB),
            },
            5 => WsFault::UnknownCommand,
            _ => WsFault::Upload { cmd, bytes },
        };
        let quiet = f.quiet().map(|d| d.as_millis() as u64).unwrap_or(0);
        ws(&mut plan, t, f);
        t += quiet + rng.range(1_500, 3_000);
    }
    if !orphaned {
        ws(
            &mut plan,
            last_start(),
            WsFault::OrphanHeader {
                cmd: any_kind(&mut rng),
                bytes: rng.range(64 * KIB, MIB),
            },
        );
    }
    fault_points(&mut plan, &mut swarm, &mut rng);
    swarm.finish(plan)
}

/// One or two impairments drawn around the keepalive deadline — the link
/// held, or the plugin frozen — with swaps and uploads going on.
pub fn ws_keepalive(seed: Seed) -> FaultPlan {
    let mut rng = SimRng::fork(seed.0, "ws-keepalive");
    let mut swarm = Swarm::new(seed.0, "ws-keepalive");
    let mut plan = FaultPlan::default();
    let deadline = KEEPALIVE_TIMEOUT.as_millis() as u64;
    let end = HEAL_AT.as_millis() as u64 - 1_000;
    let hold_on = swarm.kind("held-link", 0.6).is_some();
    let stall_on = swarm.kind("plugin-stall", 0.6).is_some() || !hold_on;
    let mut t = rng.range(2_000, 5_000);
    for _ in 0..rng.range(1, 2) {
        // 1 s .. deadline + 4.5 s, weighted towards the deadline.
        let len = if rng.chance(0.5) {
            rng.range(deadline - 1_500, deadline + 1_500)
        } else {
            rng.range(1_000, deadline + 4_500)
        };
        if t + len > end {
            break;
        }
        if hold_on && (!stall_on || rng.chance(0.5)) {
            plan.push(
                ms(t),
                Fault::Hold {
                    a: CLIENT.into(),
                    b: SERVER.into(),
                },
            );
            plan.push(
                ms(t + len),
                Fault::Release {
                    a: CLIENT.into(),
                    b: SERVER.into(),
                },
            );
        } else {
            ws(&mut plan, t, WsFault::Stall { ms: len });
        }
        t += len + rng.range(3_000, 5_000);
    }
    for _ in 0..rng.range(2, 4) {
        let at = rng.range(1_000, last_start());
        if rng.chance(0.5) {
            ws(&mut plan, at, WsFault::SwapServer);
        } else {
            ws(
                &mut plan,
                at,
                WsFault::Upload {
                    cmd: PayloadKind::WriteAudio,
                    bytes: rng.range(MIB, 2 * MIB),
                },
            );
        }
    }
    fault_points(&mut plan, &mut swarm, &mut rng);
    swarm.finish(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_deterministic_and_quiet_before_the_heal() {
        for gen in [ws_bulk_crossfire, ws_orphan_header, ws_keepalive] {
            for s in 0..100 {
                let a = gen(Seed(s));
                assert_eq!(a, gen(Seed(s)));
                assert!(!a.is_empty());
                for e in &a.events {
                    let quiet = match &e.fault {
                        Fault::Ws(w) => w.quiet().unwrap_or_default(),
                        _ => Duration::ZERO,
                    };
                    assert!(e.at() + quiet < HEAL_AT, "seed {s}: {e:?}");
                }
            }
        }
        for s in 0..100 {
            let p = ws_orphan_header(Seed(s));
            assert!(p.events.iter().any(|e| matches!(
                e.fault,
                Fault::Ws(WsFault::OrphanHeader { .. } | WsFault::TextForBinary { .. })
            )));
        }
    }
}
