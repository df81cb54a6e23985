//! The `relaysim` subcommands, as a library (the binary only parses
//! arguments and maps results to exit codes), so tests can call them.
//!
//! One file per subcommand, each owning its clap argument struct (used
//! directly, never copied field by field) and its `run` function:
//!
//! | file | subcommand |
//! |---|---|
//! | [`list`] | `relaysim list`: scenarios, targets, fault points |
//! | [`run`] | `relaysim run`: seed ranges, shards, coverage, determinism across processes |
//! | [`replay`] | `relaysim replay`: one seed or plan file, its trace, timeline and plan file |
//! | [`shrink`] | `relaysim shrink`: the minimal failing plan |
//! | [`detect`] | `relaysim detect`: every declared bug caught, every scenario clean |
//! | [`merge`] | `relaysim merge`: shards' `run --json` outputs into one verdict |
//! | [`serve`] | `relaysim serve restream`: the restream core on real sockets |
//! | [`mod@bench`] | `relaysim bench`'s arguments (the measurements are [`mod@crate::bench`]) |
//! | [`output`] | stdout whose write errors end the process with a message and exit 3, progress bars |
//! | [`interrupt`] | Ctrl-C / SIGTERM: stop taking seeds, report, exit 130 / 143 |
//! | [`worker`] | `relaysim worker` (hidden): a worker process of a supervised batch |
//!
//! Each returns a [`Status`] (passed, failed, interrupted) or
//! `Err(one line)` for bad input. Nothing here knows a family.
//!
//! Exit codes of the binary: 0 passed, 1 a failure found, 2 bad input (or
//! an incomplete merge, or a file that could not be written), 3 stdout
//! could not be written, 130 / 143 interrupted by SIGINT / SIGTERM.

#[macro_use]
pub mod output;
pub mod bench;
pub mod detect;
pub mod interrupt;
pub mod list;
pub mod merge;
pub mod replay;
pub mod run;
pub mod serve;
pub mod shrink;
pub mod worker;

pub use detect::detect_one;
pub use relaysim_harness::detect::Detection;

use crate::catalog::{find, parse_bug};
use clap::Subcommand;
use relaysim_core::BugSet;
use relaysim_harness::{AnyScenario, PlanFile};

/// Every subcommand, with its arguments.
#[derive(Subcommand)]
pub enum Command {
    /// List every scenario with its family, targets and default seeds.
    List(list::ListArgs),
    /// Run scenarios over a seed range; exit 0 only when every seed passes.
    Run(run::RunArgs),
    /// Replay one seed (or a plan file) and print its trace; the last line is `trace-hash: <hex>`.
    Replay(replay::ReplayArgs),
    /// Shrink a failing run's plan to a minimal one that fails the same check.
    Shrink(shrink::ShrinkArgs),
    /// Check that every known bug is caught and every scenario passes with bugs off.
    Detect(detect::DetectArgs),
    /// Measure throughput, overhead, time to detection, real time vs simulation, loom.
    Bench(bench::BenchArgs),
    /// Combine the `run --json` outputs of several shards into one verdict.
    Merge(merge::MergeArgs),
    /// Run a core for real on sockets (`serve restream`).
    Serve(serve::ServeArgs),
    /// A worker process of a supervised batch (started by run and detect).
    #[command(hide = true)]
    Worker(worker::WorkerArgs),
}

/// How a subcommand ended (bad input is the `Err` beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything passed: exit 0.
    Passed,
    /// A failure was found (and reported): exit 1.
    Failed,
    /// A signal stopped it (after reporting what ran): exit `code`.
    Interrupted {
        /// 130 (SIGINT) or 143 (SIGTERM).
        code: u8,
    },
}

impl From<bool> for Status {
    fn from(ok: bool) -> Status {
        if ok {
            Status::Passed
        } else {
            Status::Failed
        }
    }
}

impl Status {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Status::Passed => 0,
            Status::Failed => 1,
            Status::Interrupted { code } => code,
        }
    }
}

impl Command {
    /// Runs the subcommand.
    pub fn execute(self) -> Result<Status, String> {
        match self {
            Command::List(a) => list::run(&a).map(Into::into),
            Command::Run(a) => run::run(&a),
            Command::Replay(a) => replay::run(&a).map(Into::into),
            Command::Shrink(a) => shrink::run(&a).map(Into::into),
            Command::Detect(a) => detect::run(&a).map(Into::into),
            Command::Bench(a) => bench::run(&a).map(Into::into),
            Command::Merge(a) => merge::run(&a).map(Into::into),
            Command::Serve(a) => serve::run(&a).map(Into::into),
            Command::Worker(a) => worker::run(&a),
        }
    }
}

/// Parses `--bug` values (repeatable, each may be comma-separated).
pub fn parse_bugs(ids: &[String]) -> Result<BugSet, String> {
    let mut set = BugSet::NONE;
    for id in ids {
        for part in id.split(',').filter(|p| !p.is_empty()) {
            set = set.try_with(parse_bug(part)?).map_err(|e| e.to_string())?;
        }
    }
    Ok(set)
}

/// A plan file, checked to belong to `scn`, with its plan parsed and
/// validated by the scenario's family.
pub fn read_plan_file(
    scn: &dyn AnyScenario,
    path: &std::path::Path,
) -> Result<(PlanFile, relaysim_harness::ErasedPlan), String> {
    let file = PlanFile::read(path)?;
    if file.scenario != scn.name {
        return Err(format!(
            "plan file {} is for scenario {:?}, not {:?}",
            path.display(),
            file.scenario,
            scn.name
        ));
    }
    let plan = scn
        .parse_plan(&file.plan)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((file, plan))
}

/// A scenario by name (re-exported for the subcommands).
pub(crate) fn scenario(name: &str) -> Result<&'static dyn AnyScenario, String> {
    find(name)
}
