//! Shared-state primitives: std normally, loom with the `loom` feature,
//! shuttle with the `shuttle` feature.
//!
//! Owns the one switch between the three. Every piece of shared state that a
//! model checks (the per-destination VOD latch and override, the EOS latch,
//! pad queues, the transcode registry, runner and broadcaster, …) must use
//! these re-exports, never `std::sync` directly: a `std` lock or atomic is
//! invisible to both checkers, which then never preempt around it.
//!
//! - feature `loom`: exhaustive (bounded) exploration, `core/tests/loom_*.rs`.
//!   A feature, not `--cfg loom` (which would also flip tokio into its own
//!   loom mode and break the build).
//! - feature `shuttle`: randomized preemptive scheduling (random walk and
//!   PCT) for models whose state space loom cannot finish,
//!   `core/tests/shuttle.rs`.
//!
//! Features rather than cfgs so that each step's build shares the test
//! build's dependencies; nothing in the workspace turns them on, and only
//! the model tests require them.
//!
//! The two are exclusive. Under either, these primitives only work inside the
//! checker's model closure, so such a build runs the model tests and nothing
//! else. This module must never hold behaviour of its own beyond [`lock`].

#[cfg(all(feature = "loom", feature = "shuttle"))]
compile_error!("the loom and shuttle features are exclusive");

#[cfg(feature = "loom")]
pub use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(feature = "loom")]
pub use loom::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};

#[cfg(feature = "shuttle")]
pub use shuttle::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(feature = "shuttle")]
pub use shuttle::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};

/// Locks a mutex, ignoring poison: a panic while holding one of these locks is
/// already reported (the harness catches it per seed); the data stays usable.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
