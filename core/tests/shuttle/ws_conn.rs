//! The ws connection lock, the real `Conn` (a tokio-tungstenite stream
//! behind a FIFO `tokio::sync::Mutex`, its read turns bounded by
//! `relaysim_core::rt::timeout`, its backoff `rt::sleep`), whole surface,
//! over an in-memory socket: a `tokio::io::duplex` whose window holds
//! [`WINDOW`] bytes per direction, so a send fills it and, on the fixed
//! path, must let go of the lock. The peer is tokio-tungstenite's client
//! side of the same duplex (no handshake: `from_raw_socket`).
//!
//! Tasks (shuttle futures): the reader (read turns in a loop, as the
//! session's reader), the bulk writer (three pushes of the session's piece
//! schedule: one fragmented, one whole, one fragmented), the keepalive
//! (pings), the peer (it uploads two messages, a binary larger than the
//! window and a text, and reads only once its upload went through, as a
//! single-threaded client does; then reads everything, answering pings and
//! the close), and the closer. Two endings: the server closes
//! ([`Conn::close`]) once the reader has the peer's upload, while the bulk
//! writer and the keepalive may still be sending; or the peer closes once
//! it has every push and ping, and the reader echoes it
//! ([`Conn::echo_close`]).
//!
//! Invariants after every execution:
//! - every push and every ping reaches the peer exactly once, in its
//!   sender's order, whole (a fragmented push is not interleaved with
//!   another data frame; pings may come between its fragments): the peer
//!   gets a prefix of each sender's sequence, which holds every send that
//!   returned `Ok` (and at most the one whose send failed under the close);
//! - every peer message is read by the reader exactly once, in order,
//!   whole;
//! - pongs come back in order (tungstenite may answer only the latest
//!   ping);
//! - the close: the peer sees exactly one close frame with the closer's
//!   code (or the reader sees the peer's, and echoes it); every send that
//!   fails fails as closing ([`is_closing`]), never otherwise; after the
//!   close a send fails and a read turn reports the end, without waiting;
//! - reads are not starved: no execution deadlocks or spins forever
//!   (shuttle fails both). Under shuttle there is no clock, so "not
//!   starved" is stated as progress against a peer that reads only once
//!   its own upload went through: the upload needs the reader, and the
//!   bulk writer's pushes need the peer to read, so the reader must get
//!   the lock while a bulk send waits on the window. Across the executions
//!   that happens (the reader reads a peer message while a bulk send is in
//!   progress).
//!
//! Known bug: `bulk-send-starves-recv` (every send through
//! [`Conn::send_holding`], whole messages): the bulk writer holds the lock
//! waiting for a window only the peer can drain, the peer waits for the
//! reader to take its upload, the reader and the keepalive wait for the
//! lock: shuttle reports the deadlock.

use super::{explore, must_find};
use futures_util::{SinkExt, StreamExt};
use relaysim_core::rt;
use relaysim_core::session::ws::conn::{error_kind, is_closing, Conn, Turn};
use relaysim_core::session::ws::fragment::{self, SendPolicy};
use relaysim_core::{BugSet, KnownBug};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::DuplexStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::WebSocketStream;

/// Bytes the socket holds per direction.
const WINDOW: usize = 128;
/// The bulk writer's piece size (the session's `chunk_size`).
const CHUNK: usize = 160;
/// The bulk writer's pushes, in bytes.
const PUSHES: [usize; 3] = [400, 120, 400];
/// The keepalive's pings.
const PINGS: u64 = 2;
/// The peer's binary upload (larger than the window).
const UPLOAD: usize = 300;
/// The close code of the server's close, and of the peer's.
const SERVER_CLOSE: u16 = 1000;
const PEER_CLOSE: u16 = 4000;
/// Irrelevant under shuttle (any bound may run out at any point).
const READ_TURN: Duration = Duration::from_millis(50);
const BACKOFF: Duration = Duration::from_millis(10);
const GRACE: Duration = Duration::from_secs(1);

/// Who ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Server,
    Peer,
}

/// The contents of push or upload `id`: its byte `k` is a function of
/// `(id, k)`, so a torn, shifted or mixed message shows.
fn payload(id: u8, len: usize) -> Bytes {
    (0..len)
        .map(|k| (k as u8).wrapping_mul(31) ^ id)
        .collect::<Vec<u8>>()
        .into()
}

