//! `ErrorSlot` (pads' once-only session error), whole surface: three parts
//! of the session (the controller and two pumps) reporting errors while
//! `stop` closes the slot, and a watcher reading `reported`.
//!
//! Invariants after every execution:
//! - at most one error reaches the bus, and `report` returned true for
//!   exactly the calls that posted (so at most one);
//! - `reported()` is true exactly when some report won (the bus got it);
//! - a report that begins after `close` returned is refused;
//! - with no `close` before the reports, exactly one error is posted.

use super::explore;
use relaysim_core::session::pads::bus::{BusMessage, ErrorSlot};
use relaysim_core::Emitter;
use shuttle::sync::atomic::{AtomicBool, Ordering};
use shuttle::sync::Arc;
use shuttle::thread;

fn model(close: bool) -> impl Fn() + Send + Sync {
    move || {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let slot = ErrorSlot::new(7, tx, Emitter::tracing_only("gst"));
        let closed = Arc::new(AtomicBool::new(false));

        let reporters: Vec<_> = ["controller", "pump-a", "pump-b"]
            .into_iter()
            .map(|who| {
                let (slot, closed) = (slot.clone(), closed.clone());
                thread::spawn(move || {
                    let after_close = closed.load(Ordering::SeqCst);
                    let won = slot.report(format!("{who} failed"));
                    assert!(
                        !(won && after_close),
                        "{who}'s error was reported after stop closed the slot"
                    );
                    won
                })
            })
            .collect();
        let stopper = close.then(|| {
            let (slot, closed) = (slot.clone(), closed.clone());
            thread::spawn(move || {
                thread::yield_now();
                slot.close();
                closed.store(true, Ordering::SeqCst);
            })
        });
        let watcher = {
            let slot = slot.clone();
            thread::spawn(move || {
                let mut seen = false;
                for _ in 0..2 {
                    let now = slot.reported();
                    assert!(now || !seen, "reported went back to false");
                    seen = now;
                    thread::yield_now();
                }
            })
        };
        let wins = reporters
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|w| *w)
            .count();
        if let Some(s) = stopper {
            s.join().unwrap();
        }
        watcher.join().unwrap();

        let mut posted = Vec::new();
        while let Ok(BusMessage::Error { error, .. }) = rx.try_recv() {
            posted.push(error);
        }
        assert!(
            posted.len() <= 1,
            "{} errors reached the bus: {posted:?}",
            posted.len()
        );
        assert_eq!(
            wins,
            posted.len(),
            "report() said {wins} won, the bus got {posted:?}"
        );
        assert_eq!(
            slot.reported(),
            !posted.is_empty(),
            "reported() disagrees with the bus"
        );
        if !close {
            assert_eq!(posted.len(), 1, "no error reached the bus");
        }
    }
}

#[test]
fn shuttle_error_slot_whole_surface() {
    explore("error-slot", model(false));
    explore("error-slot-stop", model(true));
}
