//! The one connection lock (upstream's `protocol_mutex`).
//!
//! Owns [`Conn`]: the tokio-tungstenite stream behind a fair (FIFO)
//! `tokio::sync::Mutex`, and the only ways to use it — a bounded read turn
//! for the reader, a bounded-hold send for every fixed-path sender, and the
//! pre-fix whole send that holds the lock until its last byte is written.
//!
//! Bounded hold: a sender queues its frame and flushes for at most
//! `write_hold`; when the peer's window is full it lets go of the lock (the
//! unwritten bytes stay in tungstenite's write buffer, in order) and queues
//! up again behind whoever was waiting — the reader, which drains the peer's
//! own upload, and the keepalive. A read turn holds the lock for at most
//! `read_turn`; tungstenite's read never blocks on a write. So on the fixed
//! path nobody holds the lock longer than `max(read_turn, write_hold)` while
//! waiting on the peer. Only [`Conn::send_holding`] may, and only the
//! `bulk-send-starves-recv` path calls it.

use crate::net::NetStream;
use futures_util::{Sink, SinkExt, StreamExt};
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
}

/// A stable, address-free name for a WebSocket error.
pub fn error_kind(e: &WsError) -> String {
    match e {
        WsError::ConnectionClosed => "closed".into(),
        WsError::AlreadyClosed => "already-closed".into(),
        WsError::Io(io) => format!("io-{:?}", io.kind()),
        WsError::Protocol(_) => "protocol".into(),
        WsError::Capacity(_) => "capacity".into(),
        WsError::WriteBufferFull(_) => "write-buffer-full".into(),
        WsError::Utf8(_) => "utf8".into(),
        _ => "other".into(),
    }
}

/// The connection shared by the reader, the bulk writer and the keepalive.
pub struct Conn<S> {
    ws: Mutex<WebSocketStream<S>>,
    read_turn: Duration,
    write_hold: Duration,
}

impl<S: NetStream> Conn<S> {
    pub fn new(ws: WebSocketStream<S>, read_turn: Duration, write_hold: Duration) -> Conn<S> {
        Conn {
            ws: Mutex::new(ws),
            read_turn,
            write_hold,
        }
    }

    /// One read turn: the lock for at most `read_turn`. Cancel-safe (a
    /// partial frame stays in tungstenite's read buffer).
    pub async fn read_turn(&self) -> Turn {
        let mut ws = self.ws.lock().await;
        match tokio::time::timeout(self.read_turn, ws.next()).await {
            Err(_) => Turn::Idle,
            Ok(None) => Turn::Ended("eof".into()),
            Ok(Some(Ok(m))) => Turn::Message(m),
            Ok(Some(Err(e))) => Turn::Ended(error_kind(&e)),
        }
    }

    /// Sends `msg` holding the lock at most `write_hold` at a time: while the
    /// peer's window is full the lock is released and re-queued for. Returns
    /// once every byte of `msg` reached the socket.
    pub async fn send_bounded(&self, msg: Message) -> Result<(), WsError> {
        let mut pending = Some(msg);
        loop {
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
            if let Ok(result) = tokio::time::timeout(self.write_hold, step).await {
                return result;
            }
            // The window is full: let the reader and the keepalive in (the
            // mutex is FIFO, so they go first), then carry on flushing.
            drop(ws);
        }
    }

    /// Pre-fix (`bulk-send-starves-recv` only): the lock is held until every
    /// byte of `msg` is written, however long the peer takes to read.
    pub async fn send_holding(&self, msg: Message) -> Result<(), WsError> {
        let mut ws = self.ws.lock().await;
        ws.send(msg).await
    }

    /// Tries to get a close frame out within `grace`. True if it was written.
    pub async fn close(&self, code: u16, reason: &str, grace: Duration) -> bool {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_string().into(),
        };
        let attempt = async {
            let mut ws = self.ws.lock().await;
            ws.close(Some(frame)).await.is_ok()
        };
        tokio::time::timeout(grace, attempt).await.unwrap_or(false)
    }
}
