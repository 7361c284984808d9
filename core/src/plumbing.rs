//! Extension points for implementers of new RDD kinds: the untyped [`RddBase`] the scheduler
//! walks, the typed [`RddNode`] that computes a partition, [`Dependency`] and
//! [`TaskContext`]. Users of the engine never need these.

use std::any::Any;
use std::cell::RefCell;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::storage::StorageLevel;
use crate::{Context, Error, Result};

/// A boxed iterator over the records of one partition, borrowing the node that computes it.
pub type BoxIter<'a, T> = Box<dyn Iterator<Item = T> + 'a>;

/// How many records a chunk holds, about: what a narrow stage moves per call.
pub const CHUNK: usize = 1024;

/// The records of one partition in chunks: internal iteration, so that a chain of narrow
/// stages costs one virtual call per chunk and stage (each stage a tight, inlined loop over
/// the chunk) instead of one per record and stage.
pub trait Chunks<T> {
    /// Appends the next records (about [`CHUNK`], possibly none) to `out`; `false` once the
    /// partition is exhausted (nothing appended). Errors are reported with
    /// [`TaskContext::fail`], as while iterating.
    fn next_chunk(&mut self, out: &mut Vec<T>) -> bool;
}

/// Boxed [`Chunks`], borrowing the node that computes them.
pub type BoxChunks<'a, T> = Box<dyn Chunks<T> + 'a>;

/// An iterator as [`Chunks`]: what a node without a chunked `compute` gives (its boxed
/// iterator), or a source whose records come one by one from a concrete iterator (no
/// virtual call per record).
pub struct IterChunks<I>(pub I);

impl<I: Iterator> Chunks<I::Item> for IterChunks<I> {
    fn next_chunk(&mut self, out: &mut Vec<I::Item>) -> bool {
        let before = out.len();
        out.extend(self.0.by_ref().take(CHUNK));
        out.len() > before
    }
}

/// [`Chunks`] as an iterator: one virtual call per chunk, then records from a buffer.
pub struct ChunkIter<'a, T> {
    chunks: BoxChunks<'a, T>,
    current: std::vec::IntoIter<T>,
    done: bool,
}

impl<'a, T> ChunkIter<'a, T> {
    /// Iterates over `chunks`.
    pub fn new(chunks: BoxChunks<'a, T>) -> Self {
        ChunkIter {
            chunks,
            current: Vec::new().into_iter(),
            done: false,
        }
    }
}

impl<T> Iterator for ChunkIter<'_, T> {
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        loop {
            if let Some(x) = self.current.next() {
                return Some(x);
            }
            if self.done {
                return None;
            }
            let mut next = Vec::with_capacity(CHUNK);
            if !self.chunks.next_chunk(&mut next) {
                self.done = true;
            }
            self.current = next.into_iter();
        }
    }
    fn fold<B, F: FnMut(B, T) -> B>(mut self, init: B, mut f: F) -> B {
        let mut acc = init;
        for x in self.current.by_ref() {
            acc = f(acc, x);
        }
        if self.done {
            return acc;
        }
        let mut buf = Vec::with_capacity(CHUNK);
        while self.chunks.next_chunk(&mut buf) {
            for x in buf.drain(..) {
                acc = f(acc, x);
            }
        }
        acc
    }
}

/// A map task's output for one reduce partition: an `Arc<Vec<(K, M)>>` behind `Any`, downcast once
/// per bucket by the reader.
pub type Bucket = Arc<dyn Any + Send + Sync>;

/// The untyped face of an RDD node: what the scheduler needs to plan stages.
pub trait RddBase: Send + Sync + 'static {
    /// Id, name, storage level and checkpoint state, common to all nodes.
    fn meta(&self) -> &RddMeta;
    /// The parents of this node.
    fn dependencies(&self) -> Vec<Dependency>;
    /// The number of partitions.
    fn num_partitions(&self) -> usize;
    /// Work to do on the driver before any task of a job that needs this node runs (for
    /// example, counting partitions for `zip_with_index`). Called parents first.
    fn prepare(&self) -> Result<()> {
        Ok(())
    }
}

/// A typed RDD node: computes the records of one partition.
pub trait RddNode<T>: RddBase {
    /// The records of partition `split`, lazily, as an iterator borrowing `self`.
    ///
    /// Errors found while iterating are reported with [`TaskContext::fail`].
    fn compute<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, T>>;

    /// The records of partition `split` in [`Chunks`]. Nodes whose work is per record
    /// (narrow stages, in-memory sources) give them natively, so chains of them run as
    /// chunked loops; the default chunks `compute`'s iterator.
    fn compute_chunks<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxChunks<'a, T>>
    where
        T: 'a,
    {
        Ok(Box::new(IterChunks(self.compute(split, tc)?)))
    }
}

/// A shuffle as seen by the scheduler: a map stage over `parent` that writes one bucket per
/// reduce partition.
pub trait ShuffleDependency: Send + Sync + 'static {
    /// The id under which the map outputs are stored.
    fn shuffle_id(&self) -> usize;
    /// The RDD the map tasks read.
    fn parent(&self) -> Arc<dyn RddBase>;
    /// How many buckets each map task writes.
    fn num_reduce_partitions(&self) -> usize;
    /// Driver-side work before the map stage (sampling range bounds).
    fn prepare(&self) -> Result<()> {
        Ok(())
    }
    /// Computes parent partition `split` and splits it into buckets.
    fn run_map_task(&self, split: usize, tc: &TaskContext) -> Result<Vec<Bucket>>;
}

