//! The server-wide counters of a ws server.
//!
//! Owns [`ServerStats`]: sessions opened and open, keepalive kills, swaps
//! numbered server-wide, answers, shed slices, the peak of any session's
//! outbound queue. The accept loop creates and numbers sessions; each
//! session counts the rest. It must never depend on the rest of the
//! component: a leaf, so the server and its sessions can both hold it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counters shared by every session of one server (read by the harness for
/// final facts, and by the real-peer test).
#[derive(Debug, Default)]
pub struct ServerStats {
    pub sessions_opened: AtomicU64,
    pub sessions_open: AtomicU64,
    pub keepalive_kills: AtomicU64,
    /// Swaps accepted; also the last swap id.
    pub swaps: AtomicU64,
    /// Answers queued (one per command).
    pub answers: AtomicU64,
    pub slices_shed: AtomicU64,
    /// The most bytes any session's outbound queue held.
    pub peak_queued: AtomicU64,
}

impl ServerStats {
    pub fn new() -> Arc<ServerStats> {
        Arc::new(ServerStats::default())
    }

    pub fn get(v: &AtomicU64) -> u64 {
        v.load(Ordering::Acquire)
    }
}
