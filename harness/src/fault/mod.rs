//! Fault plans: the timed faults (and workload steps) of one run, as data.
//!
//! Owns the plan's shape and nothing of any family: [`Step`] is a generic
//! network fault ([`NetFault`], turmoil's verbs `partition`/`repair`,
//! `hold`/`release`), a core fault point, or a family's own fault
//! (`App(F)`, where `F` implements [`FamilyFault`]). [`FaultPlan`] is a
//! seed's list of timed steps, [`PlanCtx`] the context a family's plan
//! generator draws them through, [`Swarm`] the per-seed draw of which kinds
//! are on, and [`PlanFile`] a plan saved to disk.
//!
//! A family writes its fault type once — an enum with
//! `#[serde(tag = "kind", rename_all = "kebab-case")]` — and gets from that
//! one declaration its JSON, its trace line (`fault.<kind> key=value …`, the
//! same kebab-case name as the JSON `kind`) and its pasteable Rust literal
//! (see `node`). A plan never holds anything that is not plain data, and
//! this module never names a family.

mod node;

use node::Node;
use relaysim_core::entropy::SimRng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::{self, Write};
use std::time::Duration;

use crate::seed::Seed;

/// A family's own fault type: the application faults and workload steps of
/// its world. Write it as an internally tagged serde enum
/// (`#[serde(tag = "kind", rename_all = "kebab-case")]`); its trace text and
/// Rust literal are derived from that serialization, so no variant is ever
/// written out twice.
pub trait FamilyFault:
    Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The enum's name as a family's regression code spells it (the
    /// literal's prefix: `Fault::Connect`).
    const TYPE: &'static str = "Fault";

    /// The timeline band this fault opens or closes, if it has one.
    fn band(&self) -> Option<Band> {
        None
    }

    /// Where this fault acts, for phase coverage
    /// ([`crate::phase`]): the link of the connections it disturbs (a
    /// silent peer: the peer and the host that talks to it) or a whole
    /// host. `None` (the default) for a workload step — a publish, a
    /// start, a catalog change — which reaches no phase however it is
    /// timed.
    fn scope(&self) -> Option<Scope> {
        None
    }

    /// Refuses a value no plan generator would draw (a size or duration
    /// beyond sane bounds, a name the world does not have), with a
    /// one-line reason. Plan files are checked with it before a run.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Where a fault acts (see [`FamilyFault::scope`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every connection of one host (a crash).
    Host(String),
    /// The connections between two hosts.
    Link(String, String),
}

impl Scope {
    /// The link between two hosts.
    pub fn link(a: &str, b: &str) -> Scope {
        Scope::Link(a.to_string(), b.to_string())
    }

    /// Does it act on a connection between `a` and `b`?
    pub fn covers(&self, a: &str, b: &str) -> bool {
        match self {
            Scope::Host(h) => h == a || h == b,
            Scope::Link(x, y) => (x == a && y == b) || (x == b && y == a),
        }
    }
}

/// Bounds a family's [`FamilyFault::validate`] checks values against, each
/// failing with a one-line reason that names the field.
pub mod bounds {
    /// Ten minutes: no scenario's latency, stall or window is longer.
    pub const MAX_MS: u64 = 600_000;

    /// `value <= max`.
    pub fn at_most(field: &str, value: u64, max: u64) -> Result<(), String> {
        if value <= max {
            Ok(())
        } else {
            Err(format!("{field} {value} is above {max}"))
        }
    }

    /// A duration in milliseconds of at most [`MAX_MS`].
    pub fn ms(field: &str, value: u64) -> Result<(), String> {
        at_most(field, value, MAX_MS)
    }

    /// A percentage, 0 to 100.
    pub fn percent(field: &str, value: u8) -> Result<(), String> {
        at_most(field, value.into(), 100)
    }

    /// `min <= max`, both durations within [`MAX_MS`].
    pub fn ms_range(min_field: &str, min: u64, max_field: &str, max: u64) -> Result<(), String> {
        ms(min_field, min)?;
        ms(max_field, max)?;
        if min <= max {
            Ok(())
        } else {
            Err(format!("{min_field} {min} is above {max_field} {max}"))
        }
    }

    /// One of the names the world has.
    pub fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), String> {
        if allowed.contains(&value) {
            Ok(())
        } else {
            Err(format!(
                "{field} {value:?} is not one of {}",
                allowed.join(", ")
            ))
        }
    }
}

