//! `relaysim merge`: judges whether the `run --json` outputs of a seed
//! farm's shards add up to complete runs, and combines them into one verdict
//! per scenario, with every failure's replay command.
//!
//! # Records read
//!
//! One JSON object per line, as `relaysim run --json` writes them:
//!
//! - a **seed record** per finished seed: `scenario`, `seed` (hex), `bugs`,
//!   `passed`, `failure` (`null` or `{kind, check, detail, at_ms,
//!   plan_file}`), `range` (the requested range, `0x0..0xc8`), `shard`
//!   (`"K/N"` or `null`), `version`;
//! - a **completion record** per scenario and shard, after its seeds:
//!   `complete` (the scenario), `range`, `shard`, `seeds` (seeds this shard
//!   ran), `expected` (seeds it should run), `bugs`, `version`,
//!   `interrupted`;
//! - `summary` and `determinism` lines, which are skipped.
//!
//! # Completeness
//!
//! Records are grouped by scenario and requested range. Within a group every
//! record names the same shard count N (`null` is 1/1), and each shard K of N
//! is [`SeedRange::shard`]`(K, N)` of the range, the very arithmetic `run
//! --shard` uses. The set is complete when, for every group, each non-empty
//! shard has exactly one completion record that is not interrupted, whose
//! `expected` is the shard's length and whose `seeds` equals it, and every
//! seed of the shard has a seed record; no seed appears twice and no seed
//! record lies outside its shard; and each scenario has one bug set and one
//! version. Unreadable, empty, truncated (a last line without its newline)
//! and malformed input is a problem too.
//!
//! Every problem is one line on stderr (`relaysim: error: …`) and makes the
//! exit code 2, after every failure that was read has been printed with its
//! replay command. A complete set exits 1 when a seed failed, 0 otherwise.

use crate::catalog::all;
use clap::Args;
use relaysim_harness::{Seed, SeedRange};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Arguments of `relaysim merge`.
#[derive(Args, Debug, Clone, Default)]
pub struct MergeArgs {
    /// Files written by `relaysim run --json` (one per shard).
    pub files: Vec<PathBuf>,
    /// One JSON line per scenario, then a verdict line.
    #[arg(long)]
    pub json: bool,
    /// The shards ran `run --all`: every scenario of the catalog must have
    /// records (catches a scenario no shard reached).
    #[arg(long)]
    pub all: bool,
}

/// Malformed lines named one by one per file; the rest are counted.
const MALFORMED_SHOWN: usize = 5;

/// Where a record was read: file index and 1-based line.
#[derive(Debug, Clone, Copy)]
struct Loc {
    file: usize,
    line: usize,
}

/// A shard K of N; an unsharded run is 1/1.
type Shard = (u64, u64);

#[derive(Debug, Clone)]
struct SeedRec {
    scenario: String,
    seed: u64,
    bugs: String,
    passed: bool,
    failure: Option<Value>,
    range: SeedRange,
    shard: Shard,
    version: String,
    loc: Loc,
}

#[derive(Debug, Clone)]
struct DoneRec {
    scenario: String,
    range: SeedRange,
    shard: Shard,
    seeds: u64,
    expected: u64,
    bugs: String,
    version: String,
    interrupted: bool,
    loc: Loc,
}

/// A failure of a whole batch rather than of one seed (`coverage`: a
/// `sometimes` check never held in the shard; `determinism`).
#[derive(Debug, Clone)]
struct BatchRec {
    scenario: String,
    kind: String,
    check: String,
    seed: String,
    detail: String,
}

enum Record {
    Seed(SeedRec),
    Done(DoneRec),
    Batch(BatchRec),
    Skipped,
}

/// One scenario and requested range: the records of all its shards.
#[derive(Default)]
struct Group {
    /// Shard counts seen, with where each was first read.
    counts: BTreeMap<u64, Loc>,
    done: BTreeMap<Shard, Vec<DoneRec>>,
    /// Seeds read per shard (in the shard, no duplicates).
    seeds: BTreeMap<Shard, Vec<u64>>,
    /// Seed records outside the shard they name.
    outside: BTreeMap<Shard, Vec<(u64, Loc)>>,
}

