//! A stream fed from a queue of RDDs that the program keeps filling while it runs (Spark's
//! QueueStream example): each batch takes one RDD of the numbers 1..=1000 and counts them by
//! their last digit.
//!
//! Run: `cargo run --release --example queue_stream`
//!
//! Prints `(digit,count)` per batch; each count is 100.

use std::time::Duration;

use emberflow::prelude::*;

fn main() -> Result<()> {
    let ctx = Context::local(2);
    let ssc = StreamingContext::new(&ctx, Duration::from_millis(200));
    let queue = RddQueue::new();
    let counts = ssc
        .queue_stream(&queue, true)
        .map(|x: u32| (x % 10, 1u64))
        .reduce_by_key(|a, b| a + b);
    counts.print(10);
    ssc.start()?;
    for _ in 0..5 {
        queue.push(ctx.parallelize((1..=1000).collect(), 10));
        std::thread::sleep(Duration::from_millis(200));
    }
    ssc.stop(StopOptions::graceful())?;
    Ok(())
}
