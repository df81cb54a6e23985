//! Checks: independent oracles over a run's trace and final facts.
//!
//! Owns [`Check`] (`always` = safety, `eventually` = liveness after the heal,
//! `sometimes` = coverage of a rare state the scenario exists to reach),
//! [`Verdict`] and the typed [`Failure`]. A check is a plain function of a
//! [`RunView`]; it never mutates the run and never sees wall time.

use crate::scenario::ErasedPlan;
use crate::seed::Seed;
use crate::trace::Trace;
use relaysim_core::BugSet;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// What kind of property a check states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    /// Safety: must hold at every point of every run.
    Always,
    /// Liveness: once faults heal, must hold within a bound.
    Eventually,
    /// Coverage: must be reached by at least one seed of a batch.
    Sometimes,
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckKind::Always => "always",
            CheckKind::Eventually => "eventually",
            CheckKind::Sometimes => "sometimes",
        })
    }
}

/// One value of a world's final state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// A count, size or time in milliseconds.
    Count(u64),
    /// A yes/no.
    Flag(bool),
    /// A name, URL or id (`None` when absent).
    Text(Option<String>),
    /// Names, in the world's order.
    List(Vec<String>),
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fact::Count(n) => write!(f, "{n}"),
            Fact::Flag(b) => write!(f, "{b}"),
            Fact::Text(Some(t)) => f.write_str(t),
            Fact::Text(None) => f.write_str("none"),
            Fact::List(items) => f.write_str(&items.join(",")),
        }
    }
}

impl From<u64> for Fact {
    fn from(n: u64) -> Fact {
        Fact::Count(n)
    }
}

impl From<usize> for Fact {
    fn from(n: usize) -> Fact {
        Fact::Count(n as u64)
    }
}

impl From<u32> for Fact {
    fn from(n: u32) -> Fact {
        Fact::Count(n.into())
    }
}

impl From<bool> for Fact {
    fn from(b: bool) -> Fact {
        Fact::Flag(b)
    }
}

impl From<String> for Fact {
    fn from(t: String) -> Fact {
        Fact::Text(Some(t))
    }
}

impl From<&str> for Fact {
    fn from(t: &str) -> Fact {
        Fact::Text(Some(t.to_string()))
    }
}

impl From<Option<String>> for Fact {
    fn from(t: Option<String>) -> Fact {
        Fact::Text(t)
    }
}

impl From<Vec<String>> for Fact {
    fn from(items: Vec<String>) -> Fact {
        Fact::List(items)
    }
}

/// Final state a world exposes to checks: typed values by key, ordered.
/// Checks read them back typed (`facts.count("x")`), so nothing is parsed
/// out of text, and a value of the wrong type reads as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts(BTreeMap<String, Fact>);

impl Facts {
    /// No facts.
    pub fn new() -> Facts {
        Facts::default()
    }

    /// Sets `key` to `value`.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<Fact>) {
        self.0.insert(key.into(), value.into());
    }

    /// The fact `key`, of any type.
    pub fn get(&self, key: &str) -> Option<&Fact> {
        self.0.get(key)
    }

    /// The count `key`.
    pub fn count(&self, key: &str) -> Option<u64> {
        match self.0.get(key) {
            Some(Fact::Count(n)) => Some(*n),
            _ => None,
        }
    }

    /// The flag `key`.
    pub fn flag(&self, key: &str) -> Option<bool> {
        match self.0.get(key) {
            Some(Fact::Flag(b)) => Some(*b),
            _ => None,
        }
    }

    /// The text `key` (`None` when absent, or set to none).
    pub fn text(&self, key: &str) -> Option<&str> {
        match self.0.get(key) {
            Some(Fact::Text(t)) => t.as_deref(),
            _ => None,
        }
    }

    /// The list `key`.
    pub fn list(&self, key: &str) -> Option<&[String]> {
        match self.0.get(key) {
            Some(Fact::List(items)) => Some(items),
            _ => None,
        }
    }

    /// The fact `key` as text, `?` when absent (for failure details).
    pub fn show(&self, key: &str) -> String {
        self.0
            .get(key)
            .map_or_else(|| "?".to_string(), Fact::to_string)
    }

    /// Every fact, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Fact)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of facts.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No facts?
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What a check sees of one finished run.
#[derive(Debug, Clone, Copy)]
pub struct RunView<'a> {
    /// The run's trace.
    pub trace: &'a Trace,
    /// The world's final facts.
    pub facts: &'a Facts,
    /// When faults stopped (the liveness phase began).
    pub heal_at: Duration,
    /// When the run ended.
    pub end: Duration,
}

