//! The simulated MoQ relay (`moq-relay` host, port 4443): serves one
//! broadcast's catalog and its tracks' frames.
//!
//! Each known track has a producer that emits frames at its rate while the
//! track is in the catalog, into a ring per track; a subscriber that falls
//! behind skips the oldest frames (MoQ's ordered consumer drops stale
//! groups), so a stalled client never makes the relay buffer without bound.
//! The plan drives it through [`RelayCmd`]s: catalog changes, codec config
//! changes (the new config's frames start at once, the catalog update
//! follows after a drawn delay: the race the caps path must win), and
//! outages that close every subscription. Records [`MoqRelayEvent`]s.

use futures_util::{SinkExt, StreamExt};
use relaysim_core::session::pads::wire::{
    self, Catalog, MediaKind, RelayMessage, RelayRequest, TrackInfo, WireFrame,
};
use relaysim_harness::Recorder;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// The port it listens on.
pub const PORT: u16 = 4443;
/// Frames a subscriber may fall behind before skipping.
pub const RING_FRAMES: usize = 64;
/// A keyframe every this many frames.
pub const GOP: u64 = 30;

/// A track the relay can serve: name, kind, codec, frame interval.
#[derive(Debug, Clone, Copy)]
pub struct KnownTrack {
    /// The track name.
    pub name: &'static str,
    /// Audio or video.
    pub kind: MediaKind,
    /// The codec.
    pub codec: &'static str,
    /// Milliseconds between frames.
    pub interval_ms: u64,
}

/// Every track a broadcast may carry.
pub const KNOWN_TRACKS: [KnownTrack; 4] = [
    KnownTrack {
        name: "cam",
        kind: MediaKind::Video,
        codec: "h264",
        interval_ms: 33,
    },
    KnownTrack {
        name: "mic",
        kind: MediaKind::Audio,
        codec: "opus",
        interval_ms: 20,
    },
    KnownTrack {
        name: "screen",
        kind: MediaKind::Video,
        codec: "av1",
        interval_ms: 66,
    },
    KnownTrack {
        name: "music",
        kind: MediaKind::Audio,
        codec: "opus",
        interval_ms: 20,
    },
];

/// The track of that name, if the relay knows it.
pub fn known(name: &str) -> Option<KnownTrack> {
    KNOWN_TRACKS.iter().copied().find(|t| t.name == name)
}

/// What the relay saw or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoqRelayEvent {
    /// A catalog version was published to subscribers.
    Catalog {
        /// The catalog version.
        version: u64,
        /// The tracks.
        tracks: String,
    },
    /// A track's frames switched to codec config `config`.
    Config {
        /// The track.
        track: String,
        /// The track configuration (caps) number.
        config: u32,
    },
    /// A subscription was accepted (`what`: `catalog` or a track name).
    Subscribed {
        /// What was seen.
        what: String,
    },
    /// A subscription was refused.
    Refused {
        /// What was seen.
        what: String,
        /// Why.
        reason: String,
    },
    /// Every subscription was closed; new ones are refused for `ms`.
    Down {
        /// How long, in milliseconds.
        ms: u64,
    },
    /// The relay is serving again.
    Up,
}

impl fmt::Display for MoqRelayEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoqRelayEvent::Catalog { version, tracks } => {
                write!(f, "moq.catalog version={version} tracks={tracks}")
            }
            MoqRelayEvent::Config { track, config } => {
                write!(f, "moq.config track={track} config={config}")
            }
            MoqRelayEvent::Subscribed { what } => write!(f, "moq.subscribed what={what}"),
            MoqRelayEvent::Refused { what, reason } => {
                write!(f, "moq.refused what={what} reason={reason:?}")
            }
            MoqRelayEvent::Down { ms } => write!(f, "moq.down ms={ms}"),
            MoqRelayEvent::Up => write!(f, "moq.up"),
        }
    }
}

/// A command from the plan, run inside the relay host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayCmd {
    /// The catalog becomes exactly these tracks (unknown names ignored).
    SetTracks(Vec<String>),
    /// `track`'s codec config bumps now; the catalog says so after `delay`.
    ConfigChange {
        /// The track.
        track: String,
        /// How long until it takes effect.
        delay: Duration,
    },
    /// Close every subscription; refuse new ones for the duration.
    Down(Duration),
}

#[derive(Debug, Clone)]
enum Item {
    Frame(WireFrame),
    Ended,
}

#[derive(Debug)]
struct State {
    /// What the catalog subscribers are told.
    catalog: Catalog,
    /// The config frames are produced with, per track.
    config: BTreeMap<String, u32>,
    /// Tracks currently produced (the catalog's, ahead of its publication).
    live: Vec<String>,
    down_until: Option<Instant>,
    lagged: u64,
}

