//! What stateful streams share: between batches they hold their state as an RDD with no
//! lineage, so lineage depth and memory stay flat over any number of batches. Every batch
//! the new state is materialised in memory; every checkpoint interval, when the context has a
//! checkpoint directory, it is written there instead (and read back from the files).

use std::sync::Weak;
use std::time::Duration;

use emberflow_core::{Data, Rdd};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::services::Services;
use crate::time::Time;

/// Spark's default: the smallest multiple of the slide that is at least 10 s.
pub(crate) fn default_checkpoint_interval(slide: Duration) -> Duration {
    let s = slide.as_millis().max(1) as u64;
    Duration::from_millis(10_000u64.div_ceil(s) * s)
}

pub(crate) struct StateSupport {
    services: std::sync::Arc<Services>,
    slide: Duration,
    interval: Mutex<Option<Duration>>,
    kind: &'static str,
    /// State written to the checkpoint directory, by batch time (the newest two).
    written: std::sync::Arc<Mutex<std::collections::BTreeMap<Time, std::path::PathBuf>>>,
}

impl StateSupport {
    pub(crate) fn new(graph: &Graph, slide: Duration, kind: &'static str) -> Self {
        StateSupport {
            services: graph.services.clone(),
            slide,
            interval: Mutex::new(None),
            kind,
            written: std::sync::Arc::default(),
        }
    }

    pub(crate) fn set_interval(&self, d: Duration) {
        *self.interval.lock() = Some(d);
    }

    pub(crate) fn interval(&self) -> Duration {
        self.interval
            .lock()
            .unwrap_or_else(|| default_checkpoint_interval(self.slide))
    }

    /// The services of the context the node belongs to.
    pub(crate) fn services(&self) -> &std::sync::Arc<Services> {
        &self.services
    }

    /// The checkpoint interval must be a multiple of the slide; says so at start, and warns
    /// when there is no checkpoint directory.
    pub(crate) fn validate(&self) -> Result<()> {
        let interval = self.interval();
        if !Time::from_millis(interval.as_millis() as u64).is_multiple_of(self.slide) {
            return Err(crate::services::not_a_multiple(
                "checkpoint interval",
                interval,
                "slide duration",
                self.slide,
            ));
        }
        if self.services().ctx.checkpoint_dir().is_none() {
            log::warn!(
                "{}: no checkpoint directory is set, so its state lives in memory only and will not survive a restart; call StreamingContext::checkpoint(dir)",
                self.kind
            );
        }
        Ok(())
    }

    /// The state RDD of batch `time`, cut loose from its lineage by the batch's first job (on
    /// the job executor, not here): written to the checkpoint directory at checkpoint
    /// intervals (when one is set), held in memory otherwise.
    pub(crate) fn truncate<T>(&self, rdd: Rdd<T>, time: Time) -> Result<Rdd<T>>
    where
        T: Data + Serialize + DeserializeOwned,
    {
        let graph = self.services();
        let held = rdd.materialize_lazily();
        let state = held.clone();
        if self.due(graph, time) {
            let (written, kind) = (self.written.clone(), self.kind);
            graph.add_batch_work(
                time,
                Box::new(move || {
                    let path = write_state(&state, time, kind)?;
                    let mut written = written.lock();
                    written.insert(time, path);
                    while written.len() > 2 {
                        written.pop_first();
                    }
                    Ok(())
                }),
            );
        } else {
            graph.add_batch_work(
                time,
                Box::new(move || {
                    state.run_job(|_, it| {
                        it.for_each(drop);
                        Ok(())
                    })?;
                    Ok(())
                }),
            );
        }
        Ok(held)
    }

    /// [`truncate`](Self::truncate) now, from work already running on the job executor.
    pub(crate) fn truncate_now<T>(&self, rdd: Rdd<T>, time: Time) -> Result<Rdd<T>>
    where
        T: Data + Serialize + DeserializeOwned,
    {
        let graph = self.services();
        if self.due(graph, time) {
            let path = write_state(&rdd, time, self.kind)?;
            let reader = graph.ctx.checkpoint_file(&path)?;
            let mut written = self.written.lock();
            written.insert(time, path);
            while written.len() > 2 {
                written.pop_first();
            }
            return Ok(reader);
        }
        Ok(rdd.materialize()?)
    }

    /// Whether the state of batch `time` is written to the checkpoint directory.
    fn due(&self, graph: &Services, time: Time) -> bool {
        let zero = graph.zero_time().unwrap_or(Time::ZERO);
        graph.ctx.checkpoint_dir().is_some()
            && Time::from_millis((time - zero).as_millis() as u64).is_multiple_of(self.interval())
    }
}

