//! proptest-state-machine: sequences of relay catalog changes, codec config
//! changes, catalog deliveries, frames, main-loop dispatches, stops and
//! starts, run against the pads component's synchronous core and compared
//! with a small reference model after every step.
//!
//! The system under test is the real code the async drivers run: the
//! catalog [`diff`], the create-pad round trip and dispatch of
//! [`Forwarder::dispatch_one`], [`PumpState::on_frame`] and
//! [`PadQueue::try_push`] (a full queue leaves the pump holding its
//! messages, and frames arriving meanwhile are skipped, as the relay does),
//! the [`Element`], and `stop`'s [`begin_teardown`] / [`finish_teardown`].
//! What it replaces is only the glue between them (the controller's and the
//! pumps' awaits), re-told step by step in [`Sut`]. The reference model says
//! which pads must exist: one per track of the catalog the running session
//! last received, none after a stop. The downstream judge also holds the
//! component's accounting to its contract: at every stop, each pad's queues
//! accepted exactly what reached the pad plus what the stop's flush counted
//! discarded (S6), and no pad with a message queued waits through more
//! dispatches than there are other pads, nor while the main loop idles
//! (round-robin and work-conserving, L4). With a known bug switched on,
//! the property fails and proptest shrinks the sequence to the few steps
//! that show the race.

use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use relaysim_core::session::pads::catalog::{diff, TrackChange};
use relaysim_core::session::pads::element::{Downstream, Element};
use relaysim_core::session::pads::forwarder::{Control, Forwarder};
use relaysim_core::session::pads::pump::PumpState;
use relaysim_core::session::pads::queue::{PadQueue, PushError};
use relaysim_core::session::pads::src::{begin_teardown, finish_teardown};
use relaysim_core::session::pads::wire::{Catalog, MediaKind, TrackInfo, WireFrame};
use relaysim_core::session::pads::{pad_name, Buffer, Caps, PadMessage};
use relaysim_core::{BugSet, Emitter, KnownBug};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

thread_local! {
    /// The bugs the SUT is built with (per test thread).
    static BUGS: Cell<BugSet> = const { Cell::new(BugSet::NONE) };
}

/// Small, so a stalled main loop fills a queue in a step or two.
const CAPACITY: usize = 2;
const TRACKS: [(&str, MediaKind, &str); 3] = [
    ("cam", MediaKind::Video, "h264"),
    ("mic", MediaKind::Audio, "opus"),
    ("screen", MediaKind::Video, "av1"),
];
const INITIAL_TRACKS: u8 = 0b011;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// READY → PAUSED.
    Start,
    /// PAUSED → READY.
    Stop,
    /// The relay's catalog becomes this subset of `TRACKS` (a bit mask).
    SetTracks(u8),
    /// A track's codec configuration changes at the relay; its next frames
    /// carry the new config before any catalog says so.
    ConfigBump(usize),
    /// The running session receives the relay's latest catalog.
    DeliverCatalog,
    /// The relay sends a track's next frame (to its pump, if subscribed).
    Frame(usize),
    /// The main loop dispatches up to this many items.
    Dispatch(u8),
}

/// The reference model.
#[derive(Debug, Clone)]
pub struct Model {
    running: bool,
    relay_tracks: u8,
    /// The catalog the running session last received (a mask).
    client_tracks: u8,
}

fn info(i: usize, config: u32) -> TrackInfo {
    let (name, kind, codec) = TRACKS[i];
    TrackInfo {
        name: name.into(),
        kind,
        codec: codec.into(),
        config,
    }
}

pub struct ModelMachine;

impl ReferenceStateMachine for ModelMachine {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model {
            running: false,
            relay_tracks: INITIAL_TRACKS,
            client_tracks: 0,
        })
        .boxed()
    }

    fn transitions(_: &Model) -> BoxedStrategy<Step> {
        prop_oneof![
            1 => Just(Step::Start),
            1 => Just(Step::Stop),
            1 => (0u8..8).prop_map(Step::SetTracks),
            2 => (0usize..3).prop_map(Step::ConfigBump),
            2 => Just(Step::DeliverCatalog),
            4 => (0usize..3).prop_map(Step::Frame),
            3 => (1u8..4).prop_map(Step::Dispatch),
        ]
        .boxed()
    }

    fn preconditions(_: &Model, _: &Step) -> bool {
        // Every step is possible in every state (a no-op where it does not
        // apply), so the shrinker can drop any of them.
        true
    }

    fn apply(mut m: Model, step: &Step) -> Model {
        match step {
            Step::Start if !m.running => {
                m.running = true;
                m.client_tracks = 0;
            }
            Step::Stop => {
                m.running = false;
                m.client_tracks = 0;
            }
            Step::SetTracks(mask) => m.relay_tracks = *mask,
            Step::DeliverCatalog if m.running => m.client_tracks = m.relay_tracks,
            _ => {}
        }
        m
    }
}

