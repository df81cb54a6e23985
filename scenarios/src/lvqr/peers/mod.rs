//! The world around the published crate: everything on the `lvqr` host
//! that is relaysim's code, not LVQR's.
//!
//! | peer | plays | records |
//! |---|---|---|
//! | [`ingest`] | a publisher per broadcast: `get_or_create`, init segment, a fragment every 100 ms, `remove` on unpublish | `ingest.publish`, `ingest.unpublish` |
//! | [`admin`] | the admin API: `add_rendition` / `remove_rendition`, landing inside a factory build or at its window's end | `admin.ladder`, `admin.apply` |
//! | [`factories`] | relaysim's `TranscoderFactory` implementations (passthrough, slow, panicking) and what their transcoders observe | `xcode.*`, `inject.panic` |
//!
//! Owns [`Shared`] (the host's shared view: the logical clock that stamps
//! every fragment and edit, the ladder version, the open entry-created
//! callback, the journal) and [`LvqrEvent`].
//!
//! # Where the crate's randomness is kept out
//!
//! `lvqr-fragment`'s registry is a `std` `HashMap` and the runner's task
//! table a `DashMap`, both with `RandomState`: `registry.keys()` (walked
//! by `add_rendition`) and `tasks.retain` (walked by `remove_rendition`)
//! come out in a per-process order. So the drains one `add_rendition`
//! spawns first run, and the drains one `remove_rendition` aborts are
//! dropped, in that order. Two rules keep it out of every decision and
//! of the trace:
//!
//! - the admin API lands a pending edit only inside a build called from
//!   an entry-created callback (one key, factories in the ladder's `Vec`
//!   order), never inside `add_rendition`'s walk over the keys;
//! - transcoders never write the trace directly: they append to the
//!   [`Shared`] journal, which a flusher task empties every tick, sorted
//!   by transcoder id (a stable sort, so one transcoder's events keep
//!   their order). A permutation of the work done within one tick cannot
//!   change the trace. Checks order events by the logical stamps the
//!   events carry, never by their place in the trace.
//!
//! Panic injection names its transcoder (rendition and broadcast), never
//! "the next one to start", for the same reason.

pub mod admin;
pub mod factories;
pub mod ingest;

use relaysim_harness::Recorder;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The host every peer runs on (and the transcoders' trace lane).
pub const HOST: &str = "lvqr";

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One transcoder: the factory instance that built it and the publish
/// session it drains. Printed `720p#1@live/a#2`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tid {
    /// Rendition name.
    pub rendition: String,
    /// Factory instance (1.. in registration order).
    pub instance: u64,
    /// The registry broadcast name it drains.
    pub name: String,
    /// The ingest session of that name when it was built.
    pub session: u64,
}

impl fmt::Display for Tid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}#{}@{}#{}",
            self.rendition, self.instance, self.name, self.session
        )
    }
}

/// Events of the lvqr world's peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LvqrEvent {
    /// The initial ladder: `(instance, rendition)` in registration order.
    Ladder {
        /// The factories `install` registered.
        instances: Vec<(u64, String)>,
    },
    /// The ingest published a session of `broadcast` under registry name
    /// `name`.
    Publish {
        /// The broadcast (`live/a`).
        broadcast: String,
        /// Its registry name for this session.
        name: String,
        /// 1 for the first publish, then 2, 3…
        session: u64,
        /// Logical time.
        stamp: u64,
    },
    /// The ingest stopped a session.
    Unpublish {
        /// The broadcast.
        broadcast: String,
        /// Its registry name for the session.
        name: String,
        /// The session.
        session: u64,
        /// Logical time.
        stamp: u64,
    },
    /// An admin edit ran.
    Apply {
        /// `add` or `remove`.
        op: &'static str,
        /// The rendition.
        rendition: String,
        /// Add: the new instance (if the crate accepted it). Remove: the
        /// instances of that rendition registered until now.
        instances: Vec<u64>,
        /// What the crate returned: added (1/0), or drains aborted.
        crate_said: usize,
        /// Logical time: fragments stamped after it were emitted after it.
        stamp: u64,
        /// The factory build it landed in, or `None` at its window's end.
        during: Option<String>,
    },
    /// A transcoder's `on_start` ran.
    Start {
        /// The transcoder.
        tid: Tid,
    },
    /// A transcoder received a fragment: its first, the first after each
    /// ladder edit, and the first after a panic.
    Seen {
        /// The transcoder.
        tid: Tid,
        /// The fragment's ingest session.
        session: u64,
        /// The fragment's logical stamp.
        stamp: u64,
        /// Fragments received so far.
        seen: u64,
    },
    /// A transcoder's `on_stop` ran (its source closed).
    Stop {
        /// The transcoder.
        tid: Tid,
        /// Fragments received.
        seen: u64,
    },
    /// A transcoder was dropped without `on_stop` (its drain was aborted,
    /// or ended after a start panic).
    Dropped {
        /// The transcoder.
        tid: Tid,
        /// Fragments received.
        seen: u64,
    },
    /// The world made a transcoder panic, just before it unwinds.
    PanicInjected {
        /// The transcoder.
        tid: Tid,
        /// The call that panics.
        phase: super::fault::Phase,
        /// Logical time.
        stamp: u64,
    },
    /// A slow transcoder's worker finished its queue.
    WorkerDone {
        /// The transcoder.
        tid: Tid,
        /// Fragments the worker processed.
        processed: u64,
        /// Fragments refused by its full queue.
        dropped: u64,
    },
}

