//! The transcoder traits and the three built-in factories.
//!
//! Owns [`Transcoder`], [`TranscoderFactory`], [`TranscoderContext`], the
//! lifecycle [`Phase`]s, and the factories relaysim runs instead of a real
//! encoder (seed-systems.md §2.2): [`PassthroughTranscoderFactory`] (the
//! upstream one: video only, no output), [`SlowTranscoderFactory`] (declares
//! simulated work per fragment, so its drain falls behind a fast emitter) and
//! [`PanickingTranscoderFactory`] (wraps another factory and panics where a
//! [`PanicTrigger`] says, with an [`InjectedPanic`] payload). Transcoder code
//! is user code: the runner calls it with no lock held and isolates its
//! panics. Nothing here spawns, blocks or reads a clock.

use crate::transcode::fragment::{Fragment, FragmentMeta, VIDEO_TRACK};
use crate::transcode::presets::RenditionSpec;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What a transcoder is built for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscoderContext {
    pub broadcast: String,
    pub track: String,
    /// The source track's metadata (refreshed before `on_start`).
    pub meta: FragmentMeta,
    pub rendition: RenditionSpec,
}

/// A transcoder's lifecycle phase (panics are counted per phase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Start,
    Fragment,
    Stop,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Start => "start",
            Phase::Fragment => "fragment",
            Phase::Stop => "stop",
        })
    }
}

/// One source track being turned into one rendition.
pub trait Transcoder: Send {
    fn on_start(&mut self, _ctx: &TranscoderContext) {}

    /// Synchronous: heavy work belongs on a worker.
    fn on_fragment(&mut self, fragment: &Fragment);

    /// After the source closed. Not called when the drain is aborted.
    fn on_stop(&mut self) {}

    /// The simulation seam for CPU time: how long the last `on_fragment`
    /// kept its worker busy. The drain sleeps this long (in `tokio::time`,
    /// so simulated time under turmoil) before it receives again, as a real
    /// blocking `on_fragment` would hold its worker. Real transcoders spend
    /// real time and return `None`.
    fn simulated_work(&self) -> Option<Duration> {
        None
    }
}

/// Builds one transcoder per (broadcast, track) for one rendition.
pub trait TranscoderFactory: Send + Sync + 'static {
    fn name(&self) -> &str;
    fn rendition(&self) -> &RenditionSpec;
    /// `None` opts out of this track.
    fn build(&self, ctx: &TranscoderContext) -> Option<Box<dyn Transcoder>>;
}

/// The payload of a panic a [`PanickingTranscoderFactory`] injects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedPanic {
    pub phase: Phase,
}

impl fmt::Display for InjectedPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "injected panic in on_{}", self.phase)
    }
}

/// The text of a panic payload (`&str`, `String` or [`InjectedPanic`]).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(p) = payload.downcast_ref::<InjectedPanic>() {
        p.to_string()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Counts fragments and produces nothing: a rendition without an encoder.
#[derive(Debug, Default)]
pub struct PassthroughTranscoder {
    pub fragments: u64,
}

impl Transcoder for PassthroughTranscoder {
    fn on_fragment(&mut self, _fragment: &Fragment) {
        self.fragments += 1;
    }
}

/// Upstream's passthrough factory: name `passthrough`, video track only.
#[derive(Debug, Clone)]
pub struct PassthroughTranscoderFactory {
    spec: RenditionSpec,
}

impl PassthroughTranscoderFactory {
    pub fn new(spec: RenditionSpec) -> PassthroughTranscoderFactory {
        PassthroughTranscoderFactory { spec }
    }
}

impl TranscoderFactory for PassthroughTranscoderFactory {
    fn name(&self) -> &str {
        "passthrough"
    }

    fn rendition(&self) -> &RenditionSpec {
        &self.spec
    }

    fn build(&self, ctx: &TranscoderContext) -> Option<Box<dyn Transcoder>> {
        (ctx.track == VIDEO_TRACK)
            .then(|| Box::new(PassthroughTranscoder::default()) as Box<dyn Transcoder>)
    }
}

/// A transcoder that needs `work` of simulated CPU time per fragment.
#[derive(Debug)]
pub struct SlowTranscoder {
    work: Duration,
}

impl Transcoder for SlowTranscoder {
    fn on_fragment(&mut self, _fragment: &Fragment) {}

    fn simulated_work(&self) -> Option<Duration> {
        Some(self.work)
    }
}

/// Name `slow`, video track only: every fragment costs `work`.
#[derive(Debug, Clone)]
pub struct SlowTranscoderFactory {
    spec: RenditionSpec,
    work: Duration,
}

impl SlowTranscoderFactory {
    pub fn new(spec: RenditionSpec, work: Duration) -> SlowTranscoderFactory {
        SlowTranscoderFactory { spec, work }
    }
}

impl TranscoderFactory for SlowTranscoderFactory {
    fn name(&self) -> &str {
        "slow"
    }

    fn rendition(&self) -> &RenditionSpec {
        &self.spec
    }