#[derive(Default)]
struct ScenarioAcc {
    bugs: BTreeMap<String, Loc>,
    versions: BTreeMap<String, Loc>,
    /// Seeds read a second time: (seed, first place, this place).
    twice: Vec<(u64, Loc, Loc)>,
    groups: BTreeMap<(u64, u64), Group>,
    /// Every seed read in its shard, with where it was first read.
    read: BTreeMap<u64, Loc>,
    /// The first failing record of each failing seed.
    failures: BTreeMap<u64, SeedRec>,
    batch_failures: Vec<BatchRec>,
    problems: usize,
}

impl ScenarioAcc {
    /// Failing seeds plus failures of whole batches.
    fn failed(&self) -> usize {
        self.failures.len() + self.batch_failures.len()
    }
}

struct Merge<'a> {
    files: &'a [PathBuf],
    scenarios: BTreeMap<String, ScenarioAcc>,
    /// (scenario, if the problem is one scenario's; the line).
    problems: Vec<(Option<String>, String)>,
}

/// `relaysim merge`: judges and combines the `run --json` outputs of shards.
pub fn run(args: &MergeArgs) -> Result<bool, String> {
    if args.files.is_empty() {
        return Err(
            "name at least one file written by `relaysim run --json` (one per shard)".into(),
        );
    }
    let mut m = Merge {
        files: &args.files,
        scenarios: BTreeMap::new(),
        problems: Vec::new(),
    };
    for i in 0..args.files.len() {
        m.read_file(i);
    }
    m.judge(args.all);
    let failed: usize = m.scenarios.values().map(ScenarioAcc::failed).sum();
    m.print(args.json, failed);
    let mut problems: Vec<String> = m.problems.into_iter().map(|(_, p)| p).collect();
    match problems.pop() {
        None => Ok(failed == 0),
        Some(last) => {
            // The binary prints the returned line as `relaysim: error: …`;
            // the others go first, in the same form, one line each.
            for line in problems {
                eprintln!("relaysim: error: {line}");
            }
            Err(last)
        }
    }
}

