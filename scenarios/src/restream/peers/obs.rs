//! The simulated publisher (`obs` host, or a named one): publishes to the
//! relay while the plan wants it connected.
//!
//! Two wires. The restream relay's OBS speaks RTMP ([`Wire::Rtmp`]): an
//! `rml_rtmp` client session that connects to app `live`, publishes its
//! stream key, sends metadata and the clip's AVC and AAC sequence headers,
//! then loops the clip's real H.264 and AAC tags ([`super::clip`]) with
//! timestamps rewritten to `loop × period + ts`, paced by a 100 ms tick,
//! while reading the relay's acks and pings; it unpublishes
//! (`deleteStream`) when the plan disconnects it. The transcode family's
//! publishers ([`Publisher::named`]) keep that family's length-delimited
//! frames ([`Wire::Framed`]).

use super::clip::{self, Clip};
use bytes::Bytes;
use futures_util::SinkExt;
use relaysim_core::media::{Frame, MediaMsg};
use relaysim_core::net::Net;
use relaysim_core::restream::rtmp::rml_rtmp::sessions::ClientSessionResult;
use relaysim_core::restream::rtmp::rml_rtmp::time::RtmpTimestamp;
use relaysim_core::restream::rtmp::{connect_publish, RtmpUrl, READ_BUF};
use relaysim_harness::Recorder;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::codec::{FramedWrite, LengthDelimitedCodec};

/// What the publisher speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// RTMP (the restream relay's ingest).
    Rtmp,
    /// Length-delimited `MediaMsg` frames (the transcode ingest).
    Framed,
}

/// The RTMP app the publisher connects to.
pub const APP: &str = "live";

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
    /// It starts a TCP connect (phase events only, see
    /// [`Publisher::record_phases`]).
    Dial,
    /// Its TCP connect succeeded (phase events only; `silent`: it will
    /// send nothing on it).
    Connected {
        /// Silent (see `Fault::Silent`).
        silent: bool,
    },
}

impl std::fmt::Display for ObsEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObsEvent::Up { n } => write!(f, "obs.up n={n}"),
            ObsEvent::Down { n } => write!(f, "obs.down n={n}"),
            ObsEvent::Dial => f.write_str("obs.dial"),
            ObsEvent::Connected { silent } => write!(f, "obs.connected silent={silent}"),
        }
    }
}

/// Frames per second the publisher sends (video; the clip's rate too).
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
    wire: Wire,
    /// Silent: a new connection sends nothing until it speaks again.
    silent: watch::Sender<bool>,
    /// Record `obs.dial` and `obs.connected` too.
    phases: AtomicBool,
    /// Give up on an RTMP connection that has said nothing for this long
    /// (milliseconds; 0: never). See [`Publisher::set_read_timeout`].
    read_timeout_ms: AtomicU64,
}

impl Publisher {
    /// A publisher of the relay at `relay_addr` (`host:port`), 10 frames/s.
    /// It speaks RTMP.
    pub fn new(relay_addr: &str, stream_key: &str, recorder: Arc<Recorder>) -> Arc<Publisher> {
        Publisher::with_host("obs", relay_addr, stream_key, recorder, 1, Wire::Rtmp)
    }

    /// A publisher recording its events as host `host` (worlds with several:
    /// the transcode family's, on its framed wire).
    pub fn named(
        host: &'static str,
        relay_addr: &str,
        stream_key: &str,
        recorder: Arc<Recorder>,
    ) -> Arc<Publisher> {
        Publisher::with_host(host, relay_addr, stream_key, recorder, 1, Wire::Framed)
    }

    /// The same publisher with every interval divided by `factor` (the
    /// real-time comparison runs the scenario's timings scaled down).
    pub fn new_scaled(
        relay_addr: &str,
        stream_key: &str,
        recorder: Arc<Recorder>,
        factor: u32,
    ) -> Arc<Publisher> {
        Publisher::with_host("obs", relay_addr, stream_key, recorder, factor, Wire::Rtmp)
    }

