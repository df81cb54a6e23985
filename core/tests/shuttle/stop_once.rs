//! `StopOnce` (one publish attempt's stop protocol), whole surface: the
//! signal task, a second signal and the main loop stopping the same attempt
//! at once (`claim`, then `finish`), the main loop first running a start
//! that the stop cancels (a child token, a bounded wait for the room's
//! answer), or else waiting for a pipeline EOS or the cancellation and then
//! either stopping itself or waiting for the stop (`finish` alone); the
//! room answering the join and the leave, each maybe too late; and a
//! watcher reading `claimed`, `token`, `is_stopped`. The teardown is the
//! real one's shape: pipeline to NULL, leave the room (a bounded wait for
//! the ack), abort the room task.
//!
//! Invariants after every execution (and during it, where stated):
//! - exactly one `claim` returned `First` (every stopper claimed);
//! - each teardown step ran exactly once, in order (at most once checked
//!   at every step);
//! - the token was cancelled before the first step (checked at every step),
//!   and only ever by a claimed stop (checked by the watcher and by the
//!   main loop when its start or wait was cancelled);
//! - no caller returned from `finish` before every step ran: the one that
//!   ran the teardown nor any that lost the claim or only waited (checked
//!   in each caller as it returns);
//! - a cancelled start is woken (a lost wake-up is a shuttle deadlock) and
//!   reports the stop, not a failure of its own;
//! - `claimed`, the token and `is_stopped` never go back, and `is_stopped`
//!   implies every step ran (checked by the watcher).
//!
//! Across the executions: the start ends each of its three ways (cancelled
//! by the stop, failed on its bound, answered), and the main loop both
//! claims the stop first and only waits for someone else's.

use super::explore;
use relaysim_core::rt::{sleep, timeout};
use relaysim_core::session::publisher::stop::{Claim, StopOnce};
use shuttle::sync::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

const STEPS: [&str; 3] = ["pipeline-null", "leave", "abort-room-task"];

/// The teardown's steps as they ran, shared by every caller's teardown.
#[derive(Default)]
struct Steps {
    ran: Mutex<Vec<&'static str>>,
}

impl Steps {
    fn run(&self, stop: &StopOnce, step: &'static str) {
        assert!(
            stop.token().is_cancelled(),
            "teardown step {step} ran before the token was cancelled"
        );
        let mut ran = self.ran.lock().unwrap();
        assert!(
            !ran.contains(&step),
            "teardown step {step} ran twice ({ran:?})"
        );
        ran.push(step);
    }

    fn ran(&self) -> Vec<&'static str> {
        self.ran.lock().unwrap().clone()
    }

    fn finished(&self) -> bool {
        self.ran.lock().unwrap().len() == STEPS.len()
    }
}

#[derive(Clone)]
struct Attempt {
    stop: Arc<StopOnce>,
    steps: Arc<Steps>,
    /// The room's answer to the join the start waits for.
    answer: Arc<Notify>,
    /// The room's ack of the leave the teardown waits for.
    leave_ack: Arc<Notify>,
    claims: Arc<Mutex<Vec<(&'static str, Claim)>>>,
}

impl Attempt {
    /// The teardown a caller hands to `finish` (each caller its own, as
    /// `Publisher::stop` and `wait_stopped` do).
    async fn teardown(self) {
        self.steps.run(&self.stop, "pipeline-null");
        let _acked = timeout(Duration::from_secs(7), self.leave_ack.notified())
            .await
            .is_ok();
        self.steps.run(&self.stop, "leave");
        sleep(Duration::ZERO).await;
        self.steps.run(&self.stop, "abort-room-task");
    }

    async fn finish(&self, who: &str) {
        let a = self.clone();
        self.stop.finish(|| a.teardown()).await;
        assert!(
            self.steps.finished(),
            "{who} returned from stop before the teardown finished (ran {:?})",
            self.steps.ran()
        );
        assert!(self.stop.is_stopped(), "{who} returned, is_stopped false");
    }

    /// `Publisher::stop`: claim, then finish.
    async fn stop(&self, who: &'static str) -> Claim {
        let c = self.stop.claim();
        self.claims.lock().unwrap().push((who, c));
        self.finish(who).await;
        c
    }

