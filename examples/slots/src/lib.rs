//! relaysim-example-slots: a component family kept outside the harness and
//! the catalog.
//!
//! A race was reported in a component relaysim had never seen: a
//! transcode-slot server that, under load, grants more slots than it has.
//! This crate is everything a user writes to turn that report into a
//! scenario that fails from one printed seed with the fix reverted and
//! passes with it in — one component module and one family folder — and
//! it touches nothing in the harness, the core or the catalog.
//!
//! | module | owns | must never |
//! |---|---|---|
//! | [`slots`] | the system under test: the slot server over the `Net` seam, its events ([`slots::SlotEvent`]) and its known bug ([`SlotBugs`]) | name turmoil or the harness |
//! | [`family`] | the family: fault type, world, peers, plans, checks, and the scenario [`SLOTS_CONTENTION`] | reach into the server's state from a check |
//!
//! Its tests (`tests/sim`) run the scenario over 100 seeds with every bug
//! off, catch `slots-check-then-await` with it on, snapshot its
//! reproduction card (`snapshots/`), shrink its first failing seed, and
//! replay a plan file — all through the harness's public API.

pub mod family;
pub mod slots;

pub use family::{Fault, SLOTS_CONTENTION};
pub use slots::SlotBugs;
