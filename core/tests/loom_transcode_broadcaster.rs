//! loom model of the fragment broadcaster: emit vs subscribe vs a lagging
//! receiver, every interleaving up to the preemption bound.
//!
//! Run with the loom step (README):
//! `cargo test --workspace --features relaysim-core/loom --test loom_transcode_broadcaster`
//!
//! A producer emits three fragments into a ring of two and then drops (the
//! broadcast ends). An early subscriber (subscribed before the producer
//! starts) and a late one (subscribing while it emits) each wait with
//! `next_fragment` under `loom::future::block_on`. Properties: both streams
//! end (a lost wake-up is a loom deadlock); each receives fragments in
//! emission order, never one emitted before it subscribed, and ends with
//! the newest fragment if it saw anything emitted after it subscribed;
//! received + lagged equals what was emitted since it subscribed. (Every
//! producer clone must be gone for the streams to end, so the model holds
//! none past the producer thread: a stray clone shows up as a loom
//! deadlock.)

use bytes::Bytes;
use loom::thread;
use relaysim_core::transcode::fragment::{FragmentFlags, FragmentMeta, VIDEO_TRACK};
use relaysim_core::transcode::{BroadcasterStream, Fragment, FragmentBroadcaster};

const EMITS: u64 = 3;
const CAPACITY: usize = 2;

fn frag(i: u64) -> Fragment {
    Fragment::new(
        VIDEO_TRACK,
        i,
        0,
        0,
        i,
        i,
        1,
        FragmentFlags::DELTA,
        Bytes::new(),
    )
}

/// Drains a stream to its end: (groups received, lagged, emitted since
/// subscribe).
fn drain(mut s: BroadcasterStream) -> (Vec<u64>, u64, u64) {
    let mut got = Vec::new();
    loom::future::block_on(async {
        while let Some(f) = s.next_fragment().await {
            got.push(f.group_id);
        }
    });
    (got, s.lagged(), s.emitted_since_subscribe())
}

fn check(who: &str, got: &[u64], lagged: u64, emitted: u64) {
    assert_eq!(
        got.len() as u64 + lagged,
        emitted,
        "{who}: received {got:?} + lagged {lagged} != emitted since subscribe {emitted}"
    );
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "{who}: out of order {got:?}"
    );
    let first = EMITS - emitted;
    assert!(
        got.iter().all(|g| *g >= first),
        "{who}: saw a fragment emitted before it subscribed ({got:?}, first {first})"
    );
    if emitted > 0 {
        assert_eq!(
            got.last(),
            Some(&(EMITS - 1)),
            "{who}: lost the newest fragment ({got:?})"
        );
    }
}

#[test]
fn loom_broadcaster_emit_subscribe_lag() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(|| {
        let bc = FragmentBroadcaster::with_capacity(
            VIDEO_TRACK,
            FragmentMeta::new("avc1.64001f", 90_000),
            CAPACITY,
        );
        let early = bc.subscribe();
        let late_src = bc.clone();
        let late = thread::spawn(move || {
            let s = late_src.subscribe();
            drop(late_src);
            drain(s)
        });
        let reader = thread::spawn(move || drain(early));
        let producer = thread::spawn(move || {
            for i in 0..EMITS {
                bc.emit(frag(i));
            }
        });
        producer.join().unwrap();
        let (got, lagged, emitted) = reader.join().unwrap();
        assert_eq!(emitted, EMITS, "the early subscriber saw every emit happen");
        check("early", &got, lagged, emitted);
        let (late_got, late_lagged, late_emitted) = late.join().unwrap();
        check("late", &late_got, late_lagged, late_emitted);
    });
}
