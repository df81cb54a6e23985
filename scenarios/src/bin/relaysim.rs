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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            eprintln!("relaysim: error: {}", one_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    match cli.cmd.execute() {
        Ok(status) => ExitCode::from(status.code()),
        Err(msg) => {
            eprintln!("relaysim: error: {msg}");
            ExitCode::from(2)
        }
    }
}

/// clap's usage error as one line: its message and the lines that detail
/// it, without the usage block, pointing at `--help`.
fn one_line(rendered: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for line in rendered.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if !line.is_empty() {
            parts.push(line.strip_prefix("error: ").unwrap_or(line));
        }
    }
    format!("{} (see --help)", parts.join(" "))
}