/// A shaded window on the HTML timeline: a fault that opens `label`, or
/// the one that closes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band {
    /// What the window is (`partition a~b`); opening and
    /// closing faults name the same label.
    pub label: String,
    /// Opens (else closes) the window.
    pub open: bool,
}

impl Band {
    /// A band that opens (`open`) or closes `label`.
    pub fn new(label: impl Into<String>, open: bool) -> Band {
        Band {
            label: label.into(),
            open,
        }
    }
}

/// The network faults every world has, on both engines: link verbs
/// (partition, hold, blackhole and their ends) and host verbs (crash,
/// bounce).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum NetFault {
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
    /// The link goes silent without telling anyone: a connect across it
    /// hangs (its SYN is swallowed: neither accepted nor refused), and
    /// bytes on established streams vanish with no FIN or RST, so each end
    /// sees a half-open connection (writes succeed, reads wait forever).
    /// Only the endpoints' own timeouts notice. Ended by [`NetFault::Restore`].
    Blackhole {
        /// One end of the link.
        a: String,
        /// The other end.
        b: String,
    },
    /// End a blackhole: what it swallowed is lost for good (a hanging
    /// connect is refused now; a stream that lost bytes has a gap and stays
    /// stalled, as after a partition), and the link carries new traffic.
    Restore {
        /// One end of the link.
        a: String,
        /// The other end.
        b: String,
    },
    /// Crash a host: every task its software started is aborted at once
    /// (its sockets close as a dying process's do: peers see a FIN, or a
    /// reset where data was unread; its ports stop listening). Nothing runs
    /// there until [`NetFault::Bounce`] (or the heal) restarts it.
    Crash {
        /// The host.
        host: String,
    },
    /// Restart a host's software from scratch (crashing it first if it is
    /// running): a process restart, with nothing kept in memory.
    Bounce {
        /// The host.
        host: String,
    },
}

impl NetFault {
    const KINDS: [&'static str; 8] = [
        "partition",
        "repair",
        "hold",
        "release",
        "blackhole",
        "restore",
        "crash",
        "bounce",
    ];

    /// The two hosts of the link, for a fault on a link (`None` for a
    /// host's crash or bounce).
    pub fn link(&self) -> Option<(&str, &str)> {
        match self {
            NetFault::Partition { a, b }
            | NetFault::Repair { a, b }
            | NetFault::Hold { a, b }
            | NetFault::Release { a, b }
            | NetFault::Blackhole { a, b }
            | NetFault::Restore { a, b } => Some((a, b)),
            NetFault::Crash { .. } | NetFault::Bounce { .. } => None,
        }
    }

    /// Every host the fault names.
    pub fn hosts(&self) -> Vec<&str> {
        match self {
            NetFault::Crash { host } | NetFault::Bounce { host } => vec![host],
            _ => self.link().map(|(a, b)| vec![a, b]).unwrap_or_default(),
        }
    }

    fn band(&self) -> Band {
        if let NetFault::Crash { host } | NetFault::Bounce { host } = self {
            return Band::new(
                format!("crash {host}"),
                matches!(self, NetFault::Crash { .. }),
            );
        }
        let (a, b) = self.link().unwrap_or_default();
        match self {
            NetFault::Partition { .. } => Band::new(format!("partition {a}~{b}"), true),
            NetFault::Repair { .. } => Band::new(format!("partition {a}~{b}"), false),
            NetFault::Hold { .. } => Band::new(format!("hold {a}~{b}"), true),
            NetFault::Release { .. } => Band::new(format!("hold {a}~{b}"), false),
            NetFault::Blackhole { .. } => Band::new(format!("blackhole {a}~{b}"), true),
            NetFault::Restore { .. } => Band::new(format!("blackhole {a}~{b}"), false),
            NetFault::Crash { .. } | NetFault::Bounce { .. } => unreachable!("returned above"),
        }
    }
}

/// The JSON form of a fault point (`{"kind":"fault-point",…}`).
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum PointForm<'a> {
    FaultPoint {
        #[serde(borrow)]
        site: std::borrow::Cow<'a, str>,
        permille: u16,
    },
}

