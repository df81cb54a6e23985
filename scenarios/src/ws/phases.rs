//! The phases of the plugin's WebSocket connection and the checks that
//! bound the server's waits (`ws-phases`).
//!
//! One connect attempt of the plugin is one connection
//! `ws-client`~`ws-server`. Its spans are cut at what each side observably
//! did: the plugin's own records (`ws.client.connecting`,
//! `ws.client.tcp-up`, `ws.client.up`, `ws.client.down`, traced in
//! `ws-phases` only) and the server's (`ws.keepalive.timeout`,
//! `ws.session.closed`):
//!
//! | phase | from | to |
//! |---|---|---|
//! | connect | `ws.client.connecting` | its `ws.client.tcp-up`, else the next attempt |
//! | handshake (WebSocket upgrade) | `ws.client.tcp-up` | its `ws.client.up`, else the next attempt |
//! | steady | `ws.client.up` | its `ws.client.down` |
//! | teardown (close handshake) | the server's `ws.keepalive.timeout` (its close begins), or its `ws.session.closed` for any other close | that session's `ws.session.closed` |
//! | reconnect | `ws.client.connecting` of an attempt after the first `up` | its `ws.client.up`, else the next attempt |
//!
//! The idler's refused connections are not sessions and have no phases:
//! their bounded waits are the deadlines `ws.server.handshake` (reached:
//! the idler never sends its upgrade request; judged by
//! [`REFUSAL_BOUNDED`] from what the idler saw) and
//! `ws.server.close-grace`, which **no scenario reaches**: the close 1013
//! of a refusal is one small write after the handshake's answer, and
//! writes block only on a full window, which turmoil counts in segments
//! (32 per direction): two writes to a peer that never reads never fill
//! it. Reaching it needs a byte-counted receive window per peer in the
//! harness's network (a zero-window peer), not a plan.
//!
//! No other phase is left out: `ws-phases` faults all five.
//!
//! Contract clauses judged here:
//!
//! - [`HEADER_WAIT_BOUNDED`] (S1/L1): a header whose payload does not come
//!   in time is answered within the payload timeout (+ slack) of being
//!   sent, while neither the link nor the plugin is dead.
//! - [`REFUSAL_BOUNDED`]: a connection over the cap that never sends its
//!   upgrade request is closed by the server within the handshake timeout.

use super::checks::impairments;
use super::peers::client::WsClientEvent;
use super::peers::idler::IdlerEvent;
use super::world::{CLIENT, SERVER};
use relaysim_core::session::ws::session::HANDSHAKE_TIMEOUT;
use relaysim_core::session::ws::{WsEvent, PAYLOAD_TIMEOUT};
use relaysim_harness::check::{Check, CheckKind, RunView, Verdict};
use relaysim_harness::phase::{Phase, Span};
use std::collections::BTreeMap;
use std::time::Duration;

/// Network latency (10–30 ms each way), read turns and ticks (10 ms) on
/// top of a bound.
pub const SLACK: Duration = Duration::from_millis(500);
/// "At the deadline": within this of it, on either side.
pub const NEAR: Duration = Duration::from_millis(50);

