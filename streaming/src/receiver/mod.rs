//! Receivers: user code that pushes records into a stream from its own thread (Spark's
//! Receiver). A supervisor thread runs the receiver's `on_start`, restarts it when it asks
//! (backing off while restarts store nothing), and stops it. Stored records are buffered and
//! cut into blocks every block interval (on the context's clock) and whenever a batch is
//! allocated, so a batch holds every record stored before its time.

mod rate;
pub(crate) mod socket;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use emberflow_core::Data;
use parking_lot::{Condvar, Mutex};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::wal::{Record, WriteAheadLog};
use rate::RateLimiter;

use crate::error::{Error, Result};
use crate::listener::{ListenerEvent, ReceiverInfo};
use crate::services::Services;
use crate::time::Time;
use crate::util::recurring_timer::RecurringTimer;

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
///             // Fails only with the write-ahead log on and its disk failing.
///             if let Err(e) = ctx.store(i) {
///                 return ctx.restart(format!("cannot store: {e}"));
///             }
///         }
///     }
/// }
/// ```
pub trait Receiver: Send + 'static {
    /// The records this receiver produces (serialisable: with the write-ahead log on, they
    /// are logged before `store` returns).
    type Item: Data + Serialize + DeserializeOwned;
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

/// A block of stored records with its id.
type Block<T> = (u64, Arc<Vec<T>>);

/// A receiver stream's data in the metadata checkpoint.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub(crate) struct ReceiverCheckpoint {
    /// Block ids of each batch still held (pending, or not yet forgotten).
    pub(crate) allocations: BTreeMap<Time, Vec<u64>>,
    /// Every block id below this was given to a batch (blocks reach batches in id order):
    /// those not in `allocations` were in batches that completed.
    pub(crate) allocated_below: u64,
}

pub(crate) struct ReceiverShared<T> {
    stream_id: usize,
    pub(crate) name: String,
    services: Arc<Services>,
    buffer: Mutex<Vec<T>>,
    /// Blocks cut and not yet given to a batch, with their ids.
    ready: Mutex<Vec<Block<T>>>,
    allocated: Mutex<BTreeMap<Time, Vec<Block<T>>>>,
    next_id: AtomicU64,
    /// The write-ahead log, when on.
    wal: Mutex<Option<Arc<WriteAheadLog>>>,
    /// What the metadata checkpoint held, until `start` replays the log.
    restored: Mutex<Option<ReceiverCheckpoint>>,
    /// One above the highest block id given to a batch.
    allocated_below: AtomicU64,
    stop_requested: AtomicBool,
    restart_requested: Mutex<Option<String>>,
    wake: Condvar,
    last_error: Mutex<Option<String>>,
    rate: Mutex<RateLimiter>,
    /// Whether `rate` has a limit: without one, `store` neither locks it nor reads the clock.
    limited: AtomicBool,
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

    fn post(&self, event: crate::listener::ListenerEvent) {
        self.services.listeners.post(event);
    }

    /// Moves the buffered records into a block (without the log: with it, `store` makes
    /// blocks itself).
    fn cut_block(&self) {
        let records = std::mem::take(&mut *self.buffer.lock());
        if !records.is_empty() {
            let id = self.next_id.fetch_add(1, Ordering::SeqCst);
            self.ready.lock().push((id, Arc::new(records)));
        }
    }

    pub(crate) fn blocks_of(&self, time: Time) -> Vec<Arc<Vec<T>>> {
        self.allocated
            .lock()
            .get(&time)
            .map(|bs| bs.iter().map(|(_, b)| b.clone()).collect())
            .unwrap_or_default()
    }

    /// Block ids per batch still held, and how far allocation went, for the metadata
    /// checkpoint.
    pub(crate) fn checkpoint(&self) -> ReceiverCheckpoint {
        let allocated = self.allocated.lock();
        ReceiverCheckpoint {
            allocations: allocated
                .iter()
                .map(|(t, bs)| (*t, bs.iter().map(|(id, _)| *id).collect()))
                .collect(),
            allocated_below: self.allocated_below.load(Ordering::SeqCst),
        }
    }

