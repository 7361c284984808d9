//! The state seam: a stateful node declares a [`StateStore`] to its base
//! ([`DStreamNode::state`](crate::plumbing::DStreamNode::state)), which then owns the
//! state's checkpoint interval, its validation, the checkpoint files written, the checkpoint
//! data and the restore. Between batches a state is an RDD with no lineage, so lineage depth
//! and memory stay flat over any number of batches: every batch the new state is
//! materialised in memory; every checkpoint interval, when the context has a checkpoint
//! directory, it is written there instead (and read back from the files). Below the nodes:
//! it imports only the services.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::{Data, Rdd};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::services::Services;
use crate::time::Time;

/// Spark's default: the smallest multiple of the slide that is at least 10 s.
pub(crate) fn default_checkpoint_interval(slide: Duration) -> Duration {
    let s = slide.as_millis().max(1) as u64;
    Duration::from_millis(10_000u64.div_ceil(s) * s)
}

/// A state's size after its latest batch, for the progress report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateMetrics {
    /// Keys in the state.
    pub rows_total: u64,
    /// Keys the batch updated.
    pub rows_updated: u64,
    /// Rows times their in-memory size (an estimate: what they point to is not counted).
    pub memory_bytes: u64,
    /// Records of the batch the watermark made late, dropped (event-time operators).
    pub rows_dropped_by_watermark: u64,
}

impl StateMetrics {
    fn of(rows: u64, updated: u64, row_bytes: usize) -> Self {
        StateMetrics {
            rows_total: rows,
            rows_updated: updated,
            memory_bytes: rows.saturating_mul(row_bytes as u64),
            rows_dropped_by_watermark: 0,
        }
    }
}

/// What a restart does with the states read back: `(batch time, files)`, oldest first.
type ApplyRestored = Box<dyn Fn(&Services, Vec<(Time, PathBuf)>) -> Result<()> + Send + Sync>;

/// The state of a stateful node, declared to the base with
/// [`DStreamNode::state`](crate::plumbing::DStreamNode::state): the base sets its
/// checkpoint interval (`DStream::checkpoint`), validates it at start, writes which state
/// files the metadata checkpoint refers to, and at a restart reads them back and hands them
/// to what [`on_restore`](Self::on_restore) registered. The node computes its next state
/// lazily and passes it to [`truncate`](Self::truncate), which cuts its lineage in the
/// batch's first job.
pub struct StateStore {
    services: Arc<Services>,
    slide: Duration,
    interval: Mutex<Option<Duration>>,
    kind: &'static str,
    /// State written to the checkpoint directory, by batch time (the newest two).
    written: Arc<Mutex<BTreeMap<Time, PathBuf>>>,
    apply: Mutex<Option<ApplyRestored>>,
    metrics: Arc<Mutex<StateMetrics>>,
    /// Whether the state is written to files in the checkpoint directory; an inline state
    /// travels in the node's own checkpoint data instead (the node encodes and restores it).
    inline: bool,
}

impl StateStore {
    /// A state small enough to travel in every metadata checkpoint, in the node's own
    /// checkpoint data (`DStreamNode::checkpoint_data` and `restore`): the store reports its
    /// sizes and keeps its parents' input recomputable, nothing more.
    pub(crate) fn inline(services: Arc<Services>, slide: Duration, kind: &'static str) -> Self {
        StateStore {
            inline: true,
            ..StateStore::new(services, slide, kind)
        }
    }

    /// Whether the node checkpoints the state itself (see [`inline`](Self::inline)).
    pub(crate) fn is_inline(&self) -> bool {
        self.inline
    }

    pub(crate) fn new(services: Arc<Services>, slide: Duration, kind: &'static str) -> Self {
        StateStore {
            services,
            slide,
            interval: Mutex::new(None),
            kind,
            written: Arc::default(),
            apply: Mutex::new(None),
            metrics: Arc::default(),
            inline: false,
        }
    }

    /// Records the state's size after a batch: `rows` keys of `row_bytes` each in memory,
    /// `updated` of them touched by the batch.
    pub fn record(&self, rows: u64, updated: u64, row_bytes: usize) {
        *self.metrics.lock() = StateMetrics::of(rows, updated, row_bytes);
    }

