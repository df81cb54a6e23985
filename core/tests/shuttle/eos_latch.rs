//! `EosLatch`, whole surface: two streaming threads firing EOS (a second
//! EOS must be harmless), the room side registering the unpublish callback,
//! and a watcher polling `ended`.
//!
//! Invariants after every execution (and during it, where stated):
//! - the callback ran exactly once, and so did a second callback it
//!   registers from inside itself (after EOS); each run is claimed by
//!   exactly one `fire` (`Ran`) or `register` (`RanNow`);
//! - the callback only runs once the track ended (checked inside it);
//! - the callback never runs under the latch's lock: it re-enters the latch
//!   (a nested registration), which would deadlock, and shuttle reports a
//!   deadlock as a failure;
//! - `ended` never goes back to false, and is true at the end.

use super::{explore, must_find};
use relaysim_core::session::publisher::latch::{EosLatch, Firing, Registration};
use relaysim_core::BugSet;
use shuttle::sync::atomic::{AtomicUsize, Ordering};
use shuttle::sync::Arc;
use shuttle::thread;

fn model(bugs: BugSet) -> impl Fn() + Send + Sync {
    move || {
        let latch = Arc::new(EosLatch::new(bugs));
        let runs = Arc::new(AtomicUsize::new(0));
        let nested = Arc::new(AtomicUsize::new(0));

        let firers: Vec<_> = (0..2)
            .map(|_| {
                let latch = latch.clone();
                thread::spawn(move || latch.fire())
            })
            .collect();
        let watcher = {
            let latch = latch.clone();
            thread::spawn(move || {
                let mut seen = false;
                for _ in 0..3 {
                    let now = latch.ended();
                    assert!(now || !seen, "ended went back to false");
                    seen = now;
                    thread::yield_now();
                }
            })
        };
        let nested_registration = Arc::new(std::sync::Mutex::new(None));
        let callback = {
            let (latch, runs, nested) = (latch.clone(), runs.clone(), nested.clone());
            let slot = nested_registration.clone();
            Box::new(move || {
                assert!(latch.ended(), "the callback ran before EOS");
                runs.fetch_add(1, Ordering::SeqCst);
                // Re-enter the latch: deadlocks if we run under its lock.
                let inner = nested.clone();
                // Runs now, or (Armed) by the other streaming thread's EOS,
                // which can take it first: counted at the end either way.
                let r = latch.register(Box::new(move || {
                    inner.fetch_add(1, Ordering::SeqCst);
                }));
                *slot.lock().unwrap() = Some(r);
            })
        };
        let registration = latch.register(callback);
        let firings: Vec<Firing> = firers.into_iter().map(|h| h.join().unwrap()).collect();
        watcher.join().unwrap();

        let n = runs.load(Ordering::SeqCst);
        assert!(n <= 1, "the EOS callback ran {n} times");
        assert_eq!(
            n, 1,
            "lost unpublish: EOS fired and the callback was registered, but it never ran ({firings:?}, {registration:?})"
        );
        let inner = nested.load(Ordering::SeqCst);
        assert_eq!(
            inner, 1,
            "lost unpublish: the callback registered after EOS ran {inner} times"
        );
        // Two callbacks ran once each; each run is claimed by exactly one
        // call (a `fire` that says Ran or a `register` that says RanNow).
        let nested_registration = nested_registration.lock().unwrap().expect("outer ran");
        let claimed = firings.iter().filter(|f| **f == Firing::Ran).count()
            + usize::from(registration == Registration::RanNow)
            + usize::from(nested_registration == Registration::RanNow);
        assert_eq!(
            claimed, 2,
            "{firings:?} / {registration:?} / nested {nested_registration:?}"
        );
        assert!(latch.ended());
    }
}

#[test]
fn shuttle_eos_latch_whole_surface() {
    explore("eos-latch", model(BugSet::NONE));
}

#[cfg(feature = "known-bugs")]
#[test]
fn shuttle_eos_latch_finds_eos_before_register() {
    use relaysim_core::KnownBug;
    must_find(
        "eos-latch-eos-before-register",
        &["lost unpublish"],
        model(BugSet::only(KnownBug::EosBeforeRegister)),
    );
}
