//! A broadcaster per (broadcast, track): one producer, many subscribers, over
//! a bounded ring.
//!
//! Owns [`FragmentBroadcaster`] and [`BroadcasterStream`] (LVQR's
//! `FragmentBroadcaster` over `tokio::sync::broadcast`, seed-systems.md §2.1),
//! with the same contract: [`FragmentBroadcaster::emit`] never blocks and
//! never waits for a subscriber; a subscriber that falls more than the ring's
//! capacity behind is told how many fragments it skipped (counted in
//! [`FragmentBroadcaster::lagged_skips`]) and jumps to the oldest retained
//! one; a subscriber sees only fragments emitted after it subscribed; the
//! stream ends once every producer clone is dropped and the ring is drained.
//!
//! The ring is written here rather than wrapping `tokio::sync::broadcast` so
//! that its shared state uses [`crate::sync`] and the loom model in
//! `core/tests/loom_transcode_broadcaster.rs` can check emit vs subscribe vs
//! lag, including lost wake-ups, on exactly this code. The waiting side is a
//! plain `Future` (a waker stored under the ring's lock), so it runs on tokio,
//! in turmoil and under `loom::future::block_on` alike. It must never hold the
//! ring's lock while waking a task or running caller code.

use crate::sync::{AtomicU64, Mutex, Ordering, RwLock};
use crate::transcode::fragment::{Fragment, FragmentMeta};
use crate::transcode::{lock, read, write};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// The ring's capacity when none is given (upstream's default).
pub const DEFAULT_BROADCASTER_CAPACITY: usize = 1024;

struct Ring {
    /// Retained fragments; `buf[0]` has sequence number `head_seq`.
    buf: VecDeque<Fragment>,
    head_seq: u64,
    /// The sequence number the next emitted fragment gets.
    tail_seq: u64,
    cap: usize,
    closed: bool,
    subscribers: usize,
    next_subscriber: u64,
    /// Subscribers waiting for the next fragment (or the close).
    waiters: BTreeMap<u64, Waker>,
}

struct Shared {
    track_id: String,
    generation: u64,
    meta: RwLock<FragmentMeta>,
    ring: Mutex<Ring>,
    lagged_skips: AtomicU64,
}

impl Shared {
    fn close(&self) {
        let wakers = {
            let mut r = lock(&self.ring);
            r.closed = true;
            std::mem::take(&mut r.waiters)
        };
        for w in wakers.into_values() {
            w.wake();
        }
    }
}

/// Closes the ring when the last producer clone goes away. Subscribers never
/// hold one, so they cannot keep a finished broadcast alive.
struct Producer {
    shared: Arc<Shared>,
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// The producer side of one track. `Clone` shares the state (and keeps the
/// track open).
#[derive(Clone)]
pub struct FragmentBroadcaster {
    shared: Arc<Shared>,
    _producer: Arc<Producer>,
}

impl std::fmt::Debug for FragmentBroadcaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FragmentBroadcaster")
            .field("track_id", &self.shared.track_id)
            .field("generation", &self.shared.generation)
            .finish()
    }
}

impl FragmentBroadcaster {
    /// A broadcaster with the default capacity.
    pub fn new(track_id: impl Into<String>, meta: FragmentMeta) -> FragmentBroadcaster {
        FragmentBroadcaster::with_capacity(track_id, meta, DEFAULT_BROADCASTER_CAPACITY)
    }

    /// A broadcaster whose ring holds `capacity` fragments, rounded up to a
    /// power of two (as tokio's broadcast ring does), at least 1.
    pub fn with_capacity(
        track_id: impl Into<String>,
        meta: FragmentMeta,
        capacity: usize,
    ) -> FragmentBroadcaster {
        FragmentBroadcaster::build(track_id.into(), meta, capacity, 0)
    }

    /// Registry entries carry the registry's creation number.
    pub(crate) fn build(
        track_id: String,
        meta: FragmentMeta,
        capacity: usize,
        generation: u64,
    ) -> FragmentBroadcaster {
        let cap = capacity.max(1).next_power_of_two();
        let shared = Arc::new(Shared {
            track_id,
            generation,
            meta: RwLock::new(meta),
            ring: Mutex::new(Ring {
                buf: VecDeque::with_capacity(cap.min(64)),
                head_seq: 0,
                tail_seq: 0,
                cap,
                closed: false,
                subscribers: 0,
                next_subscriber: 0,
                waiters: BTreeMap::new(),
            }),
            lagged_skips: AtomicU64::new(0),
        });
        FragmentBroadcaster {
            _producer: Arc::new(Producer {
                shared: shared.clone(),
            }),
            shared,
        }
    }

