//! The publisher checks: independent oracles over the trace and final facts.
//!
//! Which tracks were published, unpublished and for how long comes from the
//! `livekit` peer's records, never from the publisher's own bookkeeping;
//! the publisher's events say only when a track's EOS fired, when an attempt
//! began and when its stop began and ended.

use relaysim_core::session::publisher::{PublisherEvent, Side, TrackKind};
use relaysim_harness::check::{Check, CheckKind, RunView, Verdict};
use relaysim_harness::fault::Scope;
use relaysim_harness::fault::Step;
use relaysim_harness::phase::fault_windows;
use std::collections::BTreeMap;
use std::time::Duration;

use super::fault::Fault;
use super::peers::livekit::LiveKitEvent;

/// An ended track's publication must be gone this long after the later of
/// its EOS and its publication: the unpublish may queue behind one RPC in
/// flight, and each answer takes up to 0.6 s.
pub const UNPUBLISH_BOUND: Duration = Duration::from_secs(2);
/// After a stop finished, the room must have seen the participant leave.
pub const LEAVE_BOUND: Duration = Duration::from_secs(1);
/// After the heal (or a signal), the publisher must have settled.
pub const SETTLE_BOUND: Duration = Duration::from_secs(5);

/// What the trace says about each attempt.
#[derive(Default)]
struct Attempts {
    stop_begin: BTreeMap<u64, Duration>,
    stop_done: BTreeMap<u64, Duration>,
    /// First EOS per (attempt, track).
    eos: BTreeMap<(u64, TrackKind), Duration>,
    joined: BTreeMap<u64, Duration>,
    left: BTreeMap<u64, Duration>,
    /// sid → (attempt, track, published at, unpublished at).
    pubs: BTreeMap<String, (u64, TrackKind, Duration, Option<Duration>)>,
    signal: Option<Duration>,
    last_attempt: u64,
    started: BTreeMap<u64, Duration>,
}

fn attempts(v: &RunView<'_>) -> Attempts {
    let mut a = Attempts::default();
    for e in &v.trace.entries {
        if let Some(Fault::PublisherSignal) = e.fault::<Fault>().and_then(Step::app) {
            a.signal.get_or_insert(e.at);
        }
        if let Some(p) = e.event::<PublisherEvent>() {
            match p {
                PublisherEvent::AttemptStart { attempt } => a.last_attempt = *attempt,
                PublisherEvent::Started { attempt } => {
                    a.started.insert(*attempt, e.at);
                }
                PublisherEvent::StopBegin { attempt, .. } => {
                    a.stop_begin.entry(*attempt).or_insert(e.at);
                }
                PublisherEvent::StopDone { attempt } => {
                    a.stop_done.entry(*attempt).or_insert(e.at);
                }
                PublisherEvent::TrackEos { attempt, track, .. } => {
                    a.eos.entry((*attempt, *track)).or_insert(e.at);
                }
                _ => {}
            }
        }
        if let Some(l) = e.peer::<LiveKitEvent>() {
            match l {
                LiveKitEvent::Joined { attempt } => {
                    a.joined.insert(*attempt, e.at);
                }
                LiveKitEvent::Left { attempt, .. } => {
                    a.left.entry(*attempt).or_insert(e.at);
                }
                LiveKitEvent::Published {
                    attempt,
                    track,
                    sid,
                } => {
                    a.pubs.insert(sid.clone(), (*attempt, *track, e.at, None));
                }
                LiveKitEvent::Unpublished { sid, .. } => {
                    if let Some(p) = a.pubs.get_mut(sid) {
                        p.3.get_or_insert(e.at);
                    }
                }
                _ => {}
            }
        }
    }
    a
}

