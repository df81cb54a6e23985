//! The transcode family's peers: the simulated world around the transcode
//! core. They run on the `transcode` host (they need its runtime), except
//! the publishers, which are hosts of their own.
//!
//! | peer | plays | records |
//! |---|---|---|
//! | [`admin`] | the admin API editing the ladder (landing at a factory build or at its window's end), the transcoder panics the plan arms, and a downstream viewer per video track | `admin.apply`, `inject.panic`, `viewer.end` |
//! | `crate::restream::peers::obs` | the publishers `obs-a`, `obs-b`, `obs-c`: connect, publish frames, stop and re-publish on the plan's command | `obs.up`, `obs.down` |
//! | [`encoder`] | the phases world's encoders `enc-main`, `enc-backup` (one stream key): bounded connect and writes, read for the ingest's close, silences before the hello and between frames on the plan's command, a bounce at the heal | `enc.connect`, `enc.up`, `enc.hello`, `enc.pause`, `enc.resume`, `enc.down` |
//!
//! Peers are the omniscient view of the outside world that checks compare
//! against what the core did. They never reach into the runner except
//! through its public handle.

pub mod admin;
pub mod encoder;
