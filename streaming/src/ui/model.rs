//! What the page, the JSON API and the metrics show: a listener on the bus (it never delays a
//! batch) keeping the active batches, the last [`RETAINED`] completed ones with their output
//! operations, the receivers and their rates, and the watchdog's stuck batch; progress (state
//! operators, Kafka offsets) is read from the context's tracker when asked.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::lag::{lag_of, PartitionLag};
use super::metrics::Metrics;
use crate::listener::{
    BatchInfo, OutputOperationInfo, ReceiverInfo, StreamingListener, StuckBatch,
};
use crate::progress::{ProgressTracker, StreamingProgress, StreamingStatus};
use crate::time::Time;

/// Completed batches kept for the page (`spark.streaming.ui.retainedBatches`).
pub(crate) const RETAINED: usize = 1000;
/// Rate samples kept per receiver.
const RECEIVER_RATES: usize = 100;

/// Where a batch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BatchStatus {
    Queued,
    Processing,
    Completed,
}

impl BatchStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Queued => "QUEUED",
            BatchStatus::Processing => "PROCESSING",
            BatchStatus::Completed => "COMPLETED",
        }
    }
}

/// One batch as the page shows it.
#[derive(Clone, Debug)]
pub(crate) struct BatchRecord {
    pub(crate) info: BatchInfo,
    pub(crate) status: BatchStatus,
    pub(crate) outputs: BTreeMap<usize, OutputOperationInfo>,
}

/// One receiver as the page shows it.
#[derive(Clone, Debug)]
pub(crate) struct ReceiverRecord {
    pub(crate) info: ReceiverInfo,
    pub(crate) last_error_time: Option<Time>,
    /// Records per second in each completed batch, by batch time.
    pub(crate) rates: VecDeque<(Time, f64)>,
}

/// Everything heard so far.
#[derive(Default)]
pub(crate) struct Records {
    pub(crate) batches: BTreeMap<Time, BatchRecord>,
    pub(crate) completed_total: u64,
    pub(crate) failed_total: u64,
    pub(crate) records_total: u64,
    pub(crate) receivers: BTreeMap<usize, ReceiverRecord>,
    pub(crate) stuck: Option<StuckBatch>,
}

/// The page's view of a running context.
pub(crate) struct UiModel {
    pub(crate) batch_interval: Duration,
    pub(crate) start_time: Time,
    tracker: Arc<ProgressTracker>,
    dropped_events: Box<dyn Fn() -> u64 + Send + Sync>,
    records: Mutex<Records>,
    pub(crate) metrics: Metrics,
}

impl UiModel {
    pub(crate) fn new(
        batch_interval: Duration,
        start_time: Time,
        tracker: Arc<ProgressTracker>,
        dropped_events: Box<dyn Fn() -> u64 + Send + Sync>,
    ) -> Self {
        UiModel {
            batch_interval,
            start_time,
            tracker,
            dropped_events,
            records: Mutex::new(Records::default()),
            metrics: Metrics::new(),
        }
    }

    /// Reads the records under their lock.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Records) -> R) -> R {
        f(&self.records.lock())
    }

    pub(crate) fn recent_progress(&self) -> Vec<StreamingProgress> {
        self.tracker.recent()
    }

    pub(crate) fn status(&self) -> StreamingStatus {
        self.tracker.status()
    }

    pub(crate) fn dropped_events(&self) -> u64 {
        (self.dropped_events)()
    }

    /// The newest progress's Kafka partitions: latest offset, the batch's end, the lag.
    pub(crate) fn lag(&self) -> Vec<PartitionLag> {
        self.tracker.last().map(|p| lag_of(&p)).unwrap_or_default()
    }

    fn update(&self, info: &BatchInfo, status: BatchStatus) {
        let mut r = self.records.lock();
        let entry = r
            .batches
            .entry(info.batch_time)
            .or_insert_with(|| BatchRecord {
                info: info.clone(),
                status,
                outputs: BTreeMap::new(),
            });
        entry.info = info.clone();
        entry.status = status;
        let active = r
            .batches
            .values()
            .filter(|b| b.status != BatchStatus::Completed)
            .count();
        self.metrics.active_batches.set(active as i64);
    }
}

impl StreamingListener for UiModel {
    fn on_batch_submitted(&self, info: &BatchInfo) {
        self.update(info, BatchStatus::Queued);
    }

    fn on_batch_started(&self, info: &BatchInfo) {
        self.update(info, BatchStatus::Processing);
    }

    fn on_output_operation_started(&self, info: &OutputOperationInfo) {
        self.on_output_operation_completed(info);
    }

    fn on_output_operation_completed(&self, info: &OutputOperationInfo) {
        let mut r = self.records.lock();
        if let Some(b) = r.batches.get_mut(&info.batch_time) {
            b.outputs.insert(info.id, info.clone());
        }
    }

    fn on_batch_completed(&self, info: &BatchInfo) {
        self.update(info, BatchStatus::Completed);
        let interval = self.batch_interval.as_secs_f64().max(f64::MIN_POSITIVE);
        {
            let mut r = self.records.lock();
            r.completed_total += 1;
            r.records_total += info.num_records();
            if !info.succeeded() {
                r.failed_total += 1;
            }
            if r.stuck.as_ref().map(|s| s.batch_time) == Some(info.batch_time) {
                r.stuck = None;
            }
            let Records {
                receivers, batches, ..
            } = &mut *r;
            for (id, rec) in receivers.iter_mut() {
                let n = info.records_per_input.get(id).copied().unwrap_or(0);
                rec.rates.push_back((info.batch_time, n as f64 / interval));
                while rec.rates.len() > RECEIVER_RATES {
                    rec.rates.pop_front();
                }
            }
            let completed = batches
                .values()
                .filter(|b| b.status == BatchStatus::Completed)
                .count();
            let mut excess = completed.saturating_sub(RETAINED);
            batches.retain(|_, b| {
                if excess > 0 && b.status == BatchStatus::Completed {
                    excess -= 1;
                    false
                } else {
                    true
                }
            });
        }
        self.metrics.batch_completed(info, interval);
        if let Some(p) = self.tracker.last() {
            self.metrics.progress(&p, &lag_of(&p));
        }
    }

    fn on_receiver_started(&self, info: &ReceiverInfo) {
        self.receiver(info, false);
    }

    fn on_receiver_error(&self, info: &ReceiverInfo) {
        self.receiver(info, true);
    }

    fn on_receiver_stopped(&self, info: &ReceiverInfo) {
        self.receiver(info, false);
    }

    fn on_batch_stuck(&self, stuck: &StuckBatch) {
        self.records.lock().stuck = Some(stuck.clone());
    }
}

impl UiModel {
    fn receiver(&self, info: &ReceiverInfo, error: bool) {
        let mut r = self.records.lock();
        let rec = r
            .receivers
            .entry(info.stream_id)
            .or_insert_with(|| ReceiverRecord {
                info: info.clone(),
                last_error_time: None,
                rates: VecDeque::new(),
            });
        let last_error = rec.info.last_error.clone();
        rec.info = info.clone();
        if error {
            rec.last_error_time = Some(crate::time::Time::from_millis(now_millis()));
        } else if rec.info.last_error.is_none() {
            // A restart does not erase the last error.
            rec.info.last_error = last_error;
        }
        let active = r.receivers.values().filter(|r| r.info.active).count();
        self.metrics.receivers_active.set(active as i64);
    }
}

/// Wall-clock milliseconds since the epoch (receiver errors carry no time of their own).
fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