/// Writes `rdd` (a state) to the checkpoint directory; where it went.
fn write_state<T>(rdd: &Rdd<T>, time: Time, kind: &str) -> Result<std::path::PathBuf>
where
    T: Data + Serialize + DeserializeOwned,
{
    rdd.checkpoint()?;
    let path = rdd
        .checkpoint_path()
        .ok_or_else(|| Error::IllegalState("checkpoint wrote no path; this is a bug".into()))?;
    log::debug!(
        "{kind}: state of batch {time} checkpointed to {}",
        path.display()
    );
    Ok(path)
}

impl StateSupport {
    /// The checkpoint data of a stateful stream: its written state directories by time.
    pub(crate) fn encode(&self) -> Result<Option<Vec<u8>>> {
        let written = self.written.lock();
        if written.is_empty() {
            return Ok(None);
        }
        crate::checkpoint::encode_stream_data(&*written, || "a stateful stream".into()).map(Some)
    }

    /// The state directories written, for the metadata checkpoint's references.
    pub(crate) fn paths(&self) -> Vec<std::path::PathBuf> {
        self.written.lock().values().cloned().collect()
    }

    /// Decodes checkpoint data and reads each state back: `(time, state RDD)`, oldest first.
    pub(crate) fn decode<T>(&self, data: &[u8]) -> Result<Vec<(Time, Rdd<T>)>>
    where
        T: Data + Serialize + DeserializeOwned,
    {
        let written: std::collections::BTreeMap<Time, std::path::PathBuf> =
            bincode::deserialize(data).map_err(|e| {
                Error::user(format!(
                    "{}: cannot decode its checkpoint data: {e}",
                    self.kind
                ))
            })?;
        let ctx = self.services().ctx.clone();
        let mut out = Vec::new();
        for (t, path) in &written {
            out.push((*t, ctx.checkpoint_file(path)?));
        }
        *self.written.lock() = written;
        Ok(out)
    }
}

impl StateSupport {
    /// Restores checkpointed states into the memo of the stream `me` (stateful streams that
    /// read their previous batch from their own memo).
    pub(crate) fn restore_memo<T>(
        &self,
        me: &Weak<crate::dstream::DStreamInner<T>>,
        data: &[u8],
    ) -> Result<()>
    where
        T: Data + Serialize + DeserializeOwned,
    {
        let me = me
            .upgrade()
            .ok_or_else(|| Error::IllegalState(format!("{}: the stream is gone", self.kind)))?;
        for (t, rdd) in self.decode(data)? {
            me.restore_rdd(t, rdd);
        }
        Ok(())
    }
}

/// The shared slot a batch's work fills with an RDD.
pub(crate) type Slot<T> = std::sync::Arc<std::sync::OnceLock<Rdd<T>>>;

/// An RDD generated with its batch whose data the batch's first job provides (a stateful
/// node's output: the state update runs on the job executor, not when the batch is
/// generated).
pub(crate) struct LateRdd<T: 'static> {
    meta: emberflow_core::plumbing::RddMeta,
    what: &'static str,
    time: Time,
    partitions: usize,
    data: Slot<T>,
}

impl<T: Data> LateRdd<T> {
    pub(crate) fn rdd(
        ctx: &emberflow_core::Context,
        what: &'static str,
        time: Time,
        partitions: usize,
        data: Slot<T>,
    ) -> Rdd<T> {
        Rdd::from_node(LateRdd {
            meta: emberflow_core::plumbing::RddMeta::new(ctx, what),
            what,
            time,
            partitions,
            data,
        })
    }
}

impl<T: Data> emberflow_core::plumbing::RddBase for LateRdd<T> {
    fn meta(&self) -> &emberflow_core::plumbing::RddMeta {
        &self.meta
    }
    fn dependencies(&self) -> Vec<emberflow_core::plumbing::Dependency> {
        self.data
            .get()
            .map(|r| vec![emberflow_core::plumbing::Dependency::Narrow(r.as_base())])
            .unwrap_or_default()
    }
    fn num_partitions(&self) -> usize {
        self.partitions
    }
}

impl<T: Data> emberflow_core::plumbing::RddNode<T> for LateRdd<T> {
    fn compute<'a>(
        &'a self,
        split: usize,
        tc: &'a emberflow_core::plumbing::TaskContext,
    ) -> emberflow_core::Result<emberflow_core::plumbing::BoxIter<'a, T>> {
        let rdd = self.data.get().ok_or_else(|| {
            emberflow_core::Error::Internal(format!(
                "{} of batch {}: read before the batch's state update ran",
                self.what, self.time
            ))
        })?;
        rdd.iterator(split, tc)
    }
}