    /// Publishes one fragment to every current subscriber and returns how
    /// many there are (0: nobody listening; the fragment is not kept). Never
    /// blocks: a full ring overwrites its oldest fragment.
    pub fn emit(&self, fragment: Fragment) -> usize {
        let (wakers, subscribers) = {
            let mut r = lock(&self.shared.ring);
            r.tail_seq += 1;
            if r.subscribers == 0 {
                // Late subscribers start at the tail: nothing to keep.
                r.buf.clear();
                r.head_seq = r.tail_seq;
                return 0;
            }
            if r.buf.len() == r.cap {
                r.buf.pop_front();
                r.head_seq += 1;
            }
            r.buf.push_back(fragment);
            (std::mem::take(&mut r.waiters), r.subscribers)
        };
        for w in wakers.into_values() {
            w.wake();
        }
        subscribers
    }

    /// A stream of the fragments emitted from now on, with a snapshot of the
    /// current metadata.
    pub fn subscribe(&self) -> BroadcasterStream {
        let meta = read(&self.shared.meta).clone();
        let (id, start) = {
            let mut r = lock(&self.shared.ring);
            r.subscribers += 1;
            let id = r.next_subscriber;
            r.next_subscriber += 1;
            (id, r.tail_seq)
        };
        BroadcasterStream {
            shared: self.shared.clone(),
            id,
            start_seq: start,
            next_seq: start,
            meta,
            received: 0,
            lagged: 0,
        }
    }

    pub fn meta(&self) -> FragmentMeta {
        read(&self.shared.meta).clone()
    }

    /// Sets the init segment (it often arrives after the track was created
    /// and its entry-created callbacks ran).
    pub fn set_init_segment(&self, init: Bytes) {
        write(&self.shared.meta).init_segment = Some(init);
    }

    pub fn replace_meta(&self, meta: FragmentMeta) {
        *write(&self.shared.meta) = meta;
    }

    pub fn track_id(&self) -> &str {
        &self.shared.track_id
    }

    /// The registry's creation number of this entry (0 outside a registry):
    /// a re-published track is a new generation.
    pub fn generation(&self) -> u64 {
        self.shared.generation
    }

    pub fn subscriber_count(&self) -> usize {
        lock(&self.shared.ring).subscribers
    }

    /// Fragments emitted so far (whether or not anyone listened).
    pub fn emitted_count(&self) -> u64 {
        lock(&self.shared.ring).tail_seq
    }

    /// Fragments skipped by lagging subscribers, summed over subscribers.
    pub fn lagged_skips(&self) -> u64 {
        self.shared.lagged_skips.load(Ordering::Acquire)
    }
}

/// One non-blocking receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryRecv {
    Fragment(Fragment),
    /// The subscriber fell behind the ring and skipped this many fragments;
    /// the next receive returns the oldest retained one.
    Lagged(u64),
    /// Nothing new yet.
    Empty,
    /// Every producer is gone and everything retained was received.
    Closed,
}

/// A subscription to one broadcaster.
pub struct BroadcasterStream {
    shared: Arc<Shared>,
    id: u64,
    start_seq: u64,
    next_seq: u64,
    meta: FragmentMeta,
    received: u64,
    lagged: u64,
}

impl std::fmt::Debug for BroadcasterStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BroadcasterStream")
            .field("track_id", &self.shared.track_id)
            .field("next_seq", &self.next_seq)
            .finish()
    }
}

fn recv_locked(next_seq: &mut u64, r: &Ring) -> TryRecv {
    if *next_seq < r.head_seq {
        let skipped = r.head_seq - *next_seq;
        *next_seq = r.head_seq;
        return TryRecv::Lagged(skipped);
    }
    if *next_seq < r.tail_seq {
        let f = r.buf[(*next_seq - r.head_seq) as usize].clone();
        *next_seq += 1;
        return TryRecv::Fragment(f);
    }
    if r.closed {
        TryRecv::Closed
    } else {
        TryRecv::Empty
    }
}

