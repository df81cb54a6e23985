//! The transcode scenario family: the fragment registry and rendition
//! ladder under churn (seed-systems.md §2).
//!
//! | scenario | targets | what it drives |
//! |---|---|---|
//! | `transcode-ladder-churn` | `rendition-remove-leak`, `transcoder-panic-kills-drain`, `republish-never-transcoded` | three broadcasts publish, stop and re-publish; the admin API adds and removes renditions (landing inside entry-created callbacks); transcoders panic in start, fragment and stop |
//! | `transcode-slow-consumer` | — | a slow transcoder (150–600 ms of work per 100 ms frame) shares a 16-fragment ring with a fast one and a viewer |
//! | `transcode-phases` | — | a main and a backup encoder of one broadcast; blackholes on their links and silences (before the hello, between frames) aimed at each phase of the publisher connection ([`phases`]) and at the ingest's claim, first-frame and idle bounds, some right at them |
//!
//! Phases and deadlines (`transcode-phases`): the publisher → ingest
//! connection has all five phases, each with its
//! `phase:publisher:<phase>` check (spans in [`phases`]); the bridge's
//! three bounds (`transcode.ingest.claim`, `.first-frame`, `.idle`) each
//! have their `deadline:` check and a contract oracle judged from the
//! encoders' side (`silent-publisher-dropped`, `publish-answered`). The
//! registry's subscriptions (drains, viewers) are in-process broadcast
//! rings, not connections: they have no connect, handshake or reconnect,
//! and no bounded wait.
//!
//! Tick: 10 ms. Frames arrive every 100 ms; the admin API's landing
//! windows are 150–400 ms and aimed at publishes that take 10–30 ms from
//! the publisher's connect to the entry-created callback (one or two TCP
//! segments at 1–5 ms latency, one step each); the slow transcoder's work
//! is a multiple of 10 ms. A 10 ms step resolves all of these orderings; a
//! 1 ms step would only multiply the cost.

pub mod checks;
pub mod fault;
pub mod peers;
pub mod phases;
pub mod plans;
pub mod world;

use checks::*;
pub use fault::Fault;
use relaysim_core::KnownBug;
use relaysim_harness::check::{Check, ReplayHint};
use relaysim_harness::scenario::{NetParams, Scenario, ScenarioInfo, Target, World, WorldCtx};
use relaysim_harness::timeline::LinkRule;
use std::time::Duration;
use world::{Ladder, Setup};

/// The tick of every transcode scenario (see the module docs).
pub const TICK: Duration = Duration::from_millis(10);

const NET: NetParams = NetParams {
    min_latency: Duration::from_millis(1),
    max_latency: Duration::from_millis(5),
    tcp_capacity: 256,
};

/// Ring capacity of the slow-consumer world: small enough that the slow
/// transcoder falls a ring behind within a session.
pub const SLOW_RING: usize = 16;

fn build_churn(sim: &mut relaysim_harness::engine::Sim, ctx: &WorldCtx) -> Box<dyn World<Fault>> {
    world::build(
        sim,
        ctx,
        Setup {
            ladder: Ladder::Churn,
            capacity: relaysim_core::transcode::broadcaster::DEFAULT_BROADCASTER_CAPACITY,
            publishers: world::PUBLISHERS.len(),
            encoders: false,
        },
    )
}

fn build_phases(sim: &mut relaysim_harness::engine::Sim, ctx: &WorldCtx) -> Box<dyn World<Fault>> {
    world::build(
        sim,
        ctx,
        Setup {
            ladder: Ladder::Churn,
            capacity: relaysim_core::transcode::broadcaster::DEFAULT_BROADCASTER_CAPACITY,
            publishers: 0,
            encoders: true,
        },
    )
}

fn build_slow(sim: &mut relaysim_harness::engine::Sim, ctx: &WorldCtx) -> Box<dyn World<Fault>> {
    world::build(
        sim,
        ctx,
        Setup {
            ladder: Ladder::Slow,
            capacity: SLOW_RING,
            publishers: plans::SLOW_PUBLISHERS,
            encoders: false,
        },
    )
}

// Check order matters for ties: a failure is reported by the earliest
// check at the earliest time, so the most specific checks come first.
static CHURN_CHECKS: [Check; 11] = [
    PANICS_ISOLATED,
    NO_LEAKED_DRAIN,
    NO_MISSED_DRAIN,
    FRAGMENT_ACCOUNTING,
    FAST_SUBSCRIBERS_NEVER_LAG,
    DRAINS_START_WITH_INIT,
    DRAINS_MATCH_LADDER,
    REMOVAL_LANDS_MID_CALLBACK,
    REPUBLISHED_BROADCAST_TRANSCODED,
    TRANSCODER_PANIC_CAUGHT,
    phases::FAULT_POINT_INGEST_DROP,
];
static SLOW_CHECKS: [Check; 9] = [
    NO_LEAKED_DRAIN,
    NO_MISSED_DRAIN,
    FRAGMENT_ACCOUNTING,
    FAST_SUBSCRIBERS_NEVER_LAG,
    DRAINS_START_WITH_INIT,
    DRAINS_MATCH_LADDER,
    SLOW_TRANSCODER_LAGS,
    REPUBLISHED_BROADCAST_TRANSCODED,
    phases::FAULT_POINT_INGEST_DROP,
];

