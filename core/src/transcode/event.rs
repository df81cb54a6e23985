//! The transcode component's events: one enum, wrapped by
//! [`crate::event::Event::Transcode`] and emitted through the one
//! [`crate::event::Emitter`].
//!
//! Owns [`TranscodeEvent`] and its normalized line form (`name key=value …`).
//! Fields are plain data: no ports, addresses or wall time, and panic
//! messages are the payload text only.

use crate::transcode::key::StatsKey;
use crate::transcode::transcoder::Phase;
use std::fmt;

/// Why a drain task finished by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EndReason {
    /// The broadcaster closed and the drain received everything it could.
    Closed,
    /// `on_start` panicked: counted, and the drain never ran.
    StartPanic,
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EndReason::Closed => "closed",
            EndReason::StartPanic => "start-panic",
        })
    }
}

/// Why the runner declined to spawn a drain it was asked for (only the
/// reasons worth a trace line; dedupe and opt-outs are silent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SkipReason {
    /// The factory was removed between the caller's snapshot of the factory
    /// list and the spawn (the `rendition-remove-leak` window, closed).
    Removed,
    /// No async runtime on the calling thread.
    NoRuntime,
    /// The entry was removed between the caller's lookup and the spawn.
    EntryGone,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::Removed => "removed",
            SkipReason::NoRuntime => "no-runtime",
            SkipReason::EntryGone => "entry-gone",
        })
    }
}

/// Everything the transcode component reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranscodeEvent {
    /// The registry created an entry (generation `generation`).
    EntryCreated {
        broadcast: String,
        track: String,
        generation: u64,
    },
    /// The registry dropped an entry.
    EntryRemoved {
        broadcast: String,
        track: String,
        generation: u64,
    },
    /// A publisher was admitted; `generation` is its video entry's.
    IngestPublish { broadcast: String, generation: u64 },
    /// A publisher was turned away.
    IngestRejected {
        broadcast: String,
        reason: &'static str,
    },
    /// The ingest listener's `accept()` failed (its error kind); the loop
    /// pauses `backoff_ms` and goes on.
    IngestAcceptError { kind: String, backoff_ms: u64 },
    /// A publisher went away after `fragments` video fragments.
    IngestUnpublish {
        broadcast: String,
        generation: u64,
        fragments: u64,
    },
    /// A runner was installed with this ladder (`transcoder/rendition`).
    RunnerInstalled { ladder: Vec<String> },
    /// `add_rendition` registered a factory.
    RenditionAdded {
        transcoder: String,
        rendition: String,
    },
    /// `add_rendition` refused a duplicate (transcoder, rendition) pair.
    RenditionRejected {
        transcoder: String,
        rendition: String,
    },
    /// `remove_rendition` dropped every factory of a rendition and aborted
    /// `aborted` tasks.
    RenditionRemoved { rendition: String, aborted: usize },
    /// A drain task was spawned (its subscription taken synchronously).
    DrainSpawned { key: StatsKey, generation: u64 },
    /// A drain was declined.
    DrainSkipped {
        key: StatsKey,
        generation: u64,
        reason: SkipReason,
    },
    /// The drain began: metadata refreshed, `on_start` next.
    DrainStarted {
        key: StatsKey,
        generation: u64,
        init_segment: bool,
    },
    /// A transcoder panicked; caught and counted. `at` is the fragment's
    /// (group, object) in the fragment phase.
    TranscoderPanicked {
        key: StatsKey,
        generation: u64,
        phase: Phase,
        at: Option<(u64, u64)>,
    },
    /// A drain finished by itself.
    DrainEnded {
        key: StatsKey,
        generation: u64,
        reason: EndReason,
        seen: u64,
        lagged: u64,
        emitted: u64,
    },
    /// `remove_rendition` aborted a running drain.
    DrainAborted { key: StatsKey, generation: u64 },
    /// A drain task died of an uncaught panic.
    DrainDied {
        key: StatsKey,
        generation: u64,
        panic: String,
    },
}

