//! The ws checks: independent oracles over the trace.
//!
//! They judge the server by what the plugin saw (its command log: gaps,
//! sampled waits, pushes received) against what the server says it did, and
//! they derive "was the link healthy?" from the fault entries alone (holds,
//! stalls, deliberate send pauses), never from the server's own account.

use super::fault::Fault;
use super::peers::client::WsClientEvent;
use super::{ANSWER_BOUND, KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT, PROGRESS_INTERVAL};
use relaysim_core::session::ws::event::Push;
use relaysim_core::session::ws::WsEvent;
use relaysim_core::BugSet;
use relaysim_harness::check::{Check, CheckKind, RunView, Verdict};
use relaysim_harness::fault::{NetFault, Step};
use relaysim_harness::trace::HarnessEvent;
use std::collections::BTreeMap;
use std::time::Duration;

/// Impairments shorter than this must never cost the session: a pong
/// delayed by them still lands a second inside the deadline.
pub const NEVER_KILL_BELOW: Duration = Duration::from_secs(3);
/// Impairments at least this long must be killed (a ping is due within one
/// interval of their start, and its deadline passes one timeout later).
pub fn must_kill_from() -> Duration {
    KEEPALIVE_INTERVAL + KEEPALIVE_TIMEOUT + Duration::from_secs(1)
}
/// ... within this long of their start.
pub fn kill_by() -> Duration {
    KEEPALIVE_INTERVAL + KEEPALIVE_TIMEOUT + Duration::from_millis(500)
}

/// A window in which the plugin or its link was not healthy, by the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Impairment {
    pub start: Duration,
    pub end: Duration,
    /// Nothing got through at all (a held link, a frozen plugin), pongs
    /// included. A send pause is not: the plugin still reads and pongs.
    pub dead: bool,
}

impl Impairment {
    pub fn len(&self) -> Duration {
        self.end.saturating_sub(self.start)
    }

    fn overlaps(&self, from: Duration, to: Duration) -> bool {
        self.start <= to && self.end >= from
    }
}

/// Holds and blackholes (until their release or restore, or the heal),
/// stalls and send pauses.
pub fn impairments(v: &RunView<'_>) -> Vec<Impairment> {
    let mut out = Vec::new();
    let mut held: Option<Duration> = None;
    for e in &v.trace.entries {
        let step = e.fault::<Fault>();
        let ends_hold = matches!(
            step,
            Some(Step::Net(
                NetFault::Release { .. } | NetFault::Restore { .. }
            ))
        ) || matches!(e.harness(), Some(HarnessEvent::Heal));
        if ends_hold {
            if let Some(start) = held.take() {
                out.push(Impairment {
                    start,
                    end: e.at,
                    dead: true,
                });
            }
            continue;
        }
        match step {
            Some(Step::Net(NetFault::Hold { .. } | NetFault::Blackhole { .. })) => {
                held = held.or(Some(e.at))
            }
            Some(Step::App(w)) => {
                if let Some(q) = w.quiet() {
                    out.push(Impairment {
                        start: e.at,
                        end: e.at + q,
                        dead: matches!(w, Fault::Stall { .. }),
                    });
                }
            }
            _ => {}
        }
    }
    if let Some(start) = held {
        out.push(Impairment {
            start,
            end: v.end,
            dead: true,
        });
    }
    out
}

/// Is a sample at `t` (covering waits that began up to one sample period
/// and one bound earlier) free of any impairment, with a second of grace
/// for recovery?
fn healthy_at(imps: &[Impairment], t: Duration) -> bool {
    let from = t.saturating_sub(PROGRESS_INTERVAL + ANSWER_BOUND + Duration::from_secs(1));
    !imps.iter().any(|i| i.overlaps(from, t))
}