fn ended_track_unpublished(v: &RunView<'_>) -> Verdict {
    let a = attempts(v);
    let mut worst: Option<(Duration, String)> = None;
    for (sid, (attempt, track, published, unpublished)) in &a.pubs {
        let Some(&eos) = a.eos.get(&(*attempt, *track)) else {
            continue;
        };
        // An EOS after the stop began is the stop's business (room leave).
        if a.stop_begin.get(attempt).is_some_and(|s| eos > *s) {
            continue;
        }
        let deadline = eos.max(*published) + UNPUBLISH_BOUND;
        if deadline > v.end {
            continue;
        }
        let gone = match (unpublished, a.left.get(attempt)) {
            (Some(u), Some(l)) => Some((*u).min(*l)),
            (u, l) => u.or(l.copied()),
        };
        if gone.is_none_or(|g| g > deadline) {
            let detail = format!(
                "attempt {attempt}: track {track} ({sid}) reached EOS at {:.3}s but stayed published {}",
                eos.as_secs_f64(),
                match gone {
                    Some(g) => format!("until {:.3}s", g.as_secs_f64()),
                    None => "to the end of the run".into(),
                }
            );
            if worst.as_ref().is_none_or(|(t, _)| deadline < *t) {
                worst = Some((deadline, detail));
            }
        }
    }
    match worst {
        Some((at, detail)) => Verdict::fail(at, detail),
        None => Verdict::Pass,
    }
}

fn unpublish_at_most_once(v: &RunView<'_>) -> Verdict {
    let mut eos: BTreeMap<(u64, TrackKind), Duration> = BTreeMap::new();
    let mut callbacks: BTreeMap<String, u32> = BTreeMap::new();
    for e in &v.trace.entries {
        match e.event::<PublisherEvent>() {
            Some(PublisherEvent::TrackEos { attempt, track, .. }) => {
                eos.entry((*attempt, *track)).or_insert(e.at);
            }
            Some(PublisherEvent::Unpublish { sid, track, .. }) => {
                let n = callbacks.entry(sid.clone()).or_default();
                *n += 1;
                if *n > 1 {
                    return Verdict::fail(
                        e.at,
                        format!("the EOS callback of {track} ({sid}) ran {n} times"),
                    );
                }
            }
            _ => {}
        }
        match e.peer() {
            Some(LiveKitEvent::UnpublishUnknown { attempt, sid }) => {
                return Verdict::fail(
                    e.at,
                    format!("attempt {attempt} unpublished {sid}, which it no longer had"),
                )
            }
            Some(LiveKitEvent::Unpublished {
                attempt,
                track,
                sid,
            }) if !eos.contains_key(&(*attempt, *track)) => {
                return Verdict::fail(
                    e.at,
                    format!("attempt {attempt} unpublished {track} ({sid}) before its EOS"),
                )
            }
            _ => {}
        }
    }
    Verdict::Pass
}

fn stop_once(v: &RunView<'_>) -> Verdict {
    let mut begins: BTreeMap<u64, u32> = BTreeMap::new();
    let mut done: BTreeMap<u64, Duration> = BTreeMap::new();
    for e in &v.trace.entries {
        let Some(p) = e.event::<PublisherEvent>() else {
            continue;
        };
        let Some(attempt) = p.attempt() else { continue };
        if let Some(t) = done.get(&attempt) {
            if !matches!(p, PublisherEvent::StopJoined { .. }) {
                return Verdict::fail(
                    e.at,
                    format!(
                        "`{p}` after attempt {attempt}'s stop finished at {:.3}s",
                        t.as_secs_f64()
                    ),
                );
            }
        }
        match p {
            PublisherEvent::AttemptStart { attempt }
                if *attempt > 1 && !done.contains_key(&(attempt - 1)) =>
            {
                return Verdict::fail(
                    e.at,
                    format!(
                        "attempt {attempt} began before attempt {} was stopped",
                        attempt - 1
                    ),
                );
            }
            PublisherEvent::StopBegin { attempt, .. } => {
                let n = begins.entry(*attempt).or_default();
                *n += 1;
                if *n > 1 {
                    return Verdict::fail(
                        e.at,
                        format!("attempt {attempt}'s teardown began {n} times"),
                    );
                }
            }
            PublisherEvent::StopJoined { attempt, .. } if !begins.contains_key(attempt) => {
                return Verdict::fail(
                    e.at,
                    format!("a stop of attempt {attempt} joined a teardown that never began"),
                )
            }
            PublisherEvent::StopDone { attempt } => {
                if !begins.contains_key(attempt) {
                    return Verdict::fail(
                        e.at,
                        format!("attempt {attempt}'s stop finished without beginning"),
                    );
                }
                done.insert(*attempt, e.at);
            }
            _ => {}
        }
    }
    Verdict::Pass
}

