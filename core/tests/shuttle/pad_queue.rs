//! `PadQueue`, whole surface: the pump queueing five messages (the async
//! `push`, waiting for space, then `close`), the forwarder popping until
//! the queue is closed and empty, and `stop` retiring and flushing it while
//! reading every accessor.
//!
//! Invariants after every execution (and during it, where stated):
//! - the queue never holds more than its capacity (checked at every push
//!   and read, and by `max_depth`);
//! - order and conservation: what the forwarder popped is exactly the first
//!   messages the queue accepted, in order, and popped + flushed away =
//!   accepted (nothing is delivered twice, lost, or accepted after a flush
//!   or close);
//! - a pump waiting for space is always woken by a pop or the flush (a lost
//!   wake-up is a shuttle deadlock, reported as a failure);
//! - once flushed, the queue refuses every push and pops nothing; at the
//!   end it is closed and retiring.

use super::{explore, must_find};
use relaysim_core::session::pads::queue::{PadQueue, PushError};
use relaysim_core::session::pads::{Buffer, PadMessage};
use relaysim_core::BugSet;
use shuttle::sync::Mutex;
use shuttle::thread;

const CAPACITY: usize = 2;
const MESSAGES: u64 = 5;

fn buf(seq: u64) -> PadMessage {
    PadMessage::Buffer(Buffer {
        seq,
        pts_ms: seq * 33,
        keyframe: seq == 0,
        config: 1,
    })
}

fn seq(m: &PadMessage) -> u64 {
    match m {
        PadMessage::Buffer(b) => b.seq,
        other => panic!("unexpected {other:?}"),
    }
}

fn model(bugs: BugSet) -> impl Fn() + Send + Sync {
    move || {
        let wake = std::sync::Arc::new(tokio::sync::Notify::new());
        let q = PadQueue::new("video_cam", CAPACITY, bugs, wake);
        let accepted = std::sync::Arc::new(Mutex::new(Vec::new()));

        let pump = {
            let (q, accepted) = (q.clone(), accepted.clone());
            thread::spawn(move || {
                for s in 0..MESSAGES {
                    // Alternate the async push and try_push.
                    let r = if s % 2 == 0 {
                        shuttle::future::block_on(q.push(buf(s)))
                    } else {
                        loop {
                            match q.try_push(buf(s)) {
                                Ok(depth) => break Ok(depth),
                                Err(PushError::Full(_)) => thread::yield_now(),
                                Err(PushError::Flushing(m)) => break Err(m),
                            }
                        }
                    };
                    match r {
                        Ok(depth) => {
                            assert!(
                                depth <= CAPACITY,
                                "the queue held {depth} messages (capacity {CAPACITY})"
                            );
                            accepted.lock().unwrap().push(s);
                        }
                        Err(m) => {
                            assert_eq!(seq(&m), s, "a refused push returned another message");
                            return;
                        }
                    }
                }
                q.close();
                assert!(matches!(q.try_push(buf(99)), Err(PushError::Flushing(_))));
            })
        };
        let forwarder = {
            let q = q.clone();
            thread::spawn(move || {
                let mut popped = Vec::new();
                loop {
                    match q.pop() {
                        Some(m) => popped.push(seq(&m)),
                        None if q.is_closed() => {
                            // Closed: drain what the pump queued before.
                            while let Some(m) = q.pop() {
                                popped.push(seq(&m));
                            }
                            return popped;
                        }
                        None => thread::yield_now(),
                    }
                }
            })
        };
        let stop = {
            let q = q.clone();
            thread::spawn(move || {
                assert_eq!((q.pad(), q.capacity()), ("video_cam", CAPACITY));
                let depth = q.depth();
                assert!(
                    depth <= CAPACITY,
                    "the queue held {depth} messages (capacity {CAPACITY})"
                );
                thread::yield_now();
                q.retire();
                assert!(q.is_retiring());
                let discarded = q.flush();
                assert!(
                    q.is_closed() && q.pop().is_none(),
                    "a flushed queue gave a message"
                );
                assert!(matches!(q.try_push(buf(98)), Err(PushError::Flushing(_))));
                discarded
            })
        };
        pump.join().unwrap();
        let popped = forwarder.join().unwrap();
        let discarded = stop.join().unwrap();

        let accepted = accepted.lock().unwrap().clone();
        assert!(
            q.max_depth() <= CAPACITY,
            "the queue held {} messages (capacity {CAPACITY})",
            q.max_depth()
        );
        assert!(
            accepted.starts_with(&popped),
            "popped {popped:?} is not the head of accepted {accepted:?}"
        );
        assert_eq!(
            popped.len() + discarded,
            accepted.len(),
            "popped {popped:?} + {discarded} flushed != accepted {accepted:?}"
        );
        assert!(q.is_closed() && q.is_retiring() && q.depth() == 0);
    }
}

#[test]
fn shuttle_pad_queue_whole_surface() {
    explore("pad-queue", model(BugSet::NONE));
}

#[cfg(feature = "known-bugs")]
#[test]
fn shuttle_pad_queue_finds_unbounded() {
    use relaysim_core::KnownBug;
    must_find(
        "pad-queue-unbounded",
        &["the queue held"],
        model(BugSet::only(KnownBug::PadQueueUnbounded)),
    );
}
