//! The transcode runner: every registered factory × every live track, one
//! drain task per (transcoder, rendition, broadcast, track).
//!
//! Owns the builder ([`TranscodeRunner`]), the handle
//! ([`TranscodeRunnerHandle`]: stats, `add_rendition`, `remove_rendition`,
//! `renditions`), the factory list behind a `RwLock`, the task table keyed
//! by [`StatsKey`], and `spawn_for`, the one place a drain is admitted.
//! Keeps upstream's structure (seed-systems.md §2.3): the registry's
//! entry-created callback snapshots the factory list and calls `spawn_for`
//! per factory; `spawn_for` dedupes on the key, refuses a rendition's own
//! output broadcast, builds the transcoder (user code, no lock held),
//! subscribes synchronously so no fragment can slip past, and hands the
//! drain to a [`DrainSpawner`] — the seam that lets the loom model and the
//! proptest run this logic without tokio. Shared state uses
//! [`crate::sync`]. It must never call factory or transcoder code with a
//! lock held, and never hold a lock across an await.
//!
//! Two fixes depart from the upstream seed, each with the pre-fix path kept
//! behind its known-bug switch:
//! - `rendition-remove-leak` (found by `core/tests/loom_transcode_runner.rs`):
//!   `spawn_for` re-checks that its factory is still registered under the
//!   factory list's read lock and keeps that lock until the slot is in the
//!   task table, so `remove_rendition` either prunes first (and the spawn is
//!   skipped) or finds the slot to abort;
//! - `republish-never-transcoded`: a task slot carries the registry
//!   generation of the track it reads; a slot of an earlier generation does
//!   not block a spawn, and slots are pruned when their entry is removed, so
//!   a re-published broadcast (a fresh entry) is transcoded again.

use crate::bugs::{BugSet, KnownBug};
use crate::event::Emitter;
use crate::sync::{Mutex, RwLock};
use crate::transcode::broadcaster::FragmentBroadcaster;
use crate::transcode::drain::{Drain, DrainHandle, DrainSpawner, TokioSpawner, TranscoderStats};
use crate::transcode::event::{SkipReason, TranscodeEvent};
use crate::transcode::key::StatsKey;
use crate::transcode::presets::RenditionSpec;
use crate::transcode::registry::{FragmentBroadcasterRegistry, WeakRegistry};
use crate::transcode::transcoder::{Phase, TranscoderContext, TranscoderFactory};
use crate::transcode::{lock, read, write};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A factory as registered: `id` tells two registrations of equal factories
/// apart (a rendition removed and added again is a new registration).
#[derive(Clone)]
struct Registered {
    id: u64,
    factory: Arc<dyn TranscoderFactory>,
}

impl Registered {
    fn rendition(&self) -> &str {
        &self.factory.rendition().name
    }
}

struct Factories {
    list: Vec<Registered>,
    next_id: u64,
}

struct TaskSlot {
    /// The registry generation of the track this drain reads.
    generation: u64,
    handle: Box<dyn DrainHandle>,
}

struct RunnerInner {
    registry: WeakRegistry,
    factories: RwLock<Factories>,
    tasks: Mutex<BTreeMap<StatsKey, TaskSlot>>,
    stats: Mutex<BTreeMap<StatsKey, Arc<TranscoderStats>>>,
    spawner: Arc<dyn DrainSpawner>,
    emitter: Emitter,
    bugs: BugSet,
}

impl RunnerInner {
    /// The registry's entry-created callback: one `spawn_for` per factory of
    /// a snapshot of the list.
    fn on_entry_created(&self, broadcast: &str, track: &str, bc: &Arc<FragmentBroadcaster>) {
        let snapshot = read(&self.factories).list.clone();
        for reg in &snapshot {
            self.spawn_for(broadcast, track, bc, reg);
        }
    }

    /// Is `broadcast` some rendition's output (`…/<rendition>`)?
    fn is_rendition_output(&self, broadcast: &str) -> bool {
        let last = broadcast.rsplit('/').next().unwrap_or(broadcast);
        read(&self.factories)
            .list
            .iter()
            .any(|r| r.rendition() == last)
    }

    /// The key's stats, and whether they are new (recorded only once a
    /// drain actually spawns, so `tracked()` never lists a key that had none).
    fn stats_for(&self, key: &StatsKey) -> (Arc<TranscoderStats>, bool) {
        match lock(&self.stats).get(key) {
            Some(s) => (s.clone(), false),
            None => (Arc::default(), true),
        }
    }

