//! The receive state machine, sans-IO: upstream's `_dispatch_message` and
//! `_recv_binary_payload`.
//!
//! Owns the payload slot: after a header (`write_audio`,
//! `set_timbre_source`, `swap_source` with an upload) the next data message
//! is expected to be its binary payload. [`Receiver`] takes data messages and
//! the current time and returns [`Action`]s; the session's reader does the
//! I/O and the answering. It never reads a clock (time is an input), never
//! does I/O, never buffers (it holds at most one header, and a payload comes
//! out as the very bytes that came in), and never drops a command on the
//! fixed path: every text message that parses as a command comes out as
//! exactly one action that answers it, in arrival order. Text that is not a
//! JSON object is [`Action::Invalid`]: the session closes with 1007.
//!
//! Fixed path: the wait is bounded ([`Receiver::deadline`]) and typed — text
//! in the payload slot fails the header (`expected binary payload after …`)
//! and is then dispatched as the command it is. Pre-fix
//! (`orphan-binary-header`): the slot takes whatever comes, for as long as
//! it takes; text there fails the header with upstream's TypeError and is
//! lost.

use crate::bugs::{BugSet, KnownBug};
use crate::session::ws::protocol::{parse_command, Command, PayloadKind};
use bytes::Bytes;
use std::fmt;
use std::time::Duration;

/// A data message (control frames never reach the receiver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Text(String),
    Binary(Bytes),
}

/// A header waiting for its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: PayloadKind,
    pub seq: u64,
    /// Bytes the header announced.
    pub bytes: u64,
    /// When the header arrived.
    pub since: Duration,
}

/// Why a header's payload did not arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailReason {
    /// A text message came where the binary was due (fixed path: it is
    /// dispatched as a command right after).
    NotBinary,
    /// Nothing came within the payload timeout.
    Timeout,
    /// A binary came, of the wrong length.
    SizeMismatch { got: u64 },
    /// Pre-fix: a text message was taken as the payload (and lost).
    ConsumedText,
}

impl FailReason {
    /// Short id for the trace.
    pub fn id(&self) -> &'static str {
        match self {
            FailReason::NotBinary => "not-binary",
            FailReason::Timeout => "timeout",
            FailReason::SizeMismatch { .. } => "size-mismatch",
            FailReason::ConsumedText => "consumed-text",
        }
    }

    /// The `error` of the `*_failed` answer (upstream's wording).
    pub fn error(&self, header: &Header, timeout: Duration) -> String {
        match self {
            FailReason::NotBinary => format!("expected binary payload after {}", header.kind),
            FailReason::Timeout => {
                format!("binary payload not received within {}s", timeout.as_secs())
            }
            FailReason::SizeMismatch { got } => format!(
                "payload is {got} bytes, {} announced {}",
                header.kind, header.bytes
            ),
            FailReason::ConsumedText => "a bytes-like object is required, not 'str'".into(),
        }
    }
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// What the session must do with what arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A command without a payload: handle and answer it.
    Command(Command),
    /// A header's payload arrived: apply it and answer the header.
    Payload { header: Header, data: Bytes },
    /// A header's payload did not: answer its `*_failed`.
    PayloadFailed { header: Header, reason: FailReason },
    /// A JSON object that is not a command: answer `error`.
    Rejected { seq: Option<u64>, error: String },
    /// Text that is not a JSON object: invalid payload data, nothing to
    /// answer; the session closes with 1007.
    Invalid { error: String },
    /// A binary message with no header waiting for it: dropped.
    Stray { bytes: u64 },
}

impl Action {
    /// The command seq this action answers, if any.
    pub fn answers(&self) -> Option<u64> {
        match self {
            Action::Command(c) => Some(c.seq()),
            Action::Payload { header, .. } | Action::PayloadFailed { header, .. } => {
                Some(header.seq)
            }
            Action::Rejected { seq, .. } => *seq,
            Action::Invalid { .. } | Action::Stray { .. } => None,
        }
    }
}

/// The receive state of one session.
#[derive(Debug, Clone)]
pub struct Receiver {
    bugs: BugSet,
    timeout: Duration,
    pending: Option<Header>,
}

impl Receiver {
    pub fn new(bugs: BugSet, timeout: Duration) -> Receiver {
        Receiver {
            bugs,
            timeout,
            pending: None,
        }
    }

