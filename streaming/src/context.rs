//! [`StreamingContext`]: builds the DStream graph (inputs, transformations, outputs), starts
//! the batch scheduler, and stops it, gracefully or at once.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::{Context, Data, Rdd};
use parking_lot::Mutex;

use crate::dstream::file_input::{FileInput, FileInputState, PathFilter};
use crate::dstream::queue_input::{QueueInput, RddQueue};
use crate::dstream::receiver_input::{ReceiverInputDStream, ReceiverInputHandle};
use crate::dstream::DStream;
use crate::graph::Graph;
use crate::plumbing::InputBase;
use crate::receiver::socket::SocketTextReceiver;
use crate::receiver::{Receiver, ReceiverRunner};
use crate::scheduler::{JobScheduler, Waiter};
use crate::util::recurring_timer::RecurringTimer;
use crate::{Clock, Error, Result, StreamingListener, SystemClock, Time};

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
    ctx: Context,
    batch_interval: Duration,
    clock: Arc<dyn Clock>,
    config: StreamingConfig,
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

/// How to stop: gracefully (received data is processed first) or at once, and whether to
/// stop the RDD [`Context`] too.
///
/// ```
/// use emberflow_streaming::StopOptions;
/// let keep = StopOptions::graceful().keep_context(true);
/// assert!(keep.is_graceful());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct StopOptions {
    graceful: bool,
    stop_context: bool,
}

impl StopOptions {
    /// Stop receiving, process every batch of received data, then stop.
    pub fn graceful() -> Self {
        StopOptions {
            graceful: true,
            stop_context: true,
        }
    }
    /// Stop now: queued jobs are skipped; a running job finishes.
    pub fn immediate() -> Self {
        StopOptions {
            graceful: false,
            stop_context: true,
        }
    }
    /// Keep the RDD [`Context`] usable after the stop (default: it is stopped too, as Spark).
    pub fn keep_context(mut self, keep: bool) -> Self {
        self.stop_context = !keep;
        self
    }
    /// Whether the stop is graceful.
    pub fn is_graceful(&self) -> bool {
        self.graceful
    }
}

struct Inner {
    graph: Arc<Graph>,
    state: Mutex<StreamingContextState>,
    scheduler: Mutex<Option<JobScheduler>>,
    waiter: Arc<Waiter>,
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
/// let ssc = StreamingContext::builder(&ctx, Duration::from_secs(1)).clock(clock.clone()).build();
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

    /// Registers a listener for progress events.
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

    /// A stream fed from a queue of RDDs: each batch takes the next one (`one_at_a_time`) or
    /// all queued ones; an empty queue gives an empty RDD.
    pub fn queue_stream<T: Data>(&self, queue: &RddQueue<T>, one_at_a_time: bool) -> DStream<T> {
        self.queue_stream_with_default(queue, one_at_a_time, None)
    }

    /// [`queue_stream`](Self::queue_stream) that gives `default` when the queue is empty.
    pub fn queue_stream_with_default<T: Data>(
        &self,
        queue: &RddQueue<T>,
        one_at_a_time: bool,
        default: Option<Rdd<T>>,
    ) -> DStream<T> {
        self.ensure_initialized("queue_stream");
        let graph = &self.inner.graph;
        let s = DStream::from_node(
            graph,
            QueueInput {
                ctx: graph.ctx.clone(),
                queue: queue.clone(),
                one_at_a_time,
                default,
                interval: graph.batch_interval,
            },
        );
        graph.add_input(s.id(), Arc::new(NamedInput("queue stream".into())));
        s
    }

    /// Lines of the text files that appear in `dir` after the start (Spark's
    /// `textFileStream`). Files should appear by atomic rename; hidden (`.`, `_`) and
    /// temporary files are ignored. A missing directory is an error at `start`.
    pub fn text_file_stream(&self, dir: impl AsRef<Path>) -> DStream<String> {
        self.file_stream_impl(dir.as_ref().to_path_buf(), None, true)
    }

