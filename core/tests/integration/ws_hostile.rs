//! The ws server under hostile peers, one test per behaviour, over in-memory
//! pipes on paused time (tokio's `duplex` behind the `Net` seam: no sockets,
//! no wall clock, every test bounded by a `timeout`).
//!
//! - protocol errors get the right close frame: 1002 for malformed frames,
//!   1007 for non-UTF-8 text and text that is not a JSON object, 1009 for a
//!   frame or a message over the limits; a JSON object that is not a command
//!   is still answered `error` and the session lives;
//! - a peer's close frame is echoed;
//! - a failed `accept()` never stops the server, and a persistent one is
//!   backed off, not spun on;
//! - sessions are capped: over the cap, close 1013 after the handshake, and
//!   beyond the refusal budget the connection is dropped before it;
//! - the outbound queue is bounded: an answer that does not fit closes the
//!   session 1008, a slice that does not fit is shed.

use crate::support;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use relaysim_core::event::Emitter;
use relaysim_core::session::ws::protocol::{Command, ServerMsg};
use relaysim_core::session::ws::server::MAX_REFUSING;
use relaysim_core::session::ws::{serve_on, ServerStats, WsConfig, WsEvent};
use relaysim_core::BugSet;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{mem_listener, Dialer, Events, ADDR};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
// tokio's clock: paused in these tests.
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Bounds every test (paused time: reached at once if everything idles).
pub(crate) const BOUND: Duration = Duration::from_secs(120);

pub(crate) type Client = WebSocketStream<DuplexStream>;

/// A quiet server: no slices, no keepalive pings within a test.
pub(crate) fn config() -> WsConfig {
    let mut cfg = WsConfig::new("mem:0", BugSet::NONE, 1);
    cfg.slice_interval = Duration::from_secs(3600);
    cfg.keepalive_interval = Duration::from_secs(3600);
    cfg
}

pub(crate) struct Server {
    pub(crate) dialer: Dialer,
    pub(crate) events: Arc<Events>,
    pub(crate) stats: Arc<ServerStats>,
}

pub(crate) fn start(cfg: WsConfig, pipe: usize) -> Server {
    let (listener, dialer) = mem_listener(pipe);
    let events = Events::new();
    let stats = ServerStats::new();
    let emitter = Emitter::new("ws-server", events.clone());
    tokio::spawn(serve_on(listener, cfg, emitter, stats.clone()));
    Server {
        dialer,
        events,
        stats,
    }
}

pub(crate) async fn connect(server: &Server) -> Client {
    let (ws, _) = tokio_tungstenite::client_async("ws://ws-server/", server.dialer.connect())
        .await
        .expect("handshake");
    ws
}

/// Reads until the server's close frame; its code (`None`: the stream ended
/// without one).
pub(crate) async fn close_code(ws: &mut Client) -> Option<u16> {
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
    None
}

