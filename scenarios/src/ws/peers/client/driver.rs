//! The plugin's driver: the async loop over a `Net` stream that connects,
//! sends, reads and reconnects, and turns the plan's faults into sends.
//!
//! Owns [`WsClient`] (the peer the world and the bench hold), its send
//! queue, [`ResetWatch`] and the host software [`serve`] / [`serve_on`]. It
//! keeps the upstream plugin's structure — one task owns the socket, reads
//! wait behind sends — and leaves the bookkeeping of commands and answers
//! to the sans-IO `log`, handing it `now`. It records through the
//! recorder and never reads a wall clock.

use super::events::WsClientEvent;
use super::log::{ms, Answered, Log};
use super::{ClientConfig, CONNECT_TIMEOUT};
use crate::ws::fault::Fault;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use relaysim_core::net::Net;
use relaysim_core::session::ws::payload::{crc, pattern};
use relaysim_core::session::ws::protocol::{Command, PayloadKind, ServerMsg};
use relaysim_core::session::ws::session::ws_config;
use relaysim_harness::segment::SegmentedNet;
use relaysim_harness::{Recorder, SimNet};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A connection's swaps whose parts are still arriving: swap id ->
/// (parts its `swap_ready` announced, parts seen).
type Swaps = BTreeMap<u64, (u32, u32)>;

/// How often a blocked send looks for a reset of its connection.
pub const RESET_POLL: Duration = Duration::from_millis(10);

/// One item of the send queue.
#[derive(Debug)]
enum Out {
    Text(String),
    /// A payload; `seq` of its header when traced.
    Binary {
        data: Bytes,
        traced_seq: Option<u64>,
    },
    /// Send nothing for this long.
    Pause(Duration),
}

/// The plugin, shared by its host task, its sampler and the world.
#[derive(Debug)]
pub struct WsClient {
    cfg: ClientConfig,
    control: mpsc::UnboundedSender<Fault>,
    control_rx: Mutex<Option<mpsc::UnboundedReceiver<Fault>>>,
    log: Mutex<Log>,
    recorder: Arc<Recorder>,
    host: &'static str,
}

impl WsClient {
    /// A fresh peer.
    pub fn new(host: &'static str, cfg: ClientConfig, recorder: Arc<Recorder>) -> Arc<WsClient> {
        let (control, rx) = mpsc::unbounded_channel();
        Arc::new(WsClient {
            cfg,
            control,
            control_rx: Mutex::new(Some(rx)),
            log: Mutex::new(Log::default()),
            recorder,
            host,
        })
    }

    /// The plan's command (applied by the world between simulation steps).
    pub fn apply(&self, fault: Fault) {
        let _ = self.control.send(fault);
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, e: WsClientEvent) {
        self.recorder.peer(self.host, e);
    }

    /// Connections made so far.
    pub fn connections(&self) -> u64 {
        self.log().connections()
    }

    /// Is a connection up now?
    pub fn connected(&self) -> bool {
        self.log().connected()
    }

    /// Commands queued on the current connection (facts).
    pub fn commands(&self) -> (u64, u64) {
        self.log().commands()
    }

    /// Queues a command, registering it in the log.
    fn command(&self, out: &mut VecDeque<Out>, cmd: Command, traced: bool) -> u64 {
        let seq = cmd.seq();
        self.log()
            .register(seq, cmd.type_name(), traced, Instant::now());
        out.push_back(Out::Text(cmd.to_json()));
        seq
    }

    fn next_seq(&self) -> u64 {
        self.log().next_seq()
    }

    fn upload_bytes(&self, seq: u64, bytes: u64) -> Bytes {
        pattern(
            self.cfg.seed.rotate_left(7) ^ seq.wrapping_mul(0x2545_F491_4F6C_DD1D),
            bytes as usize,
        )
    }

