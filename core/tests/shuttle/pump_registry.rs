//! The pads session's pump `Registry` (the controller starts and registers
//! each track's pump, and retires a removed track's; `stop` takes them all),
//! whole surface: the controller registering `video_cam` and `audio_mic`,
//! retiring `video_cam` (a removed track) and registering it again (the
//! track came back); a second registrar (a resubscribed track) registering
//! `video_scr`; `stop` taking the registry, then taking it again; a reader
//! polling `len`, `is_empty` and `is_taken`. An entry's `start` (the pump's
//! spawn, under the registry's lock) records it in a ledger of started
//! pumps.
//!
//! Invariants after every execution (and during it, where stated):
//! - every pump started was taken by `stop`'s `take_all`, exactly once: none
//!   is left behind (in the registry or anywhere) and none is taken twice;
//! - `register` returned true exactly for the pumps that started; a refused
//!   one never started, and a `register` that began after `take_all`
//!   returned is refused (during);
//! - the second `take_all` gets nothing; at the end the registry is taken
//!   and empty;
//! - `with_last` acts on the newest matching entry (the re-added
//!   `video_cam`, not the first), and finds none only once the registry
//!   was taken (during);
//! - the reader never sees a taken registry hold entries (during).

use super::explore;
use relaysim_core::session::pads::session::Registry;
use shuttle::sync::atomic::{AtomicBool, Ordering};
use shuttle::sync::Arc;
use shuttle::thread;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

/// A pump as the registry holds it.
struct Entry {
    id: u64,
    pad: &'static str,
}

/// Across the executions: how often some pump was refused, and how often
/// all four were taken.
#[derive(Default)]
struct Seen {
    refused: AtomicUsize,
    all_taken: AtomicUsize,
}

#[derive(Default)]
struct Ledger {
    /// Pumps whose `start` ran (spawned), in order.
    started: Mutex<Vec<u64>>,
    /// Pumps whose `register` returned true.
    accepted: Mutex<Vec<u64>>,
}

/// Registers pump `id` on `pad`; asserts a registration that began after
/// stop's take was refused.
fn register(
    registry: &Registry<Entry>,
    ledger: &Ledger,
    stopped: &AtomicBool,
    id: u64,
    pad: &'static str,
) -> bool {
    let after_stop = stopped.load(Ordering::SeqCst);
    let ok = registry.register(|| {
        ledger.started.lock().unwrap().push(id);
        Entry { id, pad }
    });
    assert!(
        !(ok && after_stop),
        "pump {id} was registered after stop took the registry"
    );
    if ok {
        ledger.accepted.lock().unwrap().push(id);
    }
    ok
}

fn model(seen: std::sync::Arc<Seen>) -> impl Fn() + Send + Sync {
    move || {
        let registry = Arc::new(Registry::<Entry>::default());
        let ledger = Arc::new(Ledger::default());
        let stopped = Arc::new(AtomicBool::new(false));

        let controller = {
            let (registry, ledger, stopped) = (registry.clone(), ledger.clone(), stopped.clone());
            thread::spawn(move || {
                register(&registry, &ledger, &stopped, 1, "video_cam");
                register(&registry, &ledger, &stopped, 2, "audio_mic");
                let retire = |expect: u64| {
                    let mut acted = None;
                    let found =
                        registry.with_last(|e| e.pad == "video_cam", |e| acted = Some(e.id));
                    assert_eq!(
                        found,
                        acted.is_some(),
                        "with_last said {found}, acted on {acted:?}"
                    );
                    match acted {
                        Some(id) => assert_eq!(
                            id, expect,
                            "with_last retired pump {id}, the newest video_cam is {expect}"
                        ),
                        None => assert!(
                            registry.is_taken(),
                            "with_last found no video_cam in a registry stop has not taken"
                        ),
                    }
                };
                retire(1);
                if register(&registry, &ledger, &stopped, 3, "video_cam") {
                    retire(3);
                }
            })
        };
        let resubscriber = {
            let (registry, ledger, stopped) = (registry.clone(), ledger.clone(), stopped.clone());
            thread::spawn(move || {
                thread::yield_now();
                register(&registry, &ledger, &stopped, 4, "video_scr");
            })
        };
        let stop = {
            let (registry, stopped) = (registry.clone(), stopped.clone());
            thread::spawn(move || {
                let taken: Vec<u64> = registry.take_all().iter().map(|e| e.id).collect();
                stopped.store(true, Ordering::SeqCst);
                let again = registry.take_all();
                assert!(
                    again.is_empty(),
                    "a second take_all got pumps {:?}",
                    again.iter().map(|e| e.id).collect::<Vec<_>>()
                );
                taken
            })
        };
        let reader = {
            let registry = registry.clone();
            thread::spawn(move || {
                let mut was_taken = false;
                for _ in 0..3 {
                    let taken = registry.is_taken();
                    let (len, empty) = (registry.len(), registry.is_empty());
                    assert!(taken || !was_taken, "is_taken went back to false");
                    if taken {
                        assert_eq!(len, 0, "a taken registry holds {len} pumps");
                        assert!(empty, "a taken registry is not empty");
                    }
                    was_taken = taken;
                    thread::yield_now();
                }
            })
        };
        controller.join().unwrap();
        resubscriber.join().unwrap();
        let taken = stop.join().unwrap();
        reader.join().unwrap();

        let started = ledger.started.lock().unwrap().clone();
        let mut accepted = ledger.accepted.lock().unwrap().clone();
        accepted.sort_unstable();
        let mut sorted = started.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted, accepted,
            "pumps started {started:?}, register accepted {accepted:?}"
        );
        for id in &started {
            let times = taken.iter().filter(|t| *t == id).count();
            assert_eq!(
                times, 1,
                "pump {id} was started and taken by stop {times} times (left running if 0): started {started:?}, taken {taken:?}"
            );
        }
        assert!(
            taken.iter().all(|t| started.contains(t)),
            "stop took a pump never started: {taken:?} vs {started:?}"
        );
        if started.len() < 4 {
            seen.refused.fetch_add(1, Ordering::Relaxed);
        } else {
            seen.all_taken.fetch_add(1, Ordering::Relaxed);
        }
        assert!(registry.is_taken(), "the registry is open after stop");
        let left = registry.len();
        assert_eq!(left, 0, "{left} pumps left in the registry after stop");
        assert!(registry.take_all().is_empty());
    }
}

#[test]
fn shuttle_pump_registry_whole_surface() {
    let seen = std::sync::Arc::new(Seen::default());
    let n = explore("pump-registry", model(seen.clone()));
    if n > 0 {
        let (refused, all) = (
            seen.refused.load(Ordering::Relaxed),
            seen.all_taken.load(Ordering::Relaxed),
        );
        assert!(
            refused > 0 && all > 0,
            "over {n} executions: {refused} refused a pump, {all} took all four"
        );
    }
}
