//! The simulated rtmg plugin (`ws-client` host): a WebSocket client modelled
//! on the upstream VST (seed-systems.md §1.3).
//!
//! Its defining trait is the one that wedged production: **its reads are
//! gated behind its own sends**. One task owns the socket; while anything is
//! queued to send it sends (a multi-MB upload goes out whole, awaited to the
//! last byte) and only when the queue is empty does it read. It sends
//! `params` at a high rate, uploads (`write_audio`, `set_timbre_source`,
//! `swap_source` + a multi-MB binary) and server swaps on the plan's
//! command, and misbehaves on command too: orphan headers, a command in a
//! payload slot, missing, late and stray payloads, unknown commands, stalls.
//! It reconnects after a session ends.
//!
//! Owns [`WsFault`] (its plan vocabulary), [`WsClientEvent`] (what it
//! records) and its command log: every command gets a global `seq`; answers
//! must come back one for one, in order. The log is kept here, the
//! omniscient outside view, never in the server: an answer that skips an
//! outstanding command records a [`WsClientEvent::Gap`] (the command was
//! lost), and a separate task samples the log every `progress_interval` so
//! a client wedged in its own send is still seen. `params` traffic is
//! summarized by those samples, not traced one by one.
//!
//! It runs on any [`Net`]: [`serve`] is the turmoil host (segmented
//! [`SimNet`], resets seen through turmoil's stream count), [`serve_on`]
//! takes the network and a [`ResetWatch`] (the bench runs it on `TokioNet`
//! over loopback with [`ClientConfig::scaled`] timings). It never reads a
//! wall clock: every timing is tokio's, simulated under turmoil.

use crate::segment::SegmentedNet;
use crate::simnet::SimNet;
use crate::trace::{Recorder, WorldEvent};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use relaysim_core::net::Net;
use relaysim_core::session::ws::payload::{crc, pattern};
use relaysim_core::session::ws::protocol::{Command, PayloadKind, ServerMsg};
use relaysim_core::session::ws::session::ws_config;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The port the ws server listens on.
pub const PORT: u16 = 8080;
/// How long connecting (TCP + WebSocket handshake) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a blocked send looks for a reset of its connection.
pub const RESET_POLL: Duration = Duration::from_millis(10);

/// The plan's vocabulary for the plugin (carried by `Fault::Ws`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ws", rename_all = "kebab-case")]
pub enum WsFault {
    /// Workload: a header and its `bytes` payload, back to back.
    Upload {
        /// The command (which `*_failed` answers it).
        cmd: PayloadKind,
        /// Payload size, in bytes.
        bytes: u64,
    },
    /// Workload: `swap_source` from the server's copy (a push follows).
    SwapServer,
    /// A header whose payload never comes; the next `params` lands in its slot.
    OrphanHeader {
        /// The command (which `*_failed` answers it).
        cmd: PayloadKind,
        /// Payload size, in bytes.
        bytes: u64,
    },
    /// A header, then at once another header (with its payload) in its slot.
    TextForBinary {
        /// The command (which `*_failed` answers it).
        cmd: PayloadKind,
        /// Payload size, in bytes.
        bytes: u64,
    },
    /// A header, then nothing sent for `quiet_ms` (reads go on).
    MissingPayload {
        /// The command (which `*_failed` answers it).
        cmd: PayloadKind,
        /// Payload size, in bytes.
        bytes: u64,
        /// How long nothing is sent, in milliseconds.
        quiet_ms: u64,
    },
    /// A header, nothing sent for `delay_ms`, then its payload.
    LatePayload {
        /// The command (which `*_failed` answers it).
        cmd: PayloadKind,
        /// Payload size, in bytes.
        bytes: u64,
        /// How long before the payload follows, in milliseconds.
        delay_ms: u64,
    },
    /// A binary message with no header.
    StrayPayload {
        /// Payload size, in bytes.
        bytes: u64,
    },
    /// A command of a type the server does not know.
    UnknownCommand,
    /// The plugin freezes for `ms`: no reads, no sends (a slow peer).
    Stall {
        /// How long, in milliseconds.
        ms: u64,
    },
}

