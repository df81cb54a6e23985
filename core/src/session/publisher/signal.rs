//! The room's signalling client: join, publish, unpublish and leave as RPCs
//! over one connection through the [`Net`] seam.
//!
//! Owns the wire format ([`SignalRequest`] / [`SignalResponse`], JSON in
//! length-delimited frames; the simulated `livekit` host speaks the same
//! types) and [`Room`]: a task that owns the connection and runs commands
//! one at a time, in the order they were queued, so an unpublish queued by an
//! EOS callback always reaches the room before a leave queued by `stop`.
//! It never decides anything about tracks or EOS, and never blocks a caller
//! that is not waiting for an answer (unpublish is fire-and-forget, as the
//! upstream callback runs on a streaming thread).

use crate::event::Emitter;
use crate::net::Net;
use crate::session::publisher::TrackKind;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// Client → room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SignalRequest {
    /// Join `room` as `identity`; `attempt` tells the room which publish
    /// attempt this participant is (its name in the room's records).
    Join {
        room: String,
        identity: String,
        attempt: u64,
    },
    Publish {
        track: TrackKind,
    },
    Unpublish {
        sid: String,
    },
    Leave,
}

impl SignalRequest {
    pub fn verb(&self) -> &'static str {
        match self {
            SignalRequest::Join { .. } => "join",
            SignalRequest::Publish { .. } => "publish",
            SignalRequest::Unpublish { .. } => "unpublish",
            SignalRequest::Leave => "leave",
        }
    }
}

/// Room → client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SignalResponse {
    Joined,
    Published {
        track: TrackKind,
        sid: String,
    },
    Unpublished {
        sid: String,
    },
    Left,
    /// The request was refused with an HTTP-like status.
    Error {
        status: u16,
    },
}

pub fn encode<T: Serialize>(msg: &T) -> io::Result<Bytes> {
    serde_json::to_vec(msg)
        .map(Bytes::from)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

pub fn decode<T: for<'de> Deserialize<'de>>(b: &[u8]) -> io::Result<T> {
    serde_json::from_slice(b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Why an RPC failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomError {
    /// The room refused the request.
    Refused { verb: &'static str, status: u16 },
    /// The connection failed or broke (I/O error kind, normalized).
    Lost(String),
    /// No answer within [`super::RPC_TIMEOUT`].
    Timeout { verb: &'static str },
    /// The answer did not match the request.
    Protocol(&'static str),
}

impl fmt::Display for RoomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoomError::Refused { verb, status } => write!(f, "{verb} refused: status {status}"),
            RoomError::Lost(kind) => write!(f, "connection lost: {kind}"),
            RoomError::Timeout { verb } => write!(f, "{verb} timed out"),
            RoomError::Protocol(what) => write!(f, "protocol: {what}"),
        }
    }
}

enum Command {
    Join {
        reply: oneshot::Sender<Result<(), RoomError>>,
    },
    Publish {
        track: TrackKind,
        reply: oneshot::Sender<Result<String, RoomError>>,
    },
    Unpublish {
        sid: String,
    },
    Leave {
        reply: oneshot::Sender<bool>,
    },
}

/// Where the room is and who joins it.
#[derive(Debug, Clone)]
pub struct RoomTarget {
    /// `host:port` of the signalling endpoint.
    pub addr: String,
    pub room: String,
    pub identity: String,
    pub attempt: u64,
    pub rpc_timeout: Duration,
    pub leave_timeout: Duration,
}

/// A handle on one room session's signalling task. Cheap to clone.
#[derive(Clone)]
pub struct Room {
    commands: mpsc::UnboundedSender<Command>,
    lost: watch::Receiver<bool>,
}

impl Room {
    /// Spawns the signalling task; it connects on the first command. Its
    /// bounded waits that run out are traced through `emitter`
    /// (`publisher.signal.connect`, `.rpc`, `.leave`).
    pub fn spawn<N: Net>(net: N, target: RoomTarget, emitter: Emitter) -> (Room, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (lost_tx, lost) = watch::channel(false);
        let task = crate::rt::spawn(signal_task(net, target, rx, lost_tx, emitter));
        (Room { commands: tx, lost }, task)
    }

    pub async fn join(&self) -> Result<(), RoomError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Join { reply })?;
        rx.await
            .unwrap_or_else(|_| Err(RoomError::Lost("closed".into())))
    }

    pub async fn publish(&self, track: TrackKind) -> Result<String, RoomError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Publish { track, reply })?;
        rx.await
            .unwrap_or_else(|_| Err(RoomError::Lost("closed".into())))
    }

    /// Queues an unpublish and returns at once (callable from any thread).
    /// After the room was left it is a no-op: leaving removed the track.
    pub fn unpublish(&self, sid: String) {
        let _ = self.commands.send(Command::Unpublish { sid });
    }

    /// Queues a leave behind every queued command and waits for it; true if
    /// the room acknowledged it. The task ends after a leave.
    pub async fn leave(&self) -> bool {
        let (reply, rx) = oneshot::channel();
        if self.commands.send(Command::Leave { reply }).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// Resolves once the connection broke after having been established.
    pub async fn lost(&self) {
        let mut lost = self.lost.clone();
        let _ = lost.wait_for(|l| *l).await;
    }

    fn send(&self, cmd: Command) -> Result<(), RoomError> {
        self.commands
            .send(cmd)
            .map_err(|_| RoomError::Lost("closed".into()))
    }
}

