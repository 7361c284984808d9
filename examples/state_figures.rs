//! Prints figures of the stateful operators: per-batch time of `update_state_by_key` versus
//! `map_with_state` with 1M keys in state and 100k updates per batch; `map_with_state` at
//! 100k, 1M and 5M keys; and `reduce_by_key_and_window_with_inverse` over windows of 10 and
//! 720 batches. Batches run on the manual clock back to back, so times are the engine's.
//!
//! Run: `cargo run --release --example state_figures [-- <batches to time> [<keys: map_with_state only>]]`
//!
//! Prints milliseconds per batch for each setting and the ratios.

use std::time::{Duration, Instant};

use emberflow::prelude::*;
use emberflow::testing::BatchRunner;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const UPDATES: u64 = 100_000;

/// Per-batch updates: `UPDATES` records on keys spread over `keys`.
fn update_batches(ctx: &Context, keys: u64, batches: usize) -> RddQueue<(u64, f64)> {
    let q = RddQueue::new();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..batches {
        let mut recs = Vec::with_capacity(UPDATES as usize);
        for _ in 0..UPDATES {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            recs.push((x % keys, 1.0));
        }
        q.push(ctx.parallelize(recs, 4));
    }
    q
}

fn initial(ctx: &Context, keys: u64) -> Rdd<(u64, f64)> {
    ctx.range(0, keys as i64, 1, 4).map(|k| (k as u64, 0.0))
}

/// Milliseconds per batch over `timed` batches, after two warm-up batches.
fn time_batches(runner: &BatchRunner, timed: usize) -> Result<f64> {
    runner.run(2)?;
    let t = Instant::now();
    runner.run(timed)?;
    Ok(t.elapsed().as_secs_f64() * 1e3 / timed as f64)
}

fn update_state(ctx: &Context, keys: u64, timed: usize) -> Result<f64> {
    let runner = BatchRunner::with_builder(ctx, Duration::from_secs(1), |b| b);
    let q = update_batches(ctx, keys, timed + 2);
    let totals = runner
        .ssc()
        .queue_stream(&q, true)
        .update_state_by_key_with_initial(
            |vals: &[f64], total: Option<f64>| {
                Some(total.unwrap_or(0.0) + vals.iter().sum::<f64>())
            },
            4,
            Some(initial(ctx, keys)),
        );
    totals.foreach_rdd(|rdd, _| {
        rdd.count()?;
        Ok(())
    });
    time_batches(&runner, timed)
}

fn map_with_state(ctx: &Context, keys: u64, timed: usize) -> Result<f64> {
    let runner = BatchRunner::with_builder(ctx, Duration::from_secs(1), |b| b);
    let q = update_batches(ctx, keys, timed + 2);
    let spec = StateSpec::function(
        |_t: Time, key: &u64, value: Option<f64>, state: &mut State<f64>| {
            let total = value.unwrap_or(0.0) + state.get().copied().unwrap_or(0.0);
            state.update(total);
            Some((*key, total))
        },
    )
    .num_partitions(4)
    .initial_state(initial(ctx, keys));
    runner
        .ssc()
        .queue_stream(&q, true)
        .map_with_state(spec)
        .foreach_rdd(|rdd, _| {
            rdd.count()?;
            Ok(())
        });
    time_batches(&runner, timed)
}

fn window(ctx: &Context, window_batches: u32, timed: usize) -> Result<f64> {
    let runner = BatchRunner::with_builder(ctx, Duration::from_secs(1), |b| b);
    let q = RddQueue::new();
    for i in 0..(window_batches as usize + timed + 2) {
        q.push(
            ctx.parallelize(
                (0..1000u64)
                    .map(|j| ((i as u64 * 7 + j) % 500, 1i64))
                    .collect(),
                2,
            ),
        );
    }
    let counts = runner
        .ssc()
        .queue_stream(&q, true)
        .reduce_by_key_and_window_with_inverse_with_partitions(
            |a, b| a + b,
            |a, b| a - b,
            Duration::from_secs(window_batches as u64),
            Duration::from_secs(1),
            2,
            None::<fn(&(u64, i64)) -> bool>,
        );
    counts.foreach_rdd(|rdd, _| {
        rdd.count()?;
        Ok(())
    });
    // Fill the window first, then time.
    runner.run(window_batches as usize)?;
    time_batches(&runner, timed)
}

fn main() -> Result<()> {
    let timed: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let ctx = Context::local(2);
    if let Some(keys) = std::env::args().nth(2).and_then(|s| s.parse().ok()) {
        // Profiling aid: map_with_state alone at the given state size.
        println!(
            "map_with_state {keys} keys: {:.1} ms/batch",
            map_with_state(&ctx, keys, timed)?
        );
        return Ok(());
    }
    let u = update_state(&ctx, 1_000_000, timed)?;
    let m = map_with_state(&ctx, 1_000_000, timed)?;
    println!("1M keys in state, 100k updates per batch:");
    println!("  update_state_by_key  {u:>8.1} ms/batch");
    println!(
        "  map_with_state       {m:>8.1} ms/batch   ({:.1}x faster)",
        u / m
    );
    println!(
        "as the state grows (100k updates per batch):    map_with_state   update_state_by_key"
    );
    for keys in [100_000u64, 1_000_000, 5_000_000] {
        println!(
            "  {:>9} keys                               {:>8.1} ms   {:>8.1} ms",
            keys,
            map_with_state(&ctx, keys, timed)?,
            update_state(&ctx, keys, timed)?
        );
    }
    println!("reduce_by_key_and_window_with_inverse, 1000 records per batch, slide 1 batch:");
    for w in [10u32, 720] {
        println!(
            "  window of {w:>3} batches {:>8.2} ms/batch",
            window(&ctx, w, timed * 5)?
        );
    }
    Ok(())
}
