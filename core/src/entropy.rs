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
}
