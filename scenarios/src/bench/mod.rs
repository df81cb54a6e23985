//! `relaysim bench`: where the time goes, as ratios measured in one run.
//!
//! Owns the benchmark figures, one module per thing measured:
//!
//! | module | measures |
//! |---|---|
//! | [`mod@throughput`] | per-scenario seeds/s and simulated seconds per wall second on one core, and the cost of trace capture and checks |
//! | [`overhead`] | the harness against bare turmoil exchanging the same messages (restream's traffic) |
//! | [`mod@detection`] | each known bug's seeds and wall time to first detection (median over disjoint seed ranges) |
//! | [`realtime`] | a restream and a ws scenario on `TokioNet` over loopback in real time, timings scaled, beside the simulator |
//! | [`loom`] | the loom models' run time, each model file alone |
//!
//! This is the one place outside the runner that reads the wall clock, and
//! it only measures: no figure here is ever asserted by a test.

pub mod detection;
pub mod loom;
pub mod overhead;
pub mod realtime;
pub mod throughput;

pub use detection::{detection, DetectionBench};
pub use overhead::bare_turmoil_restream;
pub use realtime::{Fact, RealTime};
pub use throughput::{throughput, Throughput};

use crate::catalog::all;
use relaysim_harness::{EngineKind, Seed};
use serde_json::json;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Seeds per scenario for throughput and overhead.
    pub seeds: u64,
    /// Disjoint seed ranges per known bug for time-to-detection.
    pub detect_ranges: u64,
    /// Seeds per detection range.
    pub detect_range_len: u64,
    /// Real-time comparison: timings divided by this.
    pub realtime_scale: u32,
    /// Time the loom step (builds it with cargo on first use).
    pub loom: bool,
    /// JSON lines instead of tables.
    pub json: bool,
    /// The engines measured, side by side.
    pub engines: Vec<EngineKind>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            seeds: 40,
            detect_ranges: 10,
            detect_range_len: 50,
            realtime_scale: 20,
            loom: true,
            json: false,
            engines: EngineKind::ALL.to_vec(),
        }
    }
}

/// The simulated-seconds-per-wall-second target of a family on an engine
/// (issue 14's per-core targets for the fast engine; 5000 for turmoil).
pub fn engine_target(engine: EngineKind, family: &str) -> u64 {
    match (engine, family) {
        (EngineKind::Turmoil, _) => 5000,
        (EngineKind::Fast, "publisher") => 35_000,
        (EngineKind::Fast, "restream") => 10_000,
        (EngineKind::Fast, "transcode" | "lvqr") => 8_000,
        (EngineKind::Fast, "pads") => 4_000,
        (EngineKind::Fast, _) => 2_000,
    }
}

/// The wall clock, for measuring only.
#[allow(clippy::disallowed_methods)] // benchmarks measure wall time by definition
pub(crate) fn now() -> std::time::Instant {
    std::time::Instant::now()
}

/// The median (NaN for none).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub(crate) fn line(json_out: bool, human: String, value: serde_json::Value) {
    if json_out {
        println!("{value}");
    } else {
        println!("{human}");
    }
}

fn print_realtime(j: bool, r: &RealTime) {
    let facts: Vec<&str> = r.facts.iter().map(|f| f.human.as_str()).collect();
    let mut value = json!({"bench": "realtime", "scenario": r.scenario, "scale": r.scale, "wall_s": r.wall_s,
                           "scenario_s": r.scenario_s, "sim_wall_s": r.sim_wall_s, "acceleration": r.acceleration(),
                           "skipped_network_faults": r.skipped_faults});
    for f in &r.facts {
        value[f.key] = f.value.clone();
    }
    line(
        j,
        format!(
            "\n== real time vs simulation ({} seed {}) ==\nTokioNet on 127.0.0.1, timings / {}: {:.2} s wall ({}, {} network faults skipped)\nunscaled real time would take {:.0} s; the simulator runs it in {:.3} s: {:.0}x real time",
            r.scenario,
            r.seed,
            r.scale,
            r.wall_s,
            facts.join(", "),
            r.skipped_faults,
            r.scenario_s,
            r.sim_wall_s,
            r.acceleration()
        ),
        value,
    );
}

