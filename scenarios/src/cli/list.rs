//! `relaysim list`: every scenario (family, default seeds, targets, about)
//! and the core's fault points.

use crate::catalog::all;
use clap::Args;
use serde_json::json;

/// Arguments of `relaysim list`.
#[derive(Args, Debug, Clone, Default)]
pub struct ListArgs {
    /// One JSON line per scenario and per fault point.
    #[arg(long)]
    pub json: bool,
}

/// Prints the catalog.
pub fn run(args: &ListArgs) -> Result<bool, String> {
    for s in all() {
        let targets: Vec<&str> = s.targets.iter().map(|t| t.bug.id()).collect();
        if args.json {
            outln!(
                "{}",
                json!({
                    "scenario": s.name, "family": s.family, "about": s.about,
                    "targets": targets, "default_seeds": s.default_seeds,
                    "tick_ms": s.tick.as_millis() as u64, "duration_s": s.duration.as_secs(),
                    "checks": s.checks.iter().map(|c| c.name).collect::<Vec<_>>(),
                })
            );
        } else {
            outln!(
                "{:<26} {:<10} seeds={:<4} targets={:<50} {}",
                s.name,
                s.family,
                s.default_seeds,
                if targets.is_empty() {
                    "-".to_string()
                } else {
                    targets.join(",")
                },
                s.about
            );
        }
    }
    // The core's fault points a plan can switch on (by family prefix).
    if !args.json {
        outln!("\nfault points (feature `fault-points`):");
    }
    for (site, about) in relaysim_core::faults::SITES {
        if args.json {
            outln!("{}", json!({"fault_point": site, "about": about}));
        } else {
            outln!("  {site:<32} {about}");
        }
    }
    // The core's deadlines: each is a `deadline:<site>` coverage check.
    if !args.json {
        outln!("\ndeadlines (each reached by a `deadline:<site>` check):");
    }
    for (site, about) in relaysim_core::deadlines::SITES {
        if args.json {
            outln!("{}", json!({"deadline": site, "about": about}));
        } else {
            outln!("  {site:<36} {about}");
        }
    }
    Ok(true)
}
