//! The phases of the restream family's connections, read from the trace,
//! and the `phase:` / `deadline:` coverage checks of `vod-phases`.
//!
//! Three kinds of connection, each on one link. Every span is derived from
//! what the peers saw (the `vod-phases` world has them record their side
//! of each connection: `obs.dial`/`obs.connected`, `sink.accept`,
//! `twitch.accept`/`twitch.request`/`twitch.close`) and from the relay's
//! trace events, never from the relay's state.
//!
//! | connection | link | connect | handshake | steady | teardown | reconnect |
//! |---|---|---|---|---|---|---|
//! | `pump` (egress pump → platform ingest) | `relay`~ingest | `egress.start` → `sink.accept` | `sink.accept` → `egress.connected` (RTMP handshake, `connect`, `publish`) | `egress.connected` → the pump's replacement | a URL-change restart of a connected pump (the supervisor cancels it) → the ingest's `sink.close` | a restarted pump's (`reason` ≠ `initial`) `egress.start` → `egress.connected` |
//! | `twitch` (VOD fetch → Twitch API) | `relay`~`twitch-api` | `vod.fetch.start` → `twitch.accept` | `twitch.accept` → `twitch.request` (the HTTP request written and read) | `twitch.request` → `vod.fetch.done` (the API's work and its answer) | `vod.fetch.done` → `twitch.close` (the client drops the connection) | — |
//! | `publisher` (OBS → relay ingest) | `obs`~`relay` | `obs.dial` → `obs.connected` | `obs.connected` → `obs.up` (RTMP handshake, `connect`, `publish`) | `obs.up` → the end of the session | the plan's disconnect of a live publisher → the relay's `ingest.dead` | a dial after an earlier `obs.up` → its `obs.up` |
//!
//! **Not applicable**: `twitch` has no reconnect phase. Every fetch is a
//! fresh HTTP exchange on a fresh connection, started by the next
//! supervisor tick after the previous fetch completed; nothing of an
//! earlier connection (no session, no resumption) carries over, so a
//! "reconnect" would be just another connect, already covered.
//!
//! A span ends where the next one of its connection begins, or where the
//! connection ends (its replacement, `egress.died`, `obs.down`, the fetch's
//! completion), or at the run's end if it never did.
//!
//! **Which faults reach a span**: the harness's fault windows
//! ([`relaysim_harness::phase::fault_windows`]), the family's own faults
//! on the link [`super::fault::Fault`]'s scope names: a silent Twitch API
//! or ingest on `relay`~that host, a silent publisher on `obs`~`relay`,
//! Twitch errors on `relay`~`twitch-api`. Publisher disconnects and
//! connects are the workload (they end publisher sessions on purpose),
//! latency changes are timings, not windows, and core fault points fail
//! one code path inside the relay, on no link: none of them counts.
//!
//! **Deadlines**: `vod-phases` reaches six of restream's eight sites. Two
//! cannot fire with the core as it is: `restream.twitch.outer` (15 s) wraps
//! `restream.twitch.total` (12 s), which always runs out first and returns,
//! so the outer bound is a guard that never fires unless the total bound
//! is lost; `restream.supervisor.shutdown-grace` bounds a removed
//! destination's pump stopping, but a pump selects on its cancellation
//! first (biased) at every await, so it always stops within the same step,
//! and no restream world removes destinations.

use super::fault::Fault;
use super::peers::ingest_sink::SinkEvent;
use super::peers::obs::ObsEvent;
use super::peers::twitch_api::TwitchEvent;
use super::world::{OBS, RELAY, TWITCH_API};
use relaysim_core::restream::{RestartReason, RestreamEvent};
use relaysim_harness::check::{Check, RunView};
use relaysim_harness::fault::Step;
use relaysim_harness::phase::{Phase, Span};
use std::collections::BTreeMap;
use std::time::Duration;

/// The host of an `rtmp://host:port/app/key` URL.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    authority.split(':').next().unwrap_or_default()
}

