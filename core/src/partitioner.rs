//! Partitioners decide which reduce partition a key goes to. [`HashPartitioner`] uses the
//! stable hasher, so placement is the same in every process and after every restart.
//! [`RangePartitioner`] samples the keys of an RDD, lazily, when the first job that needs it
//! runs (Spark samples eagerly, inside `sortByKey`).

use std::hash::Hash;
use std::sync::OnceLock;

use crate::hash::stable_hash;
use crate::rdd::Rdd;
use crate::{Data, Result};

/// Maps keys to partitions `0..num_partitions()`.
///
/// Implement it for a custom placement and pass it to `partition_by` or a `_with_partitioner`
/// operation.
pub trait Partitioner<K>: Send + Sync + 'static {
    /// The number of partitions.
    fn num_partitions(&self) -> usize;
    /// The partition of `key`, in `0..num_partitions()`.
    fn partition(&self, key: &K) -> usize;
    /// Computes whatever the partitioner needs before tasks run (range bounds). Called by the
    /// scheduler on the driver before the shuffle's map stage.
    fn prepare(&self) -> Result<()> {
        Ok(())
    }
    /// What identifies this placement, if it can be compared: two partitioners with the same
    /// placement put every key in the same partition, so data placed by one needs no shuffle
    /// to meet data placed by the other (a join or cogroup of RDDs partitioned alike is
    /// narrow). `None` (the default): never assumed equal to another.
    fn placement(&self) -> Option<String> {
        None
    }
}

/// A shared partitioner is a partitioner (so one can be handed to every batch).
impl<K, P: Partitioner<K> + ?Sized> Partitioner<K> for std::sync::Arc<P> {
    fn num_partitions(&self) -> usize {
        (**self).num_partitions()
    }
    fn partition(&self, key: &K) -> usize {
        (**self).partition(key)
    }
    fn prepare(&self) -> Result<()> {
        (**self).prepare()
    }
    fn placement(&self) -> Option<String> {
        (**self).placement()
    }
}

/// Places a key by its stable hash modulo the partition count.
///
/// ```
/// use emberflow_core::{HashPartitioner, Partitioner};
/// let p = HashPartitioner::new(4);
/// assert_eq!(p.partition(&"a"), p.partition(&"a"));
/// assert!(p.partition(&"a") < 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashPartitioner {
    partitions: usize,
}

impl HashPartitioner {
    /// A hash partitioner over `partitions` partitions (at least 1).
    pub fn new(partitions: usize) -> Self {
        HashPartitioner {
            partitions: partitions.max(1),
        }
    }
}

impl<K: Hash> Partitioner<K> for HashPartitioner {
    fn num_partitions(&self) -> usize {
        self.partitions
    }
    #[inline]
    fn partition(&self, key: &K) -> usize {
        (stable_hash(key) % self.partitions as u64) as usize
    }
    fn placement(&self) -> Option<String> {
        Some(format!("hash/{}", self.partitions))
    }
}

/// Places keys in sorted ranges whose bounds are sampled from an RDD, so partitions are about
/// equally large and partition `i` holds only keys below those of partition `i + 1`.
pub struct RangePartitioner<K: 'static> {
    partitions: usize,
    ascending: bool,
    source: Option<Rdd<K>>,
    bounds: OnceLock<Vec<K>>,
}

impl<K: Data + Ord> RangePartitioner<K> {
    /// A range partitioner with `partitions` ranges, sampling the keys of `rdd`.
    pub fn new<V: Data>(partitions: usize, rdd: &Rdd<(K, V)>, ascending: bool) -> Self {
        RangePartitioner {
            partitions: partitions.max(1),
            ascending,
            source: Some(rdd.keys()),
            bounds: OnceLock::new(),
        }
    }

