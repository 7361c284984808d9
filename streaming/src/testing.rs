//! Deterministic tests of streaming jobs, for emberflow's own tests and for users' tests of
//! their jobs: a [`BatchRunner`] owns a context on a [`ManualClock`], advances the clock one
//! batch at a time and blocks until the scheduler reports each batch done. No sleeps; the
//! only timeout is a guard against a hung scheduler.
//!
//! ```
//! use emberflow_streaming::testing::BatchRunner;
//! use std::time::Duration;
//! let runner = BatchRunner::new(Duration::from_secs(1));
//! let input = runner.queue_input(vec![vec![1, 2, 3], vec![4]]);
//! let doubled = runner.collect(&input.map(|x: i32| x * 2));
//! runner.run(3)?;
//! assert_eq!(doubled.batches(), vec![vec![2, 4, 6], vec![8], vec![]]);
//! # Ok::<(), emberflow_streaming::Error>(())
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver as ChannelReceiver, Sender};
use emberflow_core::{Context, Data};
use parking_lot::Mutex;

use crate::clock::{Clock, ManualClock};
use crate::error::{Error, Result};
use crate::listener::{BatchInfo, StreamingListener};
use crate::time::Time;
use crate::{
    DStream, StopOptions, StreamingContext, StreamingContextBuilder, StreamingContextState,
};

/// Reports completed batches to the runner.
struct Completions(Mutex<Sender<BatchInfo>>);

impl StreamingListener for Completions {
    fn on_batch_completed(&self, info: &BatchInfo) {
        let _ = self.0.lock().send(info.clone());
    }
}

/// The records a stream produced, per batch time.
pub struct Collected<T> {
    batches: Arc<Mutex<BTreeMap<Time, Vec<T>>>>,
}

impl<T: Clone> Collected<T> {
    /// The records of every batch so far, in batch order.
    pub fn batches(&self) -> Vec<Vec<T>> {
        self.batches.lock().values().cloned().collect()
    }
    /// The records per batch time.
    pub fn by_time(&self) -> BTreeMap<Time, Vec<T>> {
        self.batches.lock().clone()
    }
}

/// Runs a streaming graph on a manual clock, batch by batch.
pub struct BatchRunner {
    ssc: StreamingContext,
    clock: Arc<ManualClock>,
    completed: ChannelReceiver<BatchInfo>,
    timeout: Duration,
}

impl BatchRunner {
    /// A runner with a 2-thread context and batches every `interval`.
    pub fn new(interval: Duration) -> Self {
        Self::with_builder(&Context::local(2), interval, |b| b)
    }

    /// A runner on `ctx`, with the builder adjusted by `configure` (its clock is replaced by
    /// the runner's manual clock).
    ///
    /// # Panics
    /// The adjusted builder does not build (an unparsable UI address).
    pub fn with_builder(
        ctx: &Context,
        interval: Duration,
        configure: impl FnOnce(StreamingContextBuilder) -> StreamingContextBuilder,
    ) -> Self {
        let clock = Arc::new(ManualClock::new());
        let ssc = configure(StreamingContext::builder(ctx, interval))
            .clock(clock.clone())
            .build()
            .unwrap_or_else(|e| panic!("BatchRunner: {e}"));
        let (tx, rx) = unbounded();
        ssc.add_last_listener(Completions(Mutex::new(tx)));
        BatchRunner {
            ssc,
            clock,
            completed: rx,
            timeout: Duration::from_secs(60),
        }
    }

    /// A runner on the context [`StreamingContext::get_or_create`] gives for `dir`:
    /// recovered from its newest checkpoint, or made by `create` when there is none, with
    /// the builder adjusted by `configure`. The manual clock starts at `start_at` (a restart
    /// continues where the last run stopped).
    pub fn get_or_create<F>(
        ctx: &Context,
        interval: Duration,
        dir: &std::path::Path,
        start_at: Time,
        configure: impl FnOnce(StreamingContextBuilder) -> StreamingContextBuilder,
        create: F,
    ) -> Result<Self>
    where
        F: FnOnce(&StreamingContext) -> Result<()>,
    {
        let clock = Arc::new(ManualClock::starting_at(start_at));
        let ssc = StreamingContext::get_or_create(
            dir,
            create,
            configure(StreamingContext::builder(ctx, interval)).clock(clock.clone()),
        )?;
        let (tx, rx) = unbounded();
        ssc.add_last_listener(Completions(Mutex::new(tx)));
        Ok(BatchRunner {
            ssc,
            clock,
            completed: rx,
            timeout: Duration::from_secs(60),
        })
    }