impl LvqrEvent {
    /// The trace lane it is recorded under: every peer runs on the `lvqr`
    /// host's runtime, but the ingest and the admin API are actors of
    /// their own, so the timeline draws them apart.
    pub fn lane(&self) -> &'static str {
        match self {
            LvqrEvent::Publish { .. } | LvqrEvent::Unpublish { .. } => "ingest",
            LvqrEvent::Ladder { .. } | LvqrEvent::Apply { .. } => "admin",
            LvqrEvent::Start { .. }
            | LvqrEvent::Seen { .. }
            | LvqrEvent::Stop { .. }
            | LvqrEvent::Dropped { .. }
            | LvqrEvent::PanicInjected { .. }
            | LvqrEvent::WorkerDone { .. } => HOST,
        }
    }

    /// The transcoder an event is about, if any.
    pub fn tid(&self) -> Option<&Tid> {
        match self {
            LvqrEvent::Start { tid }
            | LvqrEvent::Seen { tid, .. }
            | LvqrEvent::Stop { tid, .. }
            | LvqrEvent::Dropped { tid, .. }
            | LvqrEvent::PanicInjected { tid, .. }
            | LvqrEvent::WorkerDone { tid, .. } => Some(tid),
            LvqrEvent::Ladder { .. }
            | LvqrEvent::Publish { .. }
            | LvqrEvent::Unpublish { .. }
            | LvqrEvent::Apply { .. } => None,
        }
    }
}

impl fmt::Display for LvqrEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LvqrEvent::Ladder { instances } => {
                let l: Vec<String> = instances.iter().map(|(i, r)| format!("{r}#{i}")).collect();
                write!(f, "admin.ladder {}", l.join(","))
            }
            LvqrEvent::Publish {
                broadcast,
                name,
                session,
                stamp,
            } => write!(
                f,
                "ingest.publish broadcast={broadcast} name={name} session={session} stamp={stamp}"
            ),
            LvqrEvent::Unpublish {
                broadcast,
                name,
                session,
                stamp,
            } => write!(
                f,
                "ingest.unpublish broadcast={broadcast} name={name} session={session} stamp={stamp}"
            ),
            LvqrEvent::Apply {
                op,
                rendition,
                instances,
                crate_said,
                stamp,
                during,
            } => {
                let ids: Vec<String> = instances.iter().map(u64::to_string).collect();
                write!(
                    f,
                    "admin.apply op={op} rendition={rendition} instances=[{}] crate={crate_said} stamp={stamp} ",
                    ids.join(",")
                )?;
                match during {
                    Some(d) => write!(f, "during=build:{d}"),
                    None => f.write_str("at=window-end"),
                }
            }
            LvqrEvent::Start { tid } => write!(f, "xcode.start {tid}"),
            LvqrEvent::Seen {
                tid,
                session,
                stamp,
                seen,
            } => write!(
                f,
                "xcode.seen {tid} frag-session={session} stamp={stamp} seen={seen}"
            ),
            LvqrEvent::Stop { tid, seen } => write!(f, "xcode.stop {tid} seen={seen}"),
            LvqrEvent::Dropped { tid, seen } => write!(f, "xcode.dropped {tid} seen={seen}"),
            LvqrEvent::PanicInjected { tid, phase, stamp } => {
                write!(f, "inject.panic {tid} phase={phase} stamp={stamp}")
            }
            LvqrEvent::WorkerDone {
                tid,
                processed,
                dropped,
            } => write!(
                f,
                "xcode.worker-done {tid} processed={processed} dropped={dropped}"
            ),
        }
    }
}