fn no_command_consumed(v: &RunView<'_>) -> Verdict {
    // What the plugin did with each traced command's payload.
    let mut payloads: BTreeMap<u64, &'static str> = BTreeMap::new();
    for e in &v.trace.entries {
        match e.peer::<WsClientEvent>() {
            Some(WsClientEvent::Gap {
                lost,
                lost_cmd,
                answered,
                ..
            }) => {
                return Verdict::fail(
                    e.at,
                    format!("command seq={lost} ({lost_cmd}) was never answered, yet seq={answered} after it was: it was consumed"),
                )
            }
            Some(WsClientEvent::Unexpected { what, .. }) => {
                return Verdict::fail(e.at, format!("the plugin got {what}"))
            }
            Some(WsClientEvent::Command { seq, payload, .. }) => {
                payloads.insert(*seq, payload);
            }
            _ => {}
        }
        if let Some(WsEvent::PayloadApplied { seq, kind, .. }) = e.event::<WsEvent>() {
            match payloads.get(seq) {
                Some(&"sent") | Some(&"late") => {}
                other => {
                    return Verdict::fail(
                        e.at,
                        format!(
                            "the server applied a payload to {kind} seq={seq}, whose payload the plugin {}",
                            match other {
                                Some(p) => format!("never sent (payload={p})"),
                                None => "never announced".into(),
                            }
                        ),
                    )
                }
            }
        }
    }
    Verdict::Pass
}

fn command_answered_within(v: &RunView<'_>) -> Verdict {
    let imps = impairments(v);
    let bound = ANSWER_BOUND.as_millis() as u64;
    let mut last_up: Option<(Duration, bool)> = None;
    let mut progressed_after_heal = false;
    for e in &v.trace.entries {
        let Some(c) = e.peer::<WsClientEvent>() else {
            continue;
        };
        match c {
            WsClientEvent::Up { .. } => last_up = Some((e.at, true)),
            WsClientEvent::Progress {
                conn,
                oldest_wait_ms,
                max_wait_ms,
                send_stuck_ms,
                outstanding,
                ..
            } => {
                let worst = (*oldest_wait_ms).max(*max_wait_ms).max(*send_stuck_ms);
                if worst > bound && healthy_at(&imps, e.at) {
                    return Verdict::fail(
                        e.at,
                        format!(
                            "conn={conn}: a command waited {worst} ms for its answer (bound {bound} ms; oldest waiting {oldest_wait_ms} ms, longest answered {max_wait_ms} ms, own send stuck {send_stuck_ms} ms, {outstanding} waiting)"
                        ),
                    );
                }
                if e.at >= v.heal_at + ANSWER_BOUND && worst <= bound {
                    progressed_after_heal = true;
                }
            }
            WsClientEvent::Down {
                conn,
                reason,
                unanswered,
                oldest_wait_ms,
            } => {
                last_up = Some((e.at, false));
                if *unanswered > 0 && *oldest_wait_ms > bound && healthy_at(&imps, e.at) {
                    return Verdict::fail(
                        e.at,
                        format!("conn={conn} went down ({reason}) with {unanswered} commands unanswered, the oldest after {oldest_wait_ms} ms"),
                    );
                }
            }
            _ => {}
        }
    }
    match last_up {
        Some((_, true)) if progressed_after_heal => Verdict::Pass,
        Some((_, true)) => Verdict::fail(
            v.end,
            "no sample after the heal shows the plugin's commands answered in time",
        ),
        Some((at, false)) => Verdict::fail(
            v.end,
            format!(
                "the plugin is disconnected at the end (since {:.3}s)",
                at.as_secs_f64()
            ),
        ),
        None => Verdict::fail(v.end, "the plugin never connected"),
    }
}

fn kills(v: &RunView<'_>) -> Vec<(Duration, u64)> {
    v.trace
        .entries
        .iter()
        .filter_map(|e| match e.event::<WsEvent>() {
            Some(WsEvent::KeepaliveTimeout { conn, .. }) => Some((e.at, *conn)),
            _ => None,
        })
        .collect()
}

fn no_healthy_keepalive_kill(v: &RunView<'_>) -> Verdict {
    let imps = impairments(v);
    for (at, conn) in kills(v) {
        let from = at.saturating_sub(KEEPALIVE_TIMEOUT + Duration::from_secs(1));
        let excused = imps
            .iter()
            .any(|i| i.dead && i.len() >= NEVER_KILL_BELOW && i.overlaps(from, at));
        if !excused {
            return Verdict::fail(
                at,
                format!("the keepalive killed conn={conn} although neither the link nor the plugin was dead for {}s or more in the {}s before", NEVER_KILL_BELOW.as_secs(), (KEEPALIVE_TIMEOUT + Duration::from_secs(1)).as_secs()),
            );
        }
    }
    Verdict::Pass
}

