//! Extension points for implementers of new DStream kinds: [`DStreamNode`] (what a DStream
//! defines: slide duration, dependencies, `compute(time)`), [`Parent`] (how an operator reads
//! the streams it depends on), [`StateStore`] (the state a stateful node declares),
//! [`Source`] (an input) and the untyped [`DStreamBase`] that graph walks use.
//! Memoising, remembering, forgetting RDDs, the fingerprint, and a declared state's
//! checkpoint interval, files and restore are done by the base; an operator joins a graph
//! with [`DStream::add_node`](crate::DStream::add_node), a source with
//! [`DStream::from_source`](crate::DStream::from_source).
//! `examples/sample_by_key.rs` writes an operator with a parent outside the library.

use std::sync::Arc;
use std::time::Duration;

use emberflow_core::Rdd;

use crate::error::{Error, Result};
pub use crate::group::{PartitionGroup, PartitionState, Replay, Slot};
use crate::services::Services;
pub use crate::state_store::StateStore;
use crate::time::Time;

/// A DStream kind: how to compute the RDD of one batch.
pub trait DStreamNode<T>: Send + Sync + 'static {
    /// A short name of the kind (`map`, `window`, `queue_input`), part of the graph
    /// fingerprint.
    fn kind(&self) -> &'static str;
    /// How often this stream produces an RDD.
    fn slide_duration(&self) -> Duration;
    /// The streams this one reads.
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>>;
    /// The RDD for the batch at `time`, if this stream has one then.
    fn compute(&self, time: Time) -> Result<Option<Rdd<T>>>;
    /// How long the parents must remember their RDDs, given this stream's own remember
    /// duration (windows add their window length).
    fn parent_remember(&self, own: Duration) -> Duration {
        own
    }
    /// How far back the parents must be able to *compute* after a restart, when this
    /// node's memo is empty again: what the sources' bookkeeping keeps. The same as
    /// `parent_remember`, except for nodes that hold their data and so need their parents'
    /// RDDs only for their own batch.
    fn parent_recompute(&self, own: Duration) -> Duration {
        self.parent_remember(own)
    }
    /// Checks durations against the batch interval at start.
    fn validate(&self, _batch_interval: Duration) -> Result<()> {
        Ok(())
    }
    /// The state a stateful node keeps between batches, declared to the base: the base then
    /// sets its checkpoint interval (`DStream::checkpoint`), validates it at start, keeps
    /// its parents' input for two checkpoint intervals (what a restart recomputes from),
    /// writes its checkpoint data, and restores it (through [`StateStore::on_restore`]). A
    /// node that declares a state leaves `checkpoint_data` and `restore` to the base.
    fn state(&self) -> Option<&StateStore> {
        None
    }
    /// Told at start how long the base keeps this node's RDDs after their batch (what the
    /// streams below it look back over): a source keeps its own record of a batch (a Kafka
    /// batch's offset ranges) as long, so a restart can compute those batches again.
    fn set_remember_duration(&self, _remember: Duration) {}
    /// How the graph fingerprint describes this node: kind and durations. A restart with a
    /// different description at the same position needs a new checkpoint directory.
    fn fingerprint(&self) -> String {
        format!(
            "{} slide={}ms",
            self.kind(),
            self.slide_duration().as_millis()
        )
    }
    /// What this node needs restored after a restart (files per batch, state paths), encoded
    /// by the node itself.
    ///
    /// # Errors
    /// The data cannot be encoded: the checkpoint write fails (a checkpoint without a
    /// stream's recovery data would silently lose or repeat that stream's input).
    fn checkpoint_data(&self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
    /// Data checkpoint directories this node's checkpoint data refers to.
    fn data_paths(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
    /// Restores what `checkpoint_data` saved.
    fn restore(&self, _data: &[u8]) -> Result<()> {
        Ok(())
    }
}

/// The untyped face of a DStream, for walks over the graph.
pub trait DStreamBase: Send + Sync + 'static {
    /// The stream's id: its position in creation order.
    fn id(&self) -> usize;
    /// The node kind.
    fn kind(&self) -> &'static str;
    /// How often it produces an RDD.
    fn slide_duration(&self) -> Duration;
    /// The streams it reads.
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>>;
    /// Checks durations at start.
    fn validate(&self, batch_interval: Duration) -> Result<()>;
    /// How long generated RDDs are kept.
    fn remember_duration(&self) -> Duration;
    /// Raises the remember duration to at least `d`; whether the parents must be told.
    fn require_remember(&self, d: Duration) -> bool;
    /// What the parents must remember.
    fn parent_remember(&self, own: Duration) -> Duration;
    /// See [`DStreamNode::parent_recompute`].
    fn parent_recompute(&self, own: Duration) -> Duration;
    /// Drops generated RDDs that fall out of the remember duration after the batch `time`.
    fn forget(&self, time: Time);
    /// The batch times whose RDDs are held.
    fn generated_times(&self) -> Vec<Time>;
    /// See [`DStreamNode::fingerprint`].
    fn fingerprint(&self) -> String;
    /// See [`DStreamNode::checkpoint_data`].
    fn checkpoint_data(&self) -> Result<Option<Vec<u8>>>;
    /// See [`DStreamNode::data_paths`].
    fn data_paths(&self) -> Vec<std::path::PathBuf>;
    /// See [`DStreamNode::restore`].
    fn restore(&self, data: &[u8]) -> Result<()>;
    /// A stateful stream's state after its latest batch (see [`DStreamNode::state`]).
    fn state_metrics(&self) -> Option<StateMetrics> {
        None
    }
}

