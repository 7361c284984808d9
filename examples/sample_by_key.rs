//! An operator written outside the library, through `emberflow::plumbing`: `sample_by_key`,
//! which keeps, every batch, a fraction of each key's records (Spark's `sampleByKey` without
//! replacement, applied per batch). It says its slide, its parent and how it computes the RDD
//! of a batch; the base memoises, remembers, forgets and fingerprints it.
//!
//! Run: `cargo run --example sample_by_key`
//!
//! Prints, per batch, how many records of each key were kept.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use emberflow::hash::stable_hash;
use emberflow::plumbing::{DStreamBase, DStreamNode, Parent};
use emberflow::prelude::*;
use emberflow::testing::BatchRunner;

/// Per batch, each record of key `k` is kept with probability `fractions[k]` (keys not listed:
/// 0). The choice is a stable hash of the record, the seed and the batch time: a batch run
/// again after a restart keeps the same records.
pub struct SampleByKey<K: 'static, V: 'static> {
    parent: Parent<(K, V)>,
    fractions: Arc<HashMap<K, f64>>,
    seed: u64,
}

impl<K, V> DStreamNode<(K, V)> for SampleByKey<K, V>
where
    K: Data + Hash + Eq,
    V: Data + Hash,
{
    fn kind(&self) -> &'static str {
        "sample_by_key"
    }
    fn slide_duration(&self) -> Duration {
        self.parent.slide()
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        vec![self.parent.base()]
    }
    fn compute(&self, time: Time) -> Result<Option<Rdd<(K, V)>>> {
        let Some(rdd) = self.parent.rdd_at(time)? else {
            return Ok(None);
        };
        let fractions = self.fractions.clone();
        let seed = self.seed ^ time.millis();
        Ok(Some(rdd.filter(move |(k, v)| {
            let fraction = fractions.get(k).copied().unwrap_or(0.0);
            // The hash mapped to [0, 1).
            let draw = (stable_hash(&(k, v, seed)) >> 11) as f64 / (1u64 << 53) as f64;
            draw < fraction
        })))
    }
}

/// `stream`, sampled per key by `fractions`.
pub fn sample_by_key<K, V>(
    stream: &DStream<(K, V)>,
    fractions: HashMap<K, f64>,
    seed: u64,
) -> DStream<(K, V)>
where
    K: Data + Hash + Eq,
    V: Data + Hash,
{
    stream.add_node(SampleByKey {
        parent: Parent::of(stream),
        fractions: Arc::new(fractions),
        seed,
    })
}

/// `batches` batches of 3,000 trades, a third each of gold, silver and bronze.
pub fn trades(batches: u32) -> Vec<Vec<(String, u32)>> {
    (0..batches)
        .map(|b| {
            (0..3000)
                .map(|i| {
                    (
                        ["gold", "silver", "bronze"][i % 3].to_string(),
                        b * 3000 + i as u32,
                    )
                })
                .collect()
        })
        .collect()
}

#[allow(dead_code)] // the tests include this file for the operator, not for `main`
fn main() -> Result<()> {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let trades = runner.queue_input(trades(3));
    let fractions = HashMap::from([("gold".to_string(), 1.0), ("silver".to_string(), 0.1)]);
    let sampled = sample_by_key(&trades, fractions, 7).map(|(k, _)| (k, 1u64));
    let counts = runner.collect(&sampled.reduce_by_key(|a, b| a + b));
    runner.run(3)?;
    for (time, mut per_key) in counts.by_time() {
        per_key.sort();
        println!("{time}: {per_key:?}");
    }
    Ok(())
}
