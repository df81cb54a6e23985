//! Payload contents: deterministic bytes for uploads, mirrors, stems and
//! slices, and the CRC-32 both ends compare.
//!
//! Owns [`pattern`]: `len` bytes named by a `tag`, built from 4 KiB blocks
//! that each start with the tag and their block index (so a reordered,
//! duplicated or dropped fragment changes the CRC), filled from a xorshift
//! stream seeded by the tag. It is cheap (one copy per block) because runs
//! move tens of MB per seed. Never draws from anything but its arguments.

use bytes::{BufMut, Bytes, BytesMut};

const BLOCK: usize = 4096;

/// `len` deterministic bytes named by `tag`.
pub fn pattern(tag: u64, len: usize) -> Bytes {
    let mut filler = [0u8; BLOCK];
    let mut x = tag ^ 0x9E37_79B9_7F4A_7C15;
    for chunk in filler.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let mut out = BytesMut::with_capacity(len);
    let mut index = 0u64;
    while out.len() < len {
        let take = (len - out.len()).min(BLOCK);
        let start = out.len();
        out.put_slice(&filler[..take]);
        let mut stamp = [0u8; 16];
        stamp[..8].copy_from_slice(&tag.to_le_bytes());
        stamp[8..].copy_from_slice(&index.to_le_bytes());
        let n = take.min(16);
        out[start..start + n].copy_from_slice(&stamp[..n]);
        index += 1;
    }
    out.freeze()
}

/// CRC-32 (IEEE, as Python's `zlib.crc32`).
pub fn crc(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::RecvTimeoutError;

    /// Runs `f` on a thread and fails the test if it has not returned
    /// within 10 s: the fill loop must end at the length, so a test of
    /// `pattern` fails rather than hangs when it does not.
    fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        match rx.recv_timeout(std::time::Duration::from_secs(10)) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => {
                panic!("pattern did not return within 10 s: its fill loop must end at the length")
            }
            Err(RecvTimeoutError::Disconnected) => match worker.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => unreachable!("the worker sends before it returns"),
            },
        }
    }

    #[test]
    fn deterministic_sized_and_block_stamped() {
        bounded(deterministic_sized_and_block_stamped_body);
    }

    fn deterministic_sized_and_block_stamped_body() {
        let a = pattern(7, 10_000);
        assert_eq!(a.len(), 10_000);
        assert_eq!(a, pattern(7, 10_000));
        assert_ne!(crc(&a), crc(&pattern(8, 10_000)));
        assert_eq!(&a[BLOCK + 8..BLOCK + 16], &1u64.to_le_bytes());
        assert_eq!(pattern(1, 0).len(), 0);
        assert_eq!(pattern(1, 5).len(), 5);
        // Swapping two blocks changes the CRC.
        let mut swapped = a.to_vec();
        swapped[..BLOCK].copy_from_slice(&a[BLOCK..2 * BLOCK]);
        swapped[BLOCK..2 * BLOCK].copy_from_slice(&a[..BLOCK]);
        assert_ne!(crc(&swapped), crc(&a));
        assert_eq!(crc(b"123456789"), 0xCBF4_3926);
    }

    /// Value stability: traces, snapshots and the real peer's CRCs carry
    /// these bytes, so a tag and a length give the same payload in every
    /// build. A change here changes every ws trace; it needs a reason.
    #[test]
    fn patterns_are_pinned() {
        let crcs = bounded(|| {
            [
                crc(&pattern(7, 10_000)),
                crc(&pattern(0, BLOCK)),
                crc(&pattern(u64::MAX, 3 * BLOCK + 17)),
            ]
        });
        assert_eq!(crcs, PINNED);
    }

    /// Every length is met exactly, at and around the stamp's and the
    /// block's sizes, zero included (an empty payload is a valid upload).
    #[test]
    fn every_length_is_met_exactly() {
        let lens = [0, 1, 15, 16, 17, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK];
        let got = bounded(move || lens.map(|len| pattern(9, len).len()));
        assert_eq!(got, lens);
    }

    const PINNED: [u32; 3] = [0x0bdd_70c3, 0x7dd5_9e27, 0xc4f5_313b];
}
