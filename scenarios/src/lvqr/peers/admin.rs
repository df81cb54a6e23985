//! The admin API: rendition edits through the runner's public handle.
//!
//! Owns [`Admin`] and [`AdminOp`]. On a real multi-threaded runtime the
//! admin route runs on another worker and can run while a publish's
//! entry-created callback is between its snapshot of the factory list and
//! its spawns. turmoil runs a host's tasks one at a time and cannot
//! preempt synchronous code, so an edit the plan submits is *pending* for
//! a window and — when the world lets edits race publishes — lands at the
//! first preemption point user code offers inside that callback: a
//! factory `build`, which the runner calls with no lock held. Otherwise,
//! or when no build comes, it lands when its window ends. The landing is
//! recorded (`admin.apply … during=build:…` or `at=window-end`).
//!
//! Factory instances are numbered in registration order, so the checks
//! can tell a drain of a removed rendition from one of its re-added
//! successor.

use super::factories::{Factory, Kind, PanicArm};
use super::{lock, LvqrEvent, Shared};
use lvqr_transcode::{RenditionSpec, TranscodeRunnerHandle, TranscoderContext};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// An admin operation.
#[derive(Debug, Clone)]
pub enum AdminOp {
    /// Add this rendition, built by a factory of this kind.
    Add(RenditionSpec, Kind),
    /// Remove the rendition of this name.
    Remove(String),
}

/// The admin API.
pub struct Admin {
    me: Weak<Admin>,
    shared: Arc<Shared>,
    panics: Arc<PanicArm>,
    /// Edits may land inside an entry-created callback's build.
    races_publishes: bool,
    tx: mpsc::UnboundedSender<(AdminOp, Duration)>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<(AdminOp, Duration)>>>,
    pending: Mutex<VecDeque<(u64, AdminOp)>>,
    next_edit: Mutex<u64>,
    /// `(instance, rendition)` of every factory registered now, as the
    /// admin API knows it (not as the crate reports it).
    registered: Mutex<Vec<(u64, String)>>,
    next_instance: Mutex<u64>,
    runner: Mutex<Option<TranscodeRunnerHandle>>,
}

impl Admin {
    /// The admin API; `races_publishes` lets pending edits land inside
    /// entry-created callbacks.
    pub fn new(shared: Arc<Shared>, panics: Arc<PanicArm>, races_publishes: bool) -> Arc<Admin> {
        let (tx, rx) = mpsc::unbounded_channel();
        Arc::new_cyclic(|me| Admin {
            me: me.clone(),
            shared,
            panics,
            races_publishes,
            tx,
            rx: Mutex::new(Some(rx)),
            pending: Mutex::new(VecDeque::new()),
            next_edit: Mutex::new(0),
            registered: Mutex::new(Vec::new()),
            next_instance: Mutex::new(0),
            runner: Mutex::new(None),
        })
    }

    /// A new factory instance for `spec` (numbered, not yet registered).
    pub fn factory(&self, spec: RenditionSpec, kind: Kind) -> Factory {
        let instance = {
            let mut n = lock(&self.next_instance);
            *n += 1;
            *n
        };
        Factory::new(
            spec,
            instance,
            kind,
            self.shared.clone(),
            self.panics.clone(),
            self.me.clone(),
        )
    }

    /// The runner the edits act on, and the ladder `install` registered.
    pub fn attach(&self, runner: TranscodeRunnerHandle, ladder: Vec<(u64, String)>) {
        *lock(&self.registered) = ladder.clone();
        *lock(&self.runner) = Some(runner);
        self.shared.record(LvqrEvent::Ladder { instances: ladder });
    }

    /// From the plan (outside the host): an edit arrives.
    pub fn submit(&self, op: AdminOp, window: Duration) {
        let _ = self.tx.send((op, window));
    }

    /// The admin worker on the `lvqr` host: each edit is pending until a
    /// build lands it or its window ends.
    pub async fn serve(self: Arc<Self>) {
        let Some(mut rx) = lock(&self.rx).take() else {
            return;
        };
        while let Some((op, window)) = rx.recv().await {
            let id = {
                let mut n = lock(&self.next_edit);
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

    /// Called from a factory build: when edits race publishes and this
    /// build runs inside the entry-created callback of its own key, every
    /// pending edit runs now, in arrival order.
    pub(crate) fn preempt(&self, ctx: &TranscoderContext, instance: u64) {
        if !self.races_publishes || !self.shared.in_callback_of(&ctx.broadcast, &ctx.track) {
            return;
        }
        let ops: Vec<AdminOp> = lock(&self.pending).drain(..).map(|(_, op)| op).collect();
        for op in ops {
            let during = format!("{}#{instance}:{}", ctx.rendition.name, ctx.broadcast);
            self.apply(op, Some(during));
        }
    }

    fn apply(&self, op: AdminOp, during: Option<String>) {
        let Some(runner) = lock(&self.runner).clone() else {
            return;
        };
        self.shared.set_applying(true);
        let stamp = self.shared.tick();
        self.shared.bump_ladder();
        match op {
            AdminOp::Add(spec, kind) => {
                let rendition = spec.name.clone();
                // A refused add (the same factory and rendition are
                // registered) still used up its instance number.
                let factory = self.factory(spec, kind);
                let instance = factory.instance();
                let accepted = runner.add_rendition(Arc::new(factory));
                if accepted {
                    lock(&self.registered).push((instance, rendition.clone()));
                }
                self.shared.record(LvqrEvent::Apply {
                    op: "add",
                    rendition,
                    instances: if accepted { vec![instance] } else { vec![] },
                    crate_said: usize::from(accepted),
                    stamp,
                    during,
                });
            }
            AdminOp::Remove(rendition) => {
                let instances: Vec<u64> = {
                    let mut reg = lock(&self.registered);
                    let gone = reg
                        .iter()
                        .filter(|(_, r)| *r == rendition)
                        .map(|(i, _)| *i)
                        .collect();
                    reg.retain(|(_, r)| *r != rendition);
                    gone
                };
                let aborted = runner.remove_rendition(&rendition);
                self.shared.record(LvqrEvent::Apply {
                    op: "remove",
                    rendition,
                    instances,
                    crate_said: aborted,
                    stamp,
                    during,
                });
            }
        }
        self.shared.set_applying(false);
    }

    /// `(instance, rendition)` of every factory registered now.
    pub fn registered(&self) -> Vec<(u64, String)> {
        lock(&self.registered).clone()
    }
}