pub use crate::state_store::StateMetrics;

/// What a [`Parent`] reads: a typed stream of the graph (implemented by the DStream base).
pub(crate) trait ParentStream<T>: DStreamBase {
    /// The RDD of the batch at `time`, memoised.
    fn rdd_at(&self, time: Time) -> Result<Option<Rdd<T>>>;
    /// Itself as a graph walk sees it.
    fn as_base(self: Arc<Self>) -> Arc<dyn DStreamBase>;
    /// The services of its context, while the context lives.
    fn services(&self) -> Option<Arc<Services>>;
}

/// A stream an operator reads: its RDD of a batch (computed once and memoised by the
/// parent's base), its slide, and its untyped face for [`DStreamNode::dependencies`].
pub struct Parent<T: 'static> {
    inner: Arc<dyn ParentStream<T>>,
}

impl<T: 'static> Clone for Parent<T> {
    fn clone(&self) -> Self {
        Parent {
            inner: self.inner.clone(),
        }
    }
}

/// What can be a [`Parent`]: a [`DStream`](crate::DStream).
pub trait AsParent<T> {
    /// This stream, as the parent of a node being written.
    fn as_parent(&self) -> Parent<T>;
}

impl<T: 'static> Parent<T> {
    pub(crate) fn new(inner: Arc<dyn ParentStream<T>>) -> Self {
        Parent { inner }
    }

    /// The parent `stream` of a node being written.
    pub fn of(stream: &impl AsParent<T>) -> Self {
        stream.as_parent()
    }

    /// The parent's RDD of the batch at `time`, if it has one then (an operator usually passes
    /// a gap on as its own `None`).
    ///
    /// # Errors
    /// Computing the parent's RDD failed.
    pub fn rdd_at(&self, time: Time) -> Result<Option<Rdd<T>>> {
        self.inner.rdd_at(time)
    }

    /// How often the parent produces an RDD.
    pub fn slide(&self) -> Duration {
        self.inner.slide_duration()
    }

    /// The parent as a graph walk sees it, for [`DStreamNode::dependencies`].
    pub fn base(&self) -> Arc<dyn DStreamBase> {
        self.inner.clone().as_base()
    }

    /// A [`StateStore`] for a stateful node of kind `kind` that reads this parent and slides
    /// with it; the node declares it with [`DStreamNode::state`].
    ///
    /// # Errors
    /// The parent's context is gone.
    pub fn state_store(&self, kind: &'static str) -> Result<StateStore> {
        let services = self.inner.services().ok_or_else(|| {
            Error::IllegalState(format!("{kind}: the parent's StreamingContext is gone"))
        })?;
        Ok(StateStore::new(services, self.slide(), kind))
    }
}

pub(crate) use crate::services::JobFn;

/// An output operation as the scheduler sees it.
pub(crate) trait OutputBase: Send + Sync + 'static {
    fn name(&self) -> &str;
    fn stream(&self) -> Arc<dyn DStreamBase>;
    /// The job for the batch at `time`, if the stream has an RDD then.
    fn generate_job(&self, time: Time) -> Result<Option<JobFn>>;
}

