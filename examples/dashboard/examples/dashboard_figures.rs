//! Prints figures of the order dashboard on 500,000 generated orders (1% malformed): orders
//! per second with file input and with queue input (the pipeline on the manual clock, one
//! chunk per batch, batches back to back), next to a hand-written single-pass Rust program
//! computing the same final results (the limit); the whole program's time from start to its
//! first batch done on the system clock; and the process's peak memory.
//!
//! Run: `cargo run --release --example dashboard_figures [-- <orders> <chunks> [burst]]`
//! (`burst`: only the burst of files, for profiling it)
//!
//! Prints one line per measure.

use std::collections::HashMap;
use std::time::{Duration, Instant, UNIX_EPOCH};

use emberflow::prelude::*;
use emberflow::testing::BatchRunner;
use emberflow::Clock;
use emberflow_dashboard::app;
use emberflow_dashboard::dashboard::{Dashboard, DashboardOptions, Summary};
use emberflow_dashboard::orders::{generate_lines, parse_order};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Orders, buys, malformed, top 5 clients, top 5 symbols.
type Results = (u64, u64, u64, Vec<(u64, u64)>, Vec<(String, u64)>);

/// One pass over the lines with hash maps: the same final results, no engine.
fn hand_written<S: AsRef<str>>(lines: impl IntoIterator<Item = S>) -> Results {
    let (mut orders, mut buys, mut malformed) = (0u64, 0u64, 0u64);
    let mut clients: HashMap<u64, u64> = HashMap::new();
    let mut symbols: HashMap<String, u64> = HashMap::new();
    for l in lines {
        match parse_order(l.as_ref()) {
            Some(o) => {
                orders += 1;
                buys += u64::from(o.buy);
                *clients.entry(o.client_id).or_insert(0) += o.value_cents();
                *symbols.entry(o.symbol).or_insert(0) += o.amount;
            }
            None => malformed += 1,
        }
    }
    fn top<K: Ord>(mut v: Vec<(K, u64)>) -> Vec<(K, u64)> {
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(5);
        v
    }
    (
        orders,
        buys,
        malformed,
        top(clients.into_iter().collect()),
        top(symbols.into_iter().collect()),
    )
}

/// The limit on the file path: the same single pass, reading the chunk files of `dir` from
/// disk (one buffered reader per file, one `String` per line, as a user would write it).
fn hand_written_files(dir: &std::path::Path) -> Result<Results> {
    use std::io::BufRead;
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    let mut failed = None;
    let lines = paths.into_iter().flat_map(|p| {
        let reader = std::fs::File::open(&p).map(std::io::BufReader::new);
        let lines: Box<dyn Iterator<Item = String>> = match reader {
            Ok(r) => Box::new(r.split(b'\n').map_while(Result::ok).map(|mut b| {
                if b.last() == Some(&b'\r') {
                    b.pop();
                }
                String::from_utf8_lossy(&b).into_owned()
            })),
            Err(e) => {
                failed.get_or_insert(Error::io(&p, e));
                Box::new(std::iter::empty())
            }
        };
        lines
    });
    let results = hand_written(lines);
    match failed {
        Some(e) => Err(e),
        None => Ok(results),
    }
}

