//! The slots scenario family: clients contending for the transcode slots of
//! [`crate::slots`], whose server asks a licence server before it grants.
//!
//! | scenario | targets | what it drives |
//! |---|---|---|
//! | `slots-contention` | `slots-check-then-await` | three clients, two slots; bursts of simultaneous sessions, a slow or refusing licence server, a held client link, client crashes, a partitioned licence server |
//!
//! | module | holds |
//! |---|---|
//! | [`fault`] | [`Fault`], the family's own faults |
//! | [`world`] | the hosts, the server's configuration, `impl SlotSink for Recorder`, `apply` / `heal` / `facts` |
//! | [`peers`] | the licence server and the clients, and their events |
//! | [`plans`] | the seed's plan: swarm kinds, the family's faults, network faults |
//! | [`checks`] | `always`, `eventually` and `sometimes` oracles |
//!
//! Tick: 10 ms. The race lives between a request's capacity check and its
//! licence answer: a licence round trip is a connect, a query and an
//! answer (1–5 ms links, so a step each) plus 5–40 ms of licence latency
//! (up to 0.95 s under `licence-latency`). turmoil runs a host's tasks one
//! at a time and switches only at await points, so two requests are "in
//! flight together" exactly when the second arrives during the first's
//! licence await: a burst's sessions connect in the same step, and a held
//! link delivers its queue at once. A 10 ms step keeps those windows
//! several steps wide while an 18 s run stays at 1,800 steps.

pub mod checks;
pub mod fault;
pub mod peers;
pub mod plans;
pub mod world;

use crate::slots::SlotBugs;
use checks::{ANSWERED_AFTER_HEAL, NEVER_OVER_CAPACITY, TWO_ACQUIRES_IN_FLIGHT};
pub use fault::Fault;
use relaysim_harness::check::{Check, ReplayHint};
use relaysim_harness::scenario::{NetParams, Scenario, ScenarioInfo, Target};
use relaysim_harness::timeline::LinkRule;
use std::time::Duration;

/// The tick of the slots scenario (see the module docs).
pub const TICK: Duration = Duration::from_millis(10);

/// The slots world's network: 1–5 ms links, 64-message socket buffers.
pub const NET: NetParams = NetParams {
    min_latency: Duration::from_millis(1),
    max_latency: Duration::from_millis(5),
    tcp_capacity: 64,
};

static CHECKS: [Check; 3] = [
    NEVER_OVER_CAPACITY,
    ANSWERED_AFTER_HEAL,
    TWO_ACQUIRES_IN_FLIGHT,
];

/// Timeline arrows: a request to its licence answer, the answer to the
/// grant or denial.
const LINKS: &[LinkRule] = &[
    LinkRule {
        from: "slots.request",
        to: "licence.answer",
        key: Some("client"),
    },
    LinkRule {
        from: "licence.answer",
        to: "slots.granted",
        key: Some("client"),
    },
    LinkRule {
        from: "licence.answer",
        to: "slots.denied",
        key: Some("client"),
    },
];

/// Three clients, two slots, and everything that makes requests meet.
pub static SLOTS_CONTENTION: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "slots-contention",
        family: "slots",
        about: "three clients contend for two transcode slots, in bursts, while the licence server is slow, refuses or is cut off",
        tick: TICK,
        duration: plans::DURATION,
        heal_at: plans::HEAL_AT,
        net: NET,
        hosts: world::HOSTS,
        targets: &[Target {
            bug: SlotBugs::CheckThenAwait,
            checks: &["never-over-capacity"],
        }],
        default_seeds: 100,
        checks: &CHECKS,
        links: LINKS,
        replay: ReplayHint {
            cli: None,
            test: "cargo test -p relaysim-example-slots --test sim -- scenarios::",
        },
    },
    plan: plans::slots_contention,
    build: world::build,
};
