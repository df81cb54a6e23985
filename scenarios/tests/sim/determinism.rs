//! The same seed gives the same trace: twice in one process, and in a
//! second process (`relaysim replay`).

use relaysim_harness::runner::RunOptions;
use relaysim_harness::Seed;
use relaysim_scenarios::all;
use std::process::Command;
use std::sync::atomic::AtomicBool;

#[test]
fn same_seed_same_trace_in_process() {
    for scn in all() {
        for seed in [Seed(3), Seed(0xdead_beef)] {
            let never = AtomicBool::new(false);
            let a = scn.run_seed(seed, &RunOptions::default(), &never);
            let b = scn.run_seed(seed, &RunOptions::default(), &never);
            assert_eq!(a.trace.text(), b.trace.text(), "{} seed {seed}", scn.name);
            assert!(!a.trace.entries.is_empty());
        }
    }
}

/// One scenario of every family: `relaysim replay` in a second process
/// prints the trace hash of the in-process run, for either seed spelling.
#[test]
fn same_seed_same_trace_across_processes() {
    let exe = env!("CARGO_BIN_EXE_relaysim");
    let mut families = std::collections::BTreeSet::new();
    for scn in all().iter().filter(|s| families.insert(s.family)) {
        let hash = |seed: &str| {
            let out = Command::new(exe)
                .args(["replay", scn.name, "--seed", seed])
                .output()
                .expect("run relaysim");
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            let last = stdout.lines().last().unwrap_or_default().to_string();
            assert!(
                last.starts_with("trace-hash: "),
                "{}: last line was {last:?}",
                scn.name
            );
            last
        };
        assert_eq!(hash("0x7"), hash("7"), "{}", scn.name);
        let in_process = scn.run_seed(Seed(7), &RunOptions::default(), &AtomicBool::new(false));
        assert_eq!(
            hash("0x7"),
            format!("trace-hash: {}", in_process.trace_hash),
            "{}",
            scn.name
        );
    }
    assert_eq!(families.len(), 6, "{families:?}");
}

/// The fast engine keeps the same promise, in process and across processes
/// (`relaysim replay --engine fast`), for every scenario.
#[test]
fn same_seed_same_trace_on_the_fast_engine() {
    use relaysim_harness::EngineKind;
    let exe = env!("CARGO_BIN_EXE_relaysim");
    let fast = RunOptions {
        engine: EngineKind::Fast,
        ..RunOptions::default()
    };
    for scn in all() {
        let never = AtomicBool::new(false);
        let a = scn.run_seed(Seed(3), &fast, &never);
        let b = scn.run_seed(Seed(3), &fast, &never);
        assert_eq!(a.trace.text(), b.trace.text(), "{} seed 0x3", scn.name);
        assert!(!a.trace.entries.is_empty());
        let out = Command::new(exe)
            .args([
                "replay",
                scn.name,
                "--seed",
                "3",
                "--engine",
                "fast",
                "--trace-only",
            ])
            .output()
            .expect("run relaysim");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(
            stdout.lines().last().unwrap_or_default(),
            format!("trace-hash: {}", a.trace_hash),
            "{}: a second process on the fast engine",
            scn.name
        );
    }
}
