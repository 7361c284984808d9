//! Faults on the Kafka paths, against rdkafka's in-process mock cluster (a real
//! Kafka-protocol broker in the test process): a batch whose ranges cannot all be decided
//! takes none; every pending batch's ranges survive a restart, however many; a delivery the
//! broker refuses fails the output operation with the broker's error; every property reaches
//! the producer.
#![cfg(feature = "kafka")]
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use emberflow_connectors::kafka::{
    kafka_sink, produce_lines, ConsumerStrategy, KafkaParams, KafkaUtils,
};
use emberflow_core::Context;
use emberflow_streaming::testing::BatchRunner;
use emberflow_streaming::{
    BatchInfo, ManualClock, StopOptions, StreamingContext, StreamingListener, Time,
};
use parking_lot::Mutex;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::ClientConfig;
use std::sync::mpsc::{channel as unbounded, Receiver, Sender};

fn produce_to(servers: &str, topic: &str, partition: i32, from: u64, n: u64) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .create()
        .unwrap();
    for i in from..from + n {
        let value = i.to_string();
        producer
            .send(
                BaseRecord::<(), str>::to(topic)
                    .partition(partition)
                    .payload(&value),
            )
            .unwrap();
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

/// A batch that fails while deciding the ranges of its second partition (its leader is
/// down) must not move the first partition on: every record is read once the broker is back.
#[test]
fn a_batch_whose_ranges_cannot_all_be_decided_takes_none() {
    let mock = MockCluster::new(2).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("split", 2, 1).unwrap();
    mock.partition_leader("split", 0, Some(1)).unwrap();
    mock.partition_leader("split", 1, Some(2)).unwrap();
    produce_to(&servers, "split", 0, 0, 40);
    produce_to(&servers, "split", 1, 40, 40);
    let runner = BatchRunner::new(Duration::from_secs(1));
    let params = KafkaParams::new(servers.clone())
        .set("auto.offset.reset", "earliest")
        .request_timeout(Duration::from_millis(1500));
    let stream = KafkaUtils::create_direct_stream(
        runner.ssc(),
        params,
        ConsumerStrategy::subscribe(["split"]),
    )
    .unwrap();
    let out = runner.collect(&stream.map(|r| r.value_str().parse::<u64>().unwrap()));
    mock.broker_down(2).unwrap();
    let down = runner.run(1).unwrap();
    assert!(!down[0].succeeded(), "partition 1 has no leader: {down:?}");
    mock.broker_up(2).unwrap();
    let all = common::run_until_read(&runner, &out, 80);
    assert_eq!(all, (0..80).collect::<Vec<_>>(), "each record exactly once");
}

struct Events {
    submitted: Mutex<Sender<Time>>,
    completed: Mutex<Sender<BatchInfo>>,
}

impl StreamingListener for Events {
    fn on_batch_submitted(&self, info: &BatchInfo) {
        let _ = self.submitted.lock().send(info.batch_time);
    }
    fn on_batch_completed(&self, info: &BatchInfo) {
        let _ = self.completed.lock().send(info.clone());
    }
}

fn events(ssc: &StreamingContext) -> (Receiver<Time>, Receiver<BatchInfo>) {
    let (s_tx, s_rx) = unbounded();
    let (c_tx, c_rx) = unbounded();
    ssc.add_streaming_listener(Events {
        submitted: Mutex::new(s_tx),
        completed: Mutex::new(c_tx),
    });
    (s_rx, c_rx)
}

/// 80 batches pile up behind a stuck first one; the process stops; a restart (into a fresh
/// `Context`) re-reads each pending batch's exact ranges: every record exactly once.
#[test]
fn every_pending_batch_is_re_read_exactly_after_a_restart() {
    const BATCHES: u64 = 80;
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("pile", 1, 1).unwrap();
    produce_to(&servers, "pile", 0, 0, BATCHES * 5);
    let dir = tempfile::tempdir().unwrap();
    let interval = Duration::from_secs(1);
    let params = KafkaParams::new(servers.clone())
        .set("auto.offset.reset", "earliest")
        .max_rate_per_partition(5);
    // Per batch time, as an idempotent sink keeps it: a re-run replaces.
    let seen: Arc<Mutex<BTreeMap<Time, Vec<u64>>>> = Arc::new(Mutex::new(BTreeMap::new()));
    // Builds the job on a fresh Context from the checkpoint in `dir`; each batch first
    // waits for `gate` (closed: no wait).
    let job = |clock: Arc<ManualClock>, gate: Receiver<()>| {
        let (s, p, gate) = (seen.clone(), params.clone(), Mutex::new(gate));
        StreamingContext::get_or_create(
            dir.path(),
            move |ssc| {
                KafkaUtils::create_direct_stream(ssc, p, ConsumerStrategy::subscribe(["pile"]))?
                    .map(|r| r.value_str().parse::<u64>().unwrap())
                    .foreach_rdd(move |rdd, time| {
                        let _ = gate.lock().recv_timeout(Duration::from_secs(60));
                        s.lock().insert(time, rdd.collect()?);
                        Ok(())
                    });
                Ok(())
            },
            StreamingContext::builder(&Context::local(2), interval).clock(clock),
        )
        .unwrap()
    };
    // First run: batch 1 blocks until every batch is generated.
    let (gate_tx, gate_rx) = unbounded::<()>();
    let clock = Arc::new(ManualClock::new());
    let ssc = job(clock.clone(), gate_rx);
    let (submitted, _) = events(&ssc);
    ssc.start().unwrap();
    // Batch BATCHES + 1 is generated only after batch BATCHES's checkpoint is on disk.
    clock.advance(interval * (BATCHES as u32 + 1));
    loop {
        let t = submitted.recv_timeout(Duration::from_secs(60)).unwrap();
        if t >= Time::from_millis((BATCHES + 1) * 1000) {
            break;
        }
    }
    // Released: the running batch finishes, the queued ones are dropped by the stop.
    drop(gate_tx);
    ssc.stop(StopOptions::immediate()).unwrap();
    let first_run = seen.lock().len();
    assert!(first_run < 10, "{first_run} batches ran before the stop");

    // Restart into a fresh Context: the pending batches run again, with their own ranges.
    let clock = Arc::new(ManualClock::starting_at(Time::from_millis(
        (BATCHES + 1) * 1000,
    )));
    let ssc = job(clock, unbounded::<()>().1);
    let (_, completed) = events(&ssc);
    ssc.start().unwrap();
    loop {
        let info = completed.recv_timeout(Duration::from_secs(60)).unwrap();
        assert!(info.succeeded(), "{info:?}");
        if info.batch_time >= Time::from_millis((BATCHES + 1) * 1000) {
            break;
        }
    }
    ssc.stop(StopOptions::immediate()).unwrap();
    let mut all: Vec<u64> = seen.lock().values().flatten().copied().collect();
    all.sort();
    let expected: Vec<u64> = (0..BATCHES * 5).collect();
    assert_eq!(all.len(), expected.len(), "lost or duplicated records");
    assert_eq!(all, expected);
}

/// A message the broker refuses fails the output operation, naming the broker's error.
#[test]
fn a_refused_delivery_fails_the_output_with_the_brokers_error() {
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("out", 1, 1).unwrap();
    let params = KafkaParams::new(servers.clone()).set("message.timeout.ms", "3000");
    // Every produce request fails with an error that is not retried.
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 50],
    );
    let err = produce_lines(&params, "out", &[b"a".to_vec(), b"b".to_vec()], None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("deliver") && err.to_lowercase().contains("authoriz"),
        "{err}"
    );
    // The sink: the batch fails with the broker's error.
    let runner = BatchRunner::new(Duration::from_secs(1));
    let input: emberflow_streaming::DStream<String> =
        runner.queue_input(vec![vec!["x".to_string(), "y".to_string()]]);
    input.foreach_rdd(kafka_sink(params.clone(), "out"));
    let infos = runner.run(1).unwrap();
    assert!(!infos[0].succeeded(), "{infos:?}");
    assert!(
        infos[0].failures[0].to_lowercase().contains("authoriz"),
        "{:?}",
        infos[0].failures
    );
    // Errors cleared: delivered again.
    mock.clear_request_errors(RDKafkaApiKey::Produce);
    assert_eq!(
        produce_lines(&params, "out", &[b"c".to_vec()], None).unwrap(),
        1
    );
}

