//! `relaysim merge`: combines the `run --json` outputs of several shards
//! into one verdict per scenario, with every failure's replay command.

use clap::Args;
use relaysim_harness::Seed;
use serde_json::json;
use std::path::PathBuf;

/// Arguments of `relaysim merge`.
#[derive(Args, Debug, Clone, Default)]
pub struct MergeArgs {
    /// Files written by `relaysim run --json`.
    pub files: Vec<PathBuf>,
    /// One JSON line per scenario.
    #[arg(long)]
    pub json: bool,
}

/// `relaysim merge`: combines `run --json` outputs of shards.
pub fn run(args: &MergeArgs) -> Result<bool, String> {
    let (files, json_out) = (&args.files, args.json);
    if files.is_empty() {
        return Err("name at least one file written by `relaysim run --json`".into());
    }
    // scenario → seed → (passed, failure json, bugs)
    let mut seeds: std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<u64, serde_json::Value>,
    > = Default::default();
    for path in files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
                format!(
                    "{}:{}: not a `relaysim run --json` line: {e}",
                    path.display(),
                    i + 1
                )
            })?;
            if v.get("summary").is_some() || v.get("determinism").is_some() {
                continue;
            }
            let (Some(scn), Some(seed)) = (v["scenario"].as_str(), v["seed"].as_str()) else {
                return Err(format!(
                    "{}:{}: a line without scenario and seed",
                    path.display(),
                    i + 1
                ));
            };
            let seed = Seed::parse(seed)?.0;
            if seeds
                .entry(scn.to_string())
                .or_default()
                .insert(seed, v.clone())
                .is_some()
            {
                return Err(format!(
                    "{}:{}: seed {seed:#x} of {scn} appears twice (overlapping shards?)",
                    path.display(),
                    i + 1
                ));
            }
        }
    }
    let mut ok = true;
    for (scn, by_seed) in &seeds {
        let failed: Vec<&serde_json::Value> = by_seed
            .values()
            .filter(|v| v["passed"] == json!(false))
            .collect();
        ok &= failed.is_empty();
        let lo = by_seed.keys().next().copied().unwrap_or(0);
        let hi = by_seed.keys().last().copied().unwrap_or(0);
        let contiguous = (hi - lo + 1) as usize == by_seed.len();
        if json_out {
            outln!(
                "{}",
                json!({"merged": scn, "seeds": by_seed.len(), "failed": failed.len(), "first": format!("{lo:#x}"),
                       "last": format!("{hi:#x}"), "contiguous": contiguous})
            );
        } else {
            outln!(
                "{scn:<22} {:>6} seeds ({lo:#x}..={hi:#x}{})  {:>4} failed",
                by_seed.len(),
                if contiguous { "" } else { ", with gaps" },
                failed.len()
            );
            for v in failed.iter().take(20) {
                let seed = v["seed"].as_str().unwrap_or("?");
                let bugs: Vec<String> = v["bugs"]
                    .as_str()
                    .filter(|b| *b != "none")
                    .map(|b| b.split(',').map(|x| format!(" --bug {x}")).collect())
                    .unwrap_or_default();
                outln!(
                    "    {seed}: {} {} — {}\n      replay: cargo run --release --bin relaysim -- replay {scn} --seed {seed}{}",
                    v["failure"]["kind"].as_str().unwrap_or("?"),
                    v["failure"]["check"].as_str().unwrap_or("?"),
                    v["failure"]["detail"].as_str().unwrap_or(""),
                    bugs.concat()
                );
            }
        }
    }
    Ok(ok)
}
