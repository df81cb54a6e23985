//! proptest-state-machine: sequences of add / remove rendition, create /
//! remove broadcast, emit, and a create that an admin removal lands in the
//! middle of (the removal runs inside the entry-created callback's first
//! factory build, as it would from another thread), run against the real
//! registry and runner and compared with a small reference model after
//! every step.
//!
//! Drains run on a hand-polled spawner: after each step every live drain is
//! polled (no-op waker) until it waits again, so the comparison is exact
//! and deterministic. Invariants: the running drains are exactly the live
//! broadcasts × the current ladder, and every key's `fragments_seen` equals
//! the fragments emitted while one of its drains was subscribed. With a
//! transcode known bug switched on, the property fails and proptest shrinks
//! the sequence to the few steps that show it.

use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use relaysim_core::transcode::drain::{Drain, DrainHandle, DrainSpawner};
use relaysim_core::transcode::fragment::{FragmentFlags, FragmentMeta, VIDEO_TRACK};
use relaysim_core::transcode::{
    preset_240p, preset_480p, preset_720p, Fragment, FragmentBroadcaster,
    FragmentBroadcasterRegistry, PassthroughTranscoderFactory, RenditionSpec, StatsKey,
    TranscodeRunner, TranscodeRunnerHandle, Transcoder, TranscoderContext, TranscoderFactory,
};
use relaysim_core::BugSet;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

thread_local! {
    /// The bugs the SUT is built with (per test thread).
    static BUGS: Cell<BugSet> = const { Cell::new(BugSet::NONE) };
}

const BROADCASTS: [&str; 2] = ["live/a", "live/b"];

fn pool() -> Vec<RenditionSpec> {
    vec![
        preset_720p(),
        preset_480p(),
        preset_240p(),
        RenditionSpec::new("360p", 640, 360, 800, 96),
    ]
}

