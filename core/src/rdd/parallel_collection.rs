//! Sources from driver memory: `parallelize`, `range`, and ready-made partitions (local
//! checkpoints, received blocks). Slices are cut as Spark cuts them:
//! slice `i` holds positions `[i*len/n, (i+1)*len/n)`.

use std::sync::Arc;

use crate::plumbing::{BoxIter, Dependency, RddBase, RddMeta, RddNode, TaskContext};
use crate::{Context, Data, Result};

fn slice_bounds(len: usize, slices: usize, i: usize) -> (usize, usize) {
    let start = (i as u128 * len as u128 / slices as u128) as usize;
    let end = ((i as u128 + 1) * len as u128 / slices as u128) as usize;
    (start, end)
}

pub(crate) struct ParallelCollectionRdd<T> {
    meta: RddMeta,
    slices: Vec<Vec<T>>,
}

impl<T: Data> ParallelCollectionRdd<T> {
    pub(crate) fn new(ctx: &Context, data: Vec<T>, slices: usize) -> Self {
        let len = data.len();
        let mut out = Vec::with_capacity(slices);
        let mut it = data.into_iter();
        for i in 0..slices {
            let (s, e) = slice_bounds(len, slices, i);
            out.push(it.by_ref().take(e - s).collect());
        }
        ParallelCollectionRdd {
            meta: RddMeta::new(ctx, "parallelize"),
            slices: out,
        }
    }
}

impl<T: Data> RddBase for ParallelCollectionRdd<T> {
    fn meta(&self) -> &RddMeta {
        &self.meta
    }
    fn dependencies(&self) -> Vec<Dependency> {
        Vec::new()
    }
    fn num_partitions(&self) -> usize {
        self.slices.len()
    }
}

/// `RddNode` for a node whose partitions are in memory (`$field[split]`): read by cloning,
/// a chunk at a time when chunked.
macro_rules! in_memory_node {
    ($ty:ident, $field:ident) => {
        impl<T: Data> RddNode<T> for $ty<T> {
            fn compute<'a>(&'a self, split: usize, _tc: &'a TaskContext) -> Result<BoxIter<'a, T>> {
                Ok(Box::new(self.$field[split].iter().cloned()))
            }
            fn compute_chunks<'a>(
                &'a self,
                split: usize,
                _tc: &'a TaskContext,
            ) -> Result<crate::plumbing::BoxChunks<'a, T>>
            where
                T: 'a,
            {
                Ok(Box::new(SliceChunks {
                    records: &self.$field[split][..],
                }))
            }
        }
    };
}

in_memory_node!(ParallelCollectionRdd, slices);

pub(crate) struct RangeRdd {
    meta: RddMeta,
    start: i64,
    step: i64,
    len: u64,
    slices: usize,
}

impl RangeRdd {
    pub(crate) fn new(ctx: &Context, start: i64, end: i64, step: i64, slices: usize) -> Self {
        let step = if step == 0 { 1 } else { step };
        let span = end as i128 - start as i128;
        let len = if (span > 0 && step > 0) || (span < 0 && step < 0) {
            ((span.abs() + step.abs() as i128 - 1) / step.abs() as i128) as u64
        } else {
            0
        };
        RangeRdd {
            meta: RddMeta::new(ctx, "range"),
            start,
            step,
            len,
            slices,
        }
    }
}

impl RddBase for RangeRdd {
    fn meta(&self) -> &RddMeta {
        &self.meta
    }
    fn dependencies(&self) -> Vec<Dependency> {
        Vec::new()
    }
    fn num_partitions(&self) -> usize {
        self.slices
    }
}

impl RddNode<i64> for RangeRdd {
    fn compute<'a>(&'a self, split: usize, _tc: &'a TaskContext) -> Result<BoxIter<'a, i64>> {
        let (s, e) = slice_bounds(self.len as usize, self.slices, split);
        let (start, step) = (self.start, self.step);
        Ok(Box::new(
            (s as i64..e as i64).map(move |i| start + i * step),
        ))
    }
    fn compute_chunks<'a>(
        &'a self,
        split: usize,
        _tc: &'a TaskContext,
    ) -> Result<crate::plumbing::BoxChunks<'a, i64>>
    where
        i64: 'a,
    {
        let (s, e) = slice_bounds(self.len as usize, self.slices, split);
        Ok(Box::new(RangeChunks {
            next: s as i64,
            end: e as i64,
            start: self.start,
            step: self.step,
        }))
    }
}

/// A range slice in chunks.
struct RangeChunks {
    next: i64,
    end: i64,
    start: i64,
    step: i64,
}

impl crate::plumbing::Chunks<i64> for RangeChunks {
    fn next_chunk(&mut self, out: &mut Vec<i64>) -> bool {
        if self.next >= self.end {
            return false;
        }
        let to = self.end.min(self.next + crate::plumbing::CHUNK as i64);
        let (start, step) = (self.start, self.step);
        out.extend((self.next..to).map(|i| start + i * step));
        self.next = to;
        true
    }
}

/// A slice of shared records in chunks (cloned a chunk at a time).
struct SliceChunks<'a, T> {
    records: &'a [T],
}