fn kind_literal(k: PayloadKind) -> &'static str {
    match k {
        PayloadKind::WriteAudio => "PayloadKind::WriteAudio",
        PayloadKind::TimbreSource => "PayloadKind::TimbreSource",
        PayloadKind::SwapSource => "PayloadKind::SwapSource",
    }
}

impl WsFault {
    /// The fault kind (`ws-…`).
    pub fn kind(&self) -> &'static str {
        match self {
            WsFault::Upload { .. } => "ws-upload",
            WsFault::SwapServer => "ws-swap-server",
            WsFault::OrphanHeader { .. } => "ws-orphan-header",
            WsFault::TextForBinary { .. } => "ws-text-for-binary",
            WsFault::MissingPayload { .. } => "ws-missing-payload",
            WsFault::LatePayload { .. } => "ws-late-payload",
            WsFault::StrayPayload { .. } => "ws-stray-payload",
            WsFault::UnknownCommand => "ws-unknown-command",
            WsFault::Stall { .. } => "ws-stall",
        }
    }

    /// A Rust expression rebuilding this value.
    pub fn literal(&self) -> String {
        match self {
            WsFault::Upload { cmd, bytes } => format!(
                "WsFault::Upload {{ cmd: {}, bytes: {bytes} }}",
                kind_literal(*cmd)
            ),
            WsFault::SwapServer => "WsFault::SwapServer".into(),
            WsFault::OrphanHeader { cmd, bytes } => format!(
                "WsFault::OrphanHeader {{ cmd: {}, bytes: {bytes} }}",
                kind_literal(*cmd)
            ),
            WsFault::TextForBinary { cmd, bytes } => format!(
                "WsFault::TextForBinary {{ cmd: {}, bytes: {bytes} }}",
                kind_literal(*cmd)
            ),
            WsFault::MissingPayload {
                cmd,
                bytes,
                quiet_ms,
            } => format!(
                "WsFault::MissingPayload {{ cmd: {}, bytes: {bytes}, quiet_ms: {quiet_ms} }}",
                kind_literal(*cmd)
            ),
            WsFault::LatePayload {
                cmd,
                bytes,
                delay_ms,
            } => format!(
                "WsFault::LatePayload {{ cmd: {}, bytes: {bytes}, delay_ms: {delay_ms} }}",
                kind_literal(*cmd)
            ),
            WsFault::StrayPayload { bytes } => {
                format!("WsFault::StrayPayload {{ bytes: {bytes} }}")
            }
            WsFault::UnknownCommand => "WsFault::UnknownCommand".into(),
            WsFault::Stall { ms } => format!("WsFault::Stall {{ ms: {ms} }}"),
        }
    }

    /// The ` key=value` fields of the trace line (after `fault.<kind>`).
    pub fn fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsFault::Upload { cmd, bytes }
            | WsFault::OrphanHeader { cmd, bytes }
            | WsFault::TextForBinary { cmd, bytes } => write!(f, " cmd={cmd} bytes={bytes}"),
            WsFault::MissingPayload {
                cmd,
                bytes,
                quiet_ms,
            } => write!(f, " cmd={cmd} bytes={bytes} quiet_ms={quiet_ms}"),
            WsFault::LatePayload {
                cmd,
                bytes,
                delay_ms,
            } => write!(f, " cmd={cmd} bytes={bytes} delay_ms={delay_ms}"),
            WsFault::StrayPayload { bytes } => write!(f, " bytes={bytes}"),
            WsFault::SwapServer | WsFault::UnknownCommand => Ok(()),
            WsFault::Stall { ms } => write!(f, " ms={ms}"),
        }
    }

    /// The same action with its durations divided by `factor` (sizes kept).
    pub fn scaled(self, factor: u32) -> WsFault {
        let k = u64::from(factor.max(1));
        match self {
            WsFault::MissingPayload {
                cmd,
                bytes,
                quiet_ms,
            } => WsFault::MissingPayload {
                cmd,
                bytes,
                quiet_ms: quiet_ms / k,
            },
            WsFault::LatePayload {
                cmd,
                bytes,
                delay_ms,
            } => WsFault::LatePayload {
                cmd,
                bytes,
                delay_ms: delay_ms / k,
            },
            WsFault::Stall { ms } => WsFault::Stall { ms: ms / k },
            other => other,
        }
    }

    /// How long this fault keeps the plugin from sending (and, for a stall,
    /// reading): the window in which its commands may wait.
    pub fn quiet(&self) -> Option<Duration> {
        match self {
            WsFault::MissingPayload { quiet_ms, .. } => Some(Duration::from_millis(*quiet_ms)),
            WsFault::LatePayload { delay_ms, .. } => Some(Duration::from_millis(*delay_ms)),
            WsFault::Stall { ms } => Some(Duration::from_millis(*ms)),
            _ => None,
        }
    }
}

