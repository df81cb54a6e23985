//! A drain: one task feeding one source track to one transcoder, and the
//! seam through which the runner spawns it.
//!
//! Owns [`Drain`] (upstream's `drive`, seed-systems.md §2.3: refresh the
//! metadata, `on_start`, then every fragment to `on_fragment`, then
//! `on_stop` once the source closes, each call isolated with
//! `catch_unwind` and its panics counted per phase), [`TranscoderStats`],
//! and the [`DrainSpawner`] / [`DrainHandle`] seam. The runner's table logic
//! only ever talks to a `DrainSpawner`, so a loom model or a proptest can run
//! it with a spawner that records drains (or polls them by hand) instead of
//! tokio; [`TokioSpawner`] is the real one. A drain never holds a runner
//! lock and never touches the task table.

use crate::bugs::{BugSet, KnownBug};
use crate::event::Emitter;
use crate::sync::{AtomicU64, Ordering};
use crate::transcode::broadcaster::BroadcasterStream;
use crate::transcode::event::{EndReason, TranscodeEvent};
use crate::transcode::key::StatsKey;
use crate::transcode::transcoder::{panic_message, Phase, Transcoder, TranscoderContext};
use futures_util::FutureExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Per-key counters. They persist across publish sessions of the same key
/// (as upstream's do).
#[derive(Debug, Default)]
pub struct TranscoderStats {
    fragments_seen: AtomicU64,
    panics: AtomicU64,
    panics_start: AtomicU64,
    panics_fragment: AtomicU64,
    panics_stop: AtomicU64,
    lagged: AtomicU64,
}

impl TranscoderStats {
    pub fn fragments_seen(&self) -> u64 {
        self.fragments_seen.load(Ordering::Acquire)
    }

    /// Panics caught, every phase.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Acquire)
    }

    /// Panics caught in one phase (upstream's `phase` metric label).
    pub fn panics_in(&self, phase: Phase) -> u64 {
        self.phase_counter(phase).load(Ordering::Acquire)
    }

    fn phase_counter(&self, phase: Phase) -> &AtomicU64 {
        match phase {
            Phase::Start => &self.panics_start,
            Phase::Fragment => &self.panics_fragment,
            Phase::Stop => &self.panics_stop,
        }
    }

    /// Fragments this key's drains skipped by lagging.
    pub fn lagged(&self) -> u64 {
        self.lagged.load(Ordering::Acquire)
    }
}

/// A spawned drain as the runner's task table holds it.
pub trait DrainHandle: Send + Sync {
    /// Cancels the drain at its next await point (`on_stop` is not called).
    fn abort(&self);
    fn is_finished(&self) -> bool;
}

/// Starts drains. The runner calls it with its task table locked, so it
/// must only hand the drain over, never run it inline.
pub trait DrainSpawner: Send + Sync + 'static {
    /// `None` when the drain cannot be started (no runtime).
    fn spawn(&self, drain: Drain) -> Option<Box<dyn DrainHandle>>;
}

/// The drain of one (transcoder, rendition, broadcast, track), ready to run.
pub struct Drain {
    key: StatsKey,
    generation: u64,
    transcoder: Box<dyn Transcoder>,
    ctx: TranscoderContext,
    sub: BroadcasterStream,
    stats: Arc<TranscoderStats>,
    emitter: Emitter,
    bugs: BugSet,
}

impl std::fmt::Debug for Drain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drain")
            .field("key", &self.key)
            .field("generation", &self.generation)
            .finish()
    }
}