    /// Is the slot for this key taken for `generation`? A slot of an earlier
    /// generation belongs to a removed entry (its drain ends on its own) and
    /// does not count; a later one means the caller's entry is the stale one.
    fn slot_taken(
        &self,
        tasks: &BTreeMap<StatsKey, TaskSlot>,
        key: &StatsKey,
        generation: u64,
    ) -> bool {
        match tasks.get(key) {
            None => false,
            // Pre-fix: any slot, even a finished one of a removed entry.
            Some(_) if self.bugs.on(KnownBug::RepublishNeverTranscoded) => true,
            Some(slot) => slot.generation >= generation,
        }
    }

    /// Admits one drain for `reg` on `(broadcast, track)`. True if spawned.
    fn spawn_for(
        &self,
        broadcast: &str,
        track: &str,
        bc: &Arc<FragmentBroadcaster>,
        reg: &Registered,
    ) -> bool {
        // Held to the end, so the registry is never dropped under our locks.
        let registry = self.registry.upgrade();
        let spec = reg.factory.rendition().clone();
        let key = StatsKey::new(reg.factory.name(), &spec.name, broadcast, track);
        let generation = bc.generation();
        if self.slot_taken(&lock(&self.tasks), &key, generation) {
            return false;
        }
        if self.is_rendition_output(broadcast) {
            return false;
        }
        let ctx = TranscoderContext {
            broadcast: broadcast.to_string(),
            track: track.to_string(),
            meta: bc.meta(),
            rendition: spec,
        };
        // User code: no lock held.
        let Some(transcoder) = reg.factory.build(&ctx) else {
            return false;
        };
        // The caller's factory list is a snapshot: `remove_rendition` may
        // have pruned this factory (and aborted its tasks) since. Re-check
        // under the list's read lock and keep it until the slot is in the
        // table, so a removal either runs first (and we skip) or after (and
        // finds the slot to abort). Pre-fix (`rendition-remove-leak`): no
        // re-check, and the drain of a removed rendition is never aborted.
        let factories =
            (!self.bugs.on(KnownBug::RenditionRemoveLeak)).then(|| read(&self.factories));
        if let Some(list) = &factories {
            if !list.list.iter().any(|r| r.id == reg.id) {
                self.emitter.emit(TranscodeEvent::DrainSkipped {
                    key,
                    generation,
                    reason: SkipReason::Removed,
                });
                return false;
            }
        }
        let mut tasks = lock(&self.tasks);
        if self.slot_taken(&tasks, &key, generation) {
            return false;
        }
        // The caller looked the entry up before this lock: it may have been
        // removed since, its slots pruned (`on_entry_removed`), so a drain
        // now would be a second one for that generation, started after its
        // entry was gone (found by core/tests/shuttle/transcode.rs). Removal
        // takes the entry out of the map before it prunes under this lock,
        // so checking the map here closes the window.
        let current = registry
            .as_ref()
            .and_then(|r| r.get(broadcast, track))
            .map(|live| live.generation());
        if current != Some(generation) {
            drop(tasks);
            self.emitter.emit(TranscodeEvent::DrainSkipped {
                key,
                generation,
                reason: SkipReason::EntryGone,
            });
            return false;
        }
        // Subscribe before the spawn returns: no emit can race ahead of the
        // drain's first receive.
        let sub = bc.subscribe();
        let (stats, fresh_stats) = self.stats_for(&key);
        let drain = Drain::new(
            key.clone(),
            generation,
            transcoder,
            ctx,
            sub,
            stats.clone(),
            self.emitter.clone(),
            self.bugs,
        );
        let Some(handle) = self.spawner.spawn(drain) else {
            tracing::warn!(%key, "no runtime to spawn a drain on; track not transcoded");
            self.emitter.emit(TranscodeEvent::DrainSkipped {
                key,
                generation,
                reason: SkipReason::NoRuntime,
            });
            return false;
        };
        if fresh_stats {
            lock(&self.stats).insert(key.clone(), stats);
        }
        self.emitter.emit(TranscodeEvent::DrainSpawned {
            key: key.clone(),
            generation,
        });
        // Replaces a slot of an earlier generation: that drain reads a
        // removed entry and finishes by itself.
        tasks.insert(key, TaskSlot { generation, handle });
        drop(tasks);
        drop(factories);
        true
    }

    /// The registry's entry-removed callback: forget the slots of that entry
    /// (their drains finish once the track closes), so a re-publish is
    /// admitted. Pre-fix (`republish-never-transcoded`): slots stay forever.
    fn on_entry_removed(&self, broadcast: &str, track: &str, bc: &Arc<FragmentBroadcaster>) {
        if self.bugs.on(KnownBug::RepublishNeverTranscoded) {
            return;
        }
        let generation = bc.generation();
        lock(&self.tasks).retain(|k, slot| {
            !(k.broadcast == broadcast && k.track == track && slot.generation == generation)
        });
    }

