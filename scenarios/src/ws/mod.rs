//! The ws scenario family: the rtmg WebSocket session (seed-systems.md §1).
//!
//! | scenario | targets | what it drives |
//! |---|---|---|
//! | `ws-bulk-crossfire` | `bulk-send-starves-recv` | multi-MB uploads from a plugin whose reads wait behind its sends, crossing multi-MB swap pushes |
//! | `ws-orphan-header` | `orphan-binary-header` | orphan headers, commands in payload slots, missing, late and stray payloads |
//! | `ws-keepalive` | — | the link held, or the plugin frozen, for 1–8.5 s around the 4 s keepalive deadline |
//! | `ws-phases` | — | faults in each phase of the plugin's connection (connect, upgrade, steady, close, reconnect) and at each server deadline: refusals of an idler that never upgrades or never reads, a payload at the receive deadline, a pong at the keepalive deadline, a blackholed link |
//!
//! `ws-phases` runs its own world ([`world::build_phases`]): a server capped
//! at one session, a plugin that traces its connect attempts and gives a
//! silent connection up after 6 s, and the `ws-idler` host. Its phases,
//! the clauses it judges and the deadline it cannot reach
//! (`ws.server.close-grace`) are in [`phases`].
//!
//! # Timing
//!
//! Tick 10 ms, latency 10–30 ms, windows of 32 segments × 16 KiB = 512 KiB
//! per direction (`tcp_capacity` plus the harness's `SegmentedNet`). A link
//! moves ~20 MB/s, so a 1–2.5 MB upload or stem takes 50–150 ms: ten or more
//! steps, enough to resolve which of upload and push starts first, and far
//! more than the window, so a whole-message send blocks while the peer is
//! not reading. The server's read turn and write hold are 10 ms, one tick.
//! The races that matter are the keepalive (2 s interval, 4 s deadline) and
//! the 10 s payload timeout, so runs last 30 s (heal at 22 s: one more
//! deadline and answer bound after it). A seed costs ~3000 steps.

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

/// The tick of every ws scenario (see the module docs).
pub const TICK: Duration = Duration::from_millis(10);
/// Faults stop here.
pub const HEAL_AT: Duration = Duration::from_secs(22);
/// Runs end here.
pub const DURATION: Duration = Duration::from_secs(30);
/// Maximum segment size of every socket write.
pub const MSS: usize = 16 * 1024;
/// A ping is due this long after the previous pong.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
/// A ping's pong must arrive within this long of it being due.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(4);
/// Every command is answered within this long while the link is healthy.
pub const ANSWER_BOUND: Duration = Duration::from_secs(3);
/// The plugin samples its command log this often.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(2);

const NET: NetParams = NetParams {
    min_latency: Duration::from_millis(10),
    max_latency: Duration::from_millis(30),
    tcp_capacity: 32,
};

static CROSSFIRE_CHECKS: [Check; 8] = [
    NO_COMMAND_CONSUMED,
    SESSION_ACTS_ONLY_WHILE_OPEN,
    PAYLOADS_BYTE_IDENTICAL,
    QUEUED_BYTES_BOUNDED,
    NO_HEALTHY_KEEPALIVE_KILL,
    COMMAND_ANSWERED_WITHIN,
    UPLOAD_CROSSES_PUSH,
    phases::FAULT_POINT_SESSION_RESET,
];
static ORPHAN_CHECKS: [Check; 9] = [
    NO_COMMAND_CONSUMED,
    SESSION_ACTS_ONLY_WHILE_OPEN,
    PAYLOADS_BYTE_IDENTICAL,
    QUEUED_BYTES_BOUNDED,
    NO_HEALTHY_KEEPALIVE_KILL,
    COMMAND_ANSWERED_WITHIN,
    ORPHAN_ANSWERED_FAILED,
    PAYLOAD_TIMEOUT_FIRED,
    phases::FAULT_POINT_SESSION_RESET,
];
static KEEPALIVE_CHECKS: [Check; 10] = [
    NO_COMMAND_CONSUMED,
    SESSION_ACTS_ONLY_WHILE_OPEN,
    PAYLOADS_BYTE_IDENTICAL,
    QUEUED_BYTES_BOUNDED,
    NO_HEALTHY_KEEPALIVE_KILL,
    COMMAND_ANSWERED_WITHIN,
    DEAD_PEER_KILLED,
    SURVIVED_NEAR_DEADLINE,
    DEAD_PEER_WAS_KILLED,
    phases::FAULT_POINT_SESSION_RESET,
];

