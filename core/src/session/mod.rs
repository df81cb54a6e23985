//! The session components: long-lived client sessions and per-track media
//! sessions.
//!
//! | module | upstream | owns |
//! |---|---|---|
//! | [`ws`] | DEMON rtmg (seed-systems.md §1) | the WebSocket control/audio session: JSON commands, binary payloads, fragmented bulk pushes, keepalive |
//! | [`publisher`] | livekit gstreamer-publisher (seed-systems.md §4) | room join + track publish in parallel with pipeline start; the per-track EOS latch |
//! | [`pads`] | moq-gst `moqsrc` (seed-systems.md §3) | the session controller off the main loop, per-track pumps, bounded pad queues, the main-loop forwarder, ordered teardown |
//!
//! Each submodule keeps its upstream's concurrency structure and never names
//! turmoil: the network is the [`crate::net::Net`] seam, time is
//! `tokio::time`, shared state a loom model checks comes from
//! [`crate::sync`]; none may read a wall clock.

pub mod pads;
pub mod publisher;
pub mod ws;
