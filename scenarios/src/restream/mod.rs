//! The restream scenario family: Twitch VOD-audio session races
//! (seed-systems.md §0).
//!
//! | scenario | targets | what it drives |
//! |---|---|---|
//! | `vod-slow-twitch` | `vod-fetch-stacking`, `egress-write-stall`, `egress-missing-sequence-headers` | Twitch latency 0–15 s, timeouts, 503s, partitions, pump restarts |
//! | `vod-disconnect-race` | `vod-fetch-stale-epoch` | OBS disconnects mid-fetch, reconnects fast and slow |
//! | `vod-twitch-down` | `vod-latch-leak` | Twitch errors or unreachable, then recovers |
//! | `vod-phases` | — (coverage) | blackholes and silent peers aimed at each phase of the pump, Twitch and publisher connections, and a Twitch answer at the edge of its 12 s timeout: every reachable restream deadline fires ([`phases`]) |
//!
//! The media path is RTMP end to end: OBS publishes a real H.264 + AAC
//! clip to the relay's ingest, and each pump publishes to its platform's
//! simulated ingest, which judges what arrives (`sink.start`: metadata, both
//! sequence headers, then a keyframe).
//!
//! Tick: 50 ms. turmoil advances every host one fixed tick at a time, so
//! the tick sets the cost of every simulated second (six hosts here). The
//! races in this family live at the scale of the 2 s supervisor tick (40
//! steps), API latencies of 0.1–15 s and reconnect gaps of 100 ms and more
//! (2+ steps); a 50 ms step still orders every event they depend on, while
//! running about three times faster than a 10 ms step (`relaysim bench`).
//! Network latency (1–5 ms) is below the tick, so a TCP round trip costs two
//! steps: the scenarios' timeouts and bounds are seconds, far above that.

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

/// The tick of every restream scenario (see the module docs).
pub const TICK: Duration = Duration::from_millis(50);

/// The restream worlds' network: 1-5 ms links, 64-message socket buffers (so a
/// stalled pump shows within seconds).
pub const NET: NetParams = NetParams {
    min_latency: Duration::from_millis(1),
    max_latency: Duration::from_millis(5),
    tcp_capacity: 64,
};

static SLOW_CHECKS: [Check; 12] = [
    VOD_SINGLE_FLIGHT,
    EGRESS_STARTS_DECODABLE,
    ONE_LIVE_STREAM_PER_DESTINATION,
    ONE_IVS_SESSION_PER_PUBLISH,
    NO_STALE_OVERRIDE,
    EGRESS_RESTARTS_BOUNDED,
    VOD_PATH_SPARES_OTHERS,
    VOD_OVERRIDE_EVENTUALLY,
    FRAMES_FLOW_AFTER_HEAL,
    FETCH_OUTLIVES_TICK,
    phases::FAULT_POINT_PUMP_WRITE,
    phases::FAULT_POINT_INGEST_READ,
];
static DISCONNECT_CHECKS: [Check; 13] = [
    VOD_SINGLE_FLIGHT,
    EGRESS_STARTS_DECODABLE,
    ONE_LIVE_STREAM_PER_DESTINATION,
    ONE_IVS_SESSION_PER_PUBLISH,
    NO_STALE_OVERRIDE,
    EGRESS_RESTARTS_BOUNDED,
    VOD_PATH_SPARES_OTHERS,
    VOD_OVERRIDE_EVENTUALLY,
    FRAMES_FLOW_AFTER_HEAL,
    FETCH_COMPLETES_AFTER_DISCONNECT,
    RECONNECT_WHILE_LATCH_HELD,
    phases::FAULT_POINT_PUMP_WRITE,
    phases::FAULT_POINT_TWITCH_RESPONSE,
];
static DOWN_CHECKS: [Check; 11] = [
    VOD_SINGLE_FLIGHT,
    EGRESS_STARTS_DECODABLE,
    ONE_LIVE_STREAM_PER_DESTINATION,
    ONE_IVS_SESSION_PER_PUBLISH,
    NO_STALE_OVERRIDE,
    EGRESS_RESTARTS_BOUNDED,
    VOD_PATH_SPARES_OTHERS,
    VOD_OVERRIDE_EVENTUALLY,
    FRAMES_FLOW_AFTER_HEAL,
    TWITCH_RECOVERS_AFTER_FAILURE,
    phases::FAULT_POINT_PUMP_WRITE,
];

