//! The one typed event vocabulary of the core, and its single emit point.
//!
//! Owns [`Event`], [`Emitter`] and the [`EventSink`] trait. Every observable
//! step of the core goes through [`Emitter::emit`], which hands the typed
//! event to the run's sink (the harness's trace recorder) and to `tracing`
//! (target `relaysim::event`, so `tracing-test` can assert on it). It must
//! never read a clock: the sink stamps events with (simulated) time.

use std::fmt;
use std::sync::Arc;

/// Why an egress pump was (re)started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RestartReason {
    /// No pump was running for this destination yet.
    Initial,
    /// The effective URL (override or configured) changed.
    UrlChanged,
    /// The previous pump finished (died).
    PumpDied,
}

impl fmt::Display for RestartReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestartReason::Initial => "initial",
            RestartReason::UrlChanged => "url-changed",
            RestartReason::PumpDied => "pump-died",
        })
    }
}

/// What a VOD session fetch returned to the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchResult {
    /// An ingest URL naming a freshly allocated IVS session.
    Session(String),
    /// An HTTP error status, a bad body, or a refused connection.
    Error(String),
    /// One of the 6 s connect / 12 s total / 15 s outer timeouts fired.
    Timeout,
}

/// Everything the core reports. One variant per observable step; the
/// normalized form is its `Display` (`name key=value …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A publisher was admitted; `token` numbers publish sessions.
    PublishBegin { token: u64 },
    /// A second publisher (or a bad key) was turned away.
    PublishRejected { reason: &'static str },
    /// The alive→dead edge of ingest.
    IngestDead { token: u64 },
    /// Disconnect cleared a destination's override and bumped its epoch.
    OverrideInvalidated { dest: String, epoch: u64 },
    /// The supervisor claimed the VOD latch and spawned a fetch.
    VodFetchStart { dest: String, epoch: u64 },
    /// The fetch returned (before its outcome was applied).
    VodFetchDone {
        dest: String,
        epoch: u64,
        result: FetchResult,
    },
    /// The fetched URL became the override.
    VodFetchApplied {
        dest: String,
        epoch: u64,
        url: String,
    },
    /// The fetch belonged to an earlier publish session and was dropped.
    VodFetchDiscardedStale {
        dest: String,
        epoch: u64,
        current: u64,
    },
    /// The fetch failed; the latch is free for the next tick.
    VodFetchFailed { dest: String, epoch: u64 },
    /// A pump was spawned for `url`.
    EgressStart {
        dest: String,
        url: String,
        reason: RestartReason,
    },
    /// A pump connected to its destination.
    EgressConnected { dest: String },
    /// A pump ended with an error.
    EgressDied { dest: String, error: String },
    /// A removed destination was shut down (`forced`: aborted after 1.5 s).
    DestinationRemoved { dest: String, forced: bool },
    /// A fault point fired (see [`crate::faults`]).
    FaultPointFired { site: &'static str },
    /// The transcode component (registry, runner, drains, ingest bridge).
    Transcode(crate::transcode::TranscodeEvent),
    /// The track publisher (`session::publisher`).
    Publisher(crate::session::publisher::PublisherEvent),
    /// The MoQ source's pad forwarding (`session::pads`).
    Pads(crate::session::pads::PadsEvent),
    /// A WebSocket session step (`session::ws`); its names start with `ws.`.
    Ws(crate::session::ws::WsEvent),
}

impl Event {
    /// The dotted event name, first word of the normalized line.
    pub fn name(&self) -> &'static str {
        match self {
            Event::PublishBegin { .. } => "publish.begin",
            Event::PublishRejected { .. } => "publish.rejected",
            Event::IngestDead { .. } => "ingest.dead",
            Event::OverrideInvalidated { .. } => "override.invalidated",
            Event::VodFetchStart { .. } => "vod.fetch.start",
            Event::VodFetchDone { .. } => "vod.fetch.done",
            Event::VodFetchApplied { .. } => "vod.fetch.applied",
            Event::VodFetchDiscardedStale { .. } => "vod.fetch.stale",
            Event::VodFetchFailed { .. } => "vod.fetch.failed",
            Event::EgressStart { .. } => "egress.start",
            Event::EgressConnected { .. } => "egress.connected",
            Event::EgressDied { .. } => "egress.died",
            Event::DestinationRemoved { .. } => "dest.removed",
            Event::FaultPointFired { .. } => "fault-point.fired",
            Event::Transcode(e) => e.name(),
            Event::Publisher(e) => e.name(),
            Event::Pads(e) => e.name(),
            Event::Ws(e) => e.name(),
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Transcode(e) => return e.fmt(f),
            Event::Publisher(e) => return e.fmt(f),
            Event::Pads(e) => return e.fmt(f),
            Event::Ws(e) => return e.fmt(f),
            _ => {}
        }
        write!(f, "{}", self.name())?;
        match self {
            Event::PublishBegin { token } | Event::IngestDead { token } => {
                write!(f, " token={token}")
            }
            Event::PublishRejected { reason } => write!(f, " reason={reason}"),
            Event::OverrideInvalidated { dest, epoch }
            | Event::VodFetchStart { dest, epoch }
            | Event::VodFetchFailed { dest, epoch } => write!(f, " dest={dest} epoch={epoch}"),
            Event::VodFetchDone {
                dest,
                epoch,
                result,
            } => {
                write!(f, " dest={dest} epoch={epoch} ")?;
                match result {
                    FetchResult::Session(url) => write!(f, "result=ok url={url}"),
                    FetchResult::Error(e) => write!(f, "result=error error={e:?}"),
                    FetchResult::Timeout => write!(f, "result=timeout"),
                }
            }
            Event::VodFetchApplied { dest, epoch, url } => {
                write!(f, " dest={dest} epoch={epoch} url={url}")
            }
            Event::VodFetchDiscardedStale {
                dest,
                epoch,
                current,
            } => write!(f, " dest={dest} epoch={epoch} current={current}"),
            Event::EgressStart { dest, url, reason } => {
                write!(f, " dest={dest} reason={reason} url={url}")
            }
            Event::EgressConnected { dest } => write!(f, " dest={dest}"),
            Event::EgressDied { dest, error } => write!(f, " dest={dest} error={error:?}"),
            Event::DestinationRemoved { dest, forced } => {
                write!(f, " dest={dest} forced={forced}")
            }
            Event::FaultPointFired { site } => write!(f, " site={site}"),
            // Delegated above.
            Event::Transcode(_) | Event::Publisher(_) | Event::Pads(_) | Event::Ws(_) => Ok(()),
        }
    }
}

