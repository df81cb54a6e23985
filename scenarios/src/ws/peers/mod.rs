//! The ws family's peers: the simulated outside world of the rtmg
//! WebSocket server, a turmoil host (or, for the real-time bench, a task on
//! real sockets).
//!
//! | peer | plays | records |
//! |---|---|---|
//! | [`client`] | the rtmg plugin (VST), whose reads wait behind its own sends: `params` at a high rate, uploads, server swaps and protocol abuse on the plan's command; keeps the command log (gaps, waits) and reconnects | `ws.client.up`, `ws.client.down`, `ws.client.command`, `ws.client.uploaded`, `ws.client.answer`, `ws.client.push`, `ws.client.progress`, `ws.client.gap`, `ws.client.unexpected`, `ws.client.corrupt` |
//!
//! Peers are the omniscient view of the outside world that checks compare
//! against what the core did. They never link into core.

pub mod client;
