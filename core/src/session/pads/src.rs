//! The source element: `start` (READY → PAUSED) and `stop` (PAUSED →
//! READY), and the ordered teardown between them.
//!
//! Owns [`MoqSrc`]: its element (pads), its main loop, and the running
//! session (shutdown signal, controller, forwarder, pumps, error slot).
//! `start` spawns and returns at once (a live source); `stop` is the ordered
//! teardown described in [`crate::session::pads`], split into
//! [`begin_teardown`] and [`finish_teardown`] so the proptest state machine
//! runs the same synchronous steps. It never waits on the main loop, never
//! lets a pad of a stopped session survive, and never lets a restarted
//! session see one. Its wait for the controller and the pumps is bounded by
//! [`crate::rt::timeout`] (half the stop bound), after which it aborts them.
//!
//! The application may call `start`, `stop`, `session` and
//! `sessions_started` from several threads at once; what they share is a
//! [`SessionSlot`] (the current session and the session counter, no I/O, so
//! the `session-slot` shuttle model runs it). Its contract, as `MoqSrc`
//! relies on it:
//!
//! - at most one session is current; a `start` while one is returns its id
//!   and creates nothing (no second controller, forwarder or
//!   `SessionStart`);
//! - session ids are 1, 2, 3, … in start order, and `sessions_started` is
//!   the number handed out;
//! - every session is taken by exactly one `stop` (which tears it down) or
//!   is still current; two concurrent `stop`s never tear the same session
//!   down twice (the loser returns false);
//! - `session()` never goes back to an older session.

use crate::bugs::{BugSet, KnownBug};
use crate::event::Emitter;
use crate::net::Net;
use crate::session::pads::bus::{BusMessage, ErrorSlot};
use crate::session::pads::element::{Downstream, Element};
use crate::session::pads::event::PadsEvent;
use crate::session::pads::forwarder::{Forwarder, MainLoop};
use crate::session::pads::queue::PadQueue;
use crate::session::pads::session::{Controller, Registry, RelayTarget};
use crate::session::pads::{PadMessage, QUEUE_CAPACITY, STOP_BOUND};
use crate::sync::{lock, Arc, AtomicU64, Mutex, Ordering};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
// tokio's Instant: the simulated clock under turmoil (std's is banned by clippy.toml).
use tokio::time::Instant;

/// How the element is set up.
#[derive(Debug, Clone)]
pub struct PadsConfig {
    /// The relay, `host:port`.
    pub relay: String,
    pub broadcast: String,
    pub queue_capacity: usize,
    pub stop_bound: Duration,
    pub bugs: BugSet,
}

impl PadsConfig {
    pub fn new(relay: &str, broadcast: &str) -> PadsConfig {
        PadsConfig {
            relay: relay.to_string(),
            broadcast: broadcast.to_string(),
            queue_capacity: QUEUE_CAPACITY,
            stop_bound: STOP_BOUND,
            bugs: BugSet::NONE,
        }
    }
}

/// What [`SessionSlot::start`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A session was current already: its id. Nothing was created.
    Running(u64),
    /// A new session was created and installed under this fresh id.
    Started(u64),
}

impl Start {
    /// The current session's id, either way.
    pub fn id(self) -> u64 {
        match self {
            Start::Running(id) | Start::Started(id) => id,
        }
    }
}

/// The element's current session and its session counter: the shared
/// state of `start`, `stop` and the accessors, which the application may
/// call from several threads at once.
///
/// Owns the slot (`Mutex<Option<(id, handle)>>`) and the counter of
/// sessions started. It never spawns, waits or reads a clock: what a
/// session is (`H`) is the caller's, made by the closure given to
/// [`SessionSlot::start`] under the slot's lock.
///
/// Contract (the `session-slot` shuttle model asserts each):
///
/// 1. At most one session is current. `start` creates one (calls `make`
///    exactly once) only when none is, in the same critical section as the
///    check; otherwise it returns [`Start::Running`] with the current id
///    and creates nothing.
/// 2. Ids are 1, 2, 3, … in creation order, never reused; `started()` is the
///    number of ids handed out (it counts a session as soon as its id is
///    drawn, so a concurrent reader may see it one ahead of `current()`).
/// 3. `take` removes the current session and hands it to exactly one caller:
///    every session created is taken by exactly one `take` or is still
///    current, never both, never twice.
/// 4. `current()` never goes back to an older session: ids only grow.
#[derive(Debug)]
pub struct SessionSlot<H> {
    current: Mutex<Option<(u64, H)>>,
    started: AtomicU64,
}

impl<H> Default for SessionSlot<H> {
    fn default() -> Self {
        SessionSlot::new()
    }
}

