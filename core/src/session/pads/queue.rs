//! A pad's queue: its pump pushes, the forwarder pops, `stop` flushes.
//!
//! Owns [`PadQueue`]: bounded (a push into a full queue is refused with
//! [`PushError::Full`], and [`PadQueue::push`] waits for space), closable by
//! its pump once it queued its last message, and flushable by anyone: a
//! flush throws away what is queued, refuses every later push, and wakes a
//! pump waiting for space — so a flush can never wedge behind a full queue
//! (the blocking bounded send of moq#1870 could). Its state lives under one
//! lock from [`crate::sync`], so `core/tests/loom_pads.rs` checks push /
//! pop / flush in every interleaving. Wake-ups use `tokio::sync::Notify`,
//! never a blocking wait.
//!
//! With `pad-queue-unbounded` on, the capacity is ignored (upstream's
//! unbounded channel): a stalled forwarder makes the queue grow without
//! bound.

use crate::bugs::{BugSet, KnownBug};
use crate::session::pads::PadMessage;
use crate::sync::{lock, Arc, Mutex};
use std::collections::VecDeque;
use tokio::sync::Notify;

/// Why a push was refused; the message comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// The queue holds its capacity: wait for the forwarder.
    Full(PadMessage),
    /// The queue was flushed (the session is stopping) or closed.
    Flushing(PadMessage),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// The pump queued its last message; the forwarder drains the rest.
    Closed,
    /// Flushed: empty for good.
    Flushing,
}

#[derive(Debug)]
struct Inner {
    items: VecDeque<PadMessage>,
    state: State,
    /// The track left the catalog: its pump is queueing EOS and drop.
    retiring: bool,
    max_depth: usize,
}

/// One pad's queue.
pub struct PadQueue {
    pad: String,
    capacity: usize,
    unbounded: bool,
    inner: Mutex<Inner>,
    /// Wakes the pump waiting for space (after a pop or a flush).
    space: Notify,
    /// Wakes the forwarder (shared by every queue of a session).
    forwarder: std::sync::Arc<Notify>,
}

impl PadQueue {
    pub fn new(
        pad: impl Into<String>,
        capacity: usize,
        bugs: BugSet,
        forwarder: std::sync::Arc<Notify>,
    ) -> Arc<PadQueue> {
        Arc::new(PadQueue {
            pad: pad.into(),
            capacity: capacity.max(1),
            unbounded: bugs.on(KnownBug::PadQueueUnbounded),
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                state: State::Open,
                retiring: false,
                max_depth: 0,
            }),
            space: Notify::new(),
            forwarder,
        })
    }

    pub fn pad(&self) -> &str {
        &self.pad
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Queues `msg` if there is room; returns the depth after the push.
    pub fn try_push(&self, msg: PadMessage) -> Result<usize, PushError> {
        let depth = {
            let mut q = lock(&self.inner);
            if q.state != State::Open {
                return Err(PushError::Flushing(msg));
            }
            if !self.unbounded && q.items.len() >= self.capacity {
                return Err(PushError::Full(msg));
            }
            q.items.push_back(msg);
            let depth = q.items.len();
            q.max_depth = q.max_depth.max(depth);
            depth
        };
        self.forwarder.notify_one();
        Ok(depth)
    }

    /// Queues `msg`, waiting while the queue is full. Ends with
    /// `Err(msg)` as soon as the queue is flushed or closed.
    pub async fn push(&self, mut msg: PadMessage) -> Result<usize, PadMessage> {
        loop {
            let space = self.space.notified();
            tokio::pin!(space);
            // Registered before the check: a pop or flush after it wakes us.
            space.as_mut().enable();
            match self.try_push(msg) {
                Ok(depth) => return Ok(depth),
                Err(PushError::Flushing(m)) => return Err(m),
                Err(PushError::Full(m)) => {
                    msg = m;
                    space.await;
                }
            }
        }
    }

    /// The forwarder takes the oldest message (none once flushed).
    pub fn pop(&self) -> Option<PadMessage> {
        let msg = {
            let mut q = lock(&self.inner);
            if q.state == State::Flushing {
                return None;
            }
            q.items.pop_front()
        };
        if msg.is_some() {
            self.space.notify_one();
        }
        msg
    }

    /// The pump queued its last message: refuse later pushes, keep what is
    /// queued for the forwarder.
    pub fn close(&self) {
        let mut q = lock(&self.inner);
        if q.state == State::Open {
            q.state = State::Closed;
        }
    }

    /// Throws away everything queued and refuses every later push; wakes a
    /// pump waiting for space. Returns how many messages were discarded.
    pub fn flush(&self) -> usize {
        let discarded = {
            let mut q = lock(&self.inner);
            q.state = State::Flushing;
            let n = q.items.len();
            q.items.clear();
            n
        };
        self.space.notify_one();
        discarded
    }

    /// Closed by its pump (or flushed): nothing new will arrive.
    pub fn is_closed(&self) -> bool {
        lock(&self.inner).state != State::Open
    }

    /// The controller marks the queue of a track that left the catalog; a
    /// pad created later under the same name replaces it.
    pub fn retire(&self) {
        lock(&self.inner).retiring = true;
    }

    /// Closed, flushed, or retiring: this pad is on its way out.
    pub fn is_retiring(&self) -> bool {
        let q = lock(&self.inner);
        q.retiring || q.state != State::Open
    }

    pub fn depth(&self) -> usize {
        lock(&self.inner).items.len()
    }

    /// The deepest the queue has been.
    pub fn max_depth(&self) -> usize {
        lock(&self.inner).max_depth
    }
}