fn spec(name: &str) -> RenditionSpec {
    pool()
        .into_iter()
        .find(|s| s.name == name)
        .expect("in the pool")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    AddRendition(&'static str),
    RemoveRendition(&'static str),
    Create(&'static str),
    /// Create, with `remove_rendition(.1)` landing during the callback's
    /// first build.
    CreateRacingRemove(&'static str, &'static str),
    Remove(&'static str),
    Emit(&'static str),
}

/// The reference model.
#[derive(Debug, Clone)]
pub struct Model {
    ladder: BTreeSet<&'static str>,
    live: BTreeSet<&'static str>,
    /// (rendition, broadcast) → fragments seen, over every session.
    seen: BTreeMap<(&'static str, &'static str), u64>,
}

impl Model {
    fn create(&mut self, b: &'static str, removed: Option<&'static str>) {
        if let Some(r) = removed {
            self.ladder.remove(r);
        }
        self.live.insert(b);
    }
}

const NAMES: [&str; 4] = ["720p", "480p", "240p", "360p"];

pub struct ModelMachine;

impl ReferenceStateMachine for ModelMachine {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model {
            ladder: ["720p", "480p"].into_iter().collect(),
            live: BTreeSet::new(),
            seen: BTreeMap::new(),
        })
        .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        let name = || proptest::sample::select(NAMES.to_vec());
        let mut steps = vec![
            name().prop_map(Step::AddRendition).boxed(),
            name().prop_map(Step::RemoveRendition).boxed(),
        ];
        let idle: Vec<&'static str> = BROADCASTS
            .iter()
            .copied()
            .filter(|b| !state.live.contains(b))
            .collect();
        let live: Vec<&'static str> = state.live.iter().copied().collect();
        if !idle.is_empty() {
            steps.push(
                proptest::sample::select(idle.clone())
                    .prop_map(Step::Create)
                    .boxed(),
            );
            steps.push(
                (proptest::sample::select(idle), name())
                    .prop_map(|(b, r)| Step::CreateRacingRemove(b, r))
                    .boxed(),
            );
        }
        if !live.is_empty() {
            steps.push(
                proptest::sample::select(live.clone())
                    .prop_map(Step::Remove)
                    .boxed(),
            );
            steps.push(
                proptest::sample::select(live.clone())
                    .prop_map(Step::Emit)
                    .boxed(),
            );
            steps.push(proptest::sample::select(live).prop_map(Step::Emit).boxed());
        }
        proptest::strategy::Union::new(steps).boxed()
    }

    fn preconditions(state: &Model, step: &Step) -> bool {
        match step {
            Step::Create(b) | Step::CreateRacingRemove(b, _) => !state.live.contains(b),
            Step::Remove(b) | Step::Emit(b) => state.live.contains(b),
            Step::AddRendition(_) | Step::RemoveRendition(_) => true,
        }
    }

    fn apply(mut s: Model, step: &Step) -> Model {
        match step {
            Step::AddRendition(r) => {
                s.ladder.insert(r);
            }
            Step::RemoveRendition(r) => {
                s.ladder.remove(r);
            }
            Step::Create(b) => s.create(b, None),
            Step::CreateRacingRemove(b, r) => s.create(b, Some(r)),
            Step::Remove(b) => {
                s.live.remove(b);
            }
            Step::Emit(b) => {
                let ladder: Vec<&'static str> = s.ladder.iter().copied().collect();
                for r in ladder {
                    *s.seen.entry((r, b)).or_default() += 1;
                }
            }
        }
        s
    }
}

// ---- the hand-polled spawner ------------------------------------------------

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Flags {
    aborted: AtomicBool,
    finished: AtomicBool,
}

struct ManualHandle(Arc<Flags>);

impl DrainHandle for ManualHandle {
    fn abort(&self) {
        self.0.aborted.store(true, Ordering::SeqCst);
    }

    fn is_finished(&self) -> bool {
        self.0.finished.load(Ordering::SeqCst)
    }
}

#[derive(Default)]
struct ManualSpawner {
    tasks: Mutex<Vec<(Task, Arc<Flags>)>>,
}

impl DrainSpawner for ManualSpawner {
    fn spawn(&self, drain: Drain) -> Option<Box<dyn DrainHandle>> {
        let flags = Arc::new(Flags {
            aborted: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        });
        self.tasks
            .lock()
            .unwrap()
            .push((Box::pin(drain.run()), flags.clone()));
        Some(Box::new(ManualHandle(flags)))
    }
}

impl ManualSpawner {
    /// Polls every live drain until it waits again (aborted ones are
    /// dropped, as an abort does).
    fn run_until_stalled(&self) {
        let mut cx = Context::from_waker(Waker::noop());
        let mut tasks = self.tasks.lock().unwrap();
        tasks.retain_mut(|(task, flags)| {
            if flags.aborted.load(Ordering::SeqCst) {
                return false;
            }
            match task.as_mut().poll(&mut cx) {
                Poll::Ready(()) => {
                    flags.finished.store(true, Ordering::SeqCst);
                    false
                }
                Poll::Pending => true,
            }
        });
    }
}

/// Runs a pending admin operation at the next factory build.
type Pending = Arc<Mutex<Option<&'static str>>>;

struct Hooked {
    inner: PassthroughTranscoderFactory,
    pending: Pending,
    runner: Arc<Mutex<Option<TranscodeRunnerHandle>>>,
}

impl TranscoderFactory for Hooked {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn rendition(&self) -> &RenditionSpec {
        self.inner.rendition()
    }

    fn build(&self, ctx: &TranscoderContext) -> Option<Box<dyn Transcoder>> {
        let op = self.pending.lock().unwrap().take();
        if let Some(r) = op {
            let h = self.runner.lock().unwrap().clone().expect("installed");
            h.remove_rendition(r);
        }
        self.inner.build(ctx)
    }
}

pub struct Sut {
    registry: FragmentBroadcasterRegistry,
    runner: TranscodeRunnerHandle,
    spawner: Arc<ManualSpawner>,
    pending: Pending,
    slot: Arc<Mutex<Option<TranscodeRunnerHandle>>>,
    producers: BTreeMap<&'static str, Arc<FragmentBroadcaster>>,
    next_group: u64,
}

impl Sut {
    fn factory(&self, r: &str) -> Arc<dyn TranscoderFactory> {
        Arc::new(Hooked {
            inner: PassthroughTranscoderFactory::new(spec(r)),
            pending: self.pending.clone(),
            runner: self.slot.clone(),
        })
    }
}

impl StateMachineTest for Sut {
    type SystemUnderTest = Sut;
    type Reference = ModelMachine;

    fn init_test(m: &Model) -> Sut {
        let registry = FragmentBroadcasterRegistry::new();
        let spawner = Arc::new(ManualSpawner::default());
        let pending: Pending = Arc::default();
        let slot: Arc<Mutex<Option<TranscodeRunnerHandle>>> = Arc::default();
        let mut builder = TranscodeRunner::new()
            .with_spawner(spawner.clone())
            .with_bugs(BUGS.with(Cell::get));
        for r in &m.ladder {
            builder = builder.with_factory_arc(Arc::new(Hooked {
                inner: PassthroughTranscoderFactory::new(spec(r)),
                pending: pending.clone(),
                runner: slot.clone(),
            }));
        }
        let runner = builder.install(&registry);
        *slot.lock().unwrap() = Some(runner.clone());
        Sut {
            registry,
            runner,
            spawner,
            pending,
            slot,
            producers: BTreeMap::new(),
            next_group: 0,
        }
    }

    fn apply(mut sut: Sut, _: &Model, step: Step) -> Sut {
        let meta = FragmentMeta::new("avc1.64001f", 90_000);
        match step {
            Step::AddRendition(r) => {
                sut.runner.add_rendition(sut.factory(r));
            }
            Step::RemoveRendition(r) => {
                sut.runner.remove_rendition(r);
            }
            Step::Create(b) => {
                let bc = sut.registry.get_or_create(b, VIDEO_TRACK, meta);
                sut.producers.insert(b, bc);
            }
            Step::CreateRacingRemove(b, r) => {
                *sut.pending.lock().unwrap() = Some(r);
                let bc = sut.registry.get_or_create(b, VIDEO_TRACK, meta);
                // No build ran (an empty ladder): the removal lands now.
                if let Some(r) = sut.pending.lock().unwrap().take() {
                    sut.runner.remove_rendition(r);
                }
                sut.producers.insert(b, bc);
            }
            Step::Remove(b) => {
                sut.registry.remove(b, VIDEO_TRACK);
                sut.producers.remove(b);
            }
            Step::Emit(b) => {
                let g = sut.next_group;
                sut.next_group += 1;
                sut.producers[b].emit(Fragment::new(
                    VIDEO_TRACK,
                    g,
                    0,
                    0,
                    g,
                    g,
                    1,
                    FragmentFlags::DELTA,
                    Bytes::new(),
                ));
            }
        }
        sut.spawner.run_until_stalled();
        sut
    }

    fn check_invariants(sut: &Sut, m: &Model) {
        let expected: BTreeSet<StatsKey> = m
            .live
            .iter()
            .flat_map(|b| {
                m.ladder
                    .iter()
                    .map(move |r| StatsKey::new("passthrough", r, b, VIDEO_TRACK))
            })
            .collect();
        let running: BTreeSet<StatsKey> = sut.runner.running().into_iter().collect();
        assert_eq!(running, expected, "running drains vs live × ladder");
        let ladder: BTreeSet<String> = sut
            .runner
            .renditions()
            .into_iter()
            .map(|r| r.name)
            .collect();
        let model_ladder: BTreeSet<String> = m.ladder.iter().map(|r| r.to_string()).collect();
        assert_eq!(ladder, model_ladder, "ladder");
        for ((r, b), n) in &m.seen {
            assert_eq!(
                sut.runner.fragments_seen("passthrough", r, b, VIDEO_TRACK),
                *n,
                "fragments seen by {r} on {b}"
            );
        }
    }
}

prop_state_machine! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, .. Config::default() })]

    #[test]
    fn runner_matches_the_reference_model(sequential 1..30 => Sut);
}

