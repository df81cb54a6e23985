//! Fault plans: the timed faults (and workload steps) of one run, as data.
//!
//! Owns [`Fault`], [`FaultEvent`] and [`FaultPlan`]. A plan is generated
//! from the seed by a scenario, printed in every failure report as a
//! pasteable Rust literal ([`FaultPlan::to_literal`]) and serialized as JSON,
//! so a run can be replayed from the plan alone. Network faults follow
//! turmoil's verbs (`partition`/`repair`, `hold`/`release`); application
//! faults are nouns of the domain. A plan never holds anything that is not
//! plain data.

use relaysim_core::entropy::SimRng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::{self, Write};
use std::time::Duration;

/// One fault (or workload step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fault {
    /// Cut the link between two hosts (both ways, in-flight lost).
    Partition {
        /// One end of the link.
        a: String,
        /// The other end.
        b: String,
    },
    /// Restore a partitioned link.
    Repair {
        /// One end of the link.
        a: String,
        /// The other end.
        b: String,
    },
    /// Queue messages between two hosts until released.
    Hold {
        /// One end of the link.
        a: String,
        /// The other end.
        b: String,
    },
    /// Deliver held messages.
    Release {
        /// One end of the link.
        a: String,
        /// The other end.
        b: String,
    },
    /// Twitch API response latency, drawn per request in `min_ms..=max_ms`.
    TwitchLatency {
        /// Shortest latency, in milliseconds.
        min_ms: u64,
        /// Longest latency, in milliseconds.
        max_ms: u64,
    },
    /// Percentage of Twitch API requests answered with HTTP 503.
    TwitchErrors {
        /// 0 to 100.
        percent: u8,
    },
    /// The publisher (OBS) drops its connection.
    PublisherDisconnect,
    /// The publisher connects (again).
    PublisherConnect,
    /// Switch a core fault point on (`permille` chance per pass; 0 = off)
    /// until the heal (see `relaysim_core::faults`).
    FaultPoint {
        /// The site (one of `relaysim_core::faults::SITES`).
        site: String,
        /// Chance per pass, in permille (0 switches the site off).
        permille: u16,
    },
    /// A named publisher host (transcode worlds) publishes (again).
    BroadcastPublish {
        /// The publisher host.
        publisher: String,
    },
    /// A named publisher host stops publishing.
    BroadcastUnpublish {
        /// The publisher host.
        publisher: String,
    },
    /// The admin API adds a rendition to the ladder. It runs on another
    /// thread: it lands at the first factory build within `window_ms`, else
    /// when the window ends.
    RenditionAdd {
        /// The rendition (a preset name).
        rendition: String,
        /// How long the edit may wait for a factory build to land in.
        window_ms: u64,
    },
    /// The admin API removes a rendition (lands like `RenditionAdd`).
    RenditionRemove {
        /// The rendition.
        rendition: String,
        /// How long the edit may wait for a factory build to land in.
        window_ms: u64,
    },
    /// Arms a panic in the next transcoder of `rendition` to reach `phase`
    /// (for `fragment`: after `after` more fragments of that rendition).
    TranscoderPanic {
        /// The rendition whose next transcoder panics.
        rendition: String,
        /// The call that panics.
        phase: relaysim_core::transcode::Phase,
        /// For `fragment`: after this many more fragments.
        after: u64,
    },
    /// LiveKit answers each signalling request in `min_ms..=max_ms`.
    LiveKitLatency {
        /// Shortest latency, in milliseconds.
        min_ms: u64,
        /// Longest latency, in milliseconds.
        max_ms: u64,
    },
    /// Percentages of LiveKit joins and publishes refused (503).
    LiveKitErrors {
        /// Share of room joins refused, in percent.
        join_percent: u8,
        /// Share of track publishes refused, in percent.
        publish_percent: u8,
    },
    /// The publisher's pipeline reaches PLAYING in `min_ms..=max_ms`, or
    /// fails to in `fail_percent`% of attempts.
    PipelineStart {
        /// Shortest latency, in milliseconds.
        min_ms: u64,
        /// Longest latency, in milliseconds.
        max_ms: u64,
        /// Share of pipeline starts that fail, in percent.
        fail_percent: u8,
    },
    /// The publisher's `track` source ends `after_ms` after PLAYING (every
    /// attempt; workload rather than fault).
    TrackEos {
        /// The track.
        track: String,
        /// Milliseconds after the pipeline starts.
        after_ms: u64,
    },
    /// SIGINT/SIGTERM to the publisher.
    PublisherSignal,
    /// The application sets the MoQ source to PAUSED (starts a session).
    PadsStart,
    /// The application sets the MoQ source back to READY.
    PadsStop,
    /// PAUSED → READY → PAUSED in one go.
    PadsRestart,
    /// The element's main loop is busy for `ms` (a blocked downstream push).
    MainLoopStall {
        /// How long, in milliseconds.
        ms: u64,
    },
    /// The relay's catalog becomes exactly these tracks.
    MoqCatalog {
        /// The tracks.
        tracks: Vec<String>,
    },
    /// A track's codec config changes now; the catalog follows after
    /// `catalog_delay_ms`.
    MoqConfigChange {
        /// The track.
        track: String,
        /// How long the new catalog takes to arrive, in milliseconds.
        catalog_delay_ms: u64,
    },
    /// The relay closes every subscription and refuses new ones for `ms`.
    MoqRelayDown {
        /// How long, in milliseconds.
        ms: u64,
    },
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
            Fault::FaultPoint { .. } => "fault-point",
            Fault::BroadcastPublish { .. } => "broadcast-publish",
            Fault::BroadcastUnpublish { .. } => "broadcast-unpublish",
            Fault::RenditionAdd { .. } => "rendition-add",
            Fault::RenditionRemove { .. } => "rendition-remove",
            Fault::TranscoderPanic { .. } => "transcoder-panic",
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
            Fault::FaultPoint { site, permille } => {
                format!("Fault::FaultPoint {{ site: {site:?}.into(), permille: {permille} }}")
            }
            Fault::BroadcastPublish { publisher } => {
                format!("Fault::BroadcastPublish {{ publisher: {publisher:?}.into() }}")
            }
            Fault::BroadcastUnpublish { publisher } => {
                format!("Fault::BroadcastUnpublish {{ publisher: {publisher:?}.into() }}")
            }
            Fault::RenditionAdd {
                rendition,
                window_ms,
            } => format!(
                "Fault::RenditionAdd {{ rendition: {rendition:?}.into(), window_ms: {window_ms} }}"
            ),
            Fault::RenditionRemove {
                rendition,
                window_ms,
            } => format!(
                "Fault::RenditionRemove {{ rendition: {rendition:?}.into(), window_ms: {window_ms} }}"
            ),
            Fault::TranscoderPanic {
                rendition,
                phase,
                after,
            } => format!(
                "Fault::TranscoderPanic {{ rendition: {rendition:?}.into(), phase: Phase::{phase:?}, after: {after} }}"
            ),
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
            Fault::FaultPoint { site, permille } => write!(f, " site={site} permille={permille}"),
            Fault::BroadcastPublish { publisher } | Fault::BroadcastUnpublish { publisher } => {
                write!(f, " publisher={publisher}")
            }
            Fault::RenditionAdd {
                rendition,
                window_ms,
            }
            | Fault::RenditionRemove {
                rendition,
                window_ms,
            } => write!(f, " rendition={rendition} window_ms={window_ms}"),
            Fault::TranscoderPanic {
                rendition,
                phase,
                after,
            } => write!(f, " rendition={rendition} phase={phase} after={after}"),
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
            Fault::Ws(w) => w.fields(f),
        }
    }
}

