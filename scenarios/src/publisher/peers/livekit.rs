//! The simulated LiveKit server (`livekit` host, port 7880): room join,
//! track publish, unpublish and leave over the publisher's signalling
//! connection, with latency and refusals from the fault plan.
//!
//! Records every join, publish, unpublish and leave (and a participant
//! dropped by a closed connection) as [`LiveKitEvent`]s: the independent
//! record of which tracks were published and for how long, which the
//! publisher checks hold against what the core says it did.
//!
//! With [`LiveKit::trace_connections`] (the `publisher-phases` world only,
//! so the other scenarios' traces keep their lines) it also records what a
//! real server sees of each signalling connection's life: its accept
//! (`lk.accepted`), each request as it arrives (`lk.request`) and how long
//! the room took to answer it (`lk.answered`). Those are the boundaries
//! the phase spans of `publisher-phases` are cut at. A **silent** room
//! ([`LiveKit::set_silent`]) accepts connections and reads requests but
//! never answers them nor acts on them (`lk.ignored`): a server that hung.

use futures_util::{SinkExt, StreamExt};
use relaysim_core::entropy::SimRng;
use relaysim_core::session::publisher::signal::{self, SignalRequest, SignalResponse};
use relaysim_core::session::publisher::TrackKind;
use relaysim_harness::Recorder;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// The port it listens on.
pub const PORT: u16 = 7880;
/// Answer latency once healed.
pub const HEALTHY_LATENCY_MS: (u64, u64) = (5, 50);

/// What the room saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveKitEvent {
    /// A publisher joined the room.
    Joined {
        /// The publisher attempt number.
        attempt: u64,
    },
    /// A join was refused.
    JoinRefused {
        /// The publisher attempt number.
        attempt: u64,
        /// The status answered.
        status: u16,
    },
    /// A track was published.
    Published {
        /// The publisher attempt number.
        attempt: u64,
        /// The track.
        track: TrackKind,
        /// The track id the room assigned.
        sid: String,
    },
    /// A track publish was refused.
    PublishRefused {
        /// The publisher attempt number.
        attempt: u64,
        /// The track.
        track: TrackKind,
        /// The status answered.
        status: u16,
    },
    /// A track was unpublished.
    Unpublished {
        /// The publisher attempt number.
        attempt: u64,
        /// The track.
        track: TrackKind,
        /// The track id the room assigned.
        sid: String,
    },
    /// An unpublish named no live publication of that participant.
    UnpublishUnknown {
        /// The publisher attempt number.
        attempt: u64,
        /// The track id the room assigned.
        sid: String,
    },
    /// A signalling connection was accepted (traced connections only).
    Accepted {
        /// The server's connection number, from 1.
        conn: u64,
    },
    /// A request arrived (traced connections only).
    Request {
        /// The server's connection number, from 1.
        conn: u64,
        /// The request's verb.
        verb: &'static str,
    },
    /// A request was answered `after_ms` after it arrived (traced
    /// connections only).
    Answered {
        /// The server's connection number, from 1.
        conn: u64,
        /// The request's verb.
        verb: &'static str,
        /// The room's own latency, in milliseconds.
        after_ms: u64,
    },
    /// A silent room swallowed a request: no answer, no effect.
    Ignored {
        /// The server's connection number, from 1.
        conn: u64,
        /// The request's verb.
        verb: &'static str,
    },
    /// The participant left (`leave`) or its connection closed
    /// (`disconnect`); `tracks` publications went with it.
    Left {
        /// The publisher attempt number.
        attempt: u64,
        /// Why.
        cause: &'static str,
        /// The tracks.
        tracks: usize,
    },
}

impl fmt::Display for LiveKitEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LiveKitEvent::Joined { attempt } => write!(f, "lk.joined attempt={attempt}"),
            LiveKitEvent::JoinRefused { attempt, status } => {
                write!(f, "lk.join.refused attempt={attempt} status={status}")
            }
            LiveKitEvent::Published {
                attempt,
                track,
                sid,
            } => write!(f, "lk.published attempt={attempt} track={track} sid={sid}"),
            LiveKitEvent::PublishRefused {
                attempt,
                track,
                status,
            } => write!(
                f,
                "lk.publish.refused attempt={attempt} track={track} status={status}"
            ),
            LiveKitEvent::Unpublished {
                attempt,
                track,
                sid,
            } => write!(
                f,
                "lk.unpublished attempt={attempt} track={track} sid={sid}"
            ),
            LiveKitEvent::UnpublishUnknown { attempt, sid } => {
                write!(f, "lk.unpublish.unknown attempt={attempt} sid={sid}")
            }
            LiveKitEvent::Left {
                attempt,
                cause,
                tracks,
            } => write!(f, "lk.left attempt={attempt} cause={cause} tracks={tracks}"),
            LiveKitEvent::Accepted { conn } => write!(f, "lk.accepted conn={conn}"),
            LiveKitEvent::Request { conn, verb } => {
                write!(f, "lk.request conn={conn} verb={verb}")
            }
            LiveKitEvent::Answered {
                conn,
                verb,
                after_ms,
            } => write!(f, "lk.answered conn={conn} verb={verb} after_ms={after_ms}"),
            LiveKitEvent::Ignored { conn, verb } => {
                write!(f, "lk.ignored conn={conn} verb={verb}")
            }
        }
    }
}

