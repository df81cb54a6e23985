//! The broadcaster registry: one [`FragmentBroadcaster`] per (broadcast,
//! track), created on first use, with entry-created / entry-removed
//! callbacks.
//!
//! Owns [`FragmentBroadcasterRegistry`] (LVQR's registry, seed-systems.md
//! §2.1). Its contract, which the runner and the loom model rely on:
//! [`FragmentBroadcasterRegistry::get_or_create`] returns the same broadcaster
//! to every caller of a key while it lives; entry-created callbacks fire
//! exactly once per fresh entry, on the creating thread, with every registry
//! lock released (so they may re-enter the registry); callbacks registered
//! later never fire for entries that already exist;
//! [`FragmentBroadcasterRegistry::remove`] (and
//! [`FragmentBroadcasterRegistry::remove_generation`], which hits only the
//! generation it names) fires entry-removed callbacks on a hit only, also
//! outside the locks; [`FragmentBroadcasterRegistry::keys`] is
//! in key order. Each fresh entry gets the registry's next *generation*, so a
//! re-published track is told apart from its previous life. It must never
//! run a callback while holding one of its locks.

use crate::event::Emitter;
use crate::sync::RwLock;
use crate::transcode::broadcaster::{
    BroadcasterStream, FragmentBroadcaster, DEFAULT_BROADCASTER_CAPACITY,
};
use crate::transcode::event::TranscodeEvent;
use crate::transcode::fragment::FragmentMeta;
use crate::transcode::{read, write};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A registry callback: `(broadcast, track, broadcaster)`.
pub type EntryCallback = Arc<dyn Fn(&str, &str, &Arc<FragmentBroadcaster>) + Send + Sync>;

struct Entries {
    map: BTreeMap<(String, String), Arc<FragmentBroadcaster>>,
    /// The generation of the last entry created.
    generation: u64,
}

struct Inner {
    entries: RwLock<Entries>,
    created: RwLock<Vec<EntryCallback>>,
    removed: RwLock<Vec<EntryCallback>>,
    capacity: usize,
    emitter: Emitter,
}

/// Every live broadcaster, by (broadcast, track). `Clone` shares it.
#[derive(Clone)]
pub struct FragmentBroadcasterRegistry {
    inner: Arc<Inner>,
}

/// A registry reference that does not keep it alive (the runner holds one,
/// so that the registry's callback owning the runner is not a cycle).
#[derive(Clone)]
pub struct WeakRegistry {
    inner: std::sync::Weak<Inner>,
}

impl WeakRegistry {
    pub fn upgrade(&self) -> Option<FragmentBroadcasterRegistry> {
        self.inner
            .upgrade()
            .map(|inner| FragmentBroadcasterRegistry { inner })
    }
}

impl Default for FragmentBroadcasterRegistry {
    fn default() -> Self {
        FragmentBroadcasterRegistry::new()
    }
}

impl std::fmt::Debug for FragmentBroadcasterRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FragmentBroadcasterRegistry")
            .field("keys", &self.keys())
            .finish()
    }
}

impl FragmentBroadcasterRegistry {
    /// A registry whose broadcasters have the default ring capacity and
    /// whose events reach `tracing` only.
    pub fn new() -> FragmentBroadcasterRegistry {
        FragmentBroadcasterRegistry::with_options(
            DEFAULT_BROADCASTER_CAPACITY,
            Emitter::tracing_only("transcode"),
        )
    }

    /// A registry creating broadcasters of `capacity` and emitting through
    /// `emitter`.
    pub fn with_options(capacity: usize, emitter: Emitter) -> FragmentBroadcasterRegistry {
        FragmentBroadcasterRegistry {
            inner: Arc::new(Inner {
                entries: RwLock::new(Entries {
                    map: BTreeMap::new(),
                    generation: 0,
                }),
                created: RwLock::new(Vec::new()),
                removed: RwLock::new(Vec::new()),
                capacity,
                emitter,
            }),
        }
    }

    pub fn emitter(&self) -> &Emitter {
        &self.inner.emitter
    }