/// A fault at a simulated time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultEvent {
    /// Simulated time, in milliseconds from the start.
    pub at_ms: u64,
    /// What happens then.
    pub fault: Fault,
}

impl FaultEvent {
    /// `at_ms` as a duration.
    pub fn at(&self) -> Duration {
        Duration::from_millis(self.at_ms)
    }
}

/// Every fault of one run, in time order, plus the swarm draw that chose
/// them (informational: the events alone decide the run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// Fault kind → intensity in permille (0: the kind is off this seed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub swarm: BTreeMap<String, u16>,
    /// The events, in time order.
    pub events: Vec<FaultEvent>,
}

impl FaultPlan {
    /// A plan from events (sorted by time, stable).
    pub fn new(mut events: Vec<FaultEvent>) -> FaultPlan {
        // Stable: events at the same instant keep their generation order.
        events.sort_by_key(|e| e.at_ms);
        FaultPlan {
            swarm: BTreeMap::new(),
            events,
        }
    }

    /// Appends an event (call [`FaultPlan::sorted`] after pushing).
    pub fn push(&mut self, at: Duration, fault: Fault) {
        self.events.push(FaultEvent {
            at_ms: at.as_millis() as u64,
            fault,
        });
    }

    /// Sorts into time order (after pushes).
    pub fn sorted(self) -> FaultPlan {
        let swarm = self.swarm;
        FaultPlan {
            swarm,
            ..FaultPlan::new(self.events)
        }
    }

