//! `PublisherTrack`'s publication and sample counters (its EOS latch is
//! `eos_latch.rs`), whole surface: two streaming threads writing samples
//! (`write_sample`), the room side binding the publication and a second,
//! late answer trying to bind it again (`bind`), and the world's facts
//! reading `sid`, `samples_sent` and `samples_dropped`. Each call is
//! stamped with a logical clock on entry and exit, so "before" and "after"
//! mean one call returned before the other began.
//!
//! Invariants after every execution (and during it, where stated):
//! - the publication is set once: exactly one `bind` returns true, `sid()`
//!   is its sid at the end, and a reader that saw it never sees it change
//!   or go away;
//! - counts add up: sent + dropped = samples written, and `sent` is the
//!   number of `write_sample` calls that returned true;
//! - a sample written before any bind began is dropped; one written after
//!   the winning bind returned is sent;
//! - once a reader saw the track bound, no sample is dropped any more (the
//!   check and the count happen under the publication's lock), and a
//!   reader that saw a sample sent then sees the track bound;
//! - `samples_sent` and `samples_dropped` never go back.

use super::explore;
use relaysim_core::session::publisher::pipeline::PublisherTrack;
use relaysim_core::session::publisher::TrackKind;
use relaysim_core::BugSet;
use shuttle::sync::atomic::{AtomicUsize, Ordering};
use shuttle::sync::Mutex;
use shuttle::thread;
use std::sync::Arc;

/// (entered, returned) on the model's logical clock.
type Span = (usize, usize);

/// Each bind: its sid, its span, whether it won.
type Binds = Arc<Mutex<Vec<(&'static str, Span, bool)>>>;

fn model() -> impl Fn() + Send + Sync {
    || {
        let track = PublisherTrack::new(TrackKind::Video, BugSet::NONE);
        let clock = Arc::new(AtomicUsize::new(0));
        let tick = {
            let clock = clock.clone();
            move || clock.fetch_add(1, Ordering::SeqCst)
        };
        let binds: Binds = Arc::default();

        let writers: Vec<_> = [3, 2]
            .into_iter()
            .map(|samples| {
                let (track, tick) = (track.clone(), tick.clone());
                thread::spawn(move || {
                    (0..samples)
                        .map(|_| {
                            let entered = tick();
                            let sent = track.write_sample();
                            ((entered, tick()), sent)
                        })
                        .collect::<Vec<(Span, bool)>>()
                })
            })
            .collect();
        let binders: Vec<_> = ["TR_room", "TR_late"]
            .into_iter()
            .map(|sid| {
                let (track, tick, binds) = (track.clone(), tick.clone(), binds.clone());
                thread::spawn(move || {
                    let entered = tick();
                    let won = track.bind(sid.to_string());
                    let span = (entered, tick());
                    binds.lock().unwrap().push((sid, span, won));
                })
            })
            .collect();
        let reader = {
            let track = track.clone();
            thread::spawn(move || {
                let mut seen_sid: Option<String> = None;
                let mut dropped_once_bound: Option<u64> = None;
                let (mut sent, mut dropped) = (0, 0);
                for _ in 0..4 {
                    let s = track.samples_sent();
                    let sid = track.sid();
                    let d = track.samples_dropped();
                    assert!(
                        s >= sent && d >= dropped,
                        "counters went back: sent {sent}→{s}, dropped {dropped}→{d}"
                    );
                    (sent, dropped) = (s, d);
                    assert!(
                        s == 0 || sid.is_some(),
                        "{s} samples sent, yet the track reads unbound"
                    );
                    if let Some(prev) = &seen_sid {
                        assert_eq!(sid.as_ref(), Some(prev), "the publication changed");
                    }
                    if sid.is_some() {
                        if let Some(before) = dropped_once_bound {
                            assert_eq!(
                                d, before,
                                "a sample was dropped after the publication was visible"
                            );
                        }
                        dropped_once_bound = Some(d);
                        seen_sid = sid;
                    }
                    thread::yield_now();
                }
                dropped_once_bound
            })
        };
        let writes: Vec<(Span, bool)> = writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        for b in binders {
            b.join().unwrap();
        }
        let dropped_once_bound = reader.join().unwrap();

        let binds = binds.lock().unwrap().clone();
        let winners: Vec<_> = binds.iter().filter(|b| b.2).collect();
        assert_eq!(winners.len(), 1, "{} binds won: {binds:?}", winners.len());
        let (winner, won_span, _) = *winners[0];
        assert_eq!(track.sid().as_deref(), Some(winner), "sid() at the end");
        let first_bind = binds.iter().map(|b| b.1 .0).min().unwrap();

        let (sent, dropped) = (track.samples_sent(), track.samples_dropped());
        let returned_sent = writes.iter().filter(|w| w.1).count() as u64;
        assert_eq!(
            sent + dropped,
            writes.len() as u64,
            "sent {sent} + dropped {dropped} ≠ {} samples written",
            writes.len()
        );
        assert_eq!(
            sent, returned_sent,
            "write_sample said sent {returned_sent} times"
        );
        for ((entered, returned), was_sent) in &writes {
            if *returned < first_bind {
                assert!(!was_sent, "a sample written before any bind was sent");
            }
            if *entered > won_span.1 {
                assert!(
                    was_sent,
                    "a sample written after the bind returned was dropped"
                );
            }
        }
        if let Some(d) = dropped_once_bound {
            assert_eq!(
                dropped, d,
                "a sample was dropped after the publication was visible"
            );
        }
    }
}

#[test]
fn shuttle_publisher_track_whole_surface() {
    explore("publisher-track", model());
}
