//! Operations on streams of pairs (Spark's PairDStreamFunctions), as inherent methods on
//! `DStream<(K, V)>`: each applies the pair RDD operation to every batch.
// Return types spell out Spark's shapes on purpose.
#![allow(clippy::type_complexity)]

use std::hash::Hash;
use std::sync::Arc;

use emberflow_core::{Data, Partitioner};

use crate::dstream::DStream;

impl<K: Data, V: Data> DStream<(K, V)> {
    /// Applies `f` to every value, keeping the key.
    pub fn map_values<U: Data, F>(&self, f: F) -> DStream<(K, U)>
    where
        F: Fn(V) -> U + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.transformed("map_values", move |rdd, _| {
            let f = f.clone();
            rdd.map_values(move |v| f(v))
        })
    }

    /// Applies `f` to every value and pairs the key with each result.
    pub fn flat_map_values<U: Data, I, F>(&self, f: F) -> DStream<(K, U)>
    where
        F: Fn(V) -> I + Send + Sync + 'static,
        I: IntoIterator<Item = U> + 'static,
    {
        let f = Arc::new(f);
        self.transformed("flat_map_values", move |rdd, _| {
            let f = f.clone();
            rdd.flat_map_values(move |v| f(v))
        })
    }
}

impl<K: Data + Hash + Eq, V: Data> DStream<(K, V)> {
    /// Merges the values of each key in each batch with `f`.
    pub fn reduce_by_key<F>(&self, f: F) -> DStream<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        self.reduce_by_key_impl(f, None)
    }

    /// [`reduce_by_key`](Self::reduce_by_key) into `partitions` partitions.
    pub fn reduce_by_key_with_partitions<F>(&self, f: F, partitions: usize) -> DStream<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        self.reduce_by_key_impl(f, Some(partitions))
    }

    fn reduce_by_key_impl<F>(&self, f: F, partitions: Option<usize>) -> DStream<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.transformed("reduce_by_key", move |rdd, _| {
            let f = f.clone();
            let n = partitions.unwrap_or_else(|| rdd.num_partitions().max(1));
            rdd.reduce_by_key_with_partitions(move |a, b| f(a, b), n)
        })
    }

    /// [`reduce_by_key`](Self::reduce_by_key) with any partitioner (shared by every batch).
    pub fn reduce_by_key_with_partitioner<F, P>(&self, f: F, partitioner: P) -> DStream<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
        P: Partitioner<K> + Clone,
    {
        let f = Arc::new(f);
        self.transformed("reduce_by_key", move |rdd, _| {
            let f = f.clone();
            rdd.reduce_by_key_with_partitioner(move |a, b| f(a, b), partitioner.clone())
        })
    }

    /// The values of each key in each batch.
    pub fn group_by_key(&self) -> DStream<(K, Vec<V>)> {
        self.transformed("group_by_key", |rdd, _| rdd.group_by_key())
    }

    /// [`group_by_key`](Self::group_by_key) into `partitions` partitions.
    pub fn group_by_key_with_partitions(&self, partitions: usize) -> DStream<(K, Vec<V>)> {
        self.transformed("group_by_key", move |rdd, _| {
            rdd.group_by_key_with_partitions(partitions)
        })
    }

    /// Spark's `combineByKey` on every batch.
    pub fn combine_by_key<C: Data, FC, FM, FMC>(
        &self,
        create: FC,
        merge_value: FM,
        merge_combiners: FMC,
    ) -> DStream<(K, C)>
    where
        FC: Fn(V) -> C + Send + Sync + 'static,
        FM: Fn(C, V) -> C + Send + Sync + 'static,
        FMC: Fn(C, C) -> C + Send + Sync + 'static,
    {
        self.combine_by_key_impl(create, merge_value, merge_combiners, None)
    }

    /// [`combine_by_key`](Self::combine_by_key) into `partitions` partitions.
    pub fn combine_by_key_with_partitions<C: Data, FC, FM, FMC>(
        &self,
        create: FC,
        merge_value: FM,
        merge_combiners: FMC,
        partitions: usize,
    ) -> DStream<(K, C)>
    where
        FC: Fn(V) -> C + Send + Sync + 'static,
        FM: Fn(C, V) -> C + Send + Sync + 'static,
        FMC: Fn(C, C) -> C + Send + Sync + 'static,
    {
        self.combine_by_key_impl(create, merge_value, merge_combiners, Some(partitions))
    }

    fn combine_by_key_impl<C: Data, FC, FM, FMC>(
        &self,
        create: FC,
        merge_value: FM,
        merge_combiners: FMC,
        partitions: Option<usize>,
    ) -> DStream<(K, C)>
    where
        FC: Fn(V) -> C + Send + Sync + 'static,
        FM: Fn(C, V) -> C + Send + Sync + 'static,
        FMC: Fn(C, C) -> C + Send + Sync + 'static,
    {
        let (create, merge_value, merge_combiners) = (
            Arc::new(create),
            Arc::new(merge_value),
            Arc::new(merge_combiners),
        );
        self.transformed("combine_by_key", move |rdd, _| {
            let (c, mv, mc) = (create.clone(), merge_value.clone(), merge_combiners.clone());
            let n = partitions.unwrap_or_else(|| rdd.num_partitions().max(1));
            rdd.combine_by_key_with_partitions(
                move |v| c(v),
                move |a, v| mv(a, v),
                move |a, b| mc(a, b),
                n,
            )
        })
    }

    /// Per batch, for each key in either stream, its values in this stream and in `other`.
    pub fn cogroup<W: Data>(&self, other: &DStream<(K, W)>) -> DStream<(K, (Vec<V>, Vec<W>))> {
        self.transformed_with("cogroup", other, |a, b, _| a.cogroup(&b))
    }

    /// [`cogroup`](Self::cogroup) into `partitions` partitions.
    pub fn cogroup_with_partitions<W: Data>(
        &self,
        other: &DStream<(K, W)>,
        partitions: usize,
    ) -> DStream<(K, (Vec<V>, Vec<W>))> {
        self.transformed_with("cogroup", other, move |a, b, _| {
            a.cogroup_with_partitions(&b, partitions)
        })
    }

    /// [`cogroup`](Self::cogroup) placed by `partitioner` every batch (Spark's form with a
    /// `Partitioner`).
    pub fn cogroup_with_partitioner<W: Data, P: Partitioner<K>>(
        &self,
        other: &DStream<(K, W)>,
        partitioner: P,
    ) -> DStream<(K, (Vec<V>, Vec<W>))> {
        let partitioner = Arc::new(partitioner);
        self.transformed_with("cogroup", other, move |a, b, _| {
            a.cogroup_with_partitioner(&b, partitioner.clone())
        })
    }

    /// Per batch, the inner join with `other`'s batch.
    pub fn join<W: Data>(&self, other: &DStream<(K, W)>) -> DStream<(K, (V, W))> {
        self.transformed_with("join", other, |a, b, _| a.join(&b))
    }

    /// [`join`](Self::join) into `partitions` partitions.
    pub fn join_with_partitions<W: Data>(
        &self,
        other: &DStream<(K, W)>,
        partitions: usize,
    ) -> DStream<(K, (V, W))> {
        self.transformed_with("join", other, move |a, b, _| {
            a.join_with_partitions(&b, partitions)
        })
    }

    /// [`join`](Self::join) placed by `partitioner` every batch (Spark's form with a
    /// `Partitioner`).
    pub fn join_with_partitioner<W: Data, P: Partitioner<K>>(
        &self,
        other: &DStream<(K, W)>,
        partitioner: P,
    ) -> DStream<(K, (V, W))> {
        let partitioner = Arc::new(partitioner);
        self.transformed_with("join", other, move |a, b, _| {
            a.join_with_partitioner(&b, partitioner.clone())
        })
    }

    /// Per batch, the left outer join with `other`'s batch.
    pub fn left_outer_join<W: Data>(
        &self,
        other: &DStream<(K, W)>,
    ) -> DStream<(K, (V, Option<W>))> {
        self.transformed_with("left_outer_join", other, |a, b, _| a.left_outer_join(&b))
    }

    /// [`left_outer_join`](Self::left_outer_join) into `partitions` partitions.
    pub fn left_outer_join_with_partitions<W: Data>(
        &self,
        other: &DStream<(K, W)>,
        partitions: usize,
    ) -> DStream<(K, (V, Option<W>))> {
        self.transformed_with("left_outer_join", other, move |a, b, _| {
            a.left_outer_join_with_partitions(&b, partitions)
        })
    }

    /// [`left_outer_join`](Self::left_outer_join) placed by `partitioner` every batch (Spark's form with a
    /// `Partitioner`).
    pub fn left_outer_join_with_partitioner<W: Data, P: Partitioner<K>>(
        &self,
        other: &DStream<(K, W)>,
        partitioner: P,
    ) -> DStream<(K, (V, Option<W>))> {
        let partitioner = Arc::new(partitioner);
        self.transformed_with("left_outer_join", other, move |a, b, _| {
            a.left_outer_join_with_partitioner(&b, partitioner.clone())
        })
    }

    /// Per batch, the right outer join with `other`'s batch.
    pub fn right_outer_join<W: Data>(
        &self,
        other: &DStream<(K, W)>,
    ) -> DStream<(K, (Option<V>, W))> {
        self.transformed_with("right_outer_join", other, |a, b, _| a.right_outer_join(&b))
    }

    /// [`right_outer_join`](Self::right_outer_join) into `partitions` partitions.
    pub fn right_outer_join_with_partitions<W: Data>(
        &self,
        other: &DStream<(K, W)>,
        partitions: usize,
    ) -> DStream<(K, (Option<V>, W))> {
        self.transformed_with("right_outer_join", other, move |a, b, _| {
            a.right_outer_join_with_partitions(&b, partitions)
        })
    }

    /// [`right_outer_join`](Self::right_outer_join) placed by `partitioner` every batch (Spark's form with a
    /// `Partitioner`).
    pub fn right_outer_join_with_partitioner<W: Data, P: Partitioner<K>>(
        &self,
        other: &DStream<(K, W)>,
        partitioner: P,
    ) -> DStream<(K, (Option<V>, W))> {
        let partitioner = Arc::new(partitioner);
        self.transformed_with("right_outer_join", other, move |a, b, _| {
            a.right_outer_join_with_partitioner(&b, partitioner.clone())
        })
    }

    /// Per batch, the full outer join with `other`'s batch.
    pub fn full_outer_join<W: Data>(
        &self,
        other: &DStream<(K, W)>,
    ) -> DStream<(K, (Option<V>, Option<W>))> {
        self.transformed_with("full_outer_join", other, |a, b, _| a.full_outer_join(&b))
    }

    /// [`full_outer_join`](Self::full_outer_join) into `partitions` partitions.
    pub fn full_outer_join_with_partitions<W: Data>(
        &self,
        other: &DStream<(K, W)>,
        partitions: usize,
    ) -> DStream<(K, (Option<V>, Option<W>))> {
        self.transformed_with("full_outer_join", other, move |a, b, _| {
            a.full_outer_join_with_partitions(&b, partitions)
        })
    }

    /// [`full_outer_join`](Self::full_outer_join) placed by `partitioner` every batch (Spark's form with a
    /// `Partitioner`).
    pub fn full_outer_join_with_partitioner<W: Data, P: Partitioner<K>>(
        &self,
        other: &DStream<(K, W)>,
        partitioner: P,
    ) -> DStream<(K, (Option<V>, Option<W>))> {
        let partitioner = Arc::new(partitioner);
        self.transformed_with("full_outer_join", other, move |a, b, _| {
            a.full_outer_join_with_partitioner(&b, partitioner.clone())
        })
    }
}
