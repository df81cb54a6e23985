//! The pads scenario family: the MoQ source element's pad forwarding
//! (seed-systems.md §3) — a session controller off the main loop, per-track
//! pumps, bounded pad queues, one main-loop forwarder, ordered teardown.
//!
//! | scenario | targets | what it drives |
//! |---|---|---|
//! | `pads-stalled-forwarder` | `pad-queue-unbounded` | the main loop stalls 0.3–2.5 s at a time while 30 fps video and 50 fps audio keep arriving |
//! | `pads-teardown` | `stop-drops-flush` | stop and start (and restart), often while the main loop is stalled and pumps are blocked on full queues |
//! | `pads-restart` | `buffer-before-caps` | tracks added, removed and re-added, codec config changes whose catalog update lags their frames, restarts, relay outages |
//! | `pads-phases` | — | blackholes on the `gst`~`moq-relay` link and restarts aimed at each phase of the MoQ session (connect, handshake, steady, teardown, reconnect: [`phases`]) and at the session's connect bound (`pads.session.connect`, some ending right at it) and the stop backstop (`pads.src.stop`) |
//!
//! Phases and deadlines (`pads-phases`): every phase of the session's life
//! applies and has its `phase:session:<phase>` check; spans are derived in
//! [`phases`]. `pads.src.stop` cannot be reached through any peer: every
//! wait of the controller and the pumps watches the session's shutdown, so
//! a stop's wait ends at once; the phases world therefore configures about
//! a third of its seeds without a stop grace (`stop-bound` 0), where every
//! stop takes the abort path, and the family's teardown oracles judge it.
//! A gap this scenario found, fixed: no read of a session was bounded, so
//! a relay link that went half-open (a blackhole) or lost a segment (a
//! restore cutting a live stream) left the session streaming nothing, with
//! no error, for ever (`pads-flow-after-heal` failed on both engines with
//! `pads-start` at 0.19 s, a blackhole at 3 s and its restore at 4 s). A
//! track pump now fails after `TRACK_IDLE_TIMEOUT` (2 s) without a frame
//! (`pads.pump.idle`), the session reports the error and the application
//! restarts it. The phases plan leaves half of its mid-stream blackholes
//! without an operator restart, so that recovery is judged on its own, and
//! never overlaps two blackholes.
//!
//! Tick: 5 ms. Frames arrive every 20–66 ms and network latency is 1–5 ms;
//! the caps race is between a catalog update delayed 0–150 ms and the next
//! frame, and stalls and stops are hundreds of ms. 5 ms resolves each of
//! these orderings, and a 12 s run is 2 400 steps.

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

/// The tick of every pads scenario (see the module docs).
pub const TICK: Duration = Duration::from_millis(5);

const NET: NetParams = NetParams {
    min_latency: Duration::from_millis(1),
    max_latency: Duration::from_millis(5),
    tcp_capacity: 256,
};

static STALLED_CHECKS: [Check; 10] = [
    QUEUE_BOUNDED,
    CAPS_BEFORE_BUFFERS,
    BUFFERS_IN_ORDER,
    EVERY_PAD_FLUSHED_ON_STOP,
    NOTHING_AFTER_STOP,
    PAD_NAMES,
    ERROR_REPORTED_ONCE,
    PADS_FLOW_AFTER_HEAL,
    STALLED_WHILE_BUFFERS_ARRIVE,
    phases::FAULT_POINT_TRACK_READ,
];

static TEARDOWN_CHECKS: [Check; 13] = [
    EVERY_PAD_FLUSHED_ON_STOP,
    STOP_BOUNDED,
    NOTHING_AFTER_STOP,
    PAD_NAMES,
    QUEUE_BOUNDED,
    CAPS_BEFORE_BUFFERS,
    BUFFERS_IN_ORDER,
    ERROR_REPORTED_ONCE,
    PADS_FLOW_AFTER_HEAL,
    STOP_WHILE_PUMP_BLOCKED,
    STOP_WHILE_STALLED,
    RESTART_REUSES_PAD_NAMES,
    phases::FAULT_POINT_TRACK_READ,
];

