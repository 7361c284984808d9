//! The event-time chapter's queries on generated activity data: JSON lines with
//! `Creation_Time` (event time, ns), `Arrival_Time`, `User`, `gt`, `Device`, `Model`, `x`, `y`,
//! `z`, some out of order, some late (behind the 30-minute watermark), some sent twice. The
//! files are dropped into a watched directory while the job runs, two read per batch.
//!
//! Run: `cargo run --release --example activity_events [-- <records> <files>]`
//!
//! Prints each table at the end: events per 10-minute window, per window and user (Append:
//! each row once, when the watermark closes it), sliding 10/5-minute windows, mean `x` per
//! activity, sessions per user, deduplicated counts per user, and how many records were
//! late; then the last batch's progress (with its `eventTime`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use emberflow::prelude::*;

#[path = "../benches/workloads/activity.rs"]
mod activity;

use activity::{generate, Activity, Shape};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let files: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
        .max(1);
    let records = generate(
        Shape {
            n,
            step_ms: 20,
            disorder_ms: 120_000,
            late_fraction: 0.005,
            late_by_ms: 45 * 60_000,
            duplicate_fraction: 0.01,
        },
        42,
    );
    let dir = std::env::temp_dir().join(format!("emberflow-activity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
        path: dir.clone(),
        source: e,
    })?;

    let ctx = Context::local(2);
    let ssc = StreamingContext::builder(&ctx, Duration::from_millis(200))
        .name("activity_events")
        .build()?;
    let json = ssc.json_file_stream::<Activity>(&dir);
    let events = json.max_files_per_batch(2);
    let timed = events.with_watermark(
        |a: &Activity| EventTime::from_nanos(a.creation_time),
        Duration::from_secs(30 * 60),
    );
    let ten = Duration::from_secs(600);
    let five = Duration::from_secs(300);

    let per_window = timed
        .window(ten, ten)
        .count(OutputMode::Complete)
        .to_memory_table("events_per_window");
    let per_user = timed
        .window(ten, ten)
        .count_by(|a| a.user.clone(), OutputMode::Append)
        .to_memory_table("events_per_window_and_user");
    let sliding = timed
        .window(ten, five)
        .count(OutputMode::Complete)
        .to_memory_table("sliding_windows");
    let mean_x = timed
        .window(ten, ten)
        .reduce_by(
            |a| a.gt.clone(),
            |a| (a.x, 1u64),
            |a, b| (a.0 + b.0, a.1 + b.1),
            OutputMode::Complete,
        )
        .to_memory_table("x_per_activity");
    let sessions = timed
        .session_window(|a| a.user.clone(), Duration::from_secs(5 * 60))
        .count(OutputMode::Append)
        .to_memory_table("sessions");
    let unique = timed.drop_duplicates(|a| (a.user.clone(), a.creation_time));
    let per_user_unique = unique
        .count_by(|a| a.user.clone(), OutputMode::Complete)
        .to_memory_table("unique_per_user");
    let late = timed.late().count().to_memory_table("late");
    let read = events.count().to_memory_table("read");

    // Each completed batch, heard after its outputs (the tables) ran.
    let (tx, completed) = std::sync::mpsc::channel();
    ssc.add_streaming_listener(Completed(tx));
    ssc.start()?;
    let started = Instant::now();
    // Files arrive while the job runs, each renamed into place whole.
    let per_file = records.len().div_ceil(files);
    for (i, chunk) in records.chunks(per_file).enumerate() {
        let body: String = chunk
            .iter()
            .map(|a| serde_json::to_string(a).map(|s| s + "\n"))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::User(e.to_string()))?;
        let tmp = dir.join(format!(".part-{i:04}.json.tmp"));
        let path = dir.join(format!("part-{i:04}.json"));
        std::fs::write(&tmp, body)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| Error::Io { path, source: e })?;
    }
    // Until every record is read, then two batches more: the first runs with the watermark
    // of the last records, and closes the windows it passed (their Append rows).
    let mut after_all = 0;
    let mut elapsed = Duration::ZERO;
    while after_all < 2 {
        completed
            .recv_timeout(Duration::from_secs(300))
            .map_err(|_| Error::User("no batch completed in 5 minutes".into()))?;
        if read.rows().iter().sum::<u64>() >= records.len() as u64 {
            if after_all == 0 {
                elapsed = started.elapsed();
            }
            after_all += 1;
        }
    }
    ssc.stop(StopOptions::graceful())?;
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "{} records ({} files) read in {:.2} s; {} malformed lines",
        records.len(),
        files,
        elapsed.as_secs_f64(),
        json.malformed_lines()
    );
    print_table("events per 10-minute window (Complete)", per_window.rows());
    print_table(
        "events per window and user (Append: each row once, when the watermark closed it)",
        per_user.rows(),
    );
    print_table(
        "sliding windows, 10 minutes every 5 (Complete)",
        sliding.rows(),
    );
    let means: Vec<_> = mean_x
        .rows()
        .into_iter()
        .map(|(g, (sum, n))| (g, format!("{:.4}", sum / n as f64)))
        .collect();
    print_table("mean x per window and activity (Complete)", means);
    print_table("sessions per user, 5-minute gap (Append)", sessions.rows());
    print_table(
        "deduplicated events per user (Complete)",
        per_user_unique.rows(),
    );
    println!(
        "\nlate records (behind the watermark, dropped from every table): {}",
        late.rows().iter().sum::<u64>()
    );
    if let Some(p) = ssc.last_progress() {
        println!("\nlast progress: {}", p.json());
    }
    Ok(())
}

/// Tells the main thread of every completed batch.
struct Completed(std::sync::mpsc::Sender<()>);

impl StreamingListener for Completed {
    fn on_batch_completed(&self, _: &emberflow::BatchInfo) {
        let _ = self.0.send(());
    }
}

/// Prints rows sorted, with windows shown as `[start, end)`.
fn print_table<K: std::fmt::Debug + Ord, V: std::fmt::Debug>(title: &str, rows: Vec<(K, V)>) {
    println!("\n{title}: {} rows", rows.len());
    let sorted: BTreeMap<K, V> = rows.into_iter().collect();
    for (k, v) in sorted.iter().take(12) {
        println!("  {k:?}  {v:?}");
    }
    if sorted.len() > 12 {
        println!("  … {} more", sorted.len() - 12);
    }
}
