//! Support shared by the core's proptest state machines (the
//! integration binary's `common` module; not a test target of its own).

#![allow(dead_code)]

use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use relaysim_core::{BugSet, KnownBug};
use std::fmt::Debug;
use std::ops::Range;

type Transition<T> = <<T as StateMachineTest>::Reference as ReferenceStateMachine>::Transition;

/// Runs state machine `T` with `bug` switched on (through `set_bugs`, which
/// sets the thread-local the SUT reads) over `cases` deterministic cases of
/// `len` transitions, and returns the shrunk failing sequence. Panics if
/// the bug is not found.
pub fn shrunk_failure<T>(
    bug: KnownBug,
    cases: u32,
    len: Range<usize>,
    set_bugs: fn(BugSet),
) -> Vec<Transition<T>>
where
    T: StateMachineTest,
    <T::Reference as ReferenceStateMachine>::State: Clone + Debug,
    Transition<T>: Clone + Debug,
{
    set_bugs(BugSet::only(bug));
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let result = runner.run(
        &T::Reference::sequential_strategy(len),
        |(init, steps, seen)| {
            T::test_sequential(Config::default(), init, steps, seen);
            Ok(())
        },
    );
    set_bugs(BugSet::NONE);
    match result {
        Err(TestError::Fail(_, (_, steps, _))) => steps,
        other => panic!("{bug} was not found: {other:?}"),
    }
}
