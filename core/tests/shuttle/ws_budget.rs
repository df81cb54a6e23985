//! A ws session's shared accounting, whole surface: its outbound byte
//! budget (`OutboundBudget`), its swap slot (`BusyFlag`) and the server's
//! counters (`ServerStats`), as the session uses them. Three enqueuers (the
//! reader answering commands and starting swaps, the engine pushing slices,
//! a second session's reader sharing the server's counters) reserve bytes
//! and queue items; the bulk writer sends them, releasing their bytes and
//! leaving the swap slot after a swap's last push; a monitor reads every
//! accessor while they run.
//!
//! Invariants, during every execution:
//! - `queued()` and `peak()` never exceed the limit; `peak()` never goes
//!   down;
//! - a reservation that fits returns a count within the limit; a refused
//!   one reports a count that left no room for it;
//! - at most one holder of a session's swap slot at a time.
//!
//! After every execution:
//! - released = reserved, and `queued()` is 0: every byte counted once,
//!   and a refused reservation counted nothing;
//! - `peak()` is exactly the largest count a reservation returned (so at
//!   least every observed level, and a refusal never raised it), and the
//!   server's `peak_queued` is the largest over both sessions;
//! - swap ids are 1..=n, each given once, and `swaps` is n;
//! - the slot is free at the end, and can be entered again.

use super::explore;
use relaysim_core::session::ws::budget::{BusyFlag, OutboundBudget};
use relaysim_core::session::ws::ServerStats;
use shuttle::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use shuttle::sync::{Arc, Mutex};
use shuttle::thread;
use std::collections::VecDeque;

const LIMIT: u64 = 256;

/// One item of a session's outbound queue.
#[derive(Debug, Clone, Copy)]
struct Item {
    bytes: u64,
    /// The last push of a swap: the writer leaves the slot after it.
    ends_swap: bool,
}

/// One session's shared accounting and its queue.
struct Session {
    budget: OutboundBudget,
    swap: BusyFlag,
    /// Holders of the swap slot right now (the model's own count).
    inside: AtomicUsize,
    out: Mutex<VecDeque<Item>>,
    /// What reservations returned, and the bytes they reserved.
    levels: Mutex<Vec<u64>>,
    reserved: AtomicU64,
    released: AtomicU64,
    /// Enqueuers still running.
    producers: AtomicUsize,
}

impl Session {
    fn new(producers: usize) -> Arc<Session> {
        Arc::new(Session {
            budget: OutboundBudget::new(LIMIT),
            swap: BusyFlag::new(),
            inside: AtomicUsize::new(0),
            out: Mutex::new(VecDeque::new()),
            levels: Mutex::new(Vec::new()),
            reserved: AtomicU64::new(0),
            released: AtomicU64::new(0),
            producers: AtomicUsize::new(producers),
        })
    }

    /// What `Session::enqueue` does with the budget and the counters.
    fn enqueue(&self, stats: &ServerStats, item: Item) -> bool {
        match self.budget.try_reserve(item.bytes) {
            Ok(queued) => {
                assert!(
                    queued <= LIMIT,
                    "a reservation returned {queued} bytes queued (limit {LIMIT})"
                );
                self.reserved.fetch_add(item.bytes, Ordering::SeqCst);
                self.levels.lock().unwrap().push(queued);
                stats.note_queued(queued);
                self.out.lock().unwrap().push_back(item);
                true
            }
            Err(queued) => {
                assert!(
                    queued + item.bytes > LIMIT,
                    "a reservation of {} was refused with only {queued} queued (limit {LIMIT})",
                    item.bytes
                );
                stats.queue_full.fetch_add(1, Ordering::AcqRel);
                false
            }
        }
    }

    /// The reader's `start_swap`: enter the slot, number the swap, queue its
    /// pushes (the last one ends it). Returns the swap id if it started.
    fn start_swap(&self, stats: &ServerStats, pushes: &[u64]) -> Option<u64> {
        if !self.swap.try_enter() {
            return None;
        }
        let others = self.inside.fetch_add(1, Ordering::SeqCst);
        assert_eq!(others, 0, "two swaps in the slot at once");
        let id = stats.next_swap();
        for (i, &bytes) in pushes.iter().enumerate() {
            let item = Item {
                bytes,
                ends_swap: i + 1 == pushes.len(),
            };
            if !self.enqueue(stats, item) {
                // The session ends (1008) with the swap unfinished: the
                // model frees the slot itself.
                self.inside.fetch_sub(1, Ordering::SeqCst);
                self.swap.leave();
                break;
            }
        }
        Some(id)
    }

    /// The bulk writer: send (here, pop) each item, release its bytes,
    /// leave the slot after a swap's last push.
    fn writer(&self) {
        loop {
            let next = self.out.lock().unwrap().pop_front();
            match next {
                Some(item) => {
                    self.budget.release(item.bytes);
                    self.released.fetch_add(item.bytes, Ordering::SeqCst);
                    if item.ends_swap {
                        self.inside.fetch_sub(1, Ordering::SeqCst);
                        self.swap.leave();
                    }
                }
                None if self.producers.load(Ordering::SeqCst) == 0 => {
                    if self.out.lock().unwrap().is_empty() {
                        return;
                    }
                }
                None => thread::yield_now(),
            }
        }
    }

