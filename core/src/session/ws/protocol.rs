//! The session's JSON vocabulary.
//!
//! Owns [`Command`] (client → server text messages), [`ServerMsg`] (answers,
//! which carry the `seq` of the command they answer, and push headers, which
//! announce the binary message that follows them) and [`PayloadKind`] (the
//! three headers that announce a client payload, with their failure answer
//! types), and [`parse_command`], the one parser of client text: it never
//! panics, and its error text is bounded (a hostile `type` is clipped to
//! [`MAX_TYPE_IN_ERROR`] bytes) whatever the input. Plain data and serde
//! only: no I/O, no state.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A command whose header announces a binary payload that must follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadKind {
    /// `write_audio`: splice client audio into the buffer.
    WriteAudio,
    /// `set_timbre_source`: a new timbre reference.
    TimbreSource,
    /// `swap_source` with a client upload (not `use_server_source`).
    SwapSource,
}

impl PayloadKind {
    pub const ALL: [PayloadKind; 3] = [
        PayloadKind::WriteAudio,
        PayloadKind::TimbreSource,
        PayloadKind::SwapSource,
    ];

    /// The command's `type`.
    pub fn command(self) -> &'static str {
        match self {
            PayloadKind::WriteAudio => "write_audio",
            PayloadKind::TimbreSource => "set_timbre_source",
            PayloadKind::SwapSource => "swap_source",
        }
    }

    /// The answer `type` when its payload is missing or wrong (upstream's
    /// `fail_type`).
    pub fn fail_type(self) -> &'static str {
        match self {
            PayloadKind::WriteAudio => "audio_write_failed",
            PayloadKind::TimbreSource => "timbre_failed",
            PayloadKind::SwapSource => "swap_failed",
        }
    }
}

impl fmt::Display for PayloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.command())
    }
}

/// A client command. `seq` numbers every command a client sends; answers
/// carry it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Generation parameters (upstream: ~125 Hz).
    Params {
        seq: u64,
        #[serde(default)]
        knob: u32,
    },
    /// Header: `bytes` of audio follow as one binary message.
    WriteAudio { seq: u64, bytes: u64 },
    /// Header: `bytes` of timbre reference follow as one binary message.
    SetTimbreSource { seq: u64, bytes: u64 },
    /// Swap the source: from the server's copy, or (header) from `bytes` the
    /// client uploads next.
    SwapSource {
        seq: u64,
        #[serde(default)]
        use_server_source: bool,
        #[serde(default)]
        bytes: u64,
    },
}

impl Command {
    pub fn seq(&self) -> u64 {
        match self {
            Command::Params { seq, .. }
            | Command::WriteAudio { seq, .. }
            | Command::SetTimbreSource { seq, .. }
            | Command::SwapSource { seq, .. } => *seq,
        }
    }

    /// The `type` field.
    pub fn type_name(&self) -> &'static str {
        match self {
            Command::Params { .. } => "params",
            Command::WriteAudio { .. } => "write_audio",
            Command::SetTimbreSource { .. } => "set_timbre_source",
            Command::SwapSource { .. } => "swap_source",
        }
    }

    /// The payload this command announces, if it is a header.
    pub fn payload(&self) -> Option<(PayloadKind, u64)> {
        match self {
            Command::WriteAudio { bytes, .. } => Some((PayloadKind::WriteAudio, *bytes)),
            Command::SetTimbreSource { bytes, .. } => Some((PayloadKind::TimbreSource, *bytes)),
            Command::SwapSource {
                use_server_source: false,
                bytes,
                ..
            } => Some((PayloadKind::SwapSource, *bytes)),
            _ => None,
        }
    }

    /// The header of a payload command (`swap_source` uploads set
    /// `use_server_source: false`).
    pub fn header(kind: PayloadKind, seq: u64, bytes: u64) -> Command {
        match kind {
            PayloadKind::WriteAudio => Command::WriteAudio { seq, bytes },
            PayloadKind::TimbreSource => Command::SetTimbreSource { seq, bytes },
            PayloadKind::SwapSource => Command::SwapSource {
                seq,
                use_server_source: false,
                bytes,
            },
        }
    }

    pub fn to_json(&self) -> String {
        // A derived Serialize of plain fields cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why a text message is not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotACommand {
    /// The `seq` it carried, when it carried one.
    pub seq: Option<u64>,
    pub error: String,
    pub kind: Rejection,
}

