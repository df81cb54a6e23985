//! The `relaysim` binary's contract: exit codes and one-line errors.

use crate::support::one_line_error;
use std::process::{Command, Output};

/// Runs the binary in the test's scratch directory (so its default
/// failures directory, `target/relaysim/failures`, lands there too).
fn relaysim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relaysim"))
        .args(args)
        .env("CI", "1")
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .output()
        .expect("run relaysim")
}

/// The last line `trace-hash: <hex>` of a replay's stdout.
fn trace_hash(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    last.strip_prefix("trace-hash: ")
        .unwrap_or_else(|| panic!("no trace hash in {text}"))
        .to_string()
}

/// The arguments of a report line's `cargo run … relaysim -- ARGS`.
fn pasted(line: &str) -> Vec<String> {
    let (_, args) = line
        .split_once("--bin relaysim -- ")
        .unwrap_or_else(|| panic!("not a relaysim command: {line}"));
    args.split_whitespace().map(str::to_string).collect()
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
    // clap's own usage errors are one line too.
    one_line_error(
        &relaysim(&["run", "--bogus"]),
        "unexpected argument '--bogus'",
    );
    one_line_error(
        &relaysim(&["run", "vod-slow-twitch", "--seed-timeout", "0"]),
        "invalid --seed-timeout 0",
    );
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
fn list_names_every_scenario_fault_point_and_deadline() {
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
    for (site, _) in relaysim_core::deadlines::SITES {
        assert!(text.contains(&format!("\"deadline\":\"{site}\"")), "{text}");
    }
}

#[test]
fn json_run_is_one_line_per_seed_plus_summary() {
    let out = relaysim(&["run", "vod-slow-twitch", "--seeds", "3", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    for l in &lines {
        serde_json::from_str::<serde_json::Value>(l).expect("json line");
    }
    for l in &lines[..3] {
        assert!(
            l.contains("\"range\":\"0x0..0x3\"") && l.contains("\"version\""),
            "{l}"
        );
    }
    assert!(lines[3].contains("\"summary\":\"vod-slow-twitch\""));
    let done: serde_json::Value = serde_json::from_str(lines[4]).unwrap();
    assert_eq!(done["complete"], "vod-slow-twitch");
    assert_eq!(
        (done["seeds"].as_u64(), done["expected"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(done["interrupted"], false);
}

/// Every replay command a failure report prints reproduces the run it
/// belongs to: the same trace hash as the run reported, whether the report
/// came from a sweep (its plan saved to a file) or from a replay of a plan
/// file (the command names the file).
#[test]
fn every_printed_replay_command_reproduces_its_run() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("replay-exact");
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.to_str().unwrap();
    let sweep = [
        "run",
        "vod-disconnect-race",
        "--seeds",
        "0..4",
        "--bug",
        "vod-fetch-stale-epoch",
        "--jobs",
        "2",
        "--failures-dir",
        dir_s,
    ];
    // The hashes the sweep reports, by seed.
    let mut json_args = sweep.to_vec();
    json_args.push("--json");
    let json = relaysim(&json_args);
    let mut hashes = std::collections::BTreeMap::new();
    for line in String::from_utf8_lossy(&json.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let (Some(seed), Some(hash)) = (v["seed"].as_str(), v["trace_hash"].as_str()) {
            hashes.insert(seed.to_string(), hash.to_string());
            if v["passed"] == false {
                let file = v["failure"]["plan_file"]
                    .as_str()
                    .expect("a failing plan is saved");
                assert!(std::path::Path::new(file).is_file(), "{file}");
            }
        }
    }
    assert_eq!(hashes.len(), 4);
    // The text reports of the same sweep, pasted back.
    let text = relaysim(&sweep);
    assert_eq!(text.status.code(), Some(1));
    let out = String::from_utf8_lossy(&text.stdout);
    let replays: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("replay   :"))
        .collect();
    assert!(!replays.is_empty(), "{out}");
    for line in replays {
        let args = pasted(line);
        let seed = args[args.iter().position(|a| a == "--seed").unwrap() + 1].clone();
        assert!(args.contains(&"--plan".to_string()), "{line}");
        let again = relaysim(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(again.status.code(), Some(1), "{line}");
        assert_eq!(trace_hash(&again), hashes[&seed], "{line}");
        // The replay's own report names the plan file too, and pasting it
        // runs the same plan again.
        let report = String::from_utf8_lossy(&again.stdout).to_string();
        let inner = report
            .lines()
            .find(|l| l.trim_start().starts_with("replay   :"))
            .expect("the replay reports its failure");
        assert!(inner.contains(" --plan "), "{inner}");
        let args = pasted(inner);
        let third = relaysim(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(trace_hash(&third), hashes[&seed], "{inner}");
    }
}

/// A plan file records the engine its run was on, and replaying it runs
/// there unless `--engine` says otherwise (a failure found on the fast
/// engine must not replay green on turmoil); an unknown engine in a file
/// is one line and exit 2.
#[test]
fn a_plan_file_replays_on_its_own_engine() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("plan-engine");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("fast.json");
    let file_s = file.to_str().unwrap();
    let base = ["replay", "vod-slow-twitch", "--seed", "0x3", "--trace-only"];
    let on = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        trace_hash(&relaysim(&args))
    };
    let fast = on(&["--engine", "fast", "--save-plan", file_s]);
    let turmoil = on(&["--engine", "turmoil"]);
    assert_ne!(fast, turmoil, "the engines' traces differ in their timings");
    let text = std::fs::read_to_string(&file).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["engine"], "fast", "{text}");
    assert_eq!(on(&["--plan", file_s]), fast, "the file's engine");
    assert_eq!(on(&["--plan", file_s, "--engine", "turmoil"]), turmoil);
    // A file from before engines were recorded replays on turmoil.
    let old = dir.join("old.json");
    std::fs::write(&old, text.replace("  \"engine\": \"fast\",\n", "")).unwrap();
    assert_eq!(on(&["--plan", old.to_str().unwrap()]), turmoil);
    let bad = dir.join("bad.json");
    std::fs::write(&bad, text.replace("\"fast\"", "\"warp\"")).unwrap();
    one_line_error(
        &relaysim(&["replay", "vod-slow-twitch", "--plan", bad.to_str().unwrap()]),
        "unknown variant `warp`",
    );
}

/// A failed write to stdout is an error, never an exit 0.
#[test]
fn an_unwritable_stdout_is_exit_3_with_one_line() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
    let Ok(full) = full else {
        // No /dev/full on this system: nothing to assert.
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_relaysim"))
        .args(["list"])
        .env("CI", "1")
        .stdout(full)
        .output()
        .expect("run relaysim");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot write the output"), "{err}");
}

/// Ctrl-C (or SIGTERM) on a long sweep: it stops taking seeds, writes its
/// completion record marked interrupted, leaves valid JSONL, and exits 130
/// (143). The range is 10^10 seeds: memory stays bounded by the jobs.
#[test]
fn an_interrupted_sweep_reports_what_ran_and_exits_130_or_143() {
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let child = Command::new(env!("CARGO_BIN_EXE_relaysim"))
            .args([
                "run",
                "vod-twitch-down",
                "--seeds",
                "0..10000000000",
                "--json",
                "--jobs",
                "1",
            ])
            .env("CI", "1")
            .current_dir(env!("CARGO_TARGET_TMPDIR"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run relaysim");
        // Let a few seeds finish (bounded: a seed takes milliseconds).
        #[allow(clippy::disallowed_methods)] // a real process, waited for in real time
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let rss_kb = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .ok()
            .and_then(|s| {
                s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<u64>().ok())
                })
            });
        let killed = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        let out = child.wait_with_output().expect("wait");
        assert_eq!(
            out.status.code(),
            Some(code),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect();
        let done = lines.last().expect("a completion record");
        assert_eq!(done["complete"], "vod-twitch-down", "{text}");
        assert_eq!(done["interrupted"], true);
        assert_eq!(done["expected"].as_u64(), Some(10_000_000_000));
        let seeds = lines.iter().filter(|v| v.get("seed").is_some()).count() as u64;
        assert_eq!(done["seeds"].as_u64(), Some(seeds));
        if let Some(kb) = rss_kb {
            assert!(kb < 512 * 1024, "{kb} kB resident for a 10^10-seed range");
        }
    }
}

#[test]
fn worker_processes_and_threads_give_the_same_outcomes() {
    // The default runs seeds in supervised worker processes; the records
    // (verdict, check, trace hash) must be those of threads, seed by seed.
    let records = |isolation: &str| {
        let out = relaysim(&[
            "run",
            "ws-bulk-crossfire",
            "--seeds",
            "0..6",
            "--bug",
            "bulk-send-starves-recv",
            "--json",
            "--isolation",
            isolation,
        ]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let mut seeds: Vec<(String, bool, String, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v.get("seed").is_some())
            .map(|v| {
                (
                    v["seed"].as_str().unwrap().to_string(),
                    v["passed"].as_bool().unwrap(),
                    v["trace_hash"].as_str().unwrap().to_string(),
                    v["failure"]["detail"].to_string(),
                )
            })
            .collect();
        seeds.sort();
        seeds
    };
    let processes = records("processes");
    assert_eq!(processes.len(), 6);
    assert!(processes.iter().any(|s| !s.1), "the bug is caught");
    assert_eq!(processes, records("threads"));
}

#[test]
fn detect_rates_run_every_seed_and_fail_a_weak_oracle() {
    // vod-latch-leak fails every seed of vod-twitch-down: 100%, exit 0.
    let out = relaysim(&[
        "detect",
        "--rates",
        "--rate-seeds",
        "2",
        "--clean-seeds",
        "0",
        "--json",
        "vod-latch-leak",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let line: serde_json::Value =
        serde_json::from_slice(out.stdout.trim_ascii()).expect("one JSON line");
    assert_eq!(line["seeds"], 2, "{line}");
    assert_eq!(line["caught_by_declared"], 2, "{line}");
    assert_eq!(line["rate_permille"], 1000, "{line}");
    assert_eq!(line["weak"], false, "{line}");
    // pad-queue-unbounded is first caught at seed 0x1: over seed 0 alone its
    // rate is 0%, a weak oracle, and the command fails (exit 1).
    let out = relaysim(&[
        "detect",
        "--rates",
        "--rate-seeds",
        "1",
        "--clean-seeds",
        "0",
        "pad-queue-unbounded",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("WEAK (under 5%)"), "{text}");
    one_line_error(
        &relaysim(&["detect", "--rates", "--rate-seeds", "0"]),
        "--rate-seeds must be at least 1",
    );
    one_line_error(&relaysim(&["detect", "--rate-seeds", "3"]), "--rates");
}

#[test]
fn worker_processes_run_the_chosen_engine() {
    // `--engine fast` must reach the worker processes (the seed line
    // carries it): their records are those of threads on the fast engine,
    // and not those of turmoil.
    let hashes = |engine: &str, isolation: &str| {
        let out = relaysim(&[
            "run",
            "publisher-eos-race",
            "--seeds",
            "0..4",
            "--json",
            "--engine",
            engine,
            "--isolation",
            isolation,
        ]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let mut seeds: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v.get("seed").is_some())
            .map(|v| {
                (
                    v["seed"].as_str().unwrap().to_string(),
                    v["trace_hash"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        seeds.sort();
        seeds
    };
    let fast = hashes("fast", "processes");
    assert_eq!(fast.len(), 4);
    assert_eq!(fast, hashes("fast", "threads"));
    let turmoil = hashes("turmoil", "processes");
    assert!(
        fast.iter().zip(&turmoil).all(|(f, t)| f.1 != t.1),
        "the fast engine's traces differ from turmoil's: {fast:?} {turmoil:?}"
    );
}

#[test]
fn cross_engine_agrees_on_a_caught_bug_and_on_a_clean_run() {
    for extra in [&[][..], &["--bug", "eos-before-register"][..]] {
        let mut args = vec![
            "run",
            "publisher-eos-race",
            "--seeds",
            "0..16",
            "--cross-engine",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = relaysim(&args);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        let summary: serde_json::Value = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v.get("cross_engine_summary").is_some())
            .expect("a summary record");
        assert_eq!(summary["compared"], 16, "{summary}");
        assert_eq!(summary["differ"], 0, "{summary}");
        if !extra.is_empty() {
            assert!(summary["turmoil_failed"].as_u64().unwrap() > 0, "{summary}");
        }
    }
}
