//! Shared-state primitives: std normally, loom under `--cfg relaysim_loom`,
//! shuttle with the `shuttle` feature.
//!
//! Owns the one switch between the three. Every piece of shared state that a
//! model checks (the per-destination VOD latch and override, the EOS latch,
//! pad queues, the transcode registry, runner and broadcaster, …) must use
//! these re-exports, never `std::sync` directly: a `std` lock or atomic is
//! invisible to both checkers, which then never preempt around it.
//!
//! - `relaysim_loom`: exhaustive (bounded) exploration, `core/tests/loom_*.rs`.
//!   The cfg is `relaysim_loom`, not `loom`: plain `loom` also flips tokio
//!   into its own loom mode and breaks the build.
//! - feature `shuttle`: randomized preemptive scheduling (random walk and
//!   PCT) for models whose state space loom cannot finish,
//!   `core/tests/shuttle.rs`. A feature rather than a cfg so that its build
//!   shares the test build's dependencies; nothing in the workspace turns
//!   it on, and only the shuttle test requires it.
//!
//! The two are exclusive. Under either, these primitives only work inside the
//! checker's model closure, so such a build runs the model tests and nothing
//! else. This module must never hold behaviour of its own beyond [`lock`].

#[cfg(all(relaysim_loom, feature = "shuttle"))]
compile_error!("relaysim_loom and the shuttle feature are exclusive");

#[cfg(relaysim_loom)]
pub use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(relaysim_loom)]
pub use loom::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};

#[cfg(feature = "shuttle")]
pub use shuttle::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(feature = "shuttle")]
pub use shuttle::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};

#[cfg(not(any(relaysim_loom, feature = "shuttle")))]
pub use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(any(relaysim_loom, feature = "shuttle")))]
pub use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};

/// Locks a mutex, ignoring poison: a panic while holding one of these locks is
/// already reported (the harness catches it per seed); the data stays usable.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
