//! The session controller, off the main loop.
//!
//! Owns [`Controller`]: connect to the relay, subscribe the catalog, and for
//! each catalog act on [`diff`]'s changes — a new track gets its pad from
//! the main loop (a create-pad round trip), its subscription and its pump; a
//! removed track's pump is told to finish; a config change needs nothing
//! (its pump puts the new caps in-band) unless `buffer-before-caps` sends
//! them out of band. A track whose subscription the relay ended while the
//! catalog still lists it (a removal and re-add the relay's catalog updates
//! coalesced) is subscribed again from a newer catalog. Every wait watches
//! the session's shutdown (the controller's task is raced against it).
//! Its terminal error goes through the session's
//! [`crate::session::pads::bus::ErrorSlot`].
//!
//! Also owns [`Registry`], the session's pumps as `stop` finds them: the
//! controller starts (spawns) each pump inside [`Registry::register`], and
//! `stop` closes the registry and takes every entry with
//! [`Registry::take_all`]. A pump is started only while the registry is
//! open, so every pump a session ever ran is one `stop` takes (waits for,
//! or aborts past its bound): none is left running behind a stopped
//! session. A track being set up while `stop` took the registry is refused
//! before its pump is spawned, and the controller ends there (its error
//! slot is already closed). The `pump-registry` shuttle model asserts the
//! registry's contract. The controller never holds the registry's lock
//! across an await.

use crate::event::Emitter;
use crate::net::Net;
use crate::session::pads::bus::ErrorSlot;
use crate::session::pads::catalog::{diff, TrackChange};
use crate::session::pads::event::PadsEvent;
use crate::session::pads::forwarder::Control;
use crate::session::pads::pump::{run_track_pump, PumpCtx, PumpExit, PumpState};
use crate::session::pads::queue::PadQueue;
use crate::session::pads::wire::{self, Catalog, RelayMessage, RelayRequest, TrackInfo};
use crate::session::pads::CONNECT_TIMEOUT;
use crate::sync::{lock, Arc, Mutex};
use crate::BugSet;
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

/// One pump of the session, as `stop` finds it.
#[derive(Debug)]
pub struct PumpEntry {
    pub pad: String,
    pub queue: Arc<PadQueue>,
    pub task: JoinHandle<PumpExit>,
    pub end: CancellationToken,
}

/// Every pump a session started (a re-added track has two, the first
/// finished or finishing), shared by the controller, which starts and
/// registers them and retires a removed track's, and `stop`, which takes
/// them all.
///
/// Owns the entries and whether `stop` took them. Generic over the entry
/// (`PumpEntry` in the element) so that a model can run the same protocol
/// without tokio tasks. It never waits and never reads a clock.
///
/// Contract (the `pump-registry` shuttle model asserts each):
///
/// 1. A pump is started only while the registry is open: [`Registry::register`]
///    runs its `start` (which spawns the pump) and adds the entry in one
///    critical section, and only if [`Registry::take_all`] has not run. So
///    every pump ever started is in the registry until `stop` takes it.
/// 2. `take_all` closes the registry and returns every entry: the first call
///    gets each entry registered before it, exactly once; later calls get
///    nothing, and every `register` after it is refused without starting
///    anything. Nothing is ever left behind in a taken registry.
/// 3. [`Registry::with_last`] acts on the newest entry matching, while the
///    registry is open (after `take_all` it finds none).
#[derive(Debug)]
pub struct Registry<E = PumpEntry> {
    state: Mutex<Entries<E>>,
}

#[derive(Debug)]
struct Entries<E> {
    entries: Vec<E>,
    taken: bool,
}

impl<E> Default for Registry<E> {
    fn default() -> Self {
        Registry::new()
    }
}

impl<E> Registry<E> {
    pub fn new() -> Registry<E> {
        Registry {
            state: Mutex::new(Entries {
                entries: Vec::new(),
                taken: false,
            }),
        }
    }

