//! proptest over the ws session's sans-IO parts and its send path.
//!
//! - Fragmentation round trip: for arbitrary payload and chunk sizes the
//!   pieces cover the payload exactly, none exceeds the chunk size, and the
//!   frames — sent through the session's own bounded-hold [`Conn`] over a
//!   small in-memory pipe, with a ping between fragments — reassemble at a
//!   tokio-tungstenite client into the same bytes.
//! - The receive state machine: arbitrary interleavings of headers,
//!   payloads, commands, garbage and waits. On the fixed path every command
//!   comes out answered exactly once, in order, never as a payload, every
//!   garbage text is invalid data (the session would close 1007), and
//!   nothing is left pending; with `orphan-binary-header` on, proptest finds
//!   and shrinks the counterexample to a header (followed by a command).

use bytes::Bytes;
use futures_util::StreamExt;
use proptest::prelude::*;
use proptest::test_runner::Config;
use relaysim_core::session::ws::conn::Conn;
use relaysim_core::session::ws::fragment::{self, split};
use relaysim_core::session::ws::payload::pattern;
use relaysim_core::session::ws::protocol::{Command, PayloadKind};
use relaysim_core::session::ws::receive::{Action, Inbound, Receiver};
use relaysim_core::BugSet;
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

proptest! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, .. Config::default() })]

    #[test]
    fn pieces_cover_the_payload_within_the_chunk(len in 0usize..200_000, chunk in 1usize..70_000) {
        let pieces = split(len, chunk);
        prop_assert_eq!(pieces.len(), len.div_ceil(chunk).max(1));
        let mut at = 0;
        for (i, p) in pieces.iter().enumerate() {
            prop_assert_eq!(p.range.start, at);
            prop_assert!(p.range.len() <= chunk);
            prop_assert_eq!(p.first, i == 0);
            prop_assert_eq!(p.last, i + 1 == pieces.len());
            at = p.range.end;
        }
        prop_assert_eq!(at, len);
    }
}

/// Sends `payload` in `chunk`-byte fragments through a server [`Conn`] over
/// a `pipe`-byte in-memory duplex (small enough that sends block and the
/// bounded-hold loop runs), with a ping after fragment `ping_after`; returns
/// what a tokio-tungstenite client reassembled.
fn wire_round_trip(payload: Bytes, chunk: usize, pipe: usize, ping_after: usize) -> Bytes {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let (a, b) = tokio::io::duplex(pipe);
        let server = WebSocketStream::from_raw_socket(a, Role::Server, None).await;
        let mut client = WebSocketStream::from_raw_socket(b, Role::Client, None).await;
        let conn = Conn::new(server, Duration::from_millis(10), Duration::from_millis(1));
        let frames = fragment::frames(&payload, chunk);
        let send = async {
            for (i, f) in frames.into_iter().enumerate() {
                conn.send_bounded(Message::Frame(f)).await.expect("send");
                if i == ping_after {
                    conn.send_bounded(Message::Ping(Bytes::from_static(b"p")))
                        .await
                        .expect("ping");
                }
            }
        };
        let recv = async {
            loop {
                match client.next().await {
                    Some(Ok(Message::Binary(b))) => return b,
                    Some(Ok(_)) => continue,
                    other => panic!("client read {other:?}"),
                }
            }
        };
        let ((), got) = tokio::join!(send, recv);
        got
    })
}

proptest! {
    #![proptest_config(Config { cases: 48, failure_persistence: None, .. Config::default() })]

    #[test]
    fn fragments_reassemble_byte_identical(
        tag in any::<u64>(),
        len in 0usize..96 * 1024,
        chunk in 1usize..40_000,
        pipe in 64usize..8192,
        ping_after in 0usize..8,
    ) {
        // Keep the frame count reasonable for tiny chunks.
        let chunk = chunk.max(len / 64 + 1);
        let payload = pattern(tag, len);
        let got = wire_round_trip(payload.clone(), chunk, pipe, ping_after);
        prop_assert_eq!(got.len(), payload.len());
        prop_assert!(got == payload, "bytes differ after reassembly");
    }
}