impl<H> SessionSlot<H> {
    pub fn new() -> SessionSlot<H> {
        SessionSlot {
            current: Mutex::new(None),
            started: AtomicU64::new(0),
        }
    }

    /// Installs `make(id)` under a fresh id unless a session is current
    /// (clause 1). `make` runs under the slot's lock: it must not call back
    /// into the slot.
    pub fn start(&self, make: impl FnOnce(u64) -> H) -> Start {
        let mut current = lock(&self.current);
        if let Some((id, _)) = current.as_ref() {
            return Start::Running(*id);
        }
        let id = self.started.fetch_add(1, Ordering::AcqRel) + 1;
        *current = Some((id, make(id)));
        Start::Started(id)
    }

    /// Takes the current session, if any (clause 3).
    pub fn take(&self) -> Option<(u64, H)> {
        lock(&self.current).take()
    }

    /// The current session's id, if any.
    pub fn current(&self) -> Option<u64> {
        lock(&self.current).as_ref().map(|(id, _)| *id)
    }

    /// Sessions started so far (ids handed out).
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Acquire)
    }
}

struct SessionHandle {
    shutdown: watch::Sender<bool>,
    controller: JoinHandle<()>,
    forwarder: JoinHandle<()>,
    registry: std::sync::Arc<Registry>,
    errors: std::sync::Arc<ErrorSlot>,
}

/// The first half of `stop`, after the session was told to shut down:
/// fixed, every queue is flushed (a pump blocked on a full one wakes up);
/// with `stop-drops-flush`, a drop is queued to every pad instead (upstream),
/// which only the forwarder about to be aborted would ever deliver. Returns
/// the messages each pad's flush discarded.
pub fn begin_teardown(bugs: BugSet, queues: &[Arc<PadQueue>]) -> BTreeMap<String, usize> {
    let mut discarded = BTreeMap::new();
    for q in queues {
        if bugs.on(KnownBug::StopDropsFlush) {
            let _ = q.try_push(PadMessage::Drop);
        } else {
            *discarded.entry(q.pad().to_string()).or_insert(0) += q.flush();
        }
    }
    discarded
}

/// The second half, once the pumps ended and the forwarder is gone: fixed,
/// flush and drop delivered to each of the session's pads, in name order;
/// with `stop-drops-flush`, nothing (the pads are left behind). Returns how
/// many pads were removed.
pub fn finish_teardown(
    bugs: BugSet,
    element: &Element,
    session: u64,
    discarded: &BTreeMap<String, usize>,
    emitter: &Emitter,
) -> usize {
    if bugs.on(KnownBug::StopDropsFlush) {
        return 0;
    }
    let mut removed = 0;
    for pad in element.pads_of(session) {
        if element.flush_and_remove(session, &pad) {
            removed += 1;
            emitter.emit(PadsEvent::PadFlushed {
                session,
                discarded: discarded.get(&pad).copied().unwrap_or(0),
                pad,
            });
        }
    }
    removed
}

/// The source element.
pub struct MoqSrc<N: Net> {
    net: N,
    cfg: PadsConfig,
    element: std::sync::Arc<Element>,
    main: std::sync::Arc<MainLoop>,
    bus: mpsc::UnboundedSender<BusMessage>,
    current: SessionSlot<SessionHandle>,
    emitter: Emitter,
}

impl<N: Net> MoqSrc<N> {
    /// The element and the receiving end of its bus.
    pub fn new(
        net: N,
        cfg: PadsConfig,
        downstream: std::sync::Arc<dyn Downstream>,
        emitter: Emitter,
    ) -> (
        std::sync::Arc<MoqSrc<N>>,
        mpsc::UnboundedReceiver<BusMessage>,
    ) {
        let (bus, bus_rx) = mpsc::unbounded_channel();
        let src = std::sync::Arc::new(MoqSrc {
            net,
            element: std::sync::Arc::new(Element::new(downstream)),
            main: MainLoop::new(emitter.clone()),
            bus,
            cfg,
            current: SessionSlot::new(),
            emitter,
        });
        (src, bus_rx)
    }

    pub fn element(&self) -> &Element {
        &self.element
    }

    pub fn main_loop(&self) -> &MainLoop {
        &self.main
    }

    /// The running session, if any.
    pub fn session(&self) -> Option<u64> {
        self.current.current()
    }

    /// Sessions started so far.
    pub fn sessions_started(&self) -> u64 {
        self.current.started()
    }

    /// The main loop is busy for `d` from now.
    pub fn stall_main_loop(&self, d: Duration) {
        self.main.stall(Instant::now(), d);
    }

    /// READY → PAUSED: spawns a session and returns at once. A no-op while
    /// one runs; returns the running session's id.
    pub fn start(&self) -> u64 {
        self.current.start(|id| self.spawn_session(id)).id()
    }

