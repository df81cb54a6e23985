//! `relaysim`: list, run, replay, shrink, detect, bench and merge from the
//! command line. The subcommands and their arguments are
//! `relaysim_scenarios::cli`; this file only parses and maps exit codes.
//!
//! Exit codes: 0 all passed (or every bug caught), 1 a failure, 2 bad input
//! (unknown scenario, seed or bug — a one-line error names the valid
//! choices — an incomplete merge, or a file that could not be written), 3
//! stdout could not be written, 130 / 143 interrupted by SIGINT / SIGTERM.

use clap::Parser;
use relaysim_scenarios::cli::Command;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "relaysim",
    version,
    about = "Deterministic simulation and fault injection for live-media relays"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

fn main() -> ExitCode {
    match Cli::parse().cmd.execute() {
        Ok(status) => ExitCode::from(status.code()),
        Err(msg) => {
            eprintln!("relaysim: error: {msg}");
            ExitCode::from(2)
        }
    }
}
