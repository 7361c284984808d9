//! The Prometheus metrics at `/metrics`, in the text format written by the Prometheus
//! project's client library. Every name starts with `emberflow_streaming_`; ARCHITECTURE.md
//! and the README list them.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::lag::PartitionLag;
use crate::listener::BatchInfo;
use crate::progress::StreamingProgress;

type Labels = Vec<(String, String)>;

/// The metric families and their registry.
pub(crate) struct Metrics {
    registry: Registry,
    batches_completed: Counter,
    batches_failed: Counter,
    input_records: Family<Labels, Counter>,
    pub(crate) active_batches: Gauge,
    pub(crate) receivers_active: Gauge,
    scheduling_delay: Histogram,
    processing_time: Histogram,
    total_delay: Histogram,
    last_batch_time: Gauge<f64, AtomicU64>,
    input_rate: Gauge<f64, AtomicU64>,
    state_rows: Family<Labels, Gauge>,
    state_rows_updated: Family<Labels, Gauge>,
    state_memory: Family<Labels, Gauge>,
    kafka_lag: Family<Labels, Gauge>,
    listener_dropped: Counter,
    stuck: Gauge,
}

fn seconds() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix("emberflow_streaming"),
            batches_completed: Counter::default(),
            batches_failed: Counter::default(),
            input_records: Family::default(),
            active_batches: Gauge::default(),
            receivers_active: Gauge::default(),
            scheduling_delay: seconds(),
            processing_time: seconds(),
            total_delay: seconds(),
            last_batch_time: Gauge::default(),
            input_rate: Gauge::default(),
            state_rows: Family::default(),
            state_rows_updated: Family::default(),
            state_memory: Family::default(),
            kafka_lag: Family::default(),
            listener_dropped: Counter::default(),
            stuck: Gauge::default(),
        };
        let r = &mut m.registry;
        r.register(
            "batches_completed",
            "Batches completed (failed ones included)",
            m.batches_completed.clone(),
        );
        r.register(
            "batches_failed",
            "Batches in which an output operation failed",
            m.batches_failed.clone(),
        );
        r.register(
            "input_records",
            "Records each input stream gave the completed batches",
            m.input_records.clone(),
        );
        r.register(
            "active_batches",
            "Batches submitted and not completed",
            m.active_batches.clone(),
        );
        r.register(
            "receivers_active",
            "Receivers running",
            m.receivers_active.clone(),
        );
        r.register(
            "scheduling_delay_seconds",
            "From batch time to the start of its processing",
            m.scheduling_delay.clone(),
        );
        r.register(
            "processing_time_seconds",
            "From the start to the end of a batch's processing",
            m.processing_time.clone(),
        );
        r.register(
            "total_delay_seconds",
            "From batch time to the end of its processing",
            m.total_delay.clone(),
        );
        r.register(
            "last_completed_batch_time_seconds",
            "The batch time of the newest completed batch, seconds since the epoch",
            m.last_batch_time.clone(),
        );
        r.register(
            "input_rate_records_per_second",
            "Records of the newest completed batch over the batch interval",
            m.input_rate.clone(),
        );
        r.register(
            "state_rows",
            "Keys held by each stateful stream",
            m.state_rows.clone(),
        );
        r.register(
            "state_rows_updated",
            "Keys each stateful stream updated in the newest batch",
            m.state_rows_updated.clone(),
        );
        r.register(
            "state_memory_bytes",
            "Estimated memory of each stateful stream's state",
            m.state_memory.clone(),
        );
        r.register(
            "kafka_lag_records",
            "Per Kafka partition: latest offset minus the newest completed batch's end offset",
            m.kafka_lag.clone(),
        );
        r.register(
            "listener_events_dropped",
            "Listener events dropped because the listener queue was full",
            m.listener_dropped.clone(),
        );
        r.register(
            "stuck",
            "1 while the watchdog reports a batch stuck",
            m.stuck.clone(),
        );
        m
    }

    pub(crate) fn batch_completed(&self, info: &BatchInfo, interval_secs: f64) {
        self.batches_completed.inc();
        if !info.succeeded() {
            self.batches_failed.inc();
        }
        for (id, n) in &info.records_per_input {
            self.input_records
                .get_or_create(&vec![("stream".to_owned(), id.to_string())])
                .inc_by(*n);
        }
        let observe = |h: &Histogram, d: Option<std::time::Duration>| {
            if let Some(d) = d {
                h.observe(d.as_secs_f64());
            }
        };
        observe(&self.scheduling_delay, info.scheduling_delay());
        observe(&self.processing_time, info.processing_delay());
        observe(&self.total_delay, info.total_delay());
        self.last_batch_time
            .set(info.batch_time.millis() as f64 / 1000.0);
        self.input_rate
            .set(info.num_records() as f64 / interval_secs);
    }

    pub(crate) fn progress(&self, p: &StreamingProgress, lag: &[PartitionLag]) {
        for op in &p.state_operators {
            let labels = vec![("operator".to_owned(), op.operator_name.clone())];
            let gauge = |f: &Family<Labels, Gauge>, v: u64| {
                f.get_or_create(&labels).set(v.min(i64::MAX as u64) as i64);
            };
            gauge(&self.state_rows, op.num_rows_total);
            gauge(&self.state_rows_updated, op.num_rows_updated);
            gauge(&self.state_memory, op.memory_used_bytes);
        }
        for l in lag {
            self.kafka_lag
                .get_or_create(&vec![
                    ("topic".to_owned(), l.topic.clone()),
                    ("partition".to_owned(), l.partition.clone()),
                ])
                .set(l.latest - l.processed);
        }
    }

    /// The text format, with the values read at scrape time brought up to date.
    pub(crate) fn encode(&self, dropped_events: u64, stuck: bool) -> String {
        let seen = self.listener_dropped.get();
        self.listener_dropped
            .inc_by(dropped_events.saturating_sub(seen));
        self.stuck.set(i64::from(stuck));
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            log::warn!("cannot encode the metrics: {e}");
        }
        out
    }
}