/// Where a run's events go. The harness implements it to record
/// `(sim time, host, event)`; it must not block.
pub trait EventSink: Send + Sync {
    fn record(&self, host: &'static str, event: Event);
}

/// The single emit point: a host name plus an optional sink. Cheap to clone;
/// every component holds one.
#[derive(Clone)]
pub struct Emitter {
    host: &'static str,
    sink: Option<Arc<dyn EventSink>>,
}

impl Emitter {
    pub fn new(host: &'static str, sink: Arc<dyn EventSink>) -> Emitter {
        Emitter {
            host,
            sink: Some(sink),
        }
    }

    /// An emitter that only reaches `tracing` (unit tests, real runs without
    /// a recorder).
    pub fn tracing_only(host: &'static str) -> Emitter {
        Emitter { host, sink: None }
    }

    pub fn host(&self) -> &'static str {
        self.host
    }

    /// Should the code fail at fault point `site` now? Fires only when the
    /// harness switched the site on for this run (see [`crate::faults`]);
    /// a firing is emitted like any other event.
    #[inline]
    pub fn fault_point(&self, site: &'static str) -> bool {
        let fired = crate::faults::fire(site);
        if fired {
            self.emit(Event::FaultPointFired { site });
        }
        fired
    }

    pub fn emit(&self, event: Event) {
        tracing::debug!(target: "relaysim::event", host = self.host, "{event}");
        if let Some(sink) = &self.sink {
            sink.record(self.host, event);
        }
    }
}

impl fmt::Debug for Emitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter").field("host", &self.host).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_forms() {
        let e = Event::VodFetchApplied {
            dest: "twitch".into(),
            epoch: 2,
            url: "rtmp://twitch-ingest:1935/ivs-3/key".into(),
        };
        assert_eq!(
            e.to_string(),
            "vod.fetch.applied dest=twitch epoch=2 url=rtmp://twitch-ingest:1935/ivs-3/key"
        );
        let d = Event::VodFetchDone {
            dest: "twitch".into(),
            epoch: 0,
            result: FetchResult::Timeout,
        };
        assert_eq!(
            d.to_string(),
            "vod.fetch.done dest=twitch epoch=0 result=timeout"
        );
    }

    #[tracing_test::traced_test]
    #[test]
    fn emit_is_visible_to_tracing() {
        Emitter::tracing_only("relay").emit(Event::PublishBegin { token: 7 });
        assert!(logs_contain("publish.begin token=7"));
    }
}