#[cfg(feature = "known-bugs")]
mod known_bugs {
    use super::*;
    use relaysim_core::KnownBug;

    /// Runs the machine with `bug` on and returns the shrunk failing sequence.
    fn shrunk_failure(bug: KnownBug) -> Vec<Step> {
        crate::common::shrunk_failure::<Sut>(bug, 256, 1..30, |bugs| BUGS.with(|b| b.set(bugs)))
    }

    #[test]
    fn republish_never_transcoded_shrinks_to_create_remove_create() {
        let steps = shrunk_failure(KnownBug::RepublishNeverTranscoded);
        assert_eq!(steps.len(), 3, "{steps:?}");
        assert!(
            matches!(steps[0], Step::Create(_) | Step::CreateRacingRemove(..)),
            "{steps:?}"
        );
        assert!(matches!(steps[1], Step::Remove(_)), "{steps:?}");
        assert!(
            matches!(steps[2], Step::Create(_) | Step::CreateRacingRemove(..)),
            "{steps:?}"
        );
    }

    #[test]
    fn rendition_remove_leak_shrinks_to_one_racing_create() {
        let steps = shrunk_failure(KnownBug::RenditionRemoveLeak);
        assert_eq!(steps.len(), 1, "{steps:?}");
        assert!(
            matches!(steps[0], Step::CreateRacingRemove(..)),
            "{steps:?}"
        );
    }
}