/// What the plugin records (`ws.client.*`, host `ws-client`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsClientEvent {
    /// Connection `conn` is up (handshake done).
    Up {
        /// Connection number, from 1.
        conn: u64,
    },
    /// It ended; commands still unanswered are lost with it.
    Down {
        /// Connection number, from 1.
        conn: u64,
        /// Why it ended.
        reason: String,
        /// Commands still unanswered.
        unanswered: u64,
        /// The oldest unanswered command's wait, in milliseconds.
        oldest_wait_ms: u64,
    },
    /// A traced (non-`params`) command was queued. `payload`: `sent`,
    /// `none` (orphan), `slot` (a command in its slot), `quiet`, `late`, or
    /// `-` for commands without one.
    Command {
        /// Connection number, from 1.
        conn: u64,
        /// Command sequence number on the connection.
        seq: u64,
        /// The command (which `*_failed` answers it).
        cmd: String,
        /// Payload size, in bytes.
        bytes: u64,
        /// CRC-32 of the payload.
        crc: Option<u32>,
        /// What followed the header (see the variant).
        payload: &'static str,
    },
    /// A command's payload is fully written to the socket.
    Uploaded {
        /// Connection number, from 1.
        conn: u64,
        /// Command sequence number on the connection.
        seq: u64,
        /// Payload size, in bytes.
        bytes: u64,
    },
    /// A traced command was answered.
    Answer {
        /// Connection number, from 1.
        conn: u64,
        /// Command sequence number on the connection.
        seq: u64,
        /// The answer's type.
        answer: String,
        /// How long the answer took, in milliseconds.
        wait_ms: u64,
        /// Payload size, in bytes.
        bytes: Option<u64>,
        /// CRC-32 of the payload.
        crc: Option<u32>,
        /// The swap it belongs to.
        swap: Option<u64>,
        /// The error text, if any.
        error: Option<String>,
    },
    /// A mirror or stem arrived (`part` is `mirror` for the mirror).
    Push {
        /// Connection number, from 1.
        conn: u64,
        /// The swap it belongs to.
        swap: u64,
        /// `mirror` or the stem's name.
        part: String,
        /// Payload size, in bytes.
        bytes: u64,
        /// CRC-32 of the payload.
        crc: u32,
        /// Bytes match their CRC.
        intact: bool,
    },
    /// The command log, sampled: `commands` queued and `answered` on this
    /// connection, how many wait, the oldest wait now, the longest answer
    /// wait since the last sample, how long the current send has been
    /// stuck, slices received.
    Progress {
        /// Connection number, from 1.
        conn: u64,
        /// Commands queued.
        commands: u64,
        /// Commands answered.
        answered: u64,
        /// Commands waiting.
        outstanding: u64,
        /// The oldest unanswered command's wait, in milliseconds.
        oldest_wait_ms: u64,
        /// Longest answer wait since the last sample, in milliseconds.
        max_wait_ms: u64,
        /// How long the current send has been stuck, in milliseconds.
        send_stuck_ms: u64,
        /// Slices received.
        slices: u64,
    },
    /// An answer to `answered` came while `lost` (sent earlier) was still
    /// waiting: `lost` will never be answered.
    Gap {
        /// Connection number, from 1.
        conn: u64,
        /// The command that will never be answered.
        lost: u64,
        /// Its type.
        lost_cmd: String,
        /// Commands answered.
        answered: u64,
    },
    /// Something that answers nothing the plugin sent, or breaks the push
    /// framing.
    Unexpected {
        /// Connection number, from 1.
        conn: u64,
        /// What was seen.
        what: String,
    },
    /// A slice whose bytes do not match its header.
    Corrupt {
        /// Connection number, from 1.
        conn: u64,
        /// What was seen.
        what: String,
    },
}