/// One input to the receive state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A header announcing `bytes` of `kind`.
    Header(PayloadKind, u64),
    /// A binary message of `len` bytes.
    Payload(u64),
    /// A `params` command.
    Params,
    /// A `swap_source` from the server's copy.
    SwapServer,
    /// A command of an unknown type (answered `error` with its seq).
    Unknown,
    /// Text that is not JSON (invalid data: the session closes 1007).
    Garbage,
    /// Time passes (ms).
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (prop::sample::select(PayloadKind::ALL.to_vec()), 0u64..4).prop_map(|(k, b)| Step::Header(k, b)),
        3 => (0u64..4).prop_map(Step::Payload),
        3 => Just(Step::Params),
        1 => Just(Step::SwapServer),
        1 => Just(Step::Unknown),
        1 => Just(Step::Garbage),
        2 => prop_oneof![0u64..2_000, 9_000u64..12_000].prop_map(Step::Wait),
    ]
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// Feeds `steps` to a receiver and checks: every command answered exactly
/// once and in order, garbage found invalid, a payload only ever from a binary
/// that directly followed its header, nothing left pending at the end.
fn check_receiver(bugs: BugSet, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut rx = Receiver::new(bugs, TIMEOUT);
    let mut now = Duration::ZERO;
    let mut seq = 0u64;
    let mut sent: Vec<u64> = Vec::new();
    let mut garbage = 0u64;
    let mut answered: Vec<u64> = Vec::new();
    let mut invalid = 0u64;
    // The header a binary sent right now would belong to.
    let mut slot: Option<(u64, u64)> = None;
    let collect = |actions: Vec<Action>,
                   answered: &mut Vec<u64>,
                   invalid: &mut u64,
                   binary: Option<(u64, u64)>|
     -> Result<(), TestCaseError> {
        for a in actions {
            if let Action::Payload { header, data } = &a {
                prop_assert_eq!(
                    binary,
                    Some((header.seq, data.len() as u64)),
                    "a payload applied to a header it did not follow"
                );
            }
            match a.answers() {
                Some(s) => answered.push(s),
                None if matches!(a, Action::Invalid { .. }) => *invalid += 1,
                None => {}
            }
        }
        Ok(())
    };
    for st in steps {
        now += Duration::from_millis(1);
        let (msg, binary) = match st {
            Step::Wait(ms) => {
                now += Duration::from_millis(*ms);
                let out = rx.on_time(now);
                collect(out, &mut answered, &mut invalid, None)?;
                continue;
            }
            Step::Header(kind, bytes) => {
                seq += 1;
                sent.push(seq);
                slot = Some((seq, *bytes));
                (
                    Inbound::Text(Command::header(*kind, seq, *bytes).to_json()),
                    None,
                )
            }
            Step::Params => {
                seq += 1;
                sent.push(seq);
                slot = None;
                (
                    Inbound::Text(Command::Params { seq, knob: 1 }.to_json()),
                    None,
                )
            }
            Step::SwapServer => {
                seq += 1;
                sent.push(seq);
                slot = None;
                let c = Command::SwapSource {
                    seq,
                    use_server_source: true,
                    bytes: 0,
                };
                (Inbound::Text(c.to_json()), None)
            }
            Step::Unknown => {
                seq += 1;
                sent.push(seq);
                slot = None;
                (
                    Inbound::Text(format!(r#"{{"type":"frobnicate","seq":{seq}}}"#)),
                    None,
                )
            }
            Step::Garbage => {
                garbage += 1;
                slot = None;
                (Inbound::Text("{not json".into()), None)
            }
            Step::Payload(len) => {
                let owner = slot.take().map(|(s, _)| (s, *len));
                (
                    Inbound::Binary(Bytes::from(vec![7u8; *len as usize])),
                    owner,
                )
            }
        };
        let out = rx.on_message(now, msg);
        collect(out, &mut answered, &mut invalid, binary)?;
    }
    // The session keeps polling: a wait still pending expires by its deadline.
    let out = rx.on_time(now + TIMEOUT);
    collect(out, &mut answered, &mut invalid, None)?;
    prop_assert!(rx.pending().is_none(), "a header left unanswered");
    prop_assert_eq!(&answered, &sent, "every command answered once, in order");
    prop_assert_eq!(invalid, garbage);
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: 1024, failure_persistence: None, .. Config::default() })]

    #[test]
    fn receiver_answers_every_command_once_in_order(steps in prop::collection::vec(step(), 0..40)) {
        check_receiver(BugSet::NONE, &steps)?;
    }
}

#[cfg(feature = "known-bugs")]
mod known_bugs {
    use super::*;
    use proptest::test_runner::{RngAlgorithm, TestError, TestRng, TestRunner};
    use relaysim_core::KnownBug;

    #[test]
    fn orphan_header_shrinks_to_a_header_then_a_command() {
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: 1024,
                failure_persistence: None,
                ..Config::default()
            },
            TestRng::deterministic_rng(RngAlgorithm::ChaCha),
        );
        let result = runner.run(&prop::collection::vec(step(), 0..40), |steps| {
            check_receiver(BugSet::only(KnownBug::OrphanBinaryHeader), &steps)
        });
        let steps = match result {
            Err(TestError::Fail(_, steps)) => steps,
            other => panic!("orphan-binary-header was not found: {other:?}"),
        };
        // From up to 40 steps to one or two: a header whose payload never
        // comes (the read waits forever), or a header with text in its slot
        // (the text is consumed).
        assert!(steps.len() <= 2, "{steps:?}");
        assert!(matches!(steps[0], Step::Header(..)), "{steps:?}");
        if let Some(next) = steps.get(1) {
            assert!(
                !matches!(next, Step::Payload(_) | Step::Wait(_)),
                "{steps:?}"
            );
        }
    }
}