    fn done(&self) {
        self.producers.fetch_sub(1, Ordering::SeqCst);
    }
}

fn model() -> impl Fn() + Send + Sync {
    || {
        let stats = ServerStats::new();
        let stats = Arc::new(stats);
        // Session 1: the reader and the engine enqueue; session 2: its reader.
        let s1 = Session::new(2);
        let s2 = Session::new(1);
        let swap_ids = Arc::new(Mutex::new(Vec::new()));

        let reader = {
            let (s, stats, ids) = (s1.clone(), stats.clone(), swap_ids.clone());
            thread::spawn(move || {
                // An answer, a swap (two pushes), another swap attempt.
                s.enqueue(
                    &stats,
                    Item {
                        bytes: 64,
                        ends_swap: false,
                    },
                );
                for _ in 0..2 {
                    if let Some(id) = s.start_swap(&stats, &[64, 100]) {
                        ids.lock().unwrap().push(id);
                    }
                }
                s.done();
            })
        };
        let engine = {
            let (s, stats, ids) = (s1.clone(), stats.clone(), swap_ids.clone());
            thread::spawn(move || {
                // Slices, and a swap attempt racing the reader's.
                s.enqueue(
                    &stats,
                    Item {
                        bytes: 128,
                        ends_swap: false,
                    },
                );
                if let Some(id) = s.start_swap(&stats, &[90]) {
                    ids.lock().unwrap().push(id);
                }
                s.enqueue(
                    &stats,
                    Item {
                        bytes: 128,
                        ends_swap: false,
                    },
                );
                s.done();
            })
        };
        let other = {
            let (s, stats, ids) = (s2.clone(), stats.clone(), swap_ids.clone());
            thread::spawn(move || {
                if let Some(id) = s.start_swap(&stats, &[200, 64]) {
                    ids.lock().unwrap().push(id);
                }
                s.enqueue(
                    &stats,
                    Item {
                        bytes: 64,
                        ends_swap: false,
                    },
                );
                s.done();
            })
        };
        let writers: Vec<_> = [s1.clone(), s2.clone()]
            .into_iter()
            .map(|s| thread::spawn(move || s.writer()))
            .collect();
        let monitor = {
            let (s, stats) = (s1.clone(), stats.clone());
            thread::spawn(move || {
                let mut last_peak = 0;
                for _ in 0..3 {
                    let (queued, peak) = (s.budget.queued(), s.budget.peak());
                    assert!(queued <= LIMIT, "{queued} bytes queued (limit {LIMIT})");
                    assert!(peak <= LIMIT, "peak {peak} above the limit {LIMIT}");
                    assert!(
                        peak >= last_peak,
                        "the peak went down: {last_peak} -> {peak}"
                    );
                    last_peak = peak;
                    assert_eq!(s.budget.limit(), LIMIT);
                    let server_peak = ServerStats::get(&stats.peak_queued);
                    assert!(
                        server_peak <= LIMIT,
                        "server peak {server_peak} above the limit"
                    );
                    let _ = s.swap.is_busy();
                    thread::yield_now();
                }
            })
        };

        for h in [reader, engine, other, monitor] {
            h.join().unwrap();
        }
        for w in writers {
            w.join().unwrap();
        }

        let mut server_peak = 0;
        for (name, s) in [("session 1", &s1), ("session 2", &s2)] {
            let (reserved, released) = (
                s.reserved.load(Ordering::SeqCst),
                s.released.load(Ordering::SeqCst),
            );
            assert_eq!(
                reserved, released,
                "{name}: {reserved} bytes reserved, {released} released"
            );
            assert_eq!(
                s.budget.queued(),
                0,
                "{name}: {} bytes still counted with the queue empty",
                s.budget.queued()
            );
            let levels = s.levels.lock().unwrap().clone();
            let top = levels.iter().copied().max().unwrap_or(0);
            assert_eq!(
                s.budget.peak(),
                top,
                "{name}: peak {} but the reservations returned {levels:?}",
                s.budget.peak()
            );
            assert!(top <= LIMIT, "{name}: peak {top} above the limit {LIMIT}");
            server_peak = server_peak.max(top);
            assert!(!s.swap.is_busy(), "{name}: the swap slot is still held");
            assert!(s.swap.try_enter(), "{name}: the free slot refused entry");
            s.swap.leave();
        }
        assert_eq!(
            ServerStats::get(&stats.peak_queued),
            server_peak,
            "the server's peak is not the sessions' largest"
        );
        let mut ids = swap_ids.lock().unwrap().clone();
        ids.sort_unstable();
        let n = ids.len() as u64;
        assert_eq!(ids, (1..=n).collect::<Vec<_>>(), "swap ids {ids:?}");
        assert_eq!(ServerStats::get(&stats.swaps), n, "swaps counter");
    }
}

#[test]
fn shuttle_ws_budget_whole_surface() {
    explore("ws-budget", model());
}
