//! `IngestBridge` and `PublishSession` (the transcode ingest's live set,
//! the claim's wake-up and each session's entries), whole surface, as
//! async tasks under `shuttle::future`: three publishers racing for
//! `live/a` (each claiming, creating its entries, emitting frames to them
//! and ending, or refused), a fourth that re-publishes `live/a` the moment
//! the first session of it tears down (started from the entry-removed
//! callback of that session's audio entry, so its claim races that
//! session's release), one publisher of `live/b`, and a reader calling
//! `live()` and the registry's accessors and subscribing to whatever entry
//! it finds. The claim's bound is `rt::timeout`, so a waiting publish may
//! be refused at any point the scheduler picks.
//!
//! What holds a name is tracked from what the tasks observe, never from the
//! bridge's live set: each task's `publish` future is wrapped to record
//! whether the task is inside a poll of it (it may hold the name), parked
//! (its `publish` returned `Pending`, which it does only in the claim's
//! wait, after a failed check: it holds nothing), granted (until its `end`
//! returns) or done.
//!
//! Invariants, during the run:
//! - one session per name at a time: no session is granted a name while
//!   another session of it is between its grant and its `end`; the name is
//!   in `live()` throughout a session;
//! - no lost wake-up: a task parks (and a refusal happens, at its instant)
//!   only while another task may hold the name. A correct claim parks only
//!   after a failed check with no release since (its `notified()` was
//!   created before the check), so the name is held; a waiter left parked
//!   after the name was released breaks this at its next poll;
//! - a refusal only by the bound: every `ingest.rejected` is preceded by
//!   its own `deadline.fired transcode.ingest.claim` (and at the end there
//!   are as many of each);
//! - fresh entries: a granted session's two entries fired entry-created
//!   once each, have generations no other session had, and are what the
//!   registry holds for the name;
//! - an entry is removed only by its own session's `end`: never while that
//!   session is still publishing, never a generation no ending session
//!   owns.
//!
//! Once every task is done:
//! - the live set and the registry are empty (every claim released, a
//!   refused task holding nothing), every task granted or refused;
//! - every created entry was removed exactly once, and only sessions
//!   created entries (two each);
//! - fragments reach only their own generation's entries: each session's
//!   own subscriptions received exactly its frames, in order, and nothing
//!   else; the reader saw on each entry only the fragments of the session
//!   owning that generation;
//! - the trace has one `ingest.publish` and one `ingest.unpublish` (with
//!   the session's frame count) per session.
//!
//! Across the executions: both a refusal and `live/a` published twice
//! occur.

use super::explore;
use relaysim_core::event::{Event, EventSink};
use relaysim_core::media::Frame;
use relaysim_core::transcode::fragment::{AUDIO_TRACK, VIDEO_TRACK};
use relaysim_core::transcode::ingest::{IngestBridge, PublishSession};
use relaysim_core::transcode::{FragmentBroadcasterRegistry, TranscodeEvent, TryRecv};
use relaysim_core::Emitter;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

const A: &str = "live/a";
const B: &str = "live/b";
/// Frames each session emits.
const FRAMES: u64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Publishing,
    Ending,
}

/// What the sessions, the callbacks and the trace observed. Behind a std
/// lock: never held across a shuttle yield point, so each update is atomic
/// with the step that observed it.
/// Where a publisher task is, as far as holding its name goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    /// Inside a poll of `publish` (may hold the name).
    Claiming,
    /// `publish` returned `Pending`: waiting in the claim, holding nothing.
    Parked,
    /// Granted, not yet back from `end` (holds it).
    Granted,
    /// Refused, or back from `end`.
    Done,
}

