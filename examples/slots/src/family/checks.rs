//! The slots checks: independent oracles over the trace.
//!
//! The safety and liveness checks re-derive what they need from what the
//! clients saw (`client.*` peer events), never from the server's own
//! bookkeeping (`held=` in `slots.*`, the `slots.held` fact), so a bug in
//! the server cannot hide itself. The coverage check reads the server's
//! events: only the server sees two requests in flight at once.

use super::peers::ClientEvent;
use super::world::CAPACITY;
use crate::slots::SlotEvent;
use relaysim_harness::check::{Check, CheckKind, RunView, Verdict};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// After the heal, each request must be answered within this: the licence
/// timeout (1 s) for a query sent just before the heal, a healthy query
/// (≤ 40 ms) and a few round trips, with room to spare.
pub const ANSWER_BOUND: Duration = Duration::from_secs(2);

fn never_over_capacity(v: &RunView<'_>) -> Verdict {
    // (client, session) of every slot a client believes it holds.
    let mut holding: BTreeSet<(&str, u64)> = BTreeSet::new();
    for e in &v.trace.entries {
        match e.peer::<ClientEvent>() {
            Some(ClientEvent::Granted { s }) => {
                holding.insert((e.host, *s));
                if holding.len() > CAPACITY {
                    let who: Vec<String> =
                        holding.iter().map(|(c, s)| format!("{c}#{s}")).collect();
                    return Verdict::fail(
                        e.at,
                        format!(
                            "{} slots held at once (capacity {CAPACITY}): {}",
                            holding.len(),
                            who.join(", ")
                        ),
                    );
                }
            }
            Some(ClientEvent::Released { s } | ClientEvent::Dropped { s }) => {
                holding.remove(&(e.host, *s));
            }
            _ => {}
        }
    }
    Verdict::Pass
}

fn answered_after_heal(v: &RunView<'_>) -> Verdict {
    // (client, session) → when it asked, for asks at or after the heal.
    let mut waiting: BTreeMap<(&str, u64), Duration> = BTreeMap::new();
    let mut asked: BTreeSet<&str> = BTreeSet::new();
    let mut clients: BTreeSet<&str> = BTreeSet::new();
    for e in &v.trace.entries {
        let Some(event) = e.peer::<ClientEvent>() else {
            continue;
        };
        clients.insert(e.host);
        let Some(s) = event.session() else { continue };
        match event {
            ClientEvent::Ask { .. } if e.at >= v.heal_at => {
                asked.insert(e.host);
                waiting.insert((e.host, s), e.at);
            }
            ClientEvent::Granted { .. } | ClientEvent::Refused { .. } => {
                if let Some(at) = waiting.remove(&(e.host, s)) {
                    if e.at > at + ANSWER_BOUND {
                        return Verdict::fail(
                            at + ANSWER_BOUND,
                            format!(
                                "{} session {s} asked at {:.3}s and was answered only at {:.3}s",
                                e.host,
                                at.as_secs_f64(),
                                e.at.as_secs_f64()
                            ),
                        );
                    }
                }
            }
            ClientEvent::GaveUp { why, .. } => {
                if let Some(at) = waiting.remove(&(e.host, s)) {
                    return Verdict::fail(
                        e.at,
                        format!(
                            "{} session {s} asked at {:.3}s and gave up ({why})",
                            e.host,
                            at.as_secs_f64()
                        ),
                    );
                }
            }
            _ => {}
        }
    }
    // Unanswered asks whose bound has passed by the end of the run.
    if let Some(((client, s), at)) = waiting.iter().find(|(_, at)| **at + ANSWER_BOUND <= v.end) {
        return Verdict::fail(
            *at + ANSWER_BOUND,
            format!(
                "{client} session {s} asked at {:.3}s and was never answered",
                at.as_secs_f64()
            ),
        );
    }
    // A client that never asks again after the heal is wedged.
    if let Some(silent) = clients.iter().find(|c| !asked.contains(*c)) {
        return Verdict::fail(v.end, format!("{silent} never asked after the heal"));
    }
    Verdict::Pass
}

fn two_acquires_in_flight(v: &RunView<'_>) -> Verdict {
    let mut in_flight: BTreeSet<u64> = BTreeSet::new();
    for e in &v.trace.entries {
        match e.peer::<SlotEvent>() {
            Some(SlotEvent::Request { conn, .. }) => {
                in_flight.insert(*conn);
                if in_flight.len() >= 2 {
                    return Verdict::Hit;
                }
            }
            Some(
                SlotEvent::Granted { conn, .. }
                | SlotEvent::Full { conn, .. }
                | SlotEvent::Denied { conn, .. },
            ) => {
                in_flight.remove(conn);
            }
            _ => {}
        }
    }
    Verdict::Miss
}

/// Safety: never more than `CAPACITY` slots held at once, as the clients
/// saw it.
pub const NEVER_OVER_CAPACITY: Check = Check {
    name: "never-over-capacity",
    kind: CheckKind::Always,
    about: "never more than capacity slots held at once, as the clients saw it",
    eval: never_over_capacity,
};
/// Liveness: after the heal every request is answered within
/// [`ANSWER_BOUND`], and every client asks again.
pub const ANSWERED_AFTER_HEAL: Check = Check {
    name: "answered-after-heal",
    kind: CheckKind::Eventually,
    about: "after the heal every client asks again and every request is answered within 2 s",
    eval: answered_after_heal,
};
/// Coverage: the race's precondition.
pub const TWO_ACQUIRES_IN_FLIGHT: Check = Check {
    name: "two-acquires-in-flight",
    kind: CheckKind::Sometimes,
    about: "two acquires were in flight at the server at once",
    eval: two_acquires_in_flight,
};
