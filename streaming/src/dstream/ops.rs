//! Stateless DStream operations (Spark's DStream methods): each applies the same RDD
//! operation to every batch's RDD.

use std::hash::Hash;
use std::sync::Arc;

use emberflow_core::plumbing::BoxIter;
use emberflow_core::{Data, Emitter, Rdd};

use crate::dstream::transformed::{TransformedDStream, TransformedDStream2, UnionDStream};
use crate::dstream::DStream;
use crate::time::Time;

impl<T: Data> DStream<T> {
    /// Applies an RDD-to-RDD function to every batch, with the batch time (Spark's
    /// `transform`): for example a join with a static RDD.
    ///
    /// ```
    /// use emberflow_streaming::{testing::run_batches, DStream};
    /// let out = run_batches(
    ///     vec![vec![3, 1, 2]],
    ///     |s: DStream<i32>| s.transform(|rdd, _time| rdd.sort_by(|x| *x, true, 1)),
    ///     1,
    /// )?;
    /// assert_eq!(out, vec![vec![1, 2, 3]]);
    /// # Ok::<(), emberflow_streaming::Error>(())
    /// ```
    pub fn transform<U: Data, F>(&self, f: F) -> DStream<U>
    where
        F: Fn(Rdd<T>, Time) -> Rdd<U> + Send + Sync + 'static,
    {
        // As Spark: a parent without an RDD for a batch fails that batch.
        DStream::from_node(
            &self.graph,
            TransformedDStream::new("transform", true, self.inner.clone(), f),
        )
    }

    /// A map-like operation: a parent without an RDD for a batch gives none either.
    pub(crate) fn transformed<U: Data, F>(&self, kind: &'static str, f: F) -> DStream<U>
    where
        F: Fn(Rdd<T>, Time) -> Rdd<U> + Send + Sync + 'static,
    {
        DStream::from_node(
            &self.graph,
            TransformedDStream::new(kind, false, self.inner.clone(), f),
        )
    }

    /// Applies a function to this stream's and `other`'s RDDs of each batch (Spark's
    /// `transformWith`). A stream without an RDD for a batch fails that batch, naming the
    /// stream and the batch time.
    pub fn transform_with<U: Data, V: Data, F>(&self, other: &DStream<U>, f: F) -> DStream<V>
    where
        F: Fn(Rdd<T>, Rdd<U>, Time) -> Rdd<V> + Send + Sync + 'static,
    {
        self.transformed_with("transform_with", other, f)
    }

    pub(crate) fn transformed_with<U: Data, V: Data, F>(
        &self,
        kind: &'static str,
        other: &DStream<U>,
        f: F,
    ) -> DStream<V>
    where
        F: Fn(Rdd<T>, Rdd<U>, Time) -> Rdd<V> + Send + Sync + 'static,
    {
        DStream::from_node(
            &self.graph,
            TransformedDStream2::new(kind, self.inner.clone(), other.inner.clone(), f),
        )
    }

    /// Applies `f` to every record.
    pub fn map<U: Data, F>(&self, f: F) -> DStream<U>
    where
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.transformed("map", move |rdd, _| {
            let f = f.clone();
            rdd.map(move |x| f(x))
        })
    }

    /// Applies `f` to every record and flattens the results.
    pub fn flat_map<U: Data, I, F>(&self, f: F) -> DStream<U>
    where
        F: Fn(T) -> I + Send + Sync + 'static,
        I: IntoIterator<Item = U> + 'static,
    {
        let f = Arc::new(f);
        self.transformed("flat_map", move |rdd, _| {
            let f = f.clone();
            rdd.flat_map(move |x| f(x))
        })
    }

