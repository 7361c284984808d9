//! Start, stop and waiting for the end.

use super::{StreamingContext, StreamingContextState};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::scheduler::JobScheduler;
use crate::time::Time;
use crate::util::recurring_timer::RecurringTimer;

/// How to stop: gracefully (received data is processed first) or at once, and whether to
/// stop the RDD [`Context`](emberflow_core::Context) too.
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
    /// Keep the RDD [`Context`](emberflow_core::Context) usable after the stop (default: it is stopped too, as Spark).
    pub fn keep_context(mut self, keep: bool) -> Self {
        self.stop_context = !keep;
        self
    }
    /// Whether the stop is graceful.
    pub fn is_graceful(&self) -> bool {
        self.graceful
    }
}

impl StreamingContext {
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
        if let Some(group) = graph.group.get() {
            // The checkpoint directory holds the partitions' checkpoints unless a store was
            // given, and the member's own metadata goes to a directory of its own under it,
            // never read by another member.
            let dir = graph.checkpoint_dir.lock().clone();
            if let Some(dir) = dir {
                if !group.has_store() {
                    group.set_store(std::sync::Arc::new(
                        crate::checkpoint_store::LocalDirStore::new(&dir)?,
                    ));
                }
                self.checkpoint(dir.join("members").join(group.member()))?;
            }
            // Every member must run the same program: the first records its graph.
            let print: Vec<String> = graph
                .fingerprint()
                .iter()
                .map(|p| format!("{}: {}", p.id, p.description))
                .collect();
            // A partition's checkpoint holds its state before the batch: batches must run
            // one after another.
            if graph.config.concurrent_jobs > 1 {
                return Err(Error::InvalidConfig(format!(
                    "a group-partitioned job runs its batches one after another (each partition's checkpoint holds its state before the batch); concurrent_jobs is {}",
                    graph.config.concurrent_jobs
                )));
            }
            // Operators whose data would not move with a partition: refused, not wrong.
            if let Some(p) = graph.fingerprint().into_iter().find(|p| {
                let kind = p.description.split(' ').next().unwrap_or_default();
                matches!(kind, "window" | "held") || kind.starts_with("event_")
            }) {
                return Err(Error::InvalidGraph(format!(
                    "stream {} ({}) keeps data across batches that would not move with a Kafka partition in a group-partitioned job; use reduce_by_key_and_window_with_inverse for windows (its window moves with the partition), update_state_by_key or map_with_state for state",
                    p.id, p.description
                )));
            }
            crate::checkpoint_store::check_graph(&*group.store()?, &print.join("\n"))?;
        }
        let start = RecurringTimer::next_time(graph.clock.now(), graph.batch_interval);
        let recovery = graph.recovery.lock().take();
        let first_sequence = recovery.as_ref().map_or(0, |r| r.sequence + 1);
        let streams = recovery
            .as_ref()
            .map(|r| r.streams.clone())
            .unwrap_or_default();
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
        graph.set_first_batch(reschedule.first().copied().unwrap_or(start));
        graph.init_remember(graph.remember_min());
        // The one moment restored data is applied: every stream's, before any input starts
        // (a receiver replays its log against it, a file input keeps its remembered files).
        for node in graph.nodes() {
            if let Some(data) = streams.get(&node.id()) {
                node.restore(data)?;
            }
        }
        // Progress is tracked on the thread that completes each batch, before its input's
        // bookkeeping is cleared.
        let tracker = Arc::new(crate::progress::ProgressTracker::new(
            graph.services.clone(),
            self.job_id()?,
            graph.config.name.clone(),
            graph.inputs(),
            graph.nodes(),
            graph
                .outputs()
                .iter()
                .map(|o| o.name().to_owned())
                .collect(),
        ));
        graph.listeners.add_internal(tracker.clone());
        #[cfg(feature = "ui")]
        if let Some(addr) = &graph.config.ui {
            // Bound before any input starts: an address in use fails the start cleanly.
            let addr = super::config::ui_address(addr)?;
            let bus = graph.clone();
            let model = Arc::new(crate::ui::UiModel::new(
                graph.batch_interval,
                graph.clock.now(),
                tracker.clone(),
                Box::new(move || bus.listeners.dropped()),
            ));
            graph.listeners.add(model.clone());
            *self.inner.ui.lock() = Some(crate::ui::UiServer::start(addr, model)?);
        }
        for (id, input) in graph.inputs() {
            input.start(zero)?;
            log::debug!("input stream {id} ({}) started", input.name());
        }
        if graph.config.backpressure {
            if let Some(rate) = graph.config.backpressure_initial_rate {
                for (_, input) in graph.inputs() {
                    input.set_rate_limit(Some(rate));
                }
            }
            graph
                .listeners
                .add_internal(Arc::new(crate::backpressure::RateController::new(
                    graph.inputs(),
                    graph.batch_interval,
                )));
        }
        *self.inner.progress.lock() = Some(tracker);
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
        graph
            .listeners
            .post(crate::listener::ListenerEvent::StreamingStarted(now));
        if graph.config.stop_gracefully_on_signal {
            self.stop_on_signal()?;
        }
        log::info!("StreamingContext started; first batch at {start}");
        Ok(())
    }

    /// The job's id: kept in the checkpoint directory (`id`), so a restart from it reports
    /// the same; without one, this context's own.
    fn job_id(&self) -> Result<String> {
        let Some(dir) = self.inner.graph.checkpoint_dir.lock().clone() else {
            return Ok(self.inner.id.clone());
        };
        let path = dir.join("id");
        match std::fs::read_to_string(&path) {
            Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_owned()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
        // Written whole or not at all: a new file renamed into place.
        let tmp = dir.join(format!(".id-{}", std::process::id()));
        std::fs::write(&tmp, &self.inner.id).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        Ok(self.inner.id.clone())
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
        if let Some(p) = &*self.inner.progress.lock() {
            p.stopped();
        }
        // Listeners hear of every batch that ran before `stop` returns.
        if !self.inner.graph.listeners.flush(Duration::from_secs(10)) {
            log::warn!("the listeners did not catch up within 10 s of the stop");
        }
        #[cfg(feature = "ui")]
        if let Some(mut ui) = self.inner.ui.lock().take() {
            ui.stop();
        }
        if options.stop_context {
            self.inner.graph.ctx.stop();
        }
        if let Some(group) = self.inner.graph.group.get() {
            // A group member's own metadata checkpoints are never read by another start
            // (each start builds its graph afresh and restores partitions): gone with it.
            if let Some(dir) = self.inner.graph.checkpoint_dir.lock().clone() {
                if dir.ends_with(std::path::Path::new("members").join(group.member())) {
                    let _ = std::fs::remove_dir_all(&dir);
                }
            }
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
