//! One publish attempt ([`Publisher`]), the loop that runs attempts until
//! the pipeline ends or a signal arrives ([`run_publisher`]) and the
//! world's handle on it ([`PublisherHandle`]).
//!
//! Owns the start group (room side and pipeline side as two spawned tasks;
//! the first failure cancels the other), the main loop (bus and room
//! watch, entered only once `start` returned, as upstream's `loop.Run()`
//! after `g.Wait()`), the teardown (pipeline to NULL, leave the room within
//! its bound, abort the room task) and the attempt loop. Its shared state
//! comes from [`crate::sync`] (the room task and bus take-once slots, the
//! handle's current attempt and counters) and tokio's async primitives.
//!
//! # Contract
//!
//! `stop` is idempotent and safe from any number of concurrent callers (the
//! signal task, the main loop, a second signal), through
//! [`StopOnce`] (`stop.rs`, modelled by `core/tests/shuttle/stop_once.rs`):
//!
//! 1. exactly one caller claims the stop (traces `StopBegin`); every other
//!    traces `StopJoined`;
//! 2. the attempt's token is cancelled before any teardown step, so what
//!    still starts ends (as `StartError::Stopped`) and the main loop
//!    returns;
//! 3. the teardown runs once, each step at most once;
//! 4. no caller returns from `stop` or `wait_stopped` before the teardown
//!    finished, including callers that lost the claim.
//!
//! [`PublisherHandle`] (modelled by `core/tests/shuttle/publisher_handle.rs`):
//!
//! 5. a signal is never lost: the attempt loop makes an attempt current
//!    only if no signal came, checked under the lock the signal task reads
//!    the current attempt under, so either the signal task stops the
//!    attempt or the loop refuses it (and stops it itself);
//! 6. an attempt is current and counted together: `attempts() >= n` once
//!    attempt `n` was seen current; the signal, the attempt count, the
//!    current attempt and `finished` only move forward.
//!
//! It must never run a teardown step twice, return from a stop before the
//! teardown finished, or start an attempt the signal task cannot see.

use crate::event::Emitter;
use crate::net::Net;
use crate::session::publisher::event::PublisherEvent;
use crate::session::publisher::latch::{EosCallback, Registration};
use crate::session::publisher::pipeline::{BusMessage, Pipeline, PipelineControl, PublisherTrack};
use crate::session::publisher::signal::{Room, RoomTarget};
use crate::session::publisher::stop::{Claim, StopOnce};
use crate::session::publisher::{
    Side, StopReason, TrackKind, LEAVE_TIMEOUT, RETRY_BACKOFF, RPC_TIMEOUT,
};
use crate::sync::{lock, AtomicBool, AtomicU64, Mutex, Ordering};
use crate::BugSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

/// How the publisher is set up.
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// The room's signalling endpoint, `host:port`.
    pub livekit: String,
    pub room: String,
    pub identity: String,
    /// Tracks in publish order.
    pub tracks: Vec<TrackKind>,
    pub rpc_timeout: Duration,
    pub leave_timeout: Duration,
    pub retry_backoff: Duration,
    pub bugs: BugSet,
}

impl PublisherConfig {
    pub fn new(livekit: &str, room: &str) -> PublisherConfig {
        PublisherConfig {
            livekit: livekit.to_string(),
            room: room.to_string(),
            identity: "gst-publisher".into(),
            tracks: TrackKind::ALL.to_vec(),
            rpc_timeout: RPC_TIMEOUT,
            leave_timeout: LEAVE_TIMEOUT,
            retry_backoff: RETRY_BACKOFF,
            bugs: BugSet::NONE,
        }
    }
}

#[derive(Debug)]
enum SideError {
    Failed(String),
    Cancelled,
}

/// Why `start` did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    /// A side failed (the first failure).
    Failed { side: Side, error: String },
    /// `stop` was called while starting.
    Stopped,
}

/// One publish attempt: a room session and a pipeline (upstream: one
/// `Publisher`).
pub struct Publisher {
    attempt: u64,
    tracks: Vec<Arc<PublisherTrack>>,
    pipeline: Arc<Pipeline>,
    room: Room,
    room_task: Mutex<Option<JoinHandle<()>>>,
    bus: Mutex<Option<mpsc::UnboundedReceiver<BusMessage>>>,
    /// The claim, the token `stop` cancels first (it ends what still
    /// starts and the main loop) and the once-only teardown.
    stop: StopOnce,
    leave_bound: Duration,
    emitter: Emitter,
}

