//! The lvqr checks: independent oracles over what relaysim's peers saw.
//!
//! Every verdict is re-derived from the peers' events: the ingest's
//! publishes, the admin API's edits and the transcoders' own reports of
//! the fragments they received (each fragment's payload carries its
//! session and logical stamp). None reads the crate's bookkeeping
//! (`tracked()`, `renditions()`, `remove_rendition`'s count), so a bug in
//! it cannot hide itself. Checks order events by logical stamps, never by
//! their place in the trace (transcoder events are flushed once a tick).

use super::peers::LvqrEvent;
use super::peers::Tid;
use crate::lvqr::fault::Phase;
use relaysim_harness::check::{Check, CheckKind, RunView, Verdict};
use relaysim_harness::trace::Entry;
use std::collections::{BTreeMap, BTreeSet};

fn events<'a>(v: &'a RunView<'_>) -> impl Iterator<Item = (&'a Entry, &'a LvqrEvent)> {
    v.trace
        .entries
        .iter()
        .filter_map(|e| e.peer::<LvqrEvent>().map(|p| (e, p)))
}

/// instance → (rendition, removal stamp, where it landed).
fn removals(v: &RunView<'_>) -> BTreeMap<u64, (String, u64, String)> {
    let mut out = BTreeMap::new();
    for (_, e) in events(v) {
        if let LvqrEvent::Apply {
            op: "remove",
            rendition,
            instances,
            stamp,
            during,
            ..
        } = e
        {
            let at = during
                .as_ref()
                .map_or("at its window's end".to_string(), |d| {
                    format!("inside build {d}")
                });
            for i in instances {
                out.insert(*i, (rendition.clone(), *stamp, at.clone()));
            }
        }
    }
    out
}

fn no_leaked_drain(v: &RunView<'_>) -> Verdict {
    let removed = removals(v);
    for (entry, e) in events(v) {
        let LvqrEvent::Seen {
            tid,
            session,
            stamp,
            ..
        } = e
        else {
            continue;
        };
        if let Some((rendition, at, landed)) = removed.get(&tid.instance) {
            if stamp > at {
                return Verdict::fail(
                    entry.at,
                    format!(
                        "transcoder {tid} received fragment stamp={stamp} (session {session}) after rendition {rendition} (instance {}) was removed at stamp={at}, {landed}: a drain nobody aborts",
                        tid.instance
                    ),
                );
            }
        }
    }
    Verdict::Pass
}

fn no_missed_drain(v: &RunView<'_>) -> Verdict {
    // broadcast → (name, session, publish stamp) of its live session.
    let mut live: BTreeMap<&str, (&str, u64, u64)> = BTreeMap::new();
    // instance → (rendition, registration stamp).
    let mut registered: BTreeMap<u64, (&str, u64)> = BTreeMap::new();
    let mut fed: BTreeSet<(u64, &str, u64)> = BTreeSet::new();
    let mut start_panicked: BTreeSet<(u64, &str, u64)> = BTreeSet::new();
    for (_, e) in events(v) {
        match e {
            LvqrEvent::Ladder { instances } => {
                for (i, r) in instances {
                    registered.insert(*i, (r.as_str(), 0));
                }
            }
            LvqrEvent::Publish {
                broadcast,
                name,
                session,
                stamp,
            } => {
                live.insert(broadcast.as_str(), (name.as_str(), *session, *stamp));
            }
            LvqrEvent::Unpublish { broadcast, .. } => {
                live.remove(broadcast.as_str());
            }
            LvqrEvent::Apply {
                op,
                rendition,
                instances,
                stamp,
                ..
            } => {
                if *op == "add" {
                    for i in instances {
                        registered.insert(*i, (rendition.as_str(), *stamp));
                    }
                } else {
                    registered.retain(|_, (r, _)| *r != rendition.as_str());
                }
            }
            LvqrEvent::Seen { tid, session, .. } => {
                fed.insert((tid.instance, tid.name.as_str(), *session));
            }
            LvqrEvent::PanicInjected {
                tid,
                phase: Phase::Start,
                ..
            } => {
                start_panicked.insert((tid.instance, tid.name.as_str(), tid.session));
            }
            _ => {}
        }
    }
    for (broadcast, (name, session, published)) in &live {
        for (instance, (rendition, since)) in &registered {
            let key = (*instance, *name, *session);
            if !fed.contains(&key) && !start_panicked.contains(&key) {
                return Verdict::fail(
                    v.end,
                    format!(
                        "{broadcast} session {session} (registry name {name}, published at stamp={published}) is live, and rendition {rendition} (instance {instance}, registered since stamp={since}) is in the ladder, but no transcoder of that instance received one of its fragments"
                    ),
                );
            }
        }
    }
    Verdict::Pass
}