    /// Lines of the files in `dir` that pass `filter`; `new_files_only: false` also reads
    /// files already there (modified within the last minute).
    pub fn file_stream<F>(
        &self,
        dir: impl AsRef<Path>,
        filter: F,
        new_files_only: bool,
    ) -> DStream<String>
    where
        F: Fn(&Path) -> bool + Send + Sync + 'static,
    {
        self.file_stream_impl(
            dir.as_ref().to_path_buf(),
            Some(Arc::new(filter)),
            new_files_only,
        )
    }

    fn file_stream_impl(
        &self,
        dir: PathBuf,
        filter: Option<PathFilter>,
        new_files_only: bool,
    ) -> DStream<String> {
        self.ensure_initialized("file_stream");
        let graph = &self.inner.graph;
        let state = Arc::new(FileInputState::new(
            &graph.ctx,
            dir,
            filter,
            new_files_only,
            graph.batch_interval,
            graph.clock.clone(),
        ));
        let s = DStream::from_node(
            graph,
            FileInput {
                state: state.clone(),
            },
        );
        graph.add_input(s.id(), state);
        s
    }

    /// Lines read from a TCP server at `host:port`; reconnects when the connection drops or
    /// is refused, backing off, and reports each failure to listeners.
    pub fn socket_text_stream(&self, host: impl Into<String>, port: u16) -> DStream<String> {
        self.receiver_stream(SocketTextReceiver {
            host: host.into(),
            port,
        })
    }

    /// A stream fed by a user [`Receiver`] running on its own thread.
    pub fn receiver_stream<R: Receiver>(&self, receiver: R) -> DStream<R::Item> {
        self.ensure_initialized("receiver_stream");
        let graph = &self.inner.graph;
        let ctx = graph.ctx.clone();
        let interval = graph.batch_interval;
        let mut runner = None;
        let s = DStream::from_node_with(graph, |id, _| {
            let r = Arc::new(ReceiverRunner::new(receiver, id, graph));
            runner = Some(r.clone());
            ReceiverInputDStream {
                ctx,
                runner: r,
                interval,
            }
        });
        let runner = runner.expect("from_node_with calls the constructor");
        graph.add_input(s.id(), Arc::new(ReceiverInputHandle { runner }));
        s
    }

    /// The union of several streams.
    pub fn union<T: Data>(&self, streams: &[DStream<T>]) -> Result<DStream<T>> {
        DStream::union_all(streams).ok_or_else(|| Error::InvalidGraph("union of no streams".into()))
    }

    /// A stream made every batch by `f` from the RDDs of `streams` for that batch (Spark's
    /// `StreamingContext.transform`); the streams must have the same slide duration. A stream
    /// without an RDD for a batch fails that batch, as in Spark.
    ///
    /// ```
    /// use emberflow_streaming::{testing::BatchRunner, DStream};
    /// use std::time::Duration;
    /// let runner = BatchRunner::new(Duration::from_secs(1));
    /// let a: DStream<i32> = runner.queue_input(vec![vec![1, 2]]);
    /// let b: DStream<i32> = runner.queue_input(vec![vec![10]]);
    /// let c: DStream<i32> = runner.queue_input(vec![vec![100]]);
    /// let sum = runner.ssc().transform(&[a, b, c], |rdds, _time| {
    ///     let all = rdds[0].union(&rdds[1]).union(&rdds[2]);
    ///     all.map(|x| x * 2)
    /// })?;
    /// let out = runner.collect(&sum);
    /// runner.run(1)?;
    /// let mut got = out.batches().concat();
    /// got.sort();
    /// assert_eq!(got, vec![2, 4, 20, 200]);
    /// # Ok::<(), emberflow_streaming::Error>(())
    /// ```
    pub fn transform<T: Data, U: Data, F>(&self, streams: &[DStream<T>], f: F) -> Result<DStream<U>>
    where
        F: Fn(Vec<Rdd<T>>, Time) -> Rdd<U> + Send + Sync + 'static,
    {
        if streams.is_empty() {
            return Err(Error::InvalidGraph("transform of no streams".into()));
        }
        Ok(DStream::from_node(
            &self.inner.graph,
            crate::dstream::transformed::TransformedDStreamN::new(
                streams.iter().map(|s| s.inner.clone()).collect(),
                f,
            ),
        ))
    }

