//! The server-wide counters of a ws server.
//!
//! Owns [`ServerStats`]: sessions opened and open, keepalive kills, swaps
//! numbered server-wide, answers, shed slices, the peak of any session's
//! outbound queue, and the hostile-input verdicts (failed accepts, refused
//! connections, full queues, protocol closes). The accept loop creates,
//! numbers and refuses sessions and counts its failed accepts; each session
//! counts the rest. It must never depend on the rest of the
//! component: a leaf, so the server and its sessions can both hold it.
//!
//! The counters are `crate::sync` atomics, updated from every session's
//! tasks at once. Contract (asserted by the shuttle model `ws-budget`,
//! `core/tests/shuttle/ws_budget.rs`, next to the sessions' budgets):
//! 1. [`ServerStats::next_swap`] numbers swaps 1, 2, 3, … server-wide, each
//!    number given out once, and `swaps` is the last one given;
//! 2. `peak_queued` ([`ServerStats::note_queued`]) is the maximum of every
//!    count noted: never below one, never above the largest (so never above
//!    a session's queue limit, which bounds every count noted);
//! 3. a counter only counts: it never loses an increment.

use crate::sync::{AtomicU64, Ordering};
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
    /// `accept()` calls that failed (the loop went on after a pause).
    pub accept_errors: AtomicU64,
    /// Connections refused over the session cap (closed 1013 or dropped).
    pub sessions_refused: AtomicU64,
    /// Sessions closed 1008 because their outbound queue was full.
    pub queue_full: AtomicU64,
    /// Sessions closed 1002, 1007 or 1009 for what their peer sent.
    pub protocol_closes: AtomicU64,
}

impl ServerStats {
    pub fn new() -> Arc<ServerStats> {
        Arc::new(ServerStats::default())
    }

    pub fn get(v: &AtomicU64) -> u64 {
        v.load(Ordering::Acquire)
    }

    /// Numbers a new swap: the next id, server-wide (the first is 1).
    pub fn next_swap(&self) -> u64 {
        self.swaps.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// A session's outbound queue now holds `queued` bytes: raises
    /// `peak_queued` to it if it is higher.
    pub fn note_queued(&self, queued: u64) {
        self.peak_queued.fetch_max(queued, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Swaps are numbered from 1, one after another, server-wide; the peak
    /// queue only rises.
    #[test]
    fn swaps_count_from_one_and_the_peak_only_rises() {
        let s = ServerStats::default();
        assert_eq!([s.next_swap(), s.next_swap(), s.next_swap()], [1, 2, 3]);
        s.note_queued(5);
        s.note_queued(3);
        assert_eq!(ServerStats::get(&s.peak_queued), 5);
        s.note_queued(9);
        assert_eq!(ServerStats::get(&s.peak_queued), 9);
    }
}
