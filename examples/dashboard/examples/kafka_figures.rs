//! Prints Kafka throughput on a local broker, side by side: the broker's own produce rate,
//! its consume rate (every partition read with assigned consumers, as the direct stream reads),
//! and orders per second through the direct stream into the dashboard logic (batches back to
//! back on the manual clock). Needs the `kafka` feature and a broker (scripts/test.sh starts
//! one the same way; `nisshi` must be on PATH to create the topic).
//!
//! Run: `cargo run --release --features kafka --example kafka_figures -- [BROKER] [ORDERS]`
//! (default 127.0.0.1:19092, 200000)
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
    let t = Instant::now();
    let consumed = KafkaUtils::create_rdd(&ctx, &params, ends).count()?;
    let consume = t.elapsed();

    // The dashboard on the direct stream, batches of at most 10,000 records per partition.
    let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| b);
    let stream = KafkaUtils::create_direct_stream(
        runner.ssc(),
        params
            .set("auto.offset.reset", "earliest")
            .max_rate_per_partition(10_000),
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
    let dashboard = t.elapsed();
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("{n} order lines, topic of {partitions} partitions on {broker}, 2 threads");
    println!(
        "broker produce (one producer):           {:>10.0} records/s",
        rate(produce)
    );
    println!(
        "broker consume (assigned readers, {consumed}): {:>10.0} records/s",
        rate(consume)
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

#[cfg(not(feature = "kafka"))]
fn main() {
    eprintln!("kafka_figures needs the kafka feature");
    std::process::exit(2);
}