    pub(crate) fn set_restored(&self, restored: ReceiverCheckpoint) {
        *self.restored.lock() = Some(restored);
    }

    /// Records in the blocks of the batch at `time`, once assigned.
    pub(crate) fn records_of(&self, time: Time) -> Option<u64> {
        self.allocated
            .lock()
            .get(&time)
            .map(|bs| bs.iter().map(|(_, b)| b.len() as u64).sum())
    }

    /// The rate hook: at most `per_second` records per second from now on (and never more
    /// than the configured `receiver_max_rate`).
    pub(crate) fn set_rate_limit(&self, per_second: Option<u64>) {
        let configured = self.services.config.receiver_max_rate;
        let limit = match (configured, per_second) {
            (Some(c), Some(p)) => Some(c.min(p)),
            (c, p) => c.or(p),
        };
        self.rate.lock().set(limit.map(|r| r.max(1)));
        self.limited.store(limit.is_some(), Ordering::SeqCst);
    }

    /// Waits until `n` more records fit under the receiver's rate limit, if it has one.
    fn limit_rate(&self, n: u64) {
        if !self.limited.load(Ordering::Relaxed) {
            return;
        }
        let clock = self.services.clock.as_ref();
        let due = self.rate.lock().due(n, clock.now());
        if let Some(due) = due {
            clock.wait_until(due, &self.stop_requested);
        }
    }
}

impl<T: Data + Serialize + DeserializeOwned> ReceiverShared<T> {
    /// Stores `records` as one block: logged (and fsynced) first when the log is on. With
    /// the log, a block that could not be made durable is refused: it is not processed, and
    /// the error goes back to the receiver, which may retry or stop.
    fn store_block(&self, records: Vec<T>) -> Result<()> {
        let wal = self.wal.lock().clone();
        let Some(wal) = wal else {
            self.buffer.lock().extend(records);
            return Ok(());
        };
        let stored = wal.append_block(records, |id, records| {
            emberflow_core::fault::kill_point(&self.services.ctx, "wal-appended");
            self.ready.lock().push((id, Arc::new(records)));
        });
        match stored {
            Ok(_) => Ok(()),
            Err(e) => {
                log::error!(
                    "receiver {}: writing a block to the log failed, block refused: {e}",
                    self.name
                );
                *self.last_error.lock() = Some(format!("write-ahead log: {e}"));
                Err(e)
            }
        }
    }

