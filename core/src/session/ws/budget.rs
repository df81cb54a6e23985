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

#[cfg(test)]
mod tests {
    //! One test per contract clause, single-threaded: the `ws-budget`
    //! shuttle model asserts the same clauses under preemption.
    use super::*;

    #[test]
    fn a_reservation_that_fits_is_counted_and_returns_the_new_count() {
        let b = OutboundBudget::new(100);
        assert_eq!(b.limit(), 100);
        assert_eq!(b.queued(), 0);
        assert_eq!(b.try_reserve(30), Ok(30));
        assert_eq!(
            b.try_reserve(70),
            Ok(100),
            "filling to the limit exactly fits"
        );
        assert_eq!(b.queued(), 100);
    }

    #[test]
    fn a_refused_reservation_changes_neither_the_count_nor_the_peak() {
        let b = OutboundBudget::new(100);
        assert_eq!(b.try_reserve(60), Ok(60));
        assert_eq!(b.try_reserve(41), Err(60), "the count that left no room");
        assert_eq!(b.queued(), 60);
        assert_eq!(b.peak(), 60);
        assert_eq!(
            b.try_reserve(u64::MAX),
            Err(60),
            "an overflowing sum is refused"
        );
        assert_eq!(b.queued(), 60);
    }

    #[test]
    fn releases_give_back_what_was_reserved() {
        let b = OutboundBudget::new(100);
        b.try_reserve(40).unwrap();
        b.try_reserve(25).unwrap();
        b.release(40);
        assert_eq!(b.queued(), 25);
        b.release(25);
        assert_eq!(b.queued(), 0);
        assert_eq!(
            b.try_reserve(100),
            Ok(100),
            "released bytes make room again"
        );
    }

    #[test]
    #[should_panic(expected = "released 2 bytes with only 1 queued")]
    fn releasing_more_than_is_queued_panics() {
        let b = OutboundBudget::new(100);
        b.try_reserve(1).unwrap();
        b.release(2);
    }

    #[test]
    fn the_peak_is_the_largest_count_ever_reserved() {
        let b = OutboundBudget::new(100);
        assert_eq!(b.peak(), 0);
        b.try_reserve(30).unwrap();
        b.try_reserve(20).unwrap();
        assert_eq!(b.peak(), 50);
        b.release(50);
        b.try_reserve(10).unwrap();
        assert_eq!(b.queued(), 10);
        assert_eq!(b.peak(), 50, "a lower count later leaves the peak");
    }

    #[test]
    fn the_busy_flag_admits_one_holder_until_it_leaves() {
        let f = BusyFlag::new();
        assert!(!f.is_busy());
        assert!(f.try_enter(), "a free slot is entered");
        assert!(f.is_busy());
        assert!(!f.try_enter(), "a held slot refuses");
        assert!(f.is_busy(), "a refused entry changes nothing");
        f.leave();
        assert!(!f.is_busy());
        assert!(f.try_enter(), "after leave the next entry succeeds");
    }
}
