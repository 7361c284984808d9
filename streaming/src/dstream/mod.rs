//! [`DStream`]: a handle to a node of the DStream graph. The base memoises one RDD per batch
//! time, forgets it after the remember duration, and persists it when asked; node kinds only
//! compute.

pub(crate) mod counted;
pub(crate) mod event_time;
pub(crate) mod file_input;
pub(crate) mod group_state;
pub(crate) mod group_window;
pub(crate) mod json_input;
pub(crate) mod map_with_state;
pub(crate) mod ops;
pub(crate) mod output;
pub(crate) mod pair;
pub(crate) mod queue_input;
pub(crate) mod receiver_input;
pub(crate) mod state;
pub(crate) mod state_spec;
pub(crate) mod stateful;
pub(crate) mod transformed;
pub(crate) mod window_check;
pub(crate) mod windowed;

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use emberflow_core::{Context, Data, Rdd};
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::plumbing::{DStreamBase, DStreamNode};
use crate::time::Time;

type Persist<T> = Arc<dyn Fn(&Rdd<T>) + Send + Sync>;

pub(crate) struct DStreamInner<T: 'static> {
    id: usize,
    node: Box<dyn DStreamNode<T>>,
    graph: Weak<Graph>,
    generated: Mutex<BTreeMap<Time, Option<Rdd<T>>>>,
    persist: Mutex<Option<Persist<T>>>,
    remember: Mutex<Option<Duration>>,
}

impl<T: Data> DStreamInner<T> {
    /// The RDD of the batch at `time`: memoised, computed on first request, `None` when
    /// `time` is not one of this stream's batch times.
    pub(crate) fn get_or_compute(&self, time: Time) -> Result<Option<Rdd<T>>> {
        if let Some(r) = self.generated.lock().get(&time) {
            return Ok(r.clone());
        }
        let graph = self.graph.upgrade().ok_or_else(|| {
            Error::IllegalState("the StreamingContext of this DStream is gone".into())
        })?;
        let Some(zero) = graph.zero_time() else {
            return Err(Error::IllegalState(
                "the StreamingContext has not started; start() it before asking for RDDs".into(),
            ));
        };
        let slide = self.node.slide_duration();
        if time <= zero
            || !Time::from_millis((time - zero).as_millis() as u64).is_multiple_of(slide)
        {
            return Ok(None);
        }
        // Computed without the lock: a stateful node reads its own earlier batches.
        let rdd = self.node.compute(time)?;
        if let (Some(r), Some(p)) = (&rdd, self.persist.lock().clone()) {
            p(r);
        }
        self.generated.lock().insert(time, rdd.clone());
        Ok(rdd)
    }

    pub(crate) fn slide(&self) -> Duration {
        self.node.slide_duration()
    }

    /// The zero time of the stream's context, once started.
    pub(crate) fn zero_time(&self) -> Option<Time> {
        self.graph.upgrade().and_then(|g| g.zero_time())
    }
}

impl<T: Data> crate::plumbing::ParentStream<T> for DStreamInner<T> {
    fn rdd_at(&self, time: Time) -> Result<Option<Rdd<T>>> {
        self.get_or_compute(time)
    }
    fn as_base(self: Arc<Self>) -> Arc<dyn DStreamBase> {
        self
    }
    fn services(&self) -> Option<Arc<crate::services::Services>> {
        self.graph.upgrade().map(|g| g.services.clone())
    }
}

impl<T: Data> crate::plumbing::AsParent<T> for DStream<T> {
    fn as_parent(&self) -> crate::plumbing::Parent<T> {
        crate::plumbing::Parent::new(self.inner.clone())
    }
}