fn stop_leaves_nothing(v: &RunView<'_>) -> Verdict {
    let a = attempts(v);
    let mut failed: BTreeMap<u64, Duration> = BTreeMap::new();
    // When the room last received a publish request (rooms that trace
    // their connections only): a request that reached it before the stop
    // finished was the attempt's last act, answered late; what it
    // published goes with the connection (`lk.left cause=disconnect`).
    let mut publish_received: Option<Duration> = None;
    for e in &v.trace.entries {
        if let Some(LiveKitEvent::Request {
            verb: "publish", ..
        }) = e.peer()
        {
            publish_received = Some(e.at);
        }
        match e.event::<PublisherEvent>() {
            Some(PublisherEvent::StartFailed { attempt, .. }) => {
                failed.entry(*attempt).or_insert(e.at);
            }
            Some(PublisherEvent::Started { attempt }) if failed.contains_key(attempt) => {
                return Verdict::fail(
                    e.at,
                    format!("attempt {attempt} reported started after one side failed"),
                )
            }
            Some(PublisherEvent::PipelinePlaying { attempt }) => {
                if let Some(s) = a.stop_begin.get(attempt).filter(|s| **s < e.at) {
                    return Verdict::fail(
                        e.at,
                        format!(
                            "attempt {attempt}'s pipeline reached PLAYING after its stop began at {:.3}s",
                            s.as_secs_f64()
                        ),
                    );
                }
            }
            _ => {}
        }
        if let Some(LiveKitEvent::Published { attempt, sid, .. }) = e.peer() {
            let in_flight =
                publish_received.is_some_and(|r| a.stop_done.get(attempt).is_some_and(|d| r <= *d));
            if let Some(d) = a
                .stop_done
                .get(attempt)
                .filter(|d| **d < e.at && !in_flight)
            {
                return Verdict::fail(
                    e.at,
                    format!(
                        "attempt {attempt} published {sid} after its stop finished at {:.3}s",
                        d.as_secs_f64()
                    ),
                );
            }
        }
    }
    let windows = fault_windows(v.trace);
    for (attempt, joined) in &a.joined {
        let Some(done) = a.stop_done.get(attempt) else {
            continue;
        };
        // The room hears the leave (or the close) once the link carries
        // it: a link fault active then postpones the bound to its end.
        let from = *done.max(joined);
        let back = windows
            .iter()
            .filter(|w| matches!(w.scope, Scope::Link(..)) && w.from <= from && from <= w.to)
            .map(|w| w.to)
            .fold(from, Duration::max);
        let deadline = back + LEAVE_BOUND;
        if deadline > v.end {
            continue;
        }
        if a.left.get(attempt).is_none_or(|l| *l > deadline) {
            return Verdict::fail(
                deadline,
                format!(
                    "attempt {attempt} stopped at {:.3}s but is still in the room",
                    done.as_secs_f64()
                ),
            );
        }
    }
    Verdict::Pass
}

/// A run that ended (every track, or a signal) must be wound down: the
/// attempt loop returned, nothing streams, nobody is left in the room.
fn wound_down(v: &RunView<'_>, since: Duration) -> Verdict {
    let deadline = since + SETTLE_BOUND;
    if v.end < deadline {
        return Verdict::fail(v.end, format!("run ended before {deadline:?}"));
    }
    let ok = v.facts.flag("publisher.finished") == Some(true)
        && v.facts.count("publisher.streaming") == Some(0)
        && v.facts
            .list("livekit.participants")
            .is_some_and(<[_]>::is_empty);
    if ok {
        Verdict::Pass
    } else {
        Verdict::fail(
            deadline,
            format!(
                "not wound down {:.3}s after {:.3}s: finished={} streaming={} participants=[{}]",
                SETTLE_BOUND.as_secs_f64(),
                since.as_secs_f64(),
                v.facts.show("publisher.finished"),
                v.facts.show("publisher.streaming"),
                v.facts.show("livekit.participants"),
            ),
        )
    }
}

fn session_ends_cleanly(v: &RunView<'_>) -> Verdict {
    let a = attempts(v);
    let since = a
        .eos
        .values()
        .chain(a.signal.iter())
        .copied()
        .max()
        .unwrap_or_default();
    wound_down(v, since)
}

