//! The simulated publisher (`obs` host, or a named one): publishes frames to
//! the relay while the plan wants it connected.

use bytes::Bytes;
use futures_util::SinkExt;
use relaysim_core::media::{Frame, MediaMsg};
use relaysim_core::net::Net;
use relaysim_harness::Recorder;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::codec::{FramedWrite, LengthDelimitedCodec};

/// What the publisher records (`obs.*`, host `obs` or its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObsEvent {
    /// It is connected (its `n`-th connection).
    Up {
        /// Connection number, from 1.
        n: u64,
    },
    /// It dropped its `n`-th connection.
    Down {
        /// Connection number, from 1.
        n: u64,
    },
}

impl std::fmt::Display for ObsEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObsEvent::Up { n } => write!(f, "obs.up n={n}"),
            ObsEvent::Down { n } => write!(f, "obs.down n={n}"),
        }
    }
}

/// Frames per second the publisher sends.
pub const FPS: u64 = 10;
/// A keyframe every this many frames.
pub const GOP: u64 = 10;
/// Wait before retrying a failed connect.
pub const RETRY: Duration = Duration::from_millis(500);

/// Control and state of the publisher, shared with the world.
#[derive(Debug)]
pub struct Publisher {
    /// The host name its events are recorded under.
    host: &'static str,
    want: watch::Sender<bool>,
    connections: AtomicU64,
    frames_sent: AtomicU64,
    recorder: Arc<Recorder>,
    relay_addr: String,
    stream_key: String,
    frame_interval: Duration,
    retry: Duration,
}

impl Publisher {
    /// A publisher of the relay at `relay_addr` (`host:port`), 10 frames/s.
    pub fn new(relay_addr: &str, stream_key: &str, recorder: Arc<Recorder>) -> Arc<Publisher> {
        Publisher::with_host("obs", relay_addr, stream_key, recorder, 1)
    }

    /// A publisher recording its events as host `host` (worlds with several).
    pub fn named(
        host: &'static str,
        relay_addr: &str,
        stream_key: &str,
        recorder: Arc<Recorder>,
    ) -> Arc<Publisher> {
        Publisher::with_host(host, relay_addr, stream_key, recorder, 1)
    }

    /// The same publisher with every interval divided by `factor` (the
    /// real-time comparison runs the scenario's timings scaled down).
    pub fn new_scaled(
        relay_addr: &str,
        stream_key: &str,
        recorder: Arc<Recorder>,
        factor: u32,
    ) -> Arc<Publisher> {
        Publisher::with_host("obs", relay_addr, stream_key, recorder, factor)
    }

    fn with_host(
        host: &'static str,
        relay_addr: &str,
        stream_key: &str,
        recorder: Arc<Recorder>,
        factor: u32,
    ) -> Arc<Publisher> {
        let (want, _) = watch::channel(false);
        let factor = factor.max(1);
        Arc::new(Publisher {
            host,
            want,
            connections: AtomicU64::new(0),
            frames_sent: AtomicU64::new(0),
            recorder,
            relay_addr: relay_addr.to_string(),
            stream_key: stream_key.to_string(),
            frame_interval: Duration::from_millis(1000 / FPS) / factor,
            retry: RETRY / factor,
        })
    }

    /// The plan's command: be connected (or not).
    pub fn set_wanted(&self, connected: bool) {
        self.want.send_replace(connected);
    }

    /// Does the plan currently want it connected?
    pub fn wanted(&self) -> bool {
        *self.want.borrow()
    }

    /// Connections made so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Acquire)
    }

    /// Frames sent so far.
    pub fn frames_sent(&self) -> u64 {
        self.frames_sent.load(Ordering::Acquire)
    }

    /// One connection: publish until unwanted or the link breaks.
    async fn session<N: Net>(
        &self,
        net: &N,
        want: &mut watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        let stream = net.connect(&self.relay_addr).await?;
        let mut out = FramedWrite::new(stream, LengthDelimitedCodec::new());
        out.send(
            MediaMsg::Publish {
                stream_key: self.stream_key.clone(),
            }
            .encode(),
        )
        .await?;
        let n = self.connections.fetch_add(1, Ordering::AcqRel) + 1;
        self.recorder.peer(self.host, ObsEvent::Up { n });
        let mut seq = 0;
        let mut tick = tokio::time::interval(self.frame_interval);
        let result = loop {
            tokio::select! {
                biased;
                _ = async { let _ = want.wait_for(|w| !*w).await; } => break Ok(()),
                _ = tick.tick() => {
                    let frame = Frame {
                        seq,
                        ts_ms: seq * self.frame_interval.as_millis() as u64,
                        keyframe: seq % GOP == 0,
                        payload: Bytes::from_static(&[0xAB; 32]),
                    };
                    seq += 1;
                    if let Err(e) = out.send(MediaMsg::Frame(frame).encode()).await {
                        break Err(e);
                    }
                    self.frames_sent.fetch_add(1, Ordering::AcqRel);
                }
            }
        };
        drop(out);
        self.recorder.peer(self.host, ObsEvent::Down { n });
        result
    }
}

/// The host's software.
pub async fn serve(publisher: Arc<Publisher>) -> turmoil::Result {
    serve_on(relaysim_harness::SimNet, publisher).await;
    Ok(())
}

/// Runs the publisher over any network (turmoil, or tokio on loopback).
pub async fn serve_on<N: Net>(net: N, publisher: Arc<Publisher>) {
    let mut want = publisher.want.subscribe();
    loop {
        let wanted = want.wait_for(|w| *w).await.is_ok();
        if !wanted {
            return;
        }
        if publisher.session(&net, &mut want).await.is_err() {
            tokio::time::sleep(publisher.retry).await;
        }
    }
}
