//! A session's shared accounting, apart from its tasks: the outbound byte
//! budget and the swap slot.
//!
//! Owns [`OutboundBudget`] (the bytes waiting in a session's outbound
//! queue, its limit and its peak) and [`BusyFlag`] (one swap at a time).
//! The reader and the engine reserve; the bulk writer releases; the reader
//! enters the swap slot and the writer leaves it. Both are plain atomics
//! from `crate::sync`, so the shuttle model `ws-budget`
//! (`core/tests/shuttle/ws_budget.rs`) drives these very types from
//! several threads.
//!
//! This module must never block, wait, do I/O, or decide what happens to a
//! session that does not fit: it answers whether bytes fit, and the session
//! decides (shed a slice, or close 1008).

use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// The byte count of one session's outbound queue, bounded by its limit.
///
/// Contract (asserted by the `ws-budget` model):
/// 1. `queued()` never exceeds `limit()`, whatever the interleaving of
///    reservations and releases (a reservation is one atomic
///    read-modify-write: it fits and is counted, or it is refused).
/// 2. A refused reservation changes nothing: not the count, not the peak.
/// 3. Every byte released was reserved before: once every reservation has
///    been released, `queued()` is 0 (releasing more than is queued is a
///    caller's bug and panics).
/// 4. `peak()` is at least every count a reservation returned and never
///    above `limit()`.
#[derive(Debug)]
pub struct OutboundBudget {
    queued: AtomicU64,
    peak: AtomicU64,
    limit: u64,
}

impl OutboundBudget {
    pub fn new(limit: u64) -> OutboundBudget {
        OutboundBudget {
            queued: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            limit,
        }
    }

    /// The most bytes the queue may hold.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes reserved and not yet released.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Acquire)
    }

    /// The most bytes the queue held at once.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Acquire)
    }

    /// Reserves `bytes` if they fit under the limit: `Ok` with the count
    /// after the reservation, or `Err` with the count that left no room
    /// (nothing changed).
    pub fn try_reserve(&self, bytes: u64) -> Result<u64, u64> {
        let limit = self.limit;
        let before = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                q.checked_add(bytes).filter(|&n| n <= limit)
            })?;
        let after = before + bytes;
        self.peak.fetch_max(after, Ordering::AcqRel);
        Ok(after)
    }

    /// Gives back `bytes` of an earlier reservation (the writer, once they
    /// were sent).
    pub fn release(&self, bytes: u64) {
        let released = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                q.checked_sub(bytes)
            });
        if let Err(q) = released {
            panic!("released {bytes} bytes with only {q} queued");
        }
    }
}

/// A slot one holder at a time may enter (a session's swap in progress).
///
/// Contract (asserted by the `ws-budget` model): 1. between a successful
/// [`BusyFlag::try_enter`] and the matching [`BusyFlag::leave`] every other
/// `try_enter` fails; 2. a failed `try_enter` changes nothing; 3. after
/// `leave`, the next `try_enter` succeeds.
#[derive(Debug, Default)]
pub struct BusyFlag {
    busy: AtomicBool,
}

impl BusyFlag {
    pub fn new() -> BusyFlag {
        BusyFlag::default()
    }

    /// Enters the slot: true if it was free (the caller now holds it).
    pub fn try_enter(&self) -> bool {
        !self.busy.swap(true, Ordering::AcqRel)
    }

    /// Leaves the slot (only its holder calls this).
    pub fn leave(&self) {
        self.busy.store(false, Ordering::Release);
    }

    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }
}
