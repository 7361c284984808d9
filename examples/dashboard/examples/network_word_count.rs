//! Counts words in text received from a TCP socket, per batch (Spark's NetworkWordCount).
//!
//! Run: `cargo run --release --example network_word_count -- --feed` (starts its own local
//! feeder), or `-- HOST PORT` against a server such as `nc -lk 9999`. `--seconds N` sets how
//! long it runs (default 6).
//!
//! Prints each batch's word counts in Spark's `print()` format.

use std::time::Duration;

use emberflow::prelude::*;
use emberflow_dashboard::feed::socket_source;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (host, port, seconds, _feeder) = socket_source(&args, Duration::from_millis(50), 6)?;
    let ctx = Context::local(2);
    let ssc = StreamingContext::new(&ctx, Duration::from_secs(1));
    let counts = ssc
        .socket_text_stream(host, port)
        .flat_map(|l: String| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|w| (w, 1u64))
        .reduce_by_key(|a, b| a + b);
    counts.print(10);
    ssc.start()?;
    ssc.await_termination_or_timeout(Duration::from_secs(seconds))?;
    ssc.stop(StopOptions::graceful())?;
    Ok(())
}
