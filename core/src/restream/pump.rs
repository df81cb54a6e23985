//! An egress pump: one connection to one destination, streaming live frames.
//!
//! Owns the connect, the hello naming the URL (the destination's session),
//! and the frame loop. Ends on cancellation (cooperative shutdown), on the
//! media source closing, or with the I/O error that killed it — the
//! supervisor sees a finished pump and restarts it on its next tick. Never
//! retries by itself and never touches destination state.

use crate::bugs::{BugSet, KnownBug};
use crate::event::Emitter;
use crate::media::{Frame, MediaMsg};
use crate::net::Net;
use crate::restream::event::RestreamEvent;
use crate::restream::url_authority;
use futures_util::SinkExt;
use std::io;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::codec::{FramedWrite, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

/// How long a pump waits for its destination to accept the connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A write that makes no progress for this long means the link is dead
/// (a partition never closes a TCP stream): the pump ends with `TimedOut`
/// and the supervisor restarts it on its next tick.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(5);

async fn send_within<S>(out: &mut S, msg: bytes::Bytes, bugs: BugSet) -> io::Result<()>
where
    S: futures_util::Sink<bytes::Bytes, Error = io::Error> + Unpin,
{
    if bugs.on(KnownBug::EgressWriteStall) {
        // Pre-fix: wait for the write however long it takes.
        return out.send(msg).await;
    }
    tokio::time::timeout(WRITE_STALL_TIMEOUT, out.send(msg))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "write stalled"))?
}

/// Runs one pump to completion.
pub async fn run_egress<N: Net>(
    net: N,
    dest: String,
    url: String,
    mut frames: broadcast::Receiver<Frame>,
    cancel: CancellationToken,
    emitter: Emitter,
    bugs: BugSet,
) -> io::Result<()> {
    let work = async {
        let addr = url_authority(&url)?;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, net.connect(&addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        emitter.emit(RestreamEvent::EgressConnected { dest: dest.clone() });
        let mut out = FramedWrite::new(stream, LengthDelimitedCodec::new());
        out.send(MediaMsg::Hello { url: url.clone() }.encode())
            .await?;
        loop {
            match frames.recv().await {
                Ok(f) => {
                    if emitter.fault_point("restream.pump.write") {
                        return Err(io::Error::new(io::ErrorKind::BrokenPipe, "fault point"));
                    }
                    send_within(&mut out, MediaMsg::Frame(f).encode(), bugs).await?
                }
                // Fell behind the ring: skip to the oldest retained frame.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            }
        }
    };
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Ok(()),
        r = work => r,
    }
}
