//! `update_state_by_key` (Spark's StateDStream): every batch, the update function runs for
//! every key in the state and every key in the batch, as Spark does. The state is placed by a
//! stable hash partitioner, so only the batch's records are shuffled; the previous state is
//! joined partition by partition.

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::{Data, HashPartitioner, Partitioner, Rdd};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::dstream::stateful::{group, restores_into_memo, PartitionUpdate};
use crate::dstream::{DStream, DStreamInner};
use crate::error::Result;
use crate::plumbing::{DStreamBase, DStreamNode};
use crate::state_store::StateStore;
use crate::time::Time;

/// A whole-partition update: every `(key, new values, previous state)` of one partition in,
/// the new state out.
pub(crate) struct StateDStream<K: 'static, V: 'static, S: 'static> {
    parent: Arc<DStreamInner<(K, V)>>,
    update: Arc<PartitionUpdate<K, V, S>>,
    partitioner: Arc<dyn Partitioner<K>>,
    initial: Option<Rdd<(K, S)>>,
    pub(crate) store: StateStore,
    me: std::sync::Weak<DStreamInner<(K, S)>>,
}

impl<K, V, S> DStreamNode<(K, S)> for StateDStream<K, V, S>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data,
    S: Data + Serialize + DeserializeOwned,
{
    fn kind(&self) -> &'static str {
        "update_state_by_key"
    }
    fn slide_duration(&self) -> Duration {
        self.parent.slide()
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        vec![self.parent.clone()]
    }
    /// The state is this stream's own RDD of each batch; restored into its memo.
    fn state(&self) -> Option<&StateStore> {
        Some(&self.store)
    }
    fn compute(&self, time: Time) -> Result<Option<Rdd<(K, S)>>> {
        let graph = self.store.services();
        let ctx = graph.ctx.clone();
        let zero = graph.zero_time().unwrap_or(Time::ZERO);
        let slide = self.parent.slide();
        let partitioner = self.partitioner.clone();
        let partitions = partitioner.num_partitions();
        let prev: Rdd<(K, S)> = if time.saturating_sub(slide) > zero {
            let me = self
                .me
                .upgrade()
                .ok_or_else(|| crate::error::Error::IllegalState("state stream is gone".into()))?;
            match me.get_or_compute(time - slide)? {
                Some(r) => r,
                None => ctx.parallelize(Vec::new(), partitions),
            }
        } else {
            match &self.initial {
                Some(init) => init.partition_by(partitioner.clone()),
                None => ctx.parallelize(Vec::new(), partitions),
            }
        };
        let batch = self
            .parent
            .get_or_compute(time)?
            .unwrap_or_else(|| ctx.empty())
            .partition_by(partitioner);
        let update = self.update.clone();
        let next = prev.zip_partitions(&batch, move |state, batch| {
            let mut fresh = group(batch);
            let mut rows: Vec<(K, Vec<V>, Option<S>)> = Vec::new();
            for (k, s) in state {
                // Most state keys have no new values: skip the map when it is empty.
                let vs = if fresh.is_empty() {
                    Vec::new()
                } else {
                    fresh.remove(&k).unwrap_or_default()
                };
                rows.push((k, vs, Some(s)));
            }
            // New keys in arrival order would need a second structure; sort-free order from
            // the map is deterministic for a given input, which is what recovery needs.
            rows.extend(fresh.into_iter().map(|(k, vs)| (k, vs, None)));
            update(time, Box::new(rows.into_iter()))
        });
        // Each state partition was computed from the state and the batch placed alike.
        let next = next.placed_as(self.partitioner.placement());
        Ok(Some(self.store.truncate(next, time)?))
    }
}

impl<K, V> DStream<(K, V)>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data,
{
    /// Keeps a state per key across batches (Spark's `updateStateByKey`): every batch, `f`
    /// gets the key's new values (maybe none) and its previous state (maybe none), and returns
    /// the new state; `None` removes the key. `f` runs for every key in the state every batch.
    ///
    /// ```
    /// use emberflow_streaming::{testing::run_batches, DStream};
    /// let out = run_batches(
    ///     vec![vec![(1u32, 1.0)], vec![(1, 2.0), (2, 5.0)]],
    ///     |s: DStream<(u32, f64)>| s.update_state_by_key(|vals: &[f64], total: Option<f64>| {
    ///         Some(total.unwrap_or(0.0) + vals.iter().sum::<f64>())
    ///     }),
    ///     2,
    /// )?;
    /// let mut last = out[1].clone();
    /// last.sort_by(|a, b| a.0.cmp(&b.0));
    /// assert_eq!(last, vec![(1, 3.0), (2, 5.0)]);
    /// # Ok::<(), emberflow_streaming::Error>(())
    /// ```
    ///
    /// # Spark
    /// The state is placed by emberflow's stable hash partitioner (default: as many partitions
    /// as the context's default parallelism), so only each batch's records are shuffled.
    pub fn update_state_by_key<S, F>(&self, f: F) -> DStream<(K, S)>
    where
        S: Data + Serialize + DeserializeOwned,
        F: Fn(&[V], Option<S>) -> Option<S> + Send + Sync + 'static,
    {
        let n = self.graph.ctx.default_parallelism();
        self.update_state_by_key_with_partitions(f, n)
    }