    /// Starts an entry and registers it, unless `stop` took the registry
    /// already: then `start` never runs and this returns false (clause 1).
    /// `start` runs under the registry's lock: it must not call back into
    /// the registry.
    pub fn register(&self, start: impl FnOnce() -> E) -> bool {
        let mut s = lock(&self.state);
        if s.taken {
            return false;
        }
        let entry = start();
        s.entries.push(entry);
        true
    }

    /// Runs `act` on the newest entry `pred` matches; false if none does.
    pub fn with_last(&self, pred: impl Fn(&E) -> bool, act: impl FnOnce(&E)) -> bool {
        let s = lock(&self.state);
        match s.entries.iter().rev().find(|e| pred(e)) {
            Some(e) => {
                act(e);
                true
            }
            None => false,
        }
    }

    /// Closes the registry and takes every entry, in registration order
    /// (clause 2).
    pub fn take_all(&self) -> Vec<E> {
        let mut s = lock(&self.state);
        s.taken = true;
        std::mem::take(&mut s.entries)
    }

    /// Entries registered and not taken.
    pub fn len(&self) -> usize {
        lock(&self.state).entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `take_all` ran (every later `register` is refused).
    pub fn is_taken(&self) -> bool {
        lock(&self.state).taken
    }
}

/// A pump's end, as its task reports it: (pump id, track, exit).
type Exit = (u64, String, PumpExit);

enum Input {
    Catalog(Option<Result<bytes::BytesMut, std::io::Error>>),
    PumpExit(Exit),
}

/// What the controller serves.
struct Serving {
    tracks: BTreeMap<String, TrackInfo>,
    /// The last catalog received.
    last: Option<Catalog>,
    /// The current pump of each served track, and the catalog version it
    /// was subscribed under.
    live: BTreeMap<String, (u64, u64)>,
    next_pump: u64,
    exits: mpsc::UnboundedSender<Exit>,
}

/// Where the session connects.
#[derive(Debug, Clone)]
pub struct RelayTarget {
    /// `host:port`.
    pub addr: String,
    pub broadcast: String,
}

/// The session controller.
pub struct Controller<N: Net> {
    pub net: N,
    pub relay: RelayTarget,
    pub session: u64,
    pub control: mpsc::UnboundedSender<Control>,
    pub shutdown: watch::Receiver<bool>,
    pub errors: std::sync::Arc<ErrorSlot>,
    pub registry: std::sync::Arc<Registry>,
    pub bugs: BugSet,
    pub emitter: Emitter,
}

impl<N: Net> Controller<N> {
    /// Runs until the session stops; a terminal error goes to the slot.
    pub async fn run(self) {
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => {}
            r = self.body() => {
                if let Err(e) = r {
                    self.errors.report(e);
                }
            }
        }
    }

    async fn connect(&self, what: &str) -> Result<Framed<N::Stream, LengthDelimitedCodec>, String> {
        match tokio::time::timeout(CONNECT_TIMEOUT, self.net.connect(&self.relay.addr)).await {
            Ok(Ok(s)) => Ok(Framed::new(s, LengthDelimitedCodec::new())),
            Ok(Err(e)) => Err(format!("{what}: connect: {}", e.kind())),
            Err(_) => {
                self.emitter.deadline_fired("pads.session.connect");
                Err(format!("{what}: connect timed out"))
            }
        }
    }

