//! The pads checks: independent oracles over the trace and final facts.
//!
//! What reached each pad (caps, buffers in order, flush, removal) comes from
//! the downstream peer's records; what the relay served comes from the relay
//! peer; the element's own events say only when sessions, stops, stalls and
//! pads began and ended, and how deep its queues got.

use relaysim_core::session::pads::{pad_name, PadsEvent, QUEUE_CAPACITY, STOP_BOUND};
use relaysim_harness::check::{Check, CheckKind, RunView, Verdict};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::peers::downstream::{DownstreamEvent, RULE_CAPS, RULE_ORDER};
use super::peers::moq_relay::{known, MoqRelayEvent};

/// A session alive when the relay goes down reports its error within this
/// (counted from the end of any main-loop stall in the way).
pub const ERROR_BOUND: Duration = Duration::from_secs(1);
/// At the end of the run every catalog track's pad has had a buffer this
/// recently.
pub const FLOW_BOUND: Duration = Duration::from_secs(1);

fn ds_session(d: &DownstreamEvent) -> u64 {
    match d {
        DownstreamEvent::Caps { session, .. }
        | DownstreamEvent::Eos { session, .. }
        | DownstreamEvent::Flush { session, .. }
        | DownstreamEvent::Removed { session, .. }
        | DownstreamEvent::Violation { session, .. } => *session,
    }
}

/// Stall windows `[start, end)` from the main loop's reports.
fn stalls(v: &RunView<'_>) -> Vec<(Duration, Duration)> {
    v.trace
        .entries
        .iter()
        .filter_map(|e| match e.event::<PadsEvent>() {
            Some(PadsEvent::MainLoopStall { ms }) => {
                Some((e.at, e.at + Duration::from_millis(*ms)))
            }
            _ => None,
        })
        .collect()
}

fn in_stall(stalls: &[(Duration, Duration)], at: Duration) -> bool {
    stalls.iter().any(|(s, e)| *s <= at && at < *e)
}

fn queue_bounded(v: &RunView<'_>) -> Verdict {
    for e in &v.trace.entries {
        if let Some(
            PadsEvent::QueueDepth { pad, depth, .. } | PadsEvent::PumpBlocked { pad, depth, .. },
        ) = e.event::<PadsEvent>()
        {
            if *depth > QUEUE_CAPACITY {
                return Verdict::fail(
                    e.at,
                    format!("{pad} holds {depth} queued messages (bound {QUEUE_CAPACITY})"),
                );
            }
        }
    }
    Verdict::Pass
}

fn violations(v: &RunView<'_>, wanted: &str) -> Verdict {
    for e in &v.trace.entries {
        if let Some(DownstreamEvent::Violation {
            session,
            pad,
            rule,
            what,
        }) = e.peer::<DownstreamEvent>()
        {
            if *rule == wanted {
                return Verdict::fail(e.at, format!("session {session} {pad}: {what}"));
            }
        }
    }
    Verdict::Pass
}

fn caps_before_buffers(v: &RunView<'_>) -> Verdict {
    violations(v, RULE_CAPS)
}

fn buffers_in_order(v: &RunView<'_>) -> Verdict {
    violations(v, RULE_ORDER)
}

