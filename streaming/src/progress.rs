//! What a running context reports of itself: a [`StreamingProgress`] per completed batch, in
//! the JSON shape of Structured Streaming's query progress (so tooling that reads Spark's
//! reads ours), and a [`StreamingStatus`] of what it is doing now. The tracker hears batches
//! on the thread that completes them (an engine listener): a batch's sources are described
//! before their bookkeeping of it is cleared.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::listener::{BatchInfo, StreamingListener};
use crate::plumbing::{DStreamBase, InputBase};
use crate::services::Services;
use crate::time::Time;

/// How many progress records a context keeps (`recent_progress`).
pub(crate) const RECENT: usize = 100;

/// Durations of a batch's phases, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DurationMs {
    /// From the batch time to its jobs submitted (deciding its input, building its RDDs).
    pub generate: u64,
    /// From submitted to its first job started (the metadata checkpoint, waiting for the
    /// executor).
    pub schedule: u64,
    /// Its jobs, first start to last end.
    pub process: u64,
    /// Writing its metadata checkpoint before its jobs (0 without a checkpoint directory).
    pub checkpoint: u64,
    /// From the batch time to its last job's end.
    pub total: u64,
}

/// One input's part of a batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceProgress {
    /// The input: its name and stream id.
    pub description: String,
    /// Where the batch began reading (Kafka: `{topic: {partition: offset}}`), when the
    /// source knows.
    pub start_offset: Option<serde_json::Value>,
    /// Where it stopped (Kafka: offsets; files: `{"files": [...]}`), when the source knows.
    pub end_offset: Option<serde_json::Value>,
    /// The newest offset available when the batch completed (Kafka: each partition's high
    /// watermark), when the source knows; minus `endOffset`, the lag.
    #[serde(default)]
    pub latest_offset: Option<serde_json::Value>,
    /// Records the input gave the batch.
    pub num_input_rows: u64,
    /// Those records over the batch interval.
    pub input_rows_per_second: f64,
    /// Those records over the batch's processing time.
    pub processed_rows_per_second: f64,
}

/// The outputs of the batch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SinkProgress {
    /// The output operations, in declaration order.
    pub description: String,
    /// Rows written, when known (-1: the outputs do not count them, as Spark's sinks).
    pub num_output_rows: i64,
}

/// One stateful stream's state after the batch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateOperatorProgress {
    /// The stateful stream (`map_with_state`, `update_state_by_key`, …) and its id.
    pub operator_name: String,
    /// Keys in the state.
    pub num_rows_total: u64,
    /// Keys the batch updated.
    pub num_rows_updated: u64,
    /// An estimate of the state's memory: its rows times their in-memory size (without what
    /// they point to).
    pub memory_used_bytes: u64,
    /// Records of the batch the watermark made late (event-time operators).
    #[serde(default)]
    pub num_rows_dropped_by_watermark: u64,
}

/// The event times a batch held and the watermark in force (Spark's `eventTime` of a
/// progress), ISO-8601 in UTC; with several event streams, the least watermark.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTimeProgress {
    /// The mean event time of the batch's records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg: Option<String>,
    /// The greatest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
    /// The least.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    /// The watermark in force for the batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<String>,
}

/// One completed batch, as Structured Streaming reports a trigger.
///
/// ```
/// use emberflow_streaming::StreamingProgress;
/// let p: StreamingProgress = serde_json::from_str(r#"{"id":"a","runId":"b","name":null,
///   "timestamp":"2026-01-01T00:00:01.000Z","batchId":0,"batchTime":1000,"numInputRows":3,
///   "inputRowsPerSecond":3.0,"processedRowsPerSecond":30.0,
///   "durationMs":{"generate":0,"schedule":0,"process":100,"checkpoint":0,"total":100},
///   "sources":[],"sink":{"description":"print","numOutputRows":-1},"stateOperators":[]}"#)?;
/// assert_eq!(p.num_input_rows, 3);
/// assert_eq!(serde_json::from_str::<StreamingProgress>(&p.json())?, p);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamingProgress {
    /// The job's id: the same across restarts from the same checkpoint directory.
    pub id: String,
    /// This run's id: new at every start.
    pub run_id: String,
    /// The context's name (`StreamingContextBuilder::name`).
    pub name: Option<String>,
    /// The batch time, ISO-8601 in UTC.
    pub timestamp: String,
    /// The batch's number: batch intervals since the zero time, minus one (stable across
    /// restarts).
    pub batch_id: u64,
    /// The batch time, milliseconds since the epoch.
    pub batch_time: u64,
    /// Records of every input.
    pub num_input_rows: u64,
    /// Records over the batch interval.
    pub input_rows_per_second: f64,
    /// Records over the processing time.
    pub processed_rows_per_second: f64,
    /// How long each phase took.
    pub duration_ms: DurationMs,
    /// Each input's part.
    pub sources: Vec<SourceProgress>,
    /// The outputs.
    pub sink: SinkProgress,
    /// Each stateful stream's state.
    pub state_operators: Vec<StateOperatorProgress>,
    /// With event-time operators: the batch's event times and watermark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<EventTimeProgress>,
}

