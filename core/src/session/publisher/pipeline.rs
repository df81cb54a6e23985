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

use crate::entropy::SimRng;
use crate::event::Emitter;
use crate::session::publisher::event::PublisherEvent;
use crate::session::publisher::latch::EosLatch;
use crate::session::publisher::TrackKind;
use crate::BugSet;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// One attempt's draw from the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptDraw {
    pub start_latency: Duration,
    pub start_fails: bool,
    pub eos_after: BTreeMap<TrackKind, Duration>,
}

/// The scenario's handle on the pipeline's behaviour, shared with the
/// publisher host. Draws come from `SimRng::fork(seed, "pipeline")`.
#[derive(Debug)]
pub struct PipelineControl {
    script: Mutex<PipelineScript>,
    rng: Mutex<SimRng>,
}

impl PipelineControl {
    pub fn new(seed: u64) -> Arc<PipelineControl> {
        Arc::new(PipelineControl {
            script: Mutex::new(PipelineScript::default()),
            rng: Mutex::new(SimRng::fork(seed, "pipeline")),
        })
    }

    fn script(&self) -> std::sync::MutexGuard<'_, PipelineScript> {
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_start(&self, min_ms: u64, max_ms: u64, fail_percent: u8) {
        let mut s = self.script();
        s.start_ms = (min_ms, max_ms.max(min_ms));
        s.start_fail_percent = fail_percent.min(100);
    }

    /// `track`'s source ends `after` PLAYING (`None`: never).
    pub fn set_eos(&self, track: TrackKind, after: Option<Duration>) {
        let mut s = self.script();
        match after {
            Some(d) => s.eos_after.insert(track, d),
            None => s.eos_after.remove(&track),
        };
    }

    /// Faults stop: starts succeed with a healthy latency. The sources'
    /// schedule is workload, not a fault, and stays.
    pub fn heal(&self) {
        let mut s = self.script();
        s.start_ms = HEALTHY_START_MS;
        s.start_fail_percent = 0;
    }

    pub fn snapshot(&self) -> PipelineScript {
        self.script().clone()
    }

    /// Draws one attempt's start latency and outcome.
    pub fn draw(&self) -> AttemptDraw {
        let s = self.script().clone();
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let start_latency = Duration::from_millis(rng.range(s.start_ms.0, s.start_ms.1));
        let start_fails = rng.chance(f64::from(s.start_fail_percent) / 100.0);
        AttemptDraw {
            start_latency,
            start_fails,
            eos_after: s.eos_after,
        }
    }
}

/// One track: appsink + local track (upstream `publisherTrack`).
#[derive(Debug)]
pub struct PublisherTrack {
    pub kind: TrackKind,
    pub latch: EosLatch,
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

    /// The track is published as `sid`: samples go out from now on.
    pub fn bind(&self, sid: String) {
        *self.publication.lock().unwrap_or_else(|p| p.into_inner()) = Some(sid);
    }

    pub fn sid(&self) -> Option<String> {
        self.publication
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// One sample from the appsink: sent if bound, else dropped silently.
    pub fn write_sample(&self) {
        if self.sid().is_some() {
            self.sent.fetch_add(1, Ordering::Relaxed);
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
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

#[derive(Debug)]
struct PipeState {
    phase: Phase,
    streaming: Vec<JoinHandle<()>>,
    ended: usize,
}

/// One attempt's pipeline.
#[derive(Debug)]
pub struct Pipeline {
    attempt: u64,
    tracks: Vec<Arc<PublisherTrack>>,
    draw: AttemptDraw,
    state: Mutex<PipeState>,
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
            tracks,
            draw,
            state: Mutex::new(PipeState {
                phase: Phase::Null,
                streaming: Vec::new(),
                ended: 0,
            }),
            bus,
            emitter,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PipeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves to PLAYING: waits the drawn latency, then starts one streaming
    /// task per track. Cancel it by dropping the future (before PLAYING
    /// nothing was spawned) or by [`Pipeline::set_null`].
    pub async fn start(self: &Arc<Self>) -> Result<(), PipelineError> {
        tokio::time::sleep(self.draw.start_latency).await;
        if self.draw.start_fails {
            return Err(PipelineError::StateChangeFailed);
        }
        let mut st = self.state();
        if st.phase == Phase::Stopped {
            return Err(PipelineError::Stopped);
        }
        st.phase = Phase::Playing;
        for track in &self.tracks {
            let eos_after = self.draw.eos_after.get(&track.kind).copied();
            st.streaming.push(crate::rt::spawn(
                self.clone().stream(track.clone(), eos_after),
            ));
        }
        drop(st);
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
                _ = samples.tick() => track.write_sample(),
            }
        }
        let firing = track.latch.fire();
        self.emitter.emit(PublisherEvent::TrackEos {
            attempt: self.attempt,
            track: track.kind,
            callback: firing == crate::session::publisher::Firing::Ran,
        });
        let all_ended = {
            let mut st = self.state();
            st.ended += 1;
            st.ended == self.tracks.len() && st.phase == Phase::Playing
        };
        if all_ended {
            let _ = self.bus.send(BusMessage::Eos);
        }
    }

    /// Moves to NULL (terminal): ends every streaming task. Returns how many
    /// were still running.
    pub fn set_null(&self) -> usize {
        let tasks = {
            let mut st = self.state();
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
        self.state()
            .streaming
            .iter()
            .filter(|t| !t.is_finished())
            .count()
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

    #[test]
    fn samples_before_bind_are_dropped() {
        let t = PublisherTrack::new(TrackKind::Audio, BugSet::NONE);
        t.write_sample();
        t.bind("TR_1".into());
        t.write_sample();
        t.write_sample();
        assert_eq!((t.samples_dropped(), t.samples_sent()), (1, 2));
    }
}
