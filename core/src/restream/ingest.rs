//! The publisher-facing RTMP server: accepts publisher connections, runs an
//! `rml_rtmp` server session on each (handshake, `connect`, `publish` with
//! the stream-key check, metadata, audio, video, unpublish; pings and acks
//! answered by the session), admits one publisher at a time through the
//! controller, forwards its media, and marks ingest dead when the live
//! publisher goes away.
//!
//! Owns the accept loop (a failed `accept()` is traced as
//! `ingest.accept.error` and waited out with [`AcceptBackoff`]; the listener
//! is never given up), the per-connection loop and the idle timeout that
//! turns a silent publisher (a partitioned link never closes) into a
//! disconnect. A refused
//! publish (bad key, a publisher already live) is answered with an `_error`
//! status (`NetStream.Publish.BadName`) and the connection is closed. Never
//! decides anything about destinations.

use crate::net::{AcceptBackoff, Net, NetListener, NetStream};
use crate::restream::event::RestreamEvent;
use crate::restream::media::Media;
use crate::restream::rtmp::{guarded, handshake, server_config, READ_BUF};
use crate::restream::Controller;
use rml_rtmp::handshake::PeerType;
use rml_rtmp::sessions::{ServerSession, ServerSessionEvent, ServerSessionResult};
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A live publisher that sends nothing for this long is treated as gone.
pub const INGEST_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The `onStatus` code a refused publish is answered with.
pub const REFUSED_CODE: &str = "NetStream.Publish.BadName";

/// Serves ingest on `listener` forever: a failed `accept()` is traced and
/// waited out, never returned.
pub async fn serve_ingest<L: NetListener>(mut listener: L, ctl: Arc<Controller>) -> io::Result<()> {
    let mut backoff = AcceptBackoff::default();
    loop {
        let stream = backoff
            .accept(&mut listener, |kind, backoff_ms| {
                ctl.emitter()
                    .emit(RestreamEvent::IngestAcceptError { kind, backoff_ms })
            })
            .await;
        let ctl = ctl.clone();
        crate::rt::spawn(async move {
            handle_publisher(stream, ctl).await;
        });
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

async fn handle_publisher<S: NetStream>(mut stream: S, ctl: Arc<Controller>) {
    let mut token = None;
    // EOF, a read error, a protocol error, an unpublish or an idle link: the
    // publisher is gone.
    let _ = serve_publisher(&mut stream, &ctl, &mut token).await;
    // Only the publisher that is still the live one may end ingest.
    if let Some(token) = token {
        if ctl.publisher_token() == token {
            ctl.mark_ingest_dead();
        }
    }
}

/// What one server-session step asks of the connection.
enum Step {
    Continue,
    /// Unpublished, refused or faulted: close.
    End,
}

async fn serve_publisher<S: NetStream>(
    stream: &mut S,
    ctl: &Controller,
    token: &mut Option<u64>,
) -> io::Result<()> {
    let rest = tokio::time::timeout(INGEST_IDLE_TIMEOUT, handshake(stream, PeerType::Server))
        .await
        .map_err(|_| {
            ctl.emitter().deadline_fired("restream.ingest.handshake");
            io::Error::new(io::ErrorKind::TimedOut, "handshake timed out")
        })??;
    let (mut session, init) = ServerSession::new(server_config()).map_err(invalid)?;
    let mut out = Vec::new();
    let mut queue: VecDeque<ServerSessionResult> = init.into();
    let mut input = rest;
    let mut buf = vec![0u8; READ_BUF];
    loop {
        if !input.is_empty() {
            queue.extend(guarded(|| session.handle_input(&input).map_err(invalid))?);
            input.clear();
        }
        let mut step = Step::Continue;
        while let Some(r) = queue.pop_front() {
            match r {
                ServerSessionResult::OutboundResponse(p) => out.extend_from_slice(&p.bytes),
                ServerSessionResult::UnhandleableMessageReceived(_) => {}
                ServerSessionResult::RaisedEvent(ev) => {
                    if let Step::End = on_event(ev, &mut session, &mut queue, ctl, token).await? {
                        step = Step::End;
                    }
                }
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if let Step::End = step {
            return Ok(());
        }
        let n = tokio::time::timeout(INGEST_IDLE_TIMEOUT, stream.read(&mut buf))
            .await
            .map_err(|_| {
                ctl.emitter().deadline_fired("restream.ingest.idle");
                io::Error::new(io::ErrorKind::TimedOut, "publisher idle")
            })??;
        if n == 0 {
            return Ok(());
        }
        input.extend_from_slice(&buf[..n]);
    }
}

async fn on_event(
    ev: ServerSessionEvent,
    session: &mut ServerSession,
    queue: &mut VecDeque<ServerSessionResult>,
    ctl: &Controller,
    token: &mut Option<u64>,
) -> io::Result<Step> {
    match ev {
        ServerSessionEvent::ConnectionRequested { request_id, .. } => {
            queue.extend(session.accept_request(request_id).map_err(invalid)?);
        }
        ServerSessionEvent::PublishStreamRequested {
            request_id,
            stream_key,
            ..
        } => {
            let admitted = match token {
                // One publish per connection.
                Some(_) => None,
                None => ctl.begin_publish(&stream_key).await.ok(),
            };
            match admitted {
                Some(t) => {
                    *token = Some(t);
                    queue.extend(session.accept_request(request_id).map_err(invalid)?);
                }
                None => {
                    queue.extend(
                        session
                            .reject_request(request_id, REFUSED_CODE, "publish refused")
                            .map_err(invalid)?,
                    );
                    return Ok(Step::End);
                }
            }
        }
        ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
            if let Some(t) = *token {
                ctl.on_media(t, Media::Metadata(Arc::new(metadata)));
            }
        }
        ServerSessionEvent::VideoDataReceived {
            data, timestamp, ..
        } => {
            if let Some(t) = *token {
                // One fault-point pass per video frame (the ingest read of a
                // frame).
                if ctl.emitter().fault_point("restream.ingest.read") {
                    return Ok(Step::End);
                }
                ctl.on_media(
                    t,
                    Media::Video {
                        ts: timestamp.value,
                        tag: data,
                    },
                );
            }
        }
        ServerSessionEvent::AudioDataReceived {
            data, timestamp, ..
        } => {
            if let Some(t) = *token {
                ctl.on_media(
                    t,
                    Media::Audio {
                        ts: timestamp.value,
                        tag: data,
                    },
                );
            }
        }
        ServerSessionEvent::PublishStreamFinished { .. } => return Ok(Step::End),
        _ => {}
    }
    Ok(Step::Continue)
}

/// Binds `addr` on `net` and serves ingest.
pub async fn listen_ingest<N: Net>(net: &N, addr: &str, ctl: Arc<Controller>) -> io::Result<()> {
    let listener = net.bind(addr).await?;
    serve_ingest(listener, ctl).await
}
