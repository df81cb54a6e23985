//! One test per scenario, named after it (`vod-slow-twitch` →
//! `scenarios::vod_slow_twitch`), over its default seed range with every
//! bug off: the fixes hold. The failure report's `test:` line replays one
//! seed of these.

use crate::support::run_and_assert;

macro_rules! scenario_tests {
    ($($test:ident => $scenario:path),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                assert!(run_and_assert(&$scenario) > 0);
            }
        )*
    };
}

// One test per catalog line.
relaysim_scenarios::with_catalog!(scenario_tests);
