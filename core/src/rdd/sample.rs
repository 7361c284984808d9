//! Seeded sampling. Each partition gets its own generator seeded from the user's seed and the
//! partition index, so a sample is reproducible whatever the thread count.

use crate::rdd::Rdd;
use crate::Data;

/// SplitMix64: tiny, fast and good enough for sampling; no dependency needed.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `[0, n)`, `n > 0`.
    pub(crate) fn next_below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    /// Poisson(`lambda`) by Knuth's method (fractions are small in sampling).
    fn next_poisson(&mut self, lambda: f64) -> u32 {
        let l = (-lambda).exp();
        let mut k = 0u32;
        let mut p = 1.0;
        loop {
            p *= self.next_f64();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
}

pub(crate) fn sample<T: Data>(
    rdd: &Rdd<T>,
    with_replacement: bool,
    fraction: f64,
    seed: u64,
) -> Rdd<T> {
    let fraction = if fraction.is_finite() {
        fraction.max(0.0)
    } else {
        0.0
    };
    rdd.map_partitions_with_index(move |index, it| {
        let mut rng = SplitMix64::new(seed ^ crate::hash::stable_hash(&index));
        let mut out = Vec::new();
        for x in it {
            if with_replacement {
                for _ in 0..rng.next_poisson(fraction) {
                    out.push(x.clone());
                }
            } else if rng.next_f64() < fraction {
                out.push(x);
            }
        }
        out
    })
    .set_name("sample")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_uniform_enough() {
        let mut r = SplitMix64::new(1);
        let mean: f64 = (0..10_000).map(|_| r.next_f64()).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        assert!((0..1000).all(|_| r.next_below(7) < 7));
    }
}
