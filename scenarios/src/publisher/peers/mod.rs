//! The publisher family's peers: the simulated outside world of the track
//! publisher, each a turmoil host.
//!
//! | peer | plays | records |
//! |---|---|---|
//! | [`livekit`] | the LiveKit server: room join, track publish, unpublish and leave over the publisher's signalling connection, with latency and refusals from the plan | `lk.joined`, `lk.join.refused`, `lk.published`, `lk.publish.refused`, `lk.unpublished`, `lk.unpublish.unknown`, `lk.left` |
//!
//! Peers are the omniscient view of the outside world that checks compare
//! against what the core did. They never link into core.

pub mod livekit;
