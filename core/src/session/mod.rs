//! The session components: per-connection and per-track media sessions.
//!
//! | module | upstream | owns |
//! |---|---|---|
//! | [`publisher`] | livekit gstreamer-publisher (seed-systems.md §4) | room join + track publish in parallel with pipeline start; the per-track EOS latch |
//! | [`pads`] | moq-gst `moqsrc` (seed-systems.md §3) | the session controller off the main loop, per-track pumps, bounded pad queues, the main-loop forwarder, ordered teardown |
//!
//! Each submodule keeps its upstream's concurrency structure and never names
//! turmoil: the network is the [`crate::net::Net`] seam, time is
//! `tokio::time`, shared state a loom model checks comes from
//! [`crate::sync`].

pub mod pads;
pub mod publisher;