/// The `lvqr` host's shared view, held by every peer.
pub struct Shared {
    recorder: Arc<Recorder>,
    stamp: AtomicU64,
    ladder_version: AtomicU64,
    /// The (name, track) whose entry-created callbacks are running.
    callback: Mutex<Option<(String, String)>>,
    /// An admin edit is running (builds it causes land nothing).
    applying: AtomicBool,
    /// Current session of each registry name.
    sessions: Mutex<Vec<(String, u64)>>,
    journal: Mutex<Vec<LvqrEvent>>,
}

impl Shared {
    /// A fresh host view recording into `recorder`.
    pub fn new(recorder: Arc<Recorder>) -> Arc<Shared> {
        Arc::new(Shared {
            recorder,
            stamp: AtomicU64::new(0),
            ladder_version: AtomicU64::new(0),
            callback: Mutex::new(None),
            applying: AtomicBool::new(false),
            sessions: Mutex::new(Vec::new()),
            journal: Mutex::new(Vec::new()),
        })
    }

    /// The next logical time: every emit and every edit takes one.
    pub fn tick(&self) -> u64 {
        self.stamp.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Bumped by every admin edit, before it reaches the crate.
    pub fn ladder_version(&self) -> u64 {
        self.ladder_version.load(Ordering::SeqCst)
    }

    pub(crate) fn bump_ladder(&self) {
        self.ladder_version.fetch_add(1, Ordering::SeqCst);
    }

    /// Records a peer event now (deterministic call sites only).
    pub fn record(&self, event: LvqrEvent) {
        self.recorder.peer(event.lane(), event);
    }

    /// Queues a transcoder's event for the next flush.
    pub fn journal(&self, event: LvqrEvent) {
        lock(&self.journal).push(event);
    }

    /// Records every queued transcoder event, sorted by transcoder id
    /// (stable: one transcoder's events keep their order).
    pub fn flush(&self) {
        let mut batch = std::mem::take(&mut *lock(&self.journal));
        batch.sort_by(|a, b| a.tid().cmp(&b.tid()));
        for e in batch {
            self.record(e);
        }
    }

    /// The flusher: empties the journal every `tick`.
    pub async fn flusher(self: Arc<Self>, tick: std::time::Duration) {
        loop {
            tokio::time::sleep(tick).await;
            self.flush();
        }
    }

    pub(crate) fn set_session(&self, name: &str, session: u64) {
        let mut s = lock(&self.sessions);
        match s.iter_mut().find(|(n, _)| n == name) {
            Some(e) => e.1 = session,
            None => s.push((name.to_string(), session)),
        }
    }

    /// The ingest session of registry name `name` (0 if never published).
    pub fn session_of(&self, name: &str) -> u64 {
        lock(&self.sessions)
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, s)| *s)
    }

    pub(crate) fn enter_callback(&self, name: &str, track: &str) {
        *lock(&self.callback) = Some((name.to_string(), track.to_string()));
    }

    pub(crate) fn leave_callback(&self) {
        *lock(&self.callback) = None;
    }

    /// Is this build called from the entry-created callback of
    /// `(name, track)`, outside any admin edit?
    pub(crate) fn in_callback_of(&self, name: &str, track: &str) -> bool {
        !self.applying.load(Ordering::SeqCst)
            && lock(&self.callback)
                .as_ref()
                .is_some_and(|(n, t)| n == name && t == track)
    }

    pub(crate) fn set_applying(&self, on: bool) {
        self.applying.store(on, Ordering::SeqCst);
    }
}
