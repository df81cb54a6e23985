//! The pads contract's resource clause (R1: a stop tears the session down,
//! nothing after it), judged from outside the element: by the runtime's own
//! count of live tasks ([`alive_tasks`]), never by the element's
//! bookkeeping or its trace.
//!
//! Each test builds an element over the scripted relay of `pads_session`,
//! counts the live tasks before its first start, runs sessions into one
//! state (connecting, subscribed and silent, pumps blocked behind a stalled
//! main loop, a track the relay ended, a relay that refused the catalog, a
//! relay gone silent past the pumps' idle bound), stops them, lets every
//! deadline pass, and requires exactly the tasks it counted: the relay's
//! connections end with the element's, and no controller, pump or
//! main-loop task of a stopped session is left.

use crate::pads_session::{catalog, frame, next_sub, started, Started, Sub};
use crate::support::{alive_tasks, no_task_left, Events};
use relaysim_core::session::pads::element::CountingDownstream;
use relaysim_core::session::pads::wire::RelayMessage;
use relaysim_core::Emitter;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout};

/// Longer than every deadline a session holds (the connect and pump idle
/// bounds of 2 s, the stop's 500 ms).
const QUIET: Duration = Duration::from_secs(30);

/// Bounds every test (paused time: reached at once if everything idles).
const BOUND: Duration = Duration::from_secs(120);

/// The tasks alive before anything started, a trace, and an element
/// started over the scripted relay tracing into it.
async fn counted_start() -> (usize, Arc<Events>, Started) {
    let events = Events::new();
    let before = alive_tasks();
    let started = started(
        Arc::new(CountingDownstream::default()),
        Emitter::new("gst", events.clone()),
    )
    .await;
    (before, events, started)
}

/// The next subscription to `what`, skipping those a stopped session made.
async fn sub_named(subs: &mut mpsc::UnboundedReceiver<Sub>, what: &str) -> Sub {
    loop {
        let sub = next_sub(subs)
            .await
            .unwrap_or_else(|| panic!("no subscription to {what}"));
        if sub.what == what {
            return sub;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn stopping_pumps_blocked_behind_a_stalled_main_loop_leaves_nothing() {
    timeout(BOUND, async {
        let (before, events, started) = counted_start().await;
        let Started {
            src,
            bus: _bus,
            mut subs,
            cat,
        } = started;
        cat.tx.send(catalog(1, &["cam", "mic"])).unwrap();
        let cam = next_sub(&mut subs).await.expect("cam subscribed");
        let mic = next_sub(&mut subs).await.expect("mic subscribed");
        // Both queues fill to the bound and both pumps block.
        src.stall_main_loop(Duration::from_secs(20));
        for seq in 0..40 {
            cam.tx.send(frame(seq)).unwrap();
            mic.tx.send(frame(seq)).unwrap();
        }
        sleep(Duration::from_millis(500)).await;
        assert_eq!(
            events.lines_of(&["pads.pump.blocked"]).len(),
            2,
            "{:#?}",
            events.lines()
        );
        assert!(src.stop().await);
        no_task_left("stopped with blocked pumps", before, QUIET, &events).await;
        drop((src, subs, cat, cam, mic));
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn stopping_at_every_step_of_a_start_leaves_nothing() {
    timeout(BOUND, async {
        let (before, events, started) = counted_start().await;
        let Started {
            src,
            bus: _bus,
            mut subs,
            cat,
        } = started;
        // Session 1: subscribed to the catalog, which never comes.
        sleep(Duration::from_millis(100)).await;
        assert!(src.stop().await);
        drop(cat);
        // Later sessions stopped at once, or a few steps into their start.
        for ms in [0u64, 1, 5, 20, 100] {
            src.start();
            sleep(Duration::from_millis(ms)).await;
            assert!(src.stop().await);
        }
        // One more with a catalog and live pumps, frames flowing (the
        // stopped sessions' subscriptions are dropped first).
        sleep(Duration::from_millis(10)).await;
        while subs.try_recv().is_ok() {}
        src.start();
        let cat = next_sub(&mut subs).await.expect("the catalog subscription");
        assert_eq!(cat.what, "catalog");
        cat.tx.send(catalog(1, &["cam"])).unwrap();
        let cam = sub_named(&mut subs, "cam").await;
        for seq in 0..5 {
            cam.tx.send(frame(seq)).unwrap();
        }
        sleep(Duration::from_millis(100)).await;
        assert!(src.stop().await);
        no_task_left("stopped while starting", before, QUIET, &events).await;
        drop((src, subs, cat, cam));
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn sessions_that_failed_leave_nothing_once_stopped() {
    timeout(BOUND, async {
        let (before, events, started) = counted_start().await;
        let Started {
            src,
            mut bus,
            mut subs,
            cat,
        } = started;
        // Session 1: the relay refuses the catalog.
        cat.tx
            .send(RelayMessage::Error {
                status: 503,
                reason: "relay unavailable".into(),
            })
            .unwrap();
        bus.recv().await.expect("session 1's error");
        assert!(src.stop().await);
        // Session 2: the relay ends a track's subscription, then goes
        // silent past the pumps' idle bound.
        src.start();
        let cat = sub_named(&mut subs, "catalog").await;
        cat.tx.send(catalog(1, &["cam", "mic"])).unwrap();
        let mut tracks = Vec::new();
        while let Some(sub) = next_sub(&mut subs).await {
            tracks.push(sub);
        }
        assert_eq!(tracks.len(), 2, "{:#?}", events.lines());
        for t in &tracks {
            t.tx.send(frame(0)).unwrap();
        }
        drop(tracks.remove(0));
        bus.recv().await.expect("session 2's error");
        sleep(Duration::from_secs(5)).await;
        assert!(src.stop().await);
        no_task_left("failed sessions, stopped", before, QUIET, &events).await;
        drop((src, subs, cat, tracks));
    })
    .await
    .expect("bounded");
}
