//! The batch scheduler: a recurring timer on the clock posts one `Generate(time)` event per
//! batch interval to the job generator thread, which allocates received blocks, asks every
//! output operation for its job, and queues the batch's jobs; executor threads run them in
//! order and report each batch's completion, after which old RDDs are forgotten. One thread
//! owns each loop; they talk through channels of enum events.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver as ChannelReceiver, Sender};
use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::listener::ListenerEvent;
use crate::listener::{BatchInfo, OutputOperationInfo};
use crate::plumbing::JobFn;
use crate::time::Time;
use crate::util::recurring_timer::RecurringTimer;

enum Event {
    Generate(Time),
    Clear(Time),
    /// The batches rescheduled after a restart are generated: the timer may go on.
    Recovered,
    Stop,
}

struct JobSet {
    info: Mutex<BatchInfo>,
    remaining: AtomicUsize,
    /// A job of the batch was skipped because the context was stopping: the batch never
    /// completes, and stays pending in every checkpoint written after it.
    skipped: AtomicBool,
}

struct Job {
    set: Arc<JobSet>,
    output: usize,
    name: String,
    run: JobFn,
}

/// Where `await_termination` waits: for a stop, or for an error to report.
#[derive(Default)]
pub(crate) struct Waiter {
    state: Mutex<(bool, Option<Error>)>,
    cond: Condvar,
}

impl Waiter {
    pub(crate) fn notify_stop(&self) {
        self.state.lock().0 = true;
        self.cond.notify_all();
    }
    fn notify_error(&self, e: Error) {
        let mut s = self.state.lock();
        if s.1.is_none() {
            s.1 = Some(e);
        }
        drop(s);
        self.cond.notify_all();
    }
    /// Waits until stopped or an error is pending (taking it), or `timeout` passes.
    /// Returns whether the context is stopped.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut s = self.state.lock();
        loop {
            if let Some(e) = s.1.take() {
                return Err(e);
            }
            if s.0 {
                return Ok(true);
            }
            match deadline {
                Some(d) => {
                    if self.cond.wait_until(&mut s, d).timed_out() {
                        if let Some(e) = s.1.take() {
                            return Err(e);
                        }
                        return Ok(s.0);
                    }
                }
                None => self.cond.wait(&mut s),
            }
        }
    }
}

/// State shared by the scheduler's threads.
pub(crate) struct SchedulerShared {
    graph: Arc<Graph>,
    pub(crate) waiter: Arc<Waiter>,
    events: Sender<Event>,
    last_generated: Mutex<Option<Time>>,
    generated: Condvar,
    pending: Mutex<BTreeSet<Time>>,
    /// Batches whose output operations failed: listed as pending in every later checkpoint
    /// and their input bookkeeping kept, so a restart runs them again (as Spark does).
    failed: Mutex<BTreeSet<Time>>,
    idle: Condvar,
    /// Set by an immediate stop or a fatal error: no new batches, queued jobs are skipped.
    halted: AtomicBool,
    pub(crate) failed_batches: AtomicU64,
    pub(crate) completed_batches: AtomicU64,
    sequence: AtomicU64,
    /// The sequence number of the newest checkpoint known to be on disk (fsynced): a
    /// completion checkpoint older than it needs no fsync of its own.
    durable: AtomicU64,
    /// Set when a checkpoint before a batch's jobs could not be written.
    checkpoint_failed: AtomicBool,
    /// Held while a batch is generated or cleared: the timer thread generates its batches
    /// itself (one thread hand-off less per batch), the generator thread the rescheduled and
    /// draining ones and the clearing; never two at once, as on one thread.
    generator: Mutex<()>,
    /// The output operation running now, by batch: what the watchdog names.
    running: Mutex<Option<(Time, usize, String)>>,
    /// The last batch the watchdog reported (each stuck batch once).
    reported_stuck: Mutex<Option<Time>>,
    /// Whether the batches rescheduled after a restart were generated (the timer's first
    /// batch waits for them, so batches are generated in time order).
    recovered: Mutex<bool>,
    recovered_cv: Condvar,
}

