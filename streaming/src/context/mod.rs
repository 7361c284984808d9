//! [`StreamingContext`]: builds the DStream graph (inputs, transformations, outputs), starts
//! the batch scheduler, and stops it, gracefully or at once. Split by concern: settings and
//! the builder (`config`), input constructors (`inputs`), checkpoints and recovery
//! (`recovery`), start and stop (`lifecycle`).

mod config;
mod inputs;
mod lifecycle;
mod recovery;

pub use crate::services::StreamingConfig;
pub use config::StreamingContextBuilder;
pub use lifecycle::StopOptions;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::Context;
use parking_lot::Mutex;

use crate::clock::Clock;
use crate::graph::Graph;
use crate::listener::StreamingListener;
use crate::scheduler::{JobScheduler, Waiter};
use crate::time::Time;

/// Where a [`StreamingContext`] is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamingContextState {
    /// Built; the graph can be changed.
    Initialized,
    /// Started; batches run.
    Active,
    /// Stopped; it cannot be started again.
    Stopped,
}

struct Inner {
    graph: Arc<Graph>,
    state: Mutex<StreamingContextState>,
    scheduler: Mutex<Option<JobScheduler>>,
    waiter: Arc<Waiter>,
    /// The job's id when it has no checkpoint directory (with one, the id is kept there).
    id: String,
    /// Progress and status of the running context (from `start`).
    progress: Mutex<Option<Arc<crate::progress::ProgressTracker>>>,
    /// The page's server while the context runs (the `ui` feature).
    #[cfg(feature = "ui")]
    ui: Mutex<Option<crate::ui::UiServer>>,
}

/// The entry point of streaming (Spark's StreamingContext): cuts input into one RDD per batch
/// interval and runs each batch's output operations, in order, on the RDD engine.
///
/// ```
/// use emberflow_core::Context;
/// use emberflow_streaming::{ManualClock, RddQueue, StreamingContext, StopOptions};
/// use std::sync::Arc;
/// use std::time::Duration;
/// let ctx = Context::local(2);
/// let clock = Arc::new(ManualClock::new());
/// let ssc = StreamingContext::builder(&ctx, Duration::from_secs(1)).clock(clock.clone()).build()?;
/// let queue = RddQueue::from(vec![ctx.parallelize(vec!["a b", "a"], 2)]);
/// let counts = ssc
///     .queue_stream(&queue, true)
///     .flat_map(|l: &str| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
///     .map(|w| (w, 1u64))
///     .reduce_by_key(|a, b| a + b);
/// counts.foreach_rdd(|rdd, _time| Ok(()));
/// ssc.start()?;
/// ssc.stop(StopOptions::graceful())?;
/// # Ok::<(), emberflow_streaming::Error>(())
/// ```
#[derive(Clone)]
pub struct StreamingContext {
    inner: Arc<Inner>,
}

impl StreamingContext {
    pub(crate) fn graph(&self) -> &Arc<Graph> {
        &self.inner.graph
    }

    /// The RDD engine context.
    pub fn context(&self) -> &Context {
        &self.inner.graph.ctx
    }

    /// The batch interval.
    pub fn batch_interval(&self) -> Duration {
        self.inner.graph.batch_interval
    }