impl<T: Clone> crate::plumbing::Chunks<T> for SliceChunks<'_, T> {
    fn next_chunk(&mut self, out: &mut Vec<T>) -> bool {
        if self.records.is_empty() {
            return false;
        }
        let n = self.records.len().min(crate::plumbing::CHUNK);
        out.extend_from_slice(&self.records[..n]);
        self.records = &self.records[n..];
        true
    }
}

/// Partitions already in memory, shared: each `Arc<Vec<T>>` is one partition.
pub(crate) struct PartitionsRdd<T> {
    meta: RddMeta,
    parts: Vec<Arc<Vec<T>>>,
}

impl<T: Data> PartitionsRdd<T> {
    pub(crate) fn new(ctx: &Context, name: &str, parts: Vec<Arc<Vec<T>>>) -> Self {
        PartitionsRdd {
            meta: RddMeta::new(ctx, name),
            parts,
        }
    }
}

impl<T: Data> RddBase for PartitionsRdd<T> {
    fn meta(&self) -> &RddMeta {
        &self.meta
    }
    fn dependencies(&self) -> Vec<Dependency> {
        Vec::new()
    }
    fn num_partitions(&self) -> usize {
        self.parts.len()
    }
}

in_memory_node!(PartitionsRdd, parts);

/// An RDD that computes each partition of its parent once, keeps it in memory, and forgets
/// the parent (its whole lineage) once every partition is held: `materialize` without the
/// job, done by whichever jobs compute it.
pub(crate) struct LazyMaterialized<T: 'static> {
    meta: RddMeta,
    parent: parking_lot::Mutex<Option<crate::Rdd<T>>>,
    parts: Vec<std::sync::OnceLock<Arc<Vec<T>>>>,
    held: std::sync::atomic::AtomicUsize,
}

impl<T: Data> LazyMaterialized<T> {
    pub(crate) fn new(parent: &crate::Rdd<T>) -> Self {
        LazyMaterialized {
            meta: RddMeta::new(parent.context(), "materialized"),
            parts: (0..parent.num_partitions())
                .map(|_| std::sync::OnceLock::new())
                .collect(),
            parent: parking_lot::Mutex::new(Some(parent.clone())),
            held: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl<T: Data> RddBase for LazyMaterialized<T> {
    fn meta(&self) -> &RddMeta {
        &self.meta
    }
    fn dependencies(&self) -> Vec<Dependency> {
        self.parent
            .lock()
            .as_ref()
            .map(|p| vec![Dependency::Narrow(p.as_base())])
            .unwrap_or_default()
    }
    fn num_partitions(&self) -> usize {
        self.parts.len()
    }
}

impl<T: Data> RddNode<T> for LazyMaterialized<T> {
    fn compute<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, T>> {
        if let Some(part) = self.parts[split].get() {
            return Ok(Box::new(part.iter().cloned()));
        }
        let parent = self.parent.lock().clone().ok_or_else(|| {
            crate::Error::Internal(format!(
                "{}: partition {split} is neither held nor computable",
                self.meta.label()
            ))
        })?;
        let data: Vec<T> = parent.iterator(split, tc)?.collect();
        if tc.has_failed() {
            // A partial partition is never kept: the next job computes it again.
            return Ok(Box::new(std::iter::empty()));
        }
        let part = self.parts[split].get_or_init(|| Arc::new(data)).clone();
        if self.held.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == self.parts.len() {
            *self.parent.lock() = None;
        }
        Ok(Box::new(ArcIter { part, at: 0 }))
    }
}

/// The records of a held partition, cloned one at a time.
struct ArcIter<T> {
    part: Arc<Vec<T>>,
    at: usize,
}

impl<T: Clone> Iterator for ArcIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        let r = self.part.get(self.at).cloned();
        self.at += 1;
        r
    }
}

#[cfg(test)]
mod tests {
    use crate::Context;

    #[test]
    fn slices_like_spark() {
        let ctx = Context::local(2);
        let g = ctx
            .parallelize((1..=5).collect::<Vec<i32>>(), 3)
            .glom()
            .collect()
            .expect("glom");
        assert_eq!(g, vec![vec![1], vec![2, 3], vec![4, 5]]);
        let more = ctx
            .parallelize(vec![1, 2], 4)
            .glom()
            .collect()
            .expect("glom");
        assert_eq!(more, vec![vec![], vec![1], vec![], vec![2]]);
        assert_eq!(ctx.empty::<i32>().num_partitions(), 0);
        assert_eq!(
            ctx.empty::<i32>().collect().expect("collect"),
            Vec::<i32>::new()
        );
    }

    #[test]
    fn range_steps_both_ways() {
        let ctx = Context::local(2);
        assert_eq!(
            ctx.range(0, 10, 3, 2).collect().expect("r"),
            vec![0, 3, 6, 9]
        );
        assert_eq!(ctx.range(5, 0, -2, 3).collect().expect("r"), vec![5, 3, 1]);
        assert_eq!(ctx.range(0, 0, 1, 2).count().expect("r"), 0);
        assert_eq!(ctx.range(0, 1000, 1, 7).count().expect("r"), 1000);
    }
}
