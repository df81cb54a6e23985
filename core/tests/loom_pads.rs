//! loom model of a pad under teardown: the pump sending into the pad's
//! queue, the forwarder popping and pushing into the pad, and `stop`
//! tearing the session down, every interleaving.
//!
//! Run with the loom step (README):
//! `cargo test --workspace --features relaysim-core/loom --test loom_pads`
//!
//! The threads run the real code: [`PumpState::on_frame`] and
//! [`PadQueue::try_push`] on the pump side, [`Forwarder::dispatch_one`] on
//! the main loop, [`begin_teardown`] / [`finish_teardown`] in the order
//! `MoqSrc::stop` calls them. An async wait is modelled as a loop that
//! yields; `abort` of a task as a flag its loop checks between steps (an
//! aborted tokio task stops at its next await, never inside a step).
//!
//! Properties: the pump always ends (a send into a full queue cannot wedge
//! stop); the queue never holds more than its capacity; downstream sees caps
//! before buffers, every buffer before the pad's removal, and the pad's flush
//! then its removal exactly once; no pad survives stop. With
//! `stop-drops-flush` loom finds the interleaving where the forwarder is
//! aborted before it delivered the queued drop; with `pad-queue-unbounded`
//! the one where the queue outgrows its bound.

/// Interleavings explored (printed with `--nocapture`).
static ITERATIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use relaysim_core::session::pads::element::{Downstream, Element};
use relaysim_core::session::pads::forwarder::{Control, Forwarder};
use relaysim_core::session::pads::pump::PumpState;
use relaysim_core::session::pads::queue::PushError;
use relaysim_core::session::pads::src::{begin_teardown, finish_teardown};
use relaysim_core::session::pads::wire::{MediaKind, TrackInfo, WireFrame};
use relaysim_core::session::pads::{Buffer, Caps};
use relaysim_core::{BugSet, Emitter, KnownBug};

const SESSION: u64 = 1;
const CAPACITY: usize = 1;

/// Downstream that logs what the pad saw, in order.
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Log {
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
}

impl Downstream for Log {
    fn caps(&self, _: u64, _: &str, caps: &Caps) {
        self.push(format!("caps{}", caps.config));
    }
    fn buffer(&self, _: u64, _: &str, b: &Buffer) {
        self.push(format!("buf{}", b.seq));
    }
    fn eos(&self, _: u64, _: &str) {
        self.push("eos".into());
    }
    fn flush(&self, _: u64, _: &str) {
        self.push("flush".into());
    }
    fn removed(&self, _: u64, _: &str) {
        self.push("removed".into());
    }
}

fn cam() -> TrackInfo {
    TrackInfo {
        name: "cam".into(),
        kind: MediaKind::Video,
        codec: "h264".into(),
        config: 1,
    }
}

fn model(bugs: BugSet) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        ITERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = std::sync::Arc::new(Log::default());
        let element = std::sync::Arc::new(Element::new(log.clone()));
        let emitter = Emitter::tracing_only("gst");
        let (control_tx, control_rx) = tokio::sync::mpsc::unbounded_channel();
        let wake = std::sync::Arc::new(tokio::sync::Notify::new());
        let mut forwarder = Forwarder::new(
            SESSION,
            element.clone(),
            control_rx,
            wake,
            CAPACITY,
            bugs,
            emitter.clone(),
        );
        // The create-pad round trip, before the race begins.
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        control_tx
            .send(Control::CreatePad {
                track: cam(),
                reply,
            })
            .unwrap();
        assert!(forwarder.dispatch_one());
        let queue = answer.try_recv().unwrap().expect("pad created");

        let shutdown = Arc::new(AtomicBool::new(false));
        let aborted = Arc::new(AtomicBool::new(false));

        let pump = {
            let (queue, shutdown) = (queue.clone(), shutdown.clone());
            thread::spawn(move || {
                let mut state = PumpState::new(&cam(), bugs);
                for seq in 0..2 {
                    let frame = WireFrame {
                        seq,
                        ts_ms: seq * 33,
                        keyframe: seq == 0,
                        config: 1,
                    };
                    for mut msg in state.on_frame(&frame) {
                        loop {
                            if shutdown.load(Ordering::Acquire) {
                                return;
                            }
                            match queue.try_push(msg) {
                                Ok(_) => break,
                                Err(PushError::Full(m)) => {
                                    msg = m;
                                    thread::yield_now();
                                }
                                Err(PushError::Flushing(_)) => return,
                            }
                        }
                    }
                }
            })
        };
        let main_loop = {
            let aborted = aborted.clone();
            thread::spawn(move || {
                while !aborted.load(Ordering::Acquire) {
                    if !forwarder.dispatch_one() {
                        thread::yield_now();
                    }
                }
            })
        };

        // stop, in MoqSrc::stop's order.
        shutdown.store(true, Ordering::Release);
        let discarded = begin_teardown(bugs, std::slice::from_ref(&queue));
        if bugs.on(KnownBug::StopDropsFlush) {
            aborted.store(true, Ordering::Release);
            main_loop.join().unwrap();
            finish_teardown(bugs, &element, SESSION, &discarded, &emitter);
            pump.join().unwrap();
        } else {
            pump.join().unwrap();
            aborted.store(true, Ordering::Release);
            main_loop.join().unwrap();
            finish_teardown(bugs, &element, SESSION, &discarded, &emitter);
        }

        assert!(
            queue.max_depth() <= CAPACITY,
            "the queue held {} messages (bound {CAPACITY})",
            queue.max_depth()
        );
        let seen = log.0.lock().unwrap().clone();
        if let Some(first_buf) = seen.iter().position(|s| s.starts_with("buf")) {
            assert!(
                seen[..first_buf].iter().any(|s| s.starts_with("caps")),
                "buffer before caps: {seen:?}"
            );
        }
        assert!(
            element.pads().is_empty(),
            "a pad survived stop: {:?} (downstream saw {seen:?})",
            element.pads_of(SESSION)
        );
        let removed = seen.iter().filter(|s| *s == "removed").count();
        assert_eq!(removed, 1, "pad removed {removed} times: {seen:?}");
        assert_eq!(seen.last().map(String::as_str), Some("removed"), "{seen:?}");
        assert!(
            seen.len() >= 2 && seen[seen.len() - 2] == "flush",
            "the pad never saw its flush before removal: {seen:?}"
        );
    });
}

#[test]
fn loom_pads_stop_vs_pump_send() {
    model(BugSet::NONE);
    eprintln!(
        "loom_pads: {} interleavings",
        ITERATIONS.load(std::sync::atomic::Ordering::Relaxed)
    );
}

#[cfg(feature = "known-bugs")]
mod known_bugs {
    use super::*;

    fn finds(bug: KnownBug, needles: &[&str]) {
        let err = std::panic::catch_unwind(|| model(BugSet::only(bug)))
            .expect_err("loom must find the bug");
        let msg = err
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        assert!(
            needles.iter().any(|n| msg.contains(n)),
            "{bug}: loom failed with {msg:?}, expected one of {needles:?}"
        );
    }

    #[test]
    fn loom_pads_finds_stop_drops_flush() {
        // The forwarder aborted before the queued drop (pad left behind), or
        // delivering the drop itself (pad removed without a flush).
        finds(
            KnownBug::StopDropsFlush,
            &["a pad survived stop", "never saw its flush"],
        );
    }

    #[test]
    fn loom_pads_finds_unbounded_queue() {
        finds(KnownBug::PadQueueUnbounded, &["the queue held"]);
    }
}
