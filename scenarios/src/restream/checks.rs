//! The restream checks: independent oracles over the trace and final facts.
//!
//! Each check re-derives what it needs from the trace (publish sessions from
//! `publish.begin`/`ingest.dead`, epochs from `override.invalidated`, IVS
//! allocations from the `twitch-api` peer), never from the relay's own
//! bookkeeping, so a bug in the relay cannot hide itself.

use relaysim_core::restream::twitch::TwitchTimeouts;
use relaysim_core::restream::{FetchResult, RestartReason, RestreamEvent};
use relaysim_harness::check::{Check, CheckKind, RunView, Verdict};
use relaysim_harness::trace::Entry;
use std::collections::BTreeMap;
use std::time::Duration;

use super::peers::ingest_sink::{FirstFrame, SinkEvent};
use super::peers::twitch_api::TwitchEvent;
use super::world::{KICK_INGEST, TWITCH_INGEST, YOUTUBE_INGEST};
use relaysim_core::restream::SUPERVISOR_TICK;

/// After the later of the heal and the last publish, the override must be
/// applied and streamed to within this bound: a fetch in flight at the heal
/// times out by 12 s, the next tick adds 2 s, a healthy fetch 0.2 s, the
/// pump restart another tick.
pub const LIVENESS_BOUND: Duration = Duration::from_secs(20);
/// After the heal, no platform ingest may go this long without a frame
/// (10 fps publisher; a dead pump is restarted within one 2 s tick).
pub const FRAME_GAP_MAX: Duration = Duration::from_secs(5);
/// How long a replaced stream's frames may still land at a platform ingest
/// after its successor's first frame: frames already on the wire when the
/// old pump stopped (links are at most 5 ms; twenty times that).
pub const SUPERSEDED_GRACE: Duration = Duration::from_millis(100);
/// URL-changed restarts of the Twitch pump allowed per publish session:
/// back to the configured URL on reconnect, then to the IVS URL.
pub const RESTARTS_PER_PUBLISH_MAX: usize = 2;

/// Publish-session bookkeeping as the trace tells it.
#[derive(Default)]
struct Sessions {
    /// The latest token that began, and whether it is still live.
    token: u64,
    live: bool,
    /// dest → current epoch.
    epochs: BTreeMap<String, u64>,
}

impl Sessions {
    fn observe(&mut self, e: &Entry) {
        match e.event::<RestreamEvent>() {
            Some(RestreamEvent::PublishBegin { token }) => {
                self.token = *token;
                self.live = true;
            }
            Some(RestreamEvent::IngestDead { .. }) => self.live = false,
            Some(RestreamEvent::OverrideInvalidated { dest, epoch }) => {
                self.epochs.insert(dest.clone(), *epoch);
            }
            _ => {}
        }
    }

    fn epoch(&self, dest: &str) -> u64 {
        self.epochs.get(dest).copied().unwrap_or(0)
    }
}

fn vod_single_flight(v: &RunView<'_>) -> Verdict {
    let mut in_flight: BTreeMap<&str, u32> = BTreeMap::new();
    for e in &v.trace.entries {
        match e.event::<RestreamEvent>() {
            Some(RestreamEvent::VodFetchStart { dest, .. }) => {
                let n = in_flight.entry(dest).or_default();
                *n += 1;
                if *n > 1 {
                    return Verdict::fail(
                        e.at,
                        format!("dest={dest} has {n} VOD fetches in flight"),
                    );
                }
            }
            Some(RestreamEvent::VodFetchDone { dest, .. }) => {
                let n = in_flight.entry(dest).or_default();
                *n = n.saturating_sub(1);
            }
            _ => {}
        }
    }
    Verdict::Pass
}

fn one_ivs_session_per_publish(v: &RunView<'_>) -> Verdict {
    let mut delivered: BTreeMap<(&str, u64), Vec<&str>> = BTreeMap::new();
    for e in &v.trace.entries {
        if let Some(RestreamEvent::VodFetchDone {
            dest,
            epoch,
            result: FetchResult::Session(url),
        }) = e.event::<RestreamEvent>()
        {
            let urls = delivered.entry((dest, *epoch)).or_default();
            urls.push(url);
            if urls.len() > 1 {
                return Verdict::fail(
                    e.at,
                    format!(
                        "dest={dest} received {} IVS sessions in publish epoch {epoch}: {}",
                        urls.len(),
                        urls.join(", ")
                    ),
                );
            }
        }
    }
    Verdict::Pass
}

