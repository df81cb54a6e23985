//! The simulated pipeline: what the GStreamer pipeline does for the
//! publisher, on a schedule the scenario draws.
//!
//! Owns [`PipelineControl`] (the knobs a scenario sets: start latency and
//! failure rate, when each track's source ends), [`PublisherTrack`] (one
//! appsink + local track: its EOS latch, its publication, its sample
//! counters) and [`Pipeline`] (one attempt's pipeline: the move to PLAYING,
//! one streaming task per track writing samples and firing EOS, the bus's
//! pipeline-EOS once every track ended, and the move to NULL). It never
//! touches the room: EOS reaches the room only through the track's latch.
//!
//! As upstream (§4.4), a sample written before the track is published is
//! dropped silently; the counters show how many.
//!
//! Shared state comes from [`crate::sync`]. Contract, for any number of
//! concurrent callers (modelled by `core/tests/shuttle/pipeline_control.rs`
//! and `publisher_track.rs`):
//!
//! 1. [`PipelineControl`]: the script and the random stream are one state
//!    under one lock; every call is atomic, so a draw or a snapshot never
//!    sees half of an edit, and the draws are exactly what the same calls
//!    made one at a time would return ([`PipelineScript`]'s own
//!    operations), in some order that respects real time: deterministic
//!    given the order. `heal` restores the healthy start and keeps the
//!    sources' schedule.
//! 2. [`PublisherTrack`]: the publication is set once (the first `bind`
//!    wins, later ones are refused); a sample is counted as sent or
//!    dropped under the publication's lock, so a sample written after a
//!    `bind` returned is sent, one written before any `bind` began is
//!    dropped, sent + dropped is every sample written, and once a reader
//!    sees the track bound no sample is dropped any more.
//!
//! 3. [`PipelinePhase`] (the pipeline's own state: phase, streaming tasks,
//!    ended count, one lock; modelled by `core/tests/shuttle/pipeline_phase.rs`):
//!    NULL is terminal: a `play` that begins after `set_null` returned is
//!    refused and spawns nothing, and `set_null` aborts every streaming task
//!    `play` spawned, exactly once; the pipeline EOS is posted at most once,
//!    only when every track ended while PLAYING, and never by a track that
//!    ends after `set_null` returned.

use crate::entropy::SimRng;
use crate::event::Emitter;
use crate::session::publisher::event::PublisherEvent;
use crate::session::publisher::latch::EosLatch;
use crate::session::publisher::TrackKind;
use crate::sync::{lock, AtomicU64, Mutex, MutexGuard, Ordering};
use crate::BugSet;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Start latency once healed.
pub const HEALTHY_START_MS: (u64, u64) = (10, 100);

/// What a scenario sets about the pipeline. Plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineScript {
    /// The move to PLAYING takes a time drawn from this range.
    pub start_ms: (u64, u64),
    /// Percentage of attempts whose move to PLAYING fails.
    pub start_fail_percent: u8,
    /// Each track's source ends this long after PLAYING (absent: never).
    pub eos_after: BTreeMap<TrackKind, Duration>,
}

impl Default for PipelineScript {
    fn default() -> Self {
        PipelineScript {
            start_ms: HEALTHY_START_MS,
            start_fail_percent: 0,
            eos_after: BTreeMap::new(),
        }
    }
}

impl PipelineScript {
    /// The move to PLAYING takes `min_ms..=max_ms` (a `max_ms` below
    /// `min_ms` is `min_ms`) and fails `fail_percent`% of the time (at most
    /// 100).
    pub fn set_start(&mut self, min_ms: u64, max_ms: u64, fail_percent: u8) {
        self.start_ms = (min_ms, max_ms.max(min_ms));
        self.start_fail_percent = fail_percent.min(100);
    }

    /// `track`'s source ends `after` PLAYING (`None`: never).
    pub fn set_eos(&mut self, track: TrackKind, after: Option<Duration>) {
        match after {
            Some(d) => self.eos_after.insert(track, d),
            None => self.eos_after.remove(&track),
        };
    }

    /// Faults stop: starts succeed with a healthy latency. The sources'
    /// schedule is workload, not a fault, and stays.
    pub fn heal(&mut self) {
        self.start_ms = HEALTHY_START_MS;
        self.start_fail_percent = 0;
    }

    /// One attempt's draw from this script, from `rng`'s next values.
    pub fn draw(&self, rng: &mut SimRng) -> AttemptDraw {
        let start_latency = Duration::from_millis(rng.range(self.start_ms.0, self.start_ms.1));
        let start_fails = rng.chance(f64::from(self.start_fail_percent) / 100.0);
        AttemptDraw {
            start_latency,
            start_fails,
            eos_after: self.eos_after.clone(),
        }
    }
}

