//! One ws session: the reader, the bulk writer, the keepalive and the
//! engine, as four tasks sharing one [`Conn`] lock (upstream: the
//! connection handler's threads around `protocol_mutex`).
//!
//! Owns the outbound queue (answers and pushes, FIFO, its byte count, the
//! slice shedding that keeps it small and the limit that bounds it), the
//! swap slot (one swap generated or pushed at a time), the pong watch and
//! the session's end: whichever task ends first (the peer closed, the link
//! broke, the keepalive's deadline passed, the peer broke the protocol or
//! let the queue fill) ends all four, and the session closes. No task
//! outlives its session.
//!
//! How it closes:
//!
//! | end | close frame sent | `ws.session.closed` |
//! |---|---|---|
//! | keepalive deadline | 1011 | `code=1011 reason=keepalive-timeout` |
//! | the peer's close frame | its echo (same code and reason) | `code=<the peer's> reason=peer-closed` |
//! | a malformed frame | 1002 | `code=1002 reason=protocol-<what>` |
//! | non-UTF-8 text / text that is not a JSON object | 1007 | `code=1007 reason=utf8` / `reason=invalid-json` |
//! | a frame or message over `max_frame` / `max_message` | 1009 | `code=1009 reason=capacity` |
//! | the outbound queue full | 1008 | `code=1008 reason=queue-full` (after `ws.queue.full`) |
//! | the link broke, EOF | none | `code=none reason=<error kind>` |
//!
//! Every close frame gets `close_grace` to go out and no longer.
//!
//! # The outbound queue's bound
//!
//! Every item is counted in bytes (a push: its payload + 64; an answer: 64 —
//! answer texts are bounded, a client's `type` is clipped in `error`). The
//! queue never holds more than [`WsConfig::queue_limit`] (by default
//! [`WsConfig::queue_bound`], the most a client that reads its answers can
//! make it hold). What does not fit:
//!
//! - a **slice** is shed before it is encoded (`ws.slice.shed`, counted in
//!   `slices_shed`), as slices already are while more than `slice_window`
//!   bytes wait: they are the droppable traffic;
//! - an **answer or a push** ends the session with **1008** (policy
//!   violation) after `ws.queue.full`: dropping one would break the
//!   protocol's promise (every command answered exactly once, every swap's
//!   mirror and stems pushed), and a client that sends commands while it
//!   does not read their answers is the one at fault.
//!
//! Bulk sends keep their fragmenting and the fixed path's lock release;
//! the bound only decides what may enter the queue.
//!
//! The queue's byte count is an [`OutboundBudget`] and the swap slot a
//! [`BusyFlag`] (module [`budget`](crate::session::ws::budget)): the reader
//! and the engine reserve and enter, the writer releases and leaves, from
//! different tasks. Their contract (the count never above the limit, a
//! refused reservation changes nothing, every reserved byte released once,
//! the peak the largest count reserved, one swap at a time) is asserted by
//! the shuttle model `ws-budget`, which drives them as `Session::enqueue`,
//! `start_swap` and the writer do, alongside the server's counters.
//!
//! Fault point `ws.session.reset`: the reader drops the connection as a
//! command arrives, unread, the way an I/O error would end the session.

use crate::entropy::SimRng;
use crate::event::Emitter;
use crate::net::NetStream;
use crate::session::ws::budget::{BusyFlag, OutboundBudget};
use crate::session::ws::close_code::{INVALID_DATA, POLICY, PROTOCOL, TOO_BIG};
use crate::session::ws::conn::{error_kind, is_closing, Conn, Turn};
use crate::session::ws::event::{Push, WsEvent};
use crate::session::ws::fragment::{self, SendPolicy};
use crate::session::ws::payload::{crc, pattern};
use crate::session::ws::protocol::{Command, PayloadKind, ServerMsg};
use crate::session::ws::receive::{Action, FailReason, Inbound, Receiver};
use crate::session::ws::stats::ServerStats;
use crate::session::ws::{WsConfig, KEEPALIVE_CLOSE_CODE, MAX_MESSAGE};
use crate::sync::Ordering;
use bytes::Bytes;
// std's Arc: the session's tasks take `self: Arc<Self>` (a refcount, not
// modelled state; loom's Arc cannot be a receiver).
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
// tokio's Instant: the simulated clock under turmoil (std's is banned by clippy.toml).
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// How long the WebSocket handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The stems pushed after every swap, in order.
pub const STEM_PARTS: [&str; 2] = ["vocals", "instruments"];

