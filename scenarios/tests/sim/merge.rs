//! `relaysim merge` judges completeness: one rule per test, each on small
//! hand-written `run --json` files (no simulation runs), asserting the exit
//! code and the one stderr line the rule gives. The shard slices come from
//! `SeedRange::shard`, the arithmetic `run --shard` uses. The last test runs
//! two real shards of a tiny range and merges them.

use relaysim_harness::SeedRange;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Output};

const SCN: &str = "vod-twitch-down";
const VERSION: &str = "0.1.0";

fn relaysim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relaysim"))
        .args(args)
        .env("CI", "1")
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .output()
        .expect("run relaysim")
}

/// A fresh directory for one test's files.
fn dir(test: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("merge")
        .join(test);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn shard_json(shard: Option<(u64, u64)>) -> Value {
    shard.map_or(Value::Null, |(k, n)| json!(format!("{k}/{n}")))
}

/// A passing seed record of `SCN`.
fn seed(s: u64, range: SeedRange, shard: Option<(u64, u64)>) -> Value {
    json!({
        "scenario": SCN, "seed": format!("{s:#x}"), "bugs": "none", "passed": true,
        "failure": null, "trace_hash": "00ff", "sim_ms": 30000, "wall_ms": 1.5,
        "range": range.to_string(), "shard": shard_json(shard), "version": VERSION,
    })
}

/// A failing seed record of `SCN`.
fn failing(s: u64, range: SeedRange, shard: Option<(u64, u64)>) -> Value {
    let mut v = seed(s, range, shard);
    v["passed"] = json!(false);
    v["bugs"] = json!("vod-latch-leak");
    v["failure"] = json!({
        "kind": "liveness", "check": "latch-clears", "detail": "still latched",
        "at_ms": 21000, "plan_file": "target/relaysim/failures/x.json",
    });
    v
}

/// The completion record of one shard.
fn done(range: SeedRange, shard: Option<(u64, u64)>, seeds: u64, expected: u64) -> Value {
    json!({
        "complete": SCN, "range": range.to_string(), "shard": shard_json(shard),
        "seeds": seeds, "expected": expected, "bugs": "none", "version": VERSION,
        "interrupted": false,
    })
}

/// Every record of shard `k/n` of `range`, as `run` writes them: seeds in
/// completion order (reversed here), a summary line, the completion record.
fn shard_records(range: SeedRange, k: u64, n: u64) -> Vec<Value> {
    let slice = range.shard(k, n).unwrap();
    let mut v: Vec<Value> = (slice.start..slice.end)
        .rev()
        .map(|s| seed(s, range, Some((k, n))))
        .collect();
    v.push(json!({"summary": SCN, "seeds": slice.len(), "failed": 0}));
    v.push(done(range, Some((k, n)), slice.len(), slice.len()));
    v
}

fn write(dir: &std::path::Path, name: &str, records: &[Value]) -> String {
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    write_raw(dir, name, &text)
}

fn write_raw(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn merge(files: &[String]) -> Output {
    let mut args = vec!["merge"];
    args.extend(files.iter().map(String::as_str));
    relaysim(&args)
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Exit 2 and exactly these problem lines, in order; each needle is one
/// line's fragments, separated by `…`, that it holds in order.
fn problems(out: &Output, needles: &[&str]) {
    let lines = stderr_lines(out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}\nstderr: {lines:#?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(lines.len(), needles.len(), "{lines:#?}");
    for (line, needle) in lines.iter().zip(needles) {
        assert!(line.starts_with("relaysim: error: "), "{line}");
        let mut rest = line.as_str();
        for part in needle.split('…') {
            let at = rest
                .find(part)
                .unwrap_or_else(|| panic!("{line:?} lacks {part:?} (of {needle:?})"));
            rest = &rest[at + part.len()..];
        }
    }
}

/// The three shards of 0..10 (slices 0..3, 3..6, 6..10).
fn three_shards(d: &std::path::Path) -> (SeedRange, Vec<String>) {
    let range = SeedRange::new(0, 10);
    let files = (1..=3)
        .map(|k| write(d, &format!("shard-{k}.jsonl"), &shard_records(range, k, 3)))
        .collect();
    (range, files)
}

#[test]
fn merge_complete_shards_pass() {
    let d = dir("complete");
    let (_, files) = three_shards(&d);
    let out = merge(&files);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    assert!(
        text.contains("10 seeds (0x0..=0x9)") && text.contains("0 failed"),
        "{text}"
    );
    assert!(text.contains("merge: complete, 0 failed seed(s)"), "{text}");
    // Given in any order, and with determinism lines mixed in.
    let mut extra = shard_records(SeedRange::new(0, 10), 2, 3);
    extra.insert(1, json!({"determinism": SCN, "seed": "0x3"}));
    let d2 = write(&d, "shard-2-det.jsonl", &extra);
    let out = merge(&[files[2].clone(), d2, files[0].clone()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn merge_complete_with_a_failure_exits_1_with_its_replay_command() {
    let d = dir("failure");
    let range = SeedRange::new(0, 2);
    let mut recs = vec![failing(1, range, None), failing(0, range, None)];
    recs[1]["passed"] = json!(true);
    recs[1]["failure"] = Value::Null;
    recs.push(done(range, None, 2, 2));
    for r in &mut recs {
        r["bugs"] = json!("vod-latch-leak");
    }
    let out = merge(&[write(&d, "all.jsonl", &recs)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    assert!(
        text.contains("0x1: liveness latch-clears — still latched"),
        "{text}"
    );
    assert!(
        text.contains("replay: cargo run --release --bin relaysim -- replay vod-twitch-down --seed 0x1 --bug vod-latch-leak"),
        "{text}"
    );
    assert!(
        text.contains("plan file: target/relaysim/failures/x.json"),
        "{text}"
    );
}

#[test]
fn merge_a_batch_failure_is_a_failure() {
    // `coverage`: a `sometimes` check never held in a shard's batch.
    let d = dir("batch");
    let range = SeedRange::new(0, 2);
    let mut recs = shard_records(range, 1, 1);
    recs.insert(
        2,
        json!({"batch_failure": SCN, "kind": "coverage", "check": "twitch-retried",
               "seed": "0x0", "detail": "never held in 2 seeds"}),
    );
    let out = merge(&[write(&d, "cov.jsonl", &recs)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}{out:?}");
    assert!(
        text.contains("1 failed")
            && text.contains("batch: coverage twitch-retried — never held in 2 seeds"),
        "{text}"
    );
}

#[test]
fn merge_without_files_is_bad_input() {
    problems(&relaysim(&["merge"]), &["name at least one file"]);
}

#[test]
fn merge_an_empty_or_unreadable_file_is_a_problem() {
    let d = dir("empty");
    let empty = write_raw(&d, "empty.jsonl", "");
    problems(&merge(&[empty]), &["empty.jsonl: empty file"]);
    let missing = d.join("nope.jsonl").to_str().unwrap().to_string();
    problems(&merge(&[missing]), &["cannot read"]);
}

#[test]
fn merge_a_truncated_last_line_is_a_problem_and_failures_read_still_print() {
    let d = dir("truncated");
    let range = SeedRange::new(0, 3);
    let leaky = |s: u64| {
        let mut v = seed(s, range, None);
        v["bugs"] = json!("vod-latch-leak");
        v
    };
    let mut text = format!("{}\n", failing(0, range, None));
    text.push_str(&format!("{}\n", leaky(1)));
    // The shard was killed while writing seed 2's record.
    let cut = leaky(2).to_string();
    text.push_str(&cut[..cut.len() / 2]);
    let out = merge(&[write_raw(&d, "cut.jsonl", &text)]);
    problems(
        &out,
        &[
            "cut.jsonl:3: truncated: the last line has no newline",
            "vod-twitch-down 0x0..0x3 shard 1/1 (0x0..0x3): no completion record, 2 of 3 seeds read",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("replay vod-twitch-down --seed 0x0 --bug vod-latch-leak"),
        "{stdout}"
    );
    assert!(stdout.contains("INCOMPLETE"), "{stdout}");
    // A complete JSON object without its newline is cut off all the same.
    let (range, mut all) = (range, shard_records(range, 1, 1));
    let last = all.pop().unwrap();
    let mut text: String = all.iter().map(|r| format!("{r}\n")).collect();
    text.push_str(&last.to_string());
    let _ = range;
    problems(
        &merge(&[write_raw(&d, "nonl.jsonl", &text)]),
        &[
            "nonl.jsonl:5: truncated",
            "shard 1/1 (0x0..0x3): no completion record, 3 of 3 seeds read",
        ],
    );
}

#[test]
fn merge_a_line_that_is_not_json_is_a_problem() {
    let d = dir("notjson");
    let range = SeedRange::new(0, 2);
    let mut recs = shard_records(range, 1, 1);
    let mut text: String = recs.drain(..1).map(|r| format!("{r}\n")).collect();
    text.push_str("Compiling relaysim v0.1.0\n");
    text.extend(recs.iter().map(|r| format!("{r}\n")));
    problems(
        &merge(&[write_raw(&d, "noise.jsonl", &text)]),
        &["noise.jsonl:2: not JSON"],
    );
    problems(
        &merge(&[write(&d, "array.jsonl", &[json!([1, 2])])]),
        &["array.jsonl:1: not a JSON object"],
    );
    problems(
        &merge(&[write(&d, "other.jsonl", &[json!({"hello": 1})])]),
        &["other.jsonl:1: not a relaysim record"],
    );
    // A file of another format: five lines named, the rest counted.
    let junk = write_raw(&d, "junk.txt", &"junk\n".repeat(8));
    problems(
        &merge(&[junk]),
        &[
            "junk.txt:1: not JSON",
            "junk.txt:2: not JSON",
            "junk.txt:3: not JSON",
            "junk.txt:4: not JSON",
            "junk.txt:5: not JSON",
            "junk.txt: 3 more malformed line(s)",
        ],
    );
}

#[test]
fn merge_a_record_missing_a_required_field_is_a_problem() {
    let d = dir("fields");
    let range = SeedRange::new(0, 2);
    // (file name, how the records are spoiled, the problem line's text)
    type Edit = Box<dyn Fn(&mut Vec<Value>)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "range",
            Box::new(|r| {
                r[0].as_object_mut().unwrap().remove("range");
            }),
            "malformed seed record: \"range\" is missing",
        ),
        (
            "shard",
            Box::new(|r| {
                r[0].as_object_mut().unwrap().remove("shard");
            }),
            "malformed seed record: \"shard\" is missing",
        ),
        (
            "version",
            Box::new(|r| {
                r[3].as_object_mut().unwrap().remove("version");
            }),
            "malformed completion record: \"version\" is missing",
        ),
        (
            "expected",
            Box::new(|r| r[3]["expected"] = json!("two")),
            "malformed completion record: \"expected\" is missing or not a count",
        ),
        (
            "interrupted",
            Box::new(|r| {
                r[3].as_object_mut().unwrap().remove("interrupted");
            }),
            "\"interrupted\" is missing or not true/false",
        ),
        (
            "seed",
            Box::new(|r| r[0]["seed"] = json!("0xzz")),
            "malformed seed record: \"seed\" is invalid",
        ),
        (
            "failure",
            Box::new(|r| r[0]["passed"] = json!(false)),
            "\"failure\" is null on a failed seed",
        ),
        (
            "badshard",
            Box::new(|r| r[0]["shard"] = json!("3/2")),
            "\"shard\" is \"3/2\", not K/N",
        ),
    ];
    for (name, edit, needle) in cases {
        let mut recs = shard_records(range, 1, 1);
        edit(&mut recs);
        let file = write(&d, &format!("{name}.jsonl"), &recs);
        let out = merge(&[file]);
        let lines = stderr_lines(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {lines:#?}");
        assert!(
            lines[0].contains(&format!("{name}.jsonl:")) && lines[0].contains(needle),
            "{name}: {lines:#?}"
        );
    }
    // A malformed seed record is one problem; its seed then also lacks.
    let mut recs = shard_records(range, 1, 1);
    recs[0].as_object_mut().unwrap().remove("bugs");
    problems(
        &merge(&[write(&d, "bugs.jsonl", &recs)]),
        &["\"bugs\" is missing", "1 seed(s) missing: 0x1"],
    );
}

#[test]
fn merge_a_missing_seed_is_a_problem() {
    let d = dir("seed");
    let range = SeedRange::new(0, 10);
    let mut recs = shard_records(range, 2, 3); // 0x3..0x6, written 5, 4, 3
    recs.remove(1); // seed 0x4's record
    let out = merge(&[write(&d, "s2.jsonl", &recs)]);
    let (_, mut files) = three_shards(&d);
    files[1] = write(&d, "s2.jsonl", &recs);
    problems(
        &merge(&files),
        &["vod-twitch-down 0x0..0xa shard 2/3 (0x3..0x6): 1 seed(s) missing: 0x4"],
    );
    // Alone, shard 2/3 also lacks shards 1 and 3.
    problems(
        &out,
        &[
            "shard 1/3 (0x0..0x3, 3 seeds): missing: no records",
            "shard 2/3 (0x3..0x6): 1 seed(s) missing: 0x4",
            "shard 3/3 (0x6..0xa, 4 seeds): missing: no records",
        ],
    );
}

#[test]
fn merge_a_missing_shard_is_a_problem() {
    let d = dir("shard");
    let (_, files) = three_shards(&d);
    problems(
        &merge(&[files[0].clone(), files[2].clone()]),
        &["vod-twitch-down 0x0..0xa shard 2/3 (0x3..0x6, 3 seeds): missing: no records"],
    );
}

#[test]
fn merge_a_shard_without_its_completion_record_is_a_problem() {
    let d = dir("nodone");
    let (range, mut files) = three_shards(&d);
    let mut recs = shard_records(range, 3, 3);
    recs.truncate(2); // died after two of its four seeds
    files[2] = write(&d, "shard-3.jsonl", &recs);
    problems(
        &merge(&files),
        &["shard 3/3 (0x6..0xa): no completion record, 2 of 4 seeds read"],
    );
}

#[test]
fn merge_an_interrupted_shard_is_a_problem() {
    let d = dir("interrupted");
    let (range, mut files) = three_shards(&d);
    let mut recs = shard_records(range, 3, 3);
    recs.drain(..2);
    let last = recs.len() - 1;
    recs[last]["seeds"] = json!(2);
    recs[last]["interrupted"] = json!(true);
    files[2] = write(&d, "shard-3.jsonl", &recs);
    problems(
        &merge(&files),
        &["shard 3/3 (0x6..0xa): interrupted after 2 of 4 seeds (…shard-3.jsonl:4)"],
    );
}

#[test]
fn merge_a_shard_that_ran_fewer_seeds_than_expected_is_a_problem() {
    let d = dir("fewer");
    let (range, mut files) = three_shards(&d);
    let mut recs = shard_records(range, 1, 3);
    let last = recs.len() - 1;
    recs[last]["seeds"] = json!(2);
    files[0] = write(&d, "shard-1.jsonl", &recs);
    problems(&merge(&files), &["shard 1/3 (0x0..0x3): ran 2 of 3 seeds"]);
    // A completion record whose `expected` is not the shard's length: the
    // shard was cut with other arithmetic.
    let mut recs = shard_records(range, 1, 3);
    recs[last]["expected"] = json!(4);
    recs[last]["seeds"] = json!(4);
    files[0] = write(&d, "shard-1.jsonl", &recs);
    problems(
        &merge(&files),
        &["shard 1/3: its completion record expects 4 seeds, but the shard is 0x0..0x3 (3 seeds)"],
    );
}

#[test]
fn merge_a_seed_twice_is_a_problem() {
    let d = dir("twice");
    let range = SeedRange::new(0, 3);
    let whole = write(&d, "whole.jsonl", &shard_records(range, 1, 1));
    let again = write(&d, "again.jsonl", &[seed(1, range, None)]);
    problems(
        &merge(&[whole.clone(), again]),
        &["seed 0x1 of vod-twitch-down appears twice (…whole.jsonl:2 and …again.jsonl:1): overlapping shards"],
    );
    // The same shard given twice: every seed and its completion record.
    problems(
        &merge(&[whole.clone(), whole]),
        &[
            "3 seeds of vod-twitch-down appear twice (0x0..0x3; the first, 0x2,",
            "shard 1/1: completion record appears 2 times",
        ],
    );
}

#[test]
fn merge_mixed_bug_sets_or_versions_are_a_problem() {
    let d = dir("mixed");
    let (range, mut files) = three_shards(&d);
    let mut recs = shard_records(range, 2, 3);
    for r in &mut recs {
        if r.get("summary").is_none() {
            r["bugs"] = json!("vod-latch-leak");
        }
    }
    files[1] = write(&d, "shard-2.jsonl", &recs);
    problems(
        &merge(&files),
        &["vod-twitch-down: mixed bug sets: none (…shard-1.jsonl:1), vod-latch-leak (…shard-2.jsonl:1)"],
    );
    // The order bugs are listed in does not make another set.
    let two = |order: &str| {
        let mut recs = shard_records(SeedRange::new(0, 2), 1, 1);
        for r in &mut recs {
            if r.get("summary").is_none() {
                r["bugs"] = json!(order);
            }
        }
        recs
    };
    let mut a = two("a-bug,b-bug");
    a.pop();
    let mut b = two("b-bug,a-bug");
    b.drain(..2);
    let out = merge(&[write(&d, "ab.jsonl", &a), write(&d, "ba.jsonl", &b)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let mut recs = shard_records(range, 3, 3);
    let last = recs.len() - 1;
    recs[last]["version"] = json!("0.2.0");
    files[1] = write(&d, "shard-2.jsonl", &shard_records(range, 2, 3));
    files[2] = write(&d, "shard-3.jsonl", &recs);
    problems(
        &merge(&files),
        &["vod-twitch-down: mixed versions: 0.1.0 (…shard-1.jsonl:1), 0.2.0 (…shard-3.jsonl:6)"],
    );
}

#[test]
fn merge_a_seed_outside_its_shard_is_a_problem() {
    let d = dir("outside");
    let (range, mut files) = three_shards(&d);
    // Shard 1/3 of 0..10 is 0..3 (`SeedRange::shard`); a runner that cut
    // it as 0..4 would write seed 0x3 under shard 1/3.
    let mut recs = shard_records(range, 1, 3);
    recs.insert(0, seed(3, range, Some((1, 3))));
    files[0] = write(&d, "shard-1.jsonl", &recs);
    problems(
        &merge(&files),
        &["vod-twitch-down 0x0..0xa shard 1/3: 1 seed record(s) outside the shard (0x0..0x3): 0x3 (first at "],
    );
    // Outside the range altogether.
    let mut recs = shard_records(range, 1, 3);
    recs.insert(0, seed(0x20, range, Some((1, 3))));
    files[0] = write(&d, "shard-1.jsonl", &recs);
    problems(&merge(&files), &["outside the shard (0x0..0x3): 0x20"]);
}

#[test]
fn merge_mixed_shard_counts_are_a_problem() {
    let d = dir("counts");
    let range = SeedRange::new(0, 10);
    let a = write(&d, "a.jsonl", &shard_records(range, 1, 2));
    let b = write(&d, "b.jsonl", &shard_records(range, 3, 3));
    problems(
        &merge(&[a, b]),
        &["vod-twitch-down 0x0..0xa: mixed shard counts: N=2 (…a.jsonl:1), N=3 (…b.jsonl:1)"],
    );
}

#[test]
fn merge_empty_shards_need_no_records() {
    // 2 seeds in 4 shards: `SeedRange::shard` leaves shards 1 and 3 empty.
    let d = dir("emptyshards");
    let range = SeedRange::new(0, 2);
    assert!(range.shard(1, 4).unwrap().is_empty() && range.shard(3, 4).unwrap().is_empty());
    let files: Vec<String> = [2, 4]
        .iter()
        .map(|&k| write(&d, &format!("s{k}.jsonl"), &shard_records(range, k, 4)))
        .collect();
    let out = merge(&files);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    problems(
        &merge(&files[..1]),
        &["shard 4/4 (0x1..0x2, 1 seeds): missing: no records"],
    );
}

#[test]
fn merge_all_wants_every_scenario_of_the_catalog() {
    let d = dir("all");
    let (_, files) = three_shards(&d);
    let mut args = vec!["merge", "--all"];
    args.extend(files.iter().map(String::as_str));
    let out = relaysim(&args);
    let lines = stderr_lines(&out);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        lines.len(),
        relaysim_scenarios::all().len() - 1,
        "{lines:#?}"
    );
    assert!(
        lines[0].contains("no records in any file (--all"),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains(SCN)), "{lines:#?}");
}

#[test]
fn merge_json_gives_a_line_per_scenario_and_a_verdict() {
    let d = dir("json");
    let (_, files) = three_shards(&d);
    let mut args = vec!["merge", "--json"];
    args.extend(files[..2].iter().map(String::as_str));
    let out = relaysim(&args);
    assert_eq!(out.status.code(), Some(2));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(lines[0]["merged"], SCN);
    assert_eq!(lines[0]["seeds"], 6);
    assert_eq!(lines[0]["complete"], false);
    assert_eq!(lines[1]["verdict"], "incomplete");
    assert!(lines[1]["problems"][0]
        .as_str()
        .unwrap()
        .contains("shard 3/3"));
    assert_eq!(stderr_lines(&out).len(), 1);
}

/// End to end: two real shards of `run --json` over 0..6, then merge them;
/// one shard alone is incomplete.
#[test]
fn merge_real_shards_of_run_json() {
    let d = dir("real");
    let mut files = Vec::new();
    for k in 1..=2 {
        let out = relaysim(&[
            "run",
            SCN,
            "--seeds",
            "0..6",
            "--shard",
            &format!("{k}/2"),
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        files.push(write_raw(
            &d,
            &format!("shard-{k}.jsonl"),
            &String::from_utf8_lossy(&out.stdout),
        ));
    }
    let out = merge(&files);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{out:?}");
    assert!(text.contains("6 seeds (0x0..=0x5)"), "{text}");
    problems(
        &merge(&files[..1]),
        &["vod-twitch-down 0x0..0x6 shard 2/2 (0x3..0x6, 3 seeds): missing: no records"],
    );
}
