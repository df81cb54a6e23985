//! The publisher scenario family: LiveKit-style track publishing with the
//! room join and the pipeline start in parallel (seed-systems.md §4).
//!
//! | scenario | targets | what it drives |
//! |---|---|---|
//! | `publisher-eos-race` | `eos-before-register` | RPCs of 0–0.6 s racing a 0–0.4 s pipeline start; each track's EOS early (often before its callback is registered) or late; sometimes a signal near the end |
//! | `publisher-join-fails` | – | joins and publishes refused, pipeline starts failing, slow answers, sometimes a signal: the other side is always stopped, nothing leaks, the publisher recovers after the heal |
//! | `publisher-phases` | – | a blackholed, held or silent room in each phase of the signalling session (connect, join, steady, leave, retry), answers at the RPC timeout: every room deadline fires, no wait outlasts its bound |
//!
//! Tick: 5 ms. The races are between RPC answers (tens to hundreds of ms),
//! pipeline starts (0–0.9 s) and EOS times drawn at millisecond resolution;
//! network latency is 1–5 ms, so every request and answer crosses in one or
//! two steps. 5 ms keeps every ordering that matters while a 10–14 s run
//! stays near 2–3 thousand steps.

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
use relaysim_harness::scenario::{NetParams, Scenario, ScenarioInfo, Target};
use relaysim_harness::timeline::LinkRule;
use std::time::Duration;

/// The tick of every publisher scenario (see the module docs).
pub const TICK: Duration = Duration::from_millis(5);

const NET: NetParams = NetParams {
    min_latency: Duration::from_millis(1),
    max_latency: Duration::from_millis(5),
    tcp_capacity: 256,
};

static EOS_RACE_CHECKS: [Check; 9] = [
    ENDED_TRACK_UNPUBLISHED,
    UNPUBLISH_AT_MOST_ONCE,
    STOP_ONCE,
    STOP_LEAVES_NOTHING,
    FAILED_START_CANCELS_THE_OTHER_SIDE,
    SESSION_ENDS_CLEANLY,
    EOS_BEFORE_REGISTER_REACHED,
    STOP_FROM_TWO_CALLERS,
    phases::FAULT_POINT_ANSWER_LOST,
];

static JOIN_FAILS_CHECKS: [Check; 8] = [
    ENDED_TRACK_UNPUBLISHED,
    UNPUBLISH_AT_MOST_ONCE,
    STOP_ONCE,
    STOP_LEAVES_NOTHING,
    FAILED_START_CANCELS_THE_OTHER_SIDE,
    PUBLISHES_AFTER_HEAL,
    ROOM_FAILS_WHILE_PIPELINE_STARTS,
    PIPELINE_FAILS_WHILE_JOINING,
];

static PHASES_CHECKS: [Check; 18] = [
    ENDED_TRACK_UNPUBLISHED,
    UNPUBLISH_AT_MOST_ONCE,
    STOP_ONCE,
    STOP_LEAVES_NOTHING,
    FAILED_START_CANCELS_THE_OTHER_SIDE,
    PUBLISHES_AFTER_HEAL_OR_LEAVE_BOUND,
    phases::START_WAITS_BOUNDED,
    phases::TEARDOWN_BOUNDED,
    phases::ANSWER_AT_RPC_TIMEOUT,
    phases::PHASE_CONNECT,
    phases::PHASE_HANDSHAKE,
    phases::PHASE_STEADY,
    phases::PHASE_TEARDOWN,
    phases::PHASE_RECONNECT,
    phases::DEADLINE_CONNECT,
    phases::DEADLINE_RPC,
    phases::DEADLINE_LEAVE,
    phases::DEADLINE_STOP_LEAVE,
];

/// Timeline arrows, cause to effect: the room's answers (joined, refused,
/// published) to what the publisher made of them, its unpublish and leave
/// requests to the room, and the room's leave to the stop's acknowledgement.
const LINKS: &[LinkRule] = &[
    LinkRule {
        from: "lk.joined",
        to: "pub.room.joined",
        key: Some("attempt"),
    },
    LinkRule {
        from: "lk.join.refused",
        to: "pub.start.failed",
        key: Some("attempt"),
    },
    LinkRule {
        from: "lk.published",
        to: "pub.track.published",
        key: Some("sid"),
    },
    LinkRule {
        from: "lk.publish.refused",
        to: "pub.start.failed",
        key: Some("attempt"),
    },
    LinkRule {
        from: "pub.track.unpublish",
        to: "lk.unpublished",
        key: Some("sid"),
    },
    LinkRule {
        from: "pub.stop.begin",
        to: "lk.left",
        key: Some("attempt"),
    },
    LinkRule {
        from: "lk.left",
        to: "pub.room.left",
        key: Some("attempt"),
    },
];

pub static PUBLISHER_EOS_RACE: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "publisher-eos-race",
        family: "publisher",
        about: "tracks reach EOS before, during and after the room join and publish that register their unpublish callbacks",
        tick: TICK,
        duration: plans::EOS_RACE_DURATION,
        heal_at: plans::EOS_RACE_HEAL_AT,
        net: NET,
        hosts: world::HOSTS,
        targets: &[
            Target {
                bug: KnownBug::EosBeforeRegister,
                checks: &["ended-track-unpublished"],
            },
        ],
        default_seeds: 200,
        checks: &EOS_RACE_CHECKS,
        links: LINKS,

        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::publisher_eos_race,
    build: world::build,
};

pub static PUBLISHER_JOIN_FAILS: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "publisher-join-fails",
        family: "publisher",
        about: "joins and publishes are refused and pipeline starts fail, attempt after attempt; the other side is stopped every time",
        tick: TICK,
        duration: plans::JOIN_FAILS_DURATION,
        heal_at: plans::JOIN_FAILS_HEAL_AT,
        net: NET,
        hosts: world::HOSTS,
        targets: &[],
        default_seeds: 200,
        checks: &JOIN_FAILS_CHECKS,
        links: LINKS,

        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::publisher_join_fails,
    build: world::build,
};

pub static PUBLISHER_PHASES: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "publisher-phases",
        family: "publisher",
        about: "the room blackholed, held or silent in each phase of the signalling session, answers at the RPC timeout: every room deadline fires and none is outwaited",
        tick: TICK,
        duration: plans::PHASES_DURATION,
        heal_at: plans::PHASES_HEAL_AT,
        net: NET,
        hosts: world::HOSTS,
        targets: &[],
        default_seeds: 60,
        checks: &PHASES_CHECKS,
        links: LINKS,
        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::publisher_phases,
    build: world::build_phases,
};