/// The read chunk of every WebSocket here, client and server. tungstenite
/// zero-fills its whole read chunk before each read (128 KiB by default),
/// which was a quarter of a ws seed's CPU; the frames here are a few KiB,
/// and a larger frame is read in several chunks within the same poll, so
/// what a session sees, and when, does not change.
pub const READ_CHUNK: usize = 8 * 1024;

/// The WebSocket settings of a client (upstream: `max_size=100 MiB`); the
/// server's come from [`WsConfig::tungstenite`].
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
        .read_buffer_size(READ_CHUNK)
}

/// What a session needs from its server.
#[derive(Clone)]
pub struct SessionCtx {
    pub conn: u64,
    pub cfg: Arc<WsConfig>,
    pub emitter: Emitter,
    pub stats: Arc<ServerStats>,
}

enum Outbound {
    Json(ServerMsg),
    Push {
        header: ServerMsg,
        push: Push,
        payload: Bytes,
        crc: u32,
        /// Traced one by one (mirrors and stems; slices are not).
        traced: bool,
        /// The last push of a swap: frees the swap slot once sent.
        ends_swap: bool,
    },
}

impl Outbound {
    fn bytes(&self) -> u64 {
        match self {
            Outbound::Json(_) => 64,
            Outbound::Push { payload, .. } => payload.len() as u64 + 64,
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    PeerClosed(Option<u16>),
    Lost(String),
    KeepaliveTimeout {
        ping: u64,
        waited_ms: u64,
    },
    /// The peer broke the protocol or filled the queue: close with `code`.
    Violation {
        code: u16,
        reason: String,
    },
}

/// The reason text of a close frame the server sends.
fn close_text(code: u16) -> &'static str {
    match code {
        PROTOCOL => "protocol error",
        INVALID_DATA => "invalid payload data",
        POLICY => "outbound queue full",
        TOO_BIG => "message too big",
        _ => "closing",
    }
}

struct Session<S> {
    id: u64,
    conn: Conn<S>,
    cfg: Arc<WsConfig>,
    emitter: Emitter,
    stats: Arc<ServerStats>,
    policy: SendPolicy,
    started: Instant,
    out: mpsc::UnboundedSender<Outbound>,
    /// Bytes waiting in `out`; never above its limit, so `out` is bounded.
    budget: OutboundBudget,
    /// A swap is being generated or pushed.
    swap_busy: BusyFlag,
    pong: watch::Sender<u64>,
}

impl<S: NetStream> Session<S> {
    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Every send goes through here: the bounded hold on the fixed path, the
    /// lock held to the last byte on the pre-fix path.
    async fn send(&self, msg: Message) -> Result<(), String> {
        let r = if self.policy.release_when_blocked {
            self.conn.send_bounded(msg).await
        } else {
            self.conn.send_holding(msg).await
        };
        match r {
            Ok(()) => Ok(()),
            // The peer's close was read: the reader ends the session with
            // the peer's code; a sender only waits to be stopped.
            Err(e) if is_closing(&e) => std::future::pending().await,
            Err(e) => Err(error_kind(&e)),
        }
    }

    /// Queues `item` if it fits under the limit; if not, the session must
    /// end with 1008 (the caller returns the `End`).
    fn enqueue(&self, item: Outbound) -> Result<(), End> {
        let bytes = item.bytes();
        let limit = self.budget.limit();
        let queued = match self.budget.try_reserve(bytes) {
            Ok(queued) => queued,
            Err(queued) => {
                self.stats.queue_full.fetch_add(1, Ordering::AcqRel);
                self.emitter.emit(WsEvent::QueueFull {
                    conn: self.id,
                    queued,
                    bytes,
                    limit,
                });
                return Err(End::Violation {
                    code: POLICY,
                    reason: "queue-full".into(),
                });
            }
        };
        self.stats.note_queued(queued);
        if let Outbound::Push {
            push,
            payload,
            traced: true,
            ..
        } = &item
        {
            self.emitter.emit(WsEvent::PushQueued {
                conn: self.id,
                push: push.clone(),
                bytes: payload.len() as u64,
                queued,
            });
        }
        // The writer is gone only when the session is ending.
        let _ = self.out.send(item);
        Ok(())
    }