/// Every user property reaches the producer: a bad value is librdkafka's error, not ignored.
#[test]
fn every_property_reaches_the_producer() {
    let mock = MockCluster::new(1).unwrap();
    let params = KafkaParams::new(mock.bootstrap_servers()).set("batch.num.messages", "many");
    let err = produce_lines(&params, "t", &[b"a".to_vec()], None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("batch.num.messages"), "{err}");
}

/// A window longer than 64 batches over the direct stream, restarted from its checkpoint into
/// a fresh Context: the window's first batch after the restart recomputes every batch it
/// covers from their recorded ranges, so the direct stream keeps the ranges of completed
/// batches as long as the stream is remembered (the window's length), not a fixed number.
#[test]
fn completed_ranges_are_kept_as_long_as_the_stream_is_remembered() {
    const WINDOW: u32 = 100;
    const BEFORE: u64 = 110;
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("long", 1, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let interval = Duration::from_secs(1);
    let params = KafkaParams::new(servers.clone()).set("auto.offset.reset", "earliest");
    let sums: Arc<Mutex<BTreeMap<Time, u64>>> = Arc::default();
    let create = |ssc: &StreamingContext| {
        let sink = sums.clone();
        KafkaUtils::create_direct_stream(
            ssc,
            params.clone(),
            ConsumerStrategy::subscribe(["long"]),
        )?
        .map(|r| r.value_str().parse::<u64>().unwrap())
        .window(interval * WINDOW, interval)
        .foreach_rdd(move |rdd, time| {
            let values = rdd.collect()?;
            sink.lock().insert(time, values.iter().sum());
            Ok(())
        });
        Ok(())
    };
    // One record per batch: batch i (at i s) reads the value i.
    let first = BatchRunner::get_or_create(
        &Context::local(2),
        interval,
        dir.path(),
        Time::ZERO,
        |b| b,
        create,
    )
    .unwrap();
    for i in 1..=BEFORE {
        produce_to(&servers, "long", 0, i, 1);
        first.run(1).unwrap();
    }
    first
        .ssc()
        .stop(StopOptions::immediate().keep_context(true))
        .unwrap();
    drop(first);
    let window_sum = |t: u64| (t.saturating_sub(u64::from(WINDOW)) + 1..=t).sum::<u64>();
    assert_eq!(
        sums.lock()[&Time::from_millis(BEFORE * 1000)],
        window_sum(BEFORE)
    );
    let again = BatchRunner::get_or_create(
        &Context::local(2),
        interval,
        dir.path(),
        Time::from_millis(BEFORE * 1000),
        |b| b,
        create,
    )
    .unwrap();
    produce_to(&servers, "long", 0, BEFORE + 1, 1);
    again.run(1).unwrap();
    assert_eq!(
        sums.lock()[&Time::from_millis((BEFORE + 1) * 1000)],
        window_sum(BEFORE + 1),
        "the window after the restart covers {WINDOW} batches"
    );
}
