//! Against a real Kafka-protocol broker out of process (nisshi, started by scripts/test.sh,
//! which sets EMBERFLOW_KAFKA_BROKER): a probe of what the direct stream needs (topics with
//! several partitions, produce, per-partition watermarks, assigned fetches, group commits),
//! and exactly-once counts through the direct stream while a producer keeps writing and the
//! job is killed with SIGKILL and restarted from its checkpoint again and again.
#![cfg(feature = "kafka")]
#![allow(clippy::unwrap_used)]

mod common;

use common::kafka::{broker, create_topic, unique};
use common::JobDirs;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use emberflow::kafka::{
    produce_lines, ConsumerStrategy, HasOffsetRanges, KafkaParams, KafkaUtils, OffsetRange,
};
use emberflow::testing::BatchRunner;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

#[test]
fn probe_the_broker_does_what_the_direct_stream_needs() {
    let topic = unique("probe");
    create_topic(&topic, 3);
    let params = KafkaParams::new(broker());
    let lines: Vec<Vec<u8>> = (0..300).map(|i: u32| i.to_string().into_bytes()).collect();
    assert_eq!(produce_lines(&params, &topic, &lines, None).unwrap(), 300);
    // Per-partition high watermarks that add up (a broker that reports partition 0's for all
    // would fail here).
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("group.id", "probe")
        .create()
        .unwrap();
    let highs: Vec<i64> = (0..3)
        .map(|p| {
            probe
                .fetch_watermarks(&topic, p, Duration::from_secs(10))
                .unwrap()
                .1
        })
        .collect();
    assert_eq!(highs.iter().sum::<i64>(), 300, "{highs:?}");
    // The direct stream reads all of it, from assigned offsets, one range per partition, and
    // commits to its group.
    let group = unique("g");
    let params = params
        .group_id(group.clone())
        .set("auto.offset.reset", "earliest");
    let runner = BatchRunner::new(Duration::from_secs(1));
    let stream = KafkaUtils::create_direct_stream(
        runner.ssc(),
        params.clone(),
        ConsumerStrategy::subscribe([topic.clone()]),
    )
    .unwrap();
    let handle = stream.clone();
    let ranges = Arc::new(std::sync::Mutex::new(Vec::new()));
    let r = ranges.clone();
    stream.foreach_rdd(move |rdd, _| {
        let got = rdd.offset_ranges();
        handle.commit_async(got.clone());
        r.lock().unwrap().push(got);
        Ok(())
    });
    let out = runner.collect(&stream.map(|r| r.value_str().parse::<u32>().unwrap()));
    runner.run(1).unwrap();
    let mut got = out.batches().concat();
    got.sort();
    assert_eq!(got, (0..300).collect::<Vec<_>>());
    assert_eq!(ranges.lock().unwrap()[0].len(), 3);
    // A fetch from the middle of the log, of the fullest partition (records without a key
    // are spread by the producer's sticky partitioner: a partition may hold only a few).
    let (fullest, high) = highs
        .iter()
        .enumerate()
        .max_by_key(|(_, h)| **h)
        .map(|(p, h)| (p as i32, *h))
        .unwrap();
    let mid = KafkaUtils::create_rdd(
        runner.context(),
        &params,
        vec![OffsetRange {
            topic: topic.clone(),
            partition: fullest,
            from_offset: high / 2 - 2,
            until_offset: high / 2 + 2,
        }],
    );
    assert_eq!(mid.count().unwrap(), 4);
    // The group's commit becomes visible.
    let started = Instant::now();
    loop {
        let mut tpl = rdkafka::TopicPartitionList::new();
        for p in 0..3 {
            tpl.add_partition(&topic, p);
        }
        let probe: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", broker())
            .set("group.id", &group)
            .create()
            .unwrap();
        let committed: i64 = probe
            .committed_offsets(tpl, Duration::from_secs(10))
            .unwrap()
            .elements()
            .iter()
            .map(|e| {
                if let rdkafka::Offset::Offset(o) = e.offset() {
                    o
                } else {
                    0
                }
            })
            .sum();
        if committed == 300 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "commit not visible: {committed}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn exactly_once_through_the_direct_stream_with_kills_while_producing() {
    let kills: usize = common::env_or("EMBERFLOW_CRASH_KILLS", 8);
    let topic = unique("crash");
    create_topic(&topic, 3);
    let job = JobDirs::new();
    // A producer that keeps writing "k,v" lines while the job is killed and restarted.
    let stop = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicU64::new(0));
    let (s, n, t, b) = (stop.clone(), produced.clone(), topic.clone(), broker());
    let producer = std::thread::spawn(move || {
        let params = KafkaParams::new(b);
        let mut i = 0u64;
        while !s.load(Ordering::SeqCst) {
            let lines: Vec<Vec<u8>> = (i..i + 50)
                .map(|j| format!("k{},{j}", j % 7).into_bytes())
                .collect();
            produce_lines(&params, &t, &lines, None).unwrap();
            i += 50;
            n.store(i, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let broker = broker();
    let from_kafka = ["--kafka", broker.as_str(), "--topic", topic.as_str()];
    let mut rng = common::Rng(0x5eed);
    for _ in 0..kills {
        let mut child = job.spawn(&from_kafka);
        std::thread::sleep(Duration::from_millis(200 + rng.next() % 500));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    producer.join().unwrap();
    let total = produced.load(Ordering::SeqCst);
    assert!(job
        .spawn(&[&from_kafka[..], &["--run-for-ms", "3000"]].concat())
        .wait()
        .unwrap()
        .success());
    // Every produced record saved exactly once, and counted once in the state.
    let mut saved: Vec<u64> = common::saved_values(&job.out);
    saved.sort();
    assert_eq!(
        saved,
        (0..total).collect::<Vec<_>>(),
        "{} saved of {total}",
        saved.len()
    );
    assert_eq!(
        job.final_state(),
        common::sums_by_key((0..total).map(|i| (format!("k{}", i % 7), i)))
    );
}

#[test]
fn the_receiver_stream_with_the_log_killed_mid_stream_loses_nothing() {
    let topic = unique("rxcrash");
    create_topic(&topic, 2);
    let job = JobDirs::new();
    let total = 3000u64;
    let lines: Vec<Vec<u8>> = (0..total)
        .map(|j| format!("k{},{j}", j % 7).into_bytes())
        .collect();
    let broker = broker();
    let from_kafka = [
        "--kafka",
        broker.as_str(),
        "--topic",
        topic.as_str(),
        "--kafka-receiver",
    ];
    // Records arrive in three waves; the job is killed while it reads them.
    for wave in 0..3 {
        let chunk = &lines[(wave * 1000) as usize..((wave + 1) * 1000) as usize];
        produce_lines(&KafkaParams::new(broker.clone()), &topic, chunk, Some(4000)).unwrap();
        let mut child = job.spawn(&from_kafka);
        std::thread::sleep(Duration::from_millis(1500));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    // The last run reads whatever is left; a dead member's partitions come back after the
    // group's session timeout, so it runs long enough for that.
    assert!(job
        .spawn(&[&from_kafka[..], &["--run-for-ms", "12000"]].concat())
        .wait()
        .unwrap()
        .success());
    let saved: Vec<u64> = common::saved_values(&job.out);
    let distinct: std::collections::BTreeSet<u64> = saved.iter().copied().collect();
    let missing: Vec<u64> = (0..total).filter(|i| !distinct.contains(i)).collect();
    assert!(
        missing.is_empty(),
        "{} records lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    // At least once at the Kafka boundary: a record stored but not yet committed when the job
    // was killed is read again; never more than once per kill's uncommitted block.
    assert!(
        saved.len() as u64 <= total + 3 * 1000,
        "{} saved",
        saved.len()
    );
}
