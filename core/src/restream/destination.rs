//! Per-destination shared state: the override URL, the single-flight VOD
//! fetch latch and the publish-session epoch.
//!
//! Owns [`DestinationState`] and the whole latch lifecycle: claim
//! ([`DestinationState::try_claim_vod_fetch`]), completion
//! ([`DestinationState::complete_vod_fetch`], the one place the latch is
//! released), and invalidation on publisher disconnect (override cleared and
//! epoch bumped under the override's lock). It must never be touched through
//! anything but these methods: the loom model in `core/tests/loom_destination.rs`
//! checks exactly this surface. Shared-state primitives come from
//! [`crate::sync`] so that model runs them under loom.

use crate::bugs::{BugSet, KnownBug};
use crate::sync::{lock, AtomicBool, AtomicU64, Mutex, Ordering};

/// How a VOD fetch ended, as decided by [`DestinationState::complete_vod_fetch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VodFetchOutcome {
    /// The URL became the override (same publish session as the claim).
    Applied,
    /// The publisher disconnected since the claim: the URL names a dead
    /// session and was dropped.
    DiscardedStale,
    /// The fetch produced no URL.
    Failed,
}

/// State shared by the supervisor, the fetch task, ingest and the pumps for
/// one destination. Pointer-stable behind an `Arc`.
#[derive(Debug)]
pub struct DestinationState {
    id: String,
    bugs: BugSet,
    override_url: Mutex<Option<String>>,
    vod_fetch_pending: AtomicBool,
    session_epoch: AtomicU64,
}

impl DestinationState {
    pub fn new(id: impl Into<String>, bugs: BugSet) -> DestinationState {
        DestinationState {
            id: id.into(),
            bugs,
            override_url: Mutex::new(None),
            vod_fetch_pending: AtomicBool::new(false),
            session_epoch: AtomicU64::new(0),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The current override, if any.
    pub fn override_url(&self) -> Option<String> {
        lock(&self.override_url).clone()
    }

    /// Sets the override directly (the multitrack-config proxy path, which
    /// bypasses the latch and the epoch).
    pub fn set_override(&self, url: Option<String>) {
        *lock(&self.override_url) = url;
    }

    /// Is a VOD fetch in flight (the latch held)?
    pub fn vod_fetch_pending(&self) -> bool {
        self.vod_fetch_pending.load(Ordering::Acquire)
    }

    /// Claims the single-flight latch. True means: the caller must spawn one
    /// fetch and hand its result to [`Self::complete_vod_fetch`].
    ///
    /// The override is re-checked under its lock after the claim: the
    /// supervisor read it a moment before, and a fetch may have applied since.
    pub fn try_claim_vod_fetch(&self) -> bool {
        if self.bugs.on(KnownBug::VodFetchStacking) {
            // Pre-fix: no latch; every tick without an override fetches.
            return lock(&self.override_url).is_none();
        }
        // A compare-exchange, not a swap: a refused claim writes nothing, so
        // the latch's only writers are the claimant and its completion.
        if self
            .vod_fetch_pending
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        if lock(&self.override_url).is_some() {
            self.vod_fetch_pending.store(false, Ordering::Release);
            return false;
        }
        true
    }

    /// The publish-session epoch; captured by the supervisor at claim time.
    pub fn session_epoch(&self) -> u64 {
        self.session_epoch.load(Ordering::Acquire)
    }

    /// Writes `url` as the override only if no disconnect happened since
    /// `captured_epoch` was read. The comparison and the write happen under
    /// the override's lock, the same lock [`Self::invalidate_session_override`]
    /// bumps the epoch under, so a stale URL can never land.
    pub fn apply_vod_session_if_current(&self, url: String, captured_epoch: u64) -> bool {
        let mut guard = lock(&self.override_url);
        let current = self.session_epoch.load(Ordering::Acquire) == captured_epoch;
        if current || self.bugs.on(KnownBug::VodFetchStaleEpoch) {
            *guard = Some(url);
            true
        } else {
            false
        }
    }

    /// Publisher disconnect: clears the override and bumps the epoch under one
    /// lock. Deliberately leaves the latch alone: releasing it here would let
    /// a fast reconnect stack a second fetch on the stale one. Returns the new
    /// epoch.
    pub fn invalidate_session_override(&self) -> u64 {
        let mut guard = lock(&self.override_url);
        *guard = None;
        self.session_epoch.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Finishes a claimed fetch: applies, discards or fails it, then releases
    /// the latch — on every path, here and nowhere else.
    pub fn complete_vod_fetch(
        &self,
        result: Option<String>,
        captured_epoch: u64,
    ) -> VodFetchOutcome {
        let outcome = match result {
            None => VodFetchOutcome::Failed,
            Some(url) => {
                if self.apply_vod_session_if_current(url, captured_epoch) {
                    VodFetchOutcome::Applied
                } else {
                    VodFetchOutcome::DiscardedStale
                }
            }
        };
        let leak = self.bugs.on(KnownBug::VodLatchLeak) && outcome != VodFetchOutcome::Applied;
        if !leak {
            self.vod_fetch_pending.store(false, Ordering::Release);
        }
        outcome
    }

    /// Test support: force the latch (the upstream tests poke it directly).
    #[doc(hidden)]
    pub fn force_latch(&self, held: bool) {
        self.vod_fetch_pending.store(held, Ordering::Release);
    }
}

/// Parity with the upstream PR's twelve tests (seed-systems.md §0.4): one test
/// here per behaviour there, same names.
#[cfg(test)]
#[cfg(not(feature = "loom"))]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    fn dest() -> DestinationState {
        DestinationState::new("twitch", BugSet::NONE)
    }

    #[test]
    fn try_claim_vod_fetch_admits_one_claimant() {
        let d = dest();
        assert!(d.try_claim_vod_fetch());
        for _ in 0..5 {
            assert!(
                !d.try_claim_vod_fetch(),
                "a tick while the latch is held must not fetch"
            );
        }
        d.force_latch(false);
        assert!(d.try_claim_vod_fetch());
    }

    #[test]
    fn try_claim_vod_fetch_skips_when_session_already_allocated() {
        let d = dest();
        d.set_override(Some("rtmp://x/ivs-1/k".into()));
        assert!(!d.try_claim_vod_fetch());
        assert!(
            !d.vod_fetch_pending(),
            "a refused claim must not leave the latch held"
        );
    }

    #[test]
    fn try_claim_vod_fetch_reclaims_after_override_cleared() {
        let d = dest();
        d.set_override(Some("rtmp://x/ivs-1/k".into()));
        assert!(!d.try_claim_vod_fetch());
        d.set_override(None);
        assert!(d.try_claim_vod_fetch());
    }

    #[test]
    fn try_claim_vod_fetch_admits_exactly_one_under_contention() {
        let d = dest();
        let winners = std::thread::scope(|s| {
            let hs: Vec<_> = (0..32)
                .map(|_| s.spawn(|| d.try_claim_vod_fetch()))
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap())
                .filter(|won| *won)
                .count()
        });
        assert_eq!(winners, 1);
    }

