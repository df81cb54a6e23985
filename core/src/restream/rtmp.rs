//! RTMP on the seam: `rml_rtmp`'s sans-IO handshake and sessions (bytes in,
//! packets and events out) driven over any [`NetStream`], turmoil's
//! included.
//!
//! Owns the relay's RTMP settings ([`CHUNK_SIZE`] both ways,
//! [`ACK_WINDOW`] announced by both ends so acknowledgements flow), the
//! handshake driver ([`handshake`]), the egress side's connect-and-publish
//! exchange ([`connect_publish`]) and URL parsing ([`RtmpUrl`]). The ingest
//! ([`crate::restream::ingest`]) and the pumps ([`crate::restream::pump`])
//! run the sessions' steady state. Never decides anything about publishers or
//! destinations.
//!
//! # The library's wall clock and OS RNG
//!
//! `rml_rtmp` 0.8 reads two things no simulated code may read, inside the
//! library where the `clippy.toml` bans cannot see:
//!
//! - `SystemTime::now()` when a session is created; `elapsed()` of it stamps
//!   the control messages the library writes itself (set chunk size, window
//!   acknowledgement size, acks, connect/createStream/publish commands,
//!   `@setDataFrame`). Media messages carry the timestamps the caller passes
//!   ([`crate::restream::media`] frames' own).
//! - `rand::thread_rng()` to fill the handshake's C1/S1 random block.
//!
//! Neither reaches a decision, a trace line or a trace hash: those bytes only
//! go to the socket, and the peer's session consumes them without raising
//! them (no event carries a control message's timestamp or handshake
//! bytes; the relay reads only publish requests, stream keys, metadata
//! fields, and media with caller-set timestamps). Their values never change
//! a message's length in a way the network sees: a turmoil segment is one
//! write, whatever its bytes. The AMF0 objects the library serializes from
//! `HashMap`s (connect properties, metadata, status objects) vary in key
//! order between processes, for the same reason they are parsed back into
//! fields, never hashed or traced as bytes. `core/tests/rtmp_wire.rs`
//! proves it: two exchanges whose handshake bytes and clocks differ raise
//! the same events, byte for byte.

use crate::net::NetStream;
pub use rml_rtmp;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult,
    PublishRequestType, ServerSessionConfig,
};
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Chunk size both ends announce (and send with).
pub const CHUNK_SIZE: u32 = 4096;
/// Window acknowledgement size both ends announce: the receiver of this many
/// bytes acknowledges them, so a pump sees its destination's acks every
/// 16 KiB (a few seconds of the test clip).
pub const ACK_WINDOW: u32 = 16 * 1024;
/// Read buffer of every RTMP connection.
pub const READ_BUF: usize = 8 * 1024;

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// The server-side session settings (relay ingest, simulated ingests).
pub fn server_config() -> ServerSessionConfig {
    let mut c = ServerSessionConfig::new();
    c.chunk_size = CHUNK_SIZE;
    c.window_ack_size = ACK_WINDOW;
    c
}

/// The client-side session settings (egress pumps, simulated publishers).
pub fn client_config(tc_url: &str) -> ClientSessionConfig {
    let mut c = ClientSessionConfig::new();
    c.chunk_size = CHUNK_SIZE;
    c.window_ack_size = ACK_WINDOW;
    c.tc_url = Some(tc_url.to_string());
    c
}

/// `rtmp://host:port/app/key`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpUrl {
    /// `host:port`.
    pub authority: String,
    /// The application (everything between the authority and the key).
    pub app: String,
    /// The stream key (the last path segment).
    pub key: String,
}

impl RtmpUrl {
    /// Parses `rtmp://host:port/app/key` (the app may have several segments).
    pub fn parse(url: &str) -> io::Result<RtmpUrl> {
        let bad = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("url {url:?} is not rtmp://host:port/app/key"),
            )
        };
        let rest = url.strip_prefix("rtmp://").ok_or_else(bad)?;
        let (authority, path) = rest.split_once('/').ok_or_else(bad)?;
        let (app, key) = path.rsplit_once('/').ok_or_else(bad)?;
        let host_ok = crate::net::split_host_port(authority).is_ok_and(|(h, _)| !h.is_empty());
        if !host_ok || app.is_empty() || key.is_empty() {
            return Err(bad());
        }
        Ok(RtmpUrl {
            authority: authority.to_string(),
            app: app.to_string(),
            key: key.to_string(),
        })
    }

    /// The `tcUrl` a client announces: `rtmp://host:port/app`.
    pub fn tc_url(&self) -> String {
        format!("rtmp://{}/{}", self.authority, self.app)
    }
}

/// Runs the handshake as `peer` on `stream`; returns the bytes that followed
/// it (the start of the session's chunks). The client sends C0+C1 first.
pub async fn handshake<S: NetStream>(stream: &mut S, peer: PeerType) -> io::Result<Vec<u8>> {
    let client = peer == PeerType::Client;
    let mut hs = Handshake::new(peer);
    if client {
        let c0c1 = hs.generate_outbound_p0_and_p1().map_err(invalid)?;
        stream.write_all(&c0c1).await?;
    }
    let mut buf = vec![0u8; READ_BUF];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed during the RTMP handshake",
            ));
        }
        match hs.process_bytes(&buf[..n]).map_err(invalid)? {
            HandshakeProcessResult::InProgress { response_bytes } => {
                if !response_bytes.is_empty() {
                    stream.write_all(&response_bytes).await?;
                }
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                if !response_bytes.is_empty() {
                    stream.write_all(&response_bytes).await?;
                }
                return Ok(remaining_bytes);
            }
        }
    }
}