    /// Queues slice `n` if it fits under the limit, and sheds it (traced
    /// as `ws.slice.shed`) if not: droppable traffic never ends a session.
    fn enqueue_droppable(&self, n: u64, item: Outbound) {
        match self.budget.try_reserve(item.bytes()) {
            Ok(queued) => {
                self.stats.note_queued(queued);
                // The writer is gone only when the session is ending.
                let _ = self.out.send(item);
            }
            Err(queued) => {
                self.stats.slices_shed.fetch_add(1, Ordering::AcqRel);
                self.emitter.emit(WsEvent::SliceShed {
                    conn: self.id,
                    n,
                    queued,
                });
            }
        }
    }

    fn answer(&self, msg: ServerMsg) -> Result<(), End> {
        self.enqueue(Outbound::Json(msg))?;
        self.stats.answers.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    // ---- reader -------------------------------------------------------

    async fn reader(self: Arc<Self>, swaps: mpsc::UnboundedSender<u64>) -> End {
        let mut rx = Receiver::new(self.cfg.bugs, self.cfg.payload_timeout);
        loop {
            let turn = self.conn.read_turn().await;
            let now = self.now();
            let before = rx.pending().map(|h| h.seq);
            let actions = match turn {
                Turn::Idle => rx.on_time(now),
                Turn::Message(Message::Text(t)) => {
                    if self.emitter.fault_point("ws.session.reset") {
                        // The connection breaks under the command, before
                        // it is read: the session ends as on any I/O error.
                        return End::Lost("fault-point-reset".into());
                    }
                    rx.on_message(now, Inbound::Text(t.as_str().to_string()))
                }
                Turn::Message(Message::Binary(b)) => rx.on_message(now, Inbound::Binary(b)),
                Turn::Message(Message::Pong(p)) => {
                    if let Ok(raw) = <[u8; 8]>::try_from(p.as_ref()) {
                        let n = u64::from_be_bytes(raw);
                        self.pong.send_if_modified(|v| {
                            let newer = n > *v;
                            if newer {
                                *v = n;
                            }
                            newer
                        });
                    }
                    rx.on_time(now)
                }
                // tungstenite answers pings itself.
                Turn::Message(Message::Ping(_) | Message::Frame(_)) => rx.on_time(now),
                Turn::Message(Message::Close(frame)) => {
                    return End::PeerClosed(frame.map(|f| u16::from(f.code)))
                }
                Turn::Ended(kind) => return End::Lost(kind),
                Turn::Violation { code, kind } => return End::Violation { code, reason: kind },
            };
            for action in actions {
                if let Err(end) = self.act(action, &swaps) {
                    return end;
                }
            }
            if let Some(h) = rx.pending() {
                if before != Some(h.seq) {
                    self.emitter.emit(WsEvent::Header {
                        conn: self.id,
                        seq: h.seq,
                        kind: h.kind,
                        bytes: h.bytes,
                    });
                }
            }
        }
    }

    fn act(&self, action: Action, swaps: &mpsc::UnboundedSender<u64>) -> Result<(), End> {
        match action {
            Action::Command(Command::Params { seq, .. }) => {
                self.answer(ServerMsg::ParamsAck { seq })
            }
            Action::Command(Command::SwapSource { seq, .. }) => self.start_swap(seq, None, swaps),
            // Headers never come out as plain commands; answer defensively.
            Action::Command(other) => self.answer(ServerMsg::Error {
                seq: Some(other.seq()),
                error: format!("{} needs a payload", other.type_name()),
            }),
            Action::Payload { header, data } => {
                let bytes = data.len() as u64;
                let sum = crc(&data);
                self.emitter.emit(WsEvent::PayloadApplied {
                    conn: self.id,
                    seq: header.seq,
                    kind: header.kind,
                    bytes,
                    crc: sum,
                });
                let seq = header.seq;
                match header.kind {
                    PayloadKind::WriteAudio => self.answer(ServerMsg::WriteAudioApplied {
                        seq,
                        bytes,
                        crc: sum,
                    }),
                    PayloadKind::TimbreSource => self.answer(ServerMsg::TimbreApplied {
                        seq,
                        bytes,
                        crc: sum,
                    }),
                    PayloadKind::SwapSource => self.start_swap(seq, Some((bytes, sum)), swaps),
                }
            }
            Action::PayloadFailed { header, reason } => {
                if reason == FailReason::Timeout {
                    self.emitter.deadline_fired("ws.receive.payload");
                }
                self.emitter.emit(WsEvent::PayloadFailed {
                    conn: self.id,
                    seq: header.seq,
                    kind: header.kind,
                    reason: reason.id(),
                });
                self.answer(ServerMsg::failed(
                    header.kind,
                    header.seq,
                    reason.error(&header, self.cfg.payload_timeout),
                ))
            }
            Action::Rejected { seq, error } => {
                self.emitter.emit(WsEvent::Rejected {
                    conn: self.id,
                    seq,
                    error: error.clone(),
                });
                self.answer(ServerMsg::Error { seq, error })
            }
            Action::Invalid { .. } => Err(End::Violation {
                code: INVALID_DATA,
                reason: "invalid-json".into(),
            }),
            Action::Stray { bytes } => {
                self.emitter.emit(WsEvent::PayloadStray {
                    conn: self.id,
                    bytes,
                });
                Ok(())
            }
        }
    }

    fn start_swap(
        &self,
        seq: u64,
        upload: Option<(u64, u32)>,
        swaps: &mpsc::UnboundedSender<u64>,
    ) -> Result<(), End> {
        if !self.swap_busy.try_enter() {
            self.emitter.emit(WsEvent::SwapBusy { conn: self.id, seq });
            return self.answer(ServerMsg::SwapFailed {
                seq,
                error: "swap in progress".into(),
            });
        }
        let swap = self.stats.next_swap();
        self.emitter.emit(WsEvent::SwapAccepted {
            conn: self.id,
            seq,
            swap,
        });
        self.answer(ServerMsg::SwapAccepted {
            seq,
            swap,
            bytes: upload.map(|u| u.0),
            crc: upload.map(|u| u.1),
        })?;
        let _ = swaps.send(swap);
        Ok(())
    }

    // ---- bulk writer ----------------------------------------------------

    async fn writer(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Outbound>) -> End {
        while let Some(item) = rx.recv().await {
            let bytes = item.bytes();
            if let Err(kind) = self.write_one(item).await {
                return End::Lost(kind);
            }
            self.budget.release(bytes);
        }
        End::Lost("writer-closed".into())
    }

    async fn write_one(&self, item: Outbound) -> Result<(), String> {
        match item {
            Outbound::Json(m) => self.send(Message::text(m.to_json())).await,
            Outbound::Push {
                header,
                push,
                payload,
                crc,
                traced,
                ends_swap,
            } => {
                self.send(Message::text(header.to_json())).await?;
                let pieces = self.policy.pieces(payload.len());
                if traced {
                    self.emitter.emit(WsEvent::PushBegin {
                        conn: self.id,
                        push: push.clone(),
                        bytes: payload.len() as u64,
                        fragments: pieces.len() as u64,
                        crc,
                    });
                }
                if pieces.len() == 1 {
                    self.send(Message::Binary(payload.clone())).await?;
                } else {
                    for piece in &pieces {
                        self.send(Message::Frame(fragment::frame(&payload, piece)))
                            .await?;
                    }
                }
                if traced {
                    self.emitter.emit(WsEvent::PushSent {
                        conn: self.id,
                        push,
                        bytes: payload.len() as u64,
                    });
                }
                if ends_swap {
                    self.swap_busy.leave();
                }
                Ok(())
            }
        }
    }

    // ---- keepalive ------------------------------------------------------

    /// websockets' keepalive: sleep the interval, ping, wait for its pong —
    /// the deadline counts from when the ping was due, so a ping stuck
    /// behind the lock times out too.
    async fn keepalive(self: Arc<Self>) -> End {
        let mut pongs = self.pong.subscribe();
        let mut ping = 0u64;
        loop {
            tokio::time::sleep(self.cfg.keepalive_interval).await;
            ping += 1;
            let due = Instant::now();
            let deadline = due + self.cfg.keepalive_timeout;
            let timed_out = End::KeepaliveTimeout {
                ping,
                waited_ms: self.cfg.keepalive_timeout.as_millis() as u64,
            };
            let payload = Bytes::copy_from_slice(&ping.to_be_bytes());
            match tokio::time::timeout_at(deadline, self.send(Message::Ping(payload))).await {
                Err(_) => return timed_out,
                Ok(Err(kind)) => return End::Lost(kind),
                Ok(Ok(())) => {}
            }
            match tokio::time::timeout_at(deadline, pongs.wait_for(|p| *p >= ping)).await {
                Err(_) => return timed_out,
                Ok(Err(_)) => return End::Lost("pong-watch-closed".into()),
                Ok(Ok(_)) => {}
            }
            let rtt = due.elapsed();
            if rtt * 2 > self.cfg.keepalive_timeout {
                self.emitter.emit(WsEvent::SlowPong {
                    conn: self.id,
                    ping,
                    rtt_ms: rtt.as_millis() as u64,
                });
            }
        }
    }

    // ---- engine ---------------------------------------------------------

    /// The generation engine: a swap's mirror and stems after a drawn
    /// generation delay, and a slice every `slice_interval` unless too many
    /// bytes wait (shed before encoding, as upstream).
    async fn engine(self: Arc<Self>, mut swaps: mpsc::UnboundedReceiver<u64>) -> End {
        let cfg = self.cfg.clone();
        let mut rng = SimRng::fork(cfg.seed ^ self.id.rotate_left(32), "ws-engine");
        let mut slices =
            tokio::time::interval_at(Instant::now() + cfg.slice_interval, cfg.slice_interval);
        slices.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut n = 0u64;
        loop {
            tokio::select! {
                biased;
                swap = swaps.recv() => {
                    let Some(swap) = swap else { return End::Lost("engine-closed".into()) };
                    let (lo, hi) = cfg.generation_delay;
                    tokio::time::sleep(rng.millis(lo, hi)).await;
                    if let Err(end) = self.push_swap(swap, &mut rng) {
                        return end;
                    }
                }
                _ = slices.tick() => {
                    n += 1;
                    let queued = self.budget.queued();
                    if queued > cfg.slice_window as u64 {
                        self.stats.slices_shed.fetch_add(1, Ordering::AcqRel);
                        self.emitter.emit(WsEvent::SliceShed { conn: self.id, n, queued });
                        continue;
                    }
                    let len = rng.range(cfg.slice_bytes.0 as u64, cfg.slice_bytes.1 as u64) as usize;
                    if queued + len as u64 + 64 > self.budget.limit() {
                        // Droppable traffic: shed what the queue cannot take.
                        self.stats.slices_shed.fetch_add(1, Ordering::AcqRel);
                        self.emitter.emit(WsEvent::SliceShed { conn: self.id, n, queued });
                        continue;
                    }
                    let payload = pattern(tag(cfg.seed, self.id, 0x51 << 32 | n), len);
                    let sum = crc(&payload);
                    // The check above read the count before encoding; the
                    // reader may have queued since (another thread on a
                    // multi-thread runtime). A slice that no longer fits is
                    // shed like one that never did: never a 1008.
                    self.enqueue_droppable(n, Outbound::Push {
                        header: ServerMsg::Slice { n, bytes: len as u64, crc: sum },
                        push: Push::Slice { n },
                        payload,
                        crc: sum,
                        traced: false,
                        ends_swap: false,
                    });
                }
            }
        }
    }

    fn push_swap(&self, swap: u64, rng: &mut SimRng) -> Result<(), End> {
        let cfg = &self.cfg;
        self.answer_push(ServerMsg::SwapReady {
            swap,
            parts: 1 + STEM_PARTS.len() as u32,
        })?;
        let len = rng.range(cfg.mirror_bytes.0 as u64, cfg.mirror_bytes.1 as u64) as usize;
        let payload = pattern(tag(cfg.seed, swap, 0), len);
        let sum = crc(&payload);
        self.enqueue(Outbound::Push {
            header: ServerMsg::Mirror {
                swap,
                bytes: len as u64,
                crc: sum,
            },
            push: Push::Mirror { swap },
            payload,
            crc: sum,
            traced: true,
            ends_swap: false,
        })?;
        for (i, part) in STEM_PARTS.iter().enumerate() {
            let len = rng.range(cfg.stem_bytes.0 as u64, cfg.stem_bytes.1 as u64) as usize;
            let payload = pattern(tag(cfg.seed, swap, 1 + i as u64), len);
            let sum = crc(&payload);
            self.enqueue(Outbound::Push {
                header: ServerMsg::Stem {
                    swap,
                    part: part.to_string(),
                    bytes: len as u64,
                    crc: sum,
                },
                push: Push::Stem {
                    swap,
                    part: part.to_string(),
                },
                payload,
                crc: sum,
                traced: true,
                ends_swap: i + 1 == STEM_PARTS.len(),
            })?;
        }
        Ok(())
    }

    /// A push header with no binary after it (`swap_ready`).
    fn answer_push(&self, msg: ServerMsg) -> Result<(), End> {
        self.enqueue(Outbound::Json(msg))
    }
}

/// Reports `ws.session.close-grace` when a close ran out of its grace
/// (`None` from [`Conn::close`] / [`Conn::echo_close`]).
fn close_grace_check(emitter: &Emitter, closed: Option<bool>) {
    if closed.is_none() {
        emitter.deadline_fired("ws.session.close-grace");
    }
}

/// The content tag of a payload: distinct per (seed, owner, part).
fn tag(seed: u64, owner: u64, part: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ owner.rotate_left(20) ^ part
}

/// Runs one accepted connection to its end: handshake, the four tasks, and
/// the close.
pub async fn run_session<S: NetStream>(stream: S, ctx: SessionCtx) {
    let accepted = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        tokio_tungstenite::accept_async_with_config(stream, Some(ctx.cfg.tungstenite())),
    )
    .await;
    let ws = match accepted {
        Ok(Ok(ws)) => ws,
        Ok(Err(_)) => return,
        Err(_) => {
            ctx.emitter.deadline_fired("ws.session.handshake");
            return;
        }
    };
    let cfg = ctx.cfg.clone();
    let (out, out_rx) = mpsc::unbounded_channel();
    let (swaps_tx, swaps_rx) = mpsc::unbounded_channel();
    let session = Arc::new(Session {
        id: ctx.conn,
        conn: Conn::new(ws, cfg.read_turn, cfg.write_backoff),
        policy: SendPolicy::for_bugs(cfg.bugs, cfg.chunk_size),
        budget: OutboundBudget::new(cfg.queue_limit()),
        cfg,
        emitter: ctx.emitter,
        stats: ctx.stats,
        started: Instant::now(),
        out,
        swap_busy: BusyFlag::new(),
        pong: watch::channel(0).0,
    });
    session.stats.sessions_open.fetch_add(1, Ordering::AcqRel);
    session
        .emitter
        .emit(WsEvent::SessionOpen { conn: session.id });