    fn add_rendition(&self, factory: Arc<dyn TranscoderFactory>) -> bool {
        let reg = {
            let mut f = write(&self.factories);
            let duplicate = f.list.iter().any(|r| {
                r.factory.name() == factory.name() && r.rendition() == factory.rendition().name
            });
            if duplicate {
                drop(f);
                self.emitter.emit(TranscodeEvent::RenditionRejected {
                    transcoder: factory.name().to_string(),
                    rendition: factory.rendition().name.clone(),
                });
                return false;
            }
            let reg = Registered {
                id: f.next_id,
                factory,
            };
            f.next_id += 1;
            f.list.push(reg.clone());
            reg
        };
        self.emitter.emit(TranscodeEvent::RenditionAdded {
            transcoder: reg.factory.name().to_string(),
            rendition: reg.rendition().to_string(),
        });
        if let Some(registry) = self.registry.upgrade() {
            for (b, t) in registry.keys() {
                if let Some(bc) = registry.get(&b, &t) {
                    self.spawn_for(&b, &t, &bc, &reg);
                }
            }
        }
        true
    }

    fn remove_rendition(&self, name: &str) -> usize {
        write(&self.factories)
            .list
            .retain(|r| r.rendition() != name);
        let removed: Vec<(StatsKey, TaskSlot)> = {
            let mut tasks = lock(&self.tasks);
            let keys: Vec<StatsKey> = tasks
                .keys()
                .filter(|k| k.rendition == name)
                .cloned()
                .collect();
            keys.into_iter()
                .filter_map(|k| tasks.remove(&k).map(|slot| (k, slot)))
                .collect()
        };
        self.emitter.emit(TranscodeEvent::RenditionRemoved {
            rendition: name.to_string(),
            aborted: removed.len(),
        });
        for (key, slot) in &removed {
            if !slot.handle.is_finished() {
                slot.handle.abort();
                self.emitter.emit(TranscodeEvent::DrainAborted {
                    key: key.clone(),
                    generation: slot.generation,
                });
            }
        }
        removed.len()
    }
}

/// Builds a runner; [`TranscodeRunner::install`] attaches it to a registry.
pub struct TranscodeRunner {
    factories: Vec<Arc<dyn TranscoderFactory>>,
    spawner: Arc<dyn DrainSpawner>,
    emitter: Option<Emitter>,
    bugs: BugSet,
}

impl Default for TranscodeRunner {
    fn default() -> Self {
        TranscodeRunner::new()
    }
}

impl TranscodeRunner {
    /// No factories, tokio spawner, the registry's emitter, no known bugs.
    pub fn new() -> TranscodeRunner {
        TranscodeRunner {
            factories: Vec::new(),
            spawner: Arc::new(TokioSpawner),
            emitter: None,
            bugs: BugSet::NONE,
        }
    }

    pub fn with_factory<F: TranscoderFactory>(self, factory: F) -> TranscodeRunner {
        self.with_factory_arc(Arc::new(factory))
    }

    pub fn with_factory_arc(mut self, factory: Arc<dyn TranscoderFactory>) -> TranscodeRunner {
        self.factories.push(factory);
        self
    }

    /// One factory per rung, built by `build`.
    pub fn with_ladder<F, B>(mut self, ladder: Vec<RenditionSpec>, build: B) -> TranscodeRunner
    where
        F: TranscoderFactory,
        B: Fn(RenditionSpec) -> F,
    {
        for spec in ladder {
            self.factories.push(Arc::new(build(spec)));
        }
        self
    }

    pub fn with_spawner(mut self, spawner: Arc<dyn DrainSpawner>) -> TranscodeRunner {
        self.spawner = spawner;
        self
    }

    pub fn with_emitter(mut self, emitter: Emitter) -> TranscodeRunner {
        self.emitter = Some(emitter);
        self
    }

    /// Known bugs to reinstate (only with the `known-bugs` feature).
    pub fn with_bugs(mut self, bugs: BugSet) -> TranscodeRunner {
        self.bugs = bugs;
        self
    }

    pub fn factory_count(&self) -> usize {
        self.factories.len()
    }