/// What downstream knows of a pad: its caps' config and its last buffer.
type PadSeen = (Option<u32>, Option<u64>);

/// Downstream that judges the pads' contract and keeps every breach.
#[derive(Default)]
struct Judge {
    /// (session, pad) → what it saw.
    pads: Mutex<BTreeMap<(u64, String), PadSeen>>,
    breaches: Mutex<Vec<String>>,
    /// (session, pad) → messages that reached it through the main loop:
    /// caps, buffers, EOS, and the drop that removed it (a removal that
    /// follows a flush is the teardown's, not a delivered message).
    delivered: Mutex<BTreeMap<(u64, String), usize>>,
    /// Pads flushed and not yet removed.
    flushing: Mutex<BTreeSet<(u64, String)>>,
    /// The pad of the last message delivered (a dispatch delivers one).
    last: Mutex<Option<String>>,
}

impl Judge {
    fn breach(&self, s: String) {
        self.breaches.lock().unwrap().push(s);
    }

    fn delivered(&self, session: u64, pad: &str) {
        *self
            .delivered
            .lock()
            .unwrap()
            .entry((session, pad.into()))
            .or_default() += 1;
        *self.last.lock().unwrap() = Some(pad.into());
    }
}

impl Downstream for Judge {
    fn caps(&self, session: u64, pad: &str, caps: &Caps) {
        self.delivered(session, pad);
        let mut p = self.pads.lock().unwrap();
        p.entry((session, pad.into())).or_default().0 = Some(caps.config);
    }
    fn buffer(&self, session: u64, pad: &str, b: &Buffer) {
        self.delivered(session, pad);
        let mut p = self.pads.lock().unwrap();
        let e = p.entry((session, pad.into())).or_default();
        match e.0 {
            Some(c) if c == b.config => {}
            caps => self.breach(format!(
                "{pad}@{session}: buffer seq={} of config {} under caps {caps:?}",
                b.seq, b.config
            )),
        }
        if e.1.is_some_and(|last| b.seq <= last) {
            self.breach(format!(
                "{pad}@{session}: buffer seq={} out of order",
                b.seq
            ));
        }
        e.1 = Some(b.seq);
    }
    fn eos(&self, session: u64, pad: &str) {
        self.delivered(session, pad);
    }
    fn flush(&self, session: u64, pad: &str) {
        self.flushing.lock().unwrap().insert((session, pad.into()));
    }
    fn removed(&self, session: u64, pad: &str) {
        let flushed = self.flushing.lock().unwrap().remove(&(session, pad.into()));
        if !flushed {
            self.delivered(session, pad);
        }
        self.pads.lock().unwrap().remove(&(session, pad.into()));
    }
}

/// A pump: its per-frame state, its queue, and what it holds while the
/// queue is full.
struct Pump {
    track: usize,
    state: PumpState,
    queue: Arc<PadQueue>,
    held: VecDeque<PadMessage>,
    ending: bool,
    /// Messages its queue accepted.
    accepted: usize,
}

impl Pump {
    /// Pushes what it holds until the queue is full.
    fn drain(&mut self) {
        while let Some(msg) = self.held.pop_front() {
            match self.queue.try_push(msg) {
                Ok(_) => self.accepted += 1,
                Err(PushError::Full(m)) => {
                    self.held.push_front(m);
                    return;
                }
                Err(PushError::Flushing(_)) => {
                    self.held.clear();
                    return;
                }
            }
        }
        if self.ending {
            self.queue.close();
        }
    }
}

struct Session {
    id: u64,
    control: tokio::sync::mpsc::UnboundedSender<Control>,
    forwarder: Forwarder,
    tracks: BTreeMap<String, TrackInfo>,
    pumps: Vec<Pump>,
    failed: Option<String>,
}

/// The system under test.
pub struct Sut {
    bugs: BugSet,
    judge: Arc<Judge>,
    element: Arc<Element>,
    emitter: Emitter,
    session: Option<Session>,
    sessions: u64,
    relay_tracks: u8,
    relay_config: [u32; 3],
    seq: [u64; 3],
    /// Every pad queue ever created (their deepest point is checked).
    queues: Vec<Arc<PadQueue>>,
    /// Pad → main-loop dispatches that served another pad while it had a
    /// message queued (the running session's).
    waits: BTreeMap<String, usize>,
}

