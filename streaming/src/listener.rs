//! Progress events: [`StreamingListener`] gets every batch's life (submitted, started,
//! completed, with [`BatchInfo`]), every output operation, and every receiver's. Listeners run
//! on the listener bus's own thread, in order, behind a bounded queue: a slow listener never
//! delays a batch; when the queue is full, events are dropped, counted
//! ([`StreamingContext::dropped_listener_events`](crate::StreamingContext::dropped_listener_events))
//! and logged.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::time::Time;

/// What is known of one batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchInfo {
    /// The batch time.
    pub batch_time: Time,
    /// Records each input stream contributed, by input stream id (where the count is known
    /// without reading the data: queues and receivers; file streams report 0).
    pub records_per_input: BTreeMap<usize, u64>,
    /// When the batch's jobs were submitted (clock time).
    pub submission_time: Time,
    /// When its first job started.
    pub processing_start_time: Option<Time>,
    /// When its last job ended.
    pub processing_end_time: Option<Time>,
    /// How many output operations the batch ran.
    pub output_operations: usize,
    /// Error messages of the output operations that failed.
    pub failures: Vec<String>,
    /// How long writing the batch's metadata checkpoint (before its jobs) took, when the
    /// context has a checkpoint directory.
    pub checkpoint_duration: Option<Duration>,
}

impl BatchInfo {
    /// All records of the batch.
    pub fn num_records(&self) -> u64 {
        self.records_per_input.values().sum()
    }
    /// From batch time to the start of processing.
    pub fn scheduling_delay(&self) -> Option<Duration> {
        self.processing_start_time.map(|s| s - self.batch_time)
    }
    /// From the start to the end of processing.
    pub fn processing_delay(&self) -> Option<Duration> {
        match (self.processing_start_time, self.processing_end_time) {
            (Some(s), Some(e)) => Some(e - s),
            _ => None,
        }
    }
    /// From batch time to the end of processing.
    pub fn total_delay(&self) -> Option<Duration> {
        self.processing_end_time.map(|e| e - self.batch_time)
    }
    /// Whether every output operation succeeded.
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty()
    }
}

/// One output operation of one batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputOperationInfo {
    /// The batch time.
    pub batch_time: Time,
    /// Index of the output operation, in declaration order.
    pub id: usize,
    /// Its name (`foreach_rdd`, `print`, `save_as_text_files`).
    pub name: String,
    /// When it started.
    pub start_time: Option<Time>,
    /// When it ended.
    pub end_time: Option<Time>,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

/// A receiver as the listener sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiverInfo {
    /// The id of the receiver's input stream.
    pub stream_id: usize,
    /// The receiver's name.
    pub name: String,
    /// Whether it is running.
    pub active: bool,
    /// The last error it reported.
    pub last_error: Option<String>,
}

/// A batch that has not completed for longer than the watchdog allows
/// ([`StreamingConfig::watchdog_intervals`](crate::StreamingConfig::watchdog_intervals)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StuckBatch {
    /// The oldest batch not completed.
    pub batch_time: Time,
    /// The output operation running for it (index and name), if one is.
    pub output: Option<(usize, String)>,
    /// How long past its batch time it is (on the stream's clock).
    pub late_by: Duration,
}

impl std::fmt::Display for StuckBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "batch {} has not completed after {:?}",
            self.batch_time, self.late_by
        )?;
        match &self.output {
            Some((id, name)) => write!(f, "; output operation {id} ({name}) is running"),
            None => write!(f, "; none of its output operations has started"),
        }
    }
}

