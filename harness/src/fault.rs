//! Fault plans: the timed faults (and workload steps) of one run, as data.
//!
//! Owns [`Fault`], [`FaultEvent`] and [`FaultPlan`]. A plan is generated
//! from the seed by a scenario, printed in every failure report as a
//! pasteable Rust literal ([`FaultPlan::to_literal`]) and serialized as JSON,
//! so a run can be replayed from the plan alone. Network faults follow
//! turmoil's verbs (`partition`/`repair`, `hold`/`release`); application
//! faults are nouns of the domain. A plan never holds anything that is not
//! plain data.

use serde::{Deserialize, Serialize};
use std::fmt::{self, Write};
use std::time::Duration;

/// One fault (or workload step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fault {
    /// Cut the link between two hosts (both ways, in-flight lost).
    Partition { a: String, b: String },
    /// Restore a partitioned link.
    Repair { a: String, b: String },
    /// Queue messages between two hosts until released.
    Hold { a: String, b: String },
    /// Deliver held messages.
    Release { a: String, b: String },
    /// Twitch API response latency, drawn per request in `min_ms..=max_ms`.
    TwitchLatency { min_ms: u64, max_ms: u64 },
    /// Percentage of Twitch API requests answered with HTTP 503.
    TwitchErrors { percent: u8 },
    /// The publisher (OBS) drops its connection.
    PublisherDisconnect,
    /// The publisher connects (again).
    PublisherConnect,
    /// LiveKit answers each signalling request in `min_ms..=max_ms`.
    LiveKitLatency { min_ms: u64, max_ms: u64 },
    /// Percentages of LiveKit joins and publishes refused (503).
    LiveKitErrors {
        join_percent: u8,
        publish_percent: u8,
    },
    /// The publisher's pipeline reaches PLAYING in `min_ms..=max_ms`, or
    /// fails to in `fail_percent`% of attempts.
    PipelineStart {
        min_ms: u64,
        max_ms: u64,
        fail_percent: u8,
    },
    /// The publisher's `track` source ends `after_ms` after PLAYING (every
    /// attempt; workload rather than fault).
    TrackEos { track: String, after_ms: u64 },
    /// SIGINT/SIGTERM to the publisher.
    PublisherSignal,
    /// The application sets the MoQ source to PAUSED (starts a session).
    PadsStart,
    /// The application sets the MoQ source back to READY.
    PadsStop,
    /// PAUSED → READY → PAUSED in one go.
    PadsRestart,
    /// The element's main loop is busy for `ms` (a blocked downstream push).
    MainLoopStall { ms: u64 },
    /// The relay's catalog becomes exactly these tracks.
    MoqCatalog { tracks: Vec<String> },
    /// A track's codec config changes now; the catalog follows after
    /// `catalog_delay_ms`.
    MoqConfigChange {
        track: String,
        catalog_delay_ms: u64,
    },
    /// The relay closes every subscription and refuses new ones for `ms`.
    MoqRelayDown { ms: u64 },
}