impl BroadcasterStream {
    /// The metadata snapshot taken at subscribe time (or the last refresh).
    pub fn meta(&self) -> &FragmentMeta {
        &self.meta
    }

    /// Re-reads the broadcaster's metadata (a late init segment).
    pub fn refresh_meta(&mut self) {
        self.meta = read(&self.shared.meta).clone();
    }

    pub fn track_id(&self) -> &str {
        &self.shared.track_id
    }

    /// Fragments this subscriber received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Fragments this subscriber skipped by lagging.
    pub fn lagged(&self) -> u64 {
        self.lagged
    }

    /// Fragments the broadcaster emitted since this subscription began.
    /// Once the stream has ended, `received + lagged` equals it.
    pub fn emitted_since_subscribe(&self) -> u64 {
        lock(&self.shared.ring).tail_seq - self.start_seq
    }

    /// One receive without waiting. Counts what it returns.
    pub fn try_recv(&mut self) -> TryRecv {
        let got = {
            let r = lock(&self.shared.ring);
            recv_locked(&mut self.next_seq, &r)
        };
        self.count(&got);
        got
    }

    fn count(&mut self, got: &TryRecv) {
        match got {
            TryRecv::Fragment(_) => self.received += 1,
            TryRecv::Lagged(n) => {
                self.lagged += n;
                self.shared.lagged_skips.fetch_add(*n, Ordering::AcqRel);
                tracing::warn!(
                    track = %self.shared.track_id,
                    skipped = n,
                    "subscriber lagged behind the broadcaster ring"
                );
            }
            TryRecv::Empty | TryRecv::Closed => {}
        }
    }

    /// Polls for the next fragment: lags are counted and skipped, `None`
    /// once the broadcaster is closed and drained. Registers the task's
    /// waker under the ring's lock, so an emit cannot slip between the
    /// check and the registration.
    pub fn poll_next_fragment(&mut self, cx: &mut Context<'_>) -> Poll<Option<Fragment>> {
        loop {
            let got = {
                let mut r = lock(&self.shared.ring);
                let got = recv_locked(&mut self.next_seq, &r);
                if got == TryRecv::Empty {
                    r.waiters.insert(self.id, cx.waker().clone());
                }
                got
            };
            self.count(&got);
            match got {
                TryRecv::Fragment(f) => return Poll::Ready(Some(f)),
                TryRecv::Lagged(_) => continue,
                TryRecv::Closed => return Poll::Ready(None),
                TryRecv::Empty => return Poll::Pending,
            }
        }
    }

    /// The next fragment, or `None` once closed and drained.
    pub async fn next_fragment(&mut self) -> Option<Fragment> {
        std::future::poll_fn(|cx| self.poll_next_fragment(cx)).await
    }
}

impl Drop for BroadcasterStream {
    fn drop(&mut self) {
        let mut r = lock(&self.shared.ring);
        r.subscribers -= 1;
        r.waiters.remove(&self.id);
    }
}

#[cfg(test)]
#[cfg(not(feature = "loom"))]
mod tests {
    use super::*;
    use crate::transcode::fragment::{FragmentFlags, VIDEO_TRACK};

    fn frag(i: u64) -> Fragment {
        Fragment::new(
            VIDEO_TRACK,
            i,
            0,
            0,
            i * 1000,
            i * 1000,
            1000,
            FragmentFlags::DELTA,
            Bytes::from(vec![i as u8; 4]),
        )
    }

    fn meta() -> FragmentMeta {
        FragmentMeta::new("avc1.64001f", 90_000)
    }

    #[test]
    fn late_subscribers_see_only_later_fragments() {
        let bc = FragmentBroadcaster::new(VIDEO_TRACK, meta());
        assert_eq!(bc.emit(frag(0)), 0, "nobody listening");
        let mut s = bc.subscribe();
        assert_eq!(bc.emit(frag(1)), 1);
        assert_eq!(s.try_recv(), TryRecv::Fragment(frag(1)));
        assert_eq!(s.try_recv(), TryRecv::Empty);
        assert_eq!(bc.emitted_count(), 2);
        assert_eq!(s.emitted_since_subscribe(), 1);
    }