/// Shared state of the relay host.
pub struct MoqRelay {
    broadcast: String,
    state: Mutex<State>,
    catalog_tx: watch::Sender<Catalog>,
    /// Bumped on an outage: every connection task ends.
    generation: watch::Sender<u64>,
    rings: BTreeMap<&'static str, broadcast::Sender<Item>>,
    cmds: mpsc::UnboundedSender<RelayCmd>,
    cmds_rx: Mutex<Option<mpsc::UnboundedReceiver<RelayCmd>>>,
    recorder: Arc<Recorder>,
}

impl fmt::Debug for MoqRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MoqRelay")
            .field("broadcast", &self.broadcast)
            .finish_non_exhaustive()
    }
}

impl MoqRelay {
    /// A relay serving `broadcast` with `tracks` in its catalog.
    pub fn new(broadcast: &str, tracks: &[&str], recorder: Arc<Recorder>) -> Arc<MoqRelay> {
        let live: Vec<String> = tracks
            .iter()
            .filter(|t| known(t).is_some())
            .map(|t| t.to_string())
            .collect();
        let config: BTreeMap<String, u32> = KNOWN_TRACKS
            .iter()
            .map(|t| (t.name.to_string(), 1))
            .collect();
        let catalog = build_catalog(1, &live, &config);
        let (catalog_tx, _) = watch::channel(catalog.clone());
        let (generation, _) = watch::channel(0);
        let (cmds, cmds_rx) = mpsc::unbounded_channel();
        let rings = KNOWN_TRACKS
            .iter()
            .map(|t| (t.name, broadcast::channel(RING_FRAMES).0))
            .collect();
        Arc::new(MoqRelay {
            broadcast: broadcast.to_string(),
            state: Mutex::new(State {
                catalog,
                config,
                live,
                down_until: None,
                lagged: 0,
            }),
            catalog_tx,
            generation,
            rings,
            cmds,
            cmds_rx: Mutex::new(Some(cmds_rx)),
            recorder,
        })
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, e: MoqRelayEvent) {
        self.recorder.peer("moq-relay", e);
    }

    /// Queues a plan command (callable from outside the simulation).
    pub fn command(&self, cmd: RelayCmd) {
        let _ = self.cmds.send(cmd);
    }

    /// The catalog as last published.
    pub fn catalog(&self) -> Catalog {
        self.st().catalog.clone()
    }

    /// Frames subscribers skipped because they fell behind.
    pub fn lagged(&self) -> u64 {
        self.st().lagged
    }

    fn publish_catalog(&self) {
        let cat = {
            let mut st = self.st();
            let version = st.catalog.version + 1;
            st.catalog = build_catalog(version, &st.live, &st.config);
            st.catalog.clone()
        };
        self.record(MoqRelayEvent::Catalog {
            version: cat.version,
            tracks: cat.names(),
        });
        self.catalog_tx.send_replace(cat);
    }

    async fn run_commands(self: Arc<Self>) {
        let rx = self
            .cmds_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(mut rx) = rx else { return };
        while let Some(cmd) = rx.recv().await {
            match cmd {
                RelayCmd::SetTracks(names) => {
                    let live: Vec<String> =
                        names.into_iter().filter(|n| known(n).is_some()).collect();
                    let removed: Vec<String> = {
                        let mut st = self.st();
                        let removed = st
                            .live
                            .iter()
                            .filter(|t| !live.contains(t))
                            .cloned()
                            .collect();
                        st.live = live;
                        removed
                    };
                    for t in removed {
                        if let Some(ring) = self.rings.get(t.as_str()) {
                            let _ = ring.send(Item::Ended);
                        }
                    }
                    self.publish_catalog();
                }
                RelayCmd::ConfigChange { track, delay } => {
                    let config = {
                        let mut st = self.st();
                        let Some(c) = st.config.get_mut(&track) else {
                            continue;
                        };
                        *c += 1;
                        *c
                    };
                    self.record(MoqRelayEvent::Config {
                        track: track.clone(),
                        config,
                    });
                    let me = self.clone();
                    relaysim_core::rt::spawn(async move {
                        tokio::time::sleep(delay).await;
                        me.publish_catalog();
                    });
                }
                RelayCmd::Down(d) => {
                    self.st().down_until = Some(Instant::now() + d);
                    self.record(MoqRelayEvent::Down {
                        ms: d.as_millis() as u64,
                    });
                    self.generation.send_modify(|g| *g += 1);
                    let me = self.clone();
                    relaysim_core::rt::spawn(async move {
                        tokio::time::sleep(d).await;
                        me.record(MoqRelayEvent::Up);
                    });
                }
            }
        }
    }

