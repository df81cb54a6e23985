//! The `relaysim` binary's contract: exit codes and one-line errors.

use crate::support::one_line_error;
use std::process::{Command, Output};

fn relaysim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relaysim"))
        .args(args)
        .env("CI", "1")
        .output()
        .expect("run relaysim")
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    one_line_error(
        &relaysim(&["run", "nope"]),
        "valid scenarios: vod-slow-twitch",
    );
    one_line_error(
        &relaysim(&["replay", "nope", "--seed", "1"]),
        "valid scenarios:",
    );
    one_line_error(
        &relaysim(&["replay", "vod-slow-twitch", "--seed", "0xzz"]),
        "invalid seed",
    );
    one_line_error(
        &relaysim(&["run", "vod-slow-twitch", "--bug", "nope"]),
        "valid bugs: vod-fetch-stacking",
    );
    one_line_error(
        &relaysim(&["run", "vod-slow-twitch", "--seeds", "9..3"]),
        "invalid seed range",
    );
    one_line_error(&relaysim(&["detect", "nope"]), "valid bugs:");
    one_line_error(&relaysim(&["run"]), "name a scenario or pass --all");
}

#[test]
fn run_exit_codes_follow_the_verdict() {
    let ok = relaysim(&["run", "vod-twitch-down", "--seeds", "2"]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let bad = relaysim(&[
        "run",
        "vod-twitch-down",
        "--seeds",
        "2",
        "--bug",
        "vod-latch-leak",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(text.contains("FAILED (liveness)"), "{text}");
    assert!(text.contains("replay   : cargo run --release --bin relaysim -- replay vod-twitch-down --seed 0x0 --bug vod-latch-leak"));
}

#[test]
fn list_names_every_scenario_and_fault_point() {
    let out = relaysim(&["list", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for scn in relaysim_scenarios::all() {
        assert!(
            text.contains(&format!("\"scenario\":\"{}\"", scn.name)),
            "{text}"
        );
    }
    for (site, _) in relaysim_core::faults::SITES {
        assert!(
            text.contains(&format!("\"fault_point\":\"{site}\"")),
            "{text}"
        );
    }
}

#[test]
fn json_run_is_one_line_per_seed_plus_summary() {
    let out = relaysim(&["run", "vod-slow-twitch", "--seeds", "3", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    for l in &lines {
        serde_json::from_str::<serde_json::Value>(l).expect("json line");
    }
    assert!(lines[3].contains("\"summary\":\"vod-slow-twitch\""));
}