/// The `ivs-N` session named by a URL, if any.
fn ivs_session(url: &str) -> Option<u64> {
    url.split('/')
        .find_map(|seg| seg.strip_prefix("ivs-")?.parse().ok())
}

fn no_stale_override(v: &RunView<'_>) -> Verdict {
    let mut s = Sessions::default();
    // IVS session → (token live at allocation, whether a publisher was live).
    let mut allocated: BTreeMap<u64, (u64, bool)> = BTreeMap::new();
    for e in &v.trace.entries {
        s.observe(e);
        if let Some(RestreamEvent::VodFetchApplied { dest, epoch, url }) =
            e.event::<RestreamEvent>()
        {
            let current = s.epoch(dest);
            if *epoch != current {
                return Verdict::fail(
                    e.at,
                    format!("dest={dest} applied {url} fetched in epoch {epoch}, but the current epoch is {current}"),
                );
            }
        }
        if let Some(TwitchEvent::Alloc { session }) = e.peer() {
            allocated.insert(*session, (s.token, s.live));
        }
        match e.peer() {
            Some(SinkEvent::Open { url }) if e.host == TWITCH_INGEST => {
                if let Some(n) = ivs_session(url) {
                    match allocated.get(&n) {
                        Some((token, true)) if *token == s.token => {}
                        Some((token, live)) => {
                            return Verdict::fail(
                                e.at,
                                format!(
                                    "publish session {} streamed to ivs-{n}, allocated {} publish session {token}",
                                    s.token,
                                    if *live { "during" } else { "after the end of" }
                                ),
                            )
                        }
                        None => return Verdict::fail(e.at, format!("streamed to ivs-{n}, which Twitch never allocated")),
                    }
                }
            }
            _ => {}
        }
    }
    Verdict::Pass
}

fn vod_override_eventually(v: &RunView<'_>) -> Verdict {
    let mut s = Sessions::default();
    let mut last_begin = Duration::ZERO;
    let mut applied: Option<(Duration, String, u64)> = None;
    let mut streamed: Option<Duration> = None;
    for e in &v.trace.entries {
        s.observe(e);
        match e.event::<RestreamEvent>() {
            Some(RestreamEvent::PublishBegin { .. }) => {
                last_begin = e.at;
                applied = None;
                streamed = None;
            }
            Some(RestreamEvent::OverrideInvalidated { dest, .. }) if dest == "twitch" => {
                applied = None;
                streamed = None;
            }
            Some(RestreamEvent::VodFetchApplied { dest, epoch, url }) if dest == "twitch" => {
                applied = Some((e.at, url.clone(), *epoch));
                streamed = None;
            }
            _ => {}
        }
        if let (Some(SinkEvent::Open { url }), Some((_, applied_url, _))) = (e.peer(), &applied) {
            if e.host == TWITCH_INGEST && url == applied_url && streamed.is_none() {
                streamed = Some(e.at);
            }
        }
    }
    let ready = v.heal_at.max(last_begin);
    let deadline = ready + LIVENESS_BOUND;
    if v.end < deadline {
        // The run ended too early to judge; scenarios size runs so this
        // does not happen.
        return Verdict::fail(
            v.end,
            format!(
                "run ended at {:?}, before the liveness deadline {deadline:?}",
                v.end
            ),
        );
    }
    if !s.live {
        return Verdict::fail(
            v.end,
            "the publisher is not live at the end of the liveness phase",
        );
    }
    match (applied, streamed) {
        (None, _) => Verdict::fail(
            deadline,
            format!(
                "no VOD session applied to dest=twitch within {}s of {:.3}s (latch held at end: {})",
                LIVENESS_BOUND.as_secs(),
                ready.as_secs_f64(),
                v.facts.show("relay.twitch.latch")
            ),
        ),
        (Some((at, url, _)), _) if at > deadline => {
            Verdict::fail(deadline, format!("dest=twitch got {url} only at {:.3}s", at.as_secs_f64()))
        }
        (Some((_, url, _)), None) => Verdict::fail(deadline, format!("{url} was applied but never streamed to")),
        (Some((_, url, _)), Some(t)) if t > deadline => {
            Verdict::fail(deadline, format!("{url} streamed to only at {:.3}s", t.as_secs_f64()))
        }
        _ => Verdict::Pass,
    }
}