impl TranscodeEvent {
    pub fn name(&self) -> &'static str {
        match self {
            TranscodeEvent::EntryCreated { .. } => "transcode.entry.created",
            TranscodeEvent::EntryRemoved { .. } => "transcode.entry.removed",
            TranscodeEvent::IngestPublish { .. } => "transcode.ingest.publish",
            TranscodeEvent::IngestRejected { .. } => "transcode.ingest.rejected",
            TranscodeEvent::IngestUnpublish { .. } => "transcode.ingest.unpublish",
            TranscodeEvent::IngestAcceptError { .. } => "transcode.ingest.accept.error",
            TranscodeEvent::RunnerInstalled { .. } => "transcode.runner.installed",
            TranscodeEvent::RenditionAdded { .. } => "transcode.rendition.added",
            TranscodeEvent::RenditionRejected { .. } => "transcode.rendition.rejected",
            TranscodeEvent::RenditionRemoved { .. } => "transcode.rendition.removed",
            TranscodeEvent::DrainSpawned { .. } => "transcode.drain.spawn",
            TranscodeEvent::DrainSkipped { .. } => "transcode.drain.skip",
            TranscodeEvent::DrainStarted { .. } => "transcode.drain.start",
            TranscodeEvent::TranscoderPanicked { .. } => "transcode.panic",
            TranscodeEvent::DrainEnded { .. } => "transcode.drain.end",
            TranscodeEvent::DrainAborted { .. } => "transcode.drain.abort",
            TranscodeEvent::DrainDied { .. } => "transcode.drain.died",
        }
    }
}