/// One egress pump's connection, as the trace tells it.
struct Pump {
    host: String,
    url: String,
    start: Duration,
    restarted: bool,
    accept: Option<Duration>,
    connected: Option<Duration>,
    /// Replaced (or died), and whether by a URL-change restart.
    ended: Option<(Duration, bool)>,
    closed: Option<Duration>,
}

/// Every pump connection's spans (link `relay`~its ingest).
pub fn pump_spans(v: &RunView<'_>) -> Vec<Span> {
    let mut pumps: Vec<Pump> = Vec::new();
    let mut current: BTreeMap<String, usize> = BTreeMap::new();
    for e in &v.trace.entries {
        match e.event::<RestreamEvent>() {
            Some(RestreamEvent::EgressStart { dest, url, reason }) => {
                if let Some(&i) = current.get(dest.as_str()) {
                    let p = &mut pumps[i];
                    if p.ended.is_none() {
                        p.ended = Some((e.at, *reason == RestartReason::UrlChanged));
                    }
                }
                current.insert(dest.clone(), pumps.len());
                pumps.push(Pump {
                    host: url_host(url).to_string(),
                    url: url.clone(),
                    start: e.at,
                    restarted: *reason != RestartReason::Initial,
                    accept: None,
                    connected: None,
                    ended: None,
                    closed: None,
                });
            }
            Some(RestreamEvent::EgressConnected { dest }) => {
                if let Some(&i) = current.get(dest.as_str()) {
                    pumps[i].connected.get_or_insert(e.at);
                }
            }
            Some(RestreamEvent::EgressDied { dest, .. }) => {
                if let Some(&i) = current.get(dest.as_str()) {
                    pumps[i].ended.get_or_insert((e.at, false));
                }
            }
            _ => {}
        }
        match e.peer::<SinkEvent>() {
            Some(SinkEvent::Accept { .. }) => {
                // The earliest live pump to this ingest still waiting for
                // its accept.
                if let Some(p) = pumps
                    .iter_mut()
                    .find(|p| p.host == e.host && p.accept.is_none() && p.ended.is_none())
                {
                    p.accept = Some(e.at);
                }
            }
            Some(SinkEvent::Close { url, .. }) => {
                if let Some(p) = pumps
                    .iter_mut()
                    .find(|p| p.host == e.host && &p.url == url && p.closed.is_none())
                {
                    p.closed = Some(e.at);
                }
            }
            _ => {}
        }
    }
    let end = v.end;
    let mut spans = Vec::new();
    for p in &pumps {
        let gone = p.ended.map_or(end, |(t, _)| t);
        let span = |phase, from, to: Duration| Span::new(phase, RELAY, p.host.as_str(), from, to);
        let accepted = p.accept.unwrap_or(gone).min(gone);
        spans.push(span(Phase::Connect, p.start, accepted));
        if let Some(a) = p.accept.filter(|a| *a <= gone) {
            spans.push(span(
                Phase::Handshake,
                a,
                p.connected.unwrap_or(gone).min(gone),
            ));
        }
        if p.restarted {
            spans.push(span(
                Phase::Reconnect,
                p.start,
                p.connected.unwrap_or(gone).min(gone),
            ));
        }
        if let Some(c) = p.connected {
            spans.push(span(Phase::Steady, c, gone));
            if let Some((t, true)) = p.ended {
                spans.push(span(Phase::Teardown, t, p.closed.unwrap_or(end).max(t)));
            }
        }
    }
    spans
}