/// The phase spans of every plugin connection of the run (see the module
/// docs).
pub fn session_spans(v: &RunView<'_>) -> Vec<Span> {
    let mut spans = Vec::new();
    let span = |phase, from, to: Option<Duration>| {
        Span::new(phase, CLIENT, SERVER, from, to.unwrap_or(v.end))
    };
    // Per attempt: connecting, tcp-up, up, down.
    struct Attempt {
        connecting: Duration,
        tcp: Option<Duration>,
        up: Option<Duration>,
        down: Option<Duration>,
    }
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut kills: BTreeMap<u64, Duration> = BTreeMap::new();
    for e in &v.trace.entries {
        match e.peer::<WsClientEvent>() {
            Some(WsClientEvent::Connecting { .. }) => attempts.push(Attempt {
                connecting: e.at,
                tcp: None,
                up: None,
                down: None,
            }),
            Some(WsClientEvent::TcpUp { .. }) => {
                if let Some(a) = attempts.last_mut() {
                    a.tcp.get_or_insert(e.at);
                }
            }
            Some(WsClientEvent::Up { .. }) => {
                if let Some(a) = attempts.last_mut() {
                    a.up.get_or_insert(e.at);
                }
            }
            Some(WsClientEvent::Down { .. }) => {
                if let Some(a) = attempts.last_mut() {
                    a.down.get_or_insert(e.at);
                }
            }
            _ => {}
        }
        match e.event::<WsEvent>() {
            Some(WsEvent::KeepaliveTimeout { conn, .. }) => {
                kills.entry(*conn).or_insert(e.at);
            }
            Some(WsEvent::SessionClosed { conn, .. }) => {
                let from = kills.get(conn).copied().unwrap_or(e.at);
                spans.push(span(Phase::Teardown, from, Some(e.at)));
            }
            _ => {}
        }
    }
    let mut was_up = false;
    for (i, a) in attempts.iter().enumerate() {
        let next = attempts.get(i + 1).map(|n| n.connecting);
        spans.push(span(Phase::Connect, a.connecting, a.tcp.or(next)));
        if let Some(t) = a.tcp {
            spans.push(span(Phase::Handshake, t, a.up.or(next)));
        }
        if was_up {
            spans.push(span(Phase::Reconnect, a.connecting, a.up.or(next)));
        }
        if let Some(u) = a.up {
            spans.push(span(Phase::Steady, u, a.down.or(next)));
            was_up = true;
        }
    }
    spans
}

fn header_wait_bounded(v: &RunView<'_>) -> Verdict {
    let imps = impairments(v);
    let bound = PAYLOAD_TIMEOUT + SLACK;
    // (conn, seq) → when the header went out.
    let mut waiting: BTreeMap<(u64, u64), Duration> = BTreeMap::new();
    let mut downs: BTreeMap<u64, Duration> = BTreeMap::new();
    for e in &v.trace.entries {
        match e.peer::<WsClientEvent>() {
            Some(WsClientEvent::Command {
                conn, seq, payload, ..
            }) if matches!(*payload, "none" | "quiet" | "late") => {
                waiting.insert((*conn, *seq), e.at);
            }
            Some(WsClientEvent::Answer {
                conn, seq, wait_ms, ..
            }) => {
                if let Some(sent) = waiting.remove(&(*conn, *seq)) {
                    let dead = imps
                        .iter()
                        .any(|i| i.dead && i.start <= e.at && i.end >= sent);
                    if Duration::from_millis(*wait_ms) > bound && !dead {
                        return Verdict::fail(
                            e.at,
                            format!(
                                "conn={conn} seq={seq}: a header sent at {:.3}s whose payload was not sent in time was answered after {wait_ms} ms (bound {} ms)",
                                sent.as_secs_f64(),
                                bound.as_millis()
                            ),
                        );
                    }
                }
            }
            Some(WsClientEvent::Down { conn, .. }) => {
                downs.entry(*conn).or_insert(e.at);
            }
            _ => {}
        }
    }
    for ((conn, seq), sent) in waiting {
        let deadline = sent + bound;
        let ended = downs.get(&conn).is_some_and(|d| *d <= deadline);
        let dead = imps
            .iter()
            .any(|i| i.dead && i.start <= deadline && i.end >= sent);
        if deadline <= v.end && !ended && !dead {
            return Verdict::fail(
                deadline,
                format!(
                    "conn={conn} seq={seq}: a header sent at {:.3}s whose payload was not sent in time was never answered",
                    sent.as_secs_f64()
                ),
            );
        }
    }
    Verdict::Pass
}

