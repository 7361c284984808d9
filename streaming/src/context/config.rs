//! The settings of a [`StreamingContext`] and its builder.

use super::{Inner, StreamingContext, StreamingContextState};
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::Context;
use parking_lot::Mutex;

use crate::graph::Graph;
use crate::scheduler::Waiter;
use crate::{Clock, SystemClock};

/// Settings of a [`StreamingContext`].
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
        }
    }
}

/// Builds a [`StreamingContext`] with a clock and settings.
///
/// ```
/// use emberflow_core::Context;
/// use emberflow_streaming::{ManualClock, StreamingContext};
/// use std::sync::Arc;
/// use std::time::Duration;
/// let clock = Arc::new(ManualClock::new());
/// let ssc = StreamingContext::builder(&Context::local(2), Duration::from_millis(500))
///     .clock(clock.clone())
///     .block_interval(Duration::from_millis(100))
///     .build();
/// assert_eq!(ssc.batch_interval(), Duration::from_millis(500));
/// ```
pub struct StreamingContextBuilder {
    pub(super) ctx: Context,
    pub(super) batch_interval: Duration,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) config: StreamingConfig,
}

impl StreamingContextBuilder {
    /// The clock batches are timed by (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
    /// All settings at once.
    pub fn config(mut self, config: StreamingConfig) -> Self {
        self.config = config;
        self
    }
    /// See [`StreamingConfig::remember`].
    pub fn remember(mut self, d: Duration) -> Self {
        self.config.remember = Some(d);
        self
    }
    /// See [`StreamingConfig::concurrent_jobs`].
    pub fn concurrent_jobs(mut self, n: usize) -> Self {
        self.config.concurrent_jobs = n.max(1);
        self
    }
    /// See [`StreamingConfig::block_interval`].
    pub fn block_interval(mut self, d: Duration) -> Self {
        self.config.block_interval = d.max(Duration::from_millis(1));
        self
    }
    /// See [`StreamingConfig::graceful_stop_timeout`].
    pub fn graceful_stop_timeout(mut self, d: Duration) -> Self {
        self.config.graceful_stop_timeout = d;
        self
    }
    /// See [`StreamingConfig::stop_on_error`].
    pub fn stop_on_error(mut self, stop: bool) -> Self {
        self.config.stop_on_error = stop;
        self
    }
    /// See [`StreamingConfig::receiver_max_rate`].
    pub fn receiver_max_rate(mut self, per_second: u64) -> Self {
        self.config.receiver_max_rate = Some(per_second);
        self
    }
    /// See [`StreamingConfig::receiver_restart_delay`].
    pub fn receiver_restart_delay(mut self, d: Duration) -> Self {
        self.config.receiver_restart_delay = d;
        self
    }
    /// See [`StreamingConfig::receiver_write_ahead_log`].
    pub fn receiver_write_ahead_log(mut self, on: bool) -> Self {
        self.config.receiver_write_ahead_log = on;
        self
    }
    /// See [`StreamingConfig::checkpoint_write_retries`].
    pub fn checkpoint_write_retries(mut self, retries: u32) -> Self {
        self.config.checkpoint_write_retries = retries;
        self
    }
    /// See [`StreamingConfig::wal_roll_bytes`].
    pub fn wal_roll_bytes(mut self, bytes: u64) -> Self {
        self.config.wal_roll_bytes = bytes.max(1);
        self
    }
    /// See [`StreamingConfig::stop_gracefully_on_signal`].
    pub fn stop_gracefully_on_signal(mut self, on: bool) -> Self {
        self.config.stop_gracefully_on_signal = on;
        self
    }
    /// The context.
    pub fn build(self) -> StreamingContext {
        let graph = Arc::new(Graph::new(
            &self.ctx,
            self.batch_interval,
            self.clock,
            self.config,
        ));
        StreamingContext {
            inner: Arc::new(Inner {
                graph,
                state: Mutex::new(StreamingContextState::Initialized),
                scheduler: Mutex::new(None),
                waiter: Arc::new(Waiter::default()),
            }),
        }
    }
}

impl StreamingContext {
    /// A context with batches every `batch_interval`, on the system clock.
    pub fn new(ctx: &Context, batch_interval: Duration) -> Self {
        Self::builder(ctx, batch_interval).build()
    }

    /// A builder for a context with a chosen clock and settings.
    pub fn builder(ctx: &Context, batch_interval: Duration) -> StreamingContextBuilder {
        StreamingContextBuilder {
            ctx: ctx.clone(),
            batch_interval: batch_interval.max(Duration::from_millis(1)),
            clock: Arc::new(SystemClock),
            config: StreamingConfig::default(),
        }
    }
}
