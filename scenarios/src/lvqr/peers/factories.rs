//! relaysim's own `TranscoderFactory` implementations, plugged into the
//! published runner through its public traits, and what their transcoders
//! observe.
//!
//! Owns [`Factory`] (passthrough or slow, always panicking where the plan
//! arms it, and offering the admin API its landing point in `build`),
//! [`PanicArm`] and [`InjectedPanic`]. A transcoder reports through the
//! [`Shared`] journal only (see the module docs of `peers` for why), and
//! reads each fragment's ingest session and logical stamp from its payload:
//! the oracles judge what transcoders saw, never the crate's counters.

use super::admin::Admin;
use super::{lock, LvqrEvent, Shared, Tid};
use crate::lvqr::fault::Phase;
use lvqr_fragment::Fragment;
use lvqr_transcode::{RenditionSpec, Transcoder, TranscoderContext, TranscoderFactory};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// The video track every broadcast carries; factories opt out of others.
pub const VIDEO_TRACK: &str = "0.mp4";

/// The payload of an injected panic (the world's panic hook stays quiet
/// about it; any other panic still prints).
#[derive(Debug)]
pub struct InjectedPanic;

/// What a factory's transcoders do with a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Count it.
    Passthrough,
    /// Hand it to a worker task that spends `work` on each, through a
    /// bounded queue that refuses (and counts) fragments when full — the
    /// pattern the crate's documentation asks heavy transcoders to follow.
    Slow {
        /// Simulated work per fragment.
        work: Duration,
    },
}

/// Depth of a slow transcoder's worker queue.
pub const WORKER_QUEUE: usize = 8;

struct Armed {
    rendition: String,
    broadcast: String,
    phase: Phase,
    countdown: u64,
}

/// Panics armed by the plan, each for one (rendition, broadcast).
pub struct PanicArm {
    armed: Mutex<Vec<Armed>>,
}

impl PanicArm {
    /// Nothing armed.
    pub fn new() -> Arc<PanicArm> {
        Arc::new(PanicArm {
            armed: Mutex::new(Vec::new()),
        })
    }

    /// The next transcoder of `rendition` for `broadcast` to reach
    /// `phase` panics (in `fragment`, after `after` more fragments).
    pub fn arm(&self, rendition: &str, broadcast: &str, phase: Phase, after: u64) {
        lock(&self.armed).push(Armed {
            rendition: rendition.to_string(),
            broadcast: broadcast.to_string(),
            phase,
            countdown: after,
        });
    }

    /// The heal: nothing armed fires any more.
    pub fn disarm_all(&self) {
        lock(&self.armed).clear();
    }

    fn fires(&self, phase: Phase, rendition: &str, broadcast: &str) -> bool {
        let mut armed = lock(&self.armed);
        let Some(i) = armed
            .iter()
            .position(|a| a.rendition == rendition && a.broadcast == broadcast && a.phase == phase)
        else {
            return false;
        };
        if phase == Phase::Fragment && armed[i].countdown > 0 {
            armed[i].countdown -= 1;
            return false;
        }
        armed.remove(i);
        true
    }
}

/// One factory instance of the ladder.
pub struct Factory {
    name: &'static str,
    spec: RenditionSpec,
    instance: u64,
    kind: Kind,
    shared: Arc<Shared>,
    panics: Arc<PanicArm>,
    admin: Weak<Admin>,
}

impl Factory {
    /// A factory for `spec`, registered as `instance`.
    pub fn new(
        spec: RenditionSpec,
        instance: u64,
        kind: Kind,
        shared: Arc<Shared>,
        panics: Arc<PanicArm>,
        admin: Weak<Admin>,
    ) -> Factory {
        let name = match kind {
            Kind::Passthrough => "relaysim-passthrough",
            Kind::Slow { .. } => "relaysim-slow",
        };
        Factory {
            name,
            spec,
            instance,
            kind,
            shared,
            panics,
            admin,
        }
    }
}

impl Factory {
    /// Its instance number.
    pub fn instance(&self) -> u64 {
        self.instance
    }
}

impl TranscoderFactory for Factory {
    fn name(&self) -> &str {
        self.name
    }

    fn rendition(&self) -> &RenditionSpec {
        &self.spec
    }

