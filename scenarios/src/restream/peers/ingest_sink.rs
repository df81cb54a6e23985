//! A simulated platform ingest (`twitch-ingest`, `youtube-ingest`, …, port
//! 1935): an RTMP server (an `rml_rtmp` server session per connection) that
//! accepts any app and key and records, per publish session, what arrived —
//! metadata, sequence headers, keyframes, frames — judging the media itself.
//!
//! Its media judgement is its own, not the relay's: an AVC sequence header is
//! an `AVCDecoderConfigurationRecord` (version 1, at least one SPS); a
//! keyframe is a frame-type-1 AVC NALU packet holding an IDR slice (NAL type
//! 5); an AAC sequence header carries an `AudioSpecificConfig`. A session
//! that begins with anything but metadata, both headers and then a keyframe
//! would not decode from its first frame, and its `sink.start` line says so.

use relaysim_core::net::{Net, NetListener, NetStream};
use relaysim_core::restream::rtmp::rml_rtmp::handshake::PeerType;
use relaysim_core::restream::rtmp::rml_rtmp::sessions::{
    ServerSession, ServerSessionEvent, ServerSessionResult,
};
use relaysim_core::restream::rtmp::{handshake, server_config, READ_BUF};
use relaysim_harness::Recorder;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the first media frame of a session was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstFrame {
    /// A keyframe (an IDR slice).
    Keyframe,
    /// A video frame that is not one.
    Inter,
    /// An audio frame.
    Audio,
}

impl std::fmt::Display for FirstFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FirstFrame::Keyframe => "keyframe",
            FirstFrame::Inter => "inter",
            FirstFrame::Audio => "audio",
        })
    }
}

/// What a platform ingest records (`sink.*`, host: the ingest's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkEvent {
    /// It accepted a publish on `url` (`rtmp://host:1935/app/key`).
    Open {
        /// The stream's URL.
        url: String,
    },
    /// The session's first media frame arrived; what had come before it.
    Start {
        /// The stream's URL.
        url: String,
        /// Metadata came first.
        metadata: bool,
        /// A valid AVC sequence header came first.
        avc: bool,
        /// A valid AAC sequence header came first.
        aac: bool,
        /// The first media frame.
        first: FirstFrame,
    },
    /// It accepted a TCP connection (phase events only, see
    /// [`IngestSink::record_phases`]).
    Accept {
        /// Accepted while silent: the connection will hang for good.
        silent: bool,
    },
    /// That stream ended.
    Close {
        /// The stream's URL.
        url: String,
        /// Video frames it carried (sequence headers not counted).
        frames: u64,
        /// Of which keyframes.
        keyframes: u64,
    },
}

impl std::fmt::Display for SinkEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinkEvent::Open { url } => write!(f, "sink.open url={url}"),
            SinkEvent::Accept { silent } => write!(f, "sink.accept silent={silent}"),
            SinkEvent::Start {
                url,
                metadata,
                avc,
                aac,
                first,
            } => write!(
                f,
                "sink.start url={url} metadata={metadata} avc={avc} aac={aac} first={first}"
            ),
            SinkEvent::Close {
                url,
                frames,
                keyframes,
            } => write!(
                f,
                "sink.close url={url} frames={frames} keyframes={keyframes}"
            ),
        }
    }
}

/// The port every simulated ingest listens on.
pub const PORT: u16 = 1935;

/// One publish session as the sink saw it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SinkStream {
    /// `rtmp://host:1935/app/key` (the app names the session, e.g. `ivs-3`).
    pub url: String,
    /// Metadata messages received.
    pub metadata: u64,
    /// Valid AVC sequence headers received.
    pub avc_headers: u64,
    /// Valid AAC sequence headers received.
    pub aac_headers: u64,
    /// Video frames received (headers not counted).
    pub frames: u64,
    /// Of which keyframes.
    pub keyframes: u64,
    /// Audio frames received (headers not counted).
    pub audio_frames: u64,
    /// The first media frame, once one came.
    pub first: Option<FirstFrame>,
    /// When its first media frame (video or audio) arrived.
    pub first_frame_at: Option<std::time::Duration>,
    /// When its latest media frame arrived.
    pub last_frame_at: Option<std::time::Duration>,
    /// Still connected?
    pub open: bool,
}

/// Shared state of one sink host.
#[derive(Debug)]
pub struct IngestSink {
    /// The host name (trace lane).
    pub host: &'static str,
    streams: Mutex<Vec<SinkStream>>,
    recorder: Arc<Recorder>,
    /// Silent: connections accepted now, and sessions that come to read
    /// now, hang for good.
    silent: AtomicBool,
    /// Record `sink.accept` too.
    phases: AtomicBool,
}

/// The sink's reading of one media message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judged {
    AvcHeader,
    AacHeader,
    Keyframe,
    Inter,
    Audio,
    /// Malformed (a header that is not a valid one).
    Bad,
}

