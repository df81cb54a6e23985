//! The one connection lock (upstream's `protocol_mutex`).
//!
//! Owns [`Conn`]: the tokio-tungstenite stream behind a fair (FIFO)
//! `tokio::sync::Mutex`, and the only ways to use it — a bounded read turn
//! for the reader, a non-blocking send for every fixed-path sender, and the
//! pre-fix whole send that holds the lock until its last byte is written.
//!
//! Fixed-path sends hold the lock only while the socket takes bytes: a
//! sender queues its frame and writes what the peer's window takes in one
//! poll; if bytes are left, it lets go of the lock (they stay in
//! tungstenite's write buffer, in order) and retries after `write_backoff`.
//! A read turn holds the lock for at most `read_turn`, and tungstenite's
//! read never blocks on a write. So on the fixed path nobody holds the lock
//! while waiting on the peer for longer than one read turn. Only
//! [`Conn::send_holding`] does, and only the `bulk-send-starves-recv` path
//! calls it.
//!
//! A read that fails because of what the peer sent (a malformed frame,
//! non-UTF-8 text, a frame or message over the limits) is a
//! [`Turn::Violation`] carrying the close code it deserves ([`close_code`]);
//! the session sends it with [`Conn::close`]. A peer's close frame is echoed
//! with [`Conn::echo_close`]. Neither waits longer than its grace.
//!
//! Its bounded waits (the read turn, the backoff, the close grace) are
//! [`crate::rt::timeout`] and [`crate::rt::sleep`]: tokio's timer in every
//! run, and under the shuttle checker a bound that may run out whenever its
//! task is scheduled, so the shuttle model `ws-conn`
//! (`core/tests/shuttle/ws_conn.rs`) drives this very type, over an
//! in-memory socket whose window is smaller than a push, against a
//! tungstenite peer. The contract it asserts, from a reader, a bulk writer,
//! a keepalive, the peer and a closer at once:
//!
//! 1. **Whole, in order, once.** Each sender's messages reach the peer
//!    exactly once, in the order it sent them, whole: a message's bytes
//!    (a fragmented push's frames included) stay in order in tungstenite's
//!    write buffer across every release of the lock, and no other sender's
//!    data frame lands between them (control frames may). Each peer message
//!    is read once, in order, whole, across read turns that run out.
//! 2. **No starvation on the fixed path.** [`Conn::send_bounded`] never
//!    holds the lock while it waits for the peer's window, and a read turn
//!    gives the lock back when it runs out: a peer that reads only once its
//!    own upload went through is always served, so the session cannot wedge
//!    (shuttle reports a deadlock or an endless spin otherwise).
//!    [`Conn::send_holding`] breaks this on purpose: it is the
//!    `bulk-send-starves-recv` path, and the model finds its deadlock.
//! 3. **A clean close.** After [`Conn::close`] (or the peer's close and
//!    [`Conn::echo_close`]), the peer sees exactly one close frame, after
//!    every byte of the messages sent before it; a send fails, and fails as
//!    closing ([`is_closing`]); a read turn reports the end at once. A
//!    send that was cut short by the close may still have reached the peer
//!    whole, never torn.

use crate::net::NetStream;
use futures_util::{FutureExt, Sink, SinkExt, StreamExt};
use std::future::poll_fn;
use std::pin::Pin;
use std::task::ready;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// What one read turn produced.
#[derive(Debug)]
pub enum Turn {
    Message(Message),
    /// Nothing complete arrived within the turn.
    Idle,
    /// The connection is over (EOF, or the error's kind).
    Ended(String),
    /// The peer broke the protocol: the read failed with the error's kind,
    /// and the session should close with `code` (1002, 1007 or 1009).
    Violation {
        code: u16,
        kind: String,
    },
}