    /// The swarm as `kind=0.420,other=off`, for banners.
    pub fn swarm_summary(&self) -> String {
        if self.swarm.is_empty() {
            return "none".into();
        }
        self.swarm
            .iter()
            .map(|(k, v)| {
                if *v == 0 {
                    format!("{k}=off")
                } else {
                    format!("{k}={:.3}", f64::from(*v) / 1000.0)
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// No events at all?
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

    /// The plan as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()))
    }

    /// Reads a plan from JSON.
    pub fn from_json(s: &str) -> Result<FaultPlan, String> {
        serde_json::from_str::<FaultPlan>(s)
            .map(FaultPlan::sorted)
            .map_err(|e| format!("not a fault plan: {e}"))
    }
}

/// A plan saved to disk: everything needed to replay a run without drawing
/// the plan from the RNG (`relaysim replay <scenario> --plan FILE`), so a
/// pinned regression keeps meaning the same thing after code changes that
/// move RNG draws. The seed still seeds turmoil and the peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanFile {
    /// Format version.
    pub relaysim_plan: u32,
    /// The scenario the plan belongs to.
    pub scenario: String,
    /// Hex, as printed.
    pub seed: String,
    /// Known-bug ids switched on when the plan was saved.
    #[serde(default)]
    pub bugs: Vec<String>,
    /// For regression plans: the check that fails with `bugs` on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// For regression plans: what happened and why it matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postmortem: Option<String>,
    /// The faults and workload.
    pub plan: FaultPlan,
}

impl PlanFile {
    /// The format version this relaysim reads and writes.
    pub const VERSION: u32 = 1;

    /// The file as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()))
    }

    /// Reads a plan file, with one-line errors naming the file.
    pub fn read(path: &std::path::Path) -> Result<PlanFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read plan file {}: {e}", path.display()))?;
        let mut file: PlanFile = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a relaysim plan file: {e}", path.display()))?;
        if file.relaysim_plan != PlanFile::VERSION {
            return Err(format!(
                "{} is plan format {}, this relaysim reads format {}",
                path.display(),
                file.relaysim_plan,
                PlanFile::VERSION
            ));
        }
        file.plan = file.plan.sorted();
        Ok(file)
    }

    /// Writes the file, with a one-line error naming it.
    pub fn write(&self, path: &std::path::Path) -> Result<(), String> {
        std::fs::write(path, self.to_json() + "\n")
            .map_err(|e| format!("cannot write plan file {}: {e}", path.display()))
    }
}

/// Which of the core's fault points [`Swarm::fault_points`] may switch on,
/// when, and how hard.
#[derive(Debug, Clone, Copy)]
pub struct FaultPointDraw<'a> {
    /// Sites whose name starts with this (`"restream."`).
    pub prefix: &'a str,
    /// The window a site's on-span is drawn in, in plan milliseconds.
    pub from_ms: u64,
    /// End of that window (keep it before the heal).
    pub until_ms: u64,
    /// The highest chance per pass, in permille.
    pub max_permille: u16,
    /// On for the whole window (else for a span drawn inside it).
    pub whole_window: bool,
}

impl<'a> FaultPointDraw<'a> {
    /// Sites passed many times a second (a write per frame, a read per
    /// command): at most 5 % per pass.
    pub fn hot(prefix: &'a str, from_ms: u64, until_ms: u64) -> Self {
        FaultPointDraw {
            prefix,
            from_ms,
            until_ms,
            max_permille: 50,
            whole_window: false,
        }
    }

    /// Sites passed a few times a run (a publish per attempt): on for the
    /// whole window, at most 50 % per pass, or they would hardly ever fire.
    pub fn rare(prefix: &'a str, from_ms: u64, until_ms: u64) -> Self {
        FaultPointDraw {
            max_permille: 500,
            whole_window: true,
            ..FaultPointDraw::hot(prefix, from_ms, until_ms)
        }
    }
}

/// Swarm testing (TigerBeetle's VOPR): each seed first draws which fault
/// kinds are on and how hard, then generates events from that draw, so a
/// batch of seeds explores many fault mixes instead of one average mix.
#[derive(Debug)]
pub struct Swarm {
    rng: SimRng,
    picks: BTreeMap<String, u16>,
}

impl Swarm {
    /// A swarm for one seed of one scenario.
    pub fn new(seed: u64, scenario: &str) -> Swarm {
        Swarm {
            rng: SimRng::fork(seed, &format!("swarm/{scenario}")),
            picks: BTreeMap::new(),
        }
    }

    /// Is `kind` on this seed (with probability `p_on`)? If so, its
    /// intensity in `0.0..=1.0`, recorded for the banner.
    pub fn kind(&mut self, kind: &str, p_on: f64) -> Option<f64> {
        let on = self.rng.chance(p_on);
        let permille = if on {
            self.rng.range(1, 1000) as u16
        } else {
            0
        };
        self.picks.insert(kind.to_string(), permille);
        on.then_some(f64::from(permille) / 1000.0)
    }

