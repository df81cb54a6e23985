//! relaysim-harness: generic deterministic-simulation machinery.
//!
//! Everything here is independent of any one family: it turns a
//! [`Scenario`] (a family's world builder, plan generator and checks, typed
//! by the family's fault type) plus a seed into a deterministic run on an
//! engine (turmoil, the reference, or the event-driven fast engine), records its trace, judges it, and reports failures with a replay
//! command. It names no family and depends on no protocol crate; families
//! (their faults, worlds, peers, plans and checks) live in their own folder
//! of `relaysim-scenarios`, or in a crate of their own.
//!
//! | module | owns | must never |
//! |---|---|---|
//! | [`engine`] | the engine seam (`Sim`, `SimNet`, the clock and stream facts), the turmoil engine and the fast engine | let the engine choice change a plan, or read the wall clock |
//! | [`seed`] | seed and seed-range parsing, `RELAYSIM_SEED` / `RELAYSIM_SEEDS` | draw a seed from the OS |
//! | [`fault`] | fault plans: `Step = Net \| Point \| App(F)` at simulated times, the plan context and swarm, plan files | hold anything not serializable, or name a family |
//! | [`trace`] | the recorder, normalized trace lines (core, peer, fault and harness entries, read back by type), trace hash, divergence | stamp anything with wall time |
//! | [`detect`] | a known bug's detection run, its expected-check judgement and its reproduction card, for any scenario | keep a list of bugs |
//! | [`check`] | always / eventually / sometimes checks and typed failures | mutate the run |
//! | [`phase`] | phase coverage (faults over a family's connection phases) and deadline coverage, as `sometimes` verdicts | judge safety or liveness |
//! | [`scenario`] | `Scenario<F>`, the `World<F>` hooks a family implements, the type-erased `AnyScenario` and `AnyPlan` | know a concrete scenario |
//! | [`runner`] | one seed (step loop, faults, heal, watchdog, panic capture) and seed batches on worker threads | let wall time reach a decision inside a run |
//! | [`shrink`] | delta-debugging a failing plan to a 1-minimal one | change event times or values |
//! | [`report`] | the seed banner and the failure report | change format without its snapshot test changing |
//! | [`timeline`] | the HTML/SVG timeline of a run | run anything |
//! | [`segment`] | `SegmentedNet`: a maximum segment size on writes, so turmoil's window counts bytes | change what is read |
//!
//! # Reproducing a failure
//!
//! Every failure report carries two commands, e.g.
//! `cargo run --release --bin relaysim -- replay <scenario> --seed 0x2a --bug <bug id>`
//! and the matching `RELAYSIM_SEED=0x2a … cargo test` line. Both replay the
//! same run bit for bit: the seed fixes the fault plan, turmoil's RNG and every
//! host's tokio RNG (`--cfg tokio_unstable`).

#![warn(missing_docs)]

pub mod check;
pub mod detect;
pub mod engine;
pub mod fault;
pub mod phase;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod seed;
pub mod segment;
pub mod shrink;
pub mod timeline;
pub mod trace;

pub use check::{Check, CheckKind, Failure, FailureKind, Verdict};
pub use engine::{EngineKind, HostResult, SimNet};
pub use fault::{
    Band, FamilyFault, FaultEvent, FaultPlan, FaultPointDraw, NetFault, PlanCtx, PlanFile, Scope,
    Step, Swarm,
};
pub use runner::{run_batch, run_seed, BatchOptions, BatchReport, SeedOutcome};
pub use scenario::{
    AnyPlan, AnyScenario, ErasedPlan, NetParams, Scenario, ScenarioInfo, Target, World, WorldCtx,
};
pub use seed::{Seed, SeedRange, Seeds};
pub use trace::{Entry, EntryKind, HarnessEvent, PeerEvent, Recorder, Trace};
