//! Property tests: arbitrary bytes into every parser and receive path of the
//! core. Each property asserts three things of its path: **no panic**,
//! **bounded memory** (what comes out is no bigger than a small multiple of
//! what went in, and nothing is buffered beyond the path's stated limit),
//! and **a clear error** on bad input (typed, non-empty, bounded in size).
//!
//! Inputs are either fully arbitrary bytes or *mutations* of valid messages
//! (bytes flipped, inserted, deleted, truncated), so the properties reach
//! past the first byte a parser rejects.
//!
//! | property | path | what it checks beyond the three |
//! |---|---|---|
//! | `ws_command_parser` | `session::ws::protocol::parse_command` | a parsed command round-trips; invalid data exactly when the text is not a JSON object; a readable `seq` is kept |
//! | `ws_receiver` | `session::ws::receive::Receiver` (the receive state machine) | at most one header pending, at most two actions per message, a payload is the very bytes that came in |
//! | `ws_frames` | tungstenite's frame reader with the server's limits, through `session::ws::conn::Conn::read_turn` | every message within `max_message`; every violation closes with 1002, 1007 or 1009; the read ends |
//! | `ws_session` | a whole session (`serve_on` over an in-memory pipe) fed bytes after its handshake | the session ends and is traced (no task failed), with a code its end allows; the outbound queue stays within its limit |
//! | `twitch_body` | `restream::twitch::parse_session_url` | a returned URL passes `validate_ingest_url`; errors within `MAX_ERROR` |
//! | `twitch_url` | `restream::twitch::validate_ingest_url` | an accepted URL is rtmp(s), printable, ends in `/<key>`, within `MAX_INGEST_URL` |
//! | `twitch_response` | the Twitch client reading a whole raw HTTP response | a typed result within the outer timeout; a session only with a valid URL |
//! | `media_codec` | the ingest read path: `LengthDelimitedCodec` (as ingest configures it) then `media::MediaMsg::decode` | no frame larger than the input; the codec buffers at most the input plus one announced frame (its 8 MiB maximum) |
//! | `pads_wire` | `session::pads::wire::decode` (relay requests and messages) | decoded values re-encode within 2× the input |
//! | `publisher_signal` | `session::publisher::signal::decode` (room requests and responses) | as above |
//!
//! The transcode component has no parser of its own (fragments arrive
//! through the ingest bridge, i.e. `media_codec`'s path).
//!
//! Fast on purpose (the whole file well under 10 s in debug): 256 cases for
//! the pure parsers, fewer for the properties that run a paused runtime per
//! case. No failure persistence: a failure prints its minimal input.

use crate::support;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use proptest::prelude::*;
use proptest::test_runner::Config;
use relaysim_core::event::Emitter;
use relaysim_core::media::{Frame, MediaMsg};
use relaysim_core::restream::rtmp::RtmpUrl;
use relaysim_core::restream::twitch::{
    parse_session_url, validate_ingest_url, TwitchApi, TwitchTimeouts, MAX_ERROR, MAX_INGEST_URL,
};
use relaysim_core::restream::FetchResult;
use relaysim_core::session::pads::wire::{self, Catalog, MediaKind, TrackInfo, WireFrame};
use relaysim_core::session::pads::wire::{RelayMessage, RelayRequest};
use relaysim_core::session::publisher::signal::{self, SignalRequest, SignalResponse};
use relaysim_core::session::publisher::TrackKind;
use relaysim_core::session::ws::conn::{Conn, Turn};
use relaysim_core::session::ws::protocol::{parse_command, Command, PayloadKind};
use relaysim_core::session::ws::receive::{Action, Inbound, Receiver};
use relaysim_core::session::ws::{serve_on, ServerStats, WsConfig, WsEvent};
use relaysim_core::{BugSet, KnownBug};
use std::io;
use std::time::Duration;
use support::{mem_listener, Events, MemNet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

// ---- input strategies ------------------------------------------------------

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        2 => any::<usize>().prop_map(Edit::Delete),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len();
        match *e {
            Edit::Flip(i, b) if n > 0 => bytes[i % n] = b,
            Edit::Insert(i, b) => bytes.insert(i % (n + 1), b),
            Edit::Delete(i) if n > 0 => {
                bytes.remove(i % n);
            }
            Edit::Truncate(i) => bytes.truncate(i % (n + 1)),
            _ => {}
        }
    }
    bytes
}

