//! The order dashboard as a program: argument parsing, feeding, stopping, and the final
//! summary. `examples/order_dashboard.rs` calls [`run`]; tests call it too, in-process.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::unbounded;

use crate::dashboard::{Dashboard, DashboardOptions, Summary};
use crate::feed::SplitAndSend;
use crate::orders::LineGenerator;
use emberflow::{
    BatchInfo, Context, Error, Result, StopOptions, StreamingContext, StreamingListener,
};

/// What `--help` says before the options.
const ABOUT: &str = "\
The order-stream dashboard of a brokerage, on emberflow.

With no arguments it runs the whole demo: generates orders in a temporary directory, feeds
them split-and-send style into a watched directory, processes every batch, prints the
dashboard, then a final summary, and exits 0 once all data is processed.

Order lines: yyyy-MM-dd HH:mm:ss,orderId,clientId,symbol,amount,price,B|S
Malformed lines are skipped, counted and logged with an example per batch, never fatal.
Logs go to stderr; RUST_LOG sets the level (default: warn).";

/// The command line (`--help` prints every flag).
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "order_dashboard", about = ABOUT)]
pub struct Options {
    /// Watch DIR (files appear by atomic rename) until stopped; Ctrl-C or SIGTERM stops
    /// gracefully.
    #[arg(long, value_name = "DIR")]
    pub input_dir: Option<PathBuf>,
    /// Feed FILE (split and sent into a temporary watched directory).
    #[arg(long, value_name = "FILE")]
    pub orders: Option<PathBuf>,
    /// Orders to generate when neither --orders nor --input-dir is given.
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    pub generate: u64,
    /// Generator seed.
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,
    /// Fraction of malformed generated lines.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.01)]
    pub bad: f64,
    /// Batch interval in milliseconds.
    #[arg(long = "batch-ms", value_name = "MS", default_value = "1000", value_parser = millis)]
    pub batch: Duration,
    /// Lines per chunk sent; one chunk per batch interval.
    #[arg(long, value_name = "N", default_value = "5000", value_parser = at_least_one)]
    pub chunk_lines: usize,
    /// Save each batch's metrics to PREFIX-<time_ms>.txt/.
    #[arg(long, value_name = "PREFIX")]
    pub output: Option<String>,
    /// Checkpoint directory for the streaming state.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// Keep client totals with map_with_state instead of update_state_by_key.
    #[arg(long)]
    pub map_with_state: bool,
    /// Write the final results as JSON.
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,
    /// With --input-dir (or --group): stop after N batches in a row without input (a group
    /// member counts only batches in which it reads partitions).
    #[arg(long, value_name = "N")]
    pub stop_when_idle: Option<u64>,
    /// Read order lines from Kafka instead (direct stream; needs the `kafka` feature); without
    /// --input-dir, generated or --orders lines are produced to the topic first, at --rate.
    #[arg(long, value_name = "BROKERS")]
    pub kafka: Option<String>,
    /// The Kafka topic.
    #[arg(long, value_name = "T", default_value = "orders")]
    pub topic: String,
    /// With --kafka and --checkpoint DIR (shared by the members): run as one member of the
    /// consumer group G, reading the partitions the group gives it; each batch's counts per
    /// partition go to files under --output (default DIR/facts/batch), and the summary
    /// merges every member's. Members produce nothing to the topic.
    #[arg(long, value_name = "G")]
    pub group: Option<String>,
    /// Orders per second produced to Kafka (default: as fast as possible).
    #[arg(long, value_name = "N")]
    pub rate: Option<u64>,
    /// Do not print the dashboard every batch.
    #[arg(long)]
    pub quiet: bool,
    /// Serve the live page, its JSON API and Prometheus metrics at ADDR (host:port; port 0
    /// picks a free one); the address is printed to stderr at the start.
    #[arg(long, value_name = "ADDR")]
    pub ui: Option<String>,
}

fn millis(v: &str) -> std::result::Result<Duration, String> {
    let ms: u64 = v
        .parse()
        .map_err(|_| format!("takes a whole number of milliseconds, got {v:?}"))?;
    Ok(Duration::from_millis(ms.max(1)))
}

fn at_least_one(v: &str) -> std::result::Result<usize, String> {
    let n: usize = v
        .parse()
        .map_err(|_| format!("takes a whole number, got {v:?}"))?;
    Ok(n.max(1))
}

impl Default for Options {
    fn default() -> Self {
        <Options as clap::Parser>::parse_from(["order_dashboard"])
    }
}

impl Options {
    /// Parses arguments (without the program name). `Ok(None)` when they asked for `--help`
    /// (printed).
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Option<Options>> {
        let argv = std::iter::once("order_dashboard").chain(args.iter().map(AsRef::as_ref));
        match <Options as clap::Parser>::try_parse_from(argv) {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
                #[allow(clippy::print_stdout)] // the help text is the feature
                {
                    println!("{}", e.render());
                }
                Ok(None)
            }
            Err(e) => Err(Error::user(e.render().to_string().trim_end().to_owned())),
        }
    }
}

