//! Prints Kafka throughput on a local broker, side by side: the broker's own produce rate,
//! its consume rate (every partition read with assigned consumers, as the direct stream reads),
//! and orders per second through the direct stream into the dashboard logic (batches back to
//! back on the manual clock). Needs the `kafka` feature and a broker (scripts/test.sh starts
//! one the same way; `nisshi` must be on PATH to create the topic).
//!
//! Run: `cargo run --release --features kafka --example kafka_figures -- [BROKER] [ORDERS] [CAP]`
//! (default 127.0.0.1:19092, 200000 orders, batches of at most 50000 records per partition)
//!
//! Prints one line per measure.

#[cfg(feature = "kafka")]
fn main() -> emberflow::Result<()> {
    use std::time::{Duration, Instant};

    use emberflow::kafka::{produce_lines, ConsumerStrategy, KafkaParams, KafkaUtils, OffsetRange};
    use emberflow::testing::BatchRunner;
    use emberflow::{Context, Error};
    use emberflow_dashboard::dashboard::{Dashboard, DashboardOptions};
    use emberflow_dashboard::orders::generate_lines;

    let args: Vec<String> = std::env::args().skip(1).collect();
    let broker = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:19092".to_owned());
    let n: u64 = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(200_000);
    // The direct stream's cap (maxRatePerPartition over 1 s batches): a batch's fixed costs
    // (ranges decided on the driver, eight output jobs) are paid per batch.
    let cap: u64 = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(50_000);
    let topic = format!("figures-{}", std::process::id());
    let partitions = 4;
    let status = std::process::Command::new("nisshi")
        .args([
            "topic",
            "create",
            &topic,
            "--broker",
            &format!("tcp://{broker}"),
            "--partitions",
            "4",
            "--silent",
        ])
        .status()
        .map_err(|e| Error::io("nisshi", e))?;
    if !status.success() {
        return Err(Error::user("cannot create the topic with nisshi"));
    }
    let lines = generate_lines(n, 42, 0.01).lines;
    let params = KafkaParams::new(broker.clone());

    let t = Instant::now();
    produce_lines(&params, &topic, &lines, None)?;
    let produce = t.elapsed();

    let ctx = Context::local(2);
    // Raw consume: every partition from 0 to its end, counted.
    let ends: Vec<OffsetRange> = {
        let runner = BatchRunner::new(Duration::from_secs(1));
        let s = KafkaUtils::create_direct_stream(
            runner.ssc(),
            params.clone().set("auto.offset.reset", "earliest"),
            ConsumerStrategy::subscribe([topic.clone()]),
        )?;
        let ranges = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let r = ranges.clone();
        s.foreach_rdd(move |rdd, _| {
            use emberflow::kafka::HasOffsetRanges;
            r.lock().extend(rdd.offset_ranges());
            Ok(())
        });
        // Only the ranges are wanted here: the first batch lists every partition's end.
        runner.ssc().start()?;
        runner.clock().advance(Duration::from_secs(1));
        let started = Instant::now();
        while ranges.lock().len() < partitions && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let got = ranges.lock().clone();
        got
    };
    // Both sides best of three, alternately (this machine's figures vary run to run).
    let (mut consume, mut ours, mut dashboard, mut consumed) =
        (Duration::MAX, Duration::MAX, Duration::MAX, 0);
    for _ in 0..3 {
        let t = Instant::now();
        consumed = KafkaUtils::create_rdd(&ctx, &params, ends.clone()).count()?;
        ours = ours.min(t.elapsed());
        let t = Instant::now();
        let read = plain_consume(&broker, &ends)?;
        if read != n {
            return Err(Error::user(format!(
                "the plain consumer read {read} of {n}"
            )));
        }
        consume = consume.min(t.elapsed());

        // The dashboard on the direct stream, batches of at most `cap` records per partition.
        let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| b);
        let stream = KafkaUtils::create_direct_stream(
            runner.ssc(),
            params
                .clone()
                .set("auto.offset.reset", "earliest")
                .max_rate_per_partition(cap),
            ConsumerStrategy::subscribe([topic.clone()]),
        )?;
        let lines_stream = stream.map(|r| r.value_str());
        let d = Dashboard::build(
            &lines_stream,
            &DashboardOptions {
                print: false,
                ..DashboardOptions::default()
            },
        );
        runner.run(0)?;
        let t = Instant::now();
        while {
            let s = d.snapshot().totals;
            s.orders + s.malformed < n
        } {
            runner.run(1)?;
        }
        dashboard = dashboard.min(t.elapsed());
    }
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "{n} order lines, topic of {partitions} partitions on {broker}, 2 threads, batches of at most {cap} records per partition"
    );
    println!(
        "broker produce (one producer):           {:>10.0} records/s",
        rate(produce)
    );
    println!(
        "broker consume (one plain consumer, every partition): {:>10.0} records/s",
        rate(consume)
    );
    println!(
        "create_rdd count (our reader, {consumed}):   {:>10.0} records/s",
        rate(ours)
    );
    println!(
        "direct stream into the dashboard logic:  {:>10.0} records/s",
        rate(dashboard)
    );
    // For scripts/bench.sh.
    println!(
        "figure kafka_ratio {:.2}",
        consume.as_secs_f64() / dashboard.as_secs_f64()
    );
    Ok(())
}

/// The broker's consume rate: one librdkafka consumer assigned every partition from the
/// start, counting records until it has them all (no engine).
#[cfg(feature = "kafka")]
fn plain_consume(broker: &str, ends: &[emberflow::kafka::OffsetRange]) -> emberflow::Result<u64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    let fail =
        |e: rdkafka::error::KafkaError| emberflow::Error::user(format!("plain consumer: {e}"));
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", "kafka-figures-plain")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .map_err(fail)?;
    let mut tpl = TopicPartitionList::new();
    for r in ends {
        tpl.add_partition_offset(&r.topic, r.partition, Offset::Offset(r.from_offset))
            .map_err(fail)?;
    }
    consumer.assign(&tpl).map_err(fail)?;
    let want: u64 = ends.iter().map(|r| r.count()).sum();
    let (mut got, started) = (0u64, std::time::Instant::now());
    while got < want && started.elapsed() < std::time::Duration::from_secs(60) {
        if let Some(m) = consumer.poll(std::time::Duration::from_millis(100)) {
            m.map_err(fail)?;
            got += 1;
        }
    }
    Ok(got)
}

#[cfg(not(feature = "kafka"))]
fn main() {
    eprintln!("kafka_figures needs the kafka feature");
    std::process::exit(2);
}