/// The kinds of text that are not commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not a JSON object at all: the peer is not speaking the protocol.
    /// Nothing to answer (there is no `seq`): the session closes with 1007.
    NotJson,
    /// A JSON object without a string `type`: answered `error`.
    NoType,
    /// A known `type` with missing or wrong fields: answered `error`.
    BadFields,
    /// A `type` the server does not know: answered `error`.
    UnknownType,
}

impl NotACommand {
    /// Invalid payload data (RFC 6455 1007) rather than a command to answer.
    pub fn is_invalid_data(&self) -> bool {
        self.kind == Rejection::NotJson
    }
}

/// The longest stretch of a client's `type` quoted in an `error` answer (and
/// so in the trace).
pub const MAX_TYPE_IN_ERROR: usize = 64;

/// `text` cut to at most `max` bytes on a character boundary, `…` marking a
/// cut.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Parses a text message. Unknown `type`s and bad fields keep their `seq`
/// (when readable) so the `error` answer can name the command it answers;
/// text that is not a JSON object is [`Rejection::NotJson`].
pub fn parse_command(text: &str) -> Result<Command, NotACommand> {
    let not_json = || NotACommand {
        seq: None,
        error: "not a JSON object".into(),
        kind: Rejection::NotJson,
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| not_json())?;
    if !value.is_object() {
        return Err(not_json());
    }
    let seq = value.get("seq").and_then(serde_json::Value::as_u64);
    let ty = value
        .get("type")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
        .to_string();
    serde_json::from_value::<Command>(value).map_err(|_| {
        let (kind, error) = if ty.is_empty() {
            (Rejection::NoType, "command has no type".into())
        } else if matches!(
            ty.as_str(),
            "params" | "write_audio" | "set_timbre_source" | "swap_source"
        ) {
            (Rejection::BadFields, format!("bad fields for {ty}"))
        } else {
            (
                Rejection::UnknownType,
                format!("unknown command type {}", clip(&ty, MAX_TYPE_IN_ERROR)),
            )
        };
        NotACommand { seq, error, kind }
    })
}

/// A server text message: an answer (carries `seq`) or a push header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    ParamsAck {
        seq: u64,
    },
    WriteAudioApplied {
        seq: u64,
        bytes: u64,
        crc: u32,
    },
    AudioWriteFailed {
        seq: u64,
        error: String,
    },
    TimbreApplied {
        seq: u64,
        bytes: u64,
        crc: u32,
    },
    TimbreFailed {
        seq: u64,
        error: String,
    },
    /// A swap was accepted; `bytes`/`crc` describe the client's upload.
    SwapAccepted {
        seq: u64,
        swap: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bytes: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        crc: Option<u32>,
    },
    SwapFailed {
        seq: u64,
        error: String,
    },
    /// A text message that is not a command.
    Error {
        #[serde(default)]
        seq: Option<u64>,
        error: String,
    },
    /// Push: swap `swap` is ready; `parts` binary pushes follow (mirror, stems).
    SwapReady {
        swap: u64,
        parts: u32,
    },
    /// Push header: the source mirror follows as one binary message.
    Mirror {
        swap: u64,
        bytes: u64,
        crc: u32,
    },
    /// Push header: one stem follows as one binary message.
    Stem {
        swap: u64,
        part: String,
        bytes: u64,
        crc: u32,
    },
    /// Push header: one generated slice follows as one binary message.
    Slice {
        n: u64,
        bytes: u64,
        crc: u32,
    },
}

impl ServerMsg {
    /// The command this answers (`None` for pushes and seq-less errors).
    pub fn answers(&self) -> Option<u64> {
        match self {
            ServerMsg::ParamsAck { seq }
            | ServerMsg::WriteAudioApplied { seq, .. }
            | ServerMsg::AudioWriteFailed { seq, .. }
            | ServerMsg::TimbreApplied { seq, .. }
            | ServerMsg::TimbreFailed { seq, .. }
            | ServerMsg::SwapAccepted { seq, .. }
            | ServerMsg::SwapFailed { seq, .. } => Some(*seq),
            ServerMsg::Error { seq, .. } => *seq,
            _ => None,
        }
    }

    /// `(bytes, crc)` of the binary message that follows this push header.
    pub fn announces(&self) -> Option<(u64, u32)> {
        match self {
            ServerMsg::Mirror { bytes, crc, .. }
            | ServerMsg::Stem { bytes, crc, .. }
            | ServerMsg::Slice { bytes, crc, .. } => Some((*bytes, *crc)),
            _ => None,
        }
    }

