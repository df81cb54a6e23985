//! The ws contract's resource clause (R1 in docs/contracts.md: "no task
//! outlives its session"), judged from outside the server: by the runtime's
//! own count of live tasks (tokio's `RuntimeMetrics::num_alive_tasks`), never
//! by the server's counters or its trace.
//!
//! Each test starts a server on paused time, counts the live tasks, ends
//! sessions one way (the peer closes, drops the link, breaks the protocol,
//! stops reading, floods the queue, never finishes a handshake, is refused
//! over the cap) while the session's tasks are busy (slices flowing, a swap
//! generating or pushing, an upload's payload awaited, a ping outstanding),
//! drops its clients, lets every deadline the server holds pass, and then
//! requires exactly the tasks it counted before: the server's accept loop.
//!
//! The trace's check (`session-acts-only-while-open`) sees a leaked task
//! only when it acts after its session closed; these tests see a silent one
//! too. A leak fails with the number of tasks left and the server's trace.

use crate::support::{alive_tasks, no_task_left};
use crate::ws_hostile::{
    close_code, config, connect, flood, raw_frame, start, wait_for, Server, BOUND,
};
use futures_util::{SinkExt, StreamExt};
use relaysim_core::session::ws::protocol::Command;
use relaysim_core::session::ws::{WsConfig, WsEvent};
use relaysim_core::BugSet;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::{sleep, timeout};
use tokio_tungstenite::tungstenite::Message;

/// Longer than every deadline the server holds once its peers are gone:
/// the handshake (5 s), an upload's payload wait (10 s), the keepalive's
/// ping and pong (2 s + 4 s), the close grace (200 ms).
const QUIET: Duration = Duration::from_secs(60);

/// Bytes each direction of a pipe buffers.
const PIPE: usize = 64 * 1024;

/// A server whose session tasks all have work: slices every 100 ms, a ping
/// every 2 s, swaps that take 100-400 ms to generate and push 16-32 KiB
/// parts (small, so a test moves little), frames over 4 KiB refused.
fn busy() -> WsConfig {
    let mut cfg = WsConfig::new("mem:0", BugSet::NONE, 7);
    cfg.slice_interval = Duration::from_millis(100);
    cfg.slice_bytes = (1024, 4 * 1024);
    cfg.mirror_bytes = (16 * 1024, 32 * 1024);
    cfg.stem_bytes = (16 * 1024, 32 * 1024);
    cfg.max_frame = 4 * 1024;
    cfg
}

/// Waits [`QUIET`], then requires `before` live tasks, `closed` sessions
/// closed in the trace, and nothing of a session traced after its close.
async fn nothing_outlives(what: &str, server: &Server, before: usize, closed: usize) {
    no_task_left(what, before, QUIET, &server.events).await;
    let lines = server.events.lines();
    let ended = server
        .events
        .ws()
        .iter()
        .filter(|e| matches!(e, WsEvent::SessionClosed { .. }))
        .count();
    assert_eq!(ended, closed, "{what}: sessions closed; trace: {lines:#?}");
    // A task that outlived its session and then ended by itself may have
    // acted meanwhile: nothing names a session after its close.
    for (i, line) in lines.iter().enumerate() {
        if let Some(conn) = line.strip_prefix("ws.session.closed ") {
            let conn = conn.split_whitespace().next().expect("conn=N");
            let after = lines[i + 1..]
                .iter()
                .find(|l| l.split_whitespace().any(|t| t == conn));
            assert!(
                after.is_none(),
                "{what}: {after:?} after `{line}`; trace: {lines:#?}"
            );
        }
    }
}

/// Sends one command as text.
async fn send(ws: &mut crate::ws_hostile::Client, cmd: Command) {
    ws.send(Message::text(cmd.to_json())).await.expect("send");
}

