//! The transcode component: a fragment broadcaster registry feeding a
//! rendition ladder (LVQR's `lvqr-fragment` and `lvqr-transcode`,
//! seed-systems.md §2).
//!
//! Keeps the upstream's concurrency structure: ingest creates registry
//! entries; the registry runs entry-created callbacks outside its locks; the
//! runner's callback snapshots its factory list (behind a `RwLock`) and
//! admits one drain per (transcoder, rendition, broadcast, track) into its
//! task table; each drain is a spawned task reading a bounded broadcast
//! ring. Shared state uses [`crate::sync`] so the loom models
//! (`core/tests/loom_transcode_*.rs`) check this very code, and drains are
//! started through the [`drain::DrainSpawner`] seam so that the table logic
//! runs without tokio.
//!
//! | module | owns |
//! |---|---|
//! | [`fragment`] | `Fragment`, flags, track metadata |
//! | [`broadcaster`] | the per-track bounded ring: emit never blocks, lag counted |
//! | [`registry`] | (broadcast, track) → broadcaster, entry callbacks, generations |
//! | [`presets`] | rendition specs, the 720p/480p/240p ladder |
//! | [`transcoder`] | transcoder traits; passthrough, slow and panicking factories |
//! | [`key`] | [`StatsKey`], the (transcoder, rendition, broadcast, track) key of a drain |
//! | [`drain`] | one drain task (`drive`), per-key stats, the spawner seam |
//! | [`runner`] | factories × live tracks, dedupe, add/remove rendition |
//! | [`ingest`] | the publisher-facing bridge: frames → fragments, publish → entries |
//! | [`event`] | [`TranscodeEvent`], the component's trace events |
//!
//! Known bugs carried here: `rendition-remove-leak`,
//! `transcoder-panic-kills-drain`, `republish-never-transcoded` (see
//! [`crate::bugs`]).
//!
//! # Contract
//!
//! Oracles per clause: `docs/contracts.md`.
//!
//! - **S1** No drain runs for a rendition that is not in the ladder: a
//!   removed rendition's drains are aborted, and none is started after its
//!   removal.
//! - **S2** At most one drain per (transcoder, rendition, broadcast, track).
//! - **S3** A transcoder's panic is caught and counted per phase; its drain
//!   goes on.
//! - **S4** Per drain and viewer, fragments seen + lagged = fragments emitted
//!   since it subscribed, in order; the emitter never blocks, and only a
//!   subscriber slower than the ring lags.
//! - **S5** Every transcoder starts with the init segment set for its track.
//! - **L1** Every live video track, first published or re-published, gets a
//!   drain per ladder rendition.
//! - **L2** After quiescence the running drains are exactly live tracks ×
//!   ladder, in the trace and in the runner's table.
//! - **R1** A removed registry entry's drains end; its dedupe slots are
//!   pruned, so a re-publish is admitted.
//! - **R2** The ingest bridge bounds every wait on a publisher: one silent
//!   for 5 s (before its hello, or between frames) is dropped; a hello is
//!   answered within the 5 s claim bound (published, or its connection
//!   closed); once faults stop, every publisher that wants to publish is
//!   published and up.
//! - **R3** A failed `accept()` on the ingest listener is traced
//!   (`transcode.ingest.accept.error`) and waited out; the bridge never
//!   stops admitting publishers because one accept failed.

pub mod broadcaster;
pub mod drain;
pub mod event;
pub mod fragment;
pub mod ingest;
pub mod key;
pub mod presets;
pub mod registry;
pub mod runner;
pub mod transcoder;

pub use broadcaster::{BroadcasterStream, FragmentBroadcaster, TryRecv};
pub use drain::{Drain, DrainHandle, DrainSpawner, TokioSpawner, TranscoderStats};
pub use event::TranscodeEvent;
pub use fragment::{Fragment, FragmentFlags, FragmentMeta};
pub use key::StatsKey;
pub use presets::{default_ladder, preset_240p, preset_480p, preset_720p, RenditionSpec};
pub use registry::FragmentBroadcasterRegistry;
pub use runner::{TranscodeRunner, TranscodeRunnerHandle};
pub use transcoder::{
    PanicTrigger, PanickingTranscoderFactory, PassthroughTranscoderFactory, Phase,
    SlowTranscoderFactory, Transcoder, TranscoderContext, TranscoderFactory,
};

use crate::sync::{Mutex, RwLock};
use std::ops::{Deref, DerefMut};

// Lock helpers that ignore poison (a panic under one of these locks is
// already reported) and work for both the std and the loom primitives.

pub(crate) fn lock<T>(m: &Mutex<T>) -> impl DerefMut<Target = T> + '_ {
    crate::sync::lock(m)
}

pub(crate) fn read<T>(l: &RwLock<T>) -> impl Deref<Target = T> + '_ {
    match l.read() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

pub(crate) fn write<T>(l: &RwLock<T>) -> impl DerefMut<Target = T> + '_ {
    match l.write() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