impl SchedulerShared {
    /// The watchdog, at every batch time: reports the oldest unfinished batch once it is
    /// `watchdog_intervals` intervals late.
    fn watch(&self, now: Time) {
        let Some(k) = self.graph.config.watchdog_intervals else {
            return;
        };
        let Some(oldest) = self.pending.lock().first().copied() else {
            return;
        };
        let late_by = now - oldest;
        if late_by < self.graph.batch_interval * k.max(1) {
            return;
        }
        if self.reported_stuck.lock().replace(oldest) == Some(oldest) {
            return;
        }
        let output = self
            .running
            .lock()
            .clone()
            .filter(|(t, _, _)| *t == oldest)
            .map(|(_, id, name)| (id, name));
        let stuck = crate::listener::StuckBatch {
            batch_time: oldest,
            output,
            late_by,
        };
        log::warn!("watchdog: {stuck}");
        self.graph.listeners.post(ListenerEvent::BatchStuck(stuck));
    }

    /// Waits until the batches rescheduled after a restart are generated (or the context
    /// halts).
    fn wait_recovered(&self) {
        let mut recovered = self.recovered.lock();
        while !*recovered && !self.halted.load(Ordering::SeqCst) {
            self.recovered_cv
                .wait_for(&mut recovered, Duration::from_millis(50));
        }
    }

    fn report_error(&self, e: Error) {
        log::error!("{e}");
        if self.graph.config.stop_on_error {
            self.halted.store(true, Ordering::SeqCst);
        }
        self.waiter.notify_error(e);
    }

    fn generate(&self, time: Time, jobs: &Sender<Job>) {
        if self.last_generated.lock().is_some_and(|l| l >= time) {
            return;
        }
        let batch_jobs = self.generate_batch(time);
        // Marked generated only once the batch is pending, so a graceful stop waiting for
        // it also waits for its jobs.
        *self.last_generated.lock() = Some(time);
        // On disk before any job of the batch runs: a restart knows every batch whose
        // outputs may have been written, and re-runs it with the same input. If it cannot
        // be written, the batch's jobs do not run and the context halts: the last durable
        // checkpoint still describes everything done, so a restart loses nothing.
        let writing = std::time::Instant::now();
        let written = self.write_checkpoint_retrying(time);
        if self.graph.checkpoint_dir.lock().is_some() {
            if let Some(job) = batch_jobs.first() {
                job.set.info.lock().checkpoint_duration = Some(writing.elapsed());
            }
        }
        if let Err(e) = written {
            let message = format!(
                "the metadata checkpoint of batch {time} could not be written, so its jobs did not run and the context stopped generating batches (restart it from the checkpoint once storage is back): {e}"
            );
            self.checkpoint_failed.store(true, Ordering::SeqCst);
            self.halted.store(true, Ordering::SeqCst);
            if let Some(job) = batch_jobs.first() {
                job.set.info.lock().failures.push(message.clone());
            }
            self.report_error(Error::BatchFailed {
                time,
                output: 0,
                message,
            });
        } else {
            emberflow_core::fault::kill_point(&self.graph.ctx, "checkpoint-before-jobs");
        }
        self.generated.notify_all();
        for job in batch_jobs {
            if jobs.send(job).is_err() {
                log::error!("batch {time}: the job executors are gone");
            }
        }
    }

