//! The pads `Element` (its pad table), whole surface: session 1's
//! forwarder creating its pad and pushing caps, buffers, EOS and finally a
//! drop; `stop` of session 1 flushing and removing the pad (twice: the
//! second must find nothing); session 2 creating the same pad name once it
//! is free and pushing into it; a reader listing pads.
//!
//! Invariants after every execution (and during it, where stated):
//! - a pad name belongs to one session at a time: creating it while it
//!   exists names the owner, and downstream never sees session 2's pad
//!   before session 1's was removed;
//! - a pad is removed exactly once (by its drop or by stop, never both);
//!   stop's removal is preceded by its flush; nothing reaches downstream for
//!   a pad after its removal, and pushes then fail with `NotLinked`;
//! - caps reach downstream before any buffer of that pad;
//! - at the end only session 2's pad is left, with its caps.

use super::explore;
use relaysim_core::session::pads::element::{Downstream, Element, FlowError};
use relaysim_core::session::pads::wire::{MediaKind, TrackInfo};
use relaysim_core::session::pads::{Buffer, Caps, PadMessage};
use shuttle::thread;
use std::sync::{Arc, Mutex};

/// Everything downstream saw, in order: (session, what).
#[derive(Default)]
struct Log(Mutex<Vec<(u64, String)>>);

impl Log {
    fn push(&self, session: u64, what: String) {
        self.0.lock().unwrap().push((session, what));
    }
}

impl Downstream for Log {
    fn caps(&self, s: u64, _: &str, caps: &Caps) {
        self.push(s, format!("caps{}", caps.config));
    }
    fn buffer(&self, s: u64, _: &str, b: &Buffer) {
        self.push(s, format!("buf{}", b.seq));
    }
    fn eos(&self, s: u64, _: &str) {
        self.push(s, "eos".into());
    }
    fn flush(&self, s: u64, _: &str) {
        self.push(s, "flush".into());
    }
    fn removed(&self, s: u64, _: &str) {
        self.push(s, "removed".into());
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

fn buf(seq: u64) -> PadMessage {
    PadMessage::Buffer(Buffer {
        seq,
        pts_ms: seq * 33,
        keyframe: seq == 0,
        config: 1,
    })
}

fn model() -> impl Fn() + Send + Sync {
    move || {
        let log = Arc::new(Log::default());
        let element = Arc::new(Element::new(log.clone()));
        let pad = element.create_pad(1, &cam()).expect("session 1's pad");

        let forwarder = {
            let (element, pad) = (element.clone(), pad.clone());
            thread::spawn(move || {
                let msgs = [
                    PadMessage::Caps(cam().caps()),
                    buf(0),
                    buf(1),
                    PadMessage::Eos,
                    PadMessage::Drop,
                ];
                let mut unlinked = false;
                for m in msgs {
                    match element.push(1, &pad, m) {
                        Ok(()) => assert!(!unlinked, "a push succeeded after the pad was gone"),
                        Err(FlowError::NotLinked) => unlinked = true,
                    }
                }
            })
        };
        let stop = {
            let (element, pad) = (element.clone(), pad.clone());
            thread::spawn(move || {
                let first = element.flush_and_remove(1, &pad);
                let second = element.flush_and_remove(1, &pad);
                assert!(!second, "a pad was flushed and removed twice");
                first
            })
        };
        let next = {
            let element = element.clone();
            thread::spawn(move || {
                let pad = loop {
                    match element.create_pad(2, &cam()) {
                        Ok(p) => break p,
                        Err(owner) => {
                            assert_eq!(owner, 1, "the pad is owned by session {owner}");
                            thread::yield_now();
                        }
                    }
                };
                element
                    .push(2, &pad, PadMessage::Caps(cam().caps()))
                    .unwrap();
                element.push(2, &pad, buf(0)).unwrap();
                assert_eq!(element.push(1, &pad, buf(9)), Err(FlowError::NotLinked));
            })
        };
        let reader = {
            let element = element.clone();
            thread::spawn(move || {
                for _ in 0..2 {
                    let all = element.pads();
                    assert!(all.len() <= 1, "two pads named alike: {all:?}");
                    let _ = (element.pads_of(1), element.pads_of(2));
                    thread::yield_now();
                }
            })
        };
        forwarder.join().unwrap();
        let stopped = stop.join().unwrap();
        next.join().unwrap();
        reader.join().unwrap();

        let seen = log.0.lock().unwrap().clone();
        let one: Vec<&str> = seen
            .iter()
            .filter(|(s, _)| *s == 1)
            .map(|(_, w)| w.as_str())
            .collect();
        let removed = one.iter().filter(|w| **w == "removed").count();
        assert_eq!(
            removed, 1,
            "session 1's pad removed {removed} times: {seen:?}"
        );
        assert_eq!(
            one.last(),
            Some(&"removed"),
            "something reached a removed pad: {seen:?}"
        );
        if stopped {
            assert_eq!(
                &one[one.len() - 2..],
                ["flush", "removed"],
                "stop removed the pad without its flush: {seen:?}"
            );
        }
        for s in [1, 2] {
            let of: Vec<&str> = seen
                .iter()
                .filter(|(x, _)| *x == s)
                .map(|(_, w)| w.as_str())
                .collect();
            if let Some(b) = of.iter().position(|w| w.starts_with("buf")) {
                assert!(
                    of[..b].contains(&"caps1"),
                    "session {s}: buffer before caps: {seen:?}"
                );
            }
        }
        let first_two = seen
            .iter()
            .position(|(s, _)| *s == 2)
            .expect("session 2 pushed");
        let last_one = seen
            .iter()
            .rposition(|(s, _)| *s == 1)
            .expect("session 1 ended");
        assert!(
            last_one < first_two,
            "session 2's pad was live before session 1's was removed: {seen:?}"
        );
        let left = element.pads();
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(
            (left[0].session, left[0].caps.clone()),
            (2, Some(cam().caps()))
        );
    }
}

#[test]
fn shuttle_element_whole_surface() {
    explore("element", model());
}
