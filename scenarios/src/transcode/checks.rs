//! The transcode checks: independent oracles over the trace and the final
//! facts.
//!
//! They re-derive the world from the trace — live tracks from the
//! registry's `entry.created` / `entry.removed`, the ladder from
//! `runner.installed` / `rendition.added` / `rendition.removed`, open
//! drains from `drain.spawn` minus `drain.end` / `drain.abort` /
//! `drain.died`, session lengths from the bridge's `ingest.unpublish`,
//! injected panics and viewers from the world's peers — and never read the
//! runner's task table except to cross-check it at the end. The runner acts
//! synchronously within a simulated instant (callbacks, spawns, aborts), so
//! the table-shape checks are judged at the end of every instant.

use relaysim_core::transcode::event::{EndReason, TranscodeEvent};
use relaysim_core::transcode::fragment::VIDEO_TRACK;
use relaysim_core::transcode::{Phase, StatsKey};
use relaysim_harness::check::{Check, CheckKind, Fact, RunView, Verdict};
use relaysim_harness::trace::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::peers::admin::TranscodePeerEvent;

/// A drain: its key and the registry generation it reads.
type DrainId = (StatsKey, u64);

fn show(d: &DrainId) -> String {
    format!("{} gen={}", d.0, d.1)
}

/// The world as the trace tells it, up to some entry.
#[derive(Debug, Default)]
struct Replay {
    /// (transcoder, rendition) pairs registered.
    ladder: BTreeSet<(String, String)>,
    /// Live registry entries: (broadcast, track) → generation.
    live: BTreeMap<(String, String), u64>,
    /// Video entries created whose publish has not been announced yet
    /// (the entry-created callbacks are running): (broadcast, generation).
    creating: BTreeSet<(String, u64)>,
    /// Drains spawned from their entry's creation (subscribed before the
    /// first emit).
    from_creation: BTreeSet<DrainId>,
    /// The first video generation of each broadcast.
    first_gen: BTreeMap<String, u64>,
    open: BTreeSet<DrainId>,
    /// Drains whose `on_start` panicked (counted; never retried).
    failed_start: BTreeSet<DrainId>,
    /// Video fragments per publish session: (broadcast, generation) → n.
    sessions: BTreeMap<(String, u64), u64>,
}

impl Replay {
    fn observe(&mut self, e: &Entry) {
        let Some(ev) = e.event::<TranscodeEvent>() else {
            return;
        };
        match ev {
            TranscodeEvent::RunnerInstalled { ladder } => {
                for pair in ladder {
                    if let Some((t, r)) = pair.split_once('/') {
                        self.ladder.insert((t.to_string(), r.to_string()));
                    }
                }
            }
            TranscodeEvent::RenditionAdded {
                transcoder,
                rendition,
            } => {
                self.ladder.insert((transcoder.clone(), rendition.clone()));
            }
            TranscodeEvent::RenditionRemoved { rendition, .. } => {
                self.ladder.retain(|(_, r)| r != rendition);
            }
            TranscodeEvent::EntryCreated {
                broadcast,
                track,
                generation,
            } => {
                self.live
                    .insert((broadcast.clone(), track.clone()), *generation);
                if track == VIDEO_TRACK {
                    self.creating.insert((broadcast.clone(), *generation));
                    self.first_gen
                        .entry(broadcast.clone())
                        .or_insert(*generation);
                }
            }
            TranscodeEvent::EntryRemoved {
                broadcast,
                track,
                generation,
            } => {
                let k = (broadcast.clone(), track.clone());
                if self.live.get(&k) == Some(generation) {
                    self.live.remove(&k);
                }
                self.creating.remove(&(broadcast.clone(), *generation));
            }
            TranscodeEvent::IngestPublish {
                broadcast,
                generation,
            } => {
                self.creating.remove(&(broadcast.clone(), *generation));
            }
            TranscodeEvent::IngestUnpublish {
                broadcast,
                generation,
                fragments,
            } => {
                self.sessions
                    .insert((broadcast.clone(), *generation), *fragments);
            }
            TranscodeEvent::DrainSpawned { key, generation } => {
                let id = (key.clone(), *generation);
                // A key can be spawned again on the same entry (its
                // rendition removed and added back): judge the latest spawn.
                if self
                    .creating
                    .contains(&(key.broadcast.clone(), *generation))
                {
                    self.from_creation.insert(id.clone());
                } else {
                    self.from_creation.remove(&id);
                }
                // A re-spawn is a fresh drain: an earlier start panic of
                // the same key on the same entry no longer excuses it.
                self.failed_start.remove(&id);
                self.open.insert(id);
            }
            TranscodeEvent::DrainEnded {
                key,
                generation,
                reason,
                ..
            } => {
                let id = (key.clone(), *generation);
                self.open.remove(&id);
                if *reason == EndReason::StartPanic {
                    self.failed_start.insert(id);
                }
            }
            TranscodeEvent::DrainAborted { key, generation }
            | TranscodeEvent::DrainDied {
                key, generation, ..
            } => {
                self.open.remove(&(key.clone(), *generation));
            }
            _ => {}
        }
    }