impl<T: Data> DStreamBase for DStreamInner<T> {
    fn id(&self) -> usize {
        self.id
    }
    fn kind(&self) -> &'static str {
        self.node.kind()
    }
    fn slide_duration(&self) -> Duration {
        self.node.slide_duration()
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        self.node.dependencies()
    }
    fn validate(&self, batch_interval: Duration) -> Result<()> {
        self.node.validate(batch_interval)?;
        match self.node.state() {
            Some(state) => state.validate(),
            None => Ok(()),
        }
    }
    fn remember_duration(&self) -> Duration {
        self.remember
            .lock()
            .unwrap_or_else(|| self.node.slide_duration())
    }
    fn require_remember(&self, d: Duration) -> bool {
        let mut r = self.remember.lock();
        let slide = self.node.slide_duration();
        match *r {
            None => {
                *r = Some(d.max(slide));
                self.node.set_remember_duration(d.max(slide));
                true
            }
            Some(cur) if d > cur => {
                *r = Some(d);
                self.node.set_remember_duration(d);
                true
            }
            Some(_) => false,
        }
    }
    fn parent_remember(&self, own: Duration) -> Duration {
        self.node.parent_remember(own)
    }
    fn parent_recompute(&self, own: Duration) -> Duration {
        let needed = self.node.parent_recompute(own);
        // After a restart the batches since the last written state are recomputed from the
        // parents' input: their sources keep two checkpoint intervals of it (as Spark does).
        // Within a run a state needs only its parents' current batch, so their memos do not
        // hold that long (raw records of 20 s of small batches would).
        match self.node.state() {
            Some(state) => needed.max(state.interval() * 2),
            None => needed,
        }
    }
    fn forget(&self, time: Time) {
        let keep_after = time.saturating_sub(self.remember_duration());
        let old: Vec<Option<Rdd<T>>> = {
            let mut g = self.generated.lock();
            let keep = g.split_off(&(keep_after + Duration::from_millis(1)));
            std::mem::replace(&mut *g, keep).into_values().collect()
        };
        // Dropped outside the lock: freeing lineages and shuffle outputs can take a while.
        drop(old);
    }
    fn generated_times(&self) -> Vec<Time> {
        self.generated.lock().keys().copied().collect()
    }
    fn fingerprint(&self) -> String {
        self.node.fingerprint()
    }
    fn checkpoint_data(&self) -> Result<Option<Vec<u8>>> {
        match self.node.state() {
            Some(state) if !state.is_inline() => state.encode(),
            _ => self.node.checkpoint_data(),
        }
    }
    fn data_paths(&self) -> Vec<std::path::PathBuf> {
        let mut paths = self.node.data_paths();
        if let Some(state) = self.node.state() {
            paths.extend(state.paths());
        }
        paths
    }
    fn restore(&self, data: &[u8]) -> Result<()> {
        match self.node.state() {
            Some(state) if !state.is_inline() => state.restore(data),
            _ => self.node.restore(data),
        }
    }
    fn state_metrics(&self) -> Option<crate::state_store::StateMetrics> {
        self.node.state().map(|s| s.metrics())
    }
}

impl<T: Data> DStreamInner<T> {
    /// Puts a recovered RDD in the memo for `time` (restored state).
    pub(crate) fn restore_rdd(&self, time: Time, rdd: Rdd<T>) {
        self.generated.lock().insert(time, Some(rdd));
    }
}

/// A discretized stream: one RDD per batch interval (Spark's DStream).
///
/// Cheap to clone. Transformations build new streams; output operations (`print`,
/// `foreach_rdd`, `save_as_text_files`) register work to run every batch.
pub struct DStream<T: 'static> {
    pub(crate) inner: Arc<DStreamInner<T>>,
    pub(crate) graph: Arc<Graph>,
}

impl<T: 'static> Clone for DStream<T> {
    fn clone(&self) -> Self {
        DStream {
            inner: self.inner.clone(),
            graph: self.graph.clone(),
        }
    }
}

impl<T: Data> DStream<T> {
    /// Adds a node to the graph and returns its handle. For implementers of new kinds.
    pub(crate) fn from_node(graph: &Arc<Graph>, node: impl DStreamNode<T>) -> DStream<T> {
        Self::from_node_with(graph, |_, _| node)
    }

    /// Like `from_node`, for nodes that need their own stream id, or a weak handle to their
    /// own memo (stateful nodes read their previous batch).
    pub(crate) fn from_node_with<N: DStreamNode<T>>(
        graph: &Arc<Graph>,
        make: impl FnOnce(usize, Weak<DStreamInner<T>>) -> N,
    ) -> DStream<T> {
        let id = graph.new_id();
        let inner = Arc::new_cyclic(|me| DStreamInner {
            id,
            node: Box::new(make(id, me.clone())),
            graph: Arc::downgrade(graph),
            generated: Mutex::new(BTreeMap::new()),
            persist: Mutex::new(None),
            remember: Mutex::new(None),
        });
        graph.add_node(inner.clone());
        DStream {
            inner,
            graph: graph.clone(),
        }
    }

