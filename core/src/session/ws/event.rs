//! [`WsEvent`]: the ws session's part of the trace vocabulary, carried by
//! [`crate::event::Event::Ws`] and emitted only through
//! [`crate::event::Emitter`].
//!
//! Normalized form `ws.<name> key=value …`. Chatty traffic (`params` and its
//! acks, slices that are sent) is deliberately not traced one by one; every
//! header, payload outcome, bulk push, keepalive verdict and session edge is,
//! and so is every hostile-input verdict (a failed `accept()`, a refused
//! connection, a full outbound queue; protocol violations show as the
//! session's close code and reason). Never carries addresses, ports or wall
//! time: errors are reduced to kinds.

use crate::session::ws::protocol::PayloadKind;
use std::fmt;

/// A bulk push, as the trace names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Push {
    Mirror { swap: u64 },
    Stem { swap: u64, part: String },
    Slice { n: u64 },
}

impl fmt::Display for Push {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Push::Mirror { swap } => write!(f, "what=mirror swap={swap}"),
            Push::Stem { swap, part } => write!(f, "what=stem swap={swap} part={part}"),
            Push::Slice { n } => write!(f, "what=slice n={n}"),
        }
    }
}

/// One observable step of a ws session (host `ws-server` in simulations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// The WebSocket handshake of connection `conn` completed.
    SessionOpen { conn: u64 },
    /// The session ended; `code` is the close code sent (or received).
    SessionClosed {
        conn: u64,
        code: Option<u16>,
        reason: String,
    },
    /// A header arrived; its payload is now due.
    Header {
        conn: u64,
        seq: u64,
        kind: PayloadKind,
        bytes: u64,
    },
    /// A header's payload arrived and was applied.
    PayloadApplied {
        conn: u64,
        seq: u64,
        kind: PayloadKind,
        bytes: u64,
        crc: u32,
    },
    /// A header's payload was missing or wrong; `*_failed` answered.
    PayloadFailed {
        conn: u64,
        seq: u64,
        kind: PayloadKind,
        reason: &'static str,
    },
    /// A binary message with no header waiting for it was dropped.
    PayloadStray { conn: u64, bytes: u64 },
    /// A text message that is not a command; `error` answered.
    Rejected {
        conn: u64,
        seq: Option<u64>,
        error: String,
    },
    /// A swap was accepted (`swap` numbers them server-wide).
    SwapAccepted { conn: u64, seq: u64, swap: u64 },
    /// A swap was refused: one is still being generated or pushed.
    SwapBusy { conn: u64, seq: u64 },
    /// A push entered the outbound queue; `queued` bytes now wait.
    PushQueued {
        conn: u64,
        push: Push,
        bytes: u64,
        queued: u64,
    },
    /// The writer started a push: `fragments` frames under the policy,
    /// `crc` of the bytes it sends.
    PushBegin {
        conn: u64,
        push: Push,
        bytes: u64,
        fragments: u64,
        crc: u32,
    },
    /// The writer saw the push's last byte written.
    PushSent { conn: u64, push: Push, bytes: u64 },
    /// A slice was shed before encoding: too many bytes waiting.
    SliceShed { conn: u64, n: u64, queued: u64 },
    /// A pong came back later than half the deadline.
    SlowPong { conn: u64, ping: u64, rtt_ms: u64 },
    /// No pong within the deadline: the session is killed with 1011.
    KeepaliveTimeout {
        conn: u64,
        ping: u64,
        waited_ms: u64,
    },
    /// `accept()` failed (its error kind); the loop pauses `backoff_ms`
    /// and goes on.
    AcceptError { kind: String, backoff_ms: u64 },
    /// A connection over the session cap was refused: closed with `code`
    /// after its handshake, or (`None`) dropped before it when too many
    /// refusals are already in flight.
    SessionRefused { code: Option<u16>, cap: u64 },
    /// An answer or push of `bytes` did not fit the outbound queue
    /// (`queued` waiting, `limit`): the session closes with 1008.
    QueueFull {
        conn: u64,
        queued: u64,
        bytes: u64,
        limit: u64,
    },
}

impl WsEvent {
    pub fn name(&self) -> &'static str {
        match self {
            WsEvent::SessionOpen { .. } => "ws.session.open",
            WsEvent::SessionClosed { .. } => "ws.session.closed",
            WsEvent::Header { .. } => "ws.header",
            WsEvent::PayloadApplied { .. } => "ws.payload.applied",
            WsEvent::PayloadFailed { .. } => "ws.payload.failed",
            WsEvent::PayloadStray { .. } => "ws.payload.stray",
            WsEvent::Rejected { .. } => "ws.cmd.rejected",
            WsEvent::SwapAccepted { .. } => "ws.swap.accepted",
            WsEvent::SwapBusy { .. } => "ws.swap.busy",
            WsEvent::PushQueued { .. } => "ws.push.queued",
            WsEvent::PushBegin { .. } => "ws.push.begin",
            WsEvent::PushSent { .. } => "ws.push.sent",
            WsEvent::SliceShed { .. } => "ws.slice.shed",
            WsEvent::SlowPong { .. } => "ws.keepalive.slow-pong",
            WsEvent::KeepaliveTimeout { .. } => "ws.keepalive.timeout",
            WsEvent::AcceptError { .. } => "ws.accept.error",
            WsEvent::SessionRefused { .. } => "ws.session.refused",
            WsEvent::QueueFull { .. } => "ws.queue.full",
        }
    }
}