/// Which push or upload `b` is, if it is one whole.
fn which(b: &[u8], candidates: impl Iterator<Item = (u8, usize)>) -> Option<u8> {
    candidates
        .filter(|&(id, len)| b.len() == len && b == &payload(id, len)[..])
        .map(|(id, _)| id)
        .next()
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(WINDOW)
}

/// What `Session::send` does: the bounded hold on the fixed path, the lock
/// held to the last byte on the pre-fix path.
async fn send(
    conn: &Conn<DuplexStream>,
    policy: SendPolicy,
    msg: Message,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    if policy.release_when_blocked {
        conn.send_bounded(msg).await
    } else {
        conn.send_holding(msg).await
    }
}

/// A send's failure must be the connection closing.
fn failed_cleanly(who: &str, e: &tokio_tungstenite::tungstenite::Error) {
    assert!(
        is_closing(e),
        "{who}'s send failed with {} (not a closing connection)",
        error_kind(e)
    );
}

/// What the peer saw.
#[derive(Debug, Default)]
struct PeerLog {
    pushes: Vec<u8>,
    pings: Vec<u64>,
    closes: Vec<Option<u16>>,
}

/// What happened across executions (the interleavings the invariants are
/// meant for did occur).
#[derive(Debug, Default)]
struct Coverage {
    /// Peer messages the reader read while a bulk send was in progress.
    overlapped: AtomicUsize,
    /// Executions where the close cut a push or a ping short.
    cut_short: AtomicUsize,
    /// Executions where every push and ping went out before the close.
    all_out: AtomicUsize,
}

