//! The core's integration tests, in one test binary: every suite that
//! needs no special build (loom's models are `core/tests/loom_*.rs` under
//! core's `loom` feature, shuttle's `core/tests/shuttle.rs` under its
//! `shuttle` feature). One binary links the core and its dependencies once
//! instead of once per suite, which is most of what these tests cost to
//! build.
//!
//! The binary is the only target of its own test-only package,
//! `relaysim-core-integration` (this folder's `Cargo.toml`), so that it
//! builds at opt-level 0 while the core it judges stays at 1 (cargo sets
//! opt-level per package). Its `known-bugs` and `fault-points` features,
//! on by default, switch on the core's. The model checkers' builds select
//! their own test targets (`--test 'loom_*'`, `--test shuttle`) and never
//! build this one.
//!
//! A suite is a module named for what it judges; run one with
//! `cargo test -p relaysim-core-integration <module>::`.
//!
//! | module | judges |
//! |---|---|
//! | [`gate_props`] | restream's egress gate (property tests) |
//! | [`supervisor_model`] | restream's supervisor (proptest state machine) |
//! | [`restream_relay`] | restream's pumps and whole relay against scripted in-memory peers |
//! | [`restream_tasks`] | replaced pumps leave no task, a publish session's end none (the runtime's count) |
//! | [`rtmp_hostile`] | the RTMP receive paths under hostile bytes |
//! | [`rtmp_wire`] | `rml_rtmp`'s wall-clock reads never reach the bytes |
//! | [`twitch_hostile`] | the Twitch API client against hostile services |
//! | [`transcode_model`] | the transcode registry and runner (state machine) |
//! | [`transcode_runner`] | the transcode runner, deterministically |
//! | [`transcode_tasks`] | drain tasks = live tracks x ladder, none once unpublished (the runtime's count) |
//! | [`pads_model`] | the MoQ source's pad forwarding (state machine) |
//! | [`pads_session`] | the MoQ session's controller and pumps against a scripted relay |
//! | [`pads_src`] | the MoQ source element's session lifecycle |
//! | [`pads_tasks`] | a stopped MoQ session leaves no task (the runtime's count) |
//! | [`publisher_attempt`] | one publish attempt against an in-memory room |
//! | [`publisher_tasks`] | the publisher leaves no task once it finished (the runtime's count) |
//! | [`ws_props`] | the ws session's sans-IO parts and send path |
//! | [`ws_hostile`] | the ws server under hostile peers |
//! | [`ws_tasks`] | the ws server's tasks end with their session (the runtime's count) |
//! | [`ws_real_peer`] | the ws server against Python's `websockets` |
//! | [`hostile_input`] | every parser and receive path under arbitrary bytes |
//!
//! [`common`] (proptest state-machine support) and [`support`] (an
//! in-memory network and an event recorder) are shared helpers.

mod common;
mod support;

mod gate_props;
mod hostile_input;
mod pads_model;
mod pads_session;
mod pads_src;
mod pads_tasks;
mod publisher_attempt;
mod publisher_tasks;
mod restream_relay;
mod restream_tasks;
mod rtmp_hostile;
mod rtmp_wire;
mod supervisor_model;
mod transcode_model;
mod transcode_runner;
mod transcode_tasks;
mod twitch_hostile;
mod ws_hostile;
mod ws_props;
mod ws_real_peer;
mod ws_tasks;

/// proptest takes its seed from `.cargo/config.toml`, not OS entropy, so
/// every run of these suites draws the same cases (the project's rule: no
/// OS entropy reaches a decision; a failure replays as it was seen).
#[test]
fn proptest_cases_come_from_a_fixed_seed() {
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .expect("PROPTEST_RNG_SEED is set by .cargo/config.toml's [env]");
    seed.parse::<u64>()
        .expect("PROPTEST_RNG_SEED is a u64, as proptest parses it");
    let config = proptest::test_runner::Config::default();
    assert!(
        matches!(config.rng_seed, proptest::test_runner::RngSeed::Fixed(_)),
        "proptest's default config reads the fixed seed: {:?}",
        config.rng_seed
    );
}
