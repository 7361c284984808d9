//! The settings of a [`StreamingContext`] and its builder.

use super::{Inner, StreamingContext, StreamingContextState};
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::Context;
use parking_lot::Mutex;

use crate::clock::{Clock, SystemClock};
use crate::graph::Graph;
use crate::scheduler::Waiter;
use crate::services::StreamingConfig;

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
///     .build()?;
/// assert_eq!(ssc.batch_interval(), Duration::from_millis(500));
/// # Ok::<(), emberflow_streaming::Error>(())
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
    /// See [`StreamingConfig::listener_queue`].
    pub fn listener_queue(mut self, events: usize) -> Self {
        self.config.listener_queue = events;
        self
    }

    /// See [`StreamingConfig::watchdog_intervals`].
    pub fn watchdog(mut self, intervals: Option<u32>) -> Self {
        self.config.watchdog_intervals = intervals;
        self
    }

    /// See [`StreamingConfig::backpressure`].
    pub fn backpressure(mut self, on: bool) -> Self {
        self.config.backpressure = on;
        self
    }

    /// See [`StreamingConfig::backpressure_initial_rate`].
    pub fn backpressure_initial_rate(mut self, records_per_second: u64) -> Self {
        self.config.backpressure_initial_rate = Some(records_per_second);
        self
    }

    /// A name for the job, in its progress reports.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = Some(name.into());
        self
    }

    /// See [`StreamingConfig::stop_gracefully_on_signal`].
    pub fn stop_gracefully_on_signal(mut self, on: bool) -> Self {
        self.config.stop_gracefully_on_signal = on;
        self
    }
    /// Serve the live page, its JSON API and Prometheus metrics at `addr` (`host:port`; port
    /// 0 picks a free one; [`StreamingContext::ui_url`] tells where) while the context runs.
    /// Bind `127.0.0.1` unless the page should be reachable from other machines: it has no
    /// authentication (it is read-only). Needs the `ui` feature.
    ///
    /// ```
    /// # #[cfg(feature = "ui")] {
    /// use emberflow_core::Context;
    /// use emberflow_streaming::{RddQueue, StopOptions, StreamingContext};
    /// use std::time::Duration;
    /// let ssc = StreamingContext::builder(&Context::local(2), Duration::from_millis(500))
    ///     .name("orders")
    ///     .ui("127.0.0.1:0")
    ///     .build()?;
    /// ssc.queue_stream(&RddQueue::<u32>::new(), true).foreach_rdd(|_, _| Ok(()));
    /// assert_eq!(ssc.ui_url(), None);
    /// ssc.start()?;
    /// let url = ssc.ui_url().unwrap();
    /// assert!(url.starts_with("http://127.0.0.1:"));
    /// ssc.stop(StopOptions::immediate())?;
    /// assert_eq!(ssc.ui_url(), None);
    /// # }
    /// # Ok::<(), emberflow_streaming::Error>(())
    /// ```
    pub fn ui(mut self, addr: impl Into<String>) -> Self {
        self.config.ui = Some(addr.into());
        self
    }

    /// The context.
    ///
    /// # Errors
    /// A setting cannot be used: the UI address does not parse, or the UI is asked for in a
    /// build without the `ui` feature.
    pub fn build(self) -> crate::error::Result<StreamingContext> {
        if let Some(addr) = &self.config.ui {
            ui_address(addr)?;
        }
        Ok(self.assemble())
    }

    /// The context, from settings already checked.
    fn assemble(self) -> StreamingContext {
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
                id: crate::progress::fresh_id(),
                progress: Mutex::new(None),
                #[cfg(feature = "ui")]
                ui: Mutex::new(None),
            }),
        }
    }
}

/// The socket address of a UI setting.
pub(crate) fn ui_address(addr: &str) -> crate::error::Result<std::net::SocketAddr> {
    if !cfg!(feature = "ui") {
        return Err(crate::error::Error::InvalidConfig(format!(
            "the UI ({addr}) needs emberflow built with the `ui` feature"
        )));
    }
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            crate::error::Error::InvalidConfig(format!(
                "UI address {addr:?} is not host:port (e.g. 127.0.0.1:4040)"
            ))
        })
}

impl StreamingContext {
    /// A context with batches every `batch_interval`, on the system clock.
    pub fn new(ctx: &Context, batch_interval: Duration) -> Self {
        Self::builder(ctx, batch_interval).assemble()
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