    fn is_live(&self, d: &DrainId) -> bool {
        self.live.get(&(d.0.broadcast.clone(), d.0.track.clone())) == Some(&d.1)
    }

    /// Live video tracks × the ladder.
    fn expected(&self) -> BTreeSet<DrainId> {
        let mut out = BTreeSet::new();
        for ((b, t), g) in &self.live {
            if t != VIDEO_TRACK {
                continue;
            }
            for (tr, r) in &self.ladder {
                out.insert((StatsKey::new(tr, r, b, t), *g));
            }
        }
        out
    }

    /// Open drains of live tracks whose (transcoder, rendition) is not in
    /// the ladder. (Drains of removed entries are draining and end on
    /// their own; `drains-match-ladder` checks that they do.)
    fn leaks(&self) -> Vec<DrainId> {
        self.open
            .iter()
            .filter(|d| self.is_live(d))
            .filter(|(k, _)| {
                !self
                    .ladder
                    .contains(&(k.transcoder.clone(), k.rendition.clone()))
            })
            .cloned()
            .collect()
    }

    fn misses(&self) -> Vec<DrainId> {
        self.expected()
            .into_iter()
            .filter(|d| !self.open.contains(d) && !self.failed_start.contains(d))
            .collect()
    }
}

/// Replays the trace and calls `judge` at the end of every simulated
/// instant; the first `Some(detail)` fails the check there.
fn at_every_instant(v: &RunView<'_>, mut judge: impl FnMut(&Replay) -> Option<String>) -> Verdict {
    let mut r = Replay::default();
    let entries = &v.trace.entries;
    for (i, e) in entries.iter().enumerate() {
        r.observe(e);
        let boundary = entries.get(i + 1).is_none_or(|n| n.at > e.at);
        if boundary {
            if let Some(detail) = judge(&r) {
                return Verdict::fail(e.at, detail);
            }
        }
    }
    Verdict::Pass
}

fn no_leaked_drain(v: &RunView<'_>) -> Verdict {
    at_every_instant(v, |r| {
        let leaks = r.leaks();
        (!leaks.is_empty()).then(|| {
            let ladder: Vec<String> = r.ladder.iter().map(|(t, x)| format!("{t}/{x}")).collect();
            format!(
                "drain {} runs for a rendition not in the ladder [{}]: nothing will ever abort it",
                leaks.iter().map(show).collect::<Vec<_>>().join(", "),
                ladder.join(",")
            )
        })
    })
}

fn no_missed_drain(v: &RunView<'_>) -> Verdict {
    at_every_instant(v, |r| {
        let misses = r.misses();
        let first = misses.first()?;
        let republished = r
            .first_gen
            .get(&first.0.broadcast)
            .is_some_and(|g| *g < first.1);
        Some(format!(
            "live track {}/{} gen={}{} has no drain for {}/{} (missing: {})",
            first.0.broadcast,
            first.0.track,
            first.1,
            if republished { " (re-published)" } else { "" },
            first.0.transcoder,
            first.0.rendition,
            misses.iter().map(show).collect::<Vec<_>>().join(", ")
        ))
    })
}