    fn build(&self, ctx: &TranscoderContext) -> Option<Box<dyn Transcoder>> {
        (ctx.track == VIDEO_TRACK)
            .then(|| Box::new(SlowTranscoder { work: self.work }) as Box<dyn Transcoder>)
    }
}

type TriggerFn = dyn Fn(Phase, &TranscoderContext, Option<&Fragment>) -> bool + Send + Sync;

/// Where a [`PanickingTranscoderFactory`]'s transcoders panic.
#[derive(Clone)]
pub struct PanicTrigger(Arc<TriggerFn>);

impl fmt::Debug for PanicTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PanicTrigger(..)")
    }
}

impl PanicTrigger {
    /// Panics whenever `f(phase, ctx, fragment)` is true.
    pub fn new<F>(f: F) -> PanicTrigger
    where
        F: Fn(Phase, &TranscoderContext, Option<&Fragment>) -> bool + Send + Sync + 'static,
    {
        PanicTrigger(Arc::new(f))
    }

    /// In `on_start`.
    pub fn on_start() -> PanicTrigger {
        PanicTrigger::new(|phase, _, _| phase == Phase::Start)
    }

    /// In `on_fragment`, for every fragment of group `group`.
    pub fn at_group(group: u64) -> PanicTrigger {
        PanicTrigger::new(move |phase, _, f| {
            phase == Phase::Fragment && f.is_some_and(|f| f.group_id == group)
        })
    }

    /// In `on_stop`.
    pub fn on_stop() -> PanicTrigger {
        PanicTrigger::new(|phase, _, _| phase == Phase::Stop)
    }

    fn fires(&self, phase: Phase, ctx: &TranscoderContext, f: Option<&Fragment>) -> bool {
        (self.0)(phase, ctx, f)
    }
}

/// Wraps another transcoder and panics where the trigger says.
pub struct PanickingTranscoder {
    inner: Box<dyn Transcoder>,
    ctx: TranscoderContext,
    trigger: PanicTrigger,
}

impl PanickingTranscoder {
    fn maybe_panic(&self, phase: Phase, f: Option<&Fragment>) {
        if self.trigger.fires(phase, &self.ctx, f) {
            std::panic::panic_any(InjectedPanic { phase });
        }
    }
}

impl Transcoder for PanickingTranscoder {
    fn on_start(&mut self, ctx: &TranscoderContext) {
        self.ctx = ctx.clone();
        self.maybe_panic(Phase::Start, None);
        self.inner.on_start(ctx);
    }

    fn on_fragment(&mut self, fragment: &Fragment) {
        self.maybe_panic(Phase::Fragment, Some(fragment));
        self.inner.on_fragment(fragment);
    }

    fn on_stop(&mut self) {
        self.maybe_panic(Phase::Stop, None);
        self.inner.on_stop();
    }

    fn simulated_work(&self) -> Option<Duration> {
        self.inner.simulated_work()
    }
}

/// Another factory's transcoders, panicking where `trigger` says. Keeps the
/// inner factory's name and rendition.
#[derive(Clone)]
pub struct PanickingTranscoderFactory {
    inner: Arc<dyn TranscoderFactory>,
    trigger: PanicTrigger,
}

impl PanickingTranscoderFactory {
    pub fn new(inner: Arc<dyn TranscoderFactory>, trigger: PanicTrigger) -> Self {
        PanickingTranscoderFactory { inner, trigger }
    }
}

impl TranscoderFactory for PanickingTranscoderFactory {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn rendition(&self) -> &RenditionSpec {
        self.inner.rendition()
    }