/// Arbitrary bytes, or one of `valid` with a few edits.
fn hostile(valid: Vec<Vec<u8>>, max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..max_len),
        3 => (prop::sample::select(valid), prop::collection::vec(edit(), 0..4))
            .prop_map(|(v, edits)| apply(v, &edits)),
    ]
}

fn text(b: Vec<u8>) -> String {
    String::from_utf8_lossy(&b).into_owned()
}

fn ws_commands() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        Command::Params { seq: 1, knob: 7 }.to_json(),
        Command::SwapSource {
            seq: 3,
            use_server_source: true,
            bytes: 0,
        }
        .to_json(),
        r#"{"type":"frobnicate","seq":4}"#.into(),
        r#"{"seq":5}"#.into(),
        "[1,2,3]".into(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect();
    for k in PayloadKind::ALL {
        v.push(Command::header(k, 2, 3).to_json().into_bytes());
    }
    v
}

// ---- ws: commands, the receive state machine -------------------------------

fn check_command(t: &str) -> Result<(), TestCaseError> {
    match parse_command(t) {
        Ok(cmd) => {
            let again = parse_command(&cmd.to_json());
            prop_assert_eq!(again.as_ref(), Ok(&cmd));
            prop_assert!(cmd.to_json().len() <= 2 * t.len() + 64);
        }
        Err(e) => {
            prop_assert!(!e.error.is_empty());
            prop_assert!(e.error.len() <= 100, "{} bytes of error", e.error.len());
            let value = serde_json::from_str::<serde_json::Value>(t).ok();
            let object = value.as_ref().is_some_and(serde_json::Value::is_object);
            prop_assert_eq!(e.is_invalid_data(), !object);
            let seq = value
                .as_ref()
                .and_then(|v| v.get("seq"))
                .and_then(serde_json::Value::as_u64);
            prop_assert_eq!(e.seq, seq);
        }
    }
    Ok(())
}

/// One input to the receiver.
#[derive(Debug, Clone)]
enum Input {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Wait(u64),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => hostile(ws_commands(), 96).prop_map(Input::Text),
        2 => prop::collection::vec(any::<u8>(), 0..8).prop_map(Input::Binary),
        1 => prop_oneof![0u64..50, 9_000u64..12_000].prop_map(Input::Wait),
    ]
}

proptest! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, .. Config::default() })]

    /// `parse_command` over arbitrary and near-valid text.
    #[test]
    fn ws_command_parser(raw in hostile(ws_commands(), 256)) {
        check_command(&text(raw))?;
    }

    /// The receive state machine over arbitrary message sequences.
    #[test]
    fn ws_receiver(inputs in prop::collection::vec(input(), 0..48), bugs in any::<bool>()) {
        // The pre-fix receive path must be as robust as the fixed one.
        let bugs = if bugs { BugSet::only(KnownBug::OrphanBinaryHeader) } else { BugSet::NONE };
        let mut rx = Receiver::new(bugs, Duration::from_secs(10));
        let mut now = Duration::ZERO;
        for i in inputs {
            now += Duration::from_millis(1);
            let (actions, binary) = match i {
                Input::Wait(ms) => {
                    now += Duration::from_millis(ms);
                    let out = rx.on_time(now);
                    prop_assert!(out.len() <= 1);
                    (out, None)
                }
                Input::Text(t) => (rx.on_message(now, Inbound::Text(text(t))), None),
                Input::Binary(b) => {
                    let b = Bytes::from(b);
                    (rx.on_message(now, Inbound::Binary(b.clone())), Some(b))
                }
            };
            prop_assert!(actions.len() <= 2, "{actions:?}");
            for a in &actions {
                match a {
                    Action::Payload { data, .. } => {
                        prop_assert_eq!(Some(data), binary.as_ref(), "a payload is the bytes that came")
                    }
                    Action::Rejected { error, .. } | Action::Invalid { error } => {
                        prop_assert!(!error.is_empty() && error.len() <= 100)
                    }
                    Action::Stray { bytes } => {
                        prop_assert_eq!(Some(*bytes), binary.as_ref().map(|b| b.len() as u64))
                    }
                    Action::Command(_) | Action::PayloadFailed { .. } => {}
                }
            }
        }
    }
}

// ---- ws: frames, the whole session ------------------------------------------