static PHASES_CHECKS: [Check; 18] = [
    phases::SILENT_PUBLISHER_DROPPED,
    phases::PUBLISH_ANSWERED,
    phases::PUBLISHER_LIVE_AFTER_HEAL,
    NO_LEAKED_DRAIN,
    NO_MISSED_DRAIN,
    FRAGMENT_ACCOUNTING,
    FAST_SUBSCRIBERS_NEVER_LAG,
    DRAINS_START_WITH_INIT,
    DRAINS_MATCH_LADDER,
    REPUBLISHED_BROADCAST_TRANSCODED,
    phases::DEADLINE_CLAIM,
    phases::DEADLINE_FIRST_FRAME,
    phases::DEADLINE_IDLE,
    phases::PHASE_CONNECT,
    phases::PHASE_HANDSHAKE,
    phases::PHASE_STEADY,
    phases::PHASE_TEARDOWN,
    phases::PHASE_RECONNECT,
];

/// Timeline arrows: a publisher host (or an encoder's hello) to the entry
/// it creates, admin edits to where they landed.
const LINKS: &[LinkRule] = &[
    LinkRule {
        from: "obs.up",
        to: "transcode.ingest.publish",
        key: None,
    },
    LinkRule {
        from: "enc.hello",
        to: "transcode.ingest.publish",
        key: None,
    },
    LinkRule {
        from: "enc.down",
        to: "transcode.ingest.unpublish",
        key: None,
    },
    LinkRule {
        from: "obs.down",
        to: "transcode.ingest.unpublish",
        key: None,
    },
    LinkRule {
        from: "admin.apply",
        to: "transcode.rendition.added",
        key: Some("rendition"),
    },
    LinkRule {
        from: "admin.apply",
        to: "transcode.rendition.removed",
        key: Some("rendition"),
    },
    LinkRule {
        from: "inject.panic",
        to: "transcode.panic",
        key: None,
    },
];

pub static TRANSCODE_LADDER_CHURN: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "transcode-ladder-churn",
        family: "transcode",
        about: "three broadcasts publish, stop and re-publish while renditions are added and removed (landing mid-callback) and transcoders panic",
        tick: TICK,
        duration: plans::CHURN_DURATION,
        heal_at: plans::CHURN_HEAL_AT,
        net: NET,
        hosts: world::CHURN_HOSTS,
        targets: &[
            Target {
                bug: KnownBug::RenditionRemoveLeak,
                checks: &["no-leaked-drain"],
            },
            Target {
                bug: KnownBug::TranscoderPanicKillsDrain,
                checks: &["panics-isolated"],
            },
            Target {
                bug: KnownBug::RepublishNeverTranscoded,
                checks: &["no-missed-drain"],
            },
        ],
        // Cheap (about 20 ms a seed in the dev profile) and race-rich: more
        // seeds buy more landings of an admin edit inside a callback.
        default_seeds: 500,
        checks: &CHURN_CHECKS,
        links: LINKS,

        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::ladder_churn,
    build: build_churn,
};

pub static TRANSCODE_SLOW_CONSUMER: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "transcode-slow-consumer",
        family: "transcode",
        about: "a slow transcoder lags behind a fast emitter on a small ring, next to a fast transcoder and a viewer",
        tick: TICK,
        duration: plans::SLOW_DURATION,
        heal_at: plans::SLOW_HEAL_AT,
        net: NET,
        hosts: world::SLOW_HOSTS,
        targets: &[],
        default_seeds: 200,
        checks: &SLOW_CHECKS,
        links: LINKS,

        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::slow_consumer,
    build: build_slow,
};

pub static TRANSCODE_PHASES: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "transcode-phases",
        family: "transcode",
        about: "a main and a backup encoder of one broadcast; blackholes and silences aimed at each phase of the publisher connection and at the ingest's claim, first-frame and idle bounds",
        tick: TICK,
        duration: plans::PHASES_DURATION,
        heal_at: plans::PHASES_HEAL_AT,
        net: NET,
        hosts: world::PHASES_HOSTS,
        targets: &[],
        default_seeds: 100,
        checks: &PHASES_CHECKS,
        links: LINKS,

        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::phases,
    build: build_phases,
};
