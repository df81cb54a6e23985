//! The main loop and the forwarder: the single task standing for the GLib
//! main context, the only place pads are created and pushed into.
//!
//! Owns [`MainLoop`] (the stall gate: while the main loop is busy — a
//! downstream push blocked in a clock wait, an application callback —
//! nothing on it runs) and [`Forwarder`]: it serves the control channel
//! first (create-pad round trips; out-of-band caps with
//! `buffer-before-caps`), then the session's pad queues round-robin, one
//! message per step, in pad-name order. [`Forwarder::dispatch_one`] is
//! synchronous, so the proptest state machine drives the very same code;
//! [`Forwarder::run`] is the async loop around it. It never waits on a pump
//! and never blocks: when nothing is ready it sleeps on the session's wake.
//!
//! The gate is shared by whoever stalls the main loop (the application)
//! and the forwarder waiting for it. It never reads a clock: `stall` and
//! `busy_for` take `now`, and `ready` the clock to read (the forwarder
//! passes tokio's, simulated under the engines), so the `main-loop` shuttle
//! model runs it on its own time. Its contract (clauses on [`MainLoop`]):
//! a stall only ever extends, a reader sees one consistent end that never
//! goes back, and `ready` never returns inside a stall set before it.

use crate::bugs::BugSet;
use crate::event::Emitter;
use crate::session::pads::element::Element;
use crate::session::pads::event::PadsEvent;
use crate::session::pads::queue::PadQueue;
use crate::session::pads::wire::TrackInfo;
use crate::session::pads::{Caps, PadMessage};
use crate::sync::{lock, Arc, Mutex};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot, Notify};
// tokio's Instant: the simulated clock under turmoil (std's is banned by clippy.toml).
use tokio::time::Instant;

/// A request to the main loop from the session controller.
pub enum Control {
    /// Create the track's pad; answers its queue, or the session owning
    /// the name already.
    CreatePad {
        track: TrackInfo,
        reply: oneshot::Sender<Result<Arc<PadQueue>, u64>>,
    },
    /// Out-of-band caps (only with `buffer-before-caps`).
    SetCaps { pad: String, caps: Caps },
}

/// The main context's availability: until when it is stalled.
///
/// Owns the stall's end (`Mutex<Option<Instant>>`), written by
/// [`MainLoop::stall`] (the application, or a test, making the main loop
/// busy) and read by the forwarder before each step. It never reads a clock
/// itself: every operation takes `now` (sans-IO), and [`MainLoop::ready`]
/// takes the clock to read, so a model can run it on its own time.
///
/// Contract (the `main-loop` shuttle model asserts each):
///
/// 1. A stall only ever extends: after `stall(now, d)` the main loop is
///    busy until at least `now + d`, and never less long than before (two
///    stalls at once keep the later end, whichever lands last).
/// 2. A reader sees one consistent end: [`MainLoop::stalled_until`] is
///    always the end some `stall` set (or none), and successive reads never
///    go back; [`MainLoop::busy_for`] is that end minus `now`, none once
///    it is past.
/// 3. [`MainLoop::ready`] returns only once the clock it reads has reached
///    the end of every stall set before it returned from its last check
///    (so never inside a stall that began before it was called).
#[derive(Debug)]
pub struct MainLoop {
    stalled_until: Mutex<Option<Instant>>,
    emitter: Emitter,
}

impl MainLoop {
    pub fn new(emitter: Emitter) -> std::sync::Arc<MainLoop> {
        std::sync::Arc::new(MainLoop {
            stalled_until: Mutex::new(None),
            emitter,
        })
    }

    /// The main loop is busy for `d` from `now` (extends a running stall,
    /// never shortens it).
    pub fn stall(&self, now: Instant, d: Duration) {
        let until = now + d;
        let mut s = lock(&self.stalled_until);
        *s = Some(s.map_or(until, |cur| cur.max(until)));
        self.emitter.emit(PadsEvent::MainLoopStall {
            ms: d.as_millis() as u64,
        });
    }

    /// The end of the latest-ending stall so far (it may be past).
    pub fn stalled_until(&self) -> Option<Instant> {
        *lock(&self.stalled_until)
    }

    /// How long the main loop is still busy at `now`; `None` when free.
    pub fn busy_for(&self, now: Instant) -> Option<Duration> {
        match self.stalled_until() {
            Some(t) if now < t => Some(t - now),
            _ => None,
        }
    }

    /// Resolves once the main loop is free, reading `clock` for the time
    /// (the forwarder passes tokio's `Instant::now`, simulated under the
    /// engines).
    pub async fn ready(&self, clock: impl Fn() -> Instant) {
        while let Some(left) = self.busy_for(clock()) {
            crate::rt::sleep(left).await;
        }
    }
}

/// One session's forwarder.
pub struct Forwarder {
    session: u64,
    element: std::sync::Arc<Element>,
    control: mpsc::UnboundedReceiver<Control>,
    control_open: bool,
    queues: BTreeMap<String, Arc<PadQueue>>,
    /// The pad served last (round-robin).
    cursor: Option<String>,
    wake: std::sync::Arc<Notify>,
    capacity: usize,
    bugs: BugSet,
    emitter: Emitter,
}