    /// Applies `f` to every record; `f` emits any number of records through the [`Emitter`]
    /// it is given: [`flat_map`](Self::flat_map) without a collection per record (see
    /// [`Rdd::flat_map_emit`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use emberflow_streaming::testing::BatchRunner;
    /// let runner = BatchRunner::new(Duration::from_secs(1));
    /// let lines = runner.queue_input(vec![vec!["a b".to_string()], vec!["c".to_string()]]);
    /// let words = lines.flat_map_emit(|l: String, out| out.extend(l.split(' ').map(str::to_owned)));
    /// let got = runner.collect(&words);
    /// runner.run(2)?;
    /// assert_eq!(got.batches(), [vec!["a", "b"], vec!["c"]]);
    /// # Ok::<(), emberflow_streaming::Error>(())
    /// ```
    ///
    /// # Spark
    /// Spark's `flatMap` only takes a function returning a collection (our `flat_map`).
    pub fn flat_map_emit<U: Data, F>(&self, f: F) -> DStream<U>
    where
        F: Fn(T, &mut Emitter<'_, U>) + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.transformed("flat_map_emit", move |rdd, _| {
            let f = f.clone();
            rdd.flat_map_emit(move |x, out: &mut Emitter<'_, U>| f(x, out))
        })
    }

    /// Keeps the records for which `f` is true.
    pub fn filter<F>(&self, f: F) -> DStream<T>
    where
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.transformed("filter", move |rdd, _| {
            let f = f.clone();
            rdd.filter(move |x| f(x))
        })
    }

    /// Transforms each partition of each batch as a whole.
    pub fn map_partitions<U: Data, I, F>(&self, f: F) -> DStream<U>
    where
        F: Fn(BoxIter<'_, T>) -> I + Send + Sync + 'static,
        I: IntoIterator<Item = U> + 'static,
    {
        let f = Arc::new(f);
        self.transformed("map_partitions", move |rdd, _| {
            let f = f.clone();
            rdd.map_partitions(move |it| f(it))
        })
    }

    /// Each partition of each batch as one `Vec`.
    pub fn glom(&self) -> DStream<Vec<T>> {
        self.transformed("glom", |rdd, _| rdd.glom())
    }

    /// Every batch reshuffled into `partitions` partitions.
    pub fn repartition(&self, partitions: usize) -> DStream<T> {
        self.transformed("repartition", move |rdd, _| rdd.repartition(partitions))
    }

    /// The records of both streams (same slide duration).
    pub fn union(&self, other: &DStream<T>) -> DStream<T> {
        DStream::from_node(
            &self.graph,
            UnionDStream::new(vec![self.inner.clone(), other.inner.clone()]),
        )
    }

    /// The number of records of each batch: one record per batch, `0` for an empty batch
    /// (as Spark).
    pub fn count(&self) -> DStream<u64> {
        self.transformed("count", |rdd, _| {
            let zero = rdd.context().parallelize(vec![0u64], 1);
            rdd.map_partitions(|it| Some(it.count() as u64))
                .union(&zero)
                .map(|c| ((), c))
                .reduce_by_key_with_partitions(|a, b| a + b, 1)
                .values()
        })
    }

    /// Reduces each batch to one record with `f` (no record for an empty batch).
    pub fn reduce<F>(&self, f: F) -> DStream<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.transformed("reduce", move |rdd, _| {
            let f = f.clone();
            rdd.map(|x| ((), x))
                .reduce_by_key_with_partitions(move |a, b| f(a, b), 1)
                .values()
        })
    }
}

impl<T: Data + Hash + Eq> DStream<T> {
    /// How many times each distinct record occurs in each batch.
    pub fn count_by_value(&self) -> DStream<(T, u64)> {
        self.transformed("count_by_value", |rdd, _| {
            rdd.map(|x| (x, 1u64)).reduce_by_key(|a, b| a + b)
        })
    }
}

impl<T: Data> DStream<T> {
    /// The union of several streams of the same slide duration.
    pub fn union_all(streams: &[DStream<T>]) -> Option<DStream<T>> {
        let first = streams.first()?;
        Some(DStream::from_node(
            &first.graph,
            UnionDStream::new(streams.iter().map(|s| s.inner.clone()).collect()),
        ))
    }
}