    /// The `type` field.
    pub fn type_name(&self) -> &'static str {
        match self {
            ServerMsg::ParamsAck { .. } => "params_ack",
            ServerMsg::WriteAudioApplied { .. } => "write_audio_applied",
            ServerMsg::AudioWriteFailed { .. } => "audio_write_failed",
            ServerMsg::TimbreApplied { .. } => "timbre_applied",
            ServerMsg::TimbreFailed { .. } => "timbre_failed",
            ServerMsg::SwapAccepted { .. } => "swap_accepted",
            ServerMsg::SwapFailed { .. } => "swap_failed",
            ServerMsg::Error { .. } => "error",
            ServerMsg::SwapReady { .. } => "swap_ready",
            ServerMsg::Mirror { .. } => "mirror",
            ServerMsg::Stem { .. } => "stem",
            ServerMsg::Slice { .. } => "slice",
        }
    }

    /// The `*_failed` answer of a header.
    pub fn failed(kind: PayloadKind, seq: u64, error: String) -> ServerMsg {
        match kind {
            PayloadKind::WriteAudio => ServerMsg::AudioWriteFailed { seq, error },
            PayloadKind::TimbreSource => ServerMsg::TimbreFailed { seq, error },
            PayloadKind::SwapSource => ServerMsg::SwapFailed { seq, error },
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn parse(text: &str) -> Option<ServerMsg> {
        serde_json::from_str(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each command names its own `type` (the one its JSON carries) and
    /// announces the payload it is the header of: an upload of its bytes,
    /// none for parameters or a swap from the server's own source.
    #[test]
    fn every_command_names_its_type_and_its_payload() {
        let cases = [
            (Command::Params { seq: 1, knob: 7 }, "params", None),
            (
                Command::WriteAudio { seq: 2, bytes: 10 },
                "write_audio",
                Some((PayloadKind::WriteAudio, 10)),
            ),
            (
                Command::SetTimbreSource { seq: 3, bytes: 11 },
                "set_timbre_source",
                Some((PayloadKind::TimbreSource, 11)),
            ),
            (
                Command::SwapSource {
                    seq: 4,
                    use_server_source: false,
                    bytes: 12,
                },
                "swap_source",
                Some((PayloadKind::SwapSource, 12)),
            ),
            (
                Command::SwapSource {
                    seq: 5,
                    use_server_source: true,
                    bytes: 0,
                },
                "swap_source",
                None,
            ),
        ];
        for (c, name, payload) in cases {
            let json: serde_json::Value = serde_json::from_str(&c.to_json()).unwrap();
            assert_eq!(c.type_name(), name);
            assert_eq!(json["type"], name, "{c:?}");
            assert_eq!(c.payload(), payload, "{c:?}");
        }
    }

    /// Every answer names the command it answers (an `error` only when it
    /// could read one); pushes answer nothing and announce the binary
    /// message after them, answers announce nothing.
    #[test]
    fn answers_name_their_command_and_pushes_announce_their_bytes() {
        let e = || "e".to_string();
        let answers = [
            ServerMsg::ParamsAck { seq: 1 },
            ServerMsg::WriteAudioApplied {
                seq: 2,
                bytes: 1,
                crc: 1,
            },
            ServerMsg::AudioWriteFailed { seq: 3, error: e() },
            ServerMsg::TimbreApplied {
                seq: 4,
                bytes: 1,
                crc: 1,
            },
            ServerMsg::TimbreFailed { seq: 5, error: e() },
            ServerMsg::SwapAccepted {
                seq: 6,
                swap: 1,
                bytes: None,
                crc: None,
            },
            ServerMsg::SwapFailed { seq: 7, error: e() },
            ServerMsg::Error {
                seq: Some(8),
                error: e(),
            },
        ];
        for (i, m) in answers.iter().enumerate() {
            assert_eq!(m.answers(), Some(i as u64 + 1), "{m:?}");
            assert_eq!(m.announces(), None, "{m:?}");
        }
        let pushes = [
            ServerMsg::Mirror {
                swap: 1,
                bytes: 20,
                crc: 21,
            },
            ServerMsg::Stem {
                swap: 1,
                part: "vocals".into(),
                bytes: 30,
                crc: 31,
            },
            ServerMsg::Slice {
                n: 1,
                bytes: 40,
                crc: 41,
            },
        ];
        for (i, m) in pushes.iter().enumerate() {
            let k = 10 * (i as u64 + 2);
            assert_eq!(m.announces(), Some((k, k as u32 + 1)), "{m:?}");
            assert_eq!(m.answers(), None, "{m:?}");
        }
        let seqless = ServerMsg::Error {
            seq: None,
            error: e(),
        };
        assert_eq!(seqless.answers(), None);
        assert_eq!(ServerMsg::SwapReady { swap: 1, parts: 2 }.answers(), None);
    }

    /// A clip is cut on a character boundary at or below its bound, marked
    /// with `…`; text within the bound is kept whole. Run with a bound: a
    /// boundary search that stops moving must fail, not hang.
    #[test]
    fn clip_cuts_on_a_character_boundary() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send([clip("ééé", 3), clip("abcdef", 4), clip("abc", 3)]);
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("clip did not return within 10 s");
        assert_eq!(got, ["é…", "abcd…", "abc"].map(String::from));
    }

    #[test]
    fn commands_round_trip_and_headers_announce_payloads() {
        for c in [
            Command::Params { seq: 1, knob: 7 },
            Command::header(PayloadKind::WriteAudio, 2, 10),
            Command::header(PayloadKind::TimbreSource, 3, 11),
            Command::header(PayloadKind::SwapSource, 4, 12),
            Command::SwapSource {
                seq: 5,
                use_server_source: true,
                bytes: 0,
            },
        ] {
            assert_eq!(parse_command(&c.to_json()), Ok(c.clone()));
        }
        assert_eq!(
            Command::header(PayloadKind::SwapSource, 4, 12).payload(),
            Some((PayloadKind::SwapSource, 12))
        );
        assert_eq!(
            Command::SwapSource {
                seq: 5,
                use_server_source: true,
                bytes: 0
            }
            .payload(),
            None
        );
        assert_eq!(
            Command::header(PayloadKind::WriteAudio, 2, 10).to_json(),
            r#"{"type":"write_audio","seq":2,"bytes":10}"#
        );
    }

    #[test]
    fn not_commands_keep_their_seq() {
        assert_eq!(
            parse_command(r#"{"type":"frobnicate","seq":9}"#),
            Err(NotACommand {
                seq: Some(9),
                error: "unknown command type frobnicate".into(),
                kind: Rejection::UnknownType,
            })
        );
        assert_eq!(parse_command("{").unwrap_err().seq, None);
        assert_eq!(
            parse_command(r#"{"seq":2}"#).unwrap_err().kind,
            Rejection::NoType
        );
        assert_eq!(
            parse_command(r#"{"type":"write_audio","seq":3}"#)
                .unwrap_err()
                .error,
            "bad fields for write_audio"
        );
    }

    #[test]
    fn text_that_is_not_a_json_object_is_invalid_data() {
        for text in ["{", "", "42", "[1,2]", r#""params""#, "null", "{not json"] {
            let e = parse_command(text).unwrap_err();
            assert!(e.is_invalid_data(), "{text:?}: {e:?}");
            assert_eq!((e.seq, e.error.as_str()), (None, "not a JSON object"));
        }
        assert!(!parse_command(r#"{"type":"x","seq":1}"#)
            .unwrap_err()
            .is_invalid_data());
    }

    #[test]
    fn a_hostile_type_is_clipped_in_the_error() {
        let ty = "é".repeat(100);
        let e = parse_command(&format!(r#"{{"type":"{ty}","seq":3}}"#)).unwrap_err();
        assert_eq!(e.seq, Some(3));
        assert!(e.error.len() <= "unknown command type ".len() + MAX_TYPE_IN_ERROR + 3);
        assert!(e.error.ends_with('…'), "{}", e.error);
    }

    #[test]
    fn server_messages_round_trip() {
        for m in [
            ServerMsg::ParamsAck { seq: 1 },
            ServerMsg::failed(PayloadKind::TimbreSource, 2, "x".into()),
            ServerMsg::SwapAccepted {
                seq: 3,
                swap: 1,
                bytes: None,
                crc: None,
            },
            ServerMsg::Error {
                seq: None,
                error: "e".into(),
            },
            ServerMsg::Stem {
                swap: 1,
                part: "vocals".into(),
                bytes: 5,
                crc: 9,
            },
        ] {
            assert_eq!(ServerMsg::parse(&m.to_json()), Some(m.clone()));
        }
        assert_eq!(
            ServerMsg::failed(PayloadKind::WriteAudio, 2, "x".into()).type_name(),
            PayloadKind::WriteAudio.fail_type()
        );
    }
}
