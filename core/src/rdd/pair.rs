//! Operations on RDDs of pairs `(K, V)` (Spark's PairRDDFunctions), as inherent methods: no
//! trait to import. Wide operations shuffle through `ShuffledRdd`; combine-by-key operations
//! combine on the map side first.

// Return types spell out Spark's shapes (`(K, (Option<V>, Option<W>))`) on purpose.
#![allow(clippy::type_complexity)]

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use crate::partitioner::{HashPartitioner, Partitioner, RangePartitioner};
use crate::rdd::shuffled::{combining_writer, merge_by_key, plain_writer, ShuffledRdd};
use crate::rdd::Rdd;
use crate::{Data, Result};

/// One side of a cogroup, so both sides travel through one shuffle.
#[derive(Clone)]
enum Side<V, W> {
    Left(V),
    Right(W),
}

impl<K: Data, V: Data> Rdd<(K, V)> {
    /// The keys.
    pub fn keys(&self) -> Rdd<K> {
        self.map(|(k, _)| k)
    }

    /// The values.
    pub fn values(&self) -> Rdd<V> {
        self.map(|(_, v)| v)
    }

    /// Applies `f` to every value, keeping the key.
    pub fn map_values<U: Data, F>(&self, f: F) -> Rdd<(K, U)>
    where
        F: Fn(V) -> U + Send + Sync + 'static,
    {
        self.map(move |(k, v)| (k, f(v)))
            .placed_as(self.placement())
    }

    /// Applies `f` to every value and pairs the key with each result.
    pub fn flat_map_values<U: Data, I, F>(&self, f: F) -> Rdd<(K, U)>
    where
        F: Fn(V) -> I + Send + Sync + 'static,
        I: IntoIterator<Item = U> + 'static,
    {
        self.flat_map_emit(move |(k, v): (K, V), out| {
            out.extend(f(v).into_iter().map(|u| (k.clone(), u)))
        })
        .placed_as(self.placement())
    }

    /// Redistributes the pairs by `partitioner`, through a shuffle.
    ///
    /// ```
    /// use emberflow_core::{Context, HashPartitioner};
    /// let ctx = Context::local(2);
    /// let p = ctx.parallelize(vec![(1, 'a'), (2, 'b'), (1, 'c')], 2).partition_by(HashPartitioner::new(3));
    /// assert_eq!(p.num_partitions(), 3);
    /// # Ok::<(), emberflow_core::Error>(())
    /// ```
    pub fn partition_by<P: Partitioner<K>>(&self, partitioner: P) -> Rdd<(K, V)> {
        ShuffledRdd::build(self, Arc::new(partitioner), plain_writer())
    }
}

impl<K: Data + Ord, V: Data> Rdd<(K, V)> {
    /// Sorts by key into range partitions (the same count as now).
    pub fn sort_by_key(&self, ascending: bool) -> Rdd<(K, V)> {
        self.sort_by_key_with_partitions(ascending, self.num_partitions())
    }

    /// Sorts by key into `partitions` range partitions (0: keep the count). Partition `i`
    /// holds keys before those of partition `i + 1`; each partition is sorted, stably.
    pub fn sort_by_key_with_partitions(&self, ascending: bool, partitions: usize) -> Rdd<(K, V)> {
        let partitions = if partitions == 0 {
            self.num_partitions().max(1)
        } else {
            partitions
        };
        let partitioner = RangePartitioner::new(partitions, self, ascending);
        self.partition_by(partitioner)
            .map_partitions(move |it| {
                let mut v: Vec<(K, V)> = it.collect();
                if ascending {
                    v.sort_by(|a, b| a.0.cmp(&b.0));
                } else {
                    v.sort_by(|a, b| b.0.cmp(&a.0));
                }
                v
            })
            .set_name("sort_by_key")
    }
}

impl<K: Data + Hash + Eq, V: Data> Rdd<(K, V)> {
    fn default_partitions(&self, other: usize) -> usize {
        self.num_partitions().max(other).max(1)
    }

