//! The stream `map_with_state` returns, its state snapshots, and the constructors on pair
//! streams and event streams' records.

use std::collections::BTreeMap;
use std::hash::Hash;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::{Data, HashPartitioner, Rdd};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{EventTimeHook, MapWithStateNode, Shared, StatePartition};
use crate::dstream::state_spec::StateSpec;
use crate::dstream::stateful::LateRdd;
use crate::dstream::{DStream, DStreamInner};
use crate::error::{Error, Result};
use crate::plumbing::{DStreamBase, DStreamNode};
use crate::state_store::StateStore;
use crate::time::Time;

struct SnapshotNode<K: 'static, V: 'static, S: 'static, U: 'static> {
    mapped: Arc<DStreamInner<U>>,
    shared: Arc<Shared<K, V, S, U>>,
}

impl<K, V, S, U> DStreamNode<(K, S)> for SnapshotNode<K, V, S, U>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data,
    S: Data + Serialize + DeserializeOwned,
    U: Data,
{
    fn kind(&self) -> &'static str {
        "state_snapshots"
    }
    fn slide_duration(&self) -> Duration {
        self.mapped.slide()
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        vec![self.mapped.clone()]
    }
    fn compute(&self, time: Time) -> Result<Option<Rdd<(K, S)>>> {
        if self.mapped.get_or_compute(time)?.is_none() {
            return Ok(None);
        }
        let slot = self
            .shared
            .snapshots
            .lock()
            .get(&time)
            .cloned()
            .ok_or_else(|| {
                Error::IllegalState(format!(
                    "no state snapshot was kept for batch {time}; this is a bug"
                ))
            })?;
        let graph = self.shared.store.services();
        Ok(Some(LateRdd::rdd(
            &graph.ctx,
            "state_snapshots",
            time,
            self.shared.parts.len(),
            slot,
        )))
    }
}

/// The stream `map_with_state` returns: the mapped records (it derefs to a `DStream<U>`), and
/// the state itself through [`state_snapshots`](MapWithStateDStream::state_snapshots).
pub struct MapWithStateDStream<K: 'static, V: 'static, S: 'static, U: 'static> {
    stream: DStream<U>,
    shared: Arc<Shared<K, V, S, U>>,
}

/// The mapped records as a plain stream (`let s: DStream<U> = mapped.into();`).
impl<K, V, S, U> From<MapWithStateDStream<K, V, S, U>> for DStream<U> {
    fn from(m: MapWithStateDStream<K, V, S, U>) -> DStream<U> {
        m.stream
    }
}

impl<K, V, S, U> Deref for MapWithStateDStream<K, V, S, U> {
    type Target = DStream<U>;
    fn deref(&self) -> &DStream<U> {
        &self.stream
    }
}

impl<K, V, S, U> MapWithStateDStream<K, V, S, U>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data,
    S: Data + Serialize + DeserializeOwned,
    U: Data,
{
    /// The whole state after every batch, as `(key, state)` records. Copies the state each
    /// batch: use it for monitoring and checks, not on a hot path.
    pub fn state_snapshots(&self) -> DStream<(K, S)> {
        self.shared
            .snapshots_wanted
            .store(true, std::sync::atomic::Ordering::SeqCst);
        DStream::from_node(
            &self.stream.graph,
            SnapshotNode {
                mapped: self.stream.inner.clone(),
                shared: self.shared.clone(),
            },
        )
    }

    /// The mapped records as a plain stream handle.
    pub fn stream(&self) -> DStream<U> {
        self.stream.clone()
    }
}

impl<K, V> DStream<(K, V)>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data,
{
    /// Keeps a state per key and maps each record with it (Spark's `mapWithState`), at a
    /// cost per batch proportional to the batch, not to the state.
    ///
    /// ```
    /// use emberflow_streaming::{testing::BatchRunner, State, StateSpec, Time};
    /// use std::time::Duration;
    /// let runner = BatchRunner::new(Duration::from_secs(1));
    /// let amounts = runner.queue_input::<(u64, f64), (u64, f64)>(vec![vec![(1, 2.0)], vec![(1, 3.0), (2, 1.0)]]);
    /// let spec = StateSpec::function(|_t: Time, key: &u64, value: Option<f64>, state: &mut State<f64>| {
    ///     let total = value.unwrap_or(0.0) + state.get().copied().unwrap_or(0.0);
    ///     state.update(total);
    ///     Some((*key, total))
    /// });
    /// let mapped = amounts.map_with_state(spec);
    /// let totals = runner.collect(&mapped);
    /// runner.run(2)?;
    /// let mut second = totals.batches()[1].clone();
    /// second.sort_by(|a, b| a.0.cmp(&b.0));
    /// assert_eq!(second, vec![(1, 5.0), (2, 1.0)]);
    /// # Ok::<(), emberflow_streaming::Error>(())
    /// ```
    pub fn map_with_state<S, U>(
        &self,
        spec: StateSpec<K, V, S, U>,
    ) -> MapWithStateDStream<K, V, S, U>
    where
        S: Data + Serialize + DeserializeOwned,
        U: Data,
    {
        self.map_with_state_on(spec, None)
    }

