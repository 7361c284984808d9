//! Throughput of an event-time windowed count (10-minute tumbling windows per user, Update
//! mode, 30-minute watermark) against a hand-written loop doing the same work on the same
//! threads: per batch, drop late records, count per (window, user), merge into the state,
//! emit the changed rows, free windows the watermark passed, move the watermark on.
//!
//! Run: `cargo run --release --example event_time_figures [-- <records> <batches>]`
//!
//! Prints both times (best of 3), both rates and their ratio.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use emberflow::prelude::*;
use emberflow::testing::BatchRunner;
use rayon::prelude::*;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../benches/workloads/activity.rs"]
mod activity;

use activity::{event_ms, generate, Activity, Shape};

/// One thread's part of a batch: counts per (window start, user), and its greatest event time.
type Part<'a> = (HashMap<(i64, &'a str), u64>, Option<i64>);

const WINDOW_MS: i64 = 600_000;
const DELAY_MS: i64 = 1_800_000;

/// emberflow: the records through `queue_stream`, one RDD per batch (made before the clock
/// starts, as the hand loop's input is); returns the rows emitted and the time taken.
fn emberflow(ctx: &Context, batches: &[Vec<Activity>]) -> Result<(u64, Duration)> {
    let runner = BatchRunner::with_builder(ctx, Duration::from_secs(1), |b| b);
    let queue = RddQueue::new();
    for b in batches {
        queue.push(ctx.parallelize(b.clone(), ctx.threads() * 2));
    }
    let rows = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let r = rows.clone();
    runner
        .ssc()
        .queue_stream(&queue, true)
        .with_watermark(
            |a: &Activity| EventTime::from_nanos(a.creation_time),
            Duration::from_millis(DELAY_MS as u64),
        )
        .window(
            Duration::from_millis(WINDOW_MS as u64),
            Duration::from_millis(WINDOW_MS as u64),
        )
        .count_by(|a: &Activity| a.user.clone(), OutputMode::Update)
        .foreach_rdd(move |rdd, _| {
            r.fetch_add(rdd.count()?, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        });
    runner.run(0)?;
    let t = Instant::now();
    runner.run(batches.len())?;
    let took = t.elapsed();
    runner.stop()?;
    Ok((rows.load(std::sync::atomic::Ordering::Relaxed), took))
}

/// The same work by hand, each batch split over the pool's threads.
fn hand(pool: &rayon::ThreadPool, batches: &[Vec<Activity>]) -> u64 {
    pool.install(|| {
        let mut state: HashMap<(i64, String), u64> = HashMap::new();
        let mut watermark: Option<i64> = None;
        let mut max_seen: Option<i64> = None;
        let mut rows = 0u64;
        for batch in batches {
            let parts: Vec<Part<'_>> = batch
                .par_chunks(batch.len().div_ceil(pool.current_num_threads() * 2).max(1))
                .map(|chunk| {
                    let mut counts = HashMap::new();
                    let mut max = None;
                    for a in chunk {
                        let t = event_ms(a);
                        max = max.max(Some(t));
                        if watermark.is_some_and(|w| t <= w) {
                            continue;
                        }
                        let start = t - t.rem_euclid(WINDOW_MS);
                        *counts.entry((start, a.user.as_str())).or_insert(0) += 1;
                    }
                    (counts, max)
                })
                .collect();
            let mut changed = Vec::new();
            for (counts, max) in parts {
                max_seen = max_seen.max(max);
                for ((start, user), n) in counts {
                    let key = (start, user.to_owned());
                    *state.entry(key.clone()).or_insert(0) += n;
                    changed.push(key);
                }
            }
            changed.sort_unstable();
            changed.dedup();
            rows += changed.len() as u64;
            state.retain(|(start, _), _| watermark.is_none_or(|w| start + WINDOW_MS > w));
            watermark = watermark.max(max_seen.map(|m| m - DELAY_MS));
        }
        rows
    })
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let nb: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
        .max(1);
    let records = generate(
        Shape {
            n,
            step_ms: 5,
            disorder_ms: 60_000,
            late_fraction: 0.002,
            late_by_ms: 45 * 60_000,
            duplicate_fraction: 0.0,
        },
        7,
    );
    let batches: Vec<Vec<Activity>> = records
        .chunks(records.len().div_ceil(nb))
        .map(<[Activity]>::to_vec)
        .collect();
    let ctx = Context::local(2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .map_err(|e| Error::User(e.to_string()))?;
    let (mut te, mut th) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        let (a, took) = emberflow(&ctx, &batches)?;
        te = te.min(took);
        let t = Instant::now();
        let b = hand(&pool, &batches);
        th = th.min(t.elapsed());
        assert_eq!(a, b, "both emit the same rows");
    }
    let rate = |d: Duration| records.len() as f64 / d.as_secs_f64() / 1e6;
    println!(
        "event-time windowed count ({} records, {} batches): emberflow {:.0} ms {:.2} M rec/s | hand {:.0} ms {:.2} M rec/s | ratio {:.2}x",
        records.len(),
        batches.len(),
        te.as_secs_f64() * 1e3,
        rate(te),
        th.as_secs_f64() * 1e3,
        rate(th),
        th.as_secs_f64() / te.as_secs_f64()
    );
    Ok(())
}
