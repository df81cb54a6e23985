//! The catalog: every scenario, and where each known bug is caught.
//!
//! One line per scenario, in [`with_catalog!`](crate::with_catalog): its test name and its
//! static. That line is the whole registration: it puts the scenario in
//! [`all`] (`relaysim list`, `run --all`, `detect`) and gives it its test
//! (`scenarios::<test name>` in `tests/sim`, generated from the same
//! list). The known bugs the catalog tests are the ones its scenarios
//! declare as targets: a bug no scenario targets has no detection test, no
//! card and no `detect` row, and the tests here fail for every bug of
//! core's catalog left in that state.

use relaysim_core::KnownBug;
use relaysim_harness::AnyScenario;

/// Calls `$callback! { test_name => path::TO_STATIC, … }` with every
/// scenario of the catalog, in `relaysim list` order. The test name is the
/// scenario's name in snake_case (checked by the tests).
#[macro_export]
macro_rules! with_catalog {
    ($callback:ident) => {
        $callback! {
            vod_slow_twitch => $crate::restream::VOD_SLOW_TWITCH,
            vod_disconnect_race => $crate::restream::VOD_DISCONNECT_RACE,
            vod_twitch_down => $crate::restream::VOD_TWITCH_DOWN,
            vod_phases => $crate::restream::VOD_PHASES,
            transcode_ladder_churn => $crate::transcode::TRANSCODE_LADDER_CHURN,
            transcode_slow_consumer => $crate::transcode::TRANSCODE_SLOW_CONSUMER,
            transcode_phases => $crate::transcode::TRANSCODE_PHASES,
            ws_bulk_crossfire => $crate::ws::WS_BULK_CROSSFIRE,
            ws_orphan_header => $crate::ws::WS_ORPHAN_HEADER,
            ws_keepalive => $crate::ws::WS_KEEPALIVE,
            ws_phases => $crate::ws::WS_PHASES,
            publisher_eos_race => $crate::publisher::PUBLISHER_EOS_RACE,
            publisher_join_fails => $crate::publisher::PUBLISHER_JOIN_FAILS,
            publisher_phases => $crate::publisher::PUBLISHER_PHASES,
            pads_stalled_forwarder => $crate::pads::PADS_STALLED_FORWARDER,
            pads_teardown => $crate::pads::PADS_TEARDOWN,
            pads_restart => $crate::pads::PADS_RESTART,
            pads_phases => $crate::pads::PADS_PHASES,
            lvqr_ladder_churn => $crate::lvqr::LVQR_LADDER_CHURN,
        }
    };
}

macro_rules! catalog_array {
    ($($test:ident => $scenario:path),* $(,)?) => {
        /// Every scenario, in `relaysim list` order.
        pub fn all() -> &'static [&'static dyn AnyScenario] {
            static ALL: &[&dyn AnyScenario] = &[$(&$scenario),*];
            ALL
        }

        /// Every scenario's test name, in the same order.
        pub fn test_names() -> &'static [&'static str] {
            &[$(stringify!($test)),*]
        }
    };
}

with_catalog!(catalog_array);

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

    /// Every generated plan is a valid plan of its scenario (its hosts,
    /// its family's fault points, inside the run): `hosts` lists are right
    /// and plan files saved from any seed replay.
    #[test]
    fn generated_plans_validate_against_their_scenario() {
        for s in all() {
            for seed in 0..30 {
                let plan = s.plan(relaysim_harness::Seed(seed));
                let json: serde_json::Value = serde_json::from_str(&plan.to_json()).unwrap();
                if let Err(e) = s.parse_plan(&json) {
                    panic!("{} seed {seed}: {e}", s.name);
                }
            }
        }
    }

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
        for (s, test) in all().iter().zip(test_names()) {
            assert_eq!(s.test_name(), *test, "the catalog line of {}", s.name);
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

    /// Every bounded wait of the core (`relaysim_core::deadlines::SITES`),
    /// except the declared backstops no run can reach (`BACKSTOPS`, each
    /// with its reason), is a `sometimes` check of a scenario whose default
    /// range is large enough for coverage to be judged, so `cargo test` fails the day a
    /// timeout path stops being exercised (or a new one is added without a
    /// scenario that reaches it).
    #[test]
    fn catalog_covers_every_deadline() {
        use relaysim_harness::check::CheckKind;
        use relaysim_harness::phase::deadline_check_name;
        use relaysim_harness::runner::COVERAGE_MIN_SEEDS;
        let mut missing = Vec::new();
        let backstops = relaysim_core::deadlines::BACKSTOPS;
        for (site, _) in relaysim_core::deadlines::SITES {
            if backstops.iter().any(|(b, _)| b == site) {
                continue;
            }
            let name = deadline_check_name(site);
            let covered = all().iter().any(|s| {
                s.default_seeds >= COVERAGE_MIN_SEEDS as u64
                    && s.checks
                        .iter()
                        .any(|c| c.name == name && c.kind == CheckKind::Sometimes)
            });
            if !covered {
                missing.push(name);
            }
        }
        assert!(
            missing.is_empty(),
            "core deadlines no scenario's coverage checks reach: {missing:?}"
        );
        // A backstop that a scenario does reach belongs in the covered list.
        for (site, _) in backstops {
            let name = deadline_check_name(site);
            assert!(
                !all()
                    .iter()
                    .any(|s| s.checks.iter().any(|c| c.name == name)),
                "{site} is covered by a scenario: take it out of BACKSTOPS"
            );
        }
    }

    /// Every fault point of the core (`relaysim_core::faults::SITES`) is a
    /// `sometimes` check of a scenario whose default range is large enough
    /// for coverage to be judged: a plan that switches a site on proves
    /// nothing until the code passes it while on, so `cargo test` fails the
    /// day a site stops firing (or a new one is added without a scenario
    /// that fires it).
    #[test]
    fn catalog_covers_every_fault_point() {
        use relaysim_harness::check::CheckKind;
        use relaysim_harness::phase::fault_point_check_name;
        use relaysim_harness::runner::COVERAGE_MIN_SEEDS;
        let missing: Vec<String> = relaysim_core::faults::SITES
            .iter()
            .map(|(site, _)| fault_point_check_name(site))
            .filter(|name| {
                !all().iter().any(|s| {
                    s.default_seeds >= COVERAGE_MIN_SEEDS as u64
                        && s.checks
                            .iter()
                            .any(|c| c.name == *name && c.kind == CheckKind::Sometimes)
                })
            })
            .collect();
        assert!(
            missing.is_empty(),
            "core fault points no scenario's coverage checks reach: {missing:?}"
        );
    }
}
