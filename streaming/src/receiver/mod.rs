//! Receivers: user code that pushes records into a stream from its own thread (Spark's
//! Receiver). A supervisor thread runs the receiver's `on_start`, restarts it when it asks
//! (backing off while restarts store nothing), and stops it. Stored records are buffered and
//! cut into blocks every block interval (on the context's clock) and whenever a batch is
//! allocated, so a batch holds every record stored before its time.

pub(crate) mod socket;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use emberflow_core::Data;
use parking_lot::{Condvar, Mutex};

use crate::graph::Graph;
use crate::listener::ReceiverInfo;
use crate::util::recurring_timer::RecurringTimer;
use crate::{Error, Result, Time};

/// User code that receives data and stores it into a stream.
///
/// `on_start` runs on a thread of its own. It may block, receiving until
/// [`ReceiverContext::is_stopped`] turns true, or start threads of its own (which keep a clone
/// of the context) and return. `on_stop` runs on the same thread once the receiver is stopped
/// or restarted.
///
/// ```
/// use emberflow_streaming::{Receiver, ReceiverContext};
/// struct Counter(u64);
/// impl Receiver for Counter {
///     type Item = u64;
///     fn on_start(&mut self, ctx: &ReceiverContext<u64>) {
///         for i in 0..self.0 {
///             ctx.store(i);
///         }
///     }
/// }
/// ```
pub trait Receiver: Send + 'static {
    /// The records this receiver produces.
    type Item: Data;
    /// Starts receiving.
    fn on_start(&mut self, ctx: &ReceiverContext<Self::Item>);
    /// Releases what `on_start` acquired.
    fn on_stop(&mut self) {}
    /// A name for logs and listeners.
    fn name(&self) -> String {
        std::any::type_name::<Self>()
            .rsplit("::")
            .next()
            .unwrap_or("receiver")
            .to_owned()
    }
}

struct RateLimiter {
    per_second: u64,
    start: Instant,
    permitted: u64,
}

impl RateLimiter {
    /// Blocks until `n` more records fit under the rate (real time: rates are about the
    /// outside world, not stream time).
    fn acquire(&mut self, n: u64) {
        self.permitted += n;
        let due = Duration::from_secs_f64(self.permitted as f64 / self.per_second as f64);
        let elapsed = self.start.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
    }
}

pub(crate) struct ReceiverShared<T> {
    stream_id: usize,
    pub(crate) name: String,
    graph: Weak<Graph>,
    buffer: Mutex<Vec<T>>,
    ready: Mutex<Vec<Arc<Vec<T>>>>,
    allocated: Mutex<BTreeMap<Time, Vec<Arc<Vec<T>>>>>,
    stop_requested: AtomicBool,
    restart_requested: Mutex<Option<String>>,
    wake: Condvar,
    last_error: Mutex<Option<String>>,
    rate: Option<Mutex<RateLimiter>>,
    stored: AtomicU64,
}

impl<T: Data> ReceiverShared<T> {
    fn info(&self, active: bool) -> ReceiverInfo {
        ReceiverInfo {
            stream_id: self.stream_id,
            name: self.name.clone(),
            active,
            last_error: self.last_error.lock().clone(),
        }
    }

    fn post(&self, f: impl Fn(&dyn crate::StreamingListener)) {
        if let Some(g) = self.graph.upgrade() {
            g.listeners.post(f);
        }
    }

    /// Moves the buffered records into a block.
    fn cut_block(&self) {
        let records = std::mem::take(&mut *self.buffer.lock());
        if !records.is_empty() {
            self.ready.lock().push(Arc::new(records));
        }
    }

    pub(crate) fn blocks_of(&self, time: Time) -> Vec<Arc<Vec<T>>> {
        self.allocated
            .lock()
            .get(&time)
            .cloned()
            .unwrap_or_default()
    }
}

/// What a receiver uses to store records and to report on itself. Cheap to clone; threads
/// the receiver starts keep a clone.
pub struct ReceiverContext<T> {
    shared: Arc<ReceiverShared<T>>,
}

impl<T> Clone for ReceiverContext<T> {
    fn clone(&self) -> Self {
        ReceiverContext {
            shared: self.shared.clone(),
        }
    }
}

