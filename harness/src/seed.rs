//! Seeds and seed ranges.
//!
//! Seeds are `u64`, printed in hex (`0x2a`), parsed from hex or decimal.
//! Environment variables, all read here and nowhere else:
//!
//! - `RELAYSIM_SEED=S` — run exactly seed `S` (hex `0x…` or decimal).
//! - `RELAYSIM_SEEDS=N` — run `N` seeds from 0; `RELAYSIM_SEEDS=A..B` — run
//!   seeds `A` (inclusive) to `B` (exclusive).
//! - `RELAYSIM_BUG=ID[,ID]` — switch known bugs on (see `KnownBug::id`).

use std::fmt;

/// One simulation seed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seed(pub u64);

impl Seed {
    /// Parses `0x2a` (hex) or `42` (decimal).
    pub fn parse(s: &str) -> Result<Seed, String> {
        let t = s.trim();
        let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex.replace('_', "").as_str(), 16),
            None => t.replace('_', "").parse::<u64>(),
        };
        parsed.map(Seed).map_err(|_| {
            format!("invalid seed {s:?}: expected a u64 in hex (0x2a) or decimal (42)")
        })
    }

    /// `RELAYSIM_SEED`, if set (an invalid value is an error, not ignored).
    pub fn from_env() -> Result<Option<Seed>, String> {
        match std::env::var("RELAYSIM_SEED") {
            Ok(v) if !v.trim().is_empty() => Seed::parse(&v).map(Some),
            _ => Ok(None),
        }
    }
}

impl fmt::Display for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// A half-open range of seeds, `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedRange {
    /// First seed (inclusive).
    pub start: u64,
    /// End (exclusive).
    pub end: u64,
}

impl SeedRange {
    /// `start..end`.
    pub fn new(start: u64, end: u64) -> SeedRange {
        SeedRange { start, end }
    }

    /// `N` (0..N), `A..B`, or a single seed `S` when `single_ok`.
    pub fn parse(s: &str) -> Result<SeedRange, String> {
        let bad = || {
            format!("invalid seed range {s:?}: expected N (seeds 0..N) or A..B (A inclusive, B exclusive)")
        };
        if let Some((a, b)) = s.split_once("..") {
            let a = Seed::parse(a).map_err(|_| bad())?.0;
            let b = Seed::parse(b).map_err(|_| bad())?.0;
            if b <= a {
                return Err(format!(
                    "invalid seed range {s:?}: the end must be greater than the start"
                ));
            }
            Ok(SeedRange::new(a, b))
        } else {
            let n = Seed::parse(s).map_err(|_| bad())?.0;
            if n == 0 {
                return Err(format!("invalid seed range {s:?}: zero seeds"));
            }
            Ok(SeedRange::new(0, n))
        }
    }

    /// `RELAYSIM_SEEDS`, if set.
    pub fn from_env() -> Result<Option<SeedRange>, String> {
        match std::env::var("RELAYSIM_SEEDS") {
            Ok(v) if !v.trim().is_empty() => SeedRange::parse(&v).map(Some),
            _ => Ok(None),
        }
    }

    /// Number of seeds.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// No seeds?
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// The seeds, in order.
    pub fn seeds(&self) -> impl Iterator<Item = Seed> {
        (self.start..self.end).map(Seed)
    }

    /// Shard `k` of `n` (1-based `k`): a contiguous slice of this range.
    pub fn shard(&self, k: u64, n: u64) -> Result<SeedRange, String> {
        if n == 0 || k == 0 || k > n {
            return Err(format!(
                "invalid shard {k}/{n}: expected K/N with 1 <= K <= N"
            ));
        }
        // In u128: `len * k` overflows u64 for ranges near its top.
        let len = u128::from(self.len());
        let at = |i: u64| self.start + (len * u128::from(i) / u128::from(n)) as u64;
        Ok(SeedRange::new(at(k - 1), at(k)))
    }
}