impl Forwarder {
    pub fn new(
        session: u64,
        element: std::sync::Arc<Element>,
        control: mpsc::UnboundedReceiver<Control>,
        wake: std::sync::Arc<Notify>,
        capacity: usize,
        bugs: BugSet,
        emitter: Emitter,
    ) -> Forwarder {
        Forwarder {
            session,
            element,
            control,
            control_open: true,
            queues: BTreeMap::new(),
            cursor: None,
            wake,
            capacity,
            bugs,
            emitter,
        }
    }

    /// Dispatches one ready item (a control request first, else one pad
    /// message). False when nothing was ready.
    pub fn dispatch_one(&mut self) -> bool {
        if self.control_open {
            match self.control.try_recv() {
                Ok(c) => {
                    self.handle_control(c);
                    return true;
                }
                Err(TryRecvError::Disconnected) => self.control_open = false,
                Err(TryRecvError::Empty) => {}
            }
        }
        self.dispatch_pad()
    }

    fn dispatch_pad(&mut self) -> bool {
        if self.queues.is_empty() {
            return false;
        }
        let names: Vec<String> = self.queues.keys().cloned().collect();
        let start = match &self.cursor {
            Some(c) => names.iter().position(|n| n > c).unwrap_or(0),
            None => 0,
        };
        for i in 0..names.len() {
            let name = &names[(start + i) % names.len()];
            let queue = self.queues[name].clone();
            if let Some(msg) = queue.pop() {
                self.cursor = Some(name.clone());
                self.deliver(name, msg);
                return true;
            }
        }
        false
    }

    fn deliver(&mut self, pad: &str, msg: PadMessage) {
        let is_drop = msg == PadMessage::Drop;
        let pushed = self.element.push(self.session, pad, msg);
        if is_drop {
            self.queues.remove(pad);
            if pushed.is_ok() {
                self.emitter.emit(PadsEvent::PadDropped {
                    session: self.session,
                    pad: pad.to_string(),
                });
            }
        }
    }

    pub fn handle_control(&mut self, c: Control) {
        match c {
            Control::CreatePad { track, reply } => {
                let name = track.pad_name();
                // A retiring pad of this session (its track left and came
                // back): deliver what it still holds, in order; if its pump
                // is still behind (blocked on the full queue, its drop not
                // queued yet), flush it — which wakes that pump — and remove
                // the pad here. Never a collision with our own past.
                if let Some(old) = self.queues.get(&name).cloned() {
                    if old.is_retiring() {
                        while let Some(m) = old.pop() {
                            self.deliver(&name, m);
                        }
                        if self.queues.remove(&name).is_some() {
                            old.flush();
                            self.element.flush_and_remove(self.session, &name);
                        }
                    }
                }
                match self.element.create_pad(self.session, &track) {
                    Ok(pad) => {
                        let queue =
                            PadQueue::new(&pad, self.capacity, self.bugs, self.wake.clone());
                        self.queues.insert(pad.clone(), queue.clone());
                        self.emitter.emit(PadsEvent::PadCreated {
                            session: self.session,
                            pad,
                            track: track.name.clone(),
                        });
                        let _ = reply.send(Ok(queue));
                    }
                    Err(owner) => {
                        self.emitter.emit(PadsEvent::PadCollision {
                            session: self.session,
                            pad: name,
                            owner,
                        });
                        let _ = reply.send(Err(owner));
                    }
                }
            }
            Control::SetCaps { pad, caps } => {
                let _ = self
                    .element
                    .push(self.session, &pad, PadMessage::Caps(caps));
            }
        }
    }

    /// The forwarder's loop: dispatch whatever is ready whenever the main
    /// loop is free; sleep on the session's wake otherwise.
    pub async fn run(mut self, main: std::sync::Arc<MainLoop>) {
        loop {
            main.ready(Instant::now).await;
            if self.dispatch_one() {
                continue;
            }
            if self.control_open {
                tokio::select! {
                    biased;
                    c = self.control.recv() => match c {
                        Some(c) => {
                            main.ready(Instant::now).await;
                            self.handle_control(c);
                        }
                        None => self.control_open = false,
                    },
                    _ = self.wake.notified() => {}
                }
            } else {
                self.wake.notified().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_only_extends_and_busy_for_counts_down_from_now() {
        let main = MainLoop::new(Emitter::tracing_only("gst"));
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!((main.stalled_until(), main.busy_for(t0)), (None, None));
        main.stall(t0, ms(300));
        main.stall(t0 + ms(100), ms(100));
        assert_eq!(main.stalled_until(), Some(t0 + ms(300)), "not shortened");
        assert_eq!(main.busy_for(t0 + ms(50)), Some(ms(250)));
        main.stall(t0 + ms(200), ms(200));
        assert_eq!(main.busy_for(t0 + ms(300)), Some(ms(100)), "extended");
        assert_eq!(main.busy_for(t0 + ms(400)), None);
    }

    #[tokio::test(start_paused = true)]
    async fn ready_waits_out_a_stall_extended_while_it_waits() {
        let main = MainLoop::new(Emitter::tracing_only("gst"));
        let start = Instant::now();
        main.stall(start, Duration::from_millis(300));
        let waiter = {
            let main = main.clone();
            tokio::spawn(async move {
                main.ready(Instant::now).await;
                Instant::now()
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        main.stall(Instant::now(), Duration::from_millis(400));
        let free = waiter.await.unwrap();
        assert_eq!(free - start, Duration::from_millis(600));
    }
}