fn publishes_after_heal(v: &RunView<'_>) -> Verdict {
    publishes_after_heal_within(v, Duration::ZERO)
}

/// As [`PUBLISHES_AFTER_HEAL`], with `grace` more after a signal: a stop
/// that a hung room holds up may take its whole leave bound.
fn publishes_after_heal_within(v: &RunView<'_>, grace: Duration) -> Verdict {
    let a = attempts(v);
    if let Some(s) = a.signal {
        return wound_down(v, s + grace);
    }
    let deadline = v.heal_at + SETTLE_BOUND;
    if v.end < deadline {
        return Verdict::fail(v.end, format!("run ended before {deadline:?}"));
    }
    let last = a.last_attempt;
    let started = a.started.get(&last).copied();
    let running = started.is_some_and(|t| t <= deadline) && !a.stop_begin.contains_key(&last);
    let in_room = v.facts.list("livekit.participants") == Some(&[last.to_string()][..])
        && v.facts.count("livekit.publications") == Some(TrackKind::ALL.len() as u64);
    if running && in_room {
        Verdict::Pass
    } else {
        Verdict::fail(
            deadline,
            format!(
                "no attempt publishing {}s after the heal: last attempt {last} started={} stopped={} room=[{}] publications={}",
                SETTLE_BOUND.as_secs(),
                started.map(|t| format!("{:.3}s", t.as_secs_f64())).unwrap_or_else(|| "never".into()),
                a.stop_begin.contains_key(&last),
                v.facts.show("livekit.participants"),
                v.facts.show("livekit.publications"),
            ),
        )
    }
}

fn eos_before_register(v: &RunView<'_>) -> Verdict {
    // An EOS that found no callback, for a track registered afterwards.
    let mut latched: Vec<(u64, TrackKind)> = Vec::new();
    for e in &v.trace.entries {
        match e.event::<PublisherEvent>() {
            Some(PublisherEvent::TrackEos {
                attempt,
                track,
                callback: false,
            }) => latched.push((*attempt, *track)),
            Some(PublisherEvent::EosRegistered { attempt, track, .. })
                if latched.contains(&(*attempt, *track)) =>
            {
                return Verdict::Hit
            }
            _ => {}
        }
    }
    Verdict::Miss
}

fn stop_from_two_callers(v: &RunView<'_>) -> Verdict {
    Verdict::reached(v.trace.entries.iter().any(|e| {
        matches!(
            e.event::<PublisherEvent>(),
            Some(PublisherEvent::StopJoined { .. })
        )
    }))
}

/// Contract S3, its first half: a failure of either side of a start
/// cancels the other. After an attempt's `pub.start.failed`, the other side
/// makes no progress of its own (a pipeline reaching PLAYING; a room join,
/// track publish or EOS registration), and the start ends only once the
/// pipeline side is over (PLAYING, failed or cancelled) before the stop
/// begins. Judged on the sides' own events, in the order they happened.
fn failed_start_cancels_the_other_side(v: &RunView<'_>) -> Verdict {
    let mut failed: BTreeMap<u64, (Side, Duration)> = BTreeMap::new();
    // Attempts whose pipeline side is over.
    let mut pipeline_over: Vec<u64> = Vec::new();
    for e in &v.trace.entries {
        let Some(p) = e.event::<PublisherEvent>() else {
            continue;
        };
        let (attempt, side) = match p {
            PublisherEvent::StartFailed { attempt, side, .. } => {
                failed.entry(*attempt).or_insert((*side, e.at));
                if *side == Side::Pipeline {
                    pipeline_over.push(*attempt);
                }
                continue;
            }
            PublisherEvent::StartCancelled { attempt, side } => {
                if *side == Side::Pipeline {
                    pipeline_over.push(*attempt);
                }
                continue;
            }
            PublisherEvent::StopBegin { attempt, .. } => {
                if let Some((Side::Room, at)) = failed.get(attempt) {
                    if !pipeline_over.contains(attempt) {
                        return Verdict::fail(
                            e.at,
                            format!(
                                "attempt {attempt}'s start ended (its stop began) with its pipeline still starting, {:.3}s after the room side failed",
                                (e.at - *at).as_secs_f64()
                            ),
                        );
                    }
                }
                continue;
            }
            PublisherEvent::PipelinePlaying { attempt } => {
                pipeline_over.push(*attempt);
                (attempt, Side::Pipeline)
            }
            PublisherEvent::RoomJoined { attempt }
            | PublisherEvent::TrackPublished { attempt, .. }
            | PublisherEvent::EosRegistered { attempt, .. } => (attempt, Side::Room),
            _ => continue,
        };
        if let Some((failing, at)) = failed.get(attempt) {
            if *failing != side {
                return Verdict::fail(
                    e.at,
                    format!(
                        "attempt {attempt}: `{}` on the {side} side {:.3}s after the {failing} side failed (it was not cancelled)",
                        p.name(),
                        (e.at - *at).as_secs_f64()
                    ),
                );
            }
        }
    }
    Verdict::Pass
}

