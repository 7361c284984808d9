//! One-parent, one-to-one-partition nodes: map, flat_map (and flat_map_emit), filter,
//! map_partitions. The user closure is a generic field (static dispatch per record); erasure
//! happens once, at the node. Map, flat_map and filter run on chunks ([`Chunks`]): each stage
//! pulls a chunk from its parent and runs its closure over it in a tight loop, so a chain of
//! them costs one virtual call per chunk and stage, and one per record only where an
//! iterator is finally read.

use std::marker::PhantomData;

use crate::plumbing::{
    BoxChunks, BoxIter, ChunkIter, Chunks, Dependency, RddBase, RddMeta, RddNode, TaskContext,
    CHUNK,
};
use crate::rdd::Rdd;
use crate::{Data, Result};

macro_rules! one_parent_base {
    ($ty:ident < $($g:ident),* > where $($bounds:tt)*) => {
        impl<$($g),*> RddBase for $ty<$($g),*> where $($bounds)* {
            fn meta(&self) -> &RddMeta {
                &self.meta
            }
            fn dependencies(&self) -> Vec<Dependency> {
                vec![Dependency::Narrow(self.parent.as_base())]
            }
            fn num_partitions(&self) -> usize {
                self.parent.num_partitions()
            }
        }
    };
}

pub(crate) struct MappedRdd<T: 'static, U, F> {
    meta: RddMeta,
    parent: Rdd<T>,
    f: F,
    _out: PhantomData<fn() -> U>,
}

impl<T: Data, U: Data, F: Fn(T) -> U + Send + Sync + 'static> MappedRdd<T, U, F> {
    pub(crate) fn new(parent: Rdd<T>, name: &str, f: F) -> Self {
        MappedRdd {
            meta: RddMeta::new(parent.context(), name),
            parent,
            f,
            _out: PhantomData,
        }
    }
}

one_parent_base!(MappedRdd<T, U, F> where T: Data, U: Data, F: Fn(T) -> U + Send + Sync + 'static);

/// A node's chunks as its records: one virtual call per chunk, then a buffer.
fn records_of<'a, T: 'a>(chunks: Result<BoxChunks<'a, T>>) -> Result<BoxIter<'a, T>> {
    Ok(Box::new(ChunkIter::new(chunks?)))
}

/// A stage over its parent's chunks: `step` moves one input chunk into the output.
struct Stage<'a, T, S> {
    parent: BoxChunks<'a, T>,
    input: Vec<T>,
    step: S,
}

impl<'a, T, S> Stage<'a, T, S> {
    fn boxed<U>(parent: BoxChunks<'a, T>, step: S) -> BoxChunks<'a, U>
    where
        T: 'a,
        U: 'a,
        S: FnMut(&mut Vec<T>, &mut Vec<U>) + 'a,
    {
        Box::new(Stage {
            parent,
            input: Vec::with_capacity(CHUNK),
            step,
        })
    }
}

impl<T, U, S: FnMut(&mut Vec<T>, &mut Vec<U>)> Chunks<U> for Stage<'_, T, S> {
    #[inline]
    fn next_chunk(&mut self, out: &mut Vec<U>) -> bool {
        self.input.clear();
        if !self.parent.next_chunk(&mut self.input) {
            return false;
        }
        (self.step)(&mut self.input, out);
        true
    }
}

impl<T: Data, U: Data, F: Fn(T) -> U + Send + Sync + 'static> RddNode<U> for MappedRdd<T, U, F> {
    fn compute<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, U>> {
        records_of(self.compute_chunks(split, tc))
    }
    fn compute_chunks<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxChunks<'a, U>>
    where
        U: 'a,
    {
        let f = &self.f;
        Ok(Stage::boxed(
            self.parent.chunks(split, tc)?,
            move |input: &mut Vec<T>, out: &mut Vec<U>| out.extend(input.drain(..).map(f)),
        ))
    }
}

/// flat_map's stage: a record may expand into many, so it applies `f` to its input only
/// until about a chunk's worth has come out, and keeps the rest of the input for the next
/// call. Chunks then stay about [`CHUNK`] records whatever the expansion, small enough that
/// the records made (a word's `String`) are consumed while still in cache.
struct FlatStage<'a, T, U, F> {
    parent: BoxChunks<'a, T>,
    /// The input not yet applied.
    input: std::vec::IntoIter<T>,
    f: &'a F,
    _out: PhantomData<fn() -> U>,
}