/// One check's judgement of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The property held.
    Pass,
    /// Violated at simulated time `at`.
    Fail {
        /// Simulated time of the violation.
        at: Duration,
        /// What was seen, for the report.
        detail: String,
    },
    /// (`sometimes`) the state was reached.
    Hit,
    /// (`sometimes`) the state was not reached.
    Miss,
}

impl Verdict {
    /// A violation at `at`.
    pub fn fail(at: Duration, detail: impl Into<String>) -> Verdict {
        Verdict::Fail {
            at,
            detail: detail.into(),
        }
    }

    /// `Hit` if `reached`, else `Miss`.
    pub fn reached(reached: bool) -> Verdict {
        if reached {
            Verdict::Hit
        } else {
            Verdict::Miss
        }
    }
}

/// A named property.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// Kebab-case name, shown in reports and coverage tables.
    pub name: &'static str,
    /// Safety, liveness or coverage.
    pub kind: CheckKind,
    /// One sentence: what must hold.
    pub about: &'static str,
    /// Judges one finished run.
    pub eval: fn(&RunView<'_>) -> Verdict,
}

/// How a run (or a batch) failed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum FailureKind {
    /// An `always` check broke.
    Safety,
    /// An `eventually` check did not hold within its bound after the heal.
    Liveness,
    /// A `sometimes` check was never reached by a batch.
    Coverage,
    /// One seed gave two different traces.
    Determinism,
    /// Code under test (or a host) panicked or returned an error.
    Panic,
    /// The per-seed wall-clock watchdog stopped the run.
    Timeout,
    /// The seed's worker died (the process aborted, or a worker thread
    /// ended) before reporting an outcome.
    Crash,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Safety => "safety",
            FailureKind::Liveness => "liveness",
            FailureKind::Coverage => "coverage",
            FailureKind::Determinism => "determinism",
            FailureKind::Panic => "panic",
            FailureKind::Timeout => "timeout",
            FailureKind::Crash => "crash",
        })
    }
}

/// A failure with everything needed to reproduce it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// How it failed.
    pub kind: FailureKind,
    /// The check (or `panic`, `watchdog`, `determinism`, `coverage`).
    pub check: String,
    /// What was seen.
    pub detail: String,
    /// The scenario that failed.
    pub scenario: &'static str,
    /// The seed that failed.
    pub seed: Seed,
    /// Known bugs switched on for the run.
    pub bugs: BugSet,
    /// Simulated time of the violation.
    pub at: Duration,
    /// The run's fault plan (replayable).
    pub plan: ErasedPlan,
    /// The last trace lines up to `at`.
    pub tail: Vec<String>,
    /// How the scenario's runs are replayed from a shell.
    pub replay: ReplayHint,
    /// The plan file the run replayed, or its plan was saved to; the
    /// report's replay commands then name it.
    pub plan_file: Option<String>,
    /// The engine the run ran on (the replay commands name it when it is
    /// not the default).
    pub engine: crate::engine::EngineKind,
}

/// How a scenario's runs are replayed from a shell: the two command
/// prefixes a failure report completes with the scenario, seed, bugs and
/// plan file. A family outside the catalog names its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayHint {
    /// The CLI up to its subcommand (`cargo run --release --bin relaysim
    /// --`); `None` for a family no CLI knows (its test line replays).
    pub cli: Option<&'static str>,
    /// `cargo test` up to the test's name, which is the scenario's name in
    /// snake_case (`cargo test -p relaysim-scenarios --test sim -- scenarios::`).
    pub test: &'static str,
}

