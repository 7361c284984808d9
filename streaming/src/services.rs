//! What every part of a streaming context shares — the RDD engine's context, the batch
//! interval, the clock, the settings, the listener bus and the checkpoint directory — as one
//! value that the graph, the scheduler, nodes and receivers receive. It sits below all of
//! them: it imports none of them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::Context;
use parking_lot::Mutex;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::listener::ListenerBus;
use crate::time::Time;

/// The work of one output operation (or of a batch's stateful nodes) for one batch.
pub(crate) type JobFn = Box<dyn FnOnce() -> Result<()> + Send>;

/// The services of one streaming context.
pub(crate) struct Services {
    pub(crate) ctx: Context,
    pub(crate) batch_interval: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: StreamingConfig,
    pub(crate) listeners: ListenerBus,
    /// Where metadata checkpoints go (`StreamingContext::checkpoint`).
    pub(crate) checkpoint_dir: Mutex<Option<PathBuf>>,
    /// The time before the first batch, once started.
    zero_time: Mutex<Option<Time>>,
    /// The first batch this start generates (after a restart, the oldest pending one).
    first_batch: Mutex<Option<Time>>,
    /// Work a batch's stateful nodes left when their RDDs were generated (applying the batch
    /// to the state, writing it): run as the batch's first job, on the job executor.
    batch_work: Mutex<BTreeMap<Time, Vec<JobFn>>>,
    /// Streams whose every batch is their whole table (event-time aggregates in Complete
    /// mode): a memory table replaces its rows with each batch instead of appending.
    pub(crate) whole_table_streams: Mutex<std::collections::BTreeSet<usize>>,
    /// Event times each batch held, by batch and by watermark (one per event stream), for
    /// its progress report.
    pub(crate) event_times: Mutex<BTreeMap<Time, BTreeMap<usize, EventTimeStats>>>,
    /// Set when a group-partitioned input makes the job one of several members.
    pub(crate) group: std::sync::OnceLock<Arc<crate::group::PartitionGroup>>,
}

/// Event times (ms since the epoch) of one event stream's records in one batch.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EventTimeStats {
    pub(crate) min: Option<i64>,
    pub(crate) max: Option<i64>,
    pub(crate) sum: i128,
    pub(crate) count: u64,
    /// The watermark in force for the batch.
    pub(crate) watermark: Option<i64>,
}