    /// Swarm kind `fault-points`: with probability `p_on`, switch some of
    /// the core's fault points named by `draw` on for (part of) its window,
    /// each site with probability ½ (chance per pass from 0.1 % up to the
    /// draw's maximum, scaled by the intensity). Sites come from
    /// `relaysim_core::faults::SITES`.
    pub fn fault_points(
        &mut self,
        plan: &mut FaultPlan,
        rng: &mut SimRng,
        p_on: f64,
        draw: FaultPointDraw<'_>,
    ) {
        let Some(intensity) = self.kind("fault-points", p_on) else {
            return;
        };
        let span = f64::from(draw.max_permille.max(1) - 1);
        for (site, _) in relaysim_core::faults::SITES
            .iter()
            .filter(|(s, _)| s.starts_with(draw.prefix))
        {
            if rng.chance(0.5) {
                let permille = (1.0 + intensity * span) as u16;
                let (from, until) = if draw.whole_window {
                    (draw.from_ms, draw.until_ms)
                } else {
                    let from = rng.range(draw.from_ms, draw.until_ms);
                    (from, rng.range(from, draw.until_ms))
                };
                plan.push(
                    Duration::from_millis(from),
                    Fault::FaultPoint {
                        site: (*site).into(),
                        permille,
                    },
                );
                plan.push(
                    Duration::from_millis(until),
                    Fault::FaultPoint {
                        site: (*site).into(),
                        permille: 0,
                    },
                );
            }
        }
    }

    /// Records the draw in `plan` (call last).
    pub fn finish(self, mut plan: FaultPlan) -> FaultPlan {
        plan.swarm = self.picks;
        plan.sorted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The on/off pairs a draw made, per site: (on at, chance, off at).
    fn spans(plan: &FaultPlan) -> Vec<(String, u64, u16, u64)> {
        let mut open: BTreeMap<String, (u64, u16)> = BTreeMap::new();
        let mut out = Vec::new();
        for e in &plan.clone().sorted().events {
            if let Fault::FaultPoint { site, permille } = &e.fault {
                if *permille > 0 {
                    open.insert(site.clone(), (e.at_ms, *permille));
                } else if let Some((on, p)) = open.remove(site) {
                    out.push((site.clone(), on, p, e.at_ms));
                }
            }
        }
        out
    }

    #[test]
    fn fault_point_draws_stay_in_their_family_window_and_chance() {
        let mut hot_seen = 0;
        let mut rare_seen = 0;
        for seed in 0..200 {
            let mut rng = SimRng::fork(seed, "test");
            let mut draw = |d: FaultPointDraw<'_>| {
                let mut plan = FaultPlan::default();
                Swarm::new(seed, "test").fault_points(&mut plan, &mut rng, 1.0, d);
                spans(&plan)
            };
            for (site, on, p, off) in draw(FaultPointDraw::hot("restream.", 2_000, 9_000)) {
                hot_seen += 1;
                assert!(site.starts_with("restream."), "{site}");
                assert!((2_000..=off).contains(&on) && off <= 9_000, "{on}..{off}");
                assert!((1..=50).contains(&p), "{p}");
            }
            for (site, on, p, off) in draw(FaultPointDraw::rare("publisher.", 0, 2_000)) {
                rare_seen += 1;
                assert_eq!(site, "publisher.publish.answer-lost");
                assert_eq!((on, off), (0, 2_000));
                assert!((1..=500).contains(&p), "{p}");
            }
        }
        assert!(hot_seen > 100 && rare_seen > 50, "{hot_seen} {rare_seen}");
    }

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
    fn transcode_faults_round_trip() {
        let p = FaultPlan::new(vec![
            FaultEvent {
                at_ms: 10,
                fault: Fault::BroadcastPublish {
                    publisher: "obs-a".into(),
                },
            },
            FaultEvent {
                at_ms: 20,
                fault: Fault::RenditionRemove {
                    rendition: "480p".into(),
                    window_ms: 200,
                },
            },
            FaultEvent {
                at_ms: 30,
                fault: Fault::TranscoderPanic {
                    rendition: "720p".into(),
                    phase: relaysim_core::transcode::Phase::Fragment,
                    after: 3,
                },
            },
        ]);
        assert_eq!(FaultPlan::from_json(&p.to_json()).unwrap(), p);
        assert!(p.to_literal().contains(
            "Fault::TranscoderPanic { rendition: \"720p\".into(), phase: Phase::Fragment, after: 3 }"
        ));
        assert_eq!(
            p.events[1].fault.to_string(),
            "fault.rendition-remove rendition=480p window_ms=200"
        );
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
