//! Helpers shared by the connector tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::Duration;

use emberflow_streaming::testing::{BatchRunner, Collected};

/// Runs batches one at a time until `out` holds at least `n` records (the stream resumes
/// after a fault on its own schedule), failing after 60 s; returns them sorted.
pub fn run_until_read(runner: &BatchRunner, out: &Collected<u64>, n: usize) -> Vec<u64> {
    let started = std::time::Instant::now();
    loop {
        runner.run(1).unwrap();
        let mut all: Vec<u64> = out.batches().concat();
        all.sort();
        if all.len() >= n {
            return all;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "did not resume: {} of {n} records read",
            all.len()
        );
    }
}