    fn build(&self, ctx: &TranscoderContext) -> Option<Box<dyn Transcoder>> {
        if ctx.track != VIDEO_TRACK {
            return None;
        }
        // The runner calls build with no lock held, between the callback's
        // snapshot of the factory list and the spawn: where another
        // worker's admin edit can run.
        if let Some(admin) = self.admin.upgrade() {
            admin.preempt(ctx, self.instance);
        }
        let tid = Tid {
            rendition: self.spec.name.clone(),
            instance: self.instance,
            name: ctx.broadcast.clone(),
            session: self.shared.session_of(&ctx.broadcast),
        };
        Some(Box::new(Xcode {
            broadcast: super::ingest::base_of(&ctx.broadcast).to_string(),
            tid,
            kind: self.kind,
            shared: self.shared.clone(),
            panics: self.panics.clone(),
            seen: 0,
            noted_version: None,
            note_next: false,
            stopped: false,
            worker: None,
        }))
    }
}

struct Worker {
    tx: mpsc::Sender<()>,
    dropped: Arc<AtomicU64>,
}

struct Xcode {
    tid: Tid,
    /// The base broadcast (`live/a`), what panics are armed for.
    broadcast: String,
    kind: Kind,
    shared: Arc<Shared>,
    panics: Arc<PanicArm>,
    seen: u64,
    noted_version: Option<u64>,
    note_next: bool,
    stopped: bool,
    worker: Option<Worker>,
}

impl Xcode {
    fn maybe_panic(&mut self, phase: Phase) {
        if self
            .panics
            .fires(phase, &self.tid.rendition, &self.broadcast)
        {
            self.note_next = true;
            self.shared.journal(LvqrEvent::PanicInjected {
                tid: self.tid.clone(),
                phase,
                stamp: self.shared.tick(),
            });
            std::panic::panic_any(InjectedPanic);
        }
    }
}

/// A fragment's (session, stamp), as the ingest wrote them.
pub fn payload_of(f: &Fragment) -> (u64, u64) {
    let p = &f.payload;
    if p.len() < 16 {
        return (0, 0);
    }
    let mut s = [0u8; 8];
    let mut t = [0u8; 8];
    s.copy_from_slice(&p[..8]);
    t.copy_from_slice(&p[8..16]);
    (u64::from_be_bytes(s), u64::from_be_bytes(t))
}

impl Transcoder for Xcode {
    fn on_start(&mut self, _ctx: &TranscoderContext) {
        self.shared.journal(LvqrEvent::Start {
            tid: self.tid.clone(),
        });
        self.maybe_panic(Phase::Start);
        if let Kind::Slow { work } = self.kind {
            let (tx, mut rx) = mpsc::channel::<()>(WORKER_QUEUE);
            let dropped = Arc::new(AtomicU64::new(0));
            let (shared, tid, d) = (self.shared.clone(), self.tid.clone(), dropped.clone());
            relaysim_core::rt::spawn(async move {
                let mut processed = 0;
                while rx.recv().await.is_some() {
                    tokio::time::sleep(work).await;
                    processed += 1;
                }
                shared.journal(LvqrEvent::WorkerDone {
                    tid,
                    processed,
                    dropped: d.load(Ordering::SeqCst),
                });
            });
            self.worker = Some(Worker { tx, dropped });
        }
    }

    fn on_fragment(&mut self, fragment: &Fragment) {
        self.seen += 1;
        let version = self.shared.ladder_version();
        if self.noted_version != Some(version) || self.note_next {
            let (session, stamp) = payload_of(fragment);
            self.noted_version = Some(version);
            self.note_next = false;
            self.shared.journal(LvqrEvent::Seen {
                tid: self.tid.clone(),
                session,
                stamp,
                seen: self.seen,
            });
        }
        if let Some(w) = &self.worker {
            if w.tx.try_send(()).is_err() {
                w.dropped.fetch_add(1, Ordering::SeqCst);
            }
        }
        self.maybe_panic(Phase::Fragment);
    }

    fn on_stop(&mut self) {
        self.stopped = true;
        self.shared.journal(LvqrEvent::Stop {
            tid: self.tid.clone(),
            seen: self.seen,
        });
        self.maybe_panic(Phase::Stop);
    }
}

impl Drop for Xcode {
    fn drop(&mut self) {
        if !self.stopped {
            self.shared.journal(LvqrEvent::Dropped {
                tid: self.tid.clone(),
                seen: self.seen,
            });
        }
    }
}