/// Every VOD fetch's spans (link `relay`~`twitch-api`).
pub fn twitch_spans(v: &RunView<'_>) -> Vec<Span> {
    #[derive(Default)]
    struct Fetch {
        start: Duration,
        accept: Option<Duration>,
        request: Option<Duration>,
        done: Option<Duration>,
        close: Option<Duration>,
    }
    let mut fetches: Vec<Fetch> = Vec::new();
    for e in &v.trace.entries {
        match e.event::<RestreamEvent>() {
            Some(RestreamEvent::VodFetchStart { .. }) => fetches.push(Fetch {
                start: e.at,
                ..Fetch::default()
            }),
            Some(RestreamEvent::VodFetchDone { .. }) => {
                if let Some(f) = fetches.iter_mut().find(|f| f.done.is_none()) {
                    f.done = Some(e.at);
                }
            }
            _ => {}
        }
        match e.peer::<TwitchEvent>() {
            Some(TwitchEvent::Accept { .. }) => {
                if let Some(f) = fetches
                    .iter_mut()
                    .find(|f| f.accept.is_none() && f.done.is_none())
                {
                    f.accept = Some(e.at);
                }
            }
            Some(TwitchEvent::Request) => {
                if let Some(f) = fetches
                    .iter_mut()
                    .find(|f| f.accept.is_some() && f.request.is_none() && f.done.is_none())
                {
                    f.request = Some(e.at);
                }
            }
            Some(TwitchEvent::Close) => {
                // The latest one: a hung connection never closes.
                if let Some(f) = fetches
                    .iter_mut()
                    .rev()
                    .find(|f| f.accept.is_some() && f.close.is_none())
                {
                    f.close = Some(e.at);
                }
            }
            _ => {}
        }
    }
    let mut spans = Vec::new();
    for f in &fetches {
        let done = f.done.unwrap_or(v.end);
        let span = |phase, from, to| Span::new(phase, RELAY, TWITCH_API, from, to);
        spans.push(span(
            Phase::Connect,
            f.start,
            f.accept.unwrap_or(done).min(done),
        ));
        if let Some(a) = f.accept.filter(|a| *a <= done) {
            spans.push(span(
                Phase::Handshake,
                a,
                f.request.unwrap_or(done).min(done),
            ));
        }
        if let Some(r) = f.request.filter(|r| *r <= done) {
            spans.push(span(Phase::Steady, r, done));
        }
        if let (Some(d), Some(_)) = (f.done, f.accept) {
            // A hung connection never closes: its teardown is the instant
            // the client let go.
            spans.push(span(Phase::Teardown, d, f.close.unwrap_or(d).max(d)));
        }
    }
    spans
}

/// Every publisher connection's spans (link `obs`~`relay`).
pub fn publisher_spans(v: &RunView<'_>) -> Vec<Span> {
    #[derive(Default)]
    struct Attempt {
        dial: Duration,
        after_up: bool,
        connected: Option<Duration>,
        up: Option<Duration>,
        down: Option<Duration>,
    }
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut ever_up = false;
    // (the plan's disconnect while a publisher was up, the relay's ingest.dead)
    let mut teardowns: Vec<(Duration, Option<Duration>)> = Vec::new();
    for e in &v.trace.entries {
        match e.peer::<ObsEvent>() {
            Some(ObsEvent::Dial) => attempts.push(Attempt {
                dial: e.at,
                after_up: ever_up,
                ..Attempt::default()
            }),
            Some(ObsEvent::Connected { .. }) => {
                if let Some(a) = attempts.last_mut() {
                    a.connected.get_or_insert(e.at);
                }
            }
            Some(ObsEvent::Up { .. }) => {
                ever_up = true;
                if let Some(a) = attempts.last_mut() {
                    a.up.get_or_insert(e.at);
                }
            }
            Some(ObsEvent::Down { .. }) => {
                if let Some(a) = attempts.last_mut() {
                    a.down.get_or_insert(e.at);
                }
            }
            None => {}
        }
        if let Some(Step::App(Fault::PublisherDisconnect)) = e.fault::<Fault>() {
            let live = attempts
                .last()
                .is_some_and(|a| a.up.is_some() && a.down.is_none());
            if live {
                teardowns.push((e.at, None));
            }
        }
        if let Some(RestreamEvent::IngestDead { .. }) = e.event::<RestreamEvent>() {
            if let Some(t) = teardowns.iter_mut().find(|t| t.1.is_none()) {
                t.1 = Some(e.at);
            }
        }
    }
    let mut spans = Vec::new();
    let span = |phase, from, to| Span::new(phase, OBS, RELAY, from, to);
    for (i, a) in attempts.iter().enumerate() {
        let next = attempts.get(i + 1).map_or(v.end, |n| n.dial);
        let gone = a.down.unwrap_or(next).min(next);
        spans.push(span(
            Phase::Connect,
            a.dial,
            a.connected.unwrap_or(gone).min(gone),
        ));
        if let Some(c) = a.connected {
            spans.push(span(Phase::Handshake, c, a.up.unwrap_or(gone).min(gone)));
        }
        if a.after_up {
            spans.push(span(
                Phase::Reconnect,
                a.dial,
                a.up.unwrap_or(gone).min(gone),
            ));
        }
        if let Some(u) = a.up {
            spans.push(span(Phase::Steady, u, gone));
        }
    }
    for (from, to) in teardowns {
        spans.push(span(Phase::Teardown, from, to.unwrap_or(v.end)));
    }
    spans
}

