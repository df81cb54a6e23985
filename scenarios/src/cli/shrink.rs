//! `relaysim shrink`: delta-debugs a failing run's plan to a 1-minimal one
//! that still fails the same check, and prints it as a plan file and as a
//! Rust literal for a regression test.

use super::replay::{plan_file_json, write_plan_file};
use super::{parse_bugs, read_plan_file, scenario};
use clap::Args;
use relaysim_harness::Seed;
use std::path::PathBuf;

/// Arguments of `relaysim shrink`.
#[derive(Args, Debug, Clone, Default)]
pub struct ShrinkArgs {
    /// Scenario name (see `relaysim list`).
    pub scenario: String,
    /// The failing seed.
    #[arg(long)]
    pub seed: String,
    /// Switch a known bug on (repeatable).
    #[arg(long = "bug", value_name = "ID")]
    pub bugs: Vec<String>,
    /// Start from this plan file instead of the seed's plan.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Also write the shrunk plan file here.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The simulation engine every run of the shrink uses (see `relaysim
    /// run --engine`; default: the --plan file's engine, else turmoil).
    #[arg(long)]
    pub engine: Option<relaysim_harness::EngineKind>,
}

/// `relaysim shrink`.
pub fn run(args: &ShrinkArgs) -> Result<bool, String> {
    let scn = scenario(&args.scenario)?;
    let seed = Seed::parse(&args.seed)?;
    let bugs = parse_bugs(&args.bugs)?;
    let file = args
        .plan
        .as_deref()
        .map(|p| read_plan_file(scn, p))
        .transpose()?;
    let engine = args
        .engine
        .or(file.as_ref().and_then(|(f, _)| f.engine))
        .unwrap_or_default();
    let start = file.map(|(_, plan)| plan);
    let shrunk = scn.shrink_on(seed, bugs, start.as_ref(), engine)?;
    let check = Some(shrunk.check.clone());
    // Files first: printing ends the process quietly if stdout is closed.
    if let Some(path) = &args.out {
        write_plan_file(
            path,
            scn,
            seed,
            bugs,
            engine,
            shrunk.plan.as_ref(),
            check.clone(),
        )?;
        eprintln!("relaysim: plan written to {}", path.display());
    }
    outln!(
        "shrunk {} seed {seed} bugs {bugs}: {} → {} fault events, still failing `{}` ({}), {} runs",
        scn.name,
        shrunk.original_events,
        shrunk.plan.len(),
        shrunk.check,
        shrunk.kind,
        shrunk.runs
    );
    outln!(
        "plan file:\n{}",
        plan_file_json(scn, seed, bugs, engine, shrunk.plan.as_ref(), check)
    );
    outln!("test literal:\n{}", shrunk.plan.to_literal());
    Ok(true)
}
