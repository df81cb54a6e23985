//! relaysim-scenarios: the scenario catalog, its checks, and the `relaysim`
//! command-line tool.
//!
//! A newcomer finds everything by name: scenario `vod-slow-twitch` is
//! [`restream::VOD_SLOW_TWITCH`], its test is `scenarios::vod_slow_twitch` in
//! `tests/sim`, its passing-trace snapshot is
//! `snapshots/traces/vod-slow-twitch.snap`, and the card of the bug it
//! targets is `snapshots/cards/vod-fetch-stacking.snap`.

pub mod bench;
pub mod catalog;
pub mod cli;
pub mod lvqr;
pub mod pads;
pub mod publisher;
pub mod restream;
pub mod transcode;
pub mod ws;

pub use catalog::{all, find, find_bug_scenario};

/// The walkthrough `docs/writing-a-scenario.md`, compiled and run as a
/// doctest so its example cannot drift from the API.
#[doc = include_str!("../../docs/writing-a-scenario.md")]
pub mod writing_a_scenario {}