impl<T: Data> ReceiverContext<T> {
    /// Stores one record (waits if the receiver's rate limit is reached).
    pub fn store(&self, record: T) {
        if let Some(r) = &self.shared.rate {
            r.lock().acquire(1);
        }
        self.shared.buffer.lock().push(record);
        self.shared.stored.fetch_add(1, Ordering::Relaxed);
    }

    /// Stores several records at once.
    pub fn store_many(&self, records: impl IntoIterator<Item = T>) {
        let records: Vec<T> = records.into_iter().collect();
        if let Some(r) = &self.shared.rate {
            r.lock().acquire(records.len() as u64);
        }
        let n = records.len() as u64;
        self.shared.buffer.lock().extend(records);
        self.shared.stored.fetch_add(n, Ordering::Relaxed);
    }

    /// Asks to be stopped and started again (after the restart delay): `on_start` should
    /// return soon; `on_stop` runs, then `on_start` again. Reported to listeners as an error.
    pub fn restart(&self, message: impl Into<String>) {
        let message = message.into();
        log::warn!("receiver {} restarting: {message}", self.shared.name);
        *self.shared.last_error.lock() = Some(message.clone());
        *self.shared.restart_requested.lock() = Some(message);
        self.shared.wake.notify_all();
        let info = self.shared.info(false);
        self.shared.post(|l| l.on_receiver_error(&info));
    }

    /// Reports an error to listeners without stopping.
    pub fn report_error(&self, message: impl Into<String>) {
        let message = message.into();
        log::warn!("receiver {} reported: {message}", self.shared.name);
        *self.shared.last_error.lock() = Some(message);
        let info = self.shared.info(true);
        self.shared.post(|l| l.on_receiver_error(&info));
    }

    /// Stops this receiver for good.
    pub fn stop(&self, message: impl Into<String>) {
        log::info!("receiver {} stopping: {}", self.shared.name, message.into());
        self.shared.stop_requested.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
    }

    /// Whether the receiver should stop receiving (stopping or restarting).
    pub fn is_stopped(&self) -> bool {
        self.shared.stop_requested.load(Ordering::SeqCst)
            || self.shared.restart_requested.lock().is_some()
    }

    /// The id of the input stream this receiver feeds.
    pub fn stream_id(&self) -> usize {
        self.shared.stream_id
    }
}

/// The receiver side of an input stream, as the receiver tracker drives it.
pub(crate) trait ReceiverInput: Send + Sync + 'static {
    fn start(&self) -> Result<()>;
    /// Stops the receiver, waits for it, and cuts what it buffered into a block.
    fn stop(&self);
    /// Cuts the buffer and assigns every unallocated block to the batch at `time`; returns
    /// the number of records.
    fn allocate(&self, time: Time) -> u64;
    fn has_unallocated(&self) -> bool;
}

pub(crate) struct ReceiverRunner<R: Receiver> {
    pub(crate) shared: Arc<ReceiverShared<R::Item>>,
    receiver: Mutex<Option<R>>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
    timer: Mutex<Option<RecurringTimer>>,
}

impl<R: Receiver> ReceiverRunner<R> {
    pub(crate) fn new(receiver: R, stream_id: usize, graph: &Arc<Graph>) -> Self {
        let rate = graph.config.receiver_max_rate.map(|per_second| {
            Mutex::new(RateLimiter {
                per_second: per_second.max(1),
                start: Instant::now(),
                permitted: 0,
            })
        });
        ReceiverRunner {
            shared: Arc::new(ReceiverShared {
                stream_id,
                name: receiver.name(),
                graph: Arc::downgrade(graph),
                buffer: Mutex::new(Vec::new()),
                ready: Mutex::new(Vec::new()),
                allocated: Mutex::new(BTreeMap::new()),
                stop_requested: AtomicBool::new(false),
                restart_requested: Mutex::new(None),
                wake: Condvar::new(),
                last_error: Mutex::new(None),
                rate,
                stored: AtomicU64::new(0),
            }),
            receiver: Mutex::new(Some(receiver)),
            supervisor: Mutex::new(None),
            timer: Mutex::new(None),
        }
    }
}

