//! The operator seam from outside the library: `examples/sample_by_key.rs` writes an
//! operator with a parent through `emberflow::plumbing` only; here it runs in a graph next to
//! built-in operators, two outputs read it, and it keeps the same records when a batch is
//! computed again.
#![allow(clippy::unwrap_used)]

#[allow(unreachable_pub)] // the example's items are public for its readers
#[path = "../examples/sample_by_key.rs"]
mod sample;

use std::collections::HashMap;
use std::time::Duration;

use emberflow::prelude::*;
use emberflow::testing::BatchRunner;

fn input() -> Vec<Vec<(String, u32)>> {
    sample::trades(2)
}

fn run() -> Vec<Vec<(String, u32)>> {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let trades: DStream<(String, u32)> = runner.queue_input(input());
    let fractions = HashMap::from([("gold".to_string(), 1.0), ("silver".to_string(), 0.1)]);
    let sampled = sample::sample_by_key(&trades, fractions, 7);
    let kept = runner.collect(&sampled);
    let counted = runner.collect(&sampled.map(|(k, _)| (k, 1u64)).reduce_by_key(|a, b| a + b));
    runner.run(2).unwrap();
    // Both outputs see the same sample.
    for (records, counts) in kept.batches().iter().zip(counted.batches()) {
        let counts: HashMap<String, u64> = counts.into_iter().collect();
        for key in ["gold", "silver"] {
            let n = records.iter().filter(|(k, _)| k == key).count() as u64;
            assert_eq!(counts.get(key).copied().unwrap_or(0), n, "{key}");
        }
    }
    kept.batches()
}

#[test]
fn an_operator_written_outside_the_library_samples_per_key() {
    let first = run();
    assert_eq!(first.len(), 2);
    for batch in &first {
        let count = |key: &str| batch.iter().filter(|(k, _)| k == key).count();
        assert_eq!(count("gold"), 1000, "fraction 1 keeps every record");
        assert_eq!(count("bronze"), 0, "a key not listed keeps none");
        let silver = count("silver");
        assert!((50..=150).contains(&silver), "about a tenth: {silver}");
    }
    assert_ne!(first[0].len() - 1000, 0);
    // The choice depends on the record, the seed and the batch time only.
    assert_eq!(run(), first);
}
