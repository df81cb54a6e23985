//! The pads `MainLoop` (the main context's stall gate: the application
//! stalls it, the forwarder waits for it before each step), whole surface:
//! two stallers (one stalling twice, a long stall then a short one that
//! must not shorten it), the forwarder waiting in `ready`, a reader polling
//! `stalled_until` and `busy_for`, and a ticker moving the model's clock.
//! Time is the model's own: a millisecond counter the ticker advances in
//! 50 ms steps until every stall asked for is over, read as an offset from
//! one `Instant`; `ready`'s sleep is a yield under shuttle. Every staller
//! writes the end it asks for to a ledger before calling `stall`.
//!
//! Invariants after every execution (and during it, where stated):
//! - the stall only ever extends: at the end `stalled_until` is the latest
//!   end any stall asked for (no extension lost, none shortened), and no
//!   reader ever sees it go back (during);
//! - readers see a consistent value: every `stalled_until` read is an end
//!   some stall asked for, and `busy_for(now)` is that end minus `now`
//!   (another such end, never earlier than the one read before it), or none
//!   once it is past (during);
//! - `ready` terminates, and returns only once the clock has reached the
//!   end of every stall set before it was called (during).

use super::explore;
use relaysim_core::session::pads::forwarder::MainLoop;
use relaysim_core::Emitter;
use shuttle::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use shuttle::sync::Arc;
use shuttle::thread;
use std::sync::atomic::AtomicUsize as StdAtomicUsize;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The ticker's step.
const TICK_MS: u64 = 50;

/// The model's clock: milliseconds since `base`.
struct Clock {
    base: Instant,
    ms: AtomicU64,
}

impl Clock {
    fn now(&self) -> Instant {
        self.base + Duration::from_millis(self.ms.load(Ordering::SeqCst))
    }

    /// `t` as milliseconds of the model's clock, for messages.
    fn ms(&self, t: Option<Instant>) -> String {
        match t {
            Some(t) => format!("{} ms", (t - self.base).as_millis()),
            None => "none".into(),
        }
    }
}

/// Across the executions: how often `ready` found the main loop busy (and
/// waited), and how often free.
#[derive(Default)]
struct Seen {
    waited: StdAtomicUsize,
    free: StdAtomicUsize,
}

/// Every end a stall asked for, written before its `stall` call.
#[derive(Default)]
struct Asked(Mutex<Vec<Instant>>);

impl Asked {
    fn stall(&self, main: &MainLoop, clock: &Clock, ms: u64) {
        let now = clock.now();
        self.0.lock().unwrap().push(now + Duration::from_millis(ms));
        main.stall(now, Duration::from_millis(ms));
    }

    fn contains(&self, t: Instant) -> bool {
        self.0.lock().unwrap().contains(&t)
    }

    fn latest(&self) -> Option<Instant> {
        self.0.lock().unwrap().iter().max().copied()
    }
}

/// One read of the gate, checked against the last one (`prev`).
fn check_read(main: &MainLoop, clock: &Clock, asked: &Asked, prev: &mut Option<Instant>) {
    let until = main.stalled_until();
    if let Some(t) = until {
        assert!(
            asked.contains(t),
            "stalled_until is {}, which no stall asked for",
            clock.ms(until)
        );
    }
    assert!(
        until >= *prev,
        "the stall went back from {} to {}",
        clock.ms(*prev),
        clock.ms(until)
    );
    *prev = until;
    let now = clock.now();
    match main.busy_for(now) {
        Some(left) => {
            let end = now + left;
            assert!(
                asked.contains(end),
                "busy_for says busy until {}, which no stall asked for",
                clock.ms(Some(end))
            );
            assert!(
                Some(end) >= *prev,
                "the stall went back from {} to {} (busy_for)",
                clock.ms(*prev),
                clock.ms(Some(end))
            );
            *prev = Some(end);
        }
        None => {
            // Free at `now`: the stall read before is over by now.
            if let Some(t) = *prev {
                assert!(
                    t <= now,
                    "busy_for says free at {} inside a stall until {}",
                    clock.ms(Some(now)),
                    clock.ms(Some(t))
                );
            }
        }
    }
}

fn model(seen: std::sync::Arc<Seen>) -> impl Fn() + Send + Sync {
    move || {
        let main = MainLoop::new(Emitter::tracing_only("gst"));
        let clock = Arc::new(Clock {
            base: Instant::now(),
            ms: AtomicU64::new(0),
        });
        let asked = Arc::new(Asked::default());
        let stallers_done = Arc::new(AtomicUsize::new(0));

        let stallers: Vec<_> = [vec![300, 100], vec![200]]
            .into_iter()
            .map(|lens| {
                let (main, clock, asked, done) = (
                    main.clone(),
                    clock.clone(),
                    asked.clone(),
                    stallers_done.clone(),
                );
                thread::spawn(move || {
                    for ms in lens {
                        asked.stall(&main, &clock, ms);
                        thread::yield_now();
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        let ticker = {
            let (clock, asked, done) = (clock.clone(), asked.clone(), stallers_done.clone());
            thread::spawn(move || loop {
                let all = done.load(Ordering::SeqCst) == 2;
                if all && asked.latest().is_none_or(|t| t <= clock.now()) {
                    return;
                }
                clock.ms.fetch_add(TICK_MS, Ordering::SeqCst);
                thread::yield_now();
            })
        };
        let forwarder = {
            let (main, clock, asked, seen) =
                (main.clone(), clock.clone(), asked.clone(), seen.clone());
            thread::spawn(move || {
                let before = main.stalled_until();
                let mut prev = None;
                check_read(&main, &clock, &asked, &mut prev);
                let counter = match main.busy_for(clock.now()) {
                    Some(_) => &seen.waited,
                    None => &seen.free,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                shuttle::future::block_on(main.ready(|| clock.now()));
                let now = clock.now();
                if let Some(t) = before {
                    assert!(
                        t <= now,
                        "ready returned at {}, inside a stall until {} set before it was called",
                        clock.ms(Some(now)),
                        clock.ms(Some(t))
                    );
                }
            })
        };
        let reader = {
            let (main, clock, asked) = (main.clone(), clock.clone(), asked.clone());
            thread::spawn(move || {
                let mut prev = None;
                for _ in 0..3 {
                    check_read(&main, &clock, &asked, &mut prev);
                    thread::yield_now();
                }
            })
        };
        for s in stallers {
            s.join().unwrap();
        }
        ticker.join().unwrap();
        forwarder.join().unwrap();
        reader.join().unwrap();

        let latest = asked.latest();
        assert!(
            main.stalled_until() == latest,
            "the stall ends at {}, the latest end asked for is {}",
            clock.ms(main.stalled_until()),
            clock.ms(latest)
        );
        assert_eq!(
            main.busy_for(clock.now()),
            None,
            "still busy after the last stall"
        );
    }
}

#[test]
fn shuttle_main_loop_whole_surface() {
    let seen = std::sync::Arc::new(Seen::default());
    let n = explore("main-loop", model(seen.clone()));
    if n > 0 {
        let (waited, free) = (
            seen.waited.load(Ordering::Relaxed),
            seen.free.load(Ordering::Relaxed),
        );
        assert!(
            waited > 0 && free > 0,
            "over {n} executions: ready found the main loop busy {waited} times, free {free}"
        );
    }
}
