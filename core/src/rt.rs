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
//! rather than leave it running. This module never reads a clock and never
//! decides anything.

use std::cell::Cell;
use std::future::Future;
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
}