/// One side failed and the other, still starting, was cancelled.
fn failed_side_cancels(v: &RunView<'_>, failing: Side) -> Verdict {
    let mut failed: BTreeMap<u64, Side> = BTreeMap::new();
    for e in &v.trace.entries {
        match e.event::<PublisherEvent>() {
            Some(PublisherEvent::StartFailed { attempt, side, .. }) => {
                failed.entry(*attempt).or_insert(*side);
            }
            Some(PublisherEvent::StartCancelled { attempt, side })
                if failed.get(attempt) == Some(&failing) && *side != failing =>
            {
                return Verdict::Hit
            }
            _ => {}
        }
    }
    Verdict::Miss
}

fn room_fails_while_pipeline_starts(v: &RunView<'_>) -> Verdict {
    failed_side_cancels(v, Side::Room)
}

fn pipeline_fails_while_joining(v: &RunView<'_>) -> Verdict {
    failed_side_cancels(v, Side::Pipeline)
}

pub const ENDED_TRACK_UNPUBLISHED: Check = Check {
    name: "ended-track-unpublished",
    kind: CheckKind::Always,
    about: "a published track whose EOS fired is gone from the room within 2 s, whichever of EOS and registration came first",
    eval: ended_track_unpublished,
};
pub const UNPUBLISH_AT_MOST_ONCE: Check = Check {
    name: "unpublish-at-most-once",
    kind: CheckKind::Always,
    about: "each track's EOS callback runs at most once, and only ended tracks are unpublished",
    eval: unpublish_at_most_once,
};
pub const STOP_ONCE: Check = Check {
    name: "stop-once",
    kind: CheckKind::Always,
    about: "one teardown per attempt, however many callers; nothing of an attempt runs after its stop finished",
    eval: stop_once,
};
pub const STOP_LEAVES_NOTHING: Check = Check {
    name: "stop-leaves-nothing",
    kind: CheckKind::Always,
    about: "a failed or stopped start leaves no pipeline playing and no participant in the room (1 s after the stop, or after the link fault it ended in)",
    eval: stop_leaves_nothing,
};
pub const SESSION_ENDS_CLEANLY: Check = Check {
    name: "session-ends-cleanly",
    kind: CheckKind::Eventually,
    about: "once every track ended (or a signal came), the publisher winds down within 5 s",
    eval: session_ends_cleanly,
};
pub const PUBLISHES_AFTER_HEAL: Check = Check {
    name: "publishes-after-heal",
    kind: CheckKind::Eventually,
    about: "within 5 s of the heal an attempt is running with every track published (or, signalled, the publisher wound down)",
    eval: publishes_after_heal,
};
pub const PUBLISHES_AFTER_HEAL_OR_LEAVE_BOUND: Check = Check {
    name: "publishes-after-heal",
    kind: CheckKind::Eventually,
    about: "within 5 s of the heal an attempt is running with every track published (or, signalled, the publisher wound down within the leave bound + 5 s)",
    eval: |v| {
        publishes_after_heal_within(
            v,
            relaysim_core::session::publisher::RPC_TIMEOUT
                + relaysim_core::session::publisher::LEAVE_TIMEOUT,
        )
    },
};
pub const EOS_BEFORE_REGISTER_REACHED: Check = Check {
    name: "eos-before-register",
    kind: CheckKind::Sometimes,
    about: "a track's EOS fires before its callback is registered",
    eval: eos_before_register,
};
pub const STOP_FROM_TWO_CALLERS: Check = Check {
    name: "stop-from-two-callers",
    kind: CheckKind::Sometimes,
    about: "a second stop caller arrives while (or after) another tears the attempt down",
    eval: stop_from_two_callers,
};
pub const FAILED_START_CANCELS_THE_OTHER_SIDE: Check = Check {
    name: "failed-start-cancels-the-other-side",
    kind: CheckKind::Always,
    about: "after one side of a start failed, the other makes no progress, and the start ends only once the pipeline side is over",
    eval: failed_start_cancels_the_other_side,
};
pub const ROOM_FAILS_WHILE_PIPELINE_STARTS: Check = Check {
    name: "room-fails-while-pipeline-starts",
    kind: CheckKind::Sometimes,
    about: "the room side fails and cancels a pipeline still starting",
    eval: room_fails_while_pipeline_starts,
};
pub const PIPELINE_FAILS_WHILE_JOINING: Check = Check {
    name: "pipeline-fails-while-joining",
    kind: CheckKind::Sometimes,
    about: "the pipeline fails to start and cancels a room join still in progress",
    eval: pipeline_fails_while_joining,
};

