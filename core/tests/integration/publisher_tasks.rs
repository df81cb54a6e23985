//! The publisher contract's resource clauses (R1: one teardown per attempt,
//! nothing after it; S3: a failed side leaves nothing behind), judged from
//! outside: by the runtime's own count of live tasks ([`alive_tasks`]),
//! never by the publisher's bookkeeping or its trace.
//!
//! Each test runs the whole publisher (`run_publisher`: attempts, retries,
//! the signal handler) against an in-memory room, ends it one way (a signal
//! while tracks stream, a signal during the retry backoff after failed
//! starts, the pipeline's EOS, a room that drops the link mid-stream), waits
//! for it to finish and for every deadline to pass, and requires exactly
//! the tasks alive before it started: no signalling task, track stream or
//! signal handler of any attempt is left.

use crate::publisher_attempt::room;
use crate::support::{alive_tasks, no_task_left, Events, MemNet};
use futures_util::StreamExt;
use relaysim_core::session::publisher::pipeline::PipelineControl;
use relaysim_core::session::publisher::run::{run_publisher, PublisherConfig, PublisherHandle};
use relaysim_core::session::publisher::TrackKind;
use relaysim_core::Emitter;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep, timeout};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// Longer than every deadline an attempt holds (RPC and leave timeouts,
/// the retry backoff).
const QUIET: Duration = Duration::from_secs(60);

/// Bounds every test (paused time: reached at once if everything idles).
const BOUND: Duration = Duration::from_secs(300);

/// Runs the publisher over `net` for `run`, then signals it (if `signal`),
/// waits for it to finish, and requires no task left.
async fn run_then_end(
    what: &str,
    net: MemNet,
    control: Arc<PipelineControl>,
    run: Duration,
    signal: bool,
) {
    let events = Events::new();
    let before = alive_tasks();
    let handle = PublisherHandle::new();
    let publisher = tokio::spawn(run_publisher(
        net,
        PublisherConfig::new("livekit:7880", "room"),
        control,
        handle.clone(),
        Emitter::new("gst", events.clone()),
    ));
    sleep(run).await;
    if signal {
        handle.signal();
    }
    timeout(QUIET, publisher)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{what}: the publisher did not finish; {:#?}",
                events.lines()
            )
        })
        .expect("the publisher task");
    assert!(handle.finished());
    no_task_left(what, before, QUIET, &events).await;
}

#[tokio::test(start_paused = true)]
async fn a_signal_while_tracks_stream_leaves_nothing() {
    timeout(BOUND, async {
        for ms in [0u64, 50, 300, 2_000] {
            let control = PipelineControl::new(1);
            let what = format!("signalled at {ms} ms");
            run_then_end(&what, room(), control, Duration::from_millis(ms), true).await;
        }
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn a_signal_after_failed_starts_leaves_nothing() {
    timeout(BOUND, async {
        // Every pipeline start fails: attempts retried after the backoff,
        // the signal landing in a start or in a backoff.
        for ms in [500u64, 3_000, 7_000] {
            let control = PipelineControl::new(2);
            control.set_start(100, 400, 100);
            let what = format!("failed starts, signalled at {ms} ms");
            run_then_end(&what, room(), control, Duration::from_millis(ms), true).await;
        }
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn the_pipeline_s_eos_ends_it_and_leaves_nothing() {
    timeout(BOUND, async {
        let control = PipelineControl::new(3);
        for kind in [TrackKind::Audio, TrackKind::Video] {
            control.set_eos(kind, Some(Duration::from_secs(1)));
        }
        // The publisher ends by itself, never signalled.
        run_then_end(
            "pipeline EOS",
            room(),
            control,
            Duration::from_secs(10),
            false,
        )
        .await;
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn a_room_that_drops_the_link_leaves_nothing() {
    timeout(BOUND, async {
        // Joins and publishes are never answered and the link is dropped
        // after 300 ms: every attempt's start fails or loses its room.
        let rude = MemNet::spawning(64 * 1024, |stream| async move {
            let mut conn = Framed::new(stream, LengthDelimitedCodec::new());
            let _ = timeout(Duration::from_millis(300), async {
                while let Some(Ok(_)) = conn.next().await {}
            })
            .await;
        });
        let control = PipelineControl::new(4);
        run_then_end("room dropped", rude, control, Duration::from_secs(8), true).await;
    })
    .await
    .expect("bounded");
}