#[tokio::test(start_paused = true)]
async fn the_peer_closes() {
    timeout(BOUND, async {
        let server = start(busy(), PIPE);
        let before = alive_tasks();
        let mut ws = connect(&server).await;
        send(&mut ws, Command::Params { seq: 1, knob: 0 }).await;
        sleep(Duration::from_millis(500)).await;
        ws.close(None).await.expect("close");
        while let Some(Ok(_)) = ws.next().await {}
        drop(ws);
        nothing_outlives("the peer closed", &server, before, 1).await;
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn the_peer_drops_the_link_while_slices_flow() {
    timeout(BOUND, async {
        let server = start(busy(), PIPE);
        let before = alive_tasks();
        // Not reading: the slices fill the pipe, then the queue sheds them.
        let ws = connect(&server).await;
        sleep(Duration::from_secs(3)).await;
        drop(ws);
        nothing_outlives("the link dropped", &server, before, 1).await;
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn the_peer_drops_the_link_in_every_phase_of_a_swap() {
    timeout(BOUND, async {
        let server = start(busy(), PIPE);
        let before = alive_tasks();
        // From before the generation starts to past the parts' push.
        let delays = [0u64, 50, 150, 300, 450, 700, 1_000];
        for (i, ms) in delays.into_iter().enumerate() {
            let mut ws = connect(&server).await;
            send(
                &mut ws,
                Command::SwapSource {
                    seq: i as u64 + 1,
                    use_server_source: true,
                    bytes: 0,
                },
            )
            .await;
            sleep(Duration::from_millis(ms)).await;
            drop(ws);
            sleep(Duration::from_secs(1)).await;
        }
        nothing_outlives("swaps cut", &server, before, delays.len()).await;
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn the_peer_drops_the_link_while_a_payload_is_awaited() {
    timeout(BOUND, async {
        // No ping within the test: a client that does not read would be
        // ended by the keepalive before the payload wait ran out.
        let mut cfg = busy();
        cfg.keepalive_interval = Duration::from_secs(3600);
        let server = start(cfg, PIPE);
        let before = alive_tasks();
        // The header comes, its payload never does: dropped while the
        // payload wait runs, then once past it (answered `*_failed`).
        for (seq, wait) in [(1u64, 1u64), (2, 12)] {
            let mut ws = connect(&server).await;
            send(&mut ws, Command::WriteAudio { seq, bytes: 1_000 }).await;
            sleep(Duration::from_secs(wait)).await;
            drop(ws);
        }
        nothing_outlives("payload awaited", &server, before, 2).await;
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn protocol_errors_end_every_task() {
    timeout(BOUND, async {
        let server = start(busy(), PIPE);
        let before = alive_tasks();
        // A reserved bit (1002), text that is not UTF-8 (1007), a frame
        // over max_frame (1009).
        let mut over = raw_frame(0x82, &[]);
        over[1] = 0x80 | 126;
        over.splice(2..2, (8u16 * 1024).to_be_bytes());
        over.extend(vec![0u8; 8 * 1024]);
        let cases: [(Vec<u8>, u16); 3] = [
            (raw_frame(0xC2, b"abc"), 1002),
            (raw_frame(0x81, &[0x7b, 0xff, 0xfe, 0x7d]), 1007),
            (over, 1009),
        ];
        for (bytes, code) in cases {
            let mut ws = connect(&server).await;
            ws.get_mut().write_all(&bytes).await.expect("write");
            assert_eq!(close_code(&mut ws).await, Some(code));
        }
        nothing_outlives("protocol errors", &server, before, 3).await;
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn the_keepalive_deadline_ends_every_task() {
    timeout(BOUND, async {
        let server = start(busy(), PIPE);
        let before = alive_tasks();
        // Never read, so never a pong: the server gives up after 2 s + 4 s.
        // The client keeps its end open, unread, throughout.
        let ws = connect(&server).await;
        wait_for(&server.events, "the keepalive timeout", |e| {
            matches!(e, WsEvent::KeepaliveTimeout { .. })
        })
        .await;
        nothing_outlives("keepalive timeout", &server, before, 1).await;
        drop(ws);
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_ends_every_task() {
    timeout(BOUND, async {
        let mut cfg = busy();
        cfg.max_queued = Some(40 * 64);
        // Small pipes: the answers back up as soon as the client stops reading.
        let server = start(cfg, 1024);
        let before = alive_tasks();
        let (tx, rx) = connect(&server).await.split();
        let flood = flood(tx);
        wait_for(&server.events, "ws.queue.full", |e| {
            matches!(e, WsEvent::QueueFull { .. })
        })
        .await;
        flood.abort();
        let _ = flood.await;
        // The client keeps its reading half open, unread: the close frame
        // never gets through, and the close grace must end the wait.
        nothing_outlives("queue full", &server, before, 1).await;
        drop(rx);
    })
    .await
    .expect("bounded");
}

#[tokio::test(start_paused = true)]
async fn refused_and_silent_connections_leave_nothing() {
    timeout(BOUND, async {
        let mut cfg = busy();
        cfg.max_sessions = 1;
        let server = start(cfg, PIPE);
        let before = alive_tasks();
        // Under the cap a connection that never sends its handshake (the
        // session's handshake deadline), then the one session.
        let silent = server.dialer.connect();
        sleep(Duration::from_secs(6)).await;
        let ws = connect(&server).await;
        // Over the cap: one refused through its handshake and 1013, one
        // holding a refusal slot without a handshake (its deadline).
        let mut refused = connect(&server).await;
        assert_eq!(close_code(&mut refused).await, Some(1013));
        let held = server.dialer.connect();
        sleep(Duration::from_secs(1)).await;
        // The session ends; the silent connections stay open, silent: only
        // the deadlines can end their tasks.
        drop(ws);
        nothing_outlives("refusals and silent connections", &server, before, 1).await;
        drop((silent, refused, held));
    })
    .await
    .expect("bounded");
}

/// The quiet server of the hostile suite, for contrast: with no session
/// the count is the accept loop's task alone, so a leak above is a leak.
#[tokio::test(start_paused = true)]
async fn an_idle_server_is_one_task() {
    timeout(BOUND, async {
        let before = alive_tasks();
        let _server = start(config(), PIPE);
        assert_eq!(alive_tasks(), before + 1);
    })
    .await
    .expect("bounded");
}