impl Merge<'_> {
    fn at(&self, loc: Loc) -> String {
        format!("{}:{}", self.files[loc.file].display(), loc.line)
    }

    fn file(&self, loc: Loc) -> String {
        self.files[loc.file].display().to_string()
    }

    fn problem(&mut self, scenario: Option<&str>, line: String) {
        if let Some(s) = scenario {
            self.scenarios.entry(s.to_string()).or_default().problems += 1;
        }
        self.problems.push((scenario.map(str::to_string), line));
    }

    fn read_file(&mut self, file: usize) {
        let path = &self.files[file];
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                let msg = format!("cannot read {}: {e}", path.display());
                return self.problem(None, msg);
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        if text.trim().is_empty() {
            let msg = format!(
                "{}: empty file: no records (did its shard run at all?)",
                path.display()
            );
            return self.problem(None, msg);
        }
        let complete_last = text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        // A file of another format would give a problem per line: the
        // first few are named, the rest counted.
        let mut malformed = 0usize;
        for (i, line) in lines.iter().enumerate() {
            let loc = Loc { file, line: i + 1 };
            if i + 1 == lines.len() && !complete_last {
                let msg = format!(
                    "{}: truncated: the last line has no newline (the shard was cut off mid-write)",
                    self.at(loc)
                );
                self.problem(None, msg);
                break;
            }
            if line.trim().is_empty() {
                continue;
            }
            match parse_record(line, loc) {
                Ok(Record::Skipped) => {}
                Ok(Record::Batch(r)) => {
                    let acc = self.scenarios.entry(r.scenario.clone()).or_default();
                    acc.batch_failures.push(r);
                }
                Ok(Record::Seed(r)) => self.add_seed(r),
                Ok(Record::Done(r)) => self.add_done(r),
                Err(e) => {
                    malformed += 1;
                    if malformed <= MALFORMED_SHOWN {
                        let msg = format!("{}: {e}", self.at(loc));
                        self.problem(None, msg);
                    }
                }
            }
        }
        if malformed > MALFORMED_SHOWN {
            let msg = format!(
                "{}: {} more malformed line(s) (is it a `relaysim run --json` output of this version?)",
                path.display(),
                malformed - MALFORMED_SHOWN
            );
            self.problem(None, msg);
        }
    }

    fn note_bugs_version(acc: &mut ScenarioAcc, bugs: &str, version: &str, loc: Loc) {
        acc.bugs.entry(bugs.to_string()).or_insert(loc);
        acc.versions.entry(version.to_string()).or_insert(loc);
    }

    fn add_seed(&mut self, r: SeedRec) {
        let acc = self.scenarios.entry(r.scenario.clone()).or_default();
        Self::note_bugs_version(acc, &r.bugs, &r.version, r.loc);
        if !r.passed {
            acc.failures.entry(r.seed).or_insert_with(|| r.clone());
        }
        let group = acc.groups.entry((r.range.start, r.range.end)).or_default();
        group.counts.entry(r.shard.1).or_insert(r.loc);
        let in_shard = r
            .range
            .shard(r.shard.0, r.shard.1)
            .is_ok_and(|s| (s.start..s.end).contains(&r.seed));
        if !in_shard {
            // Reported on its own; it neither fills nor duplicates a seed.
            group
                .outside
                .entry(r.shard)
                .or_default()
                .push((r.seed, r.loc));
            return;
        }
        if let Some(first) = acc.read.get(&r.seed) {
            acc.twice.push((r.seed, *first, r.loc));
            return;
        }
        acc.read.insert(r.seed, r.loc);
        group.seeds.entry(r.shard).or_default().push(r.seed);
    }

    fn add_done(&mut self, r: DoneRec) {
        let acc = self.scenarios.entry(r.scenario.clone()).or_default();
        Self::note_bugs_version(acc, &r.bugs, &r.version, r.loc);
        let group = acc.groups.entry((r.range.start, r.range.end)).or_default();
        group.counts.entry(r.shard.1).or_insert(r.loc);
        group.done.entry(r.shard).or_default().push(r);
    }

    fn judge(&mut self, expect_all: bool) {
        let mut found: Vec<(Option<String>, String)> = Vec::new();
        if expect_all {
            for scn in all() {
                if !self.scenarios.contains_key(scn.name) {
                    found.push((
                        Some(scn.name.to_string()),
                        format!(
                            "{}: no records in any file (--all: every scenario of the catalog must have run)",
                            scn.name
                        ),
                    ));
                }
            }
        }
        for (scn, acc) in &self.scenarios {
            let mut push = |line: String| found.push((Some(scn.clone()), line));
            for (what, seen) in [("bug sets", &acc.bugs), ("versions", &acc.versions)] {
                if seen.len() > 1 {
                    let list: Vec<String> = seen
                        .iter()
                        .map(|(v, loc)| format!("{v} ({})", self.at(*loc)))
                        .collect();
                    push(format!(
                        "{scn}: mixed {what}: {}; shards of one farm run share them",
                        list.join(", ")
                    ));
                }
            }
            if let Some((seed, first, again)) = acc.twice.first() {
                if acc.twice.len() == 1 {
                    push(format!(
                        "seed {:#x} of {scn} appears twice ({} and {}): overlapping shards or a file given twice",
                        seed,
                        self.at(*first),
                        self.at(*again)
                    ));
                } else {
                    let seeds: Vec<u64> = acc.twice.iter().map(|t| t.0).collect();
                    push(format!(
                        "{} seeds of {scn} appear twice ({}; the first, {:#x}, at {} and {}): overlapping shards or a file given twice",
                        acc.twice.len(),
                        seed_list(&seeds),
                        seed,
                        self.at(*first),
                        self.at(*again)
                    ));
                }
            }
            for (&(start, end), group) in &acc.groups {
                let range = SeedRange::new(start, end);
                self.judge_group(scn, range, group, &mut push);
            }
        }
        for (scn, line) in found {
            self.problem(scn.as_deref(), line);
        }
    }

    fn judge_group(
        &self,
        scn: &str,
        range: SeedRange,
        group: &Group,
        push: &mut impl FnMut(String),
    ) {
        for (shard, list) in &group.outside {
            let seeds: Vec<u64> = list.iter().map(|o| o.0).collect();
            let within = range
                .shard(shard.0, shard.1)
                .map(|s| s.to_string())
                .unwrap_or_else(|e| e);
            push(format!(
                "{scn} {range} {}: {} seed record(s) outside the shard ({within}): {} (first at {})",
                shard_name(*shard),
                seeds.len(),
                seed_list(&seeds),
                self.at(list[0].1)
            ));
        }
        if group.counts.len() > 1 {
            let list: Vec<String> = group
                .counts
                .iter()
                .map(|(n, loc)| format!("N={n} ({})", self.at(*loc)))
                .collect();
            push(format!(
                "{scn} {range}: mixed shard counts: {}; shards of different splits do not add up",
                list.join(", ")
            ));
            return;
        }
        let Some((&n, _)) = group.counts.iter().next() else {
            return;
        };
        for k in 1..=n {
            let shard = (k, n);
            let name = shard_name(shard);
            let slice = match range.shard(k, n) {
                Ok(s) => s,
                Err(e) => {
                    push(format!("{scn} {range}: {e}"));
                    return;
                }
            };
            let read = group.seeds.get(&shard).map(Vec::as_slice).unwrap_or(&[]);
            let done = group.done.get(&shard).map(Vec::as_slice).unwrap_or(&[]);
            if done.len() > 1 {
                let at: Vec<String> = done.iter().map(|d| self.at(d.loc)).collect();
                push(format!(
                    "{scn} {range} {name}: completion record appears {} times ({}): a shard given twice",
                    done.len(),
                    at.join(", ")
                ));
            }
            let Some(d) = done.first() else {
                if slice.is_empty() {
                    continue; // an empty shard has nothing to run
                }
                if read.is_empty() {
                    push(format!(
                        "{scn} {range} {name} ({slice}, {} seeds): missing: no records (its file was not given, or the shard never ran)",
                        slice.len()
                    ));
                } else {
                    push(format!(
                        "{scn} {range} {name} ({slice}): no completion record, {} of {} seeds read (the shard died or its file was cut off)",
                        read.len(),
                        slice.len()
                    ));
                }
                continue;
            };
            if d.expected != slice.len() {
                push(format!(
                    "{scn} {range} {name}: its completion record expects {} seeds, but the shard is {slice} ({} seeds) ({})",
                    d.expected,
                    slice.len(),
                    self.at(d.loc)
                ));
            }
            if d.interrupted {
                push(format!(
                    "{scn} {range} {name} ({slice}): interrupted after {} of {} seeds ({})",
                    d.seeds,
                    d.expected,
                    self.at(d.loc)
                ));
                continue;
            }
            if d.seeds != d.expected {
                push(format!(
                    "{scn} {range} {name} ({slice}): ran {} of {} seeds ({})",
                    d.seeds,
                    d.expected,
                    self.at(d.loc)
                ));
            }
            let gaps = gaps(slice, read);
            let missing: u64 = gaps.iter().map(SeedRange::len).sum();
            if missing > 0 {
                push(format!(
                    "{scn} {range} {name} ({slice}): {missing} seed(s) missing: {} (in {})",
                    range_list(&gaps),
                    self.file(d.loc)
                ));
            }
        }
    }

    fn print(&self, json_out: bool, failed: usize) {
        for (scn, acc) in &self.scenarios {
            let lo = acc.read.keys().next().copied().unwrap_or(0);
            let hi = acc.read.keys().next_back().copied().unwrap_or(0);
            let contiguous =
                acc.read.is_empty() || u128::from(hi - lo) + 1 == acc.read.len() as u128;
            let bugs = acc
                .bugs
                .keys()
                .next()
                .cloned()
                .unwrap_or_else(|| "none".into());
            let version = acc.versions.keys().next().cloned().unwrap_or_default();
            let ranges: Vec<String> = acc
                .groups
                .keys()
                .map(|&(s, e)| SeedRange::new(s, e).to_string())
                .collect();
            if json_out {
                let failures: Vec<Value> = acc
                    .failures
                    .values()
                    .map(|r| {
                        let mut f = r.failure.clone().unwrap_or(Value::Null);
                        if let Value::Object(o) = &mut f {
                            o.insert("seed".into(), json!(format!("{:#x}", r.seed)));
                            o.insert("replay".into(), json!(replay(scn, r)));
                        }
                        f
                    })
                    .collect();
                outln!(
                    "{}",
                    json!({
                        "merged": scn, "seeds": acc.read.len(), "failed": acc.failed(),
                        "first": format!("{lo:#x}"), "last": format!("{hi:#x}"),
                        "contiguous": contiguous, "ranges": ranges, "bugs": bugs,
                        "version": version, "complete": acc.problems == 0,
                        "problems": acc.problems, "failures": failures,
                        "batch_failures": acc.batch_failures.iter().map(|b| json!({
                            "kind": b.kind, "check": b.check, "seed": b.seed, "detail": b.detail,
                        })).collect::<Vec<_>>(),
                    })
                );
                continue;
            }
            outln!(
                "{scn:<24} {:>6} seeds ({})  {:>4} failed{}",
                acc.read.len(),
                if acc.read.is_empty() {
                    "none read".to_string()
                } else if contiguous {
                    format!("{lo:#x}..={hi:#x}")
                } else {
                    format!("{lo:#x}..={hi:#x}, with gaps")
                },
                acc.failed(),
                if acc.problems > 0 {
                    format!("  INCOMPLETE ({} problem(s))", acc.problems)
                } else {
                    String::new()
                }
            );
            for r in acc.failures.values() {
                let f = r.failure.as_ref().unwrap_or(&Value::Null);
                outln!(
                    "    {:#x}: {} {} — {}\n      replay: {}",
                    r.seed,
                    f["kind"].as_str().unwrap_or("?"),
                    f["check"].as_str().unwrap_or("?"),
                    f["detail"].as_str().unwrap_or(""),
                    replay(scn, r)
                );
                if let Some(plan) = f["plan_file"].as_str() {
                    outln!("      plan file: {plan} (on the machine that ran the shard)");
                }
            }
            for b in &acc.batch_failures {
                outln!(
                    "    batch: {} {} — {} (seed {})",
                    b.kind,
                    b.check,
                    b.detail,
                    b.seed
                );
            }
        }
        let verdict = if !self.problems.is_empty() {
            "incomplete"
        } else if failed > 0 {
            "failed"
        } else {
            "passed"
        };
        if json_out {
            let problems: Vec<&str> = self.problems.iter().map(|p| p.1.as_str()).collect();
            outln!(
                "{}",
                json!({"verdict": verdict, "failed": failed, "problems": problems})
            );
        } else if self.problems.is_empty() {
            outln!("merge: complete, {failed} failed seed(s)");
        } else {
            outln!(
                "merge: INCOMPLETE: {} problem(s) (on stderr), {failed} failed seed(s) among the records read",
                self.problems.len()
            );
        }
    }
}