fn frames_flow_after_heal(v: &RunView<'_>) -> Verdict {
    let since = v.end.saturating_sub(FRAME_GAP_MAX);
    for sink in [TWITCH_INGEST, YOUTUBE_INGEST, KICK_INGEST] {
        let last = v
            .facts
            .count(&format!("{sink}.last_frame_ms"))
            .map(Duration::from_millis);
        match last {
            Some(t) if t >= since => {}
            Some(t) => {
                return Verdict::fail(
                    v.end,
                    format!(
                        "{sink} has received no frame since {:.3}s (the run ended at {:.3}s)",
                        t.as_secs_f64(),
                        v.end.as_secs_f64()
                    ),
                )
            }
            None => return Verdict::fail(v.end, format!("{sink} never received a frame")),
        }
    }
    Verdict::Pass
}

/// A sink's `frame_spans` fact: per stream in arrival order, its first and
/// last frame times (`None` for a stream that carried no frame).
fn frame_spans(v: &RunView<'_>, sink: &str) -> Vec<Option<(Duration, Duration)>> {
    let ms = |t: &str| t.parse::<u64>().ok().map(Duration::from_millis);
    v.facts
        .list(&format!("{sink}.frame_spans"))
        .unwrap_or_default()
        .iter()
        .map(|span| {
            let (a, b) = span.split_once('-')?;
            Some((ms(a)?, ms(b)?))
        })
        .collect()
}

/// One destination is one platform ingest: the relay streams to it over
/// one session at a time, and a session it replaced (URL change, stalled or
/// dead pump, new publish session) stops for good. Judged from the sink's
/// own clock: no earlier stream's frame lands later than
/// [`SUPERSEDED_GRACE`] after a later stream's first frame.
fn one_live_stream_per_destination(v: &RunView<'_>) -> Verdict {
    for sink in [TWITCH_INGEST, YOUTUBE_INGEST, KICK_INGEST] {
        let spans = frame_spans(v, sink);
        for (j, later) in spans.iter().enumerate() {
            let Some((started, _)) = later else { continue };
            for (i, earlier) in spans[..j].iter().enumerate() {
                let Some((_, last)) = earlier else { continue };
                if *last > *started + SUPERSEDED_GRACE {
                    return Verdict::fail(
                        *started + SUPERSEDED_GRACE,
                        format!(
                            "{sink}: stream #{i} still received frames until {:.3}s, after stream #{j} replaced it at {:.3}s",
                            last.as_secs_f64(),
                            started.as_secs_f64()
                        ),
                    );
                }
            }
        }
    }
    Verdict::Pass
}

fn egress_restarts_bounded(v: &RunView<'_>) -> Verdict {
    let mut s = Sessions::default();
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for e in &v.trace.entries {
        s.observe(e);
        if let Some(RestreamEvent::EgressStart {
            dest,
            reason: RestartReason::UrlChanged,
            url,
        }) = e.event::<RestreamEvent>()
        {
            if dest == "twitch" {
                let n = counts.entry(s.token).or_default();
                *n += 1;
                if *n > RESTARTS_PER_PUBLISH_MAX {
                    return Verdict::fail(
                        e.at,
                        format!(
                            "dest=twitch restarted {n} times for a URL change in publish session {} (max {RESTARTS_PER_PUBLISH_MAX}), now to {url}",
                            s.token
                        ),
                    );
                }
            }
        }
    }
    Verdict::Pass
}

fn vod_path_spares_others(v: &RunView<'_>) -> Verdict {
    for e in &v.trace.entries {
        let touched = match e.event::<RestreamEvent>() {
            Some(RestreamEvent::EgressStart {
                dest,
                reason: RestartReason::UrlChanged,
                ..
            }) => Some(dest),
            Some(
                RestreamEvent::VodFetchStart { dest, .. }
                | RestreamEvent::VodFetchDone { dest, .. }
                | RestreamEvent::VodFetchApplied { dest, .. },
            ) => Some(dest),
            _ => None,
        };
        if let Some(dest) = touched {
            if dest != "twitch" {
                return Verdict::fail(
                    e.at,
                    format!("the VOD path touched dest={dest}: {}", e.kind),
                );
            }
        }
    }
    Verdict::Pass
}