/// An input stream as the scheduler sees it.
pub(crate) trait InputBase: Send + Sync + 'static {
    fn name(&self) -> String;
    /// Checks the input can start (directories exist).
    fn validate(&self) -> Result<()> {
        Ok(())
    }
    /// Called once at start with the zero time.
    fn start(&self, _zero_time: Time) -> Result<()> {
        Ok(())
    }
    /// Called once at stop.
    fn stop(&self) {}
    /// Records of the batch at `time`, if known without reading them.
    fn records(&self, _time: Time) -> Option<u64> {
        None
    }
    /// Records of the batch at `time` counted while its jobs read them (asked when the
    /// batch completes, for inputs whose `records` did not know).
    fn records_read(&self, _time: Time) -> Option<u64> {
        None
    }
    /// Drops the bookkeeping of batches up to `time`, except those in `keep`.
    fn forget(&self, _time: Time, _keep: &std::collections::BTreeSet<Time>) {}
    /// See [`Source::has_unconsumed`].
    fn has_unconsumed(&self) -> bool {
        false
    }
    /// See [`Source::assign_batch`].
    fn assign_batch(&self, _time: Time) -> Result<()> {
        Ok(())
    }
    /// See [`Source::set_rate_limit`].
    fn set_rate_limit(&self, _records_per_second: Option<u64>) {}
    /// See [`Source::describe_batch`].
    fn describe_batch(&self, _time: Time) -> Option<BatchOffsets> {
        None
    }
}

/// Where a batch of a source began and ended, as its progress shows them (JSON values:
/// Kafka `{topic: {partition: offset}}`, files `{"files": [...]}`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchOffsets {
    /// Where the batch began reading, when the source knows.
    pub start: Option<serde_json::Value>,
    /// Where it stopped.
    pub end: serde_json::Value,
    /// The newest offset the source has seen available (Kafka: each partition's high
    /// watermark at the latest batch decided), when it knows: minus `end`, the lag.
    pub latest: Option<serde_json::Value>,
}

/// An input (Spark's InputDStream), for implementers of sources outside the library: what
/// the RDD of a batch is, and, optionally, its record count, the source's life (start, stop),
/// its bookkeeping (batches completed, forgotten, remembered) and its recovery data, all in
/// one place. [`DStream::from_source`](crate::DStream::from_source) makes a stream of it.
pub trait Source<T>: Send + Sync + 'static {
    /// A short name of the kind, part of the graph fingerprint.
    fn kind(&self) -> &'static str;
    /// A name for logs and errors.
    fn name(&self) -> String {
        self.kind().to_owned()
    }
    /// Checks, before the context starts, that the source can (its directory exists).
    ///
    /// # Errors
    /// It cannot: the context does not start, and says why.
    fn validate(&self) -> Result<()> {
        Ok(())
    }
    /// Called once when the context starts, with the time before its first batch.
    ///
    /// # Errors
    /// The source cannot start: the context does not start.
    fn start(&self, _zero_time: Time) -> Result<()> {
        Ok(())
    }
    /// Called once when the context stops, before its last batches: stop taking in new
    /// data (a receiver stops receiving). What was taken in still goes to batches while
    /// [`has_unconsumed`](Self::has_unconsumed) says so (a graceful stop waits for it).
    fn stop(&self) {}
    /// Whether data taken in is not in a batch yet: a graceful stop generates batches until
    /// no source has any.
    fn has_unconsumed(&self) -> bool {
        false
    }
    /// Called for every source when the batch at `time` is generated, on the job generator
    /// thread, before any output asks for an RDD (whether or not a stream reads this one): a
    /// receiver gives the blocks it received to the batch here.
    ///
    /// # Errors
    /// The batch's input cannot be decided: the batch fails.
    fn assign_batch(&self, _time: Time) -> Result<()> {
        Ok(())
    }
    /// The rate hook: at most this many records per second from now on (`None`: no limit
    /// beyond the source's own configuration). A receiver's rate limiter and the Kafka direct
    /// stream's per-batch cap take it; backpressure and `StreamingContext::set_max_rate`
    /// call it.
    fn set_rate_limit(&self, _records_per_second: Option<u64>) {}
    /// Where the batch at `time` began and ended, for its progress report; asked when the
    /// batch completes (before its bookkeeping is cleared).
    fn describe_batch(&self, _time: Time) -> Option<BatchOffsets> {
        None
    }
    /// The RDD of the batch at `time`. Called once per batch (the base memoises it), on the
    /// job generator thread: decide what the batch holds here, read it in the RDD's tasks.
    ///
    /// # Errors
    /// The batch cannot be decided (a broker unreachable): the batch fails.
    fn batch(&self, time: Time) -> Result<Option<Rdd<T>>>;
    /// The number of records of the batch at `time`, if known when it is generated; it
    /// goes into the batch's `BatchInfo`.
    fn records(&self, _time: Time) -> Option<u64> {
        None
    }
    /// The number of records of the batch at `time` counted while its jobs read them (asked
    /// when the batch completes, if `records` did not know).
    fn records_read(&self, _time: Time) -> Option<u64> {
        None
    }
    /// A batch completed (succeeded or failed).
    fn batch_completed(&self, _info: &crate::listener::BatchInfo) {}
    /// Drops the bookkeeping of batches up to `time`, except those in `keep` (failed batches,
    /// which a restart runs again).
    fn forget(&self, _time: Time, _keep: &std::collections::BTreeSet<Time>) {}
    /// How long the base keeps this stream's batches (see
    /// [`DStreamNode::set_remember_duration`]).
    fn set_remember_duration(&self, _remember: Duration) {}
    /// What a restart needs to give every pending batch exactly the same records.
    ///
    /// # Errors
    /// The data cannot be encoded (the checkpoint write fails, loudly).
    fn checkpoint_data(&self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
    /// Restores what `checkpoint_data` saved, before the context starts again.
    ///
    /// # Errors
    /// The data cannot be decoded.
    fn restore(&self, _data: &[u8]) -> Result<()> {
        Ok(())
    }
}

