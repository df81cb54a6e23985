//! Shared helpers: the wall-clock bound every test runs under, and the
//! bugs of `RELAYSIM_BUG`.

use relaysim_core::{BugSet, KnownBug};
use relaysim_example_slots::SlotBugs;
use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on its own thread and fails the test if it takes longer than
/// `secs` seconds of wall time (a hung seed must not hang `cargo test`).
pub fn bounded<T: Send + 'static>(
    what: &str,
    secs: u64,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => panic!("{what}: the worker ended without a result"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: still running after {secs} s of wall time (a hung or runaway seed)")
        }
    }
}

/// `RELAYSIM_BUG` (comma-separated ids of this crate's bugs), if set.
pub fn bugs_from_env() -> BugSet {
    let Ok(ids) = std::env::var("RELAYSIM_BUG") else {
        return BugSet::NONE;
    };
    ids.split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .fold(BugSet::NONE, |set, id| {
            let bug: KnownBug = SlotBugs::ALL
                .iter()
                .copied()
                .find(|b| b.id() == id)
                .unwrap_or_else(|| panic!("RELAYSIM_BUG: unknown bug {id:?} of the slots family"));
            set.with(bug)
        })
}
