//! Workloads measured by `benches/rdd.rs` (criterion) and `examples/rdd_figures.rs` (a
//! one-shot table): each as an emberflow job and as the hand-written Rust loop doing the same
//! work on the same number of threads, which is the limit the engine is measured against.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use emberflow::hash::{StableBuildHasher, StableHashMap};
use emberflow::prelude::*;
use rayon::prelude::*;

/// Writes about `bytes` of text: lines of 5–15 words drawn with a skewed (Zipf-like)
/// distribution from a 20,000-word vocabulary, deterministically from `seed`.
pub fn generate_text(path: &Path, bytes: u64, seed: u64) -> std::io::Result<()> {
    let syllables = [
        "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "da", "fe",
    ];
    let vocab: Vec<String> = (0..20_000u32)
        .map(|i| {
            let mut w = String::new();
            let mut x = i;
            loop {
                w.push_str(syllables[(x % 12) as usize]);
                x /= 12;
                if x == 0 {
                    break;
                }
            }
            w
        })
        .collect();
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = BufWriter::new(File::create(path)?);
    let mut written = 0u64;
    let mut line = String::new();
    while written < bytes {
        line.clear();
        let words = 5 + next() % 11;
        for j in 0..words {
            // Squaring a uniform number skews toward small indices: a few very common words.
            let u = (next() % 10_000) as f64 / 10_000.0;
            let idx = ((u * u * u) * vocab.len() as f64) as usize;
            if j > 0 {
                line.push(' ');
            }
            line.push_str(&vocab[idx.min(vocab.len() - 1)]);
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    out.flush()
}

/// Distinct words and total words of a word count, summed per partition.
fn distinct_and_total(counts: &Rdd<(String, u64)>) -> (usize, u64) {
    let per_partition = counts
        .map_partitions(|it| {
            let (mut n, mut t) = (0usize, 0u64);
            for (_, c) in it {
                n += 1;
                t += c;
            }
            Some((n, t))
        })
        .collect()
        .expect("job runs");
    per_partition
        .into_iter()
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// Word count as a user writes it: distinct words and total words.
pub fn word_count_emberflow(ctx: &Context, path: &Path) -> (usize, u64) {
    let counts = ctx
        .text_file(path, ctx.threads() * 4)
        .expect("input exists")
        .flat_map(|l: String| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .map(|w| (w, 1u64))
        .reduce_by_key(|a, b| a + b);
    distinct_and_total(&counts)
}

/// Word count as a user writes it with `flat_map_emit`: each word of a line goes straight on
/// as a `(word, 1)` pair, without the `Vec` per line that `flat_map`'s closure collects.
pub fn word_count_emberflow_emit(ctx: &Context, path: &Path) -> (usize, u64) {
    let counts = ctx
        .text_file(path, ctx.threads() * 4)
        .expect("input exists")
        .flat_map_emit(|line: String, out| {
            for w in line.split_whitespace() {
                out.emit((w.to_owned(), 1u64));
            }
        })
        .reduce_by_key(|a, b| a + b);
    distinct_and_total(&counts)
}

/// Word count with the hot loop fused by the user in `map_partitions` (STYLE's advice for
/// hot paths): words are counted by reference and only new words allocate.
pub fn word_count_emberflow_fused(ctx: &Context, path: &Path) -> (usize, u64) {
    let counts = ctx
        .text_file(path, ctx.threads() * 4)
        .expect("input exists")
        .map_partitions(|lines| {
            let mut counts: StableHashMap<String, u64> =
                HashMap::with_hasher(StableBuildHasher::default());
            for line in lines {
                for w in line.split_whitespace() {
                    match counts.get_mut(w) {
                        Some(c) => *c += 1,
                        None => {
                            counts.insert(w.to_owned(), 1);
                        }
                    }
                }
            }
            counts
        })
        .reduce_by_key(|a, b| a + b);
    distinct_and_total(&counts)
}

/// Splits the file into byte ranges (Hadoop's rule for lines crossing a boundary), counts
/// each range's lines into its own map on `pool` with `count_line`, and merges the maps.
fn count_ranges(
    pool: &rayon::ThreadPool,
    path: &Path,
    count_line: impl Fn(&[u8], &mut StableHashMap<String, u64>) + Sync,
) -> (usize, u64) {
    let size = std::fs::metadata(path).expect("input exists").len();
    let chunks = pool.current_num_threads() as u64 * 4;
    let maps: Vec<StableHashMap<String, u64>> = pool.install(|| {
        (0..chunks)
            .into_par_iter()
            .map(|i| {
                let (start, end) = (size * i / chunks, size * (i + 1) / chunks);
                let mut r = BufReader::with_capacity(256 << 10, File::open(path).expect("open"));
                let mut pos = start;
                let mut buf = Vec::new();
                if start > 0 {
                    r.seek(SeekFrom::Start(start - 1)).expect("seek");
                    pos = start - 1 + r.read_until(b'\n', &mut buf).expect("read") as u64;
                }
                let mut counts: StableHashMap<String, u64> =
                    HashMap::with_hasher(StableBuildHasher::default());
                while pos < end {
                    buf.clear();
                    let n = r.read_until(b'\n', &mut buf).expect("read");
                    if n == 0 {
                        break;
                    }
                    pos += n as u64;
                    count_line(&buf, &mut counts);
                }
                counts
            })
            .collect()
    });
    let mut total: StableHashMap<String, u64> = HashMap::with_hasher(StableBuildHasher::default());
    for m in maps {
        for (w, c) in m {
            *total.entry(w).or_insert(0) += c;
        }
    }
    (total.len(), total.values().sum())
}

/// The same word count, by hand and as fast as we can write it: words are counted by
/// reference; only a word seen for the first time allocates.
pub fn word_count_hand(pool: &rayon::ThreadPool, path: &Path) -> (usize, u64) {
    count_ranges(pool, path, |bytes, counts| {
        let line = std::str::from_utf8(bytes).expect("utf-8");
        for w in line.split_whitespace() {
            match counts.get_mut(w) {
                Some(c) => *c += 1,
                None => {
                    counts.insert(w.to_owned(), 1);
                }
            }
        }
    })
}

/// The hand-written word count with the allocations the user's closures make: an owned
/// `String` per line, a `Vec<String>` of owned words per line, an owned key per word.
pub fn word_count_hand_allocating(pool: &rayon::ThreadPool, path: &Path) -> (usize, u64) {
    count_ranges(pool, path, |bytes, counts| {
        let line: String = std::str::from_utf8(bytes).expect("utf-8").to_owned();
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        for w in words {
            *counts.entry(w).or_insert(0) += 1;
        }
    })
}

/// Ten narrow stages (maps and filters) over `n` integers, summed.
pub fn narrow_chain_emberflow(ctx: &Context, n: i64) -> i64 {
    ctx.range(0, n, 1, ctx.threads() * 2)
        .map(|x| x * 3)
        .map(|x| x + 7)
        .filter(|x| x % 5 != 0)
        .map(|x| x ^ 0x55)
        .map(|x| x / 2)
        .filter(|x| x % 7 != 3)
        .map(|x| x - 1)
        .map(|x| x.wrapping_mul(31))
        .map(|x| x >> 1)
        .map(|x| x & 0xffff)
        .fold(0, |a, b| a + b)
        .expect("job runs")
}

/// The same ten stages as one loop per thread.
pub fn narrow_chain_hand(pool: &rayon::ThreadPool, n: i64) -> i64 {
    let parts = pool.current_num_threads() as i64 * 2;
    pool.install(|| {
        (0..parts)
            .into_par_iter()
            .map(|p| {
                let mut sum = 0i64;
                for x in (p * n / parts)..((p + 1) * n / parts) {
                    let x = x * 3 + 7;
                    if x % 5 == 0 {
                        continue;
                    }
                    let x = (x ^ 0x55) / 2;
                    if x % 7 == 3 {
                        continue;
                    }
                    sum += (((x - 1).wrapping_mul(31)) >> 1) & 0xffff;
                }
                sum
            })
            .sum()
    })
}

/// A shuffle of `n` pairs into `parts` hash partitions (every record moves), then a count
/// per output partition.
pub fn shuffle_emberflow(ctx: &Context, n: i64) -> u64 {
    let parts = ctx.threads() * 2;
    ctx.range(0, n, 1, parts)
        .map(|x| (x.wrapping_mul(2_654_435_761) % 1_000_003, x))
        .partition_by(HashPartitioner::new(parts))
        .count()
        .expect("job runs")
}

/// The same shuffle by hand: each map task scatters its pairs into per-partition vectors by
/// the same hash; each reduce task gathers (clones) its vectors and counts them.
pub fn shuffle_hand(pool: &rayon::ThreadPool, n: i64) -> u64 {
    let parts = pool.current_num_threads() * 2;
    let p = HashPartitioner::new(parts);
    pool.install(|| {
        let outputs: Vec<Vec<Vec<(i64, i64)>>> = (0..parts as i64)
            .into_par_iter()
            .map(|m| {
                let mut buckets: Vec<Vec<(i64, i64)>> = vec![Vec::new(); parts];
                for x in (m * n / parts as i64)..((m + 1) * n / parts as i64) {
                    let k = x.wrapping_mul(2_654_435_761) % 1_000_003;
                    buckets[Partitioner::<i64>::partition(&p, &k)].push((k, x));
                }
                buckets
            })
            .collect();
        (0..parts)
            .into_par_iter()
            .map(|r| {
                outputs
                    .iter()
                    .map(|o| o[r].to_vec().len() as u64)
                    .sum::<u64>()
            })
            .sum()
    })
}
