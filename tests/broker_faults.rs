//! Broker faults against a real Kafka-protocol broker (nisshi, out of process): every client
//! connection goes through a TCP proxy that cuts, stalls and restores it in the middle of a
//! batch's fetch, of a sink's produce requests and of a receiver's commits. The direct
//! stream, the receiver stream and the sink each resume; every record is read (or written)
//! exactly once.
#![cfg(feature = "kafka")]
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::{Broker, Fault, Way};
use emberflow::kafka::{
    kafka_sink, produce_lines, ConsumerStrategy, HasOffsetRanges, KafkaParams, KafkaUtils,
    OffsetRange,
};
use emberflow::prelude::*;
use emberflow::testing::BatchRunner;
use parking_lot::Mutex;

const S: Duration = Duration::from_secs(1);
/// Values carry padding so a batch's fetch is tens of kilobytes and a cut armed after a few
/// lands inside it, not in the small metadata requests before it.
const PAD: usize = 200;

fn padded(values: impl Iterator<Item = u64>) -> Vec<Vec<u8>> {
    values
        .map(|i| format!("{i:07}{}", "x".repeat(PAD)).into_bytes())
        .collect()
}

fn value_of(bytes: &[u8]) -> u64 {
    std::str::from_utf8(&bytes[..7]).unwrap().parse().unwrap()
}

/// Asserts `got` holds every value below `total` exactly once.
fn assert_exactly_once(got: &[u64], total: u64, what: &str) {
    let mut sorted = got.to_vec();
    sorted.sort_unstable();
    let mut dups = sorted.clone();
    dups.dedup();
    let twice = sorted.len() - dups.len();
    let lost = (0..total)
        .filter(|v| dups.binary_search(v).is_err())
        .count();
    assert_eq!(
        (lost, twice),
        (0, 0),
        "{what}: records lost, records counted twice"
    );
    assert_eq!(sorted, (0..total).collect::<Vec<_>>(), "{what}");
}

/// Every value in `topic`, read from its earliest to its high watermarks.
fn topic_values(broker: &Broker, topic: &str, partitions: i32) -> Vec<u64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let probe: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "probe")
        .create()
        .unwrap();
    let ranges: Vec<OffsetRange> = (0..partitions)
        .map(|p| {
            let (low, high) = probe
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap();
            OffsetRange {
                topic: topic.into(),
                partition: p,
                from_offset: low,
                until_offset: high,
            }
        })
        .collect();
    let ctx = Context::local(2);
    let rdd = KafkaUtils::create_rdd(&ctx, &KafkaParams::new(broker.bootstrap()), ranges);
    rdd.map(|r| value_of(r.value.as_deref().unwrap()))
        .collect()
        .unwrap()
}

fn user_error(e: emberflow::kafka::Error) -> emberflow::Error {
    emberflow::Error::user(e.to_string())
}

#[test]
fn the_direct_stream_resumes_after_cuts_and_stalls_mid_batch_and_a_failed_batch_after_a_restart() {
    let broker = Broker::behind_proxy();
    let proxy = broker.proxy.clone();
    broker.create_topic("orders", 3);
    let total = 3000u64;
    let params = KafkaParams::new(broker.bootstrap());
    assert_eq!(
        produce_lines(&params, "orders", &padded(0..total), None).unwrap(),
        total
    );
    let dir = common::temp_dir();
    let ctx = Context::local(2);
    let out: Arc<Mutex<BTreeMap<Time, Vec<u64>>>> = Arc::default();
    let last_ranges: Arc<Mutex<Vec<OffsetRange>>> = Arc::default();
    let create = |ssc: &StreamingContext| {
        let params = KafkaParams::new(broker.bootstrap())
            .set("auto.offset.reset", "earliest")
            .max_rate_per_partition(150)
            .request_timeout(Duration::from_secs(3));
        let stream =
            KafkaUtils::create_direct_stream(ssc, params, ConsumerStrategy::subscribe(["orders"]))
                .map_err(user_error)?;
        let (sink, seen_ranges) = (out.clone(), last_ranges.clone());
        stream.stream().foreach_rdd(move |rdd, time| {
            let ranges = rdd.offset_ranges();
            *seen_ranges.lock() = ranges.clone();
            let values = rdd
                .map(|r| value_of(r.value.as_deref().unwrap()))
                .collect()?;
            assert_eq!(
                values.len() as u64,
                ranges.iter().map(OffsetRange::count).sum::<u64>()
            );
            sink.lock().insert(time, values);
            Ok(())
        });
        Ok(())
    };
    let runner =
        BatchRunner::get_or_create(&ctx, S, dir.path(), Time::ZERO, |b| b, create).unwrap();
    assert!(runner.run(1).unwrap()[0].succeeded());
    // Batch 2: the connection is cut 20 kB into the batch's fetch, and back 300 ms later
    // (inside the read timeout): the readers reconnect and read on.
    proxy.arm(Way::ToClient, 20_000, Fault::Cut);
    let restorer = proxy.restore_after_next_fault(Duration::from_millis(300));
    assert!(runner.run(1).unwrap()[0].succeeded());
    assert!(restorer.join().unwrap(), "the cut fired");
    // Batch 3: every byte held for 1 s in the middle of the fetch.
    proxy.arm(Way::ToClient, 20_000, Fault::Stall);
    let restorer = proxy.restore_after_next_fault(Duration::from_secs(1));
    assert!(runner.run(1).unwrap()[0].succeeded());
    assert!(restorer.join().unwrap(), "the stall fired");
    // Batch 4: cut mid-fetch for longer than the read timeout: the batch fails.
    proxy.arm(Way::ToClient, 20_000, Fault::Cut);
    let failed = runner.run(1).unwrap();
    assert!(!failed[0].succeeded(), "{failed:?}");
    proxy.restore();
    // The stream goes on past the failed batch (or batches: one that starts before the
    // readers reconnect fails too) until it has decided ranges up to the end of every
    // partition …
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "did not go on: {} read, last ranges {:?}",
            out.lock().values().map(Vec::len).sum::<usize>(),
            last_ranges.lock()
        );
        runner.run(1).unwrap();
        let caught_up = last_ranges.lock().iter().all(|r| r.count() == 0);
        let decided: i64 = last_ranges.lock().iter().map(|r| r.until_offset).sum();
        if caught_up && decided == total as i64 {
            break;
        }
    }
    runner
        .ssc()
        .stop(StopOptions::immediate().keep_context(true))
        .unwrap();
    let restart_at = emberflow::Clock::now(runner.clock().as_ref());
    drop(runner);
    // … and a restart into a fresh context runs the failed batch again, exactly its ranges.
    let again = BatchRunner::get_or_create(&ctx, S, dir.path(), restart_at, |b| b, create).unwrap();
    let started = Instant::now();
    while out.lock().values().map(Vec::len).sum::<usize>() < total as usize {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "did not go on"
        );
        again.run(1).unwrap();
    }
    // Nothing more comes.
    again.run(2).unwrap();
    let got: Vec<u64> = out.lock().values().flatten().copied().collect();
    assert_exactly_once(&got, total, "direct stream");
}

