//! [`Rdd`]: a cheap handle to an immutable, partitioned, lazily computed dataset. Narrow
//! transformations pipeline per partition as iterators; wide ones cut a stage at a shuffle
//! (see `pair.rs`). Actions (`actions.rs`) run a job on the context's pool.

pub(crate) mod actions;
pub(crate) mod cartesian;
pub(crate) mod coalesced;
pub(crate) mod narrow;
pub(crate) mod pair;
pub(crate) mod parallel_collection;
pub(crate) mod sample;
pub(crate) mod shuffled;
pub(crate) mod union;
pub(crate) mod zipped_partitions;
pub(crate) mod zipped_with_index;

pub use narrow::Emitter;

use std::cell::{Cell, RefCell};
use std::hash::Hash;
use std::sync::Arc;

use crate::plumbing::{BoxIter, RddBase, RddNode, TaskContext};
use crate::{Context, Data, Result};

/// A partitioned, immutable, lazily computed dataset: Spark's RDD.
///
/// Cheap to clone (an `Arc` inside). Transformations build new RDDs and never fail; actions
/// run a job and return [`Result`](crate::Result).
///
/// ```
/// use emberflow_core::Context;
/// let ctx = Context::local(2);
/// let evens = ctx.parallelize((1..=10).collect::<Vec<i32>>(), 3).filter(|x| x % 2 == 0);
/// assert_eq!(evens.map(|x| x * 10).collect()?, vec![20, 40, 60, 80, 100]);
/// # Ok::<(), emberflow_core::Error>(())
/// ```
pub struct Rdd<T: 'static> {
    /// `None` only while the handle is being dropped.
    node: Option<Arc<dyn RddNode<T>>>,
}

impl<T: 'static> Clone for Rdd<T> {
    fn clone(&self) -> Self {
        Rdd {
            node: self.node.clone(),
        }
    }
}

impl<T: 'static> Drop for Rdd<T> {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            let base: Arc<dyn RddBase> = node;
            drop_iteratively(base);
        }
    }
}

thread_local! {
    static DROPPING: Cell<bool> = const { Cell::new(false) };
    static DEFERRED: RefCell<Vec<Arc<dyn RddBase>>> = const { RefCell::new(Vec::new()) };
}

/// Drops a lineage without recursion: a node dropped while another is being dropped is queued
/// and dropped by the outermost call, so 100,000 chained maps do not overflow the stack.
fn drop_iteratively(node: Arc<dyn RddBase>) {
    let nested = DROPPING.try_with(|d| d.replace(true)).unwrap_or(false);
    if nested {
        let mut slot = Some(node);
        let _ = DEFERRED.try_with(|q| q.borrow_mut().push(slot.take().expect("set above")));
        drop(slot);
        return;
    }
    drop(node);
    loop {
        let next = DEFERRED.try_with(|q| q.borrow_mut().pop()).ok().flatten();
        match next {
            Some(n) => drop(n),
            None => break,
        }
    }
    let _ = DROPPING.try_with(|d| d.set(false));
}

impl<T: 'static> std::fmt::Debug for Rdd<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let node = self.node.as_ref().expect("handle is alive");
        write!(
            f,
            "Rdd({}, {} partitions)",
            node.meta().label(),
            node.num_partitions()
        )
    }
}

impl<T: Data> Rdd<T> {
    /// Wraps a node in a handle. For implementers of new RDD kinds.
    pub fn from_node(node: impl RddNode<T>) -> Self {
        Rdd {
            node: Some(Arc::new(node)),
        }
    }

    pub(crate) fn node(&self) -> &Arc<dyn RddNode<T>> {
        self.node.as_ref().expect("the node is taken only in drop")
    }

    /// The node, untyped, for dependency lists.
    pub fn as_base(&self) -> Arc<dyn RddBase> {
        self.node().clone()
    }

    /// The id of this RDD, unique within its context.
    pub fn id(&self) -> usize {
        self.node().meta().id()
    }

    /// The name shown in errors and lineage dumps.
    pub fn name(&self) -> String {
        self.node().meta().name.lock().clone()
    }

    /// Renames this RDD (shown in errors and lineage dumps).
    pub fn set_name(self, name: impl Into<String>) -> Self {
        *self.node().meta().name.lock() = name.into();
        self
    }

    /// The context this RDD belongs to.
    pub fn context(&self) -> &Context {
        self.node().meta().context()
    }

    /// The number of partitions.
    pub fn num_partitions(&self) -> usize {
        match self.checkpointed() {
            Some(cp) => cp.num_partitions(),
            None => self.node().num_partitions(),
        }
    }

    fn checkpointed(&self) -> Option<&Rdd<T>> {
        self.node().meta().checkpoint.get().map(|b| {
            b.downcast_ref::<Rdd<T>>()
                .expect("checkpoint RDD has the node's type")
        })
    }