    /// One track's producer: frames at its rate while it is live.
    async fn produce(self: Arc<Self>, track: KnownTrack) {
        let ring = self.rings[track.name].clone();
        let started = Instant::now();
        let mut seq = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(track.interval_ms));
        loop {
            tick.tick().await;
            let config = {
                let st = self.st();
                if !st.live.iter().any(|t| t == track.name) {
                    continue;
                }
                st.config.get(track.name).copied().unwrap_or(1)
            };
            let frame = WireFrame {
                seq,
                ts_ms: started.elapsed().as_millis() as u64,
                keyframe: seq % GOP == 0,
                config,
            };
            seq += 1;
            // No subscriber is fine: frames are live.
            let _ = ring.send(Item::Frame(frame));
        }
    }

    fn down(&self) -> bool {
        self.st().down_until.is_some_and(|t| Instant::now() < t)
    }

    async fn connection(self: Arc<Self>, stream: relaysim_harness::engine::SimStream) {
        let mut gen = self.generation.subscribe();
        let mut conn = Framed::new(stream, LengthDelimitedCodec::new());
        let Some(Ok(first)) = conn.next().await else {
            return;
        };
        let Ok(req) = wire::decode::<RelayRequest>(&first) else {
            return;
        };
        let (broadcast, what) = match &req {
            RelayRequest::SubscribeCatalog { broadcast } => {
                (broadcast.clone(), "catalog".to_string())
            }
            RelayRequest::SubscribeTrack { broadcast, track } => (broadcast.clone(), track.clone()),
        };
        let refusal = if self.down() {
            Some((503, "relay unavailable"))
        } else if broadcast != self.broadcast {
            Some((404, "broadcast not found"))
        } else if what != "catalog" && !self.st().live.contains(&what) {
            Some((404, "track not found"))
        } else {
            None
        };
        if let Some((status, reason)) = refusal {
            self.record(MoqRelayEvent::Refused {
                what,
                reason: reason.to_string(),
            });
            if let Ok(b) = wire::encode(&RelayMessage::Error {
                status,
                reason: reason.to_string(),
            }) {
                let _ = conn.send(b).await;
            }
            return;
        }
        self.record(MoqRelayEvent::Subscribed { what: what.clone() });
        let serve = async {
            if what == "catalog" {
                let mut cat = self.catalog_tx.subscribe();
                loop {
                    let c = cat.borrow_and_update().clone();
                    let b = wire::encode(&RelayMessage::Catalog(c))?;
                    conn.send(b).await?;
                    if cat.changed().await.is_err() {
                        return Ok::<(), std::io::Error>(());
                    }
                }
            } else {
                let mut rx = self.rings[known(&what).map(|t| t.name).unwrap_or("cam")].subscribe();
                loop {
                    match rx.recv().await {
                        Ok(Item::Frame(f)) => {
                            conn.send(wire::encode(&RelayMessage::Frame(f))?).await?
                        }
                        Ok(Item::Ended) => {
                            conn.send(wire::encode(&RelayMessage::TrackEnded)?).await?;
                            return Ok(());
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => self.st().lagged += n,
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    }
                }
            }
        };
        tokio::select! {
            biased;
            _ = gen.changed() => {}
            _ = serve => {}
        }
    }
}

fn build_catalog(version: u64, live: &[String], config: &BTreeMap<String, u32>) -> Catalog {
    let mut tracks: Vec<TrackInfo> = live
        .iter()
        .filter_map(|n| known(n))
        .map(|t| TrackInfo {
            name: t.name.to_string(),
            kind: t.kind,
            codec: t.codec.to_string(),
            config: config.get(t.name).copied().unwrap_or(1),
        })
        .collect();
    tracks.sort();
    tracks.dedup();
    Catalog { version, tracks }
}

/// The host's software: producers, the command runner, and the listener.
pub async fn serve(relay: Arc<MoqRelay>) -> relaysim_harness::HostResult {
    for t in KNOWN_TRACKS {
        relaysim_core::rt::spawn(relay.clone().produce(t));
    }
    relaysim_core::rt::spawn(relay.clone().run_commands());
    let mut listener =
        relaysim_core::net::Net::bind(&relaysim_harness::SimNet, &format!("0.0.0.0:{PORT}"))
            .await?;
    loop {
        let (stream, _) = listener.accept().await?;
        relaysim_core::rt::spawn(relay.clone().connection(stream));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogs_keep_name_order_and_configs() {
        let mut config = BTreeMap::new();
        config.insert("cam".to_string(), 3);
        let c = build_catalog(
            2,
            &["mic".to_string(), "cam".to_string(), "nope".to_string()],
            &config,
        );
        assert_eq!(c.names(), "cam,mic");
        assert_eq!(c.tracks[0].config, 3);
        assert_eq!(c.tracks[1].config, 1);
    }
}