impl std::fmt::Debug for PadQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PadQueue")
            .field("pad", &self.pad)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[cfg(not(feature = "loom"))]
mod tests {
    use super::*;
    use crate::session::pads::Buffer;

    fn buf(seq: u64) -> PadMessage {
        PadMessage::Buffer(Buffer {
            seq,
            pts_ms: seq,
            keyframe: false,
            config: 1,
        })
    }

    fn queue(cap: usize, bugs: BugSet) -> Arc<PadQueue> {
        PadQueue::new("video_cam", cap, bugs, std::sync::Arc::new(Notify::new()))
    }

    #[test]
    fn bounded_fifo_with_flush() {
        let q = queue(2, BugSet::NONE);
        assert_eq!((q.pad(), q.capacity()), ("video_cam", 2));
        assert_eq!(queue(0, BugSet::NONE).capacity(), 1, "never below one");
        assert_eq!(q.try_push(buf(1)), Ok(1));
        assert_eq!(q.try_push(buf(2)), Ok(2));
        assert_eq!(q.try_push(buf(3)), Err(PushError::Full(buf(3))));
        assert_eq!(q.pop(), Some(buf(1)));
        assert_eq!(q.try_push(buf(3)), Ok(2));
        assert_eq!(q.max_depth(), 2);
        assert_eq!(q.flush(), 2);
        assert_eq!(q.pop(), None);
        assert_eq!(q.try_push(buf(4)), Err(PushError::Flushing(buf(4))));
    }

    #[test]
    fn close_keeps_the_queued_tail() {
        let q = queue(4, BugSet::NONE);
        q.try_push(PadMessage::Eos).unwrap();
        q.try_push(PadMessage::Drop).unwrap();
        q.close();
        assert!(q.is_closed());
        assert!(matches!(q.try_push(buf(1)), Err(PushError::Flushing(_))));
        assert_eq!(q.pop(), Some(PadMessage::Eos));
        assert_eq!(q.pop(), Some(PadMessage::Drop));
        assert_eq!(q.pop(), None);
    }

    /// The accessors per rule: `depth` is what is queued now; a retiring
    /// queue is still open (its pump queues EOS and drop); closed and
    /// flushed queues are closed, and all three are on their way out.
    #[test]
    fn depth_closed_and_retiring_follow_the_queue_s_life() {
        let q = queue(4, BugSet::NONE);
        assert_eq!(
            (q.depth(), q.is_closed(), q.is_retiring()),
            (0, false, false)
        );
        q.try_push(buf(1)).unwrap();
        q.try_push(buf(2)).unwrap();
        assert_eq!(q.depth(), 2);
        q.pop();
        assert_eq!(q.depth(), 1);
        q.retire();
        assert_eq!((q.is_closed(), q.is_retiring()), (false, true));
        assert_eq!(
            q.try_push(PadMessage::Eos),
            Ok(2),
            "a retiring queue takes its EOS"
        );
        let closed = queue(4, BugSet::NONE);
        closed.close();
        assert_eq!((closed.is_closed(), closed.is_retiring()), (true, true));
        let flushed = queue(4, BugSet::NONE);
        flushed.flush();
        assert_eq!((flushed.is_closed(), flushed.is_retiring()), (true, true));
    }

    #[tokio::test(start_paused = true)]
    async fn a_flush_wakes_a_pump_blocked_on_a_full_queue() {
        let q = queue(1, BugSet::NONE);
        q.try_push(buf(1)).unwrap();
        let q2 = q.clone();
        let pump = crate::rt::spawn(async move { q2.push(buf(2)).await });
        tokio::task::yield_now().await;
        assert!(!pump.is_finished(), "the pump waits for space");
        q.flush();
        assert_eq!(pump.await.unwrap(), Err(buf(2)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pop_lets_a_blocked_push_in() {
        let q = queue(1, BugSet::NONE);
        q.try_push(buf(1)).unwrap();
        let q2 = q.clone();
        let pump = crate::rt::spawn(async move { q2.push(buf(2)).await });
        tokio::task::yield_now().await;
        assert_eq!(q.pop(), Some(buf(1)));
        assert_eq!(pump.await.unwrap(), Ok(1));
    }

    #[cfg(feature = "known-bugs")]
    #[test]
    fn known_bug_ignores_the_capacity() {
        let q = queue(2, BugSet::only(KnownBug::PadQueueUnbounded));
        for i in 0..10 {
            q.try_push(buf(i)).unwrap();
        }
        assert_eq!(q.max_depth(), 10);
    }
}
