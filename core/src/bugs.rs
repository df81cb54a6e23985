//! The known-bug catalog: every reported race as a runtime switch that
//! reinstates its pre-fix behaviour.
//!
//! Owns [`KnownBug`] (a handle to one bug's id, system, mechanism and fix),
//! the [`known_bugs!`](crate::known_bugs) macro that declares bugs, the core's
//! own fourteen bugs, and [`BugSet`]. With the `known-bugs` feature off
//! (normal builds) [`BugSet::on`] is a constant `false`, so no pre-fix path
//! survives into production code. The harness and the `relaysim` binary build
//! with the feature on, so one binary can prove both that a scenario catches a
//! bug and that its fix holds.
//!
//! Must never: write a bug's strings in more than one place (each bug is one
//! `known_bugs!` entry, and [`KnownBug::ALL`] and every accessor come from
//! it), change a published id or sentence without its snapshots (cards print
//! them byte for byte), let two bugs share an id, or drop a bug from a
//! [`BugSet`] silently.
//!
//! # Declaring bugs
//!
//! A bug is declared once, as one entry of a [`known_bugs!`](crate::known_bugs)
//! block: a CamelCase name, then its kebab-case `id` (what users type,
//! `--bug ID`), its `system` (the component family whose code carries the
//! switch), the `mechanism` (one sentence: how the race goes wrong) and the
//! `fix`. The block's type gets one associated constant per entry and an
//! `ALL` slice in declaration order. The core's own block is on
//! [`KnownBug`] itself, so its bugs are `KnownBug::VodFetchStacking` and so
//! on, and [`KnownBug::ALL`] is the core's catalog.
//!
//! `KnownBug` is open: a family written outside this crate invokes the same
//! macro on a type of its own (Rust allows associated constants only on local
//! types) or into a module of free constants, and its bugs are ordinary
//! `KnownBug` values that go into the same [`BugSet`] and are switched with
//! the same [`BugSet::on`]. [`KnownBug::from_id`] and [`KnownBug::valid_ids`]
//! know only the core's catalog; a family resolves its own ids from its `ALL`.
//!
//! Ids are checked when the crate compiles: each is kebab-case, and the ids of
//! one block are distinct. Distinct ids across blocks are not checked there,
//! so a family starts its ids with its system's name (`cache-…`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Declares known bugs, each once: its name, id, system, mechanism and fix.
///
/// Two forms. `impl Type { … }` adds one associated constant per entry to
/// `Type` (a type of the invoking crate) and `Type::ALL`; `mod name { … }`
/// (with any visibility) creates a module holding one free constant per entry
/// and `ALL`. `ALL` lists the block's bugs in declaration order. Every
/// constant is a [`KnownBug`](crate::KnownBug) pointing at one `static`
/// descriptor, and the entry's doc comments and attributes go on it.
///
/// An entry is `Name { id: …, system: …, mechanism: …, fix: … }`, the four
/// fields in that order, each a `&'static str` constant expression:
/// - `Name`: CamelCase; `Debug` prints it.
/// - `id`: kebab-case (lowercase ASCII letters and digits in words joined by
///   single `-`); what users type (`--bug ID`), `Display` and serde. It must
///   be distinct from every other known bug's id: a block with two equal
///   ids, or an id that is not kebab-case, fails to compile.
/// - `system`: the component family whose code carries the switch.
/// - `mechanism`: one sentence, how the race goes wrong.
/// - `fix`: one sentence, what the fix does.
///
/// The core declares its own catalog with `impl KnownBug { … }`. A family
/// outside the core declares its bugs on a type of its own (or in a module),
/// and switches them with the same [`BugSet`](crate::BugSet):
///
/// ```
/// use relaysim_core::{known_bugs, BugSet, KnownBug};
///
/// /// The known bugs of the (out-of-tree) `cache` family.
/// pub struct CacheBugs;
///
/// known_bugs! {
///     impl CacheBugs {
///         /// A cursor read after an eviction serves the evicted segment.
///         StaleCursor {
///             id: "cache-stale-cursor",
///             system: "cache",
///             mechanism: "a cursor taken before an eviction is read after it and serves the evicted segment",
///             fix: "cursors carry the eviction generation and are refused once it moved",
///         },
///     }
/// }
///
/// // Or as free constants in a module of the family's choosing.
/// known_bugs! {
///     pub mod gateway_bugs {
///         /// The retry timer is armed after the request it guards was sent.
///         RetryArmedLate {
///             id: "gateway-retry-armed-late",
///             system: "gateway",
///             mechanism: "the retry timer is armed after the request is sent, so a fast failure is never retried",
///             fix: "the timer is armed before the send",
///         },
///     }
/// }
///
/// // The family's code keeps its pre-fix path behind the switch.
/// fn serve(bugs: BugSet) -> &'static str {
///     if bugs.on(CacheBugs::StaleCursor) {
///         "evicted segment" // pre-fix behaviour, only with `known-bugs`
///     } else {
///         "fresh segment"
///     }
/// }
///
/// let bugs = BugSet::only(CacheBugs::StaleCursor).with(gateway_bugs::RetryArmedLate);
/// assert_eq!(bugs.to_string(), "cache-stale-cursor,gateway-retry-armed-late");
/// assert_eq!(CacheBugs::ALL, &[CacheBugs::StaleCursor]);
/// assert_eq!(gateway_bugs::ALL[0].system(), "gateway");
/// assert_eq!(format!("{:?}", CacheBugs::StaleCursor), "StaleCursor");
/// assert!(!BugSet::NONE.on(CacheBugs::StaleCursor));
/// let _ = serve(bugs);
/// // The core's lookup knows the core's catalog only.
/// assert_eq!(KnownBug::from_id("cache-stale-cursor"), None);
/// ```
///
/// Two entries of one block with the same id do not compile:
///
/// ```compile_fail
/// relaysim_core::known_bugs! {
///     mod twice {
///         A { id: "same-id", system: "s", mechanism: "m", fix: "f" },
///         B { id: "same-id", system: "s", mechanism: "m", fix: "f" },
///     }
/// }
/// ```
///
/// Nor does an id that is not kebab-case:
///
/// ```compile_fail
/// relaysim_core::known_bugs! {
///     mod snake {
///         A { id: "not_kebab", system: "s", mechanism: "m", fix: "f" },
///     }
/// }
/// ```
#[macro_export]
macro_rules! known_bugs {
    (@bug
        $(#[$meta:meta])*
        $name:ident, $id:expr, $system:expr, $mechanism:expr, $fix:expr
    ) => {
        $(#[$meta])*
        #[allow(non_upper_case_globals)]
        pub const $name: $crate::bugs::KnownBug = {
            static INFO: $crate::bugs::BugInfo = $crate::bugs::BugInfo::new(
                ::core::stringify!($name),
                $id,
                $system,
                $mechanism,
                $fix,
            );
            $crate::bugs::KnownBug::new(&INFO)
        };
    };
    (
        $(#[$attr:meta])*
        impl $owner:ty {
            $(
                $(#[$meta:meta])*
                $name:ident {
                    id: $id:expr,
                    system: $system:expr,
                    mechanism: $mechanism:expr,
                    fix: $fix:expr $(,)?
                }
            ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        impl $owner {
            $(
                $crate::known_bugs!(@bug $(#[$meta])* $name, $id, $system, $mechanism, $fix);
            )+

            /// Every bug of this `known_bugs!` block, in declaration order.
            pub const ALL: &'static [$crate::bugs::KnownBug] = &[$(<$owner>::$name),+];
        }

        const _: () = $crate::bugs::assert_distinct_ids(<$owner>::ALL);
    };
    (
        $(#[$attr:meta])*
        $vis:vis mod $module:ident {
            $(
                $(#[$meta:meta])*
                $name:ident {
                    id: $id:expr,
                    system: $system:expr,
                    mechanism: $mechanism:expr,
                    fix: $fix:expr $(,)?
                }
            ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        $vis mod $module {
            $(
                $crate::known_bugs!(@bug $(#[$meta])* $name, $id, $system, $mechanism, $fix);
            )+

            /// Every bug of this `known_bugs!` block, in declaration order.
            pub const ALL: &[$crate::bugs::KnownBug] = &[$($name),+];

            const _: () = $crate::bugs::assert_distinct_ids(ALL);
        }
    };
}

/// One known bug's descriptor. Built by [`known_bugs!`](crate::known_bugs),
/// which keeps each in a `static` that its [`KnownBug`] points at.
#[derive(Debug)]
pub struct BugInfo {
    name: &'static str,
    id: &'static str,
    system: &'static str,
    mechanism: &'static str,
    fix: &'static str,
}

impl BugInfo {
    /// A descriptor; prefer [`known_bugs!`](crate::known_bugs). Fails to
    /// compile (in a `static`) when `id` is not kebab-case or a sentence is
    /// empty.
    pub const fn new(
        name: &'static str,
        id: &'static str,
        system: &'static str,
        mechanism: &'static str,
        fix: &'static str,
    ) -> BugInfo {
        assert!(
            is_kebab_case(id),
            "a known bug's id must be kebab-case: lowercase ASCII letters and digits, in words joined by single '-'"
        );
        assert!(
            !name.is_empty() && !system.is_empty() && !mechanism.is_empty() && !fix.is_empty(),
            "a known bug needs a name, a system, a mechanism and a fix"
        );
        BugInfo {
            name,
            id,
            system,
            mechanism,
            fix,
        }
    }
}

const fn is_kebab_case(id: &str) -> bool {
    let b = id.as_bytes();
    if b.is_empty() || b[0] == b'-' || b[b.len() - 1] == b'-' {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'a'..=b'z' | b'0'..=b'9' => {}
            b'-' if b[i - 1] != b'-' => {}
            _ => return false,
        }
        i += 1;
    }
    true
}

const fn same_str(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Compile-time check behind [`known_bugs!`](crate::known_bugs): no two
/// bugs of `all` share an id.
#[doc(hidden)]
pub const fn assert_distinct_ids(all: &[KnownBug]) {
    let mut i = 0;
    while i < all.len() {
        let mut j = i + 1;
        while j < all.len() {
            assert!(
                !same_str(all[i].0.id, all[j].0.id),
                "two known bugs of one known_bugs! block share an id"
            );
            j += 1;
        }
        i += 1;
    }
}

/// One catalogued race: a `Copy` handle to its descriptor. Its `id()` is what
/// users type (`--bug ID`). Equality, ordering and hashing go by id.
///
/// The core's bugs are associated constants (`KnownBug::VodFetchStacking`,
/// …, listed in [`KnownBug::ALL`]); a family outside the core declares its
/// own with [`known_bugs!`](crate::known_bugs).
#[derive(Clone, Copy)]
pub struct KnownBug(&'static BugInfo);

impl KnownBug {
    /// The bug `info` describes; prefer [`known_bugs!`](crate::known_bugs).
    pub const fn new(info: &'static BugInfo) -> KnownBug {
        KnownBug(info)
    }

    /// Kebab-case, unique among known bugs.
    pub const fn id(self) -> &'static str {
        self.0.id
    }

    /// The component whose code carries the switch.
    pub const fn system(self) -> &'static str {
        self.0.system
    }

    /// How the race goes wrong, in one sentence.
    pub const fn mechanism(self) -> &'static str {
        self.0.mechanism
    }

    /// What the fix does, in one sentence.
    pub const fn fix(self) -> &'static str {
        self.0.fix
    }

    /// The core's bug with this id (families look up their own `ALL`).
    pub fn from_id(id: &str) -> Option<KnownBug> {
        KnownBug::ALL.iter().copied().find(|b| b.id() == id)
    }

    /// Every valid id of the core's catalog, comma separated (for error
    /// messages).
    pub fn valid_ids() -> String {
        KnownBug::ALL
            .iter()
            .map(|b| b.id())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

// The core's catalog, in `KnownBug::ALL` order.
crate::known_bugs! {
    impl KnownBug {
        /// A VOD fetch spawned on every supervisor tick while no override is set;
        /// Twitch slower than the tick → several IVS sessions, egress restarted.
        VodFetchStacking {
            id: "vod-fetch-stacking",
            system: "restream",
            mechanism: "a VOD fetch is spawned on every 2 s tick while no override is set; a slow Twitch stacks fetches, each allocating an IVS session and restarting egress",
            fix: "single-flight latch; the claim re-checks the override under its lock",
        },
        /// A fetch that returns after the publisher disconnected writes a dead
        /// session's URL into the next stream.
        VodFetchStaleEpoch {
            id: "vod-fetch-stale-epoch",
            system: "restream",
            mechanism: "a fetch that completes after the publisher disconnected applies a dead session's IVS URL to the next stream",
            fix: "session epoch bumped with the override cleared under one lock on disconnect; apply only if unchanged",
        },
        /// The single-flight latch is not released on the failure / stale paths,
        /// so no VOD fetch ever runs again.
        VodLatchLeak {
            id: "vod-latch-leak",
            system: "restream",
            mechanism: "the single-flight latch is released only on success, so one failed or stale fetch blocks every later fetch",
            fix: "complete_vod_fetch releases the latch on every outcome, in one place",
        },
        /// An egress pump writes with no stall timeout: a partition that breaks
        /// its TCP stream (which never closes) stalls it forever, silently.
        EgressWriteStall {
            id: "egress-write-stall",
            system: "restream",
            mechanism: "an egress pump writes without a stall timeout; a partition breaks its stream without closing it, so the pump blocks forever and the platform silently stops receiving",
            fix: "every pump write has a 5 s stall timeout; a stalled pump ends and the supervisor restarts it",
        },
        /// A restarted pump resumes mid-stream: it forwards frames from the
        /// live point without the publish session's metadata and sequence
        /// headers, and not from a keyframe.
        EgressMissingSequenceHeaders {
            id: "egress-missing-sequence-headers",
            system: "restream",
            mechanism: "only a destination's first egress session is sent the cached metadata and sequence headers; a restarted pump (VOD override, stall, partition) resumes mid-stream with no metadata, no AVC or AAC sequence header and no keyframe first, so the platform's ingest rejects the stream or records it undecodable",
            fix: "the ingest caches metadata and both sequence headers per publish session; every egress session sends them first and starts at a keyframe (EgressGate)",
        },
        /// `remove_rendition` races an entry-created callback that snapshotted
        /// the factory list before the removal: a drain is spawned for the
        /// removed rendition and never aborted.
        RenditionRemoveLeak {
            id: "rendition-remove-leak",
            system: "transcode",
            mechanism: "an entry-created callback snapshots the factory list, remove_rendition prunes the list and aborts that rendition's tasks, then the callback spawns a drain for the removed rendition that nothing will abort",
            fix: "spawn_for re-checks under the factory list's read lock that the factory is still registered, and inserts into the task table before releasing it",
        },
        /// Transcoder calls run without `catch_unwind`: one panic kills its
        /// drain while the broadcast is still live.
        TranscoderPanicKillsDrain {
            id: "transcoder-panic-kills-drain",
            system: "transcode",
            mechanism: "transcoder calls are not isolated: a panic in on_start, on_fragment or on_stop unwinds out of the drain task and the rendition stops while the broadcast is live",
            fix: "catch_unwind around on_start / on_fragment / on_stop, panics counted per phase; the drain goes on",
        },
        /// A finished drain keeps its dedupe key, so a re-published broadcast
        /// (a fresh registry entry) is never transcoded again.
        RepublishNeverTranscoded {
            id: "republish-never-transcoded",
            system: "transcode",
            mechanism: "a finished drain keeps its (transcoder, rendition, broadcast, track) key in the task table; a re-published broadcast's fresh entry finds the key and is never transcoded",
            fix: "task slots carry the registry generation: a slot of an earlier generation is replaced, and slots are pruned when their entry is removed",
        },
        /// A track's EOS fires before its EOS callback is registered; the stored
        /// callback never runs, so the ended track stays published.
        EosBeforeRegister {
            id: "eos-before-register",
            system: "publisher",
            mechanism: "a track's EOS fires before its unpublish callback is registered; the callback is stored but never run, so the ended track stays published",
            fix: "EOS latch: a fired flag and a callback slot; registration after EOS runs the callback at once, exactly once either way",
        },
        /// Pad queues are unbounded: a stalled main-loop forwarder lets them grow
        /// without bound.
        PadQueueUnbounded {
            id: "pad-queue-unbounded",
            system: "pads",
            mechanism: "pad queues are unbounded channels; while the main-loop forwarder is stalled every pump keeps queueing, without bound",
            fix: "bounded pad queues with backpressure; a flush empties them and wakes a blocked pump, so it cannot wedge",
        },
        /// `stop` queues a drop to each pad and aborts the forwarder before it ran:
        /// no pad sees its flush, stale pads stay behind.
        StopDropsFlush {
            id: "stop-drops-flush",
            system: "pads",
            mechanism: "stop queues a drop to each pad and aborts the forwarder at once; no pad sees its flush and stale pads collide with the next session's",
            fix: "ordered teardown: flush the queues, wait for the pumps, then deliver flush and drop to every pad before returning",
        },
        /// Caps travel out of band on the control channel; a buffer encoded with a
        /// new configuration can reach the pad before its caps.
        BufferBeforeCaps {
            id: "buffer-before-caps",
            system: "pads",
            mechanism: "caps go out of band on the control channel; after a codec config change a buffer can reach its pad before the caps describing it",
            fix: "caps travel in-band, in the pad's own queue, in front of the first buffer of each configuration",
        },
        /// The WebSocket connection lock is held across a whole multi-MB send;
        /// against a peer that stops reading while it sends, reader, writer and
        /// keepalive wedge until keepalive kills the session.
        BulkSendStarvesRecv {
            id: "bulk-send-starves-recv",
            system: "ws",
            mechanism: "the connection lock is held across a whole multi-MB send; a peer that stops reading while it sends wedges reader, writer and keepalive until keepalive kills the session",
            fix: "bulk sends go out as ~256 KiB fragments of one message, the lock released between fragments and while the peer's window is full",
        },
        /// A binary-payload header is followed by a bare, untyped, unbounded
        /// read: the next JSON command is consumed as the payload, and a payload
        /// that never comes blocks the read loop.
        OrphanBinaryHeader {
            id: "orphan-binary-header",
            system: "ws",
            mechanism: "a binary-payload header is followed by an untyped, unbounded read: the next JSON command is consumed as the payload, and a payload that never comes blocks the read loop",
            fix: "the payload read waits at most 10 s and checks the frame type; a missing or wrong payload answers *_failed, a command in its slot is still dispatched, the session lives",
        },
    }
}

impl PartialEq for KnownBug {
    fn eq(&self, other: &KnownBug) -> bool {
        std::ptr::eq(self.0, other.0) || self.0.id == other.0.id
    }
}

impl Eq for KnownBug {}

impl PartialOrd for KnownBug {
    fn partial_cmp(&self, other: &KnownBug) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KnownBug {
    fn cmp(&self, other: &KnownBug) -> Ordering {
        self.0.id.cmp(other.0.id)
    }
}

impl Hash for KnownBug {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

impl fmt::Debug for KnownBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name)
    }
}

impl fmt::Display for KnownBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// As its id.
impl Serialize for KnownBug {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

/// From an id of the core's catalog ([`KnownBug::from_id`]).
impl<'de> Deserialize<'de> for KnownBug {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<KnownBug, D::Error> {
        let id = String::deserialize(deserializer)?;
        KnownBug::from_id(&id).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown bug {id:?}; valid bugs: {}",
                KnownBug::valid_ids()
            ))
        })
    }
}

const CAPACITY: usize = 8;

/// The set of known bugs switched on for one run. `Copy`, so every component
/// holds its own.
///
/// Holds up to [`BugSet::CAPACITY`] bugs, of any catalog. [`BugSet::with`]
/// panics on a full set rather than drop a bug; [`BugSet::try_with`] returns
/// [`BugSetFull`] instead (use it on user input). Iteration and `Display` go
/// in id order, so equal sets print alike however they were built.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BugSet {
    /// Sorted by id, no repeats, `Some` before `None`.
    bugs: [Option<KnownBug>; CAPACITY],
}

impl BugSet {
    pub const NONE: BugSet = BugSet {
        bugs: [None; CAPACITY],
    };

    /// How many bugs one set can hold.
    pub const CAPACITY: usize = CAPACITY;

    pub fn only(bug: KnownBug) -> BugSet {
        BugSet::NONE.with(bug)
    }

    /// This set and `bug`.
    ///
    /// # Panics
    ///
    /// When the set already holds [`BugSet::CAPACITY`] other bugs; use
    /// [`BugSet::try_with`] where that can happen.
    pub fn with(self, bug: KnownBug) -> BugSet {
        match self.try_with(bug) {
            Ok(set) => set,
            Err(full) => panic!("{full}"),
        }
    }

    /// This set and `bug`, or [`BugSetFull`] when the set already holds
    /// [`BugSet::CAPACITY`] other bugs. Adding a bug already in is `Ok`.
    pub fn try_with(self, bug: KnownBug) -> Result<BugSet, BugSetFull> {
        let mut at = 0;
        while at < CAPACITY {
            match self.bugs[at] {
                Some(b) if b == bug => return Ok(self),
                Some(b) if b < bug => at += 1,
                _ => break,
            }
        }
        if self.bugs[CAPACITY - 1].is_some() {
            return Err(BugSetFull { set: self, bug });
        }
        let mut bugs = self.bugs;
        bugs.copy_within(at..CAPACITY - 1, at + 1);
        bugs[at] = Some(bug);
        Ok(BugSet { bugs })
    }

    /// Is `bug`'s pre-fix behaviour switched on? Always false without the
    /// `known-bugs` feature.
    #[inline]
    pub fn on(self, bug: KnownBug) -> bool {
        #[cfg(feature = "known-bugs")]
        {
            self.iter().any(|b| b == bug)
        }
        #[cfg(not(feature = "known-bugs"))]
        {
            let _ = bug;
            false
        }
    }

    pub fn is_empty(self) -> bool {
        self.bugs[0].is_none()
    }

    /// The bugs in the set, in id order.
    pub fn iter(self) -> impl Iterator<Item = KnownBug> {
        self.bugs.into_iter().map_while(|b| b)
    }
}

impl Default for BugSet {
    fn default() -> BugSet {
        BugSet::NONE
    }
}

impl fmt::Debug for BugSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BugSet")?;
        f.debug_set().entries(self.iter()).finish()
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

/// [`BugSet::try_with`] on a set that already holds [`BugSet::CAPACITY`]
/// other bugs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BugSetFull {
    /// The full set, unchanged.
    pub set: BugSet,
    /// The bug that did not fit.
    pub bug: KnownBug,
}

impl fmt::Display for BugSetFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot switch on known bug {}: a run switches on at most {CAPACITY} known bugs, and {} are on",
            self.bug, self.set
        )
    }
}

impl std::error::Error for BugSetFull {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    /// A type outside the core's catalog, as a family's would be.
    struct FamilyBugs;

    crate::known_bugs! {
        impl FamilyBugs {
            /// Declared here only to prove the catalog is open.
            OutOfTree {
                id: "test-out-of-tree",
                system: "test",
                mechanism: "declared outside the core's block",
                fix: "none needed",
            },
        }
    }

    crate::known_bugs! {
        mod free_bugs {
            First {
                id: "test-free-first",
                system: "test",
                mechanism: "a free constant",
                fix: "none needed",
            },
            Second {
                id: "test-free-second",
                system: "test",
                mechanism: "another free constant",
                fix: "none needed",
            },
        }
    }

    fn hash(s: BugSet) -> u64 {
        let mut h = DefaultHasher::new();
        s.hash(&mut h);
        h.finish()
    }

    #[test]
    fn ids_round_trip_and_are_unique() {
        for b in KnownBug::ALL {
            assert_eq!(KnownBug::from_id(b.id()), Some(*b));
            assert_eq!(b.to_string(), b.id());
            let json = serde_json::to_string(b).unwrap();
            assert_eq!(json, format!("\"{}\"", b.id()));
            assert_eq!(serde_json::from_str::<KnownBug>(&json).unwrap(), *b);
        }
        let mut ids: Vec<_> = KnownBug::ALL.iter().map(|b| b.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), KnownBug::ALL.len());
        assert_eq!(KnownBug::from_id("nope"), None);
        assert!(serde_json::from_str::<KnownBug>("\"nope\"").is_err());
    }

    #[test]
    fn the_core_catalog_is_unchanged() {
        let ids: Vec<_> = KnownBug::ALL.iter().map(|b| (b.id(), b.system())).collect();
        assert_eq!(
            ids,
            [
                ("vod-fetch-stacking", "restream"),
                ("vod-fetch-stale-epoch", "restream"),
                ("vod-latch-leak", "restream"),
                ("egress-write-stall", "restream"),
                ("egress-missing-sequence-headers", "restream"),
                ("rendition-remove-leak", "transcode"),
                ("transcoder-panic-kills-drain", "transcode"),
                ("republish-never-transcoded", "transcode"),
                ("eos-before-register", "publisher"),
                ("pad-queue-unbounded", "pads"),
                ("stop-drops-flush", "pads"),
                ("buffer-before-caps", "pads"),
                ("bulk-send-starves-recv", "ws"),
                ("orphan-binary-header", "ws"),
            ]
        );
        let b = KnownBug::VodFetchStacking;
        assert_eq!(
            b.mechanism(),
            "a VOD fetch is spawned on every 2 s tick while no override is set; a slow Twitch stacks fetches, each allocating an IVS session and restarting egress"
        );
        assert_eq!(
            b.fix(),
            "single-flight latch; the claim re-checks the override under its lock"
        );
        let b = KnownBug::OrphanBinaryHeader;
        assert_eq!(
            b.mechanism(),
            "a binary-payload header is followed by an untyped, unbounded read: the next JSON command is consumed as the payload, and a payload that never comes blocks the read loop"
        );
        assert_eq!(
            b.fix(),
            "the payload read waits at most 10 s and checks the frame type; a missing or wrong payload answers *_failed, a command in its slot is still dispatched, the session lives"
        );
        assert_eq!(format!("{b:?}"), "OrphanBinaryHeader");
    }

    #[test]
    fn bugset_display_and_switch() {
        let s = BugSet::only(KnownBug::VodLatchLeak);
        assert_eq!(s.to_string(), "vod-latch-leak");
        assert_eq!(BugSet::NONE.to_string(), "none");
        assert_eq!(BugSet::default(), BugSet::NONE);
        assert!(BugSet::NONE.is_empty() && !s.is_empty());
        assert!(!BugSet::NONE.on(KnownBug::VodLatchLeak));
        assert!(!s.on(KnownBug::VodFetchStacking));
        assert_eq!(s.on(KnownBug::VodLatchLeak), cfg!(feature = "known-bugs"));
    }

    #[test]
    fn a_bug_declared_outside_the_core_is_switched_alike() {
        let b = FamilyBugs::OutOfTree;
        assert_eq!(FamilyBugs::ALL, &[b]);
        assert_eq!((b.id(), b.system()), ("test-out-of-tree", "test"));
        assert_eq!(format!("{b:?}"), "OutOfTree");
        assert_eq!(free_bugs::ALL, &[free_bugs::First, free_bugs::Second]);
        assert_ne!(free_bugs::First, free_bugs::Second);
        // from_id knows the core's catalog only.
        assert_eq!(KnownBug::from_id("test-out-of-tree"), None);

        let s = BugSet::only(KnownBug::VodLatchLeak)
            .with(b)
            .with(free_bugs::Second);
        assert_eq!(s.on(b), cfg!(feature = "known-bugs"));
        assert_eq!(s.on(free_bugs::Second), cfg!(feature = "known-bugs"));
        assert_eq!(s.on(KnownBug::VodLatchLeak), cfg!(feature = "known-bugs"));
        assert!(!s.on(free_bugs::First));
        assert!(!s.on(KnownBug::VodFetchStacking));
        assert_eq!(
            s.to_string(),
            "test-free-second,test-out-of-tree,vod-latch-leak"
        );
    }

    #[test]
    fn bugset_is_a_set_in_id_order() {
        let a = BugSet::only(KnownBug::VodLatchLeak)
            .with(KnownBug::BufferBeforeCaps)
            .with(KnownBug::EgressWriteStall);
        let b = BugSet::only(KnownBug::EgressWriteStall)
            .with(KnownBug::VodLatchLeak)
            .with(KnownBug::BufferBeforeCaps)
            .with(KnownBug::VodLatchLeak);
        assert_eq!(a, b);
        assert_eq!(hash(a), hash(b));
        assert_eq!(
            a.to_string(),
            "buffer-before-caps,egress-write-stall,vod-latch-leak"
        );
        assert_eq!(
            format!("{a:?}"),
            "BugSet{BufferBeforeCaps, EgressWriteStall, VodLatchLeak}"
        );
        assert_ne!(a, BugSet::only(KnownBug::VodLatchLeak));
    }

    #[test]
    fn bugset_holds_capacity_bugs_and_refuses_more() {
        let mut s = BugSet::NONE;
        for b in &KnownBug::ALL[..BugSet::CAPACITY] {
            s = s.try_with(*b).unwrap();
        }
        assert_eq!(s.iter().count(), BugSet::CAPACITY);
        for b in &KnownBug::ALL[..BugSet::CAPACITY] {
            assert_eq!(s.on(*b), cfg!(feature = "known-bugs"));
            // A bug already in still fits.
            assert_eq!(s.try_with(*b), Ok(s));
        }
        let extra = KnownBug::ALL[BugSet::CAPACITY];
        let err = s.try_with(extra).unwrap_err();
        assert_eq!((err.set, err.bug), (s, extra));
        assert_eq!(
            err.to_string(),
            format!(
                "cannot switch on known bug eos-before-register: a run switches on at most 8 known bugs, and {s} are on"
            )
        );
        assert!(!s.on(extra));
    }

    /// A full set refuses a bug that sorts after every bug in it (the
    /// search for its slot runs off the end of the set) as it refuses any.
    /// Built on a thread with a bound: a slot search that stops advancing
    /// must fail this test, not hang it.
    #[test]
    fn a_full_set_refuses_a_bug_sorting_last() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sorted = KnownBug::ALL.to_vec();
            sorted.sort();
            let mut s = BugSet::NONE;
            for b in &sorted[..BugSet::CAPACITY] {
                s = s.with(*b);
            }
            let last = *sorted.last().unwrap();
            let _ = tx.send((s.iter().count(), s.try_with(last).map_err(|e| e.bug), last));
        });
        let (held, refused, last) = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("building a full set did not finish within 10 s");
        assert_eq!(held, BugSet::CAPACITY);
        assert_eq!(refused, Err(last));
    }

    /// Two descriptors of one id are one bug (equal, same hash): a bug is
    /// its id, wherever its descriptor lives; different ids differ.
    #[test]
    fn a_bug_is_its_id() {
        static A: BugInfo = BugInfo::new("A", "test-same-id", "test", "m", "f");
        static B: BugInfo = BugInfo::new("B", "test-same-id", "test", "m", "f");
        static C: BugInfo = BugInfo::new("C", "test-other-id", "test", "m", "f");
        let (a, b, c) = (KnownBug::new(&A), KnownBug::new(&B), KnownBug::new(&C));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let h = |k: KnownBug| {
            let mut h = DefaultHasher::new();
            k.hash(&mut h);
            h.finish()
        };
        assert_eq!(h(a), h(b));
        assert_ne!(h(a), h(c));
    }

    #[test]
    fn valid_ids_lists_the_catalog_in_order() {
        let ids: Vec<&str> = KnownBug::ALL.iter().map(|b| b.id()).collect();
        assert_eq!(KnownBug::valid_ids(), ids.join(", "));
        assert!(KnownBug::valid_ids().starts_with("vod-fetch-stacking, vod-fetch-stale-epoch, "));
    }

    #[test]
    #[should_panic(expected = "a run switches on at most 8 known bugs")]
    fn bugset_with_panics_when_full() {
        let mut s = BugSet::NONE;
        for b in KnownBug::ALL {
            s = s.with(*b);
        }
    }

    #[test]
    fn ids_must_be_kebab_case() {
        for ok in ["a", "vod-latch-leak", "h264-caps"] {
            assert!(is_kebab_case(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a--b", "A", "a_b", "a b"] {
            assert!(!is_kebab_case(bad), "{bad}");
        }
    }

    /// `same_str` (the const comparison behind the distinct-id check) is
    /// true exactly for equal strings. Run on a thread with a bound: a loop
    /// that stops advancing must fail this test, not hang it.
    #[test]
    fn same_str_is_true_exactly_for_equal_strings() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let equal = ["", "vod", "vod-latch-leak"].map(|a| same_str(a, a));
            let unequal = [("vod", "vox"), ("vod", "vo"), ("vo", "vod"), ("a", "")]
                .map(|(a, b)| same_str(a, b));
            let _ = tx.send((equal, unequal));
        });
        let (equal, unequal) = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("same_str did not return within 10 s");
        assert_eq!(equal, [true; 3]);
        assert_eq!(unequal, [false; 4]);
    }

    #[test]
    fn the_catalog_passes_the_distinct_id_check() {
        assert_distinct_ids(KnownBug::ALL);
    }

    #[test]
    #[should_panic(expected = "share an id")]
    fn a_shared_id_fails_the_distinct_id_check() {
        let (a, b) = (KnownBug::ALL[0], KnownBug::ALL[1]);
        assert_distinct_ids(&[a, b, a]);
    }
}
