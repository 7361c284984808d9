//! Prints the cost of reliability: dashboard throughput without a checkpoint directory, with
//! metadata checkpoints only and with the states written too (file input, manual clock,
//! batches back to back), the receiver write-ahead log's write throughput (`store_many` of
//! 1,000 records, each block fsynced), and the time to recover a job holding 1M keys of
//! state (from `get_or_create` to the first batch done).
//!
//! Run: `cargo run --release --example recovery_figures`
//!
//! Prints one line per measure.

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use emberflow::prelude::*;
use emberflow::testing::BatchRunner;
use emberflow::{BatchInfo, Clock};
use emberflow_dashboard::dashboard::{Dashboard, DashboardOptions};
use emberflow_dashboard::orders::generate_lines;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "emberflow-recovery-figures-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn drop_file(dir: &std::path::Path, name: &str, bytes: &[u8], mtime_ms: u64) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    f.set_modified(UNIX_EPOCH + Duration::from_millis(mtime_ms))
        .map_err(|e| Error::io(&path, e))?;
    Ok(())
}

/// What the dashboard writes to a checkpoint directory.
#[derive(Clone, Copy, PartialEq)]
enum Checkpoints {
    /// No checkpoint directory.
    None,
    /// Metadata checkpoints only: the states' interval lies beyond the run.
    Metadata,
    /// Metadata checkpoints, and the states at the default interval (10 s: the tenth batch).
    MetadataAndState,
}

/// The dashboard over file input, 10 batches; returns orders per second.
fn dashboard(ctx: &Context, lines: &[Vec<u8>], checkpoints: Checkpoints) -> Result<f64> {
    let input = temp("in");
    std::fs::create_dir_all(&input).map_err(|e| Error::io(&input, e))?;
    let runner = BatchRunner::with_builder(ctx, Duration::from_secs(1), |b| b);
    let ckpt = temp("dash-ckpt");
    if checkpoints != Checkpoints::None {
        runner.ssc().checkpoint(&ckpt)?;
    }
    let stream = runner.ssc().text_file_stream(&input);
    let d = Dashboard::build(
        &stream,
        &DashboardOptions {
            print: false,
            state_checkpoint_interval: (checkpoints == Checkpoints::Metadata)
                .then_some(Duration::from_secs(3600)),
            ..DashboardOptions::default()
        },
    );
    runner.run(0)?;
    let mut elapsed = Duration::ZERO;
    for (i, chunk) in lines.chunks(lines.len().div_ceil(10)).enumerate() {
        let mut bytes = Vec::new();
        for l in chunk {
            bytes.extend_from_slice(l);
            bytes.push(b'\n');
        }
        drop_file(
            &input,
            &format!("orders-{i}.txt"),
            &bytes,
            runner.clock().now().millis() + 500,
        )?;
        let t = Instant::now();
        runner.run(1)?;
        elapsed += t.elapsed();
    }
    let orders = d.summary(elapsed).orders;
    drop(runner);
    let _ = std::fs::remove_dir_all(&input);
    let _ = std::fs::remove_dir_all(&ckpt);
    Ok(orders as f64 / elapsed.as_secs_f64())
}

struct Burst {
    blocks: u64,
    done: crossbeam_channel::Sender<Duration>,
}

impl Receiver for Burst {
    type Item = (u64, u64);
    fn on_start(&mut self, ctx: &ReceiverContext<(u64, u64)>) {
        let t = Instant::now();
        for b in 0..self.blocks {
            if let Err(e) = ctx.store_many((0..1000).map(|i| (b, i))) {
                ctx.stop(format!("the write-ahead log failed: {e}"));
                return;
            }
        }
        let _ = self.done.send(t.elapsed());
    }
}

fn wal_throughput(ctx: &Context) -> Result<(f64, f64)> {
    let ckpt = temp("wal");
    let runner = BatchRunner::with_builder(ctx, Duration::from_secs(1), |b| {
        b.receiver_write_ahead_log(true)
    });
    runner.ssc().checkpoint(&ckpt)?;
    let (tx, rx) = crossbeam_channel::unbounded();
    let blocks = 300;
    runner
        .ssc()
        .receiver_stream(Burst { blocks, done: tx })
        .foreach_rdd(|_, _| Ok(()));
    runner.run(0)?;
    let took = rx
        .recv_timeout(Duration::from_secs(120))
        .map_err(|_| Error::user("the receiver did not finish"))?;
    let mut bytes = 0;
    for e in walk(&ckpt.join("received")) {
        bytes += std::fs::metadata(&e).map(|m| m.len()).unwrap_or(0);
    }
    drop(runner);
    let _ = std::fs::remove_dir_all(&ckpt);
    let records = (blocks * 1000) as f64;
    Ok((
        records / took.as_secs_f64(),
        bytes as f64 / 1048576.0 / took.as_secs_f64(),
    ))
}

fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn recovery(ctx: &Context, keys: u64) -> Result<Duration> {
    let input = temp("state-in");
    let ckpt = temp("state-ckpt");
    std::fs::create_dir_all(&input).map_err(|e| Error::io(&input, e))?;
    for b in 0..4u64 {
        let text: String = (0..10_000u64)
            .map(|i| format!("{},{}\n", (i * 97 + b) % keys, 1))
            .collect();
        drop_file(
            &input,
            &format!("b{b}.txt"),
            text.as_bytes(),
            1000 * b + 500,
        )?;
    }
    let initial = ctx.range(0, keys as i64, 1, 4).map(|k| (k as u64, 0u64));
    let setup = |ssc: &StreamingContext| -> Result<()> {
        let totals = ssc
            .text_file_stream(&input)
            .map(|l: String| {
                let (k, v) = l.split_once(',').unwrap_or(("0", "0"));
                (k.parse::<u64>().unwrap_or(0), v.parse::<u64>().unwrap_or(0))
            })
            .update_state_by_key_with_initial(
                |vals: &[u64], s: Option<u64>| Some(s.unwrap_or(0) + vals.iter().sum::<u64>()),
                4,
                Some(initial.clone()),
            )
            .checkpoint(Duration::from_secs(1));
        totals.foreach_rdd(|rdd, _| {
            rdd.count()?;
            Ok(())
        });
        Ok(())
    };
    // First life: two batches, the state written after each.
    let clock = Arc::new(ManualClock::new());
    let ssc = StreamingContext::get_or_create(
        &ckpt,
        setup,
        StreamingContext::builder(ctx, Duration::from_secs(1)).clock(clock.clone()),
    )?;
    ssc.start()?;
    let (tx, rx) = crossbeam_channel::unbounded();
    struct Done(parking_lot::Mutex<crossbeam_channel::Sender<Time>>);
    impl StreamingListener for Done {
        fn on_batch_completed(&self, info: &BatchInfo) {
            let _ = self.0.lock().send(info.batch_time);
        }
    }
    ssc.add_streaming_listener(Done(parking_lot::Mutex::new(tx)));
    for _ in 0..2 {
        clock.advance(Duration::from_secs(1));
        rx.recv_timeout(Duration::from_secs(120))
            .map_err(|_| Error::user("batch did not complete"))?;
    }
    ssc.stop(StopOptions::immediate().keep_context(true))?;
    // Second life: from the checkpoint to the first batch done.
    let t = Instant::now();
    let clock = Arc::new(ManualClock::starting_at(Time::from_millis(2000)));
    let ssc = StreamingContext::get_or_create(
        &ckpt,
        setup,
        StreamingContext::builder(ctx, Duration::from_secs(1)).clock(clock.clone()),
    )?;
    let (tx, rx) = crossbeam_channel::unbounded();
    ssc.add_streaming_listener(Done(parking_lot::Mutex::new(tx)));
    ssc.start()?;
    clock.advance(Duration::from_secs(1));
    rx.recv_timeout(Duration::from_secs(120))
        .map_err(|_| Error::user("batch did not complete"))?;
    let took = t.elapsed();
    ssc.stop(StopOptions::immediate().keep_context(true))?;
    let _ = std::fs::remove_dir_all(&input);
    let _ = std::fs::remove_dir_all(&ckpt);
    Ok(took)
}

fn main() -> Result<()> {
    let ctx = Context::local(2);
    let lines = generate_lines(200_000, 42, 0.01).lines;
    // Alternate and keep the best of five each, so warm-up does not favour any (a run is
    // ~0.1 s; with three the best of each moved by 10 % from run to run).
    let (mut without, mut metadata, mut with) = (0.0f64, 0.0f64, 0.0f64);
    for _ in 0..5 {
        without = without.max(dashboard(&ctx, &lines, Checkpoints::None)?);
        metadata = metadata.max(dashboard(&ctx, &lines, Checkpoints::Metadata)?);
        with = with.max(dashboard(&ctx, &lines, Checkpoints::MetadataAndState)?);
    }
    println!("dashboard, 200k orders, file input: {without:.0} orders/s without a checkpoint directory, {metadata:.0} with metadata checkpoints only ({:.2}x), {with:.0} with the states written too ({:.2}x)", metadata / without, with / without);
    println!("figure metadata_checkpoint_ratio {:.2}", metadata / without);
    println!("figure checkpoint_ratio {:.2}", with / without);
    let (records, mb) = wal_throughput(&ctx)?;
    println!("write-ahead log: {records:.0} records/s, {mb:.1} MB/s (store_many of 1,000 records, each block fsynced)");
    let took = recovery(&ctx, 1_000_000)?;
    println!(
        "recovery with 1M keys of state: {} ms from get_or_create to the first batch done",
        took.as_millis()
    );
    Ok(())
}
