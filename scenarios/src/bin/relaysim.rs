//! `relaysim`: list, run, replay and detect from the command line.
//!
//! Exit codes: 0 all passed (or every bug caught), 1 a failure, 2 bad input
//! (unknown scenario, seed or bug; a one-line error names the valid choices).

use clap::{Parser, Subcommand};
use relaysim_scenarios::cli;
use std::path::PathBuf;
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
        /// Rerun the seeds in a second process and compare trace hashes.
        #[arg(long)]
        check_determinism: bool,
        /// Run only shard K of N of the seed range (e.g. 3/8).
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
    },
    /// Replay one seed (or a plan file) and print its trace; the last line is `trace-hash: <hex>`.
    Replay {
        scenario: String,
        /// The seed (default with --plan: the plan file's seed).
        #[arg(long)]
        seed: Option<String>,
        #[arg(long = "bug", value_name = "ID")]
        bugs: Vec<String>,
        /// Replay this plan file instead of the seed's own plan.
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
        /// Write the run's plan (faults and workload) to FILE.
        #[arg(long, value_name = "FILE")]
        save_plan: Option<PathBuf>,
        /// Write an HTML/SVG timeline of the run to FILE.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Print only the trace lines and the trace hash.
        #[arg(long)]
        trace_only: bool,
    },
    /// Shrink a failing run's plan to a minimal one that fails the same check.
    Shrink {
        scenario: String,
        #[arg(long)]
        seed: String,
        #[arg(long = "bug", value_name = "ID")]
        bugs: Vec<String>,
        /// Start from this plan file instead of the seed's plan.
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
        /// Also write the shrunk plan file here.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
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
    /// Measure throughput, overhead, time to detection, real time vs simulation, loom.
    Bench {
        /// Seeds per scenario for throughput and overhead.
        #[arg(long, default_value_t = 40)]
        seeds: u64,
        /// Disjoint 50-seed ranges per known bug for time to detection.
        #[arg(long, default_value_t = 10)]
        detect_ranges: u64,
        /// Real-time comparison: divide every timing by this.
        #[arg(long, default_value_t = 20)]
        scale: u32,
        /// Skip timing the loom step (which builds it with cargo on first use).
        #[arg(long)]
        no_loom: bool,
        #[arg(long)]
        json: bool,
    },
    /// Combine the `run --json` outputs of several shards into one verdict.
    Merge {
        files: Vec<PathBuf>,
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
            check_determinism,
            shard,
        } => cli::run(cli::RunArgs {
            scenario,
            all,
            seeds,
            bugs,
            jobs,
            json,
            coverage,
            check_determinism,
            shard,
        }),
        Cmd::Replay {
            scenario,
            seed,
            bugs,
            plan,
            save_plan,
            html,
            trace_only,
        } => cli::replay(cli::ReplayArgs {
            scenario,
            seed,
            bugs,
            plan,
            save_plan,
            html,
            trace_only,
        }),
        Cmd::Shrink {
            scenario,
            seed,
            bugs,
            plan,
            out,
        } => cli::shrink_cmd(&scenario, &seed, &bugs, plan.as_deref(), out.as_deref()),
        Cmd::Detect {
            ids,
            budget,
            clean_seeds,
            jobs,
            json,
        } => cli::detect(&ids, budget, clean_seeds, jobs, json),
        Cmd::Merge { files, json } => cli::merge(&files, json),
        Cmd::Bench {
            seeds,
            detect_ranges,
            scale,
            no_loom,
            json,
        } => {
            if seeds == 0 || detect_ranges == 0 || scale == 0 {
                Err("--seeds, --detect-ranges and --scale must be at least 1".into())
            } else {
                relaysim_scenarios::bench::run(&relaysim_scenarios::bench::BenchOptions {
                    seeds,
                    detect_ranges,
                    realtime_scale: scale,
                    loom: !no_loom,
                    json,
                    ..Default::default()
                })
            }
        }
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