impl Publisher {
    pub fn new<N: Net>(
        net: N,
        cfg: &PublisherConfig,
        attempt: u64,
        control: &PipelineControl,
        emitter: Emitter,
    ) -> Arc<Publisher> {
        let tracks: Vec<_> = cfg
            .tracks
            .iter()
            .map(|k| PublisherTrack::new(*k, cfg.bugs))
            .collect();
        let (bus_tx, bus_rx) = mpsc::unbounded_channel();
        let pipeline = Pipeline::new(
            attempt,
            tracks.clone(),
            control.draw(),
            bus_tx,
            emitter.clone(),
        );
        let (room, room_task) = Room::spawn(
            net,
            RoomTarget {
                addr: cfg.livekit.clone(),
                room: cfg.room.clone(),
                identity: cfg.identity.clone(),
                attempt,
                rpc_timeout: cfg.rpc_timeout,
                leave_timeout: cfg.leave_timeout,
            },
            emitter.clone(),
        );
        Arc::new(Publisher {
            attempt,
            tracks,
            pipeline,
            room,
            room_task: Mutex::new(Some(room_task)),
            bus: Mutex::new(Some(bus_rx)),
            stop: StopOnce::new(),
            // A leave may queue behind one RPC in flight.
            leave_bound: cfg.rpc_timeout + cfg.leave_timeout,
            emitter,
        })
    }

    pub fn attempt(&self) -> u64 {
        self.attempt
    }

    pub fn tracks(&self) -> &[Arc<PublisherTrack>] {
        &self.tracks
    }

    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    /// Has the teardown finished?
    pub fn is_stopped(&self) -> bool {
        self.stop.is_stopped()
    }