    let mut tasks = [
        crate::rt::spawn(session.clone().keepalive()),
        crate::rt::spawn(session.clone().reader(swaps_tx)),
        crate::rt::spawn(session.clone().writer(out_rx)),
        crate::rt::spawn(session.clone().engine(swaps_rx)),
    ];
    // The first task to end ends the session (keepalive first: a deadline
    // that passed in the same step as anything else is what happened).
    let (joined, first) = {
        let [keepalive, reader, writer, engine] = &mut tasks;
        tokio::select! {
            biased;
            r = keepalive => (r, 0),
            r = reader => (r, 1),
            r = writer => (r, 2),
            r = engine => (r, 3),
        }
    };
    for task in &tasks {
        task.abort();
    }
    // Let the aborted tasks drop their lock guards before closing.
    for (i, task) in tasks.into_iter().enumerate() {
        if i != first {
            let _ = task.await;
        }
    }
    let end = joined.unwrap_or_else(|_| End::Lost("task-failed".into()));
    let (code, reason) = match &end {
        End::KeepaliveTimeout { ping, waited_ms } => {
            session.stats.keepalive_kills.fetch_add(1, Ordering::AcqRel);
            session.emitter.deadline_fired("ws.keepalive.pong");
            session.emitter.emit(WsEvent::KeepaliveTimeout {
                conn: session.id,
                ping: *ping,
                waited_ms: *waited_ms,
            });
            let closed = session
                .conn
                .close(
                    KEEPALIVE_CLOSE_CODE,
                    "keepalive ping timeout",
                    session.cfg.close_grace,
                )
                .await;
            close_grace_check(&session.emitter, closed);
            (Some(KEEPALIVE_CLOSE_CODE), "keepalive-timeout".to_string())
        }
        End::Violation { code, reason } => {
            // A full queue is counted where it overflowed.
            if *code != POLICY {
                session.stats.protocol_closes.fetch_add(1, Ordering::AcqRel);
            }
            let closed = session
                .conn
                .close(*code, close_text(*code), session.cfg.close_grace)
                .await;
            close_grace_check(&session.emitter, closed);
            (Some(*code), reason.clone())
        }
        End::PeerClosed(code) => {
            let closed = session.conn.echo_close(session.cfg.close_grace).await;
            close_grace_check(&session.emitter, closed);
            (*code, "peer-closed".to_string())
        }
        End::Lost(kind) => (None, kind.clone()),
    };
    session.stats.sessions_open.fetch_sub(1, Ordering::AcqRel);
    session.emitter.emit(WsEvent::SessionClosed {
        conn: session.id,
        code,
        reason,
    });
}

#[cfg(test)]
mod tests {
    //! Tests per rule of the session's pure parts. The tasks themselves are
    //! judged by the ws scenarios and the `ws-budget` / `ws-conn` shuttle
    //! models.
    use super::*;

