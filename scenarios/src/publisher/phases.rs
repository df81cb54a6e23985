//! The phases of the publisher's signalling session and the checks that
//! bound its waits on the room (`publisher-phases`).
//!
//! One attempt is one signalling connection `publisher`~`livekit`. Its
//! spans are cut from the trace, at what each side observably did:
//!
//! | phase | from | to |
//! |---|---|---|
//! | connect | `pub.attempt.start` (the connect begins with the join) | the room's `lk.accepted` of that attempt's connection, else the attempt's `pub.stop.done` |
//! | handshake (join) | `lk.accepted` | `pub.room.joined`, else the end of the start (`pub.start.failed`, `pub.stop.begin`) |
//! | steady | `pub.started` (joined, every track published, pipeline playing) | `pub.stop.begin` |
//! | teardown (leave) | `pub.stop.begin` | `pub.stop.done` |
//! | reconnect (retry) | `pub.attempt.start` of attempt 2 or later | as handshake, its join or the end of its start |
//!
//! The connection of an attempt is the first one the room accepted
//! between the attempt's start and its stop's end: attempts run one after
//! the other and each connects at most once. The room side comes from the
//! `livekit` peer's connection records (`lk.accepted`, `lk.request`,
//! `lk.answered`), the publisher side from the core's attempt events; no
//! span reads either side's bookkeeping.
//!
//! Two contract clauses are judged here, over the same observations:
//!
//! - [`START_WAITS_BOUNDED`]: a start never waits on the room longer than
//!   the RPC timeout. From the attempt's start, from the room accepting
//!   its connection and from each answer the room gave it, the start moves
//!   on (the next of those) or ends within `RPC_TIMEOUT` + slack.
//! - [`TEARDOWN_BOUNDED`]: a stop finishes within the leave's bound: the
//!   leave timeout when the attempt had started and queued no unpublish
//!   (nothing can be in flight ahead of the leave), else RPC + leave
//!   timeout (one RPC ahead of it).

use super::peers::livekit::LiveKitEvent;
use super::world::{LIVEKIT, PUBLISHER};
use relaysim_core::session::publisher::{PublisherEvent, LEAVE_TIMEOUT, RPC_TIMEOUT};
use relaysim_harness::check::{Check, CheckKind, RunView, Verdict};
use relaysim_harness::phase::{Phase, Span};
use std::collections::BTreeMap;
use std::time::Duration;

/// Network latency (≤ 5 ms each way) and ticks (5 ms) on top of a bound.
pub const SLACK: Duration = Duration::from_millis(100);

/// What the trace says about one attempt.
#[derive(Debug, Default, Clone)]
struct Attempt {
    start: Duration,
    /// The room's connection number and when it accepted it.
    accepted: Option<(u64, Duration)>,
    joined: Option<Duration>,
    started: Option<Duration>,
    failed: Option<Duration>,
    stop_begin: Option<Duration>,
    stop_done: Option<Duration>,
    /// An unpublish was queued before the stop began.
    unpublished: bool,
    /// When the room answered a request of this attempt's connection.
    answers: Vec<Duration>,
}

impl Attempt {
    /// The start ended: started, failed, or stopped.
    fn start_end(&self) -> Option<Duration> {
        [self.started, self.failed, self.stop_begin]
            .into_iter()
            .flatten()
            .min()
    }
}

fn attempts(v: &RunView<'_>) -> BTreeMap<u64, Attempt> {
    let mut out: BTreeMap<u64, Attempt> = BTreeMap::new();
    let mut current: Option<u64> = None;
    for e in &v.trace.entries {
        if let Some(p) = e.event::<PublisherEvent>() {
            if let PublisherEvent::AttemptStart { attempt } = p {
                current = Some(*attempt);
                out.insert(
                    *attempt,
                    Attempt {
                        start: e.at,
                        ..Attempt::default()
                    },
                );
                continue;
            }
            let Some(a) = p.attempt().and_then(|n| out.get_mut(&n)) else {
                continue;
            };
            match p {
                PublisherEvent::RoomJoined { .. } => {
                    a.joined.get_or_insert(e.at);
                }
                PublisherEvent::Started { .. } => {
                    a.started.get_or_insert(e.at);
                }
                PublisherEvent::StartFailed { .. } => {
                    a.failed.get_or_insert(e.at);
                }
                PublisherEvent::StopBegin { .. } => {
                    a.stop_begin.get_or_insert(e.at);
                }
                PublisherEvent::StopDone { .. } => {
                    a.stop_done.get_or_insert(e.at);
                }
                PublisherEvent::Unpublish { .. } if a.stop_begin.is_none() => {
                    a.unpublished = true;
                }
                _ => {}
            }
        }
        let Some(a) = current.and_then(|n| out.get_mut(&n)) else {
            continue;
        };
        match e.peer::<LiveKitEvent>() {
            Some(LiveKitEvent::Accepted { conn })
                if a.accepted.is_none() && a.stop_done.is_none() =>
            {
                a.accepted = Some((*conn, e.at));
            }
            Some(LiveKitEvent::Answered { conn, .. })
                if a.accepted.is_some_and(|(c, _)| c == *conn) =>
            {
                a.answers.push(e.at);
            }
            _ => {}
        }
    }
    out
}

