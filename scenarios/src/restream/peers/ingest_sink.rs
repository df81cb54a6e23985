//! A simulated platform ingest (`twitch-ingest`, `youtube-ingest`, …, port
//! 1935): records every stream's URL and frame count.

use futures_util::StreamExt;
use relaysim_core::media::MediaMsg;
use relaysim_core::net::{Net, NetListener};
use relaysim_harness::Recorder;
use std::sync::{Arc, Mutex};
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

/// What a platform ingest records (`sink.*`, host: the ingest's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkEvent {
    /// It accepted a stream for `url`.
    Open {
        /// The stream's URL.
        url: String,
    },
    /// That stream ended after `frames` frames.
    Close {
        /// The stream's URL.
        url: String,
        /// Frames it carried.
        frames: u64,
    },
}

impl std::fmt::Display for SinkEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinkEvent::Open { url } => write!(f, "sink.open url={url}"),
            SinkEvent::Close { url, frames } => write!(f, "sink.close url={url} frames={frames}"),
        }
    }
}

/// The port every simulated ingest listens on.
pub const PORT: u16 = 1935;

/// One stream as the sink saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkStream {
    /// The URL named by the stream's hello (its path names the session).
    pub url: String,
    /// Frames received on it.
    pub frames: u64,
    /// Still connected?
    pub open: bool,
}

/// Shared state of one sink host.
#[derive(Debug)]
pub struct IngestSink {
    /// The host name (trace lane).
    pub host: &'static str,
    streams: Mutex<Vec<SinkStream>>,
    /// Simulated time of the last frame received, on any stream.
    last_frame: Mutex<Option<std::time::Duration>>,
    recorder: Arc<Recorder>,
}

impl IngestSink {
    /// A sink for `host`, recording into `recorder`.
    pub fn new(host: &'static str, recorder: Arc<Recorder>) -> Arc<IngestSink> {
        Arc::new(IngestSink {
            host,
            streams: Mutex::new(Vec::new()),
            last_frame: Mutex::new(None),
            recorder,
        })
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
        *self.last_frame.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, idx: usize, f: impl FnOnce(&mut SinkStream)) {
        if let Some(s) = self
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(idx)
        {
            f(s);
        }
    }
}

/// The host's software.
pub async fn serve(sink: Arc<IngestSink>) -> turmoil::Result {
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
        tokio::spawn(async move {
            let mut input = FramedRead::new(stream, LengthDelimitedCodec::new());
            let url = match input.next().await {
                Some(Ok(b)) => match MediaMsg::decode(b.freeze()) {
                    Ok(MediaMsg::Hello { url }) => url,
                    _ => return,
                },
                _ => return,
            };
            let idx = {
                let mut streams = sink.streams.lock().unwrap_or_else(|p| p.into_inner());
                streams.push(SinkStream {
                    url: url.clone(),
                    frames: 0,
                    open: true,
                });
                streams.len() - 1
            };
            sink.recorder
                .peer(sink.host, SinkEvent::Open { url: url.clone() });
            let mut frames = 0;
            while let Some(Ok(b)) = input.next().await {
                if let Ok(MediaMsg::Frame(_)) = MediaMsg::decode(b.freeze()) {
                    frames += 1;
                    sink.update(idx, |s| s.frames = frames);
                    *sink.last_frame.lock().unwrap_or_else(|p| p.into_inner()) =
                        turmoil::sim_elapsed();
                }
            }
            sink.update(idx, |s| s.open = false);
            sink.recorder
                .peer(sink.host, SinkEvent::Close { url, frames });
        });
    }
}
