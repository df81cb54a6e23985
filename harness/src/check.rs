//! Checks: independent oracles over a run's trace and final facts.
//!
//! Owns [`Check`] (`always` = safety, `eventually` = liveness after the heal,
//! `sometimes` = coverage of a rare state the scenario exists to reach),
//! [`Verdict`] and the typed [`Failure`]. A check is a plain function of a
//! [`RunView`]; it never mutates the run and never sees wall time.

use crate::fault::FaultPlan;
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
    pub trace: &'a Trace,
    pub facts: &'a Facts,
    /// When faults stopped (the liveness phase began).
    pub heal_at: Duration,
    /// When the run ended.
    pub end: Duration,
}

/// One check's judgement of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Violated at simulated time `at`.
    Fail {
        at: Duration,
        detail: String,
    },
    /// (`sometimes`) the state was reached.
    Hit,
    /// (`sometimes`) the state was not reached.
    Miss,
}

impl Verdict {
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
    pub name: &'static str,
    pub kind: CheckKind,
    /// One sentence: what must hold.
    pub about: &'static str,
    pub eval: fn(&RunView<'_>) -> Verdict,
}

/// How a run (or a batch) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureKind {
    Safety,
    Liveness,
    Coverage,
    Determinism,
    Panic,
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
    pub kind: FailureKind,
    /// The check (or `panic`, `watchdog`, `determinism`, `coverage`).
    pub check: String,
    pub detail: String,
    pub scenario: &'static str,
    pub seed: Seed,
    pub bugs: BugSet,
    /// Simulated time of the violation.
    pub at: Duration,
    pub plan: FaultPlan,
    /// The last trace lines up to `at`.
    pub tail: Vec<String>,
}
