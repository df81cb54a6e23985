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
            LvqrEvent::Seen { tid, stamp, .. }
                if panicked.get(tid).is_some_and(|(at, _)| stamp > at) =>
            {
                went_on.insert(tid);
            }
            LvqrEvent::Stop { tid, .. } if panicked.contains_key(tid) => {
                went_on.insert(tid);
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

fn removal_aborted_a_drain(v: &RunView<'_>) -> Verdict {
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
    eval: removal_aborted_a_drain,
};

#[cfg(test)]
mod tests {
    use super::*;
    use relaysim_harness::check::Facts;
    use relaysim_harness::trace::{EntryKind, Trace};
    use std::sync::Arc;
    use std::time::Duration;

    fn tid(rendition: &str, instance: u64, name: &str) -> Tid {
        Tid {
            rendition: rendition.into(),
            instance,
            name: name.into(),
            session: 1,
        }
    }

    fn judge(check: Check, events: Vec<LvqrEvent>) -> Verdict {
        let trace = Trace {
            entries: events
                .into_iter()
                .enumerate()
                .map(|(i, e)| Entry {
                    at: Duration::from_millis(100 * i as u64),
                    host: "lvqr",
                    kind: EntryKind::Peer(Arc::new(e)),
                })
                .collect(),
        };
        let facts = Facts::new();
        (check.eval)(&RunView {
            trace: &trace,
            facts: &facts,
            heal_at: Duration::from_secs(14),
            end: Duration::from_secs(18),
        })
    }

    fn seen(t: &Tid, stamp: u64) -> LvqrEvent {
        LvqrEvent::Seen {
            tid: t.clone(),
            session: 1,
            stamp,
            seen: 1,
        }
    }

    fn remove(rendition: &str, instance: u64, stamp: u64) -> LvqrEvent {
        LvqrEvent::Apply {
            op: "remove",
            rendition: rendition.into(),
            instances: vec![instance],
            crate_said: 0,
            stamp,
            during: None,
        }
    }

    #[test]
    fn a_fragment_after_the_removal_is_a_leak_one_before_is_not() {
        let t = tid("240p", 3, "live/c");
        assert_eq!(
            judge(NO_LEAKED_DRAIN, vec![seen(&t, 4), remove("240p", 3, 5)]),
            Verdict::Pass
        );
        let v = judge(NO_LEAKED_DRAIN, vec![remove("240p", 3, 5), seen(&t, 6)]);
        assert!(matches!(v, Verdict::Fail { .. }), "{v:?}");
        // A re-added instance of the same rendition is not the removed one.
        let re = tid("240p", 4, "live/c");
        assert_eq!(
            judge(NO_LEAKED_DRAIN, vec![remove("240p", 3, 5), seen(&re, 6)]),
            Verdict::Pass
        );
    }

    #[test]
    fn a_live_session_without_its_rendition_is_missed() {
        let publish = |session| LvqrEvent::Publish {
            broadcast: "live/a".into(),
            name: "live/a".into(),
            session,
            stamp: session * 10,
        };
        let ladder = LvqrEvent::Ladder {
            instances: vec![(1, "720p".into())],
        };
        let t = tid("720p", 1, "live/a");
        assert_eq!(
            judge(
                NO_MISSED_DRAIN,
                vec![ladder.clone(), publish(1), seen(&t, 11)]
            ),
            Verdict::Pass
        );
        let v = judge(
            NO_MISSED_DRAIN,
            vec![
                ladder.clone(),
                publish(1),
                seen(&t, 11),
                LvqrEvent::Unpublish {
                    broadcast: "live/a".into(),
                    name: "live/a".into(),
                    session: 1,
                    stamp: 12,
                },
                publish(2),
            ],
        );
        assert!(matches!(v, Verdict::Fail { .. }), "{v:?}");
        // A start panic excuses its own pair.
        let v = judge(
            NO_MISSED_DRAIN,
            vec![
                ladder,
                publish(1),
                LvqrEvent::PanicInjected {
                    tid: t,
                    phase: Phase::Start,
                    stamp: 11,
                },
            ],
        );
        assert_eq!(v, Verdict::Pass);
    }

    #[test]
    fn a_panic_that_ends_the_drain_is_caught() {
        let t = tid("720p", 1, "live/a");
        let panic = LvqrEvent::PanicInjected {
            tid: t.clone(),
            phase: Phase::Fragment,
            stamp: 7,
        };
        let v = judge(
            PANICS_ISOLATED,
            vec![
                seen(&t, 6),
                panic.clone(),
                LvqrEvent::Dropped {
                    tid: t.clone(),
                    seen: 2,
                },
            ],
        );
        assert!(matches!(v, Verdict::Fail { .. }), "{v:?}");
        assert_eq!(
            judge(
                PANICS_ISOLATED,
                vec![seen(&t, 6), panic.clone(), seen(&t, 8)]
            ),
            Verdict::Pass
        );
        // Aborted by a removal after the panic: not the panic's doing.
        assert_eq!(
            judge(
                PANICS_ISOLATED,
                vec![
                    panic,
                    remove("720p", 1, 9),
                    LvqrEvent::Dropped { tid: t, seen: 2 },
                ]
            ),
            Verdict::Pass
        );
    }
}
