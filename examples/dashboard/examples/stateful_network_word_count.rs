//! Running word counts over everything received from a socket, kept with `map_with_state`
//! (Spark's StatefulNetworkWordCount): each batch prints the words it saw with their totals.
//!
//! Run: `cargo run --release --example stateful_network_word_count -- --feed` (own local
//! feeder) or `-- HOST PORT`; `--seconds N` (default 6).
//!
//! Prints `(word,total)` for the words of each batch.

use std::time::Duration;

use emberflow::prelude::*;
use emberflow_dashboard::feed::socket_source;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (host, port, seconds, _feeder) = socket_source(&args, Duration::from_millis(50), 6)?;
    let ctx = Context::local(2);
    let ssc = StreamingContext::new(&ctx, Duration::from_secs(1));
    let initial = ctx.parallelize(
        vec![("hello".to_string(), 1u64), ("world".to_string(), 1)],
        1,
    );
    let spec = StateSpec::function(
        |_t: Time, word: &String, one: Option<u64>, state: &mut State<u64>| {
            let total = one.unwrap_or(0) + state.get().copied().unwrap_or(0);
            state.update(total);
            Some((word.clone(), total))
        },
    )
    .initial_state(initial);
    let totals = ssc
        .socket_text_stream(host, port)
        .flat_map(|l: String| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|w| (w, 1u64))
        .map_with_state(spec);
    totals.print(10);
    ssc.start()?;
    ssc.await_termination_or_timeout(Duration::from_secs(seconds))?;
    ssc.stop(StopOptions::graceful())?;
    Ok(())
}
