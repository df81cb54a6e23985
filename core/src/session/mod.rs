//! Session transports: the long-lived client sessions a relay serves.
//!
//! | module | owns |
//! |---|---|
//! | [`ws`] | the WebSocket control/audio session (JSON commands, binary payloads, bulk pushes, keepalive) |
//!
//! Each transport keeps its upstream's concurrency structure and reaches the
//! network only through [`crate::net`]; none of them may read a wall clock.

pub mod ws;
