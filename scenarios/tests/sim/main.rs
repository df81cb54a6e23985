//! The simulation test suite (one binary, so one link).
//!
//! - `scenarios`: every scenario over its default seed range with every bug
//!   off (`RELAYSIM_SEED`, `RELAYSIM_SEEDS`, `RELAYSIM_BUG` select others);
//! - `detection`: every known bug caught within 50 seeds of its scenario;
//! - `determinism`: the same seed gives the same trace, in-process and
//!   across processes;
//! - `snapshots`: passing traces, reproduction cards, the report format;
//! - `cli`: the `relaysim` binary's contract (exit codes, one-line errors);
//! - `regressions`: the numbered plans in `scenarios/regressions/`;
//! - `harness_power`: swarm, fault points, shrinking, timeline, plans, shards;
//! - `merge`: `relaysim merge`'s completeness rules, on hand-written shards.

mod cli;
mod detection;
mod determinism;
mod harness_power;
mod merge;
mod realtime;
mod regressions;
mod scenarios;
mod snapshots;
mod support;