/// Runs every benchmark and prints the figures. `Ok(true)` always (targets
/// are reported, never enforced).
pub fn run(opts: &BenchOptions) -> Result<bool, String> {
    let j = opts.json;
    if !j {
        println!("relaysim bench: one core per figure unless noted; ratios from this run only\n");
        println!("== scenarios ({} seeds each, 1 core) ==", opts.seeds);
        println!(
            "{:<26} {:<8} {:>9} {:>12} {:>14} {:>8} {:>8}",
            "scenario", "engine", "seeds/s", "sim-s/wall-s", "trace+checks", "target", ""
        );
    }
    let mut worst_rate = f64::INFINITY;
    let mut restream_wall = None;
    for scn in all() {
        let mut reference = None;
        for &engine in &opts.engines {
            let t = throughput(*scn, opts.seeds, engine);
            let target = engine_target(engine, scn.family);
            if engine == EngineKind::Turmoil {
                worst_rate = worst_rate.min(t.sim_per_wall());
                reference = Some(t.sim_per_wall());
                if scn.name == "vod-slow-twitch" {
                    restream_wall = Some(t.wall_s / t.seeds as f64);
                }
            }
            let speedup = match (engine, reference) {
                (EngineKind::Fast, Some(r)) => format!("{:.1}x", t.sim_per_wall() / r),
                _ => String::new(),
            };
            line(
                j,
                format!(
                    "{:<26} {:<8} {:>9.1} {:>12.0} {:>13.2}x {:>8} {:>8} {}",
                    t.scenario,
                    engine.name(),
                    t.seeds_per_s(),
                    t.sim_per_wall(),
                    t.overhead_vs_bare_harness(),
                    target,
                    if t.sim_per_wall() >= target as f64 {
                        "met"
                    } else {
                        "NOT met"
                    },
                    speedup
                ),
                json!({"bench": "scenario", "scenario": t.scenario, "engine": engine.name(), "seeds": t.seeds,
                       "seeds_per_s": t.seeds_per_s(), "sim_s_per_wall_s": t.sim_per_wall(),
                       "target": target, "overhead_vs_capture_and_checks_off": t.overhead_vs_bare_harness()}),
            );
        }
    }

    // Bare turmoil baseline (restream traffic).
    let n = opts.seeds.clamp(1, 20);
    let start = now();
    for s in 0..n {
        bare_turmoil_restream(s);
    }
    let bare = start.elapsed().as_secs_f64() / n as f64;
    if let Some(full) = restream_wall {
        let ratio = full / bare;
        line(
            j,
            format!(
                "\n== harness overhead ==\nvod-slow-twitch {:.1} ms/seed vs bare turmoil with the same hosts and traffic {:.1} ms/seed: {:.2}x (target <= 1.25x: {})",
                full * 1000.0,
                bare * 1000.0,
                ratio,
                if ratio <= 1.25 { "met" } else { "NOT met" }
            ),
            json!({"bench": "overhead", "scenario": "vod-slow-twitch", "full_ms_per_seed": full * 1000.0,
                   "bare_turmoil_ms_per_seed": bare * 1000.0, "ratio": ratio}),
        );
    }

    if !j {
        println!(
            "\n== time to first detection (median over {} disjoint ranges of {} seeds, 1 core) ==",
            opts.detect_ranges, opts.detect_range_len
        );
        println!(
            "{:<32} {:<24} {:<8} {:>8} {:>13} {:>8} {:>8}",
            "bug", "scenario", "engine", "caught", "median seeds", "ms", "target"
        );
    }
    for bug in crate::catalog::bugs() {
        for &engine in &opts.engines {
            let d = detection(bug, opts.detect_ranges, opts.detect_range_len, engine);
            let ms = d.median_wall_ms();
            line(
                j,
                format!(
                    "{:<32} {:<24} {:<8} {:>5}/{:<2} {:>13.1} {:>8.1} {:>8}",
                    bug.id(),
                    d.scenario,
                    engine.name(),
                    d.caught(),
                    d.ranges.len(),
                    d.median_seeds(),
                    ms,
                    if ms <= 100.0 { "met" } else { "NOT met" }
                ),
                json!({"bench": "detection", "bug": bug.id(), "scenario": d.scenario, "engine": engine.name(),
                       "ranges": d.ranges.len(), "caught": d.caught(), "median_seeds": d.median_seeds(),
                       "median_wall_ms": ms}),
            );
        }
    }

    type RealTimeFn = fn(Seed, u32) -> Result<RealTime, String>;
    let realtime: [(&str, RealTimeFn); 2] = [
        ("vod-slow-twitch", realtime::restream::vod_slow_twitch),
        ("ws-bulk-crossfire", realtime::ws::ws_bulk_crossfire),
    ];
    for (name, f) in realtime {
        match f(Seed(0), opts.realtime_scale) {
            Ok(r) => print_realtime(j, &r),
            Err(e) => line(
                j,
                format!("\nreal-time run ({name}): {e}"),
                json!({"bench": "realtime", "scenario": name, "error": e}),
            ),
        }
    }

    if opts.loom {
        match loom::loom_step() {
            Ok(t) => {
                if !j {
                    println!("\n== loom (release, each model file alone) ==");
                }
                for (name, s) in &t.models {
                    line(
                        j,
                        format!("{name:<32} {s:>7.2} s"),
                        json!({"bench": "loom", "model": name, "wall_s": s}),
                    );
                }
                line(
                    j,
                    format!(
                        "{:<32} {:>7.2} s",
                        "the loom step (every model)",
                        t.total_s()
                    ),
                    json!({"bench": "loom", "wall_s": t.total_s()}),
                );
            }
            Err(e) => line(
                j,
                format!("\n== loom ==\n{e}"),
                json!({"bench": "loom", "error": e}),
            ),
        }
    }
    if !j {
        println!(
            "\nslowest scenario: {worst_rate:.0} sim-s/wall-s per core (target >= 5000: {})",
            if worst_rate >= 5000.0 {
                "met"
            } else {
                "NOT met"
            }
        );
    }
    Ok(true)
}