/// One step of a plan: a network fault, a core fault point, or the
/// family's own fault. In JSON all three are one object told apart by its
/// `kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<F> {
    /// A network fault the runner applies to turmoil.
    Net(NetFault),
    /// Switch a core fault point on (`permille` chance per pass; 0 = off)
    /// until the heal (see `relaysim_core::faults`).
    Point {
        /// The site (one of `relaysim_core::faults::SITES`).
        site: String,
        /// Chance per pass, in permille (0 switches the site off).
        permille: u16,
    },
    /// The family's own fault, applied by its world.
    App(F),
}

impl<F> From<NetFault> for Step<F> {
    fn from(n: NetFault) -> Step<F> {
        Step::Net(n)
    }
}

impl<F: FamilyFault> From<F> for Step<F> {
    fn from(f: F) -> Step<F> {
        Step::App(f)
    }
}

impl<F: FamilyFault> Step<F> {
    fn node(&self) -> Node {
        match self {
            Step::Net(n) => Node::of(n),
            Step::Point { site, permille } => Node::of(&PointForm::FaultPoint {
                site: site.as_str().into(),
                permille: *permille,
            }),
            Step::App(f) => Node::of(f),
        }
    }

    /// The kind name, as in JSON and in the trace (swarm tables, coverage,
    /// banners).
    pub fn kind(&self) -> String {
        self.node().tag().unwrap_or("?").to_string()
    }

    /// A network fault?
    pub fn is_network(&self) -> bool {
        matches!(self, Step::Net(_))
    }

    /// The family's fault, if this is one.
    pub fn app(&self) -> Option<&F> {
        match self {
            Step::App(f) => Some(f),
            _ => None,
        }
    }

    /// A Rust expression rebuilding this step.
    pub fn literal(&self) -> String {
        match self {
            Step::Net(n) => format!(
                "{}.into()",
                Node::of(n).literal("NetFault", &format!("{n:?}"))
            ),
            Step::Point { site, permille } => {
                format!("Step::Point {{ site: {site:?}.into(), permille: {permille} }}")
            }
            Step::App(f) => format!("{}.into()", Node::of(f).literal(F::TYPE, &format!("{f:?}"))),
        }
    }

    /// The timeline band this step opens or closes.
    pub fn band(&self) -> Option<Band> {
        match self {
            Step::Net(n) => Some(n.band()),
            Step::Point { site, permille } => {
                Some(Band::new(format!("fault point {site}"), *permille > 0))
            }
            Step::App(f) => f.band(),
        }
    }
}

impl<F: FamilyFault> fmt::Display for Step<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let node = self.node();
        write!(f, "fault.{}", node.tag().unwrap_or("?"))?;
        node.write_fields(f)
    }
}

impl<F: FamilyFault> Serialize for Step<F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Step::Net(n) => n.serialize(s),
            Step::Point { site, permille } => PointForm::FaultPoint {
                site: site.as_str().into(),
                permille: *permille,
            }
            .serialize(s),
            Step::App(f) => f.serialize(s),
        }
    }
}

impl<'de, F: FamilyFault> Deserialize<'de> for Step<F> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        let kind = v
            .get("kind")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| D::Error::custom("a fault needs a string \"kind\""))?
            .to_string();
        let kind = kind.as_str();
        if NetFault::KINDS.contains(&kind) {
            serde_json::from_value(v)
                .map(Step::Net)
                .map_err(D::Error::custom)
        } else if kind == "fault-point" {
            match PointForm::deserialize(&v).map_err(D::Error::custom)? {
                PointForm::FaultPoint { site, permille } => Ok(Step::Point {
                    site: site.into_owned(),
                    permille,
                }),
            }
        } else {
            let f: F = serde_json::from_value(v.clone())
                .map_err(|e| D::Error::custom(format!("fault kind {kind:?}: {e}")))?;
            // serde ignores unknown keys on unit variants of tagged enums,
            // even with `deny_unknown_fields`: compare with what it kept.
            let kept = serde_json::to_value(&f).map_err(D::Error::custom)?;
            if let (Some(given), Some(kept)) = (v.as_object(), kept.as_object()) {
                if let Some(extra) = given.keys().find(|k| !kept.contains_key(*k)) {
                    return Err(D::Error::custom(format!(
                        "fault kind {kind:?}: unknown field `{extra}`"
                    )));
                }
            }
            Ok(Step::App(f))
        }
    }
}

