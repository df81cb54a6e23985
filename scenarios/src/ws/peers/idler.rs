//! The idler (`ws-idler` host): a second client of the ws server that
//! opens a connection and then does nothing, on the plan's command.
//!
//! Against a server at its session cap it is refused; what it does not do
//! is what the refusal must bound. Without the upgrade (`upgrade: false`)
//! it connects and never sends its WebSocket request: the refusal's
//! handshake wait runs out. With it, it sends a well-formed upgrade
//! request and then never reads the server's answer nor its close 1013.
//! Either way it holds the connection `hold_ms`, then drops it.
//!
//! Owns [`Idler`] and [`IdlerEvent`]; never reads the server's bytes and
//! never decides anything about them.

use relaysim_core::net::Net;
use relaysim_harness::{Recorder, SimNet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// What the idler records (`ws.idler.*`, host `ws-idler`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdlerEvent {
    /// Connection `n`'s TCP connection is up (and its upgrade request
    /// written, with `upgrade`).
    Open {
        /// The idler's connection number, from 1.
        n: u64,
        /// Whether it sent a WebSocket upgrade request.
        upgrade: bool,
    },
    /// Connection `n` could not be opened.
    Failed {
        /// The idler's connection number, from 1.
        n: u64,
    },
    /// It dropped connection `n` after holding it.
    Dropped {
        /// The idler's connection number, from 1.
        n: u64,
    },
    /// The server closed connection `n` (end of stream or reset),
    /// `after_ms` after it was opened. Seen only without the upgrade (the
    /// idler reads nothing else: there is nothing to read before the
    /// server's answer to a request it never sent).
    Closed {
        /// The idler's connection number, from 1.
        n: u64,
        /// Milliseconds after it was opened.
        after_ms: u64,
    },
}

impl fmt::Display for IdlerEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdlerEvent::Open { n, upgrade } => write!(f, "ws.idler.open n={n} upgrade={upgrade}"),
            IdlerEvent::Failed { n } => write!(f, "ws.idler.failed n={n}"),
            IdlerEvent::Dropped { n } => write!(f, "ws.idler.dropped n={n}"),
            IdlerEvent::Closed { n, after_ms } => {
                write!(f, "ws.idler.closed n={n} after_ms={after_ms}")
            }
        }
    }
}

/// The idler, shared by its host task and the world.
#[derive(Debug)]
pub struct Idler {
    server: String,
    control: mpsc::UnboundedSender<(bool, u64)>,
    control_rx: Mutex<Option<mpsc::UnboundedReceiver<(bool, u64)>>>,
    recorder: Arc<Recorder>,
    host: &'static str,
}

impl Idler {
    /// A fresh peer on `host` that connects to `server` (`host:port`).
    pub fn new(host: &'static str, server: String, recorder: Arc<Recorder>) -> Arc<Idler> {
        let (control, rx) = mpsc::unbounded_channel();
        Arc::new(Idler {
            server,
            control,
            control_rx: Mutex::new(Some(rx)),
            recorder,
            host,
        })
    }

    /// The plan's command: open a connection (with an upgrade request or
    /// not) and hold it `hold_ms`.
    pub fn apply(&self, upgrade: bool, hold_ms: u64) {
        let _ = self.control.send((upgrade, hold_ms));
    }

    fn record(&self, e: IdlerEvent) {
        self.recorder.peer(self.host, e);
    }
}

/// The request a browser would send (RFC 6455 §1.3's sample key).
const UPGRADE: &[u8] = b"GET /ws HTTP/1.1\r\nHost: ws-server\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The host's software: one task per commanded connection.
pub async fn serve(idler: Arc<Idler>) -> relaysim_harness::HostResult {
    let Some(mut control) = idler
        .control_rx
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    else {
        return Ok(());
    };
    let mut n = 0u64;
    while let Some((upgrade, hold_ms)) = control.recv().await {
        n += 1;
        let idler = idler.clone();
        relaysim_core::rt::spawn(async move {
            let Ok(mut stream) = SimNet.connect(&idler.server).await else {
                idler.record(IdlerEvent::Failed { n });
                return;
            };
            if upgrade && stream.write_all(UPGRADE).await.is_err() {
                idler.record(IdlerEvent::Failed { n });
                return;
            }
            idler.record(IdlerEvent::Open { n, upgrade });
            let opened = tokio::time::Instant::now();
            let hold = tokio::time::sleep(Duration::from_millis(hold_ms));
            if upgrade {
                hold.await;
            } else {
                let mut byte = [0u8; 1];
                tokio::select! {
                    _ = hold => {}
                    _ = stream.read(&mut byte) => {
                        let after_ms = opened.elapsed().as_millis() as u64;
                        idler.record(IdlerEvent::Closed { n, after_ms });
                        return;
                    }
                }
            }
            drop(stream);
            idler.record(IdlerEvent::Dropped { n });
        });
    }
    Ok(())
}