fn every_pad_flushed_on_stop(v: &RunView<'_>) -> Verdict {
    // Live pads per session, from creation (element) to removal (downstream).
    let mut live: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    let mut stopping: BTreeMap<u64, Duration> = BTreeMap::new();
    let mut flushed: BTreeSet<(u64, String)> = BTreeSet::new();
    for e in &v.trace.entries {
        if let Some(p) = e.event::<PadsEvent>() {
            match p {
                PadsEvent::PadCreated { session, pad, .. } => {
                    live.entry(*session).or_default().insert(pad.clone());
                }
                PadsEvent::StopBegin { session, .. } => {
                    stopping.insert(*session, e.at);
                }
                PadsEvent::StopDone { session, .. } => {
                    let left: Vec<&String> = live
                        .get(session)
                        .map(|s| s.iter().collect())
                        .unwrap_or_default();
                    if !left.is_empty() {
                        return Verdict::fail(
                            e.at,
                            format!(
                                "stop of session {session} returned with its pads {} never flushed nor removed",
                                left.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        match e.peer::<DownstreamEvent>() {
            Some(DownstreamEvent::Flush { session, pad }) => {
                flushed.insert((*session, pad.clone()));
            }
            Some(DownstreamEvent::Removed { session, pad, .. }) => {
                if let Some(s) = live.get_mut(session) {
                    s.remove(pad);
                }
                // During a stop, a removal must come with its flush.
                if stopping.contains_key(session) && !flushed.contains(&(*session, pad.clone())) {
                    return Verdict::fail(
                        e.at,
                        format!("session {session} {pad} was removed by stop without a flush"),
                    );
                }
            }
            _ => {}
        }
    }
    Verdict::Pass
}

fn stop_bounded(v: &RunView<'_>) -> Verdict {
    let mut begun: BTreeMap<u64, Duration> = BTreeMap::new();
    for e in &v.trace.entries {
        match e.event::<PadsEvent>() {
            Some(PadsEvent::StopBegin { session, .. }) => {
                begun.insert(*session, e.at);
            }
            Some(PadsEvent::StopDone { session, .. }) => {
                if let Some(b) = begun.remove(session) {
                    if e.at > b + STOP_BOUND {
                        return Verdict::fail(
                            e.at,
                            format!(
                                "stop of session {session} took {} ms (bound {} ms)",
                                (e.at - b).as_millis(),
                                STOP_BOUND.as_millis()
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    for (session, b) in begun {
        if b + STOP_BOUND <= v.end {
            return Verdict::fail(
                b + STOP_BOUND,
                format!("stop of session {session} never returned"),
            );
        }
    }
    Verdict::Pass
}

fn nothing_after_stop(v: &RunView<'_>) -> Verdict {
    let mut done: BTreeMap<u64, Duration> = BTreeMap::new();
    for e in &v.trace.entries {
        let session = match (e.event::<PadsEvent>(), e.peer::<DownstreamEvent>()) {
            (Some(PadsEvent::StopDone { session, .. }), _) => {
                done.insert(*session, e.at);
                continue;
            }
            (Some(p), _) => p.session(),
            (_, Some(d)) => Some(ds_session(d)),
            _ => None,
        };
        if let Some(s) = session {
            if let Some(t) = done.get(&s) {
                return Verdict::fail(
                    e.at,
                    format!(
                        "`{}` after session {s}'s stop returned at {:.3}s",
                        e.kind,
                        t.as_secs_f64()
                    ),
                );
            }
        }
    }
    Verdict::Pass
}

fn pad_names(v: &RunView<'_>) -> Verdict {
    for e in &v.trace.entries {
        match e.event::<PadsEvent>() {
            Some(PadsEvent::PadCollision {
                session,
                pad,
                owner,
            }) => {
                return Verdict::fail(
                    e.at,
                    format!("session {session} could not create {pad}: session {owner}'s pad of that name is still there"),
                )
            }
            Some(PadsEvent::PadCreated { pad, track, .. }) => {
                let expected = known(track).map(|k| pad_name(k.kind, track));
                if expected.as_deref() != Some(pad.as_str()) {
                    return Verdict::fail(
                        e.at,
                        format!(
                            "track {track} got pad {pad}, expected {}",
                            expected.unwrap_or_else(|| "no pad".into())
                        ),
                    );
                }
            }
            _ => {}
        }
    }
    Verdict::Pass
}

fn error_reported_once(v: &RunView<'_>) -> Verdict {
    let mut errors: BTreeMap<u64, u32> = BTreeMap::new();
    let mut alive: BTreeSet<u64> = BTreeSet::new();
    let mut stop_at: BTreeMap<u64, Duration> = BTreeMap::new();
    let mut error_at: BTreeMap<u64, Duration> = BTreeMap::new();
    // (session, the outage it must notice).
    let mut owed: Vec<(u64, Duration)> = Vec::new();
    for e in &v.trace.entries {
        match e.event::<PadsEvent>() {
            Some(PadsEvent::SessionStart { session }) => {
                alive.insert(*session);
            }
            Some(PadsEvent::StopBegin { session, .. }) => {
                alive.remove(session);
                stop_at.insert(*session, e.at);
            }
            Some(PadsEvent::Error { session, .. }) => {
                let n = errors.entry(*session).or_default();
                *n += 1;
                error_at.entry(*session).or_insert(e.at);
                if *n > 1 {
                    return Verdict::fail(e.at, format!("session {session} reported {n} errors"));
                }
            }
            _ => {}
        }
        if let Some(MoqRelayEvent::Down { .. }) = e.peer::<MoqRelayEvent>() {
            owed.extend(alive.iter().map(|s| (*s, e.at)));
        }
    }
    let stalls = stalls(v);
    for (session, down) in owed {
        // A controller waiting on the main loop (a create-pad round trip)
        // notices the outage once a stall in the way is over.
        let mut deadline = down + ERROR_BOUND;
        loop {
            let extended = stalls
                .iter()
                .filter(|(s, e)| *s <= deadline && *e > down)
                .map(|(_, e)| *e + ERROR_BOUND)
                .fold(deadline, Duration::max);
            if extended == deadline {
                break;
            }
            deadline = extended;
        }
        if deadline > v.end {
            continue;
        }
        let stopped_first = stop_at.get(&session).is_some_and(|s| *s <= deadline);
        let reported = error_at.get(&session).is_some_and(|t| *t <= deadline);
        if !stopped_first && !reported {
            return Verdict::fail(
                deadline,
                format!(
                    "the relay went down at {:.3}s under session {session}, which reported no error",
                    down.as_secs_f64()
                ),
            );
        }
    }
    Verdict::Pass
}

fn pads_flow_after_heal(v: &RunView<'_>) -> Verdict {
    let Some(session) = v.facts.count("element.session") else {
        return Verdict::fail(v.end, "no session running at the end of the run");
    };
    for track in v.facts.list("relay.catalog").unwrap_or_default() {
        let Some(k) = known(track) else { continue };
        let pad = pad_name(k.kind, track);
        let key = format!("downstream.{pad}@{session}.last_ms");
        let fresh = v
            .facts
            .count(&key)
            .is_some_and(|ms| Duration::from_millis(ms) + FLOW_BOUND >= v.end);
        if !fresh {
            return Verdict::fail(
                v.end,
                format!(
                    "{pad} of session {session} is not flowing at the end (last buffer: {}; element pads: {})",
                    v.facts.count(&key).map_or("none".into(), |ms| ms.to_string()),
                    v.facts.show("element.pads")
                ),
            );
        }
    }
    Verdict::Pass
}

fn stalled_while_buffers_arrive(v: &RunView<'_>) -> Verdict {
    let stalls = stalls(v);
    Verdict::reached(v.trace.entries.iter().any(|e| {
        matches!(e.event::<PadsEvent>(), Some(PadsEvent::PumpBlocked { .. }))
            && in_stall(&stalls, e.at)
    }))
}

fn stop_while_pump_blocked(v: &RunView<'_>) -> Verdict {
    let mut blocked: BTreeSet<(u64, String)> = BTreeSet::new();
    for e in &v.trace.entries {
        match e.event::<PadsEvent>() {
            Some(PadsEvent::PumpBlocked { session, pad, .. }) => {
                blocked.insert((*session, pad.clone()));
            }
            Some(PadsEvent::PumpUnblocked { session, pad }) => {
                blocked.remove(&(*session, pad.clone()));
            }
            Some(PadsEvent::StopBegin { session, .. })
                if blocked.iter().any(|(s, _)| s == session) =>
            {
                return Verdict::Hit
            }
            _ => {}
        }
    }
    Verdict::Miss
}

fn stop_while_stalled(v: &RunView<'_>) -> Verdict {
    let stalls = stalls(v);
    Verdict::reached(v.trace.entries.iter().any(|e| {
        matches!(e.event::<PadsEvent>(), Some(PadsEvent::StopBegin { .. }))
            && in_stall(&stalls, e.at)
    }))
}

fn config_change_mid_stream(v: &RunView<'_>) -> Verdict {
    Verdict::reached(
        v.trace.entries.iter().any(
            |e| matches!(e.peer::<DownstreamEvent>(), Some(DownstreamEvent::Caps { config, .. }) if *config > 1),
        ),
    )
}

fn restart_reuses_pad_names(v: &RunView<'_>) -> Verdict {
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for e in &v.trace.entries {
        if let Some(PadsEvent::PadCreated { session, pad, .. }) = e.event::<PadsEvent>() {
            if seen.get(pad).is_some_and(|s| s < session) {
                return Verdict::Hit;
            }
            seen.entry(pad.clone()).or_insert(*session);
        }
    }
    Verdict::Miss
}

fn readd_over_blocked_pump(v: &RunView<'_>) -> Verdict {
    // A flush outside any stop: the forwarder replaced a retiring pad whose
    // pump was still blocked on its full queue.
    let mut stopping: BTreeSet<u64> = BTreeSet::new();
    for e in &v.trace.entries {
        match (e.event::<PadsEvent>(), e.peer::<DownstreamEvent>()) {
            (Some(PadsEvent::StopBegin { session, .. }), _) => {
                stopping.insert(*session);
            }
            (_, Some(DownstreamEvent::Flush { session, .. })) if !stopping.contains(session) => {
                return Verdict::Hit
            }
            _ => {}
        }
    }
    Verdict::Miss
}

fn relay_ended_a_listed_track(v: &RunView<'_>) -> Verdict {
    Verdict::reached(
        v.trace
            .entries
            .iter()
            .any(|e| matches!(e.event::<PadsEvent>(), Some(PadsEvent::Resubscribe { .. }))),
    )
}

fn error_then_recovery(v: &RunView<'_>) -> Verdict {
    let mut errored: Option<u64> = None;
    for e in &v.trace.entries {
        match e.event::<PadsEvent>() {
            Some(PadsEvent::Error { session, .. }) => errored = errored.or(Some(*session)),
            Some(PadsEvent::PadCreated { session, .. })
                if errored.is_some_and(|s| s < *session) =>
            {
                return Verdict::Hit
            }
            _ => {}
        }
    }
    Verdict::Miss
}

pub const QUEUE_BOUNDED: Check = Check {
    name: "queue-bounded",
    kind: CheckKind::Always,
    about: "no pad queue ever holds more than 32 messages",
    eval: queue_bounded,
};
pub const CAPS_BEFORE_BUFFERS: Check = Check {
    name: "caps-before-buffers",
    kind: CheckKind::Always,
    about: "every buffer reaches its pad after caps describing its codec configuration",
    eval: caps_before_buffers,
};
pub const BUFFERS_IN_ORDER: Check = Check {
    name: "buffers-in-order",
    kind: CheckKind::Always,
    about: "each pad's buffers arrive in order, none after its EOS",
    eval: buffers_in_order,
};
pub const EVERY_PAD_FLUSHED_ON_STOP: Check = Check {
    name: "every-pad-flushed-on-stop",
    kind: CheckKind::Always,
    about: "when stop returns, every pad of the session has seen its flush and been removed",
    eval: every_pad_flushed_on_stop,
};
pub const STOP_BOUNDED: Check = Check {
    name: "stop-bounded",
    kind: CheckKind::Always,
    about: "stop returns within 500 ms, stalled main loop or not",
    eval: stop_bounded,
};
pub const NOTHING_AFTER_STOP: Check = Check {
    name: "nothing-after-stop",
    kind: CheckKind::Always,
    about: "nothing of a session happens after its stop returned",
    eval: nothing_after_stop,
};
pub const PAD_NAMES: Check = Check {
    name: "pad-names",
    kind: CheckKind::Always,
    about: "pads are named after their track, never collide, and a restart never meets a stale pad",
    eval: pad_names,
};
pub const ERROR_REPORTED_ONCE: Check = Check {
    name: "error-reported-once",
    kind: CheckKind::Always,
    about: "a session reports at most one error, and a relay outage under a running session exactly one, within 1 s of the main loop being free",
    eval: error_reported_once,
};
pub const PADS_FLOW_AFTER_HEAL: Check = Check {
    name: "pads-flow-after-heal",
    kind: CheckKind::Eventually,
    about: "at the end of the fault-free phase every catalog track's pad receives buffers",
    eval: pads_flow_after_heal,
};
pub const STALLED_WHILE_BUFFERS_ARRIVE: Check = Check {
    name: "stalled-while-buffers-arrive",
    kind: CheckKind::Sometimes,
    about: "a pump finds its queue full while the main loop is stalled",
    eval: stalled_while_buffers_arrive,
};
pub const STOP_WHILE_PUMP_BLOCKED: Check = Check {
    name: "stop-while-pump-blocked",
    kind: CheckKind::Sometimes,
    about: "stop begins while a pump waits on a full queue (mid-send)",
    eval: stop_while_pump_blocked,
};
pub const STOP_WHILE_STALLED: Check = Check {
    name: "stop-while-stalled",
    kind: CheckKind::Sometimes,
    about: "stop begins while the main loop is stalled",
    eval: stop_while_stalled,
};
pub const CONFIG_CHANGE_MID_STREAM: Check = Check {
    name: "config-change-mid-stream",
    kind: CheckKind::Sometimes,
    about: "a pad's caps change to a new codec configuration while it streams",
    eval: config_change_mid_stream,
};
pub const RESTART_REUSES_PAD_NAMES: Check = Check {
    name: "restart-reuses-pad-names",
    kind: CheckKind::Sometimes,
    about: "a later session creates a pad name an earlier session used",
    eval: restart_reuses_pad_names,
};
pub const READD_OVER_BLOCKED_PUMP: Check = Check {
    name: "readd-over-blocked-pump",
    kind: CheckKind::Sometimes,
    about: "a track comes back while its old pump is still blocked on the full queue of its retiring pad",
    eval: readd_over_blocked_pump,
};
pub const RELAY_ENDED_A_LISTED_TRACK: Check = Check {
    name: "relay-ended-a-listed-track",
    kind: CheckKind::Sometimes,
    about: "the relay ends a track's subscription while the session's catalog still lists it (a coalesced remove and re-add); it is subscribed again",
    eval: relay_ended_a_listed_track,
};
pub const ERROR_THEN_RECOVERY: Check = Check {
    name: "error-then-recovery",
    kind: CheckKind::Sometimes,
    about: "a session errors and a later session creates its pads",
    eval: error_then_recovery,
};