/// The windows in which the plugin had no session (from its `down` to its
/// next `up`), by its own log.
fn plugin_down(v: &RunView<'_>) -> Vec<(Duration, Duration)> {
    let mut out = Vec::new();
    let mut since = None;
    for e in &v.trace.entries {
        match e.peer::<WsClientEvent>() {
            Some(WsClientEvent::Down { .. }) => since = since.or(Some(e.at)),
            Some(WsClientEvent::Up { .. }) => {
                if let Some(s) = since.take() {
                    out.push((s, e.at));
                }
            }
            _ => {}
        }
    }
    if let Some(s) = since {
        out.push((s, v.end));
    }
    out
}

/// Impairments that began while a session was up on both sides: the ones
/// a keepalive can kill. One that began while the plugin was reconnecting
/// (after a `ws.session.reset` fault point, say) has no session to kill,
/// and a stall the plugin got while down is dropped; nor does one that
/// began after the server closed the plugin's session, even if the close
/// had not reached the plugin yet (a blackhole can swallow it).
fn with_session(v: &RunView<'_>, sessions: &[PluginSession]) -> Vec<Impairment> {
    let mut down = plugin_down(v);
    down.extend(sessions.iter().filter_map(|s| s.over));
    impairments(v)
        .into_iter()
        .filter(|i| !down.iter().any(|(a, b)| *a <= i.start && i.start < *b))
        .collect()
}

/// One session of the plugin as the server logged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PluginSession {
    /// The server's connection number.
    conn: u64,
    /// From the server's close of it to the plugin's next `up` (or the
    /// run's end); `None` while the server keeps it.
    over: Option<(Duration, Duration)>,
}

/// The plugin's sessions, server side: each plugin `up` is the session
/// the server opened last before it (its upgrade answer is on the way to
/// the plugin), and that session is over from the server's
/// `ws.session.closed` of it, for whatever reason.
fn plugin_sessions(v: &RunView<'_>) -> Vec<PluginSession> {
    let mut out: Vec<PluginSession> = Vec::new();
    let mut last_open = None;
    let mut closed: Option<Duration> = None;
    for e in &v.trace.entries {
        match e.event::<WsEvent>() {
            Some(WsEvent::SessionOpen { conn }) => last_open = Some(*conn),
            Some(WsEvent::SessionClosed { conn, .. })
                if out.last().is_some_and(|s| s.conn == *conn) && closed.is_none() =>
            {
                closed = Some(e.at);
            }
            _ => {}
        }
        if let (Some(WsClientEvent::Up { .. }), Some(conn)) = (e.peer::<WsClientEvent>(), last_open)
        {
            if let (Some(s), Some(c)) = (out.last_mut(), closed.take()) {
                s.over = Some((c, e.at));
            }
            out.push(PluginSession { conn, over: None });
        }
    }
    if let (Some(s), Some(c)) = (out.last_mut(), closed) {
        s.over = Some((c, v.end));
    }
    out
}

fn dead_peer_killed(v: &RunView<'_>) -> Verdict {
    // The keepalive's kills, and any other close of the plugin's session
    // (a `ws.session.reset` fault point inside the impairment leaves the
    // keepalive nothing to kill).
    let sessions = plugin_sessions(v);
    let mut ends: Vec<Duration> = kills(v).into_iter().map(|(at, _)| at).collect();
    ends.extend(sessions.iter().filter_map(|s| s.over.map(|o| o.0)));
    for i in with_session(v, &sessions) {
        if !i.dead || i.len() < must_kill_from() {
            continue;
        }
        let by = i.start + kill_by();
        if !ends.iter().any(|at| *at >= i.start && *at <= by) {
            return Verdict::fail(
                by,
                format!(
                    "the plugin or its link was dead from {:.3}s for {:.3}s, but the keepalive did not close the session by {:.3}s",
                    i.start.as_secs_f64(),
                    i.len().as_secs_f64(),
                    by.as_secs_f64()
                ),
            );
        }
    }
    Verdict::Pass
}