    /// Spawns session `id`'s controller and forwarder (under the slot's
    /// lock, so a concurrent `start` waits and then finds it current).
    fn spawn_session(&self, id: u64) -> SessionHandle {
        self.emitter.emit(PadsEvent::SessionStart { session: id });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let wake = std::sync::Arc::new(Notify::new());
        let errors = ErrorSlot::new(id, self.bus.clone(), self.emitter.clone());
        let registry: std::sync::Arc<Registry> = std::sync::Arc::new(Registry::new());
        let forwarder = Forwarder::new(
            id,
            self.element.clone(),
            control_rx,
            wake,
            self.cfg.queue_capacity,
            self.cfg.bugs,
            self.emitter.clone(),
        );
        let forwarder = crate::rt::spawn(forwarder.run(self.main.clone()));
        let controller = Controller {
            net: self.net.clone(),
            relay: RelayTarget {
                addr: self.cfg.relay.clone(),
                broadcast: self.cfg.broadcast.clone(),
            },
            session: id,
            control: control_tx,
            shutdown: shutdown_rx,
            errors: errors.clone(),
            registry: registry.clone(),
            bugs: self.cfg.bugs,
            emitter: self.emitter.clone(),
        };
        let controller = crate::rt::spawn(controller.run());
        SessionHandle {
            shutdown,
            controller,
            forwarder,
            registry,
            errors,
        }
    }

    /// PAUSED → READY: the ordered teardown. Returns false when no session
    /// was running (idempotent).
    pub async fn stop(&self) -> bool {
        let Some((id, s)) = self.current.take() else {
            return false;
        };
        let bugs = self.cfg.bugs;
        self.emitter.emit(PadsEvent::StopBegin {
            session: id,
            pads: self.element.pads_of(id).len(),
        });
        s.errors.close();
        s.shutdown.send_replace(true);
        // Closes the registry too: a pump the controller is starting right
        // now is refused (never spawned), so none is left behind.
        let entries = s.registry.take_all();
        let queues: Vec<Arc<PadQueue>> = entries.iter().map(|e| e.queue.clone()).collect();
        let discarded = begin_teardown(bugs, &queues);
        if bugs.on(KnownBug::StopDropsFlush) {
            // Upstream: abort at once; the drops just queued never run.
            s.controller.abort();
            s.forwarder.abort();
        } else {
            // Every wait of the controller and the pumps watches the
            // shutdown, so this is quick; the bound is a backstop.
            // A handle is taken once joined: a joined handle must not be
            // joined again.
            let mut controller = Some(s.controller);
            let mut pumps: Vec<_> = entries.into_iter().map(|e| Some(e.task)).collect();
            let wait = async {
                if let Some(c) = controller.as_mut() {
                    let _ = c.await;
                }
                controller = None;
                for p in pumps.iter_mut() {
                    if let Some(h) = p.as_mut() {
                        let _ = h.await;
                    }
                    *p = None;
                }
            };
            if crate::rt::timeout(self.cfg.stop_bound / 2, wait)
                .await
                .is_err()
            {
                self.emitter.deadline_fired("pads.src.stop");
                if let Some(c) = &controller {
                    c.abort();
                }
                for p in pumps.iter().flatten() {
                    p.abort();
                }
            }
            s.forwarder.abort();
            // An aborted task ends at its next await; on a multi-thread
            // runtime it may be inside a step right now (a forwarder
            // creating a pad). Waiting for each to end means no step of
            // the session overlaps the pad removal below.
            if let Some(c) = controller {
                let _ = c.await;
            }
            for p in pumps.into_iter().flatten() {
                let _ = p.await;
            }
            let _ = s.forwarder.await;
        }
        let removed = finish_teardown(bugs, &self.element, id, &discarded, &self.emitter);
        self.emitter.emit(PadsEvent::StopDone {
            session: id,
            removed,
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slot_holds_one_session_and_hands_it_out_once() {
        let slot = SessionSlot::new();
        let mut made = Vec::new();
        assert_eq!(
            slot.start(|id| {
                made.push(id);
                format!("s{id}")
            }),
            Start::Started(1)
        );
        assert_eq!(slot.start(|_| unreachable!("one runs")), Start::Running(1));
        assert_eq!((slot.current(), slot.started()), (Some(1), 1));
        assert_eq!(slot.take(), Some((1, "s1".to_string())));
        assert_eq!(slot.take(), None, "taken once");
        assert_eq!(slot.current(), None);
        assert_eq!(slot.start(|id| format!("s{id}")).id(), 2);
        assert_eq!((made, slot.started()), (vec![1], 2));
    }
}
