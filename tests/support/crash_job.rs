//! A stateful file-stream job with checkpointing, for the crash tests (tests/crash_recovery.rs
//! kills it with SIGKILL and starts it again with the same directories). Not a user tool.
//!
//! `emberflow-crash-job --in DIR --out DIR --checkpoint DIR [--batch-ms N] [--run-for-ms N]`
//!
//! Reads `key,value` lines of the files in `--in` (those already there at the first start
//! too); saves every batch's records to
//! `OUT/records-<time>.txt/` and the running sum per key (`update_state_by_key`) to
//! `OUT/final.txt` after every batch. With `--run-for-ms` it stops gracefully after that long;
//! otherwise it runs until killed (or, with `--graceful-on-signal`, until SIGTERM/SIGINT).
//! With `--kafka BROKERS --topic T` the `key,value` lines come from a Kafka topic (direct
//! stream; with `--kafka-receiver`, the receiver stream and the write-ahead log). With
//! `--receiver-total N` the input is instead a receiver of the sequence `0..N`, with the
//! write-ahead log on; records are saved as their sequence numbers and counted per key.

use std::path::PathBuf;
use std::time::Duration;

use emberflow::prelude::*;

/// A source that never sends a record twice: it records the next sequence number it will
/// try *before* storing, and appends each range to `acked.log` once `store_many` returned
/// (with the write-ahead log on, the records are on disk then).
struct Sequence {
    out: PathBuf,
    total: u64,
}

impl Receiver for Sequence {
    type Item = (String, u64);

    fn on_start(&mut self, ctx: &ReceiverContext<(String, u64)>) {
        use std::io::Write;
        let attempt = self.out.join("attempt.txt");
        let mut next: u64 = std::fs::read_to_string(&attempt)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        while next < self.total && !ctx.is_stopped() {
            let end = (next + 25).min(self.total);
            if emberflow::write_atomically(&attempt, end.to_string().as_bytes()).is_err() {
                ctx.restart("cannot record the attempt");
                return;
            }
            // A refused store (the log could not be written) stored nothing: the same range
            // is tried again until it is stored.
            while let Err(e) = ctx.store_many((next..end).map(|i| (format!("k{}", i % 5), i))) {
                ctx.report_error(format!("store refused, retrying: {e}"));
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.out.join("refused.log"))
                {
                    let _ = writeln!(f, "{next} {end} {e}");
                }
                if ctx.is_stopped() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let acked = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.out.join("acked.log"));
            if let Ok(mut f) = acked {
                let _ = writeln!(f, "{next} {end}");
            }
            next = end;
            std::thread::sleep(Duration::from_millis(3));
        }
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let need = |n: &str| arg(&args, n).ok_or_else(|| Error::user(format!("{n} is required")));
    let input = PathBuf::from(need("--in")?);
    let out = PathBuf::from(need("--out")?);
    let ckpt = PathBuf::from(need("--checkpoint")?);
    let batch = Duration::from_millis(
        arg(&args, "--batch-ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(100),
    );
    let run_for = arg(&args, "--run-for-ms")
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis);
    let ctx = Context::local(2);
    let prefix = out.join("records").to_string_lossy().into_owned();
    let final_path = out.join("final.txt");
    let receiver_total: Option<u64> = arg(&args, "--receiver-total").and_then(|v| v.parse().ok());
    let kafka =
        arg(&args, "--kafka").map(|b| (b, arg(&args, "--topic").unwrap_or_else(|| "crash".into())));
    let kafka_receiver = args.iter().any(|a| a == "--kafka-receiver");
    let ssc = StreamingContext::get_or_create(
        &ckpt,
        |ssc| {
            if let Some(total) = receiver_total {
                let pairs = ssc.receiver_stream(Sequence {
                    out: out.clone(),
                    total,
                });
                pairs
                    .map(|(_, i)| i)
                    .save_as_text_files(prefix.clone(), "txt");
                write_final_sums(&pairs.map(|(k, _)| (k, 1u64)), batch, final_path.clone());
                return Ok(());
            }
            // Files already there at the first start count too (the driver drops some first);
            // with --kafka, the lines come from a topic instead.
            let lines = match &kafka {
                Some((brokers, topic)) => kafka_lines(ssc, brokers, topic, kafka_receiver)?,
                None => ssc.file_stream(&input, |_| true, false),
            };
            let pairs = lines.map(|l: String| {
                let (k, v) = l.split_once(',').unwrap_or((&l, "0"));
                (k.to_string(), v.parse::<u64>().unwrap_or(0))
            });
            pairs.save_as_text_files(prefix.clone(), "txt");
            write_final_sums(&pairs, batch, final_path.clone());
            Ok(())
        },
        StreamingContext::builder(&ctx, batch)
            .stop_gracefully_on_signal(args.iter().any(|a| a == "--graceful-on-signal"))
            .receiver_write_ahead_log(receiver_total.is_some() || kafka_receiver)
            .block_interval(Duration::from_millis(20))
            .wal_roll_bytes(
                arg(&args, "--wal-roll-bytes")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(8 << 20),
            ),
    )?;
    ssc.start()?;
    match run_for {
        Some(d) => {
            ssc.await_termination_or_timeout(d)?;
            ssc.stop(StopOptions::graceful())?;
        }
        None => ssc.await_termination()?,
    }
    Ok(())
}

/// Keeps the sum per key as `update_state_by_key` state (checkpointed every 3 batches) and
/// writes it, sorted, to `path` after every batch.
fn write_final_sums(pairs: &DStream<(String, u64)>, batch: Duration, path: PathBuf) {
    let totals = pairs
        .update_state_by_key_with_partitions(
            |vals: &[u64], s: Option<u64>| Some(s.unwrap_or(0) + vals.iter().sum::<u64>()),
            2,
        )
        .checkpoint(batch * 3);
    totals.foreach_rdd(move |rdd, _| {
        let mut lines: Vec<String> = rdd
            .collect()?
            .into_iter()
            .map(|(k, v)| format!("{k},{v}"))
            .collect();
        lines.sort();
        emberflow::write_atomically(&path, lines.join("\n").as_bytes())?;
        Ok(())
    });
}

#[cfg(feature = "kafka")]
fn kafka_lines(
    ssc: &StreamingContext,
    brokers: &str,
    topic: &str,
    receiver: bool,
) -> Result<DStream<String>> {
    use emberflow::kafka::{ConsumerStrategy, KafkaParams, KafkaUtils};
    let params = KafkaParams::new(brokers).set("auto.offset.reset", "earliest");
    if receiver {
        let params = params
            .group_id(format!("crash-{topic}"))
            .set("session.timeout.ms", "6000");
        return Ok(KafkaUtils::create_stream(ssc, params, [topic])?.map(|r| r.value_str()));
    }
    Ok(
        KafkaUtils::create_direct_stream(ssc, params, ConsumerStrategy::subscribe([topic]))?
            .map(|r| r.value_str()),
    )
}

#[cfg(not(feature = "kafka"))]
fn kafka_lines(_: &StreamingContext, _: &str, _: &str, _: bool) -> Result<DStream<String>> {
    Err(Error::user("built without the kafka feature"))
}