/// The phase spans of every signalling session of the run (see the
/// module docs).
pub fn session_spans(v: &RunView<'_>) -> Vec<Span> {
    let mut spans = Vec::new();
    let span = |phase, from, to: Option<Duration>| {
        Span::new(phase, PUBLISHER, LIVEKIT, from, to.unwrap_or(v.end))
    };
    for (n, a) in attempts(v) {
        let connected = a.accepted.map(|(_, t)| t);
        spans.push(span(Phase::Connect, a.start, connected.or(a.stop_done)));
        let joined_or_end = a.joined.or(a.start_end());
        if let Some(t) = connected {
            spans.push(span(Phase::Handshake, t, joined_or_end));
        }
        if n > 1 {
            spans.push(span(Phase::Reconnect, a.start, joined_or_end));
        }
        if let Some(t) = a.started {
            spans.push(span(Phase::Steady, t, a.stop_begin));
        }
        if let Some(t) = a.stop_begin {
            spans.push(span(Phase::Teardown, t, a.stop_done));
        }
    }
    spans
}

fn start_waits_bounded(v: &RunView<'_>) -> Verdict {
    let bound = RPC_TIMEOUT + SLACK;
    for (n, a) in attempts(v) {
        let end = a.start_end();
        let mut marks = vec![a.start];
        marks.extend(a.accepted.map(|(_, t)| t));
        marks.extend(a.answers.iter().copied());
        marks.sort();
        for m in marks {
            if end.is_some_and(|e| m >= e) {
                break;
            }
            let deadline = m + bound;
            let next = end.into_iter().chain(
                [a.accepted.map(|(_, t)| t)]
                    .into_iter()
                    .flatten()
                    .chain(a.answers.iter().copied())
                    .filter(|t| *t > m),
            );
            let moved = next.min();
            if deadline <= v.end && moved.is_none_or(|t| t > deadline) {
                return Verdict::fail(
                    deadline,
                    format!(
                        "attempt {n}'s start waited on the room from {:.3}s past the {:.1}s RPC timeout ({})",
                        m.as_secs_f64(),
                        RPC_TIMEOUT.as_secs_f64(),
                        match moved {
                            Some(t) => format!("it moved on at {:.3}s", t.as_secs_f64()),
                            None => "it never moved on".into(),
                        }
                    ),
                );
            }
        }
    }
    Verdict::Pass
}

fn teardown_bounded(v: &RunView<'_>) -> Verdict {
    for (n, a) in attempts(v) {
        let Some(begin) = a.stop_begin else { continue };
        let quiet = a.started.is_some_and(|s| s <= begin) && !a.unpublished;
        let bound = if quiet {
            LEAVE_TIMEOUT
        } else {
            RPC_TIMEOUT + LEAVE_TIMEOUT
        } + SLACK;
        let deadline = begin + bound;
        if deadline <= v.end && a.stop_done.is_none_or(|d| d > deadline) {
            return Verdict::fail(
                deadline,
                format!(
                    "attempt {n}'s stop began at {:.3}s and {} (bound {:.1}s{})",
                    begin.as_secs_f64(),
                    match a.stop_done {
                        Some(d) => format!("finished at {:.3}s", d.as_secs_f64()),
                        None => "never finished".into(),
                    },
                    bound.as_secs_f64(),
                    if quiet {
                        ", nothing ahead of its leave"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
    Verdict::Pass
}

/// The room answered a request right at the RPC timeout: within 30 ms
/// under it (the answer lands within a tick or two of the deadline, on
/// either side).
fn answer_at_rpc_timeout(v: &RunView<'_>) -> Verdict {
    let lo = (RPC_TIMEOUT - Duration::from_millis(30)).as_millis() as u64;
    let hi = RPC_TIMEOUT.as_millis() as u64;
    Verdict::reached(v.trace.entries.iter().any(|e| {
        matches!(e.peer::<LiveKitEvent>(),
            Some(LiveKitEvent::Answered { after_ms, .. }) if (lo..=hi).contains(after_ms))
    }))
}

pub const START_WAITS_BOUNDED: Check = Check {
    name: "start-waits-bounded",
    kind: CheckKind::Always,
    about: "a start moves on or ends within the RPC timeout of its start, the room's accept and each of the room's answers",
    eval: start_waits_bounded,
};
pub const TEARDOWN_BOUNDED: Check = Check {
    name: "teardown-bounded",
    kind: CheckKind::Always,
    about: "a stop finishes within the leave timeout (nothing ahead of its leave) or RPC + leave timeout",
    eval: teardown_bounded,
};
pub const ANSWER_AT_RPC_TIMEOUT: Check = Check {
    name: "answer-at-rpc-timeout",
    kind: CheckKind::Sometimes,
    about: "the room answers a request within 30 ms of the publisher's RPC timeout",
    eval: answer_at_rpc_timeout,
};

pub const PHASE_CONNECT: Check = relaysim_harness::phase_check!("signal", "connect", session_spans);
pub const PHASE_HANDSHAKE: Check =
    relaysim_harness::phase_check!("signal", "handshake", session_spans);
pub const PHASE_STEADY: Check = relaysim_harness::phase_check!("signal", "steady", session_spans);
pub const PHASE_TEARDOWN: Check =
    relaysim_harness::phase_check!("signal", "teardown", session_spans);
pub const PHASE_RECONNECT: Check =
    relaysim_harness::phase_check!("signal", "reconnect", session_spans);

pub const DEADLINE_CONNECT: Check = relaysim_harness::deadline_check!("publisher.signal.connect");
pub const DEADLINE_RPC: Check = relaysim_harness::deadline_check!("publisher.signal.rpc");
pub const DEADLINE_LEAVE: Check = relaysim_harness::deadline_check!("publisher.signal.leave");
pub const DEADLINE_STOP_LEAVE: Check = relaysim_harness::deadline_check!("publisher.stop.leave");
pub const FAULT_POINT_ANSWER_LOST: Check =
    relaysim_harness::fault_point_check!("publisher.publish.answer-lost");