    fn build(&self, ctx: &TranscoderContext) -> Option<Box<dyn Transcoder>> {
        let inner = self.inner.build(ctx)?;
        Some(Box::new(PanickingTranscoder {
            inner,
            ctx: ctx.clone(),
            trigger: self.trigger.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcode::fragment::{FragmentFlags, AUDIO_TRACK};
    use crate::transcode::presets::preset_720p;
    use bytes::Bytes;

    fn ctx(track: &str) -> TranscoderContext {
        TranscoderContext {
            broadcast: "live/a".into(),
            track: track.into(),
            meta: FragmentMeta::new("avc1.64001f", 90_000),
            rendition: preset_720p(),
        }
    }

    #[test]
    fn builtin_factories_opt_out_of_non_video_tracks() {
        let p = PassthroughTranscoderFactory::new(preset_720p());
        assert_eq!(p.name(), "passthrough");
        assert!(p.build(&ctx(VIDEO_TRACK)).is_some());
        assert!(p.build(&ctx(AUDIO_TRACK)).is_none());
        let s = SlowTranscoderFactory::new(preset_720p(), Duration::from_millis(150));
        assert_eq!(s.name(), "slow");
        assert!(s.build(&ctx(AUDIO_TRACK)).is_none());
        let t = s.build(&ctx(VIDEO_TRACK)).unwrap();
        assert_eq!(t.simulated_work(), Some(Duration::from_millis(150)));
    }

    fn frag(group: u64) -> Fragment {
        Fragment::new(
            VIDEO_TRACK,
            group,
            0,
            0,
            0,
            0,
            0,
            FragmentFlags::DELTA,
            Bytes::new(),
        )
    }

    /// The payload text of a panic the wrapped transcoder's call raised,
    /// or `None` if the call returned.
    fn panic_of(call: impl FnOnce()) -> Option<String> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(call))
            .err()
            .map(|p| panic_message(&*p))
    }

    /// Each trigger fires in its own phase only: `on_start` in `on_start`,
    /// `on_stop` in `on_stop`, `at_group` for the fragments of its group.
    #[test]
    fn each_trigger_fires_in_its_own_phase_only() {
        let wrapped = |trigger| {
            let f = PanickingTranscoderFactory::new(
                Arc::new(PassthroughTranscoderFactory::new(preset_720p())),
                trigger,
            );
            f.build(&ctx(VIDEO_TRACK)).unwrap()
        };
        let c = ctx(VIDEO_TRACK);
        let mut t = wrapped(PanicTrigger::on_start());
        assert_eq!(
            panic_of(|| t.on_start(&c)).as_deref(),
            Some("injected panic in on_start")
        );
        assert_eq!(panic_of(|| t.on_fragment(&frag(0))), None);
        assert_eq!(panic_of(|| t.on_stop()), None);
        let mut t = wrapped(PanicTrigger::on_stop());
        assert_eq!(panic_of(|| t.on_start(&c)), None);
        assert_eq!(panic_of(|| t.on_fragment(&frag(0))), None);
        assert_eq!(
            panic_of(|| t.on_stop()).as_deref(),
            Some("injected panic in on_stop")
        );
        let mut t = wrapped(PanicTrigger::at_group(3));
        assert_eq!(panic_of(|| t.on_start(&c)), None);
        assert_eq!(panic_of(|| t.on_fragment(&frag(2))), None);
        assert_eq!(panic_of(|| t.on_stop()), None);
    }

    /// Where its trigger does not fire, a panicking transcoder is its inner
    /// one: every call reaches it, and it keeps the inner one's simulated
    /// work. A transcoder declares no simulated work unless it says so.
    #[test]
    fn a_panicking_wrapper_is_transparent_where_it_does_not_fire() {
        let f = PanickingTranscoderFactory::new(
            Arc::new(SlowTranscoderFactory::new(
                preset_720p(),
                Duration::from_millis(150),
            )),
            PanicTrigger::at_group(9),
        );
        let t = f.build(&ctx(VIDEO_TRACK)).unwrap();
        assert_eq!(t.simulated_work(), Some(Duration::from_millis(150)));
        assert_eq!(PassthroughTranscoder::default().simulated_work(), None);

        /// Records the calls that reach it.
        struct Calls(Arc<std::sync::Mutex<Vec<String>>>);
        impl Transcoder for Calls {
            fn on_start(&mut self, ctx: &TranscoderContext) {
                self.0
                    .lock()
                    .unwrap()
                    .push(format!("start {}", ctx.broadcast));
            }
            fn on_fragment(&mut self, f: &Fragment) {
                self.0
                    .lock()
                    .unwrap()
                    .push(format!("fragment {}", f.group_id));
            }
            fn on_stop(&mut self) {
                self.0.lock().unwrap().push("stop".into());
            }
        }
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut t = PanickingTranscoder {
            inner: Box::new(Calls(calls.clone())),
            ctx: ctx(VIDEO_TRACK),
            trigger: PanicTrigger::at_group(9),
        };
        t.on_start(&ctx(VIDEO_TRACK));
        t.on_fragment(&frag(1));
        t.on_stop();
        assert_eq!(
            *calls.lock().unwrap(),
            ["start live/a", "fragment 1", "stop"]
        );
    }

    /// The passthrough transcoder counts every fragment it is fed.
    #[test]
    fn a_passthrough_transcoder_counts_what_it_is_fed() {
        let mut t = PassthroughTranscoder::default();
        for g in 0..3 {
            t.on_fragment(&frag(g));
        }
        assert_eq!(t.fragments, 3);
    }

    #[test]
    fn panicking_factory_panics_where_triggered_with_its_payload() {
        let f = PanickingTranscoderFactory::new(
            Arc::new(PassthroughTranscoderFactory::new(preset_720p())),
            PanicTrigger::at_group(2),
        );
        assert_eq!(
            (f.name(), f.rendition().name.as_str()),
            ("passthrough", "720p")
        );
        let mut t = f.build(&ctx(VIDEO_TRACK)).unwrap();
        let frag = |g| {
            Fragment::new(
                VIDEO_TRACK,
                g,
                0,
                0,
                0,
                0,
                0,
                FragmentFlags::DELTA,
                Bytes::new(),
            )
        };
        t.on_start(&ctx(VIDEO_TRACK));
        t.on_fragment(&frag(1));
        let err =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.on_fragment(&frag(2))))
                .unwrap_err();
        assert_eq!(panic_message(&*err), "injected panic in on_fragment");
        assert!(f.build(&ctx(AUDIO_TRACK)).is_none(), "inner opt-out kept");
    }
}