    /// [`write_checkpoint`](Self::write_checkpoint), tried again after a short back-off
    /// while storage fails, as many times as the configuration allows.
    fn write_checkpoint_retrying(&self, time: Time) -> Result<()> {
        let mut delay = Duration::from_millis(50);
        let mut attempt = 0;
        loop {
            match self.write_checkpoint(time, true) {
                Ok(_) => return Ok(()),
                Err(e) if attempt < self.graph.config.checkpoint_write_retries => {
                    log::warn!(
                        "metadata checkpoint of batch {time} failed (attempt {}), retrying: {e}",
                        attempt + 1
                    );
                    // Real time, not the stream's clock: this waits on a real disk.
                    std::thread::sleep(delay);
                    delay *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes a metadata checkpoint for `time`, if the context has a checkpoint directory:
    /// fsynced before this returns if `durable` (a batch's generation), else not (a batch's
    /// completion, see [`Written`]). Returns what it wrote, if anything. Nothing is written
    /// once a checkpoint before a batch's jobs failed: the one on disk must stay the newest,
    /// as it is the last that tells the truth.
    fn write_checkpoint(&self, time: Time, durable: bool) -> Result<Option<Written>> {
        if self.checkpoint_failed.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let Some(dir) = self.graph.checkpoint_dir.lock().clone() else {
            return Ok(None);
        };
        let nodes = self.graph.nodes();
        let mut streams = BTreeMap::new();
        for n in &nodes {
            if let Some(d) = n.checkpoint_data()? {
                streams.insert(n.id(), d);
            }
        }
        let c = crate::checkpoint::Checkpoint {
            version: crate::checkpoint::FORMAT_VERSION,
            batch_interval_ms: self.graph.batch_interval.as_millis() as u64,
            zero_time: self.graph.zero_time().unwrap_or(Time::ZERO),
            time,
            sequence: self.sequence.fetch_add(1, Ordering::SeqCst),
            graph: self.graph.fingerprint(),
            pending: self
                .pending
                .lock()
                .iter()
                .chain(self.failed.lock().iter())
                .copied()
                .collect(),
            last_generated: *self.last_generated.lock(),
            streams,
            data_paths: nodes.iter().flat_map(|n| n.data_paths()).collect(),
        };
        let path = crate::checkpoint::write(&dir, &c, Some(&dir), durable)?;
        if durable {
            self.durable.fetch_max(c.sequence, Ordering::SeqCst);
        }
        Ok(Some(Written {
            path,
            sequence: c.sequence,
        }))
    }

    /// Makes `written` durable unless a newer checkpoint already is.
    fn sync_checkpoint(&self, written: Written) {
        if self.durable.load(Ordering::SeqCst) > written.sequence {
            return;
        }
        match emberflow_core::make_durable(&written.path) {
            Ok(()) => {
                self.durable.fetch_max(written.sequence, Ordering::SeqCst);
            }
            Err(e) => self.report_error(Error::user(format!(
                "cannot write the metadata checkpoint {} to disk: {e}",
                written.path.display()
            ))),
        }
    }

    /// Allocates input, asks every output for its job, and records the batch as pending.
    fn generate_batch(&self, time: Time) -> Vec<Job> {
        let graph = &self.graph;
        let mut records = BTreeMap::new();
        let mut failures = Vec::new();
        for (_, input) in graph.inputs() {
            if let Err(e) = input.assign_batch(time) {
                let e = Error::BatchFailed {
                    time,
                    output: 0,
                    message: format!("{}: assigning its input failed: {e}", input.name()),
                };
                failures.push(e.to_string());
                self.report_error(e);
            }
        }
        let mut batch_jobs = Vec::new();
        for (i, out) in graph.outputs().into_iter().enumerate() {
            match out.generate_job(time) {
                Ok(Some(run)) => batch_jobs.push(Job {
                    set: Arc::new(JobSet {
                        info: Mutex::new(empty_info(time)),
                        remaining: AtomicUsize::new(0),
                        skipped: AtomicBool::new(false),
                    }),
                    output: i,
                    name: out.name().to_owned(),
                    run,
                }),
                Ok(None) => {}
                Err(e) => {
                    let e = Error::BatchFailed {
                        time,
                        output: i,
                        message: format!("generating the job failed: {e}"),
                    };
                    failures.push(e.to_string());
                    self.report_error(e);
                }
            }
        }
        // The stateful nodes' work runs first, inside the batch's first job.
        let work = graph.take_batch_work(time);
        if let Some(first) = batch_jobs.first_mut() {
            if !work.is_empty() {
                let output = std::mem::replace(&mut first.run, Box::new(|| Ok(())));
                first.run = Box::new(move || {
                    for w in work {
                        w()?;
                    }
                    output()
                });
            }
        }
        for (id, input) in graph.inputs() {
            if let Some(n) = input.records(time) {
                records.insert(id, n);
            }
        }
        let info = BatchInfo {
            batch_time: time,
            records_per_input: records,
            submission_time: graph.clock.now(),
            processing_start_time: None,
            processing_end_time: None,
            output_operations: batch_jobs.len(),
            failures,
            checkpoint_duration: None,
        };
        graph
            .listeners
            .post(ListenerEvent::BatchSubmitted(info.clone()));
        if batch_jobs.is_empty() {
            let set = Arc::new(JobSet {
                info: Mutex::new(info),
                remaining: AtomicUsize::new(0),
                skipped: AtomicBool::new(false),
            });
            self.pending.lock().insert(time);
            self.start_set(&set);
            self.finish_set(&set);
            return Vec::new();
        }
        let set = Arc::new(JobSet {
            remaining: AtomicUsize::new(batch_jobs.len()),
            info: Mutex::new(info),
            skipped: AtomicBool::new(false),
        });
        self.pending.lock().insert(time);
        batch_jobs
            .into_iter()
            .map(|mut job| {
                job.set = set.clone();
                job
            })
            .collect()
    }

    fn start_set(&self, set: &JobSet) {
        let mut info = set.info.lock();
        if info.processing_start_time.is_none() {
            info.processing_start_time = Some(self.graph.clock.now());
            let snapshot = info.clone();
            drop(info);
            self.graph
                .listeners
                .post(ListenerEvent::BatchStarted(snapshot));
        }
    }

    fn finish_set(&self, set: &JobSet) {
        let snapshot = {
            let mut info = set.info.lock();
            info.processing_end_time = Some(self.graph.clock.now());
            // Inputs that count records as they are read (files, queues) know them now.
            let time = info.batch_time;
            for (id, input) in self.graph.inputs() {
                if let std::collections::btree_map::Entry::Vacant(e) =
                    info.records_per_input.entry(id)
                {
                    if let Some(n) = input.records_read(time) {
                        e.insert(n);
                    }
                }
            }
            info.clone()
        };
        if !snapshot.succeeded() {
            self.failed_batches.fetch_add(1, Ordering::Relaxed);
            self.failed.lock().insert(snapshot.batch_time);
        }
        self.completed_batches.fetch_add(1, Ordering::Relaxed);
        self.graph
            .listeners
            .post(ListenerEvent::BatchCompleted(snapshot.clone()));
        // A failed batch is not cleared: its input stays listed, and a restart re-runs it.
        if snapshot.succeeded() {
            let _ = self.events.send(Event::Clear(snapshot.batch_time));
        }
        self.pending.lock().remove(&snapshot.batch_time);
        self.idle.notify_all();
    }

    fn run_job(&self, job: Job) {
        let time = job.set.info.lock().batch_time;
        if self.halted.load(Ordering::SeqCst) {
            log::warn!(
                "batch {time}: output {} skipped, the context is stopping; the batch stays pending and a restart runs it",
                job.output
            );
            job.set.skipped.store(true, Ordering::SeqCst);
        } else {
            self.start_set(&job.set);
            let mut op = OutputOperationInfo {
                batch_time: time,
                id: job.output,
                name: job.name.clone(),
                start_time: Some(self.graph.clock.now()),
                end_time: None,
                failure: None,
            };
            self.graph
                .listeners
                .post(ListenerEvent::OutputStarted(op.clone()));
            *self.running.lock() = Some((time, job.output, job.name.clone()));
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job.run));
            *self.running.lock() = None;
            let failure = match result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(p) => Some(format!(
                    "panicked: {}",
                    p.downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_default()
                )),
            };
            op.end_time = Some(self.graph.clock.now());
            op.failure = failure.clone();
            self.graph
                .listeners
                .post(ListenerEvent::OutputCompleted(op.clone()));
            if let Some(message) = failure {
                job.set.info.lock().failures.push(message.clone());
                self.report_error(Error::BatchFailed {
                    time,
                    output: job.output,
                    message,
                });
            }
        }
        if job.set.remaining.fetch_sub(1, Ordering::SeqCst) == 1
            && !job.set.skipped.load(Ordering::SeqCst)
        {
            self.finish_set(&job.set);
        }
    }
}

fn empty_info(time: Time) -> BatchInfo {
    BatchInfo {
        batch_time: time,
        records_per_input: BTreeMap::new(),
        submission_time: time,
        processing_start_time: None,
        processing_end_time: None,
        output_operations: 0,
        failures: Vec::new(),
        checkpoint_duration: None,
    }
}

/// The running scheduler of one StreamingContext.
pub(crate) struct JobScheduler {
    pub(crate) shared: Arc<SchedulerShared>,
    timer: Option<RecurringTimer>,
    generator: Option<JoinHandle<()>>,
    executors: Vec<JoinHandle<()>>,
    jobs: Option<Sender<Job>>,
}

impl JobScheduler {
    /// Starts inputs, receivers, executors, the generator and the timer; the first batch is
    /// at `start`.
    pub(crate) fn start(
        graph: Arc<Graph>,
        waiter: Arc<Waiter>,
        start: Time,
        reschedule: Vec<Time>,
        first_sequence: u64,
    ) -> Result<Self> {
        let (events_tx, events_rx) = unbounded::<Event>();
        let (jobs_tx, jobs_rx) = unbounded::<Job>();
        let shared = Arc::new(SchedulerShared {
            graph: graph.clone(),
            waiter,
            events: events_tx.clone(),
            last_generated: Mutex::new(None),
            generated: Condvar::new(),
            pending: Mutex::new(BTreeSet::new()),
            failed: Mutex::new(BTreeSet::new()),
            idle: Condvar::new(),
            halted: AtomicBool::new(false),
            failed_batches: AtomicU64::new(0),
            completed_batches: AtomicU64::new(0),
            sequence: AtomicU64::new(first_sequence),
            durable: AtomicU64::new(0),
            checkpoint_failed: AtomicBool::new(false),
            generator: Mutex::new(()),
            running: Mutex::new(None),
            reported_stuck: Mutex::new(None),
            recovered: Mutex::new(false),
            recovered_cv: Condvar::new(),
        });
        let io_err = |what: &str, e: std::io::Error| Error::Io {
            path: what.into(),
            source: e,
        };
        let mut executors = Vec::new();
        for i in 0..graph.config.concurrent_jobs.max(1) {
            let (s, rx) = (shared.clone(), jobs_rx.clone());
            executors.push(
                std::thread::Builder::new()
                    .name(format!("streaming-job-executor-{i}"))
                    .spawn(move || {
                        while let Some(job) = crate::spin::recv(&rx) {
                            s.run_job(job);
                        }
                    })
                    .map_err(|e| io_err("job executor thread", e))?,
            );
        }
        let (s, jobs) = (shared.clone(), jobs_tx.clone());
        let generator = std::thread::Builder::new()
            .name("streaming-job-generator".into())
            .spawn(move || generator_loop(s, events_rx, jobs))
            .map_err(|e| io_err("job generator thread", e))?;
        // After a restart: the batches that were pending, and those that fell due while the
        // driver was down, in order, before the timer's first batch.
        for t in reschedule {
            log::info!("recovery: rescheduling batch {t}");
            let _ = shared.events.send(Event::Generate(t));
        }
        let _ = shared.events.send(Event::Recovered);
        let (s, jobs) = (shared.clone(), jobs_tx.clone());
        let timer = RecurringTimer::start(
            "streaming-batch-timer",
            graph.clock.clone(),
            start,
            graph.batch_interval,
            move |t| {
                s.wait_recovered();
                if s.halted.load(Ordering::SeqCst) {
                    return false;
                }
                let _generating = s.generator.lock();
                s.generate(t, &jobs);
                s.watch(t);
                !s.halted.load(Ordering::SeqCst)
            },
        )
        .map_err(|e| io_err("batch timer thread", e))?;
        Ok(JobScheduler {
            shared,
            timer: Some(timer),
            generator: Some(generator),
            executors,
            jobs: Some(jobs_tx),
        })
    }