    /// The clock batches are timed by.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.inner.graph.clock.clone()
    }

    /// The settings.
    pub fn config(&self) -> &StreamingConfig {
        &self.inner.graph.config
    }

    /// Where the context is in its life.
    pub fn state(&self) -> StreamingContextState {
        *self.inner.state.lock()
    }

    /// Steers the input stream `stream_id` (a [`DStream::id`](crate::DStream::id) of an
    /// input): at most `records_per_second` from now on, or, with `None`, no limit beyond its
    /// configuration (`receiver_max_rate`, Kafka's `max_rate_per_partition`, which a
    /// limit set here never exceeds). A receiver holds its `store` calls to the rate; the
    /// Kafka direct stream caps the ranges of its next batches.
    ///
    /// # Errors
    /// [`Error::InvalidGraph`](crate::Error::InvalidGraph): no input stream has that id.
    ///
    /// ```
    /// use emberflow_streaming::{StreamingContext, Receiver, ReceiverContext};
    /// # struct Numbers;
    /// # impl Receiver for Numbers {
    /// #     type Item = u64;
    /// #     fn on_start(&mut self, _ctx: &ReceiverContext<u64>) {}
    /// # }
    /// let ctx = emberflow_core::Context::local(1);
    /// let ssc = StreamingContext::new(&ctx, std::time::Duration::from_millis(100));
    /// let numbers = ssc.receiver_stream(Numbers);
    /// ssc.set_max_rate(numbers.id(), Some(1_000))?;
    /// assert!(ssc.set_max_rate(numbers.id() + 1, None).is_err());
    /// # Ok::<(), emberflow_streaming::Error>(())
    /// ```
    pub fn set_max_rate(
        &self,
        stream_id: usize,
        records_per_second: Option<u64>,
    ) -> crate::error::Result<()> {
        let (_, input) = self
            .inner
            .graph
            .inputs()
            .into_iter()
            .find(|(id, _)| *id == stream_id)
            .ok_or_else(|| {
                crate::error::Error::InvalidGraph(format!(
                    "set_max_rate: stream {stream_id} is not an input stream"
                ))
            })?;
        input.set_rate_limit(records_per_second);
        Ok(())
    }

    /// What the context is doing now: waiting for data, processing a batch, or stopped.
    pub fn status(&self) -> crate::progress::StreamingStatus {
        match &*self.inner.progress.lock() {
            Some(p) => p.status(),
            None => crate::progress::StreamingStatus {
                message: "Initializing".into(),
                is_data_available: false,
                is_trigger_active: false,
            },
        }
    }

    /// The progress of the latest completed batches (the last 100), oldest first.
    pub fn recent_progress(&self) -> Vec<crate::progress::StreamingProgress> {
        self.inner
            .progress
            .lock()
            .as_ref()
            .map(|p| p.recent())
            .unwrap_or_default()
    }

    /// The progress of the latest completed batch.
    pub fn last_progress(&self) -> Option<crate::progress::StreamingProgress> {
        self.inner.progress.lock().as_ref().and_then(|p| p.last())
    }

    /// Where the live page is served (`http://host:port/`), from `start` to `stop`, when
    /// the context was built with [`StreamingContextBuilder::ui`].
    pub fn ui_url(&self) -> Option<String> {
        #[cfg(feature = "ui")]
        {
            self.inner.ui.lock().as_ref().map(|u| u.url.clone())
        }
        #[cfg(not(feature = "ui"))]
        {
            None
        }
    }

    /// Listener events dropped because the listener queue was full (a listener too slow to
    /// keep up; see [`StreamingConfig::listener_queue`]).
    pub fn dropped_listener_events(&self) -> u64 {
        self.inner.graph.listeners.dropped()
    }

    /// Registers a listener for progress events. It runs on the listener bus's thread, after
    /// the listeners registered before it.
    pub fn add_streaming_listener(&self, listener: impl StreamingListener) {
        self.inner.graph.listeners.add(Arc::new(listener));
    }

    /// Registers a listener served after every other (the test runner's).
    pub(crate) fn add_last_listener(&self, listener: impl StreamingListener) {
        self.inner.graph.listeners.add_last(Arc::new(listener));
    }

    /// Batches whose output operations failed so far.
    pub fn failed_batches(&self) -> u64 {
        self.scheduler_counter(|s| s.failed_batches.load(Ordering::Relaxed))
    }

    /// Batches completed so far (failed ones included).
    pub fn completed_batches(&self) -> u64 {
        self.scheduler_counter(|s| s.completed_batches.load(Ordering::Relaxed))
    }

    fn scheduler_counter(&self, f: impl Fn(&crate::scheduler::SchedulerShared) -> u64) -> u64 {
        self.inner
            .scheduler
            .lock()
            .as_ref()
            .map(|s| f(&s.shared))
            .unwrap_or(0)
    }

    /// The zero time: batch times are `zero + k * interval`, `k >= 1`. Set by `start`.
    pub fn zero_time(&self) -> Option<Time> {
        self.inner.graph.zero_time()
    }

    fn ensure_initialized(&self, what: &str) {
        if self.state() != StreamingContextState::Initialized {
            log::error!("{what} after start(): the running graph does not change");
        }
    }

    // ---- inputs ----

    /// Keeps every stream's RDDs for at least `d` after their batch.
    pub fn remember(&self, d: Duration) {
        self.inner.graph.remember_at_least(d);
    }

    // ---- lifecycle ----
}