impl<T, U, F> Chunks<U> for FlatStage<'_, T, U, F>
where
    F: Fn(T, &mut Emitter<'_, U>),
{
    #[inline]
    fn next_chunk(&mut self, out: &mut Vec<U>) -> bool {
        let before = out.len();
        loop {
            for x in self.input.by_ref() {
                (self.f)(x, &mut Emitter::new(out));
                if out.len() - before >= CHUNK {
                    return true;
                }
            }
            // A fresh buffer per input chunk: reusing one (records taken from the back of a
            // reversed chunk) measured slower on word count.
            let mut next = Vec::with_capacity(CHUNK);
            if !self.parent.next_chunk(&mut next) {
                return out.len() > before;
            }
            self.input = next.into_iter();
        }
    }
}

/// Where a [`flat_map_emit`](crate::Rdd::flat_map_emit) closure puts the records it makes:
/// straight into the stage's output chunk, with no collection of its own per record. Records
/// go on in the order they are emitted; [`Extend`] emits each record of an iterator.
///
/// ```
/// use emberflow_core::Context;
/// let ctx = Context::local(1);
/// let rdd = ctx.parallelize(vec![1, 2, 3], 1).flat_map_emit(|x: i32, out| {
///     if x != 2 {
///         out.emit(x);
///         out.emit(-x);
///     }
/// });
/// assert_eq!(rdd.collect()?, [1, -1, 3, -3]);
/// # Ok::<(), emberflow_core::Error>(())
/// ```
pub struct Emitter<'a, U> {
    /// The stage's output chunk: only ever appended to, so the records emitted for earlier
    /// inputs cannot be touched.
    out: &'a mut Vec<U>,
}

impl<'a, U> Emitter<'a, U> {
    /// An emitter that appends to `out`: how a `flat_map_emit` closure is tried on its own.
    ///
    /// ```
    /// use emberflow_core::Emitter;
    /// let words = |line: String, out: &mut Emitter<'_, String>| {
    ///     out.extend(line.split_whitespace().map(str::to_owned))
    /// };
    /// let mut got = Vec::new();
    /// words("to be".to_string(), &mut Emitter::new(&mut got));
    /// assert_eq!(got, ["to", "be"]);
    /// ```
    pub fn new(out: &'a mut Vec<U>) -> Self {
        Emitter { out }
    }

    /// Emits one record.
    #[inline]
    pub fn emit(&mut self, record: U) {
        self.out.push(record);
    }
}

impl<U> Extend<U> for Emitter<'_, U> {
    #[inline]
    fn extend<I: IntoIterator<Item = U>>(&mut self, records: I) {
        self.out.extend(records);
    }
}

/// flat_map and flat_map_emit: `f` emits what a record expands into (flat_map's closure
/// extends the emitter with the collection it returns).
pub(crate) struct FlatMappedRdd<T: 'static, U, F> {
    meta: RddMeta,
    parent: Rdd<T>,
    f: F,
    _out: PhantomData<fn() -> U>,
}