/// A [`Source`] as a node of the graph.
pub(crate) struct SourceNode<T: 'static, S> {
    pub(crate) source: Arc<S>,
    pub(crate) interval: Duration,
    pub(crate) _records: std::marker::PhantomData<fn() -> T>,
}

impl<T: emberflow_core::Data, S: Source<T>> DStreamNode<T> for SourceNode<T, S> {
    fn kind(&self) -> &'static str {
        self.source.kind()
    }
    fn slide_duration(&self) -> Duration {
        self.interval
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        Vec::new()
    }
    fn compute(&self, time: Time) -> Result<Option<Rdd<T>>> {
        self.source.batch(time)
    }
    fn set_remember_duration(&self, remember: Duration) {
        self.source.set_remember_duration(remember);
    }
    fn checkpoint_data(&self) -> Result<Option<Vec<u8>>> {
        self.source.checkpoint_data()
    }
    fn restore(&self, data: &[u8]) -> Result<()> {
        self.source.restore(data)
    }
}

/// A [`Source`] as the scheduler sees it.
pub(crate) struct SourceInput<T: 'static, S> {
    pub(crate) source: Arc<S>,
    pub(crate) _records: std::marker::PhantomData<fn() -> T>,
}

impl<T: emberflow_core::Data, S: Source<T>> InputBase for SourceInput<T, S> {
    fn name(&self) -> String {
        self.source.name()
    }
    fn validate(&self) -> Result<()> {
        self.source.validate()
    }
    fn start(&self, zero_time: Time) -> Result<()> {
        self.source.start(zero_time)
    }
    fn stop(&self) {
        self.source.stop();
    }
    fn records(&self, time: Time) -> Option<u64> {
        self.source.records(time)
    }
    fn records_read(&self, time: Time) -> Option<u64> {
        self.source.records_read(time)
    }
    fn forget(&self, time: Time, keep: &std::collections::BTreeSet<Time>) {
        self.source.forget(time, keep);
    }
    fn has_unconsumed(&self) -> bool {
        self.source.has_unconsumed()
    }
    fn assign_batch(&self, time: Time) -> Result<()> {
        self.source.assign_batch(time)
    }
    fn set_rate_limit(&self, records_per_second: Option<u64>) {
        self.source.set_rate_limit(records_per_second);
    }
    fn describe_batch(&self, time: Time) -> Option<BatchOffsets> {
        self.source.describe_batch(time)
    }
}

/// A [`Source`] hearing of completed batches.
pub(crate) struct SourceListener<T: 'static, S> {
    pub(crate) source: Arc<S>,
    pub(crate) _records: std::marker::PhantomData<fn() -> T>,
}

impl<T: emberflow_core::Data, S: Source<T>> crate::listener::StreamingListener
    for SourceListener<T, S>
{
    fn on_batch_completed(&self, info: &crate::listener::BatchInfo) {
        self.source.batch_completed(info);
    }
}

/// A group-partitioned input's handle on its job's [`PartitionGroup`] (from
/// [`StreamingContext::group_input`](crate::StreamingContext::group_input)): the group's
/// partitions and leases, and where a batch's partition checkpoints are left as its first
/// work.
#[derive(Clone)]
pub struct GroupInput {
    pub(crate) services: Arc<Services>,
    pub(crate) group: Arc<PartitionGroup>,
}

impl GroupInput {
    /// Opens the batch at `time` over `slots` — (partition, the batch time its outputs
    /// carry, the source's record of the batch) in the order of the batch RDD's partitions —
    /// and leaves, as the batch's first work, the writing of each partition's checkpoint.
    pub fn begin_batch(&self, time: Time, slots: Vec<(usize, Time, Vec<u8>)>) {
        let work = self.group.begin_batch(time, slots);
        self.services.add_batch_work(time, work);
    }
}

impl std::ops::Deref for GroupInput {
    type Target = PartitionGroup;
    fn deref(&self) -> &PartitionGroup {
        &self.group
    }
}
