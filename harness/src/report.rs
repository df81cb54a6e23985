//! The seed banner and the failure report.
//!
//! Owns the text a user reads when a run starts and when it fails. The
//! report is the contract with users reproducing a race: kind, check,
//! scenario, seed, known bugs, simulated time, two copy-paste replay commands
//! (CLI and `cargo test`), the fault plan as a pasteable literal, and the last
//! trace lines. Its exact format is snapshot-tested
//! (`snapshots/cards/report-format.snap`); change both together.

use crate::check::{Failure, ReplayHint};
use crate::engine::EngineKind;
use crate::scenario::{AnyPlan, ScenarioInfo};
use crate::seed::Seed;
use relaysim_core::BugSet;
use std::fmt::Write;
use std::time::Duration;

fn bug_flags(bugs: BugSet) -> String {
    bugs.iter().map(|b| format!(" --bug {}", b.id())).collect()
}

fn secs(d: Duration) -> String {
    let ms = d.as_millis();
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

/// The CLI command that replays one run: the seed, the bugs, and the plan
/// file when the run replayed one (so pasting it runs the same plan). A
/// family no CLI knows says so.
pub fn replay_cli(
    hint: &ReplayHint,
    scenario: &str,
    seed: Seed,
    bugs: BugSet,
    plan_file: Option<&str>,
    engine: EngineKind,
) -> String {
    let engine_flag = if engine == EngineKind::default() {
        String::new()
    } else {
        format!(" --engine {engine}")
    };
    let plan = plan_file
        .map(|p| format!(" --plan {}", shell_word(p)))
        .unwrap_or_default();
    match hint.cli {
        Some(cli) => format!(
            "{cli} replay {scenario} --seed {seed}{}{engine_flag}{plan}",
            bug_flags(bugs)
        ),
        None => "(no CLI runs this family: use the test line)".to_string(),
    }
}

/// The `cargo test` command that replays one run (`RELAYSIM_PLAN` names
/// the plan file when the run replayed one).
pub fn replay_test(
    hint: &ReplayHint,
    scenario: &str,
    seed: Seed,
    bugs: BugSet,
    plan_file: Option<&str>,
    engine: EngineKind,
) -> String {
    let engine_env = if engine == EngineKind::default() {
        String::new()
    } else {
        format!("RELAYSIM_ENGINE={engine} ")
    };
    let bug_env = if bugs.is_empty() {
        String::new()
    } else {
        format!("RELAYSIM_BUG={bugs} ")
    };
    let plan_env = plan_file
        .map(|p| format!("RELAYSIM_PLAN={} ", shell_word(p)))
        .unwrap_or_default();
    format!(
        "RELAYSIM_SEED={seed} {bug_env}{engine_env}{plan_env}{}{} --exact",
        hint.test,
        scenario.replace('-', "_")
    )
}

/// `s` as one shell word (quoted when it holds anything but plain path
/// characters).
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

impl Failure {
    /// The CLI command that replays this failure's run.
    pub fn replay_cli(&self) -> String {
        replay_cli(
            &self.replay,
            self.scenario,
            self.seed,
            self.bugs,
            self.plan_file.as_deref(),
            self.engine,
        )
    }

    /// The `cargo test` command that replays this failure's run.
    pub fn replay_test(&self) -> String {
        replay_test(
            &self.replay,
            self.scenario,
            self.seed,
            self.bugs,
            self.plan_file.as_deref(),
            self.engine,
        )
    }
}

/// The line printed before a run starts (TigerBeetle's seed banner): enough
/// to replay it even if the process is killed mid-run.
pub fn banner(scn: &ScenarioInfo, seed: Seed, bugs: BugSet, plan: &dyn AnyPlan) -> String {
    let kinds = plan.kinds();
    format!(
        "relaysim: scenario={} seed={seed} bugs={bugs} tick={}ms duration={}s heal_at={}s faults={} kinds={} swarm={}",
        scn.name,
        scn.tick.as_millis(),
        scn.duration.as_secs(),
        scn.heal_at.as_secs(),
        plan.len(),
        if kinds.is_empty() {
            "none".to_string()
        } else {
            kinds.join(",")
        },
        plan.swarm_summary()
    )
}

/// The full failure report.
pub fn failure_report(f: &Failure) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "---- relaysim: scenario `{}` FAILED ({}) at seed {} ----",
        f.scenario, f.kind, f.seed
    );
    let _ = writeln!(s, "  check    : {}", f.check);
    let mut detail = f.detail.lines();
    let _ = writeln!(s, "  detail   : {}", detail.next().unwrap_or(""));
    for more in detail {
        let _ = writeln!(s, "             {more}");
    }
    let _ = writeln!(s, "  seed     : {}", f.seed);
    let _ = writeln!(s, "  bugs     : {}", f.bugs);
    let _ = writeln!(s, "  sim time : {}", secs(f.at));
    let _ = writeln!(s, "  replay   : {}", f.replay_cli());
    let _ = writeln!(s, "  test     : {}", f.replay_test());
    let _ = writeln!(s, "  plan     : (paste into a regression test)");
    for line in f.plan.to_literal().lines() {
        let _ = writeln!(s, "    {line}");
    }
    if !f.tail.is_empty() {
        let _ = writeln!(s, "  last events (up to {}):", secs(f.at));
        for line in &f.tail {
            let _ = writeln!(s, "    {line}");
        }
    }
    let _ = writeln!(
        s,
        "note: rerun with the environment variable `RELAYSIM_SEED={}` to reproduce this failure",
        f.seed
    );
    s
}