impl Sut {
    fn relay_catalog(&self) -> Catalog {
        Catalog {
            version: 0,
            tracks: (0..3)
                .filter(|i| self.relay_tracks & (1 << i) != 0)
                .map(|i| info(i, self.relay_config[i]))
                .collect(),
        }
    }

    /// After the main loop ran: pumps push what they held.
    fn wake_pumps(&mut self) {
        if let Some(s) = self.session.as_mut() {
            for p in &mut s.pumps {
                p.drain();
            }
        }
    }

    fn deliver_catalog(&mut self) {
        let bugs = self.bugs;
        let cat = self.relay_catalog();
        let Some(s) = self.session.as_mut() else {
            return;
        };
        if s.failed.is_some() {
            return;
        }
        for change in diff(&s.tracks, &cat) {
            match change {
                TrackChange::Removed(t) => {
                    let pad = t.pad_name();
                    s.tracks.remove(&t.name);
                    if let Some(p) = s
                        .pumps
                        .iter_mut()
                        .rev()
                        .find(|p| p.state.pad() == pad && !p.ending)
                    {
                        p.queue.retire();
                        p.ending = true;
                        p.held.extend([PadMessage::Eos, PadMessage::Drop]);
                        p.drain();
                    }
                }
                TrackChange::ConfigChanged { after, .. } => {
                    if bugs.on(KnownBug::BufferBeforeCaps) {
                        let _ = s.control.send(Control::SetCaps {
                            pad: after.pad_name(),
                            caps: after.caps(),
                        });
                    }
                    s.tracks.insert(after.name.clone(), after);
                }
                TrackChange::Added(t) => {
                    // The create-pad round trip: the controller waits while
                    // the main loop serves its control channel.
                    let (reply, mut answer) = tokio::sync::oneshot::channel();
                    let _ = s.control.send(Control::CreatePad {
                        track: t.clone(),
                        reply,
                    });
                    let mut got = None;
                    for _ in 0..64 {
                        if let Ok(r) = answer.try_recv() {
                            got = Some(r);
                            break;
                        }
                        if !s.forwarder.dispatch_one() {
                            break;
                        }
                    }
                    match got {
                        Some(Ok(queue)) => {
                            self.queues.push(queue.clone());
                            if bugs.on(KnownBug::BufferBeforeCaps) {
                                let _ = s.control.send(Control::SetCaps {
                                    pad: t.pad_name(),
                                    caps: t.caps(),
                                });
                            }
                            let track = TRACKS.iter().position(|x| x.0 == t.name).unwrap_or(0);
                            s.pumps.push(Pump {
                                track,
                                state: PumpState::new(&t, bugs),
                                queue,
                                held: VecDeque::new(),
                                ending: false,
                                accepted: 0,
                            });
                            s.tracks.insert(t.name.clone(), t);
                        }
                        Some(Err(owner)) => {
                            s.failed = Some(format!(
                                "pad creation cancelled: {} exists (session {owner})",
                                t.pad_name()
                            ));
                            return;
                        }
                        None => {
                            s.failed = Some("create-pad never answered".into());
                            return;
                        }
                    }
                }
            }
        }
    }

    fn frame(&mut self, i: usize) {
        if self.relay_tracks & (1 << i) == 0 {
            return;
        }
        let seq = self.seq[i];
        self.seq[i] += 1;
        let frame = WireFrame {
            seq,
            ts_ms: seq * 33,
            keyframe: seq % 30 == 0,
            config: self.relay_config[i],
        };
        let Some(s) = self.session.as_mut() else {
            return;
        };
        let Some(p) = s.pumps.iter_mut().rev().find(|p| p.track == i && !p.ending) else {
            return;
        };
        if !p.held.is_empty() {
            // Blocked on a full queue: not reading; the relay skips ahead.
            return;
        }
        p.held.extend(p.state.on_frame(&frame));
        p.drain();
    }