/// Callbacks for streaming progress; every method has a no-op default.
pub trait StreamingListener: Send + Sync + 'static {
    /// The watchdog found a batch stuck (once per stuck batch).
    fn on_batch_stuck(&self, _stuck: &StuckBatch) {}
    /// The context started; `time` is its start time.
    fn on_streaming_started(&self, _time: Time) {}
    /// A batch's jobs were generated and queued.
    fn on_batch_submitted(&self, _info: &BatchInfo) {}
    /// A batch's first job started.
    fn on_batch_started(&self, _info: &BatchInfo) {}
    /// A batch's jobs all finished (successfully or not).
    fn on_batch_completed(&self, _info: &BatchInfo) {}
    /// An output operation started.
    fn on_output_operation_started(&self, _info: &OutputOperationInfo) {}
    /// An output operation finished.
    fn on_output_operation_completed(&self, _info: &OutputOperationInfo) {}
    /// A receiver started.
    fn on_receiver_started(&self, _info: &ReceiverInfo) {}
    /// A receiver reported an error.
    fn on_receiver_error(&self, _info: &ReceiverInfo) {}
    /// A receiver stopped.
    fn on_receiver_stopped(&self, _info: &ReceiverInfo) {}
}

/// A shared listener, so the program keeps a handle to what it registered.
impl<L: StreamingListener> StreamingListener for std::sync::Arc<L> {
    fn on_streaming_started(&self, time: Time) {
        (**self).on_streaming_started(time)
    }
    fn on_batch_submitted(&self, info: &BatchInfo) {
        (**self).on_batch_submitted(info)
    }
    fn on_batch_started(&self, info: &BatchInfo) {
        (**self).on_batch_started(info)
    }
    fn on_batch_completed(&self, info: &BatchInfo) {
        (**self).on_batch_completed(info)
    }
    fn on_output_operation_started(&self, info: &OutputOperationInfo) {
        (**self).on_output_operation_started(info)
    }
    fn on_output_operation_completed(&self, info: &OutputOperationInfo) {
        (**self).on_output_operation_completed(info)
    }
    fn on_receiver_started(&self, info: &ReceiverInfo) {
        (**self).on_receiver_started(info)
    }
    fn on_receiver_error(&self, info: &ReceiverInfo) {
        (**self).on_receiver_error(info)
    }
    fn on_receiver_stopped(&self, info: &ReceiverInfo) {
        (**self).on_receiver_stopped(info)
    }
    fn on_batch_stuck(&self, stuck: &StuckBatch) {
        (**self).on_batch_stuck(stuck)
    }
}

/// One event for the listeners.
#[derive(Clone, Debug)]
pub(crate) enum ListenerEvent {
    StreamingStarted(Time),
    BatchSubmitted(BatchInfo),
    BatchStarted(BatchInfo),
    BatchCompleted(BatchInfo),
    OutputStarted(OutputOperationInfo),
    OutputCompleted(OutputOperationInfo),
    ReceiverStarted(ReceiverInfo),
    ReceiverError(ReceiverInfo),
    ReceiverStopped(ReceiverInfo),
    BatchStuck(StuckBatch),
}

impl ListenerEvent {
    fn deliver(&self, l: &dyn StreamingListener) {
        match self {
            ListenerEvent::StreamingStarted(t) => l.on_streaming_started(*t),
            ListenerEvent::BatchSubmitted(i) => l.on_batch_submitted(i),
            ListenerEvent::BatchStarted(i) => l.on_batch_started(i),
            ListenerEvent::BatchCompleted(i) => l.on_batch_completed(i),
            ListenerEvent::OutputStarted(o) => l.on_output_operation_started(o),
            ListenerEvent::OutputCompleted(o) => l.on_output_operation_completed(o),
            ListenerEvent::ReceiverStarted(r) => l.on_receiver_started(r),
            ListenerEvent::ReceiverError(r) => l.on_receiver_error(r),
            ListenerEvent::ReceiverStopped(r) => l.on_receiver_stopped(r),
            ListenerEvent::BatchStuck(s) => l.on_batch_stuck(s),
        }
    }
}

type Listeners = std::sync::Arc<parking_lot::RwLock<Vec<std::sync::Arc<dyn StreamingListener>>>>;

enum Message {
    Event(ListenerEvent),
    /// Answered once every event queued before it was delivered.
    Flush(crossbeam_channel::Sender<()>),
}