/// The session an event belongs to (`None`: the server's own).
fn session_of(ev: &WsEvent) -> Option<u64> {
    match ev {
        WsEvent::SessionOpen { conn }
        | WsEvent::SessionClosed { conn, .. }
        | WsEvent::Header { conn, .. }
        | WsEvent::PayloadApplied { conn, .. }
        | WsEvent::PayloadFailed { conn, .. }
        | WsEvent::PayloadStray { conn, .. }
        | WsEvent::Rejected { conn, .. }
        | WsEvent::SwapAccepted { conn, .. }
        | WsEvent::SwapBusy { conn, .. }
        | WsEvent::PushQueued { conn, .. }
        | WsEvent::PushBegin { conn, .. }
        | WsEvent::PushSent { conn, .. }
        | WsEvent::SliceShed { conn, .. }
        | WsEvent::SlowPong { conn, .. }
        | WsEvent::KeepaliveTimeout { conn, .. }
        | WsEvent::QueueFull { conn, .. } => Some(*conn),
        WsEvent::AcceptError { .. } | WsEvent::SessionRefused { .. } => None,
    }
}

/// Contract R1: a session opens once, closes at most once, and nothing of
/// it happens outside that span — no header read, answer, push or
/// keepalive step before its open or after its close (a task that outlived
/// its session, or a session number reused). Judged on the server's own
/// trace, session by session.
fn session_acts_only_while_open(v: &RunView<'_>) -> Verdict {
    // Per session: opened, closed.
    let mut life: BTreeMap<u64, (bool, Option<Duration>)> = BTreeMap::new();
    for e in &v.trace.entries {
        let Some(ev) = e.event::<WsEvent>() else {
            continue;
        };
        let Some(conn) = session_of(ev) else { continue };
        let (opened, closed) = life.entry(conn).or_insert((false, None));
        let fail = |what: String| Verdict::fail(e.at, format!("conn={conn}: {what}"));
        if let Some(at) = *closed {
            return fail(format!(
                "`{}` after its session closed at {:.3}s",
                ev.name(),
                at.as_secs_f64()
            ));
        }
        match ev {
            WsEvent::SessionOpen { .. } if *opened => {
                return fail("opened twice".into());
            }
            WsEvent::SessionOpen { .. } => *opened = true,
            _ if !*opened => {
                return fail(format!("`{}` before its session opened", ev.name()));
            }
            WsEvent::SessionClosed { .. } => *closed = Some(e.at),
            _ => {}
        }
    }
    Verdict::Pass
}

fn payloads_byte_identical(v: &RunView<'_>) -> Verdict {
    // What the server began to send (a push cut short by a kill may still
    // arrive whole: its last bytes leave with the close).
    let mut sent_pushes: BTreeMap<(u64, String), (u64, u32)> = BTreeMap::new();
    let mut uploads: BTreeMap<u64, (u64, Option<u32>)> = BTreeMap::new();
    for e in &v.trace.entries {
        match e.event::<WsEvent>() {
            Some(WsEvent::PushBegin {
                push, bytes, crc, ..
            }) => {
                let key = match push {
                    Push::Mirror { swap } => (*swap, "mirror".to_string()),
                    Push::Stem { swap, part } => (*swap, part.clone()),
                    Push::Slice { .. } => continue,
                };
                sent_pushes.insert(key, (*bytes, *crc));
            }
            Some(WsEvent::PayloadApplied {
                seq,
                kind,
                bytes,
                crc,
                ..
            }) => match uploads.get(seq) {
                Some((b, Some(c))) if b == bytes && c == crc => {}
                Some((b, c)) => {
                    return Verdict::fail(
                        e.at,
                        format!("{kind} seq={seq}: the server applied {bytes} bytes crc {crc:08x}, the plugin sent {b} bytes crc {:08x}", c.unwrap_or(0)),
                    )
                }
                None => {
                    return Verdict::fail(
                        e.at,
                        format!("{kind} seq={seq}: the server applied a payload the plugin never uploaded"),
                    )
                }
            },
            _ => {}
        }
        match e.peer::<WsClientEvent>() {
            Some(WsClientEvent::Command {
                seq, bytes, crc, ..
            }) => {
                uploads.insert(*seq, (*bytes, *crc));
            }
            Some(WsClientEvent::Push {
                swap,
                part,
                bytes,
                crc,
                intact,
                ..
            }) => {
                let want = sent_pushes.get(&(*swap, part.clone()));
                if !intact || want != Some(&(*bytes, *crc)) {
                    return Verdict::fail(
                        e.at,
                        format!(
                            "swap {swap} {part}: the plugin got {bytes} bytes crc {crc:08x} (intact={intact}), the server sent {}",
                            match want {
                                Some((b, c)) => format!("{b} bytes crc {c:08x}"),
                                None => "no such push".into(),
                            }
                        ),
                    );
                }
            }
            Some(WsClientEvent::Corrupt { what, .. }) => {
                return Verdict::fail(e.at, format!("corrupt push: {what}"))
            }
            _ => {}
        }
    }
    Verdict::Pass
}

