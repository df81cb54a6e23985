//! `PublisherHandle` (the publisher's signal, attempt counter, current
//! attempt and finished flag), whole surface: the attempt loop as
//! `run_publisher` runs it (check the signal, `begin_attempt`, run the
//! attempt, `signalled`, back off on `wait_signal`, `finish`), the signal
//! task it spawns (`wait_signal`, then stop the `current` attempt), two
//! signals (SIGINT, then SIGTERM) from two threads, and a watcher reading
//! `attempts`, `current`, `finished` and `signalled` as the world's facts
//! do. Each attempt's stop is the real `StopOnce`. Attempt 1 fails on
//! its own (the loop stops it, unless the signal got there first);
//! attempt 2 runs until stopped, and only the signal stops it.
//!
//! Invariants after every execution (and during it, where stated):
//! - a signal is never lost: the loop ends (a signal that neither stops the
//!   running attempt nor is seen by the loop leaves attempt 2 running, a
//!   shuttle deadlock), every accepted attempt was torn down exactly once,
//!   and no attempt was accepted after `signal()` returned (checked at
//!   each `begin_attempt`); a refused attempt is refused only once
//!   signalled;
//! - at the end: `finished`, `attempts()` is the number of accepted
//!   attempts and `current()` the last of them;
//! - the watcher: `attempts`, `current`'s number, `signalled` and
//!   `finished` never go back; a watcher that saw attempt `n` current then
//!   reads `attempts() >= n`; nothing changes once `finished`.
//!
//! Across the executions: an attempt is refused by `begin_attempt` (the
//! signal landed between the loop's check and the attempt's start), and
//! the signal task stops the running attempt.

use super::explore;
use relaysim_core::rt::sleep;
use relaysim_core::session::publisher::stop::StopOnce;
use relaysim_core::session::publisher::PublisherHandle;
use shuttle::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use shuttle::sync::Mutex;
use std::sync::Arc;
use std::time::Duration;

/// The attempt that runs until stopped (the ones before fail on their own).
const LAST: u64 = 2;

/// One attempt: its number and its real stop protocol.
struct Attempt {
    n: u64,
    stop: StopOnce,
    teardowns: AtomicUsize,
}

impl Attempt {
    fn new(n: u64) -> Arc<Attempt> {
        Arc::new(Attempt {
            n,
            stop: StopOnce::new(),
            teardowns: AtomicUsize::new(0),
        })
    }

    async fn teardown(&self) {
        let t = self.teardowns.fetch_add(1, Ordering::SeqCst) + 1;
        assert_eq!(t, 1, "attempt {} torn down {t} times", self.n);
    }

    async fn stop(&self) {
        self.stop.claim();
        self.stop.finish(|| self.teardown()).await;
    }

    async fn wait_stopped(&self) {
        self.stop.finish(|| self.teardown()).await;
    }
}

/// Executions where an attempt was refused, and where the signal task
/// stopped one.
type Seen = Arc<std::sync::Mutex<[usize; 2]>>;