    /// Opens the log at start: a fresh start clears it; a restart replays it.
    fn open_log(&self, dir: &std::path::Path, roll_bytes: u64) -> Result<()> {
        let wal = Arc::new(WriteAheadLog::open_rolling_at(dir, roll_bytes)?);
        // A start without restored allocations (no metadata checkpoint yet: the first run
        // died before its first batch) still replays: what was stored goes to the first batch.
        let restored = self.restored.lock().take().unwrap_or_default();
        let replayed = wal.replay::<T>()?;
        let mut blocks: std::collections::HashMap<u64, Arc<Vec<T>>> = replayed
            .blocks
            .into_iter()
            .map(|(id, b)| (id, Arc::new(b)))
            .collect();
        {
            let mut allocated = self.allocated.lock();
            for (t, ids) in &restored.allocations {
                let mut bs = Vec::new();
                for id in ids {
                    match blocks.remove(id) {
                        Some(b) => bs.push((*id, b)),
                        None => log::warn!(
                            "receiver {}: block {id} of batch {t} is not in the log",
                            self.name
                        ),
                    }
                }
                allocated.insert(*t, bs);
            }
        }
        self.allocated_below
            .store(restored.allocated_below, Ordering::SeqCst);
        // A block the checkpoint counts as given to a batch, and no longer held by one (the
        // held ones were taken above), was in a completed batch even if its done mark (or
        // its allocation record) never reached the disk: replaying it would count it twice.
        let mut ready: Vec<(u64, Arc<Vec<T>>)> = blocks
            .into_iter()
            .filter(|(id, _)| !replayed.done.contains(id) && *id >= restored.allocated_below)
            .collect();
        ready.sort_by_key(|(id, _)| *id);
        log::info!(
            "receiver {}: {} blocks replayed from the log for the next batch",
            self.name,
            ready.len()
        );
        *self.ready.lock() = ready;
        *self.wal.lock() = Some(wal);
        Ok(())
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

impl<T: Data + Serialize + DeserializeOwned> ReceiverContext<T> {
    /// Stores one record (waits if the receiver's rate limit is reached). With the
    /// write-ahead log on, the record is on disk when this returns `Ok`; prefer `store_many`
    /// then.
    ///
    /// # Errors
    /// With the write-ahead log on, a write or fsync of the log failed: the record is not
    /// stored (it will not be processed) and the receiver should retry it or stop. Without
    /// the log, storing cannot fail.
    pub fn store(&self, record: T) -> Result<()> {
        if self.shared.wal.lock().is_some() {
            return self.store_many(std::iter::once(record));
        }
        // Without the log, one record goes straight to the buffer: no block of its own.
        self.shared.limit_rate(1);
        self.shared.buffer.lock().push(record);
        self.shared.stored.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Stores several records at once: with the write-ahead log on, as one block, on disk
    /// when this returns `Ok`.
    ///
    /// # Errors
    /// As [`store`](Self::store): with the log on, nothing of the block is stored when the
    /// log cannot be written; acknowledge the source (commit offsets) only after `Ok`.
    pub fn store_many(&self, records: impl IntoIterator<Item = T>) -> Result<()> {
        let records: Vec<T> = records.into_iter().collect();
        self.shared.limit_rate(records.len() as u64);
        let n = records.len() as u64;
        self.shared.store_block(records)?;
        self.shared.stored.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }
}

impl<T: Data> ReceiverContext<T> {
    /// Asks to be stopped and started again (after the restart delay): `on_start` should
    /// return soon; `on_stop` runs, then `on_start` again. Reported to listeners as an error.
    pub fn restart(&self, message: impl Into<String>) {
        let message = message.into();
        log::warn!("receiver {} restarting: {message}", self.shared.name);
        *self.shared.last_error.lock() = Some(message.clone());
        *self.shared.restart_requested.lock() = Some(message);
        self.shared.wake.notify_all();
        let info = self.shared.info(false);
        self.shared.post(ListenerEvent::ReceiverError(info));
    }

    /// Reports an error to listeners without stopping.
    pub fn report_error(&self, message: impl Into<String>) {
        let message = message.into();
        log::warn!("receiver {} reported: {message}", self.shared.name);
        *self.shared.last_error.lock() = Some(message);
        let info = self.shared.info(true);
        self.shared.post(ListenerEvent::ReceiverError(info));
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

pub(crate) struct ReceiverRunner<R: Receiver> {
    pub(crate) shared: Arc<ReceiverShared<R::Item>>,
    receiver: Mutex<Option<R>>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
    timer: Mutex<Option<RecurringTimer>>,
}

impl<R: Receiver> ReceiverRunner<R> {
    pub(crate) fn new(receiver: R, stream_id: usize, services: &Arc<Services>) -> Self {
        let max_rate = services.config.receiver_max_rate.map(|r| r.max(1));
        let rate = Mutex::new(RateLimiter::new(max_rate));
        ReceiverRunner {
            shared: Arc::new(ReceiverShared {
                stream_id,
                name: receiver.name(),
                services: services.clone(),
                buffer: Mutex::new(Vec::new()),
                ready: Mutex::new(Vec::new()),
                allocated: Mutex::new(BTreeMap::new()),
                next_id: AtomicU64::new(0),
                wal: Mutex::new(None),
                restored: Mutex::new(None),
                allocated_below: AtomicU64::new(0),
                stop_requested: AtomicBool::new(false),
                restart_requested: Mutex::new(None),
                wake: Condvar::new(),
                last_error: Mutex::new(None),
                rate,
                limited: AtomicBool::new(max_rate.is_some()),
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
        shared.post(ListenerEvent::ReceiverStarted(info));
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
    shared.post(ListenerEvent::ReceiverStopped(info));
}

/// The receiver side of an input stream, as its source drives it.
impl<R: Receiver> ReceiverRunner<R> {
    /// Opens the write-ahead log (replaying it after a restart), starts the supervisor
    /// thread and the block timer.
    pub(crate) fn start(&self) -> Result<()> {
        let graph = self.shared.services.clone();
        let Some(receiver) = self.receiver.lock().take() else {
            return Err(Error::IllegalState(
                "a receiver can be started only once".into(),
            ));
        };
        if graph.config.receiver_write_ahead_log {
            let dir = graph.checkpoint_dir.lock().clone().ok_or_else(|| {
                Error::InvalidGraph(
                    "the receiver write-ahead log needs a checkpoint directory; call StreamingContext::checkpoint(dir) or use get_or_create".into(),
                )
            })?;
            self.shared.open_log(
                &dir.join("received").join(self.shared.stream_id.to_string()),
                graph.config.wal_roll_bytes,
            )?;
        }
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

    /// Stops the receiver, waits for it, and cuts what it buffered into a block.
    pub(crate) fn stop(&self) {
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

    /// Cuts the buffer and assigns every unallocated block to the batch at `time`; returns
    /// the number of records.
    pub(crate) fn allocate(&self, time: Time) -> u64 {
        // A batch re-run after a restart keeps the blocks it had.
        if let Some(bs) = self.shared.allocated.lock().get(&time) {
            return bs.iter().map(|(_, b)| b.len() as u64).sum();
        }
        self.shared.cut_block();
        let blocks = std::mem::take(&mut *self.shared.ready.lock());
        let n = blocks.iter().map(|(_, b)| b.len() as u64).sum();
        if let Some(max) = blocks.iter().map(|(id, _)| *id).max() {
            self.shared
                .allocated_below
                .fetch_max(max + 1, Ordering::SeqCst);
        }
        if let Some(wal) = self.shared.wal.lock().clone() {
            let ids = blocks.iter().map(|(id, _)| *id).collect();
            if let Err(e) = wal.append::<R::Item>(&Record::Allocate { time, ids }, true) {
                log::error!(
                    "receiver {}: logging the allocation of batch {time} failed: {e}",
                    self.shared.name
                );
            }
        }
        self.shared.allocated.lock().insert(time, blocks);
        n
    }

    /// Whether stored records are not in a batch yet.
    pub(crate) fn has_unallocated(&self) -> bool {
        !self.shared.ready.lock().is_empty() || !self.shared.buffer.lock().is_empty()
    }

    /// Drops allocations of batches up to `time` (completed; their RDDs hold the blocks)
    /// but those in `keep`, marking their blocks done in the log.
    pub(crate) fn forget(&self, time: Time, keep: &std::collections::BTreeSet<Time>) {
        let old = {
            let mut a = self.shared.allocated.lock();
            let mut newer = a.split_off(&(time + Duration::from_millis(1)));
            let mut old = std::mem::take(&mut *a);
            for t in keep {
                if let Some(bs) = old.remove(t) {
                    newer.insert(*t, bs);
                }
            }
            *a = newer;
            old
        };
        let ids: Vec<u64> = old.values().flatten().map(|(id, _)| *id).collect();
        if ids.is_empty() {
            return;
        }
        if let Some(wal) = self.shared.wal.lock().clone() {
            // Durable: a done mark lost to a power cut would replay a completed batch's blocks.
            if let Err(e) = wal.append::<R::Item>(&Record::Done { ids }, true) {
                log::warn!(
                    "receiver {}: marking blocks done failed: {e}",
                    self.shared.name
                );
            }
            let mut live: std::collections::BTreeSet<u64> =
                self.shared.ready.lock().iter().map(|(id, _)| *id).collect();
            live.extend(
                self.shared
                    .allocated
                    .lock()
                    .values()
                    .flatten()
                    .map(|(id, _)| *id),
            );
            let services = &self.shared.services;
            wal.prune(&live, || {
                emberflow_core::fault::kill_point(&services.ctx, "wal-prune");
            });
        }
    }
}

#[cfg(test)]
mod tests;