    pub fn downgrade(&self) -> WeakRegistry {
        WeakRegistry {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// The broadcaster of `(broadcast, track)`, created with `meta` if it
    /// does not exist (`meta` is ignored otherwise). A fresh entry fires the
    /// entry-created callbacks before this returns, with no lock held.
    pub fn get_or_create(
        &self,
        broadcast: &str,
        track: &str,
        meta: FragmentMeta,
    ) -> Arc<FragmentBroadcaster> {
        if let Some(bc) = self.get(broadcast, track) {
            return bc;
        }
        let fresh = {
            let mut entries = write(&self.inner.entries);
            let key = (broadcast.to_string(), track.to_string());
            if let Some(bc) = entries.map.get(&key) {
                // Another creator won between the two locks.
                return bc.clone();
            }
            entries.generation += 1;
            let bc = Arc::new(FragmentBroadcaster::build(
                track.to_string(),
                meta,
                self.inner.capacity,
                entries.generation,
            ));
            entries.map.insert(key, bc.clone());
            bc
        };
        self.inner.emitter.emit(TranscodeEvent::EntryCreated {
            broadcast: broadcast.to_string(),
            track: track.to_string(),
            generation: fresh.generation(),
        });
        let callbacks = read(&self.inner.created).clone();
        for cb in callbacks {
            cb(broadcast, track, &fresh);
        }
        fresh
    }

    pub fn get(&self, broadcast: &str, track: &str) -> Option<Arc<FragmentBroadcaster>> {
        read(&self.inner.entries)
            .map
            .get(&(broadcast.to_string(), track.to_string()))
            .cloned()
    }

    /// A subscription to an existing entry.
    pub fn subscribe(&self, broadcast: &str, track: &str) -> Option<BroadcasterStream> {
        self.get(broadcast, track).map(|bc| bc.subscribe())
    }

    /// Drops the registry's reference to the entry (clones held elsewhere
    /// keep its producer alive) and fires the entry-removed callbacks on a
    /// hit, outside the lock.
    pub fn remove(&self, broadcast: &str, track: &str) -> Option<Arc<FragmentBroadcaster>> {
        self.remove_where(broadcast, track, |_| true)
    }

    /// [`remove`](Self::remove), but only if the entry is still of
    /// `generation`: a previous life's owner can never remove the entry of
    /// the next one. A miss (no entry, or another generation's) changes
    /// nothing and fires nothing.
    pub fn remove_generation(
        &self,
        broadcast: &str,
        track: &str,
        generation: u64,
    ) -> Option<Arc<FragmentBroadcaster>> {
        self.remove_where(broadcast, track, |bc| bc.generation() == generation)
    }

    fn remove_where(
        &self,
        broadcast: &str,
        track: &str,
        hit: impl Fn(&FragmentBroadcaster) -> bool,
    ) -> Option<Arc<FragmentBroadcaster>> {
        let gone = {
            let mut entries = write(&self.inner.entries);
            let key = (broadcast.to_string(), track.to_string());
            if !hit(entries.map.get(&key)?) {
                return None;
            }
            entries.map.remove(&key)?
        };
        self.inner.emitter.emit(TranscodeEvent::EntryRemoved {
            broadcast: broadcast.to_string(),
            track: track.to_string(),
            generation: gone.generation(),
        });
        let callbacks = read(&self.inner.removed).clone();
        for cb in callbacks {
            cb(broadcast, track, &gone);
        }
        Some(gone)
    }

    /// Fires for every entry created from now on (never for existing ones).
    pub fn on_entry_created<F>(&self, f: F)
    where
        F: Fn(&str, &str, &Arc<FragmentBroadcaster>) + Send + Sync + 'static,
    {
        write(&self.inner.created).push(Arc::new(f));
    }

    /// Fires for every entry removed from now on, in installation order.
    pub fn on_entry_removed<F>(&self, f: F)
    where
        F: Fn(&str, &str, &Arc<FragmentBroadcaster>) + Send + Sync + 'static,
    {
        write(&self.inner.removed).push(Arc::new(f));
    }

    /// Every key, in key order (a snapshot).
    pub fn keys(&self) -> Vec<(String, String)> {
        read(&self.inner.entries).map.keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        read(&self.inner.entries).map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[cfg(not(feature = "loom"))]
mod tests {
    use super::*;
    use crate::sync::Mutex;
    use crate::transcode::fragment::{AUDIO_TRACK, VIDEO_TRACK};
    use crate::transcode::lock;

    fn meta() -> FragmentMeta {
        FragmentMeta::new("avc1.64001f", 90_000)
    }

    #[test]
    fn get_or_create_is_pointer_stable_and_fires_once() {
        let reg = FragmentBroadcasterRegistry::new();
        let fired = Arc::new(Mutex::new(Vec::new()));
        let f = fired.clone();
        reg.on_entry_created(move |b, t, bc| {
            lock(&f).push((b.to_string(), t.to_string(), bc.generation()))
        });
        let a = reg.get_or_create("live/a", VIDEO_TRACK, meta());
        let b = reg.get_or_create("live/a", VIDEO_TRACK, FragmentMeta::new("other", 1));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(
            b.meta().codec,
            "avc1.64001f",
            "meta ignored for an existing entry"
        );
        reg.get_or_create("live/a", AUDIO_TRACK, meta());
        assert_eq!(
            *lock(&fired),
            vec![
                ("live/a".into(), VIDEO_TRACK.into(), 1),
                ("live/a".into(), AUDIO_TRACK.into(), 2)
            ]
        );
    }

    #[test]
    fn callbacks_run_outside_the_locks_and_may_reenter() {
        let reg = FragmentBroadcasterRegistry::new();
        let r2 = reg.clone();
        reg.on_entry_created(move |b, t, _| {
            // Re-entry would deadlock if a lock were held.
            assert!(r2.get(b, t).is_some());
            assert_eq!(r2.keys().len(), r2.len());
        });
        let r3 = reg.clone();
        reg.on_entry_removed(move |b, t, _| assert!(r3.get(b, t).is_none()));
        reg.get_or_create("live/a", VIDEO_TRACK, meta());
        assert!(reg.remove("live/a", VIDEO_TRACK).is_some());
        assert!(reg.remove("live/a", VIDEO_TRACK).is_none(), "miss");
        assert!(reg.is_empty());
    }

    /// A registry is empty exactly when it holds no entry, and counts them.
    #[test]
    fn a_registry_is_empty_exactly_when_it_holds_no_entry() {
        let reg = FragmentBroadcasterRegistry::new();
        assert!(reg.is_empty());
        reg.get_or_create("live/a", VIDEO_TRACK, meta());
        reg.get_or_create("live/a", AUDIO_TRACK, meta());
        assert_eq!((reg.len(), reg.is_empty()), (2, false));
        reg.remove("live/a", VIDEO_TRACK);
        assert_eq!((reg.len(), reg.is_empty()), (1, false));
        reg.remove("live/a", AUDIO_TRACK);
        assert!(reg.is_empty());
    }

    #[test]
    fn remove_generation_removes_only_that_generation() {
        let reg = FragmentBroadcasterRegistry::new();
        let removed = Arc::new(Mutex::new(Vec::new()));
        let r = removed.clone();
        reg.on_entry_removed(move |_, _, bc| lock(&r).push(bc.generation()));
        let first = reg
            .get_or_create("live/a", VIDEO_TRACK, meta())
            .generation();
        drop(reg.remove("live/a", VIDEO_TRACK));
        let second = reg
            .get_or_create("live/a", VIDEO_TRACK, meta())
            .generation();
        assert!(reg
            .remove_generation("live/a", VIDEO_TRACK, first)
            .is_none());
        assert!(
            reg.get("live/a", VIDEO_TRACK).is_some(),
            "the next life stays"
        );
        assert!(reg
            .remove_generation("live/a", VIDEO_TRACK, second)
            .is_some());
        assert!(reg.is_empty());
        assert_eq!(*lock(&removed), vec![first, second], "misses fire nothing");
    }

    #[test]
    fn late_callbacks_never_fire_for_existing_entries_and_keys_are_ordered() {
        let reg = FragmentBroadcasterRegistry::new();
        reg.get_or_create("live/b", VIDEO_TRACK, meta());
        reg.get_or_create("live/a", VIDEO_TRACK, meta());
        let fired = Arc::new(Mutex::new(0));
        let f = fired.clone();
        reg.on_entry_created(move |_, _, _| *lock(&f) += 1);
        assert_eq!(*lock(&fired), 0);
        assert_eq!(
            reg.keys(),
            vec![
                ("live/a".to_string(), VIDEO_TRACK.to_string()),
                ("live/b".to_string(), VIDEO_TRACK.to_string())
            ]
        );
    }

    #[test]
    fn a_recreated_entry_is_a_new_generation_and_closes_the_old_one() {
        let reg = FragmentBroadcasterRegistry::new();
        let first = reg.get_or_create("live/a", VIDEO_TRACK, meta());
        let mut sub = reg.subscribe("live/a", VIDEO_TRACK).unwrap();
        drop(reg.remove("live/a", VIDEO_TRACK));
        drop(first);
        assert_eq!(
            sub.try_recv(),
            crate::transcode::broadcaster::TryRecv::Closed
        );
        let second = reg.get_or_create("live/a", VIDEO_TRACK, meta());
        assert_eq!(second.generation(), 2);
    }

    #[test]
    fn concurrent_get_or_create_same_key_returns_one_broadcaster() {
        let reg = FragmentBroadcasterRegistry::new();
        let fired = Arc::new(Mutex::new(0));
        let f = fired.clone();
        reg.on_entry_created(move |_, _, _| *lock(&f) += 1);
        let all: Vec<Arc<FragmentBroadcaster>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| reg.get_or_create("live/a", VIDEO_TRACK, meta())))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(all.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])));
        assert_eq!(*lock(&fired), 1);
    }
}
