//! Progress events: [`StreamingListener`] gets every batch's life (submitted, started,
//! completed, with [`BatchInfo`]), every output operation, and every receiver's. Listeners run
//! on the scheduler's threads, in order: keep them quick.

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

/// Callbacks for streaming progress; every method has a no-op default.
pub trait StreamingListener: Send + Sync + 'static {
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
}

/// Delivers events to every registered listener, in registration order. A panicking
/// listener is logged and does not stop the others or the scheduler.
#[derive(Default)]
pub(crate) struct ListenerBus {
    listeners: parking_lot::RwLock<Vec<std::sync::Arc<dyn StreamingListener>>>,
    /// Served after every user listener: the test runner, which moves the clock on as soon
    /// as it hears of a completed batch, must hear last.
    last: parking_lot::RwLock<Vec<std::sync::Arc<dyn StreamingListener>>>,
}

impl ListenerBus {
    pub(crate) fn add(&self, l: std::sync::Arc<dyn StreamingListener>) {
        self.listeners.write().push(l);
    }

    pub(crate) fn add_last(&self, l: std::sync::Arc<dyn StreamingListener>) {
        self.last.write().push(l);
    }

    pub(crate) fn post(&self, f: impl Fn(&dyn StreamingListener)) {
        let mut listeners = self.listeners.read().clone();
        listeners.extend(self.last.read().iter().cloned());
        for l in listeners {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(l.as_ref())));
            if r.is_err() {
                log::error!("a streaming listener panicked; it stays registered");
            }
        }
    }
}
