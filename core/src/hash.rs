//! Stable hashing. Partition placement must be the same in every process and after every
//! restart, or recovered state lands in the wrong partition: std's `RandomState` is seeded per
//! process, so placement uses this fixed-key hasher instead. It is also the fast hasher of the
//! engine's internal hash maps.
//!
//! A map and a placement must not read the same bits. A hash map picks a key's bucket from
//! the low bits of its hash, and a hash partitioner its partition from the same hash modulo
//! the partition count, which for a count of 2^k is the low k bits. With one hash, the keys
//! of one partition would all have their home in 1 bucket out of 2^k: long probes, and
//! lookups that no prefetch finds. So a map's hash ([`StableHasher`]'s `finish`) is the
//! placement hash ([`stable_hash`]) rotated by 32 bits.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// A fast, fixed-key 64-bit hasher (multiply-rotate per word, murmur3 finaliser).
///
/// The same input gives the same hash in every process, on every run.
#[derive(Clone, Copy, Debug)]
pub struct StableHasher {
    state: u64,
}

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher { state: SEED }
    }
}

impl StableHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    /// The placement hash of what was written.
    #[inline]
    fn placement(&self) -> u64 {
        // murmur3 fmix64: spreads entropy into the low bits a modulo uses.
        let mut h = self.state;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

impl Hasher for StableHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("chunk of 8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64)
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(i as u64)
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64)
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i)
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64)
    }
    /// The hash maps use: the placement hash with its halves swapped (see the module).
    #[inline]
    fn finish(&self) -> u64 {
        self.placement().rotate_left(32)
    }
}

/// `BuildHasher` of [`StableHasher`].
pub type StableBuildHasher = BuildHasherDefault<StableHasher>;

/// A `HashMap` with the stable hasher.
pub type StableHashMap<K, V> = HashMap<K, V, StableBuildHasher>;

/// The stable hash of a value: what places it in a partition.
///
/// ```
/// use emberflow_core::hash::stable_hash;
/// assert_eq!(stable_hash(&"spark"), stable_hash(&String::from("spark")));
/// ```
pub fn stable_hash<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = StableHasher::default();
    value.hash(&mut h);
    h.placement()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pinned values: if these change, state recovered from a checkpoint written by an
    // earlier build would be looked up in the wrong partition.
    const GOLDEN_7: u64 = 0x7dfb_1a2a_b5c7_3867;
    const GOLDEN_SPARK: u64 = 0x9a62_bb2f_7e8d_7133;

    #[test]
    fn hashes_are_fixed_across_processes() {
        assert_eq!(stable_hash("word"), stable_hash(&String::from("word")));
        assert_ne!(stable_hash("word"), stable_hash("words"));
        assert_eq!(stable_hash(&7u64), GOLDEN_7);
        assert_eq!(stable_hash("spark"), GOLDEN_SPARK);
    }

    #[test]
    fn the_keys_of_one_partition_spread_over_a_maps_buckets() {
        // The keys a 16-way hash partitioner puts in partition 3, and the low 4 bits of their
        // map hash (the home bucket in any table of 16 buckets or more): with the placement
        // hash every key would have 3 there.
        use std::hash::BuildHasher;
        let homes: std::collections::BTreeSet<u64> = (0u64..10_000)
            .filter(|k| stable_hash(k) % 16 == 3)
            .map(|k| StableBuildHasher::default().hash_one(k) & 15)
            .collect();
        assert_eq!(homes.len(), 16);
    }
}
