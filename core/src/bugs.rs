//! The known-bug catalog: every reported race as a runtime switch that
//! reinstates its pre-fix behaviour.
//!
//! Owns [`KnownBug`] (ids, systems, one-line mechanisms) and [`BugSet`]. With
//! the `known-bugs` feature off (normal builds) [`BugSet::on`] is a constant
//! `false`, so no pre-fix path survives into production code. The harness and
//! the `relaysim` binary build with the feature on, so one binary can prove
//! both that a scenario catches a bug and that its fix holds.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One catalogued race. Its `id()` is what users type (`--bug ID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KnownBug {
    /// A VOD fetch spawned on every supervisor tick while no override is set;
    /// Twitch slower than the tick → several IVS sessions, egress restarted.
    VodFetchStacking,
    /// A fetch that returns after the publisher disconnected writes a dead
    /// session's URL into the next stream.
    VodFetchStaleEpoch,
    /// The single-flight latch is not released on the failure / stale paths,
    /// so no VOD fetch ever runs again.
    VodLatchLeak,
    /// An egress pump writes with no stall timeout: a partition that breaks
    /// its TCP stream (which never closes) stalls it forever, silently.
    EgressWriteStall,
    /// `remove_rendition` races an entry-created callback that snapshotted
    /// the factory list before the removal: a drain is spawned for the
    /// removed rendition and never aborted.
    RenditionRemoveLeak,
    /// Transcoder calls run without `catch_unwind`: one panic kills its
    /// drain while the broadcast is still live.
    TranscoderPanicKillsDrain,
    /// A finished drain keeps its dedupe key, so a re-published broadcast
    /// (a fresh registry entry) is never transcoded again.
    RepublishNeverTranscoded,
    /// A track's EOS fires before its EOS callback is registered; the stored
    /// callback never runs, so the ended track stays published.
    EosBeforeRegister,
    /// Pad queues are unbounded: a stalled main-loop forwarder lets them grow
    /// without bound.
    PadQueueUnbounded,
    /// `stop` queues a drop to each pad and aborts the forwarder before it ran:
    /// no pad sees its flush, stale pads stay behind.
    StopDropsFlush,
    /// Caps travel out of band on the control channel; a buffer encoded with a
    /// new configuration can reach the pad before its caps.
    BufferBeforeCaps,
    /// The WebSocket connection lock is held across a whole multi-MB send;
    /// against a peer that stops reading while it sends, reader, writer and
    /// keepalive wedge until keepalive kills the session.
    BulkSendStarvesRecv,
    /// A binary-payload header is followed by a bare, untyped, unbounded
    /// read: the next JSON command is consumed as the payload, and a payload
    /// that never comes blocks the read loop.
    OrphanBinaryHeader,
}

