//! `relaysim worker` (hidden): one worker process of a supervised batch.
//!
//! `relaysim run` and `detect` start these (see the harness's
//! `runner::isolate` module doc for the model and the protocol): it reads
//! seeds on stdin, runs each under the hard watchdog, and writes each
//! outcome on stdout as one JSON line. Not for users: its lines are a
//! protocol between two copies of the same binary.

use super::{parse_bugs, scenario, Status};
use clap::Args;
use relaysim_core::BugSet;
use relaysim_harness::runner::WorkerCommand;
use relaysim_harness::AnyScenario;
use std::time::Duration;

/// Arguments of `relaysim worker`.
#[derive(Args, Debug, Clone, Default)]
pub struct WorkerArgs {
    /// The scenario whose seeds this worker runs.
    pub scenario: String,
    /// Known bugs switched on (repeatable).
    #[arg(long = "bug", value_name = "ID")]
    pub bugs: Vec<String>,
    /// Each seed's wall-clock budget, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub wall_limit_ms: u64,
}

/// `relaysim worker`: serves seeds until stdin ends.
pub fn run(args: &WorkerArgs) -> Result<Status, String> {
    let scn = scenario(&args.scenario)?;
    let bugs = parse_bugs(&args.bugs)?;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    scn.serve_worker(
        bugs,
        Duration::from_millis(args.wall_limit_ms),
        &mut stdin.lock(),
        &mut stdout.lock(),
    )?;
    Ok(Status::Passed)
}

/// The command that starts a worker of this binary for `scn` and `bugs`.
pub fn command(
    scn: &dyn AnyScenario,
    bugs: BugSet,
    limit: Duration,
) -> Result<WorkerCommand, String> {
    let program =
        std::env::current_exe().map_err(|e| format!("cannot find the relaysim executable: {e}"))?;
    let mut args = vec!["worker".into(), scn.name.into()];
    for b in bugs.iter() {
        args.push("--bug".into());
        args.push(b.id().into());
    }
    args.push("--wall-limit-ms".into());
    args.push(limit.as_millis().to_string().into());
    Ok(WorkerCommand {
        program,
        args,
        env: Vec::new(),
    })
}
