//! One publish attempt (`Publisher`) against an in-memory room that answers
//! the join and every publish and never answers the leave: what the attempt
//! says about itself (its number, its tracks, whether its teardown
//! finished) and that every caller of `stop`/`wait_stopped` returns only
//! once the teardown finished (run.rs contract), on paused time.

use crate::support::MemNet;
use futures_util::{SinkExt, StreamExt};
use relaysim_core::session::publisher::pipeline::PipelineControl;
use relaysim_core::session::publisher::run::{Publisher, PublisherConfig};
use relaysim_core::session::publisher::signal::{decode, encode, SignalRequest, SignalResponse};
use relaysim_core::session::publisher::{StopReason, TrackKind};
use relaysim_core::Emitter;
use std::time::Duration;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// A room that joins, publishes (sid `TR_<track>`) and ignores the leave.
pub(crate) fn room() -> MemNet {
    MemNet::spawning(64 * 1024, |stream| async move {
        let mut conn = Framed::new(stream, LengthDelimitedCodec::new());
        while let Some(Ok(frame)) = conn.next().await {
            let answer = match decode::<SignalRequest>(&frame) {
                Ok(SignalRequest::Join { .. }) => SignalResponse::Joined,
                Ok(SignalRequest::Publish { track }) => SignalResponse::Published {
                    track,
                    sid: format!("TR_{track}"),
                },
                _ => continue,
            };
            if conn.send(encode(&answer).unwrap()).await.is_err() {
                return;
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn an_attempt_knows_itself_and_every_stopper_waits_for_the_teardown() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let cfg = PublisherConfig::new("livekit:7880", "room");
        let control = PipelineControl::new(1);
        let p = Publisher::new(room(), &cfg, 7, &control, Emitter::tracing_only("gst"));
        assert_eq!(p.attempt(), 7);
        let kinds: Vec<TrackKind> = p.tracks().iter().map(|t| t.kind).collect();
        assert_eq!(kinds, cfg.tracks, "one track per configured kind, in order");
        assert!(!p.is_stopped(), "stopped before any stop");
        p.start()
            .await
            .expect("the room answers the join and the publishes");

        // The leave is never answered: the teardown waits out its bound.
        let t0 = tokio::time::Instant::now();
        let stopper = {
            let p = p.clone();
            tokio::spawn(async move { p.stop(StopReason::Signal).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!p.is_stopped(), "stopped while the leave is still awaited");
        p.wait_stopped().await;
        assert!(
            p.is_stopped(),
            "wait_stopped returned before the teardown finished"
        );
        assert!(
            t0.elapsed() >= cfg.leave_timeout,
            "the teardown did not wait for the leave"
        );
        stopper.await.unwrap();
        // A late stop and a late wait return at once, with nothing to do.
        p.stop(StopReason::Signal).await;
        p.wait_stopped().await;
        assert!(p.is_stopped());
    })
    .await
    .expect("bounded");
}