fn panics_isolated(v: &RunView<'_>) -> Verdict {
    let removed = removals(v);
    // tid → (panic stamp, when recorded) of fragment-phase panics.
    let mut panicked: BTreeMap<&Tid, (u64, std::time::Duration)> = BTreeMap::new();
    let mut went_on: BTreeSet<&Tid> = BTreeSet::new();
    for (entry, e) in events(v) {
        match e {
            LvqrEvent::PanicInjected {
                tid,
                phase: Phase::Fragment,
                stamp,
            } => {
                panicked.insert(tid, (*stamp, entry.at));
                went_on.remove(tid);
            }
            LvqrEvent::Seen { tid, stamp, .. } => {
                if panicked.get(tid).is_some_and(|(at, _)| stamp > at) {
                    went_on.insert(tid);
                }
            }
            LvqrEvent::Stop { tid, .. } => {
                if panicked.contains_key(tid) {
                    went_on.insert(tid);
                }
            }
            LvqrEvent::Dropped { tid, .. } => {
                // Aborted by a removal after the panic: not the panic's doing.
                let aborted = removed
                    .get(&tid.instance)
                    .is_some_and(|(_, at, _)| panicked.get(tid).is_some_and(|(p, _)| at > p));
                if aborted && panicked.contains_key(tid) {
                    went_on.insert(tid);
                }
            }
            _ => {}
        }
    }
    for (tid, (stamp, at)) in &panicked {
        if !went_on.contains(tid) {
            return Verdict::fail(
                *at,
                format!(
                    "transcoder {tid} panicked in on_fragment at stamp={stamp} and never received another fragment nor reached on_stop: the panic ended its drain"
                ),
            );
        }
    }
    Verdict::Pass
}

fn republished(v: &RunView<'_>) -> Verdict {
    let hit =
        events(v).any(|(_, e)| matches!(e, LvqrEvent::Publish { session, .. } if *session >= 2));
    if hit {
        Verdict::Hit
    } else {
        Verdict::Miss
    }
}

fn removal_under_live_drains(v: &RunView<'_>) -> Verdict {
    // A removal after which a transcoder of a removed instance was
    // dropped: the removal aborted a running drain.
    let removed = removals(v);
    let hit = events(v).any(
        |(_, e)| matches!(e, LvqrEvent::Dropped { tid, .. } if removed.contains_key(&tid.instance)),
    );
    if hit {
        Verdict::Hit
    } else {
        Verdict::Miss
    }
}

/// Safety: once a rendition is removed, no transcoder of the removed
/// factory instances receives a fragment emitted after the removal.
pub const NO_LEAKED_DRAIN: Check = Check {
    name: "no-leaked-drain",
    kind: CheckKind::Always,
    about: "no transcoder of a removed rendition receives a fragment emitted after its removal",
    eval: no_leaked_drain,
};

/// Liveness: at the end, every live session is transcoded into every
/// registered rendition (a start panic excuses its own pair, as the
/// crate documents).
pub const NO_MISSED_DRAIN: Check = Check {
    name: "no-missed-drain",
    kind: CheckKind::Eventually,
    about: "every live broadcast session is received by a transcoder of every registered rendition",
    eval: no_missed_drain,
};

/// Safety: a panic in `on_fragment` does not end its drain.
pub const PANICS_ISOLATED: Check = Check {
    name: "panics-isolated",
    kind: CheckKind::Always,
    about: "a transcoder that panicked in on_fragment goes on receiving fragments until its source ends or it is removed",
    eval: panics_isolated,
};

/// Coverage: a broadcast was published a second time.
pub const REPUBLISHED: Check = Check {
    name: "republished",
    kind: CheckKind::Sometimes,
    about: "a broadcast was stopped and published again",
    eval: republished,
};

/// Coverage: a removal aborted a running drain.
pub const REMOVAL_ABORTED_A_DRAIN: Check = Check {
    name: "removal-aborted-a-drain",
    kind: CheckKind::Sometimes,
    about: "a rendition removal ended a running transcoder",
    eval: removal_under_live_drains,
};