    #[test]
    fn a_slow_subscriber_lags_and_skips_to_the_oldest_retained() {
        // Capacity 3 rounds up to 4 (tokio's ring does the same).
        let bc = FragmentBroadcaster::with_capacity(VIDEO_TRACK, meta(), 3);
        let mut slow = bc.subscribe();
        let mut fast = bc.subscribe();
        for i in 0..10 {
            bc.emit(frag(i));
            assert_eq!(fast.try_recv(), TryRecv::Fragment(frag(i)));
        }
        assert_eq!(slow.try_recv(), TryRecv::Lagged(6));
        for i in 6..10 {
            assert_eq!(slow.try_recv(), TryRecv::Fragment(frag(i)));
        }
        assert_eq!(slow.try_recv(), TryRecv::Empty);
        assert_eq!(bc.lagged_skips(), 6);
        assert_eq!(
            slow.received() + slow.lagged(),
            slow.emitted_since_subscribe()
        );
        assert_eq!(fast.lagged(), 0);
    }

    #[test]
    fn closes_when_every_producer_is_gone_after_draining() {
        let bc = FragmentBroadcaster::new(VIDEO_TRACK, meta());
        let clone = bc.clone();
        let mut s = bc.subscribe();
        bc.emit(frag(0));
        drop(bc);
        assert_eq!(s.try_recv(), TryRecv::Fragment(frag(0)));
        assert_eq!(s.try_recv(), TryRecv::Empty, "a clone keeps it open");
        drop(clone);
        assert_eq!(s.try_recv(), TryRecv::Closed);
    }

    #[test]
    fn metadata_snapshot_and_refresh() {
        let bc = FragmentBroadcaster::new(VIDEO_TRACK, meta());
        let mut s = bc.subscribe();
        bc.set_init_segment(Bytes::from_static(b"init"));
        assert_eq!(s.meta().init_segment, None, "a snapshot");
        s.refresh_meta();
        assert_eq!(s.meta().init_segment.as_deref(), Some(&b"init"[..]));
        bc.replace_meta(FragmentMeta::new("hvc1", 90_000));
        assert_eq!(bc.meta().codec, "hvc1");
        assert_eq!(bc.subscriber_count(), 1);
        drop(s);
        assert_eq!(bc.subscriber_count(), 0);
    }

    /// A broadcaster and every stream of it name the track they carry.
    #[test]
    fn a_broadcaster_and_its_streams_name_their_track() {
        let bc = FragmentBroadcaster::new("1.mp4", meta());
        assert_eq!(bc.track_id(), "1.mp4");
        assert_eq!(bc.subscribe().track_id(), "1.mp4");
    }

    /// Every subscriber waiting for a fragment is woken by the emit, each
    /// gets it, and every one still waiting is woken by the close (no lost
    /// wake-up, whichever subscribed first). Run on its own thread with a
    /// bound: a lost wake-up is a hang, and must fail instead.
    #[test]
    fn every_waiting_subscriber_is_woken_by_an_emit_and_by_the_close() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            let got = rt.block_on(async {
                let bc = FragmentBroadcaster::new(VIDEO_TRACK, meta());
                let readers: Vec<_> = (0..3)
                    .map(|_| {
                        let mut s = bc.subscribe();
                        crate::rt::spawn(async move {
                            let mut got = Vec::new();
                            while let Some(f) = s.next_fragment().await {
                                got.push(f.group_id);
                            }
                            got
                        })
                    })
                    .collect();
                // Every reader is parked on an empty ring.
                tokio::task::yield_now().await;
                bc.emit(frag(7));
                tokio::task::yield_now().await;
                drop(bc);
                let mut all = Vec::new();
                for r in readers {
                    all.push(r.await.unwrap());
                }
                all
            });
            let _ = tx.send(got);
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("a waiting subscriber was never woken (10 s)");
        assert_eq!(got, vec![vec![7], vec![7], vec![7]]);
    }

    #[tokio::test(start_paused = true)]
    async fn next_fragment_waits_for_emit_and_ends_on_close() {
        let bc = FragmentBroadcaster::new(VIDEO_TRACK, meta());
        let mut s = bc.subscribe();
        let reader = crate::rt::spawn(async move {
            let mut got = Vec::new();
            while let Some(f) = s.next_fragment().await {
                got.push(f.group_id);
            }
            got
        });
        tokio::task::yield_now().await;
        for i in 0..5 {
            bc.emit(frag(i));
            tokio::task::yield_now().await;
        }
        drop(bc);
        assert_eq!(reader.await.unwrap(), vec![0, 1, 2, 3, 4]);
    }
}