/// A stable, address-free name for a WebSocket error.
pub fn error_kind(e: &WsError) -> String {
    match e {
        WsError::ConnectionClosed => "closed".into(),
        WsError::AlreadyClosed => "already-closed".into(),
        WsError::Io(io) => format!("io-{:?}", io.kind()),
        WsError::Protocol(p) => {
            // The variant's name only: some carry header values.
            let name = format!("{p:?}");
            let name = name.split(['(', ' ', '{']).next().unwrap_or("");
            format!("protocol-{name}")
        }
        WsError::Capacity(_) => "capacity".into(),
        WsError::WriteBufferFull(_) => "write-buffer-full".into(),
        WsError::Utf8(_) => "utf8".into(),
        _ => "other".into(),
    }
}

/// The close code a read error deserves, when the peer caused it: 1009 for
/// a frame or message over the limits, 1007 for text that is not UTF-8,
/// 1002 for any other breach of the framing. `None` when there is nobody
/// to tell (I/O errors, EOF, a reset without a close handshake) or the
/// connection is already closing.
pub fn close_code(e: &WsError) -> Option<u16> {
    use crate::session::ws::close_code::{INVALID_DATA, PROTOCOL, TOO_BIG};
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    match e {
        WsError::Capacity(_) => Some(TOO_BIG),
        WsError::Utf8(_) => Some(INVALID_DATA),
        WsError::Protocol(
            ProtocolError::ResetWithoutClosingHandshake
            | ProtocolError::SendAfterClosing
            | ProtocolError::ReceivedAfterClosing,
        ) => None,
        WsError::Protocol(_) => Some(PROTOCOL),
        _ => None,
    }
}

/// Is this the error of a send on a connection that is closing (the peer's
/// close frame already read)? The reader reports such an end itself.
pub fn is_closing(e: &WsError) -> bool {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    matches!(
        e,
        WsError::ConnectionClosed
            | WsError::AlreadyClosed
            | WsError::Protocol(ProtocolError::SendAfterClosing)
    )
}

/// The connection shared by the reader, the bulk writer and the keepalive.
pub struct Conn<S> {
    ws: Mutex<WebSocketStream<S>>,
    read_turn: Duration,
    write_backoff: Duration,
}

impl<S: NetStream> Conn<S> {
    pub fn new(ws: WebSocketStream<S>, read_turn: Duration, write_backoff: Duration) -> Conn<S> {
        Conn {
            ws: Mutex::new(ws),
            read_turn,
            write_backoff,
        }
    }

    /// One read turn: the lock for at most `read_turn`. Cancel-safe (a
    /// partial frame stays in tungstenite's read buffer).
    pub async fn read_turn(&self) -> Turn {
        let mut ws = self.ws.lock().await;
        match crate::rt::timeout(self.read_turn, ws.next()).await {
            Err(_) => Turn::Idle,
            Ok(None) => Turn::Ended("eof".into()),
            Ok(Some(Ok(m))) => Turn::Message(m),
            Ok(Some(Err(e))) => match close_code(&e) {
                Some(code) => Turn::Violation {
                    code,
                    kind: error_kind(&e),
                },
                None => Turn::Ended(error_kind(&e)),
            },
        }
    }

    /// Sends `msg`, holding the lock only while the socket takes bytes: when
    /// the peer's window is full the sender lets go and retries after
    /// `write_backoff`, so the reader (which drains the peer's own upload)
    /// and the keepalive are never shut out. Returns once every byte of
    /// `msg` reached the socket.
    pub async fn send_bounded(&self, msg: Message) -> Result<(), WsError> {
        let mut pending = Some(msg);
        loop {
            {
                let mut ws = self.ws.lock().await;
                let step = poll_fn(|cx| {
                    if pending.is_some() {
                        ready!(Pin::new(&mut *ws).poll_ready(cx))?;
                        if let Some(m) = pending.take() {
                            Pin::new(&mut *ws).start_send(m)?;
                        }
                    }
                    Pin::new(&mut *ws).poll_flush(cx)
                });
                // One poll: write what the window takes right now. The
                // unwritten rest stays queued in tungstenite, in order.
                if let Some(result) = step.now_or_never() {
                    return result;
                }
            }
            crate::rt::sleep(self.write_backoff).await;
        }
    }