/// The model, counting what happened into `cov`.
fn model(ending: Ending, bugs: BugSet, cov: Arc<Coverage>) -> impl Fn() + Send + Sync {
    let policy = SendPolicy::for_bugs(bugs, CHUNK);
    move || {
        let cov = cov.clone();
        let o = cov.clone();
        shuttle::future::block_on(async move {
            let (server_io, peer_io) = tokio::io::duplex(WINDOW);
            let server =
                WebSocketStream::from_raw_socket(server_io, Role::Server, Some(ws_config())).await;
            let mut peer =
                WebSocketStream::from_raw_socket(peer_io, Role::Client, Some(ws_config())).await;
            let conn = Arc::new(Conn::new(server, READ_TURN, BACKOFF));
            let bulk_in_flight = Arc::new(AtomicBool::new(false));
            let (upload_read_tx, upload_read_rx) = tokio::sync::oneshot::channel::<()>();
            let (pushed_tx, pushed_rx) = tokio::sync::oneshot::channel::<()>();

            // The reader: read turns until the close, as the session's reader.
            let reader = {
                let (conn, bulk_in_flight, o) = (conn.clone(), bulk_in_flight.clone(), o.clone());
                shuttle::future::spawn(async move {
                    let mut got = Vec::new();
                    let mut pongs = Vec::new();
                    let mut upload_read = Some(upload_read_tx);
                    let peer_close = loop {
                        let turn = conn.read_turn().await;
                        match turn {
                            Turn::Idle => continue,
                            Turn::Message(Message::Binary(b)) => {
                                let id = which(&b, [(100, UPLOAD)].into_iter());
                                assert!(
                                    id.is_some(),
                                    "the reader got a torn upload of {} bytes",
                                    b.len()
                                );
                                got.push("upload".to_string());
                            }
                            Turn::Message(Message::Text(t)) => got.push(t.as_str().to_string()),
                            Turn::Message(Message::Pong(p)) => {
                                let raw = <[u8; 8]>::try_from(p.as_ref()).expect("an 8-byte pong");
                                pongs.push(u64::from_be_bytes(raw));
                            }
                            Turn::Message(Message::Ping(_) | Message::Frame(_)) => {}
                            Turn::Message(Message::Close(frame)) => {
                                break frame.map(|f| u16::from(f.code));
                            }
                            Turn::Ended(kind) => panic!("the read ended ({kind}) before a close"),
                            Turn::Violation { code, kind } => {
                                panic!("the reader saw a protocol violation {code} ({kind})")
                            }
                        }
                        if bulk_in_flight.load(Ordering::SeqCst) {
                            o.overlapped.fetch_add(1, Ordering::Relaxed);
                        }
                        if got.len() == 2 {
                            if let Some(tx) = upload_read.take() {
                                let _ = tx.send(());
                            }
                        }
                    };
                    if ending == Ending::Peer {
                        assert_eq!(peer_close, Some(PEER_CLOSE), "the reader got another close");
                        loop {
                            if conn.echo_close(GRACE).await.is_some() {
                                break;
                            }
                        }
                    } else {
                        assert_eq!(peer_close, Some(SERVER_CLOSE), "the peer's close reply");
                    }
                    (got, pongs)
                })
            };

            // The bulk writer: the session's `write_one`, push by push.
            let writer = {
                let (conn, bulk_in_flight) = (conn.clone(), bulk_in_flight.clone());
                shuttle::future::spawn(async move {
                    let pushed = pushed_tx;
                    let mut ok = 0usize;
                    for (id, &len) in PUSHES.iter().enumerate() {
                        let data = payload(id as u8, len);
                        let pieces = policy.pieces(len);
                        bulk_in_flight.store(true, Ordering::SeqCst);
                        let sent = if pieces.len() == 1 {
                            send(&conn, policy, Message::Binary(data)).await
                        } else {
                            let mut r = Ok(());
                            for piece in &pieces {
                                r = send(
                                    &conn,
                                    policy,
                                    Message::Frame(fragment::frame(&data, piece)),
                                )
                                .await;
                                if r.is_err() {
                                    break;
                                }
                            }
                            r
                        };
                        bulk_in_flight.store(false, Ordering::SeqCst);
                        match sent {
                            Ok(()) => ok += 1,
                            Err(e) => {
                                failed_cleanly("the bulk writer", &e);
                                break;
                            }
                        }
                    }
                    let _ = pushed.send(());
                    ok
                })
            };

            // The keepalive: pings, a backoff apart.
            let keepalive = {
                let conn = conn.clone();
                shuttle::future::spawn(async move {
                    let mut ok = 0u64;
                    for n in 0..PINGS {
                        let ping = Message::Ping(Bytes::copy_from_slice(&n.to_be_bytes()));
                        match send(&conn, policy, ping).await {
                            Ok(()) => ok += 1,
                            Err(e) => {
                                failed_cleanly("the keepalive", &e);
                                break;
                            }
                        }
                        rt::sleep(BACKOFF).await;
                    }
                    ok
                })
            };

            // The peer: its upload first (each send waits for the window),
            // then everything the server sends, to the close.
            let peer_task = shuttle::future::spawn(async move {
                let mut log = PeerLog::default();
                peer.send(Message::Binary(payload(100, UPLOAD)))
                    .await
                    .expect("the peer's upload");
                peer.send(Message::text("peer-text"))
                    .await
                    .expect("the peer's text");
                let mut closing = false;
                while let Some(m) = peer.next().await {
                    match m {
                        Ok(Message::Binary(b)) => {
                            let id =
                                which(&b, PUSHES.iter().enumerate().map(|(i, &l)| (i as u8, l)));
                            let id = id.unwrap_or_else(|| {
                                panic!(
                                    "the peer got a torn push of {} bytes after {:?}",
                                    b.len(),
                                    log.pushes
                                )
                            });
                            log.pushes.push(id);
                        }
                        Ok(Message::Ping(p)) => {
                            let raw = <[u8; 8]>::try_from(p.as_ref()).expect("an 8-byte ping");
                            log.pings.push(u64::from_be_bytes(raw));
                        }
                        Ok(Message::Close(frame)) => {
                            log.closes.push(frame.map(|f| u16::from(f.code)))
                        }
                        Ok(other) => panic!("the peer got {other:?}"),
                        Err(e) => panic!("the peer's read failed: {e}"),
                    }
                    let all = log.pushes.len() == PUSHES.len() && log.pings.len() == PINGS as usize;
                    if ending == Ending::Peer && all && !closing {
                        closing = true;
                        let frame = CloseFrame {
                            code: CloseCode::from(PEER_CLOSE),
                            reason: "bye".into(),
                        };
                        peer.close(Some(frame)).await.expect("the peer's close");
                    }
                }
                log
            });

            // The closer: the server's close once the reader has the
            // upload, after a bounded wait for the bulk writer (so the close
            // may cut its pushes short, or not); when the peer closes, nothing.
            let closer = {
                let conn = conn.clone();
                shuttle::future::spawn(async move {
                    if ending == Ending::Server {
                        upload_read_rx.await.expect("the reader signals");
                        // The session's end comes when it comes: give the
                        // bulk writer a bounded while to finish.
                        let mut pushed = pushed_rx;
                        for _ in 0..3 {
                            if rt::timeout(GRACE, &mut pushed).await.is_ok() {
                                break;
                            }
                        }
                        loop {
                            if conn.close(SERVER_CLOSE, "done", GRACE).await.is_some() {
                                break;
                            }
                        }
                    }
                })
            };

            let (got, pongs) = reader.await.expect("the reader");
            closer.await.expect("the closer");
            let pushes_ok = writer.await.expect("the bulk writer");
            let pings_ok = keepalive.await.expect("the keepalive");

            // After the close: a send fails as closing, a read turn ends.
            match conn.send_bounded(Message::text("late")).await {
                Ok(()) => panic!("a send after the close succeeded"),
                Err(e) => failed_cleanly("a late sender", &e),
            }
            let after = conn.read_turn().await;
            assert!(
                matches!(after, Turn::Ended(_)),
                "a read turn after the close: {after:?}"
            );
            // The session ends: the socket goes, and the peer (a client
            // waits for the server to drop the connection) sees its end.
            drop(conn);
            let log = peer_task.await.expect("the peer");

            // Order, exactly once, whole.
            assert_eq!(
                got,
                ["upload", "peer-text"],
                "what the reader read of the peer's upload"
            );
            let expect_pushes: Vec<u8> = (0..log.pushes.len() as u8).collect();
            assert_eq!(
                log.pushes, expect_pushes,
                "the pushes the peer got, in order"
            );
            assert!(
                log.pushes.len() == pushes_ok || log.pushes.len() == pushes_ok + 1,
                "{pushes_ok} pushes sent, the peer got {:?}",
                log.pushes
            );
            let expect_pings: Vec<u64> = (0..log.pings.len() as u64).collect();
            assert_eq!(log.pings, expect_pings, "the pings the peer got, in order");
            assert!(
                log.pings.len() as u64 == pings_ok || log.pings.len() as u64 == pings_ok + 1,
                "{pings_ok} pings sent, the peer got {:?}",
                log.pings
            );
            assert!(
                pongs.windows(2).all(|w| w[0] < w[1]) && pongs.iter().all(|&p| p < PINGS),
                "pongs out of order: {pongs:?}"
            );
            if pushes_ok == PUSHES.len() && pings_ok == PINGS {
                cov.all_out.fetch_add(1, Ordering::Relaxed);
            } else {
                cov.cut_short.fetch_add(1, Ordering::Relaxed);
            }
            match ending {
                Ending::Server => {
                    assert_eq!(
                        log.closes,
                        [Some(SERVER_CLOSE)],
                        "the close frames the peer got"
                    )
                }
                Ending::Peer => {
                    assert_eq!(
                        log.pushes.len(),
                        PUSHES.len(),
                        "every push reached the peer"
                    );
                    assert_eq!(log.pings.len() as u64, PINGS, "every ping reached the peer");
                    assert_eq!(log.closes, [Some(PEER_CLOSE)], "the echo the peer got");
                }
            }
        });
    }
}

