//! `transform`: every batch's RDD joined with a static RDD, here to drop blacklisted words
//! before counting (the pattern of Spark's documentation). Runs on queued batches.
//!
//! Run: `cargo run --release --example transform_blacklist`
//!
//! Prints the counts of each batch without the blacklisted words.

use std::time::Duration;

use emberflow::prelude::*;

fn main() -> Result<()> {
    let ctx = Context::local(2);
    let ssc = StreamingContext::new(&ctx, Duration::from_millis(300));
    let blacklist = ctx.parallelize(vec![("spam".to_string(), ()), ("scam".to_string(), ())], 1);
    let queue = RddQueue::new();
    for text in ["ham spam eggs", "spam spam scam ham", "eggs and ham"] {
        queue.push(ctx.parallelize(text.split(' ').map(str::to_owned).collect(), 2));
    }
    let clean = ssc
        .queue_stream(&queue, true)
        .map(|w| (w, ()))
        .transform(move |rdd, _time| {
            rdd.left_outer_join(&blacklist)
                .filter(|(_, (_, listed))| listed.is_none())
                .map(|(w, _)| (w, 1u64))
                .reduce_by_key(|a, b| a + b)
        });
    clean.print(10);
    ssc.start()?;
    ssc.await_termination_or_timeout(Duration::from_millis(1200))?;
    ssc.stop(StopOptions::graceful())?;
    Ok(())
}