impl Services {
    pub(crate) fn new(
        ctx: &Context,
        batch_interval: Duration,
        clock: Arc<dyn Clock>,
        config: StreamingConfig,
    ) -> Self {
        let queue = config.listener_queue;
        Services {
            ctx: ctx.clone(),
            batch_interval,
            clock,
            config,
            listeners: ListenerBus::new(queue),
            checkpoint_dir: Mutex::new(None),
            zero_time: Mutex::new(None),
            first_batch: Mutex::new(None),
            batch_work: Mutex::new(BTreeMap::new()),
            whole_table_streams: Mutex::new(std::collections::BTreeSet::new()),
            event_times: Mutex::new(BTreeMap::new()),
            group: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn zero_time(&self) -> Option<Time> {
        *self.zero_time.lock()
    }

    pub(crate) fn set_zero_time(&self, t: Time) {
        *self.zero_time.lock() = Some(t);
    }

    /// The first batch this start generates: after a restart, the oldest batch it runs
    /// again (restored state is the newest written before it).
    pub(crate) fn first_batch(&self) -> Option<Time> {
        *self.first_batch.lock()
    }

    pub(crate) fn set_first_batch(&self, t: Time) {
        *self.first_batch.lock() = Some(t);
    }

    /// Leaves `work` for the batch at `time`: it runs on the job executor before the batch's
    /// output operations, and its cost is the batch's processing time, not its scheduling
    /// delay.
    pub(crate) fn add_batch_work(&self, time: Time, work: JobFn) {
        self.batch_work.lock().entry(time).or_default().push(work);
    }

    /// The work left for the batch at `time`.
    pub(crate) fn take_batch_work(&self, time: Time) -> Vec<JobFn> {
        self.batch_work.lock().remove(&time).unwrap_or_default()
    }
}

/// Settings of a [`StreamingContext`](crate::StreamingContext).
#[derive(Clone, Debug)]
pub struct StreamingConfig {
    /// Keep every stream's RDDs at least this long (e.g. for `slice`). Default: none.
    pub remember: Option<Duration>,
    /// Output jobs run at once, across batches. Default 1: jobs run in order.
    pub concurrent_jobs: usize,
    /// How often receivers cut what they stored into a block (one RDD partition). Default
    /// 200 ms.
    pub block_interval: Duration,
    /// The longest a graceful stop waits for received data to be processed. Default 30 s.
    pub graceful_stop_timeout: Duration,
    /// Stop generating batches after the first failed batch. Default false: log, count
    /// the failed batch, report it to `await_termination`, and go on.
    pub stop_on_error: bool,
    /// Records per second each receiver may store; `None` for no limit.
    pub receiver_max_rate: Option<u64>,
    /// Delay before a receiver that asked to restart is started again; doubles while
    /// restarts store nothing, up to 16×. Default 2 s.
    pub receiver_restart_delay: Duration,
    /// Stop gracefully on SIGTERM or SIGINT (Ctrl-C), bounded by the graceful-stop timeout.
    /// Default false.
    pub stop_gracefully_on_signal: bool,
    /// Log every block receivers store before `store` returns, and replay unprocessed blocks
    /// after a restart (needs a checkpoint directory). Default false.
    pub receiver_write_ahead_log: bool,
    /// How many times a failed metadata checkpoint write is tried again (after 50 ms, then
    /// doubling) before the batch fails and the context stops generating batches. Default 2.
    pub checkpoint_write_retries: u32,
    /// A receiver's write-ahead log starts a new segment past this many bytes; segments are
    /// deleted once all their blocks are processed. Default 8 MiB.
    pub wal_roll_bytes: u64,
    /// Events the listener bus holds for its listeners; past it, events are dropped and
    /// counted. Default 10,000.
    pub listener_queue: usize,
    /// The job's name, in its progress reports. Default none.
    pub name: Option<String>,
    /// Backpressure: after every batch a PID estimator sets each input's rate to what the
    /// job processes (`spark.streaming.backpressure.enabled`). Default false.
    pub backpressure: bool,
    /// With backpressure, the rate (records per second) each input starts at, before the
    /// first estimate (`spark.streaming.backpressure.initialRate`). Default none.
    pub backpressure_initial_rate: Option<u64>,
    /// The watchdog: when the oldest unfinished batch is this many batch intervals past its
    /// time, listeners (`on_batch_stuck`), the status and the log say which batch and which
    /// output operation. `None` turns it off. Default 10.
    pub watchdog_intervals: Option<u32>,
    /// Where the live page, its JSON API and the Prometheus metrics are served
    /// (`host:port`; port 0 picks a free one), from `start` to `stop`. Needs the `ui`
    /// feature. Default none: no server.
    pub ui: Option<String>,
}

impl Default for StreamingConfig {
    fn default() -> Self {
        StreamingConfig {
            remember: None,
            concurrent_jobs: 1,
            block_interval: Duration::from_millis(200),
            graceful_stop_timeout: Duration::from_secs(30),
            stop_on_error: false,
            receiver_max_rate: None,
            receiver_restart_delay: Duration::from_secs(2),
            stop_gracefully_on_signal: false,
            receiver_write_ahead_log: false,
            checkpoint_write_retries: 2,
            wal_roll_bytes: crate::wal::ROLL_BYTES,
            listener_queue: 10_000,
            name: None,
            backpressure: false,
            backpressure_initial_rate: None,
            watchdog_intervals: Some(10),
            ui: None,
        }
    }
}

pub(crate) fn not_a_multiple(
    what: &'static str,
    value: Duration,
    base: &'static str,
    base_d: Duration,
) -> Error {
    let b = base_d.as_millis() as u64;
    Error::InvalidDuration {
        what,
        value_ms: value.as_millis() as u64,
        base,
        base_ms: b,
        hint: format!("{}, {}, {}, …", b, 2 * b, 3 * b),
    }
}