fn queued_bytes_bounded(v: &RunView<'_>) -> Verdict {
    let bound = super::world::server_config(BugSet::NONE, 0).queue_bound();
    for e in &v.trace.entries {
        if let Some(WsEvent::PushQueued {
            conn, queued, push, ..
        }) = e.event::<WsEvent>()
        {
            if *queued > bound {
                return Verdict::fail(
                    e.at,
                    format!("conn={conn}: {queued} bytes queued after {push} (bound {bound})"),
                );
            }
        }
    }
    Verdict::Pass
}

fn upload_crosses_push(v: &RunView<'_>) -> Verdict {
    let mut uploads: Vec<(Duration, Duration)> = Vec::new();
    let mut pushes: Vec<(Duration, Duration)> = Vec::new();
    let mut started: BTreeMap<u64, Duration> = BTreeMap::new();
    let mut begun: BTreeMap<String, Duration> = BTreeMap::new();
    for e in &v.trace.entries {
        match e.peer::<WsClientEvent>() {
            Some(WsClientEvent::Command {
                seq,
                payload: "sent",
                ..
            }) => {
                started.insert(*seq, e.at);
            }
            Some(WsClientEvent::Uploaded { seq, .. }) => {
                if let Some(s) = started.remove(seq) {
                    uploads.push((s, e.at));
                }
            }
            _ => {}
        }
        match e.event::<WsEvent>() {
            Some(WsEvent::PushBegin { conn, push, .. }) => {
                begun.insert(format!("{conn} {push}"), e.at);
            }
            Some(WsEvent::PushSent { conn, push, .. }) => {
                if let Some(s) = begun.remove(&format!("{conn} {push}")) {
                    pushes.push((s, e.at));
                }
            }
            _ => {}
        }
    }
    Verdict::reached(
        uploads
            .iter()
            .any(|(us, ue)| pushes.iter().any(|(ps, pe)| us < pe && ps < ue)),
    )
}

fn failed_with(v: &RunView<'_>, reason: &str) -> bool {
    v.trace.entries.iter().any(
        |e| matches!(e.event::<WsEvent>(), Some(WsEvent::PayloadFailed { reason: r, .. }) if *r == reason),
    )
}

fn orphan_answered_failed(v: &RunView<'_>) -> Verdict {
    Verdict::reached(failed_with(v, "not-binary"))
}

fn payload_timeout_fired(v: &RunView<'_>) -> Verdict {
    Verdict::reached(failed_with(v, "timeout"))
}

fn survived_near_deadline(v: &RunView<'_>) -> Verdict {
    let ks = kills(v);
    Verdict::reached(with_session(v, &plugin_sessions(v)).iter().any(|i| {
        i.dead
            && i.len() >= KEEPALIVE_TIMEOUT - Duration::from_millis(1_500)
            && i.len() <= KEEPALIVE_TIMEOUT
            && !ks
                .iter()
                .any(|(at, _)| *at >= i.start && *at <= i.end + KEEPALIVE_TIMEOUT)
    }))
}