/// A step as the trace keeps it: type-erased, so the trace (and the checks
/// that read it) need no family's type parameter. Read it back with
/// [`crate::trace::Entry::fault`].
pub trait TracedStep: Any + fmt::Debug + fmt::Display + Send + Sync {
    /// The timeline band it opens or closes.
    fn band(&self) -> Option<Band>;
    /// The network fault, if this is one (read by family-blind coverage).
    fn net(&self) -> Option<&NetFault>;
    /// Where it acts, if it is a fault on a connection at all (phase
    /// coverage).
    fn scope(&self) -> Option<Scope>;
    /// For downcasting to `Step<F>`.
    fn as_any(&self) -> &dyn Any;
}

impl<F: FamilyFault> TracedStep for Step<F> {
    fn band(&self) -> Option<Band> {
        Step::band(self)
    }
    fn net(&self) -> Option<&NetFault> {
        match self {
            Step::Net(n) => Some(n),
            _ => None,
        }
    }
    fn scope(&self) -> Option<Scope> {
        match self {
            Step::Net(n) => Some(match n.link() {
                Some((a, b)) => Scope::link(a, b),
                None => Scope::Host(n.hosts()[0].to_string()),
            }),
            // A fault point fails one code path inside the host that runs
            // it, on no connection; its own coverage is that it fires
            // (`fault_points_fire_in_every_family…`), not a phase.
            Step::Point { .. } => None,
            Step::App(f) => f.scope(),
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A step at a simulated time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "F: FamilyFault", deny_unknown_fields)]
pub struct FaultEvent<F> {
    /// Simulated time, in milliseconds from the start.
    pub at_ms: u64,
    /// What happens then.
    pub fault: Step<F>,
}

impl<F> FaultEvent<F> {
    /// `at_ms` as a duration.
    pub fn at(&self) -> Duration {
        Duration::from_millis(self.at_ms)
    }
}

/// Every step of one run, in time order, plus the swarm draw that chose
/// them (informational: the events alone decide the run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "F: FamilyFault", deny_unknown_fields)]
pub struct FaultPlan<F> {
    /// Fault kind → intensity in permille (0: the kind is off this seed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub swarm: BTreeMap<String, u16>,
    /// The events, in time order.
    pub events: Vec<FaultEvent<F>>,
}

impl<F> Default for FaultPlan<F> {
    fn default() -> Self {
        FaultPlan {
            swarm: BTreeMap::new(),
            events: Vec::new(),
        }
    }
}

impl<F: FamilyFault> FaultPlan<F> {
    /// A plan from events (sorted by time, stable).
    pub fn new(mut events: Vec<FaultEvent<F>>) -> FaultPlan<F> {
        // Stable: events at the same instant keep their generation order.
        events.sort_by_key(|e| e.at_ms);
        FaultPlan {
            swarm: BTreeMap::new(),
            events,
        }
    }

    /// Appends a step (call [`FaultPlan::sorted`] after pushing).
    pub fn push(&mut self, at: Duration, step: impl Into<Step<F>>) {
        self.events.push(FaultEvent {
            at_ms: at.as_millis() as u64,
            fault: step.into(),
        });
    }

