//! The world around the transcode core: the admin API editing the ladder,
//! injected transcoder panics, and downstream viewers.
//!
//! Owns [`TranscodePeerEvent`] (the events of the transcode family's
//! peers), [`Admin`], [`PanicArm`] and [`install_viewers`].
//!
//! turmoil runs a host's tasks one at a time, so the synchronous
//! entry-created callback can never be preempted the way a real
//! multi-threaded runtime preempts it while the admin API runs on another
//! worker. [`Admin`] models that other worker: an operation it receives is
//! *pending* for a window, and lands at the first preemption point user code
//! offers inside the runner — a factory `build`, which the runner calls with
//! no lock held between its snapshot of the factory list and its spawn — or
//! at the end of the window if no build comes. Every landing is recorded, so
//! a trace shows exactly where the operation ran.
//!
//! These peers run on the transcode host (they need its runtime); they never
//! reach into the runner except through its public handle.

use relaysim_core::transcode::fragment::VIDEO_TRACK;
use relaysim_core::transcode::{
    FragmentBroadcasterRegistry, PanicTrigger, PanickingTranscoderFactory,
    PassthroughTranscoderFactory, Phase, RenditionSpec, TranscodeRunnerHandle, Transcoder,
    TranscoderContext, TranscoderFactory,
};
use relaysim_harness::Recorder;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An admin API operation on the ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOp {
    /// Add this rendition to the ladder.
    Add(RenditionSpec),
    /// Remove the rendition of this name.
    Remove(String),
}

impl AdminOp {
    /// The rendition the operation is about.
    pub fn rendition(&self) -> &str {
        match self {
            AdminOp::Add(spec) => &spec.name,
            AdminOp::Remove(name) => name,
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            AdminOp::Add(_) => "add",
            AdminOp::Remove(_) => "remove",
        }
    }
}

/// Events of the transcode world's peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranscodePeerEvent {
    /// The admin API's operation ran: inside the factory build named by
    /// `during`, or (`None`) when its window ended.
    AdminApplied {
        /// `add` or `remove`.
        op: &'static str,
        /// The rendition.
        rendition: String,
        /// The factory build it landed in, if any.
        during: Option<String>,
    },
    /// A transcoder panic the world injected, just before it unwinds.
    PanicInjected {
        /// The transcoder's rendition.
        rendition: String,
        /// The broadcast it transcodes.
        broadcast: String,
        /// The track it transcodes.
        track: String,
        /// The call that panics.
        phase: Phase,
    },
    /// A downstream viewer's subscription ended.
    ViewerEnd {
        /// The broadcast watched.
        broadcast: String,
        /// Its registry generation.
        generation: u64,
        /// Fragments received.
        seen: u64,
        /// Fragments skipped by lag.
        lagged: u64,
        /// Fragments the broadcaster emitted while subscribed.
        emitted: u64,
        /// Every fragment arrived in order.
        in_order: bool,
    },
}

impl fmt::Display for TranscodePeerEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TranscodePeerEvent::AdminApplied {
                op,
                rendition,
                during,
            } => {
                write!(f, "admin.apply op={op} rendition={rendition} ")?;
                match during {
                    Some(d) => write!(f, "during=build:{d}"),
                    None => write!(f, "at=window-end"),
                }
            }
            TranscodePeerEvent::PanicInjected {
                rendition,
                broadcast,
                track,
                phase,
            } => write!(
                f,
                "inject.panic rendition={rendition} broadcast={broadcast} track={track} phase={phase}"
            ),
            TranscodePeerEvent::ViewerEnd {
                broadcast,
                generation,
                seen,
                lagged,
                emitted,
                in_order,
            } => write!(
                f,
                "viewer.end broadcast={broadcast} gen={generation} seen={seen} lagged={lagged} emitted={emitted} in_order={in_order}"
            ),
        }
    }
}

struct Armed {
    rendition: String,
    phase: Phase,
    /// Fragments of that rendition still to let through (fragment phase).
    countdown: u64,
}

/// Panics armed by the fault plan, fired by the transcoders' triggers.
pub struct PanicArm {
    armed: Mutex<Vec<Armed>>,
    recorder: Arc<Recorder>,
}

impl PanicArm {
    /// No panic armed yet.
    pub fn new(recorder: Arc<Recorder>) -> Arc<PanicArm> {
        Arc::new(PanicArm {
            armed: Mutex::new(Vec::new()),
            recorder,
        })
    }

    /// The next transcoder of `rendition` to reach `phase` panics (in the
    /// fragment phase, after `after` more fragments of that rendition).
    pub fn arm(&self, rendition: &str, phase: Phase, after: u64) {
        lock(&self.armed).push(Armed {
            rendition: rendition.to_string(),
            phase,
            countdown: after,
        });
    }

    /// The heal: nothing armed fires any more.
    pub fn disarm_all(&self) {
        lock(&self.armed).clear();
    }

    fn fires(&self, phase: Phase, ctx: &TranscoderContext) -> bool {
        {
            let mut armed = lock(&self.armed);
            let Some(i) = armed
                .iter()
                .position(|a| a.rendition == ctx.rendition.name && a.phase == phase)
            else {
                return false;
            };
            if phase == Phase::Fragment && armed[i].countdown > 0 {
                armed[i].countdown -= 1;
                return false;
            }
            armed.remove(i);
        }
        self.recorder.peer(
            "transcode",
            TranscodePeerEvent::PanicInjected {
                rendition: ctx.rendition.name.clone(),
                broadcast: ctx.broadcast.clone(),
                track: ctx.track.clone(),
                phase,
            },
        );
        true
    }