    #[test]
    fn apply_vod_session_if_current_writes_when_session_unchanged() {
        let d = dest();
        let e = d.session_epoch();
        assert!(d.apply_vod_session_if_current("u".into(), e));
        assert_eq!(d.override_url().as_deref(), Some("u"));
    }

    #[test]
    fn apply_vod_session_if_current_discards_after_disconnect() {
        let d = dest();
        let e = d.session_epoch();
        d.invalidate_session_override();
        assert!(!d.apply_vod_session_if_current("u".into(), e));
        assert_eq!(d.override_url(), None);
    }

    #[test]
    fn invalidate_session_override_clears_url_and_bumps_epoch() {
        let d = dest();
        d.set_override(Some("u".into()));
        let before = d.session_epoch();
        assert_eq!(d.invalidate_session_override(), before + 1);
        assert_eq!(d.override_url(), None);
        assert_eq!(d.session_epoch(), before + 1);
    }

    #[test]
    fn apply_vod_session_if_current_applies_for_fresh_session_after_reconnect() {
        let d = dest();
        d.invalidate_session_override();
        let e = d.session_epoch();
        assert!(d.apply_vod_session_if_current("fresh".into(), e));
        assert_eq!(d.override_url().as_deref(), Some("fresh"));
    }

    #[test]
    fn complete_vod_fetch_applies_and_releases_on_success() {
        let d = dest();
        assert!(d.try_claim_vod_fetch());
        let e = d.session_epoch();
        assert_eq!(
            d.complete_vod_fetch(Some("u".into()), e),
            VodFetchOutcome::Applied
        );
        assert_eq!(d.override_url().as_deref(), Some("u"));
        assert!(!d.vod_fetch_pending());
    }

    #[test]
    fn complete_vod_fetch_discards_stale_and_releases() {
        let d = dest();
        assert!(d.try_claim_vod_fetch());
        let e = d.session_epoch();
        d.invalidate_session_override();
        assert_eq!(
            d.complete_vod_fetch(Some("u".into()), e),
            VodFetchOutcome::DiscardedStale
        );
        assert_eq!(d.override_url(), None);
        assert!(!d.vod_fetch_pending());
    }

    #[test]
    fn complete_vod_fetch_releases_latch_on_failure() {
        let d = dest();
        assert!(d.try_claim_vod_fetch());
        let e = d.session_epoch();
        assert_eq!(d.complete_vod_fetch(None, e), VodFetchOutcome::Failed);
        assert_eq!(d.override_url(), None);
        assert!(!d.vod_fetch_pending());
        assert!(
            d.try_claim_vod_fetch(),
            "the next tick must be able to retry"
        );
    }

    #[test]
    fn apply_and_invalidate_never_leave_a_stale_override() {
        for _ in 0..200 {
            let d = Arc::new(dest());
            let barrier = Arc::new(Barrier::new(2));
            let e = d.session_epoch();
            let (d1, b1) = (d.clone(), barrier.clone());
            let t = std::thread::spawn(move || {
                b1.wait();
                d1.apply_vod_session_if_current("stale".into(), e);
            });
            barrier.wait();
            d.invalidate_session_override();
            t.join().unwrap();
            assert_eq!(
                d.override_url(),
                None,
                "invalidate ran last or the apply was refused"
            );
        }
    }

    #[cfg(feature = "known-bugs")]
    #[test]
    fn known_bug_switches_reinstate_the_pre_fix_paths() {
        let d = DestinationState::new("twitch", BugSet::only(KnownBug::VodFetchStacking));
        assert!(
            d.try_claim_vod_fetch() && d.try_claim_vod_fetch(),
            "no latch"
        );

        let d = DestinationState::new("twitch", BugSet::only(KnownBug::VodFetchStaleEpoch));
        let e = d.session_epoch();
        d.invalidate_session_override();
        assert!(
            d.apply_vod_session_if_current("stale".into(), e),
            "epoch ignored"
        );

        let d = DestinationState::new("twitch", BugSet::only(KnownBug::VodLatchLeak));
        assert!(d.try_claim_vod_fetch());
        d.complete_vod_fetch(None, 0);
        assert!(
            d.vod_fetch_pending() && !d.try_claim_vod_fetch(),
            "latch leaked"
        );
    }
}
