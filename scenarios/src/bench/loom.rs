//! The loom step's run time: each model file's test binary alone, and the
//! step's sum.

use super::now;

/// The loom step's run times: each model file's test binary, timed alone.
#[derive(Debug, Clone)]
pub struct LoomTimes {
    /// (model file, wall seconds), in file order.
    pub models: Vec<(String, f64)>,
}

impl LoomTimes {
    /// The whole step (every model, one after another).
    pub fn total_s(&self) -> f64 {
        self.models.iter().map(|(_, s)| s).sum()
    }
}

/// Builds the loom models with cargo (from the workspace this binary was
/// built in, with core's `loom` feature, as `.ci/run` does), then runs each
/// model file's test binary (`core/tests/loom_*.rs`) alone and times it; the
/// build is not timed.
pub fn loom_step() -> Result<LoomTimes, String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let built =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&root)
            .args([
                "test",
                "--workspace",
                "--features",
                "relaysim-core/loom",
                "--test",
                "loom_*",
                "--no-run",
                "--message-format=json",
            ])
            .output()
            .map_err(|e| format!("cannot run cargo for the loom step: {e}"))?;
    if !built.status.success() {
        return Err(format!(
            "building the loom models failed: {}",
            String::from_utf8_lossy(&built.stderr)
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("")
        ));
    }
    // cargo's JSON messages name each test target and its executable.
    let mut binaries: Vec<(String, String)> = String::from_utf8_lossy(&built.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|m| {
            let name = m["target"]["name"].as_str()?.to_string();
            let exe = m["executable"].as_str()?.to_string();
            name.starts_with("loom_").then_some((name, exe))
        })
        .collect();
    binaries.sort();
    if binaries.is_empty() {
        return Err("the loom build produced no loom_* test binaries".into());
    }
    let mut models = Vec::new();
    for (name, exe) in binaries {
        let start = now();
        let out = std::process::Command::new(&exe)
            .args(["--quiet", "loom"])
            .output()
            .map_err(|e| format!("cannot run {name}: {e}"))?;
        let secs = start.elapsed().as_secs_f64();
        if !out.status.success() {
            return Err(format!(
                "loom model {name} failed; run the loom step of .ci/run"
            ));
        }
        models.push((name, secs));
    }
    Ok(LoomTimes { models })
}
