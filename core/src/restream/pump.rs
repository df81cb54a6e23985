//! An egress pump: one RTMP client session to one destination, streaming
//! live media.
//!
//! Owns the connect, the publish to the URL's app and key (the destination's
//! configured URL or its VOD override), and the session's steady state: a
//! read half that feeds the server's bytes to the session (pings and acks
//! answered, `onStatus` errors end the pump) and the media loop, which sends
//! what [`EgressGate`] lets through (cached metadata and sequence headers
//! first, then from a keyframe). Ends on cancellation (cooperative
//! shutdown), on the media source closing, or with the I/O error that killed
//! it — the supervisor sees a finished pump and restarts it on its next
//! tick. Never retries by itself and never touches destination state.

use crate::bugs::{BugSet, KnownBug};
use crate::event::Emitter;
use crate::net::{Net, NetStream};
use crate::restream::controller::MediaFeed;
use crate::restream::event::RestreamEvent;
use crate::restream::gate::EgressGate;
use crate::restream::media::{Media, MediaKind};
use crate::restream::rtmp::{connect_publish, guarded, is_error_status, RtmpUrl, READ_BUF};
use rml_rtmp::sessions::{ClientSession, ClientSessionEvent, ClientSessionResult};
use rml_rtmp::time::RtmpTimestamp;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// How long a pump waits for its destination to accept the connection and
/// the publish.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A write that makes no progress for this long means the link is dead
/// (a partition never closes a TCP stream): the pump ends with `TimedOut`
/// and the supervisor restarts it on its next tick.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Frames already waiting in the ring that one write may carry.
pub const MAX_BATCH: usize = 64;

async fn send_within<S: NetStream>(
    out: &mut S,
    bytes: &[u8],
    bugs: BugSet,
    emitter: &Emitter,
) -> io::Result<()> {
    if bugs.on(KnownBug::EgressWriteStall) {
        // Pre-fix: wait for the write however long it takes.
        return out.write_all(bytes).await;
    }
    tokio::time::timeout(WRITE_STALL_TIMEOUT, out.write_all(bytes))
        .await
        .map_err(|_| {
            emitter.deadline_fired("restream.pump.write-stall");
            io::Error::new(io::ErrorKind::TimedOut, "write stalled")
        })?
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Serializes one message onto `out`.
fn serialize(session: &mut ClientSession, m: Media, out: &mut Vec<u8>) -> io::Result<()> {
    let r = match m {
        Media::Metadata(meta) => session.publish_metadata(&meta),
        Media::Video { ts, tag } => session.publish_video_data(tag, RtmpTimestamp::new(ts), false),
        Media::Audio { ts, tag } => session.publish_audio_data(tag, RtmpTimestamp::new(ts), false),
    }
    .map_err(invalid)?;
    if let ClientSessionResult::OutboundResponse(p) = r {
        out.extend_from_slice(&p.bytes);
    }
    Ok(())
}

/// Runs one pump to completion. `restarted`: the destination had a pump
/// before this one.
#[allow(clippy::too_many_arguments)]
pub async fn run_egress<N: Net>(
    net: N,
    dest: String,
    url: String,
    restarted: bool,
    feed: MediaFeed,
    cancel: CancellationToken,
    emitter: Emitter,
    bugs: BugSet,
) -> io::Result<()> {
    let work = async {
        let target = RtmpUrl::parse(&url)?;
        let (mut stream, publishing) = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let mut stream = net.connect(&target.authority).await?;
            let p = connect_publish(&mut stream, &target).await?;
            Ok::<_, io::Error>((stream, p))
        })
        .await
        .map_err(|_| {
            emitter.deadline_fired("restream.pump.connect");
            io::Error::new(io::ErrorKind::TimedOut, "connect timed out")
        })??;
        emitter.emit(RestreamEvent::EgressConnected { dest: dest.clone() });
        let mut session = publishing.session;
        let MediaFeed {
            mut frames,
            headers,
        } = feed;
        let mut gate = EgressGate::new(bugs, restarted);
        let mut out = Vec::new();
        for m in gate.start(&headers) {
            serialize(&mut session, m, &mut out)?;
        }
        if !out.is_empty() {
            send_within(&mut stream, &out, bugs, &emitter).await?;
            out.clear();
        }
        let mut input = publishing.pending;
        let mut buf = vec![0u8; READ_BUF];
        loop {
            if !input.is_empty() {
                let results = guarded(|| session.handle_input(&input).map_err(invalid))?;
                input.clear();
                for r in results {
                    match r {
                        ClientSessionResult::OutboundResponse(p) => out.extend_from_slice(&p.bytes),
                        ClientSessionResult::RaisedEvent(
                            ClientSessionEvent::UnhandleableOnStatusCode { code },
                        ) if is_error_status(&code) => {
                            return Err(io::Error::new(
                                io::ErrorKind::ConnectionAborted,
                                format!("destination said {code}"),
                            ));
                        }
                        _ => {}
                    }
                }
                if !out.is_empty() {
                    send_within(&mut stream, &out, bugs, &emitter).await?;
                    out.clear();
                }
            }
            tokio::select! {
                biased;
                n = stream.read(&mut buf) => {
                    let n = n?;
                    if n == 0 {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "destination closed"));
                    }
                    input.extend_from_slice(&buf[..n]);
                }
                first = frames.recv() => {
                    let mut next = Some(first);
                    let mut taken = 0;
                    while let Some(r) = next.take() {
                        match r {
                            Ok(f) => {
                                if let Some(m) = gate.push(&f) {
                                    if matches!(m.kind(), MediaKind::Keyframe | MediaKind::Video)
                                        && emitter.fault_point("restream.pump.write")
                                    {
                                        return Err(io::Error::new(io::ErrorKind::BrokenPipe, "fault point"));
                                    }
                                    serialize(&mut session, m, &mut out)?;
                                }
                            }
                            // Fell behind the ring: skip to the oldest
                            // retained frame and wait for a keyframe.
                            Err(broadcast::error::RecvError::Lagged(_)) => gate.lost(),
                            Err(broadcast::error::RecvError::Closed) => return Ok(()),
                        }
                        taken += 1;
                        if taken < MAX_BATCH {
                            next = match frames.try_recv() {
                                Ok(f) => Some(Ok(f)),
                                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                                    Some(Err(broadcast::error::RecvError::Lagged(n)))
                                }
                                Err(_) => None,
                            };
                        }
                    }
                    if !out.is_empty() {
                        send_within(&mut stream, &out, bugs, &emitter).await?;
                        out.clear();
                    }
                }
            }
        }
    };
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Ok(()),
        r = work => r,
    }
}