    /// A traced header (+ its bookkeeping); returns (seq, payload).
    fn header(
        &self,
        out: &mut VecDeque<Out>,
        conn: u64,
        kind: PayloadKind,
        bytes: u64,
        payload: &'static str,
    ) -> (u64, Bytes) {
        let seq = self.next_seq();
        let data = self.upload_bytes(seq, bytes);
        self.record(WsClientEvent::Command {
            conn,
            seq,
            cmd: kind.command().to_string(),
            bytes,
            crc: Some(crc(&data)),
            payload,
        });
        self.command(out, Command::header(kind, seq, bytes), true);
        (seq, data)
    }

    /// Turns one plan action into queued sends (a stall sleeps right here:
    /// nothing is read or sent meanwhile).
    async fn act(&self, fault: Fault, out: &mut VecDeque<Out>, conn: u64) {
        match fault {
            Fault::Upload { cmd, bytes } => {
                let (seq, data) = self.header(out, conn, cmd, bytes, "sent");
                out.push_back(Out::Binary {
                    data,
                    traced_seq: Some(seq),
                });
            }
            Fault::SwapServer => {
                let seq = self.next_seq();
                self.record(WsClientEvent::Command {
                    conn,
                    seq,
                    cmd: "swap_source".into(),
                    bytes: 0,
                    crc: None,
                    payload: "-",
                });
                self.command(
                    out,
                    Command::SwapSource {
                        seq,
                        use_server_source: true,
                        bytes: 0,
                    },
                    true,
                );
            }
            Fault::OrphanHeader { cmd, bytes } => {
                self.header(out, conn, cmd, bytes, "none");
            }
            Fault::TextForBinary { cmd, bytes } => {
                self.header(out, conn, cmd, bytes, "slot");
                let small = (bytes / 4).max(1);
                let (seq, data) = self.header(out, conn, PayloadKind::WriteAudio, small, "sent");
                out.push_back(Out::Binary {
                    data,
                    traced_seq: Some(seq),
                });
            }
            Fault::MissingPayload {
                cmd,
                bytes,
                quiet_ms,
            } => {
                self.header(out, conn, cmd, bytes, "quiet");
                out.push_back(Out::Pause(Duration::from_millis(quiet_ms)));
            }
            Fault::LatePayload {
                cmd,
                bytes,
                delay_ms,
            } => {
                let (seq, data) = self.header(out, conn, cmd, bytes, "late");
                out.push_back(Out::Pause(Duration::from_millis(delay_ms)));
                out.push_back(Out::Binary {
                    data,
                    traced_seq: Some(seq),
                });
            }
            Fault::StrayPayload { bytes } => out.push_back(Out::Binary {
                data: self.upload_bytes(u64::MAX - bytes, bytes),
                traced_seq: None,
            }),
            Fault::UnknownCommand => {
                let seq = self.next_seq();
                self.record(WsClientEvent::Command {
                    conn,
                    seq,
                    cmd: "frobnicate".into(),
                    bytes: 0,
                    crc: None,
                    payload: "-",
                });
                self.log().register(seq, "frobnicate", true, Instant::now());
                out.push_back(Out::Text(format!(r#"{{"type":"frobnicate","seq":{seq}}}"#)));
            }
            Fault::Stall { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
            // The idler's, not the plugin's (the world never hands it here).
            Fault::Idle { .. } => {}
        }
    }

    /// An answer (or something claiming to be one) arrived.
    fn on_answer(&self, conn: u64, msg: &ServerMsg, seq: u64) {
        let now = Instant::now();
        let answered = self.log().answer(seq, now);
        let Some(Answered { traced, wait, lost }) = answered else {
            self.record(WsClientEvent::Unexpected {
                conn,
                what: format!("{} for seq {seq}, which is not waiting", msg.type_name()),
            });
            return;
        };
        for (s, cmd) in lost {
            self.record(WsClientEvent::Gap {
                conn,
                lost: s,
                lost_cmd: cmd,
                answered: seq,
            });
        }
        if traced {
            let (bytes, crc, swap, error) = match msg {
                ServerMsg::WriteAudioApplied { bytes, crc, .. }
                | ServerMsg::TimbreApplied { bytes, crc, .. } => {
                    (Some(*bytes), Some(*crc), None, None)
                }
                ServerMsg::SwapAccepted {
                    swap, bytes, crc, ..
                } => (*bytes, *crc, Some(*swap), None),
                ServerMsg::AudioWriteFailed { error, .. }
                | ServerMsg::TimbreFailed { error, .. }
                | ServerMsg::SwapFailed { error, .. }
                | ServerMsg::Error { error, .. } => (None, None, None, Some(error.clone())),
                _ => (None, None, None, None),
            };
            self.record(WsClientEvent::Answer {
                conn,
                seq,
                answer: msg.type_name().to_string(),
                wait_ms: ms(wait),
                bytes,
                crc,
                swap,
                error,
            });
        }
    }

    /// A swap's announcement (`swap_ready`): the swap before it on this
    /// connection must be whole by now (one swap at a time, pushed in
    /// order), and this one's parts are counted as they arrive.
    fn on_swap_ready(&self, conn: u64, swap: u64, parts: u32, swaps: &mut Swaps) {
        for (earlier, (announced, seen)) in std::mem::take(swaps) {
            if seen < announced {
                self.record(WsClientEvent::Unexpected {
                    conn,
                    what: format!("swap_ready of swap {swap} while swap {earlier} had {seen} of the {announced} parts it announced"),
                });
            }
        }
        swaps.insert(swap, (parts, 0));
    }

    /// One pushed part (a mirror or a stem) of `swap`: it must follow the
    /// swap's announcement and stay within the parts announced.
    fn on_part(&self, conn: u64, swap: u64, swaps: &mut Swaps) {
        match swaps.get_mut(&swap) {
            None => self.record(WsClientEvent::Unexpected {
                conn,
                what: format!("a part of swap {swap} with no swap_ready before it"),
            }),
            Some((announced, seen)) => {
                *seen += 1;
                if *seen > *announced {
                    self.record(WsClientEvent::Unexpected {
                        conn,
                        what: format!("part {seen} of swap {swap}, which announced {announced}"),
                    });
                }
            }
        }
    }

    /// One message from the server. `Err(reason)` ends the session.
    fn on_message(
        &self,
        conn: u64,
        msg: Message,
        expect: &mut Option<ServerMsg>,
        swaps: &mut Swaps,
    ) -> Result<(), String> {
        match msg {
            Message::Text(t) => {
                let Some(m) = ServerMsg::parse(t.as_str()) else {
                    self.record(WsClientEvent::Unexpected {
                        conn,
                        what: "text that is not a server message".into(),
                    });
                    return Ok(());
                };
                if let Some(h) = expect.take() {
                    self.record(WsClientEvent::Unexpected {
                        conn,
                        what: format!(
                            "{} where the binary of {} was due",
                            m.type_name(),
                            h.type_name()
                        ),
                    });
                }
                if let ServerMsg::SwapReady { swap, parts } = m {
                    self.on_swap_ready(conn, swap, parts, swaps);
                } else if m.announces().is_some() {
                    *expect = Some(m);
                } else if let Some(seq) = m.answers() {
                    self.on_answer(conn, &m, seq);
                } else if let ServerMsg::Error { .. } = m {
                    self.record(WsClientEvent::Unexpected {
                        conn,
                        what: "error without a seq".into(),
                    });
                }
                Ok(())
            }
            Message::Binary(b) => {
                let Some(h) = expect.take() else {
                    self.record(WsClientEvent::Unexpected {
                        conn,
                        what: format!("binary of {} bytes with no push header", b.len()),
                    });
                    return Ok(());
                };
                let (bytes, want) = h.announces().unwrap_or_default();
                let got = crc(&b);
                let intact = b.len() as u64 == bytes && got == want;
                if let ServerMsg::Mirror { swap, .. } | ServerMsg::Stem { swap, .. } = &h {
                    self.on_part(conn, *swap, swaps);
                }
                match h {
                    ServerMsg::Mirror { swap, .. } => self.record(WsClientEvent::Push {
                        conn,
                        swap,
                        part: "mirror".into(),
                        bytes: b.len() as u64,
                        crc: got,
                        intact,
                    }),
                    ServerMsg::Stem { swap, part, .. } => self.record(WsClientEvent::Push {
                        conn,
                        swap,
                        part,
                        bytes: b.len() as u64,
                        crc: got,
                        intact,
                    }),
                    ServerMsg::Slice { n, .. } => {
                        self.log().slice();
                        if !intact {
                            self.record(WsClientEvent::Corrupt {
                                conn,
                                what: format!("slice {n}: {} bytes crc {got:08x}, header said {bytes} bytes crc {want:08x}", b.len()),
                            });
                        }
                    }
                    _ => {}
                }
                Ok(())
            }
            Message::Close(frame) => Err(match frame {
                Some(f) => format!("close-{}", u16::from(f.code)),
                None => "close-none".into(),
            }),
            // tungstenite answers pings on the next read or write.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(()),
        }
    }

    /// One connection, to its end. Returns why it ended.
    async fn session<S: relaysim_core::net::NetStream>(
        &self,
        mut ws: WebSocketStream<S>,
        control: &mut mpsc::UnboundedReceiver<Fault>,
        reset: ResetWatch,
    ) -> String {
        let conn = self.log().begin();
        self.record(WsClientEvent::Up { conn });
        let mut out: VecDeque<Out> = VecDeque::new();
        let mut params = tokio::time::interval_at(
            Instant::now() + self.cfg.params_interval,
            self.cfg.params_interval,
        );
        params.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut paused_until: Option<Instant> = None;
        let mut expect: Option<ServerMsg> = None;
        let mut swaps = Swaps::new();
        let mut knob = 0u32;
        // With an idle timeout: when the server was last heard from.
        let mut heard = Instant::now();
        let idle = self.cfg.idle_timeout;
        let reason = loop {
            if paused_until.is_some_and(|t| Instant::now() >= t) {
                paused_until = None;
            }
            // Reads wait behind sends: anything queued goes out first, whole.
            if paused_until.is_none() {
                if let Some(item) = out.pop_front() {
                    let (msg, traced) = match item {
                        Out::Pause(d) => {
                            paused_until = Some(Instant::now() + d);
                            continue;
                        }
                        Out::Text(t) => (Message::text(t), None),
                        Out::Binary { data, traced_seq } => {
                            let len = data.len() as u64;
                            (Message::Binary(data), traced_seq.map(|s| (s, len)))
                        }
                    };
                    self.log().send_started(Instant::now());
                    let sent = tokio::select! {
                        biased;
                        r = ws.send(msg) => r.map_err(|e| relaysim_core::session::ws::conn::error_kind(&e)),
                        _ = reset.wait() => Err("io-ConnectionReset".to_string()),
                        _ = idle_until(idle, heard) => Err("idle-timeout".to_string()),
                    };
                    self.log().send_done();
                    if let Err(reason) = sent {
                        break reason;
                    }
                    if let Some((seq, bytes)) = traced {
                        self.record(WsClientEvent::Uploaded { conn, seq, bytes });
                    }
                    continue;
                }
            }
            let pause_end = paused_until;
            tokio::select! {
                biased;
                fault = control.recv() => {
                    if let Some(fault) = fault {
                        self.act(fault, &mut out, conn).await;
                    }
                }
                _ = params.tick() => {
                    knob = knob.wrapping_add(1);
                    let seq = self.next_seq();
                    self.command(&mut out, Command::Params { seq, knob }, false);
                }
                _ = tokio::time::sleep_until(pause_end.unwrap_or_else(Instant::now)), if pause_end.is_some() => {}
                _ = idle_until(idle, heard) => break "idle-timeout".into(),
                msg = ws.next() => match msg {
                    Some(Ok(m)) => {
                        heard = Instant::now();
                        if let Err(reason) = self.on_message(conn, m, &mut expect, &mut swaps) {
                            break reason;
                        }
                    }
                    Some(Err(e)) => break relaysim_core::session::ws::conn::error_kind(&e),
                    None => break "eof".into(),
                },
            }
        };
        let now = Instant::now();
        let (unanswered, oldest) = self.log().end(now);
        self.record(WsClientEvent::Down {
            conn,
            reason: reason.clone(),
            unanswered,
            oldest_wait_ms: ms(oldest),
        });
        reason
    }

    /// Samples the command log every `progress_interval` while connected.
    async fn sample(self: Arc<Self>) {
        let mut tick = tokio::time::interval_at(
            Instant::now() + self.cfg.progress_interval,
            self.cfg.progress_interval,
        );
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let now = Instant::now();
            let sample = self.log().progress(now);
            if let Some(sample) = sample {
                self.record(sample);
            }
        }
    }
}

/// How a send blocked on its connection learns that the connection was
/// reset. Real TCP fails such a write by itself (ECONNRESET); turmoil leaves
/// it waiting for window credits forever, so there the blocked send races a
/// probe polled every [`RESET_POLL`].
#[derive(Debug, Clone, Copy)]
pub struct ResetWatch {
    gone: Option<fn() -> bool>,
}

impl ResetWatch {
    /// The network fails a write on a reset connection itself (real TCP).
    pub const WRITE_ERROR: ResetWatch = ResetWatch { gone: None };

    /// Polls `gone` ("is the connection gone?") while a send is blocked.
    pub const fn polling(gone: fn() -> bool) -> ResetWatch {
        ResetWatch { gone: Some(gone) }
    }

    /// Simulated engines: the connection is gone once the host has no
    /// established stream (a RST arrived and the engine dropped the
    /// socket). The plugin host has exactly one connection.
    pub const fn simulated() -> ResetWatch {
        ResetWatch::polling(|| relaysim_harness::engine::established_streams() == 0)
    }

    /// Resolves once the connection is known to be gone; never, when the
    /// write itself reports it.
    async fn wait(self) {
        let Some(gone) = self.gone else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(RESET_POLL).await;
            if gone() {
                return;
            }
        }
    }
}

/// The simulated host's software: [`serve_on`] over [`SimNet`] cut into
/// `cfg.mss` segments, resets seen through the engine's stream count.
pub async fn serve(client: Arc<WsClient>) -> relaysim_harness::HostResult {
    let net = SegmentedNet::new(SimNet, client.cfg.mss);
    serve_on(net, client, ResetWatch::simulated()).await;
    Ok(())
}

/// Connect to `cfg.server` on `net`, run a session, reconnect, forever
/// (returns at once if this client already runs somewhere).
pub async fn serve_on<N: Net>(net: N, client: Arc<WsClient>, reset: ResetWatch) {
    let Some(mut control) = client
        .control_rx
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    else {
        return;
    };
    relaysim_core::rt::spawn(client.clone().sample());
    let url = format!("ws://{}/ws", client.cfg.server);
    let mut attempt = 0u64;
    loop {
        attempt += 1;
        if client.cfg.trace_connects {
            client.record(WsClientEvent::Connecting { attempt });
        }
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let stream = net.connect(&client.cfg.server).await.ok()?;
            if client.cfg.trace_connects {
                client.record(WsClientEvent::TcpUp { attempt });
            }
            tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(ws_config()))
                .await
                .ok()
                .map(|(ws, _)| ws)
        })
        .await;
        if let Ok(Some(ws)) = connected {
            client.session(ws, &mut control, reset).await;
        }
        // Plan actions that arrive while down are dropped: there is no
        // session to send them on.
        let until = Instant::now() + client.cfg.reconnect_delay;
        while let Ok(Some(_)) = tokio::time::timeout_at(until, control.recv()).await {}
    }
}

/// Resolves `idle` after `heard`; never without an idle timeout.
async fn idle_until(idle: Option<Duration>, heard: Instant) {
    match idle {
        Some(d) => tokio::time::sleep_until(heard + d).await,
        None => std::future::pending().await,
    }
}
