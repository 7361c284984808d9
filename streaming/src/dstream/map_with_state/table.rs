//! The hash table a state partition keeps its keys in, with lookups that can be fetched
//! ahead. A table of millions of keys is larger than the cache, so each lookup waits on
//! memory twice: for the control bytes that say which buckets hold which hashes, and for the
//! bucket itself. A batch knows its keys before it applies them, so it asks the CPU to fetch
//! both lines for a group of keys at once ([`Table::prefetcher`]); the waits overlap and the
//! updates find their entries in cache.
//!
//! The table is hashbrown's `HashTable` with the engine's stable hasher. Where a lookup of a
//! hash starts (bucket `hash & mask`) and where bucket `i` lies (`i + 1` buckets below the
//! control bytes) is hashbrown's layout, not its API: the unit tests hold it to what the
//! prefetcher computes. A wrong address costs only speed: a prefetch never faults and never
//! changes what a load reads.

use std::hash::{BuildHasher, Hash};

use emberflow_core::hash::StableBuildHasher;
use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

/// Keys and their values, hashed with the engine's stable hasher.
pub(super) struct Table<K, V> {
    entries: HashTable<(K, V)>,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            entries: HashTable::new(),
        }
    }
}

/// The hash a key is stored under.
pub(super) fn hash<K: Hash>(k: &K) -> u64 {
    StableBuildHasher::default().hash_one(k)
}

impl<K, V> Table<K, V> {
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl<K: Hash + Eq, V> Table<K, V> {
    fn rehash(e: &(K, V)) -> u64 {
        hash(&e.0)
    }

    /// Bytes of the table's buckets.
    pub(super) fn bytes(&self) -> usize {
        self.entries.num_buckets() * std::mem::size_of::<(K, V)>()
    }

    pub(super) fn get(&self, k: &K) -> Option<&V> {
        self.entries.find(hash(k), |e| e.0 == *k).map(|e| &e.1)
    }

    /// The value of `k`, whose hash is `hash`.
    pub(super) fn get_hashed_mut(&mut self, hash: u64, k: &K) -> Option<&mut V> {
        self.entries.find_mut(hash, |e| e.0 == *k).map(|e| &mut e.1)
    }

    /// Puts in `k`'s value; the value it had, if any.
    pub(super) fn insert(&mut self, k: K, v: V) -> Option<V> {
        match self.entries.entry(hash(&k), |e| e.0 == k, Self::rehash) {
            Entry::Occupied(mut o) => Some(std::mem::replace(&mut o.get_mut().1, v)),
            Entry::Vacant(slot) => {
                slot.insert((k, v));
                None
            }
        }
    }

    /// Puts in a key the table does not hold, whose hash is `hash`.
    pub(super) fn insert_new(&mut self, hash: u64, k: K, v: V) {
        self.entries.insert_unique(hash, (k, v), Self::rehash);
    }

    pub(super) fn remove(&mut self, k: &K) -> Option<V> {
        match self.entries.find_entry(hash(k), |e| e.0 == *k) {
            Ok(o) => Some(o.remove().0 .1),
            Err(_) => None,
        }
    }

    pub(super) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain(|e| keep(&e.0, &mut e.1));
    }

    /// Fetches ahead for lookups in the table as it is now (a table that grows moves: take a
    /// new one after inserting). `None` when the table is empty.
    pub(super) fn prefetcher(&self) -> Option<Prefetcher> {
        let index = self.entries.iter_buckets().next()?;
        let anchor = self.entries.get_bucket(index)?;
        let size = std::mem::size_of::<(K, V)>();
        // Bucket `i` is `i + 1` buckets below the control bytes, which start where bucket 0
        // ends.
        let ctrl = (anchor as *const (K, V) as usize).wrapping_add((index + 1) * size);
        Some(Prefetcher {
            ctrl,
            size,
            mask: self.entries.num_buckets() - 1,
        })
    }
}