    /// [`update_state_by_key`](Self::update_state_by_key) with the state in `partitions`
    /// partitions.
    pub fn update_state_by_key_with_partitions<S, F>(
        &self,
        f: F,
        partitions: usize,
    ) -> DStream<(K, S)>
    where
        S: Data + Serialize + DeserializeOwned,
        F: Fn(&[V], Option<S>) -> Option<S> + Send + Sync + 'static,
    {
        self.update_state_by_key_with_initial(f, partitions, None)
    }

    /// [`update_state_by_key`](Self::update_state_by_key) starting from `initial` state.
    pub fn update_state_by_key_with_initial<S, F>(
        &self,
        f: F,
        partitions: usize,
        initial: Option<Rdd<(K, S)>>,
    ) -> DStream<(K, S)>
    where
        S: Data + Serialize + DeserializeOwned,
        F: Fn(&[V], Option<S>) -> Option<S> + Send + Sync + 'static,
    {
        self.update_state_by_key_with_partitioner(
            f,
            HashPartitioner::new(partitions.max(1)),
            initial,
        )
    }

    /// The most general form (Spark's iterator form): `f` gets the batch time and every
    /// `(key, new values, previous state)` of a partition, and returns the new state of that
    /// partition; it sees the keys and may emit states for other keys (they should hash to the
    /// same partition to be found there next batch).
    pub fn update_state_by_key_iter<S, F>(
        &self,
        f: F,
        partitions: usize,
        initial: Option<Rdd<(K, S)>>,
    ) -> DStream<(K, S)>
    where
        S: Data + Serialize + DeserializeOwned,
        F: Fn(Time, Box<dyn Iterator<Item = (K, Vec<V>, Option<S>)> + '_>) -> Vec<(K, S)>
            + Send
            + Sync
            + 'static,
    {
        self.state_stream(
            f,
            Arc::new(HashPartitioner::new(partitions.max(1))),
            initial,
        )
    }

    /// [`update_state_by_key`](Self::update_state_by_key) with the state placed by
    /// `partitioner` (Spark's form with a `Partitioner`), optionally starting from `initial`.
    ///
    /// ```
    /// use emberflow_core::HashPartitioner;
    /// use emberflow_streaming::testing::run_batches;
    /// let out = run_batches(
    ///     vec![vec![('a', 1)], vec![('a', 2)]],
    ///     |s| s.update_state_by_key_with_partitioner(
    ///         |vs: &[i32], st: Option<i32>| Some(st.unwrap_or(0) + vs.iter().sum::<i32>()),
    ///         HashPartitioner::new(3),
    ///         None,
    ///     ),
    ///     2,
    /// )?;
    /// assert_eq!(out, vec![vec![('a', 1)], vec![('a', 3)]]);
    /// # Ok::<(), emberflow_streaming::Error>(())
    /// ```
    pub fn update_state_by_key_with_partitioner<S, F, P>(
        &self,
        f: F,
        partitioner: P,
        initial: Option<Rdd<(K, S)>>,
    ) -> DStream<(K, S)>
    where
        S: Data + Serialize + DeserializeOwned,
        F: Fn(&[V], Option<S>) -> Option<S> + Send + Sync + 'static,
        P: Partitioner<K>,
    {
        self.state_stream(
            move |_time, rows| {
                rows.filter_map(|(k, vs, s)| f(&vs, s).map(|s| (k, s)))
                    .collect()
            },
            Arc::new(partitioner),
            initial,
        )
    }

    fn state_stream<S, F>(
        &self,
        f: F,
        partitioner: Arc<dyn Partitioner<K>>,
        initial: Option<Rdd<(K, S)>>,
    ) -> DStream<(K, S)>
    where
        S: Data + Serialize + DeserializeOwned,
        F: Fn(Time, Box<dyn Iterator<Item = (K, Vec<V>, Option<S>)> + '_>) -> Vec<(K, S)>
            + Send
            + Sync
            + 'static,
    {
        // In a group-partitioned job: the state per input partition, checkpointed with it.
        if let Some(group) = self.graph.services.group.get().cloned() {
            let node = crate::dstream::group_state::GroupStateNode::new(
                self.inner.clone(),
                Arc::new(f),
                group,
                self.graph.services.clone(),
            );
            if initial.is_some() {
                log::warn!(
                    "update_state_by_key in a group-partitioned job: the initial state is not used (state comes from each partition's checkpoint)"
                );
            }
            return DStream::from_node(&self.graph, node);
        }
        let store = StateStore::new(
            self.graph.services.clone(),
            self.inner.slide(),
            "update_state_by_key",
        );
        let parent = self.inner.clone();
        DStream::from_node_with(&self.graph, |_, me| {
            restores_into_memo(&store, me.clone());
            StateDStream {
                parent,
                update: Arc::new(f),
                partitioner,
                initial,
                store,
                me,
            }
        })
    }
}