fn fetch_outlives_tick(v: &RunView<'_>) -> Verdict {
    let mut started: Option<Duration> = None;
    for e in &v.trace.entries {
        match e.event::<RestreamEvent>() {
            Some(RestreamEvent::VodFetchStart { .. }) => started = started.or(Some(e.at)),
            Some(RestreamEvent::VodFetchDone { .. }) => {
                if started.is_some_and(|t| e.at >= t + SUPERVISOR_TICK) {
                    return Verdict::Hit;
                }
                started = None;
            }
            _ => {}
        }
    }
    Verdict::Miss
}

fn fetch_completes_after_disconnect(v: &RunView<'_>) -> Verdict {
    let mut s = Sessions::default();
    for e in &v.trace.entries {
        s.observe(e);
        if let Some(RestreamEvent::VodFetchDone { dest, epoch, .. }) = e.event::<RestreamEvent>() {
            if *epoch < s.epoch(dest) {
                return Verdict::Hit;
            }
        }
    }
    Verdict::Miss
}

fn reconnect_while_latch_held(v: &RunView<'_>) -> Verdict {
    let mut in_flight = 0u32;
    for e in &v.trace.entries {
        match e.event::<RestreamEvent>() {
            Some(RestreamEvent::VodFetchStart { .. }) => in_flight += 1,
            Some(RestreamEvent::VodFetchDone { .. }) => in_flight = in_flight.saturating_sub(1),
            Some(RestreamEvent::PublishBegin { token }) if *token > 1 && in_flight > 0 => {
                return Verdict::Hit
            }
            _ => {}
        }
    }
    Verdict::Miss
}

fn twitch_recovers_after_failure(v: &RunView<'_>) -> Verdict {
    let mut failed = false;
    for e in &v.trace.entries {
        match e.event::<RestreamEvent>() {
            Some(RestreamEvent::VodFetchFailed { .. }) => failed = true,
            Some(RestreamEvent::VodFetchApplied { .. }) if failed => return Verdict::Hit,
            _ => {}
        }
    }
    Verdict::Miss
}

fn egress_starts_decodable(v: &RunView<'_>) -> Verdict {
    for e in &v.trace.entries {
        if let Some(SinkEvent::Start {
            url,
            metadata,
            avc,
            aac,
            first,
        }) = e.peer()
        {
            let mut missing = Vec::new();
            for (had, what) in [
                (metadata, "metadata"),
                (avc, "AVC sequence header"),
                (aac, "AAC sequence header"),
            ] {
                if !had {
                    missing.push(what);
                }
            }
            if !missing.is_empty() || *first != FirstFrame::Keyframe {
                return Verdict::fail(
                    e.at,
                    format!(
                        "{} session {url} began with a{} {first} frame{}",
                        e.host,
                        if *first == FirstFrame::Audio || *first == FirstFrame::Inter {
                            "n"
                        } else {
                            ""
                        },
                        if missing.is_empty() {
                            String::new()
                        } else {
                            format!(", without {}", missing.join(", "))
                        }
                    ),
                );
            }
        }
    }
    Verdict::Pass
}

/// Slack on a bounded wait judged from the trace: two 50 ms steps.
pub const DEADLINE_SLACK: Duration = Duration::from_millis(100);

