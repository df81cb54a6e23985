//! relaysim-harness: generic deterministic-simulation machinery.
//!
//! Everything here is independent of any one scenario: it turns a
//! [`Scenario`] (a world builder, a fault-plan generator and checks) plus a
//! seed into a deterministic turmoil run, records its trace, judges it, and
//! reports failures with a replay command.
//!
//! | module | owns | must never |
//! |---|---|---|
//! | [`simnet`] | `SimNet`, the turmoil implementation of core's `Net` | be used outside a turmoil host |
//! | [`seed`] | seed and seed-range parsing, `RELAYSIM_SEED` / `RELAYSIM_SEEDS` | draw a seed from the OS |
//! | [`fault`] | fault plans: timed fault events, as data | hold anything not serializable |
//! | [`trace`] | the recorder, normalized trace lines, trace hash, divergence | stamp anything with wall time |
//! | [`check`] | always / eventually / sometimes checks and typed failures | mutate the run |
//! | [`scenario`] | the `Scenario` shape and the `World` hooks a scenario implements | know a concrete scenario |
//! | [`runner`] | one seed (step loop, faults, heal, watchdog, panic capture) and seed batches on worker threads | let wall time reach a decision inside a run |
//! | [`shrink`] | delta-debugging a failing plan to a 1-minimal one | change event times or values |
//! | [`report`] | the seed banner and the failure report | change format without its snapshot test changing |
//! | [`timeline`] | the HTML/SVG timeline of a run | run anything |
//! | [`segment`] | `SegmentedNet`: a maximum segment size on writes, so turmoil's window counts bytes | change what is read |
//! | [`peers`] | simulated external systems: Twitch API, platform ingests and OBS (restream); admin API, panic injection and viewers (transcode); the ws plugin client (ws); LiveKit, MoQ relay and the downstream GStreamer element (publisher, pads) | be linked into core |
//!
//! # Reproducing a failure
//!
//! Every failure report carries two commands, e.g.
//! `cargo run --release --bin relaysim -- replay vod-slow-twitch --seed 0x2a --bug vod-fetch-stacking`
//! and the matching `RELAYSIM_SEED=0x2a … cargo test` line. Both replay the
//! same run bit for bit: the seed fixes the fault plan, turmoil's RNG and every
//! host's tokio RNG (`--cfg tokio_unstable`).

#![warn(missing_docs)]

pub mod check;
pub mod fault;
pub mod peers;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod seed;
pub mod segment;
pub mod shrink;
pub mod simnet;
pub mod timeline;
pub mod trace;

pub use check::{Check, CheckKind, Failure, FailureKind, Verdict};
pub use fault::{Fault, FaultEvent, FaultPlan, FaultPointDraw, PlanFile, Swarm};
pub use runner::{run_batch, run_seed, BatchOptions, BatchReport, SeedOutcome};
pub use scenario::{Scenario, World, WorldCtx};
pub use seed::{Seed, SeedRange};
pub use simnet::SimNet;
pub use trace::{Entry, EntryKind, Recorder, Trace, WorldEvent};