/// The seeds a batch runs: a range (never materialized, so a range of
/// 10^10 seeds costs no memory) or an explicit list.
#[derive(Debug, Clone, Copy)]
pub enum Seeds<'a> {
    /// Every seed of a range, in order.
    Range(SeedRange),
    /// These seeds, in this order.
    List(&'a [Seed]),
}

impl Seeds<'_> {
    /// How many.
    pub fn len(&self) -> u64 {
        match self {
            Seeds::Range(r) => r.len(),
            Seeds::List(l) => l.len() as u64,
        }
    }

    /// None?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th seed.
    pub fn get(&self, i: u64) -> Option<Seed> {
        match self {
            Seeds::Range(r) => (i < r.len()).then(|| Seed(r.start + i)),
            Seeds::List(l) => usize::try_from(i).ok().and_then(|i| l.get(i).copied()),
        }
    }
}

impl From<SeedRange> for Seeds<'_> {
    fn from(r: SeedRange) -> Self {
        Seeds::Range(r)
    }
}

impl<'a> From<&'a [Seed]> for Seeds<'a> {
    fn from(l: &'a [Seed]) -> Self {
        Seeds::List(l)
    }
}

impl<'a> From<&'a Vec<Seed>> for Seeds<'a> {
    fn from(l: &'a Vec<Seed>) -> Self {
        Seeds::List(l)
    }
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}..{:#x}", self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_seeds_and_ranges() {
        assert_eq!(Seed::parse("0x2a"), Ok(Seed(42)));
        assert_eq!(Seed::parse("42"), Ok(Seed(42)));
        assert!(Seed::parse("0xzz").unwrap_err().contains("invalid seed"));
        assert_eq!(Seed(42).to_string(), "0x2a");
        assert_eq!(SeedRange::parse("200"), Ok(SeedRange::new(0, 200)));
        assert_eq!(SeedRange::parse("0x10..0x20"), Ok(SeedRange::new(16, 32)));
        assert!(SeedRange::parse("5..5").is_err());
        assert!(SeedRange::parse("0").is_err());
        assert!(SeedRange::parse("x").is_err());
    }

    #[test]
    fn shards_cover_the_range_exactly() {
        let r = SeedRange::new(0, 10);
        let shards: Vec<_> = (1..=3).map(|k| r.shard(k, 3).unwrap()).collect();
        assert_eq!(shards[0].start, 0);
        assert_eq!(shards[2].end, 10);
        assert!(shards.windows(2).all(|w| w[0].end == w[1].start));
        assert!(r.shard(5, 4).is_err());
        assert!(r.shard(0, 4).is_err());
        // The top of u64: no overflow, still an exact cover.
        let top = SeedRange::new(0, u64::MAX);
        let n = 7;
        let parts: Vec<_> = (1..=n).map(|k| top.shard(k, n).unwrap()).collect();
        assert_eq!(parts[0].start, 0);
        assert_eq!(parts[n as usize - 1].end, u64::MAX);
        assert!(parts.windows(2).all(|w| w[0].end == w[1].start));
        let sizes: u128 = parts.iter().map(|p| u128::from(p.len())).sum();
        assert_eq!(sizes, u128::from(u64::MAX));
    }

    #[test]
    fn seeds_index_ranges_and_lists_without_materializing() {
        let huge = Seeds::from(SeedRange::new(5, 10_000_000_005));
        assert_eq!(huge.len(), 10_000_000_000);
        assert_eq!(huge.get(0), Some(Seed(5)));
        assert_eq!(huge.get(9_999_999_999), Some(Seed(10_000_000_004)));
        assert_eq!(huge.get(10_000_000_000), None);
        let list = vec![Seed(3), Seed(1)];
        let l = Seeds::from(&list);
        assert_eq!((l.len(), l.get(1), l.get(2)), (2, Some(Seed(1)), None));
    }
}