static RESTART_CHECKS: [Check; 15] = [
    CAPS_BEFORE_BUFFERS,
    BUFFERS_IN_ORDER,
    PAD_NAMES,
    ERROR_REPORTED_ONCE,
    EVERY_PAD_FLUSHED_ON_STOP,
    STOP_BOUNDED,
    NOTHING_AFTER_STOP,
    QUEUE_BOUNDED,
    PADS_FLOW_AFTER_HEAL,
    CONFIG_CHANGE_MID_STREAM,
    RESTART_REUSES_PAD_NAMES,
    ERROR_THEN_RECOVERY,
    READD_OVER_BLOCKED_PUMP,
    RELAY_ENDED_A_LISTED_TRACK,
    phases::FAULT_POINT_TRACK_READ,
];

static PHASES_CHECKS: [Check; 18] = [
    phases::CONNECT_BOUNDED,
    QUEUE_BOUNDED,
    CAPS_BEFORE_BUFFERS,
    BUFFERS_IN_ORDER,
    EVERY_PAD_FLUSHED_ON_STOP,
    STOP_BOUNDED,
    NOTHING_AFTER_STOP,
    PAD_NAMES,
    ERROR_REPORTED_ONCE,
    PADS_FLOW_AFTER_HEAL,
    phases::DEADLINE_CONNECT,
    phases::DEADLINE_STOP,
    phases::DEADLINE_TRACK_IDLE,
    phases::PHASE_CONNECT,
    phases::PHASE_HANDSHAKE,
    phases::PHASE_STEADY,
    phases::PHASE_TEARDOWN,
    phases::PHASE_RECONNECT,
];

/// Timeline arrows: the relay's catalog and subscriptions to the pads they
/// create, a pad's flush to the downstream element that sees it.
const LINKS: &[LinkRule] = &[
    LinkRule {
        from: "moq.catalog",
        to: "pads.catalog",
        key: None,
    },
    LinkRule {
        from: "moq.subscribed",
        to: "pads.pad.created",
        key: None,
    },
    LinkRule {
        from: "pads.pad.flushed",
        to: "ds.flush",
        key: None,
    },
];

pub static PADS_STALLED_FORWARDER: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "pads-stalled-forwarder",
        family: "pads",
        about: "the main loop stalls while frames keep arriving; pad queues must stay bounded and drain after",
        tick: TICK,
        duration: plans::DURATION,
        heal_at: plans::HEAL_AT,
        net: NET,
        hosts: world::HOSTS,
        targets: &[
            Target {
                bug: KnownBug::PadQueueUnbounded,
                checks: &["queue-bounded"],
            },
        ],
        default_seeds: 200,
        checks: &STALLED_CHECKS,
        links: LINKS,

        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::pads_stalled_forwarder,
    build: world::build,
};

pub static PADS_TEARDOWN: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "pads-teardown",
        family: "pads",
        about: "the element is stopped and started, often mid-stall with pumps blocked; every pad must see its flush and drop",
        tick: TICK,
        duration: plans::DURATION,
        heal_at: plans::HEAL_AT,
        net: NET,
        hosts: world::HOSTS,
        targets: &[
            Target {
                bug: KnownBug::StopDropsFlush,
                checks: &["every-pad-flushed-on-stop", "pad-names"],
            },
        ],
        default_seeds: 200,
        checks: &TEARDOWN_CHECKS,
        links: LINKS,

        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::pads_teardown,
    build: world::build,
};

pub static PADS_RESTART: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "pads-restart",
        family: "pads",
        about: "catalog and codec config changes, restarts and relay outages; caps stay ahead of buffers, restarts never meet stale pads",
        tick: TICK,
        duration: plans::DURATION,
        heal_at: plans::HEAL_AT,
        net: NET,
        hosts: world::HOSTS,
        targets: &[
            Target {
                bug: KnownBug::BufferBeforeCaps,
                checks: &["caps-before-buffers"],
            },
        ],
        default_seeds: 200,
        checks: &RESTART_CHECKS,
        links: LINKS,

        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::pads_restart,
    build: world::build,
};

pub static PADS_PHASES: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "pads-phases",
        family: "pads",
        about: "blackholes on the relay link and restarts aimed at each phase of the MoQ session and at its connect and stop bounds",
        tick: TICK,
        duration: plans::DURATION,
        heal_at: plans::HEAL_AT,
        net: NET,
        hosts: world::HOSTS,
        targets: &[],
        default_seeds: 100,
        checks: &PHASES_CHECKS,
        links: LINKS,

        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::pads_phases,
    build: world::build_phases,
};