    fn stop(&mut self) {
        let Some(s) = self.session.take() else {
            return;
        };
        self.waits.clear();
        let queues: Vec<Arc<PadQueue>> = s.pumps.iter().map(|p| p.queue.clone()).collect();
        let discarded = begin_teardown(self.bugs, &queues);
        // The pumps end on the shutdown; the forwarder is aborted.
        let mut accepted: BTreeMap<String, usize> = BTreeMap::new();
        for p in &s.pumps {
            *accepted.entry(p.state.pad().to_string()).or_default() += p.accepted;
        }
        drop(s.pumps);
        drop(s.forwarder);
        finish_teardown(self.bugs, &self.element, s.id, &discarded, &self.emitter);
        // Conservation: every message a pad's queue accepted reached the
        // pad, or the stop's flush discarded it and says so. Out-of-band
        // caps (`buffer-before-caps`) bypass the queues, so the sum is
        // judged only without them.
        if !self.bugs.on(KnownBug::BufferBeforeCaps) {
            let delivered = self.judge.delivered.lock().unwrap().clone();
            for (pad, n) in accepted {
                let got = delivered.get(&(s.id, pad.clone())).copied().unwrap_or(0);
                let flushed = discarded.get(&pad).copied().unwrap_or(0);
                if n != got + flushed {
                    self.judge.breach(format!(
                        "{pad}@{}: its queues accepted {n} messages; {got} reached the pad and stop's flush counted {flushed} discarded",
                        s.id
                    ));
                }
            }
        }
    }