impl<T, U, F> FlatMappedRdd<T, U, F>
where
    T: Data,
    U: Data,
    F: Fn(T, &mut Emitter<'_, U>) + Send + Sync + 'static,
{
    pub(crate) fn new(parent: Rdd<T>, name: &str, f: F) -> Self {
        FlatMappedRdd {
            meta: RddMeta::new(parent.context(), name),
            parent,
            f,
            _out: PhantomData,
        }
    }
}

one_parent_base!(FlatMappedRdd<T, U, F> where T: Data, U: Data, F: Fn(T, &mut Emitter<'_, U>) + Send + Sync + 'static);

impl<T, U, F> RddNode<U> for FlatMappedRdd<T, U, F>
where
    T: Data,
    U: Data,
    F: Fn(T, &mut Emitter<'_, U>) + Send + Sync + 'static,
{
    fn compute<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, U>> {
        records_of(self.compute_chunks(split, tc))
    }
    fn compute_chunks<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxChunks<'a, U>>
    where
        U: 'a,
    {
        Ok(Box::new(FlatStage {
            parent: self.parent.chunks(split, tc)?,
            input: Vec::with_capacity(CHUNK).into_iter(),
            f: &self.f,
            _out: PhantomData,
        }))
    }
}

pub(crate) struct FilteredRdd<T: 'static, F> {
    meta: RddMeta,
    parent: Rdd<T>,
    f: F,
}

impl<T: Data, F: Fn(&T) -> bool + Send + Sync + 'static> FilteredRdd<T, F> {
    pub(crate) fn new(parent: Rdd<T>, f: F) -> Self {
        FilteredRdd {
            meta: RddMeta::new(parent.context(), "filter"),
            parent,
            f,
        }
    }
}

one_parent_base!(FilteredRdd<T, F> where T: Data, F: Fn(&T) -> bool + Send + Sync + 'static);

impl<T: Data, F: Fn(&T) -> bool + Send + Sync + 'static> RddNode<T> for FilteredRdd<T, F> {
    fn compute<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, T>> {
        records_of(self.compute_chunks(split, tc))
    }
    fn compute_chunks<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxChunks<'a, T>>
    where
        T: 'a,
    {
        let f = &self.f;
        Ok(Stage::boxed(
            self.parent.chunks(split, tc)?,
            move |input: &mut Vec<T>, out: &mut Vec<T>| {
                // Kept in place, then the buffers trade places: no record is moved twice.
                input.retain(|x| f(x));
                if out.is_empty() {
                    std::mem::swap(input, out);
                } else {
                    out.append(input);
                }
            },
        ))
    }
}

pub(crate) struct MapPartitionsRdd<T: 'static, U, I, F> {
    meta: RddMeta,
    parent: Rdd<T>,
    f: F,
    _out: PhantomData<fn() -> (U, I)>,
}

impl<T, U, I, F> MapPartitionsRdd<T, U, I, F>
where
    T: Data,
    U: Data,
    I: IntoIterator<Item = U> + 'static,
    F: Fn(usize, BoxIter<'_, T>) -> I + Send + Sync + 'static,
{
    pub(crate) fn new(parent: Rdd<T>, f: F) -> Self {
        MapPartitionsRdd {
            meta: RddMeta::new(parent.context(), "map_partitions"),
            parent,
            f,
            _out: PhantomData,
        }
    }
}

one_parent_base!(MapPartitionsRdd<T, U, I, F> where T: Data, U: Data, I: IntoIterator<Item = U> + 'static, F: Fn(usize, BoxIter<'_, T>) -> I + Send + Sync + 'static);

impl<T, U, I, F> RddNode<U> for MapPartitionsRdd<T, U, I, F>
where
    T: Data,
    U: Data,
    I: IntoIterator<Item = U> + 'static,
    F: Fn(usize, BoxIter<'_, T>) -> I + Send + Sync + 'static,
{
    fn compute<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, U>> {
        let input = self.parent.iterator(split, tc)?;
        Ok(Box::new((self.f)(split, input).into_iter()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Context;

    /// A record that expands into many does not make one huge chunk: flat_map and
    /// flat_map_emit hand on about a chunk's worth at a time and keep the rest of their input
    /// for the next call, in order.
    #[test]
    fn flat_map_chunks_stay_about_a_chunk_whatever_the_expansion() {
        let ctx = Context::local(1);
        let per_record = 300u32;
        let input = ctx.parallelize((0..40u32).collect(), 1);
        let returned = input.flat_map(move |x| (0..per_record).map(move |i| x * per_record + i));
        let emitted = input.flat_map_emit(move |x, out| {
            for i in 0..per_record {
                out.emit(x * per_record + i);
            }
        });
        for (name, rdd) in [("flat_map", returned), ("flat_map_emit", emitted)] {
            let tc = TaskContext::new(&ctx, 0, 0, 0);
            let mut chunks = rdd.chunks(0, &tc).expect("chunks");
            let (mut all, mut sizes) = (Vec::new(), Vec::new());
            let mut chunk = Vec::new();
            while chunks.next_chunk(&mut chunk) {
                sizes.push(chunk.len());
                all.append(&mut chunk);
            }
            assert!(
                sizes.iter().all(|&n| n < CHUNK + per_record as usize),
                "{name}: {sizes:?}"
            );
            assert!(sizes.len() > 1, "{name}: {sizes:?}");
            assert_eq!(all, (0..40 * per_record).collect::<Vec<_>>(), "{name}");
        }
    }
}
