//! The key of a drain: (transcoder, rendition, broadcast, track).
//!
//! Owns [`StatsKey`], the runner's dedupe and stats key, also carried by
//! the drain and by its trace events. It must never depend on the rest of
//! the component: a leaf, so the runner, the drains and the events can all
//! name it.

use std::fmt;

/// The dedupe and stats key: (transcoder, rendition, broadcast, track).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatsKey {
    pub transcoder: String,
    pub rendition: String,
    pub broadcast: String,
    pub track: String,
}

impl StatsKey {
    pub fn new(transcoder: &str, rendition: &str, broadcast: &str, track: &str) -> StatsKey {
        StatsKey {
            transcoder: transcoder.to_string(),
            rendition: rendition.to_string(),
            broadcast: broadcast.to_string(),
            track: track.to_string(),
        }
    }
}

impl fmt::Display for StatsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}:{}/{}",
            self.transcoder, self.rendition, self.broadcast, self.track
        )
    }
}