fn panics_isolated(v: &RunView<'_>) -> Verdict {
    let mut injected: Vec<(String, String, String, Phase, Duration)> = Vec::new();
    let mut caught = 0u64;
    let mut r = Replay::default();
    let entries = &v.trace.entries;
    for (i, e) in entries.iter().enumerate() {
        r.observe(e);
        if let Some(TranscodePeerEvent::PanicInjected {
            rendition,
            broadcast,
            track,
            phase,
        }) = e.peer::<TranscodePeerEvent>()
        {
            injected.push((
                rendition.clone(),
                broadcast.clone(),
                track.clone(),
                *phase,
                e.at,
            ));
        }
        match e.event::<TranscodeEvent>() {
            Some(TranscodeEvent::DrainDied {
                key,
                generation,
                panic,
            }) => {
                let effect = if r.live.get(&(key.broadcast.clone(), key.track.clone()))
                    == Some(generation)
                {
                    "the rendition stopped while the broadcast is live"
                } else {
                    "its end was never reported"
                };
                return Verdict::fail(
                    e.at,
                    format!("a transcoder panic ({panic}) unwound out of drain {key} gen={generation} and killed it, uncounted: {effect}"),
                );
            }
            Some(TranscodeEvent::TranscoderPanicked { key, phase, .. }) => {
                caught += 1;
                if let Some(i) = injected.iter().position(|(r, b, t, p, _)| {
                    *r == key.rendition && *b == key.broadcast && *t == key.track && p == phase
                }) {
                    injected.remove(i);
                }
            }
            _ => {}
        }
        let boundary = entries.get(i + 1).is_none_or(|n| n.at > e.at);
        if boundary {
            if let Some((r, b, t, p, _)) = injected.first() {
                return Verdict::fail(
                    e.at,
                    format!(
                        "the panic injected in {r} on {b}/{t} ({p}) was not caught and counted"
                    ),
                );
            }
        }
    }
    if let Some(counted) = v.facts.count("transcode.panics") {
        if counted != caught {
            return Verdict::fail(
                v.end,
                format!("the runner counted {counted} panics, the trace shows {caught} caught"),
            );
        }
    }
    Verdict::Pass
}

fn fragment_accounting(v: &RunView<'_>) -> Verdict {
    let mut r = Replay::default();
    for e in &v.trace.entries {
        r.observe(e);
        if let Some(TranscodeEvent::DrainEnded {
            key,
            generation,
            reason: EndReason::Closed,
            seen,
            lagged,
            emitted,
        }) = e.event::<TranscodeEvent>()
        {
            if seen + lagged != *emitted {
                return Verdict::fail(
                    e.at,
                    format!("drain {key} gen={generation}: seen {seen} + lagged {lagged} != emitted {emitted}"),
                );
            }
            let id = (key.clone(), *generation);
            if r.from_creation.contains(&id) {
                if let Some(n) = r.sessions.get(&(key.broadcast.clone(), *generation)) {
                    if emitted != n {
                        return Verdict::fail(
                            e.at,
                            format!("drain {key} gen={generation} subscribed at creation but was emitted {emitted} of the session's {n} fragments"),
                        );
                    }
                }
            }
        }
        if let Some(TranscodePeerEvent::ViewerEnd {
            broadcast,
            generation,
            seen,
            lagged,
            emitted,
            in_order,
        }) = e.peer::<TranscodePeerEvent>()
        {
            let session = r.sessions.get(&(broadcast.clone(), *generation));
            if seen + lagged != *emitted || session.is_some_and(|n| n != emitted) {
                return Verdict::fail(
                    e.at,
                    format!("viewer of {broadcast} gen={generation}: seen {seen} + lagged {lagged}, emitted {emitted}, session {session:?}"),
                );
            }
            if !in_order {
                return Verdict::fail(
                    e.at,
                    format!("viewer of {broadcast} gen={generation} saw fragments out of order"),
                );
            }
        }
    }
    Verdict::Pass
}

fn fast_subscribers_never_lag(v: &RunView<'_>) -> Verdict {
    for e in &v.trace.entries {
        if let Some(TranscodeEvent::DrainEnded {
            key,
            generation,
            lagged,
            ..
        }) = e.event::<TranscodeEvent>()
        {
            if *lagged > 0 && key.transcoder != "slow" {
                return Verdict::fail(
                    e.at,
                    format!("drain {key} gen={generation} lagged {lagged} fragments behind a ring a slow sibling shares"),
                );
            }
        }
        if let Some(TranscodePeerEvent::ViewerEnd {
            broadcast,
            generation,
            lagged,
            ..
        }) = e.peer::<TranscodePeerEvent>()
        {
            if *lagged > 0 {
                return Verdict::fail(
                    e.at,
                    format!("viewer of {broadcast} gen={generation} lagged {lagged} fragments"),
                );
            }
        }
    }
    Verdict::Pass
}

