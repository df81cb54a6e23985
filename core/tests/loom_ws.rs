//! loom model of the ws connection lock: the server's reader, bulk writer and
//! keepalive share one lock; the plugin's reads wait behind its own sends;
//! each direction of the socket is a bounded buffer. Every interleaving.
//!
//! Run with the loom step (README):
//! `cargo test --workspace --features relaysim-core/loom --test loom_ws`
//!
//! The session itself is async tokio code and cannot run under loom; the
//! model keeps its structure with loom primitives and takes the piece
//! schedule from the real [`SendPolicy`]. Units are socket-buffer slots:
//! each direction holds 1, the stem push is 2, the plugin's upload is 2 —
//! the smallest world where a whole message does not fit the socket.
//! Every step (take the connection lock, write what fits, read what is
//! there, let go) is one critical section of the world's loom mutex, and
//! loom permutes them; a holder that never waits on the peer (the fixed
//! writer, a read turn, a ping) takes and releases the lock in one step. A thread that cannot proceed waits on the world's
//! condvar; when every live thread is waiting, the world is wedged: that
//! is recorded (with who waits for what) and everyone gives up, so the
//! wedge is an assertion loom reports for the interleaving that reaches it
//! — not a hang.
//!
//! - pre-fix (`bulk-send-starves-recv`, one whole message, the lock held
//!   while the socket is full): loom reports the wedge — the writer holds
//!   the lock waiting for the plugin to read, the plugin waits for the
//!   reader to drain its upload, the reader and the keepalive wait for the
//!   lock;
//! - the fix (fragments, the lock let go whenever the socket is full): every
//!   interleaving completes;
//! - upstream's fix alone (fragments, each waiting for room under the lock):
//!   loom still finds the wedge — the reason the fix here also lets go of the
//!   lock while the window is full.

use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use relaysim_core::session::ws::fragment::SendPolicy;

/// Socket-buffer slots per direction.
const CAP: usize = 1;
/// The stem the server pushes.
const STEM: usize = 2;
/// The upload the plugin sends.
const UPLOAD: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Writer,
    Reader,
    Keepalive,
    Plugin,
}

const ACTORS: [Actor; 4] = [
    Actor::Writer,
    Actor::Reader,
    Actor::Keepalive,
    Actor::Plugin,
];

#[derive(Debug, Default)]
struct State {
    /// Who holds the connection lock (upstream's `protocol_mutex`).
    conn: Option<Actor>,
    /// Unread units server → plugin, and plugin → server.
    to_plugin: usize,
    to_server: usize,
    /// What each actor waits for, having checked against the current state.
    waiting: [Option<&'static str>; 4],
    done: [bool; 4],
    wedged: Option<String>,
}

struct World {
    state: Mutex<State>,
    changed: Condvar,
}

impl World {
    /// Retries `step` under the world's lock until it can proceed (`Some`,
    /// with whether it changed anything). Returns false once the world is
    /// wedged.
    fn until(
        &self,
        me: Actor,
        what: &'static str,
        mut step: impl FnMut(&mut State) -> Option<bool>,
    ) -> bool {
        let mut s = self.state.lock().unwrap();
        loop {
            if s.wedged.is_some() {
                return false;
            }
            if let Some(changed) = step(&mut s) {
                s.waiting[me as usize] = None;
                if changed {
                    // Everyone must look again.
                    s.waiting = [None; 4];
                    self.changed.notify_all();
                }
                return true;
            }
            s.waiting[me as usize] = Some(what);
            if ACTORS
                .iter()
                .all(|a| s.done[*a as usize] || s.waiting[*a as usize].is_some())
            {
                let who: Vec<String> = ACTORS
                    .iter()
                    .filter_map(|a| s.waiting[*a as usize].map(|w| format!("{a:?} waits for {w}")))
                    .collect();
                s.wedged = Some(format!("{} (lock held by {:?})", who.join("; "), s.conn));
                self.changed.notify_all();
                return false;
            }
            s = self.changed.wait(s).unwrap();
        }
    }

    /// Takes the connection lock, does `f` (which never waits) and lets go,
    /// in one step: a holder that never waits on the peer is, to everyone
    /// else, a lock that is briefly taken.
    fn with_conn(&self, me: Actor, mut f: impl FnMut(&mut State) -> bool) -> bool {
        self.until(me, "the connection lock", |s| {
            s.conn.is_none().then(|| f(s))
        })
    }