    /// Joins the room and publishes every track, in parallel with the
    /// pipeline's move to PLAYING. The first failure cancels the other side;
    /// both sides have ended when this returns.
    pub async fn start(self: &Arc<Self>) -> Result<(), StartError> {
        let group_cancel = self.stop.token().child_token();
        let mut group = JoinSet::new();
        for side in [Side::Room, Side::Pipeline] {
            let (me, cancel) = (self.clone(), group_cancel.clone());
            crate::rt::adopt(group.spawn(async move {
                let result = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => Err(SideError::Cancelled),
                    r = me.run_side(side) => r.map_err(SideError::Failed),
                };
                (side, result)
            }));
        }
        let mut first: Option<(Side, String)> = None;
        while let Some(joined) = group.join_next().await {
            let (side, result) = match joined {
                Ok(v) => v,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => continue,
            };
            match result {
                Ok(()) => {}
                Err(SideError::Cancelled) => self.emitter.emit(PublisherEvent::StartCancelled {
                    attempt: self.attempt,
                    side,
                }),
                Err(SideError::Failed(error)) => {
                    self.emitter.emit(PublisherEvent::StartFailed {
                        attempt: self.attempt,
                        side,
                        error: error.clone(),
                    });
                    if first.is_none() {
                        first = Some((side, error));
                        group_cancel.cancel();
                    }
                }
            }
        }
        if self.stop.token().is_cancelled() {
            return Err(StartError::Stopped);
        }
        match first {
            Some((side, error)) => Err(StartError::Failed { side, error }),
            None => {
                self.emitter.emit(PublisherEvent::Started {
                    attempt: self.attempt,
                });
                Ok(())
            }
        }
    }

    async fn run_side(&self, side: Side) -> Result<(), String> {
        match side {
            Side::Room => self.join_and_publish().await,
            Side::Pipeline => self.pipeline.start().await.map_err(|e| e.to_string()),
        }
    }

    /// Upstream goroutine 1: join, then per track publish, bind, register the
    /// EOS callback.
    async fn join_and_publish(&self) -> Result<(), String> {
        self.room.join().await.map_err(|e| e.to_string())?;
        self.emitter.emit(PublisherEvent::RoomJoined {
            attempt: self.attempt,
        });
        for track in &self.tracks {
            let sid = self
                .room
                .publish(track.kind)
                .await
                .map_err(|e| e.to_string())?;
            if self.emitter.fault_point("publisher.publish.answer-lost") {
                // The room published the track, but its answer never
                // reached us: the start fails with the track still in the
                // room, and the stop's leave must take it away.
                return Err(format!("publish answer for {} lost", track.kind));
            }
            track.bind(sid.clone());
            self.emitter.emit(PublisherEvent::TrackPublished {
                attempt: self.attempt,
                track: track.kind,
                sid: sid.clone(),
            });
            let registration = track
                .latch
                .register(self.unpublish_callback(track.kind, sid));
            self.emitter.emit(PublisherEvent::EosRegistered {
                attempt: self.attempt,
                track: track.kind,
                after_eos: registration == Registration::RanNow,
            });
        }
        Ok(())
    }

    /// The track's EOS callback: queue its unpublish on the room.
    fn unpublish_callback(&self, track: TrackKind, sid: String) -> EosCallback {
        let room = self.room.clone();
        let emitter = self.emitter.clone();
        let attempt = self.attempt;
        Box::new(move || {
            emitter.emit(PublisherEvent::Unpublish {
                attempt,
                track,
                sid: sid.clone(),
            });
            room.unpublish(sid);
        })
    }

    /// The main loop after a successful start: returns why the attempt must
    /// stop, or `None` when another caller is already stopping it.
    pub async fn main_loop(&self) -> Option<StopReason> {
        let taken = lock(&self.bus).take();
        let mut bus = taken?;
        tokio::select! {
            biased;
            _ = self.stop.token().cancelled() => None,
            msg = bus.recv() => match msg {
                Some(BusMessage::Eos) => {
                    self.emitter.emit(PublisherEvent::PipelineEos { attempt: self.attempt });
                    Some(StopReason::PipelineEos)
                }
                None => None,
            },
            _ = self.room.lost() => {
                self.emitter.emit(PublisherEvent::RoomLost { attempt: self.attempt });
                Some(StopReason::RoomLost)
            }
        }
    }

    /// Stops the attempt. Idempotent and safe from concurrent callers: the
    /// first runs the teardown, every other waits for it; all return once
    /// it finished.
    pub async fn stop(&self, reason: StopReason) {
        let attempt = self.attempt;
        match self.stop.claim() {
            Claim::Joined => self
                .emitter
                .emit(PublisherEvent::StopJoined { attempt, reason }),
            Claim::First => self
                .emitter
                .emit(PublisherEvent::StopBegin { attempt, reason }),
        }
        self.stop.finish(|| self.teardown()).await;
    }

    /// Waits for a stop some other caller started (runs its teardown if
    /// that caller has not got to it yet).
    pub async fn wait_stopped(&self) {
        self.stop.finish(|| self.teardown()).await;
    }

    /// Runs inside [`StopOnce::finish`], once, after the token was
    /// cancelled.
    async fn teardown(&self) {
        let attempt = self.attempt;
        let streaming = self.pipeline.set_null();
        self.emitter
            .emit(PublisherEvent::PipelineNull { attempt, streaming });
        // Queued behind every unpublish an EOS callback already queued.
        let acked = match crate::rt::timeout(self.leave_bound, self.room.leave()).await {
            Ok(acked) => acked,
            Err(_) => {
                self.emitter.deadline_fired("publisher.stop.leave");
                false
            }
        };
        let task = lock(&self.room_task).take();
        if let Some(task) = task {
            task.abort();
        }
        self.emitter
            .emit(PublisherEvent::RoomLeft { attempt, acked });
        self.emitter.emit(PublisherEvent::StopDone { attempt });
    }
}

/// What the world sees of a running publisher: the signal, and the current
/// attempt for final checks; and the attempt loop's side of the same state.
/// Cheap to clone; create it outside the host.
///
/// Generic over the attempt so that its model
/// (`core/tests/shuttle/publisher_handle.rs`) can run it without a room;
/// production uses the default, [`Publisher`].
///
/// Contract, for any number of threads calling any operation:
///
/// 1. the signal never goes back: once [`PublisherHandle::signal`]
///    returned, [`PublisherHandle::signalled`] is true and
///    [`PublisherHandle::wait_signal`] resolves at once;
/// 2. [`PublisherHandle::begin_attempt`] refuses an attempt once the signal
///    came (it checks the signal under the lock it makes the attempt
///    current under), so whoever acts on the signal and then reads
///    [`PublisherHandle::current`] sees every attempt that was ever
///    accepted: a signal is never lost between an attempt's check and its
///    start;
/// 3. an accepted attempt is current and counted together: a reader that
///    sees attempt `n` as current then reads `attempts() >= n`; attempts
///    and the current attempt only move forward;
/// 4. [`PublisherHandle::finished`] never goes back.
pub struct PublisherHandle<P = Publisher> {
    inner: Arc<HandleInner<P>>,
}

