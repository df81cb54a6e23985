//! The bench's real-time runs ("real time vs simulation" in `relaysim
//! bench`): a scenario on `TokioNet` over 127.0.0.1 with every timing
//! divided by a scale. These tests hold a run to its sanity facts — it did
//! the scenario's work, as the seed's plan says it should — and never to a
//! speed: wall times are the bench's to print, not a test's to assert. The
//! scale is twice the bench's, to keep the tests short.

use relaysim_harness::fault::Fault;
use relaysim_harness::Seed;
use relaysim_scenarios::bench::{realtime_restream, RealTime};
use relaysim_scenarios::find;
use serde_json::json;

const SCALE: u32 = 40;

fn fact(r: &RealTime, key: &str) -> serde_json::Value {
    r.fact(key)
        .unwrap_or_else(|| panic!("{}: no fact {key} in {:#?}", r.scenario, r.facts))
        .clone()
}

/// The plan's faults before its heal (the ones a real-time run plays).
fn played(name: &str, seed: Seed) -> Vec<Fault> {
    let scn = find(name).unwrap();
    (scn.plan)(seed)
        .events
        .into_iter()
        .filter(|e| e.at() < scn.heal_at)
        .map(|e| e.fault)
        .collect()
}

#[test]
fn vod_slow_twitch_in_real_time_does_the_plans_work() {
    let r = realtime_restream(find("vod-slow-twitch").unwrap(), Seed(0), SCALE)
        .expect("real-time restream run");
    let network = played("vod-slow-twitch", Seed(0))
        .iter()
        .filter(|f| f.is_network())
        .count();
    assert_eq!(r.skipped_faults, network);
    assert_eq!(fact(&r, "vod_applied"), json!(true));
    assert_eq!(fact(&r, "every_ingest_streamed"), json!(true));
}