impl KnownBug {
    pub const ALL: &'static [KnownBug] = &[
        KnownBug::VodFetchStacking,
        KnownBug::VodFetchStaleEpoch,
        KnownBug::VodLatchLeak,
        KnownBug::EgressWriteStall,
        KnownBug::RenditionRemoveLeak,
        KnownBug::TranscoderPanicKillsDrain,
        KnownBug::RepublishNeverTranscoded,
        KnownBug::EosBeforeRegister,
        KnownBug::PadQueueUnbounded,
        KnownBug::StopDropsFlush,
        KnownBug::BufferBeforeCaps,
        KnownBug::BulkSendStarvesRecv,
        KnownBug::OrphanBinaryHeader,
    ];

    pub fn id(self) -> &'static str {
        match self {
            KnownBug::VodFetchStacking => "vod-fetch-stacking",
            KnownBug::VodFetchStaleEpoch => "vod-fetch-stale-epoch",
            KnownBug::VodLatchLeak => "vod-latch-leak",
            KnownBug::EgressWriteStall => "egress-write-stall",
            KnownBug::RenditionRemoveLeak => "rendition-remove-leak",
            KnownBug::TranscoderPanicKillsDrain => "transcoder-panic-kills-drain",
            KnownBug::RepublishNeverTranscoded => "republish-never-transcoded",
            KnownBug::EosBeforeRegister => "eos-before-register",
            KnownBug::PadQueueUnbounded => "pad-queue-unbounded",
            KnownBug::StopDropsFlush => "stop-drops-flush",
            KnownBug::BufferBeforeCaps => "buffer-before-caps",
            KnownBug::BulkSendStarvesRecv => "bulk-send-starves-recv",
            KnownBug::OrphanBinaryHeader => "orphan-binary-header",
        }
    }

    /// The component whose code carries the switch.
    pub fn system(self) -> &'static str {
        match self {
            KnownBug::VodFetchStacking
            | KnownBug::VodFetchStaleEpoch
            | KnownBug::VodLatchLeak
            | KnownBug::EgressWriteStall => "restream",
            KnownBug::RenditionRemoveLeak
            | KnownBug::TranscoderPanicKillsDrain
            | KnownBug::RepublishNeverTranscoded => "transcode",
            KnownBug::EosBeforeRegister => "publisher",
            KnownBug::PadQueueUnbounded | KnownBug::StopDropsFlush | KnownBug::BufferBeforeCaps => {
                "pads"
            }
            KnownBug::BulkSendStarvesRecv | KnownBug::OrphanBinaryHeader => "ws",
        }
    }

    pub fn mechanism(self) -> &'static str {
        match self {
            KnownBug::VodFetchStacking => {
                "a VOD fetch is spawned on every 2 s tick while no override is set; a slow Twitch stacks fetches, each allocating an IVS session and restarting egress"
            }
            KnownBug::VodFetchStaleEpoch => {
                "a fetch that completes after the publisher disconnected applies a dead session's IVS URL to the next stream"
            }
            KnownBug::VodLatchLeak => {
                "the single-flight latch is released only on success, so one failed or stale fetch blocks every later fetch"
            }
            KnownBug::EgressWriteStall => {
                "an egress pump writes without a stall timeout; a partition breaks its stream without closing it, so the pump blocks forever and the platform silently stops receiving"
            }
            KnownBug::RenditionRemoveLeak => {
                "an entry-created callback snapshots the factory list, remove_rendition prunes the list and aborts that rendition's tasks, then the callback spawns a drain for the removed rendition that nothing will abort"
            }
            KnownBug::TranscoderPanicKillsDrain => {
                "transcoder calls are not isolated: a panic in on_start, on_fragment or on_stop unwinds out of the drain task and the rendition stops while the broadcast is live"
            }
            KnownBug::RepublishNeverTranscoded => {
                "a finished drain keeps its (transcoder, rendition, broadcast, track) key in the task table; a re-published broadcast's fresh entry finds the key and is never transcoded"
            }
            KnownBug::EosBeforeRegister => {
                "a track's EOS fires before its unpublish callback is registered; the callback is stored but never run, so the ended track stays published"
            }
            KnownBug::PadQueueUnbounded => {
                "pad queues are unbounded channels; while the main-loop forwarder is stalled every pump keeps queueing, without bound"
            }
            KnownBug::StopDropsFlush => {
                "stop queues a drop to each pad and aborts the forwarder at once; no pad sees its flush and stale pads collide with the next session's"
            }
            KnownBug::BufferBeforeCaps => {
                "caps go out of band on the control channel; after a codec config change a buffer can reach its pad before the caps describing it"
            }
            KnownBug::BulkSendStarvesRecv => {
                "the connection lock is held across a whole multi-MB send; a peer that stops reading while it sends wedges reader, writer and keepalive until keepalive kills the session"
            }
            KnownBug::OrphanBinaryHeader => {
                "a binary-payload header is followed by an untyped, unbounded read: the next JSON command is consumed as the payload, and a payload that never comes blocks the read loop"
            }
        }
    }

    pub fn fix(self) -> &'static str {
        match self {
            KnownBug::VodFetchStacking => {
                "single-flight latch; the claim re-checks the override under its lock"
            }
            KnownBug::VodFetchStaleEpoch => {
                "session epoch bumped with the override cleared under one lock on disconnect; apply only if unchanged"
            }
            KnownBug::VodLatchLeak => {
                "complete_vod_fetch releases the latch on every outcome, in one place"
            }
            KnownBug::EgressWriteStall => {
                "every pump write has a 5 s stall timeout; a stalled pump ends and the supervisor restarts it"
            }
            KnownBug::RenditionRemoveLeak => {
                "spawn_for re-checks under the factory list's read lock that the factory is still registered, and inserts into the task table before releasing it"
            }
            KnownBug::TranscoderPanicKillsDrain => {
                "catch_unwind around on_start / on_fragment / on_stop, panics counted per phase; the drain goes on"
            }
            KnownBug::RepublishNeverTranscoded => {
                "task slots carry the registry generation: a slot of an earlier generation is replaced, and slots are pruned when their entry is removed"
            }
            KnownBug::EosBeforeRegister => {
                "EOS latch: a fired flag and a callback slot; registration after EOS runs the callback at once, exactly once either way"
            }
            KnownBug::PadQueueUnbounded => {
                "bounded pad queues with backpressure; a flush empties them and wakes a blocked pump, so it cannot wedge"
            }
            KnownBug::StopDropsFlush => {
                "ordered teardown: flush the queues, wait for the pumps, then deliver flush and drop to every pad before returning"
            }
            KnownBug::BufferBeforeCaps => {
                "caps travel in-band, in the pad's own queue, in front of the first buffer of each configuration"
            }
            KnownBug::BulkSendStarvesRecv => {
                "bulk sends go out as ~256 KiB fragments of one message, the lock released between fragments and while the peer's window is full"
            }
            KnownBug::OrphanBinaryHeader => {
                "the payload read waits at most 10 s and checks the frame type; a missing or wrong payload answers *_failed, a command in its slot is still dispatched, the session lives"
            }
        }
    }

    pub fn from_id(id: &str) -> Option<KnownBug> {
        KnownBug::ALL.iter().copied().find(|b| b.id() == id)
    }

    /// Every valid id, comma separated (for error messages).
    pub fn valid_ids() -> String {
        KnownBug::ALL
            .iter()
            .map(|b| b.id())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for KnownBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// The set of known bugs switched on for one run. `Copy`, so every component
/// holds its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BugSet(u32);

impl BugSet {
    pub const NONE: BugSet = BugSet(0);

    pub fn only(bug: KnownBug) -> BugSet {
        BugSet::NONE.with(bug)
    }

    pub fn with(self, bug: KnownBug) -> BugSet {
        BugSet(self.0 | (1 << bug as u32))
    }

    /// Is `bug`'s pre-fix behaviour switched on? Always false without the
    /// `known-bugs` feature.
    #[inline]
    pub fn on(self, bug: KnownBug) -> bool {
        #[cfg(feature = "known-bugs")]
        {
            self.0 & (1 << bug as u32) != 0
        }
        #[cfg(not(feature = "known-bugs"))]
        {
            let _ = bug;
            false
        }
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = KnownBug> {
        KnownBug::ALL
            .iter()
            .copied()
            .filter(move |b| self.0 & (1 << *b as u32) != 0)
    }
}

impl fmt::Display for BugSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let ids: Vec<&str> = self.iter().map(KnownBug::id).collect();
        f.write_str(&ids.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_unique() {
        for b in KnownBug::ALL {
            assert_eq!(KnownBug::from_id(b.id()), Some(*b));
        }
        let mut ids: Vec<_> = KnownBug::ALL.iter().map(|b| b.id()).collect();
        ids.dedup();
        assert_eq!(ids.len(), KnownBug::ALL.len());
        assert_eq!(KnownBug::from_id("nope"), None);
    }

    #[test]
    fn bugset_display_and_switch() {
        let s = BugSet::only(KnownBug::VodLatchLeak);
        assert_eq!(s.to_string(), "vod-latch-leak");
        assert_eq!(BugSet::NONE.to_string(), "none");
        assert!(!BugSet::NONE.on(KnownBug::VodLatchLeak));
        assert_eq!(s.on(KnownBug::VodLatchLeak), cfg!(feature = "known-bugs"));
    }
}
