//! Window operations (Spark's WindowedDStream and ReducedWindowedDStream). A window of
//! length `w` sliding by `s` holds, at batch time `t`, the parent's batches in `(t - w, t]`.
//! Both must be multiples of the parent's slide; `start()` says so otherwise.
//!
//! With an inverse function, the window is computed incrementally: the previous window's
//! values, minus (by the inverse) the batches that left, plus the batches that came. It is a
//! stateful stream: the window's values are held without lineage between batches.

use std::hash::Hash;
use std::sync::{Arc, Weak};
use std::time::Duration;

use emberflow_core::hash::StableHashMap;
use emberflow_core::{Data, HashPartitioner, Rdd};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::dstream::stateful::restores_into_memo;
use crate::dstream::window_check::{check_window, window_fingerprint};
use crate::dstream::{DStream, DStreamInner};
use crate::error::{Error, Result};
use crate::plumbing::{DStreamBase, DStreamNode};
use crate::state_store::StateStore;
use crate::time::Time;

/// The parent's RDDs at its batch times in `(from, to]`, oldest first.
fn slices<T: Data>(parent: &DStreamInner<T>, from: Time, to: Time) -> Result<Vec<Rdd<T>>> {
    let step = parent.slide();
    // No batch before the zero time: a 60-minute window over 20 ms batches would otherwise
    // ask for 180,000 batch times in its first hour.
    let from = parent.zero_time().map_or(from, |zero| from.max(zero));
    let mut times = Vec::new();
    let mut t = to;
    while t > from {
        times.push(t);
        t = t.saturating_sub(step);
    }
    let mut out = Vec::with_capacity(times.len());
    for t in times.into_iter().rev() {
        if let Some(r) = parent.get_or_compute(t)? {
            out.push(r);
        }
    }
    Ok(out)
}

/// Each batch's RDD of its parent, held in memory once a job computed it, with its lineage
/// let go (`Rdd::materialize_lazily`): what a window keeps of each batch is the batch's
/// reduced data, not the raw records it came from. Its parents remember only their own
/// batch; after a restart they recompute as far back as the window looks.
pub(crate) struct HeldDStream<T: 'static> {
    parent: Arc<DStreamInner<T>>,
}

impl<T: Data> DStreamNode<T> for HeldDStream<T> {
    fn kind(&self) -> &'static str {
        "held"
    }
    fn slide_duration(&self) -> Duration {
        self.parent.slide()
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        vec![self.parent.clone()]
    }
    fn parent_remember(&self, _own: Duration) -> Duration {
        self.parent.slide()
    }
    fn parent_recompute(&self, own: Duration) -> Duration {
        own
    }
    fn compute(&self, time: Time) -> Result<Option<Rdd<T>>> {
        Ok(self
            .parent
            .get_or_compute(time)?
            .map(|r| r.materialize_lazily()))
    }
}

impl<T: Data> DStream<T> {
    /// See [`HeldDStream`].
    pub(crate) fn held(&self) -> DStream<T> {
        DStream::from_node(
            &self.graph,
            HeldDStream {
                parent: self.inner.clone(),
            },
        )
    }
}

pub(crate) struct WindowedDStream<T: 'static> {
    parent: Arc<DStreamInner<T>>,
    window: Duration,
    slide: Duration,
}

impl<T: Data> DStreamNode<T> for WindowedDStream<T> {
    fn kind(&self) -> &'static str {
        "window"
    }
    fn slide_duration(&self) -> Duration {
        self.slide
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        vec![self.parent.clone()]
    }
    fn parent_remember(&self, own: Duration) -> Duration {
        own + self.window
    }
    fn fingerprint(&self) -> String {
        window_fingerprint("window", self.window, self.slide)
    }
    fn validate(&self, _batch: Duration) -> Result<()> {
        check_window(self.window, self.slide, self.parent.slide())
    }
    fn compute(&self, time: Time) -> Result<Option<Rdd<T>>> {
        let rdds = slices(&self.parent, time.saturating_sub(self.window), time)?;
        match rdds.first() {
            Some(r) => Ok(Some(r.context().union(&rdds))),
            None => Ok(None),
        }
    }
}