    /// `map_with_state`, with the watermark of an event stream when it reads one.
    pub(crate) fn map_with_state_on<S, U>(
        &self,
        spec: StateSpec<K, V, S, U>,
        event_time: Option<EventTimeHook<K, V>>,
    ) -> MapWithStateDStream<K, V, S, U>
    where
        S: Data + Serialize + DeserializeOwned,
        U: Data,
    {
        let partitioner = spec.partitioner.unwrap_or_else(|| {
            Arc::new(HashPartitioner::new(self.graph.ctx.default_parallelism()))
        });
        // In a group-partitioned job the state is kept per input partition (a key's records
        // are all in its partition): one state partition per partition of the topic.
        let group = self.graph.services.group.get().cloned();
        let n = match &group {
            Some(g) => g.slots().max(1),
            None => partitioner.num_partitions(),
        };
        let shared = Arc::new(Shared {
            func: spec.func,
            partitioner,
            timeout: spec.timeout,
            parts: (0..n)
                .map(|_| Mutex::new(StatePartition::default()))
                .collect(),
            initial: Mutex::new(spec.initial),
            snapshots_wanted: std::sync::atomic::AtomicBool::new(false),
            snapshots: Mutex::new(BTreeMap::new()),
            // On an event stream the state travels inline in the metadata checkpoint.
            store: if event_time.is_some() {
                StateStore::inline(
                    self.graph.services.clone(),
                    self.inner.slide(),
                    "map_with_state",
                )
            } else {
                StateStore::new(
                    self.graph.services.clone(),
                    self.inner.slide(),
                    "map_with_state",
                )
            },
            applied_through: Mutex::new(None),
            batch_updates: std::sync::atomic::AtomicU64::new(0),
            event_time,
            inline: std::sync::OnceLock::new(),
        });
        if let Some(g) = &group {
            g.register_state(&shared);
        }
        // At a restart: the newest state written before the first batch run again; the
        // batches after it are replayed by that batch's update.
        let weak = Arc::downgrade(&shared);
        shared
            .store
            .on_restore(move |states: Vec<(Time, Rdd<(K, S)>)>| {
                let Some(shared) = weak.upgrade() else {
                    return Ok(());
                };
                let first = shared.store.services().first_batch();
                shared.reset_to(
                    states
                        .into_iter()
                        .rev()
                        .find(|(t, _)| first.is_none_or(|f| *t < f)),
                )
            });
        let stream = DStream::from_node(
            &self.graph,
            MapWithStateNode {
                parent: self.inner.clone(),
                shared: shared.clone(),
            },
        );
        MapWithStateDStream { stream, shared }
    }
}

impl<K, V> DStream<(K, V)>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data,
{
    /// `map_with_state` on the records of an event stream: the watermark times states out,
    /// and the state travels inline in every metadata checkpoint with it.
    pub(crate) fn map_with_state_on_events<S, U>(
        &self,
        spec: StateSpec<K, V, S, U>,
        watermark: Arc<crate::dstream::event_time::Watermark>,
        time_of: crate::dstream::event_time::TimeOf<(K, V)>,
    ) -> MapWithStateDStream<K, V, S, U>
    where
        S: Data + Serialize + DeserializeOwned,
        U: Data + Serialize + DeserializeOwned,
    {
        let out = self.map_with_state_on(spec, Some((watermark.clone(), time_of)));
        let inline = super::event_time::inline(&out.shared, watermark.clone(), self.inner.slide());
        let _ = out.shared.inline.set(inline);
        watermark.add_replayer(crate::dstream::event_time::replayer(&out.stream));
        out
    }
}
