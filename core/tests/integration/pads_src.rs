//! The MoQ source element's lifecycle (`MoqSrc`; src.rs contract) against
//! an in-memory relay that accepts every subscription and then says
//! nothing: sessions are numbered 1, 2, 3, … in start order and
//! `sessions_started` counts them, a `start` while a session runs creates
//! nothing, and each session is torn down by exactly one `stop`, on paused
//! time.

use crate::support::{Events, MemNet};
use relaysim_core::session::pads::element::CountingDownstream;
use relaysim_core::session::pads::{MoqSrc, PadsConfig};
use relaysim_core::Emitter;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// A relay that reads whatever it is sent and never answers.
fn quiet_relay() -> MemNet {
    MemNet::spawning(64 * 1024, |mut stream| async move {
        let mut buf = [0u8; 256];
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    })
}

#[tokio::test(start_paused = true)]
async fn sessions_are_numbered_in_start_order_and_each_is_stopped_once() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let events = Events::new();
        let (src, _bus) = MoqSrc::new(
            quiet_relay(),
            PadsConfig::new("moq-relay:4443", "live"),
            Arc::new(CountingDownstream::default()),
            Emitter::new("gst", events.clone()),
        );
        assert_eq!((src.session(), src.sessions_started()), (None, 0));
        assert!(!src.stop().await, "stopped a session that never started");

        assert_eq!(src.start(), 1);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(src.start(), 1, "a start while session 1 runs");
        assert_eq!((src.session(), src.sessions_started()), (Some(1), 1));
        assert!(src.stop().await, "session 1 was running");
        assert!(!src.stop().await, "session 1 stopped twice");
        assert_eq!((src.session(), src.sessions_started()), (None, 1));

        assert_eq!(src.start(), 2);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!((src.session(), src.sessions_started()), (Some(2), 2));
        assert!(src.stop().await, "session 2 was running");
        assert_eq!(src.start(), 3, "ids are never reused");
        assert_eq!((src.session(), src.sessions_started()), (Some(3), 3));

        let lifecycle: Vec<String> = events.lines_of(&["pads.session.start", "pads.stop."]);
        assert_eq!(
            lifecycle,
            [
                "pads.session.start session=1",
                "pads.stop.begin session=1 pads=0",
                "pads.stop.done session=1 removed=0",
                "pads.session.start session=2",
                "pads.stop.begin session=2 pads=0",
                "pads.stop.done session=2 removed=0",
                "pads.session.start session=3",
            ],
            "one start per session, one teardown per stop that found one"
        );
    })
    .await
    .expect("the element's lifecycle hangs");
}