    /// Records the batch's records dropped as late (after [`record`](Self::record)).
    pub fn record_dropped(&self, rows: u64) {
        self.metrics.lock().rows_dropped_by_watermark = rows;
    }

    /// The state's size after its latest batch.
    pub fn metrics(&self) -> StateMetrics {
        *self.metrics.lock()
    }

    /// The kind of the node whose state this is.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// What to do with the states read back at a restart (when the context starts), oldest
    /// first, each with the batch time it includes. Without it a restored state is not used.
    pub fn on_restore<X>(
        &self,
        apply: impl Fn(Vec<(Time, Rdd<X>)>) -> Result<()> + Send + Sync + 'static,
    ) where
        X: Data + Serialize + DeserializeOwned,
    {
        *self.apply.lock() = Some(Box::new(move |services, written| {
            let mut states = Vec::with_capacity(written.len());
            for (t, path) in written {
                states.push((t, services.ctx.checkpoint_file(&path)?));
            }
            apply(states)
        }));
    }

    /// Sets the checkpoint interval (the base does, from `DStream::checkpoint`).
    pub(crate) fn set_interval(&self, d: Duration) {
        *self.interval.lock() = Some(d);
    }

    /// How often the state is written to the checkpoint directory (default: the smallest
    /// multiple of the slide that is at least 10 s).
    pub fn interval(&self) -> Duration {
        self.interval
            .lock()
            .unwrap_or_else(|| default_checkpoint_interval(self.slide))
    }

    /// The services of the context the node belongs to.
    pub(crate) fn services(&self) -> &Arc<Services> {
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
        if !self.inline && self.services().ctx.checkpoint_dir().is_none() {
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
    ///
    /// # Errors
    /// Not at present; kept for stores that decide eagerly.
    pub fn truncate<T>(&self, rdd: Rdd<T>, time: Time) -> Result<Rdd<T>>
    where
        T: Data + Serialize + DeserializeOwned,
    {
        let graph = self.services();
        let held = rdd.materialize_lazily();
        let state = held.clone();
        let metrics = self.metrics.clone();
        // Every key of such a state is computed each batch (as Spark's StateDStream).
        let record = move |rows: u64| {
            *metrics.lock() = StateMetrics::of(rows, rows, std::mem::size_of::<T>());
        };
        if self.due(graph, time) {
            let (written, kind) = (self.written.clone(), self.kind);
            graph.add_batch_work(
                time,
                Box::new(move || {
                    let path = write_state(&state, time, kind)?;
                    // Held in memory by now: counting reads no file.
                    record(state.count()?);
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
                    let rows: u64 = state
                        .run_job(|_, it| Ok(it.count() as u64))?
                        .into_iter()
                        .sum();
                    record(rows);
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
fn write_state<T>(rdd: &Rdd<T>, time: Time, kind: &str) -> Result<PathBuf>
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

impl StateStore {
    /// The checkpoint data of a stateful stream: its written state directories by time.
    pub(crate) fn encode(&self) -> Result<Option<Vec<u8>>> {
        let written = self.written.lock();
        if written.is_empty() {
            return Ok(None);
        }
        crate::checkpoint::encode_stream_data(&*written, || "a stateful stream".into()).map(Some)
    }

    /// The state directories written, for the metadata checkpoint's references.
    pub(crate) fn paths(&self) -> Vec<PathBuf> {
        self.written.lock().values().cloned().collect()
    }

    /// Restores what [`encode`](Self::encode) saved: the written states are known again, and
    /// handed to what `on_restore` registered.
    pub(crate) fn restore(&self, data: &[u8]) -> Result<()> {
        let written: BTreeMap<Time, PathBuf> = bincode::deserialize(data).map_err(|e| {
            Error::user(format!(
                "{}: cannot decode its checkpoint data: {e}",
                self.kind
            ))
        })?;
        *self.written.lock() = written.clone();
        match &*self.apply.lock() {
            Some(apply) => apply(&self.services, written.into_iter().collect()),
            None => Ok(()),
        }
    }
}
