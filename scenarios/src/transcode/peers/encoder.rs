//! A simulated hardware encoder (`enc-main`, `enc-backup`): publishes one
//! stream key to the transcode ingest on its framed wire, as the OBS peer
//! does, and can go silent where the plan tells it to.
//!
//! Unlike the OBS peer it watches its own connection as a real encoder
//! does: its connect is bounded ([`CONNECT_TIMEOUT`]), it reads the
//! ingest's side of the stream (the ingest never writes, so a read only
//! ever ends in EOF or an error: the ingest closed it), and its writes are
//! bounded ([`WRITE_TIMEOUT`]). On any end it retries after [`RETRY`] while
//! the plan wants it publishing. Silences: a connection may wait before its
//! hello ([`Encoder::mute_next`]), and a publishing connection may stop
//! sending frames for a while ([`Encoder::pause`]). A heal bounces it
//! ([`Encoder::bounce`]): the connection it holds is dropped and a new one
//! made, as an operator restarts a stream that stopped reaching viewers
//! (a half-open stream left by a blackhole is otherwise silent for ever:
//! the ingest never writes, and the simulated TCP never resets it).
//!
//! Records [`EncoderEvent`]s under its own host name: every connection's
//! attempt, transport up, hello, pauses and its end with the reason the
//! encoder saw. The phase spans and the silent-publisher oracle are
//! derived from these.

use bytes::Bytes;
use futures_util::SinkExt;
use relaysim_core::media::{Frame, MediaMsg};
use relaysim_core::net::Net;
use relaysim_harness::Recorder;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};
use tokio_util::codec::{FramedWrite, LengthDelimitedCodec};

/// The encoder gives up a connect after this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// … and a write (a full send window) after this long.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Wait before the next connection.
pub const RETRY: Duration = Duration::from_millis(500);
/// One frame every this long.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(100);
/// A keyframe every this many frames.
pub const GOP: u64 = 10;

/// What an encoder records (`enc.*`, under its host name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncoderEvent {
    /// Connection `n` is being attempted.
    Connect { n: u64 },
    /// Connection `n`'s transport is up.
    Up { n: u64 },
    /// Connection `n` sent its hello (the publish of its stream key).
    Hello { n: u64 },
    /// Connection `n` stops sending frames for `ms`.
    Pause { n: u64, ms: u64 },
    /// Connection `n` sends frames again.
    Resume { n: u64 },
    /// Connection `n` is over; `reason` is what the encoder saw.
    Down { n: u64, reason: &'static str },
}

impl EncoderEvent {
    /// The connection the event belongs to.
    pub fn n(&self) -> u64 {
        match self {
            EncoderEvent::Connect { n }
            | EncoderEvent::Up { n }
            | EncoderEvent::Hello { n }
            | EncoderEvent::Pause { n, .. }
            | EncoderEvent::Resume { n }
            | EncoderEvent::Down { n, .. } => *n,
        }
    }
}

impl fmt::Display for EncoderEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncoderEvent::Connect { n } => write!(f, "enc.connect n={n}"),
            EncoderEvent::Up { n } => write!(f, "enc.up n={n}"),
            EncoderEvent::Hello { n } => write!(f, "enc.hello n={n}"),
            EncoderEvent::Pause { n, ms } => write!(f, "enc.pause n={n} ms={ms}"),
            EncoderEvent::Resume { n } => write!(f, "enc.resume n={n}"),
            EncoderEvent::Down { n, reason } => write!(f, "enc.down n={n} reason={reason}"),
        }
    }
}

/// An encoder: control and state shared with the world.
#[derive(Debug)]
pub struct Encoder {
    host: &'static str,
    addr: String,
    key: String,
    want: watch::Sender<bool>,
    bounce: watch::Sender<u64>,
    /// The next connection waits this long before its hello.
    mute_next: Mutex<Option<u64>>,
    pauses: mpsc::UnboundedSender<u64>,
    pauses_rx: Mutex<Option<mpsc::UnboundedReceiver<u64>>>,
    attempts: AtomicU64,
    recorder: Arc<Recorder>,
}

enum End {
    Unwanted,
    Bounced,
    Closed,
    Failed(&'static str),
}

impl Encoder {
    /// An encoder on host `host` publishing `key` to `addr` (`host:port`).
    pub fn new(host: &'static str, addr: &str, key: &str, recorder: Arc<Recorder>) -> Arc<Self> {
        let (pauses, rx) = mpsc::unbounded_channel();
        Arc::new(Encoder {
            host,
            addr: addr.to_string(),
            key: key.to_string(),
            want: watch::channel(false).0,
            bounce: watch::channel(0).0,
            mute_next: Mutex::new(None),
            pauses,
            pauses_rx: Mutex::new(Some(rx)),
            attempts: AtomicU64::new(0),
            recorder,
        })
    }