fn dead_peer_was_killed(v: &RunView<'_>) -> Verdict {
    Verdict::reached(!kills(v).is_empty())
}

pub const NO_COMMAND_CONSUMED: Check = Check {
    name: "no-command-consumed",
    kind: CheckKind::Always,
    about: "every command the plugin sent is answered in order: none is skipped (consumed as a payload) and no payload is applied to a header whose payload was never sent",
    eval: no_command_consumed,
};

pub const COMMAND_ANSWERED_WITHIN: Check = Check {
    name: "command-answered-within",
    kind: CheckKind::Eventually,
    about: "while the link and the plugin are healthy, every command is answered within 3 s; after the heal the plugin is connected and answered",
    eval: command_answered_within,
};

pub const NO_HEALTHY_KEEPALIVE_KILL: Check = Check {
    name: "no-healthy-keepalive-kill",
    kind: CheckKind::Always,
    about: "the keepalive closes a session only after an impairment of 3 s or more",
    eval: no_healthy_keepalive_kill,
};

pub const DEAD_PEER_KILLED: Check = Check {
    name: "dead-peer-killed",
    kind: CheckKind::Eventually,
    about: "an impairment of 7 s or more that began under a session is closed by the keepalive (or closed first otherwise) within 6.5 s of its start",
    eval: dead_peer_killed,
};

pub const SESSION_ACTS_ONLY_WHILE_OPEN: Check = Check {
    name: "session-acts-only-while-open",
    kind: CheckKind::Always,
    about: "a session opens once and closes at most once, and nothing of it happens before its open or after its close",
    eval: session_acts_only_while_open,
};

pub const PAYLOADS_BYTE_IDENTICAL: Check = Check {
    name: "payloads-byte-identical",
    kind: CheckKind::Always,
    about: "every push and upload arrives with the sender's bytes and CRC, fragmented or not",
    eval: payloads_byte_identical,
};

pub const QUEUED_BYTES_BOUNDED: Check = Check {
    name: "queued-bytes-bounded",
    kind: CheckKind::Always,
    about:
        "a session's outbound queue never holds more than one swap's pushes plus the slice window",
    eval: queued_bytes_bounded,
};

pub const UPLOAD_CROSSES_PUSH: Check = Check {
    name: "upload-crosses-push",
    kind: CheckKind::Sometimes,
    about: "a multi-MB upload is in flight while the server pushes a mirror or stem",
    eval: upload_crosses_push,
};

pub const ORPHAN_ANSWERED_FAILED: Check = Check {
    name: "orphan-answered-failed",
    kind: CheckKind::Sometimes,
    about: "a header found text in its payload slot and was answered *_failed",
    eval: orphan_answered_failed,
};

pub const PAYLOAD_TIMEOUT_FIRED: Check = Check {
    name: "payload-timeout-fired",
    kind: CheckKind::Sometimes,
    about: "a payload did not come within 10 s and its header was answered *_failed",
    eval: payload_timeout_fired,
};

pub const SURVIVED_NEAR_DEADLINE: Check = Check {
    name: "survived-near-deadline",
    kind: CheckKind::Sometimes,
    about: "an impairment within 1.5 s under the keepalive deadline was survived",
    eval: survived_near_deadline,
};

pub const DEAD_PEER_WAS_KILLED: Check = Check {
    name: "dead-peer-was-killed",
    kind: CheckKind::Sometimes,
    about: "the keepalive closed a session with 1011",
    eval: dead_peer_was_killed,
};

#[cfg(test)]
mod tests {
    use super::super::world::CLIENT;
    use super::*;
    use relaysim_harness::check::Facts;
    use relaysim_harness::trace::{Entry, EntryKind, Trace};
    use std::sync::Arc;

    fn at(ms: u64, host: &'static str, kind: EntryKind) -> Entry {
        Entry {
            at: Duration::from_millis(ms),
            host,
            kind,
        }
    }

    /// A plan step's trace entry.
    /// A server event's trace entry.
    fn server(ms: u64, e: WsEvent) -> Entry {
        at(ms, "ws-server", EntryKind::Core(e.into()))
    }

