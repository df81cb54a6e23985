//! loom model of the per-destination VOD state: claim / complete /
//! disconnect from three threads, every interleaving.
//!
//! Run with the loom step (README):
//! `cargo test --workspace --features relaysim-core/loom --test loom_destination`
//!
//! Properties: never two fetches in flight; at most one fetch applied per
//! publish-session epoch; a stale result is never applied (an override
//! present at the end carries the epoch it was fetched in, and every
//! applied fetch was applied in the epoch it captured); every claim is
//! completed; the latch is always released once every fetch completed.
//! The whole surface, with more threads and repeated ticks, is
//! `core/tests/shuttle/destination.rs`. With each known bug
//! switched on, loom finds the interleaving that breaks its property.

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use relaysim_core::restream::{DestinationState, VodFetchOutcome};
use relaysim_core::BugSet;

fn fetcher(
    d: &DestinationState,
    in_flight: &AtomicUsize,
    captured: &Mutex<Vec<(String, u64)>>,
    applied: &Mutex<Vec<u64>>,
    result: Option<&str>,
) {
    if !d.try_claim_vod_fetch() {
        captured.lock().unwrap().push(("refused".into(), 99));
        return;
    }
    assert_eq!(
        in_flight.fetch_add(1, Ordering::SeqCst),
        0,
        "two VOD fetches in flight"
    );
    let epoch = d.session_epoch();
    captured
        .lock()
        .unwrap()
        .push((result.unwrap_or("failed").to_string(), epoch));
    in_flight.fetch_sub(1, Ordering::SeqCst);
    if d.complete_vod_fetch(result.map(str::to_string), epoch) == VodFetchOutcome::Applied {
        applied.lock().unwrap().push(epoch);
    }
}

fn model(bugs: BugSet, second_result: Option<&'static str>) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let d = Arc::new(DestinationState::new("twitch", bugs));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let captured = Arc::new(Mutex::new(Vec::new()));
        let applied = Arc::new(Mutex::new(Vec::new()));

        let handles: Vec<_> = [Some("ivs-1"), second_result]
            .into_iter()
            .map(|result| {
                let (d, f, c, a) = (
                    d.clone(),
                    in_flight.clone(),
                    captured.clone(),
                    applied.clone(),
                );
                thread::spawn(move || fetcher(&d, &f, &c, &a, result))
            })
            .collect();
        let disconnect = {
            let d = d.clone();
            thread::spawn(move || {
                d.invalidate_session_override();
            })
        };
        for h in handles {
            h.join().unwrap();
        }
        disconnect.join().unwrap();

        let log = captured.lock().unwrap().clone();
        let mut applied = applied.lock().unwrap().clone();
        applied.sort_unstable();
        assert!(
            applied.windows(2).all(|w| w[0] != w[1]),
            "two fetches applied in one epoch: {applied:?} ({log:?})"
        );
        if let Some(url) = d.override_url() {
            let epoch = log
                .iter()
                .find(|(u, _)| *u == url)
                .map(|(_, e)| *e)
                .expect("override came from a fetch");
            assert_eq!(
                epoch,
                d.session_epoch(),
                "stale override {url} applied ({log:?})"
            );
        }
        // The latch is released: a fresh claim succeeds. (Read through the
        // claim's compare-exchange, not a plain load: loom does not keep an
        // RMW's modification order for later plain loads, tokio-rs/loom#389,
        // and would report a latch that real hardware cannot see.)
        d.set_override(None);
        assert!(
            d.try_claim_vod_fetch(),
            "latch still held after every fetch completed ({log:?})"
        );
    });
}

#[test]
fn loom_destination_fix_holds() {
    model(BugSet::NONE, Some("ivs-2"));
    model(BugSet::NONE, None);
}

#[cfg(feature = "known-bugs")]
mod known_bugs {
    use super::*;
    use relaysim_core::KnownBug;

    fn finds(bug: KnownBug, second: Option<&'static str>, needles: &[&str]) {
        let err = std::panic::catch_unwind(|| model(BugSet::only(bug), second))
            .expect_err("loom must find the bug");
        let msg = err
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        assert!(
            needles.iter().any(|n| msg.contains(n)),
            "{bug}: loom failed with {msg:?}, expected one of {needles:?}"
        );
    }

    #[test]
    fn loom_destination_finds_stacking() {
        // Overlapping fetches, or back-to-back ones both applied.
        finds(
            KnownBug::VodFetchStacking,
            Some("ivs-2"),
            &[
                "two VOD fetches in flight",
                "two fetches applied in one epoch",
            ],
        );
    }

    #[test]
    fn loom_destination_finds_stale_epoch() {
        finds(
            KnownBug::VodFetchStaleEpoch,
            Some("ivs-2"),
            &["stale override"],
        );
    }

    #[test]
    fn loom_destination_finds_latch_leak() {
        finds(KnownBug::VodLatchLeak, None, &["latch still held"]);
    }
}
