//! Phases of the MoQ session → relay, and the oracle on the session's
//! connect bound, for `pads-phases`.
//!
//! A session is one `start` of the element (`pads.session.start`) until its
//! `stop` returned; its connections run between `gst` and `moq-relay`. Its
//! spans come from the element's reports to its application and the
//! relay's own records, never from the element's session table:
//!
//! | phase | from | to |
//! |---|---|---|
//! | connect | `pads.session.start` (the first session) | the relay's `moq.subscribed what=catalog` (or `moq.refused`), or the session's error or stop |
//! | handshake | the relay's catalog subscription | `pads.no-more-pads` (every pad of the first catalog created: the catalog and the create-pad round trips), or its error or stop |
//! | steady | `pads.no-more-pads` | its error or `pads.stop.begin` |
//! | teardown | its error or `pads.stop.begin` | `pads.stop.done` |
//! | reconnect | `pads.session.start` of a later session (a restart) | as connect and handshake together |
//!
//! Sessions run one at a time, so the relay's catalog subscription after
//! a session's start is that session's.

use super::peers::moq_relay::MoqRelayEvent;
use super::world::{GST, RELAY};
use relaysim_core::session::pads::{PadsEvent, CONNECT_TIMEOUT};
use relaysim_harness::check::{Check, CheckKind, RunView, Verdict};
use relaysim_harness::phase::{Phase, Span};
use std::collections::BTreeMap;
use std::time::Duration;

/// Scheduling and latency slack on the connect bound.
pub const SLACK: Duration = Duration::from_millis(100);

/// One session as the trace tells it.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub id: u64,
    pub start: Duration,
    /// The element reported its catalog subscription sent.
    pub connected: Option<Duration>,
    /// The relay saw (or refused) its catalog subscription.
    pub subscribed: Option<Duration>,
    pub pads_ready: Option<Duration>,
    pub error: Option<Duration>,
    pub stop_begin: Option<Duration>,
    pub stop_done: Option<Duration>,
}

/// Every session of the run, in start order.
pub fn sessions(v: &RunView<'_>) -> Vec<Session> {
    let mut out: Vec<Session> = Vec::new();
    let mut index: BTreeMap<u64, usize> = BTreeMap::new();
    for e in &v.trace.entries {
        if let Some(r) = e.peer::<MoqRelayEvent>() {
            let catalog = matches!(r,
                MoqRelayEvent::Subscribed { what } | MoqRelayEvent::Refused { what, .. } if what == "catalog");
            if catalog {
                if let Some(s) = out.last_mut() {
                    s.subscribed.get_or_insert(e.at);
                }
            }
            continue;
        }
        let Some(p) = e.event::<PadsEvent>() else {
            continue;
        };
        if let PadsEvent::SessionStart { session } = p {
            index.insert(*session, out.len());
            out.push(Session {
                id: *session,
                start: e.at,
                ..Session::default()
            });
            continue;
        }
        let Some(&i) = p.session().and_then(|s| index.get(&s)) else {
            continue;
        };
        let s = &mut out[i];
        let slot = match p {
            PadsEvent::Connected { .. } => &mut s.connected,
            PadsEvent::NoMorePads { .. } => &mut s.pads_ready,
            PadsEvent::Error { .. } => &mut s.error,
            PadsEvent::StopBegin { .. } => &mut s.stop_begin,
            PadsEvent::StopDone { .. } => &mut s.stop_done,
            _ => continue,
        };
        slot.get_or_insert(e.at);
    }
    out
}

/// The spans of every session (see the module docs).
pub fn session_spans(v: &RunView<'_>) -> Vec<Span> {
    let mut out = Vec::new();
    for (k, s) in sessions(v).into_iter().enumerate() {
        let span = |phase, from, to| Span::new(phase, GST, RELAY, from, to);
        let ended = [s.error, s.stop_begin].into_iter().flatten().min();
        let or_end = |t: Option<Duration>| t.or(ended).unwrap_or(v.end);
        let ready = or_end(s.pads_ready);
        if k == 0 {
            out.push(span(Phase::Connect, s.start, or_end(s.subscribed)));
        } else {
            out.push(span(Phase::Reconnect, s.start, ready));
        }
        if let Some(sub) = s.subscribed {
            out.push(span(Phase::Handshake, sub, ready));
        }
        if let Some(r) = s.pads_ready {
            out.push(span(Phase::Steady, r, ended.unwrap_or(v.end)));
        }
        if let Some(end) = ended {
            out.push(span(Phase::Teardown, end, s.stop_done.unwrap_or(v.end)));
        }
    }
    out
}

/// Contract: a session's connect to the relay is bounded: within
/// [`CONNECT_TIMEOUT`] (plus [`SLACK`]) of its start, the session has
/// reported its catalog subscription sent, or its error to the
/// application, or it was stopped.
fn connect_bounded(v: &RunView<'_>) -> Verdict {
    let bound = CONNECT_TIMEOUT + SLACK;
    for s in sessions(v) {
        let by = s.start + bound;
        if by > v.end {
            continue;
        }
        let answered = [s.connected, s.error, s.stop_begin]
            .into_iter()
            .flatten()
            .any(|t| t <= by);
        if !answered {
            return Verdict::fail(
                by,
                format!(
                    "session {} started at {:.3}s: no connection, no error, no stop within {} ms",
                    s.id,
                    s.start.as_secs_f64(),
                    bound.as_millis()
                ),
            );
        }
    }
    Verdict::Pass
}

pub const CONNECT_BOUNDED: Check = Check {
    name: "connect-bounded",
    kind: CheckKind::Always,
    about: "a session has connected, reported its error, or stopped within the connect bound of its start",
    eval: connect_bounded,
};

pub const DEADLINE_CONNECT: Check = relaysim_harness::deadline_check!("pads.session.connect");
pub const DEADLINE_STOP: Check = relaysim_harness::deadline_check!("pads.src.stop");
pub const DEADLINE_TRACK_IDLE: Check = relaysim_harness::deadline_check!("pads.pump.idle");
pub const FAULT_POINT_TRACK_READ: Check = relaysim_harness::fault_point_check!("pads.track.read");
pub const PHASE_CONNECT: Check =
    relaysim_harness::phase_check!("session", "connect", session_spans);
pub const PHASE_HANDSHAKE: Check =
    relaysim_harness::phase_check!("session", "handshake", session_spans);
pub const PHASE_STEADY: Check = relaysim_harness::phase_check!("session", "steady", session_spans);
pub const PHASE_TEARDOWN: Check =
    relaysim_harness::phase_check!("session", "teardown", session_spans);
pub const PHASE_RECONNECT: Check =
    relaysim_harness::phase_check!("session", "reconnect", session_spans);