    async fn body(&self) -> Result<(), String> {
        let mut conn = self.connect("catalog").await?;
        let req = RelayRequest::SubscribeCatalog {
            broadcast: self.relay.broadcast.clone(),
        };
        conn.send(wire::encode(&req).map_err(|e| e.to_string())?)
            .await
            .map_err(|e| format!("catalog: send: {}", e.kind()))?;
        self.emitter.emit(PadsEvent::Connected {
            session: self.session,
        });
        let (exits_tx, mut exits) = mpsc::unbounded_channel();
        let mut serving = Serving {
            tracks: BTreeMap::new(),
            last: None,
            live: BTreeMap::new(),
            next_pump: 0,
            exits: exits_tx,
        };
        loop {
            let input = tokio::select! {
                biased;
                m = conn.next() => Input::Catalog(m),
                Some(x) = exits.recv() => Input::PumpExit(x),
            };
            match input {
                Input::Catalog(m) => {
                    let bytes = match m {
                        Some(Ok(b)) => b,
                        Some(Err(e)) => return Err(format!("catalog: read: {}", e.kind())),
                        None => return Err("catalog: closed".into()),
                    };
                    let cat = match wire::decode::<RelayMessage>(&bytes) {
                        Ok(RelayMessage::Catalog(cat)) => cat,
                        Ok(RelayMessage::Error { reason, .. }) => {
                            return Err(format!("catalog: {reason}"))
                        }
                        _ => return Err("catalog: unexpected message".into()),
                    };
                    self.emitter.emit(PadsEvent::Catalog {
                        session: self.session,
                        version: cat.version,
                        tracks: cat.names(),
                    });
                    let first = serving.last.is_none();
                    serving.last = Some(cat.clone());
                    for change in diff(&serving.tracks, &cat) {
                        self.apply(&mut serving, change).await?;
                    }
                    if first {
                        self.emitter.emit(PadsEvent::NoMorePads {
                            session: self.session,
                        });
                    }
                }
                Input::PumpExit((id, track, exit)) => {
                    self.pump_ended(&mut serving, id, &track, exit).await?;
                }
            }
        }
    }

    /// A pump ended on its own. If the relay ended (or refused) the
    /// subscription of a track the session still serves, the track is no
    /// longer served; a catalog newer than the one it was subscribed under
    /// that lists it brings it back now, an older one waits for the next
    /// catalog (so a stale catalog cannot make it loop).
    async fn pump_ended(
        &self,
        serving: &mut Serving,
        id: u64,
        track: &str,
        exit: PumpExit,
    ) -> Result<(), String> {
        if !matches!(exit, PumpExit::Ended | PumpExit::Gone) {
            return Ok(());
        }
        let Some(&(live_id, version)) = serving.live.get(track) else {
            return Ok(());
        };
        if live_id != id {
            return Ok(());
        }
        serving.live.remove(track);
        serving.tracks.remove(track);
        if let Some(last) = serving.last.clone().filter(|c| c.version > version) {
            if last.tracks.iter().any(|t| t.name == track) {
                self.emitter.emit(PadsEvent::Resubscribe {
                    session: self.session,
                    track: track.to_string(),
                });
            }
            for change in diff(&serving.tracks, &last) {
                self.apply(serving, change).await?;
            }
        }
        Ok(())
    }