#[derive(Debug)]
struct Inner {
    latency_ms: (u64, u64),
    join_fail: u8,
    publish_fail: u8,
    rng: SimRng,
    next_sid: u64,
    /// Joined participants (by attempt) and their live publications.
    participants: BTreeMap<u64, BTreeMap<String, TrackKind>>,
    joins: u64,
    publishes: u64,
    unpublishes: u64,
    /// Requests are swallowed (see [`LiveKit::set_silent`]).
    silent: bool,
    /// Connections accepted so far.
    conns: u64,
}

/// Shared state of the room server.
#[derive(Debug)]
pub struct LiveKit {
    inner: Mutex<Inner>,
    recorder: Arc<Recorder>,
    /// Records connection life events (see the module docs).
    traced: bool,
}

impl LiveKit {
    /// A fresh peer recording into `recorder`.
    pub fn new(seed: u64, recorder: Arc<Recorder>) -> Arc<LiveKit> {
        Arc::new(LiveKit {
            inner: Mutex::new(Inner {
                latency_ms: HEALTHY_LATENCY_MS,
                join_fail: 0,
                publish_fail: 0,
                rng: SimRng::fork(seed, "livekit"),
                next_sid: 1,
                participants: BTreeMap::new(),
                joins: 0,
                publishes: 0,
                unpublishes: 0,
                silent: false,
                conns: 0,
            }),
            recorder,
            traced: false,
        })
    }

    /// A fresh peer that also records each connection's accept, requests
    /// and answer latencies (the phase boundaries of `publisher-phases`).
    pub fn trace_connections(seed: u64, recorder: Arc<Recorder>) -> Arc<LiveKit> {
        let mut lk = Arc::into_inner(LiveKit::new(seed, recorder)).expect("fresh");
        lk.traced = true;
        Arc::new(lk)
    }

    /// Swallow requests from now on (`true`: accepted connections stay
    /// open, requests are read, nothing is answered or done), or answer
    /// again (`false`).
    pub fn set_silent(&self, silent: bool) {
        self.inner().silent = silent;
    }