    /// Computes partition `split`, from the checkpoint or the block store where there is one
    /// (Spark's `RDD.iterator`). For implementers of new RDD kinds: call it on parents.
    pub fn iterator<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, T>> {
        if let Some(cp) = self.checkpointed() {
            return cp.iterator(split, tc);
        }
        let level = *self.node().meta().storage.lock();
        match level {
            Some(level) => crate::storage::get_or_compute(self, level, split, tc),
            None => self.node().compute(split, tc),
        }
    }

    /// The records of partition `split` in chunks (see [`plumbing::Chunks`](crate::plumbing::Chunks)):
    /// from the node's chunked compute, unless the RDD is checkpointed or persisted (read as
    /// `iterator` does).
    pub fn chunks<'a>(
        &'a self,
        split: usize,
        tc: &'a TaskContext,
    ) -> Result<crate::plumbing::BoxChunks<'a, T>> {
        if self.checkpointed().is_none() && self.node().meta().storage.lock().is_none() {
            return self.node().compute_chunks(split, tc);
        }
        Ok(Box::new(crate::plumbing::IterChunks(
            self.iterator(split, tc)?,
        )))
    }

    /// How this pair RDD's keys are placed in its partitions, if known: after a shuffle by a
    /// partitioner with a [`placement`](crate::Partitioner::placement), and through
    /// operations that keep every record in its partition with its key (`map_values`,
    /// `flat_map_values`, `filter`, `reduce_by_key` and the like, `materialize`). A join or
    /// cogroup with a partitioner of the same placement does not move this side again.
    ///
    /// # Spark
    /// Spark's `RDD.partitioner`; here the placement's identity, compared by value.
    pub fn placement(&self) -> Option<String> {
        self.node().meta().placement.get().cloned()
    }

    /// Declares that this pair RDD's keys are placed as `placement` (when `Some`): for
    /// operators that compute each partition from data placed so, keeping every key in its
    /// partition (Spark's `preservesPartitioning`). A wrong declaration makes joins and
    /// cogroups with it miss matches.
    pub fn placed_as(self, placement: Option<String>) -> Self {
        if let Some(p) = placement {
            let _ = self.node().meta().placement.set(p);
        }
        self
    }

    /// Attaches data to this RDD, once (for sources: a Kafka RDD carries its offset ranges).
    /// Returns false if something was attached already. Transformations do not carry it on.
    pub fn attach(&self, data: Arc<dyn std::any::Any + Send + Sync>) -> bool {
        self.node().meta().attachment.set(data).is_ok()
    }

    /// The data attached with [`attach`](Self::attach), if it is an `A`.
    pub fn attachment<A: std::any::Any + Send + Sync>(&self) -> Option<Arc<A>> {
        self.node()
            .meta()
            .attachment
            .get()?
            .clone()
            .downcast::<A>()
            .ok()
    }

    /// A description of the lineage, one line per RDD, indented at each shuffle.
    pub fn to_debug_string(&self) -> String {
        let mut out = String::new();
        let mut stack: Vec<(Arc<dyn RddBase>, usize)> = vec![(self.as_base(), 0)];
        let mut seen = std::collections::HashSet::new();
        while let Some((node, depth)) = stack.pop() {
            let meta = node.meta();
            let first = seen.insert(meta.id());
            out.push_str(&format!(
                "{:indent$}({}) {}{}{}\n",
                "",
                node.num_partitions(),
                meta.label(),
                if meta.storage.lock().is_some() {
                    " [persisted]"
                } else {
                    ""
                },
                if meta.is_checkpointed() {
                    " [checkpointed]"
                } else {
                    ""
                },
                indent = depth * 2
            ));
            if !first {
                continue;
            }
            for dep in crate::plumbing::effective_dependencies(node.as_ref())
                .into_iter()
                .rev()
            {
                match dep {
                    crate::plumbing::Dependency::Narrow(p) => stack.push((p, depth)),
                    crate::plumbing::Dependency::Shuffle(s) => stack.push((s.parent(), depth + 1)),
                }
            }
        }
        out
    }

    // ---- narrow transformations ----

    /// Applies `f` to every record.
    pub fn map<U: Data, F>(&self, f: F) -> Rdd<U>
    where
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        Rdd::from_node(narrow::MappedRdd::new(self.clone(), "map", f))
    }

    /// Applies `f` to every record and flattens the results (any `IntoIterator`).
    ///
    /// A closure that builds a collection per record (`collect::<Vec<_>>()`) pays for it on
    /// every record; [`flat_map_emit`](Self::flat_map_emit) hands the records straight on.
    pub fn flat_map<U: Data, I, F>(&self, f: F) -> Rdd<U>
    where
        F: Fn(T) -> I + Send + Sync + 'static,
        I: IntoIterator<Item = U> + 'static,
    {
        Rdd::from_node(narrow::FlatMappedRdd::new(
            self.clone(),
            "flat_map",
            move |x, out: &mut Emitter<'_, U>| out.extend(f(x)),
        ))
    }

    /// Applies `f` to every record; `f` emits any number of records through the [`Emitter`]
    /// it is given. The result of [`flat_map`](Self::flat_map), in the same order, without a
    /// collection per record: what `f` emits goes straight into the stage's output. A word
    /// count that emits `(word, 1)` pairs takes about a sixth less time than one whose
    /// `flat_map` collects each line's words into a `Vec` and maps them to pairs.
    ///
    /// ```
    /// use emberflow_core::Context;
    /// let ctx = Context::local(2);
    /// let words = ctx
    ///     .parallelize(vec!["to be".to_string(), String::new(), "or not".to_string()], 2)
    ///     .flat_map_emit(|line: String, out| out.extend(line.split(' ').map(str::to_owned)));
    /// assert_eq!(words.collect()?, ["to", "be", "", "or", "not"]);
    /// # Ok::<(), emberflow_core::Error>(())
    /// ```
    ///
    /// # Spark
    /// Spark's `flatMap` only takes a function returning a collection (our `flat_map`).
    pub fn flat_map_emit<U: Data, F>(&self, f: F) -> Rdd<U>
    where
        F: Fn(T, &mut Emitter<'_, U>) + Send + Sync + 'static,
    {
        Rdd::from_node(narrow::FlatMappedRdd::new(self.clone(), "flat_map_emit", f))
    }

    /// Keeps the records for which `f` is true.
    pub fn filter<F>(&self, f: F) -> Rdd<T>
    where
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        Rdd::from_node(narrow::FilteredRdd::new(self.clone(), f)).placed_as(self.placement())
    }

    /// Transforms each partition as a whole: the fused hot loop.
    ///
    /// `f` gets the partition's iterator and returns any collection or owned iterator.
    ///
    /// ```
    /// use emberflow_core::Context;
    /// let ctx = Context::local(2);
    /// let sums = ctx.parallelize(vec![1, 2, 3, 4], 2).map_partitions(|it| Some(it.sum::<i32>()));
    /// assert_eq!(sums.collect()?, vec![3, 7]);
    /// # Ok::<(), emberflow_core::Error>(())
    /// ```
    pub fn map_partitions<U: Data, I, F>(&self, f: F) -> Rdd<U>
    where
        F: Fn(BoxIter<'_, T>) -> I + Send + Sync + 'static,
        I: IntoIterator<Item = U> + 'static,
    {
        self.map_partitions_with_index(move |_, it| f(it))
    }

    /// Like [`map_partitions`](Self::map_partitions), also given the partition index.
    pub fn map_partitions_with_index<U: Data, I, F>(&self, f: F) -> Rdd<U>
    where
        F: Fn(usize, BoxIter<'_, T>) -> I + Send + Sync + 'static,
        I: IntoIterator<Item = U> + 'static,
    {
        Rdd::from_node(narrow::MapPartitionsRdd::new(self.clone(), f))
    }

    /// Each partition as one `Vec`.
    pub fn glom(&self) -> Rdd<Vec<T>> {
        self.map_partitions(|it| std::iter::once(it.collect::<Vec<T>>()))
    }

    /// Pairs each record with the key `f` gives it.
    pub fn key_by<K: Data, F>(&self, f: F) -> Rdd<(K, T)>
    where
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.map(move |x| (f(&x), x))
    }

    /// The records of both RDDs: the partitions of `self`, then those of `other`.
    pub fn union(&self, other: &Rdd<T>) -> Rdd<T> {
        Rdd::from_node(union::UnionRdd::new(
            self.context(),
            vec![self.clone(), other.clone()],
        ))
    }

    /// A random sample: each record kept with probability `fraction` (without replacement), or
    /// repeated a Poisson(`fraction`) number of times (with replacement). The same seed gives
    /// the same sample.
    pub fn sample(&self, with_replacement: bool, fraction: f64, seed: u64) -> Rdd<T> {
        sample::sample(self, with_replacement, fraction, seed)
    }

    /// Pairs each record with its index in the RDD's order (partition by partition).
    ///
    /// Counting the partitions before it runs is done on the driver when a job first needs it.
    pub fn zip_with_index(&self) -> Rdd<(T, u64)> {
        Rdd::from_node(zipped_with_index::ZippedWithIndexRdd::new(self.clone()))
    }

    /// Combines partition `i` of `self` and of `other` with `f`, for every `i`, without a
    /// shuffle (Spark's `zipPartitions`). Both RDDs must have the same number of partitions;
    /// a job over RDDs that differ fails with an error saying so.
    ///
    /// ```
    /// use emberflow_core::Context;
    /// let ctx = Context::local(2);
    /// let a = ctx.parallelize(vec![1, 2, 3, 4], 2);
    /// let b = ctx.parallelize(vec![10, 20, 30, 40], 2);
    /// let sums = a.zip_partitions(&b, |x, y| x.zip(y).map(|(p, q)| p + q).collect::<Vec<_>>());
    /// assert_eq!(sums.collect()?, vec![11, 22, 33, 44]);
    /// # Ok::<(), emberflow_core::Error>(())
    /// ```
    pub fn zip_partitions<U: Data, V: Data, I, F>(&self, other: &Rdd<U>, f: F) -> Rdd<V>
    where
        I: IntoIterator<Item = V> + 'static,
        F: Fn(BoxIter<'_, T>, BoxIter<'_, U>) -> I + Send + Sync + 'static,
    {
        Rdd::from_node(zipped_partitions::ZippedPartitionsRdd::new(
            self.clone(),
            other.clone(),
            f,
        ))
    }

    /// Fewer partitions without a shuffle: contiguous parent partitions are merged.
    /// Asking for more partitions than there are keeps the count.
    pub fn coalesce(&self, partitions: usize) -> Rdd<T> {
        Rdd::from_node(coalesced::CoalescedRdd::new(self.clone(), partitions))
    }

    /// Every pair `(a, b)` with `a` from `self` and `b` from `other`.
    pub fn cartesian<U: Data>(&self, other: &Rdd<U>) -> Rdd<(T, U)> {
        Rdd::from_node(cartesian::CartesianRdd::new(self.clone(), other.clone()))
    }

    /// Exactly `partitions` partitions of about equal size, through a shuffle.
    pub fn repartition(&self, partitions: usize) -> Rdd<T> {
        let partitions = partitions.max(1);
        // Spark's round-robin: each input partition starts at a different output partition.
        let keyed = self.map_partitions_with_index(move |index, it| {
            let start = crate::hash::stable_hash(&index) as usize;
            it.enumerate()
                .map(|(i, x)| ((start.wrapping_add(i)) % partitions, x))
                .collect::<Vec<_>>()
        });
        keyed
            .partition_by(crate::rdd::shuffled::IdentityPartitioner(partitions))
            .values()
    }

    /// Sorts by the key `f` gives each record, into `partitions` range partitions
    /// (0: keep the count).
    pub fn sort_by<K, F>(&self, f: F, ascending: bool, partitions: usize) -> Rdd<T>
    where
        K: Data + Ord,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.key_by(f)
            .sort_by_key_with_partitions(ascending, partitions)
            .values()
    }
}