    /// Sorts into time order (after pushes).
    pub fn sorted(self) -> FaultPlan<F> {
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

    /// The distinct kinds of its steps, sorted.
    pub fn kinds(&self) -> Vec<String> {
        let kinds: std::collections::BTreeSet<String> =
            self.events.iter().map(|e| e.fault.kind()).collect();
        kinds.into_iter().collect()
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
    pub fn from_json(s: &str) -> Result<FaultPlan<F>, String> {
        serde_json::from_str::<FaultPlan<F>>(s)
            .map(FaultPlan::sorted)
            .map_err(|e| format!("not a fault plan: {e}"))
    }
}

/// The context a family's plan generator draws a seed's plan through. The
/// RNG and the swarm are forked from the seed and the scenario's name, so
/// each scenario's plans are independent of every other's draw order.
#[derive(Debug)]
pub struct PlanCtx<F> {
    /// The run's seed.
    pub seed: Seed,
    /// The plan's RNG (`SimRng::fork(seed, scenario)`).
    pub rng: SimRng,
    /// The swarm draw (`Swarm::new(seed, scenario)`).
    pub swarm: Swarm,
    plan: FaultPlan<F>,
}

impl<F: FamilyFault> PlanCtx<F> {
    /// A context for one seed of the scenario `scenario`.
    pub fn new(seed: Seed, scenario: &str) -> PlanCtx<F> {
        PlanCtx {
            seed,
            rng: SimRng::fork(seed.0, scenario),
            swarm: Swarm::new(seed.0, scenario),
            plan: FaultPlan::default(),
        }
    }

    /// Adds a step at `at`.
    pub fn push(&mut self, at: Duration, step: impl Into<Step<F>>) {
        self.plan.push(at, step);
    }

    /// Adds a step at `at_ms` milliseconds.
    pub fn push_ms(&mut self, at_ms: u64, step: impl Into<Step<F>>) {
        self.plan.push(Duration::from_millis(at_ms), step);
    }

    /// Is swarm kind `kind` on this seed (probability `p_on`)? If so, its
    /// intensity in `0.0..=1.0`.
    pub fn kind(&mut self, kind: &str, p_on: f64) -> Option<f64> {
        self.swarm.kind(kind, p_on)
    }

    /// Swarm kind `fault-points` (see [`Swarm::fault_points`]).
    pub fn fault_points(&mut self, p_on: f64, draw: FaultPointDraw<'_>) {
        self.swarm
            .fault_points(&mut self.plan, &mut self.rng, p_on, draw);
    }

    /// The steps drawn so far, unsorted.
    pub fn events(&self) -> &[FaultEvent<F>] {
        &self.plan.events
    }

    /// The plan, with the swarm draw recorded and sorted by time.
    pub fn finish(self) -> FaultPlan<F> {
        self.swarm.finish(self.plan)
    }
}

/// A plan saved to disk: everything needed to replay a run without drawing
/// the plan from the RNG (`relaysim replay <scenario> --plan FILE`), so a
/// pinned regression keeps meaning the same thing after code changes that
/// move RNG draws. The seed still seeds turmoil and the peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile<P = serde_json::Value> {
    /// Format version.
    pub relaysim_plan: u32,
    /// The scenario the plan belongs to.
    pub scenario: String,
    /// Hex, as printed.
    pub seed: String,
    /// Known-bug ids switched on when the plan was saved.
    #[serde(default)]
    pub bugs: Vec<String>,
    /// The engine the run was on (`None` in files from before engines
    /// were recorded: turmoil). `relaysim replay --plan` runs on it unless
    /// told otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<crate::engine::EngineKind>,
    /// For regression plans: the check that fails with `bugs` on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// For regression plans: what happened and why it matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postmortem: Option<String>,
    /// The faults and workload (raw JSON when read: the scenario's family
    /// parses and validates it).
    pub plan: P,
}

/// The format version this relaysim reads and writes.
pub const PLAN_FORMAT: u32 = 1;

impl<P: Serialize> PlanFile<P> {
    /// The file as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()))
    }

    /// Writes the file, with a one-line error naming it.
    pub fn write(&self, path: &std::path::Path) -> Result<(), String> {
        std::fs::write(path, self.to_json() + "\n")
            .map_err(|e| format!("cannot write plan file {}: {e}", path.display()))
    }
}

impl PlanFile {
    /// Reads a plan file, with one-line errors naming the file. Its plan
    /// stays raw JSON until the scenario's family parses it.
    pub fn read(path: &std::path::Path) -> Result<PlanFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read plan file {}: {e}", path.display()))?;
        let file: PlanFile = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a relaysim plan file: {e}", path.display()))?;
        if file.relaysim_plan != PLAN_FORMAT {
            return Err(format!(
                "{} is plan format {}, this relaysim reads format {}",
                path.display(),
                file.relaysim_plan,
                PLAN_FORMAT
            ));
        }
        Ok(file)
    }
}

/// Which of the core's fault points [`Swarm::fault_points`] may switch on,
/// when, and how hard.
#[derive(Debug, Clone, Copy)]
pub struct FaultPointDraw<'a> {
    /// Sites whose name starts with this (a family's name and a dot).
    pub prefix: &'a str,
    /// The window a site's on-span is drawn in, in plan milliseconds.
    pub from_ms: u64,
    /// End of that window (keep it before the heal).
    pub until_ms: u64,
    /// The highest chance per pass, in permille.
    pub max_permille: u16,
    /// On for the whole window (else for a span drawn inside it).
    pub whole_window: bool,
    /// Sites of the prefix passed only a few times a run (a response per
    /// request), among sites passed many times: drawn like the others (the
    /// same window), but up to [`FaultPointDraw::RARE_MAX_PERMILLE`] per
    /// pass, or they would hardly ever fire.
    pub rare_sites: &'a [&'a str],
}