impl Fault {
    /// A network fault the runner applies to turmoil itself?
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            Fault::Partition { .. }
                | Fault::Repair { .. }
                | Fault::Hold { .. }
                | Fault::Release { .. }
        )
    }

    /// The kind name (swarm tables, coverage, shrink output).
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::Repair { .. } => "repair",
            Fault::Hold { .. } => "hold",
            Fault::Release { .. } => "release",
            Fault::TwitchLatency { .. } => "twitch-latency",
            Fault::TwitchErrors { .. } => "twitch-errors",
            Fault::PublisherDisconnect => "publisher-disconnect",
            Fault::PublisherConnect => "publisher-connect",
            Fault::LiveKitLatency { .. } => "livekit-latency",
            Fault::LiveKitErrors { .. } => "livekit-errors",
            Fault::PipelineStart { .. } => "pipeline-start",
            Fault::TrackEos { .. } => "track-eos",
            Fault::PublisherSignal => "publisher-signal",
            Fault::PadsStart => "pads-start",
            Fault::PadsStop => "pads-stop",
            Fault::PadsRestart => "pads-restart",
            Fault::MainLoopStall { .. } => "main-loop-stall",
            Fault::MoqCatalog { .. } => "moq-catalog",
            Fault::MoqConfigChange { .. } => "moq-config-change",
            Fault::MoqRelayDown { .. } => "moq-relay-down",
        }
    }

    fn literal(&self) -> String {
        match self {
            Fault::Partition { a, b } => {
                format!("Fault::Partition {{ a: {a:?}.into(), b: {b:?}.into() }}")
            }
            Fault::Repair { a, b } => {
                format!("Fault::Repair {{ a: {a:?}.into(), b: {b:?}.into() }}")
            }
            Fault::Hold { a, b } => format!("Fault::Hold {{ a: {a:?}.into(), b: {b:?}.into() }}"),
            Fault::Release { a, b } => {
                format!("Fault::Release {{ a: {a:?}.into(), b: {b:?}.into() }}")
            }
            Fault::TwitchLatency { min_ms, max_ms } => {
                format!("Fault::TwitchLatency {{ min_ms: {min_ms}, max_ms: {max_ms} }}")
            }
            Fault::TwitchErrors { percent } => {
                format!("Fault::TwitchErrors {{ percent: {percent} }}")
            }
            Fault::PublisherDisconnect => "Fault::PublisherDisconnect".into(),
            Fault::PublisherConnect => "Fault::PublisherConnect".into(),
            Fault::LiveKitLatency { min_ms, max_ms } => {
                format!("Fault::LiveKitLatency {{ min_ms: {min_ms}, max_ms: {max_ms} }}")
            }
            Fault::LiveKitErrors {
                join_percent,
                publish_percent,
            } => format!(
                "Fault::LiveKitErrors {{ join_percent: {join_percent}, publish_percent: {publish_percent} }}"
            ),
            Fault::PipelineStart {
                min_ms,
                max_ms,
                fail_percent,
            } => format!(
                "Fault::PipelineStart {{ min_ms: {min_ms}, max_ms: {max_ms}, fail_percent: {fail_percent} }}"
            ),
            Fault::TrackEos { track, after_ms } => {
                format!("Fault::TrackEos {{ track: {track:?}.into(), after_ms: {after_ms} }}")
            }
            Fault::PublisherSignal => "Fault::PublisherSignal".into(),
            Fault::PadsStart => "Fault::PadsStart".into(),
            Fault::PadsStop => "Fault::PadsStop".into(),
            Fault::PadsRestart => "Fault::PadsRestart".into(),
            Fault::MainLoopStall { ms } => format!("Fault::MainLoopStall {{ ms: {ms} }}"),
            Fault::MoqCatalog { tracks } => {
                let items: Vec<String> = tracks.iter().map(|t| format!("{t:?}.into()")).collect();
                format!("Fault::MoqCatalog {{ tracks: vec![{}] }}", items.join(", "))
            }
            Fault::MoqConfigChange {
                track,
                catalog_delay_ms,
            } => format!(
                "Fault::MoqConfigChange {{ track: {track:?}.into(), catalog_delay_ms: {catalog_delay_ms} }}"
            ),
            Fault::MoqRelayDown { ms } => format!("Fault::MoqRelayDown {{ ms: {ms} }}"),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fault.{}", self.kind())?;
        match self {
            Fault::Partition { a, b }
            | Fault::Repair { a, b }
            | Fault::Hold { a, b }
            | Fault::Release { a, b } => {
                write!(f, " a={a} b={b}")
            }
            Fault::TwitchLatency { min_ms, max_ms } => {
                write!(f, " min_ms={min_ms} max_ms={max_ms}")
            }
            Fault::TwitchErrors { percent } => write!(f, " percent={percent}"),
            Fault::PublisherDisconnect | Fault::PublisherConnect => Ok(()),
            Fault::LiveKitLatency { min_ms, max_ms } => {
                write!(f, " min_ms={min_ms} max_ms={max_ms}")
            }
            Fault::LiveKitErrors {
                join_percent,
                publish_percent,
            } => write!(
                f,
                " join_percent={join_percent} publish_percent={publish_percent}"
            ),
            Fault::PipelineStart {
                min_ms,
                max_ms,
                fail_percent,
            } => write!(
                f,
                " min_ms={min_ms} max_ms={max_ms} fail_percent={fail_percent}"
            ),
            Fault::TrackEos { track, after_ms } => write!(f, " track={track} after_ms={after_ms}"),
            Fault::PublisherSignal | Fault::PadsStart | Fault::PadsStop | Fault::PadsRestart => {
                Ok(())
            }
            Fault::MainLoopStall { ms } | Fault::MoqRelayDown { ms } => write!(f, " ms={ms}"),
            Fault::MoqCatalog { tracks } => write!(f, " tracks={}", tracks.join(",")),
            Fault::MoqConfigChange {
                track,
                catalog_delay_ms,
            } => write!(f, " track={track} catalog_delay_ms={catalog_delay_ms}"),
        }
    }
}