/// A valid `AVCDecoderConfigurationRecord` behind a sequence-header tag.
fn valid_avc_config(tag: &[u8]) -> bool {
    // tag[0..5]: frame/codec, packet type 0, composition time; then the
    // record: version 1, profile, compat, level, length size, SPS count.
    tag.len() > 10 && tag[5] == 1 && tag[9] >> 2 == 0x3f && tag[10] & 0x1f >= 1
}

/// Does an AVC NALU packet hold an IDR slice (4-byte NAL lengths)?
fn has_idr(tag: &[u8]) -> bool {
    let mut at = 5;
    while at + 4 <= tag.len() {
        let len = u32::from_be_bytes([tag[at], tag[at + 1], tag[at + 2], tag[at + 3]]) as usize;
        at += 4;
        if len == 0 || at + len > tag.len() {
            return false;
        }
        if tag[at] & 0x1f == 5 {
            return true;
        }
        at += len;
    }
    false
}

fn judge_video(tag: &[u8]) -> Judged {
    if tag.len() < 5 || tag[0] & 0x0f != 7 {
        return Judged::Bad;
    }
    match tag[1] {
        0 if valid_avc_config(tag) => Judged::AvcHeader,
        1 if tag[0] >> 4 == 1 && has_idr(tag) => Judged::Keyframe,
        1 => Judged::Inter,
        _ => Judged::Bad,
    }
}

fn judge_audio(tag: &[u8]) -> Judged {
    if tag.len() < 2 || tag[0] >> 4 != 10 {
        return Judged::Bad;
    }
    match tag[1] {
        // AudioSpecificConfig: object type (5 bits) != 0.
        0 if tag.len() >= 4 && tag[2] >> 3 != 0 => Judged::AacHeader,
        1 => Judged::Audio,
        _ => Judged::Bad,
    }
}

impl IngestSink {
    /// A sink for `host`, recording into `recorder`.
    pub fn new(host: &'static str, recorder: Arc<Recorder>) -> Arc<IngestSink> {
        Arc::new(IngestSink {
            host,
            streams: Mutex::new(Vec::new()),
            recorder,
            silent: AtomicBool::new(false),
            phases: AtomicBool::new(false),
        })
    }

    /// Also record each TCP accept (`sink.accept`; the `vod-phases` world
    /// reads its phase spans from it). Off in the other worlds, whose traces
    /// stay as they were.
    pub fn record_phases(&self) {
        self.phases.store(true, Ordering::Release);
    }

    /// Goes silent (or speaks again): see `Fault::Silent`.
    pub fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::Release);
    }

    fn is_silent(&self) -> bool {
        self.silent.load(Ordering::Acquire)
    }

    /// Every stream seen, in arrival order.
    pub fn streams(&self) -> Vec<SinkStream> {
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// When the last frame arrived (simulated time).
    pub fn last_frame_at(&self) -> Option<std::time::Duration> {
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|s| s.last_frame_at)
            .max()
    }

    fn update<T>(&self, idx: usize, f: impl FnOnce(&mut SinkStream) -> T) -> Option<T> {
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(idx)
            .map(f)
    }

    fn open(&self, url: String) -> usize {
        let idx = {
            let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
            streams.push(SinkStream {
                url: url.clone(),
                open: true,
                ..SinkStream::default()
            });
            streams.len() - 1
        };
        self.recorder.peer(self.host, SinkEvent::Open { url });
        idx
    }

    fn media(&self, idx: usize, judged: Judged) {
        let is_frame = matches!(judged, Judged::Keyframe | Judged::Inter | Judged::Audio);
        let now = relaysim_harness::engine::elapsed();
        let start = self.update(idx, |s| {
            if is_frame {
                s.first_frame_at = s.first_frame_at.or(now);
                s.last_frame_at = now.or(s.last_frame_at);
            }
            let first = match judged {
                Judged::AvcHeader => {
                    s.avc_headers += 1;
                    None
                }
                Judged::AacHeader => {
                    s.aac_headers += 1;
                    None
                }
                Judged::Bad => None,
                Judged::Keyframe => {
                    s.frames += 1;
                    s.keyframes += 1;
                    Some(FirstFrame::Keyframe)
                }
                Judged::Inter => {
                    s.frames += 1;
                    Some(FirstFrame::Inter)
                }
                Judged::Audio => {
                    s.audio_frames += 1;
                    Some(FirstFrame::Audio)
                }
            }?;
            if s.first.is_some() {
                return None;
            }
            s.first = Some(first);
            Some(SinkEvent::Start {
                url: s.url.clone(),
                metadata: s.metadata > 0,
                avc: s.avc_headers > 0,
                aac: s.aac_headers > 0,
                first,
            })
        });
        if let Some(Some(ev)) = start {
            self.recorder.peer(self.host, ev);
        }
    }

    fn close(&self, idx: usize) {
        if let Some(s) = self.update(idx, |s| {
            s.open = false;
            s.clone()
        }) {
            self.recorder.peer(
                self.host,
                SinkEvent::Close {
                    url: s.url,
                    frames: s.frames,
                    keyframes: s.keyframes,
                },
            );
        }
    }
}