#[derive(Default)]
struct Observed {
    /// Every publisher task: its name and where it is.
    tasks: BTreeMap<u8, (&'static str, Task)>,
    /// The session between its grant and its `end`, per name.
    publishing: BTreeMap<&'static str, u8>,
    /// Every granted session's entry generations: owner and phase.
    owner: BTreeMap<u64, (u8, Phase)>,
    /// Entry-created and entry-removed callbacks: (broadcast, track, gen).
    created: Vec<(String, String, u64)>,
    removed: Vec<(String, String, u64)>,
    /// The trace, in emission order.
    trace: Vec<Event>,
    refusals: BTreeMap<String, usize>,
    /// `deadline.fired transcode.ingest.claim` events.
    claim_bounds_run_out: usize,
    /// Granted sessions: (id, name, frames `end` reported).
    sessions: Vec<(u8, &'static str, u64)>,
    /// The reader's reads: (entry generation, sender of each fragment).
    seen: Vec<(u64, Vec<u8>)>,
}

fn obs(o: &Mutex<Observed>) -> MutexGuard<'_, Observed> {
    o.lock().unwrap_or_else(|p| p.into_inner())
}

struct Sink(Arc<Mutex<Observed>>);

impl EventSink for Sink {
    fn record(&self, _host: &'static str, event: Event) {
        let mut o = obs(&self.0);
        if let Event::DeadlineFired {
            site: "transcode.ingest.claim",
        } = event
        {
            o.claim_bounds_run_out += 1;
        }
        if let Some(TranscodeEvent::IngestRejected { broadcast, .. }) = event.get() {
            let refused: usize = o.refusals.values().sum();
            assert!(
                refused < o.claim_bounds_run_out,
                "{broadcast} was refused without its claim's bound running out ({refused} refusals before, {} bounds ran out)",
                o.claim_bounds_run_out
            );
            // At the instant of refusal: the bridge emits this right after
            // the bound ran out, with no scheduling point between. The
            // refused task itself is `Claiming`.
            assert!(
                may_hold(&o, broadcast) >= 2,
                "a publish of {broadcast} ran out of its bound while no other session held the name (a lost wake-up): {:?}",
                o.tasks
            );
            *o.refusals.entry(broadcast.clone()).or_default() += 1;
        }
        o.trace.push(event);
    }
}

fn frame(id: u8, i: u64) -> Frame {
    Frame {
        seq: i,
        ts_ms: 100 * i,
        keyframe: i == 0,
        payload: bytes::Bytes::from(vec![id, i as u8]),
    }
}

/// The senders (first payload byte) of what `sub` holds now, in order.
fn read_all(sub: &mut relaysim_core::transcode::BroadcasterStream) -> Vec<(u8, u64)> {
    let mut got = Vec::new();
    loop {
        match sub.try_recv() {
            TryRecv::Fragment(f) => got.push((f.payload[0], f.object_id)),
            TryRecv::Lagged(n) => panic!("a session's own subscription lagged {n}"),
            TryRecv::Empty | TryRecv::Closed => return got,
        }
    }
}

/// A task's `publish`, recording whether it is inside a poll or parked.
struct Watched<F: Future> {
    fut: Pin<Box<F>>,
    id: u8,
    name: &'static str,
    o: Arc<Mutex<Observed>>,
}

impl<F: Future> Future for Watched<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        set(&self.o, self.id, Task::Claiming);
        let r = self.fut.as_mut().poll(cx);
        if r.is_pending() {
            // Pending only in the claim's wait, after a failed check and
            // with no release since: the name is still held.
            let mut o = obs(&self.o);
            let holders = may_hold(&o, self.name) - 1;
            assert!(
                holders >= 1,
                "session {} waits for {} while no other session holds it (a lost wake-up): {:?}",
                self.id,
                self.name,
                o.tasks
            );
            o.tasks.get_mut(&self.id).expect("registered").1 = Task::Parked;
        }
        r
    }
}

/// Tasks of `name` that may hold it: inside a poll of `publish` (the
/// caller itself, if it is one), or granted and not back from `end`.
fn may_hold(o: &Observed, name: &str) -> usize {
    o.tasks
        .values()
        .filter(|(n, t)| *n == name && matches!(t, Task::Claiming | Task::Granted))
        .count()
}

fn set(o: &Mutex<Observed>, id: u8, t: Task) {
    obs(o).tasks.get_mut(&id).expect("registered").1 = t;
}

