//! Phases of the publisher → ingest connection, and the oracles on the
//! ingest's bounded waits, for `transcode-phases`.
//!
//! A connection is an encoder's (`peers::encoder`), between its host and
//! `transcode`. Its spans come from the encoder's own records and the
//! bridge's `ingest.*` events, never from the bridge's live set:
//!
//! | phase | from | to |
//! |---|---|---|
//! | connect | `enc.connect` | `enc.up` (or the attempt's `enc.down`) |
//! | handshake | `enc.up` | the ingest's answer to its hello (`ingest.publish` or `ingest.rejected`), or its end |
//! | steady | `ingest.publish` | the first of `enc.down` and its `ingest.unpublish` |
//! | teardown | that first end | the other one (the run's end if it never comes) |
//! | reconnect | `enc.connect` of a later connection of the same broadcast | its answer or end |
//!
//! The bridge's events name the broadcast, not the connection, so answers
//! are matched to hellos: a rejection to the hello read one claim bound
//! before it, then each publish to the oldest hello still waiting (per
//! broadcast). A hello whose connection already ended still gets its
//! answer (the ingest does not read while it claims), except a hello sent
//! into a blackhole or one whose connection the ingest closed unanswered:
//! it arrived after the first-frame bound (`deadline.fired
//! transcode.ingest.first-frame`, matched to the connection accepted one
//! bound before), whether the publisher then saw the close or another end
//! first.
//!
//! Viewer subscriptions and drains are in-process (the registry's
//! broadcast rings), not connections: they have no phases.

use super::peers::encoder::EncoderEvent;
use super::world::{ENCODERS, TRANSCODE};
use relaysim_core::transcode::event::TranscodeEvent;
use relaysim_core::transcode::ingest::{broadcast_name, INGEST_IDLE_TIMEOUT};
use relaysim_harness::check::{Check, CheckKind, RunView, Verdict};
use relaysim_harness::phase::{fault_windows, faulted, is_blackhole, Phase, Span, Window};
use relaysim_harness::trace::EntryKind;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Scheduling and latency slack on the ingest's 5 s bounds (two network
/// latencies and a tick are 20 ms at most).
pub const SLACK: Duration = Duration::from_millis(100);

/// How long a message may still be on the link after it was sent: the
/// family's largest latency (5 ms), delivered at the next 10 ms step.
const MAX_LATENCY: Duration = Duration::from_millis(20);