/// Runs the receiver until stopped, restarting it on request.
fn supervise<R: Receiver>(
    mut receiver: R,
    shared: Arc<ReceiverShared<R::Item>>,
    base_delay: Duration,
) {
    let ctx = ReceiverContext {
        shared: shared.clone(),
    };
    let mut delay = base_delay;
    loop {
        *shared.restart_requested.lock() = None;
        let before = shared.stored.load(Ordering::Relaxed);
        let info = shared.info(true);
        shared.post(|l| l.on_receiver_started(&info));
        let started =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| receiver.on_start(&ctx)));
        if started.is_err() {
            ctx.restart("the receiver panicked in on_start");
        }
        {
            let mut restart = shared.restart_requested.lock();
            while !shared.stop_requested.load(Ordering::SeqCst) && restart.is_none() {
                shared
                    .wake
                    .wait_for(&mut restart, Duration::from_millis(50));
            }
        }
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| receiver.on_stop())).is_err() {
            log::error!("receiver {} panicked in on_stop", shared.name);
        }
        if shared.stop_requested.load(Ordering::SeqCst) {
            break;
        }
        // Back off while restarts bring nothing; reset once data flows again.
        delay = if shared.stored.load(Ordering::Relaxed) == before {
            (delay * 2).min(base_delay * 16).max(base_delay)
        } else {
            base_delay
        };
        let deadline = Instant::now() + delay;
        let mut restart = shared.restart_requested.lock();
        while !shared.stop_requested.load(Ordering::SeqCst) && Instant::now() < deadline {
            shared.wake.wait_until(
                &mut restart,
                deadline.min(Instant::now() + Duration::from_millis(50)),
            );
        }
        drop(restart);
        if shared.stop_requested.load(Ordering::SeqCst) {
            break;
        }
    }
    shared.cut_block();
    let info = shared.info(false);
    shared.post(|l| l.on_receiver_stopped(&info));
}

impl<R: Receiver> ReceiverInput for ReceiverRunner<R> {
    fn start(&self) -> Result<()> {
        let graph = self
            .shared
            .graph
            .upgrade()
            .ok_or_else(|| Error::IllegalState("the StreamingContext is gone".into()))?;
        let Some(receiver) = self.receiver.lock().take() else {
            return Err(Error::IllegalState(
                "a receiver can be started only once".into(),
            ));
        };
        let shared = self.shared.clone();
        let delay = graph.config.receiver_restart_delay;
        let name = format!("receiver-{}", self.shared.stream_id);
        let handle = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || supervise(receiver, shared, delay))
            .map_err(|e| Error::Io {
                path: name.clone().into(),
                source: e,
            })?;
        *self.supervisor.lock() = Some(handle);
        let shared = self.shared.clone();
        let block = graph.config.block_interval;
        let first = RecurringTimer::next_time(graph.clock.now(), block);
        let timer = RecurringTimer::start(
            &format!("{name}-blocks"),
            graph.clock.clone(),
            first,
            block,
            move |_| {
                shared.cut_block();
                true
            },
        )
        .map_err(|e| Error::Io {
            path: name.into(),
            source: e,
        })?;
        *self.timer.lock() = Some(timer);
        Ok(())
    }

    fn stop(&self) {
        self.shared.stop_requested.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        if let Some(mut t) = self.timer.lock().take() {
            t.stop();
        }
        if let Some(h) = self.supervisor.lock().take() {
            if h.join().is_err() {
                log::error!("the supervisor of receiver {} panicked", self.shared.name);
            }
        }
        self.shared.cut_block();
    }

    fn allocate(&self, time: Time) -> u64 {
        self.shared.cut_block();
        let blocks = std::mem::take(&mut *self.shared.ready.lock());
        let n = blocks.iter().map(|b| b.len() as u64).sum();
        self.shared.allocated.lock().insert(time, blocks);
        n
    }

    fn has_unallocated(&self) -> bool {
        !self.shared.ready.lock().is_empty() || !self.shared.buffer.lock().is_empty()
    }
}

impl<R: Receiver> ReceiverRunner<R> {
    /// Drops allocations of batches up to `time` (their RDDs hold the blocks).
    pub(crate) fn forget(&self, time: Time) {
        let mut a = self.shared.allocated.lock();
        let keep = a.split_off(&(time + Duration::from_millis(1)));
        *a = keep;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limiter_holds_storing_to_the_rate() {
        let mut r = RateLimiter {
            per_second: 1000,
            start: Instant::now(),
            permitted: 0,
        };
        let t = Instant::now();
        for _ in 0..20 {
            r.acquire(10);
        }
        // 200 records at 1000/s take at least 0.2 s (a lower bound only: never flaky).
        assert!(
            t.elapsed() >= Duration::from_millis(195),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(r.permitted, 200);
    }
}