/// One attempt's draw from the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptDraw {
    pub start_latency: Duration,
    pub start_fails: bool,
    pub eos_after: BTreeMap<TrackKind, Duration>,
}

/// The scenario's handle on the pipeline's behaviour, shared with the
/// publisher host: the world edits the script, each attempt draws from it.
/// Draws come from `SimRng::fork(seed, "pipeline")`.
///
/// Contract, for any number of threads calling any operation (modelled by
/// `core/tests/shuttle/pipeline_control.rs`):
///
/// 1. every operation is atomic: the script and the random stream are one
///    state under one lock, so a draw or a snapshot sees a whole script
///    (never half of a `set_start`), and a draw reads the script and takes
///    its random values in one step;
/// 2. hence the outcome is deterministic given the order: the draws and
///    snapshots returned are exactly what [`PipelineScript`]'s own
///    operations return when the same calls run one at a time, in an
///    order that keeps every call that returned before another began
///    first;
/// 3. `heal` restores the healthy start and keeps the sources' schedule.
#[derive(Debug)]
pub struct PipelineControl {
    state: Mutex<ControlState>,
}

#[derive(Debug)]
struct ControlState {
    script: PipelineScript,
    rng: SimRng,
}

impl PipelineControl {
    pub fn new(seed: u64) -> Arc<PipelineControl> {
        Arc::new(PipelineControl {
            state: Mutex::new(ControlState {
                script: PipelineScript::default(),
                rng: SimRng::fork(seed, "pipeline"),
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, ControlState> {
        lock(&self.state)
    }

    /// See [`PipelineScript::set_start`].
    pub fn set_start(&self, min_ms: u64, max_ms: u64, fail_percent: u8) {
        self.state().script.set_start(min_ms, max_ms, fail_percent);
    }

    /// `track`'s source ends `after` PLAYING (`None`: never).
    pub fn set_eos(&self, track: TrackKind, after: Option<Duration>) {
        self.state().script.set_eos(track, after);
    }

    /// Faults stop: starts succeed with a healthy latency. The sources'
    /// schedule is workload, not a fault, and stays.
    pub fn heal(&self) {
        self.state().script.heal();
    }

    pub fn snapshot(&self) -> PipelineScript {
        self.state().script.clone()
    }

    /// Draws one attempt's start latency and outcome.
    pub fn draw(&self) -> AttemptDraw {
        let mut st = self.state();
        let ControlState { script, rng } = &mut *st;
        script.draw(rng)
    }
}

/// One track: appsink + local track (upstream `publisherTrack`).
#[derive(Debug)]
pub struct PublisherTrack {
    pub kind: TrackKind,
    pub latch: EosLatch,
    /// Set once, by [`PublisherTrack::bind`]. A sample's check of it and
    /// its count happen under this lock.
    publication: Mutex<Option<String>>,
    sent: AtomicU64,
    dropped: AtomicU64,
}

impl PublisherTrack {
    pub fn new(kind: TrackKind, bugs: BugSet) -> Arc<PublisherTrack> {
        Arc::new(PublisherTrack {
            kind,
            latch: EosLatch::new(bugs),
            publication: Mutex::new(None),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    /// The track is published as `sid`: samples go out from now on. The
    /// publication is set once: true if this call set it, false (and `sid`
    /// ignored) if the track was already bound.
    pub fn bind(&self, sid: String) -> bool {
        let mut publication = lock(&self.publication);
        if publication.is_some() {
            return false;
        }
        *publication = Some(sid);
        true
    }

    pub fn sid(&self) -> Option<String> {
        lock(&self.publication).clone()
    }

    /// One sample from the appsink: sent if bound, else dropped silently.
    /// True if sent. Counted under the publication's lock, so once a
    /// reader sees the track bound no sample is dropped any more.
    pub fn write_sample(&self) -> bool {
        let publication = lock(&self.publication);
        let counter = if publication.is_some() {
            &self.sent
        } else {
            &self.dropped
        };
        counter.fetch_add(1, Ordering::Relaxed);
        publication.is_some()
    }

    pub fn samples_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    pub fn samples_dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A message on the pipeline's bus, read by the main loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusMessage {
    /// Every sink received EOS.
    Eos,
}

/// Why the move to PLAYING failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineError {
    StateChangeFailed,
    /// The pipeline was set to NULL first.
    Stopped,
}

impl std::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PipelineError::StateChangeFailed => "state change to PLAYING failed",
            PipelineError::Stopped => "pipeline stopped",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Null,
    Playing,
    /// Set to NULL by `stop`: terminal, a late start must not revive it.
    Stopped,
}

/// A task the pipeline started: what [`PipelinePhase`] needs of it.
pub trait StreamingTask {
    fn is_finished(&self) -> bool;
    fn abort(&self);
}

impl<T> StreamingTask for JoinHandle<T> {
    fn is_finished(&self) -> bool {
        JoinHandle::is_finished(self)
    }
    fn abort(&self) {
        JoinHandle::abort(self);
    }
}

#[derive(Debug)]
struct PhaseState<H> {
    phase: Phase,
    streaming: Vec<H>,
    ended: usize,
}

/// The pipeline's own state: its phase, its streaming tasks and how many
/// tracks ended, under one lock (contract 3 in the module doc). Generic
/// over the task handle so that the shuttle model runs it without tokio.
#[derive(Debug)]
pub struct PipelinePhase<H = JoinHandle<()>> {
    tracks: usize,
    state: Mutex<PhaseState<H>>,
}

impl<H: StreamingTask> PipelinePhase<H> {
    /// A pipeline of `tracks` tracks, in NULL.
    pub fn new(tracks: usize) -> PipelinePhase<H> {
        PipelinePhase {
            tracks,
            state: Mutex::new(PhaseState {
                phase: Phase::Null,
                streaming: Vec::new(),
                ended: 0,
            }),
        }
    }

    /// Moves to PLAYING and starts the streaming tasks (`spawn`, called
    /// under the lock, so a concurrent `set_null` sees all of them or
    /// none); refused with `Stopped`, `spawn` not called, once NULL was set.
    pub fn play(&self, spawn: impl FnOnce() -> Vec<H>) -> Result<(), PipelineError> {
        let mut st = lock(&self.state);
        if st.phase == Phase::Stopped {
            return Err(PipelineError::Stopped);
        }
        st.phase = Phase::Playing;
        let tasks = spawn();
        st.streaming.extend(tasks);
        Ok(())
    }

    /// A track's streaming task ended (its EOS fired). True exactly for the
    /// call that ends the last track while PLAYING: that caller posts the
    /// pipeline EOS.
    pub fn track_ended(&self) -> bool {
        let mut st = lock(&self.state);
        st.ended += 1;
        st.ended == self.tracks && st.phase == Phase::Playing
    }

    /// Moves to NULL (terminal) and aborts every streaming task. Returns how
    /// many were still running.
    pub fn set_null(&self) -> usize {
        let tasks = {
            let mut st = lock(&self.state);
            st.phase = Phase::Stopped;
            std::mem::take(&mut st.streaming)
        };
        let mut running = 0;
        for t in tasks {
            if !t.is_finished() {
                running += 1;
            }
            t.abort();
        }
        running
    }

    /// Streaming tasks still alive (0 after NULL).
    pub fn streaming_alive(&self) -> usize {
        lock(&self.state)
            .streaming
            .iter()
            .filter(|t| !t.is_finished())
            .count()
    }

    /// Has `set_null` begun?
    pub fn is_stopped(&self) -> bool {
        lock(&self.state).phase == Phase::Stopped
    }
}

/// One attempt's pipeline.
#[derive(Debug)]
pub struct Pipeline {
    attempt: u64,
    tracks: Vec<Arc<PublisherTrack>>,
    draw: AttemptDraw,
    phase: PipelinePhase,
    bus: mpsc::UnboundedSender<BusMessage>,
    emitter: Emitter,
}

impl Pipeline {
    pub fn new(
        attempt: u64,
        tracks: Vec<Arc<PublisherTrack>>,
        draw: AttemptDraw,
        bus: mpsc::UnboundedSender<BusMessage>,
        emitter: Emitter,
    ) -> Arc<Pipeline> {
        Arc::new(Pipeline {
            attempt,
            phase: PipelinePhase::new(tracks.len()),
            tracks,
            draw,
            bus,
            emitter,
        })
    }

    /// Moves to PLAYING: waits the drawn latency, then starts one streaming
    /// task per track. Cancel it by dropping the future (before PLAYING
    /// nothing was spawned) or by [`Pipeline::set_null`].
    pub async fn start(self: &Arc<Self>) -> Result<(), PipelineError> {
        tokio::time::sleep(self.draw.start_latency).await;
        if self.draw.start_fails {
            return Err(PipelineError::StateChangeFailed);
        }
        self.phase.play(|| {
            self.tracks
                .iter()
                .map(|track| {
                    let eos_after = self.draw.eos_after.get(&track.kind).copied();
                    crate::rt::spawn(self.clone().stream(track.clone(), eos_after))
                })
                .collect()
        })?;
        self.emitter.emit(PublisherEvent::PipelinePlaying {
            attempt: self.attempt,
        });
        Ok(())
    }

    /// One streaming task: samples at the track's rate until its source
    /// ends, then EOS into the appsink.
    async fn stream(self: Arc<Self>, track: Arc<PublisherTrack>, eos_after: Option<Duration>) {
        let eos = async {
            match eos_after {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(eos);
        let mut samples = tokio::time::interval(track.kind.sample_interval());
        samples.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = &mut eos => break,
                _ = samples.tick() => {
                    track.write_sample();
                }
            }
        }
        let firing = track.latch.fire();
        self.emitter.emit(PublisherEvent::TrackEos {
            attempt: self.attempt,
            track: track.kind,
            callback: firing == crate::session::publisher::Firing::Ran,
        });
        if self.phase.track_ended() {
            let _ = self.bus.send(BusMessage::Eos);
        }
    }

    /// Moves to NULL (terminal): ends every streaming task. Returns how many
    /// were still running.
    pub fn set_null(&self) -> usize {
        self.phase.set_null()
    }

    /// Streaming tasks still alive (0 after NULL).
    pub fn streaming_alive(&self) -> usize {
        self.phase.streaming_alive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_follow_the_script() {
        let c = PipelineControl::new(1);
        c.set_start(50, 60, 100);
        c.set_eos(TrackKind::Video, Some(Duration::from_millis(300)));
        let d = c.draw();
        assert!(d.start_fails);
        assert!((50..=60).contains(&(d.start_latency.as_millis() as u64)));
        assert_eq!(
            d.eos_after.get(&TrackKind::Video),
            Some(&Duration::from_millis(300))
        );
        c.heal();
        assert!(!c.draw().start_fails);
        c.set_eos(TrackKind::Video, None);
        assert!(c.snapshot().eos_after.is_empty());
    }

    /// A handle whose task has or has not finished, counting its aborts.
    #[derive(Debug, Default)]
    struct Fake {
        finished: bool,
        aborts: std::sync::atomic::AtomicUsize,
    }

    impl StreamingTask for std::sync::Arc<Fake> {
        fn is_finished(&self) -> bool {
            self.finished
        }
        fn abort(&self) {
            self.aborts
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// One assertion per rule of contract 3, one thread.
    #[test]
    fn the_phase_plays_counts_its_live_tasks_and_ends_terminal() {
        let phase = PipelinePhase::new(2);
        assert!(
            !phase.is_stopped(),
            "a new pipeline is in NULL, not stopped"
        );
        assert_eq!(phase.streaming_alive(), 0);
        let (done, live) = (
            std::sync::Arc::new(Fake {
                finished: true,
                ..Fake::default()
            }),
            std::sync::Arc::new(Fake::default()),
        );
        phase
            .play(|| vec![done.clone(), live.clone()])
            .expect("plays from NULL");
        assert_eq!(
            phase.streaming_alive(),
            1,
            "counts the unfinished task only"
        );
        assert!(!phase.track_ended(), "one of two tracks ended");
        assert_eq!(phase.set_null(), 1, "one task was still running");
        assert!(phase.is_stopped());
        assert_eq!(phase.streaming_alive(), 0);
        assert_eq!(done.aborts.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(live.aborts.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(!phase.track_ended(), "no EOS once NULL");
        assert_eq!(
            phase.play(|| panic!("spawned after NULL")),
            Err(PipelineError::Stopped)
        );
        assert_eq!(phase.set_null(), 0, "a second NULL aborts nothing");
        assert_eq!(live.aborts.load(std::sync::atomic::Ordering::SeqCst), 1);

        let eos = PipelinePhase::<std::sync::Arc<Fake>>::new(2);
        eos.play(Vec::new).expect("plays");
        assert!(!eos.track_ended());
        assert!(eos.track_ended(), "the last track to end posts the EOS");
        assert!(!eos.track_ended(), "and only it");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pipeline_streams_one_task_per_track_until_null() {
        let tracks: Vec<_> = TrackKind::ALL
            .iter()
            .map(|k| PublisherTrack::new(*k, BugSet::NONE))
            .collect();
        let (bus, _rx) = mpsc::unbounded_channel();
        let draw = AttemptDraw {
            start_latency: Duration::from_millis(10),
            start_fails: false,
            eos_after: BTreeMap::new(),
        };
        let p = Pipeline::new(1, tracks.clone(), draw, bus, Emitter::tracing_only("gst"));
        assert_eq!(p.streaming_alive(), 0);
        p.start().await.expect("starts");
        assert_eq!(p.streaming_alive(), tracks.len());
        assert_eq!(p.set_null(), tracks.len());
        assert_eq!(p.streaming_alive(), 0);
    }

    #[test]
    fn samples_before_bind_are_dropped() {
        let t = PublisherTrack::new(TrackKind::Audio, BugSet::NONE);
        t.write_sample();
        assert!(t.bind("TR_1".into()));
        assert!(!t.bind("TR_2".into()), "bound once");
        assert_eq!(t.sid().as_deref(), Some("TR_1"));
        t.write_sample();
        t.write_sample();
        assert_eq!((t.samples_dropped(), t.samples_sent()), (1, 2));
    }
}
