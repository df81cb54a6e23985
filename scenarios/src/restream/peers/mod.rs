//! The restream family's peers: the simulated outside world of the relay,
//! each a turmoil host (or, for the real-time bench, a task on real sockets).
//!
//! | peer | plays | records |
//! |---|---|---|
//! | [`twitch_api`] | Twitch's client-configuration API: allocates numbered IVS sessions, with latency and errors from the plan | `twitch.alloc`, `twitch.error` |
//! | [`ingest_sink`] | a platform's RTMP ingest: which session URL each publish arrives on, whether it starts decodable (metadata, AVC and AAC headers, then a keyframe), its frames and keyframes | `sink.open`, `sink.start`, `sink.close` |
//! | [`obs`] | OBS: publishes the real H.264 + AAC [`clip`] by RTMP, disconnects and reconnects on the plan's command (the transcode family's publishers too, on their framed wire) | `obs.up`, `obs.down` |
//!
//! Peers are the omniscient view of the outside world that checks compare
//! against what the core did. They never link into core.

pub mod clip;
pub mod ingest_sink;
pub mod obs;
pub mod twitch_api;