    /// Spark's `combineByKey`: builds a combiner per key with `create`, adds values with
    /// `merge_value` (map side) and merges combiners with `merge_combiners` (reduce side).
    pub fn combine_by_key<C: Data, FC, FM, FMC>(
        &self,
        create: FC,
        merge_value: FM,
        merge_combiners: FMC,
    ) -> Rdd<(K, C)>
    where
        FC: Fn(V) -> C + Send + Sync + 'static,
        FM: Fn(C, V) -> C + Send + Sync + 'static,
        FMC: Fn(C, C) -> C + Send + Sync + 'static,
    {
        let n = self.default_partitions(0);
        self.combine_by_key_with_partitioner(
            create,
            merge_value,
            merge_combiners,
            HashPartitioner::new(n),
        )
    }

    /// [`combine_by_key`](Self::combine_by_key) into `partitions` hash partitions.
    pub fn combine_by_key_with_partitions<C: Data, FC, FM, FMC>(
        &self,
        create: FC,
        merge_value: FM,
        merge_combiners: FMC,
        partitions: usize,
    ) -> Rdd<(K, C)>
    where
        FC: Fn(V) -> C + Send + Sync + 'static,
        FM: Fn(C, V) -> C + Send + Sync + 'static,
        FMC: Fn(C, C) -> C + Send + Sync + 'static,
    {
        self.combine_by_key_with_partitioner(
            create,
            merge_value,
            merge_combiners,
            HashPartitioner::new(partitions),
        )
    }

    /// [`combine_by_key`](Self::combine_by_key) with any partitioner.
    pub fn combine_by_key_with_partitioner<C: Data, FC, FM, FMC, P>(
        &self,
        create: FC,
        merge_value: FM,
        merge_combiners: FMC,
        partitioner: P,
    ) -> Rdd<(K, C)>
    where
        FC: Fn(V) -> C + Send + Sync + 'static,
        FM: Fn(C, V) -> C + Send + Sync + 'static,
        FMC: Fn(C, C) -> C + Send + Sync + 'static,
        P: Partitioner<K>,
    {
        let shuffled = ShuffledRdd::build(
            self,
            Arc::new(partitioner),
            combining_writer(create, merge_value),
        );
        let placement = shuffled.placement();
        shuffled
            .map_partitions(move |it| merge_by_key(it, |c| c, &merge_combiners))
            .set_name("combine_by_key")
            .placed_as(placement)
    }