fn drains_start_with_init(v: &RunView<'_>) -> Verdict {
    for e in &v.trace.entries {
        if let Some(TranscodeEvent::DrainStarted {
            key,
            generation,
            init_segment: false,
        }) = e.event::<TranscodeEvent>()
        {
            return Verdict::fail(
                e.at,
                format!("drain {key} gen={generation} started without the init segment ingest set after the entry's callbacks"),
            );
        }
    }
    Verdict::Pass
}

fn drains_match_ladder(v: &RunView<'_>) -> Verdict {
    let mut r = Replay::default();
    for e in &v.trace.entries {
        r.observe(e);
    }
    // The premise: every publisher the world wants live is live.
    for (k, wanted) in v.facts.iter() {
        if let Some(host) = k.strip_suffix(".wanted") {
            let broadcast = v.facts.text(&format!("{host}.broadcast")).map_or_else(
                || format!("live/{}", host.trim_start_matches("obs-")),
                str::to_string,
            );
            if *wanted == Fact::Flag(true)
                && !r
                    .live
                    .contains_key(&(broadcast.clone(), VIDEO_TRACK.into()))
            {
                return Verdict::fail(
                    v.end,
                    format!(
                        "{broadcast} is not live {:?} after the heal",
                        v.end - v.heal_at
                    ),
                );
            }
        }
    }
    let draining: Vec<String> = r.open.iter().filter(|d| !r.is_live(d)).map(show).collect();
    if !draining.is_empty() {
        return Verdict::fail(
            v.end,
            format!(
                "drains of unpublished tracks never ended: {}",
                draining.join(", ")
            ),
        );
    }
    let expected: BTreeSet<DrainId> = r
        .expected()
        .into_iter()
        .filter(|d| !r.failed_start.contains(d))
        .collect();
    if r.open != expected {
        let leaked: Vec<String> = r.open.difference(&expected).map(show).collect();
        let missed: Vec<String> = expected.difference(&r.open).map(show).collect();
        return Verdict::fail(
            v.end,
            format!(
                "drains != live tracks x ladder: leaked [{}], missed [{}]",
                leaked.join(", "),
                missed.join(", ")
            ),
        );
    }
    if let Some(running) = v.facts.list("transcode.running") {
        let table: BTreeSet<&str> = running.iter().map(String::as_str).collect();
        let keys: Vec<String> = r.open.iter().map(|(k, _)| k.to_string()).collect();
        let traced: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
        if table != traced {
            return Verdict::fail(
                v.end,
                format!(
                    "the runner's task table runs [{}], the trace says [{}]",
                    running.join(","),
                    keys.join(",")
                ),
            );
        }
    }
    Verdict::Pass
}

fn removal_lands_mid_callback(v: &RunView<'_>) -> Verdict {
    let mut r = Replay::default();
    for e in &v.trace.entries {
        r.observe(e);
        if let Some(TranscodePeerEvent::AdminApplied {
            op: "remove",
            during: Some(_),
            ..
        }) = e.peer::<TranscodePeerEvent>()
        {
            if !r.creating.is_empty() {
                return Verdict::Hit;
            }
        }
    }
    Verdict::Miss
}

fn republished_broadcast_transcoded(v: &RunView<'_>) -> Verdict {
    let mut r = Replay::default();
    for e in &v.trace.entries {
        r.observe(e);
        if let Some(TranscodeEvent::DrainSpawned { key, generation }) = e.event::<TranscodeEvent>()
        {
            if r.first_gen
                .get(&key.broadcast)
                .is_some_and(|g| g < generation)
            {
                return Verdict::Hit;
            }
        }
    }
    Verdict::Miss
}

fn transcoder_panic_caught(v: &RunView<'_>) -> Verdict {
    Verdict::reached(v.trace.entries.iter().any(|e| {
        matches!(
            e.event::<TranscodeEvent>(),
            Some(TranscodeEvent::TranscoderPanicked {
                phase: Phase::Fragment,
                ..
            })
        )
    }))
}

fn slow_transcoder_lags(v: &RunView<'_>) -> Verdict {
    Verdict::reached(v.trace.entries.iter().any(|e| {
        matches!(e.event::<TranscodeEvent>(), Some(TranscodeEvent::DrainEnded { key, lagged, .. }) if key.transcoder == "slow" && *lagged > 0)
    }))
}

