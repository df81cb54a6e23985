//! The publisher-facing listener: accepts publisher connections, admits one
//! at a time through the controller, forwards frames, and marks ingest dead
//! when the live publisher goes away.
//!
//! Owns the per-connection read loop and the idle timeout that turns a
//! silent publisher (a partitioned link never closes) into a disconnect.
//! Never decides anything about destinations.

use crate::media::MediaMsg;
use crate::net::{Net, NetListener};
use crate::restream::Controller;
use futures_util::StreamExt;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

/// A live publisher that sends nothing for this long is treated as gone.
pub const INGEST_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves ingest on `listener` forever.
pub async fn serve_ingest<L: NetListener>(mut listener: L, ctl: Arc<Controller>) -> io::Result<()> {
    loop {
        let (stream, _peer) = listener.accept().await?;
        let ctl = ctl.clone();
        tokio::spawn(async move {
            handle_publisher(stream, ctl).await;
        });
    }
}

async fn handle_publisher<S: crate::net::NetStream>(stream: S, ctl: Arc<Controller>) {
    let mut input = FramedRead::new(stream, LengthDelimitedCodec::new());
    let first = match tokio::time::timeout(INGEST_IDLE_TIMEOUT, input.next()).await {
        Ok(Some(Ok(b))) => MediaMsg::decode(b.freeze()),
        _ => return,
    };
    let Ok(MediaMsg::Publish { stream_key }) = first else {
        return;
    };
    let Ok(token) = ctl.begin_publish(&stream_key).await else {
        return;
    };
    // EOF, a read error, a bad message or an idle link: the publisher is gone.
    while let Ok(Some(Ok(b))) = tokio::time::timeout(INGEST_IDLE_TIMEOUT, input.next()).await {
        if ctl.emitter().fault_point("restream.ingest.read") {
            break;
        }
        match MediaMsg::decode(b.freeze()) {
            Ok(MediaMsg::Frame(f)) => ctl.on_frame(f),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    // Only the publisher that is still the live one may end ingest.
    if ctl.publisher_token() == token {
        ctl.mark_ingest_dead();
    }
}

/// Binds `addr` on `net` and serves ingest.
pub async fn listen_ingest<N: Net>(net: &N, addr: &str, ctl: Arc<Controller>) -> io::Result<()> {
    let listener = net.bind(addr).await?;
    serve_ingest(listener, ctl).await
}
