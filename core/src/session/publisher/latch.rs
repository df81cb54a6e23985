//! The per-track EOS latch: a fired flag and a callback slot, shared by the
//! track's streaming task (which fires EOS) and the room side of `start`
//! (which registers the unpublish callback once the track is published).
//!
//! Owns the exactly-once rule: the callback runs once if and only if both
//! happened, whichever came first, on the thread of whichever came second.
//! It never runs a callback under its lock (a callback may take other
//! locks), and never runs one twice. Shared state comes from [`crate::sync`]
//! so that `core/tests/loom_publisher.rs` checks every interleaving.
//!
//! Upstream (seed-systems.md §4.2–4.3) had an `isEnded` flag and an atomic
//! callback pointer, and registration never looked at the flag: an EOS that
//! fired before registration left the track published. With
//! `eos-before-register` on, [`EosLatch::register`] behaves that way again.

use crate::bugs::{BugSet, KnownBug};
use crate::sync::{lock, AtomicBool, Mutex, Ordering};

/// The callback a track runs at EOS (upstream: unpublish the track).
pub type EosCallback = Box<dyn FnOnce() + Send + 'static>;

/// What [`EosLatch::fire`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firing {
    /// A registered callback ran now, on the firing thread.
    Ran,
    /// No callback yet: registration will run it.
    Latched,
}

/// What [`EosLatch::register`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Stored: EOS will run it.
    Armed,
    /// EOS had already fired: the callback ran now, on the registering thread.
    RanNow,
}

/// One track's EOS latch.
pub struct EosLatch {
    bugs: BugSet,
    /// Set once, by [`EosLatch::fire`]; never cleared.
    ended: AtomicBool,
    /// The registered callback until it runs. Whoever takes it out runs it,
    /// so it runs at most once.
    slot: Mutex<Option<EosCallback>>,
}

impl EosLatch {
    pub fn new(bugs: BugSet) -> EosLatch {
        EosLatch {
            bugs,
            ended: AtomicBool::new(false),
            slot: Mutex::new(None),
        }
    }

    /// Has the track reached EOS?
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// The streaming task's EOS: marks the track ended, then runs the
    /// callback if one is registered. (GStreamer delivers EOS once per sink;
    /// a second call finds the slot empty and does nothing.)
    pub fn fire(&self) -> Firing {
        // Mark first, then look: a registration that stored its callback
        // after this look re-checks the flag under the same lock order, so
        // one of the two sides always sees the other.
        self.ended.store(true, Ordering::Release);
        let callback = lock(&self.slot).take();
        match callback {
            Some(cb) => {
                cb();
                Firing::Ran
            }
            None => Firing::Latched,
        }
    }

    /// Stores the EOS callback. If the track already ended, the callback is
    /// taken back out and run now (unless the firing side got to it first).
    pub fn register(&self, callback: EosCallback) -> Registration {
        *lock(&self.slot) = Some(callback);
        if self.bugs.on(KnownBug::EosBeforeRegister) {
            // Pre-fix: store the pointer and return; an EOS that already
            // fired never looks at the slot again.
            return Registration::Armed;
        }
        // The lock above ordered us after any `fire` that took the slot
        // before our store; such a fire set `ended` before taking the lock,
        // so this load sees it.
        if self.ended.load(Ordering::Acquire) {
            let callback = lock(&self.slot).take();
            if let Some(cb) = callback {
                cb();
                return Registration::RanNow;
            }
        }
        Registration::Armed
    }
}

impl std::fmt::Debug for EosLatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EosLatch")
            .field("ended", &self.ended())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[cfg(not(feature = "loom"))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    fn counter() -> (Arc<AtomicUsize>, impl Fn() -> EosCallback) {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        (runs, move || {
            let r = r.clone();
            Box::new(move || {
                r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }) as EosCallback
        })
    }

    #[test]
    fn eos_after_registration_runs_on_fire() {
        let latch = EosLatch::new(BugSet::NONE);
        let (runs, cb) = counter();
        assert_eq!(latch.register(cb()), Registration::Armed);
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(latch.fire(), Firing::Ran);
        assert_eq!(latch.fire(), Firing::Latched, "a second EOS runs nothing");
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn eos_before_registration_runs_at_registration() {
        let latch = EosLatch::new(BugSet::NONE);
        let (runs, cb) = counter();
        assert_eq!(latch.fire(), Firing::Latched);
        assert!(latch.ended());
        assert_eq!(latch.register(cb()), Registration::RanNow);
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn ended_reports_the_eos_and_only_the_eos() {
        let latch = EosLatch::new(BugSet::NONE);
        assert!(!latch.ended(), "a new track has not ended");
        let (runs, cb) = counter();
        assert_eq!(latch.register(cb()), Registration::Armed);
        assert!(!latch.ended(), "a registration is not an EOS");
        assert_eq!(latch.fire(), Firing::Ran);
        assert!(latch.ended());
        assert_eq!(latch.fire(), Firing::Latched);
        assert!(latch.ended(), "ended is never cleared");
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn racing_threads_run_the_callback_exactly_once() {
        for _ in 0..200 {
            let latch = Arc::new(EosLatch::new(BugSet::NONE));
            let (runs, cb) = counter();
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let (l, b) = (latch.clone(), barrier.clone());
            let t = std::thread::spawn(move || {
                b.wait();
                l.fire();
            });
            barrier.wait();
            latch.register(cb());
            t.join().unwrap();
            assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
        }
    }

    #[cfg(feature = "known-bugs")]
    #[test]
    fn known_bug_loses_the_callback_when_eos_came_first() {
        let latch = EosLatch::new(BugSet::only(KnownBug::EosBeforeRegister));
        let (runs, cb) = counter();
        latch.fire();
        assert_eq!(latch.register(cb()), Registration::Armed);
        assert_eq!(
            runs.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "the unpublish is lost"
        );
    }
}