    fn finish(&self, me: Actor) {
        let mut s = self.state.lock().unwrap();
        s.done[me as usize] = true;
        s.waiting = [None; 4];
        self.changed.notify_all();
    }
}

fn writer(w: &World, policy: SendPolicy) -> bool {
    let me = Actor::Writer;
    for piece in policy.pieces(STEM) {
        let mut left = piece.range.len();
        if policy.release_when_blocked {
            // The fix: write what the window takes under the lock, let go,
            // wait for room without it, go again.
            loop {
                let wrote = w.with_conn(me, |s| {
                    let took = left.min(CAP - s.to_plugin);
                    s.to_plugin += took;
                    left -= took;
                    took > 0
                });
                if !wrote {
                    return false;
                }
                if left == 0 {
                    break;
                }
                if !w.until(me, "room to the plugin", |s| {
                    (s.to_plugin < CAP).then_some(false)
                }) {
                    return false;
                }
            }
        } else {
            // The lock held until the piece's last unit is written.
            let locked = w.until(me, "the connection lock", |s| {
                s.conn.is_none().then(|| {
                    s.conn = Some(me);
                    true
                })
            });
            if !locked {
                return false;
            }
            while left > 0 {
                let ok = w.until(me, "room to the plugin, holding the lock", |s| {
                    (s.to_plugin < CAP).then(|| {
                        s.to_plugin += 1;
                        true
                    })
                });
                if !ok {
                    return false;
                }
                left -= 1;
            }
            if !w.until(me, "nothing", |s| {
                s.conn = None;
                Some(true)
            }) {
                return false;
            }
        }
    }
    true
}

fn reader(w: &World) -> bool {
    let me = Actor::Reader;
    let mut got = 0;
    while got < UPLOAD {
        let read = w.with_conn(me, |s| {
            let n = std::mem::take(&mut s.to_server);
            got += n;
            n > 0
        });
        if !read {
            return false;
        }
        if got < UPLOAD && !w.until(me, "the upload", |s| (s.to_server > 0).then_some(false)) {
            return false;
        }
    }
    true
}

fn keepalive(w: &World) -> bool {
    // A ping needs the lock.
    w.with_conn(Actor::Keepalive, |_| false)
}

/// The plugin: its upload goes out whole before it reads anything.
fn plugin(w: &World) -> bool {
    let me = Actor::Plugin;
    for _ in 0..UPLOAD {
        let ok = w.until(
            me,
            "room to the server (its reads wait behind this send)",
            |s| {
                (s.to_server < CAP).then(|| {
                    s.to_server += 1;
                    true
                })
            },
        );
        if !ok {
            return false;
        }
    }
    let mut got = 0;
    while got < STEM {
        let ok = w.until(me, "the stem", |s| {
            (s.to_plugin > 0).then(|| {
                got += std::mem::take(&mut s.to_plugin);
                true
            })
        });
        if !ok {
            return false;
        }
    }
    true
}

/// Explores every interleaving of the writer (under `policy`), the reader,
/// the plugin and (`with_keepalive`) the keepalive, up to `bound`
/// preemptions; panics with `wedged: …` when one of them wedges.
fn model(policy: SendPolicy, with_keepalive: bool, bound: usize) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    builder.check(move || {
        let w = Arc::new(World {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let spawn = |actor: Actor, f: fn(&World) -> bool| {
            let w = w.clone();
            thread::spawn(move || {
                f(&w);
                w.finish(actor);
            })
        };
        let mut threads = vec![
            {
                let w = w.clone();
                thread::spawn(move || {
                    writer(&w, policy);
                    w.finish(Actor::Writer);
                })
            },
            spawn(Actor::Reader, reader),
        ];
        if with_keepalive {
            threads.push(spawn(Actor::Keepalive, keepalive));
        } else {
            w.finish(Actor::Keepalive);
        }
        plugin(&w);
        w.finish(Actor::Plugin);
        for t in threads {
            t.join().unwrap();
        }
        let s = w.state.lock().unwrap();
        assert!(
            s.wedged.is_none(),
            "wedged: {}",
            s.wedged.as_deref().unwrap_or("")
        );
        assert_eq!((s.to_plugin, s.to_server), (0, 0), "everything was read");
    });
}

fn finds_wedge(policy: SendPolicy) -> String {
    let err =
        std::panic::catch_unwind(|| model(policy, true, 2)).expect_err("loom must find the wedge");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        msg.contains("wedged:"),
        "loom failed with {msg:?}, expected a wedge"
    );
    assert!(
        msg.contains("Writer waits for room to the plugin, holding the lock")
            && msg.contains("Plugin waits for room to the server")
            && msg.contains("Reader waits for the connection lock"),
        "not the upstream wedge: {msg}"
    );
    println!("loom: {msg}");
    msg
}

#[test]
fn loom_ws_fragments_that_let_go_of_the_lock_complete() {
    assert_eq!(
        SendPolicy::for_bugs(relaysim_core::BugSet::NONE, 1),
        SendPolicy::fixed(1)
    );
    // On the fixed path nobody waits while holding the lock, so the
    // keepalive's one lock take never waits and cannot change the outcome:
    // the model without it runs at a preemption bound of 3 (what loom
    // recommends; ~25 s), the full model at 1 (bound 2 with four threads
    // takes minutes).
    model(SendPolicy::fixed(1), false, 3);
    model(SendPolicy::fixed(1), true, 1);
}

#[test]
fn loom_ws_fragments_waiting_under_the_lock_still_wedge() {
    finds_wedge(SendPolicy::fragments_waiting_under_lock(1));
}

#[cfg(feature = "known-bugs")]
#[test]
fn loom_ws_whole_message_send_wedges() {
    use relaysim_core::{BugSet, KnownBug};
    let pre_fix = SendPolicy::for_bugs(BugSet::only(KnownBug::BulkSendStarvesRecv), 1);
    assert_eq!(pre_fix, SendPolicy::whole_message());
    finds_wedge(pre_fix);
}