/// One WebSocket frame as a client would write it, any field possibly wrong.
#[derive(Debug, Clone)]
struct RawFrame {
    head: u8,
    masked: bool,
    key: [u8; 4],
    /// Announced length (may lie), and the payload actually written.
    announced: u64,
    payload: Vec<u8>,
}

fn raw_frame() -> impl Strategy<Value = RawFrame> {
    let opcode = prop_oneof![
        3 => Just(0x1u8), 3 => Just(0x2), 1 => Just(0x0), 1 => Just(0x8),
        1 => Just(0x9), 1 => Just(0xA), 1 => 0u8..16,
    ];
    let payload = prop_oneof![
        2 => hostile(ws_commands(), 64),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ];
    (
        any::<bool>(),
        prop_oneof![6 => Just(0u8), 1 => 0u8..8],
        opcode,
        prop_oneof![9 => Just(true), 1 => Just(false)],
        any::<[u8; 4]>(),
        payload,
        prop_oneof![8 => Just(None), 1 => any::<u64>().prop_map(Some), 1 => (0u64..70_000).prop_map(Some)],
    )
        .prop_map(|(fin, rsv, op, masked, key, payload, lie)| RawFrame {
            head: (u8::from(fin) << 7) | (rsv << 4) | op,
            masked,
            key,
            announced: lie.unwrap_or(payload.len() as u64),
            payload,
        })
}

impl RawFrame {
    fn bytes(&self) -> Vec<u8> {
        let mut b = vec![self.head];
        let mask = if self.masked { 0x80 } else { 0 };
        match self.announced {
            n if n < 126 => b.push(mask | n as u8),
            n if n <= u64::from(u16::MAX) => {
                b.push(mask | 126);
                b.extend((n as u16).to_be_bytes());
            }
            n => {
                b.push(mask | 127);
                b.extend(n.to_be_bytes());
            }
        }
        if self.masked {
            b.extend(self.key);
        }
        b.extend(self.payload.iter().enumerate().map(|(i, x)| {
            if self.masked {
                x ^ self.key[i % 4]
            } else {
                *x
            }
        }));
        b
    }
}

/// Frames, or arbitrary bytes, or both.
fn frame_stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(raw_frame(), 0..8)
            .prop_map(|fs| fs.iter().flat_map(RawFrame::bytes).collect()),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
}

const MAX_MESSAGE: usize = 1024;

fn small_server() -> WsConfig {
    let mut cfg = WsConfig::new("mem:0", BugSet::NONE, 3);
    cfg.max_message = MAX_MESSAGE;
    cfg.max_frame = MAX_MESSAGE / 2;
    cfg.slice_interval = Duration::from_secs(3600);
    cfg.keepalive_interval = Duration::from_secs(1);
    cfg.keepalive_timeout = Duration::from_secs(2);
    cfg
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, .. Config::default() })]

    /// tungstenite's frame reader with the server's limits, as the session's
    /// reader drives it.
    #[test]
    fn ws_frames(bytes in frame_stream()) {
        let cfg = small_server();
        let verdict: Result<(), TestCaseError> = paused_runtime().block_on(async move {
            let (mut client, server) = tokio::io::duplex(bytes.len() + 64 * 1024);
            let ws = WebSocketStream::from_raw_socket(server, Role::Server, Some(cfg.tungstenite())).await;
            let conn = Conn::new(ws, Duration::from_millis(10), Duration::from_millis(1));
            client.write_all(&bytes).await.expect("write");
            client.shutdown().await.expect("shutdown");
            // Each message takes at least two bytes; the read must end.
            for _ in 0..bytes.len() + 8 {
                match conn.read_turn().await {
                    Turn::Message(Message::Text(t)) => prop_assert!(t.len() <= MAX_MESSAGE),
                    Turn::Message(Message::Binary(b)) => prop_assert!(b.len() <= MAX_MESSAGE),
                    Turn::Message(Message::Close(_)) => return Ok(()),
                    Turn::Message(_) | Turn::Idle => {}
                    Turn::Violation { code, kind } => {
                        prop_assert!([1002, 1007, 1009].contains(&code), "{code} {kind}");
                        return Ok(());
                    }
                    Turn::Ended(_) => return Ok(()),
                }
            }
            Err(TestCaseError::fail(format!("{} bytes never ended the read", bytes.len())))
        });
        verdict?;
    }
}

