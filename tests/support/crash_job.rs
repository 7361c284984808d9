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

use std::path::PathBuf;
use std::time::Duration;

use emberflow::prelude::*;

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
    let ssc = StreamingContext::get_or_create(
        &ckpt,
        |ssc| {
            // Files already there at the first start count too (the driver drops some first).
            let pairs = ssc.file_stream(&input, |_| true, false).map(|l: String| {
                let (k, v) = l.split_once(',').unwrap_or((&l, "0"));
                (k.to_string(), v.parse::<u64>().unwrap_or(0))
            });
            pairs.save_as_text_files(prefix.clone(), "txt");
            let totals = pairs
                .update_state_by_key_with_partitions(
                    |vals: &[u64], s: Option<u64>| Some(s.unwrap_or(0) + vals.iter().sum::<u64>()),
                    2,
                )
                .checkpoint(batch * 3);
            let path = final_path.clone();
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
            Ok(())
        },
        StreamingContext::builder(&ctx, batch)
            .stop_gracefully_on_signal(args.iter().any(|a| a == "--graceful-on-signal")),
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
