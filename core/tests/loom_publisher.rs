//! loom model of the per-track EOS latch: the streaming thread's EOS against
//! the room side's callback registration, every interleaving.
//!
//! Run with the loom step (README):
//! `cargo test --workspace --features relaysim-core/loom --test loom_publisher`
//!
//! The whole surface, from three threads: two streaming threads firing EOS
//! (a second EOS must be harmless), the room side registering the callback,
//! and `ended` read by all of them.
//!
//! Properties: once both the EOS and the registration happened, the callback
//! (the track's unpublish) has run exactly once — whichever came first, on
//! whichever thread — and exactly one call says it ran it; it only runs once
//! the track ended; `ended` is true at the end. With `eos-before-register`
//! on, loom finds the interleaving where the EOS fires first and the
//! unpublish is lost. (`core/tests/shuttle/eos_latch.rs` adds a callback
//! that re-enters the latch.)

/// Interleavings explored (printed with `--nocapture`).
static ITERATIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use relaysim_core::session::publisher::latch::{EosLatch, Firing, Registration};
use relaysim_core::BugSet;

fn model(bugs: BugSet) {
    // Three threads: bounded preemptions keep the step short; the shuttle
    // model (core/tests/shuttle/eos_latch.rs) explores deeper at random.
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        ITERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let latch = Arc::new(EosLatch::new(bugs));
        let runs = Arc::new(AtomicUsize::new(0));

        // The track's streaming threads: its source ends (twice).
        let streaming: Vec<_> = (0..2)
            .map(|_| {
                let latch = latch.clone();
                thread::spawn(move || latch.fire())
            })
            .collect();
        // The room side: the track is published, its callback registered.
        let (counter, seen) = (runs.clone(), latch.clone());
        let registration = latch.register(Box::new(move || {
            assert!(seen.ended(), "the callback ran before EOS");
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        let firing: Vec<Firing> = streaming.into_iter().map(|h| h.join().unwrap()).collect();

        let n = runs.load(Ordering::SeqCst);
        assert!(n <= 1, "the EOS callback ran {n} times");
        assert_eq!(
            n, 1,
            "lost unpublish: the track ended and its callback was registered, but it never ran ({firing:?}, {registration:?})"
        );
        // Exactly one side ran it, and says so.
        assert_eq!(
            firing.iter().filter(|f| **f == Firing::Ran).count()
                + usize::from(registration == Registration::RanNow),
            1,
            "{firing:?} / {registration:?}"
        );
        assert!(latch.ended());
    });
}

#[test]
fn loom_publisher_eos_latch_runs_the_callback_exactly_once() {
    model(BugSet::NONE);
    eprintln!(
        "loom_publisher: {} interleavings",
        ITERATIONS.load(std::sync::atomic::Ordering::Relaxed)
    );
}

#[cfg(feature = "known-bugs")]
#[test]
fn loom_publisher_finds_eos_before_register() {
    use relaysim_core::KnownBug;
    let err = std::panic::catch_unwind(|| model(BugSet::only(KnownBug::EosBeforeRegister)))
        .expect_err("loom must find the lost unpublish");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("lost unpublish"), "loom failed with {msg:?}");
}