/// Waits (paused time) until an event matches.
pub(crate) async fn wait_for(
    events: &Events,
    what: &str,
    pred: impl Fn(&WsEvent) -> bool,
) -> WsEvent {
    let found = timeout(Duration::from_secs(30), async {
        loop {
            if let Some(e) = events.ws().into_iter().find(&pred) {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no {what} in {:#?}", events.lines()))
}

/// The `ws.session.closed` line of connection `conn`.
async fn closed_line(server: &Server, conn: u64) -> String {
    let e = wait_for(
        &server.events,
        "ws.session.closed",
        |e| matches!(e, WsEvent::SessionClosed { conn: c, .. } if *c == conn),
    )
    .await;
    e.to_string()
}

/// Sends 2,000 commands on `tx` (until it fails), never reading their
/// answers: the server's outbound queue fills.
pub(crate) fn flood(
    mut tx: futures_util::stream::SplitSink<Client, Message>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for seq in 1..=2_000u64 {
            let cmd = Command::Params { seq, knob: 0 };
            if tx.send(Message::text(cmd.to_json())).await.is_err() {
                break;
            }
        }
    })
}

/// A masked client frame, raw: `head` is FIN/RSV/opcode, mask key zero.
pub(crate) fn raw_frame(head: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut b = vec![head, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    b.extend_from_slice(payload);
    b
}

#[tokio::test(start_paused = true)]
async fn malformed_frames_close_1002() {
    timeout(BOUND, async {
        let server = start(config(), 64 * 1024);
        let cases: [(&str, Vec<u8>); 6] = [
            ("unmasked", vec![0x82, 0x03, b'a', b'b', b'c']),
            ("reserved bit", raw_frame(0xC2, b"abc")),
            ("reserved opcode", raw_frame(0x83, b"abc")),
            ("continuation of nothing", raw_frame(0x80, b"abc")),
            ("fragmented ping", raw_frame(0x09, b"p")),
            ("binary inside a text message", {
                let mut b = raw_frame(0x01, b"{\"ty");
                b.extend(raw_frame(0x82, b"xyz"));
                b
            }),
        ];
        for (i, (what, bytes)) in cases.into_iter().enumerate() {
            let mut ws = connect(&server).await;
            ws.get_mut().write_all(&bytes).await.expect("write");
            assert_eq!(close_code(&mut ws).await, Some(1002), "{what}");
            let line = closed_line(&server, i as u64 + 1).await;
            assert!(
                line.contains("code=1002 reason=protocol-"),
                "{what}: {line}"
            );
        }
        assert_eq!(ServerStats::get(&server.stats.protocol_closes), 6);
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn non_utf8_text_closes_1007() {
    timeout(BOUND, async {
        let server = start(config(), 64 * 1024);
        let mut ws = connect(&server).await;
        let bad = Frame::message(
            Bytes::from_static(&[0x7b, 0xff, 0xfe, 0x7d]),
            OpCode::Data(Data::Text),
            true,
        );
        ws.send(Message::Frame(bad)).await.expect("send");
        assert_eq!(close_code(&mut ws).await, Some(1007));
        assert_eq!(
            closed_line(&server, 1).await,
            "ws.session.closed conn=1 code=1007 reason=utf8"
        );
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn text_that_is_not_a_json_object_closes_1007_and_other_json_is_answered() {
    timeout(BOUND, async {
        let server = start(config(), 64 * 1024);
        let mut ws = connect(&server).await;
        // A JSON object that is not a command: answered, the session lives.
        ws.send(Message::text(r#"{"type":"frobnicate","seq":1}"#))
            .await
            .expect("send");
        ws.send(Message::text(Command::Params { seq: 2, knob: 0 }.to_json()))
            .await
            .expect("send");
        let mut answers = Vec::new();
        while answers.len() < 2 {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    answers.push(ServerMsg::parse(t.as_str()).expect("an answer"))
                }
                Some(Ok(_)) => {}
                other => panic!("read {other:?}"),
            }
        }
        assert!(
            matches!(&answers[0], ServerMsg::Error { seq: Some(1), error } if error == "unknown command type frobnicate")
        );
        assert_eq!(answers[1], ServerMsg::ParamsAck { seq: 2 });
        // Text that is not a JSON object: invalid payload data.
        ws.send(Message::text("{not json")).await.expect("send");
        assert_eq!(close_code(&mut ws).await, Some(1007));
        assert_eq!(
            closed_line(&server, 1).await,
            "ws.session.closed conn=1 code=1007 reason=invalid-json"
        );
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn frames_and_messages_over_the_limits_close_1009() {
    timeout(BOUND, async {
        let mut cfg = config();
        cfg.max_message = 1024;
        cfg.max_frame = 600;
        let server = start(cfg, 64 * 1024);

        // One frame over max_frame: refused on its header.
        let mut ws = connect(&server).await;
        ws.send(Message::Binary(Bytes::from(vec![1u8; 601])))
            .await
            .expect("send");
        assert_eq!(close_code(&mut ws).await, Some(1009));

        // Fragments each under max_frame, the message over max_message.
        let mut ws = connect(&server).await;
        let piece = Bytes::from(vec![2u8; 512]);
        for (i, op) in [Data::Binary, Data::Continue, Data::Continue]
            .into_iter()
            .enumerate()
        {
            let f = Frame::message(piece.clone(), OpCode::Data(op), i == 2);
            // The server may close before the last piece is written.
            if ws.send(Message::Frame(f)).await.is_err() {
                break;
            }
        }
        assert_eq!(close_code(&mut ws).await, Some(1009));

        // At the limits: accepted (a stray binary, traced and dropped).
        let mut ws = connect(&server).await;
        ws.send(Message::Binary(Bytes::from(vec![3u8; 600])))
            .await
            .expect("send");
        wait_for(&server.events, "the stray", |e| {
            matches!(
                e,
                WsEvent::PayloadStray {
                    conn: 3,
                    bytes: 600
                }
            )
        })
        .await;

        for conn in 1..=2 {
            assert_eq!(
                closed_line(&server, conn).await,
                format!("ws.session.closed conn={conn} code=1009 reason=capacity")
            );
        }
        drop(ws);
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn a_peers_close_frame_is_echoed() {
    timeout(BOUND, async {
        let server = start(config(), 64 * 1024);
        for (conn, code) in [(1u64, 1000u16), (2, 4000)] {
            let mut ws = connect(&server).await;
            ws.close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: "bye".into(),
            }))
            .await
            .expect("close");
            match ws.next().await {
                Some(Ok(Message::Close(Some(f)))) => {
                    assert_eq!((u16::from(f.code), f.reason.as_str()), (code, "bye"))
                }
                other => panic!("no echo: {other:?}"),
            }
            assert_eq!(
                closed_line(&server, conn).await,
                format!("ws.session.closed conn={conn} code={code} reason=peer-closed")
            );
        }
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn accept_errors_never_stop_the_server() {
    timeout(BOUND, async {
        let server = start(config(), 64 * 1024);
        let t0 = Instant::now();
        for _ in 0..4 {
            // EMFILE: too many open files.
            server.dialer.fail(io::Error::from_raw_os_error(24));
        }
        server
            .dialer
            .fail(io::Error::from(io::ErrorKind::ConnectionReset));
        server
            .dialer
            .fail(io::Error::from(io::ErrorKind::ConnectionAborted));
        let mut ws = connect(&server).await;
        ws.send(Message::text(Command::Params { seq: 1, knob: 0 }.to_json()))
            .await
            .expect("send");
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    assert_eq!(
                        ServerMsg::parse(t.as_str()),
                        Some(ServerMsg::ParamsAck { seq: 1 })
                    );
                    break;
                }
                Some(Ok(_)) => {}
                other => panic!("read {other:?}"),
            }
        }
        let errors: Vec<String> = server
            .events
            .ws()
            .iter()
            .filter(|e| matches!(e, WsEvent::AcceptError { .. }))
            .map(ToString::to_string)
            .collect();
        let emfile = format!("io-{:?}", io::Error::from_raw_os_error(24).kind());
        assert_eq!(
            errors,
            [
                format!("ws.accept.error kind={emfile} backoff_ms=10"),
                format!("ws.accept.error kind={emfile} backoff_ms=20"),
                format!("ws.accept.error kind={emfile} backoff_ms=40"),
                format!("ws.accept.error kind={emfile} backoff_ms=80"),
                "ws.accept.error kind=io-ConnectionReset backoff_ms=160".to_string(),
                "ws.accept.error kind=io-ConnectionAborted backoff_ms=320".to_string(),
            ]
        );
        assert!(
            t0.elapsed() >= Duration::from_millis(630),
            "the backoff was not waited"
        );
        assert_eq!(ServerStats::get(&server.stats.accept_errors), 6);
        assert_eq!(ServerStats::get(&server.stats.sessions_opened), 1);
    })
    .await
    .expect("bounded");
}

/// A listener whose every `accept()` fails.
struct Broken {
    calls: Arc<AtomicU64>,
}

impl relaysim_core::net::NetListener for Broken {
    type Stream = DuplexStream;

    fn accept(
        &mut self,
    ) -> impl std::future::Future<Output = io::Result<(DuplexStream, SocketAddr)>> + Send {
        self.calls.fetch_add(1, Ordering::AcqRel);
        async { Err(io::Error::from_raw_os_error(24)) }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(ADDR)
    }
}

#[tokio::test(start_paused = true)]
async fn a_persistent_accept_error_is_backed_off_not_spun_on() {
    let calls = Arc::new(AtomicU64::new(0));
    let listener = Broken {
        calls: calls.clone(),
    };
    let events = Events::new();
    let serve = serve_on(
        listener,
        config(),
        Emitter::new("ws-server", events.clone()),
        ServerStats::new(),
    );
    // 60 s of a listener that always fails: the server is still serving.
    let r = timeout(Duration::from_secs(60), serve).await;
    assert!(r.is_err(), "the server stopped: {r:?}");
    // 10+20+…+640 ms (7 calls, 1.27 s), then one call a second.
    let n = calls.load(Ordering::Acquire);
    assert!((60..=70).contains(&n), "{n} accept() calls in 60 s");
    let last = events.ws().last().map(ToString::to_string);
    assert!(
        last.as_deref()
            .is_some_and(|l| l.ends_with("backoff_ms=1000")),
        "{last:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn sessions_over_the_cap_are_refused_with_1013() {
    timeout(BOUND, async {
        let mut cfg = config();
        cfg.max_sessions = 2;
        let server = start(cfg, 64 * 1024);
        let mut a = connect(&server).await;
        let _b = connect(&server).await;
        // Over the cap: the handshake completes, then close 1013.
        let mut c = connect(&server).await;
        assert_eq!(close_code(&mut c).await, Some(1013));
        wait_for(&server.events, "the refusal", |e| {
            matches!(
                e,
                WsEvent::SessionRefused {
                    code: Some(1013),
                    cap: 2
                }
            )
        })
        .await;
        // A session ends: its place is free again.
        a.close(None).await.expect("close");
        closed_line(&server, 1).await;
        let mut d = connect(&server).await;
        d.send(Message::text(Command::Params { seq: 1, knob: 0 }.to_json()))
            .await
            .expect("send");
        let got = loop {
            match d.next().await {
                Some(Ok(Message::Text(t))) => break ServerMsg::parse(t.as_str()),
                Some(Ok(_)) => {}
                other => panic!("read {other:?}"),
            }
        };
        assert_eq!(got, Some(ServerMsg::ParamsAck { seq: 1 }));
        assert_eq!(ServerStats::get(&server.stats.sessions_refused), 1);
        // Refused connections take no connection number.
        assert_eq!(ServerStats::get(&server.stats.sessions_opened), 3);
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn refusals_beyond_their_budget_are_dropped_before_the_handshake() {
    timeout(BOUND, async {
        let mut cfg = config();
        cfg.max_sessions = 0;
        let server = start(cfg, 64 * 1024);
        // Silent connections hold every refusal slot (no handshake comes).
        let silent: Vec<DuplexStream> =
            (0..MAX_REFUSING).map(|_| server.dialer.connect()).collect();
        let mut extra = server.dialer.connect();
        let mut buf = [0u8; 16];
        let n = timeout(Duration::from_secs(1), extra.read(&mut buf))
            .await
            .expect("dropped at once")
            .unwrap_or(0);
        assert_eq!(n, 0, "the connection was not dropped");
        let refused: Vec<String> = server
            .events
            .ws()
            .iter()
            .filter(|e| matches!(e, WsEvent::SessionRefused { .. }))
            .map(ToString::to_string)
            .collect();
        let mut want = vec!["ws.session.refused code=1013 cap=0".to_string(); MAX_REFUSING];
        want.push("ws.session.refused code=none cap=0".into());
        assert_eq!(refused, want);
        // The handshake timeout frees the slots: a refusal with 1013 again.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let mut ws = connect(&server).await;
        assert_eq!(close_code(&mut ws).await, Some(1013));
        drop(silent);
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn a_full_outbound_queue_closes_the_session_1008() {
    timeout(BOUND, async {
        let mut cfg = config();
        let limit = 40 * 64;
        cfg.max_queued = Some(limit);
        // Small pipes: the answers back up as soon as the client stops reading.
        let server = start(cfg, 1024);
        let ws = connect(&server).await;
        let (tx, mut rx) = ws.split();
        let flood = flood(tx);
        let full = wait_for(&server.events, "ws.queue.full", |e| {
            matches!(e, WsEvent::QueueFull { .. })
        })
        .await;
        assert!(
            matches!(full, WsEvent::QueueFull { conn: 1, queued, bytes: 64, limit: l } if l == limit && queued + 64 > limit),
            "{full}"
        );
        // The client reads again: the answers that were queued, then 1008.
        let mut acks = 0u64;
        let code = loop {
            match rx.next().await {
                Some(Ok(Message::Text(_))) => acks += 1,
                Some(Ok(Message::Close(f))) => break f.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                other => panic!("read {other:?} after {acks} answers"),
            }
        };
        assert_eq!(code, Some(1008));
        assert_eq!(
            closed_line(&server, 1).await,
            "ws.session.closed conn=1 code=1008 reason=queue-full"
        );
        assert!(ServerStats::get(&server.stats.peak_queued) <= limit);
        assert_eq!(ServerStats::get(&server.stats.queue_full), 1);
        flood.abort();
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn slices_that_do_not_fit_the_queue_are_shed_not_fatal() {
    timeout(BOUND, async {
        let mut cfg = config();
        cfg.max_queued = Some(16 * 1024);
        cfg.slice_interval = Duration::from_millis(100);
        cfg.slice_bytes = (20 * 1024, 20 * 1024);
        let server = start(cfg, 1024);
        let _ws = connect(&server).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let ws = server.events.ws();
        let shed = ws
            .iter()
            .filter(|e| matches!(e, WsEvent::SliceShed { conn: 1, .. }))
            .count();
        assert!(
            shed >= 15,
            "{shed} slices shed: {:#?}",
            server.events.lines()
        );
        assert!(
            !ws.iter()
                .any(|e| matches!(e, WsEvent::QueueFull { .. } | WsEvent::SessionClosed { .. })),
            "{:#?}",
            server.events.lines()
        );
    })
    .await
    .expect("bounded");
}