    /// A client's limits are upstream's (`max_size=100 MiB`, for a frame
    /// as for a message), read in the small chunk every ws end here uses.
    #[test]
    fn a_client_has_upstream_limits_and_the_small_read_chunk() {
        let c = ws_config();
        assert_eq!(c.max_message_size, Some(MAX_MESSAGE));
        assert_eq!(c.max_frame_size, Some(MAX_MESSAGE));
        assert_eq!(c.read_buffer_size, READ_CHUNK);
    }

    /// The queue's bound counts an answer as 64 bytes and a push as its
    /// payload plus 64 (module doc, "The outbound queue's bound").
    #[test]
    fn an_item_counts_its_payload_plus_64_bytes() {
        assert_eq!(Outbound::Json(ServerMsg::ParamsAck { seq: 1 }).bytes(), 64);
        let push = |len: usize| Outbound::Push {
            header: ServerMsg::Slice {
                n: 1,
                bytes: len as u64,
                crc: 0,
            },
            push: Push::Slice { n: 1 },
            payload: Bytes::from(vec![0; len]),
            crc: 0,
            traced: false,
            ends_swap: false,
        };
        assert_eq!(push(0).bytes(), 64);
        assert_eq!(push(1000).bytes(), 1064);
    }

    /// Every close code the server sends on a violation carries its own
    /// reason text; any other code the generic one.
    #[test]
    fn every_violation_close_has_its_own_reason_text() {
        assert_eq!(
            [PROTOCOL, INVALID_DATA, POLICY, TOO_BIG].map(close_text),
            [
                "protocol error",
                "invalid payload data",
                "outbound queue full",
                "message too big"
            ]
        );
        assert_eq!(close_text(1000), "closing");
    }

    /// Payload tags differ per seed, per owner and per part, so no two
    /// pushes of a run (nor two runs) carry the same bytes by accident.
    #[test]
    fn a_tag_is_distinct_per_seed_owner_and_part() {
        let base = tag(7, 3, 1);
        assert_ne!(base, tag(8, 3, 1), "seed");
        assert_ne!(base, tag(7, 4, 1), "owner");
        assert_ne!(base, tag(7, 3, 2), "part");
        assert_eq!(base, tag(7, 3, 1), "a tag is a function of its inputs");
    }

    /// Value stability: a tag names a payload's bytes, and traces,
    /// snapshots and the real peer's CRCs carry those bytes, so the same
    /// inputs give the same tag in every build. A change here changes
    /// every ws trace; it needs a reason.
    #[test]
    fn tags_are_pinned() {
        let got = [
            tag(5, 0xFFFF, 0xFFFF),
            tag(7, 3, 1),
            tag(u64::MAX, 1 << 40, 2),
        ];
        assert_eq!(got, PINNED_TAGS, "{got:#x?}");
    }

    const PINNED_TAGS: [u64; 3] = [
        0x1715_6090_8384_9396,
        0x5384_5412_7b39_6492,
        0x71c8_8646_80b5_83e9,
    ];
}