impl fmt::Display for WsEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.name())?;
        match self {
            WsEvent::SessionOpen { conn } => write!(f, "conn={conn}"),
            WsEvent::SessionClosed { conn, code, reason } => {
                write!(f, "conn={conn} ")?;
                match code {
                    Some(c) => write!(f, "code={c}")?,
                    None => write!(f, "code=none")?,
                }
                write!(f, " reason={reason}")
            }
            WsEvent::Header {
                conn,
                seq,
                kind,
                bytes,
            } => write!(f, "conn={conn} seq={seq} kind={kind} bytes={bytes}"),
            WsEvent::PayloadApplied {
                conn,
                seq,
                kind,
                bytes,
                crc,
            } => write!(
                f,
                "conn={conn} seq={seq} kind={kind} bytes={bytes} crc={crc:08x}"
            ),
            WsEvent::PayloadFailed {
                conn,
                seq,
                kind,
                reason,
            } => write!(f, "conn={conn} seq={seq} kind={kind} reason={reason}"),
            WsEvent::PayloadStray { conn, bytes } => write!(f, "conn={conn} bytes={bytes}"),
            WsEvent::Rejected { conn, seq, error } => {
                write!(f, "conn={conn} ")?;
                match seq {
                    Some(s) => write!(f, "seq={s}")?,
                    None => write!(f, "seq=none")?,
                }
                write!(f, " error={error:?}")
            }
            WsEvent::SwapAccepted { conn, seq, swap } => {
                write!(f, "conn={conn} seq={seq} swap={swap}")
            }
            WsEvent::SwapBusy { conn, seq } => write!(f, "conn={conn} seq={seq}"),
            WsEvent::PushQueued {
                conn,
                push,
                bytes,
                queued,
            } => write!(f, "conn={conn} {push} bytes={bytes} queued={queued}"),
            WsEvent::PushBegin {
                conn,
                push,
                bytes,
                fragments,
                crc,
            } => write!(
                f,
                "conn={conn} {push} bytes={bytes} fragments={fragments} crc={crc:08x}"
            ),
            WsEvent::PushSent { conn, push, bytes } => {
                write!(f, "conn={conn} {push} bytes={bytes}")
            }
            WsEvent::SliceShed { conn, n, queued } => {
                write!(f, "conn={conn} n={n} queued={queued}")
            }
            WsEvent::SlowPong { conn, ping, rtt_ms } => {
                write!(f, "conn={conn} ping={ping} rtt_ms={rtt_ms}")
            }
            WsEvent::KeepaliveTimeout {
                conn,
                ping,
                waited_ms,
            } => write!(f, "conn={conn} ping={ping} waited_ms={waited_ms}"),
            WsEvent::AcceptError { kind, backoff_ms } => {
                write!(f, "kind={kind} backoff_ms={backoff_ms}")
            }
            WsEvent::SessionRefused { code, cap } => {
                match code {
                    Some(c) => write!(f, "code={c}")?,
                    None => write!(f, "code=none")?,
                }
                write!(f, " cap={cap}")
            }
            WsEvent::QueueFull {
                conn,
                queued,
                bytes,
                limit,
            } => write!(f, "conn={conn} queued={queued} bytes={bytes} limit={limit}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    #[test]
    fn normalized_forms() {
        let e = Event::Ws(WsEvent::PushBegin {
            conn: 1,
            push: Push::Stem {
                swap: 2,
                part: "vocals".into(),
            },
            bytes: 1024,
            fragments: 1,
            crc: 0xab,
        });
        assert_eq!(e.name(), "ws.push.begin");
        assert_eq!(
            e.to_string(),
            "ws.push.begin conn=1 what=stem swap=2 part=vocals bytes=1024 fragments=1 crc=000000ab"
        );
        let c = Event::Ws(WsEvent::SessionClosed {
            conn: 3,
            code: Some(1011),
            reason: "keepalive-timeout".into(),
        });
        assert_eq!(
            c.to_string(),
            "ws.session.closed conn=3 code=1011 reason=keepalive-timeout"
        );
    }

    #[test]
    fn hostile_input_forms() {
        let lines = [
            WsEvent::AcceptError {
                kind: "io-Uncategorized".into(),
                backoff_ms: 10,
            },
            WsEvent::SessionRefused {
                code: Some(1013),
                cap: 2,
            },
            WsEvent::SessionRefused { code: None, cap: 2 },
            WsEvent::QueueFull {
                conn: 4,
                queued: 4000,
                bytes: 64,
                limit: 4096,
            },
        ]
        .map(|e| Event::Ws(e).to_string());
        assert_eq!(
            lines,
            [
                "ws.accept.error kind=io-Uncategorized backoff_ms=10",
                "ws.session.refused code=1013 cap=2",
                "ws.session.refused code=none cap=2",
                "ws.queue.full conn=4 queued=4000 bytes=64 limit=4096",
            ]
        );
    }
}