/// Batch delays seen by the listener, and when the first batch finished.
#[derive(Default)]
struct Progress {
    first_done: Option<Instant>,
    /// The first batch's total delay (its time to its end).
    first_delay: Option<Duration>,
    batches: u64,
    scheduling_ms: u64,
    processing_ms: u64,
    max_processing_ms: u64,
}

struct Forward(parking_lot::Mutex<crossbeam_channel::Sender<BatchInfo>>);

impl StreamingListener for Forward {
    fn on_batch_completed(&self, info: &BatchInfo) {
        let _ = self.0.lock().send(info.clone());
    }
}

/// Timings of a run, besides the summary.
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    /// From the start of `run` to the end of the first batch.
    pub first_batch_done: Option<Duration>,
    /// The same without the wait for the first batch's time: from the start of `run` until
    /// the context started, plus the first batch's total delay (its time to its end).
    pub first_batch_overhead: Option<Duration>,
    /// From the start of the streaming context to the end of the graceful stop.
    pub processing: Duration,
    /// Mean scheduling and processing delay per batch.
    pub mean_scheduling_delay: Duration,
    /// Mean processing delay per batch.
    pub mean_processing_delay: Duration,
}

/// Runs the dashboard; returns its summary.
pub fn run<S: AsRef<str>>(args: &[S]) -> Result<Summary> {
    run_with_stats(args).map(|(s, _)| s)
}