/// The CLI replay command of one failing seed record (as the run's report
/// prints it; bug ids are taken as written, so a record from another
/// version still gets its command).
fn replay(scn: &str, r: &SeedRec) -> String {
    let bugs: String = r
        .bugs
        .split(',')
        .filter(|b| *b != "none" && !b.is_empty())
        .map(|b| format!(" --bug {b}"))
        .collect();
    format!(
        "cargo run --release --bin relaysim -- replay {scn} --seed {}{bugs}",
        Seed(r.seed)
    )
}

fn shard_name(shard: Shard) -> String {
    format!("shard {}/{}", shard.0, shard.1)
}

/// The runs of `slice` that `read` (sorted or not, within `slice`) lacks,
/// computed from the seeds read, never by walking the slice.
fn gaps(slice: SeedRange, read: &[u64]) -> Vec<SeedRange> {
    let mut seeds = read.to_vec();
    seeds.sort_unstable();
    let mut out = Vec::new();
    let mut next = slice.start;
    for s in seeds {
        if s > next {
            out.push(SeedRange::new(next, s));
        }
        next = next.max(s + 1);
    }
    if next < slice.end {
        out.push(SeedRange::new(next, slice.end));
    }
    out
}

/// `0x3, 0x7..0xa` — at most 8 runs, then how many more.
fn range_list(runs: &[SeedRange]) -> String {
    let mut parts: Vec<String> = runs
        .iter()
        .take(8)
        .map(|r| {
            if r.len() == 1 {
                Seed(r.start).to_string()
            } else {
                r.to_string()
            }
        })
        .collect();
    if runs.len() > 8 {
        parts.push(format!("and {} more run(s)", runs.len() - 8));
    }
    parts.join(", ")
}