    /// The header whose payload is due, if any.
    pub fn pending(&self) -> Option<&Header> {
        self.pending.as_ref()
    }

    /// When the pending payload wait expires. `None` when nothing is pending
    /// — and, pre-fix, ever: the bare read waits forever.
    pub fn deadline(&self) -> Option<Duration> {
        if self.bugs.on(KnownBug::OrphanBinaryHeader) {
            return None;
        }
        self.pending.map(|h| h.since + self.timeout)
    }

    /// The wait for a payload is over when `now` reaches the deadline.
    pub fn on_time(&mut self, now: Duration) -> Vec<Action> {
        match (self.deadline(), self.pending) {
            (Some(d), Some(header)) if now >= d => {
                self.pending = None;
                vec![Action::PayloadFailed {
                    header,
                    reason: FailReason::Timeout,
                }]
            }
            _ => Vec::new(),
        }
    }

    /// One data message. A message that arrives after the deadline first
    /// expires the wait (the reader may not have polled in between).
    pub fn on_message(&mut self, now: Duration, msg: Inbound) -> Vec<Action> {
        let mut out = self.on_time(now);
        match (self.pending.take(), msg) {
            (Some(header), Inbound::Binary(data)) => {
                let got = data.len() as u64;
                out.push(if got == header.bytes {
                    Action::Payload { header, data }
                } else {
                    Action::PayloadFailed {
                        header,
                        reason: FailReason::SizeMismatch { got },
                    }
                });
            }
            (Some(header), Inbound::Text(text)) => {
                if self.bugs.on(KnownBug::OrphanBinaryHeader) {
                    // Pre-fix: the bare recv() handed the text to the payload
                    // handler, which failed on it; the command is gone.
                    out.push(Action::PayloadFailed {
                        header,
                        reason: FailReason::ConsumedText,
                    });
                } else {
                    out.push(Action::PayloadFailed {
                        header,
                        reason: FailReason::NotBinary,
                    });
                    self.dispatch_text(now, &text, &mut out);
                }
            }
            (None, Inbound::Binary(data)) => out.push(Action::Stray {
                bytes: data.len() as u64,
            }),
            (None, Inbound::Text(text)) => self.dispatch_text(now, &text, &mut out),
        }
        out
    }