impl<'a> FaultPointDraw<'a> {
    /// The highest chance per pass of a site passed a few times a run.
    pub const RARE_MAX_PERMILLE: u16 = 500;

    /// Sites passed many times a second (a write per frame, a read per
    /// command): at most 5 % per pass.
    pub fn hot(prefix: &'a str, from_ms: u64, until_ms: u64) -> Self {
        FaultPointDraw {
            prefix,
            from_ms,
            until_ms,
            max_permille: 50,
            whole_window: false,
            rare_sites: &[],
        }
    }

    /// Sites passed a few times a run (a publish per attempt): on for the
    /// whole window, at most 50 % per pass, or they would hardly ever fire.
    pub fn rare(prefix: &'a str, from_ms: u64, until_ms: u64) -> Self {
        FaultPointDraw {
            max_permille: Self::RARE_MAX_PERMILLE,
            whole_window: true,
            ..FaultPointDraw::hot(prefix, from_ms, until_ms)
        }
    }

    /// The same draw, with `sites` (of its prefix) drawn as rare sites.
    pub fn with_rare(self, sites: &'a [&'a str]) -> Self {
        FaultPointDraw {
            rare_sites: sites,
            ..self
        }
    }

    /// The highest chance per pass of `site`, in permille.
    fn max_permille_of(&self, site: &str) -> u16 {
        if self.rare_sites.contains(&site) {
            self.max_permille.max(Self::RARE_MAX_PERMILLE)
        } else {
            self.max_permille
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
    pub fn fault_points<F: FamilyFault>(
        &mut self,
        plan: &mut FaultPlan<F>,
        rng: &mut SimRng,
        p_on: f64,
        draw: FaultPointDraw<'_>,
    ) {
        let Some(intensity) = self.kind("fault-points", p_on) else {
            return;
        };
        for (site, _) in relaysim_core::faults::SITES
            .iter()
            .filter(|(s, _)| s.starts_with(draw.prefix))
        {
            if rng.chance(0.5) {
                let span = f64::from(draw.max_permille_of(site).max(1) - 1);
                let permille = (1.0 + intensity * span) as u16;
                let (from, until) = if draw.whole_window {
                    (draw.from_ms, draw.until_ms)
                } else {
                    let from = rng.range(draw.from_ms, draw.until_ms);
                    (from, rng.range(from, draw.until_ms))
                };
                plan.push(
                    Duration::from_millis(from),
                    Step::Point {
                        site: (*site).into(),
                        permille,
                    },
                );
                plan.push(
                    Duration::from_millis(until),
                    Step::Point {
                        site: (*site).into(),
                        permille: 0,
                    },
                );
            }
        }
    }

    /// Records the draw in `plan` (call last).
    pub fn finish<F: FamilyFault>(self, mut plan: FaultPlan<F>) -> FaultPlan<F> {
        plan.swarm = self.picks;
        plan.sorted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A family's fault type, as a family writes it.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
    enum Fault {
        Latency { min_ms: u64, max_ms: u64 },
        Disconnect,
        Catalog { tracks: Vec<String> },
    }

    impl FamilyFault for Fault {
        fn band(&self) -> Option<Band> {
            matches!(self, Fault::Disconnect).then(|| Band::new("down", true))
        }
    }

    /// The on/off pairs a draw made, per site: (on at, chance, off at).
    fn spans(plan: &FaultPlan<Fault>) -> Vec<(String, u64, u16, u64)> {
        let mut open: BTreeMap<String, (u64, u16)> = BTreeMap::new();
        let mut out = Vec::new();
        for e in &plan.clone().sorted().events {
            if let Step::Point { site, permille } = &e.fault {
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
        // Every family prefix of the core's sites, drawn hot and rare.
        let prefixes: std::collections::BTreeSet<String> = relaysim_core::faults::SITES
            .iter()
            .map(|(s, _)| format!("{}.", s.split('.').next().unwrap_or("")))
            .collect();
        assert!(!prefixes.is_empty());
        for prefix in &prefixes {
            let mut hot_seen = 0;
            let mut rare_seen = 0;
            for seed in 0..200 {
                let mut rng = SimRng::fork(seed, "test");
                let mut draw = |d: FaultPointDraw<'_>| {
                    let mut plan = FaultPlan::<Fault>::default();
                    Swarm::new(seed, "test").fault_points(&mut plan, &mut rng, 1.0, d);
                    spans(&plan)
                };
                for (site, on, p, off) in draw(FaultPointDraw::hot(prefix, 2_000, 9_000)) {
                    hot_seen += 1;
                    assert!(site.starts_with(prefix.as_str()), "{site}");
                    assert!((2_000..=off).contains(&on) && off <= 9_000, "{on}..{off}");
                    assert!((1..=50).contains(&p), "{p}");
                }
                for (site, on, p, off) in draw(FaultPointDraw::rare(prefix, 0, 2_000)) {
                    rare_seen += 1;
                    assert!(site.starts_with(prefix.as_str()), "{site}");
                    assert_eq!((on, off), (0, 2_000));
                    assert!((1..=500).contains(&p), "{p}");
                }
            }
            assert!(
                hot_seen > 50 && rare_seen > 50,
                "{prefix}: {hot_seen} {rare_seen}"
            );
        }
    }

    fn plan() -> FaultPlan<Fault> {
        FaultPlan::new(vec![
            FaultEvent {
                at_ms: 3000,
                fault: Fault::Disconnect.into(),
            },
            FaultEvent {
                at_ms: 0,
                fault: Fault::Latency {
                    min_ms: 100,
                    max_ms: 9000,
                }
                .into(),
            },
            FaultEvent {
                at_ms: 5000,
                fault: NetFault::Partition {
                    a: "a".into(),
                    b: "b".into(),
                }
                .into(),
            },
            FaultEvent {
                at_ms: 6000,
                fault: Step::Point {
                    site: "x.write".into(),
                    permille: 7,
                },
            },
        ])
    }

    #[test]
    fn json_keeps_one_flat_kind_per_step_and_round_trips() {
        let p = plan();
        assert_eq!(p.events[0].at_ms, 0);
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains(r#"{"kind":"latency","min_ms":100,"max_ms":9000}"#));
        assert!(json.contains(r#"{"kind":"partition","a":"a","b":"b"}"#));
        assert!(json.contains(r#"{"kind":"fault-point","site":"x.write","permille":7}"#));
        assert_eq!(FaultPlan::from_json(&p.to_json()).unwrap(), p);
        assert!(FaultPlan::<Fault>::from_json("{")
            .unwrap_err()
            .starts_with("not a fault plan"));
    }

    #[test]
    fn unknown_kinds_and_keys_are_refused() {
        let bad = |s: &str| FaultPlan::<Fault>::from_json(s).unwrap_err();
        let e = bad(r#"{"events":[{"at_ms":0,"fault":{"kind":"latencyy"}}]}"#);
        assert!(e.contains("latencyy"), "{e}");
        let e =
            bad(r#"{"events":[{"at_ms":0,"fault":{"kind":"partition","a":"x","b":"y","c":1}}]}"#);
        assert!(e.contains("unknown field"), "{e}");
        let e = bad(r#"{"events":[{"at_ms":0,"fault":{"kind":"disconnect","x":1}}]}"#);
        assert!(e.contains("unknown field"), "{e}");
        let e = bad(r#"{"events":[{"at_ms":0,"falt":{"kind":"disconnect"}}]}"#);
        assert!(e.contains("unknown field"), "{e}");
        let e = bad(r#"{"events":[{"at_ms":0,"fault":{"site":"x"}}]}"#);
        assert!(e.contains("\"kind\""), "{e}");
    }

    #[test]
    fn trace_text_names_the_json_kind() {
        let p = plan();
        let text: Vec<String> = p.events.iter().map(|e| e.fault.to_string()).collect();
        assert_eq!(
            text,
            [
                "fault.latency min_ms=100 max_ms=9000",
                "fault.disconnect",
                "fault.partition a=a b=b",
                "fault.fault-point site=x.write permille=7",
            ]
        );
        let catalog: Step<Fault> = Fault::Catalog {
            tracks: vec!["cam".into(), "mic".into()],
        }
        .into();
        assert_eq!(catalog.to_string(), "fault.catalog tracks=cam,mic");
        assert_eq!(catalog.kind(), "catalog");
        assert_eq!(
            p.kinds(),
            ["disconnect", "fault-point", "latency", "partition"]
        );
    }

    #[test]
    fn literal_is_rust() {
        let lit = plan().to_literal();
        assert!(lit.contains("FaultEvent { at_ms: 5000, fault: NetFault::Partition { a: \"a\".into(), b: \"b\".into() }.into() },"), "{lit}");
        assert!(
            lit.contains("FaultEvent { at_ms: 3000, fault: Fault::Disconnect.into() },"),
            "{lit}"
        );
        assert!(lit.contains("FaultEvent { at_ms: 6000, fault: Step::Point { site: \"x.write\".into(), permille: 7 } },"), "{lit}");
        // The literal compiles: this is the same expression, written by hand.
        let rebuilt = FaultPlan::new(vec![
            FaultEvent {
                at_ms: 0,
                fault: Fault::Latency {
                    min_ms: 100,
                    max_ms: 9000,
                }
                .into(),
            },
            FaultEvent {
                at_ms: 3000,
                fault: Fault::Disconnect.into(),
            },
            FaultEvent {
                at_ms: 5000,
                fault: NetFault::Partition {
                    a: "a".into(),
                    b: "b".into(),
                }
                .into(),
            },
            FaultEvent {
                at_ms: 6000,
                fault: Step::Point {
                    site: "x.write".into(),
                    permille: 7,
                },
            },
        ]);
        assert_eq!(rebuilt, plan());
    }

    #[test]
    fn bands_pair_open_and_close() {
        let p: Step<Fault> = NetFault::Hold {
            a: "x".into(),
            b: "y".into(),
        }
        .into();
        let r: Step<Fault> = NetFault::Release {
            a: "x".into(),
            b: "y".into(),
        }
        .into();
        assert_eq!(p.band(), Some(Band::new("hold x~y", true)));
        assert_eq!(r.band(), Some(Band::new("hold x~y", false)));
        assert_eq!(
            Step::App(Fault::Disconnect).band(),
            Some(Band::new("down", true))
        );
        assert_eq!(Step::App(Fault::Catalog { tracks: vec![] }).band(), None);
    }

    #[test]
    fn blackhole_and_crash_faults_round_trip_and_pair_their_bands() {
        let steps: Vec<Step<Fault>> = vec![
            NetFault::Blackhole {
                a: "x".into(),
                b: "y".into(),
            }
            .into(),
            NetFault::Restore {
                a: "x".into(),
                b: "y".into(),
            }
            .into(),
            NetFault::Crash { host: "x".into() }.into(),
            NetFault::Bounce { host: "x".into() }.into(),
        ];
        let json: Vec<String> = steps
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect();
        assert_eq!(
            json,
            [
                r#"{"kind":"blackhole","a":"x","b":"y"}"#,
                r#"{"kind":"restore","a":"x","b":"y"}"#,
                r#"{"kind":"crash","host":"x"}"#,
                r#"{"kind":"bounce","host":"x"}"#,
            ]
        );
        for (step, j) in steps.iter().zip(&json) {
            assert_eq!(&serde_json::from_str::<Step<Fault>>(j).unwrap(), step);
        }
        let bands: Vec<Option<Band>> = steps.iter().map(Step::band).collect();
        assert_eq!(
            bands,
            [
                Some(Band::new("blackhole x~y", true)),
                Some(Band::new("blackhole x~y", false)),
                Some(Band::new("crash x", true)),
                Some(Band::new("crash x", false)),
            ]
        );
        assert_eq!(steps[2].to_string(), "fault.crash host=x");
        assert_eq!(
            steps[3].literal(),
            "NetFault::Bounce { host: \"x\".into() }.into()"
        );
        let crash = NetFault::Crash { host: "x".into() };
        assert_eq!((crash.link(), crash.hosts()), (None, vec!["x"]));
    }

    #[test]
    fn plan_ctx_forks_rng_and_swarm_from_the_scenario_name() {
        let draw = |name: &str| {
            let mut ctx = PlanCtx::<Fault>::new(Seed(7), name);
            let at = ctx.rng.range(0, 1000);
            ctx.push_ms(at, Fault::Disconnect);
            ctx.kind("partition", 0.5);
            ctx.finish()
        };
        assert_eq!(draw("a"), draw("a"));
        assert_eq!(
            draw("a").events[0].at_ms,
            SimRng::fork(7, "a").range(0, 1000)
        );
        assert_eq!(draw("a").swarm.len(), 1);
    }
}
