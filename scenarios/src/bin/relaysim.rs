//! `relaysim`: list, run, replay and detect from the command line.
//!
//! Exit codes: 0 all passed (or every bug caught), 1 a failure, 2 bad input
//! (unknown scenario, seed or bug; a one-line error names the valid choices).

use clap::{Parser, Subcommand};
use relaysim_scenarios::cli;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "relaysim",
    version,
    about = "Deterministic simulation and fault injection for live-media relays"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List every scenario with its family, targets and default seeds.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Run scenarios over a seed range; exit 0 only when every seed passes.
    Run {
        /// Scenario name (see `relaysim list`).
        scenario: Option<String>,
        /// Run every scenario.
        #[arg(long, conflicts_with = "scenario")]
        all: bool,
        /// N (seeds 0..N) or A..B; default: each scenario's default range.
        #[arg(long)]
        seeds: Option<String>,
        /// Switch a known bug on (repeatable).
        #[arg(long = "bug", value_name = "ID")]
        bugs: Vec<String>,
        /// Worker threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// One JSON line per seed, then a summary line.
        #[arg(long)]
        json: bool,
        /// Print the coverage table of `sometimes` checks.
        #[arg(long)]
        coverage: bool,
    },
    /// Replay one seed and print its trace; the last line is `trace-hash: <hex>`.
    Replay {
        scenario: String,
        #[arg(long)]
        seed: String,
        #[arg(long = "bug", value_name = "ID")]
        bugs: Vec<String>,
    },
    /// Check that every known bug is caught and every scenario passes with bugs off.
    Detect {
        /// Bug ids (default: all).
        ids: Vec<String>,
        /// Seeds tried per bug.
        #[arg(long, default_value_t = 50)]
        budget: u64,
        /// Seeds of each scenario run with every bug off (0 skips the clean sweep).
        #[arg(long, default_value_t = 100)]
        clean_seeds: u64,
        #[arg(long)]
        jobs: Option<usize>,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let args = Cli::parse();
    let result = match args.cmd {
        Cmd::List { json } => cli::list(json),
        Cmd::Run {
            scenario,
            all,
            seeds,
            bugs,
            jobs,
            json,
            coverage,
        } => cli::run(cli::RunArgs {
            scenario,
            all,
            seeds,
            bugs,
            jobs,
            json,
            coverage,
        }),
        Cmd::Replay {
            scenario,
            seed,
            bugs,
        } => cli::replay(&scenario, &seed, &bugs),
        Cmd::Detect {
            ids,
            budget,
            clean_seeds,
            jobs,
            json,
        } => cli::detect(&ids, budget, clean_seeds, jobs, json),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(msg) => {
            eprintln!("relaysim: error: {msg}");
            ExitCode::from(2)
        }
    }
}