/// Delivers events to every registered listener, in registration order, on a thread of its
/// own behind a bounded queue. A panicking listener is logged and does not stop the others.
/// The engine's own listeners (sources hearing of completed batches) are called on the
/// posting thread instead: their bookkeeping must not be dropped or lag.
pub(crate) struct ListenerBus {
    internal: parking_lot::RwLock<Vec<std::sync::Arc<dyn StreamingListener>>>,
    listeners: Listeners,
    /// Served after every user listener: the test runner, which moves the clock on as soon
    /// as it hears of a completed batch, must hear last.
    last: Listeners,
    capacity: usize,
    queue: parking_lot::Mutex<Option<crossbeam_channel::Sender<Message>>>,
    dropped: std::sync::atomic::AtomicU64,
}

impl Default for ListenerBus {
    fn default() -> Self {
        ListenerBus::new(10_000)
    }
}

impl ListenerBus {
    /// A bus whose queue holds `capacity` events.
    pub(crate) fn new(capacity: usize) -> Self {
        ListenerBus {
            internal: Default::default(),
            listeners: Default::default(),
            last: Default::default(),
            capacity: capacity.max(1),
            queue: parking_lot::Mutex::new(None),
            dropped: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub(crate) fn add(&self, l: std::sync::Arc<dyn StreamingListener>) {
        self.listeners.write().push(l);
    }

    pub(crate) fn add_last(&self, l: std::sync::Arc<dyn StreamingListener>) {
        self.last.write().push(l);
    }

    /// An engine listener, called on the posting thread.
    pub(crate) fn add_internal(&self, l: std::sync::Arc<dyn StreamingListener>) {
        self.internal.write().push(l);
    }

    /// Events dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn post(&self, event: ListenerEvent) {
        for l in self.internal.read().clone() {
            deliver(&event, l.as_ref());
        }
        if self.listeners.read().is_empty() {
            // No user listener to come after: the last ones (a test runner waiting for its
            // batch) hear it here, one thread hand-off sooner than through the bus thread.
            for l in self.last.read().clone() {
                deliver(&event, l.as_ref());
            }
            return;
        }
        let sender = self.sender();
        match sender.try_send(Message::Event(event)) {
            Ok(()) => {}
            Err(crossbeam_channel::TrySendError::Full(_)) => {
                let n = self
                    .dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    + 1;
                if n.is_power_of_two() {
                    log::warn!(
                        "the listener queue is full ({} events): {n} events dropped so far; a listener is too slow",
                        self.capacity
                    );
                }
            }
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                log::error!("the listener bus thread is gone; event dropped");
            }
        }
    }

    /// Waits (at most `timeout`) until every event posted so far was delivered.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let Some(sender) = self.queue.lock().clone() else {
            return true;
        };
        let (tx, rx) = crossbeam_channel::bounded(1);
        sender.send_timeout(Message::Flush(tx), timeout).is_ok() && rx.recv_timeout(timeout).is_ok()
    }

    /// The queue, with the bus thread started on first use.
    fn sender(&self) -> crossbeam_channel::Sender<Message> {
        let mut queue = self.queue.lock();
        if let Some(s) = &*queue {
            return s.clone();
        }
        let (tx, rx) = crossbeam_channel::bounded::<Message>(self.capacity);
        let (listeners, last) = (self.listeners.clone(), self.last.clone());
        let spawned = std::thread::Builder::new()
            .name("streaming-listener-bus".into())
            .spawn(move || {
                // Ends when the bus (the only sender) is dropped with its context.
                while let Ok(message) = rx.recv() {
                    match message {
                        Message::Event(event) => {
                            let mut all = listeners.read().clone();
                            all.extend(last.read().iter().cloned());
                            for l in all {
                                deliver(&event, l.as_ref());
                            }
                        }
                        Message::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            log::error!("cannot start the listener bus thread: {e}");
        }
        *queue = Some(tx.clone());
        tx
    }
}

/// Delivers `event` to `l`; a panic is logged, not passed on.
fn deliver(event: &ListenerEvent, l: &dyn StreamingListener) {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| event.deliver(l)));
    if r.is_err() {
        log::error!("a streaming listener panicked; it stays registered");
    }
}