/// Runs one `rml_rtmp` call on bytes a peer sent, turning a panic into an
/// `InvalidData` error. rml_rtmp 0.8.0 panics on some malformed input (an
/// empty AMF0/AMF3 command message indexes past its end: 12 bytes after the
/// handshake do it, `core/tests/rtmp_hostile.rs`); an ingest task that
/// unwound would never mark its publisher dead, and the relay would refuse
/// every later publisher.
pub fn guarded<T>(f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "malformed RTMP input (the session panicked)",
        )),
    }
}

/// Is this `onStatus` code a refusal or failure (nginx-rtmp's
/// `NetStream.Publish.BadName`, a server's `…Failed`, `…Rejected`)?
pub fn is_error_status(code: &str) -> bool {
    [
        "BadName",
        "Failed",
        "Rejected",
        "Error",
        "Denied",
        "Unauthorized",
        "Closed",
    ]
    .iter()
    .any(|w| code.contains(w))
}

/// What a refused publish's `_error` or `onStatus` said, as an I/O error.
fn refused(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("publish refused: {what}"),
    )
}

/// Pulls the `code` (or `description`) out of an `_error`'s values.
fn status_code(values: &[rml_rtmp::rml_amf0::Amf0Value]) -> String {
    use rml_rtmp::rml_amf0::Amf0Value;
    for v in values {
        if let Amf0Value::Object(props) = v {
            for key in ["code", "description"] {
                if let Some(Amf0Value::Utf8String(s)) = props.get(key) {
                    return s.clone();
                }
            }
        }
    }
    "_error".to_string()
}

/// An egress session that is publishing, and what the server sent past the
/// publish acceptance (to feed before anything else is read).
pub struct Publishing {
    /// The client session, in the publishing state.
    pub session: ClientSession,
    /// Bytes already read that the session has not seen yet.
    pub pending: Vec<u8>,
}

fn write_results(out: &mut Vec<u8>, results: Vec<ClientSessionResult>) -> Vec<ClientSessionEvent> {
    let mut events = Vec::new();
    for r in results {
        match r {
            ClientSessionResult::OutboundResponse(p) => out.extend_from_slice(&p.bytes),
            ClientSessionResult::RaisedEvent(e) => events.push(e),
            ClientSessionResult::UnhandleableMessageReceived(_) => {}
        }
    }
    events
}

/// Connects and publishes as a client on an open stream: handshake,
/// `connect` to `url.app`, `createStream`, `publish` `url.key` (live). Ends
/// when the server answers `NetStream.Publish.Start`; a refused connect, a
/// failed `createStream`, an `_error` or an error `onStatus` is a
/// `PermissionDenied` error naming the server's code.
pub async fn connect_publish<S: NetStream>(
    stream: &mut S,
    url: &RtmpUrl,
) -> io::Result<Publishing> {
    let rest = handshake(stream, PeerType::Client).await?;
    let (mut session, init) = ClientSession::new(client_config(&url.tc_url())).map_err(invalid)?;
    let mut out = Vec::new();
    write_results(&mut out, init);
    let r = session
        .request_connection(url.app.clone())
        .map_err(invalid)?;
    write_results(&mut out, vec![r]);
    stream.write_all(&out).await?;
    out.clear();

    let mut input = rest;
    let mut buf = vec![0u8; READ_BUF];
    loop {
        if !input.is_empty() {
            let results = guarded(|| match session.handle_input(&input) {
                Err(rml_rtmp::sessions::ClientSessionError::CreateStreamFailed) => {
                    Err(refused("createStream failed"))
                }
                r => r.map_err(invalid),
            })?;
            input.clear();
            for ev in write_results(&mut out, results) {
                match ev {
                    ClientSessionEvent::ConnectionRequestAccepted => {
                        let r = session
                            .request_publishing(url.key.clone(), PublishRequestType::Live)
                            .map_err(invalid)?;
                        write_results(&mut out, vec![r]);
                    }
                    ClientSessionEvent::ConnectionRequestRejected { description } => {
                        return Err(refused(&format!("connect: {description}")));
                    }
                    ClientSessionEvent::UnhandleableOnStatusCode { code }
                        if is_error_status(&code) =>
                    {
                        return Err(refused(&code));
                    }
                    ClientSessionEvent::UnknownTransactionResultReceived {
                        additional_values,
                        ..
                    } => return Err(refused(&status_code(&additional_values))),
                    ClientSessionEvent::PublishRequestAccepted => {
                        stream.write_all(&out).await?;
                        return Ok(Publishing {
                            session,
                            pending: Vec::new(),
                        });
                    }
                    _ => {}
                }
            }
            if !out.is_empty() {
                stream.write_all(&out).await?;
                out.clear();
            }
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the publish was accepted",
            ));
        }
        input.extend_from_slice(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = RtmpUrl::parse("rtmp://twitch-ingest:1935/ivs-3/live_key").unwrap();
        assert_eq!(
            u,
            RtmpUrl {
                authority: "twitch-ingest:1935".into(),
                app: "ivs-3".into(),
                key: "live_key".into()
            }
        );
        assert_eq!(u.tc_url(), "rtmp://twitch-ingest:1935/ivs-3");
        let deep = RtmpUrl::parse("rtmp://h:1/a/b/k").unwrap();
        assert_eq!((deep.app.as_str(), deep.key.as_str()), ("a/b", "k"));
        for bad in [
            "http://h:1/a/k",
            "rtmp://h/a/k",
            "rtmp://h:1/k",
            "rtmp://h:1/a/",
            "rtmp://:1/a/k",
        ] {
            assert!(RtmpUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_statuses() {
        assert!(is_error_status("NetStream.Publish.BadName"));
        assert!(is_error_status("NetConnection.Connect.Rejected"));
        assert!(!is_error_status("NetStream.Publish.Start"));
        assert!(!is_error_status("NetStream.Unpublish.Success"));
    }
}