    /// Like `from_source`, for sources that need their stream's id (receivers report it).
    pub(crate) fn from_source_with<S: crate::plumbing::Source<T>>(
        graph: &Arc<Graph>,
        make: impl FnOnce(usize) -> S,
    ) -> DStream<T> {
        let mut made = None;
        let s = DStream::from_node_with(graph, |id, _| {
            let source = Arc::new(make(id));
            made = Some(source.clone());
            crate::plumbing::SourceNode {
                source,
                interval: graph.batch_interval,
                _records: std::marker::PhantomData,
            }
        });
        let source = made.expect("from_node_with calls the constructor");
        graph.add_input(
            s.id(),
            Arc::new(crate::plumbing::SourceInput {
                source: source.clone(),
                _records: std::marker::PhantomData,
            }),
        );
        graph
            .listeners
            .add_internal(Arc::new(crate::plumbing::SourceListener {
                source,
                _records: std::marker::PhantomData,
            }));
        s
    }

    /// A stream of a new kind that reads this one (for implementers of operators, see
    /// [`plumbing`](crate::plumbing)): adds `node` to this stream's graph. `node` reads this
    /// stream through a [`Parent`](crate::plumbing::Parent).
    pub fn add_node<U: Data>(&self, node: impl DStreamNode<U>) -> DStream<U> {
        DStream::from_node(&self.graph, node)
    }

    /// The stream's id (its position in creation order).
    pub fn id(&self) -> usize {
        self.inner.id
    }

    /// How often this stream produces an RDD.
    pub fn slide_duration(&self) -> Duration {
        self.inner.slide()
    }

    /// The RDD engine context the stream's RDDs belong to.
    pub fn context(&self) -> &Context {
        &self.graph.ctx
    }

    /// The RDD of the batch at `time` (computed if needed); `None` if `time` is not a batch
    /// time of this stream. Needs a started context.
    pub fn compute(&self, time: Time) -> Result<Option<Rdd<T>>> {
        self.inner.get_or_compute(time)
    }

    /// The batch times whose RDDs this stream still holds (older ones are forgotten after
    /// the remember duration).
    pub fn remembered_times(&self) -> Vec<Time> {
        self.inner.generated_times()
    }

    /// Caches every RDD this stream generates, in memory as objects.
    pub fn cache(&self) -> DStream<T> {
        *self.inner.persist.lock() = Some(Arc::new(|r: &Rdd<T>| {
            r.cache();
        }));
        self.clone()
    }

    /// Persists every RDD this stream generates at `level`.
    pub fn persist(&self, level: emberflow_core::StorageLevel) -> DStream<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        *self.inner.persist.lock() = Some(Arc::new(move |r: &Rdd<T>| {
            r.persist(level);
        }));
        self.clone()
    }

    /// How often this stream's state is written to the checkpoint directory (stateful
    /// streams: `update_state_by_key`, `map_with_state`, windows with an inverse function;
    /// others hold one batch of lineage and ignore it). Default: the smallest multiple of the
    /// slide that is at least 10 s. Must be a multiple of the slide (checked at start).
    pub fn checkpoint(&self, interval: Duration) -> DStream<T> {
        if let Some(state) = self.inner.node.state() {
            state.set_interval(interval);
        }
        self.clone()
    }

    /// Keeps this stream's RDDs for at least `d` after their batch (so `slice` can reach
    /// back that far).
    pub fn remember(&self, d: Duration) -> DStream<T> {
        self.inner.require_remember(d);
        self.clone()
    }

    /// The RDDs of every batch time of this stream in `[from, to]`.
    pub fn slice(&self, from: Time, to: Time) -> Result<Vec<Rdd<T>>> {
        let zero = self
            .graph
            .zero_time()
            .ok_or_else(|| Error::IllegalState("slice needs a started StreamingContext".into()))?;
        let slide = self.slide_duration();
        let mut out = Vec::new();
        let mut t = zero + slide;
        while t <= to {
            if t >= from {
                if let Some(r) = self.inner.get_or_compute(t)? {
                    out.push(r);
                }
            }
            t = t + slide;
        }
        Ok(out)
    }
}