/// An edge of the lineage graph.
#[derive(Clone)]
pub enum Dependency {
    /// Partition `i` of the child needs some partitions of the parent, computed in the same
    /// task.
    Narrow(Arc<dyn RddBase>),
    /// The child reads the output of a map stage over the parent: a stage boundary.
    Shuffle(Arc<dyn ShuffleDependency>),
}

/// State every node carries: its id and name, whether it is persisted, and, once checkpointed,
/// the RDD that reads the checkpoint instead of recomputing.
pub struct RddMeta {
    pub(crate) id: usize,
    pub(crate) ctx: Context,
    pub(crate) name: Mutex<String>,
    pub(crate) storage: Mutex<Option<StorageLevel>>,
    /// `storage::Codec<T>` for serialized and disk levels.
    pub(crate) codec: Mutex<Option<Arc<dyn Any + Send + Sync>>>,
    /// `Rdd<T>` that replaces this node's lineage after a checkpoint.
    pub(crate) checkpoint: std::sync::OnceLock<Box<dyn Any + Send + Sync>>,
    /// Where a reliable checkpoint was written.
    pub(crate) checkpoint_path: std::sync::OnceLock<std::path::PathBuf>,
    /// Data a source attaches to the RDDs it makes (a Kafka RDD's offset ranges).
    pub(crate) attachment: std::sync::OnceLock<Arc<dyn Any + Send + Sync>>,
    /// How the keys of a pair RDD are placed in its partitions, when known
    /// ([`Partitioner::placement`](crate::Partitioner::placement)).
    pub(crate) placement: std::sync::OnceLock<String>,
}

impl RddMeta {
    /// Meta for a new node named `name`, with a fresh id from `ctx`.
    pub fn new(ctx: &Context, name: &str) -> Self {
        RddMeta {
            id: ctx.new_rdd_id(),
            ctx: ctx.clone(),
            name: Mutex::new(name.to_owned()),
            storage: Mutex::new(None),
            codec: Mutex::new(None),
            checkpoint: std::sync::OnceLock::new(),
            checkpoint_path: std::sync::OnceLock::new(),
            attachment: std::sync::OnceLock::new(),
            placement: std::sync::OnceLock::new(),
        }
    }
    /// The node's id, unique within its context.
    pub fn id(&self) -> usize {
        self.id
    }
    /// The context the node belongs to.
    pub fn context(&self) -> &Context {
        &self.ctx
    }
    /// `name[id]`, as errors and lineage dumps show it.
    pub fn label(&self) -> String {
        format!("{}[{}]", self.name.lock(), self.id)
    }
    /// Whether the lineage above this node was truncated by a checkpoint.
    pub fn is_checkpointed(&self) -> bool {
        self.checkpoint.get().is_some()
    }
}

impl Drop for RddMeta {
    fn drop(&mut self) {
        // Persisted blocks die with the last handle (Spark's ContextCleaner, without the GC).
        if self.storage.get_mut().is_some() {
            self.ctx.inner.blocks.remove_rdd(self.id);
        }
    }
}

/// Dependencies as the scheduler sees them: none once the node is checkpointed.
pub(crate) fn effective_dependencies(node: &dyn RddBase) -> Vec<Dependency> {
    if node.meta().is_checkpointed() {
        Vec::new()
    } else {
        node.dependencies()
    }
}

/// What a running task knows: its context, partition and job, and a slot for an error found
/// while iterating (iterators yield records, not results).
pub struct TaskContext {
    ctx: Context,
    job_id: usize,
    stage_id: usize,
    partition: usize,
    failure: RefCell<Option<Error>>,
}

impl TaskContext {
    pub(crate) fn new(ctx: &Context, job_id: usize, stage_id: usize, partition: usize) -> Self {
        TaskContext {
            ctx: ctx.clone(),
            job_id,
            stage_id,
            partition,
            failure: RefCell::new(None),
        }
    }
    /// The context the task runs in.
    pub fn context(&self) -> &Context {
        &self.ctx
    }
    /// The partition this task computes.
    pub fn partition(&self) -> usize {
        self.partition
    }
    /// The job this task belongs to.
    pub fn job_id(&self) -> usize {
        self.job_id
    }
    /// The stage this task belongs to.
    pub fn stage_id(&self) -> usize {
        self.stage_id
    }
    /// Records a failure found while iterating; the iterator should then end. The task fails
    /// with the first recorded error.
    pub fn fail(&self, error: Error) {
        let mut slot = self.failure.borrow_mut();
        if slot.is_none() {
            *slot = Some(error);
        }
    }
    /// Whether a failure was recorded.
    pub fn has_failed(&self) -> bool {
        self.failure.borrow().is_some()
    }
    pub(crate) fn take_failure(&self) -> Option<Error> {
        self.failure.borrow_mut().take()
    }
}