    fn trace(&self, e: LiveKitEvent) {
        if self.traced {
            self.record(e);
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, e: LiveKitEvent) {
        self.recorder.peer("livekit", e);
    }

    /// RPC latency range from now on.
    pub fn set_latency(&self, min_ms: u64, max_ms: u64) {
        self.inner().latency_ms = (min_ms, max_ms.max(min_ms));
    }

    /// Share of joins and publishes refused from now on.
    pub fn set_errors(&self, join_percent: u8, publish_percent: u8) {
        let mut i = self.inner();
        i.join_fail = join_percent.min(100);
        i.publish_fail = publish_percent.min(100);
    }

    /// Healthy again (the heal).
    pub fn heal(&self) {
        let mut i = self.inner();
        i.latency_ms = HEALTHY_LATENCY_MS;
        i.join_fail = 0;
        i.publish_fail = 0;
        i.silent = false;
    }

    /// Participants still in the room, with their live publications.
    pub fn participants(&self) -> BTreeMap<u64, BTreeMap<String, TrackKind>> {
        self.inner().participants.clone()
    }

    /// (joins, publishes, unpublishes) answered successfully.
    pub fn counts(&self) -> (u64, u64, u64) {
        let i = self.inner();
        (i.joins, i.publishes, i.unpublishes)
    }

    /// One request's latency and whether it is refused.
    fn decide(&self, req: &SignalRequest) -> (Duration, bool) {
        let mut i = self.inner();
        let (lo, hi) = i.latency_ms;
        let latency = Duration::from_millis(i.rng.range(lo, hi));
        let pct = match req {
            SignalRequest::Join { .. } => i.join_fail,
            SignalRequest::Publish { .. } => i.publish_fail,
            _ => 0,
        };
        let refuse = pct > 0 && i.rng.chance(f64::from(pct) / 100.0);
        (latency, refuse)
    }

    /// Applies one request from the connection whose participant is
    /// `attempt` (once joined).
    fn apply(&self, who: &mut Option<u64>, req: SignalRequest, refuse: bool) -> SignalResponse {
        match req {
            SignalRequest::Join { attempt, .. } => {
                if refuse {
                    self.record(LiveKitEvent::JoinRefused {
                        attempt,
                        status: 503,
                    });
                    return SignalResponse::Error { status: 503 };
                }
                {
                    let mut i = self.inner();
                    i.participants.insert(attempt, BTreeMap::new());
                    i.joins += 1;
                }
                *who = Some(attempt);
                self.record(LiveKitEvent::Joined { attempt });
                SignalResponse::Joined
            }
            SignalRequest::Publish { track } => {
                let Some(attempt) = *who else {
                    return SignalResponse::Error { status: 403 };
                };
                if refuse {
                    self.record(LiveKitEvent::PublishRefused {
                        attempt,
                        track,
                        status: 503,
                    });
                    return SignalResponse::Error { status: 503 };
                }
                let sid = {
                    let mut i = self.inner();
                    let sid = format!("TR_{}", i.next_sid);
                    i.next_sid += 1;
                    i.publishes += 1;
                    i.participants
                        .entry(attempt)
                        .or_default()
                        .insert(sid.clone(), track);
                    sid
                };
                self.record(LiveKitEvent::Published {
                    attempt,
                    track,
                    sid: sid.clone(),
                });
                SignalResponse::Published { track, sid }
            }
            SignalRequest::Unpublish { sid } => {
                let Some(attempt) = *who else {
                    return SignalResponse::Error { status: 403 };
                };
                let removed = {
                    let mut i = self.inner();
                    let r = i
                        .participants
                        .get_mut(&attempt)
                        .and_then(|p| p.remove(&sid));
                    if r.is_some() {
                        i.unpublishes += 1;
                    }
                    r
                };
                match removed {
                    Some(track) => {
                        self.record(LiveKitEvent::Unpublished {
                            attempt,
                            track,
                            sid: sid.clone(),
                        });
                        SignalResponse::Unpublished { sid }
                    }
                    None => {
                        self.record(LiveKitEvent::UnpublishUnknown { attempt, sid });
                        SignalResponse::Error { status: 404 }
                    }
                }
            }
            SignalRequest::Leave => {
                if let Some(attempt) = who.take() {
                    self.leave(attempt, "leave");
                }
                SignalResponse::Left
            }
        }
    }

    fn leave(&self, attempt: u64, cause: &'static str) {
        let tracks = self.inner().participants.remove(&attempt);
        if let Some(tracks) = tracks {
            self.record(LiveKitEvent::Left {
                attempt,
                cause,
                tracks: tracks.len(),
            });
        }
    }
}

async fn connection(lk: Arc<LiveKit>, stream: relaysim_harness::engine::SimStream) {
    let id = {
        let mut i = lk.inner();
        i.conns += 1;
        i.conns
    };
    lk.trace(LiveKitEvent::Accepted { conn: id });
    let mut conn = Framed::new(stream, LengthDelimitedCodec::new());
    let mut who: Option<u64> = None;
    while let Some(Ok(bytes)) = conn.next().await {
        let Ok(req) = signal::decode::<SignalRequest>(&bytes) else {
            break;
        };
        let verb = req.verb();
        lk.trace(LiveKitEvent::Request { conn: id, verb });
        if lk.inner().silent {
            lk.record(LiveKitEvent::Ignored { conn: id, verb });
            continue;
        }
        let leaving = req == SignalRequest::Leave;
        let (latency, refuse) = lk.decide(&req);
        tokio::time::sleep(latency).await;
        lk.trace(LiveKitEvent::Answered {
            conn: id,
            verb,
            after_ms: latency.as_millis() as u64,
        });
        let resp = lk.apply(&mut who, req, refuse);
        let Ok(frame) = signal::encode(&resp) else {
            break;
        };
        if conn.send(frame).await.is_err() || leaving {
            break;
        }
    }
    if let Some(attempt) = who {
        lk.leave(attempt, "disconnect");
    }
}

/// The host's software.
pub async fn serve(lk: Arc<LiveKit>) -> relaysim_harness::HostResult {
    let mut listener =
        relaysim_core::net::Net::bind(&relaysim_harness::SimNet, &format!("0.0.0.0:{PORT}"))
            .await?;
    loop {
        let (stream, _) = listener.accept().await?;
        relaysim_core::rt::spawn(connection(lk.clone(), stream));
    }
}