    /// `Publisher::start` then the main loop, as the attempt loop runs them.
    /// Returns how the start ended and whether the main loop claimed.
    async fn main_loop(&self) -> (usize, bool) {
        let group = self.stop.token().child_token();
        let started = tokio::select! {
            biased;
            _ = group.cancelled() => Err("cancelled"),
            r = timeout(Duration::from_secs(5), self.answer.notified()) => {
                r.map_err(|_| "join timed out")
            }
        };
        let stopped = self.stop.token().is_cancelled();
        if started == Err("cancelled") {
            assert!(stopped, "the start was cancelled with no stop");
        }
        let start_outcome = match started {
            Err("cancelled") => 0,
            Err(_) => 1,
            Ok(()) => 2,
        };
        let reason = match (started, stopped) {
            (_, true) => None,
            (Ok(()), false) => tokio::select! {
                biased;
                _ = self.stop.token().cancelled() => None,
                _ = sleep(Duration::from_secs(1)) => Some("pipeline-eos"),
            },
            (Err(_), false) => Some("start-failed"),
        };
        let claimed_first = match reason {
            Some(_) => self.stop("main loop").await == Claim::First,
            None => {
                assert!(
                    self.stop.claimed(),
                    "the main loop saw its attempt cancelled, but no stop was claimed"
                );
                self.finish("main loop (wait_stopped)").await;
                false
            }
        };
        (start_outcome, claimed_first)
    }
}

/// Executions per (start outcome, main loop claimed first).
type Seen = Arc<std::sync::Mutex<[[usize; 2]; 3]>>;

fn model(seen: Seen) -> impl Fn() + Send + Sync {
    move || {
        let seen = seen.clone();
        shuttle::future::block_on(async move {
            let a = Attempt {
                stop: Arc::new(StopOnce::new()),
                steps: Arc::default(),
                answer: Arc::new(Notify::new()),
                leave_ack: Arc::new(Notify::new()),
                claims: Arc::default(),
            };
            let main_loop = {
                let a = a.clone();
                shuttle::future::spawn(async move { a.main_loop().await })
            };
            let signals: Vec<_> = ["signal task", "second signal"]
                .into_iter()
                .map(|who| {
                    let a = a.clone();
                    shuttle::future::spawn(async move { a.stop(who).await })
                })
                .collect();
            let room = {
                let a = a.clone();
                shuttle::future::spawn(async move {
                    sleep(Duration::from_millis(30)).await;
                    a.answer.notify_one();
                    sleep(Duration::from_millis(30)).await;
                    a.leave_ack.notify_one();
                })
            };
            let watcher = {
                let a = a.clone();
                shuttle::future::spawn(async move {
                    let mut seen = (false, false, false);
                    for _ in 0..4 {
                        let stopped = a.stop.is_stopped();
                        let finished = a.steps.finished();
                        let cancelled = a.stop.token().is_cancelled();
                        let claimed = a.stop.claimed();
                        assert!(!stopped || finished, "is_stopped before every step ran");
                        assert!(!cancelled || claimed, "token cancelled with no claim");
                        assert!(
                            (claimed || !seen.0) && (cancelled || !seen.1) && (stopped || !seen.2),
                            "claimed/cancelled/stopped went back: {seen:?} then {:?}",
                            (claimed, cancelled, stopped)
                        );
                        seen = (claimed, cancelled, stopped);
                        shuttle::future::yield_now().await;
                    }
                })
            };
            let (start, claimed_first) = main_loop.await.unwrap();
            seen.lock().unwrap()[start][usize::from(claimed_first)] += 1;
            for s in signals {
                s.await.unwrap();
            }
            room.await.unwrap();
            watcher.await.unwrap();

            let claims = a.claims.lock().unwrap().clone();
            let first: Vec<_> = claims.iter().filter(|(_, c)| *c == Claim::First).collect();
            assert_eq!(
                first.len(),
                1,
                "{} callers claimed the stop first: {claims:?}",
                first.len()
            );
            assert_eq!(a.steps.ran(), STEPS, "teardown steps");
            assert!(a.stop.is_stopped() && a.stop.token().is_cancelled());
        });
    }
}

#[test]
fn shuttle_stop_once_whole_surface() {
    let seen = Seen::default();
    let n = explore("publisher-stop", model(seen.clone()));
    if n > 1 {
        let seen = *seen.lock().unwrap();
        for (outcome, counts) in ["cancelled", "failed", "answered"].iter().zip(seen) {
            assert!(
                counts.iter().sum::<usize>() > 0,
                "over {n} executions no start was {outcome}: {seen:?}"
            );
        }
        let [waited, claimed] = [0, 1].map(|i| seen.iter().map(|c| c[i]).sum::<usize>());
        assert!(
            waited > 0 && claimed > 0,
            "over {n} executions the main loop claimed first {claimed} times and only waited {waited}"
        );
    }
}