impl Drain {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        key: StatsKey,
        generation: u64,
        transcoder: Box<dyn Transcoder>,
        ctx: TranscoderContext,
        sub: BroadcasterStream,
        stats: Arc<TranscoderStats>,
        emitter: Emitter,
        bugs: BugSet,
    ) -> Drain {
        Drain {
            key,
            generation,
            transcoder,
            ctx,
            sub,
            stats,
            emitter,
            bugs,
        }
    }

    pub fn key(&self) -> &StatsKey {
        &self.key
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn emitter(&self) -> &Emitter {
        &self.emitter
    }

    /// Runs one transcoder call. Fixed: inside `catch_unwind`, a panic is
    /// returned as its message. With `transcoder-panic-kills-drain` on, the
    /// panic unwinds out of the drain (the pre-isolation behaviour).
    fn guarded(&mut self, call: impl FnOnce(&mut dyn Transcoder)) -> Result<(), String> {
        if self.bugs.on(KnownBug::TranscoderPanicKillsDrain) {
            call(self.transcoder.as_mut());
            return Ok(());
        }
        let t = self.transcoder.as_mut();
        catch_unwind(AssertUnwindSafe(|| call(t))).map_err(|p| panic_message(&*p))
    }

    fn panicked(&self, phase: Phase, at: Option<(u64, u64)>, message: &str) {
        self.stats.panics.fetch_add(1, Ordering::AcqRel);
        self.stats
            .phase_counter(phase)
            .fetch_add(1, Ordering::AcqRel);
        tracing::warn!(key = %self.key, %phase, panic = message, "transcoder panicked; counted");
        self.emitter.emit(TranscodeEvent::TranscoderPanicked {
            key: self.key.clone(),
            generation: self.generation,
            phase,
            at,
        });
    }

    /// Upstream's `drive`.
    pub async fn run(mut self) {
        // The entry-created callback fires before ingest sets the init
        // segment: re-read the metadata before starting.
        self.sub.refresh_meta();
        self.ctx.meta = self.sub.meta().clone();
        self.emitter.emit(TranscodeEvent::DrainStarted {
            key: self.key.clone(),
            generation: self.generation,
            init_segment: self.ctx.meta.init_segment.is_some(),
        });
        let ctx = self.ctx.clone();
        if let Err(msg) = self.guarded(|t| t.on_start(&ctx)) {
            self.panicked(Phase::Start, None, &msg);
            self.emitter.emit(TranscodeEvent::DrainEnded {
                key: self.key.clone(),
                generation: self.generation,
                reason: EndReason::StartPanic,
                seen: 0,
                lagged: self.sub.lagged(),
                emitted: self.sub.emitted_since_subscribe(),
            });
            return;
        }
        // Lag is counted as the stream skips ahead, which it does only on the
        // way to a fragment it then returns (a lagging subscriber's ring
        // always holds the fragment it skips to): so this fragment's turn
        // accounts for every skip before it, and the stream's end adds none.
        let mut lagged = 0;
        while let Some(frag) = self.sub.next_fragment().await {
            self.stats.fragments_seen.fetch_add(1, Ordering::AcqRel);
            let now = self.sub.lagged();
            self.stats.lagged.fetch_add(now - lagged, Ordering::AcqRel);
            lagged = now;
            if let Err(msg) = self.guarded(|t| t.on_fragment(&frag)) {
                self.panicked(Phase::Fragment, Some((frag.group_id, frag.object_id)), &msg);
            }
            if let Some(work) = self.transcoder.simulated_work() {
                tokio::time::sleep(work).await;
            }
        }
        debug_assert_eq!(
            self.sub.lagged(),
            lagged,
            "lag counted after the last fragment"
        );
        if let Err(msg) = self.guarded(|t| t.on_stop()) {
            self.panicked(Phase::Stop, None, &msg);
        }
        tracing::info!(key = %self.key, "drain terminated");
        self.emitter.emit(TranscodeEvent::DrainEnded {
            key: self.key.clone(),
            generation: self.generation,
            reason: EndReason::Closed,
            seen: self.sub.received(),
            lagged: self.sub.lagged(),
            emitted: self.sub.emitted_since_subscribe(),
        });
    }
}

/// Spawns drains on the current tokio runtime.
///
/// Each drain runs inside a last-resort `catch_unwind`: a drain that dies of
/// an uncaught panic is reported (`transcode.drain.died`) and dies alone.
/// That is tokio's production default (a panicking task does not take its
/// runtime down); turmoil's `tokio_unstable` configuration would instead
/// fail the whole host, which would hide what the failure does to siblings
/// and downstream subscribers.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSpawner;

impl DrainHandle for tokio::task::JoinHandle<()> {
    fn abort(&self) {
        tokio::task::JoinHandle::abort(self);
    }

    fn is_finished(&self) -> bool {
        tokio::task::JoinHandle::is_finished(self)
    }
}

impl DrainSpawner for TokioSpawner {
    fn spawn(&self, drain: Drain) -> Option<Box<dyn DrainHandle>> {
        let rt = tokio::runtime::Handle::try_current().ok()?;
        let key = drain.key().clone();
        let generation = drain.generation();
        let emitter = drain.emitter().clone();
        let task = rt.spawn(async move {
            if let Err(p) = AssertUnwindSafe(drain.run()).catch_unwind().await {
                emitter.emit(TranscodeEvent::DrainDied {
                    key,
                    generation,
                    panic: panic_message(&*p),
                });
            }
        });
        crate::rt::adopt(task.abort_handle());
        Some(Box::new(task))
    }
}
