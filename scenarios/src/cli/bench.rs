//! `relaysim bench`'s arguments; the measurements live in [`crate::bench`].

use clap::Args;

/// Arguments of `relaysim bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Seeds per scenario for throughput and overhead.
    #[arg(long, default_value_t = 40)]
    pub seeds: u64,
    /// Disjoint 50-seed ranges per known bug for time to detection.
    #[arg(long, default_value_t = 10)]
    pub detect_ranges: u64,
    /// Real-time comparison: divide every timing by this.
    #[arg(long, default_value_t = 20)]
    pub scale: u32,
    /// Skip timing the loom step (which builds it with cargo on first use).
    #[arg(long)]
    pub no_loom: bool,
    /// JSON lines instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Measure only this engine (repeatable; default: turmoil and fast side
    /// by side).
    #[arg(long = "engine")]
    pub engines: Vec<relaysim_harness::EngineKind>,
}

/// `relaysim bench`.
pub fn run(args: &BenchArgs) -> Result<bool, String> {
    if args.seeds == 0 || args.detect_ranges == 0 || args.scale == 0 {
        return Err("--seeds, --detect-ranges and --scale must be at least 1".into());
    }
    crate::bench::run(&crate::bench::BenchOptions {
        seeds: args.seeds,
        detect_ranges: args.detect_ranges,
        realtime_scale: args.scale,
        loom: !args.no_loom,
        json: args.json,
        engines: if args.engines.is_empty() {
            relaysim_harness::EngineKind::ALL.to_vec()
        } else {
            args.engines.clone()
        },
        ..Default::default()
    })
}