static PHASES_CHECKS: [Check; 30] = [
    VOD_SINGLE_FLIGHT,
    TWITCH_FETCH_BOUNDED,
    EGRESS_STARTS_DECODABLE,
    ONE_LIVE_STREAM_PER_DESTINATION,
    ONE_IVS_SESSION_PER_PUBLISH,
    NO_STALE_OVERRIDE,
    EGRESS_RESTARTS_BOUNDED,
    VOD_PATH_SPARES_OTHERS,
    VOD_OVERRIDE_EVENTUALLY,
    FRAMES_FLOW_AFTER_HEAL,
    phases::DEADLINE_TWITCH_CONNECT,
    phases::DEADLINE_TWITCH_TOTAL,
    phases::DEADLINE_PUMP_CONNECT,
    phases::DEADLINE_PUMP_WRITE_STALL,
    phases::DEADLINE_INGEST_HANDSHAKE,
    phases::DEADLINE_INGEST_IDLE,
    phases::PUMP_CONNECT,
    phases::PUMP_HANDSHAKE,
    phases::PUMP_STEADY,
    phases::PUMP_TEARDOWN,
    phases::PUMP_RECONNECT,
    phases::TWITCH_CONNECT,
    phases::TWITCH_HANDSHAKE,
    phases::TWITCH_STEADY,
    phases::TWITCH_TEARDOWN,
    phases::PUBLISHER_CONNECT,
    phases::PUBLISHER_HANDSHAKE,
    phases::PUBLISHER_STEADY,
    phases::PUBLISHER_TEARDOWN,
    phases::PUBLISHER_RECONNECT,
];

/// Timeline arrows: publisher → relay, relay → Twitch API and back, relay
/// pump → platform ingest.
const LINKS: &[LinkRule] = &[
    LinkRule {
        from: "obs.up",
        to: "publish.begin",
        key: None,
    },
    LinkRule {
        from: "vod.fetch.start",
        to: "twitch.alloc",
        key: None,
    },
    LinkRule {
        from: "vod.fetch.start",
        to: "twitch.error",
        key: None,
    },
    LinkRule {
        from: "twitch.alloc",
        to: "vod.fetch.done",
        key: None,
    },
    LinkRule {
        from: "egress.start",
        to: "sink.open",
        key: Some("url"),
    },
];

pub static VOD_SLOW_TWITCH: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "vod-slow-twitch",
        family: "restream",
        about: "Twitch answers VOD-session requests in 0-15 s (timeouts, 503s, partitions) while OBS publishes to Twitch, YouTube and Kick",
        tick: TICK,
        duration: plans::DURATION,
        heal_at: plans::HEAL_AT,
        net: NET,
        hosts: world::HOSTS,
        targets: &[
            Target {
                bug: KnownBug::VodFetchStacking,
                checks: &["vod-single-flight", "one-ivs-session-per-publish"],
            },
            Target {
                bug: KnownBug::EgressWriteStall,
                checks: &["frames-flow-after-heal"],
            },
            Target {
                bug: KnownBug::EgressMissingSequenceHeaders,
                checks: &["egress-starts-decodable"],
            },
        ],
        default_seeds: 200,
        checks: &SLOW_CHECKS,
        links: LINKS,

        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::vod_slow_twitch,
    build: world::build,
};

pub static VOD_DISCONNECT_RACE: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "vod-disconnect-race",
        family: "restream",
        about: "OBS disconnects while a VOD fetch is in flight and reconnects, fast and slow, several times",
        tick: TICK,
        duration: plans::DURATION,
        heal_at: plans::HEAL_AT,
        net: NET,
        hosts: world::HOSTS,
        targets: &[
            Target {
                bug: KnownBug::VodFetchStaleEpoch,
                checks: &["no-stale-override"],
            },
        ],
        default_seeds: 200,
        checks: &DISCONNECT_CHECKS,
        links: LINKS,

        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::vod_disconnect_race,
    build: world::build,
};

pub static VOD_TWITCH_DOWN: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "vod-twitch-down",
        family: "restream",
        about:
            "Twitch answers errors or is unreachable, then recovers; the VOD session must follow",
        tick: TICK,
        duration: plans::DURATION,
        heal_at: plans::HEAL_AT,
        net: NET,
        hosts: world::HOSTS,
        targets: &[Target {
            bug: KnownBug::VodLatchLeak,
            checks: &["vod-override-eventually"],
        }],
        default_seeds: 200,
        checks: &DOWN_CHECKS,
        links: LINKS,

        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::vod_twitch_down,
    build: world::build,
};

pub static VOD_PHASES: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "vod-phases",
        family: "restream",
        about: "Blackholes and silent peers aimed at every phase of the pump, Twitch and publisher connections; every reachable restream deadline fires",
        tick: TICK,
        duration: plans::PHASES_DURATION,
        heal_at: plans::PHASES_HEAL_AT,
        net: NET,
        hosts: world::HOSTS,
        targets: &[],
        default_seeds: 50,
        checks: &PHASES_CHECKS,
        links: LINKS,

        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::vod_phases,
    build: world::build_phases,
};