    /// Registers the entry-created callback. Entries that already exist are
    /// not back-filled (only `add_rendition` walks existing keys). The
    /// registry's callback owns the runner; the runner holds the registry
    /// weakly, so neither keeps the other alive in a cycle.
    pub fn install(self, registry: &FragmentBroadcasterRegistry) -> TranscodeRunnerHandle {
        let emitter = self.emitter.unwrap_or_else(|| registry.emitter().clone());
        let list: Vec<Registered> = self
            .factories
            .into_iter()
            .enumerate()
            .map(|(i, factory)| Registered {
                id: i as u64,
                factory,
            })
            .collect();
        let next_id = list.len() as u64;
        let inner = Arc::new(RunnerInner {
            registry: registry.downgrade(),
            factories: RwLock::new(Factories { list, next_id }),
            tasks: Mutex::new(BTreeMap::new()),
            stats: Mutex::new(BTreeMap::new()),
            spawner: self.spawner,
            emitter,
            bugs: self.bugs,
        });
        let ladder = read(&inner.factories)
            .list
            .iter()
            .map(|r| format!("{}/{}", r.factory.name(), r.rendition()))
            .collect();
        inner
            .emitter
            .emit(TranscodeEvent::RunnerInstalled { ladder });
        let created = inner.clone();
        registry.on_entry_created(move |b, t, bc| created.on_entry_created(b, t, bc));
        let removed = inner.clone();
        registry.on_entry_removed(move |b, t, bc| removed.on_entry_removed(b, t, bc));
        TranscodeRunnerHandle { inner }
    }
}

/// A running runner. `Clone` shares it.
#[derive(Clone)]
pub struct TranscodeRunnerHandle {
    inner: Arc<RunnerInner>,
}

impl TranscodeRunnerHandle {
    fn stat(&self, key: &StatsKey) -> Option<Arc<TranscoderStats>> {
        lock(&self.inner.stats).get(key).cloned()
    }

    /// Fragments seen by `(transcoder, rendition, broadcast, track)`'s drains.
    pub fn fragments_seen(&self, t: &str, r: &str, b: &str, tr: &str) -> u64 {
        self.stat(&StatsKey::new(t, r, b, tr))
            .map_or(0, |s| s.fragments_seen())
    }

    /// Panics caught in that key's drains (every phase).
    pub fn panics(&self, t: &str, r: &str, b: &str, tr: &str) -> u64 {
        self.stat(&StatsKey::new(t, r, b, tr))
            .map_or(0, |s| s.panics())
    }

    /// Panics caught in that key's drains in one phase.
    pub fn panics_in(&self, t: &str, r: &str, b: &str, tr: &str, phase: Phase) -> u64 {
        self.stat(&StatsKey::new(t, r, b, tr))
            .map_or(0, |s| s.panics_in(phase))
    }

    /// Fragments that key's drains skipped by lagging.
    pub fn lagged(&self, t: &str, r: &str, b: &str, tr: &str) -> u64 {
        self.stat(&StatsKey::new(t, r, b, tr))
            .map_or(0, |s| s.lagged())
    }

    /// Every key that ever had a drain (from the stats), in key order.
    pub fn tracked(&self) -> Vec<StatsKey> {
        lock(&self.inner.stats).keys().cloned().collect()
    }

    /// Every key in the task table, with its generation and whether its
    /// drain has finished.
    pub fn tasks(&self) -> Vec<(StatsKey, u64, bool)> {
        lock(&self.inner.tasks)
            .iter()
            .map(|(k, s)| (k.clone(), s.generation, s.handle.is_finished()))
            .collect()
    }

    /// Keys whose drain is still running.
    pub fn running(&self) -> Vec<StatsKey> {
        self.tasks()
            .into_iter()
            .filter(|(_, _, finished)| !finished)
            .map(|(k, _, _)| k)
            .collect()
    }

    /// One rendition per registered factory, in registration order.
    pub fn renditions(&self) -> Vec<RenditionSpec> {
        read(&self.inner.factories)
            .list
            .iter()
            .map(|r| r.factory.rendition().clone())
            .collect()
    }

    pub fn factory_count(&self) -> usize {
        read(&self.inner.factories).list.len()
    }

    /// Registers `factory` and spawns it for every live track. False (and
    /// nothing registered) if the same (transcoder, rendition) pair exists;
    /// two transcoders may share a rendition name.
    pub fn add_rendition(&self, factory: Arc<dyn TranscoderFactory>) -> bool {
        self.inner.add_rendition(factory)
    }

    /// Drops every factory of rendition `name` and aborts its drains.
    /// Returns how many tasks were removed from the table.
    pub fn remove_rendition(&self, name: &str) -> usize {
        self.inner.remove_rendition(name)
    }
}
