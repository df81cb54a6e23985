//! The catalog: every scenario, and where each known bug is caught.
//!
//! One line per scenario (grouped by family). The known bugs the catalog
//! tests are the ones its scenarios declare as targets: a bug no scenario
//! targets has no detection test, no card and no `detect` row, and
//! [`tests`] fails for every bug of core's catalog left in that state.

use crate::restream;
use crate::transcode;
use crate::ws;
use relaysim_core::KnownBug;
use relaysim_harness::AnyScenario;

/// Every scenario, in `relaysim list` order.
pub fn all() -> &'static [&'static dyn AnyScenario] {
    static ALL: [&dyn AnyScenario; 13] = [
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
pub fn find(name: &str) -> Result<&'static dyn AnyScenario, String> {
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

/// Every known bug some scenario targets, in catalog order, each once.
pub fn bugs() -> Vec<KnownBug> {
    let mut out: Vec<KnownBug> = Vec::new();
    for t in all().iter().flat_map(|s| s.targets) {
        if !out.contains(&t.bug) {
            out.push(t.bug);
        }
    }
    out
}

/// The scenario whose purpose is to catch `bug` (its detection scenario):
/// the first that targets it.
pub fn find_bug_scenario(bug: KnownBug) -> &'static dyn AnyScenario {
    all()
        .iter()
        .copied()
        .find(|s| s.targets_bug(bug))
        .unwrap_or_else(|| {
            panic!("known bug {bug} has no scenario targeting it: add one to the catalog")
        })
}

/// Parses a bug id (any bug a scenario targets), or a one-line error naming
/// the valid choices.
pub fn parse_bug(id: &str) -> Result<KnownBug, String> {
    let bugs = bugs();
    bugs.iter().copied().find(|b| b.id() == id).ok_or_else(|| {
        let ids: Vec<&str> = bugs.iter().map(|b| b.id()).collect();
        format!("unknown bug {id:?}; valid bugs: {}", ids.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bug_has_a_scenario_and_names_are_unique() {
        for b in KnownBug::ALL {
            assert!(find_bug_scenario(*b).targets_bug(*b));
        }
        for s in all() {
            for t in s.targets {
                assert!(!t.checks.is_empty(), "{}: {} names no check", s.name, t.bug);
                for c in t.checks {
                    assert!(
                        s.checks.iter().any(|k| k.name == *c),
                        "{}: {} expects check {c}, which the scenario does not run",
                        s.name,
                        t.bug
                    );
                }
            }
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