#[test]
fn shuttle_ws_conn_whole_surface() {
    for (name, ending) in [
        ("ws-conn", Ending::Server),
        ("ws-conn-peer-close", Ending::Peer),
    ] {
        let cov = Arc::new(Coverage::default());
        let n = explore(name, model(ending, BugSet::NONE, cov.clone()));
        if n <= 1 {
            continue; // a replay
        }
        let get = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        let (o, cut, all) = (get(&cov.overlapped), get(&cov.cut_short), get(&cov.all_out));
        eprintln!("{name}: {o} reads during a bulk send; {cut} executions cut short by the close, {all} not");
        assert!(
            o > 0,
            "{name}: over {n} executions the reader never read while a bulk send was in progress"
        );
        if ending == Ending::Server {
            assert!(
                cut > 0 && all > 0,
                "{name}: over {n} executions the close cut {cut} short and {all} not: both must occur"
            );
        }
    }
}

#[cfg(feature = "known-bugs")]
#[test]
fn shuttle_ws_conn_finds_bulk_send_starves_recv() {
    must_find(
        "ws-conn-bulk-send-starves-recv",
        &["deadlock"],
        model(
            Ending::Server,
            BugSet::only(KnownBug::BulkSendStarvesRecv),
            Arc::new(Coverage::default()),
        ),
    );
}
