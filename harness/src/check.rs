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

/// Final state a world exposes to checks (`key → value`, ordered).
pub type Facts = BTreeMap<String, String>;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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
}
