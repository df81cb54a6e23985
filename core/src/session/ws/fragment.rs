//! Bulk sends, sans-IO: the send policy and the fragment split.
//!
//! Owns [`SendPolicy`] (how a bulk payload is cut and whether a sender may
//! wait on the peer's window while it holds the connection lock) and
//! [`split`]/[`frames`] (one message as WebSocket fragments: a first `Binary`
//! frame and `Continue` frames, FIN on the last). Fragmentation is invisible
//! at the message layer: the receiver's WebSocket library reassembles the
//! same bytes. Every piece is at most the chunk size; nothing here does I/O.

use crate::bugs::{BugSet, KnownBug};
use bytes::Bytes;
use std::ops::Range;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;

/// How the bulk writer sends one payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendPolicy {
    /// Piece size; `None` sends the payload as one whole frame.
    pub chunk: Option<usize>,
    /// A piece the socket cannot take right now releases the lock while the
    /// peer's window is full (bounded hold) instead of waiting under it.
    pub release_when_blocked: bool,
}

impl SendPolicy {
    /// The fix: ~256 KiB fragments, the lock released between them and while
    /// the window is full.
    pub const fn fixed(chunk: usize) -> SendPolicy {
        SendPolicy {
            chunk: Some(chunk),
            release_when_blocked: true,
        }
    }

    /// Pre-fix (`bulk-send-starves-recv`): one whole message, the lock held
    /// until its last byte is written.
    pub const fn whole_message() -> SendPolicy {
        SendPolicy {
            chunk: None,
            release_when_blocked: false,
        }
    }

    /// Upstream's fix alone: fragments, but each piece waits for the window
    /// under the lock. Not used by the session; the loom model shows it can
    /// still wedge.
    pub const fn fragments_waiting_under_lock(chunk: usize) -> SendPolicy {
        SendPolicy {
            chunk: Some(chunk),
            release_when_blocked: false,
        }
    }

    /// The policy a session runs with.
    pub fn for_bugs(bugs: BugSet, chunk: usize) -> SendPolicy {
        if bugs.on(KnownBug::BulkSendStarvesRecv) {
            SendPolicy::whole_message()
        } else {
            SendPolicy::fixed(chunk)
        }
    }

    /// The pieces of a `len`-byte payload under this policy.
    pub fn pieces(&self, len: usize) -> Vec<Piece> {
        split(len, self.chunk.unwrap_or(usize::MAX))
    }
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub range: Range<usize>,
    /// The message's first frame (opcode `Binary`; later ones `Continue`).
    pub first: bool,
    /// The message's last frame (FIN set).
    pub last: bool,
}

/// Cuts `len` bytes into pieces of at most `chunk` bytes (`chunk` ≥ 1). An
/// empty payload is one empty piece: a message always has a frame.
pub fn split(len: usize, chunk: usize) -> Vec<Piece> {
    let chunk = chunk.max(1);
    if len == 0 {
        return vec![Piece {
            range: 0..0,
            first: true,
            last: true,
        }];
    }
    let n = len.div_ceil(chunk);
    (0..n)
        .map(|i| {
            let start = i * chunk;
            let end = (start + chunk).min(len);
            Piece {
                range: start..end,
                first: i == 0,
                last: i + 1 == n,
            }
        })
        .collect()
}

/// The WebSocket frame of one piece of `payload` (zero-copy slice).
pub fn frame(payload: &Bytes, piece: &Piece) -> Frame {
    let opcode = if piece.first {
        OpCode::Data(Data::Binary)
    } else {
        OpCode::Data(Data::Continue)
    };
    Frame::message(payload.slice(piece.range.clone()), opcode, piece.last)
}

/// Every frame of `payload` cut at `chunk`.
pub fn frames(payload: &Bytes, chunk: usize) -> Vec<Frame> {
    split(payload.len(), chunk)
        .iter()
        .map(|p| frame(payload, p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_exactly() {
        let p = split(10, 4);
        assert_eq!(
            p.iter().map(|p| p.range.clone()).collect::<Vec<_>>(),
            vec![0..4, 4..8, 8..10]
        );
        assert!(p[0].first && !p[0].last && p[2].last && !p[2].first);
        assert_eq!(split(8, 4).len(), 2);
        assert_eq!(split(0, 4).len(), 1);
        assert_eq!(split(3, 0).len(), 3, "a zero chunk is treated as 1");
    }

    #[test]
    fn policies() {
        assert_eq!(SendPolicy::whole_message().pieces(5 << 20).len(), 1);
        assert_eq!(SendPolicy::fixed(256 << 10).pieces(5 << 20).len(), 20);
        assert_eq!(
            SendPolicy::for_bugs(BugSet::NONE, 1024),
            SendPolicy::fixed(1024)
        );
    }

    #[test]
    fn frames_carry_binary_then_continue() {
        let payload = Bytes::from_static(b"abcdefghij");
        let f = frames(&payload, 4);
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].header().opcode, OpCode::Data(Data::Binary));
        assert!(!f[0].header().is_final);
        assert_eq!(f[1].header().opcode, OpCode::Data(Data::Continue));
        assert!(f[2].header().is_final);
        let joined: Vec<u8> = f.iter().flat_map(|x| x.payload().to_vec()).collect();
        assert_eq!(joined, payload.to_vec());
    }
}