    fn dispatch_text(&mut self, now: Duration, text: &str, out: &mut Vec<Action>) {
        match parse_command(text) {
            Ok(cmd) => match cmd.payload() {
                Some((kind, bytes)) => {
                    self.pending = Some(Header {
                        kind,
                        seq: cmd.seq(),
                        bytes,
                        since: now,
                    });
                }
                None => out.push(Action::Command(cmd)),
            },
            Err(e) if e.is_invalid_data() => out.push(Action::Invalid { error: e.error }),
            Err(e) => out.push(Action::Rejected {
                seq: e.seq,
                error: e.error,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn text(c: Command) -> Inbound {
        Inbound::Text(c.to_json())
    }

    fn header(seq: u64, bytes: u64) -> Inbound {
        text(Command::header(PayloadKind::WriteAudio, seq, bytes))
    }

    fn params(seq: u64) -> Inbound {
        text(Command::Params { seq, knob: 0 })
    }

    #[test]
    fn header_then_payload_applies() {
        let mut r = Receiver::new(BugSet::NONE, ms(10_000));
        assert!(r.on_message(ms(0), header(1, 3)).is_empty());
        assert_eq!(r.deadline(), Some(ms(10_000)));
        let out = r.on_message(ms(5), Inbound::Binary(Bytes::from_static(b"abc")));
        assert!(
            matches!(&out[..], [Action::Payload { header, data }] if header.seq == 1 && data.len() == 3)
        );
        assert_eq!(r.pending(), None);
    }

    #[test]
    fn orphan_header_fails_and_the_command_in_its_slot_is_dispatched() {
        let mut r = Receiver::new(BugSet::NONE, ms(10_000));
        r.on_message(ms(0), header(1, 3));
        let out = r.on_message(ms(50), params(2));
        assert_eq!(out.len(), 2);
        assert!(
            matches!(&out[0], Action::PayloadFailed { header, reason: FailReason::NotBinary } if header.seq == 1)
        );
        assert_eq!(out[1], Action::Command(Command::Params { seq: 2, knob: 0 }));
        assert_eq!(
            FailReason::NotBinary.error(
                &Header {
                    kind: PayloadKind::WriteAudio,
                    seq: 1,
                    bytes: 3,
                    since: ms(0)
                },
                ms(10_000)
            ),
            "expected binary payload after write_audio"
        );
    }

    #[test]
    fn a_header_in_the_slot_fails_the_first_and_waits_for_its_own_payload() {
        let mut r = Receiver::new(BugSet::NONE, ms(10_000));
        r.on_message(ms(0), header(1, 3));
        let out = r.on_message(ms(1), header(2, 4));
        assert_eq!(out.len(), 1);
        assert_eq!(r.pending().map(|h| h.seq), Some(2));
    }

    #[test]
    fn a_missing_payload_times_out_and_a_late_one_is_stray() {
        let mut r = Receiver::new(BugSet::NONE, ms(10_000));
        r.on_message(ms(100), header(1, 3));
        assert!(r.on_time(ms(10_099)).is_empty());
        let out = r.on_time(ms(10_100));
        assert!(matches!(
            &out[..],
            [Action::PayloadFailed {
                reason: FailReason::Timeout,
                ..
            }]
        ));
        let out = r.on_message(ms(12_000), Inbound::Binary(Bytes::from_static(b"abc")));
        assert_eq!(out, vec![Action::Stray { bytes: 3 }]);
    }

    #[test]
    fn wrong_size_fails_and_garbage_is_rejected_with_its_seq() {
        let mut r = Receiver::new(BugSet::NONE, ms(10_000));
        r.on_message(ms(0), header(1, 3));
        let out = r.on_message(ms(1), Inbound::Binary(Bytes::from_static(b"ab")));
        assert!(matches!(
            &out[..],
            [Action::PayloadFailed {
                reason: FailReason::SizeMismatch { got: 2 },
                ..
            }]
        ));
        let out = r.on_message(ms(2), Inbound::Text(r#"{"type":"x","seq":4}"#.into()));
        assert_eq!(out[0].answers(), Some(4));
    }

    #[test]
    fn text_that_is_not_json_is_invalid_even_in_the_payload_slot() {
        let mut r = Receiver::new(BugSet::NONE, ms(10_000));
        let out = r.on_message(ms(0), Inbound::Text("{not json".into()));
        assert_eq!(
            out,
            vec![Action::Invalid {
                error: "not a JSON object".into()
            }]
        );
        r.on_message(ms(1), header(1, 3));
        let out = r.on_message(ms(2), Inbound::Text("\u{1}".into()));
        assert!(matches!(
            &out[..],
            [
                Action::PayloadFailed {
                    reason: FailReason::NotBinary,
                    ..
                },
                Action::Invalid { .. }
            ]
        ));
    }

    /// The trace names a failed payload's reason by its id: every reason has
    /// one, in kebab-case, no two alike, and its `Display` is that id.
    #[test]
    fn every_fail_reason_has_its_own_trace_id() {
        let reasons = [
            FailReason::NotBinary,
            FailReason::Timeout,
            FailReason::SizeMismatch { got: 2 },
            FailReason::ConsumedText,
        ];
        let ids: std::collections::BTreeSet<&str> = reasons.iter().map(|r| r.id()).collect();
        assert_eq!(ids.len(), reasons.len(), "two reasons share an id: {ids:?}");
        for r in &reasons {
            let id = r.id();
            assert!(
                !id.is_empty() && id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{r:?}: id {id:?} is not kebab-case"
            );
            assert_eq!(r.to_string(), id, "{r:?} prints other than its id");
        }
    }

    #[cfg(feature = "known-bugs")]
    #[test]
    fn pre_fix_consumes_the_command_and_never_times_out() {
        let mut r = Receiver::new(BugSet::only(KnownBug::OrphanBinaryHeader), ms(10_000));
        r.on_message(ms(0), header(1, 3));
        assert_eq!(r.deadline(), None);
        assert!(r.on_time(ms(60_000)).is_empty());
        let out = r.on_message(ms(60_001), params(2));
        assert_eq!(out.len(), 1, "params 2 was consumed: {out:?}");
        assert!(matches!(
            &out[0],
            Action::PayloadFailed {
                reason: FailReason::ConsumedText,
                ..
            }
        ));
    }
}
