//! Writing back to Kafka: a sink for `foreach_rdd` that produces each record's text form, and
//! a listener that publishes each batch's progress as JSON (the "metrics to Kafka" pattern).

use std::sync::Arc;
use std::time::Duration;

use emberflow_core::{Data, Rdd, TextRecord};
use emberflow_streaming::{BatchInfo, StreamingListener, Time};
use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::ClientConfig;

use super::error::{kafka, Result};
use super::params::KafkaParams;

/// Hears every delivery report: the first failure, and how many failed.
#[derive(Default)]
pub(crate) struct Deliveries {
    first_failure: Mutex<Option<KafkaError>>,
    failed: std::sync::atomic::AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.first_failure.lock().get_or_insert_with(|| e.clone());
        }
    }
}

type Checked = BaseProducer<Deliveries>;

/// An idempotent producer with every property of `params` (security and SASL settings
/// included), whose delivery reports are checked.
pub(crate) fn producer(params: &KafkaParams) -> Result<Checked> {
    let mut c = ClientConfig::new();
    // Idempotent unless the user says otherwise (as Kafka's own clients since 3.0): a
    // request retried after a cut connection is not written twice.
    c.set("enable.idempotence", "true");
    for (k, v) in params.props() {
        c.set(k, v);
    }
    c.create_with_context(Deliveries::default())
        .map_err(|e| kafka("create a producer", e))
}

/// Waits until every message sent is delivered or failed; the first failure (the broker's
/// error) fails the call, and the failure count is reset for the next round.
pub(crate) fn flush_checked(p: &Checked, topic: &str, timeout: Duration) -> Result<()> {
    p.flush(timeout)
        .map_err(|e| kafka(format!("flush to {topic}"), e))?;
    let failed = p
        .context()
        .failed
        .swap(0, std::sync::atomic::Ordering::Relaxed);
    if let Some(e) = p.context().first_failure.lock().take() {
        return Err(kafka(format!("deliver {failed} message(s) to {topic}"), e));
    }
    Ok(())
}

/// Sends one record, waiting while the local queue is full.
fn send(p: &Checked, topic: &str, key: Option<&str>, value: &str) -> Result<()> {
    loop {
        let mut record = BaseRecord::<str, str>::to(topic).payload(value);
        if let Some(k) = key {
            record = record.key(k);
        }
        match p.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                p.poll(Duration::from_millis(10));
            }
            Err((e, _)) => return Err(kafka(format!("produce to {topic}"), e)),
        }
    }
}

/// A `foreach_rdd` function that produces every record of each batch, as its text form, to
/// `topic`, one producer per partition task, flushed before the batch counts as done. Every
/// delivery report is checked: a message the broker did not take fails the output operation
/// with the broker's error (and the batch, which a restart re-runs). Producers are
/// idempotent unless `enable.idempotence` is set to `false`: a request retried after a lost
/// connection is not written twice.
///
/// # Spark
/// A batch run again after a restart produces its records again (at least once at this
/// boundary, as Spark's Kafka writers); make consumers of the topic idempotent by key.
///
/// ```no_run
/// # use emberflow_connectors::kafka::{kafka_sink, KafkaParams};
/// # fn f(results: emberflow_streaming::DStream<(String, u64)>) {
/// results.foreach_rdd(kafka_sink(KafkaParams::new("127.0.0.1:9092"), "metrics"));
/// # }
/// ```
pub fn kafka_sink<T>(
    params: KafkaParams,
    topic: impl Into<String>,
) -> impl Fn(Rdd<T>, Time) -> emberflow_streaming::Result<()> + Send + Sync + 'static
where
    T: Data + TextRecord,
{
    let topic: Arc<str> = topic.into().into();
    move |rdd: Rdd<T>, _time: Time| {
        let (params, topic) = (params.clone(), topic.clone());
        rdd.run_job(move |_, records| {
            let p = producer(&params)?;
            let mut line = String::new();
            for r in records {
                line.clear();
                r.write_text(&mut line);
                send(&p, &topic, None, &line)?;
            }
            flush_checked(&p, &topic, Duration::from_secs(30))?;
            Ok(())
        })?;
        Ok(())
    }
}

/// Publishes each completed batch's progress to a topic as one JSON object:
/// `{"batchTime":…,"numRecords":…,"schedulingDelayMs":…,"processingDelayMs":…,
/// "totalDelayMs":…,"outputOperations":…,"failures":[…]}`, keyed by the batch time.
pub struct KafkaProgressListener {
    producer: Checked,
    topic: String,
}

impl KafkaProgressListener {
    /// A listener producing to `topic` with `params`.
    pub fn new(params: &KafkaParams, topic: impl Into<String>) -> Result<Self> {
        Ok(KafkaProgressListener {
            producer: producer(params)?,
            topic: topic.into(),
        })
    }
}

impl StreamingListener for KafkaProgressListener {
    fn on_batch_completed(&self, info: &BatchInfo) {
        let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
        let json = serde_json::json!({
            "batchTime": info.batch_time.millis(),
            "numRecords": info.num_records(),
            "schedulingDelayMs": ms(info.scheduling_delay()),
            "processingDelayMs": ms(info.processing_delay()),
            "totalDelayMs": ms(info.total_delay()),
            "outputOperations": info.output_operations,
            "failures": info.failures,
        });
        let key = info.batch_time.millis().to_string();
        if let Err(e) = send(&self.producer, &self.topic, Some(&key), &json.to_string()) {
            log::warn!("progress of batch {} not published: {e}", info.batch_time);
        }
        self.producer.poll(Duration::ZERO);
        // A listener cannot fail the batch: an undelivered report is logged with the
        // broker's error.
        if let Err(e) = flush_checked(&self.producer, &self.topic, Duration::from_secs(5)) {
            log::error!("progress of batch {} not delivered: {e}", info.batch_time);
        }
    }
}

/// Produces `lines` to `topic`, at most `rate` per second when given (the classic
/// `streamOrders.sh`), and flushes; returns how many were sent. Fails with the broker's error
/// if any message was not delivered.
pub fn produce_lines(
    params: &KafkaParams,
    topic: &str,
    lines: &[Vec<u8>],
    rate: Option<u64>,
) -> Result<u64> {
    produce_lines_from(params, topic, lines, rate)
}

/// [`produce_lines`] from any source of lines, read as they are sent (a file too large to
/// hold, a generator): nothing but the producer's queue is held.
pub fn produce_lines_from<L: AsRef<[u8]>>(
    params: &KafkaParams,
    topic: &str,
    lines: impl IntoIterator<Item = L>,
    rate: Option<u64>,
) -> Result<u64> {
    let p = producer(params)?;
    let started = std::time::Instant::now();
    let mut sent = 0u64;
    for (i, line) in lines.into_iter().enumerate() {
        let line = line.as_ref();
        if let Some(r) = rate.filter(|r| *r > 0) {
            let due = Duration::from_secs_f64(i as f64 / r as f64);
            let elapsed = started.elapsed();
            if due > elapsed {
                std::thread::sleep(due - elapsed);
            }
        }
        loop {
            match p.send(BaseRecord::<(), [u8]>::to(topic).payload(line)) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    p.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(kafka(format!("produce to {topic}"), e)),
            }
        }
        p.poll(Duration::ZERO);
        sent += 1;
    }
    flush_checked(&p, topic, Duration::from_secs(60))?;
    Ok(sent)
}
