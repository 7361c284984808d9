//! Counts words in text received from a TCP socket, per batch (Spark's NetworkWordCount).
//!
//! Run: `cargo run --release --example network_word_count -- --feed` (starts its own local
//! feeder), or `-- HOST PORT` against a server such as `nc -lk 9999`. `--seconds N` sets how
//! long it runs (default 6).
//!
//! Prints each batch's word counts in Spark's `print()` format.

use std::time::Duration;

use emberflow::demo::feed::{sample_sentences, LineServer};
use emberflow::prelude::*;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: u64 = flag(&args, "--seconds").unwrap_or(6);
    let (host, port, _feeder) = if args.iter().any(|a| a == "--feed") || args.is_empty() {
        let server = LineServer::start(
            sample_sentences(),
            Duration::from_millis(50),
            Duration::from_secs(seconds),
        )?;
        ("127.0.0.1".to_string(), server.port(), Some(server))
    } else {
        let port = args
            .get(1)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| Error::user("usage: network_word_count HOST PORT | --feed"))?;
        (args[0].clone(), port, None)
    };
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

fn flag(args: &[String], name: &str) -> Option<u64> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}