    /// Pre-fix (`bulk-send-starves-recv` only): the lock is held until every
    /// byte of `msg` is written, however long the peer takes to read.
    pub async fn send_holding(&self, msg: Message) -> Result<(), WsError> {
        let mut ws = self.ws.lock().await;
        ws.send(msg).await
    }

    /// Tries to get a close frame out within `grace`: `Some(true)` if it
    /// was written, `Some(false)` if the connection failed under it, `None`
    /// if the grace ran out (the caller reports `ws.session.close-grace`).
    pub async fn close(&self, code: u16, reason: &str, grace: Duration) -> Option<bool> {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_string().into(),
        };
        let attempt = async {
            let mut ws = self.ws.lock().await;
            ws.close(Some(frame)).await.is_ok()
        };
        crate::rt::timeout(grace, attempt).await.ok()
    }

    /// After the peer's close frame was read: gets tungstenite's echo of it
    /// (same code and reason, queued as the frame was read) out within
    /// `grace`, answered as [`Conn::close`] does.
    pub async fn echo_close(&self, grace: Duration) -> Option<bool> {
        let attempt = async {
            let mut ws = self.ws.lock().await;
            // A flush writes the queued echo; tokio-tungstenite reports the
            // connection closing under it as success.
            ws.flush().await.is_ok()
        };
        crate::rt::timeout(grace, attempt).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::ws::close_code::{INVALID_DATA, PROTOCOL, TOO_BIG};
    use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};

    /// One error of each kind the session names, with its trace name, its
    /// close code and whether it means "the connection is closing".
    fn table() -> Vec<(WsError, &'static str, Option<u16>, bool)> {
        let too_long = CapacityError::MessageTooLong {
            size: 2,
            max_size: 1,
        };
        vec![
            (WsError::ConnectionClosed, "closed", None, true),
            (WsError::AlreadyClosed, "already-closed", None, true),
            (
                WsError::Io(std::io::ErrorKind::ConnectionReset.into()),
                "io-ConnectionReset",
                None,
                false,
            ),
            (
                WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
                "protocol-ResetWithoutClosingHandshake",
                None,
                false,
            ),
            (
                WsError::Protocol(ProtocolError::SendAfterClosing),
                "protocol-SendAfterClosing",
                None,
                true,
            ),
            (
                WsError::Protocol(ProtocolError::ReceivedAfterClosing),
                "protocol-ReceivedAfterClosing",
                None,
                false,
            ),
            (
                WsError::Protocol(ProtocolError::UnknownControlFrameType(11)),
                "protocol-UnknownControlFrameType",
                Some(PROTOCOL),
                false,
            ),
            (
                WsError::Capacity(too_long),
                "capacity",
                Some(TOO_BIG),
                false,
            ),
            (
                WsError::WriteBufferFull(Box::new(Message::text("x"))),
                "write-buffer-full",
                None,
                false,
            ),
            (
                WsError::Utf8("bad".into()),
                "utf8",
                Some(INVALID_DATA),
                false,
            ),
            (WsError::AttackAttempt, "other", None, false),
        ]
    }

    /// Every error has its own stable trace name (a protocol error by its
    /// variant alone, without the values it carries), the close code the
    /// peer's breach deserves (none when nobody can be told or the close
    /// is already under way), and only a send on a closing connection
    /// counts as closing.
    #[test]
    fn each_error_has_its_name_close_code_and_closing_rule() {
        let mut names = std::collections::BTreeSet::new();
        for (e, name, code, closing) in table() {
            assert_eq!(error_kind(&e), name, "{e:?}");
            assert_eq!(close_code(&e), code, "{e:?}");
            assert_eq!(is_closing(&e), closing, "{e:?}");
            assert!(names.insert(name), "{name} twice");
        }
    }
}