    /// How long `run` waits for one batch before it reports the scheduler hung.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The streaming context, to build any graph on.
    pub fn ssc(&self) -> &StreamingContext {
        &self.ssc
    }

    /// The RDD engine context.
    pub fn context(&self) -> &Context {
        self.ssc.context()
    }

    /// The manual clock.
    pub fn clock(&self) -> &Arc<ManualClock> {
        &self.clock
    }

    /// An input stream whose batch `i` holds `batches[i]` (in two partitions), chosen by
    /// batch time (batch `i` is at `zero + (i + 1) * interval`), even where the graph does not
    /// read every batch; later batches are empty.
    pub fn queue_input<I: Into<T>, T: Data>(&self, batches: Vec<Vec<I>>) -> DStream<T> {
        let graph = self.ssc.graph();
        let batches = batches
            .into_iter()
            .map(|b| {
                self.context()
                    .parallelize(b.into_iter().map(Into::into).collect::<Vec<T>>(), 2)
            })
            .collect();
        DStream::from_source(
            &self.ssc,
            crate::dstream::queue_input::QueueInput {
                ctx: self.context().clone(),
                feed: crate::dstream::queue_input::Feed::Table {
                    batches,
                    interval: self.ssc.batch_interval(),
                    services: graph.services.clone(),
                },
                counts: Default::default(),
            },
        )
    }

    /// Collects every batch of `stream`.
    pub fn collect<T: Data>(&self, stream: &DStream<T>) -> Collected<T> {
        let batches = Arc::new(Mutex::new(BTreeMap::new()));
        let sink = batches.clone();
        stream.foreach_rdd(move |rdd, time| {
            let records = rdd.collect()?;
            sink.lock().insert(time, records);
            Ok(())
        });
        Collected { batches }
    }

    /// Starts the context if needed, then runs `batches` batches: advances the clock one
    /// interval at a time and waits until that batch completed. Returns their infos.
    pub fn run(&self, batches: usize) -> Result<Vec<BatchInfo>> {
        let mut infos = Vec::with_capacity(batches);
        for _ in 0..batches {
            infos.extend(self.advance(self.ssc.batch_interval())?);
        }
        if batches == 0 && self.ssc.state() == StreamingContextState::Initialized {
            self.ssc.start()?;
        }
        Ok(infos)
    }

    /// Starts the context if needed, moves the clock forward by `d` (less than a batch
    /// interval too), waits until every timer it woke has done its work (receivers' blocks
    /// cut), and, if a batch fell due, until it completed. Returns the infos of the batches
    /// that completed meanwhile.
    pub fn advance(&self, d: Duration) -> Result<Vec<BatchInfo>> {
        if self.ssc.state() == StreamingContextState::Initialized {
            self.ssc.start()?;
        }
        let interval = self.ssc.batch_interval();
        let before = self.clock.now().floor(interval);
        self.clock.advance(d);
        let target = self.clock.now().floor(interval);
        if !self.clock.settle(self.timeout) {
            return Err(Error::IllegalState(format!(
                "the timers did not finish their work at {} within {:?}",
                self.clock.now(),
                self.timeout
            )));
        }
        let mut infos = Vec::new();
        if target == before {
            return Ok(infos);
        }
        loop {
            let info = crate::spin::recv_timeout(&self.completed, self.timeout).map_err(|_| {
                Error::IllegalState(format!(
                    "batch {target} did not complete within {:?}; the scheduler is stuck",
                    self.timeout
                ))
            })?;
            let done = info.batch_time >= target;
            infos.push(info);
            if done {
                return Ok(infos);
            }
        }
    }

    /// Stops the context gracefully, keeping the RDD context.
    pub fn stop(&self) -> Result<()> {
        self.ssc.stop(StopOptions::graceful().keep_context(true))
    }
}