type Reduce<V> = Arc<dyn Fn(V, V) -> V + Send + Sync>;
type Keep<K, V> = Arc<dyn Fn(&(K, V)) -> bool + Send + Sync>;

pub(crate) struct ReducedWindowedDStream<K: 'static, V: 'static> {
    /// The parent reduced per batch.
    reduced: Arc<DStreamInner<(K, V)>>,
    reduce: Reduce<V>,
    inverse: Reduce<V>,
    keep: Option<Keep<K, V>>,
    window: Duration,
    slide: Duration,
    partitions: usize,
    store: StateStore,
    me: Weak<DStreamInner<(K, V)>>,
}

impl<K, V> ReducedWindowedDStream<K, V>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data + Serialize + DeserializeOwned,
{
    /// `slices` reduced into one value per key, placed by the window's partitioner.
    fn combined(&self, rdds: Vec<Rdd<(K, V)>>, ctx: &emberflow_core::Context) -> Rdd<(K, V)> {
        let f = self.reduce.clone();
        let all = if rdds.is_empty() {
            ctx.parallelize(Vec::new(), 1)
        } else {
            ctx.union(&rdds)
        };
        all.reduce_by_key_with_partitioner(
            move |a, b| f(a, b),
            HashPartitioner::new(self.partitions),
        )
    }
}

impl<K, V> DStreamNode<(K, V)> for ReducedWindowedDStream<K, V>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data + Serialize + DeserializeOwned,
{
    fn kind(&self) -> &'static str {
        "reduce_by_key_and_window_with_inverse"
    }
    fn slide_duration(&self) -> Duration {
        self.slide
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        vec![self.reduced.clone()]
    }
    fn parent_remember(&self, own: Duration) -> Duration {
        own + self.window + self.slide
    }
    fn parent_recompute(&self, own: Duration) -> Duration {
        (own + self.window + self.slide).max(self.store.interval() * 2 + self.window)
    }
    fn fingerprint(&self) -> String {
        window_fingerprint(self.kind(), self.window, self.slide)
    }
    /// The windowed reduction is this stream's own RDD of each batch; restored into its
    /// memo.
    fn state(&self) -> Option<&StateStore> {
        Some(&self.store)
    }
    fn validate(&self, _batch: Duration) -> Result<()> {
        check_window(self.window, self.slide, self.reduced.slide())
    }
    fn compute(&self, time: Time) -> Result<Option<Rdd<(K, V)>>> {
        let graph = self.store.services();
        let ctx = graph.ctx.clone();
        let zero = graph.zero_time().unwrap_or(Time::ZERO);
        let prev_time = time.saturating_sub(self.slide);
        let previous = if prev_time > zero {
            let me = self
                .me
                .upgrade()
                .ok_or_else(|| Error::IllegalState("window stream is gone".into()))?;
            me.get_or_compute(prev_time)?
        } else {
            None
        };
        let window = match previous {
            None => self.combined(
                slices(&self.reduced, time.saturating_sub(self.window), time)?,
                &ctx,
            ),
            Some(prev) => {
                // Leaving: batches in (prev - w, t - w]; arriving: batches in (prev, t].
                let old = self.combined(
                    slices(
                        &self.reduced,
                        prev_time.saturating_sub(self.window),
                        time.saturating_sub(self.window),
                    )?,
                    &ctx,
                );
                let new = self.combined(slices(&self.reduced, prev_time, time)?, &ctx);
                let (f, inv) = (self.reduce.clone(), self.inverse.clone());
                let minus = prev.zip_partitions(&old, move |p, o| {
                    let mut m: StableHashMap<K, V> = p.collect();
                    for (k, ov) in o {
                        if let Some(v) = m.remove(&k) {
                            let nv = inv(v, ov);
                            m.insert(k, nv);
                        }
                    }
                    m
                });
                minus.zip_partitions(&new, move |p, n| {
                    let mut m: StableHashMap<K, V> = p.collect();
                    for (k, nv) in n {
                        let v = match m.remove(&k) {
                            Some(v) => f(v, nv),
                            None => nv,
                        };
                        m.insert(k, v);
                    }
                    m
                })
            }
        };
        let window = match &self.keep {
            Some(keep) => {
                let keep = keep.clone();
                window.filter(move |kv| keep(kv))
            }
            None => window,
        };
        Ok(Some(self.store.truncate(window, time)?))
    }
}