/// [`run`], also returning timings.
pub fn run_with_stats<S: AsRef<str>>(args: &[S]) -> Result<(Summary, RunStats)> {
    let started = Instant::now();
    let Some(opts) = Options::parse(args)? else {
        let empty = Summary {
            orders: 0,
            buys: 0,
            sells: 0,
            malformed: 0,
            top5_clients: Vec::new(),
            top5_symbols: Vec::new(),
            batches: 0,
            orders_per_sec: 0.0,
        };
        return Ok((empty, RunStats::default()));
    };
    let work = std::env::temp_dir().join(format!(
        "emberflow-dashboard-{}-{:x}",
        std::process::id(),
        unique()
    ));
    let watched = match &opts.input_dir {
        Some(d) => {
            if !d.is_dir() {
                return Err(Error::MissingDirectory { path: d.clone() });
            }
            d.clone()
        }
        None => work.join("in"),
    };
    std::fs::create_dir_all(&watched).map_err(|e| Error::io(&watched, e))?;
    let output = opts.output.clone().or_else(|| {
        opts.input_dir.is_none().then(|| {
            work.join("out")
                .join("metrics")
                .to_string_lossy()
                .into_owned()
        })
    });

    let ctx = Context::local(std::thread::available_parallelism().map_or(2, |n| n.get()));
    let mut builder = StreamingContext::builder(&ctx, opts.batch)
        .name("order_dashboard")
        .graceful_stop_timeout(Duration::from_secs(60));
    if let Some(addr) = &opts.ui {
        builder = builder.ui(addr.clone());
    }
    let dash_opts = DashboardOptions {
        map_with_state: opts.map_with_state,
        output_prefix: output.clone(),
        print: !opts.quiet,
        ..DashboardOptions::default()
    };
    // With a checkpoint directory, a restarted dashboard carries on where it stopped: totals
    // and client state come back, pending batches re-run, files that arrived meanwhile are read.
    let mut built = None;
    let facts = match (&opts.group, &opts.kafka, &opts.checkpoint) {
        (None, _, _) => None,
        (Some(_), Some(_), Some(dir)) => Some(opts.output.clone().unwrap_or_else(|| {
            dir.join("facts")
                .join("batch")
                .to_string_lossy()
                .into_owned()
        })),
        (Some(_), _, _) => return Err(Error::user(
            "--group needs --kafka BROKERS and --checkpoint DIR (a directory the members share)",
        )),
    };
    // A group member's partitions now (for idleness: a member the group has not given
    // partitions yet, or is moving them, is waiting, not idle).
    let mut reading: Option<Reading> = None;
    let build = |ssc: &StreamingContext| -> Result<()> {
        let lines = match &opts.kafka {
            Some(brokers) => {
                let (lines, r) = kafka_lines(ssc, brokers, &opts.topic, opts.group.as_deref())?;
                reading = r;
                lines
            }
            None => ssc.text_file_stream(&watched),
        };
        built = Some(match &facts {
            Some(prefix) => Dashboard::build_member(&lines, prefix.clone()),
            None => Dashboard::build(&lines, &dash_opts),
        });
        Ok(())
    };
    let ssc = match &opts.checkpoint {
        Some(dir) => StreamingContext::get_or_create(dir, build, builder)?,
        None => {
            let ssc = builder.build()?;
            let mut build = build;
            build(&ssc)?;
            ssc
        }
    };
    let dashboard = built.expect("the setup function built the dashboard");
    let (tx, batches) = unbounded();
    ssc.add_streaming_listener(Forward(parking_lot::Mutex::new(tx)));
    ssc.start()?;
    if let Some(url) = ssc.ui_url() {
        // On stderr whatever the log level: the operator needs the address (port 0 picks one).
        #[allow(clippy::print_stderr)]
        {
            eprintln!("streaming UI at {url}");
        }
    }
    let processing_started = Instant::now();
    let setup = processing_started - started;

    // Feed, unless a real directory is watched (or, with Kafka, the topic is the input).
    let (feeder, total_lines) =
        if let (None, None, Some(file)) = (&opts.input_dir, &opts.kafka, &opts.orders) {
            // A file is split as it is read: the feeder never holds it.
            let feed =
                SplitAndSend::from_file(file, opts.chunk_lines, &work.join("staging"), &watched)?;
            let total = feed.total_lines();
            (Some(feed.spawn(opts.batch)), Some(total))
        } else if opts.input_dir.is_none() && opts.group.is_none() {
            // Lines are read or generated as they are sent: the feeder holds none of them.
            let (lines, total): (Lines, u64) = match &opts.orders {
                Some(file) => (file_lines(file)?, count_lines(file)?),
                None => (
                    Box::new(LineGenerator::new(opts.generate, opts.seed, opts.bad)),
                    opts.generate,
                ),
            };
            let feeder = match &opts.kafka {
                Some(brokers) => {
                    produce_in_background(brokers.clone(), opts.topic.clone(), lines, opts.rate)
                }
                None => {
                    let feed = SplitAndSend::from_lines(
                        lines,
                        opts.chunk_lines,
                        &work.join("staging"),
                        &watched,
                    )?;
                    feed.spawn(opts.batch)
                }
            };
            (Some(feeder), Some(total))
        } else {
            (None, None)
        };
    let interrupted = Arc::new(AtomicBool::new(false));
    if opts.input_dir.is_some() || (opts.kafka.is_some() && total_lines.is_none()) {
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, interrupted.clone())
                .map_err(|e| Error::io("signal handler", e))?;
        }
    }

    let mut progress = Progress::default();
    let mut idle = 0u64;
    let mut last_progress = Instant::now();
    loop {
        if interrupted.load(Ordering::SeqCst) {
            log::info!("interrupted: stopping gracefully");
            break;
        }
        let Ok(info) = batches.recv_timeout(Duration::from_millis(100)) else {
            if total_lines.is_some() && last_progress.elapsed() > Duration::from_secs(120) {
                return Err(Error::user(
                    "the dashboard made no progress for 2 minutes; giving up",
                ));
            }
            continue;
        };
        progress.first_done.get_or_insert_with(Instant::now);
        if progress.first_delay.is_none() {
            progress.first_delay = info.total_delay();
        }
        progress.batches += 1;
        progress.scheduling_ms += info.scheduling_delay().unwrap_or_default().as_millis() as u64;
        let p = info.processing_delay().unwrap_or_default().as_millis() as u64;
        progress.processing_ms += p;
        progress.max_processing_ms = progress.max_processing_ms.max(p);
        let snap = dashboard.snapshot();
        if snap.batch_orders + snap.batch_malformed > 0 {
            idle = 0;
            last_progress = Instant::now();
        } else if reading.as_ref().is_none_or(|r| r() > 0) {
            idle += 1;
        }
        if let Some(total) = total_lines {
            if snap.totals.orders + snap.totals.malformed >= total {
                break;
            }
        }
        if opts.stop_when_idle.is_some_and(|n| idle >= n) {
            log::info!("no input for {idle} batches: stopping");
            break;
        }
    }
    ssc.stop(StopOptions::graceful())?;
    if let Some(f) = feeder {
        f.join()
            .map_err(|_| Error::user("the feeder thread panicked"))??;
    }
    let elapsed = processing_started.elapsed();
    let summary = match &facts {
        // A member's summary is the group's: every member's saved counts so far.
        Some(prefix) => {
            let mut s = crate::group::merge(prefix, dash_opts.window)?;
            s.orders_per_sec =
                (s.orders as f64 / elapsed.as_secs_f64().max(1e-9) * 10.0).round() / 10.0;
            s
        }
        None => dashboard.summary(elapsed),
    };
    if !opts.quiet {
        let n = progress.batches.max(1);
        #[allow(clippy::print_stdout)] // the summary is the feature
        {
            println!(
                "\n== summary: {} orders ({} buys, {} sells), {} malformed, {} batches, {:.0} orders/s",
                summary.orders, summary.buys, summary.sells, summary.malformed, summary.batches, summary.orders_per_sec
            );
            println!(
                "   delays per batch: scheduling {} ms avg, processing {} ms avg, {} ms max; first batch done {} ms after start",
                progress.scheduling_ms / n,
                progress.processing_ms / n,
                progress.max_processing_ms,
                progress.first_done.map_or(0, |t| (t - started).as_millis())
            );
            if let Some(out) = &opts.output {
                println!("   metrics saved under {out}-<time_ms>.txt/");
            }
        }
    }
    if let Some(path) = &opts.summary_json {
        write_json(path, &summary)?;
    }
    if opts.input_dir.is_none() && opts.output.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    let n = progress.batches.max(1) as u32;
    let stats = RunStats {
        first_batch_done: progress.first_done.map(|t| t - started),
        first_batch_overhead: progress.first_delay.map(|d| setup + d),
        processing: elapsed,
        mean_scheduling_delay: Duration::from_millis(progress.scheduling_ms) / n,
        mean_processing_delay: Duration::from_millis(progress.processing_ms) / n,
    };
    Ok((summary, stats))
}