    /// The pads of the running session with a message queued.
    fn queued(&self) -> BTreeSet<String> {
        self.session
            .as_ref()
            .map(|s| {
                s.pumps
                    .iter()
                    .filter(|p| p.queue.depth() > 0)
                    .map(|p| p.state.pad().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Round-robin: a pad with a message queued is served before any other
    /// pad is served twice, so it waits at most one dispatch per other pad
    /// (a session has at most one pad per track).
    fn judge_fairness(&mut self, queued: BTreeSet<String>, served: Option<String>) {
        let Some(served) = served else { return };
        let others = TRACKS.len() - 1;
        for pad in queued {
            if pad == served {
                self.waits.remove(&pad);
                continue;
            }
            let w = self.waits.entry(pad.clone()).or_default();
            *w += 1;
            if *w > others {
                self.judge.breach(format!(
                    "{pad} had a message queued through {w} dispatches that served other pads (last {served})"
                ));
            }
        }
    }
}

impl StateMachineTest for Sut {
    type SystemUnderTest = Sut;
    type Reference = ModelMachine;

    fn init_test(m: &Model) -> Sut {
        let judge = Arc::new(Judge::default());
        Sut {
            bugs: BUGS.with(Cell::get),
            element: Arc::new(Element::new(judge.clone())),
            judge,
            emitter: Emitter::tracing_only("gst"),
            session: None,
            sessions: 0,
            relay_tracks: m.relay_tracks,
            relay_config: [1; 3],
            seq: [0; 3],
            queues: Vec::new(),
            waits: BTreeMap::new(),
        }
    }

    fn apply(mut sut: Sut, _: &Model, step: Step) -> Sut {
        match step {
            Step::Start => {
                if sut.session.is_none() {
                    sut.sessions += 1;
                    let (control, rx) = tokio::sync::mpsc::unbounded_channel();
                    let forwarder = Forwarder::new(
                        sut.sessions,
                        sut.element.clone(),
                        rx,
                        Arc::new(tokio::sync::Notify::new()),
                        CAPACITY,
                        sut.bugs,
                        sut.emitter.clone(),
                    );
                    sut.session = Some(Session {
                        id: sut.sessions,
                        control,
                        forwarder,
                        tracks: BTreeMap::new(),
                        pumps: Vec::new(),
                        failed: None,
                    });
                }
            }
            Step::Stop => sut.stop(),
            Step::SetTracks(mask) => sut.relay_tracks = mask,
            Step::ConfigBump(i) => sut.relay_config[i] += 1,
            Step::DeliverCatalog => sut.deliver_catalog(),
            Step::Frame(i) => sut.frame(i),
            Step::Dispatch(n) => {
                for _ in 0..n {
                    let queued = sut.queued();
                    sut.judge.last.lock().unwrap().take();
                    let dispatched = match sut.session.as_mut() {
                        Some(s) => s.forwarder.dispatch_one(),
                        None => false,
                    };
                    let served = sut.judge.last.lock().unwrap().take();
                    if !dispatched && !queued.is_empty() {
                        // Work-conserving: the main loop never idles while
                        // a pad of its session has a message queued.
                        sut.judge.breach(format!(
                            "the main loop found nothing to do with {queued:?} queued"
                        ));
                    }
                    if !sut.bugs.on(KnownBug::BufferBeforeCaps) {
                        // (out-of-band caps are served first, ahead of every queue)
                        sut.judge_fairness(queued, served);
                    }
                    sut.wake_pumps();
                    if !dispatched {
                        break;
                    }
                }
            }
        }
        sut
    }

    fn check_invariants(sut: &Sut, m: &Model) {
        let breaches = sut.judge.breaches.lock().unwrap().clone();
        assert!(breaches.is_empty(), "downstream: {breaches:?}");
        for q in &sut.queues {
            assert!(
                q.max_depth() <= CAPACITY,
                "pad queue {} held {} messages (bound {CAPACITY})",
                q.pad(),
                q.max_depth()
            );
        }
        let pads = sut.element.pads();
        for p in &pads {
            assert_eq!(p.name, pad_name(p.kind, &p.track), "pad name");
        }
        match (&sut.session, m.running) {
            (None, false) => assert!(
                pads.is_empty(),
                "pads survived stop: {:?}",
                pads.iter()
                    .map(|p| format!("{}@{}", p.name, p.session))
                    .collect::<Vec<_>>()
            ),
            (Some(s), true) => {
                if let Some(e) = &s.failed {
                    panic!("session {} failed: {e}", s.id);
                }
                for p in &pads {
                    assert_eq!(
                        p.session, s.id,
                        "stale pad {} of session {}",
                        p.name, p.session
                    );
                }
                for (i, (name, kind, _)) in TRACKS.iter().enumerate() {
                    let pad = pad_name(*kind, name);
                    let present = pads.iter().any(|p| p.name == pad);
                    if m.client_tracks & (1 << i) != 0 {
                        assert!(present, "no pad for {name}, which the catalog lists");
                    } else if present {
                        // Only a removed track whose drop is still queued.
                        assert!(
                            s.pumps.iter().any(|p| p.state.pad() == pad && p.ending),
                            "pad {pad} for a track the catalog does not list"
                        );
                    }
                }
            }
            (s, running) => panic!(
                "session {:?} but the model says running={running}",
                s.as_ref().map(|s| s.id)
            ),
        }
    }
}

prop_state_machine! {
    #![proptest_config(Config { cases: 512, failure_persistence: None, .. Config::default() })]

    #[test]
    fn pads_match_the_reference_model(sequential 1..40 => Sut);
}

#[cfg(feature = "known-bugs")]
mod known_bugs {
    use super::*;

    /// Runs the machine with `bug` on and returns the shrunk failing sequence.
    fn shrunk_failure(bug: KnownBug) -> Vec<Step> {
        crate::common::shrunk_failure::<Sut>(bug, 512, 1..40, |bugs| BUGS.with(|b| b.set(bugs)))
    }

    #[test]
    fn unbounded_queue_shrinks_to_pushes_without_dispatch() {
        let steps = shrunk_failure(KnownBug::PadQueueUnbounded);
        // Start, a catalog, then more pushes into one pad (frames, or a
        // removal's EOS and drop) than its bound, with the main loop idle.
        assert!(steps.len() <= 7, "{steps:?}");
        assert_eq!(steps.first(), Some(&Step::Start), "{steps:?}");
        assert!(
            steps.iter().any(|s| matches!(s, Step::Frame(_))),
            "{steps:?}"
        );
        assert!(
            !steps.iter().any(|s| matches!(s, Step::Dispatch(_))),
            "{steps:?}"
        );
    }

    #[test]
    fn stop_drops_flush_shrinks_to_start_catalog_stop() {
        let steps = shrunk_failure(KnownBug::StopDropsFlush);
        assert_eq!(
            steps,
            vec![Step::Start, Step::DeliverCatalog, Step::Stop],
            "{steps:?}"
        );
    }

    #[test]
    fn buffer_before_caps_shrinks_to_a_config_change_racing_its_catalog() {
        let steps = shrunk_failure(KnownBug::BufferBeforeCaps);
        // The pad exists, the config changes, a frame of the new config is
        // dispatched before any catalog delivery brings the caps.
        assert!(steps.len() <= 6, "{steps:?}");
        let bump = steps
            .iter()
            .position(|s| matches!(s, Step::ConfigBump(_)))
            .expect("a config change");
        let deliveries_after = steps[bump..]
            .iter()
            .filter(|s| **s == Step::DeliverCatalog)
            .count();
        assert_eq!(deliveries_after, 0, "{steps:?}");
        assert!(matches!(steps.last(), Some(Step::Dispatch(_))), "{steps:?}");
    }
}
