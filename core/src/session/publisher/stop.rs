//! The stop protocol of one publish attempt: claim once, tear down once,
//! and let every caller return only once the teardown finished.
//!
//! Owns [`StopOnce`]: the claim flag (which caller says it began the stop
//! and which joined one), the attempt's cancellation token (cancelled as
//! the teardown's first step: it ends what still starts and the main loop)
//! and the once-cell the teardown runs in. [`crate::session::publisher::run::Publisher`]
//! supplies the teardown itself (pipeline to NULL, leave the room, abort
//! the room task); this type knows nothing of it and must never hold a lock
//! while the teardown runs (the teardown awaits the room).
//!
//! # Contract
//!
//! Callers: the signal task and the main loop call [`StopOnce::claim`] then
//! [`StopOnce::finish`]; the main loop calls [`StopOnce::finish`] alone
//! when its start was stopped or its wait was cancelled (someone else
//! claimed). For any number of concurrent callers:
//!
//! 1. exactly one [`StopOnce::claim`] returns [`Claim::First`]; every other
//!    returns [`Claim::Joined`];
//! 2. the token is cancelled before any teardown step runs, and stays
//!    cancelled;
//! 3. the teardown runs once: each of its steps at most once, and all of
//!    them once some caller called [`StopOnce::finish`];
//! 4. no [`StopOnce::finish`] returns before the teardown finished, whoever
//!    ran it (a caller that lost the claim waits for the winner);
//! 5. [`StopOnce::is_stopped`] turns true exactly when the teardown
//!    finished, and never turns back.
//!
//! The teardown runs in whichever `finish` future gets to it first. If that
//! future is dropped mid-teardown, the next waiter runs the teardown from
//! its start (tokio's `OnceCell`): so a caller must never drop a `finish`
//! it started (the attempt loop awaits its own, and awaits the signal task
//! once signalled). Modelled by `core/tests/shuttle/stop_once.rs`.

use crate::sync::{AtomicBool, Ordering};
use std::future::Future;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

/// What [`StopOnce::claim`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This caller began the stop.
    First,
    /// Another caller had already begun it.
    Joined,
}

/// One attempt's stop: a claim, a cancellation token, a once-only teardown.
pub struct StopOnce {
    claimed: AtomicBool,
    cancel: CancellationToken,
    done: OnceCell<()>,
}

impl Default for StopOnce {
    fn default() -> Self {
        StopOnce::new()
    }
}

impl StopOnce {
    pub fn new() -> StopOnce {
        StopOnce {
            claimed: AtomicBool::new(false),
            cancel: CancellationToken::new(),
            done: OnceCell::new(),
        }
    }

    /// The token the teardown cancels first: what still starts, and the
    /// main loop, select on it (or on a child of it).
    pub fn token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Claims the stop: [`Claim::First`] for exactly one caller.
    pub fn claim(&self) -> Claim {
        if self.claimed.swap(true, Ordering::AcqRel) {
            Claim::Joined
        } else {
            Claim::First
        }
    }

    /// Has some caller claimed the stop?
    pub fn claimed(&self) -> bool {
        self.claimed.load(Ordering::Acquire)
    }

    /// Cancels the token and runs `teardown`, unless another caller already
    /// did or is doing it; returns once the teardown finished, whoever ran
    /// it.
    pub async fn finish<F, Fut>(&self, teardown: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ()>,
    {
        self.done
            .get_or_init(|| async {
                self.cancel.cancel();
                teardown().await;
            })
            .await;
    }

    /// Has the teardown finished?
    pub fn is_stopped(&self) -> bool {
        self.done.initialized()
    }
}

impl std::fmt::Debug for StopOnce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopOnce")
            .field("claimed", &self.claimed())
            .field("cancelled", &self.cancel.is_cancelled())
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

#[cfg(test)]
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn one_claim_one_teardown_and_every_caller_waits_for_it() {
        let stop = std::sync::Arc::new(StopOnce::new());
        let runs = std::sync::Arc::new(AtomicUsize::new(0));
        let (release, gate) = tokio::sync::oneshot::channel::<()>();
        let gate = std::sync::Mutex::new(Some(gate));
        assert!(!stop.claimed(), "claimed before any claim");
        assert_eq!(stop.claim(), Claim::First);
        assert!(stop.claimed(), "not claimed after the first claim");
        assert_eq!(stop.claim(), Claim::Joined);
        let first = {
            let (stop, inner, runs) = (stop.clone(), stop.clone(), runs.clone());
            let gate = gate.lock().unwrap().take().unwrap();
            tokio::spawn(async move {
                stop.finish(|| async move {
                    assert!(inner.token().is_cancelled());
                    let _ = gate.await;
                    runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                })
                .await;
            })
        };
        tokio::task::yield_now().await;
        assert!(stop.token().is_cancelled(), "cancelled before the teardown");
        assert!(!stop.is_stopped());
        let second = {
            let (stop, runs) = (stop.clone(), runs.clone());
            tokio::spawn(async move {
                stop.finish(|| async move {
                    runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                })
                .await;
                assert!(stop.is_stopped(), "returned before the teardown finished");
            })
        };
        tokio::task::yield_now().await;
        assert!(!second.is_finished(), "the joiner waits for the teardown");
        release.send(()).unwrap();
        first.await.unwrap();
        second.await.unwrap();
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(stop.is_stopped());
    }
}
