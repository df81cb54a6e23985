//! Seeded randomness. Owns [`SimRng`]; never reads an OS random source.
//!
//! Every random draw in relaysim comes from a `SimRng` derived from the
//! scenario seed, so one printed seed replays one run. ChaCha8 is used for its
//! value stability: the same seed gives the same stream on every platform and
//! across `rand` patch releases.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// A deterministic RNG derived from a `u64` seed.
#[derive(Debug, Clone)]
pub struct SimRng(ChaCha8Rng);

impl SimRng {
    pub fn new(seed: u64) -> Self {
        SimRng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// An independent stream for a named purpose (e.g. "faults", "workload"),
    /// so that adding draws to one purpose does not shift another's.
    pub fn fork(seed: u64, purpose: &str) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in purpose.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        SimRng::new(seed ^ h.rotate_left(17))
    }

    pub fn u64(&mut self) -> u64 {
        self.0.random()
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        self.0.random_range(lo..=hi)
    }

    /// True with probability `p` (clamped to 0..=1).
    pub fn chance(&mut self, p: f64) -> bool {
        let p = p.clamp(0.0, 1.0);
        self.0.random_bool(p)
    }

    /// Uniform duration in `lo..=hi`, at millisecond resolution.
    pub fn millis(&mut self, lo: Duration, hi: Duration) -> Duration {
        Duration::from_millis(self.range(lo.as_millis() as u64, hi.as_millis() as u64))
    }

    /// Picks one element (panics on an empty slice: a scenario bug).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as u64 - 1) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_forks_differ() {
        let a: Vec<u64> = (0..4).map(|_| SimRng::new(7).u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut x = SimRng::fork(7, "faults");
        let mut y = SimRng::fork(7, "workload");
        assert_ne!(x.u64(), y.u64());
        let mut r = SimRng::new(1);
        for _ in 0..100 {
            let v = r.range(3, 5);
            assert!((3..=5).contains(&v));
        }
    }

    /// Value stability: pinned plans, snapshots and printed seeds rely on
    /// a seed and a purpose giving the same stream in every build. A
    /// change here changes every run; it needs a reason in the commit.
    #[test]
    fn streams_are_pinned() {
        assert_eq!(SimRng::new(7).u64(), PINNED[0]);
        assert_eq!(SimRng::fork(7, "faults").u64(), PINNED[1]);
        assert_eq!(SimRng::fork(7, "workload").u64(), PINNED[2]);
        assert_eq!(SimRng::fork(0, "").u64(), PINNED[3]);
    }

    const PINNED: [u64; 4] = [
        2_910_824_217_569_608_635,
        4_589_942_856_312_667_297,
        9_035_747_126_845_983_067,
        16_428_131_379_302_212_518,
    ];

    /// Every draw lands in its bounds, and the bounds are reached: each
    /// value of a small range, each element of a slice.
    #[test]
    fn draws_cover_their_whole_range() {
        let mut r = SimRng::new(3);
        let mut seen = [false; 3];
        for _ in 0..200 {
            seen[(r.range(3, 5) - 3) as usize] = true;
        }
        assert_eq!(seen, [true; 3], "range(3, 5)");
        assert_eq!(r.range(9, 9), 9);
        assert_eq!(r.range(9, 2), 9, "an empty range gives its low end");
        let items = ['a', 'b', 'c'];
        let mut picked = std::collections::BTreeSet::new();
        for _ in 0..200 {
            picked.insert(*r.pick(&items));
        }
        assert_eq!(picked.len(), 3);
        let (lo, hi) = (Duration::from_millis(10), Duration::from_millis(12));
        let mut ms = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let d = r.millis(lo, hi);
            assert!(lo <= d && d <= hi, "{d:?}");
            ms.insert(d);
        }
        assert_eq!(ms.len(), 3);
    }
}