    /// The server closing session `conn` (as a reset fault point does).
    fn closed(ms: u64, conn: u64) -> Entry {
        server(
            ms,
            WsEvent::SessionClosed {
                conn,
                code: None,
                reason: "fault-point-reset".into(),
            },
        )
    }

    fn fault(step: impl Into<Step<Fault>>) -> EntryKind {
        EntryKind::Fault(Arc::new(step.into()))
    }

    /// Seed 0xdf9 of a 5,000-seed sweep: a `ws.session.reset` fault point
    /// took the session down at 4.22 s and a 7.9 s plugin stall came at
    /// 4.48 s, while the plugin was reconnecting. The plugin dropped it and
    /// no session existed to kill; dead-peer-killed must not demand a kill.
    #[test]
    fn an_impairment_that_began_while_the_plugin_was_down_needs_no_kill() {
        let client = |ms, e: WsClientEvent| at(ms, CLIENT, EntryKind::Peer(Arc::new(e)));
        let stall = |ms| at(ms, "harness", fault(Fault::Stall { ms: 7_868 }));
        let mut trace = Trace {
            entries: vec![
                client(50, WsClientEvent::Up { conn: 1 }),
                client(
                    4_230,
                    WsClientEvent::Down {
                        conn: 1,
                        reason: "protocol-ResetWithoutClosingHandshake".into(),
                        unanswered: 1,
                        oldest_wait_ms: 30,
                    },
                ),
                stall(4_480),
                client(4_800, WsClientEvent::Up { conn: 2 }),
            ],
        };
        let facts = Facts::new();
        let view = |t: &Trace| {
            dead_peer_killed(&RunView {
                trace: t,
                facts: &facts,
                heal_at: Duration::from_secs(22),
                end: Duration::from_secs(30),
            })
        };
        assert_eq!(view(&trace), Verdict::Pass);
        // The same stall under a live session must be killed.
        trace.entries.push(stall(6_000));
        assert!(matches!(view(&trace), Verdict::Fail { .. }));
    }

    #[test]
    fn impairments_come_from_the_plan_alone() {
        let hold = NetFault::Hold {
            a: "ws-client".into(),
            b: "ws-server".into(),
        };
        let release = NetFault::Release {
            a: "ws-client".into(),
            b: "ws-server".into(),
        };
        let trace = Trace {
            entries: vec![
                at(1_000, "harness", fault(hold.clone())),
                at(4_000, "harness", fault(release)),
                at(5_000, "harness", fault(Fault::Stall { ms: 2_000 })),
                at(
                    8_000,
                    "harness",
                    fault(Fault::LatePayload {
                        cmd: relaysim_core::session::ws::protocol::PayloadKind::WriteAudio,
                        bytes: 1,
                        delay_ms: 500,
                    }),
                ),
                at(20_000, "harness", fault(hold)),
                at(22_000, "harness", EntryKind::Harness(HarnessEvent::Heal)),
            ],
        };
        let facts = Facts::new();
        let v = RunView {
            trace: &trace,
            facts: &facts,
            heal_at: Duration::from_secs(22),
            end: Duration::from_secs(30),
        };
        let got: Vec<(u64, u64, bool)> = impairments(&v)
            .iter()
            .map(|i| (i.start.as_millis() as u64, i.end.as_millis() as u64, i.dead))
            .collect();
        assert_eq!(
            got,
            vec![
                (1_000, 4_000, true),
                (5_000, 7_000, true),
                (8_000, 8_500, false),
                (20_000, 22_000, true)
            ]
        );
        // A kill 1 s after a 3 s hold is excused; one with nothing before it is not.
        let kill = |ms| {
            at(
                ms,
                "ws-server",
                EntryKind::Core(
                    WsEvent::KeepaliveTimeout {
                        conn: 1,
                        ping: 1,
                        waited_ms: 4_000,
                    }
                    .into(),
                ),
            )
        };
        let mut excused = trace.clone();
        excused.entries.push(kill(5_000));
        let v = RunView {
            trace: &excused,
            ..v
        };
        assert_eq!(no_healthy_keepalive_kill(&v), Verdict::Pass);
        let healthy = Trace {
            entries: vec![kill(15_000)],
        };
        let v = RunView {
            trace: &healthy,
            ..v
        };
        assert!(matches!(
            no_healthy_keepalive_kill(&v),
            Verdict::Fail { .. }
        ));
    }