    /// Merges the values of each key with `f` (associative and commutative), combining on
    /// the map side first.
    ///
    /// ```
    /// use emberflow_core::Context;
    /// let ctx = Context::local(2);
    /// let mut counts = ctx
    ///     .parallelize(vec!["a", "b", "a"], 2)
    ///     .map(|w| (w, 1))
    ///     .reduce_by_key(|a, b| a + b)
    ///     .collect()?;
    /// counts.sort();
    /// assert_eq!(counts, vec![("a", 2), ("b", 1)]);
    /// # Ok::<(), emberflow_core::Error>(())
    /// ```
    pub fn reduce_by_key<F>(&self, f: F) -> Rdd<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        self.reduce_by_key_with_partitions(f, self.default_partitions(0))
    }

    /// [`reduce_by_key`](Self::reduce_by_key) into `partitions` hash partitions.
    pub fn reduce_by_key_with_partitions<F>(&self, f: F, partitions: usize) -> Rdd<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        self.reduce_by_key_with_partitioner(f, HashPartitioner::new(partitions))
    }

    /// [`reduce_by_key`](Self::reduce_by_key) with any partitioner.
    pub fn reduce_by_key_with_partitioner<F, P>(&self, f: F, partitioner: P) -> Rdd<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
        P: Partitioner<K>,
    {
        let f = Arc::new(f);
        let g = f.clone();
        self.combine_by_key_with_partitioner(
            |v| v,
            move |a, b| f(a, b),
            move |a, b| g(a, b),
            partitioner,
        )
        .set_name("reduce_by_key")
    }

    /// Folds the values of each key, starting each key (on each side of the shuffle) from
    /// `zero`.
    pub fn fold_by_key<F>(&self, zero: V, f: F) -> Rdd<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        self.fold_by_key_with_partitions(zero, f, self.default_partitions(0))
    }

    /// [`fold_by_key`](Self::fold_by_key) into `partitions` hash partitions.
    pub fn fold_by_key_with_partitions<F>(&self, zero: V, f: F, partitions: usize) -> Rdd<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let (g, h) = (f.clone(), f.clone());
        self.combine_by_key_with_partitions(
            move |v| f(zero.clone(), v),
            move |a, b| g(a, b),
            move |a, b| h(a, b),
            partitions,
        )
        .set_name("fold_by_key")
    }

    /// Aggregates the values of each key into a `U`: `seq` adds a value, `comb` merges two
    /// partial results; each key starts from `zero`.
    pub fn aggregate_by_key<U: Data, FS, FC>(&self, zero: U, seq: FS, comb: FC) -> Rdd<(K, U)>
    where
        FS: Fn(U, V) -> U + Send + Sync + 'static,
        FC: Fn(U, U) -> U + Send + Sync + 'static,
    {
        self.aggregate_by_key_with_partitions(zero, seq, comb, self.default_partitions(0))
    }

    /// [`aggregate_by_key`](Self::aggregate_by_key) into `partitions` hash partitions.
    pub fn aggregate_by_key_with_partitions<U: Data, FS, FC>(
        &self,
        zero: U,
        seq: FS,
        comb: FC,
        partitions: usize,
    ) -> Rdd<(K, U)>
    where
        FS: Fn(U, V) -> U + Send + Sync + 'static,
        FC: Fn(U, U) -> U + Send + Sync + 'static,
    {
        let seq = Arc::new(seq);
        let seq2 = seq.clone();
        self.combine_by_key_with_partitions(
            move |v| seq(zero.clone(), v),
            move |u, v| seq2(u, v),
            comb,
            partitions,
        )
        .set_name("aggregate_by_key")
    }

    /// The values of each key, in one `Vec` (no map-side combine, as Spark).
    pub fn group_by_key(&self) -> Rdd<(K, Vec<V>)> {
        self.group_by_key_with_partitions(self.default_partitions(0))
    }

    /// [`group_by_key`](Self::group_by_key) into `partitions` hash partitions.
    pub fn group_by_key_with_partitions(&self, partitions: usize) -> Rdd<(K, Vec<V>)> {
        self.group_by_key_with_partitioner(HashPartitioner::new(partitions))
    }

    /// [`group_by_key`](Self::group_by_key) with any partitioner.
    pub fn group_by_key_with_partitioner<P: Partitioner<K>>(
        &self,
        partitioner: P,
    ) -> Rdd<(K, Vec<V>)> {
        self.partition_by(partitioner)
            .map_partitions(|it| {
                merge_by_key(
                    it,
                    |v| vec![v],
                    |mut vs, v| {
                        vs.push(v);
                        vs
                    },
                )
            })
            .set_name("group_by_key")
    }

    /// For each key in either RDD, its values in `self` and in `other`.
    pub fn cogroup<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<(K, (Vec<V>, Vec<W>))> {
        self.cogroup_with_partitions(other, self.default_partitions(other.num_partitions()))
    }

    /// [`cogroup`](Self::cogroup) into `partitions` hash partitions.
    pub fn cogroup_with_partitions<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: usize,
    ) -> Rdd<(K, (Vec<V>, Vec<W>))> {
        self.cogroup_with_partitioner(other, HashPartitioner::new(partitions))
    }

    /// [`cogroup`](Self::cogroup) placed by `partitioner` (a custom key placement, or the
    /// partitioner of an RDD it meets again, so that neither side moves).
    pub fn cogroup_with_partitioner<W: Data, P: Partitioner<K>>(
        &self,
        other: &Rdd<(K, W)>,
        partitioner: P,
    ) -> Rdd<(K, (Vec<V>, Vec<W>))> {
        let placement = partitioner.placement();
        let placed = |r: Option<String>| placement.is_some() && r == placement;
        let merge = |it: crate::plumbing::BoxIter<'_, (K, Side<V, W>)>| {
            merge_by_key(
                it,
                |side| {
                    let mut acc = (Vec::new(), Vec::new());
                    push_side(&mut acc, side);
                    acc
                },
                |mut acc, side| {
                    push_side(&mut acc, side);
                    acc
                },
            )
        };
        let n = partitioner.num_partitions();
        let (left_placed, right_placed) = (
            placed(self.placement()) && self.num_partitions() == n,
            placed(other.placement()) && other.num_partitions() == n,
        );
        if !left_placed && !right_placed {
            // Both move: one shuffle of the union.
            let left = self.map_values(Side::<V, W>::Left);
            let right = other.map_values(Side::<V, W>::Right);
            return left
                .union(&right)
                .partition_by(partitioner)
                .map_partitions(merge)
                .set_name("cogroup")
                .placed_as(placement);
        }
        // A side already placed as the partitioner places keys stays where it is (as
        // Spark's CoGroupedRDD with a one-to-one dependency); only the other side moves.
        let partitioner = Arc::new(partitioner);
        let left = if left_placed {
            self.clone()
        } else {
            self.partition_by(partitioner.clone())
        };
        let right = if right_placed {
            other.clone()
        } else {
            other.partition_by(partitioner.clone())
        };
        left.zip_partitions(&right, move |l, r| {
            merge(Box::new(
                l.map(|(k, v)| (k, Side::Left(v)))
                    .chain(r.map(|(k, w)| (k, Side::Right(w)))),
            ))
        })
        .set_name("cogroup")
        .placed_as(placement)
    }

    /// Inner join: `(k, (v, w))` for every pair of values with the same key.
    ///
    /// ```
    /// use emberflow_core::Context;
    /// let ctx = Context::local(2);
    /// let a = ctx.parallelize(vec![(1, "x"), (2, "y")], 2);
    /// let b = ctx.parallelize(vec![(1, 10), (1, 11), (3, 30)], 2);
    /// let mut j = a.join(&b).collect()?;
    /// j.sort();
    /// assert_eq!(j, vec![(1, ("x", 10)), (1, ("x", 11))]);
    /// # Ok::<(), emberflow_core::Error>(())
    /// ```
    pub fn join<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<(K, (V, W))> {
        self.join_with_partitions(other, self.default_partitions(other.num_partitions()))
    }

    /// [`join`](Self::join) into `partitions` hash partitions.
    pub fn join_with_partitions<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: usize,
    ) -> Rdd<(K, (V, W))> {
        self.join_with_partitioner(other, HashPartitioner::new(partitions))
    }

    /// [`join`](Self::join) placed by `partitioner` (a custom key placement, or the
    /// partitioner of an RDD it meets again, so that neither side moves).
    pub fn join_with_partitioner<W: Data, P: Partitioner<K>>(
        &self,
        other: &Rdd<(K, W)>,
        partitioner: P,
    ) -> Rdd<(K, (V, W))> {
        self.cogroup_with_partitioner(other, partitioner)
            .flat_map_values(|(vs, ws)| {
                let mut out = Vec::with_capacity(vs.len() * ws.len());
                for v in &vs {
                    for w in &ws {
                        out.push((v.clone(), w.clone()));
                    }
                }
                out
            })
            .set_name("join")
    }

    /// Left outer join: every value of `self`, with `None` where `other` has no value.
    pub fn left_outer_join<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<(K, (V, Option<W>))> {
        self.left_outer_join_with_partitions(other, self.default_partitions(other.num_partitions()))
    }

    /// [`left_outer_join`](Self::left_outer_join) into `partitions` hash partitions.
    pub fn left_outer_join_with_partitions<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: usize,
    ) -> Rdd<(K, (V, Option<W>))> {
        self.left_outer_join_with_partitioner(other, HashPartitioner::new(partitions))
    }

    /// [`left_outer_join`](Self::left_outer_join) placed by `partitioner` (a custom key placement, or the
    /// partitioner of an RDD it meets again, so that neither side moves).
    pub fn left_outer_join_with_partitioner<W: Data, P: Partitioner<K>>(
        &self,
        other: &Rdd<(K, W)>,
        partitioner: P,
    ) -> Rdd<(K, (V, Option<W>))> {
        self.cogroup_with_partitioner(other, partitioner)
            .flat_map_values(|(vs, ws)| {
                let mut out = Vec::new();
                for v in &vs {
                    if ws.is_empty() {
                        out.push((v.clone(), None));
                    }
                    for w in &ws {
                        out.push((v.clone(), Some(w.clone())));
                    }
                }
                out
            })
            .set_name("left_outer_join")
    }

    /// Right outer join: every value of `other`, with `None` where `self` has no value.
    pub fn right_outer_join<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<(K, (Option<V>, W))> {
        self.right_outer_join_with_partitions(
            other,
            self.default_partitions(other.num_partitions()),
        )
    }

    /// [`right_outer_join`](Self::right_outer_join) into `partitions` hash partitions.
    pub fn right_outer_join_with_partitions<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: usize,
    ) -> Rdd<(K, (Option<V>, W))> {
        self.right_outer_join_with_partitioner(other, HashPartitioner::new(partitions))
    }

    /// [`right_outer_join`](Self::right_outer_join) placed by `partitioner` (a custom key placement, or the
    /// partitioner of an RDD it meets again, so that neither side moves).
    pub fn right_outer_join_with_partitioner<W: Data, P: Partitioner<K>>(
        &self,
        other: &Rdd<(K, W)>,
        partitioner: P,
    ) -> Rdd<(K, (Option<V>, W))> {
        self.cogroup_with_partitioner(other, partitioner)
            .flat_map_values(|(vs, ws)| {
                let mut out = Vec::new();
                for w in &ws {
                    if vs.is_empty() {
                        out.push((None, w.clone()));
                    }
                    for v in &vs {
                        out.push((Some(v.clone()), w.clone()));
                    }
                }
                out
            })
            .set_name("right_outer_join")
    }

    /// Full outer join: every value of both sides, with `None` where the other has none.
    pub fn full_outer_join<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
    ) -> Rdd<(K, (Option<V>, Option<W>))> {
        self.full_outer_join_with_partitions(other, self.default_partitions(other.num_partitions()))
    }

    /// [`full_outer_join`](Self::full_outer_join) into `partitions` hash partitions.
    pub fn full_outer_join_with_partitions<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: usize,
    ) -> Rdd<(K, (Option<V>, Option<W>))> {
        self.full_outer_join_with_partitioner(other, HashPartitioner::new(partitions))
    }

    /// [`full_outer_join`](Self::full_outer_join) placed by `partitioner` (a custom key placement, or the
    /// partitioner of an RDD it meets again, so that neither side moves).
    pub fn full_outer_join_with_partitioner<W: Data, P: Partitioner<K>>(
        &self,
        other: &Rdd<(K, W)>,
        partitioner: P,
    ) -> Rdd<(K, (Option<V>, Option<W>))> {
        self.cogroup_with_partitioner(other, partitioner)
            .flat_map_values(|(vs, ws)| {
                let mut out = Vec::new();
                if vs.is_empty() {
                    out.extend(ws.iter().map(|w| (None, Some(w.clone()))));
                } else if ws.is_empty() {
                    out.extend(vs.iter().map(|v| (Some(v.clone()), None)));
                } else {
                    for v in &vs {
                        for w in &ws {
                            out.push((Some(v.clone()), Some(w.clone())));
                        }
                    }
                }
                out
            })
            .set_name("full_outer_join")
    }

    /// The pairs of `self` whose key is not in `other`.
    pub fn subtract_by_key<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<(K, V)> {
        self.subtract_by_key_with_partitions(other, self.num_partitions().max(1))
    }

    /// [`subtract_by_key`](Self::subtract_by_key) into `partitions` hash partitions.
    pub fn subtract_by_key_with_partitions<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: usize,
    ) -> Rdd<(K, V)> {
        self.cogroup_with_partitions(other, partitions)
            .flat_map_values(|(vs, ws)| if ws.is_empty() { vs } else { Vec::new() })
            .set_name("subtract_by_key")
    }

    /// The number of pairs per key.
    pub fn count_by_key(&self) -> Result<HashMap<K, u64>> {
        self.map_values(|_| 1u64)
            .reduce_by_key(|a, b| a + b)
            .collect_as_map()
    }

    /// The pairs as a map; for a key that occurs more than once, the last value wins.
    pub fn collect_as_map(&self) -> Result<HashMap<K, V>> {
        Ok(self.collect()?.into_iter().collect())
    }

    /// The values of `key`.
    pub fn lookup(&self, key: &K) -> Result<Vec<V>> {
        let key = key.clone();
        self.filter(move |(k, _)| *k == key).values().collect()
    }
}

fn push_side<V, W>(acc: &mut (Vec<V>, Vec<W>), side: Side<V, W>) {
    match side {
        Side::Left(v) => acc.0.push(v),
        Side::Right(w) => acc.1.push(w),
    }
}
