//! proptest-state-machine: sequences of supervisor ticks, fetch completions
//! (ok or error, after any number of other steps), publisher disconnects and
//! reconnects, run against the real destination state and the real per-tick
//! decision ([`decide`]), compared with a small reference model after every
//! step. With a known bug switched on, the property fails and proptest
//! shrinks the sequence to the few steps that show the race.

use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use relaysim_core::restream::decision::{decide, PumpView, TickInput};
use relaysim_core::restream::{DestinationConfig, DestinationState};
use relaysim_core::BugSet;
use std::cell::Cell;

thread_local! {
    /// The bugs the SUT is built with (per test thread).
    static BUGS: Cell<BugSet> = const { Cell::new(BugSet::NONE) };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A supervisor tick.
    Tick,
    /// The in-flight fetch returns: `Some(n)` = IVS session `n`, `None` = error.
    Complete(Option<u8>),
    Disconnect,
    Reconnect,
}

/// The reference model.
#[derive(Debug, Clone, Default)]
pub struct Model {
    alive: bool,
    epoch: u64,
    override_url: Option<String>,
    /// Epoch captured by the fetch in flight.
    in_flight: Option<u64>,
    pump_url: Option<String>,
}

fn dest() -> DestinationConfig {
    DestinationConfig::twitch("twitch", "rtmp://twitch-ingest:1935/app", "key", true)
}

fn ivs(n: u8) -> String {
    format!("rtmp://twitch-ingest:1935/ivs-{n}/key")
}

pub struct ModelMachine;

impl ReferenceStateMachine for ModelMachine {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model {
            alive: true,
            ..Model::default()
        })
        .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        let mut steps = vec![Just(Step::Tick).boxed(), Just(Step::Tick).boxed()];
        if state.in_flight.is_some() {
            steps.push(any::<Option<u8>>().prop_map(Step::Complete).boxed());
            steps.push(any::<u8>().prop_map(|n| Step::Complete(Some(n))).boxed());
        }
        // Both are always possible and act on the edge only (a disconnect
        // while dead is a no-op), so the shrinker can drop either alone.
        steps.push(Just(Step::Disconnect).boxed());
        steps.push(Just(Step::Reconnect).boxed());
        proptest::strategy::Union::new(steps).boxed()
    }

    fn preconditions(state: &Model, step: &Step) -> bool {
        match step {
            Step::Complete(_) => state.in_flight.is_some(),
            Step::Tick | Step::Disconnect | Step::Reconnect => true,
        }
    }

    fn apply(mut s: Model, step: &Step) -> Model {
        match step {
            Step::Tick => {
                if s.alive && s.override_url.is_none() && s.in_flight.is_none() {
                    s.in_flight = Some(s.epoch);
                }
                if s.alive {
                    let effective = s
                        .override_url
                        .clone()
                        .unwrap_or_else(|| dest().configured_url());
                    s.pump_url = Some(effective);
                }
            }
            Step::Complete(result) => {
                if let Some(captured) = s.in_flight.take() {
                    if let Some(n) = result {
                        if captured == s.epoch {
                            s.override_url = Some(ivs(*n));
                        }
                    }
                }
            }
            Step::Disconnect if s.alive => {
                s.alive = false;
                s.override_url = None;
                s.epoch += 1;
            }
            Step::Disconnect => {}
            Step::Reconnect => s.alive = true,
        }
        s
    }
}

/// The system under test: real destination state + real decision, with a
/// pump represented by the URL it was started with. Fetches in flight are
/// queued in start order; a completion finishes the oldest.
pub struct Sut {
    state: DestinationState,
    alive: bool,
    in_flight: Vec<u64>,
    pump_url: Option<String>,
}

impl StateMachineTest for Sut {
    type SystemUnderTest = Sut;
    type Reference = ModelMachine;

    fn init_test(_: &Model) -> Sut {
        Sut {
            state: DestinationState::new("twitch", BUGS.with(Cell::get)),
            alive: true,
            in_flight: Vec::new(),
            pump_url: None,
        }
    }