/// One publisher task: publish `name` as session `id`, emit `FRAMES`
/// frames, end. Returns whether it was granted.
async fn publisher(
    id: u8,
    name: &'static str,
    bridge: Arc<IngestBridge>,
    o: Arc<Mutex<Observed>>,
) -> bool {
    obs(&o).tasks.insert(id, (name, Task::Claiming));
    let publish = Watched {
        fut: Box::pin(bridge.publish(name)),
        id,
        name,
        o: o.clone(),
    };
    let Ok(mut s): Result<PublishSession, _> = publish.await else {
        set(&o, id, Task::Done);
        return false;
    };
    let (video, audio) = (s.video().generation(), s.audio().generation());
    {
        let mut o = obs(&o);
        o.tasks.insert(id, (name, Task::Granted));
        if let Some(other) = o.publishing.insert(name, id) {
            panic!("sessions {other} and {id} publish {name} at once");
        }
        assert_eq!(s.broadcast(), name);
        assert_eq!(
            s.generation(),
            video,
            "the session's generation is not its video's"
        );
        for (track, g) in [(VIDEO_TRACK, video), (AUDIO_TRACK, audio)] {
            if let Some((was, _)) = o.owner.insert(g, (id, Phase::Publishing)) {
                panic!("session {id} of {name} got the {track} entry of session {was} (gen {g}): not a fresh entry");
            }
            let fired = o
                .created
                .iter()
                .filter(|(b, t, cg)| b == name && t == track && *cg == g)
                .count();
            assert_eq!(
                fired, 1,
                "entry-created fired {fired} times for session {id}'s {name} {track} gen {g}"
            );
        }
    }
    assert!(
        bridge.live().iter().any(|l| l == name),
        "{name} is not live while session {id} publishes it"
    );
    let registry = bridge.registry();
    for (track, mine) in [(VIDEO_TRACK, s.video()), (AUDIO_TRACK, s.audio())] {
        let there = registry.get(name, track);
        assert!(
            there.is_some_and(|bc| Arc::ptr_eq(&bc, mine)),
            "the registry's {name} {track} entry is not session {id}'s"
        );
    }
    let mut own_video = s.video().subscribe();
    let mut own_audio = s.audio().subscribe();
    for i in 0..FRAMES {
        assert!(s.frame(&frame(id, i)), "a frame was dropped with no fault");
        shuttle::future::yield_now().await;
    }
    assert_eq!(s.fragments(), FRAMES);
    assert!(
        bridge.live().iter().any(|l| l == name),
        "{name} left the live set before session {id} ended"
    );
    {
        let mut o = obs(&o);
        assert_eq!(
            o.publishing.remove(name),
            Some(id),
            "{name}'s publisher changed under session {id}"
        );
        for g in [video, audio] {
            o.owner.insert(g, (id, Phase::Ending));
        }
    }
    let frames = s.end();
    {
        let mut o = obs(&o);
        o.tasks.insert(id, (name, Task::Done));
        o.sessions.push((id, name, frames));
    }
    let want: Vec<(u8, u64)> = (0..FRAMES).map(|i| (id, i)).collect();
    let got = read_all(&mut own_video);
    assert_eq!(
        got, want,
        "session {id}'s video entry (gen {video}) carried other fragments"
    );
    let got: Vec<u8> = read_all(&mut own_audio)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        got,
        vec![id; FRAMES as usize],
        "session {id}'s audio entry (gen {audio}) carried other fragments"
    );
    true
}

/// Reads every accessor, and subscribes to whatever entry exists.
async fn reader(bridge: Arc<IngestBridge>, o: Arc<Mutex<Observed>>) {
    let registry = bridge.registry();
    let mut subs = Vec::new();
    for _ in 0..3 {
        let live = bridge.live();
        assert!(
            live.windows(2).all(|w| w[0] < w[1]),
            "live() out of order: {live:?}"
        );
        assert!(
            live.iter().all(|l| l == A || l == B),
            "a stranger is live: {live:?}"
        );
        let keys = registry.keys();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "keys out of order: {keys:?}"
        );
        let _ = (registry.len(), registry.is_empty());
        for (name, track) in [(A, VIDEO_TRACK), (B, AUDIO_TRACK)] {
            if let Some(bc) = registry.get(name, track) {
                subs.push((bc.generation(), bc.subscribe()));
            }
        }
        shuttle::future::yield_now().await;
    }
    if let Some(mut s) = registry.subscribe(A, AUDIO_TRACK) {
        let _ = s.try_recv();
    }
    for (g, mut sub) in subs {
        let mut from = Vec::new();
        loop {
            match sub.try_recv() {
                TryRecv::Fragment(f) => from.push(f.payload[0]),
                TryRecv::Lagged(_) => {}
                TryRecv::Empty | TryRecv::Closed => break,
            }
        }
        obs(&o).seen.push((g, from));
    }
}

static REFUSED: AtomicUsize = AtomicUsize::new(0);
static TWICE: AtomicUsize = AtomicUsize::new(0);