pub const NO_LEAKED_DRAIN: Check = Check {
    name: "no-leaked-drain",
    kind: CheckKind::Always,
    about: "no drain runs on a live track for a rendition that is not in the ladder",
    eval: no_leaked_drain,
};
pub const NO_MISSED_DRAIN: Check = Check {
    name: "no-missed-drain",
    kind: CheckKind::Always,
    about: "every live video track, first published or re-published, has a drain per ladder rendition (or a counted start panic)",
    eval: no_missed_drain,
};
pub const PANICS_ISOLATED: Check = Check {
    name: "panics-isolated",
    kind: CheckKind::Always,
    about: "every injected transcoder panic is caught and counted; no drain dies of one",
    eval: panics_isolated,
};
pub const FRAGMENT_ACCOUNTING: Check = Check {
    name: "fragment-accounting",
    kind: CheckKind::Always,
    about: "per drain and viewer, seen + lagged = emitted since subscribe (= the session's fragments from creation); viewers in order",
    eval: fragment_accounting,
};
pub const FAST_SUBSCRIBERS_NEVER_LAG: Check = Check {
    name: "fast-subscribers-never-lag",
    kind: CheckKind::Always,
    about: "only the slow transcoder lags: passthrough drains and downstream viewers never skip",
    eval: fast_subscribers_never_lag,
};
pub const DRAINS_START_WITH_INIT: Check = Check {
    name: "drains-start-with-init",
    kind: CheckKind::Always,
    about: "every transcoder starts with the init segment ingest set after the entry's callbacks",
    eval: drains_start_with_init,
};
pub const DRAINS_MATCH_LADDER: Check = Check {
    name: "drains-match-ladder",
    kind: CheckKind::Eventually,
    about: "after quiescence the running drains, in the trace and in the runner's table, are exactly live tracks x ladder",
    eval: drains_match_ladder,
};
pub const REMOVAL_LANDS_MID_CALLBACK: Check = Check {
    name: "removal-lands-mid-callback",
    kind: CheckKind::Sometimes,
    about: "a rendition removal lands inside an entry-created callback, between its snapshot and its spawns",
    eval: removal_lands_mid_callback,
};
pub const REPUBLISHED_BROADCAST_TRANSCODED: Check = Check {
    name: "republished-broadcast-transcoded",
    kind: CheckKind::Sometimes,
    about: "a re-published broadcast (a fresh registry entry) gets its drains",
    eval: republished_broadcast_transcoded,
};
pub const TRANSCODER_PANIC_CAUGHT: Check = Check {
    name: "transcoder-panic-caught",
    kind: CheckKind::Sometimes,
    about: "a transcoder panics in on_fragment and its drain goes on",
    eval: transcoder_panic_caught,
};
pub const SLOW_TRANSCODER_LAGS: Check = Check {
    name: "slow-transcoder-lags",
    kind: CheckKind::Sometimes,
    about: "the slow transcoder's drain falls a ring behind and skips fragments",
    eval: slow_transcoder_lags,
};

#[cfg(test)]
mod tests {
    use super::*;
    use relaysim_harness::trace::EntryKind;

    fn at(ms: u64, ev: TranscodeEvent) -> Entry {
        Entry {
            at: Duration::from_millis(ms),
            host: "transcode",
            kind: EntryKind::Core(ev.into()),
        }
    }

    /// Seed 0xace of a 3,000-seed sweep: 480p's drain panicked in
    /// `on_start`, 480p was removed and added back, and the runner spawned
    /// the same key on the same entry again. The re-spawn is a fresh drain
    /// the check must expect, not one excused by the old panic.
    #[test]
    fn a_respawned_drain_is_no_longer_excused_by_its_start_panic() {
        let key = StatsKey::new("passthrough", "480p", "live/b", VIDEO_TRACK);
        let ended = |ms| {
            at(
                ms,
                TranscodeEvent::DrainEnded {
                    key: key.clone(),
                    generation: 7,
                    reason: EndReason::StartPanic,
                    seen: 0,
                    lagged: 0,
                    emitted: 0,
                },
            )
        };
        let spawned = |ms| {
            at(
                ms,
                TranscodeEvent::DrainSpawned {
                    key: key.clone(),
                    generation: 7,
                },
            )
        };
        let mut r = Replay::default();
        for e in [spawned(4_200), ended(4_200), spawned(14_882)] {
            r.observe(&e);
        }
        let id = (key.clone(), 7);
        assert!(r.open.contains(&id));
        assert!(!r.failed_start.contains(&id));
    }
}
