//! One publish attempt ([`Publisher`]) and the loop that runs attempts
//! until the pipeline ends or a signal arrives ([`run_publisher`]).
//!
//! Owns the start group (room side and pipeline side as two spawned tasks;
//! the first failure cancels the other), the main loop (bus and room
//! watch, entered only once `start` returned, as upstream's `loop.Run()`
//! after `g.Wait()`), and `stop`: idempotent, safe from any number of
//! concurrent callers (the signal task and the main loop), which cancels
//! what still starts, sets the pipeline to NULL and leaves the room, once.
//! It never runs a teardown step twice and never returns from `stop` before
//! the teardown finished.

use crate::event::Emitter;
use crate::net::Net;
use crate::session::publisher::event::PublisherEvent;
use crate::session::publisher::latch::{EosCallback, Registration};
use crate::session::publisher::pipeline::{BusMessage, Pipeline, PipelineControl, PublisherTrack};
use crate::session::publisher::signal::{Room, RoomTarget};
use crate::session::publisher::{
    Side, StopReason, TrackKind, LEAVE_TIMEOUT, RETRY_BACKOFF, RPC_TIMEOUT,
};
use crate::BugSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch, OnceCell};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

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
    /// Cancelled by `stop`: ends what still starts and the main loop.
    cancel: CancellationToken,
    stop_claimed: AtomicBool,
    stopped: OnceCell<()>,
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
            cancel: CancellationToken::new(),
            stop_claimed: AtomicBool::new(false),
            stopped: OnceCell::new(),
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
        self.stopped.initialized()
    }

    /// Joins the room and publishes every track, in parallel with the
    /// pipeline's move to PLAYING. The first failure cancels the other side;
    /// both sides have ended when this returns.
    pub async fn start(self: &Arc<Self>) -> Result<(), StartError> {
        let group_cancel = self.cancel.child_token();
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
        if self.cancel.is_cancelled() {
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
        let taken = self.bus.lock().unwrap_or_else(|p| p.into_inner()).take();
        let mut bus = taken?;
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => None,
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
        if self.stop_claimed.swap(true, Ordering::AcqRel) {
            self.emitter
                .emit(PublisherEvent::StopJoined { attempt, reason });
        } else {
            self.emitter
                .emit(PublisherEvent::StopBegin { attempt, reason });
        }
        self.stopped.get_or_init(|| self.teardown()).await;
    }

    /// Waits for a stop some other caller started (runs it if that caller
    /// went away).
    pub async fn wait_stopped(&self) {
        self.stopped.get_or_init(|| self.teardown()).await;
    }

    async fn teardown(&self) {
        let attempt = self.attempt;
        self.cancel.cancel();
        let streaming = self.pipeline.set_null();
        self.emitter
            .emit(PublisherEvent::PipelineNull { attempt, streaming });
        // Queued behind every unpublish an EOS callback already queued.
        let acked = match tokio::time::timeout(self.leave_bound, self.room.leave()).await {
            Ok(acked) => acked,
            Err(_) => {
                self.emitter.deadline_fired("publisher.stop.leave");
                false
            }
        };
        if let Some(task) = self
            .room_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
        self.emitter
            .emit(PublisherEvent::RoomLeft { attempt, acked });
        self.emitter.emit(PublisherEvent::StopDone { attempt });
    }
}

/// What the world sees of a running publisher: the signal, and the current
/// attempt for final checks. Cheap to clone; create it outside the host.
#[derive(Clone)]
pub struct PublisherHandle {
    inner: Arc<HandleInner>,
}

struct HandleInner {
    signal: watch::Sender<bool>,
    current: Mutex<Option<Arc<Publisher>>>,
    attempts: AtomicU64,
    finished: AtomicBool,
}

impl Default for PublisherHandle {
    fn default() -> Self {
        PublisherHandle::new()
    }
}

impl PublisherHandle {
    pub fn new() -> PublisherHandle {
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

    pub fn attempts(&self) -> u64 {
        self.inner.attempts.load(Ordering::Acquire)
    }

    /// The attempt loop returned (pipeline ended, or signalled).
    pub fn finished(&self) -> bool {
        self.inner.finished.load(Ordering::Acquire)
    }

    /// The latest attempt.
    pub fn current(&self) -> Option<Arc<Publisher>> {
        self.inner
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_current(&self, p: Arc<Publisher>) {
        *self.inner.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(p);
    }

    fn signalled(&self) -> bool {
        *self.inner.signal.borrow()
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
        let mut rx = handle.inner.signal.subscribe();
        crate::rt::spawn(async move {
            if rx.wait_for(|s| *s).await.is_err() {
                return;
            }
            emitter.emit(PublisherEvent::Signal);
            if let Some(p) = handle.current() {
                p.stop(StopReason::Signal).await;
            }
        })
    };
    let mut signal = handle.inner.signal.subscribe();
    for attempt in 1.. {
        // Checked and acted on with no await in between, so the signal task
        // either sees this attempt as current or we see the signal here.
        if handle.signalled() {
            break;
        }
        emitter.emit(PublisherEvent::AttemptStart { attempt });
        let p = Publisher::new(net.clone(), &cfg, attempt, &control, emitter.clone());
        handle.set_current(p.clone());
        handle.inner.attempts.store(attempt, Ordering::Release);
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
            _ = signal.wait_for(|s| *s) => break,
            _ = tokio::time::sleep(cfg.retry_backoff) => {}
        }
    }
    // The signal handler may be mid-stop of the last attempt; let it finish.
    if handle.signalled() {
        let _ = signal_task.await;
    } else {
        signal_task.abort();
    }
    handle.inner.finished.store(true, Ordering::Release);
}