impl<T: Data> DStream<T> {
    /// The records of the batches in the last `window`, every `slide` (both multiples of
    /// this stream's slide).
    pub fn window(&self, window: Duration, slide: Duration) -> DStream<T> {
        DStream::from_node(
            &self.graph,
            WindowedDStream {
                parent: self.inner.clone(),
                window,
                slide,
            },
        )
    }

    /// The number of records in each window (0 for an empty window).
    pub fn count_by_window(&self, window: Duration, slide: Duration) -> DStream<u64> {
        self.window(window, slide).count()
    }

    /// Each window reduced to one record with `f` (no record for an empty window).
    pub fn reduce_by_window<F>(&self, f: F, window: Duration, slide: Duration) -> DStream<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let g = f.clone();
        self.reduce(move |a, b| f(a, b))
            .window(window, slide)
            .reduce(move |a, b| g(a, b))
    }
}

impl<T: Data + Serialize + DeserializeOwned> DStream<T> {
    /// [`reduce_by_window`](Self::reduce_by_window) computed incrementally with `inverse`
    /// (`inverse(f(a, b), b) == a`).
    pub fn reduce_by_window_with_inverse<F, G>(
        &self,
        f: F,
        inverse: G,
        window: Duration,
        slide: Duration,
    ) -> DStream<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
        G: Fn(T, T) -> T + Send + Sync + 'static,
    {
        self.map(|x| (0u8, x))
            .reduce_by_key_and_window_with_inverse_with_partitions(
                f,
                inverse,
                window,
                slide,
                1,
                None::<fn(&(u8, T)) -> bool>,
            )
            .map(|(_, v)| v)
    }
}

impl<T: Data + Hash + Eq + Serialize + DeserializeOwned> DStream<T> {
    /// How often each distinct record occurs in each window (incremental; counts that drop
    /// to zero disappear).
    pub fn count_by_value_and_window(
        &self,
        window: Duration,
        slide: Duration,
    ) -> DStream<(T, u64)> {
        let n = self.graph.ctx.default_parallelism();
        self.map(|x| (x, 1u64))
            .reduce_by_key_and_window_with_inverse_with_partitions(
                |a, b| a + b,
                |a, b| a - b,
                window,
                slide,
                n,
                Some(|kv: &(T, u64)| kv.1 != 0),
            )
    }
}

impl<K: Data + Hash + Eq, V: Data> DStream<(K, V)> {
    /// The values of each key over each window, merged with `f`.
    pub fn reduce_by_key_and_window<F>(
        &self,
        f: F,
        window: Duration,
        slide: Duration,
    ) -> DStream<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        let n = self.graph.ctx.default_parallelism();
        self.reduce_by_key_and_window_with_partitions(f, window, slide, n)
    }

    /// [`reduce_by_key_and_window`](Self::reduce_by_key_and_window) into `partitions`
    /// partitions.
    pub fn reduce_by_key_and_window_with_partitions<F>(
        &self,
        f: F,
        window: Duration,
        slide: Duration,
        partitions: usize,
    ) -> DStream<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        // As Spark: reduce each batch first, then the window. Each batch's reduction is held
        // in memory once the first window computed it, with its lineage (the batch's raw
        // records, the shuffle) let go: a long window keeps reduced data only.
        let f = Arc::new(f);
        let g = f.clone();
        self.reduce_by_key_with_partitions(move |a, b| f(a, b), partitions)
            .held()
            .window(window, slide)
            .reduce_by_key_with_partitions(move |a, b| g(a, b), partitions)
    }

    /// The values of each key over each window.
    pub fn group_by_key_and_window(
        &self,
        window: Duration,
        slide: Duration,
    ) -> DStream<(K, Vec<V>)> {
        self.window(window, slide).group_by_key()
    }

    /// [`group_by_key_and_window`](Self::group_by_key_and_window) into `partitions`
    /// partitions.
    pub fn group_by_key_and_window_with_partitions(
        &self,
        window: Duration,
        slide: Duration,
        partitions: usize,
    ) -> DStream<(K, Vec<V>)> {
        self.window(window, slide)
            .group_by_key_with_partitions(partitions)
    }
}