/// Writes the lines as chunk files into `dir`, dated `mtime`.
fn write_chunks(
    dir: &std::path::Path,
    lines: &[Vec<u8>],
    chunk: usize,
    mtime: std::time::SystemTime,
) -> Result<()> {
    for (i, c) in lines.chunks(chunk).enumerate() {
        let mut bytes = Vec::new();
        for l in c {
            bytes.extend_from_slice(l);
            bytes.push(b'\n');
        }
        let path = dir.join(format!("orders-{i:05}.txt"));
        std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        f.set_modified(mtime).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// File input, a burst: every chunk file already in the directory, one batch reads them
/// all; the limit reads the same files from disk. Best of three of each (fresh memory costs
/// this machine a varying amount: page zeroing and compaction for huge pages). Returns the
/// dashboard's summary and time, and the limit's results and time.
fn burst(
    ctx: &Context,
    lines: &[Vec<u8>],
    chunk: usize,
    dir: &std::path::Path,
) -> Result<(Summary, Duration, Results, Duration)> {
    let mut best: Option<(Summary, Duration, Results, Duration)> = None;
    for round in 0..3 {
        let burst_dir = dir.join(format!("burst-{round}"));
        std::fs::create_dir_all(&burst_dir).map_err(|e| Error::io(&burst_dir, e))?;
        let runner = BatchRunner::with_builder(ctx, Duration::from_secs(1), |b| b);
        let input = runner.ssc().text_file_stream(&burst_dir);
        let d = quiet(&input);
        runner.run(0)?;
        let mtime = UNIX_EPOCH + Duration::from_millis(runner.clock().now().millis() + 500);
        write_chunks(&burst_dir, lines, chunk, mtime)?;
        let t = Instant::now();
        let hand_files = hand_written_files(&burst_dir)?;
        let hand_time = t.elapsed();
        let t = Instant::now();
        runner.run(1)?;
        let burst_time = t.elapsed();
        let summary = d.summary(Duration::from_secs(1));
        drop(runner);
        let _ = std::fs::remove_dir_all(&burst_dir);
        best = Some(match best {
            None => (summary, burst_time, hand_files, hand_time),
            Some((s, b, h, ht)) => (s, b.min(burst_time), h, ht.min(hand_time)),
        });
    }
    best.ok_or_else(|| Error::user("no burst ran"))
}

/// The dashboard on `input`, printing nothing.
fn quiet(input: &DStream<String>) -> Dashboard {
    Dashboard::build(
        input,
        &DashboardOptions {
            print: false,
            ..DashboardOptions::default()
        },
    )
}

fn pipeline(
    runner: &BatchRunner,
    input: &DStream<String>,
    batches: usize,
) -> Result<(Summary, Duration)> {
    let d = quiet(input);
    runner.run(0)?;
    let t = Instant::now();
    runner.run(batches)?;
    Ok((d.summary(Duration::from_secs(1)), t.elapsed()))
}

fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(500_000);
    let chunks: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let g = generate_lines(n, 42, 0.01);
    let lines: Vec<String> = g
        .lines
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    let chunk = lines.len().div_ceil(chunks);

    if args.get(3).is_some_and(|a| a == "burst") {
        // Only the burst (for profiling it).
        let dir = std::env::temp_dir().join(format!("emberflow-burst-{}", std::process::id()));
        let result = burst(&Context::local(2), &g.lines, chunk, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        let (_, burst_time, _, hand_time) = result?;
        println!(
            "burst: {:.0} ms, hand-written from files {:.0} ms ({:.2}x)",
            burst_time.as_secs_f64() * 1e3,
            hand_time.as_secs_f64() * 1e3,
            hand_time.as_secs_f64() / burst_time.as_secs_f64()
        );
        return Ok(());
    }
    let t = Instant::now();
    let hand = hand_written(&lines);
    let hand_time = t.elapsed();

    // Queue input.
    let ctx = Context::local(2);
    let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| b);
    let queue = RddQueue::new();
    for c in lines.chunks(chunk) {
        queue.push(ctx.parallelize(c.to_vec(), 4));
    }
    let input = runner.ssc().queue_stream(&queue, true);
    let (queued, queue_time) = pipeline(&runner, &input, chunks)?;
    drop(runner);

    // File input: chunk files dropped into the watched directory, one per batch.
    let dir = std::env::temp_dir().join(format!(
        "emberflow-dashboard-figures-{}",
        std::process::id()
    ));
    let watched = dir.join("in");
    std::fs::create_dir_all(&watched).map_err(|e| Error::io(&watched, e))?;
    let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| b);
    let input = runner.ssc().text_file_stream(&watched);
    let d = quiet(&input);
    runner.run(0)?;
    let mut file_time = Duration::ZERO;
    for (i, c) in g.lines.chunks(chunk).enumerate() {
        let mut bytes = Vec::new();
        for l in c {
            bytes.extend_from_slice(l);
            bytes.push(b'\n');
        }
        let path = watched.join(format!("orders-{i:05}.txt"));
        std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
        // The stream's clock is manual: date the file within the coming batch.
        let mtime = UNIX_EPOCH + Duration::from_millis(runner.clock().now().millis() + 500);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        f.set_modified(mtime).map_err(|e| Error::io(&path, e))?;
        let t = Instant::now();
        runner.run(1)?;
        file_time += t.elapsed();
    }
    let filed = d.summary(Duration::from_secs(1));
    drop(runner);

    let (burst, burst_time, hand_files, hand_files_time) = burst(&ctx, &g.lines, chunk, &dir)?;
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        hand_files, hand,
        "the file pass agrees with the in-memory one"
    );

    for (name, s) in [("queue", &queued), ("file", &filed), ("burst", &burst)] {
        assert_eq!(
            (s.orders, s.buys, s.malformed),
            (hand.0, hand.1, hand.2),
            "{name} input agrees with the hand-written pass"
        );
        assert_eq!(
            s.top5_clients.iter().map(|c| c.0).collect::<Vec<_>>(),
            hand.3.iter().map(|c| c.0).collect::<Vec<_>>()
        );
    }
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "{n} orders ({} malformed), {chunks} batches, 2 threads",
        g.malformed
    );
    let limit = |name: &str, d: Duration, what: &str| {
        println!(
            "{name:<27}{:>8.0} ms  {:>10.0} orders/s ({what})",
            d.as_secs_f64() * 1e3,
            rate(d)
        );
    };
    let measured = |name: &str, d: Duration, limit: Duration, of: &str| {
        println!(
            "{name:<27}{:>8.0} ms  {:>10.0} orders/s  ({:.2}x {of})",
            d.as_secs_f64() * 1e3,
            rate(d),
            limit.as_secs_f64() / d.as_secs_f64()
        );
    };
    limit("hand-written single pass:", hand_time, "the limit");
    measured(
        "dashboard, queue input:",
        queue_time,
        hand_time,
        "the limit",
    );
    measured("dashboard, file input:", file_time, hand_time, "the limit");
    limit(
        "hand-written, from files:",
        hand_files_time,
        "the limit on the file path",
    );
    measured(
        "dashboard, files in a burst:",
        burst_time,
        hand_files_time,
        "that limit",
    );
    // For scripts/bench.sh: `figure NAME VALUE` lines.
    println!(
        "figure queue_ratio {:.2}",
        hand_time.as_secs_f64() / queue_time.as_secs_f64()
    );
    println!(
        "figure file_ratio {:.2}",
        hand_time.as_secs_f64() / file_time.as_secs_f64()
    );
    println!(
        "figure burst_ratio {:.2}",
        hand_files_time.as_secs_f64() / burst_time.as_secs_f64()
    );

    // The whole program on the system clock: time from start to the first batch done.
    let (_, stats) = app::run_with_stats(&[
        "--generate",
        "50000",
        "--batch-ms",
        "200",
        "--chunk-lines",
        "10000",
        "--quiet",
    ])?;
    println!(
        "program (50,000 orders, 200 ms batches): first batch done {} ms after start ({} ms without the wait for its time); mean processing {} ms/batch",
        stats.first_batch_done.unwrap_or_default().as_millis(),
        stats.first_batch_overhead.unwrap_or_default().as_millis(),
        stats.mean_processing_delay.as_millis()
    );
    println!(
        "figure first_batch_ms {}",
        stats.first_batch_overhead.unwrap_or_default().as_millis()
    );
    if let Some(mib) = peak_memory_mib() {
        println!("peak memory of this process (all of the above): {mib:.0} MiB");
    }
    Ok(())
}
