//! The egress supervisor's per-tick decision for one destination, sans-IO.
//!
//! Owns [`decide`]: given what the supervisor sees on a tick (ingest alive,
//! the destination's configuration, its override, its running pump), say
//! whether the VOD branch may try to claim a fetch, which URL is effective,
//! and whether the pump must be (re)started. Pure: no clock, no I/O, no
//! shared state — the async supervisor around it does those, and proptest
//! drives this function directly.

use crate::restream::event::RestartReason;
use crate::restream::{DestinationConfig, Platform};

/// What the supervisor knows about a destination's current pump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PumpView<'a> {
    /// The URL it was started with.
    pub url: &'a str,
    /// Its task has finished (it died or was told to stop).
    pub finished: bool,
}

/// One tick's inputs for one destination.
#[derive(Debug, Clone, Copy)]
pub struct TickInput<'a> {
    pub ingest_alive: bool,
    pub dest: &'a DestinationConfig,
    pub override_url: Option<&'a str>,
    pub pump: Option<PumpView<'a>>,
}

/// One tick's decision for one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickDecision {
    /// The VOD branch applies: try to claim the latch and fetch.
    pub try_vod_fetch: bool,
    /// The override if set, else the configured URL.
    pub effective_url: String,
    /// Restart (abort + spawn) the pump, and why. Never while ingest is dead.
    pub restart: Option<RestartReason>,
}

/// Does the VOD-audio branch apply? Only for a live Twitch destination with
/// `vod_audio`, a stream key and no override.
pub fn vod_branch_applies(
    ingest_alive: bool,
    dest: &DestinationConfig,
    has_override: bool,
) -> bool {
    ingest_alive
        && !has_override
        && dest.platform == Platform::Twitch
        && dest.vod_audio
        && !dest.stream_key.is_empty()
}

pub fn decide(input: TickInput<'_>) -> TickDecision {
    let try_vod_fetch =
        vod_branch_applies(input.ingest_alive, input.dest, input.override_url.is_some());
    let effective_url = match input.override_url {
        Some(u) => u.to_string(),
        None => input.dest.configured_url(),
    };
    let restart = if !input.ingest_alive {
        None
    } else {
        match input.pump {
            None => Some(RestartReason::Initial),
            Some(p) if p.url != effective_url => Some(RestartReason::UrlChanged),
            Some(p) if p.finished => Some(RestartReason::PumpDied),
            Some(_) => None,
        }
    };
    TickDecision {
        try_vod_fetch,
        effective_url,
        restart,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn twitch() -> DestinationConfig {
        DestinationConfig::twitch("twitch", "rtmp://twitch-ingest:1935/app", "key", true)
    }

    #[test]
    fn vod_branch_needs_every_condition() {
        let d = twitch();
        assert!(vod_branch_applies(true, &d, false));
        assert!(!vod_branch_applies(false, &d, false));
        assert!(!vod_branch_applies(true, &d, true));
        let mut no_vod = d.clone();
        no_vod.vod_audio = false;
        assert!(!vod_branch_applies(true, &no_vod, false));
        let mut no_key = d.clone();
        no_key.stream_key.clear();
        assert!(!vod_branch_applies(true, &no_key, false));
        let yt = DestinationConfig::new("youtube", Platform::YouTube, "rtmp://y:1935/live", "k");
        assert!(!vod_branch_applies(true, &yt, false));
    }

    #[test]
    fn restart_rules() {
        let d = twitch();
        let configured = d.configured_url();
        let input = |alive, ov: Option<&'static str>, pump| TickInput {
            ingest_alive: alive,
            dest: &d,
            override_url: ov,
            pump,
        };
        assert_eq!(
            decide(input(true, None, None)).restart,
            Some(RestartReason::Initial)
        );
        assert_eq!(
            decide(input(false, None, None)).restart,
            None,
            "never while ingest is dead"
        );
        let running = PumpView {
            url: &configured,
            finished: false,
        };
        assert_eq!(decide(input(true, None, Some(running))).restart, None);
        let dec = decide(input(true, Some("rtmp://t/ivs-1/key"), Some(running)));
        assert_eq!(dec.restart, Some(RestartReason::UrlChanged));
        assert_eq!(dec.effective_url, "rtmp://t/ivs-1/key");
        let dead = PumpView {
            url: &configured,
            finished: true,
        };
        assert_eq!(
            decide(input(true, None, Some(dead))).restart,
            Some(RestartReason::PumpDied)
        );
        assert_eq!(decide(input(false, None, Some(dead))).restart, None);
    }
}
