//! Swarm draws, fault points, shrinking bounds, the HTML timeline, and the
//! CLI's plan / shard / merge / determinism contracts.

use crate::support::one_line_error;
use relaysim_core::{BugSet, KnownBug};
use relaysim_harness::check::FailureKind;
use relaysim_harness::report::banner;
use relaysim_harness::runner::RunOptions;
use relaysim_harness::timeline::render;
use relaysim_harness::trace::EntryKind;
use relaysim_harness::Seed;
use relaysim_scenarios::catalog::bugs;
use relaysim_scenarios::cli::detect_one;
use relaysim_scenarios::{all, find};
use std::process::{Command, Output};
use std::sync::atomic::AtomicBool;

fn relaysim(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_relaysim"));
    cmd.args(args)
        .env("CI", "1")
        .current_dir(env!("CARGO_TARGET_TMPDIR"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run relaysim")
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    dir.join(name)
}

#[test]
fn swarm_draws_differ_across_seeds_and_show_in_the_banner() {
    for scn in all() {
        let swarms: std::collections::BTreeSet<String> =
            (0..40).map(|s| scn.plan(Seed(s)).swarm_summary()).collect();
        assert!(
            swarms.len() > 5,
            "{}: swarm hardly varies: {swarms:?}",
            scn.name
        );
        let plan = scn.plan(Seed(1));
        let line = banner(scn.info(), Seed(1), BugSet::NONE, plan.as_ref());
        assert!(
            line.contains(&format!("swarm={}", plan.swarm_summary())),
            "{line}"
        );
    }
}

/// In every scenario some early seed switches a fault point of its own
/// family on and the core fires it; it never fires after the heal; the run
/// still passes every check with bugs off (the site is recoverable and the
/// checks tell it from a bug); and every declared site fires somewhere.
/// (`relaysim run --all` sweeps thousands of such seeds; this pins the
/// contract in `cargo test`.)
#[test]
fn fault_points_fire_in_every_family_and_never_after_the_heal() {
    let mut fired_sites = std::collections::BTreeSet::new();
    for scn in all() {
        // A family's fault points are named after it (`restream.pump.write`).
        let prefix = format!("{}.", scn.family);
        let prefix = prefix.as_str();
        let family: Vec<&str> = relaysim_core::faults::SITES
            .iter()
            .map(|(s, _)| *s)
            .filter(|s| s.starts_with(prefix))
            .collect();
        // A family whose system is not core's (lvqr drives a published
        // crate) has no core fault points to fire.
        if family.is_empty() {
            continue;
        }
        let mut fired_in = None;
        for s in 0..200 {
            let plan = scn.plan(Seed(s));
            if !plan.kinds().iter().any(|k| k == "fault-point") {
                continue;
            }
            let o = scn.run_seed(Seed(s), &RunOptions::default(), &AtomicBool::new(false));
            let mut fired = 0;
            for e in &o.trace.entries {
                if let EntryKind::Core(relaysim_core::Event::FaultPointFired { site }) = e.kind {
                    fired += 1;
                    assert!(site.starts_with(prefix), "{}: {site} fired", scn.name);
                    assert!(
                        e.at < scn.heal_at,
                        "{} seed {s}: {site} fired after the heal",
                        scn.name
                    );
                    fired_sites.insert(site);
                }
            }
            if fired > 0 {
                assert!(
                    o.failure.is_none(),
                    "{} seed {s}: a fault point failed a check with bugs off: {:?}",
                    scn.name,
                    o.failure
                );
                fired_in = Some(s);
                if family.iter().all(|site| fired_sites.contains(site)) {
                    break;
                }
            }
        }
        assert!(
            fired_in.is_some(),
            "{}: no fault point fired in seeds 0..200",
            scn.name
        );
    }
    let declared: std::collections::BTreeSet<&str> = relaysim_core::faults::SITES
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(fired_sites, declared, "declared sites that never fired");
}

/// Every known bug's card (its first failing seed) shrinks to at most three
/// fault events that still fail the same check.
#[test]
fn every_card_shrinks_to_at_most_three_events() {
    for bug in bugs() {
        let d = detect_one(bug, 50, 2, relaysim_harness::EngineKind::Turmoil);
        let seed = d.first_failing_seed.expect("caught");
        let scn = find(d.scenario).unwrap();
        let shrunk = scn.shrink(seed, BugSet::only(bug), None).expect("fails");
        println!(
            "{bug}: {} seed {seed}: {} -> {} events ({} runs)",
            scn.name,
            shrunk.original_events,
            shrunk.plan.len(),
            shrunk.runs
        );
        assert!(
            shrunk.plan.len() <= 3,
            "{bug}: shrunk only to {}:\n{}",
            shrunk.plan.len(),
            shrunk.plan.to_literal()
        );
        assert_eq!(
            Some(shrunk.check.clone()),
            d.check,
            "{bug}: shrinking changed the failing check"
        );
        // The shrunk plan really fails, and only with the bug on.
        let again = scn.run_seed(
            seed,
            &RunOptions {
                bugs: BugSet::only(bug),
                plan: Some(shrunk.plan.clone()),
                ..RunOptions::default()
            },
            &AtomicBool::new(false),
        );
        assert_eq!(again.failure.map(|f| f.check), Some(shrunk.check));
    }
}

#[test]
fn shrink_refuses_a_passing_run() {
    let scn = find("vod-twitch-down").unwrap();
    let err = scn.shrink(Seed(0), BugSet::NONE, None).unwrap_err();
    assert!(err.contains("nothing to shrink"), "{err}");
}

#[test]
fn the_timeline_has_lanes_events_windows_links_and_the_failure() {
    let scn = find("vod-disconnect-race").unwrap();
    let o = scn.run_seed(
        Seed(0),
        &RunOptions {
            bugs: BugSet::only(KnownBug::VodFetchStaleEpoch),
            ..RunOptions::default()
        },
        &AtomicBool::new(false),
    );
    let f = o.failure.as_ref().expect("fails");
    assert_eq!(f.kind, FailureKind::Safety);
    let html = render("t", &o.trace, o.sim_time, Some(f), scn.links);
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert_eq!(html.matches("<svg").count(), 1);
    assert_eq!(html.matches("</svg>").count(), 1);
    let hosts: std::collections::BTreeSet<&str> = o
        .trace
        .entries
        .iter()
        .map(|e| e.host)
        .chain(["harness"])
        .collect();
    assert_eq!(html.matches("class=\"lane\"").count(), hosts.len());
    for h in &hosts {
        assert!(html.contains(&format!("data-host=\"{h}\"")), "lane {h}");
    }
    assert_eq!(
        html.matches("class=\"event\"").count(),
        o.trace.entries.len()
    );
    assert!(
        html.contains("class=\"fault-window\""),
        "publisher disconnect window"
    );
    assert!(html.matches("class=\"link\"").count() >= 3, "causal arrows");
    assert!(html.contains("class=\"failure\"") && html.contains(&f.check));
    assert!(!html.contains("<script"), "self-contained, no scripts");
}

/// Every scenario's timeline draws its lanes, every event, and messages
/// between hosts; every link rule of a family draws an arrow in some early
/// seed of it (a rule whose ends come in the wrong order never would).
#[test]
fn every_scenario_timeline_draws_messages_between_hosts() {
    let mut unused: std::collections::BTreeMap<&str, std::collections::BTreeSet<String>> =
        std::collections::BTreeMap::new();
    let mut drawn: std::collections::BTreeSet<(&str, String)> = Default::default();
    for scn in all() {
        let rules = unused.entry(scn.family).or_default();
        rules.extend(scn.links.iter().map(|r| format!("{} → {}", r.from, r.to)));
        for s in 0..4 {
            let o = scn.run_seed(Seed(s), &RunOptions::default(), &AtomicBool::new(false));
            let html = render(scn.name, &o.trace, o.sim_time, None, scn.links);
            assert_eq!(
                html.matches("class=\"event\"").count(),
                o.trace.entries.len(),
                "{}",
                scn.name
            );
            assert!(
                html.matches("class=\"lane\"").count() >= 3,
                "{}: lanes",
                scn.name
            );
            assert!(
                html.contains("class=\"link\""),
                "{} seed {s}: no message arrow between hosts",
                scn.name
            );
            for r in scn.links {
                let title = format!("{} → {}", r.from, r.to);
                if html.contains(&format!("<title>{title}</title>")) {
                    drawn.insert((scn.family, title));
                }
            }
        }
    }
    for (family, rules) in &unused {
        for rule in rules {
            assert!(
                drawn.contains(&(*family, rule.clone())),
                "{family}: link rule {rule} never drew an arrow in seeds 0..4 of its scenarios"
            );
        }
    }
}

#[test]
fn replay_html_writes_the_file() {
    let path = temp("timeline.html");
    let out = relaysim(
        &[
            "replay",
            "vod-twitch-down",
            "--seed",
            "0",
            "--html",
            path.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.contains("class=\"lane\""));
}

#[test]
fn save_plan_then_replay_plan_gives_the_same_trace() {
    let path = temp("plan.json");
    let a = relaysim(
        &[
            "replay",
            "vod-disconnect-race",
            "--seed",
            "0x5",
            "--save-plan",
            path.to_str().unwrap(),
        ],
        &[],
    );
    let b = relaysim(
        &[
            "replay",
            "vod-disconnect-race",
            "--plan",
            path.to_str().unwrap(),
        ],
        &[],
    );
    let last = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .last()
            .unwrap_or("")
            .to_string()
    };
    assert!(last(&a).starts_with("trace-hash: "));
    assert_eq!(last(&a), last(&b));
}

#[test]
fn bad_plans_and_shards_are_one_line_errors() {
    let plan = temp("other.json");
    relaysim(
        &[
            "replay",
            "vod-twitch-down",
            "--seed",
            "1",
            "--save-plan",
            plan.to_str().unwrap(),
        ],
        &[],
    );
    one_line_error(
        &relaysim(
            &[
                "replay",
                "vod-slow-twitch",
                "--plan",
                plan.to_str().unwrap(),
            ],
            &[],
        ),
        "is for scenario \"vod-twitch-down\"",
    );
    one_line_error(
        &relaysim(
            &[
                "replay",
                "vod-slow-twitch",
                "--plan",
                "/nonexistent/plan.json",
            ],
            &[],
        ),
        "cannot read plan file",
    );
    let junk = temp("junk.json");
    std::fs::write(&junk, "{ not json").unwrap();
    one_line_error(
        &relaysim(
            &[
                "replay",
                "vod-slow-twitch",
                "--plan",
                junk.to_str().unwrap(),
            ],
            &[],
        ),
        "is not a relaysim plan file",
    );
    one_line_error(
        &relaysim(&["run", "vod-slow-twitch", "--shard", "5/4"], &[]),
        "invalid shard \"5/4\"",
    );
    one_line_error(
        &relaysim(&["run", "vod-slow-twitch", "--shard", "x"], &[]),
        "invalid shard",
    );
    one_line_error(
        &relaysim(&["replay", "vod-slow-twitch"], &[]),
        "give --seed S or --plan FILE",
    );
    one_line_error(
        &relaysim(&["merge", "/nonexistent/a.jsonl"], &[]),
        "cannot read",
    );
}

/// A plan file that does not fit its scenario is refused before anything
/// runs, with one line naming the problem: a typo'd key must not silently
/// turn a failing regression into a pass, and nothing reaches turmoil.
#[test]
fn plan_files_are_validated_against_their_scenario() {
    let base = temp("valid.json");
    let saved = relaysim(
        &[
            "replay",
            "vod-slow-twitch",
            "--seed",
            "1",
            "--save-plan",
            base.to_str().unwrap(),
        ],
        &[],
    );
    assert!(saved.status.success() || saved.status.code() == Some(1));
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    let one_event = |fault: serde_json::Value, at_ms: u64| {
        let mut v = good.clone();
        v["plan"]["events"] = serde_json::json!([{ "at_ms": at_ms, "fault": fault }]);
        v
    };
    let mut typo = good.clone();
    typo["bug"] = serde_json::json!(["vod-fetch-stacking"]);
    let cases = [
        (typo, "unknown field `bug`"),
        (
            one_event(
                serde_json::json!({"kind": "partition", "a": "relay", "b": "nowhere"}),
                10,
            ),
            "no host \"nowhere\"",
        ),
        (
            one_event(
                serde_json::json!({"kind": "fault-point", "site": "ws.session.reset", "permille": 5}),
                10,
            ),
            "not a fault point of family restream",
        ),
        (
            one_event(
                serde_json::json!({"kind": "fault-point", "site": "restream.pump.write", "permille": 5000}),
                10,
            ),
            "permille 5000 is above 1000",
        ),
        (
            one_event(serde_json::json!({"kind": "publisher-connect"}), 10_000_000),
            "after the end of the run",
        ),
        (
            one_event(
                serde_json::json!({"kind": "ws-upload", "cmd": "write_audio", "bytes": 9}),
                10,
            ),
            "ws-upload",
        ),
        (
            one_event(
                serde_json::json!({"kind": "twitch-latency", "min_ms": 9, "max_ms": 3}),
                10,
            ),
            "min_ms 9 is above max_ms 3",
        ),
        (
            one_event(
                serde_json::json!({"kind": "twitch-errors", "percent": 250}),
                10,
            ),
            "percent 250 is above 100",
        ),
        (
            one_event(
                serde_json::json!({"kind": "publisher-connect", "extra": 1}),
                10,
            ),
            "unknown field `extra`",
        ),
    ];
    for (i, (plan, says)) in cases.into_iter().enumerate() {
        let path = temp(&format!("invalid-{i}.json"));
        std::fs::write(&path, plan.to_string()).unwrap();
        one_line_error(
            &relaysim(
                &[
                    "replay",
                    "vod-slow-twitch",
                    "--plan",
                    path.to_str().unwrap(),
                ],
                &[],
            ),
            says,
        );
    }
}

#[test]
fn shards_merge_into_the_whole_range() {
    let mut files = Vec::new();
    for k in 1..=3 {
        let out = relaysim(
            &[
                "run",
                "vod-twitch-down",
                "--seeds",
                "6",
                "--shard",
                &format!("{k}/3"),
                "--json",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(0));
        let path = temp(&format!("shard-{k}.jsonl"));
        std::fs::write(&path, &out.stdout).unwrap();
        files.push(path);
    }
    let mut args = vec!["merge"];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    let merged = relaysim(&args, &[]);
    assert_eq!(merged.status.code(), Some(0));
    let text = String::from_utf8_lossy(&merged.stdout);
    assert!(
        text.contains("vod-twitch-down")
            && text.contains("6 seeds (0x0..=0x5)")
            && text.contains("0 failed"),
        "{text}"
    );
    // The same shard twice is an overlap, not a bigger run; and shards 2
    // and 3 are missing: one line per problem, exit 2.
    let dup = relaysim(
        &[
            "merge",
            files[0].to_str().unwrap(),
            files[0].to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(dup.status.code(), Some(2), "{dup:?}");
    let err = String::from_utf8_lossy(&dup.stderr);
    assert!(
        err.lines().all(|l| l.starts_with("relaysim: error: "))
            && err.contains("seeds of vod-twitch-down appear twice")
            && err.contains("shard 2/3 (0x2..0x4, 2 seeds): missing")
            && err.contains("shard 3/3 (0x4..0x6, 2 seeds): missing"),
        "{err}"
    );
}

#[test]
fn merge_reports_failures_with_replay_commands() {
    let out = relaysim(
        &[
            "run",
            "vod-twitch-down",
            "--seeds",
            "2",
            "--bug",
            "vod-latch-leak",
            "--json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let path = temp("failing.jsonl");
    std::fs::write(&path, &out.stdout).unwrap();
    let merged = relaysim(&["merge", path.to_str().unwrap()], &[]);
    assert_eq!(merged.status.code(), Some(1));
    let text = String::from_utf8_lossy(&merged.stdout);
    assert!(text.contains("replay: cargo run --release --bin relaysim -- replay vod-twitch-down --seed 0x0 --bug vod-latch-leak"), "{text}");
}

#[test]
fn determinism_across_processes_passes_and_catches_the_canary() {
    let ok = relaysim(
        &[
            "run",
            "vod-slow-twitch",
            "--seeds",
            "3",
            "--check-determinism",
        ],
        &[],
    );
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout)
        .contains("3 seeds compared across processes, all identical"));

    let bad = relaysim(
        &[
            "run",
            "vod-slow-twitch",
            "--seeds",
            "2",
            "--check-determinism",
        ],
        &[("RELAYSIM_CANARY_NONDETERMINISM", "1")],
    );
    assert_eq!(bad.status.code(), Some(1));
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(text.contains("FAILED (determinism) at seed 0x0"), "{text}");
    assert!(text.contains("first divergence at line 1:"), "{text}");
    assert!(text.contains("canary pid="), "{text}");
}

/// A plan file can crash and bounce hosts on either engine: the crashed
/// host's peers see it go (the relay restarts its pump), and a host still
/// down at the heal is restarted so the liveness phase judges a whole
/// system (the run passes).
#[test]
fn crash_and_bounce_in_a_plan_run_on_both_engines_and_the_heal_restarts_a_host_left_down() {
    let plan = temp("crash-bounce.json");
    let saved = relaysim(
        &[
            "replay",
            "vod-slow-twitch",
            "--seed",
            "1",
            "--save-plan",
            plan.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(saved.status.code(), Some(0), "{saved:?}");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    let events = json["plan"]["events"].as_array_mut().unwrap();
    for (at, kind, host) in [
        (8000, "crash", "twitch-api"),
        (16000, "bounce", "twitch-api"),
        (20000, "crash", "youtube-ingest"),
    ] {
        events.push(serde_json::json!({"at_ms": at, "fault": {"kind": kind, "host": host}}));
    }
    events.sort_by_key(|e| e["at_ms"].as_u64());
    std::fs::write(&plan, json.to_string()).unwrap();
    for engine in ["turmoil", "fast"] {
        let out = relaysim(
            &[
                "replay",
                "vod-slow-twitch",
                "--plan",
                plan.to_str().unwrap(),
                "--engine",
                engine,
            ],
            &[],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{engine}: {text}");
        for line in [
            "harness        fault.crash host=twitch-api",
            "harness        fault.bounce host=twitch-api",
            "harness        fault.crash host=youtube-ingest",
            "egress.start dest=youtube reason=pump-died",
        ] {
            assert!(text.contains(line), "{engine}: no {line:?} in\n{text}");
        }
    }
}