impl StreamingProgress {
    /// As JSON (camelCase, as Spark's `StreamingQueryProgress.json`).
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What the context is doing now (Spark's `StreamingQueryStatus`).
///
/// ```
/// use emberflow_streaming::testing::BatchRunner;
/// let runner = BatchRunner::new(std::time::Duration::from_secs(1));
/// runner.queue_input::<i32, i32>(vec![]).foreach_rdd(|_, _| Ok(()));
/// runner.run(0)?;
/// assert_eq!(
///     runner.ssc().status().json(),
///     r#"{"message":"Waiting for data to arrive","isDataAvailable":false,"isTriggerActive":false}"#
/// );
/// # Ok::<(), emberflow_streaming::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamingStatus {
    /// In words.
    pub message: String,
    /// Whether the latest batch had input.
    pub is_data_available: bool,
    /// Whether a batch is being processed.
    pub is_trigger_active: bool,
}

impl StreamingStatus {
    /// As JSON (camelCase, as Spark's).
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Keeps the recent progress and the status; an engine listener of the running context.
pub(crate) struct ProgressTracker {
    services: Arc<Services>,
    id: String,
    run_id: String,
    name: Option<String>,
    inputs: Vec<(usize, Arc<dyn InputBase>)>,
    nodes: Vec<Arc<dyn DStreamBase>>,
    outputs: String,
    recent: Mutex<VecDeque<StreamingProgress>>,
    status: Mutex<StreamingStatus>,
    /// The batch the watchdog reported stuck, until it completes: the status keeps saying so.
    stuck: Mutex<Option<Time>>,
    stopped: std::sync::atomic::AtomicBool,
}

impl ProgressTracker {
    pub(crate) fn new(
        services: Arc<Services>,
        id: String,
        name: Option<String>,
        inputs: Vec<(usize, Arc<dyn InputBase>)>,
        nodes: Vec<Arc<dyn DStreamBase>>,
        outputs: Vec<String>,
    ) -> Self {
        ProgressTracker {
            services,
            id,
            run_id: fresh_id(),
            name,
            inputs,
            nodes,
            outputs: outputs.join(", "),
            recent: Mutex::new(VecDeque::new()),
            status: Mutex::new(waiting(false)),
            stuck: Mutex::new(None),
            stopped: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn recent(&self) -> Vec<StreamingProgress> {
        self.recent.lock().iter().cloned().collect()
    }

    pub(crate) fn last(&self) -> Option<StreamingProgress> {
        self.recent.lock().back().cloned()
    }

    pub(crate) fn status(&self) -> StreamingStatus {
        self.status.lock().clone()
    }

    pub(crate) fn stopped(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let mut s = self.status.lock();
        s.message = "Stopped".into();
        s.is_trigger_active = false;
    }

    fn progress(&self, info: &BatchInfo) -> StreamingProgress {
        let interval = self.services.batch_interval;
        let zero = self.services.zero_time().unwrap_or(Time::ZERO);
        let ms = |d: Option<std::time::Duration>| d.map_or(0, |d| d.as_millis() as u64);
        let per_second = |rows: u64, d: std::time::Duration| {
            if d.is_zero() {
                0.0
            } else {
                rows as f64 / d.as_secs_f64()
            }
        };
        let process = info.processing_delay().unwrap_or_default();
        let rows = info.num_records();
        let sources = self
            .inputs
            .iter()
            .map(|(id, input)| {
                let n = info.records_per_input.get(id).copied().unwrap_or(0);
                let offsets = input.describe_batch(info.batch_time);
                let (start_offset, end_offset, latest_offset) =
                    offsets.map_or((None, None, None), |o| (o.start, Some(o.end), o.latest));
                SourceProgress {
                    description: format!("{} (stream {id})", input.name()),
                    start_offset,
                    end_offset,
                    latest_offset,
                    num_input_rows: n,
                    input_rows_per_second: per_second(n, interval),
                    processed_rows_per_second: per_second(n, process),
                }
            })
            .collect();
        let state_operators = self
            .nodes
            .iter()
            .filter_map(|n| {
                n.state_metrics().map(|m| StateOperatorProgress {
                    operator_name: format!("{} (stream {})", n.kind(), n.id()),
                    num_rows_total: m.rows_total,
                    num_rows_updated: m.rows_updated,
                    memory_used_bytes: m.memory_bytes,
                    num_rows_dropped_by_watermark: m.rows_dropped_by_watermark,
                })
            })
            .collect();
        let since_zero = info.batch_time.millis().saturating_sub(zero.millis());
        let batch_id = (since_zero / (interval.as_millis() as u64).max(1)).saturating_sub(1);
        StreamingProgress {
            id: self.id.clone(),
            run_id: self.run_id.clone(),
            name: self.name.clone(),
            timestamp: iso8601(info.batch_time),
            batch_id,
            batch_time: info.batch_time.millis(),
            num_input_rows: rows,
            input_rows_per_second: per_second(rows, interval),
            processed_rows_per_second: per_second(rows, process),
            duration_ms: DurationMs {
                generate: ms(Some(info.submission_time - info.batch_time)),
                schedule: ms(info.processing_start_time.map(|s| s - info.submission_time)),
                process: ms(Some(process)),
                checkpoint: ms(info.checkpoint_duration),
                total: ms(info.total_delay()),
            },
            sources,
            sink: SinkProgress {
                description: self.outputs.clone(),
                num_output_rows: -1,
            },
            state_operators,
            event_time: self.event_time(info.batch_time),
        }
    }

    /// The event times of the batch at `time` (and of any older batch not reported), taken
    /// out of the services.
    fn event_time(&self, time: Time) -> Option<EventTimeProgress> {
        let streams = {
            let mut all = self.services.event_times.lock();
            let newer = all.split_off(&(time + std::time::Duration::from_millis(1)));
            let this = all.remove(&time);
            *all = newer;
            this?
        };
        let iso = |ms: i64| iso8601(Time::from_millis(ms.max(0) as u64));
        let min = streams.values().filter_map(|s| s.min).min();
        let max = streams.values().filter_map(|s| s.max).max();
        let (sum, count) = streams
            .values()
            .fold((0i128, 0u64), |(s, c), x| (s + x.sum, c + x.count));
        let watermarks: Vec<Option<i64>> = streams.values().map(|s| s.watermark).collect();
        let watermark = if watermarks.iter().all(Option::is_some) {
            watermarks.into_iter().flatten().min()
        } else {
            None
        };
        Some(EventTimeProgress {
            avg: (count > 0).then(|| iso((sum / i128::from(count)) as i64)),
            max: max.map(iso),
            min: min.map(iso),
            watermark: watermark.map(iso),
        })
    }
}

fn waiting(data: bool) -> StreamingStatus {
    StreamingStatus {
        message: "Waiting for data to arrive".into(),
        is_data_available: data,
        is_trigger_active: false,
    }
}

impl StreamingListener for ProgressTracker {
    fn on_batch_started(&self, info: &BatchInfo) {
        if self.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let mut s = self.status.lock();
        if self.stuck.lock().is_none() {
            s.message = format!("Processing batch {}", info.batch_time);
        }
        s.is_trigger_active = true;
        s.is_data_available = info.num_records() > 0;
    }

    fn on_batch_stuck(&self, stuck: &crate::listener::StuckBatch) {
        if !self.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            *self.stuck.lock() = Some(stuck.batch_time);
            self.status.lock().message = format!("Stuck: {stuck}");
        }
    }

    fn on_batch_completed(&self, info: &BatchInfo) {
        let p = self.progress(info);
        {
            let mut recent = self.recent.lock();
            recent.push_back(p);
            while recent.len() > RECENT {
                recent.pop_front();
            }
        }
        {
            let mut stuck = self.stuck.lock();
            if *stuck == Some(info.batch_time) {
                *stuck = None;
            }
        }
        if !self.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            *self.status.lock() = waiting(info.num_records() > 0);
        }
    }
}

/// A batch time as ISO-8601 in UTC, with milliseconds.
pub(crate) fn iso8601(t: Time) -> String {
    chrono::DateTime::from_timestamp_millis(t.millis() as i64)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// A fresh 128-bit id in the UUID text form (version 4 layout), from the time, the process,
/// and a counter, well mixed.
pub(crate) fn fresh_id() -> String {
    use std::hash::{Hash, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let half = |salt: u64| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (
            salt,
            nanos,
            std::process::id(),
            n,
            std::thread::current().id(),
        )
            .hash(&mut h);
        h.finish()
    };
    let (a, b) = (half(0x5eed), half(0xfeed));
    let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    let a = (a & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}