    fn with_host(
        host: &'static str,
        relay_addr: &str,
        stream_key: &str,
        recorder: Arc<Recorder>,
        factor: u32,
        wire: Wire,
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
            wire,
            silent: watch::channel(false).0,
            phases: AtomicBool::new(false),
            read_timeout_ms: AtomicU64::new(0),
        })
    }

    /// Drops an RTMP connection on which the relay has sent nothing (no
    /// acknowledgement, no ping) for `timeout`, that has taken no byte of a
    /// write for as long, or whose handshake and publish take longer, and
    /// reconnects. The relay
    /// acknowledges every 16 KiB, about every 3 s of the clip. Worlds with
    /// blackholes need it: when the relay gives up on a silent link
    /// (`restream.ingest.idle`), the restore loses its FIN, and neither
    /// simulator answers a segment for a socket that is gone, so without
    /// it OBS would write into a dead connection for ever, where a real
    /// one gets a reset on its next write.
    pub fn set_read_timeout(&self, timeout: Duration) {
        self.read_timeout_ms
            .store(timeout.as_millis() as u64, Ordering::Release);
    }

    /// Also record each dial and TCP connect (`obs.dial`, `obs.connected`;
    /// the `vod-phases` world reads its phase spans from them). Off in the
    /// other worlds, whose traces stay as they were.
    pub fn record_phases(&self) {
        self.phases.store(true, Ordering::Release);
    }

    fn phase_event(&self, ev: ObsEvent) {
        if self.phases.load(Ordering::Acquire) {
            self.recorder.peer(self.host, ev);
        }
    }

    /// Goes silent (or speaks again): see `Fault::Silent`.
    pub fn set_silent(&self, silent: bool) {
        self.silent.send_replace(silent);
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

    /// Frames sent so far (video frames on RTMP).
    pub fn frames_sent(&self) -> u64 {
        self.frames_sent.load(Ordering::Acquire)
    }

    /// One connection: publish until unwanted or the link breaks.
    async fn session<N: Net>(
        &self,
        net: &N,
        want: &mut watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        match self.wire {
            Wire::Rtmp => self.rtmp_session(net, want).await,
            Wire::Framed => self.framed_session(net, want).await,
        }
    }

    /// One RTMP publish: connect, publish, headers, then the clip in a loop.
    async fn rtmp_session<N: Net>(
        &self,
        net: &N,
        want: &mut watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        let url = RtmpUrl {
            authority: self.relay_addr.clone(),
            app: APP.to_string(),
            key: self.stream_key.clone(),
        };
        self.phase_event(ObsEvent::Dial);
        let mut stream = net.connect(&self.relay_addr).await?;
        let silent = *self.silent.borrow();
        self.phase_event(ObsEvent::Connected { silent });
        if silent {
            // Connected, then nothing until it speaks again (or the plan
            // disconnects it); then this connection is dropped unused.
            let mut speak = self.silent.subscribe();
            tokio::select! {
                _ = speak.wait_for(|s| !*s) => {}
                _ = want.wait_for(|w| !*w) => {}
            }
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        let read_timeout = match self.read_timeout_ms.load(Ordering::Acquire) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        };
        let publishing = match read_timeout {
            Some(t) => tokio::time::timeout(t, connect_publish(&mut stream, &url))
                .await
                .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))?,
            None => connect_publish(&mut stream, &url).await?,
        };
        let mut session = publishing.session;
        let n = self.connections.fetch_add(1, Ordering::AcqRel) + 1;
        self.recorder.peer(self.host, ObsEvent::Up { n });
        let clip = Clip::get();
        let mut out = Vec::new();
        let push = |r: Result<ClientSessionResult, _>, out: &mut Vec<u8>| {
            if let Ok(ClientSessionResult::OutboundResponse(p)) = r {
                out.extend_from_slice(&p.bytes);
            }
        };
        push(session.publish_metadata(&clip::metadata()), &mut out);
        let zero = RtmpTimestamp::new(0);
        push(
            session.publish_video_data(clip.avc_header.clone(), zero, false),
            &mut out,
        );
        push(
            session.publish_audio_data(clip.aac_header.clone(), zero, false),
            &mut out,
        );
        let mut pending = publishing.pending;
        let mut buf = vec![0u8; READ_BUF];
        // The media clock: advances 100 ms per tick, whatever the tick's
        // real length (the real-time comparison scales the tick).
        let step_ms = (1000 / FPS) as u32;
        let mut media_ms: u32 = 0;
        let (mut lap, mut next) = (0u32, 0usize);
        let mut tick = tokio::time::interval(self.frame_interval);
        let mut last_read = tokio::time::Instant::now();
        let result = loop {
            if !pending.is_empty() {
                match session.handle_input(&pending) {
                    Ok(results) => {
                        for r in results {
                            push(Ok(r), &mut out);
                        }
                    }
                    Err(e) => {
                        break Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            e.to_string(),
                        ))
                    }
                }
                pending.clear();
            }
            if !out.is_empty() {
                if let Err(e) = write_within(&mut stream, &out, read_timeout).await {
                    break Err(e);
                }
                out.clear();
            }
            tokio::select! {
                biased;
                _ = async { let _ = want.wait_for(|w| !*w).await; } => {
                    if let Ok(r) = session.stop_publishing() {
                        for r in r {
                            push(Ok(r), &mut out);
                        }
                        // The goodbye is bounded like every write: on a
                        // dead link it would wait for ever, and the
                        // publisher with it (no down, no reconnect).
                        let _ = write_within(&mut stream, &out, read_timeout).await;
                    }
                    break Ok(());
                }
                r = stream.read(&mut buf) => match r {
                    Ok(0) => break Err(std::io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => {
                        last_read = tokio::time::Instant::now();
                        pending.extend_from_slice(&buf[..n]);
                    }
                    Err(e) => break Err(e),
                },
                _ = tokio::time::sleep_until(last_read + read_timeout.unwrap_or_default()),
                    if read_timeout.is_some() =>
                {
                    break Err(std::io::ErrorKind::TimedOut.into());
                }
                _ = tick.tick() => {
                    // Every tag due by the media clock, in one write.
                    while let Some(tag) = clip.tags.get(next) {
                        let ts = lap * clip.period_ms + tag.ts;
                        if ts > media_ms {
                            break;
                        }
                        let r = if tag.video {
                            self.frames_sent.fetch_add(1, Ordering::AcqRel);
                            session.publish_video_data(tag.body.clone(), RtmpTimestamp::new(ts), false)
                        } else {
                            session.publish_audio_data(tag.body.clone(), RtmpTimestamp::new(ts), false)
                        };
                        push(r, &mut out);
                        next += 1;
                        if next == clip.tags.len() {
                            next = 0;
                            lap += 1;
                        }
                    }
                    media_ms += step_ms;
                }
            }
        };
        drop(stream);
        self.recorder.peer(self.host, ObsEvent::Down { n });
        result
    }

    /// One framed publish (the transcode ingest's wire).
    async fn framed_session<N: Net>(
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

/// Writes `bytes`, giving up after `timeout` (if any): a write the relay
/// never takes in is a dead link too.
async fn write_within<S: tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
    timeout: Option<Duration>,
) -> std::io::Result<()> {
    let write = stream.write_all(bytes);
    match timeout {
        Some(t) => tokio::time::timeout(t, write)
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
        None => write.await,
    }
}

/// The host's software.
pub async fn serve(publisher: Arc<Publisher>) -> relaysim_harness::HostResult {
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