type Conn<N> = Framed<<N as Net>::Stream, LengthDelimitedCodec>;

/// Hands an RPC's outcome back to whoever waits for it.
type Answer = Box<dyn FnOnce(Result<SignalResponse, RoomError>) + Send>;

/// One request and its answer within `timeout`; when it runs out the
/// deadline `site` is traced.
async fn rpc<N: Net>(
    conn: &mut Conn<N>,
    req: &SignalRequest,
    timeout: Duration,
    site: &'static str,
    emitter: &Emitter,
) -> Result<SignalResponse, RoomError> {
    let verb = req.verb();
    let exchange = async {
        conn.send(encode(req).map_err(|e| RoomError::Lost(e.kind().to_string()))?)
            .await
            .map_err(|e| RoomError::Lost(e.kind().to_string()))?;
        match conn.next().await {
            Some(Ok(b)) => {
                decode::<SignalResponse>(&b).map_err(|_| RoomError::Protocol("bad frame"))
            }
            Some(Err(e)) => Err(RoomError::Lost(e.kind().to_string())),
            None => Err(RoomError::Lost("eof".into())),
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => {
            emitter.deadline_fired(site);
            Err(RoomError::Timeout { verb })
        }
    }
}

async fn signal_task<N: Net>(
    net: N,
    target: RoomTarget,
    mut commands: mpsc::UnboundedReceiver<Command>,
    lost: watch::Sender<bool>,
    emitter: Emitter,
) {
    let mut conn: Option<Conn<N>> = None;
    // Once the connection failed every later command fails the same way.
    let mut dead: Option<RoomError> = None;
    while let Some(cmd) = commands.recv().await {
        if let Command::Leave { reply } = cmd {
            let acked = match (&mut conn, &dead) {
                (Some(c), None) => matches!(
                    rpc::<N>(
                        c,
                        &SignalRequest::Leave,
                        target.leave_timeout,
                        "publisher.signal.leave",
                        &emitter,
                    )
                    .await,
                    Ok(SignalResponse::Left)
                ),
                _ => false,
            };
            let _ = reply.send(acked);
            return;
        }
        if conn.is_none() && dead.is_none() {
            match tokio::time::timeout(target.rpc_timeout, net.connect(&target.addr)).await {
                Ok(Ok(s)) => conn = Some(Framed::new(s, LengthDelimitedCodec::new())),
                Ok(Err(e)) => dead = Some(RoomError::Lost(e.kind().to_string())),
                Err(_) => {
                    emitter.deadline_fired("publisher.signal.connect");
                    dead = Some(RoomError::Timeout { verb: "connect" });
                }
            }
        }
        let (req, reply): (SignalRequest, Answer) = match cmd {
            Command::Join { reply } => (
                SignalRequest::Join {
                    room: target.room.clone(),
                    identity: target.identity.clone(),
                    attempt: target.attempt,
                },
                Box::new(move |r| {
                    let _ = reply.send(r.and_then(|resp| match resp {
                        SignalResponse::Joined => Ok(()),
                        SignalResponse::Error { status } => Err(RoomError::Refused {
                            verb: "join",
                            status,
                        }),
                        _ => Err(RoomError::Protocol("unexpected answer to join")),
                    }));
                }),
            ),
            Command::Publish { track, reply } => (
                SignalRequest::Publish { track },
                Box::new(move |r| {
                    let _ = reply.send(r.and_then(|resp| match resp {
                        SignalResponse::Published { sid, .. } => Ok(sid),
                        SignalResponse::Error { status } => Err(RoomError::Refused {
                            verb: "publish",
                            status,
                        }),
                        _ => Err(RoomError::Protocol("unexpected answer to publish")),
                    }));
                }),
            ),
            Command::Unpublish { sid } => (SignalRequest::Unpublish { sid }, Box::new(|_| {})),
            Command::Leave { .. } => unreachable!("handled above"),
        };
        let result = match (&mut conn, &dead) {
            (_, Some(e)) => Err(e.clone()),
            (Some(c), None) => {
                let r = rpc::<N>(
                    c,
                    &req,
                    target.rpc_timeout,
                    "publisher.signal.rpc",
                    &emitter,
                )
                .await;
                if let Err(
                    e @ (RoomError::Lost(_) | RoomError::Timeout { .. } | RoomError::Protocol(_)),
                ) = &r
                {
                    dead = Some(e.clone());
                    conn = None;
                    lost.send_replace(true);
                }
                r
            }
            (None, None) => Err(RoomError::Protocol("no connection")),
        };
        reply(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_round_trip() {
        let reqs = [
            SignalRequest::Join {
                room: "r".into(),
                identity: "gst".into(),
                attempt: 3,
            },
            SignalRequest::Publish {
                track: TrackKind::Audio,
            },
            SignalRequest::Unpublish { sid: "TR_1".into() },
            SignalRequest::Leave,
        ];
        for r in reqs {
            assert_eq!(decode::<SignalRequest>(&encode(&r).unwrap()).unwrap(), r);
        }
        let resp = SignalResponse::Published {
            track: TrackKind::Video,
            sid: "TR_2".into(),
        };
        let text = String::from_utf8(encode(&resp).unwrap().to_vec()).unwrap();
        assert_eq!(text, r#"{"type":"published","track":"video","sid":"TR_2"}"#);
        assert!(decode::<SignalResponse>(b"nope").is_err());
    }
}
