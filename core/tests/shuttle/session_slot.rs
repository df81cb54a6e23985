//! `SessionSlot` (pads' current session and session counter, what
//! `MoqSrc::start`, `stop`, `session` and `sessions_started` share), whole
//! surface: three application threads starting and stopping the element in
//! different orders (start / stop / start, start / start / stop, and an
//! error handler's stop / start restart), and a reader polling `current`
//! and `started`. A session's handle records the id it was made with; a
//! ledger records every `make` in the order it ran.
//!
//! Invariants after every execution (and during it, where stated):
//! - ids are 1, 2, 3, … in creation order (checked inside `make`), and
//!   `started()` equals the number of sessions created;
//! - a `start` that returned `Started(id)` made exactly that session; one
//!   that returned `Running(id)` made nothing, and its id had been created;
//! - every session created was taken by exactly one `take` or is the one
//!   still current at the end (so two never were current at once: the one
//!   overwritten would be neither), and a taken handle is the session its id
//!   names;
//! - during: the reader never sees `current()` go back to an older session,
//!   nor `started()` go back, nor a current id beyond `started()`.

use super::explore;
use relaysim_core::session::pads::src::{SessionSlot, Start};
use shuttle::sync::Arc;
use shuttle::thread;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// A session as the slot holds it: the id its `make` was given.
struct Handle {
    id: u64,
}

/// Across the executions: how often a `start` found a session running, and
/// how often one was still current at the end.
#[derive(Default)]
struct Seen {
    running: AtomicUsize,
    current_at_end: AtomicUsize,
}

/// What the threads saw, checked at the end.
#[derive(Default)]
struct Ledger {
    /// Every `make`, in the order it ran.
    created: Mutex<Vec<u64>>,
    /// Every session a `take` returned.
    taken: Mutex<Vec<u64>>,
}

#[derive(Clone, Copy)]
enum Op {
    Start,
    Stop,
}

fn start(slot: &SessionSlot<Handle>, ledger: &Ledger, seen: &Seen) {
    let mut made = None;
    let got = slot.start(|id| {
        let mut created = ledger.created.lock().unwrap();
        assert!(
            id == created.len() as u64 + 1,
            "session {id} made after sessions {created:?}"
        );
        created.push(id);
        made = Some(id);
        Handle { id }
    });
    match got {
        Start::Started(id) => assert_eq!(
            made,
            Some(id),
            "start said it started session {id} and made {made:?}"
        ),
        Start::Running(id) => {
            seen.running.fetch_add(1, Ordering::Relaxed);
            assert_eq!(
                made, None,
                "start returned running session {id}, yet made one"
            );
            assert!(
                ledger.created.lock().unwrap().contains(&id),
                "start returned session {id}, which was never made"
            );
        }
    }
    assert!(got.id() <= slot.started(), "{got:?} is beyond started()");
}

fn stop(slot: &SessionSlot<Handle>, ledger: &Ledger) {
    if let Some((id, handle)) = slot.take() {
        assert_eq!(
            handle.id, id,
            "take returned session {id}'s id with another's handle"
        );
        ledger.taken.lock().unwrap().push(id);
    }
}

fn model(seen: std::sync::Arc<Seen>) -> impl Fn() + Send + Sync {
    move || {
        let slot = Arc::new(SessionSlot::<Handle>::default());
        let ledger = Arc::new(Ledger::default());
        let apps: Vec<_> = [
            [Op::Start, Op::Stop, Op::Start],
            [Op::Start, Op::Start, Op::Stop],
            [Op::Stop, Op::Start, Op::Start],
        ]
        .into_iter()
        .map(|ops| {
            let (slot, ledger, seen) = (slot.clone(), ledger.clone(), seen.clone());
            thread::spawn(move || {
                for op in ops {
                    match op {
                        Op::Start => start(&slot, &ledger, &seen),
                        Op::Stop => stop(&slot, &ledger),
                    }
                }
            })
        })
        .collect();
        let reader = {
            let slot = slot.clone();
            thread::spawn(move || {
                let (mut last, mut last_started) = (0, 0);
                for _ in 0..4 {
                    let current = slot.current();
                    let started = slot.started();
                    assert!(
                        started >= last_started,
                        "started() went back from {last_started} to {started}"
                    );
                    if let Some(id) = current {
                        assert!(
                            id >= last,
                            "current() went back from session {last} to {id}"
                        );
                        assert!(id <= started, "session {id} current, started() {started}");
                        last = id;
                    }
                    last_started = started;
                    thread::yield_now();
                }
            })
        };
        for a in apps {
            a.join().unwrap();
        }
        reader.join().unwrap();

        let created = ledger.created.lock().unwrap().clone();
        let mut taken = ledger.taken.lock().unwrap().clone();
        assert_eq!(
            slot.started(),
            created.len() as u64,
            "started() is {} but sessions {created:?} were made",
            slot.started()
        );
        let current = slot.current();
        if let Some(id) = current {
            seen.current_at_end.fetch_add(1, Ordering::Relaxed);
            assert_eq!(
                Some(&id),
                created.last(),
                "session {id} is current, the last made is {:?}",
                created.last()
            );
        }
        taken.sort_unstable();
        for id in &created {
            let times = taken.iter().filter(|t| *t == id).count();
            let here = usize::from(current == Some(*id));
            assert!(
                times + here == 1,
                "session {id} was taken {times} times and is {}current at the end (made {created:?}, taken {taken:?})",
                if here == 1 { "" } else { "not " }
            );
        }
        assert!(
            taken.iter().all(|t| created.contains(t)),
            "a take returned a session never made: {taken:?} vs {created:?}"
        );
        // The slot hands the last one out too, once.
        stop(&slot, &ledger);
        assert_eq!(slot.current(), None);
        assert!(slot.take().is_none(), "the slot gave a session out twice");
    }
}

#[test]
fn shuttle_session_slot_whole_surface() {
    let seen = std::sync::Arc::new(Seen::default());
    let n = explore("session-slot", model(seen.clone()));
    if n > 0 {
        let (running, current) = (
            seen.running.load(Ordering::Relaxed),
            seen.current_at_end.load(Ordering::Relaxed),
        );
        assert!(
            running > 0 && current > 0 && current < n,
            "over {n} executions: {running} starts found a session running, {current} ended with one current"
        );
    }
}