#[cfg(test)]
mod tests {
    use super::*;
    use relaysim_core::session::publisher::StopReason;
    use relaysim_harness::check::Facts;
    use relaysim_harness::trace::{Entry, EntryKind, Trace};

    fn judge(events: Vec<(u64, PublisherEvent)>) -> Verdict {
        let trace = Trace {
            entries: events
                .into_iter()
                .map(|(ms, e)| Entry {
                    at: Duration::from_millis(ms),
                    host: "publisher",
                    kind: EntryKind::Core(e.into()),
                })
                .collect(),
        };
        let facts = Facts::new();
        failed_start_cancels_the_other_side(&RunView {
            trace: &trace,
            facts: &facts,
            heal_at: Duration::from_secs(10),
            end: Duration::from_secs(14),
        })
    }

    fn failed(attempt: u64, side: Side) -> PublisherEvent {
        PublisherEvent::StartFailed {
            attempt,
            side,
            error: "refused".into(),
        }
    }

    fn stop(attempt: u64) -> PublisherEvent {
        PublisherEvent::StopBegin {
            attempt,
            reason: StopReason::StartFailed,
        }
    }

    /// S3 per rule: after one side failed the other makes no progress (any
    /// of its steps, this attempt only), and the stop begins only once the
    /// pipeline side is over.
    #[test]
    fn a_failed_start_cancels_the_other_side() {
        use PublisherEvent::*;
        let (room, pipe) = (Side::Room, Side::Pipeline);
        let cancelled = |attempt, side| StartCancelled { attempt, side };
        // The clean shapes: the other side cancelled, or done before.
        assert_eq!(
            judge(vec![
                (10, failed(1, room)),
                (10, cancelled(1, pipe)),
                (11, stop(1)),
                (20, PipelinePlaying { attempt: 2 }),
            ]),
            Verdict::Pass
        );
        assert_eq!(
            judge(vec![
                (5, PipelinePlaying { attempt: 1 }),
                (10, failed(1, room)),
                (11, stop(1)),
            ]),
            Verdict::Pass
        );
        assert_eq!(
            judge(vec![
                (5, RoomJoined { attempt: 1 }),
                (10, failed(1, pipe)),
                (10, cancelled(1, room)),
                (11, stop(1)),
            ]),
            Verdict::Pass
        );
        let fails = |events, what: &str| match judge(events) {
            Verdict::Fail { detail, .. } => assert!(detail.contains(what), "{detail}"),
            v => panic!("expected a failure with {what:?}, got {v:?}"),
        };
        fails(
            vec![(10, failed(1, room)), (12, PipelinePlaying { attempt: 1 })],
            "`pub.pipeline.playing` on the pipeline side",
        );
        for late in [
            RoomJoined { attempt: 1 },
            TrackPublished {
                attempt: 1,
                track: TrackKind::Video,
                sid: "TR_1".into(),
            },
            EosRegistered {
                attempt: 1,
                track: TrackKind::Audio,
                after_eos: false,
            },
        ] {
            fails(vec![(10, failed(1, pipe)), (12, late)], "on the room side");
        }
        fails(
            vec![(10, failed(1, room)), (11, stop(1))],
            "with its pipeline still starting",
        );
    }
}