proptest! {
    #![proptest_config(Config { cases: 48, failure_persistence: None, .. Config::default() })]

    /// A whole session fed hostile bytes after its handshake, while the
    /// client reads (and answers pings) as a real one would.
    #[test]
    fn ws_session(bytes in frame_stream()) {
        let cfg = small_server();
        let limit = cfg.queue_limit();
        let verdict: Result<(), TestCaseError> = paused_runtime().block_on(async move {
            let (listener, dialer) = mem_listener(64 * 1024);
            let events = Events::new();
            let stats = ServerStats::new();
            tokio::spawn(serve_on(listener, cfg, Emitter::new("ws-server", events.clone()), stats.clone()));
            let (mut ws, _) = tokio_tungstenite::client_async("ws://ws-server/", dialer.connect())
                .await
                .expect("handshake");
            ws.get_mut().write_all(&bytes).await.expect("write");
            // Then a close frame (1000): a session the bytes left healthy
            // ends with its echo, one left mid-frame by its keepalive.
            let close = RawFrame { head: 0x88, masked: true, key: [1, 2, 3, 4], announced: 2, payload: vec![0x03, 0xe8] };
            ws.get_mut().write_all(&close.bytes()).await.expect("write");
            let closed = tokio::time::timeout(Duration::from_secs(60), async {
                loop {
                    if let Some(e) = events.ws().into_iter().find(|e| matches!(e, WsEvent::SessionClosed { .. })) {
                        return e;
                    }
                    // Reading answers the server's pings.
                    let _ = tokio::time::timeout(Duration::from_millis(50), ws.next()).await;
                }
            })
            .await;
            let Ok(WsEvent::SessionClosed { code, reason, .. }) = closed else {
                return Err(TestCaseError::fail(format!("no ws.session.closed: {:#?}", events.lines())));
            };
            prop_assert!(reason != "task-failed", "a session task failed");
            if reason != "peer-closed" {
                prop_assert!(
                    matches!(code, None | Some(1002 | 1007 | 1009 | 1011)),
                    "code {code:?} reason {reason}"
                );
            }
            prop_assert!(ServerStats::get(&stats.peak_queued) <= limit);
            Ok(())
        });
        verdict?;
    }
}

// ---- restream: the Twitch API client --------------------------------------

const KEY: &str = "live_key";

fn twitch_bodies() -> Vec<Vec<u8>> {
    [
        r#"{"ingest_endpoints":[{"url_template":"rtmp://twitch-ingest:1935/ivs-3/{stream_key}"}]}"#,
        r#"{"ingest_endpoints":[{"url_template":"rtmps://[::1]:443/app/{stream_key}"},{"url_template":"x"}]}"#,
        r#"{"ingest_endpoints":[{"url_template":"rtmp://[::1]:1935/app/{stream_key}"}]}"#,
        r#"{"ingest_endpoints":[{"url_template":"rtmp://h:1/{stream_key}{stream_key}"}]}"#,
        r#"{"ingest_endpoints":[]}"#,
    ]
    .into_iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn check_url(url: &str, key: &str) -> Result<(), TestCaseError> {
    prop_assert!(url.len() <= MAX_INGEST_URL);
    prop_assert!(url.bytes().all(|b| b.is_ascii_graphic()));
    prop_assert!(url.starts_with("rtmp://"));
    // Whatever the fetch accepts becomes the Twitch destination's
    // override: the egress must be able to dial it.
    prop_assert!(RtmpUrl::parse(url).is_ok(), "{url} is not dialable");
    let tail = format!("/{key}");
    prop_assert!(
        !key.is_empty() && url.ends_with(&tail),
        "{url} for key {key:?}"
    );
    Ok(())
}

fn check_error(e: &str) -> Result<(), TestCaseError> {
    prop_assert!(!e.is_empty());
    prop_assert!(
        e.len() <= MAX_ERROR + '…'.len_utf8(),
        "{} bytes of error",
        e.len()
    );
    Ok(())
}

fn keys() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(KEY.to_string()),
        1 => "[a-z_/{}]{0,12}",
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, .. Config::default() })]

    /// The response body parser.
    #[test]
    fn twitch_body(body in hostile(twitch_bodies(), 512), key in keys()) {
        match parse_session_url(&body, &key) {
            Ok(url) => check_url(&url, &key)?,
            Err(FetchResult::Error(e)) => check_error(&e)?,
            Err(other) => prop_assert!(false, "not an error: {other:?}"),
        }
    }

    /// The ingest URL validator.
    #[test]
    fn twitch_url(
        url in hostile(vec![
            b"rtmp://twitch-ingest:1935/ivs-3/live_key".to_vec(),
            b"rtmps://[2001:db8::1]:443/app/live_key".to_vec(),
            b"RTMP://host/live_key".to_vec(),
            b"rtmp://[2001:db8::1]:1935/app/live_key".to_vec(),
        ], 128),
        key in keys(),
    ) {
        let url = text(url);
        match validate_ingest_url(&url, &key) {
            Ok(()) => check_url(&url, &key)?,
            Err(why) => prop_assert!(!why.is_empty()),
        }
    }
}

