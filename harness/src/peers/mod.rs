//! Simulated external systems, each a turmoil host.
//!
//! | peer | plays |
//! |---|---|
//! | [`twitch_api`] | Twitch's client-configuration API: allocates numbered IVS sessions, with latency and errors from the fault plan |
//! | [`ingest_sink`] | a platform's RTMP ingest: records which session URL each stream arrives on, and how many frames |
//! | [`publisher`] | OBS: connects, publishes frames, disconnects and reconnects on the plan's command |
//! | [`transcode`] | around the transcode core: the admin API (rendition edits landing mid-callback), injected transcoder panics, downstream viewers |
//! | [`livekit`] | a LiveKit room server: join / publish / unpublish / leave with latency and refusals from the plan; records every publication's life |
//! | [`moq_relay`] | a MoQ relay: one broadcast's catalog and per-track frames; catalog and codec-config changes, outages |
//! | [`downstream`] | what is linked behind the MoQ source's pads: judges caps-before-buffers, order, nothing after removal |
//! | [`ws_client`] | the rtmg VST plugin: a WebSocket client whose reads wait behind its own sends, uploading multi-MB audio, with orphan headers and stalls on the plan's command |
//!
//! Peers record [`crate::trace::WorldEvent`]s; they are the harness's
//! omniscient view of the outside world, which checks compare against what
//! the core did. They never link into core.

pub mod downstream;
pub mod ingest_sink;
pub mod livekit;
pub mod moq_relay;
pub mod publisher;
pub mod transcode;
pub mod twitch_api;
pub mod ws_client;