    fn apply(mut sut: Sut, _: &Model, step: Step) -> Sut {
        match step {
            Step::Tick => {
                let d = dest();
                let ov = sut.state.override_url();
                let decision = decide(TickInput {
                    ingest_alive: sut.alive,
                    dest: &d,
                    override_url: ov.as_deref(),
                    pump: sut.pump_url.as_deref().map(|url| PumpView {
                        url,
                        finished: false,
                    }),
                });
                if decision.try_vod_fetch && sut.state.try_claim_vod_fetch() {
                    sut.in_flight.push(sut.state.session_epoch());
                }
                if decision.restart.is_some() {
                    sut.pump_url = Some(decision.effective_url);
                }
            }
            Step::Complete(result) => {
                if !sut.in_flight.is_empty() {
                    let epoch = sut.in_flight.remove(0);
                    sut.state.complete_vod_fetch(result.map(ivs), epoch);
                }
            }
            Step::Disconnect => {
                // mark_ingest_dead acts on the alive→dead edge only.
                if sut.alive {
                    sut.alive = false;
                    sut.state.invalidate_session_override();
                }
            }
            Step::Reconnect => sut.alive = true,
        }
        sut
    }

    fn check_invariants(sut: &Sut, m: &Model) {
        assert!(
            sut.in_flight.len() <= 1,
            "{} VOD fetches in flight",
            sut.in_flight.len()
        );
        assert_eq!(sut.state.override_url(), m.override_url, "override");
        assert_eq!(sut.state.session_epoch(), m.epoch, "epoch");
        if sut.state.vod_fetch_pending() {
            assert!(m.in_flight.is_some(), "latch held with no fetch in flight");
        }
        assert_eq!(sut.pump_url, m.pump_url, "pump URL");
    }
}

prop_state_machine! {
    #![proptest_config(Config { cases: 512, failure_persistence: None, .. Config::default() })]

    #[test]
    fn supervisor_matches_the_reference_model(sequential 1..40 => Sut);
}

#[cfg(feature = "known-bugs")]
mod known_bugs {
    use super::*;
    use relaysim_core::KnownBug;

    /// Runs the machine with `bug` on and returns the shrunk failing sequence.
    fn shrunk_failure(bug: KnownBug) -> Vec<Step> {
        crate::common::shrunk_failure::<Sut>(bug, 512, 1..40, |bugs| BUGS.with(|b| b.set(bugs)))
    }

    #[test]
    fn stacking_shrinks_to_a_few_ticks() {
        let steps = shrunk_failure(KnownBug::VodFetchStacking);
        // From up to 40 steps to a handful: two ticks with nothing between
        // them that completes the first fetch.
        assert!(steps.len() <= 4, "{steps:?}");
        assert!(
            steps.iter().filter(|s| **s == Step::Tick).count() >= 2,
            "{steps:?}"
        );
        assert!(
            !steps.iter().any(|s| matches!(s, Step::Complete(_))),
            "{steps:?}"
        );
    }

    #[test]
    fn stale_epoch_shrinks_to_tick_disconnect_complete() {
        let steps = shrunk_failure(KnownBug::VodFetchStaleEpoch);
        assert_eq!(steps.len(), 3, "{steps:?}");
        assert_eq!(steps[0], Step::Tick);
        assert_eq!(steps[1], Step::Disconnect);
        assert!(matches!(steps[2], Step::Complete(Some(_))), "{steps:?}");
    }

    #[test]
    fn latch_leak_shrinks_to_a_failed_fetch() {
        let steps = shrunk_failure(KnownBug::VodLatchLeak);
        // A tick that claims, then a failed completion that leaks the latch.
        assert!(steps.len() <= 4, "{steps:?}");
        assert_eq!(steps.first(), Some(&Step::Tick), "{steps:?}");
        assert_eq!(steps.last(), Some(&Step::Complete(None)), "{steps:?}");
    }
}