fn model(seen: Seen) -> impl Fn() + Send + Sync {
    move || {
        let seen = seen.clone();
        shuttle::future::block_on(async move {
            let handle: PublisherHandle<Attempt> = PublisherHandle::new();
            let signal_returned = Arc::new(AtomicBool::new(false));
            let stopped_by_signal = Arc::new(Mutex::new(None));

            let signal_task = {
                let (handle, by) = (handle.clone(), stopped_by_signal.clone());
                shuttle::future::spawn(async move {
                    handle.wait_signal().await;
                    assert!(handle.signalled(), "wait_signal returned unsignalled");
                    if let Some(p) = handle.current() {
                        p.stop().await;
                        *by.lock().unwrap() = Some(p.n);
                    }
                })
            };
            let signals: Vec<_> = [Duration::from_millis(10), Duration::from_millis(20)]
                .into_iter()
                .map(|after| {
                    let (handle, returned) = (handle.clone(), signal_returned.clone());
                    shuttle::future::spawn(async move {
                        sleep(after).await;
                        handle.signal();
                        returned.store(true, Ordering::SeqCst);
                        assert!(handle.signalled(), "the signal went back");
                    })
                })
                .collect();
            let watcher = {
                let handle = handle.clone();
                shuttle::future::spawn(async move {
                    let mut last: Option<(u64, u64, bool, bool)> = None;
                    for _ in 0..5 {
                        // `finished` first: once it is true, what follows
                        // is final.
                        let finished = handle.finished();
                        let cur = handle.current().map(|p| p.n).unwrap_or(0);
                        let attempts = handle.attempts();
                        let signalled = handle.signalled();
                        assert!(
                            attempts >= cur,
                            "attempt {cur} is current but attempts() is {attempts}"
                        );
                        let now = (cur, attempts, signalled, finished);
                        if let Some(prev) = last {
                            assert!(
                                now.0 >= prev.0
                                    && now.1 >= prev.1
                                    && (now.2 || !prev.2)
                                    && (now.3 || !prev.3),
                                "(current, attempts, signalled, finished) went back: {prev:?} then {now:?}"
                            );
                            assert!(
                                !prev.3 || (now.0, now.1) == (prev.0, prev.1),
                                "attempts changed after finished: {prev:?} then {now:?}"
                            );
                        }
                        last = Some(now);
                        shuttle::future::yield_now().await;
                    }
                })
            };

            // The attempt loop (run_publisher's shape).
            let mut accepted: Vec<Arc<Attempt>> = Vec::new();
            for attempt in 1..=LAST {
                if handle.signalled() {
                    break;
                }
                let p = Attempt::new(attempt);
                let after_signal = signal_returned.load(Ordering::SeqCst);
                if !handle.begin_attempt(attempt, p.clone()) {
                    assert!(handle.signalled(), "attempt {attempt} refused unsignalled");
                    seen.lock().unwrap()[0] += 1;
                    p.stop().await;
                    break;
                }
                assert!(
                    !after_signal,
                    "attempt {attempt} began after signal() had returned"
                );
                accepted.push(p.clone());
                if attempt < LAST {
                    // The start fails on its own, unless stopped first.
                    let cancelled = tokio::select! {
                        biased;
                        _ = p.stop.token().cancelled() => true,
                        _ = sleep(Duration::from_millis(50)) => false,
                    };
                    if cancelled {
                        p.wait_stopped().await;
                    } else {
                        p.stop().await;
                    }
                } else {
                    // Runs until stopped: only the signal task stops it.
                    p.stop.token().cancelled().await;
                    p.wait_stopped().await;
                }
                if handle.signalled() {
                    break;
                }
                tokio::select! {
                    biased;
                    _ = handle.wait_signal() => break,
                    _ = sleep(Duration::from_secs(1)) => {}
                }
            }
            assert!(handle.signalled(), "the loop ended unsignalled");
            signal_task.await.unwrap();
            handle.finish();
            for s in signals {
                s.await.unwrap();
            }
            watcher.await.unwrap();

            assert!(handle.finished());
            let last = accepted.last().map(|p| p.n).unwrap_or(0);
            assert_eq!(handle.attempts(), last, "attempts() at the end");
            assert_eq!(
                handle.current().map(|p| p.n).unwrap_or(0),
                last,
                "current() at the end"
            );
            for p in &accepted {
                assert!(p.stop.is_stopped(), "attempt {} was never stopped", p.n);
                assert_eq!(p.teardowns.load(Ordering::SeqCst), 1);
            }
            let by_signal = *stopped_by_signal.lock().unwrap();
            if let Some(n) = by_signal {
                seen.lock().unwrap()[1] += 1;
                assert!(
                    accepted.iter().any(|p| p.n == n),
                    "the signal task stopped attempt {n}, never accepted"
                );
            }
        });
    }
}

#[test]
fn shuttle_publisher_handle_whole_surface() {
    let seen = Seen::default();
    let n = explore("publisher-handle", model(seen.clone()));
    let [refused, by_signal] = *seen.lock().unwrap();
    if n > 1 {
        assert!(
            refused > 0 && by_signal > 0,
            "over {n} executions {refused} attempts were refused, the signal task stopped {by_signal}"
        );
    }
}