/// Addresses of a table's first lookup lines (see [`Table::prefetcher`]).
pub(super) struct Prefetcher {
    /// Address of the control byte of bucket 0.
    ctrl: usize,
    /// Bytes of a bucket.
    size: usize,
    mask: usize,
}

impl Prefetcher {
    /// The address of bucket `i` and of its control byte.
    fn addresses(&self, i: usize) -> (usize, usize) {
        (
            self.ctrl.wrapping_sub((i + 1) * self.size),
            self.ctrl.wrapping_add(i),
        )
    }

    /// Asks for the lines a lookup of `hash` reads first: its control bytes and its bucket
    /// (both lines, when the bucket straddles two).
    pub(super) fn fetch(&self, hash: u64) {
        let (bucket, ctrl) = self.addresses(hash as usize & self.mask);
        fetch_line(ctrl);
        fetch_line(bucket);
        let last = bucket.wrapping_add(self.size.saturating_sub(1));
        if last / LINE != bucket / LINE {
            fetch_line(last);
        }
    }
}

/// Bytes of a cache line.
const LINE: usize = 64;

/// Asks the CPU to bring the line holding `address` into cache. The address is never read
/// from, so any value is safe.
fn fetch_line(address: usize) {
    let origin: &[u8] = &[];
    prefetch_index::prefetch_index(origin, address.wrapping_sub(origin.as_ptr() as usize));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(n: u64) -> Table<u64, [u64; 4]> {
        let mut t = Table::default();
        for k in 0..n {
            t.insert(k, [k; 4]);
        }
        t
    }

    #[test]
    fn the_prefetcher_computes_where_every_bucket_lies() {
        let t = table(10_000);
        let p = t.prefetcher().expect("table has keys");
        let mut checked = 0;
        for i in t.entries.iter_buckets() {
            let bucket = t.entries.get_bucket(i).expect("full bucket");
            assert_eq!(p.addresses(i).0, bucket as *const _ as usize, "bucket {i}");
            checked += 1;
        }
        assert_eq!(checked, 10_000);
    }

    #[test]
    fn a_lookup_starts_at_the_bucket_the_prefetcher_fetches() {
        // In a table at most half full nearly every key sits in the group of 16 buckets its
        // lookup reads first; were the start computed otherwise, almost none would.
        let t = table(8_000);
        assert!(t.entries.num_buckets() >= 2 * 8_000);
        let p = t.prefetcher().expect("table has keys");
        let near = (0..8_000u64)
            .filter(|k| {
                let hash = hash(k);
                let start = hash as usize & p.mask;
                let at = t
                    .entries
                    .find_bucket_index(hash, |e| e.0 == *k)
                    .expect("key is in");
                at.wrapping_sub(start) & p.mask < 16
            })
            .count();
        assert!(near >= 7_900, "{near} of 8000 keys near their start");
    }

    #[test]
    fn the_table_keeps_inserts_replacements_and_removals() {
        let mut t = table(1_000);
        assert_eq!(t.insert(7, [0; 4]), Some([7; 4]));
        assert_eq!(t.remove(&8), Some([8; 4]));
        assert_eq!(t.remove(&8), None);
        let h = hash(&5_000);
        t.insert_new(h, 5_000, [1; 4]);
        assert_eq!(t.get_hashed_mut(h, &5_000), Some(&mut [1; 4]));
        t.retain(|k, _| k % 2 == 0);
        // 500 even keys below 1000, less 8, and 5000.
        assert_eq!(t.len(), 500);
        assert_eq!(t.get(&7), None);
        assert_eq!(t.get(&6), Some(&[6; 4]));
        let mut keys: Vec<u64> = t.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        assert_eq!(keys.first(), Some(&0));
        assert_eq!(keys.last(), Some(&5_000));
    }

    #[test]
    fn a_prefetcher_over_zero_sized_buckets_fetches_without_overflow() {
        let mut t: Table<(), ()> = Table::default();
        t.insert((), ());
        t.prefetcher().expect("one key").fetch(hash(&()));
        assert_eq!(t.get(&()), Some(&()));
    }
}