impl Drop for BatchRunner {
    fn drop(&mut self) {
        let _ = self.ssc.stop(StopOptions::immediate().keep_context(true));
    }
}

fn first_failure(infos: &[BatchInfo]) -> Result<()> {
    match infos.iter().find(|i| !i.succeeded()) {
        Some(i) => Err(Error::BatchFailed {
            time: i.batch_time,
            output: 0,
            message: i.failures.join("; "),
        }),
        None => Ok(()),
    }
}

/// Runs `f` over an input given per batch, on 1-second batches, and returns the output of
/// each of the first `batches` batches.
pub fn run_batches<I, T, U, F>(input: Vec<Vec<I>>, f: F, batches: usize) -> Result<Vec<Vec<U>>>
where
    I: Into<T>,
    T: Data,
    U: Data,
    F: FnOnce(DStream<T>) -> DStream<U>,
{
    run_batches_with(Duration::from_secs(1), input, f, batches)
}

/// [`run_batches`] with another batch interval.
pub fn run_batches_with<I, T, U, F>(
    interval: Duration,
    input: Vec<Vec<I>>,
    f: F,
    batches: usize,
) -> Result<Vec<Vec<U>>>
where
    I: Into<T>,
    T: Data,
    U: Data,
    F: FnOnce(DStream<T>) -> DStream<U>,
{
    let runner = BatchRunner::new(interval);
    let out = runner.collect(&f(runner.queue_input(input)));
    first_failure(&runner.run(batches)?)?;
    Ok(out.batches())
}

/// Builds any graph with `build` on a context with a manual clock, runs `batches` batches,
/// and returns the output per batch of each stream `build` returned:
/// `result[stream][batch]`.
pub fn run_graph<U, F>(interval: Duration, batches: usize, build: F) -> Result<Vec<Vec<Vec<U>>>>
where
    U: Data,
    F: FnOnce(&StreamingContext) -> Result<Vec<DStream<U>>>,
{
    let runner = BatchRunner::new(interval);
    let outs: Vec<Collected<U>> = build(runner.ssc())?
        .iter()
        .map(|s| runner.collect(s))
        .collect();
    first_failure(&runner.run(batches)?)?;
    Ok(outs.iter().map(|c| c.batches()).collect())
}

/// Runs the graph `build` makes, checkpointing into `dir`, for `batches` batches on a manual
/// clock; with `restart_after: Some(k)`, the context is stopped abruptly after `k` batches
/// (no final checkpoint, like a crash) and a new one is made from `dir` with
/// [`StreamingContext::get_or_create`] to run the rest. Returns the output of the stream
/// `build` returns, per batch time (a batch re-run after the restart replaces its first
/// output, as an idempotent sink would).
pub fn run_with_restart<U, F>(
    ctx: &Context,
    interval: Duration,
    dir: &std::path::Path,
    batches: usize,
    restart_after: Option<usize>,
    build: F,
) -> Result<BTreeMap<Time, Vec<U>>>
where
    U: Data,
    F: Fn(&StreamingContext) -> Result<DStream<U>>,
{
    let out: Arc<Mutex<BTreeMap<Time, Vec<U>>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let runs: Vec<(usize, usize)> = match restart_after {
        Some(k) if k < batches => vec![(0, k), (k, batches)],
        _ => vec![(0, batches)],
    };
    for (from, to) in runs {
        let sink = out.clone();
        let runner = BatchRunner::get_or_create(
            ctx,
            interval,
            dir,
            Time::ZERO + interval * from as u32,
            |b| b,
            |ssc| {
                build(ssc)?.foreach_rdd(move |rdd, time| {
                    let records = rdd.collect()?;
                    sink.lock().insert(time, records);
                    Ok(())
                });
                Ok(())
            },
        )?;
        first_failure(&runner.run(to - from)?)?;
        // Abrupt: no graceful drain, no final checkpoint beyond what batches wrote.
        runner
            .ssc
            .stop(StopOptions::immediate().keep_context(true))?;
    }
    let result = out.lock().clone();
    Ok(result)
}