impl<K, V> DStream<(K, V)>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data + Serialize + DeserializeOwned,
{
    /// The values of each key over each window, computed incrementally: `reduce` adds the
    /// batches entering the window, `inverse` takes out those leaving it
    /// (`inverse(reduce(a, b), b) == a`). Keys stay (e.g. with a zero) unless `keep` drops
    /// them. The cost per slide does not grow with the window length.
    ///
    /// ```
    /// use emberflow_streaming::{testing::run_batches_with, DStream};
    /// use std::time::Duration;
    /// let s = Duration::from_secs(1);
    /// let out = run_batches_with(s, vec![vec![('a', 1)], vec![('a', 2)], vec![('a', 4)]], |d: DStream<(char, i64)>| {
    ///     d.reduce_by_key_and_window_with_inverse(|a, b| a + b, |a, b| a - b, 2 * s, s, Some(|kv: &(char, i64)| kv.1 != 0))
    /// }, 4)?;
    /// assert_eq!(out, vec![vec![('a', 1)], vec![('a', 3)], vec![('a', 6)], vec![('a', 4)]]);
    /// # Ok::<(), emberflow_streaming::Error>(())
    /// ```
    pub fn reduce_by_key_and_window_with_inverse<F, G, P>(
        &self,
        reduce: F,
        inverse: G,
        window: Duration,
        slide: Duration,
        keep: Option<P>,
    ) -> DStream<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
        G: Fn(V, V) -> V + Send + Sync + 'static,
        P: Fn(&(K, V)) -> bool + Send + Sync + 'static,
    {
        let n = self.graph.ctx.default_parallelism();
        self.reduce_by_key_and_window_with_inverse_with_partitions(
            reduce, inverse, window, slide, n, keep,
        )
    }

    /// [`reduce_by_key_and_window_with_inverse`](Self::reduce_by_key_and_window_with_inverse)
    /// into `partitions` partitions.
    pub fn reduce_by_key_and_window_with_inverse_with_partitions<F, G, P>(
        &self,
        reduce: F,
        inverse: G,
        window: Duration,
        slide: Duration,
        partitions: usize,
        keep: Option<P>,
    ) -> DStream<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
        G: Fn(V, V) -> V + Send + Sync + 'static,
        P: Fn(&(K, V)) -> bool + Send + Sync + 'static,
    {
        let reduce: Reduce<V> = Arc::new(reduce);
        // In a group-partitioned job: each input partition's window apart, checkpointed with
        // the partition.
        if let Some(group) = self.graph.services.group.get().cloned() {
            let spec = crate::dstream::group_window::WindowSpec {
                reduce,
                inverse: Arc::new(inverse),
                keep: keep.map(|k| Arc::new(k) as Keep<K, V>),
                window,
                slide,
            };
            let node = crate::dstream::group_window::GroupWindowNode::new(
                self.inner.clone(),
                spec,
                group,
                self.graph.services.clone(),
            );
            return DStream::from_node(&self.graph, node);
        }
        let r = reduce.clone();
        let reduced = self.reduce_by_key_with_partitions(move |a, b| r(a, b), partitions);
        let store = StateStore::new(
            self.graph.services.clone(),
            slide,
            "reduce_by_key_and_window_with_inverse",
        );
        let keep: Option<Keep<K, V>> = keep.map(|k| Arc::new(k) as Keep<K, V>);
        DStream::from_node_with(&self.graph, |_, me| {
            restores_into_memo(&store, me.clone());
            ReducedWindowedDStream {
                reduced: reduced.inner.clone(),
                reduce,
                inverse: Arc::new(inverse),
                keep,
                window,
                slide,
                partitions: partitions.max(1),
                store,
                me,
            }
        })
    }
}
