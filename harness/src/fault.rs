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
    /// A ws plugin client action (workload, protocol abuse, stall).
    Ws(crate::peers::ws_client::WsFault),
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
            Fault::Ws(w) => w.kind(),
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
            Fault::Ws(w) => format!("Fault::Ws({})", w.literal()),
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
            Fault::Ws(w) => w.fields(f),
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
}
