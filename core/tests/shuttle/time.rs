//! The bounded waits under shuttle (`relaysim_core::rt::timeout` and
//! `sleep`): time is one more choice of the checker, so the models of the
//! types that wait on a bound see both outcomes. Not a shared-state type of
//! its own; this proves the seam the other models rely on can go either
//! way, and that a finished future always wins over its bound.
//!
//! Invariants after every execution:
//! - a future that is already done is never reported as timed out;
//! - a wait that ran out leaves the value to be received later (nothing
//!   lost); a wait that did not got the value the sender sent.
//!
//! Across the executions: both outcomes occur (a wait that runs out, and a
//! message that lands before the bound), and a sleep is a point where
//! another task may run, as a real timer wait is.

use super::explore;
use relaysim_core::rt::{sleep, timeout, Elapsed};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn shuttle_bounded_waits_see_both_outcomes() {
    let ran_out = Arc::new(AtomicUsize::new(0));
    let landed = Arc::new(AtomicUsize::new(0));
    let (r, l) = (ran_out.clone(), landed.clone());
    let n = explore("time", move || {
        let (r, l) = (r.clone(), l.clone());
        shuttle::future::block_on(async move {
            assert_eq!(
                timeout(Duration::from_secs(1), async { 5 }).await,
                Ok(5),
                "a finished future timed out"
            );
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let sender = shuttle::future::spawn(async move {
                sleep(Duration::from_millis(500)).await;
                tx.send(9).expect("the receiver lives");
            });
            match timeout(Duration::from_secs(1), rx.recv()).await {
                Ok(v) => {
                    assert_eq!(v, Some(9));
                    l.fetch_add(1, Ordering::Relaxed);
                }
                Err(Elapsed) => {
                    r.fetch_add(1, Ordering::Relaxed);
                    sender.await.expect("the sender ends");
                    assert_eq!(rx.recv().await, Some(9), "the late message was lost");
                }
            }
        });
    });
    if n > 0 {
        let (r, l) = (
            ran_out.load(Ordering::Relaxed),
            landed.load(Ordering::Relaxed),
        );
        assert!(
            r > 0 && l > 0,
            "over {n} executions: {r} ran out, {l} landed"
        );
    }
}

/// A sleep lets other tasks run: across the executions, some task's step
/// lands between the two sides of a sleep (nothing else separates them, so
/// a sleep that never yields would hide every race across a timer wait).
#[test]
fn shuttle_a_sleep_lets_other_tasks_run() {
    let between = Arc::new(AtomicUsize::new(0));
    let b = between.clone();
    let n = explore("time-sleep", move || {
        let b = b.clone();
        shuttle::future::block_on(async move {
            let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let f = flag.clone();
            let other = shuttle::future::spawn(async move { f.store(true, Ordering::SeqCst) });
            let before = flag.load(Ordering::SeqCst);
            sleep(Duration::from_millis(10)).await;
            if !before && flag.load(Ordering::SeqCst) {
                b.fetch_add(1, Ordering::Relaxed);
            }
            other.await.expect("the other task ends");
        });
    });
    if n > 0 {
        assert!(
            between.load(Ordering::Relaxed) > 0,
            "over {n} executions no task ran during a sleep"
        );
    }
}