static PHASES_CHECKS: [Check; 22] = [
    NO_COMMAND_CONSUMED,
    SESSION_ACTS_ONLY_WHILE_OPEN,
    PAYLOADS_BYTE_IDENTICAL,
    QUEUED_BYTES_BOUNDED,
    NO_HEALTHY_KEEPALIVE_KILL,
    COMMAND_ANSWERED_WITHIN,
    DEAD_PEER_KILLED,
    phases::HEADER_WAIT_BOUNDED,
    phases::REFUSAL_BOUNDED,
    phases::PAYLOAD_AT_DEADLINE,
    SURVIVED_NEAR_DEADLINE,
    phases::PHASE_CONNECT,
    phases::PHASE_HANDSHAKE,
    phases::PHASE_STEADY,
    phases::PHASE_TEARDOWN,
    phases::PHASE_RECONNECT,
    phases::DEADLINE_HANDSHAKE,
    phases::DEADLINE_PAYLOAD,
    phases::DEADLINE_PONG,
    phases::DEADLINE_SESSION_HANDSHAKE,
    phases::DEADLINE_CLOSE_GRACE,
    DEAD_PEER_WAS_KILLED,
];

/// Timeline arrows, cause to effect: the server's accept to the client's
/// up, client commands to the server's header and the server's answers
/// (swap accepted, payload applied) to the client, pushes to the client's
/// receipt, and a keepalive kill to the client's down.
const LINKS: &[LinkRule] = &[
    LinkRule {
        from: "ws.session.open",
        to: "ws.client.up",
        key: Some("conn"),
    },
    LinkRule {
        from: "ws.client.command",
        to: "ws.header",
        key: Some("seq"),
    },
    LinkRule {
        from: "ws.swap.accepted",
        to: "ws.client.answer",
        key: Some("seq"),
    },
    LinkRule {
        from: "ws.payload.applied",
        to: "ws.client.answer",
        key: Some("seq"),
    },
    LinkRule {
        from: "ws.push.sent",
        to: "ws.client.push",
        key: Some("bytes"),
    },
    LinkRule {
        from: "ws.keepalive.timeout",
        to: "ws.client.down",
        key: Some("conn"),
    },
];

pub static WS_BULK_CROSSFIRE: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "ws-bulk-crossfire",
        family: "ws",
        about: "the plugin uploads 1-2.5 MB (its reads wait behind its sends) while the server pushes a swap's mirror and stems",
        tick: TICK,
        duration: DURATION,
        heal_at: HEAL_AT,
        net: NET,
        hosts: world::HOSTS,
        targets: &[
            Target {
                bug: KnownBug::BulkSendStarvesRecv,
                checks: &["command-answered-within", "no-healthy-keepalive-kill"],
            },
        ],
        default_seeds: 200,
        checks: &CROSSFIRE_CHECKS,
        links: LINKS,

        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::ws_bulk_crossfire,
    build: world::build,
};

pub static WS_ORPHAN_HEADER: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "ws-orphan-header",
        family: "ws",
        about: "headers whose payload never comes, comes late, or finds a command in its slot; stray payloads; unknown commands",
        tick: TICK,
        duration: DURATION,
        heal_at: HEAL_AT,
        net: NET,
        hosts: world::HOSTS,
        targets: &[
            Target {
                bug: KnownBug::OrphanBinaryHeader,
                checks: &["no-command-consumed"],
            },
        ],
        default_seeds: 200,
        checks: &ORPHAN_CHECKS,
        links: LINKS,

        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::ws_orphan_header,
    build: world::build,
};

pub static WS_KEEPALIVE: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "ws-keepalive",
        family: "ws",
        about: "the link held or the plugin frozen for 1-8.5 s around the 4 s keepalive deadline, with swaps and uploads going on",
        tick: TICK,
        duration: DURATION,
        heal_at: HEAL_AT,
        net: NET,
        hosts: world::HOSTS,
        targets: &[],
        default_seeds: 200,
        checks: &KEEPALIVE_CHECKS,
        links: LINKS,

        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::ws_keepalive,
    build: world::build,
};

pub static WS_PHASES: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "ws-phases",
        family: "ws",
        about: "faults in each phase of the plugin's connection and at each server deadline: refused idlers, a payload at the receive deadline, a pong at the keepalive deadline, a blackholed link",
        tick: TICK,
        duration: plans::PHASES_DURATION,
        heal_at: plans::PHASES_HEAL_AT,
        net: NET,
        hosts: world::PHASES_HOSTS,
        targets: &[],
        default_seeds: 60,
        checks: &PHASES_CHECKS,
        links: LINKS,

        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::ws_phases,
    build: world::build_phases,
};