impl ReplayHint {
    /// The catalog's: the `relaysim` binary and `tests/sim`.
    pub const RELAYSIM: ReplayHint = ReplayHint {
        cli: Some("cargo run --release --bin relaysim --"),
        test: "cargo test -p relaysim-scenarios --test sim -- scenarios::",
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_read_back_typed_and_show_as_text() {
        let mut f = Facts::new();
        f.set("n", 3usize);
        f.set("ok", true);
        f.set("url", "tcp://x");
        f.set("none", None::<String>);
        f.set("names", vec!["a".to_string(), "b".to_string()]);
        assert_eq!(f.count("n"), Some(3));
        assert_eq!(f.flag("ok"), Some(true));
        assert_eq!(f.text("url"), Some("tcp://x"));
        assert_eq!(f.text("none"), None);
        assert_eq!(f.list("names").map(<[String]>::len), Some(2));
        // The wrong type reads as absent; `show` prints any.
        assert_eq!(f.count("ok"), None);
        assert_eq!(f.show("names"), "a,b");
        assert_eq!(f.show("none"), "none");
        assert_eq!(f.show("missing"), "?");
        assert_eq!(f.len(), 5);
    }

    /// Each typed read answers only for a fact of its own type; `iter` is
    /// in key order; `len`, `is_empty` and `get` count and find what was set.
    #[test]
    fn every_typed_read_answers_only_its_own_type() {
        let mut f = Facts::new();
        assert_eq!((f.len(), f.is_empty(), f.get("n")), (0, true, None));
        f.set("n", 3u32);
        f.set("b", false);
        f.set("t", Some("x".to_string()));
        f.set("l", Vec::<String>::new());
        assert_eq!((f.len(), f.is_empty()), (4, false));
        assert_eq!(f.get("n"), Some(&Fact::Count(3)));
        let reads = |k: &str| {
            (
                f.count(k).is_some(),
                f.flag(k).is_some(),
                f.text(k).is_some(),
                f.list(k).is_some(),
            )
        };
        assert_eq!(reads("n"), (true, false, false, false));
        assert_eq!(reads("b"), (false, true, false, false));
        assert_eq!(reads("t"), (false, false, true, false));
        assert_eq!(reads("l"), (false, false, false, true));
        assert_eq!(f.flag("b"), Some(false));
        let keys: Vec<&str> = f.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b", "l", "n", "t"]);
    }

    /// Every value prints as its own text: facts in failure details, kinds
    /// in reports and coverage tables.
    #[test]
    fn values_and_kinds_print_as_their_names() {
        let facts = [
            Fact::Count(7),
            Fact::Flag(false),
            Fact::Text(Some("x".into())),
            Fact::Text(None),
            Fact::List(vec!["a".into(), "b".into()]),
        ];
        let shown: Vec<String> = facts.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["7", "false", "x", "none", "a,b"]);
        let kinds: Vec<String> = [
            CheckKind::Always,
            CheckKind::Eventually,
            CheckKind::Sometimes,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(kinds, ["always", "eventually", "sometimes"]);
        let failures: Vec<String> = [
            FailureKind::Safety,
            FailureKind::Liveness,
            FailureKind::Coverage,
            FailureKind::Determinism,
            FailureKind::Panic,
            FailureKind::Timeout,
            FailureKind::Crash,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            failures,
            [
                "safety",
                "liveness",
                "coverage",
                "determinism",
                "panic",
                "timeout",
                "crash"
            ]
        );
        assert_eq!(Verdict::reached(true), Verdict::Hit);
        assert_eq!(Verdict::reached(false), Verdict::Miss);
        assert_eq!(
            Verdict::fail(Duration::from_millis(5), "x"),
            Verdict::Fail {
                at: Duration::from_millis(5),
                detail: "x".into()
            }
        );
    }
}
