//! The ws family's peers: the simulated outside world of the rtmg
//! WebSocket server, a turmoil host (or, for the real-time bench, a task on
//! real sockets).
//!
//! | peer | plays | records |
//! |---|---|---|
//! | [`client`] | the rtmg plugin (VST), whose reads wait behind its own sends: `params` at a high rate, uploads, server swaps and protocol abuse on the plan's command; keeps the command log (gaps, waits) and reconnects | `ws.client.up`, `ws.client.down`, `ws.client.command`, `ws.client.uploaded`, `ws.client.answer`, `ws.client.push`, `ws.client.progress`, `ws.client.gap`, `ws.client.unexpected`, `ws.client.corrupt` |
//! | [`idler`] | (`ws-phases` only) a second client that opens a connection and does nothing: no upgrade request, or an upgrade request and no reads | `ws.idler.open`, `ws.idler.failed`, `ws.idler.dropped` |
//!
//! With `trace_connects` (`ws-phases` only) the plugin also records
//! `ws.client.connecting` and `ws.client.tcp-up` for each connect attempt.
//!
//! Peers are the omniscient view of the outside world that checks compare
//! against what the core did. They never link into core.

pub mod client;
pub mod idler;