/// A value that differs between calls (std's `RandomState` is randomly keyed per instance).
/// Order lines read or generated one at a time.
type Lines = Box<dyn Iterator<Item = Vec<u8>> + Send>;

/// The lines of `file`, read as they are consumed (a final newline ends the last line; it
/// does not start an empty one). A read error ends the lines early, logged.
fn file_lines(file: &Path) -> Result<Lines> {
    use std::io::BufRead;
    let f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
    let name = file.display().to_string();
    Ok(Box::new(
        std::io::BufReader::with_capacity(1 << 20, f)
            .split(b'\n')
            .map_while(move |l| {
                l.map_err(|e| log::error!("reading {name}: {e}; the rest is not sent"))
                    .ok()
            }),
    ))
}

/// How many lines `file` has, counted in one streaming pass.
fn count_lines(file: &Path) -> Result<u64> {
    use std::io::Read;
    let mut f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut lines, mut last) = (0u64, b'\n');
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(file, e))?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        last = buf[n - 1];
    }
    // A last line without a newline is a line too.
    Ok(lines + u64::from(last != b'\n'))
}

fn unique() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

fn write_json(path: &Path, summary: &Summary) -> Result<()> {
    let text = serde_json::to_string(summary)
        .map_err(|e| Error::user(format!("cannot encode the summary: {e}")))?;
    emberflow::write_atomically(path, text.as_bytes())?;
    Ok(())
}

/// How many partitions a group member reads now.
type Reading = Box<dyn Fn() -> usize>;

#[cfg(feature = "kafka")]
fn kafka_lines(
    ssc: &StreamingContext,
    brokers: &str,
    topic: &str,
    group: Option<&str>,
) -> Result<(emberflow::DStream<String>, Option<Reading>)> {
    use emberflow::kafka::{ConsumerStrategy, KafkaParams, KafkaUtils};
    let mut params = KafkaParams::new(brokers).set("auto.offset.reset", "earliest");
    if let Some(g) = group {
        params = params.group_id(g).set("session.timeout.ms", "6000");
    }
    let stream =
        KafkaUtils::create_direct_stream(ssc, params, ConsumerStrategy::subscribe([topic]))?;
    let (stream, reading) = match group {
        Some(_) => {
            let member = stream.group_partitioned();
            let handle = member.clone();
            let reading: Reading =
                Box::new(move || handle.group_partitions().map_or(0, |p| p.len()));
            (member, Some(reading))
        }
        None => (stream, None),
    };
    Ok((stream.map(|r| r.value_str()), reading))
}

#[cfg(not(feature = "kafka"))]
fn kafka_lines(
    _: &StreamingContext,
    _: &str,
    _: &str,
    _: Option<&str>,
) -> Result<(emberflow::DStream<String>, Option<Reading>)> {
    Err(Error::user(
        "this build has no Kafka support; build with --features kafka",
    ))
}

#[cfg(feature = "kafka")]
fn produce_in_background(
    brokers: String,
    topic: String,
    lines: Lines,
    rate: Option<u64>,
) -> std::thread::JoinHandle<Result<usize>> {
    std::thread::spawn(move || {
        let params = emberflow::kafka::KafkaParams::new(brokers);
        Ok(emberflow::kafka::produce_lines_from(&params, &topic, lines, rate)? as usize)
    })
}

#[cfg(not(feature = "kafka"))]
fn produce_in_background(
    _: String,
    _: String,
    _: Lines,
    _: Option<u64>,
) -> std::thread::JoinHandle<Result<usize>> {
    std::thread::spawn(|| {
        Err(Error::user(
            "this build has no Kafka support; build with --features kafka",
        ))
    })
}