fn twitch_responses() -> Vec<Vec<u8>> {
    twitch_bodies()
        .into_iter()
        .map(|body| {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend(body);
            r
        })
        .chain([
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\n{}".to_vec(),
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"in\r\n0\r\n\r\n"
                .to_vec(),
        ])
        .collect()
}

proptest! {
    #![proptest_config(Config { cases: 64, failure_persistence: None, .. Config::default() })]

    /// The client reading a whole raw HTTP response (then the service hangs
    /// up, or stays silent).
    #[test]
    fn twitch_response(resp in hostile(twitch_responses(), 512), hang_up in any::<bool>()) {
        let verdict: Result<(), TestCaseError> = paused_runtime().block_on(async move {
            let net = MemNet::spawning(64 * 1024, move |mut s| {
                let resp = resp.clone();
                async move {
                    let mut req = [0u8; 4096];
                    let _ = s.read(&mut req).await;
                    let _ = s.write_all(&resp).await;
                    if !hang_up {
                        std::future::pending::<()>().await;
                    }
                }
            });
            let timeouts = TwitchTimeouts::default();
            let api = TwitchApi::new(net, "twitch-api:80", timeouts);
            let r = tokio::time::timeout(timeouts.outer + Duration::from_secs(1), api.fetch_vod_session(KEY, false)).await;
            match r {
                Err(_) => prop_assert!(false, "the fetch outlived its outer timeout"),
                Ok(FetchResult::Session(url)) => check_url(&url, KEY)?,
                Ok(FetchResult::Error(e)) => check_error(&e)?,
                Ok(FetchResult::Timeout) => {}
            }
            Ok(())
        });
        verdict?;
    }
}

// ---- media and wire codecs --------------------------------------------------

fn media_messages() -> Vec<Vec<u8>> {
    let frames: Vec<Vec<u8>> = [
        MediaMsg::Publish {
            stream_key: KEY.into(),
        },
        MediaMsg::Frame(Frame {
            seq: 9,
            ts_ms: 900,
            keyframe: true,
            payload: Bytes::from_static(b"abcdef"),
        }),
    ]
    .iter()
    .map(|m| {
        let body = m.encode();
        let mut framed = (body.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&body);
        framed
    })
    .collect();
    // A stream of all three, as ingest reads it.
    let mut all = frames.concat();
    all.extend(frames.concat());
    let mut v = frames;
    v.push(all);
    v
}

/// The default frame limit of `LengthDelimitedCodec::new()` (ingest's).
const CODEC_MAX_FRAME: usize = 8 * 1024 * 1024;

