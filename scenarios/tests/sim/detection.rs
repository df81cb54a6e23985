//! Every known bug a scenario declares is caught within 50 seeds of its
//! detection scenario, by one of the checks that scenario declares for it
//! (`Target::checks`). The bugs come from the catalog's declarations, so a
//! declared bug cannot lack this test; `every_core_bug_is_declared` makes
//! sure no bug of core's catalog is left undeclared. Together with
//! `scenarios` (every scenario clean with bugs off) this proves both
//! directions for each bug.

use relaysim_core::KnownBug;
use relaysim_harness::detect::expect_caught;
use relaysim_scenarios::catalog::{bugs, find_bug_scenario};

/// Seeds a bug may take to be caught.
const BUDGET: u64 = 50;

#[test]
fn every_declared_bug_is_caught_by_a_declared_check() {
    let bugs = bugs();
    // One thread per bug (each runs its seeds on one worker): the batches
    // are independent, and libtest's own threads run the other tests.
    let results: Vec<Result<String, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = bugs
            .iter()
            .map(|&bug| {
                s.spawn(move || {
                    expect_caught(find_bug_scenario(bug), bug, BUDGET, 1).map(|d| {
                        format!(
                            "{bug}: {} seed {} by {}",
                            d.scenario,
                            d.first_failing_seed
                                .map(|s| s.to_string())
                                .unwrap_or_default(),
                            d.check.unwrap_or_default()
                        )
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a detection thread panicked".into()))
            })
            .collect()
    });
    let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    for r in results.iter().flatten() {
        println!("{r}");
    }
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(results.len(), bugs.len());
}

#[test]
fn every_core_bug_is_declared() {
    let declared = bugs();
    for b in KnownBug::ALL {
        assert!(
            declared.contains(b),
            "{b} is in core's catalog but no scenario declares it as a target"
        );
    }
}
