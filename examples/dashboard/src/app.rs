//! The order dashboard as a program: argument parsing, feeding, stopping, and the final
//! summary. `examples/order_dashboard.rs` calls [`run`]; tests call it too, in-process.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::unbounded;

use crate::dashboard::{Dashboard, DashboardOptions, Summary};
use crate::feed::SplitAndSend;
use crate::orders::generate_lines;
use emberflow::{
    BatchInfo, Context, Error, Result, StopOptions, StreamingContext, StreamingListener,
};

/// `--help` text.
pub const USAGE: &str = "\
order_dashboard: the order-stream dashboard of a brokerage, on emberflow.

With no arguments it runs the whole demo: generates orders in a temporary directory, feeds
them split-and-send style into a watched directory, processes every batch, prints the
dashboard, then a final summary, and exits 0 once all data is processed.

Order lines: yyyy-MM-dd HH:mm:ss,orderId,clientId,symbol,amount,price,B|S
Malformed lines are skipped, counted and logged with an example, never fatal.

Options:
  --input-dir DIR       watch DIR (files appear by atomic rename) until stopped; Ctrl-C or
                        SIGTERM stops gracefully
  --kafka BROKERS       read order lines from Kafka instead (direct stream; needs the
                        `kafka` feature); without --input-dir, generated or --orders lines are
                        produced to the topic first, at --rate
  --topic T             the Kafka topic (default orders)
  --rate N              orders per second produced to Kafka (default: as fast as possible)
  --orders FILE         feed FILE (split and sent into a temporary watched directory)
  --generate N          orders to generate when neither --orders nor --input-dir (default 50000)
  --seed N              generator seed (default 42)
  --bad FRACTION        fraction of malformed generated lines (default 0.01)
  --batch-ms N          batch interval in milliseconds (default 1000)
  --chunk-lines N       lines per chunk sent (default 5000); one chunk per batch interval
  --output PREFIX       save each batch's metrics to PREFIX-<time_ms>.txt/
  --checkpoint DIR      checkpoint directory for the streaming state
  --map-with-state      keep client totals with map_with_state instead of update_state_by_key
  --summary-json PATH   write the final results as JSON
  --stop-when-idle N    with --input-dir: stop after N batches in a row without input
  --quiet               do not print the dashboard every batch
  --help                this text";

/// Parsed command line.
#[derive(Clone, Debug)]
pub struct Options {
    /// `--input-dir`.
    pub input_dir: Option<PathBuf>,
    /// `--orders`.
    pub orders: Option<PathBuf>,
    /// `--generate`.
    pub generate: u64,
    /// `--seed`.
    pub seed: u64,
    /// `--bad`.
    pub bad: f64,
    /// `--batch-ms`.
    pub batch: Duration,
    /// `--chunk-lines`.
    pub chunk_lines: usize,
    /// `--output`.
    pub output: Option<String>,
    /// `--checkpoint`.
    pub checkpoint: Option<PathBuf>,
    /// `--map-with-state`.
    pub map_with_state: bool,
    /// `--summary-json`.
    pub summary_json: Option<PathBuf>,
    /// `--stop-when-idle`.
    pub stop_when_idle: Option<u64>,
    /// `--kafka`.
    pub kafka: Option<String>,
    /// `--topic`.
    pub topic: String,
    /// `--rate`.
    pub rate: Option<u64>,
    /// `--quiet`.
    pub quiet: bool,
    /// `--help`.
    pub help: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            input_dir: None,
            orders: None,
            generate: 50_000,
            seed: 42,
            bad: 0.01,
            batch: Duration::from_millis(1000),
            chunk_lines: 5000,
            output: None,
            checkpoint: None,
            map_with_state: false,
            summary_json: None,
            stop_when_idle: None,
            kafka: None,
            topic: "orders".to_owned(),
            rate: None,
            quiet: false,
            help: false,
        }
    }
}

impl Options {
    /// Parses arguments (without the program name).
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Options> {
        let mut o = Options::default();
        let mut it = args.iter().map(|a| a.as_ref().to_owned());
        let bad = |m: String| Error::user(format!("{m}; see --help"));
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .ok_or_else(|| bad(format!("{name} needs a value")))
            };
            let number = |name: &str, v: String| {
                v.parse::<u64>()
                    .map_err(|_| bad(format!("{name} takes a whole number, got {v:?}")))
            };
            match a.as_str() {
                "--input-dir" => o.input_dir = Some(value(&a)?.into()),
                "--orders" => o.orders = Some(value(&a)?.into()),
                "--generate" => o.generate = number(&a, value(&a)?)?,
                "--seed" => o.seed = number(&a, value(&a)?)?,
                "--bad" => {
                    let v = value(&a)?;
                    o.bad = v
                        .parse()
                        .map_err(|_| bad(format!("--bad takes a fraction, got {v:?}")))?;
                }
                "--batch-ms" => o.batch = Duration::from_millis(number(&a, value(&a)?)?.max(1)),
                "--chunk-lines" => o.chunk_lines = number(&a, value(&a)?)?.max(1) as usize,
                "--output" => o.output = Some(value(&a)?),
                "--checkpoint" => o.checkpoint = Some(value(&a)?.into()),
                "--map-with-state" => o.map_with_state = true,
                "--summary-json" => o.summary_json = Some(value(&a)?.into()),
                "--stop-when-idle" => o.stop_when_idle = Some(number(&a, value(&a)?)?),
                "--kafka" => o.kafka = Some(value(&a)?),
                "--topic" => o.topic = value(&a)?,
                "--rate" => o.rate = Some(number(&a, value(&a)?)?),
                "--quiet" => o.quiet = true,
                "--help" | "-h" => o.help = true,
                other => return Err(bad(format!("unknown argument {other:?}"))),
            }
        }
        Ok(o)
    }
}

