//! Prints throughput figures of the RDD engine next to hand-written loops doing the same work
//! on the same number of threads: word count over ~100 MB of generated text (its words from
//! `flat_map` returning a `Vec` per line, and from `flat_map_emit`), a 10-stage narrow chain,
//! and a shuffle of 10M pairs. Each pair runs alternately, best of 3.
//!
//! Run: `cargo run --release --example rdd_figures [-- <MB of text> <threads> [word_count|narrow|shuffle]]`
//!
//! Prints one line per workload: both times, both throughputs and the ratio.

use std::time::{Duration, Instant};

use emberflow::prelude::*;

// Both sides of every comparison share this allocator, as a deployed job would choose one.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../benches/workloads/mod.rs"]
mod workloads;

fn best_of<R: PartialEq + std::fmt::Debug>(
    runs: usize,
    mut a: impl FnMut() -> R,
    mut b: impl FnMut() -> R,
) -> (Duration, Duration) {
    let (mut ta, mut tb) = (Duration::MAX, Duration::MAX);
    for _ in 0..runs {
        let t = Instant::now();
        let ra = a();
        ta = ta.min(t.elapsed());
        let t = Instant::now();
        let rb = b();
        tb = tb.min(t.elapsed());
        assert_eq!(ra, rb, "both versions must compute the same result");
    }
    (ta, tb)
}

fn report(name: &str, units: f64, unit: &str, (ours, hand): (Duration, Duration)) {
    println!(
        "{name:<22} emberflow {:>8.1} ms {:>9.1} {unit}/s | hand {:>8.1} ms {:>9.1} {unit}/s | ratio {:.2}x",
        ours.as_secs_f64() * 1e3,
        units / ours.as_secs_f64(),
        hand.as_secs_f64() * 1e3,
        units / hand.as_secs_f64(),
        hand.as_secs_f64() / ours.as_secs_f64()
    );
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mb: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100);
    let threads: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let only = args.get(3).cloned().unwrap_or_default();
    let ctx = Context::local(threads);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::user(e.to_string()))?;
    let dir = std::env::temp_dir().join(format!("emberflow-figures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let text = dir.join("words.txt");
    workloads::generate_text(&text, mb << 20, 7).map_err(|e| Error::io(&text, e))?;
    println!("threads: {threads}; ratio = emberflow throughput / hand-written throughput");

    if only.is_empty() || only == "word_count" {
        let t = best_of(
            3,
            || workloads::word_count_emberflow(&ctx, &text),
            || workloads::word_count_hand(&pool, &text),
        );
        report("word count", mb as f64, "MB", t);
        let t = best_of(
            3,
            || workloads::word_count_emberflow_emit(&ctx, &text),
            || workloads::word_count_hand(&pool, &text),
        );
        report("word count (flat_map_emit)", mb as f64, "MB", t);
        let t = best_of(
            3,
            || workloads::word_count_emberflow(&ctx, &text),
            || workloads::word_count_hand_allocating(&pool, &text),
        );
        report(
            "word count (hand allocating as the closures do)",
            mb as f64,
            "MB",
            t,
        );
        let t = best_of(
            3,
            || workloads::word_count_emberflow_fused(&ctx, &text),
            || workloads::word_count_hand(&pool, &text),
        );
        report("word count (fused map_partitions)", mb as f64, "MB", t);
    }
    if only.is_empty() || only == "narrow" {
        let n = 20_000_000;
        let t = best_of(
            3,
            || workloads::narrow_chain_emberflow(&ctx, n),
            || workloads::narrow_chain_hand(&pool, n),
        );
        report("10-stage narrow chain", n as f64 / 1e6, "M rec", t);
    }
    if only.is_empty() || only == "shuffle" {
        let n = 10_000_000;
        let t = best_of(
            3,
            || workloads::shuffle_emberflow(&ctx, n),
            || workloads::shuffle_hand(&pool, n),
        );
        report("shuffle 10M pairs", n as f64 / 1e6, "M rec", t);
    }
    std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(())
}