impl<T: Data + Hash + Eq> Rdd<T> {
    /// The distinct records.
    pub fn distinct(&self) -> Rdd<T> {
        self.distinct_with_partitions(self.num_partitions())
    }

    /// The distinct records, in `partitions` partitions.
    pub fn distinct_with_partitions(&self, partitions: usize) -> Rdd<T> {
        self.map(|x| (x, ()))
            .reduce_by_key_with_partitions(|a, _| a, partitions)
            .keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rdd_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Rdd<String>>();
        assert_send_sync::<Context>();
    }

    #[test]
    fn deep_lineage_builds_computes_and_drops() {
        let ctx = Context::local(2);
        let mut rdd = ctx.parallelize((0..100u64).collect(), 2);
        for _ in 0..10_000 {
            rdd = rdd.map(|x| x + 1);
        }
        assert_eq!(rdd.count().expect("count"), 100);
        assert_eq!(rdd.reduce(|a, b| a.max(b)).expect("max"), 99 + 10_000);
        drop(rdd);
    }

    #[test]
    fn attachments_are_typed_and_set_once() {
        let ctx = Context::local(1);
        let rdd = ctx.parallelize(vec![1], 1);
        assert!(rdd.attachment::<String>().is_none());
        assert!(rdd.attach(Arc::new("ranges".to_string())));
        assert!(!rdd.attach(Arc::new(7u32)));
        assert_eq!(
            rdd.attachment::<String>().as_deref().map(String::as_str),
            Some("ranges")
        );
        assert!(rdd.attachment::<u32>().is_none());
        assert!(
            rdd.map(|x| x).attachment::<String>().is_none(),
            "not carried on"
        );
    }

    #[test]
    fn debug_string_shows_shuffles() {
        let ctx = Context::local(1);
        let rdd = ctx
            .parallelize(vec![("a", 1), ("b", 2)], 2)
            .reduce_by_key(|a, b| a + b)
            .map(|(k, v)| (k, v * 2));
        let s = rdd.to_debug_string();
        assert!(s.contains("map["), "{s}");
        assert!(s.contains("\n  ("), "shuffle parent is indented: {s}");
    }
}
