//! Criterion benchmarks of the RDD engine against hand-written loops on the same threads:
//! word count, a 10-stage narrow chain, and a shuffle. `cargo bench --bench rdd`.
//! Sizes are smaller than `examples/rdd_figures.rs` so a run stays short; the ratios are what
//! matter.
#![allow(missing_docs)] // criterion_group! generates an undocumented function

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use emberflow::prelude::*;

mod workloads;

// Both sides of every comparison share this allocator, as a deployed job would choose one;
// glibc's malloc makes the per-word allocations of the closures 2-3x costlier and noisier.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn benches(c: &mut Criterion) {
    let threads = 2;
    let ctx = Context::local(threads);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let dir = tempfile::tempdir().expect("temp dir");
    let text = dir.path().join("words.txt");
    let bytes = 16 << 20;
    workloads::generate_text(&text, bytes, 7).expect("generate");

    let mut g = c.benchmark_group("word_count");
    g.sample_size(10).throughput(Throughput::Bytes(bytes));
    g.bench_function("emberflow", |b| {
        b.iter(|| workloads::word_count_emberflow(&ctx, &text))
    });
    g.bench_function("hand", |b| {
        b.iter(|| workloads::word_count_hand(&pool, &text))
    });
    g.finish();

    let n = 4_000_000;
    let mut g = c.benchmark_group("narrow_chain_10");
    g.sample_size(10).throughput(Throughput::Elements(n as u64));
    g.bench_function("emberflow", |b| {
        b.iter(|| workloads::narrow_chain_emberflow(&ctx, n))
    });
    g.bench_function("hand", |b| {
        b.iter(|| workloads::narrow_chain_hand(&pool, n))
    });
    g.finish();

    let mut g = c.benchmark_group("shuffle");
    g.sample_size(10).throughput(Throughput::Elements(n as u64));
    g.bench_function("emberflow", |b| {
        b.iter(|| workloads::shuffle_emberflow(&ctx, n))
    });
    g.bench_function("hand", |b| b.iter(|| workloads::shuffle_hand(&pool, n)));
    g.finish();
}

criterion_group!(rdd, benches);
criterion_main!(rdd);