pub const PUMP_CONNECT: Check = relaysim_harness::phase_check!("pump", "connect", pump_spans);
pub const PUMP_HANDSHAKE: Check = relaysim_harness::phase_check!("pump", "handshake", pump_spans);
pub const PUMP_STEADY: Check = relaysim_harness::phase_check!("pump", "steady", pump_spans);
pub const PUMP_TEARDOWN: Check = relaysim_harness::phase_check!("pump", "teardown", pump_spans);
pub const PUMP_RECONNECT: Check = relaysim_harness::phase_check!("pump", "reconnect", pump_spans);
pub const TWITCH_CONNECT: Check = relaysim_harness::phase_check!("twitch", "connect", twitch_spans);
pub const TWITCH_HANDSHAKE: Check =
    relaysim_harness::phase_check!("twitch", "handshake", twitch_spans);
pub const TWITCH_STEADY: Check = relaysim_harness::phase_check!("twitch", "steady", twitch_spans);
pub const TWITCH_TEARDOWN: Check =
    relaysim_harness::phase_check!("twitch", "teardown", twitch_spans);
pub const PUBLISHER_CONNECT: Check =
    relaysim_harness::phase_check!("publisher", "connect", publisher_spans);
pub const PUBLISHER_HANDSHAKE: Check =
    relaysim_harness::phase_check!("publisher", "handshake", publisher_spans);
pub const PUBLISHER_STEADY: Check =
    relaysim_harness::phase_check!("publisher", "steady", publisher_spans);
pub const PUBLISHER_TEARDOWN: Check =
    relaysim_harness::phase_check!("publisher", "teardown", publisher_spans);
pub const PUBLISHER_RECONNECT: Check =
    relaysim_harness::phase_check!("publisher", "reconnect", publisher_spans);

pub const DEADLINE_TWITCH_CONNECT: Check =
    relaysim_harness::deadline_check!("restream.twitch.connect");
pub const DEADLINE_TWITCH_TOTAL: Check = relaysim_harness::deadline_check!("restream.twitch.total");
pub const DEADLINE_PUMP_CONNECT: Check = relaysim_harness::deadline_check!("restream.pump.connect");
pub const DEADLINE_PUMP_WRITE_STALL: Check =
    relaysim_harness::deadline_check!("restream.pump.write-stall");
pub const DEADLINE_INGEST_HANDSHAKE: Check =
    relaysim_harness::deadline_check!("restream.ingest.handshake");
pub const DEADLINE_INGEST_IDLE: Check = relaysim_harness::deadline_check!("restream.ingest.idle");
pub const FAULT_POINT_PUMP_WRITE: Check =
    relaysim_harness::fault_point_check!("restream.pump.write");
pub const FAULT_POINT_TWITCH_RESPONSE: Check =
    relaysim_harness::fault_point_check!("restream.twitch.response");
pub const FAULT_POINT_INGEST_READ: Check =
    relaysim_harness::fault_point_check!("restream.ingest.read");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts() {
        assert_eq!(
            url_host("rtmp://twitch-ingest:1935/ivs-3/k"),
            "twitch-ingest"
        );
        assert_eq!(url_host("rtmp://kick-ingest/app/k"), "kick-ingest");
    }
}