    /// Seeds 0xf4760, 0xf4848 and 0xf4915 of a fast-engine sweep: the
    /// server closed the plugin's session (a `ws.session.reset` fault
    /// point) 21 ms before a blackhole began, and the blackhole swallowed
    /// the close, so the plugin still thought itself up. The server had no
    /// session left to kill; dead-peer-killed must not demand a kill. A
    /// close of the session inside the impairment ends it too, and the
    /// same blackhole over a session the server keeps must be killed.
    #[test]
    fn an_impairment_after_the_server_closed_the_session_needs_no_kill() {
        let client = |ms, e: WsClientEvent| at(ms, CLIENT, EntryKind::Peer(Arc::new(e)));
        let link = || ("ws-client".to_string(), "ws-server".to_string());
        let blackhole = |ms| {
            let (a, b) = link();
            at(ms, "harness", fault(NetFault::Blackhole { a, b }))
        };
        let restore = |ms| {
            let (a, b) = link();
            at(ms, "harness", fault(NetFault::Restore { a, b }))
        };
        let run = |close_at: Option<u64>| {
            let mut entries = vec![
                server(900, WsEvent::SessionOpen { conn: 1 }),
                client(930, WsClientEvent::Up { conn: 1 }),
                // An idler's session, opened after the plugin's: not the
                // plugin's session, and its close proves nothing.
                server(1_500, WsEvent::SessionOpen { conn: 2 }),
                closed(6_500, 2),
            ];
            entries.extend(close_at.map(|ms| closed(ms, 1)));
            entries.push(blackhole(12_515));
            entries.push(restore(20_800));
            entries.sort_by_key(|e| e.at);
            let trace = Trace { entries };
            let facts = Facts::new();
            dead_peer_killed(&RunView {
                trace: &trace,
                facts: &facts,
                heal_at: Duration::from_secs(23),
                end: Duration::from_secs(30),
            })
        };
        assert_eq!(run(Some(12_494)), Verdict::Pass, "closed before");
        assert_eq!(run(Some(14_000)), Verdict::Pass, "closed inside");
        assert!(matches!(run(None), Verdict::Fail { .. }), "never closed");
        assert!(
            matches!(run(Some(19_500)), Verdict::Fail { .. }),
            "closed after the bound"
        );
    }

    /// R1 per rule: events of a session only between its open and its
    /// close, one open, at most one close; the server's own events (a
    /// refusal) belong to no session.
    #[test]
    fn a_session_acts_only_while_open() {
        let open = |ms, conn| server(ms, WsEvent::SessionOpen { conn });
        let busy = |ms, conn| server(ms, WsEvent::SwapBusy { conn, seq: 1 });
        let refused = |ms| server(ms, WsEvent::SessionRefused { code: None, cap: 2 });
        let judge = |entries: Vec<Entry>| {
            let trace = Trace { entries };
            let facts = Facts::new();
            session_acts_only_while_open(&RunView {
                trace: &trace,
                facts: &facts,
                heal_at: Duration::from_secs(22),
                end: Duration::from_secs(30),
            })
        };
        let fails = |entries, what: &str| match judge(entries) {
            Verdict::Fail { detail, .. } => assert!(detail.contains(what), "{detail}"),
            v => panic!("expected a failure with {what:?}, got {v:?}"),
        };
        let ok = vec![
            refused(0),
            open(10, 1),
            busy(20, 1),
            open(25, 2),
            closed(30, 1),
            busy(35, 2),
            refused(40),
        ];
        assert_eq!(judge(ok), Verdict::Pass);
        fails(
            vec![open(10, 1), closed(30, 1), busy(40, 1)],
            "after its session closed",
        );
        fails(vec![busy(5, 1), open(10, 1)], "before its session opened");
        fails(vec![open(10, 1), open(20, 1)], "opened twice");
        fails(
            vec![open(10, 1), closed(20, 1), closed(30, 1)],
            "after its session closed",
        );
    }
}