/// One encoder connection as the trace tells it.
#[derive(Debug, Clone, Default)]
pub struct Conn {
    pub host: &'static str,
    pub n: u64,
    pub broadcast: String,
    /// Its index among the broadcast's connections that came up (from 1).
    pub nth_of_broadcast: u64,
    pub connect: Duration,
    pub up: Option<Duration>,
    pub hello: Option<Duration>,
    pub answer: Option<(Duration, bool)>,
    pub unpublish: Option<Duration>,
    pub down: Option<(Duration, &'static str)>,
    /// Its own silences (pause, resume or end).
    pub pauses: Vec<(Duration, Option<Duration>)>,
    /// The ingest's first-frame bound fired on it: the ingest read nothing
    /// and closed it, so its hello, sent before or after, is never
    /// answered.
    pub unread: bool,
}

fn broadcast_of(host: &str) -> String {
    ENCODERS
        .iter()
        .find(|(h, _)| *h == host)
        .map(|(_, k)| broadcast_name(k))
        .unwrap_or_default()
}

/// Every encoder connection of the run, in connect order.
pub fn connections(v: &RunView<'_>) -> Vec<Conn> {
    let windows = fault_windows(v.trace);
    let rejected = rejections(v, &windows);
    let mut conns: Vec<Conn> = Vec::new();
    let mut index: BTreeMap<(&'static str, u64), usize> = BTreeMap::new();
    let mut ups: BTreeMap<String, u64> = BTreeMap::new();
    let mut hellos: BTreeMap<String, VecDeque<usize>> = BTreeMap::new();
    let mut live: BTreeMap<String, usize> = BTreeMap::new();
    for e in &v.trace.entries {
        if let Some(ev) = e.peer::<EncoderEvent>() {
            let key = (e.host, ev.n());
            if let EncoderEvent::Connect { n } = ev {
                index.insert(key, conns.len());
                conns.push(Conn {
                    host: e.host,
                    n: *n,
                    broadcast: broadcast_of(e.host),
                    connect: e.at,
                    ..Conn::default()
                });
                continue;
            }
            let Some(&i) = index.get(&key) else { continue };
            let c = &mut conns[i];
            match ev {
                EncoderEvent::Up { .. } => {
                    c.up = Some(e.at);
                    let k = ups.entry(c.broadcast.clone()).or_default();
                    *k += 1;
                    c.nth_of_broadcast = *k;
                }
                EncoderEvent::Hello { .. } => {
                    c.hello = Some(e.at);
                    // A hello sent into a blackhole (or in flight when one
                    // began) never reaches the ingest: nothing answers it.
                    if let Some(&r) = rejected.get(&key) {
                        c.answer = Some((r, false));
                    } else if !c.unread && !blackholed(&windows, c.host, e.at, e.at + MAX_LATENCY) {
                        hellos.entry(c.broadcast.clone()).or_default().push_back(i);
                    }
                }
                EncoderEvent::Pause { .. } => c.pauses.push((e.at, None)),
                EncoderEvent::Resume { .. } => {
                    if let Some(p) = c.pauses.last_mut() {
                        p.1.get_or_insert(e.at);
                    }
                }
                EncoderEvent::Down { reason, .. } => {
                    c.down = Some((e.at, reason));
                    if *reason == "closed" {
                        // The ingest closes a connection only after it
                        // answered its hello, or without having read it
                        // (a hello that arrived after its first-frame
                        // bound): one still waiting is never answered.
                        if let Some(q) = hellos.get_mut(&c.broadcast) {
                            q.retain(|&j| j != i);
                        }
                    }
                    if let Some(p) = c.pauses.last_mut() {
                        p.1.get_or_insert(e.at);
                    }
                }
                EncoderEvent::Connect { .. } => {}
            }
            continue;
        }
        if let Some(relaysim_core::Event::DeadlineFired {
            site: "transcode.ingest.first-frame",
        }) = e.core()
        {
            // The ingest read nothing on this connection within its
            // first-frame bound and closed it: a hello that was still on
            // the way is never answered, even when the publisher saw its
            // connection end some other way first (a heal's bounce).
            if let Some(i) = first_frame_expired(&conns, e.at) {
                conns[i].unread = true;
                if let Some(q) = hellos.get_mut(&conns[i].broadcast) {
                    q.retain(|&j| j != i);
                }
            }
            continue;
        }
        let (broadcast, answer) = match e.event::<TranscodeEvent>() {
            Some(TranscodeEvent::IngestPublish { broadcast, .. }) => (broadcast, Some(true)),
            // Matched to their hellos beforehand (`rejections`).
            Some(TranscodeEvent::IngestRejected { .. }) => continue,
            Some(TranscodeEvent::IngestUnpublish { broadcast, .. }) => (broadcast, None),
            _ => continue,
        };
        match answer {
            Some(accepted) => {
                let Some(i) = hellos.get_mut(broadcast).and_then(VecDeque::pop_front) else {
                    continue;
                };
                conns[i].answer = Some((e.at, accepted));
                if accepted {
                    live.insert(broadcast.clone(), i);
                }
            }
            None => {
                if let Some(i) = live.remove(broadcast) {
                    conns[i].unpublish = Some(e.at);
                }
            }
        }
    }
    conns
}

/// The connection whose first-frame bound expired at `at`: the ingest
/// starts that bound when it accepts (a latency after `enc.connect`), so a
/// connection that came up [`INGEST_IDLE_TIMEOUT`] before, within a
/// latency and a step either way, and whose hello (if any) could not have
/// been read by then. The closest such one; `None` if none fits.
fn first_frame_expired(conns: &[Conn], at: Duration) -> Option<usize> {
    conns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.up.is_some() && c.answer.is_none() && !c.unread)
        .filter(|(_, c)| c.hello.is_none_or(|h| h + MAX_LATENCY > at))
        .map(|(i, c)| (i, (c.connect + INGEST_IDLE_TIMEOUT).abs_diff(at)))
        .filter(|(_, d)| *d <= MAX_LATENCY + MAX_LATENCY)
        .min_by_key(|(_, d)| *d)
        .map(|(i, _)| i)
}

/// The hello each `ingest.rejected` answers: the ingest turns a claim
/// away exactly [`INGEST_IDLE_TIMEOUT`] after it read the hello, so the
/// unmatched hello of that broadcast sent closest to that long before
/// (within a latency and a step). Claims woken together by a release race
/// for it in no fixed order, so publishes are matched afterwards, first in
/// first out among the hellos no rejection took.
fn rejections(v: &RunView<'_>, windows: &[Window]) -> BTreeMap<(&'static str, u64), Duration> {
    let mut hellos: Vec<(&'static str, u64, Duration, String)> = Vec::new();
    let mut out = BTreeMap::new();
    for e in &v.trace.entries {
        if let Some(EncoderEvent::Hello { n }) = e.peer::<EncoderEvent>() {
            if !blackholed(windows, e.host, e.at, e.at + MAX_LATENCY) {
                hellos.push((e.host, *n, e.at, broadcast_of(e.host)));
            }
        }
        if let Some(TranscodeEvent::IngestRejected { broadcast, .. }) = e.event::<TranscodeEvent>()
        {
            let best = hellos
                .iter()
                .enumerate()
                .filter(|(_, h)| h.3 == *broadcast && !out.contains_key(&(h.0, h.1)))
                .map(|(i, h)| (i, (h.2 + INGEST_IDLE_TIMEOUT).abs_diff(e.at)))
                .filter(|(_, d)| *d <= MAX_LATENCY + MAX_LATENCY)
                .min_by_key(|(_, d)| *d);
            if let Some((i, _)) = best {
                out.insert((hellos[i].0, hellos[i].1), e.at);
            }
        }
    }
    out
}

/// The spans of every encoder connection (see the module docs).
pub fn publisher_spans(v: &RunView<'_>) -> Vec<Span> {
    let mut out = Vec::new();
    for c in connections(v) {
        let span = |phase, from, to| Span::new(phase, c.host, TRANSCODE, from, to);
        let down = c.down.map(|d| d.0);
        let answered = c.answer.map(|a| a.0);
        let opened = answered.or(down).unwrap_or(v.end);
        if c.nth_of_broadcast > 1 || (c.up.is_none() && c.n > 1) {
            out.push(span(Phase::Reconnect, c.connect, opened));
        }
        match c.up {
            None => {
                if c.n == 1 {
                    out.push(span(Phase::Connect, c.connect, down.unwrap_or(v.end)));
                }
                continue;
            }
            Some(up) => {
                if c.nth_of_broadcast <= 1 {
                    out.push(span(Phase::Connect, c.connect, up));
                }
                out.push(span(Phase::Handshake, up, opened));
            }
        }
        let Some((published, true)) = c.answer else {
            continue;
        };
        let ends = [down, c.unpublish];
        let first = ends.iter().flatten().min().copied();
        out.push(span(Phase::Steady, published, first.unwrap_or(v.end)));
        if let Some(first) = first {
            let last = if ends.iter().all(Option::is_some) {
                ends.iter().flatten().max().copied().unwrap_or(v.end)
            } else {
                v.end
            };
            out.push(span(Phase::Teardown, first, last));
        }
    }
    out
}

/// `true` if a blackhole on `host`~transcode is active at some instant of
/// `from..=to`.
fn blackholed(windows: &[Window], host: &str, from: Duration, to: Duration) -> bool {
    let probe = Span::new(Phase::Steady, host, TRANSCODE, from, to);
    let holes: Vec<Window> = windows
        .iter()
        .filter(|w| w.label.starts_with("blackhole"))
        .cloned()
        .collect();
    faulted(&probe, &holes)
}

/// Contract: a publisher that says nothing for [`INGEST_IDLE_TIMEOUT`] —
/// before its hello, or between frames once the ingest published it (a
/// claim reads nothing) — has its connection closed by the ingest, as the
/// publisher sees it (`enc.down reason=closed`), within the bound plus
/// [`SLACK`]. Judged on the encoder's own silences, unless a
/// blackhole on its link could have swallowed the close.
fn silent_publisher_dropped(v: &RunView<'_>) -> Verdict {
    let windows = fault_windows(v.trace);
    let bound = INGEST_IDLE_TIMEOUT + SLACK;
    for c in connections(v) {
        let Some(up) = c.up else { continue };
        let mut silences = vec![(up, c.hello.or(c.down.map(|d| d.0)))];
        // The ingest reads frames only once it published the connection
        // (a claim does not read): a pause counts from then.
        let published = match c.answer {
            Some((at, true)) => Some(at),
            _ => None,
        };
        silences.extend(
            c.pauses
                .iter()
                .filter_map(|&(from, to)| published.map(|p| (from.max(p), to))),
        );
        for (from, to) in silences {
            let to = to.unwrap_or(v.end);
            // A blackhole since the connection came up may have left its
            // stream stalled, the ingest's close included.
            if to < from + bound || blackholed(&windows, c.host, up, from + bound) {
                continue;
            }
            let closed_in_time = matches!(c.down, Some((at, "closed")) if at <= from + bound);
            if !closed_in_time {
                return Verdict::fail(
                    from + bound,
                    format!(
                        "{} connection {} was silent from {:.3}s for {} ms and the ingest never closed it",
                        c.host,
                        c.n,
                        from.as_secs_f64(),
                        (to - from).as_millis()
                    ),
                );
            }
        }
    }
    Verdict::Pass
}

/// Contract: a publish is answered within the claim bound: by the time
/// [`INGEST_IDLE_TIMEOUT`] (plus [`SLACK`]) has passed since a hello, the
/// broadcast was published or the publisher's connection is over (a
/// broadcast still live elsewhere turns it away). Unless a blackhole on its
/// link swallowed the hello.
fn publish_answered(v: &RunView<'_>) -> Verdict {
    let windows = fault_windows(v.trace);
    let bound = INGEST_IDLE_TIMEOUT + SLACK;
    let publishes: Vec<(Duration, String)> = v
        .trace
        .entries
        .iter()
        .filter_map(|e| match e.event::<TranscodeEvent>() {
            Some(TranscodeEvent::IngestPublish { broadcast, .. }) => {
                Some((e.at, broadcast.clone()))
            }
            _ => None,
        })
        .collect();
    for c in connections(v) {
        let Some(hello) = c.hello else { continue };
        let by = hello + bound;
        // Excused if a blackhole could have swallowed the hello, or the
        // ingest's close around the bound.
        let up = c.up.unwrap_or(hello);
        if by > v.end
            || blackholed(&windows, c.host, up, hello + SLACK)
            || blackholed(&windows, c.host, by - SLACK - SLACK, by)
        {
            continue;
        }
        let over = c.down.is_some_and(|(at, _)| at <= by);
        let published = publishes
            .iter()
            .any(|(at, b)| *b == c.broadcast && hello <= *at && *at <= by);
        if !over && !published {
            return Verdict::fail(
                by,
                format!(
                    "{} connection {} sent its hello at {:.3}s: neither published nor turned away within {} ms",
                    c.host,
                    c.n,
                    hello.as_secs_f64(),
                    bound.as_millis()
                ),
            );
        }
    }
    Verdict::Pass
}

/// Contract (liveness): once faults heal, every encoder the world wants
/// publishing is published again: its last connection got the ingest's
/// publish and is still up and published at the end of the run. The
/// heal bounces every encoder, so this needs the ingest to have let go
/// of any session the faults left behind (a stalled stream's idle bound)
/// and to have answered the new hello (the claim).
fn publisher_live_after_heal(v: &RunView<'_>) -> Verdict {
    let conns = connections(v);
    for (host, _) in ENCODERS {
        if v.facts.flag(&format!("{host}.wanted")) != Some(true) {
            continue;
        }
        let last = conns.iter().rev().find(|c| c.host == host);
        let live = last.is_some_and(|c| {
            matches!(c.answer, Some((_, true))) && c.down.is_none() && c.unpublish.is_none()
        });
        if !live {
            let what = last.map_or("no connection".to_string(), |c| {
                format!(
                    "connection {}: up {:?}, answer {:?}, down {:?}, unpublished {:?}",
                    c.n, c.up, c.answer, c.down, c.unpublish
                )
            });
            return Verdict::fail(
                v.end,
                format!(
                    "{host} is wanted but not published {:?} after the heal ({what})",
                    v.end - v.heal_at
                ),
            );
        }
    }
    Verdict::Pass
}

/// `true` if the trace carries a blackhole at all (for the plan tests).
pub fn has_blackhole(v: &RunView<'_>) -> bool {
    v.trace.entries.iter().any(|e| match &e.kind {
        EntryKind::Fault(step) => step.net().is_some_and(is_blackhole),
        _ => false,
    })
}

pub const SILENT_PUBLISHER_DROPPED: Check = Check {
    name: "silent-publisher-dropped",
    kind: CheckKind::Always,
    about: "a publisher silent for the ingest's idle bound (before its hello or between frames) sees its connection closed",
    eval: silent_publisher_dropped,
};

pub const PUBLISH_ANSWERED: Check = Check {
    name: "publish-answered",
    kind: CheckKind::Always,
    about: "a publisher's hello is answered within the claim bound: published, or its connection closed",
    eval: publish_answered,
};

pub const PUBLISHER_LIVE_AFTER_HEAL: Check = Check {
    name: "publisher-live-after-heal",
    kind: CheckKind::Eventually,
    about: "after the heal every wanted encoder's last connection is published and still up",
    eval: publisher_live_after_heal,
};

pub const DEADLINE_CLAIM: Check = relaysim_harness::deadline_check!("transcode.ingest.claim");
pub const DEADLINE_FIRST_FRAME: Check =
    relaysim_harness::deadline_check!("transcode.ingest.first-frame");
pub const DEADLINE_IDLE: Check = relaysim_harness::deadline_check!("transcode.ingest.idle");
pub const FAULT_POINT_INGEST_DROP: Check =
    relaysim_harness::fault_point_check!("transcode.ingest.drop");
pub const PHASE_CONNECT: Check =
    relaysim_harness::phase_check!("publisher", "connect", publisher_spans);
pub const PHASE_HANDSHAKE: Check =
    relaysim_harness::phase_check!("publisher", "handshake", publisher_spans);
pub const PHASE_STEADY: Check =
    relaysim_harness::phase_check!("publisher", "steady", publisher_spans);
pub const PHASE_TEARDOWN: Check =
    relaysim_harness::phase_check!("publisher", "teardown", publisher_spans);
pub const PHASE_RECONNECT: Check =
    relaysim_harness::phase_check!("publisher", "reconnect", publisher_spans);
