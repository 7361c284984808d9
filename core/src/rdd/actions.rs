//! Actions: they run a job and bring results to the caller. Also persistence and checkpoint
//! controls, which act on the node's shared state.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::io::text::TextRecord;
use crate::plumbing::{BoxIter, TaskContext};
use crate::rdd::Rdd;
use crate::storage::StorageLevel;
use crate::{Data, Error, Result};

/// Orders records by a key, for the bounded heaps of `top` and `take_ordered`.
struct ByKey<K, T>(K, usize, T);

impl<K: Ord, T> PartialEq for ByKey<K, T> {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl<K: Ord, T> Eq for ByKey<K, T> {}
impl<K: Ord, T> PartialOrd for ByKey<K, T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<K: Ord, T> Ord for ByKey<K, T> {
    fn cmp(&self, o: &Self) -> Ordering {
        // Ties keep input order: the earlier record ranks first.
        self.0.cmp(&o.0).then(o.1.cmp(&self.1))
    }
}

/// The `n` greatest records by `key` of one iterator, greatest first.
fn greatest_n<T, K: Ord>(
    it: impl Iterator<Item = (usize, T)>,
    n: usize,
    key: &impl Fn(&T) -> K,
) -> Vec<(usize, T)> {
    if n == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Reverse<ByKey<K, T>>> = BinaryHeap::with_capacity(n + 1);
    for (i, x) in it {
        let k = key(&x);
        if heap.len() < n {
            heap.push(Reverse(ByKey(k, i, x)));
        } else if let Some(Reverse(min)) = heap.peek() {
            if ByKey(k, i, ()).cmp_key(min) == Ordering::Greater {
                heap.pop();
                heap.push(Reverse(ByKey(key(&x), i, x)));
            }
        }
    }
    let mut out: Vec<ByKey<K, T>> = heap.into_iter().map(|Reverse(b)| b).collect();
    out.sort_by(|a, b| b.cmp(a));
    out.into_iter().map(|ByKey(_, i, x)| (i, x)).collect()
}

impl<K: Ord> ByKey<K, ()> {
    fn cmp_key<T>(&self, o: &ByKey<K, T>) -> Ordering {
        self.0.cmp(&o.0).then(o.1.cmp(&self.1))
    }
}

impl<T: Data> Rdd<T> {
    /// Runs `f` over every partition and returns its results in partition order. The
    /// building block of actions.
    pub fn run_job<R, F>(&self, f: F) -> Result<Vec<R>>
    where
        R: Send,
        F: Fn(&TaskContext, BoxIter<'_, T>) -> Result<R> + Send + Sync,
    {
        let all: Vec<usize> = (0..self.num_partitions()).collect();
        crate::scheduler::run_job(self, &all, f)
    }

    /// [`run_job`](Self::run_job) reading each partition as chunks (internal iteration).
    pub(crate) fn run_chunked<R, F>(&self, f: F) -> Result<Vec<R>>
    where
        R: Send,
        F: Fn(&TaskContext, crate::plumbing::ChunkIter<'_, T>) -> Result<R> + Send + Sync,
    {
        crate::scheduler::run_chunked_job(self, f)
    }

    /// Runs `f` over the given partitions only.
    pub fn run_job_on<R, F>(&self, partitions: &[usize], f: F) -> Result<Vec<R>>
    where
        R: Send,
        F: Fn(&TaskContext, BoxIter<'_, T>) -> Result<R> + Send + Sync,
    {
        crate::scheduler::run_job(self, partitions, f)
    }

    /// All records, in partition order.
    pub fn collect(&self) -> Result<Vec<T>> {
        let parts = self.run_job(|_, it| Ok(it.collect::<Vec<T>>()))?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// The number of records.
    pub fn count(&self) -> Result<u64> {
        Ok(self
            .run_chunked(|_, it| Ok(it.count() as u64))?
            .into_iter()
            .sum())
    }

    /// The first record, or [`Error::EmptyRdd`].
    pub fn first(&self) -> Result<T> {
        self.take(1)?
            .into_iter()
            .next()
            .ok_or(Error::EmptyRdd { operation: "first" })
    }

    /// The first `n` records, scanning one partition first and then more each round (as
    /// Spark), so a small `take` of a large RDD computes little.
    pub fn take(&self, n: usize) -> Result<Vec<T>> {
        let total = self.num_partitions();
        let mut out = Vec::with_capacity(n.min(1 << 16));
        let mut scanned = 0;
        while out.len() < n && scanned < total {
            let batch = if scanned == 0 {
                1
            } else if out.is_empty() {
                scanned * 4
            } else {
                // Estimate from the yield so far, with 50% headroom, as Spark does.
                let per = out.len() as f64 / scanned as f64;
                (((n - out.len()) as f64 * 1.5 / per).ceil() as usize).clamp(1, scanned * 4)
            };
            let parts: Vec<usize> = (scanned..(scanned + batch).min(total)).collect();
            let left = n - out.len();
            let results = self.run_job_on(&parts, |_, it| Ok(it.take(left).collect::<Vec<T>>()))?;
            for r in results {
                let room = n - out.len();
                out.extend(r.into_iter().take(room));
            }
            scanned += parts.len();
        }
        Ok(out)
    }

    /// The `n` greatest records by `key`, greatest first.
    pub fn top_by<K: Ord, F>(&self, n: usize, key: F) -> Result<Vec<T>>
    where
        F: Fn(&T) -> K + Send + Sync,
    {
        let parts = self.run_job(|tc, it| {
            let base = tc.partition() << 40;
            Ok(greatest_n(
                it.enumerate().map(|(i, x)| (base + i, x)),
                n,
                &key,
            ))
        })?;
        Ok(greatest_n(parts.into_iter().flatten(), n, &|x| key(x))
            .into_iter()
            .map(|(_, x)| x)
            .collect())
    }

    /// The `n` smallest records by `key`, smallest first.
    pub fn take_ordered_by<K: Ord, F>(&self, n: usize, key: F) -> Result<Vec<T>>
    where
        F: Fn(&T) -> K + Send + Sync,
    {
        self.top_by(n, move |x| Reverse(key(x)))
    }

    /// Reduces the records with `f` (associative and commutative), or [`Error::EmptyRdd`].
    pub fn reduce<F>(&self, f: F) -> Result<T>
    where
        F: Fn(T, T) -> T + Send + Sync,
    {
        let parts = self.run_chunked(|_, it| Ok(it.reduce(&f)))?;
        parts
            .into_iter()
            .flatten()
            .reduce(&f)
            .ok_or(Error::EmptyRdd {
                operation: "reduce",
            })
    }

    /// Folds each partition from `zero`, then the partition results from `zero` (as Spark).
    pub fn fold<F>(&self, zero: T, f: F) -> Result<T>
    where
        F: Fn(T, T) -> T + Send + Sync,
    {
        let parts = self.run_chunked(|_, it| Ok(it.fold(zero.clone(), &f)))?;
        Ok(parts.into_iter().fold(zero, &f))
    }

    /// Aggregates into a `U`: `seq` adds a record within a partition, `comb` merges partition
    /// results; both start from `zero`.
    pub fn aggregate<U, FS, FC>(&self, zero: U, seq: FS, comb: FC) -> Result<U>
    where
        U: Clone + Send + Sync,
        FS: Fn(U, T) -> U + Send + Sync,
        FC: Fn(U, U) -> U + Send + Sync,
    {
        let parts = self.run_chunked(|_, it| Ok(it.fold(zero.clone(), &seq)))?;
        Ok(parts.into_iter().fold(zero, comb))
    }

    /// Runs `f` on every record, in the tasks.
    pub fn foreach<F>(&self, f: F) -> Result<()>
    where
        F: Fn(T) + Send + Sync,
    {
        self.run_chunked(|_, it| {
            it.for_each(&f);
            Ok(())
        })?;
        Ok(())
    }

    /// Runs `f` on every partition's iterator, in the tasks.
    pub fn foreach_partition<F>(&self, f: F) -> Result<()>
    where
        F: Fn(BoxIter<'_, T>) + Send + Sync,
    {
        self.run_job(|_, it| {
            f(it);
            Ok(())
        })?;
        Ok(())
    }

    /// Whether the RDD has no records (computes at most what `take(1)` does).
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.num_partitions() == 0 || self.take(1)?.is_empty())
    }

    /// Writes one text file per partition (`part-00000`, …) and `_SUCCESS` into `dir`, one
    /// record per line. Written into a temporary directory beside `dir` and renamed into place,
    /// so `dir` is either absent or complete. Fails if `dir` exists.
    pub fn save_as_text_file(&self, dir: impl AsRef<Path>) -> Result<()>
    where
        T: TextRecord,
    {
        crate::io::text::save_as_text_file(self, dir.as_ref(), false)
    }

    /// Like [`save_as_text_file`](Self::save_as_text_file), replacing `dir` atomically if it
    /// exists (for idempotent re-runs of the same output).
    pub fn save_as_text_file_replacing(&self, dir: impl AsRef<Path>) -> Result<()>
    where
        T: TextRecord,
    {
        crate::io::text::save_as_text_file(self, dir.as_ref(), true)
    }

    // ---- persistence and checkpoints ----

    /// Keeps computed partitions in memory as objects: later jobs read them instead of
    /// recomputing. Returns the same RDD.
    pub fn cache(&self) -> Rdd<T> {
        *self.node().meta().storage.lock() = Some(StorageLevel::MemoryOnly);
        self.clone()
    }

    /// Keeps computed partitions at `level`. Serialized and disk levels encode with bincode.
    pub fn persist(&self, level: StorageLevel) -> Rdd<T>
    where
        T: Serialize + DeserializeOwned,
    {
        let meta = self.node().meta();
        *meta.codec.lock() = Some(Arc::new(crate::storage::Codec::<T>::new()));
        *meta.storage.lock() = Some(level);
        self.clone()
    }

    /// Stops persisting and drops the stored partitions.
    pub fn unpersist(&self) -> Rdd<T> {
        let meta = self.node().meta();
        *meta.storage.lock() = None;
        meta.ctx.inner.blocks.remove_rdd(meta.id());
        self.clone()
    }

    /// The storage level, if persisted.
    pub fn storage_level(&self) -> Option<StorageLevel> {
        *self.node().meta().storage.lock()
    }

    /// Writes every partition under the context's checkpoint directory (bincode, checksummed,
    /// temp file then rename) and truncates the lineage: later jobs read the files.
    ///
    /// # Spark
    /// Spark marks the RDD and writes it after the next job, computing it twice unless
    /// cached; here the write is a job of its own, run now, and the data is computed once.
    pub fn checkpoint(&self) -> Result<()>
    where
        T: Serialize + DeserializeOwned,
    {
        let meta = self.node().meta();
        if meta.is_checkpointed() {
            return Ok(());
        }
        let root = self
            .context()
            .checkpoint_dir()
            .ok_or(Error::NoCheckpointDir)?;
        let dir = root
            .join(crate::checkpoint::context_subdir(self.context()))
            .join(format!("rdd-{}", self.id()));
        crate::checkpoint::write_rdd(self, &dir)?;
        let reader: Rdd<T> = crate::checkpoint::read_rdd(self.context(), &dir)?;
        let _ = meta.checkpoint.set(Box::new(reader));
        let _ = meta.checkpoint_path.set(dir);
        Ok(())
    }

    /// The directory `checkpoint()` wrote this RDD to; read it back, in this or another
    /// process, with `Context::checkpoint_file` (Spark's `getCheckpointFile`).
    pub fn checkpoint_path(&self) -> Option<std::path::PathBuf> {
        self.node().meta().checkpoint_path.get().cloned()
    }

    /// Computes every partition into memory and truncates the lineage, without writing files:
    /// fast, but the data is lost with the process.
    pub fn local_checkpoint(&self) -> Result<()> {
        let meta = self.node().meta();
        if meta.is_checkpointed() {
            return Ok(());
        }
        let parts = self.run_job(|_, it| Ok(Arc::new(it.collect::<Vec<T>>())))?;
        let reader = Rdd::from_node(crate::rdd::parallel_collection::PartitionsRdd::new(
            self.context(),
            "local_checkpoint",
            parts,
        ));
        let _ = meta.checkpoint.set(Box::new(reader));
        Ok(())
    }

    /// Computes every partition into memory and returns an RDD over that data with no
    /// lineage: the same partitions, in the same order. What stateful streams hold between
    /// batches, so lineage and memory stay bounded.
    pub fn materialize(&self) -> Result<Rdd<T>> {
        let parts = self.run_job(|_, it| Ok(Arc::new(it.collect::<Vec<T>>())))?;
        Ok(
            Rdd::from_node(crate::rdd::parallel_collection::PartitionsRdd::new(
                self.context(),
                "materialized",
                parts,
            ))
            .placed_as(self.placement()),
        )
    }

    /// [`materialize`](Self::materialize) done lazily, by the jobs that compute this RDD: each
    /// partition is computed once and kept in memory, and once all are held the lineage is
    /// forgotten. What a stateful stream's state becomes, without running a job when the
    /// batch is generated.
    ///
    /// ```
    /// use emberflow_core::Context;
    /// let ctx = Context::local(2);
    /// let squares = ctx.parallelize(vec![1, 2, 3], 2).map(|x| x * x).materialize_lazily();
    /// assert_eq!(squares.to_debug_string().lines().count(), 3, "lineage still there");
    /// assert_eq!(squares.collect()?, vec![1, 4, 9]);
    /// assert_eq!(squares.to_debug_string().lines().count(), 1, "held: lineage forgotten");
    /// # Ok::<(), emberflow_core::Error>(())
    /// ```
    pub fn materialize_lazily(&self) -> Rdd<T> {
        Rdd::from_node(crate::rdd::parallel_collection::LazyMaterialized::new(self))
            .placed_as(self.placement())
    }

    /// Whether the lineage was truncated by a checkpoint.
    pub fn is_checkpointed(&self) -> bool {
        self.node().meta().is_checkpointed()
    }
}

impl<T: Data + Ord> Rdd<T> {
    /// The `n` greatest records, greatest first.
    pub fn top(&self, n: usize) -> Result<Vec<T>> {
        self.top_by(n, |x| x.clone())
    }

    /// The `n` smallest records, smallest first.
    pub fn take_ordered(&self, n: usize) -> Result<Vec<T>> {
        self.take_ordered_by(n, |x| x.clone())
    }
}

impl<T: Data + Hash + Eq> Rdd<T> {
    /// How many times each distinct record occurs.
    pub fn count_by_value(&self) -> Result<HashMap<T, u64>> {
        self.map(|x| (x, 1u64))
            .reduce_by_key(|a, b| a + b)
            .collect_as_map()
    }
}