/// The Twitch client's contract (`relaysim_core::restream::twitch`): every
/// VOD fetch ends within its total bound (12 s), and within its connect
/// bound (6 s) when the API never accepted a connection for it. Whether it
/// did is the API's word (`twitch.accept`), not the relay's, so the check
/// belongs only to worlds whose API records its accepts (`vod-phases`;
/// elsewhere every fetch would look unaccepted). Fetches pair with their
/// `vod.fetch.done` in order.
fn twitch_fetch_bounded(v: &RunView<'_>) -> Verdict {
    let bounds = TwitchTimeouts::default();
    // In flight, oldest first: (started, accepted by the API).
    let mut open: Vec<(Duration, bool)> = Vec::new();
    let overdue = |open: &[(Duration, bool)], now: Duration| {
        open.iter().find_map(|&(start, accepted)| {
            let (bound, what) = if accepted {
                (bounds.total, "total")
            } else {
                (bounds.connect, "connect")
            };
            let limit = start + bound + DEADLINE_SLACK;
            (now > limit).then(|| {
                Verdict::fail(
                    limit,
                    format!(
                        "the VOD fetch started at {:.3}s{} was still running at {:.3}s, past its {} s {what} bound",
                        start.as_secs_f64(),
                        if accepted { "" } else { " (the API accepted no connection for it)" },
                        limit.as_secs_f64(),
                        bound.as_secs(),
                    ),
                )
            })
        })
    };
    for e in &v.trace.entries {
        if let Some(fail) = overdue(&open, e.at) {
            return fail;
        }
        match e.event::<RestreamEvent>() {
            Some(RestreamEvent::VodFetchStart { .. }) => open.push((e.at, false)),
            Some(RestreamEvent::VodFetchDone { .. }) if !open.is_empty() => {
                open.remove(0);
            }
            _ => {}
        }
        if let Some(TwitchEvent::Accept { .. }) = e.peer() {
            if let Some(f) = open.iter_mut().find(|f| !f.1) {
                f.1 = true;
            }
        }
    }
    overdue(&open, v.end).unwrap_or(Verdict::Pass)
}

