//! One test per scenario, named after it (`vod-slow-twitch` →
//! `scenarios::vod_slow_twitch`), over its default seed range with every
//! bug off: the fixes hold. The failure report's `test:` line replays one
//! seed of these.

use crate::support::run_and_assert;
use relaysim_scenarios::{all, find};

macro_rules! scenario_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                let scn = find($name).expect("scenario in the catalog");
                let report = run_and_assert(scn);
                assert!(!report.outcomes.is_empty());
            }
        )*

        /// Every catalog scenario has a test here.
        #[test]
        fn every_scenario_has_a_test() {
            let tested = [$($name),*];
            for scn in all() {
                assert!(tested.contains(&scn.name), "add `{} => {:?}` to scenario_tests!", scn.test_name(), scn.name);
                assert_eq!(scn.test_name(), scn.name.replace('-', "_"));
            }
        }
    };
}

scenario_tests! {
    vod_slow_twitch => "vod-slow-twitch",
    vod_disconnect_race => "vod-disconnect-race",
    vod_twitch_down => "vod-twitch-down",
    transcode_ladder_churn => "transcode-ladder-churn",
    transcode_slow_consumer => "transcode-slow-consumer",
    publisher_eos_race => "publisher-eos-race",
    publisher_join_fails => "publisher-join-fails",
    pads_stalled_forwarder => "pads-stalled-forwarder",
    pads_teardown => "pads-teardown",
    pads_restart => "pads-restart",
    ws_bulk_crossfire => "ws-bulk-crossfire",
    ws_orphan_header => "ws-orphan-header",
    ws_keepalive => "ws-keepalive",
}