/// The host's software.
pub async fn serve(sink: Arc<IngestSink>) -> relaysim_harness::HostResult {
    let listener = relaysim_harness::SimNet
        .bind(&format!("0.0.0.0:{PORT}"))
        .await?;
    serve_on(listener, sink).await?;
    Ok(())
}

/// Serves on any listener (turmoil, or tokio on loopback).
pub async fn serve_on<L: NetListener>(
    mut listener: L,
    sink: Arc<IngestSink>,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let sink = sink.clone();
        let silent = sink.is_silent();
        if sink.phases.load(Ordering::Acquire) {
            sink.recorder.peer(sink.host, SinkEvent::Accept { silent });
        }
        relaysim_core::rt::spawn(async move {
            if silent {
                // Accepted, then nothing: never read, never answered, never
                // closed.
                let _hung = stream;
                std::future::pending::<()>().await;
                return;
            }
            let mut idx = None;
            let _ = session(stream, &sink, &mut idx).await;
            if let Some(i) = idx {
                sink.close(i);
            }
        });
    }
}

async fn session<S: NetStream>(
    mut stream: S,
    sink: &IngestSink,
    idx: &mut Option<usize>,
) -> std::io::Result<()> {
    let bad = |e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
    };
    let rest = handshake(&mut stream, PeerType::Server).await?;
    let (mut session, init) = ServerSession::new(server_config()).map_err(|e| bad(&e))?;
    let mut queue: VecDeque<ServerSessionResult> = init.into();
    let mut input = rest;
    let mut out = Vec::new();
    let mut buf = vec![0u8; READ_BUF];
    loop {
        if !input.is_empty() {
            queue.extend(session.handle_input(&input).map_err(|e| bad(&e))?);
            input.clear();
        }
        let mut finished = false;
        while let Some(r) = queue.pop_front() {
            let ev = match r {
                ServerSessionResult::OutboundResponse(p) => {
                    out.extend_from_slice(&p.bytes);
                    continue;
                }
                ServerSessionResult::RaisedEvent(ev) => ev,
                ServerSessionResult::UnhandleableMessageReceived(_) => continue,
            };
            match ev {
                ServerSessionEvent::ConnectionRequested { request_id, .. } => {
                    queue.extend(session.accept_request(request_id).map_err(|e| bad(&e))?);
                }
                ServerSessionEvent::PublishStreamRequested {
                    request_id,
                    app_name,
                    stream_key,
                    ..
                } => {
                    queue.extend(session.accept_request(request_id).map_err(|e| bad(&e))?);
                    *idx = Some(sink.open(format!(
                        "rtmp://{}:{PORT}/{app_name}/{stream_key}",
                        sink.host
                    )));
                }
                ServerSessionEvent::StreamMetadataChanged { .. } => {
                    if let Some(i) = *idx {
                        sink.update(i, |s| s.metadata += 1);
                    }
                }
                ServerSessionEvent::VideoDataReceived { data, .. } => {
                    if let Some(i) = *idx {
                        sink.media(i, judge_video(&data));
                    }
                }
                ServerSessionEvent::AudioDataReceived { data, .. } => {
                    if let Some(i) = *idx {
                        sink.media(i, judge_audio(&data));
                    }
                }
                ServerSessionEvent::PublishStreamFinished { .. } => finished = true,
                _ => {}
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if finished {
            return Ok(());
        }
        if sink.is_silent() {
            // A hung worker: it never reads (nor closes) this stream again.
            std::future::pending::<()>().await;
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        input.extend_from_slice(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restream::peers::clip::Clip;

    #[test]
    fn the_sink_judges_the_clip() {
        let c = Clip::get();
        assert_eq!(judge_video(&c.avc_header), Judged::AvcHeader);
        assert_eq!(judge_audio(&c.aac_header), Judged::AacHeader);
        let video: Vec<Judged> = c
            .tags
            .iter()
            .filter(|t| t.video)
            .map(|t| judge_video(&t.body))
            .collect();
        assert_eq!(video.iter().filter(|j| **j == Judged::Keyframe).count(), 2);
        assert_eq!(video.iter().filter(|j| **j == Judged::Inter).count(), 18);
        assert!(c
            .tags
            .iter()
            .filter(|t| !t.video)
            .all(|t| judge_audio(&t.body) == Judged::Audio));
        assert_eq!(judge_video(&[0x17, 0, 0, 0, 0, 0]), Judged::Bad);
        assert_eq!(
            judge_video(&[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x41]),
            Judged::Inter
        );
    }
}