/// A fault at a simulated time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultEvent {
    pub at_ms: u64,
    pub fault: Fault,
}

impl FaultEvent {
    pub fn at(&self) -> Duration {
        Duration::from_millis(self.at_ms)
    }
}

/// Every fault of one run, in time order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultPlan {
    pub events: Vec<FaultEvent>,
}

impl FaultPlan {
    pub fn new(mut events: Vec<FaultEvent>) -> FaultPlan {
        // Stable: events at the same instant keep their generation order.
        events.sort_by_key(|e| e.at_ms);
        FaultPlan { events }
    }

    pub fn push(&mut self, at: Duration, fault: Fault) {
        self.events.push(FaultEvent {
            at_ms: at.as_millis() as u64,
            fault,
        });
    }

    /// Sorts into time order (after pushes).
    pub fn sorted(self) -> FaultPlan {
        FaultPlan::new(self.events)
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// A Rust expression that rebuilds this plan (for pinning a regression).
    pub fn to_literal(&self) -> String {
        let mut s = String::from("FaultPlan::new(vec![\n");
        for e in &self.events {
            let _ = writeln!(
                s,
                "    FaultEvent {{ at_ms: {}, fault: {} }},",
                e.at_ms,
                e.fault.literal()
            );
        }
        s.push_str("])");
        s
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()))
    }

    pub fn from_json(s: &str) -> Result<FaultPlan, String> {
        serde_json::from_str::<FaultPlan>(s)
            .map(FaultPlan::sorted)
            .map_err(|e| format!("not a fault plan: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> FaultPlan {
        FaultPlan::new(vec![
            FaultEvent {
                at_ms: 3000,
                fault: Fault::PublisherDisconnect,
            },
            FaultEvent {
                at_ms: 0,
                fault: Fault::TwitchLatency {
                    min_ms: 100,
                    max_ms: 9000,
                },
            },
            FaultEvent {
                at_ms: 5000,
                fault: Fault::Partition {
                    a: "relay".into(),
                    b: "twitch-api".into(),
                },
            },
        ])
    }

    #[test]
    fn sorted_and_json_round_trip() {
        let p = plan();
        assert_eq!(p.events[0].at_ms, 0);
        assert_eq!(FaultPlan::from_json(&p.to_json()).unwrap(), p);
        assert!(FaultPlan::from_json("{")
            .unwrap_err()
            .starts_with("not a fault plan"));
    }

    #[test]
    fn literal_is_rust() {
        let lit = plan().to_literal();
        assert!(lit.contains("FaultEvent { at_ms: 5000, fault: Fault::Partition { a: \"relay\".into(), b: \"twitch-api\".into() } },"));
        // The literal compiles: this is the same expression, written by hand.
        let rebuilt = FaultPlan::new(vec![
            FaultEvent {
                at_ms: 0,
                fault: Fault::TwitchLatency {
                    min_ms: 100,
                    max_ms: 9000,
                },
            },
            FaultEvent {
                at_ms: 3000,
                fault: Fault::PublisherDisconnect,
            },
            FaultEvent {
                at_ms: 5000,
                fault: Fault::Partition {
                    a: "relay".into(),
                    b: "twitch-api".into(),
                },
            },
        ]);
        assert_eq!(rebuilt, plan());
    }

    #[test]
    fn session_faults_print_as_rust_and_round_trip() {
        let p = FaultPlan::new(vec![
            FaultEvent {
                at_ms: 10,
                fault: Fault::MoqCatalog {
                    tracks: vec!["cam".into(), "mic".into()],
                },
            },
            FaultEvent {
                at_ms: 20,
                fault: Fault::TrackEos {
                    track: "video".into(),
                    after_ms: 300,
                },
            },
        ]);
        let lit = p.to_literal();
        assert!(lit.contains("Fault::MoqCatalog { tracks: vec![\"cam\".into(), \"mic\".into()] }"));
        assert!(lit.contains("Fault::TrackEos { track: \"video\".into(), after_ms: 300 }"));
        assert_eq!(FaultPlan::from_json(&p.to_json()).unwrap(), p);
        assert_eq!(
            p.events[0].fault.to_string(),
            "fault.moq-catalog tracks=cam,mic"
        );
    }
}
