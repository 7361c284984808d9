//! The hottest words over a sliding window, computed incrementally with
//! `reduce_by_key_and_window_with_inverse`: each slide adds the batches that entered the
//! window and subtracts those that left it.
//!
//! Run: `cargo run --release --example window_hot_word -- --feed` (own local feeder) or
//! `-- HOST PORT`; `--seconds N` (default 8). Batches of 500 ms, a 4 s window sliding by 1 s.
//!
//! Prints the top 5 words of every window.

use std::time::Duration;

use emberflow::prelude::*;
use emberflow_dashboard::feed::socket_source;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (host, port, seconds, _feeder) = socket_source(&args, Duration::from_millis(20), 8)?;
    let ctx = Context::local(2);
    let ssc = StreamingContext::new(&ctx, Duration::from_millis(500));
    let windowed = ssc
        .socket_text_stream(host, port)
        .flat_map(|l: String| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|w| (w, 1i64))
        .reduce_by_key_and_window_with_inverse(
            |a, b| a + b,
            |a, b| a - b,
            Duration::from_secs(4),
            Duration::from_secs(1),
            Some(|kv: &(String, i64)| kv.1 > 0),
        );
    windowed.foreach_rdd(|rdd, time| {
        let top = rdd.top_by(5, |(w, n)| (*n, std::cmp::Reverse(w.clone())))?;
        let shown: Vec<String> = top.iter().map(|(w, n)| format!("{w} {n}")).collect();
        println!("window ending {time}: {}", shown.join(", "));
        Ok(())
    });
    ssc.start()?;
    ssc.await_termination_or_timeout(Duration::from_secs(seconds))?;
    ssc.stop(StopOptions::graceful())?;
    Ok(())
}
