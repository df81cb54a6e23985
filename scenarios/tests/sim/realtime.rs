//! The bench's real-time runs ("real time vs simulation" in `relaysim
//! bench`): a scenario on `TokioNet` over 127.0.0.1 with every timing
//! divided by a scale. These tests hold a run to its sanity facts — it did
//! the scenario's work, as the seed's plan says it should — and never to a
//! speed: wall times are the bench's to print, not a test's to assert. The
//! scale is twice the bench's, to keep the tests short.

use relaysim_core::session::ws::protocol::PayloadKind;
use relaysim_harness::fault::{FamilyFault, Step};
use relaysim_harness::{Scenario, Seed};
use relaysim_scenarios::bench::realtime::{restream::vod_slow_twitch, ws::ws_bulk_crossfire};
use relaysim_scenarios::bench::RealTime;
use relaysim_scenarios::{restream, ws};
use serde_json::json;

const SCALE: u32 = 40;

fn fact(r: &RealTime, key: &str) -> serde_json::Value {
    r.fact(key)
        .unwrap_or_else(|| panic!("{}: no fact {key} in {:#?}", r.scenario, r.facts))
        .clone()
}

/// The plan's steps before its heal (the ones a real-time run plays).
fn played<F: FamilyFault>(scn: &Scenario<F>, seed: Seed) -> Vec<Step<F>> {
    scn.plan_for(seed)
        .events
        .into_iter()
        .filter(|e| e.at() < scn.heal_at)
        .map(|e| e.fault)
        .collect()
}

#[test]
fn ws_bulk_crossfire_in_real_time_does_the_plans_work() {
    let r = ws_bulk_crossfire(Seed(0), SCALE).expect("real-time ws run");
    let plan = played(&ws::WS_BULK_CROSSFIRE, Seed(0));
    // Every action of the plan is one traced command; every upload is
    // applied; every swap (from the server's copy or an upload) pushes a
    // mirror and two stems.
    let uploads = plan
        .iter()
        .filter(|f| matches!(f, Step::App(ws::Fault::Upload { .. })))
        .count();
    let swaps = plan
        .iter()
        .filter(|f| {
            matches!(
                f,
                Step::App(ws::Fault::SwapServer)
                    | Step::App(ws::Fault::Upload {
                        cmd: PayloadKind::SwapSource,
                        ..
                    })
            )
        })
        .count();
    assert!(uploads > 0 && swaps > 0, "seed 0 drives bulk traffic");
    assert_eq!(
        r.skipped_faults, 0,
        "ws-bulk-crossfire has no network faults"
    );
    assert_eq!(fact(&r, "commands"), json!(plan.len()));
    assert_eq!(fact(&r, "answered_in_order"), json!(true));
    assert_eq!(fact(&r, "uploads_applied"), json!(uploads));
    assert_eq!(fact(&r, "pushes_received"), json!(3 * swaps));
    assert_eq!(fact(&r, "payloads_byte_identical"), json!(true));
    assert!(fact(&r, "bulk_mib").as_f64().unwrap() > 1.0);
    // No wedge: the one session lived to the end.
    assert_eq!(fact(&r, "keepalive_kills"), json!(0));
    assert_eq!(fact(&r, "connections"), json!(1));
    assert_eq!((r.scale, r.scenario_s), (SCALE, 30.0));
}

#[test]
fn vod_slow_twitch_in_real_time_does_the_plans_work() {
    let r = vod_slow_twitch(Seed(0), SCALE).expect("real-time restream run");
    // Loopback plays only the family's faults: network faults and fault
    // points are the simulator's.
    let not_app = played(&restream::VOD_SLOW_TWITCH, Seed(0))
        .iter()
        .filter(|f| f.app().is_none())
        .count();
    assert_eq!(r.skipped_faults, not_app);
    assert_eq!(fact(&r, "vod_applied"), json!(true));
    assert_eq!(fact(&r, "every_ingest_streamed"), json!(true));
}