    async fn apply(&self, serving: &mut Serving, change: TrackChange) -> Result<(), String> {
        match change {
            TrackChange::Removed(t) => {
                serving.tracks.remove(&t.name);
                serving.live.remove(&t.name);
                let pad = t.pad_name();
                self.registry.with_last(
                    |e| e.pad == pad,
                    |e| {
                        e.queue.retire();
                        e.end.cancel();
                    },
                );
            }
            TrackChange::ConfigChanged { after, .. } => {
                if self.bugs.on(crate::KnownBug::BufferBeforeCaps) {
                    // Pre-fix: caps out of band, racing the pump's buffers.
                    let _ = self.control.send(Control::SetCaps {
                        pad: after.pad_name(),
                        caps: after.caps(),
                    });
                }
                serving.tracks.insert(after.name.clone(), after);
            }
            TrackChange::Added(t) => {
                let queue = self.request_pad(&t).await?;
                if self.bugs.on(crate::KnownBug::BufferBeforeCaps) {
                    let _ = self.control.send(Control::SetCaps {
                        pad: t.pad_name(),
                        caps: t.caps(),
                    });
                }
                let what = format!("track {}", t.name);
                let mut conn = self.connect(&what).await?;
                let req = RelayRequest::SubscribeTrack {
                    broadcast: self.relay.broadcast.clone(),
                    track: t.name.clone(),
                };
                conn.send(wire::encode(&req).map_err(|e| e.to_string())?)
                    .await
                    .map_err(|e| format!("{what}: send: {}", e.kind()))?;
                let end = CancellationToken::new();
                let ctx = PumpCtx {
                    session: self.session,
                    queue: queue.clone(),
                    shutdown: self.shutdown.clone(),
                    end: end.clone(),
                    errors: self.errors.clone(),
                    emitter: self.emitter.clone(),
                };
                serving.next_pump += 1;
                let id = serving.next_pump;
                let version = serving.last.as_ref().map_or(0, |c| c.version);
                serving.live.insert(t.name.clone(), (id, version));
                let exits = serving.exits.clone();
                let name = t.name.clone();
                let pump = run_track_pump(conn, PumpState::new(&t, self.bugs), ctx);
                let pad = t.pad_name();
                // Spawned under the registry's lock, and only while `stop`
                // has not taken it: a pump started after `stop` took the
                // registry would be neither waited for nor aborted.
                let started = self.registry.register(|| PumpEntry {
                    pad,
                    queue,
                    task: crate::rt::spawn(async move {
                        let exit = pump.await;
                        let _ = exits.send((id, name, exit.clone()));
                        exit
                    }),
                    end,
                });
                if !started {
                    // The session is stopping (its error slot is closed):
                    // the subscription is dropped unread and the
                    // controller ends here.
                    return Err(format!("{what}: session stopping"));
                }
                serving.tracks.insert(t.name.clone(), t);
            }
        }
        Ok(())
    }

    /// The create-pad round trip through the main loop.
    async fn request_pad(&self, t: &TrackInfo) -> Result<Arc<PadQueue>, String> {
        let (reply, rx) = oneshot::channel();
        self.control
            .send(Control::CreatePad {
                track: t.clone(),
                reply,
            })
            .map_err(|_| "pad creation cancelled: main loop gone".to_string())?;
        match rx.await {
            Ok(Ok(queue)) => Ok(queue),
            Ok(Err(owner)) => Err(format!(
                "pad creation cancelled: {} exists (session {owner})",
                t.pad_name()
            )),
            Err(_) => Err("pad creation cancelled".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pump_registered_after_stop_took_the_registry_never_starts() {
        let registry = Registry::new();
        assert_eq!((registry.len(), registry.is_empty()), (0, true));
        assert!(registry.register(|| ("video_cam", 1)));
        assert!(registry.register(|| ("audio_mic", 2)));
        assert!(registry.register(|| ("video_cam", 3)));
        // Every entry registered is counted until stop takes it.
        assert_eq!((registry.len(), registry.is_empty()), (3, false));
        assert!(!registry.is_taken());
        let mut newest = None;
        assert!(registry.with_last(|e| e.0 == "video_cam", |e| newest = Some(e.1)));
        assert_eq!(newest, Some(3), "the re-added track's pump");
        assert_eq!(
            registry.take_all(),
            vec![("video_cam", 1), ("audio_mic", 2), ("video_cam", 3)]
        );
        assert!(registry.is_taken() && registry.is_empty());
        // The controller was setting up a track while stop took them all:
        // its pump is refused before it is spawned, so stop, which no
        // longer looks, leaves nothing running behind.
        let mut spawned = false;
        assert!(!registry.register(|| {
            spawned = true;
            ("video_scr", 4)
        }));
        assert!(!spawned, "a refused pump was started");
        assert_eq!(registry.len(), 0);
        assert!(registry.take_all().is_empty(), "taken once");
        assert!(!registry.with_last(|_| true, |_| unreachable!("nothing left")));
    }
}
