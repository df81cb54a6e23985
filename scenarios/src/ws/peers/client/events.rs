//! What the plugin records (`ws.client.*`, host `ws-client`): its event
//! vocabulary and the normalized trace line of each event.
//!
//! Owns [`WsClientEvent`] and its `Display`, the line the trace keeps. Plain
//! data: it must never do I/O or read a clock, and a line's text must never
//! change without the trace snapshots changing with it.

use std::fmt;

/// What the plugin records (`ws.client.*`, host `ws-client`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsClientEvent {
    /// Connect attempt `attempt` begins (only with
    /// `ClientConfig::trace_connects`).
    Connecting {
        /// Attempt number, from 1.
        attempt: u64,
    },
    /// Connect attempt `attempt`'s TCP connection is up; the WebSocket
    /// upgrade starts (only with `ClientConfig::trace_connects`).
    TcpUp {
        /// Attempt number, from 1.
        attempt: u64,
    },
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
            WsClientEvent::Connecting { attempt } => {
                write!(f, "ws.client.connecting attempt={attempt}")
            }
            WsClientEvent::TcpUp { attempt } => write!(f, "ws.client.tcp-up attempt={attempt}"),
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

#[cfg(test)]
mod tests {
    use super::*;

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
            e.to_string(),
            r#"ws.client.answer conn=1 seq=9 type=audio_write_failed wait_ms=30 error="expected binary payload after write_audio""#
        );
    }
}
