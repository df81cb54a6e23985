//! The relaysim ws server against a real peer: Python's `websockets` (the
//! library upstream's server and client helper use, version pinned in
//! `tests/peers/requirements.txt`), over loopback TCP on [`TokioNet`].
//!
//! The peer (`tests/peers/ws_peer.py`) pushes a 3 MiB upload against a
//! concurrent multi-MB mirror-and-stems push, sends an orphan header and a
//! stream of `params`; the test asserts the session survives, every command
//! is answered in order, the orphan header is answered `audio_write_failed`
//! and the command after it still answered, and every byte matches on both
//! sides (fragmented pushes included).
//!
//! The test sets up its own Python: a virtual environment under the
//! workspace's `target/relaysim-py`, created on first run and reused while
//! the requirements are unchanged. Without `python3` it fails with one line
//! saying so; it is never skipped. It runs in real time on a real tokio
//! runtime and is bounded (60 s for the peer).

use relaysim_core::event::{Emitter, Event, EventSink};
use relaysim_core::net::{Net, TokioNet};
use relaysim_core::session::ws::event::WsEvent;
use relaysim_core::session::ws::{serve_on, ServerStats, WsConfig};
use relaysim_core::BugSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PEER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../peers");

/// Every event the server emitted.
#[derive(Default)]
struct Events(Mutex<Vec<WsEvent>>);

impl EventSink for Events {
    fn record(&self, _host: &'static str, event: Event) {
        if let Event::Ws(e) = event {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push(e);
        }
    }
}

/// Runs a set-up command; a failure panics with one line: what failed, what
/// to do, and the command's last line of output.
fn run(cmd: &mut Command, what: &str, hint: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}; {hint}"));
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stderr
            .lines()
            .chain(stdout.lines())
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .trim()
            .to_string();
        panic!(
            "{what} failed ({}): {hint}; last output: {last}",
            out.status
        );
    }
}

const NEED_VENV: &str =
    "the real-peer test needs Python 3 with venv and pip (e.g. apt-get install python3 python3-venv)";

/// The venv's python, creating the venv (once) when missing, broken (no
/// pip: a venv made without python3-venv) or stale.
fn python() -> PathBuf {
    match Command::new("python3").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => panic!("python3 not found: {NEED_VENV}"),
    }
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target dir")
        .to_path_buf();
    let venv = target.join("relaysim-py");
    let python = venv.join("bin").join("python");
    let requirements = Path::new(PEER_DIR).join("requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).expect("requirements.txt");
    let stamp = venv.join("relaysim-requirements.txt");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&wanted) {
        return python;
    }
    let has_pip = |python: &Path| {
        Command::new(python)
            .args(["-m", "pip", "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has_pip(&python) {
        run(
            Command::new("python3")
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
            "python3 -m venv",
            NEED_VENV,
        );
    }
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements),
        "pip install -r tests/peers/requirements.txt",
        "the real-peer test installs websockets from PyPI once (network needed)",
    );
    std::fs::write(&stamp, wanted).expect("write the venv stamp");
    python
}

#[test]
fn real_websockets_peer_survives_crossfire_and_an_orphan_header() {
    let python = python();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let events = Arc::new(Events::default());
    let stats = ServerStats::new();
    let output = rt.block_on(async {
        let listener = TokioNet.bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut cfg = WsConfig::new("127.0.0.1:0", BugSet::NONE, 7);
        cfg.generation_delay = (Duration::from_millis(50), Duration::from_millis(100));
        cfg.mirror_bytes = (1 << 20, 3 << 19);
        cfg.stem_bytes = (2 << 20, 3 << 20);
        cfg.keepalive_interval = Duration::from_secs(1);
        let emitter = Emitter::new("ws-server", events.clone());
        let server = tokio::spawn(serve_on(listener, cfg, emitter, stats.clone()));
        let peer = tokio::process::Command::new(&python)
            .arg(Path::new(PEER_DIR).join("ws_peer.py"))
            .arg(port.to_string())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(60), peer)
            .await
            .expect("the peer finished within 60 s")
            .expect("run the peer");
        // Let the server see the close before it is stopped.
        for _ in 0..50 {
            if ServerStats::get(&stats.sessions_open) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.abort();
        output
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("the peer printed no summary:\n{stdout}{stderr}"));
    assert!(
        output.status.success(),
        "the peer saw problems: {}\n{stderr}",
        summary["problems"]
    );
    assert_eq!(summary["answered"], summary["commands"], "{summary}");
    assert_eq!(summary["upload_ok"], true, "{summary}");
    assert_eq!(
        summary["orphan"]["error"], "expected binary payload after write_audio",
        "{summary}"
    );
    let pushes = summary["pushes"].as_array().expect("pushes");
    assert_eq!(pushes.len(), 3, "{summary}");
    assert!(
        pushes
            .iter()
            .all(|p| p["intact"] == true && p["bytes"].as_u64().unwrap_or(0) >= 1 << 20),
        "{summary}"
    );

    let events = events.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let has = |f: &dyn Fn(&WsEvent) -> bool| events.iter().any(f);
    assert!(
        has(&|e| matches!(e, WsEvent::PushBegin { fragments, .. } if *fragments > 1)),
        "pushes went out fragmented: {events:?}"
    );
    assert!(
        has(&|e| matches!(e, WsEvent::PayloadApplied { bytes, .. } if *bytes == 3 << 20)),
        "{events:?}"
    );
    assert!(
        has(&|e| matches!(e, WsEvent::PayloadFailed { reason, .. } if *reason == "not-binary")),
        "{events:?}"
    );
    assert!(
        !has(&|e| matches!(e, WsEvent::KeepaliveTimeout { .. })),
        "{events:?}"
    );
    assert!(
        has(&|e| matches!(e, WsEvent::SessionClosed { reason, .. } if reason == "peer-closed")),
        "the session ended by the peer's close: {events:?}"
    );
    assert_eq!(ServerStats::get(&stats.sessions_opened), 1);
}
