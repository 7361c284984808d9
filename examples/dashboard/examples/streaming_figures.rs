//! Prints figures of the streaming engine: the fixed cost of one batch (an empty batch with
//! one output operation, and with one that runs a job), and the throughput of parsing and
//! counting order lines (buys vs sells) fed through `queue_stream`, batch after batch.
//! Batches run on the manual clock as fast as the engine completes them, so the figures are
//! the engine's own cost, not the interval.
//!
//! Run: `cargo run --release --example streaming_figures [-- <batches> <lines per batch>]`
//!
//! Prints microseconds per empty batch and records per second of the order workload.

use std::time::{Duration, Instant};

use emberflow::prelude::*;
use emberflow::testing::BatchRunner;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn per_batch(runner: &BatchRunner, batches: usize) -> Result<Duration> {
    runner.run(10)?; // warm up threads and allocations
    let t = Instant::now();
    runner.run(batches)?;
    Ok(t.elapsed() / batches as u32)
}

/// CPU time of every thread of this process so far (`/proc/self/task/*/schedstat`: its first
/// field is nanoseconds on a CPU).
fn process_cpu() -> Duration {
    let mut ns = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            ns += stat
                .split_whitespace()
                .next()
                .and_then(|f| f.parse().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(ns)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let batches: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let lines_per_batch: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let ctx = Context::local(2);

    // 1. An empty batch whose output does nothing: scheduler, timer, generator, executor and
    //    listener round trip only.
    let runner = BatchRunner::with_builder(&ctx, Duration::from_millis(10), |b| b);
    let queue = RddQueue::<String>::new();
    runner
        .ssc()
        .queue_stream(&queue, true)
        .foreach_rdd(|_, _| Ok(()));
    let bare = per_batch(&runner, batches)?;
    drop(runner);

    // 2. An empty batch whose output runs a job (count) on the RDD engine.
    let runner = BatchRunner::with_builder(&ctx, Duration::from_millis(10), |b| b);
    runner
        .ssc()
        .queue_stream(&RddQueue::<String>::new(), true)
        .count()
        .foreach_rdd(|rdd, _| {
            rdd.collect()?;
            Ok(())
        });
    let with_job = per_batch(&runner, batches)?;
    drop(runner);
    println!(
        "per-batch overhead, empty batch, no-op output:       {:>8.1} us",
        bare.as_secs_f64() * 1e6
    );
    println!(
        "per-batch overhead, empty batch, count + collect job: {:>8.1} us",
        with_job.as_secs_f64() * 1e6
    );

    // 3. What an idle stream costs in production: the system clock, 2 ms batches for two
    //    seconds, and the CPU time every thread of the process spent per batch (the waits'
    //    spinning included).
    let ssc = StreamingContext::new(&ctx, Duration::from_millis(2));
    let batches_done = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = batches_done.clone();
    ssc.queue_stream(&RddQueue::<String>::new(), true)
        .foreach_rdd(move |_, _| {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        });
    ssc.start()?;
    std::thread::sleep(Duration::from_millis(200));
    let (cpu0, n0) = (
        process_cpu(),
        batches_done.load(std::sync::atomic::Ordering::Relaxed),
    );
    std::thread::sleep(Duration::from_secs(2));
    let (cpu1, n1) = (
        process_cpu(),
        batches_done.load(std::sync::atomic::Ordering::Relaxed),
    );
    ssc.stop(StopOptions::immediate().keep_context(true))?;
    println!(
        "CPU per empty batch, system clock, 2 ms batches:       {:>8.1} us ({} batches)",
        (cpu1 - cpu0).as_secs_f64() * 1e6 / (n1 - n0).max(1) as f64,
        n1 - n0
    );

    // 4. Parse and count order lines: each batch one queued RDD of `lines_per_batch` lines.
    let runs = 20;
    let lines = emberflow_dashboard::orders::generate_orders(lines_per_batch, 42);
    let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| b);
    let queue = RddQueue::new();
    for _ in 0..runs {
        queue.push(ctx.parallelize(lines.clone(), 4));
    }
    let counted = runner
        .ssc()
        .queue_stream(&queue, true)
        .flat_map(|l: String| emberflow_dashboard::orders::parse_order(&l))
        .map(|o| (if o.buy { "B" } else { "S" }, 1u64))
        .reduce_by_key(|a, b| a + b);
    let totals = runner.collect(&counted);
    let t = Instant::now();
    runner.run(runs)?;
    let elapsed = t.elapsed();
    let total: u64 = totals.batches().iter().flatten().map(|(_, c)| c).sum();
    assert_eq!(total, lines_per_batch * runs as u64, "every line counted");
    println!(
        "parse + count orders via queue_stream: {runs} batches x {lines_per_batch} lines in {:.0} ms = {:.2} M lines/s",
        elapsed.as_secs_f64() * 1e3,
        total as f64 / elapsed.as_secs_f64() / 1e6
    );
    Ok(())
}
