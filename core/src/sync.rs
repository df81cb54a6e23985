//! Shared-state primitives: std normally, loom under `--cfg relaysim_loom`.
//!
//! Owns the one switch between the two. Every piece of shared state that a
//! loom model checks (the per-destination VOD latch and override, …) must use
//! these re-exports, never `std::sync` directly. The cfg is `relaysim_loom`,
//! not `loom`: plain `loom` also flips tokio into its own loom mode and breaks
//! the build.

#[cfg(relaysim_loom)]
pub use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(relaysim_loom)]
pub use loom::sync::{Arc, Mutex, MutexGuard, RwLock};

#[cfg(not(relaysim_loom))]
pub use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(relaysim_loom))]
pub use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// Locks a mutex, ignoring poison: a panic while holding one of these locks is
/// already reported (the harness catches it per seed); the data stays usable.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
