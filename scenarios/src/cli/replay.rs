//! `relaysim replay`: one seed (or a plan file) — banner, the whole trace,
//! the verdict, then `trace-hash: <hex>` last — and, on request, the run's
//! plan file and HTML timeline.

use super::{parse_bugs, read_plan_file, scenario};
use clap::Args;
use relaysim_core::BugSet;
use relaysim_harness::fault::{PlanFile, PLAN_FORMAT};
use relaysim_harness::report::{banner, failure_report};
use relaysim_harness::runner::RunOptions;
use relaysim_harness::EngineKind;
use relaysim_harness::{AnyPlan, AnyScenario, Seed};
use std::path::PathBuf;

/// Arguments of `relaysim replay`.
#[derive(Args, Debug, Clone, Default)]
pub struct ReplayArgs {
    /// Scenario name (see `relaysim list`).
    pub scenario: String,
    /// The seed (default with --plan: the plan file's seed).
    #[arg(long)]
    pub seed: Option<String>,
    /// Switch a known bug on (repeatable; default with --plan: the file's).
    #[arg(long = "bug", value_name = "ID")]
    pub bugs: Vec<String>,
    /// Replay this plan file instead of the seed's own plan.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Write the run's plan (faults and workload) to FILE.
    #[arg(long, value_name = "FILE")]
    pub save_plan: Option<PathBuf>,
    /// Write an HTML/SVG timeline of the run to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Print only the trace lines and the trace hash.
    #[arg(long)]
    pub trace_only: bool,
    /// The simulation engine (see `relaysim run --engine`; default: the
    /// plan file's engine, else turmoil).
    #[arg(long)]
    pub engine: Option<EngineKind>,
}

/// `relaysim replay`.
pub fn run(args: &ReplayArgs) -> Result<bool, String> {
    let scn = scenario(&args.scenario)?;
    let file = args
        .plan
        .as_deref()
        .map(|p| read_plan_file(scn, p))
        .transpose()?;
    let seed = match (&args.seed, &file) {
        (Some(s), _) => Seed::parse(s)?,
        (None, Some((f, _))) => Seed::parse(&f.seed)?,
        (None, None) => return Err("give --seed S or --plan FILE".into()),
    };
    let bugs = match (&file, args.bugs.is_empty()) {
        (Some((f, _)), true) => parse_bugs(&f.bugs)?,
        _ => parse_bugs(&args.bugs)?,
    };
    let engine = args
        .engine
        .or(file.as_ref().and_then(|(f, _)| f.engine))
        .unwrap_or_default();
    let plan = match file {
        Some((_, plan)) => plan,
        None => scn.plan(seed),
    };
    if !args.trace_only {
        outln!("{}", banner(scn.info(), seed, bugs, plan.as_ref()));
    }
    let outcome = scn.run_seed_bounded(
        seed,
        &RunOptions {
            bugs,
            plan: Some(plan.clone()),
            engine,
            ..RunOptions::default()
        },
        relaysim_harness::runner::SEED_WALL_LIMIT,
    );
    // Files first: printing ends the process quietly if stdout is closed.
    if let Some(path) = &args.save_plan {
        let check = outcome.failure.as_ref().map(|f| f.check.clone());
        write_plan_file(path, scn, seed, bugs, engine, plan.as_ref(), check)?;
        eprintln!("relaysim: plan written to {}", path.display());
    }
    if let Some(path) = &args.html {
        let title = format!("relaysim {} seed {seed} bugs {bugs}", scn.name);
        let html = relaysim_harness::timeline::render(
            &title,
            &outcome.trace,
            outcome.sim_time,
            outcome.failure.as_ref(),
            scn.links,
        );
        std::fs::write(path, html).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!(
            "relaysim: timeline written to {} (open it in a browser)",
            path.display()
        );
    }
    out!("{}", outcome.trace.text());
    if !args.trace_only {
        match &outcome.failure {
            Some(f) => {
                // A run of a plan file replays from that file: the seed's
                // own plan may differ (a shrunk or hand-edited plan).
                let mut f = f.clone();
                f.plan_file = args.plan.as_ref().map(|p| p.display().to_string());
                out!("{}", failure_report(&f))
            }
            None => outln!(
                "PASS: every check held ({} events)",
                outcome.trace.entries.len()
            ),
        }
    }
    outln!("trace-hash: {}", outcome.trace_hash);
    Ok(outcome.passed())
}

/// The plan file of one run, as pretty JSON.
pub fn plan_file_json(
    scn: &dyn AnyScenario,
    seed: Seed,
    bugs: BugSet,
    engine: EngineKind,
    plan: &dyn AnyPlan,
    check: Option<String>,
) -> String {
    plan.plan_file_json(PlanFile {
        relaysim_plan: PLAN_FORMAT,
        scenario: scn.name.to_string(),
        seed: seed.to_string(),
        bugs: bugs.iter().map(|b| b.id().to_string()).collect(),
        engine: Some(engine),
        check,
        postmortem: None,
        plan: (),
    })
}

/// Writes the plan file of one run, with a one-line error naming it.
pub fn write_plan_file(
    path: &std::path::Path,
    scn: &dyn AnyScenario,
    seed: Seed,
    bugs: BugSet,
    engine: EngineKind,
    plan: &dyn AnyPlan,
    check: Option<String>,
) -> Result<(), String> {
    std::fs::write(
        path,
        plan_file_json(scn, seed, bugs, engine, plan, check) + "\n",
    )
    .map_err(|e| format!("cannot write plan file {}: {e}", path.display()))
}
