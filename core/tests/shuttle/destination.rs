//! `DestinationState`, whole surface: two supervisors ticking (read the
//! override, claim, capture the epoch, fetch, complete), ingest
//! disconnecting twice, and the multitrack proxy setting the override while
//! reading every accessor.
//!
//! Invariants after every execution (and, where stated, during it):
//! - at most one VOD fetch in flight (checked at every claim);
//! - at most one applied fetch per publish-session epoch;
//! - an applied fetch was applied in the epoch it captured, and a fetch URL
//!   that is the override at the end belongs to the final epoch;
//! - every claim is completed exactly once, and the latch is free at the
//!   end (a fresh claim succeeds once the override is cleared);
//! - the epoch only grows, each disconnect returns a distinct new epoch, and
//!   the final epoch is the number of disconnects;
//! - a refused claim never holds the latch.

use super::{explore, must_find};
use relaysim_core::restream::{DestinationState, VodFetchOutcome};
use relaysim_core::BugSet;
use shuttle::sync::atomic::{AtomicUsize, Ordering};
use shuttle::sync::{Arc, Mutex};
use shuttle::thread;

const PROXY: &str = "rtmp://proxy/app/key";

#[derive(Debug, Clone)]
struct Completed {
    who: &'static str,
    url: Option<String>,
    epoch: u64,
    outcome: VodFetchOutcome,
}

fn supervisor(
    who: &'static str,
    d: &DestinationState,
    in_flight: &AtomicUsize,
    claims: &AtomicUsize,
    done: &Mutex<Vec<Completed>>,
    results: [Option<&'static str>; 2],
) {
    for (tick, result) in results.into_iter().enumerate() {
        // The supervisor's order: read the override, decide, claim.
        if d.override_url().is_some() || !d.try_claim_vod_fetch() {
            continue;
        }
        claims.fetch_add(1, Ordering::SeqCst);
        let epoch = d.session_epoch();
        let before = in_flight.fetch_add(1, Ordering::SeqCst);
        assert_eq!(before, 0, "two VOD fetches in flight ({who} tick {tick})");
        thread::yield_now(); // the Twitch request
        in_flight.fetch_sub(1, Ordering::SeqCst);
        let url = result.map(|r| format!("rtmp://ivs/{r}-{who}-{tick}/key"));
        let outcome = d.complete_vod_fetch(url.clone(), epoch);
        done.lock().unwrap().push(Completed {
            who,
            url,
            epoch,
            outcome,
        });
    }
}

fn model(bugs: BugSet, results_b: [Option<&'static str>; 2]) -> impl Fn() + Send + Sync {
    move || {
        let d = Arc::new(DestinationState::new("twitch", bugs));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let claims = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(Mutex::new(Vec::new()));

        let sups: Vec<_> = [("a", [Some("ivs"), Some("ivs")]), ("b", results_b)]
            .into_iter()
            .map(|(who, results)| {
                let (d, f, c, l) = (d.clone(), in_flight.clone(), claims.clone(), done.clone());
                thread::spawn(move || supervisor(who, &d, &f, &c, &l, results))
            })
            .collect();
        let ingest = {
            let d = d.clone();
            thread::spawn(move || {
                let first = d.invalidate_session_override();
                thread::yield_now(); // the publisher reconnects
                let second = d.invalidate_session_override();
                (first, second)
            })
        };
        let proxy = {
            let d = d.clone();
            thread::spawn(move || {
                let mut last = d.session_epoch();
                let mut proxied = false;
                for step in 0..3 {
                    let e = d.session_epoch();
                    assert!(e >= last, "the epoch went back from {last} to {e}");
                    last = e;
                    let _ = (d.vod_fetch_pending(), d.override_url(), d.id());
                    if step == 1 {
                        d.set_override(Some(PROXY.into()));
                        proxied = true;
                    }
                }
                proxied
            })
        };
        for s in sups {
            s.join().unwrap();
        }
        let (first, second) = ingest.join().unwrap();
        assert!(proxy.join().unwrap());

        let done = done.lock().unwrap().clone();
        let final_epoch = d.session_epoch();
        assert!(
            first != second && first.max(second) == 2 && final_epoch == 2,
            "disconnects returned epochs {first} and {second}, final {final_epoch}"
        );
        assert_eq!(
            claims.load(Ordering::SeqCst),
            done.len(),
            "a claim was never completed: {done:?}"
        );
        for epoch in 0..=final_epoch {
            let applied: Vec<_> = done
                .iter()
                .filter(|c| c.epoch == epoch && c.outcome == VodFetchOutcome::Applied)
                .collect();
            assert!(
                applied.len() <= 1,
                "{} fetches applied in epoch {epoch}: {applied:?}",
                applied.len()
            );
        }
        for c in &done {
            assert_eq!(
                c.outcome == VodFetchOutcome::Failed,
                c.url.is_none(),
                "outcome does not match the fetch's result: {c:?}"
            );
        }
        let current = d.override_url();
        if let Some(url) = current.as_deref().filter(|u| *u != PROXY) {
            let c = done
                .iter()
                .find(|c| c.url.as_deref() == Some(url))
                .unwrap_or_else(|| panic!("override {url} came from no fetch: {done:?}"));
            assert_eq!(
                (c.outcome, c.epoch),
                (VodFetchOutcome::Applied, final_epoch),
                "stale override {url} (fetched by {} in epoch {}, now {final_epoch}): {done:?}",
                c.who,
                c.epoch
            );
        }
        assert!(
            !d.vod_fetch_pending(),
            "latch still held after every fetch completed: {done:?}"
        );
        d.set_override(None);
        assert!(
            d.try_claim_vod_fetch(),
            "latch still held after every fetch completed: {done:?}"
        );
        assert!(!d.try_claim_vod_fetch(), "the latch admitted two claims");
    }
}

#[test]
fn shuttle_destination_whole_surface() {
    explore("destination", model(BugSet::NONE, [Some("ivs"), None]));
    explore(
        "destination-ok",
        model(BugSet::NONE, [Some("ivs"), Some("ivs")]),
    );
}

#[cfg(feature = "known-bugs")]
mod known_bugs {
    use super::*;
    use relaysim_core::KnownBug;

    #[test]
    fn shuttle_destination_finds_stacking() {
        must_find(
            "destination-stacking",
            &[
                "two VOD fetches in flight",
                "fetches applied in epoch",
                "the latch admitted two claims",
            ],
            model(
                BugSet::only(KnownBug::VodFetchStacking),
                [Some("ivs"), Some("ivs")],
            ),
        );
    }

    #[test]
    fn shuttle_destination_finds_stale_epoch() {
        must_find(
            "destination-stale-epoch",
            &["stale override", "fetches applied in epoch"],
            model(
                BugSet::only(KnownBug::VodFetchStaleEpoch),
                [Some("ivs"), Some("ivs")],
            ),
        );
    }

    #[test]
    fn shuttle_destination_finds_latch_leak() {
        must_find(
            "destination-latch-leak",
            &["latch still held"],
            model(BugSet::only(KnownBug::VodLatchLeak), [None, None]),
        );
    }
}