    /// A range partitioner with explicit upper bounds (`bounds.len() + 1` partitions).
    pub fn from_bounds(mut bounds: Vec<K>, ascending: bool) -> Self {
        bounds.sort();
        let cell = OnceLock::new();
        let partitions = bounds.len() + 1;
        let _ = cell.set(bounds);
        RangePartitioner {
            partitions,
            ascending,
            source: None,
            bounds: cell,
        }
    }

    fn sample_bounds(&self) -> Result<Vec<K>> {
        let Some(source) = &self.source else {
            return Ok(Vec::new());
        };
        if self.partitions <= 1 {
            return Ok(Vec::new());
        }
        // As Spark: about 20 samples per output partition, drawn evenly from every input
        // partition (reservoir sampling with a fixed seed, so the bounds are reproducible).
        let want = (20 * self.partitions).min(1_000_000);
        let per_partition = (3 * want).div_ceil(source.num_partitions().max(1)).max(1);
        let samples = source.run_job(move |tc, it| {
            let mut rng = crate::rdd::sample::SplitMix64::new(0x5eed ^ tc.partition() as u64);
            let mut reservoir: Vec<K> = Vec::with_capacity(per_partition);
            let mut seen = 0u64;
            for k in it {
                seen += 1;
                if reservoir.len() < per_partition {
                    reservoir.push(k);
                } else {
                    let j = rng.next_below(seen);
                    if (j as usize) < per_partition {
                        reservoir[j as usize] = k;
                    }
                }
            }
            Ok((seen, reservoir))
        })?;
        // Weight each sample by how many records it stands for, then cut equal weights.
        let mut weighted: Vec<(K, f64)> = Vec::new();
        for (seen, res) in samples {
            if res.is_empty() {
                continue;
            }
            let w = seen as f64 / res.len() as f64;
            weighted.extend(res.into_iter().map(|k| (k, w)));
        }
        weighted.sort_by(|a, b| a.0.cmp(&b.0));
        let total: f64 = weighted.iter().map(|(_, w)| w).sum();
        let step = total / self.partitions as f64;
        let mut bounds: Vec<K> = Vec::with_capacity(self.partitions - 1);
        let mut acc = 0.0;
        let mut target = step;
        for (k, w) in weighted {
            acc += w;
            if acc >= target && bounds.len() < self.partitions - 1 {
                if bounds.last().is_none_or(|last| *last < k) {
                    bounds.push(k);
                }
                target += step;
            }
        }
        Ok(bounds)
    }
}

impl<K: Data + Ord> Partitioner<K> for RangePartitioner<K> {
    fn num_partitions(&self) -> usize {
        self.partitions
    }

    fn partition(&self, key: &K) -> usize {
        let bounds = self
            .bounds
            .get()
            .expect("the scheduler prepares range bounds before any map task runs");
        let p = bounds.partition_point(|b| b < key);
        if self.ascending {
            p
        } else {
            self.partitions - 1 - p.min(self.partitions - 1)
        }
    }

    fn prepare(&self) -> Result<()> {
        if self.bounds.get().is_none() {
            let b = self.sample_bounds()?;
            let _ = self.bounds.set(b);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_partitioner_is_in_range_and_stable() {
        let p = HashPartitioner::new(7);
        for i in 0..1000u64 {
            let a = Partitioner::<u64>::partition(&p, &i);
            assert!(a < 7);
            assert_eq!(a, p.partition(&i));
        }
        assert_eq!(
            Partitioner::<u8>::num_partitions(&HashPartitioner::new(0)),
            1
        );
    }

    #[test]
    fn range_partitioner_from_bounds() {
        let p = RangePartitioner::from_bounds(vec![10, 20], true);
        assert_eq!(p.num_partitions(), 3);
        assert_eq!(p.partition(&5), 0);
        assert_eq!(p.partition(&10), 0);
        assert_eq!(p.partition(&11), 1);
        assert_eq!(p.partition(&25), 2);
        let d = RangePartitioner::from_bounds(vec![10, 20], false);
        assert_eq!(d.partition(&5), 2);
        assert_eq!(d.partition(&25), 0);
    }
}