struct HandleInner<P> {
    signal: watch::Sender<bool>,
    current: Mutex<Option<Arc<P>>>,
    attempts: AtomicU64,
    finished: AtomicBool,
}

impl<P> Clone for PublisherHandle<P> {
    fn clone(&self) -> Self {
        PublisherHandle {
            inner: self.inner.clone(),
        }
    }
}

impl<P> Default for PublisherHandle<P> {
    fn default() -> Self {
        PublisherHandle::new()
    }
}

impl<P> PublisherHandle<P> {
    pub fn new() -> PublisherHandle<P> {
        let (signal, _) = watch::channel(false);
        PublisherHandle {
            inner: Arc::new(HandleInner {
                signal,
                current: Mutex::new(None),
                attempts: AtomicU64::new(0),
                finished: AtomicBool::new(false),
            }),
        }
    }

    /// SIGINT / SIGTERM.
    pub fn signal(&self) {
        self.inner.signal.send_replace(true);
    }

    /// Has the signal come?
    pub fn signalled(&self) -> bool {
        *self.inner.signal.borrow()
    }

    /// Resolves once the signal came (at once if it already did).
    pub async fn wait_signal(&self) {
        let mut rx = self.inner.signal.subscribe();
        // The sender lives as long as `self`: this only returns signalled.
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Attempts begun so far (the number of the latest).
    pub fn attempts(&self) -> u64 {
        self.inner.attempts.load(Ordering::Acquire)
    }

    /// The attempt loop returned (pipeline ended, or signalled).
    pub fn finished(&self) -> bool {
        self.inner.finished.load(Ordering::Acquire)
    }

    /// The latest attempt.
    pub fn current(&self) -> Option<Arc<P>> {
        lock(&self.inner.current).clone()
    }

    /// The attempt loop: makes `p` (attempt number `attempt`) the current
    /// attempt and counts it, unless the signal already came; false then,
    /// and the caller must stop `p` itself (nobody else will see it).
    pub fn begin_attempt(&self, attempt: u64, p: Arc<P>) -> bool {
        let mut current = lock(&self.inner.current);
        if self.signalled() {
            return false;
        }
        *current = Some(p);
        self.inner.attempts.store(attempt, Ordering::Release);
        true
    }

    /// The attempt loop returned.
    pub fn finish(&self) {
        self.inner.finished.store(true, Ordering::Release);
    }
}

/// Runs attempts until one ends with the pipeline's EOS or a signal
/// arrives; a failed start (or a lost room) is retried after the backoff.
pub async fn run_publisher<N: Net>(
    net: N,
    cfg: PublisherConfig,
    control: Arc<PipelineControl>,
    handle: PublisherHandle,
    emitter: Emitter,
) {
    // The signal handler: stops whatever attempt is current when it fires.
    let signal_task = {
        let (handle, emitter) = (handle.clone(), emitter.clone());
        crate::rt::spawn(async move {
            handle.wait_signal().await;
            emitter.emit(PublisherEvent::Signal);
            if let Some(p) = handle.current() {
                p.stop(StopReason::Signal).await;
            }
        })
    };
    for attempt in 1.. {
        if handle.signalled() {
            break;
        }
        emitter.emit(PublisherEvent::AttemptStart { attempt });
        let p = Publisher::new(net.clone(), &cfg, attempt, &control, emitter.clone());
        // Refused if the signal came since the check above (only on a
        // multi-threaded runtime: on one thread nothing ran in between).
        // The signal task then stopped the previous attempt, not this one.
        if !handle.begin_attempt(attempt, p.clone()) {
            p.stop(StopReason::Signal).await;
            break;
        }
        let reason = match p.start().await {
            Ok(()) => p.main_loop().await,
            Err(StartError::Failed { .. }) => Some(StopReason::StartFailed),
            Err(StartError::Stopped) => None,
        };
        match reason {
            Some(r) => p.stop(r).await,
            None => p.wait_stopped().await,
        }
        if reason == Some(StopReason::PipelineEos) || handle.signalled() {
            break;
        }
        tokio::select! {
            biased;
            _ = handle.wait_signal() => break,
            _ = crate::rt::sleep(cfg.retry_backoff) => {}
        }
    }
    // The signal handler may be mid-stop of the last attempt; let it finish.
    if handle.signalled() {
        let _ = signal_task.await;
    } else {
        signal_task.abort();
    }
    handle.finish();
}
