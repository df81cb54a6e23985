//! The lvqr family: LVQR's **published** `lvqr-transcode` 1.1.0 and
//! `lvqr-fragment` 1.1.0, unmodified and pinned, under relaysim.
//!
//! Where the `transcode` family tests relaysim's rebuild of LVQR's runner,
//! this one drives the real crates through their public API only:
//! `FragmentBroadcasterRegistry::{get_or_create, remove,
//! on_entry_created}`, `TranscodeRunner::install`,
//! `TranscodeRunnerHandle::{add_rendition, remove_rendition}`, and
//! relaysim's own `TranscoderFactory` implementations.
//!
//! | scenario | targets | what it drives |
//! |---|---|---|
//! | `lvqr-ladder-churn` | `lvqr-rendition-remove-leak`, `lvqr-republish-never-transcoded` | three broadcasts publish, stop and re-publish; the admin API adds and removes renditions; transcoders (passthrough, slow, panicking) panic in start, fragment and stop |
//!
//! | module | holds |
//! |---|---|
//! | [`fault`] | [`Fault`], the family's faults |
//! | [`world`] | the `lvqr` host, the ladder, the exposure switches, `apply` / `heal` / `facts` |
//! | [`peers`] | the ingest, the admin API, the factories and their transcoders |
//! | [`plans`] | the seed's plan |
//! | [`checks`] | the oracles |
//!
//! # The known bugs are upstream's, and unfixed
//!
//! The crate is not modified, so no switch can fix it. The family's two
//! known bugs are *exposure* switches on the caller's side (see
//! [`world`]): on, relaysim uses the crate the way LVQR's own server does
//! and the upstream race is reproduced; off, relaysim applies the
//! caller-side workaround a user of 1.1.0 can apply today, and every
//! oracle passes on the same crate. So CI's usual contract reads, for
//! this family: a scenario clean with every bug off proves the
//! workarounds and the oracles; each detection test, card and regression
//! proves the upstream race still reproduces — and fails the day a new
//! upstream release (or a weakened oracle) stops reproducing it.
//!
//! Tick: 10 ms. Frames every 100 ms; edits aimed at publishes wait
//! 150–400 ms for a build to land in, and a publish's callbacks run
//! synchronously in the ingest's step.

pub mod checks;
pub mod fault;
pub mod peers;
pub mod plans;
pub mod world;

use checks::*;
pub use fault::Fault;
use relaysim_harness::check::{Check, ReplayHint};
use relaysim_harness::scenario::{NetParams, Scenario, ScenarioInfo, Target};
use relaysim_harness::timeline::LinkRule;
use std::time::Duration;

/// The tick of the lvqr scenario (see the module docs).
pub const TICK: Duration = Duration::from_millis(10);

/// The known upstream races of `lvqr-transcode` 1.1.0, as exposure
/// switches (see the module docs).
pub struct LvqrBugs;

relaysim_core::known_bugs! {
    impl LvqrBugs {
        /// `remove_rendition` runs while an entry-created callback is
        /// between its snapshot of the factory list and its spawns.
        RenditionRemoveLeak {
            id: "lvqr-rendition-remove-leak",
            system: "lvqr",
            mechanism: "in lvqr-transcode 1.1.0 the entry-created callback snapshots the factory list, remove_rendition prunes the list and aborts that rendition's tasks, then the callback spawns a drain for the removed rendition that nothing aborts (switch on: admin edits race publishes)",
            fix: "unfixed upstream; relaysim's rebuild re-checks the factory under the list's lock and inserts the task before releasing it; switch off: the caller serializes rendition edits with publishes",
        },
        /// A finished drain keeps its task-table key, so a re-published
        /// broadcast of the same name is refused.
        RepublishNeverTranscoded {
            id: "lvqr-republish-never-transcoded",
            system: "lvqr",
            mechanism: "in lvqr-transcode 1.1.0 a drain that ends keeps its (factory, rendition, broadcast, track) key in the task table, so the entry-created callback of a re-published broadcast finds the key and spawns nothing, for ever (switch on: re-publish under the same name)",
            fix: "unfixed upstream; relaysim's rebuild tags task slots with the registry generation and prunes them on removal; switch off: the caller publishes each session under its own name",
        },
    }
}

// Check order matters for ties: a failure is reported by the earliest
// check at the earliest time, so the most specific come first.
static CHECKS: [Check; 5] = [
    PANICS_ISOLATED,
    NO_LEAKED_DRAIN,
    NO_MISSED_DRAIN,
    REPUBLISHED,
    REMOVAL_ABORTED_A_DRAIN,
];

/// Timeline arrows: a publish to the transcoders it starts, an unpublish
/// to the transcoders it stops.
const LINKS: &[LinkRule] = &[
    LinkRule {
        from: "ingest.publish",
        to: "xcode.start",
        key: None,
    },
    LinkRule {
        from: "ingest.unpublish",
        to: "xcode.stop",
        key: None,
    },
];

/// The published crate under publish churn, ladder edits and panics.
pub static LVQR_LADDER_CHURN: Scenario<Fault> = Scenario {
    info: ScenarioInfo {
        name: "lvqr-ladder-churn",
        family: "lvqr",
        about: "the published lvqr-transcode 1.1.0: three broadcasts publish, stop and re-publish while renditions are added and removed and transcoders panic",
        tick: TICK,
        duration: plans::DURATION,
        heal_at: plans::HEAL_AT,
        net: NetParams::DEFAULT,
        hosts: world::HOSTS,
        targets: &[
            Target {
                bug: LvqrBugs::RenditionRemoveLeak,
                checks: &["no-leaked-drain"],
            },
            Target {
                bug: LvqrBugs::RepublishNeverTranscoded,
                checks: &["no-missed-drain"],
            },
        ],
        default_seeds: 300,
        checks: &CHECKS,
        links: LINKS,
        replay: ReplayHint::RELAYSIM,
    },
    plan: plans::ladder_churn,
    build: world::build,
};