    /// A trigger for a [`PanickingTranscoderFactory`].
    pub fn trigger(self: &Arc<Self>) -> PanicTrigger {
        let arm = self.clone();
        PanicTrigger::new(move |phase, ctx, _| arm.fires(phase, ctx))
    }
}

/// The admin API, landing its operations at preemption points.
pub struct Admin {
    me: Weak<Admin>,
    recorder: Arc<Recorder>,
    panics: Arc<PanicArm>,
    tx: mpsc::UnboundedSender<(AdminOp, Duration)>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<(AdminOp, Duration)>>>,
    pending: Mutex<VecDeque<(u64, AdminOp)>>,
    next_id: Mutex<u64>,
    runner: Mutex<Option<TranscodeRunnerHandle>>,
}

/// A ladder factory: passthrough, panicking where the arm says, offering a
/// preemption point to the admin API in `build`.
struct Hooked {
    inner: PanickingTranscoderFactory,
    admin: Weak<Admin>,
}

impl TranscoderFactory for Hooked {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn rendition(&self) -> &RenditionSpec {
        self.inner.rendition()
    }

    fn build(&self, ctx: &TranscoderContext) -> Option<Box<dyn Transcoder>> {
        if let Some(admin) = self.admin.upgrade() {
            admin.preempt(&format!(
                "{}/{}:{}/{}",
                self.name(),
                ctx.rendition.name,
                ctx.broadcast,
                ctx.track
            ));
        }
        self.inner.build(ctx)
    }
}

impl Admin {
    /// The admin API, arming panics through `panics`.
    pub fn new(recorder: Arc<Recorder>, panics: Arc<PanicArm>) -> Arc<Admin> {
        let (tx, rx) = mpsc::unbounded_channel();
        Arc::new_cyclic(|me| Admin {
            me: me.clone(),
            recorder,
            panics,
            tx,
            rx: Mutex::new(Some(rx)),
            pending: Mutex::new(VecDeque::new()),
            next_id: Mutex::new(0),
            runner: Mutex::new(None),
        })
    }

    /// The factory the world registers for `spec`.
    pub fn factory(&self, spec: RenditionSpec) -> Arc<dyn TranscoderFactory> {
        Arc::new(Hooked {
            inner: PanickingTranscoderFactory::new(
                Arc::new(PassthroughTranscoderFactory::new(spec)),
                self.panics.trigger(),
            ),
            admin: self.me.clone(),
        })
    }

    /// The runner the operations act on (set once installed).
    pub fn attach(&self, runner: TranscodeRunnerHandle) {
        *lock(&self.runner) = Some(runner);
    }

    /// From the fault plan (outside the host): an operation arrives.
    pub fn submit(&self, op: AdminOp, window: Duration) {
        let _ = self.tx.send((op, window));
    }

    /// The admin worker (on the transcode host): receives operations and
    /// lands each at its window's end unless a build landed it first.
    pub async fn serve(self: Arc<Self>) {
        let Some(mut rx) = lock(&self.rx).take() else {
            return;
        };
        while let Some((op, window)) = rx.recv().await {
            let id = {
                let mut n = lock(&self.next_id);
                *n += 1;
                *n
            };
            lock(&self.pending).push_back((id, op));
            let me = self.clone();
            relaysim_core::rt::spawn(async move {
                tokio::time::sleep(window).await;
                me.land(id);
            });
        }
    }

    fn land(&self, id: u64) {
        let op = {
            let mut pending = lock(&self.pending);
            let Some(i) = pending.iter().position(|(p, _)| *p == id) else {
                return;
            };
            pending.remove(i).map(|(_, op)| op)
        };
        if let Some(op) = op {
            self.apply(op, None);
        }
    }

    /// A preemption point: every pending operation runs now, in arrival
    /// order, inside the build named `during`.
    fn preempt(&self, during: &str) {
        let ops: Vec<AdminOp> = lock(&self.pending).drain(..).map(|(_, op)| op).collect();
        for op in ops {
            self.apply(op, Some(during.to_string()));
        }
    }

    fn apply(&self, op: AdminOp, during: Option<String>) {
        let Some(runner) = lock(&self.runner).clone() else {
            return;
        };
        self.recorder.peer(
            "admin",
            TranscodePeerEvent::AdminApplied {
                op: op.verb(),
                rendition: op.rendition().to_string(),
                during,
            },
        );
        // From inside a factory build (a preemption point) the runner holds
        // no lock, so re-entering it here is sound.
        match op {
            AdminOp::Add(spec) => {
                runner.add_rendition(self.factory(spec));
            }
            AdminOp::Remove(name) => {
                runner.remove_rendition(&name);
            }
        }
    }
}

/// A downstream subscriber per video track (an egress such as LL-HLS):
/// subscribes on entry creation, reads to the end, records what it saw.
pub fn install_viewers(registry: &FragmentBroadcasterRegistry, recorder: Arc<Recorder>) {
    registry.on_entry_created(move |broadcast, track, bc| {
        if track != VIDEO_TRACK {
            return;
        }
        let mut sub = bc.subscribe();
        let generation = bc.generation();
        let broadcast = broadcast.to_string();
        let recorder = recorder.clone();
        relaysim_core::rt::spawn(async move {
            let mut last: Option<(u64, u64)> = None;
            let mut in_order = true;
            while let Some(f) = sub.next_fragment().await {
                let at = (f.group_id, f.object_id);
                if last.is_some_and(|l| at <= l) {
                    in_order = false;
                }
                last = Some(at);
            }
            recorder.peer(
                "viewer",
                TranscodePeerEvent::ViewerEnd {
                    broadcast,
                    generation,
                    seen: sub.received(),
                    lagged: sub.lagged(),
                    emitted: sub.emitted_since_subscribe(),
                    in_order,
                },
            );
        });
    });
}
