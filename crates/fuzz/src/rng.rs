//! A small deterministic generator (SplitMix64). Every generated input is a pure function of
//! (run seed, execution index, corpus), so the supervising process can rebuild the input a
//! child was running when it died without the child having to ship it.

#[derive(Debug, Clone)]
pub struct Rng(u64);

/// One generator per execution: `seed` for the run, `index` for the execution.
pub fn for_exec(seed: u64, index: u64) -> Rng {
    let mut r = Rng(seed ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    r.next_u64();
    r
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            lo
        } else {
            lo + self.below(hi - lo + 1)
        }
    }

    /// In `lo..=hi`, every power of two equally likely (small values often, large ones too).
    pub fn log_range(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo;
        let bits = usize::BITS - span.leading_zeros();
        let b = self.range(0, bits as usize) as u32;
        let top = if b >= usize::BITS {
            span
        } else {
            ((1usize << b) - 1).min(span)
        };
        lo + self.range(0, top)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u32, den: u32) -> bool {
        (self.next_u64() % u64::from(den.max(1))) < u64::from(num)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// FNV-1a, for crash file names.
pub fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let a: Vec<u64> = (0..4).map(|i| for_exec(7, i).next_u64()).collect();
        let b: Vec<u64> = (0..4).map(|i| for_exec(7, i).next_u64()).collect();
        assert_eq!(a, b);
        let mut r = Rng::new(1);
        for _ in 0..10_000 {
            let v = r.log_range(10, 20_000);
            assert!((10..=20_000).contains(&v));
            assert!(r.range(3, 5) >= 3 && r.range(3, 5) <= 5);
            assert!(r.below(7) < 7);
        }
    }
}