impl fmt::Display for TranscodeEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            TranscodeEvent::EntryCreated {
                broadcast,
                track,
                generation,
            }
            | TranscodeEvent::EntryRemoved {
                broadcast,
                track,
                generation,
            } => write!(f, " broadcast={broadcast} track={track} gen={generation}"),
            TranscodeEvent::IngestPublish {
                broadcast,
                generation,
            } => write!(f, " broadcast={broadcast} gen={generation}"),
            TranscodeEvent::IngestRejected { broadcast, reason } => {
                write!(f, " broadcast={broadcast} reason={reason}")
            }
            TranscodeEvent::IngestAcceptError { kind, backoff_ms } => {
                write!(f, " kind={kind} backoff_ms={backoff_ms}")
            }
            TranscodeEvent::IngestUnpublish {
                broadcast,
                generation,
                fragments,
            } => write!(
                f,
                " broadcast={broadcast} gen={generation} fragments={fragments}"
            ),
            TranscodeEvent::RunnerInstalled { ladder } => {
                write!(f, " ladder={}", ladder.join(","))
            }
            TranscodeEvent::RenditionAdded {
                transcoder,
                rendition,
            }
            | TranscodeEvent::RenditionRejected {
                transcoder,
                rendition,
            } => write!(f, " transcoder={transcoder} rendition={rendition}"),
            TranscodeEvent::RenditionRemoved { rendition, aborted } => {
                write!(f, " rendition={rendition} aborted={aborted}")
            }
            TranscodeEvent::DrainSpawned { key, generation }
            | TranscodeEvent::DrainAborted { key, generation } => {
                write!(f, " key={key} gen={generation}")
            }
            TranscodeEvent::DrainSkipped {
                key,
                generation,
                reason,
            } => write!(f, " key={key} gen={generation} reason={reason}"),
            TranscodeEvent::DrainStarted {
                key,
                generation,
                init_segment,
            } => write!(f, " key={key} gen={generation} init={init_segment}"),
            TranscodeEvent::TranscoderPanicked {
                key,
                generation,
                phase,
                at,
            } => {
                write!(f, " key={key} gen={generation} phase={phase}")?;
                match at {
                    Some((group, object)) => write!(f, " group={group} object={object}"),
                    None => Ok(()),
                }
            }
            TranscodeEvent::DrainEnded {
                key,
                generation,
                reason,
                seen,
                lagged,
                emitted,
            } => write!(
                f,
                " key={key} gen={generation} reason={reason} seen={seen} lagged={lagged} emitted={emitted}"
            ),
            TranscodeEvent::DrainDied {
                key,
                generation,
                panic,
            } => write!(f, " key={key} gen={generation} panic={panic:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event's line: its name, then its fields as `key=value` in a
    /// fixed order (reviewers and the checks parse these), with every
    /// reason and phase in its kebab-case word.
    #[test]
    fn every_event_has_its_line_form() {
        let key = || StatsKey::new("passthrough", "480p", "live/b", "0.mp4");
        let lines: Vec<String> = [
            TranscodeEvent::EntryCreated {
                broadcast: "live/b".into(),
                track: "1.mp4".into(),
                generation: 4,
            },
            TranscodeEvent::EntryRemoved {
                broadcast: "live/b".into(),
                track: "1.mp4".into(),
                generation: 4,
            },
            TranscodeEvent::IngestPublish {
                broadcast: "live/b".into(),
                generation: 4,
            },
            TranscodeEvent::IngestRejected {
                broadcast: "live/b".into(),
                reason: "already-live",
            },
            TranscodeEvent::IngestAcceptError {
                kind: "io-ConnectionReset".into(),
                backoff_ms: 40,
            },
            TranscodeEvent::IngestUnpublish {
                broadcast: "live/b".into(),
                generation: 4,
                fragments: 12,
            },
            TranscodeEvent::RunnerInstalled {
                ladder: vec!["passthrough/720p".into(), "slow/480p".into()],
            },
            TranscodeEvent::RenditionAdded {
                transcoder: "slow".into(),
                rendition: "240p".into(),
            },
            TranscodeEvent::RenditionRejected {
                transcoder: "slow".into(),
                rendition: "240p".into(),
            },
            TranscodeEvent::RenditionRemoved {
                rendition: "240p".into(),
                aborted: 2,
            },
            TranscodeEvent::DrainSpawned {
                key: key(),
                generation: 4,
            },
            TranscodeEvent::DrainSkipped {
                key: key(),
                generation: 4,
                reason: SkipReason::Removed,
            },
            TranscodeEvent::DrainSkipped {
                key: key(),
                generation: 4,
                reason: SkipReason::NoRuntime,
            },
            TranscodeEvent::DrainSkipped {
                key: key(),
                generation: 4,
                reason: SkipReason::EntryGone,
            },
            TranscodeEvent::DrainStarted {
                key: key(),
                generation: 4,
                init_segment: true,
            },
            TranscodeEvent::TranscoderPanicked {
                key: key(),
                generation: 4,
                phase: Phase::Stop,
                at: None,
            },
            TranscodeEvent::DrainEnded {
                key: key(),
                generation: 4,
                reason: EndReason::StartPanic,
                seen: 0,
                lagged: 0,
                emitted: 3,
            },
            TranscodeEvent::DrainAborted {
                key: key(),
                generation: 4,
            },
            TranscodeEvent::DrainDied {
                key: key(),
                generation: 4,
                panic: "injected panic in on_fragment".into(),
            },
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        let k = "key=passthrough/480p:live/b/0.mp4 gen=4";
        assert_eq!(
            lines,
            [
                "transcode.entry.created broadcast=live/b track=1.mp4 gen=4".to_string(),
                "transcode.entry.removed broadcast=live/b track=1.mp4 gen=4".to_string(),
                "transcode.ingest.publish broadcast=live/b gen=4".to_string(),
                "transcode.ingest.rejected broadcast=live/b reason=already-live".to_string(),
                "transcode.ingest.accept.error kind=io-ConnectionReset backoff_ms=40".to_string(),
                "transcode.ingest.unpublish broadcast=live/b gen=4 fragments=12".to_string(),
                "transcode.runner.installed ladder=passthrough/720p,slow/480p".to_string(),
                "transcode.rendition.added transcoder=slow rendition=240p".to_string(),
                "transcode.rendition.rejected transcoder=slow rendition=240p".to_string(),
                "transcode.rendition.removed rendition=240p aborted=2".to_string(),
                format!("transcode.drain.spawn {k}"),
                format!("transcode.drain.skip {k} reason=removed"),
                format!("transcode.drain.skip {k} reason=no-runtime"),
                format!("transcode.drain.skip {k} reason=entry-gone"),
                format!("transcode.drain.start {k} init=true"),
                format!("transcode.panic {k} phase=stop"),
                format!("transcode.drain.end {k} reason=start-panic seen=0 lagged=0 emitted=3"),
                format!("transcode.drain.abort {k}"),
                format!("transcode.drain.died {k} panic=\"injected panic in on_fragment\""),
            ]
        );
    }

    #[test]
    fn normalized_forms() {
        let key = StatsKey::new("passthrough", "720p", "live/a", "0.mp4");
        assert_eq!(
            TranscodeEvent::DrainEnded {
                key: key.clone(),
                generation: 3,
                reason: EndReason::Closed,
                seen: 5,
                lagged: 2,
                emitted: 7
            }
            .to_string(),
            "transcode.drain.end key=passthrough/720p:live/a/0.mp4 gen=3 reason=closed seen=5 lagged=2 emitted=7"
        );
        assert_eq!(
            TranscodeEvent::TranscoderPanicked {
                key,
                generation: 1,
                phase: Phase::Fragment,
                at: Some((2, 0))
            }
            .to_string(),
            "transcode.panic key=passthrough/720p:live/a/0.mp4 gen=1 phase=fragment group=2 object=0"
        );
    }
}
