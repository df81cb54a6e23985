//! The restream component's events: one enum, [`RestreamEvent`], wrapped by
//! [`crate::event::Event::Restream`] and emitted through the one
//! [`crate::event::Emitter`], plus the plain data they carry
//! ([`RestartReason`], [`FetchResult`]).
//!
//! Owns the normalized line form of every restream step (`name key=value …`;
//! the trace snapshots depend on it byte for byte). It must never carry
//! ports, addresses or wall time.

use std::fmt;

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
    /// An HTTP error status, a bad or oversized body, an ingest URL that
    /// failed validation, or a refused connection (a bounded text).
    Error(String),
    /// One of the 6 s connect / 12 s total / 15 s outer timeouts fired.
    Timeout,
}

/// Everything the restream component reports: ingest, the VOD session
/// fetch, egress pumps and destination teardown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestreamEvent {
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
    /// The ingest listener's `accept()` failed (its error kind); the loop
    /// pauses `backoff_ms` and goes on.
    IngestAcceptError { kind: String, backoff_ms: u64 },
}

impl RestreamEvent {
    /// The dotted event name, first word of the normalized line.
    pub fn name(&self) -> &'static str {
        match self {
            RestreamEvent::PublishBegin { .. } => "publish.begin",
            RestreamEvent::PublishRejected { .. } => "publish.rejected",
            RestreamEvent::IngestDead { .. } => "ingest.dead",
            RestreamEvent::OverrideInvalidated { .. } => "override.invalidated",
            RestreamEvent::VodFetchStart { .. } => "vod.fetch.start",
            RestreamEvent::VodFetchDone { .. } => "vod.fetch.done",
            RestreamEvent::VodFetchApplied { .. } => "vod.fetch.applied",
            RestreamEvent::VodFetchDiscardedStale { .. } => "vod.fetch.stale",
            RestreamEvent::VodFetchFailed { .. } => "vod.fetch.failed",
            RestreamEvent::EgressStart { .. } => "egress.start",
            RestreamEvent::EgressConnected { .. } => "egress.connected",
            RestreamEvent::EgressDied { .. } => "egress.died",
            RestreamEvent::DestinationRemoved { .. } => "dest.removed",
            RestreamEvent::IngestAcceptError { .. } => "ingest.accept.error",
        }
    }
}

impl fmt::Display for RestreamEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            RestreamEvent::PublishBegin { token } | RestreamEvent::IngestDead { token } => {
                write!(f, " token={token}")
            }
            RestreamEvent::PublishRejected { reason } => write!(f, " reason={reason}"),
            RestreamEvent::OverrideInvalidated { dest, epoch }
            | RestreamEvent::VodFetchStart { dest, epoch }
            | RestreamEvent::VodFetchFailed { dest, epoch } => {
                write!(f, " dest={dest} epoch={epoch}")
            }
            RestreamEvent::VodFetchDone {
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
            RestreamEvent::VodFetchApplied { dest, epoch, url } => {
                write!(f, " dest={dest} epoch={epoch} url={url}")
            }
            RestreamEvent::VodFetchDiscardedStale {
                dest,
                epoch,
                current,
            } => write!(f, " dest={dest} epoch={epoch} current={current}"),
            RestreamEvent::EgressStart { dest, url, reason } => {
                write!(f, " dest={dest} reason={reason} url={url}")
            }
            RestreamEvent::EgressConnected { dest } => write!(f, " dest={dest}"),
            RestreamEvent::EgressDied { dest, error } => write!(f, " dest={dest} error={error:?}"),
            RestreamEvent::DestinationRemoved { dest, forced } => {
                write!(f, " dest={dest} forced={forced}")
            }
            RestreamEvent::IngestAcceptError { kind, backoff_ms } => {
                write!(f, " kind={kind} backoff_ms={backoff_ms}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_forms() {
        let e = RestreamEvent::VodFetchApplied {
            dest: "twitch".into(),
            epoch: 2,
            url: "rtmp://twitch-ingest:1935/ivs-3/key".into(),
        };
        assert_eq!(
            e.to_string(),
            "vod.fetch.applied dest=twitch epoch=2 url=rtmp://twitch-ingest:1935/ivs-3/key"
        );
        let d = RestreamEvent::VodFetchDone {
            dest: "twitch".into(),
            epoch: 0,
            result: FetchResult::Timeout,
        };
        assert_eq!(
            d.to_string(),
            "vod.fetch.done dest=twitch epoch=0 result=timeout"
        );
        let s = RestreamEvent::EgressStart {
            dest: "yt".into(),
            url: "rtmp://yt:1935/app/k".into(),
            reason: RestartReason::PumpDied,
        };
        assert_eq!(
            s.to_string(),
            "egress.start dest=yt reason=pump-died url=rtmp://yt:1935/app/k"
        );
    }
}