fn model() {
    let o = Arc::new(Mutex::new(Observed::default()));
    let registry = FragmentBroadcasterRegistry::with_options(
        8,
        Emitter::new("transcode", Arc::new(Sink(o.clone()))),
    );
    let (tx, rx) = tokio::sync::oneshot::channel();
    let trigger = Arc::new(Mutex::new(Some(tx)));
    {
        let o2 = o.clone();
        registry.on_entry_created(move |b, t, bc| {
            obs(&o2)
                .created
                .push((b.to_string(), t.to_string(), bc.generation()));
        });
        let o2 = o.clone();
        let trigger = trigger.clone();
        registry.on_entry_removed(move |b, t, bc| {
            if b == A && t == AUDIO_TRACK {
                // The fast re-publish: while this session tears down.
                if let Some(tx) = trigger.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    let _ = tx.send(());
                }
            }
            let g = bc.generation();
            let mut o = obs(&o2);
            match o.owner.get(&g) {
                Some((_, Phase::Ending)) => {}
                Some((id, Phase::Publishing)) => panic!(
                    "{b} {t} gen {g} was removed while its session {id} was still publishing"
                ),
                None => panic!("{b} {t} gen {g} was removed, and no ending session owns it"),
            }
            o.removed.push((b.to_string(), t.to_string(), g));
        });
    }
    let bridge = IngestBridge::new(registry.clone());

    shuttle::future::block_on(async {
        let mut tasks = Vec::new();
        for (id, name) in [(1, A), (2, A), (3, A), (5, B)] {
            tasks.push(shuttle::future::spawn(publisher(
                id,
                name,
                bridge.clone(),
                o.clone(),
            )));
        }
        // The fast re-publish, once the first session of live/a tears down
        // (one always does: the first claim finds the name free).
        let (b, o4) = (bridge.clone(), o.clone());
        tasks.push(shuttle::future::spawn(async move {
            rx.await.expect("no session of live/a tore down");
            publisher(4, A, b, o4).await
        }));
        let read = shuttle::future::spawn(reader(bridge.clone(), o.clone()));
        for t in tasks {
            t.await.expect("a publisher panicked");
        }
        read.await.expect("the reader panicked");
    });

    let o = obs(&o);
    assert!(
        bridge.live().is_empty(),
        "claims left held: {:?}",
        bridge.live()
    );
    assert!(registry.is_empty(), "entries left: {:?}", registry.keys());
    assert!(o.publishing.is_empty());
    assert!(
        o.tasks.values().all(|(_, t)| *t == Task::Done),
        "{:?}",
        o.tasks
    );
    let mut created = o.created.clone();
    let mut removed = o.removed.clone();
    created.sort();
    removed.sort();
    assert_eq!(
        created, removed,
        "created entries and removed entries differ"
    );
    let granted = |name: &str| o.sessions.iter().filter(|s| s.1 == name).count();
    assert!(granted(A) >= 1, "nobody published {A}");
    assert_eq!(
        granted(B),
        1,
        "{B} had no rival, yet was not published once"
    );
    assert_eq!(
        created.len(),
        2 * o.sessions.len(),
        "entries created outside sessions"
    );
    assert!(o.sessions.iter().all(|s| s.2 == FRAMES));
    let count = |f: &dyn Fn(&TranscodeEvent) -> bool| {
        o.trace
            .iter()
            .filter(|e| e.get::<TranscodeEvent>().is_some_and(f))
            .count()
    };
    let publishes = count(&|e| matches!(e, TranscodeEvent::IngestPublish { .. }));
    let unpublishes = count(
        &|e| matches!(e, TranscodeEvent::IngestUnpublish { fragments, .. } if *fragments == FRAMES),
    );
    assert_eq!(publishes, o.sessions.len(), "ingest.publish per session");
    assert_eq!(
        unpublishes,
        o.sessions.len(),
        "ingest.unpublish per session"
    );
    let refused: usize = o.refusals.values().sum();
    assert_eq!(
        refused + o.sessions.len(),
        5,
        "a publish neither granted nor refused"
    );
    assert_eq!(
        refused, o.claim_bounds_run_out,
        "claim bounds that ran out without a refusal"
    );
    for (g, from) in &o.seen {
        let owner = o.owner.get(g).map(|(id, _)| *id);
        for sender in from {
            assert_eq!(
                Some(*sender),
                owner,
                "session {sender}'s fragment reached the entry of gen {g} (session {owner:?})"
            );
        }
    }
    if refused > 0 {
        REFUSED.fetch_add(1, Ordering::Relaxed);
    }
    if granted(A) >= 2 {
        TWICE.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn shuttle_ingest_bridge_whole_surface() {
    let n = explore("ingest-bridge", model);
    if n > 0 {
        let (r, t) = (
            REFUSED.load(Ordering::Relaxed),
            TWICE.load(Ordering::Relaxed),
        );
        assert!(
            r > 0 && t > 0,
            "over {n} executions: {r} with a refusal, {t} with live/a published twice"
        );
    }
}