    /// The stream key it publishes.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The plan's command: publish (or not).
    pub fn set_wanted(&self, on: bool) {
        self.want.send_replace(on);
    }

    /// Does the plan want it publishing?
    pub fn wanted(&self) -> bool {
        *self.want.borrow()
    }

    /// Connections attempted so far.
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Acquire)
    }

    /// Its next connection stays silent for `ms` before its hello.
    pub fn mute_next(&self, ms: u64) {
        *self.mute_next.lock().unwrap_or_else(|p| p.into_inner()) = Some(ms);
    }

    /// The publishing connection sends no frame for `ms` (ignored when
    /// none is publishing).
    pub fn pause(&self, ms: u64) {
        let _ = self.pauses.send(ms);
    }

    /// Drops the connection it holds and makes a new one; forgets silences.
    pub fn bounce(&self) {
        self.mute_next
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.bounce.send_modify(|b| *b += 1);
    }

    fn record(&self, e: EncoderEvent) {
        self.recorder.peer(self.host, e);
    }

    async fn connection<N: Net>(
        &self,
        net: &N,
        n: u64,
        want: &mut watch::Receiver<bool>,
        bounce: &mut watch::Receiver<u64>,
        pauses: &mut mpsc::UnboundedReceiver<u64>,
    ) -> End {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, net.connect(&self.addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => return End::Failed("refused"),
            Err(_) => return End::Failed("connect-timeout"),
        };
        self.record(EncoderEvent::Up { n });
        let (mut rd, wr) = tokio::io::split(stream);
        let mut out = FramedWrite::new(wr, LengthDelimitedCodec::new());
        let mut buf = [0u8; 64];
        // The ingest never writes: a read ends only when it closed the
        // connection (EOF or an error).
        let closed = async move {
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        tokio::pin!(closed);
        // Pauses for a connection not yet publishing are void.
        while pauses.try_recv().is_ok() {}
        let mute = self
            .mute_next
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let mut silent_until = mute.map(|ms| tokio::time::Instant::now() + ms_dur(ms));
        let mut hello = false;
        let mut seq = 0u64;
        let mut tick = tokio::time::interval(FRAME_INTERVAL);
        loop {
            let quiet = silent_until;
            let wake = async move {
                match quiet {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = async { let _ = want.wait_for(|w| !*w).await; } => return End::Unwanted,
                _ = bounce.changed() => return End::Bounced,
                _ = &mut closed => return End::Closed,
                _ = wake => {
                    silent_until = None;
                    if hello {
                        self.record(EncoderEvent::Resume { n });
                    }
                }
                Some(ms) = pauses.recv(), if hello && silent_until.is_none() => {
                    self.record(EncoderEvent::Pause { n, ms });
                    silent_until = Some(tokio::time::Instant::now() + ms_dur(ms));
                }
                _ = tick.tick(), if silent_until.is_none() => {
                    let msg = if hello {
                        let frame = Frame {
                            seq,
                            ts_ms: seq * FRAME_INTERVAL.as_millis() as u64,
                            keyframe: seq % GOP == 0,
                            payload: Bytes::from_static(&[0xCD; 32]),
                        };
                        seq += 1;
                        MediaMsg::Frame(frame)
                    } else {
                        MediaMsg::Publish { stream_key: self.key.clone() }
                    };
                    match tokio::time::timeout(WRITE_TIMEOUT, out.send(msg.encode())).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return End::Failed("write-error"),
                        Err(_) => return End::Failed("write-timeout"),
                    }
                    if !hello {
                        hello = true;
                        self.record(EncoderEvent::Hello { n });
                    }
                }
            }
        }
    }
}

fn ms_dur(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// The host's software: a connection at a time while wanted.
pub async fn serve(enc: Arc<Encoder>) -> relaysim_harness::HostResult {
    let net = relaysim_harness::SimNet;
    let mut want = enc.want.subscribe();
    let mut bounce = enc.bounce.subscribe();
    let rx = enc
        .pauses_rx
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let Some(mut pauses) = rx else {
        return Ok(());
    };
    loop {
        if want.wait_for(|w| *w).await.is_err() {
            return Ok(());
        }
        bounce.borrow_and_update();
        let n = enc.attempts.fetch_add(1, Ordering::AcqRel) + 1;
        enc.record(EncoderEvent::Connect { n });
        let end = enc
            .connection(&net, n, &mut want, &mut bounce, &mut pauses)
            .await;
        let reason = match end {
            End::Unwanted => "unwanted",
            End::Bounced => "bounced",
            End::Closed => "closed",
            End::Failed(r) => r,
        };
        enc.record(EncoderEvent::Down { n, reason });
        if !matches!(end, End::Unwanted | End::Bounced) {
            tokio::time::sleep(RETRY).await;
        }
    }
}