proptest! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, .. Config::default() })]

    /// The ingest read path: length-delimited framing, then `MediaMsg::decode`,
    /// fed in arbitrary chunks.
    #[test]
    fn media_codec(stream in hostile(media_messages(), 256), cuts in prop::collection::vec(1usize..64, 1..8)) {
        let mut codec = LengthDelimitedCodec::new();
        let mut buf = BytesMut::new();
        let mut fed = 0usize;
        let mut rest = &stream[..];
        let mut cut = cuts.iter().cycle();
        'feed: while !rest.is_empty() {
            let n = (*cut.next().unwrap_or(&1)).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            fed += n;
            rest = &rest[n..];
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(frame)) => {
                        prop_assert!(frame.len() <= fed);
                        match MediaMsg::decode(frame.clone().freeze()) {
                            Ok(MediaMsg::Frame(f)) => prop_assert_eq!(f.payload.len() + 18, frame.len()),
                            Ok(MediaMsg::Publish { stream_key: s }) => {
                                prop_assert!(s.len() < frame.len())
                            }
                            Err(e) => {
                                prop_assert_eq!(e.kind(), io::ErrorKind::InvalidData);
                                prop_assert!(!e.to_string().is_empty());
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        // An announced frame over the codec's limit.
                        prop_assert_eq!(e.kind(), io::ErrorKind::InvalidData);
                        break 'feed;
                    }
                }
            }
            prop_assert!(
                buf.capacity() <= fed + CODEC_MAX_FRAME + 64,
                "{} bytes buffered for {fed} fed", buf.capacity()
            );
        }
    }

    /// `MediaMsg::decode` alone, over arbitrary message bodies.
    #[test]
    fn media_decode(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let len = body.len();
        match MediaMsg::decode(Bytes::from(body)) {
            Ok(m) => prop_assert!(m.encode().len() <= len),
            Err(e) => {
                prop_assert_eq!(e.kind(), io::ErrorKind::InvalidData);
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}

fn pads_messages() -> Vec<Vec<u8>> {
    let track = TrackInfo {
        name: "cam".into(),
        kind: MediaKind::Video,
        codec: "h264".into(),
        config: 1,
    };
    let msgs = [
        RelayMessage::Catalog(Catalog {
            version: 3,
            tracks: vec![track],
        }),
        RelayMessage::Frame(WireFrame {
            seq: 1,
            ts_ms: 2,
            keyframe: true,
            config: 1,
        }),
        RelayMessage::TrackEnded,
        RelayMessage::Error {
            status: 404,
            reason: "gone".into(),
        },
    ];
    let reqs = [
        RelayRequest::SubscribeCatalog {
            broadcast: "live".into(),
        },
        RelayRequest::SubscribeTrack {
            broadcast: "live".into(),
            track: "mic".into(),
        },
    ];
    msgs.iter()
        .map(|m| wire::encode(m).expect("encode").to_vec())
        .chain(
            reqs.iter()
                .map(|r| wire::encode(r).expect("encode").to_vec()),
        )
        .collect()
}

fn signal_messages() -> Vec<Vec<u8>> {
    let reqs = [
        SignalRequest::Join {
            room: "r".into(),
            identity: "me".into(),
            attempt: 2,
        },
        SignalRequest::Publish {
            track: TrackKind::Audio,
        },
        SignalRequest::Unpublish { sid: "TR_1".into() },
        SignalRequest::Leave,
    ];
    let resps = [
        SignalResponse::Joined,
        SignalResponse::Published {
            track: TrackKind::Video,
            sid: "TR_2".into(),
        },
        SignalResponse::Unpublished { sid: "TR_2".into() },
        SignalResponse::Left,
        SignalResponse::Error { status: 503 },
    ];
    reqs.iter()
        .map(|m| signal::encode(m).expect("encode").to_vec())
        .chain(
            resps
                .iter()
                .map(|r| signal::encode(r).expect("encode").to_vec()),
        )
        .collect()
}

/// Decoding `b` as `T` with `decode`: a value that re-encodes within 2× the
/// input, or an `InvalidData` error with a message.
fn check_json<T, E>(
    b: &[u8],
    decode: impl Fn(&[u8]) -> io::Result<T>,
    encode: impl Fn(&T) -> io::Result<E>,
) -> Result<(), TestCaseError>
where
    E: AsRef<[u8]>,
{
    match decode(b) {
        Ok(v) => {
            let again = encode(&v).expect("encode");
            prop_assert!(again.as_ref().len() <= 2 * b.len() + 16);
        }
        Err(e) => {
            prop_assert_eq!(e.kind(), io::ErrorKind::InvalidData);
            prop_assert!(!e.to_string().is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, .. Config::default() })]

    /// The pads relay protocol's decoder (both directions).
    #[test]
    fn pads_wire(b in hostile(pads_messages(), 256)) {
        check_json(&b, wire::decode::<RelayMessage>, wire::encode)?;
        check_json(&b, wire::decode::<RelayRequest>, wire::encode)?;
    }

    /// The room signalling decoder (both directions).
    #[test]
    fn publisher_signal(b in hostile(signal_messages(), 256)) {
        check_json(&b, signal::decode::<SignalRequest>, signal::encode)?;
        check_json(&b, signal::decode::<SignalResponse>, signal::encode)?;
    }
}
