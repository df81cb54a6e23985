//! Task spawning: the one way the core and simulated peers start a task.
//!
//! Owns [`spawn`] (`tokio::spawn`, then [`adopt`]) and the per-thread hook
//! a simulation engine installs with [`set_adopter`] to learn each new
//! task's abort handle, so that it can crash a host by aborting every task
//! the host started. Outside a simulation that installed a hook (real
//! sockets, unit tests, turmoil, which crashes a host by dropping its
//! runtime), [`spawn`] is exactly `tokio::spawn`. Code that spawns on a
//! `JoinSet` or a runtime handle passes the abort handle to [`adopt`]
//! itself. A task spawned any other way (`tokio::spawn` in a dependency)
//! is invisible to the hook: the fast engine then refuses to crash its host
//! rather than leave it running.
//!
//! Also owns the bounded waits that a shared-state type's model must be able
//! to run: [`sleep`] and [`timeout`]. Normally they are `tokio::time`'s
//! (simulated under turmoil and the fast engine, real on real sockets).
//! With core's `shuttle` feature there is no tokio timer, and time becomes
//! one more nondeterministic choice of the checker: a [`timeout`] whose
//! future is still pending may run out each time its task is scheduled
//! (with probability 1/4, drawn from shuttle's seeded, replayed random
//! source), and a [`sleep`] is a yield. So a model sees both a wait that
//! runs out and an event that lands just before it, at every interleaving
//! the scheduler tries; what it cannot see is the order between two
//! different durations (a 1 s bound may run out after a 5 s one). The loom
//! build keeps tokio's timer: no loom model waits on time.
//!
//! This module never reads a clock and never decides anything.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::time::Duration;
use tokio::task::{AbortHandle, JoinHandle};

thread_local! {
    static ADOPTER: Cell<Option<fn(AbortHandle)>> = const { Cell::new(None) };
}

/// Installs (or with `None` removes) this thread's adopter: the function
/// every [`adopt`] on this thread hands its task's abort handle to.
pub fn set_adopter(adopter: Option<fn(AbortHandle)>) {
    ADOPTER.with(|a| a.set(adopter));
}

/// Hands `task` to this thread's adopter, if any.
pub fn adopt(task: AbortHandle) {
    if let Some(adopter) = ADOPTER.with(Cell::get) {
        adopter(task);
    }
}

/// Spawns `future` on the current tokio runtime and [`adopt`]s it.
#[allow(clippy::disallowed_methods)] // the one place tokio::spawn is called
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = tokio::spawn(future);
    adopt(task.abort_handle());
    task
}

/// A [`timeout`] ran out before its future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// Waits `d` (tokio's timer; a yield under the shuttle checker).
#[cfg(not(feature = "shuttle"))]
pub async fn sleep(d: Duration) {
    tokio::time::sleep(d).await;
}

/// Runs `future` for at most `d`: `Err(Elapsed)` if it did not finish in
/// time (tokio's timer; under the shuttle checker, a bound that may run out
/// at any point the scheduler picks, see the module doc).
#[cfg(not(feature = "shuttle"))]
pub async fn timeout<F: Future>(d: Duration, future: F) -> Result<F::Output, Elapsed> {
    tokio::time::timeout(d, future).await.map_err(|_| Elapsed)
}

/// Waits `d` (tokio's timer; a yield under the shuttle checker).
#[cfg(feature = "shuttle")]
pub async fn sleep(_d: Duration) {
    shuttle::future::yield_now().await;
}

/// Runs `future` for at most `d`: `Err(Elapsed)` if it did not finish in
/// time (tokio's timer; under the shuttle checker, a bound that may run out
/// at any point the scheduler picks, see the module doc).
#[cfg(feature = "shuttle")]
pub async fn timeout<F: Future>(_d: Duration, future: F) -> Result<F::Output, Elapsed> {
    use shuttle::rand::Rng;
    use std::task::Poll;
    let mut future = std::pin::pin!(future);
    loop {
        let polled = std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await;
        if let Poll::Ready(out) = polled {
            return Ok(out);
        }
        if shuttle::rand::thread_rng().gen_ratio(1, 4) {
            return Err(Elapsed);
        }
        shuttle::future::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static ADOPTED: AtomicUsize = AtomicUsize::new(0);

    fn count(_: AbortHandle) {
        ADOPTED.fetch_add(1, Ordering::SeqCst);
    }

    #[tokio::test]
    async fn spawn_hands_each_task_to_the_adopter_while_one_is_installed() {
        let before = ADOPTED.load(Ordering::SeqCst);
        spawn(async {}).await.unwrap();
        assert_eq!(ADOPTED.load(Ordering::SeqCst), before, "no adopter yet");
        set_adopter(Some(count));
        spawn(async {}).await.unwrap();
        assert_eq!(ADOPTED.load(Ordering::SeqCst), before + 1);
        set_adopter(None);
        spawn(async {}).await.unwrap();
        assert_eq!(ADOPTED.load(Ordering::SeqCst), before + 1, "removed");
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_runs_out_at_its_bound_and_not_before() {
        let start = tokio::time::Instant::now();
        let slow = timeout(Duration::from_secs(2), sleep(Duration::from_secs(3))).await;
        assert_eq!(slow, Err(Elapsed));
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        let fast = timeout(Duration::from_secs(2), async {
            sleep(Duration::from_secs(1)).await;
            7
        })
        .await;
        assert_eq!(fast, Ok(7));
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        assert_eq!(Elapsed.to_string(), "deadline has elapsed");
    }
}
