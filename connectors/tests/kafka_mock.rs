//! The direct stream against rdkafka's in-process mock cluster (a real Kafka-protocol broker
//! in the test process): batches read exactly what was produced, ranges are exposed and
//! capped by the rate limit, `create_rdd` reads given ranges, committed offsets are a start,
//! a restart from the checkpoint re-reads exactly the pending batches, and an unreachable
//! broker is a clear error.
#![cfg(feature = "kafka")]
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use emberflow_connectors::kafka::{
    ConsumerStrategy, HasOffsetRanges, KafkaParams, KafkaUtils, OffsetRange,
};
use emberflow_core::Context;
use emberflow_streaming::testing::{run_with_restart, BatchRunner};
use emberflow_streaming::StreamingContext;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

fn produce(servers: &str, topic: &str, from: u64, n: u64) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .create()
        .unwrap();
    for i in from..from + n {
        let key = format!("k{}", i % 7);
        let value = i.to_string();
        producer
            .send(BaseRecord::to(topic).key(&key).payload(&value))
            .unwrap();
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

fn values(batch: &[emberflow_connectors::kafka::ConsumerRecord]) -> Vec<u64> {
    let mut v: Vec<u64> = batch
        .iter()
        .map(|r| r.value_str().parse().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn batches_read_what_was_produced_with_their_offset_ranges() {
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("orders", 3, 1).unwrap();
    produce(&servers, "orders", 0, 300);
    let runner = BatchRunner::new(Duration::from_secs(1));
    let params = KafkaParams::new(servers.clone()).set("auto.offset.reset", "earliest");
    let stream = KafkaUtils::create_direct_stream(
        runner.ssc(),
        params,
        ConsumerStrategy::subscribe(["orders"]),
    )
    .unwrap();
    let ranges = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let r = ranges.clone();
    stream.foreach_rdd(move |rdd, _| {
        r.lock().unwrap().push(rdd.offset_ranges());
        Ok(())
    });
    let out = runner.collect(&stream);
    runner.run(2).unwrap();
    produce(&servers, "orders", 300, 40);
    runner.run(1).unwrap();
    let batches = out.batches();
    assert_eq!(values(&batches[0]), (0..300).collect::<Vec<_>>());
    assert!(batches[1].is_empty());
    assert_eq!(values(&batches[2]), (300..340).collect::<Vec<_>>());
    let ranges = ranges.lock().unwrap().clone();
    assert_eq!(ranges[0].len(), 3, "one range per partition");
    assert_eq!(ranges[0].iter().map(OffsetRange::count).sum::<u64>(), 300);
    assert!(ranges[1].iter().all(|r| r.count() == 0));
    // Consecutive: each batch starts where the previous stopped.
    for (b, next) in ranges.windows(2).map(|w| (&w[0], &w[1])) {
        for (prev, cur) in b.iter().zip(next) {
            assert_eq!(cur.from_offset, prev.until_offset);
        }
    }
    // The records know where they came from.
    let r0 = &batches[0][0];
    assert_eq!(r0.topic, "orders");
    assert!(r0.key_str().unwrap().starts_with('k'));
}

#[test]
fn the_rate_limit_caps_each_partition_per_batch() {
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("fast", 2, 1).unwrap();
    produce(&servers, "fast", 0, 100);
    let runner = BatchRunner::new(Duration::from_secs(1));
    let params = KafkaParams::new(servers)
        .set("auto.offset.reset", "earliest")
        .max_rate_per_partition(20);
    let stream = KafkaUtils::create_direct_stream(
        runner.ssc(),
        params,
        ConsumerStrategy::subscribe_pattern("^fa.t$"),
    )
    .unwrap();
    let out = runner.collect(&stream);
    runner.run(4).unwrap();
    let sizes: Vec<usize> = out.batches().iter().map(Vec::len).collect();
    assert!(sizes.iter().all(|s| *s <= 40), "{sizes:?}");
    // 4 batches × 2 partitions × 20 records cover the 100 produced.
    assert_eq!(sizes.iter().sum::<usize>(), 100);
    assert_eq!(sizes[0], 40);
}

/// The rate hook (`set_max_rate`) caps the stream's next batches, shared out over its
/// partitions, under the configured per-partition cap, and lifting it lets the rest through.
#[test]
fn set_max_rate_steers_the_direct_stream() {
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("steered", 2, 1).unwrap();
    produce(&servers, "steered", 0, 200);
    let runner = BatchRunner::new(Duration::from_secs(1));
    let params = KafkaParams::new(servers)
        .set("auto.offset.reset", "earliest")
        .max_rate_per_partition(60);
    let stream = KafkaUtils::create_direct_stream(
        runner.ssc(),
        params,
        ConsumerStrategy::subscribe(["steered"]),
    )
    .unwrap();
    let out = runner.collect(&stream);
    runner.ssc().set_max_rate(stream.id(), Some(20)).unwrap();
    runner.run(2).unwrap();
    // 20 records/s over 2 partitions for 1 s batches: 10 per partition.
    runner.ssc().set_max_rate(stream.id(), Some(1_000)).unwrap();
    runner.run(1).unwrap();
    runner.ssc().set_max_rate(stream.id(), None).unwrap();
    runner.run(2).unwrap();
    let sizes: Vec<usize> = out.batches().iter().map(Vec::len).collect();
    // Raised above the configuration: the configured 60 per partition holds.
    assert_eq!(sizes, vec![20, 20, 120, 40, 0], "{sizes:?}");
}

/// Runs one batch of a direct stream on `topic` in the runner's context: the batch's offset
/// ranges and its progress.
fn one_batch(
    runner: &BatchRunner,
    params: KafkaParams,
    topic: &str,
) -> (Vec<OffsetRange>, emberflow_streaming::StreamingProgress) {
    let stream = KafkaUtils::create_direct_stream(
        runner.ssc(),
        params,
        ConsumerStrategy::subscribe([topic]),
    )
    .unwrap();
    let ranges = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let r = ranges.clone();
    stream.foreach_rdd(move |rdd, _| {
        *r.lock().unwrap() = rdd.offset_ranges();
        Ok(())
    });
    runner.run(1).unwrap();
    let progress = runner.ssc().last_progress().unwrap();
    let ranges = ranges.lock().unwrap().clone();
    (ranges, progress)
}

/// A batch's progress shows where it read, as Spark's Kafka source does:
/// `{topic: {partition: offset}}` at its start and end.
#[test]
fn the_progress_of_a_batch_shows_its_offsets() {
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("progress", 2, 1).unwrap();
    produce(&servers, "progress", 0, 40);
    let runner = BatchRunner::new(Duration::from_secs(1));
    let params = KafkaParams::new(servers.clone()).set("auto.offset.reset", "earliest");
    let (ranges, p) = one_batch(&runner, params, "progress");
    let at = |f: fn(&OffsetRange) -> i64| {
        let partitions: serde_json::Map<String, serde_json::Value> = ranges
            .iter()
            .map(|r| (r.partition.to_string(), f(r).into()))
            .collect();
        serde_json::json!({ "progress": partitions })
    };
    assert_eq!(p.num_input_rows, 40);
    assert_eq!(p.sources[0].start_offset, Some(at(|r| r.from_offset)));
    assert_eq!(p.sources[0].end_offset, Some(at(|r| r.until_offset)));
}

/// GET `path` from a UI at `url` (`http://host:port/`): the body of a 200.
fn ui_get(url: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let authority = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(authority).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// Per partition, the lag is the latest offset minus the batch's end: in the progress
/// (`latestOffset`), the UI's `/lag` and the `kafka_lag_records` metric.
#[test]
fn the_lag_of_each_partition_is_reported() {
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("lagging", 2, 1).unwrap();
    produce(&servers, "lagging", 0, 100);
    let ctx = Context::local(2);
    let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| b.ui("127.0.0.1:0"));
    let params = KafkaParams::new(servers)
        .set("auto.offset.reset", "earliest")
        .max_rate_per_partition(20);
    let (ranges, p) = one_batch(&runner, params, "lagging");
    let latest = p.sources[0].latest_offset.clone().unwrap();
    let total: i64 = latest["lagging"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(total, 100, "every record produced is available: {latest}");
    let expected: BTreeMap<String, i64> = ranges
        .iter()
        .map(|r| {
            let high = latest["lagging"][r.partition.to_string()].as_i64().unwrap();
            (r.partition.to_string(), high - r.until_offset)
        })
        .collect();
    assert_eq!(
        expected.values().sum::<i64>(),
        60,
        "100 produced, 2 × 20 read"
    );

    let url = runner.ssc().ui_url().unwrap();
    let lag: serde_json::Value =
        serde_json::from_str(&ui_get(&url, "/api/v1/streaming/lag")).unwrap();
    let shown: BTreeMap<String, i64> = lag
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l["topic"], "lagging");
            (
                l["partition"].as_str().unwrap().to_owned(),
                l["lag"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(shown, expected);
    let metrics = ui_get(&url, "/metrics");
    for (partition, lag) in &expected {
        let line = format!(
            "emberflow_streaming_kafka_lag_records{{topic=\"lagging\",partition=\"{partition}\"}} {lag}"
        );
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in {metrics}"
        );
    }
    runner.stop().unwrap();
}

#[test]
fn create_rdd_reads_exactly_the_ranges_and_committed_offsets_are_a_start() {
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("t", 1, 1).unwrap();
    produce(&servers, "t", 0, 50);
    let ctx = Context::local(2);
    let params = KafkaParams::new(servers.clone())
        .group_id("g1")
        .set("auto.offset.reset", "earliest");
    let rdd = KafkaUtils::create_rdd(
        &ctx,
        &params,
        vec![OffsetRange {
            topic: "t".into(),
            partition: 0,
            from_offset: 10,
            until_offset: 20,
        }],
    );
    assert_eq!(
        values(&rdd.collect().unwrap()),
        (10..20).collect::<Vec<_>>()
    );
    assert_eq!(rdd.offset_ranges()[0].count(), 10);
    // A stream that commits what it read; a new stream of the same group starts after it.
    let runner = BatchRunner::new(Duration::from_secs(1));
    let stream = KafkaUtils::create_direct_stream(
        runner.ssc(),
        params.clone(),
        ConsumerStrategy::subscribe(["t"]),
    )
    .unwrap();
    let handle = stream.clone();
    stream.foreach_rdd(move |rdd, _| {
        handle.commit_async(rdd.offset_ranges());
        Ok(())
    });
    runner.run(1).unwrap();
    drop(runner);
    produce(&servers, "t", 50, 5);
    // Commits are asynchronous: wait for the broker to have it (a real broker, a real wait).
    let mut found = None;
    for _ in 0..100 {
        let runner = BatchRunner::new(Duration::from_secs(1));
        let stream = KafkaUtils::create_direct_stream(
            runner.ssc(),
            params.clone(),
            ConsumerStrategy::subscribe(["t"]),
        )
        .unwrap();
        let out = runner.collect(&stream);
        runner.run(1).unwrap();
        let got = values(&out.batches()[0]);
        if got.len() == 5 {
            found = Some(got);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(found, Some((50..55).collect::<Vec<_>>()));
}

#[test]
fn a_restart_from_the_checkpoint_rereads_exactly_the_pending_batches() {
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("r", 2, 1).unwrap();
    produce(&servers, "r", 0, 200);
    let ctx = Context::local(2);
    let params = KafkaParams::new(servers)
        .set("auto.offset.reset", "earliest")
        .max_rate_per_partition(30);
    let build = |ssc: &StreamingContext| {
        let stream = KafkaUtils::create_direct_stream(
            ssc,
            params.clone(),
            ConsumerStrategy::subscribe(["r"]),
        )?;
        Ok(stream.map(|r| (r.partition, r.value_str().parse::<u64>().unwrap())))
    };
    let straight_dir = tempfile::tempdir().unwrap();
    let straight = run_with_restart(
        &ctx,
        Duration::from_secs(1),
        straight_dir.path(),
        5,
        None,
        build,
    )
    .unwrap();
    let total: usize = straight.values().map(Vec::len).sum();
    assert_eq!(total, 200);
    for k in 1..5 {
        let dir = tempfile::tempdir().unwrap();
        let restarted =
            run_with_restart(&ctx, Duration::from_secs(1), dir.path(), 5, Some(k), build).unwrap();
        let norm = |m: &BTreeMap<emberflow_streaming::Time, Vec<(i32, u64)>>| {
            m.iter()
                .map(|(t, v)| {
                    let mut v = v.clone();
                    v.sort();
                    (*t, v)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(norm(&restarted), norm(&straight), "restart after batch {k}");
    }
}

#[test]
fn an_unreachable_broker_is_a_clear_error_at_creation() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let err = KafkaUtils::create_direct_stream(
        runner.ssc(),
        KafkaParams::new("127.0.0.1:1"),
        ConsumerStrategy::subscribe(["x"]),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("reach the brokers at 127.0.0.1:1"), "{err}");
}

/// Reads every record of `topic` (all partitions) from the beginning.
fn read_all(servers: &str, topic: &str, partitions: i32) -> Vec<String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", "probe")
        .create()
        .unwrap();
    let ranges: Vec<OffsetRange> = (0..partitions)
        .map(|p| {
            let (low, high) = probe
                .fetch_watermarks(topic, p, Duration::from_secs(5))
                .unwrap();
            OffsetRange {
                topic: topic.into(),
                partition: p,
                from_offset: low,
                until_offset: high,
            }
        })
        .collect();
    let ctx = Context::local(1);
    KafkaUtils::create_rdd(&ctx, &KafkaParams::new(servers), ranges)
        .map(|r| r.value_str())
        .collect()
        .unwrap()
}

#[test]
fn the_receiver_stream_stores_through_the_log_then_commits() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("rx", 2, 1).unwrap();
    produce(&servers, "rx", 0, 100);
    let ckpt = tempfile::tempdir().unwrap();
    let ctx = Context::local(2);
    let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| {
        b.receiver_write_ahead_log(true)
    });
    runner.ssc().checkpoint(ckpt.path()).unwrap();
    let params = KafkaParams::new(servers.clone())
        .group_id("rg")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000");
    let stream = KafkaUtils::create_stream(runner.ssc(), params, ["rx"]).unwrap();
    let out = runner.collect(&stream.map(|r| r.value_str().parse::<u64>().unwrap()));
    // The group join and the fetches happen on the broker's time: wait for them, batch by batch.
    let started = std::time::Instant::now();
    while out.batches().iter().map(Vec::len).sum::<usize>() < 100 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "records did not arrive"
        );
        std::thread::sleep(Duration::from_millis(50));
        runner.run(1).unwrap();
    }
    let mut all: Vec<u64> = out.batches().concat();
    all.sort();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
    // The log holds the blocks; the group's committed offsets cover everything stored.
    assert!(ckpt.path().join("received").exists());
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .set("group.id", "rg")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition("rx", 0);
    tpl.add_partition("rx", 1);
    let committed = probe
        .committed_offsets(tpl, Duration::from_secs(5))
        .unwrap();
    let total: i64 = committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            rdkafka::Offset::Offset(o) => o,
            _ => 0,
        })
        .sum();
    assert_eq!(total, 100);
    let err = KafkaUtils::create_stream(runner.ssc(), KafkaParams::new(servers), ["rx"])
        .err()
        .unwrap();
    assert!(err.to_string().contains("group.id"));
}

#[test]
fn the_sink_and_the_progress_listener_write_to_topics() {
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("metrics", 1, 1).unwrap();
    mock.create_topic("progress", 1, 1).unwrap();
    let runner = BatchRunner::new(Duration::from_secs(1));
    let params = KafkaParams::new(servers.clone());
    runner.ssc().add_streaming_listener(
        emberflow_connectors::kafka::KafkaProgressListener::new(&params, "progress").unwrap(),
    );
    let input = runner.queue_input::<(String, u64), (String, u64)>(vec![
        vec![("a".into(), 1), ("b".into(), 2)],
        vec![("c".into(), 3)],
    ]);
    input.foreach_rdd(emberflow_connectors::kafka::kafka_sink(params, "metrics"));
    runner.run(2).unwrap();
    let mut metrics = read_all(&servers, "metrics", 1);
    metrics.sort();
    assert_eq!(metrics, vec!["(a,1)", "(b,2)", "(c,3)"]);
    let progress = read_all(&servers, "progress", 1);
    assert_eq!(progress.len(), 2);
    assert!(
        progress[0].contains("\"batchTime\":1000") && progress[1].contains("\"batchTime\":2000"),
        "{progress:?}"
    );
    assert!(
        progress[0].contains("\"processingDelayMs\":0"),
        "{progress:?}"
    );
}

#[test]
fn many_partitions_and_empty_topics() {
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("wide", 12, 1).unwrap();
    mock.create_topic("empty", 4, 1).unwrap();
    produce(&servers, "wide", 0, 600);
    let runner = BatchRunner::new(Duration::from_secs(1));
    let params = KafkaParams::new(servers).set("auto.offset.reset", "earliest");
    let wide = KafkaUtils::create_direct_stream(
        runner.ssc(),
        params.clone(),
        ConsumerStrategy::subscribe(["wide"]),
    )
    .unwrap();
    let empty = KafkaUtils::create_direct_stream(
        runner.ssc(),
        params,
        ConsumerStrategy::subscribe(["empty"]),
    )
    .unwrap();
    let parts = runner.collect(&wide.glom().map(|p| p.len()));
    let none = runner.collect(&empty);
    runner.run(2).unwrap();
    let first = &parts.batches()[0];
    assert_eq!(first.len(), 12, "one RDD partition per Kafka partition");
    assert_eq!(first.iter().sum::<usize>(), 600);
    assert!(none.batches().iter().all(Vec::is_empty));
}

#[test]
fn a_broker_that_goes_away_fails_batches_and_the_stream_resumes_when_it_is_back() {
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("flaky", 2, 1).unwrap();
    produce(&servers, "flaky", 0, 50);
    let runner = BatchRunner::new(Duration::from_secs(1));
    let params = KafkaParams::new(servers.clone())
        .set("auto.offset.reset", "earliest")
        .request_timeout(Duration::from_millis(1500));
    let stream = KafkaUtils::create_direct_stream(
        runner.ssc(),
        params,
        ConsumerStrategy::subscribe(["flaky"]),
    )
    .unwrap();
    let out = runner.collect(&stream.map(|r| r.value_str().parse::<u64>().unwrap()));
    assert!(runner.run(1).unwrap()[0].succeeded());
    mock.broker_down(1).unwrap();
    let down = runner.run(1).unwrap();
    assert!(
        !down[0].succeeded(),
        "a batch without a broker fails: {down:?}"
    );
    assert!(
        down[0].failures[0].contains("kafka"),
        "{:?}",
        down[0].failures
    );
    mock.broker_up(1).unwrap();
    produce(&servers, "flaky", 50, 30);
    // The broker is back: the next batches read on from where the stream stood.
    let all = common::run_until_read(&runner, &out, 80);
    assert_eq!(all, (0..80).collect::<Vec<_>>());
    assert_eq!(runner.ssc().failed_batches(), 1);
}

#[test]
fn assign_reads_exactly_the_given_partitions_from_the_given_offsets() {
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("a", 3, 1).unwrap();
    produce(&servers, "a", 0, 90);
    let runner = BatchRunner::new(Duration::from_secs(1));
    let params = KafkaParams::new(servers).set("auto.offset.reset", "earliest");
    let offsets: BTreeMap<(String, i32), i64> = [(("a".to_string(), 1), 10)].into_iter().collect();
    let stream = KafkaUtils::create_direct_stream(
        runner.ssc(),
        params,
        ConsumerStrategy::assign(vec![("a".into(), 1), ("a".into(), 2)], offsets),
    )
    .unwrap();
    let out = runner.collect(&stream.map(|r| (r.partition, r.offset)));
    runner.run(1).unwrap();
    let got = out.batches().concat();
    assert!(
        got.iter().all(|(p, _)| *p == 1 || *p == 2),
        "only the assigned partitions"
    );
    assert_eq!(
        got.iter().filter(|(p, _)| *p == 1).map(|(_, o)| *o).min(),
        Some(10),
        "partition 1 from offset 10"
    );
    assert_eq!(
        got.iter().filter(|(p, _)| *p == 2).map(|(_, o)| *o).min(),
        Some(0),
        "partition 2 from the earliest"
    );
}

#[test]
fn backpressure_shrinks_batches_to_what_the_job_processes() {
    use emberflow_streaming::ManualClock;
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("bp", 2, 1).unwrap();
    produce(&servers, "bp", 0, 1000);
    let clock = std::sync::Arc::new(ManualClock::new());
    let ctx = Context::local(2);
    let ssc = StreamingContext::builder(&ctx, Duration::from_secs(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    let params = KafkaParams::new(servers.clone())
        .set("auto.offset.reset", "earliest")
        .backpressure(true);
    let stream =
        KafkaUtils::create_direct_stream(&ssc, params, ConsumerStrategy::subscribe(["bp"]))
            .unwrap();
    // A slow job: each batch's processing takes 4 s of stream time.
    let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (s, c) = (sizes.clone(), clock.clone());
    stream.foreach_rdd(move |rdd, _| {
        s.lock().unwrap().push(rdd.count()?);
        c.advance(Duration::from_secs(4));
        Ok(())
    });
    ssc.start().unwrap();
    clock.advance(Duration::from_secs(1));
    let started = std::time::Instant::now();
    let wait_for = |total: u64| {
        while sizes.lock().unwrap().iter().sum::<u64>() < total {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{:?}",
                sizes.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for(1000);
    // The PID estimator measures on its first batch with records and sets a rate from the
    // second on; the second wave may come whole or in pieces (a batch can fall due while it
    // is produced).
    produce(&servers, "bp", 1000, 1000);
    wait_for(2000);
    // A few more batches, so that every batch deciding its range from now on was generated
    // after the estimate was set.
    let after = sizes.lock().unwrap().len() + 5;
    while sizes.lock().unwrap().len() < after {
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(10));
    }
    produce(&servers, "bp", 2000, 1000);
    wait_for(3000);
    ssc.stop(emberflow_streaming::StopOptions::immediate().keep_context(true))
        .unwrap();
    let sizes = sizes.lock().unwrap().clone();
    assert_eq!(sizes[0], 1000, "no estimate yet: everything: {sizes:?}");
    // 1000 records took 4 s: 250 per second at best, and the backlog lowers it further, so
    // no batch of the third wave (1 s each) reads more than 250.
    let third: Vec<u64> = sizes[after..].iter().copied().filter(|s| *s > 0).collect();
    assert!(
        third.len() > 3,
        "the third wave came in several batches: {sizes:?}"
    );
    assert!(third.iter().all(|s| *s <= 250), "{sizes:?}");
}

/// The direct stream is a `Source`: each batch's record count (the sum of its ranges) is in
/// its `BatchInfo`, as receivers' counts are.
#[test]
fn the_direct_stream_reports_each_batchs_record_count() {
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("counted", 2, 1).unwrap();
    produce(&servers, "counted", 0, 30);
    let runner = BatchRunner::new(Duration::from_secs(1));
    let params = KafkaParams::new(servers.clone())
        .set("auto.offset.reset", "earliest")
        .max_rate_per_partition(10);
    let stream = KafkaUtils::create_direct_stream(
        runner.ssc(),
        params,
        ConsumerStrategy::subscribe(["counted"]),
    )
    .unwrap();
    let out = runner.collect(&stream.map(|r| r.offset));
    let infos = runner.run(3).unwrap();
    let read: Vec<u64> = out.batches().iter().map(|b| b.len() as u64).collect();
    let reported: Vec<u64> = infos
        .iter()
        .map(|i| i.records_per_input.get(&stream.id()).copied().unwrap_or(0))
        .collect();
    assert_eq!(reported, read, "{infos:?}");
    assert_eq!(read.iter().sum::<u64>(), 30);
}
