//! The catalog: every scenario, and where each known bug is caught.

use crate::restream;
use crate::transcode;
use crate::ws;
use relaysim_core::KnownBug;
use relaysim_harness::Scenario;

/// Every scenario, in `relaysim list` order.
pub fn all() -> &'static [&'static Scenario] {
    static ALL: [&Scenario; 13] = [
        &restream::VOD_SLOW_TWITCH,
        &restream::VOD_DISCONNECT_RACE,
        &restream::VOD_TWITCH_DOWN,
        &transcode::TRANSCODE_LADDER_CHURN,
        &transcode::TRANSCODE_SLOW_CONSUMER,
        &ws::WS_BULK_CROSSFIRE,
        &ws::WS_ORPHAN_HEADER,
        &ws::WS_KEEPALIVE,
        &crate::publisher::PUBLISHER_EOS_RACE,
        &crate::publisher::PUBLISHER_JOIN_FAILS,
        &crate::pads::PADS_STALLED_FORWARDER,
        &crate::pads::PADS_TEARDOWN,
        &crate::pads::PADS_RESTART,
    ];
    &ALL
}

/// A scenario by name, or a one-line error naming the valid choices.
pub fn find(name: &str) -> Result<&'static Scenario, String> {
    all()
        .iter()
        .copied()
        .find(|s| s.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = all().iter().map(|s| s.name).collect();
            format!(
                "unknown scenario {name:?}; valid scenarios: {}",
                names.join(", ")
            )
        })
}

/// The scenario whose purpose is to catch `bug` (its detection scenario).
pub fn find_bug_scenario(bug: KnownBug) -> &'static Scenario {
    all()
        .iter()
        .copied()
        .find(|s| s.targets.contains(&bug))
        .unwrap_or_else(|| {
            panic!("known bug {bug} has no scenario targeting it: add one to the catalog")
        })
}

/// Parses a bug id, or a one-line error naming the valid choices.
pub fn parse_bug(id: &str) -> Result<KnownBug, String> {
    KnownBug::from_id(id)
        .ok_or_else(|| format!("unknown bug {id:?}; valid bugs: {}", KnownBug::valid_ids()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bug_has_a_scenario_and_names_are_unique() {
        for b in KnownBug::ALL {
            assert!(find_bug_scenario(*b).targets.contains(b));
        }
        let mut names: Vec<_> = all().iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all().len());
        assert!(find("nope")
            .unwrap_err()
            .contains("valid scenarios: vod-slow-twitch"));
        assert!(parse_bug("nope")
            .unwrap_err()
            .contains("valid bugs: vod-fetch-stacking"));
    }
}