fn opt<T: fmt::Display>(f: &mut fmt::Formatter<'_>, key: &str, v: &Option<T>) -> fmt::Result {
    match v {
        Some(v) => write!(f, " {key}={v}"),
        None => Ok(()),
    }
}

impl fmt::Display for WsClientEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsClientEvent::Up { conn } => write!(f, "ws.client.up conn={conn}"),
            WsClientEvent::Down {
                conn,
                reason,
                unanswered,
                oldest_wait_ms,
            } => write!(
                f,
                "ws.client.down conn={conn} reason={reason} unanswered={unanswered} oldest_wait_ms={oldest_wait_ms}"
            ),
            WsClientEvent::Command {
                conn,
                seq,
                cmd,
                bytes,
                crc,
                payload,
            } => {
                write!(f, "ws.client.command conn={conn} seq={seq} cmd={cmd} bytes={bytes}")?;
                opt(f, "crc", &crc.map(|c| format!("{c:08x}")))?;
                write!(f, " payload={payload}")
            }
            WsClientEvent::Uploaded { conn, seq, bytes } => {
                write!(f, "ws.client.uploaded conn={conn} seq={seq} bytes={bytes}")
            }
            WsClientEvent::Answer {
                conn,
                seq,
                answer,
                wait_ms,
                bytes,
                crc,
                swap,
                error,
            } => {
                write!(
                    f,
                    "ws.client.answer conn={conn} seq={seq} type={answer} wait_ms={wait_ms}"
                )?;
                opt(f, "swap", swap)?;
                opt(f, "bytes", bytes)?;
                opt(f, "crc", &crc.map(|c| format!("{c:08x}")))?;
                opt(f, "error", &error.as_ref().map(|e| format!("{e:?}")))
            }
            WsClientEvent::Push {
                conn,
                swap,
                part,
                bytes,
                crc,
                intact,
            } => write!(
                f,
                "ws.client.push conn={conn} swap={swap} part={part} bytes={bytes} crc={crc:08x} intact={intact}"
            ),
            WsClientEvent::Progress {
                conn,
                commands,
                answered,
                outstanding,
                oldest_wait_ms,
                max_wait_ms,
                send_stuck_ms,
                slices,
            } => write!(
                f,
                "ws.client.progress conn={conn} commands={commands} answered={answered} outstanding={outstanding} oldest_wait_ms={oldest_wait_ms} max_wait_ms={max_wait_ms} send_stuck_ms={send_stuck_ms} slices={slices}"
            ),
            WsClientEvent::Gap {
                conn,
                lost,
                lost_cmd,
                answered,
            } => write!(
                f,
                "ws.client.gap conn={conn} lost={lost} lost_cmd={lost_cmd} answered={answered}"
            ),
            WsClientEvent::Unexpected { conn, what } => {
                write!(f, "ws.client.unexpected conn={conn} what={what:?}")
            }
            WsClientEvent::Corrupt { conn, what } => {
                write!(f, "ws.client.corrupt conn={conn} what={what:?}")
            }
        }
    }
}

/// The plugin's settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server, `host:port`.
    pub server: String,
    /// `params` are sent this often.
    pub params_interval: Duration,
    /// The command log is sampled this often.
    pub progress_interval: Duration,
    /// Wait before reconnecting.
    pub reconnect_delay: Duration,
    /// Maximum segment size of its socket writes.
    pub mss: usize,
    /// Names upload contents.
    pub seed: u64,
}

