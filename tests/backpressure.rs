//! Backpressure on the manual clock: a source offering far more than the job processes is
//! held, batch by batch, to a rate where the scheduling delay stays bounded (without it, the
//! delay grows with every batch).
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use emberflow::plumbing::Source;
use emberflow::prelude::*;
use emberflow::BatchInfo;

/// Offers 50,000 records a second, or what its rate hook allows.
struct Firehose {
    ctx: Context,
    limit: Mutex<Option<u64>>,
    sizes: Mutex<std::collections::BTreeMap<Time, u64>>,
}

impl Source<u8> for Firehose {
    fn kind(&self) -> &'static str {
        "firehose"
    }
    fn set_rate_limit(&self, records_per_second: Option<u64>) {
        *self.limit.lock().unwrap() = records_per_second;
    }
    fn batch(&self, time: Time) -> Result<Option<Rdd<u8>>> {
        let n = self.limit.lock().unwrap().unwrap_or(50_000).min(50_000);
        self.sizes.lock().unwrap().insert(time, n);
        Ok(Some(self.ctx.parallelize(vec![0u8; n as usize], 2)))
    }
    fn records(&self, time: Time) -> Option<u64> {
        self.sizes.lock().unwrap().get(&time).copied()
    }
}

/// Collects completed batches.
struct Completed(Arc<Mutex<Vec<BatchInfo>>>);

impl StreamingListener for Completed {
    fn on_batch_completed(&self, info: &BatchInfo) {
        self.0.lock().unwrap().push(info.clone());
    }
}

/// The first 40 one-second batches of a job that processes 10,000 records a second: its
/// output moves the manual clock on by the time the batch "took", so later batches fall due
/// while it works, as they would on a real clock.
fn run(backpressure: bool) -> Vec<BatchInfo> {
    let ctx = Context::local(2);
    let clock = Arc::new(emberflow::ManualClock::new());
    let ssc = StreamingContext::builder(&ctx, Duration::from_secs(1))
        .clock(clock.clone())
        .backpressure(backpressure)
        .backpressure_initial_rate(20_000)
        .build()
        .unwrap();
    let source = Firehose {
        ctx: ctx.clone(),
        limit: Mutex::new(None),
        sizes: Mutex::default(),
    };
    let stream = DStream::from_source(&ssc, source);
    let c = clock.clone();
    stream.foreach_rdd(move |rdd, _| {
        let n = rdd.count()?;
        c.advance(Duration::from_millis(n / 10));
        Ok(())
    });
    let infos = Arc::new(Mutex::new(Vec::new()));
    ssc.add_streaming_listener(Completed(infos.clone()));
    ssc.start().unwrap();
    clock.advance(Duration::from_secs(1));
    // Once the job keeps up, its batches may end just before the next batch time: then the
    // test lets time pass, a tenth of an interval at a time, as a real clock would.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut seen = (0, 0u32);
    while ssc.completed_batches() < 40 {
        assert!(
            std::time::Instant::now() < deadline,
            "40 batches did not complete"
        );
        let done = ssc.completed_batches();
        if done == seen.0 {
            seen.1 += 1;
            if seen.1 > 2_000 && ssc.status().message.starts_with("Waiting") {
                clock.advance(Duration::from_millis(100));
                seen.1 = 0;
            }
        } else {
            seen = (done, 0);
        }
        std::thread::yield_now();
    }
    ssc.stop(StopOptions::immediate().keep_context(true))
        .unwrap();
    let mut infos = infos.lock().unwrap().clone();
    infos.truncate(40);
    infos
}

#[test]
fn backpressure_holds_a_fast_source_to_what_the_job_processes() {
    let held = run(true);
    let delays: Vec<u64> = held
        .iter()
        .map(|i| i.scheduling_delay().unwrap().as_millis() as u64)
        .collect();
    let sizes: Vec<u64> = held.iter().map(BatchInfo::num_records).collect();
    // The initial rate on the first batch, then the estimate.
    assert_eq!(sizes[0], 20_000, "{sizes:?}");
    // Converged: the last batches read about what one second of processing takes, and the
    // scheduling delay no longer grows.
    let tail = &sizes[sizes.len() - 10..];
    assert!(tail.iter().all(|n| *n <= 12_000), "{sizes:?}");
    let late = &delays[delays.len() - 10..];
    assert!(late.iter().all(|d| *d <= 10_000), "{delays:?}");

    // Without it, every batch takes 5 s and each waits longer than the one before.
    let free = run(false);
    let last = free.last().unwrap().scheduling_delay().unwrap();
    assert!(last > Duration::from_secs(60), "{last:?}");
}