/// Runs batches (in real time: the receiver stores as it polls) until `out` holds `n`
/// records or two minutes pass.
fn run_until(runner: &BatchRunner, out: &emberflow::testing::Collected<u64>, n: usize) {
    let started = Instant::now();
    while out.batches().concat().len() < n && started.elapsed() < Duration::from_secs(120) {
        runner.run(1).unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
}

#[test]
fn the_receiver_stream_resumes_after_cuts_mid_commit() {
    let broker = Broker::behind_proxy();
    let proxy = broker.proxy.clone();
    broker.create_topic("clicks", 2);
    let total = 3000u64;
    produce_lines(
        &KafkaParams::new(broker.bootstrap()),
        "clicks",
        &padded(0..total),
        None,
    )
    .unwrap();
    let dir = common::temp_dir();
    let runner = BatchRunner::with_builder(&Context::local(2), S, |b| {
        b.receiver_write_ahead_log(true)
            .block_interval(Duration::from_millis(100))
    });
    runner.ssc().checkpoint(dir.path()).unwrap();
    let params = KafkaParams::new(broker.bootstrap())
        .group_id("clicks-reader")
        .set("auto.offset.reset", "earliest");
    let stream = KafkaUtils::create_stream(runner.ssc(), params, ["clicks"]).unwrap();
    let out = runner.collect(&stream.map(|r| value_of(r.value.as_deref().unwrap())));
    // Commit requests go to the broker after every stored block: cut the connection a few
    // bytes into the requests that follow, five times, each for 400 ms.
    let cutter = {
        let proxy = proxy.clone();
        std::thread::spawn(move || {
            for _ in 0..5 {
                std::thread::sleep(Duration::from_millis(300));
                let before = proxy.faults();
                proxy.arm(Way::ToBroker, 40, Fault::Cut);
                proxy.wait_for_fault(before, Duration::from_secs(30));
                std::thread::sleep(Duration::from_millis(400));
                proxy.restore();
            }
        })
    };
    run_until(&runner, &out, total as usize);
    cutter.join().unwrap();
    assert!(proxy.faults() >= 5);
    // Nothing more arrives later.
    runner.run(2).unwrap();
    assert_exactly_once(&out.batches().concat(), total, "receiver stream");
}

#[test]
fn the_sink_resumes_after_cuts_and_stalls_mid_produce() {
    let broker = Broker::behind_proxy();
    let proxy = broker.proxy.clone();
    broker.create_topic("totals", 2);
    let total = 2000u64;
    let runner = BatchRunner::new(S);
    let batches: Vec<Vec<String>> = (0..5u64)
        .map(|b| {
            (b * 400..(b + 1) * 400)
                .map(|i| format!("{i:07}{}", "y".repeat(PAD)))
                .collect()
        })
        .collect();
    let input: DStream<String> = runner.queue_input(batches);
    let params = KafkaParams::new(broker.bootstrap()).set("linger.ms", "5");
    input.foreach_rdd(kafka_sink(params, "totals"));
    assert!(runner.run(1).unwrap()[0].succeeded());
    // Cut 30 kB into the produce requests of batch 2, back after 300 ms.
    proxy.arm(Way::ToBroker, 30_000, Fault::Cut);
    let restorer = proxy.restore_after_next_fault(Duration::from_millis(300));
    assert!(runner.run(1).unwrap()[0].succeeded());
    assert!(restorer.join().unwrap());
    // Hold the acknowledgements of batch 3 for 1 s (requests written, responses late).
    proxy.arm(Way::ToClient, 200, Fault::Stall);
    let restorer = proxy.restore_after_next_fault(Duration::from_secs(1));
    assert!(runner.run(1).unwrap()[0].succeeded());
    assert!(restorer.join().unwrap());
    // Batch 4: once 30 kB of its produce requests reached the broker, responses are held,
    // then the connection is cut: the broker wrote the records, the client never heard. Its
    // retries must not write them twice.
    proxy.arm(Way::ToBroker, 30_000, Fault::HoldResponses);
    let cutter = proxy.cut_after_next_fault(Duration::from_millis(500), Duration::from_millis(300));
    assert!(runner.run(1).unwrap()[0].succeeded());
    assert!(cutter.join().unwrap());
    assert!(runner.run(1).unwrap()[0].succeeded());
    assert_exactly_once(&topic_values(&broker, "totals", 2), total, "sink");
}