    /// Stops. Graceful: receivers stop, batches are generated until everything received is
    /// allocated, and queued batches finish (bounded by `timeout`). Immediate: queued jobs are
    /// skipped; a running job finishes.
    pub(crate) fn stop(&mut self, graceful: bool, timeout: Duration) {
        let shared = self.shared.clone();
        if let Some(mut t) = self.timer.take() {
            t.stop();
        }
        // Sources stop taking data in (receivers stop receiving); what they took in still
        // goes to batches.
        let inputs = shared.graph.inputs();
        for (_, input) in &inputs {
            input.stop();
        }
        let deadline = Instant::now() + timeout;
        if graceful && !shared.halted.load(Ordering::SeqCst) {
            // Drain: batches at the next batch times, without waiting for the clock, until
            // no received record is left unallocated.
            while inputs.iter().any(|(_, i)| i.has_unconsumed()) && Instant::now() < deadline {
                let mut last = shared.last_generated.lock();
                let next = match *last {
                    Some(l) => l + shared.graph.batch_interval,
                    None => crate::util::recurring_timer::RecurringTimer::next_time(
                        shared.graph.clock.now(),
                        shared.graph.batch_interval,
                    ),
                };
                let _ = shared.events.send(Event::Generate(next));
                while last.is_none_or(|l| l < next) && Instant::now() < deadline {
                    shared.generated.wait_until(&mut last, deadline);
                }
            }
            let mut pending = shared.pending.lock();
            while !pending.is_empty() && Instant::now() < deadline {
                shared.idle.wait_until(&mut pending, deadline);
            }
            if !pending.is_empty() {
                log::warn!(
                    "graceful stop timed out with {} batches unfinished; stopping them",
                    pending.len()
                );
            }
        }
        shared.halted.store(true, Ordering::SeqCst);
        let _ = shared.events.send(Event::Stop);
        if let Some(g) = self.generator.take() {
            if g.join().is_err() {
                log::error!("the job generator panicked");
            }
        }
        self.jobs.take();
        for e in self.executors.drain(..) {
            if e.join().is_err() {
                log::error!("a job executor panicked");
            }
        }
    }
}

/// A metadata checkpoint file written. A completion checkpoint is written without an fsync
/// (group commit) and kept as the generator's `unsynced` until it is on disk: the
/// checkpoint of the next batch's generation, fsynced before that batch's jobs run, holds
/// everything it says, so in a stream that keeps generating batches it is never fsynced on
/// its own. If no newer
/// checkpoint is on disk within a batch interval (or when the generator stops), the generator
/// fsyncs it. Until then a machine that loses power may lose it: the batch is then re-run
/// from the checkpoint of its generation (outputs are idempotent), as after a crash just
/// before the completion checkpoint; a torn file fails its checksum and is skipped.
struct Written {
    path: std::path::PathBuf,
    sequence: u64,
}

fn generator_loop(shared: Arc<SchedulerShared>, events: ChannelReceiver<Event>, jobs: Sender<Job>) {
    let mut unsynced: Option<Written> = None;
    loop {
        let event = match &unsynced {
            None => events.recv().ok(),
            Some(_) => match events.recv_timeout(shared.graph.batch_interval) {
                Ok(event) => Some(event),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if let Some(written) = unsynced.take() {
                        shared.sync_checkpoint(written);
                    }
                    continue;
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => None,
            },
        };
        let Some(event) = event else { break };
        match event {
            Event::Generate(t) => {
                let _generating = shared.generator.lock();
                if !shared.halted.load(Ordering::SeqCst) {
                    shared.generate(t, &jobs);
                }
            }
            Event::Recovered => {
                *shared.recovered.lock() = true;
                shared.recovered_cv.notify_all();
            }
            Event::Clear(t) => {
                let _clearing = shared.generator.lock();
                let failed = shared.failed.lock().clone();
                shared.graph.clear_metadata(t, &failed);
                emberflow_core::fault::kill_point(
                    &shared.graph.ctx,
                    "outputs-before-completion-checkpoint",
                );
                // A failed completion checkpoint costs only a re-run of the batch after a
                // restart (outputs are idempotent): reported, not fatal.
                match shared.write_checkpoint(t, false) {
                    Ok(written) => {
                        if let Some(written) = written {
                            unsynced = Some(written);
                        }
                    }
                    Err(e) => shared.report_error(Error::user(format!(
                        "cannot write the metadata checkpoint after batch {t} completed: {e}"
                    ))),
                }
            }
            Event::Stop => break,
        }
    }
    if let Some(written) = unsynced.take() {
        shared.sync_checkpoint(written);
    }
}