    /// Sets the checkpoint directory (created if missing): stateful streams write their state
    /// there every checkpoint interval.
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        self.inner.graph.ctx.set_checkpoint_dir(dir);
        *self.inner.graph.checkpoint_dir.lock() = Some(dir.to_path_buf());
        Ok(())
    }

    /// Builds the context from `builder` and the graph with `setup`, then, if `dir` holds a
    /// checkpoint, restores into that graph: the zero time, the batches
    /// that were pending (and those that fall due while the driver was down, at `start`),
    /// and each stream's data (files per batch, checkpointed state). `setup` runs on every
    /// start, fresh or recovered; it must build the same graph (same streams in the same
    /// order, same durations) — closures may change. A checkpoint written with another
    /// batch interval than `builder`'s is [`Error::IntervalMismatch`].
    ///
    /// # Spark
    /// Spark deserialises the graph, closures and all, so a recompiled job cannot read its
    /// checkpoint; here the graph always comes from code and only data is restored.
    pub fn get_or_create<F>(
        dir: impl AsRef<Path>,
        setup: F,
        builder: StreamingContextBuilder,
    ) -> Result<StreamingContext>
    where
        F: FnOnce(&StreamingContext) -> Result<()>,
    {
        let dir = dir.as_ref();
        let existing = crate::checkpoint::read_latest(dir)?;
        if let Some(c) = &existing {
            let interval = Duration::from_millis(c.batch_interval_ms);
            if interval != builder.batch_interval {
                return Err(Error::IntervalMismatch {
                    dir: dir.to_path_buf(),
                    checkpoint_ms: c.batch_interval_ms,
                    requested_ms: builder.batch_interval.as_millis() as u64,
                });
            }
        }
        let ssc = builder.build();
        ssc.checkpoint(dir)?;
        setup(&ssc)?;
        if let Some(c) = existing {
            ssc.restore(c)?;
            log::info!("restored from the checkpoint in {}", dir.display());
        }
        Ok(ssc)
    }

    fn restore(&self, c: crate::checkpoint::Checkpoint) -> Result<()> {
        let graph = &self.inner.graph;
        let now = graph.fingerprint();
        let describe = |p: Option<&crate::checkpoint::NodePrint>| match p {
            Some(p) => format!("stream {}: {}", p.id, p.description),
            None => "no stream".to_owned(),
        };
        for i in 0..now.len().max(c.graph.len()) {
            let (was, is) = (c.graph.get(i), now.get(i));
            if was != is {
                return Err(Error::GraphMismatch {
                    expected: describe(was),
                    found: describe(is),
                });
            }
        }
        for node in graph.nodes() {
            if let Some(data) = c.streams.get(&node.id()) {
                node.restore(data)?;
            }
        }
        *graph.recovery.lock() = Some(crate::graph::Recovery {
            zero_time: c.zero_time,
            sequence: c.sequence,
            pending: c.pending,
            last_generated: c.last_generated,
        });
        Ok(())
    }

    /// Keeps every stream's RDDs for at least `d` after their batch.
    pub fn remember(&self, d: Duration) {
        self.inner.graph.remember_at_least(d);
    }

    // ---- lifecycle ----

    /// Validates the graph and starts generating batches; the first batch time is the first
    /// multiple of the batch interval after now.
    pub fn start(&self) -> Result<()> {
        let mut state = self.inner.state.lock();
        match *state {
            StreamingContextState::Active => {
                return Err(Error::IllegalState(
                    "the StreamingContext is already started".into(),
                ))
            }
            StreamingContextState::Stopped => {
                return Err(Error::IllegalState(
                    "a stopped StreamingContext cannot be started again; create a new one".into(),
                ))
            }
            StreamingContextState::Initialized => {}
        }
        let graph = &self.inner.graph;
        graph.validate()?;
        let start = RecurringTimer::next_time(graph.clock.now(), graph.batch_interval);
        let recovery = graph.recovery.lock().take();
        let first_sequence = recovery.as_ref().map_or(0, |r| r.sequence + 1);
        let (zero, reschedule) = match recovery {
            None => (start - graph.batch_interval, Vec::new()),
            Some(r) => {
                // Pending batches, then every batch time from the last generated one up to
                // the timer's first: nothing that fell due while down is skipped.
                let mut times: Vec<Time> = r.pending.clone();
                let mut t = r.last_generated.unwrap_or(r.zero_time) + graph.batch_interval;
                while t < start {
                    times.push(t);
                    t = t + graph.batch_interval;
                }
                times.sort();
                times.dedup();
                (r.zero_time, times)
            }
        };
        graph.set_zero_time(zero);
        graph.init_remember(graph.remember_min());
        for (id, input) in graph.inputs() {
            input.start(zero)?;
            log::debug!("input stream {id} ({}) started", input.name());
        }
        graph.started.store(true, Ordering::SeqCst);
        let scheduler = JobScheduler::start(
            graph.clone(),
            self.inner.waiter.clone(),
            start,
            reschedule,
            first_sequence,
        )?;
        *self.inner.scheduler.lock() = Some(scheduler);
        *state = StreamingContextState::Active;
        drop(state);
        let now = graph.clock.now();
        graph.listeners.post(|l| l.on_streaming_started(now));
        if graph.config.stop_gracefully_on_signal {
            self.stop_on_signal()?;
        }
        log::info!("StreamingContext started; first batch at {start}");
        Ok(())
    }

    /// Watches for SIGTERM and SIGINT and stops gracefully when one comes.
    fn stop_on_signal(&self) -> Result<()> {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(signal, flag.clone())
                .map_err(|e| Error::io("signal handler", e))?;
        }
        let ssc = self.clone();
        std::thread::Builder::new()
            .name("streaming-signal-watch".into())
            .spawn(move || loop {
                if ssc.state() == StreamingContextState::Stopped {
                    return;
                }
                if flag.load(Ordering::SeqCst) {
                    log::info!("signal received: stopping gracefully");
                    if let Err(e) = ssc.stop(StopOptions::graceful()) {
                        log::error!("graceful stop on signal failed: {e}");
                    }
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            })
            .map_err(|e| Error::io("signal watch thread", e))?;
        Ok(())
    }

    /// Stops the context (see [`StopOptions`]). Stopping a stopped context does nothing.
    pub fn stop(&self, options: StopOptions) -> Result<()> {
        let mut state = self.inner.state.lock();
        if *state == StreamingContextState::Stopped {
            return Ok(());
        }
        let scheduler = self.inner.scheduler.lock().take();
        if let Some(mut s) = scheduler {
            s.stop(
                options.graceful,
                self.inner.graph.config.graceful_stop_timeout,
            );
            // Keep the counters readable after the stop.
            *self.inner.scheduler.lock() = Some(s);
        }
        *state = StreamingContextState::Stopped;
        drop(state);
        if options.stop_context {
            self.inner.graph.ctx.stop();
        }
        self.inner.waiter.notify_stop();
        log::info!(
            "StreamingContext stopped ({})",
            if options.graceful {
                "gracefully"
            } else {
                "immediately"
            }
        );
        Ok(())
    }

    /// Blocks until the context is stopped; returns the first error a batch reported, if one
    /// did before that (the context keeps running unless `stop_on_error` is set).
    pub fn await_termination(&self) -> Result<()> {
        self.inner.waiter.wait(None).map(|_| ())
    }

    /// Like [`await_termination`](Self::await_termination), giving up after `timeout`;
    /// returns whether the context stopped.
    pub fn await_termination_or_timeout(&self, timeout: Duration) -> Result<bool> {
        self.inner.waiter.wait(Some(timeout))
    }
}

/// An input without bookkeeping of its own (queue streams).
pub(crate) struct NamedInput(pub(crate) String);

impl InputBase for NamedInput {
    fn name(&self) -> String {
        self.0.clone()
    }
}