/// Seeds as runs of consecutive values.
fn seed_list(seeds: &[u64]) -> String {
    let mut sorted = seeds.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<SeedRange> = Vec::new();
    for s in sorted {
        match runs.last_mut() {
            Some(r) if r.end == s => r.end = s.saturating_add(1),
            _ => runs.push(SeedRange::new(s, s.saturating_add(1))),
        }
    }
    range_list(&runs)
}

/// `none`, or the bug ids sorted (the order they were given in does not
/// make another bug set).
fn normal_bugs(s: &str) -> String {
    let mut ids: Vec<&str> = s
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty() && *b != "none")
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        "none".into()
    } else {
        ids.join(",")
    }
}

fn parse_record(line: &str, loc: Loc) -> Result<Record, String> {
    let v: Value = serde_json::from_str(line)
        .map_err(|e| format!("not JSON ({e}): not a line `relaysim run --json` writes"))?;
    let obj = v
        .as_object()
        .ok_or("not a JSON object: not a line `relaysim run --json` writes")?;
    if obj.contains_key("summary") || obj.contains_key("determinism") {
        return Ok(Record::Skipped);
    }
    if let Some(scn) = obj.get("batch_failure") {
        let field = |f: &str| obj.get(f).and_then(Value::as_str);
        let (Some(scenario), Some(kind), Some(check)) =
            (scn.as_str(), field("kind"), field("check"))
        else {
            return Err(
                "malformed batch failure: \"batch_failure\", \"kind\" and \"check\" are strings"
                    .into(),
            );
        };
        return Ok(Record::Batch(BatchRec {
            scenario: scenario.to_string(),
            kind: kind.to_string(),
            check: check.to_string(),
            seed: field("seed").unwrap_or("?").to_string(),
            detail: field("detail").unwrap_or("").to_string(),
        }));
    }
    let kind = if obj.contains_key("complete") {
        "completion record"
    } else if obj.contains_key("scenario") {
        "seed record"
    } else {
        return Err(
            "not a relaysim record (no \"scenario\", \"complete\", \"batch_failure\", \"summary\" or \"determinism\" key)"
                .into(),
        );
    };
    let bad = |field: &str, want: &str| format!("malformed {kind}: {field:?} {want}");
    let text = |field: &str| -> Result<&str, String> {
        obj.get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad(field, "is missing or not a non-empty string"))
    };
    let count = |field: &str| -> Result<u64, String> {
        obj.get(field)
            .and_then(Value::as_u64)
            .ok_or_else(|| bad(field, "is missing or not a count"))
    };
    let flag = |field: &str| -> Result<bool, String> {
        obj.get(field)
            .and_then(Value::as_bool)
            .ok_or_else(|| bad(field, "is missing or not true/false"))
    };
    let range = {
        let r = text("range")?;
        if !r.contains("..") {
            return Err(bad("range", "is not a seed range A..B"));
        }
        SeedRange::parse(r).map_err(|e| bad("range", &format!("is invalid: {e}")))?
    };
    let shard = match obj.get("shard") {
        Some(Value::Null) => (1, 1),
        Some(Value::String(s)) => parse_shard(s).ok_or_else(|| {
            bad(
                "shard",
                &format!("is {s:?}, not K/N with 1 <= K <= N (or null)"),
            )
        })?,
        _ => return Err(bad("shard", "is missing (it is \"K/N\" or null)")),
    };
    let bugs = normal_bugs(text("bugs")?);
    let version = text("version")?.to_string();
    if kind == "completion record" {
        return Ok(Record::Done(DoneRec {
            scenario: text("complete")?.to_string(),
            range,
            shard,
            seeds: count("seeds")?,
            expected: count("expected")?,
            bugs,
            version,
            interrupted: flag("interrupted")?,
            loc,
        }));
    }
    let seed = Seed::parse(text("seed")?).map_err(|e| bad("seed", &format!("is invalid: {e}")))?;
    let passed = flag("passed")?;
    let failure = match obj.get("failure") {
        Some(Value::Null) if passed => None,
        Some(Value::Null) => return Err(bad("failure", "is null on a failed seed")),
        Some(f @ Value::Object(o)) => {
            for k in ["kind", "check"] {
                if !o.get(k).is_some_and(Value::is_string) {
                    return Err(bad("failure", &format!("has no {k:?}")));
                }
            }
            Some(f.clone())
        }
        _ => return Err(bad("failure", "is missing (it is null or an object)")),
    };
    Ok(Record::Seed(SeedRec {
        scenario: text("scenario")?.to_string(),
        seed: seed.0,
        bugs,
        passed,
        failure,
        range,
        shard,
        version,
        loc,
    }))
}

/// `K/N` with 1 <= K <= N.
fn parse_shard(s: &str) -> Option<Shard> {
    let (k, n) = s.split_once('/')?;
    let k: u64 = k.trim().parse().ok()?;
    let n: u64 = n.trim().parse().ok()?;
    (k >= 1 && k <= n).then_some((k, n))
}