fn refusal_bounded(v: &RunView<'_>) -> Verdict {
    let bound = HANDSHAKE_TIMEOUT + SLACK;
    let mut opened: BTreeMap<u64, Duration> = BTreeMap::new();
    for e in &v.trace.entries {
        match e.peer::<IdlerEvent>() {
            Some(IdlerEvent::Open { n, upgrade: false }) => {
                opened.insert(*n, e.at);
            }
            Some(IdlerEvent::Closed { n, after_ms }) => {
                opened.remove(n);
                if Duration::from_millis(*after_ms) > bound {
                    return Verdict::fail(
                        e.at,
                        format!("the server held idler connection {n}, which never sent its upgrade request, {after_ms} ms (bound {} ms)", bound.as_millis()),
                    );
                }
            }
            Some(IdlerEvent::Dropped { n }) => {
                if let Some(at) = opened.remove(n) {
                    if e.at >= at + bound {
                        return Verdict::fail(
                            at + bound,
                            format!("the server held idler connection {n}, which never sent its upgrade request, until the idler dropped it after {:.3}s", (e.at - at).as_secs_f64()),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    Verdict::Pass
}

/// A header's payload reached the server within [`NEAR`] of its
/// deadline: applied just before it, or found stray just after it.
fn payload_at_deadline(v: &RunView<'_>) -> Verdict {
    let mut headers: BTreeMap<u64, Duration> = BTreeMap::new();
    Verdict::reached(v.trace.entries.iter().any(|e| {
        match e.event::<WsEvent>() {
            Some(WsEvent::Header { conn, .. }) => {
                headers.insert(*conn, e.at);
                false
            }
            Some(WsEvent::PayloadApplied { conn, .. } | WsEvent::PayloadStray { conn, .. }) => {
                headers
                    .get(conn)
                    .is_some_and(|h| e.at.abs_diff(*h + PAYLOAD_TIMEOUT) <= NEAR)
            }
            _ => false,
        }
    }))
}

pub const HEADER_WAIT_BOUNDED: Check = Check {
    name: "header-wait-bounded",
    kind: CheckKind::Always,
    about: "a header whose payload is not sent in time is answered within the 10 s payload timeout (+0.5 s) while nothing is dead",
    eval: header_wait_bounded,
};
pub const REFUSAL_BOUNDED: Check = Check {
    name: "refusal-bounded",
    kind: CheckKind::Always,
    about: "a connection over the cap that never sends its upgrade request is closed within the 5 s handshake timeout (+0.5 s)",
    eval: refusal_bounded,
};
pub const PAYLOAD_AT_DEADLINE: Check = Check {
    name: "payload-at-deadline",
    kind: CheckKind::Sometimes,
    about: "a header's payload reaches the server within 50 ms of its 10 s deadline",
    eval: payload_at_deadline,
};

pub const PHASE_CONNECT: Check = relaysim_harness::phase_check!("ws", "connect", session_spans);
pub const PHASE_HANDSHAKE: Check = relaysim_harness::phase_check!("ws", "handshake", session_spans);
pub const PHASE_STEADY: Check = relaysim_harness::phase_check!("ws", "steady", session_spans);
pub const PHASE_TEARDOWN: Check = relaysim_harness::phase_check!("ws", "teardown", session_spans);
pub const PHASE_RECONNECT: Check = relaysim_harness::phase_check!("ws", "reconnect", session_spans);

pub const DEADLINE_HANDSHAKE: Check = relaysim_harness::deadline_check!("ws.server.handshake");
pub const DEADLINE_PAYLOAD: Check = relaysim_harness::deadline_check!("ws.receive.payload");
pub const DEADLINE_PONG: Check = relaysim_harness::deadline_check!("ws.keepalive.pong");
pub const DEADLINE_SESSION_HANDSHAKE: Check =
    relaysim_harness::deadline_check!("ws.session.handshake");
pub const DEADLINE_CLOSE_GRACE: Check = relaysim_harness::deadline_check!("ws.session.close-grace");
pub const FAULT_POINT_SESSION_RESET: Check =
    relaysim_harness::fault_point_check!("ws.session.reset");