/// Batch delays seen by the listener, and when the first batch finished.
#[derive(Default)]
struct Progress {
    first_done: Option<Instant>,
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
    let opts = Options::parse(args)?;
    if opts.help {
        #[allow(clippy::print_stdout)] // the help text is the feature
        {
            println!("{USAGE}");
        }
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
    }
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
    let builder =
        StreamingContext::builder(&ctx, opts.batch).graceful_stop_timeout(Duration::from_secs(60));
    let dash_opts = DashboardOptions {
        map_with_state: opts.map_with_state,
        output_prefix: output.clone(),
        print: !opts.quiet,
        ..DashboardOptions::default()
    };
    // With a checkpoint directory, a restarted dashboard carries on where it stopped: totals
    // and client state come back, pending batches re-run, files that arrived meanwhile are read.
    let mut built = None;
    let build = |ssc: &StreamingContext| -> Result<()> {
        let lines = match &opts.kafka {
            Some(brokers) => kafka_lines(ssc, brokers, &opts.topic)?,
            None => ssc.text_file_stream(&watched),
        };
        built = Some(Dashboard::build(&lines, &dash_opts));
        Ok(())
    };
    let ssc = match &opts.checkpoint {
        Some(dir) => StreamingContext::get_or_create(dir, build, builder)?,
        None => {
            let ssc = builder.build();
            let mut build = build;
            build(&ssc)?;
            ssc
        }
    };
    let dashboard = built.expect("the setup function built the dashboard");
    let (tx, batches) = unbounded();
    ssc.add_streaming_listener(Forward(parking_lot::Mutex::new(tx)));
    ssc.start()?;
    let processing_started = Instant::now();

    // Feed, unless a real directory is watched (or, with Kafka, the topic is the input).
    let (feeder, total_lines) = if opts.input_dir.is_none() {
        let lines: Vec<Vec<u8>> = match &opts.orders {
            Some(file) => {
                let bytes = std::fs::read(file).map_err(|e| Error::io(file, e))?;
                let mut lines: Vec<Vec<u8>> =
                    bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
                if lines.last().is_some_and(|l| l.is_empty()) {
                    lines.pop();
                }
                lines
            }
            None => generate_lines(opts.generate, opts.seed, opts.bad).lines,
        };
        let total = lines.len() as u64;
        let feeder = match &opts.kafka {
            Some(brokers) => {
                produce_in_background(brokers.clone(), opts.topic.clone(), lines, opts.rate)
            }
            None => {
                let feed =
                    SplitAndSend::new(&lines, opts.chunk_lines, &work.join("staging"), &watched)?;
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
        progress.batches += 1;
        progress.scheduling_ms += info.scheduling_delay().unwrap_or_default().as_millis() as u64;
        let p = info.processing_delay().unwrap_or_default().as_millis() as u64;
        progress.processing_ms += p;
        progress.max_processing_ms = progress.max_processing_ms.max(p);
        let snap = dashboard.snapshot();
        if snap.batch_orders + snap.batch_malformed > 0 {
            idle = 0;
            last_progress = Instant::now();
        } else {
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
    let summary = dashboard.summary(elapsed);
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
        processing: elapsed,
        mean_scheduling_delay: Duration::from_millis(progress.scheduling_ms) / n,
        mean_processing_delay: Duration::from_millis(progress.processing_ms) / n,
    };
    Ok((summary, stats))
}

/// A value that differs between calls (std's `RandomState` is randomly keyed per instance).
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

#[cfg(feature = "kafka")]
fn kafka_lines(
    ssc: &StreamingContext,
    brokers: &str,
    topic: &str,
) -> Result<emberflow::DStream<String>> {
    use emberflow::kafka::{ConsumerStrategy, KafkaParams, KafkaUtils};
    let params = KafkaParams::new(brokers).set("auto.offset.reset", "earliest");
    let stream =
        KafkaUtils::create_direct_stream(ssc, params, ConsumerStrategy::subscribe([topic]))?;
    Ok(stream.map(|r| r.value_str()))
}

#[cfg(not(feature = "kafka"))]
fn kafka_lines(_: &StreamingContext, _: &str, _: &str) -> Result<emberflow::DStream<String>> {
    Err(Error::user(
        "this build has no Kafka support; build with --features kafka",
    ))
}

#[cfg(feature = "kafka")]
fn produce_in_background(
    brokers: String,
    topic: String,
    lines: Vec<Vec<u8>>,
    rate: Option<u64>,
) -> std::thread::JoinHandle<Result<usize>> {
    std::thread::spawn(move || {
        let params = emberflow::kafka::KafkaParams::new(brokers);
        Ok(emberflow::kafka::produce_lines(&params, &topic, &lines, rate)? as usize)
    })
}

#[cfg(not(feature = "kafka"))]
fn produce_in_background(
    _: String,
    _: String,
    _: Vec<Vec<u8>>,
    _: Option<u64>,
) -> std::thread::JoinHandle<Result<usize>> {
    std::thread::spawn(|| {
        Err(Error::user(
            "this build has no Kafka support; build with --features kafka",
        ))
    })
}