impl ClientConfig {
    /// The same plugin with every interval divided by `factor` (the
    /// real-time comparison runs the scenario's timings scaled down).
    pub fn scaled(self, factor: u32) -> ClientConfig {
        let k = factor.max(1);
        ClientConfig {
            params_interval: self.params_interval / k,
            progress_interval: self.progress_interval / k,
            reconnect_delay: self.reconnect_delay / k,
            ..self
        }
    }
}

/// One command waiting for its answer.
#[derive(Debug, Clone)]
struct Waiting {
    at: Instant,
    cmd: String,
    traced: bool,
}

#[derive(Debug, Default)]
struct Log {
    conn: u64,
    connected: bool,
    next_seq: u64,
    waiting: BTreeMap<u64, Waiting>,
    commands: u64,
    answered: u64,
    max_wait: Duration,
    sending_since: Option<Instant>,
    slices: u64,
}

impl Log {
    fn oldest_wait(&self, now: Instant) -> Duration {
        self.waiting
            .values()
            .map(|w| now - w.at)
            .max()
            .unwrap_or_default()
    }
}

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
    control: mpsc::UnboundedSender<WsFault>,
    control_rx: Mutex<Option<mpsc::UnboundedReceiver<WsFault>>>,
    log: Mutex<Log>,
    recorder: Arc<Recorder>,
    host: &'static str,
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
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
    pub fn apply(&self, fault: WsFault) {
        let _ = self.control.send(fault);
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, e: WsClientEvent) {
        self.recorder.world(self.host, WorldEvent::Ws(e));
    }

    /// Connections made so far.
    pub fn connections(&self) -> u64 {
        self.log().conn
    }

    /// Is a connection up now?
    pub fn connected(&self) -> bool {
        self.log().connected
    }

    /// Commands queued on the current connection (facts).
    pub fn commands(&self) -> (u64, u64) {
        let l = self.log();
        (l.commands, l.answered)
    }

    /// Queues a command, registering it in the log.
    fn command(&self, out: &mut VecDeque<Out>, cmd: Command, traced: bool) -> u64 {
        let seq = cmd.seq();
        let mut l = self.log();
        l.commands += 1;
        l.waiting.insert(
            seq,
            Waiting {
                at: Instant::now(),
                cmd: cmd.type_name().to_string(),
                traced,
            },
        );
        drop(l);
        out.push_back(Out::Text(cmd.to_json()));
        seq
    }

    fn next_seq(&self) -> u64 {
        let mut l = self.log();
        l.next_seq += 1;
        l.next_seq
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
    async fn act(&self, fault: WsFault, out: &mut VecDeque<Out>, conn: u64) {
        match fault {
            WsFault::Upload { cmd, bytes } => {
                let (seq, data) = self.header(out, conn, cmd, bytes, "sent");
                out.push_back(Out::Binary {
                    data,
                    traced_seq: Some(seq),
                });
            }
            WsFault::SwapServer => {
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
            WsFault::OrphanHeader { cmd, bytes } => {
                self.header(out, conn, cmd, bytes, "none");
            }
            WsFault::TextForBinary { cmd, bytes } => {
                self.header(out, conn, cmd, bytes, "slot");
                let small = (bytes / 4).max(1);
                let (seq, data) = self.header(out, conn, PayloadKind::WriteAudio, small, "sent");
                out.push_back(Out::Binary {
                    data,
                    traced_seq: Some(seq),
                });
            }
            WsFault::MissingPayload {
                cmd,
                bytes,
                quiet_ms,
            } => {
                self.header(out, conn, cmd, bytes, "quiet");
                out.push_back(Out::Pause(Duration::from_millis(quiet_ms)));
            }
            WsFault::LatePayload {
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
            WsFault::StrayPayload { bytes } => out.push_back(Out::Binary {
                data: self.upload_bytes(u64::MAX - bytes, bytes),
                traced_seq: None,
            }),
            WsFault::UnknownCommand => {
                let seq = self.next_seq();
                self.record(WsClientEvent::Command {
                    conn,
                    seq,
                    cmd: "frobnicate".into(),
                    bytes: 0,
                    crc: None,
                    payload: "-",
                });
                let mut l = self.log();
                l.commands += 1;
                l.waiting.insert(
                    seq,
                    Waiting {
                        at: Instant::now(),
                        cmd: "frobnicate".into(),
                        traced: true,
                    },
                );
                drop(l);
                out.push_back(Out::Text(format!(r#"{{"type":"frobnicate","seq":{seq}}}"#)));
            }
            WsFault::Stall { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
    }

    /// An answer (or something claiming to be one) arrived.
    fn on_answer(&self, conn: u64, msg: &ServerMsg, seq: u64) {
        let now = Instant::now();
        let mut l = self.log();
        let Some(w) = l.waiting.remove(&seq) else {
            drop(l);
            self.record(WsClientEvent::Unexpected {
                conn,
                what: format!("{} for seq {seq}, which is not waiting", msg.type_name()),
            });
            return;
        };
        let lost: Vec<(u64, String)> = l
            .waiting
            .range(..seq)
            .map(|(s, w)| (*s, w.cmd.clone()))
            .collect();
        for (s, _) in &lost {
            l.waiting.remove(s);
        }
        let wait = now - w.at;
        l.answered += 1;
        l.max_wait = l.max_wait.max(wait);
        drop(l);
        for (s, cmd) in lost {
            self.record(WsClientEvent::Gap {
                conn,
                lost: s,
                lost_cmd: cmd,
                answered: seq,
            });
        }
        if w.traced {
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

    /// One message from the server. `Err(reason)` ends the session.
    fn on_message(
        &self,
        conn: u64,
        msg: Message,
        expect: &mut Option<ServerMsg>,
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
                if m.announces().is_some() {
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
                        self.log().slices += 1;
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
        control: &mut mpsc::UnboundedReceiver<WsFault>,
        reset: ResetWatch,
    ) -> String {
        let conn = {
            let mut l = self.log();
            l.conn += 1;
            l.connected = true;
            l.commands = 0;
            l.answered = 0;
            l.max_wait = Duration::ZERO;
            l.waiting.clear();
            l.conn
        };
        self.record(WsClientEvent::Up { conn });
        let mut out: VecDeque<Out> = VecDeque::new();
        let mut params = tokio::time::interval_at(
            Instant::now() + self.cfg.params_interval,
            self.cfg.params_interval,
        );
        params.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut paused_until: Option<Instant> = None;
        let mut expect: Option<ServerMsg> = None;
        let mut knob = 0u32;
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
                    self.log().sending_since = Some(Instant::now());
                    let sent = tokio::select! {
                        biased;
                        r = ws.send(msg) => r.map_err(|e| relaysim_core::session::ws::conn::error_kind(&e)),
                        _ = reset.wait() => Err("io-ConnectionReset".to_string()),
                    };
                    self.log().sending_since = None;
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
                msg = ws.next() => match msg {
                    Some(Ok(m)) => {
                        if let Err(reason) = self.on_message(conn, m, &mut expect) {
                            break reason;
                        }
                    }
                    Some(Err(e)) => break relaysim_core::session::ws::conn::error_kind(&e),
                    None => break "eof".into(),
                },
            }
        };
        let now = Instant::now();
        let (unanswered, oldest) = {
            let mut l = self.log();
            l.connected = false;
            l.sending_since = None;
            let oldest = l.oldest_wait(now);
            let n = l.waiting.len() as u64;
            l.waiting.clear();
            (n, oldest)
        };
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
            let sample = {
                let mut l = self.log();
                if !l.connected {
                    continue;
                }
                let e = WsClientEvent::Progress {
                    conn: l.conn,
                    commands: l.commands,
                    answered: l.answered,
                    outstanding: l.waiting.len() as u64,
                    oldest_wait_ms: ms(l.oldest_wait(now)),
                    max_wait_ms: ms(l.max_wait),
                    send_stuck_ms: l.sending_since.map(|t| ms(now - t)).unwrap_or(0),
                    slices: l.slices,
                };
                l.max_wait = Duration::ZERO;
                e
            };
            self.record(sample);
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

    /// turmoil: the connection is gone once the host has no established
    /// stream (a RST arrived and turmoil dropped the socket). The plugin
    /// host has exactly one connection.
    pub const fn turmoil() -> ResetWatch {
        ResetWatch::polling(|| turmoil::established_tcp_stream_count() == 0)
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

/// The turmoil host's software: [`serve_on`] over [`SimNet`] cut into
/// `cfg.mss` segments, resets seen through turmoil's stream count.
pub async fn serve(client: Arc<WsClient>) -> turmoil::Result {
    let net = SegmentedNet::new(SimNet, client.cfg.mss);
    serve_on(net, client, ResetWatch::turmoil()).await;
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
    tokio::spawn(client.clone().sample());
    let url = format!("ws://{}/ws", client.cfg.server);
    loop {
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let stream = net.connect(&client.cfg.server).await.ok()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::{Fault, FaultPlan};

    #[test]
    fn ws_faults_print_serialize_and_replay() {
        let plan = FaultPlan::new(vec![
            crate::fault::FaultEvent {
                at_ms: 1500,
                fault: Fault::Ws(WsFault::MissingPayload {
                    cmd: PayloadKind::TimbreSource,
                    bytes: 4096,
                    quiet_ms: 10_500,
                }),
            },
            crate::fault::FaultEvent {
                at_ms: 2000,
                fault: Fault::Ws(WsFault::SwapServer),
            },
        ]);
        assert_eq!(FaultPlan::from_json(&plan.to_json()).unwrap(), plan);
        assert!(plan.to_literal().contains(
            "Fault::Ws(WsFault::MissingPayload { cmd: PayloadKind::TimbreSource, bytes: 4096, quiet_ms: 10500 })"
        ));
        assert_eq!(
            plan.events[0].fault.to_string(),
            "fault.ws-missing-payload cmd=set_timbre_source bytes=4096 quiet_ms=10500"
        );
        assert_eq!(plan.events[1].fault.kind(), "ws-swap-server");
        assert!(!plan.events[1].fault.is_network());
        assert_eq!(
            WsFault::Stall { ms: 5 }.quiet(),
            Some(Duration::from_millis(5))
        );
        assert_eq!(WsFault::UnknownCommand.quiet(), None);
    }

    #[test]
    fn scaling_divides_durations_and_keeps_sizes() {
        let cfg = ClientConfig {
            server: "ws-server:8080".into(),
            params_interval: Duration::from_millis(50),
            progress_interval: Duration::from_secs(2),
            reconnect_delay: Duration::from_millis(500),
            mss: 16 * 1024,
            seed: 3,
        }
        .scaled(20);
        assert_eq!(cfg.params_interval, Duration::from_micros(2_500));
        assert_eq!(cfg.progress_interval, Duration::from_millis(100));
        assert_eq!(cfg.reconnect_delay, Duration::from_millis(25));
        assert_eq!((cfg.mss, cfg.seed), (16 * 1024, 3));
        let late = WsFault::LatePayload {
            cmd: PayloadKind::WriteAudio,
            bytes: 4096,
            delay_ms: 3_000,
        };
        assert_eq!(
            late.scaled(20),
            WsFault::LatePayload {
                cmd: PayloadKind::WriteAudio,
                bytes: 4096,
                delay_ms: 150,
            }
        );
        assert_eq!(
            WsFault::Stall { ms: 8_500 }.scaled(10),
            WsFault::Stall { ms: 850 }
        );
        assert_eq!(WsFault::SwapServer.scaled(20), WsFault::SwapServer);
    }

    #[test]
    fn client_events_have_stable_lines() {
        let e = WsClientEvent::Answer {
            conn: 1,
            seq: 9,
            answer: "audio_write_failed".into(),
            wait_ms: 30,
            bytes: None,
            crc: None,
            swap: None,
            error: Some("expected binary payload after write_audio".into()),
        };
        assert_eq!(
            WorldEvent::Ws(e).to_string(),
            r#"ws.client.answer conn=1 seq=9 type=audio_write_failed wait_ms=30 error="expected binary payload after write_audio""#
        );
    }
}