pub const TWITCH_FETCH_BOUNDED: Check = Check {
    name: "twitch-fetch-bounded",
    kind: CheckKind::Always,
    about: "a VOD fetch ends within 12 s, and within 6 s if the Twitch API never accepted its connection",
    eval: twitch_fetch_bounded,
};
pub const EGRESS_STARTS_DECODABLE: Check = Check {
    name: "egress-starts-decodable",
    kind: CheckKind::Always,
    about: "every destination session starts with metadata, the AVC and AAC sequence headers, then a keyframe; no frame before them",
    eval: egress_starts_decodable,
};
pub const VOD_SINGLE_FLIGHT: Check = Check {
    name: "vod-single-flight",
    kind: CheckKind::Always,
    about: "at most one VOD fetch in flight per destination",
    eval: vod_single_flight,
};
pub const ONE_IVS_SESSION_PER_PUBLISH: Check = Check {
    name: "one-ivs-session-per-publish",
    kind: CheckKind::Always,
    about: "at most one IVS session delivered to the relay per destination and publish session",
    eval: one_ivs_session_per_publish,
};
pub const NO_STALE_OVERRIDE: Check = Check {
    name: "no-stale-override",
    kind: CheckKind::Always,
    about: "an override from an earlier publish session is never applied nor streamed to",
    eval: no_stale_override,
};
pub const VOD_OVERRIDE_EVENTUALLY: Check = Check {
    name: "vod-override-eventually",
    kind: CheckKind::Eventually,
    about: "after Twitch heals, a VOD session is applied and streamed to within 20 s",
    eval: vod_override_eventually,
};
pub const FRAMES_FLOW_AFTER_HEAL: Check = Check {
    name: "frames-flow-after-heal",
    kind: CheckKind::Eventually,
    about: "after the heal every platform ingest keeps receiving frames (no silently stalled pump)",
    eval: frames_flow_after_heal,
};
pub const ONE_LIVE_STREAM_PER_DESTINATION: Check = Check {
    name: "one-live-stream-per-destination",
    kind: CheckKind::Always,
    about: "each platform ingest receives one stream at a time; a stream the relay replaced never delivers again",
    eval: one_live_stream_per_destination,
};
pub const EGRESS_RESTARTS_BOUNDED: Check = Check {
    name: "egress-restarts-bounded",
    kind: CheckKind::Always,
    about: "at most two URL-change restarts of the Twitch pump per publish session",
    eval: egress_restarts_bounded,
};
pub const VOD_PATH_SPARES_OTHERS: Check = Check {
    name: "vod-path-spares-others",
    kind: CheckKind::Always,
    about: "non-Twitch destinations are never fetched for nor restarted by the VOD path",
    eval: vod_path_spares_others,
};
pub const FETCH_OUTLIVES_TICK: Check = Check {
    name: "fetch-outlives-tick",
    kind: CheckKind::Sometimes,
    about: "a VOD fetch takes longer than the 2 s supervisor tick",
    eval: fetch_outlives_tick,
};
pub const FETCH_COMPLETES_AFTER_DISCONNECT: Check = Check {
    name: "fetch-completes-after-disconnect",
    kind: CheckKind::Sometimes,
    about: "a VOD fetch returns after its publish session ended",
    eval: fetch_completes_after_disconnect,
};
pub const RECONNECT_WHILE_LATCH_HELD: Check = Check {
    name: "reconnect-while-latch-held",
    kind: CheckKind::Sometimes,
    about: "the publisher reconnects while a VOD fetch still holds the latch",
    eval: reconnect_while_latch_held,
};
pub const TWITCH_RECOVERS_AFTER_FAILURE: Check = Check {
    name: "twitch-recovers-after-failure",
    kind: CheckKind::Sometimes,
    about: "a VOD fetch fails and a later one is applied",
    eval: twitch_recovers_after_failure,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_stream_that_keeps_delivering_fails_and_in_flight_frames_do_not() {
        use relaysim_harness::check::Facts;
        use relaysim_harness::trace::Trace;
        let judge = |spans: &[&str]| {
            let mut facts = Facts::new();
            let spans: Vec<String> = spans.iter().map(|s| s.to_string()).collect();
            facts.set(format!("{TWITCH_INGEST}.frame_spans"), spans);
            one_live_stream_per_destination(&RunView {
                trace: &Trace::default(),
                facts: &facts,
                heal_at: Duration::from_secs(40),
                end: Duration::from_secs(60),
            })
        };
        // Back to back, a frame in flight 100 ms after the successor's first,
        // a stream with no frame: all one stream at a time.
        assert_eq!(
            judge(&["1000-5000", "-", "5100-9000", "9050-12000"]),
            Verdict::Pass
        );
        // The first stream still delivering 3 s after its successor began.
        let v = judge(&["1000-9000", "6000-12000"]);
        assert!(
            matches!(&v, Verdict::Fail { at, detail } if *at == Duration::from_millis(6100)
                && detail.contains("stream #0 still received frames until 9.000s, after stream #1 replaced it at 6.000s")),
            "{v:?}"
        );
    }

    #[test]
    fn a_fetch_outliving_its_bound_fails_judged_by_the_apis_accepts() {
        use relaysim_harness::check::Facts;
        use relaysim_harness::trace::{EntryKind, Trace};
        use std::sync::Arc;
        let ms = Duration::from_millis;
        let core = |at: u64, ev: RestreamEvent| Entry {
            at: ms(at),
            host: "relay",
            kind: EntryKind::Core(ev.into()),
        };
        let start = |at| {
            core(
                at,
                RestreamEvent::VodFetchStart {
                    dest: "twitch".into(),
                    epoch: 0,
                },
            )
        };
        let done = |at| {
            core(
                at,
                RestreamEvent::VodFetchDone {
                    dest: "twitch".into(),
                    epoch: 0,
                    result: FetchResult::Timeout,
                },
            )
        };
        let accept = |at| Entry {
            at: ms(at),
            host: "twitch-api",
            kind: EntryKind::Peer(Arc::new(TwitchEvent::Accept { silent: true })),
        };
        let judge = |entries: Vec<Entry>| {
            let facts = Facts::new();
            let trace = Trace { entries };
            twitch_fetch_bounded(&RunView {
                trace: &trace,
                facts: &facts,
                heal_at: Duration::from_secs(30),
                end: Duration::from_secs(60),
            })
        };
        // Accepted: 12 s; never accepted: 6 s (each within a step).
        assert_eq!(
            judge(vec![start(2_000), accept(2_050), done(14_050)]),
            Verdict::Pass
        );
        assert_eq!(judge(vec![start(2_000), done(8_050)]), Verdict::Pass);
        let v = judge(vec![start(2_000), done(9_000)]);
        assert!(
            matches!(&v, Verdict::Fail { at, detail } if *at == ms(8_100) && detail.contains("6 s connect bound")),
            "{v:?}"
        );
        let v = judge(vec![start(2_000), accept(2_050)]);
        assert!(
            matches!(&v, Verdict::Fail { at, detail } if *at == ms(14_100) && detail.contains("12 s total bound")),
            "{v:?}"
        );
    }

    #[test]
    fn ivs_session_parsing() {
        assert_eq!(
            ivs_session("rtmp://twitch-ingest:1935/ivs-12/key"),
            Some(12)
        );
        assert_eq!(ivs_session("rtmp://twitch-ingest:1935/app/key"), None);
    }
}
