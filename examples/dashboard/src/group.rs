//! The dashboard as one member of several (`--group`): each member reads the Kafka
//! partitions its consumer group gives it and saves, per batch and partition, what the
//! summary needs — counts, `amount * price` per client, shares per symbol — as one file
//! (`save_as_text_files` of a group-partitioned stream: exactly once across members, however
//! partitions move). The summary merges every member's files.
//!
//! A file holds lines `n <orders> <buys> <malformed>`, `c <client> <cents>` and
//! `s <symbol> <shares>`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::dashboard::{Dashboard, Snapshot, Summary, Totals};
use crate::orders::parse_order;
use emberflow::{DStream, Error, Result};

/// The facts of one partition's batch, as lines.
fn facts(lines: impl Iterator<Item = String>) -> Vec<String> {
    let (mut orders, mut buys, mut malformed) = (0u64, 0u64, 0u64);
    let mut clients: BTreeMap<u64, u64> = BTreeMap::new();
    let mut symbols: BTreeMap<String, u64> = BTreeMap::new();
    for l in lines {
        match parse_order(&l) {
            Some(o) => {
                orders += 1;
                buys += u64::from(o.buy);
                *clients.entry(o.client_id).or_default() += o.value_cents();
                *symbols.entry(o.symbol).or_default() += o.amount;
            }
            None => malformed += 1,
        }
    }
    if orders + malformed == 0 {
        return Vec::new();
    }
    let mut out = vec![format!("n {orders} {buys} {malformed}")];
    out.extend(clients.iter().map(|(c, v)| format!("c {c} {v}")));
    out.extend(symbols.iter().map(|(s, v)| format!("s {s} {v}")));
    out
}

impl Dashboard {
    /// The member's pipeline over its lines: saves each partition's facts under
    /// `prefix-<time_ms>.txt/`; its snapshot counts what this member processed.
    pub fn build_member(lines: &DStream<String>, prefix: String) -> Dashboard {
        let latest = Arc::new(Mutex::new(Snapshot::default()));
        // Cached: both outputs read the batch's facts, and the records are read from Kafka
        // once (without it, the second output read the whole batch from the broker again).
        let facts = lines.map_partitions(|it| facts(it).into_iter()).cache();
        facts.save_as_text_files(prefix, "txt");
        let l = latest.clone();
        facts.foreach_rdd(move |rdd, time| {
            let mut batch = (0u64, 0u64, 0u64);
            for line in rdd.filter(|l| l.starts_with("n ")).collect()? {
                let v: Vec<u64> = line[2..]
                    .split(' ')
                    .filter_map(|x| x.parse().ok())
                    .collect();
                batch = (batch.0 + v[0], batch.1 + v[1], batch.2 + v[2]);
            }
            let mut s = l.lock();
            s.batch_time = Some(time);
            s.batches += 1;
            s.batch_orders = batch.0;
            s.batch_buys = batch.1;
            s.batch_sells = batch.0 - batch.1;
            s.batch_malformed = batch.2;
            s.totals = Totals {
                orders: s.totals.orders + batch.0,
                buys: s.totals.buys + batch.1,
                sells: s.totals.sells + batch.0 - batch.1,
                malformed: s.totals.malformed + batch.2,
            };
            Ok(())
        });
        Dashboard::from_snapshot(latest)
    }
}

/// The summary of every member's saved facts under `prefix` (symbols over the `window`
/// before the newest batch), as a single process would have computed it.
pub fn merge(prefix: &str, window: Duration) -> Result<Summary> {
    let prefix = Path::new(prefix);
    let dir = prefix.parent().unwrap_or(Path::new("."));
    let stem = format!(
        "{}-",
        prefix
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    );
    let mut batches: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(time) = name
            .strip_prefix(&stem)
            .and_then(|r| r.strip_suffix(".txt"))
            .and_then(|t| t.parse::<u64>().ok())
        else {
            continue;
        };
        let files = std::fs::read_dir(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
        for f in files.flatten() {
            if f.file_name().to_string_lossy().starts_with("part-") {
                let text = std::fs::read_to_string(f.path()).map_err(|e| Error::io(f.path(), e))?;
                batches
                    .entry(time)
                    .or_default()
                    .extend(text.lines().map(str::to_owned));
            }
        }
    }
    let newest = batches.keys().next_back().copied().unwrap_or(0);
    let since = newest.saturating_sub(window.as_millis() as u64);
    let (mut orders, mut buys, mut malformed) = (0u64, 0u64, 0u64);
    let mut clients: BTreeMap<u64, u64> = BTreeMap::new();
    let mut symbols: BTreeMap<String, u64> = BTreeMap::new();
    let bad = |line: &str| Error::user(format!("a saved fact cannot be read: {line:?}"));
    for (time, lines) in &batches {
        for line in lines {
            let v: Vec<&str> = line.split(' ').collect();
            let num = |i: usize| {
                v.get(i)
                    .and_then(|x| x.parse::<u64>().ok())
                    .ok_or_else(|| bad(line))
            };
            match v[0] {
                "n" => {
                    orders += num(1)?;
                    buys += num(2)?;
                    malformed += num(3)?;
                }
                "c" => *clients.entry(num(1)?).or_default() += num(2)?,
                "s" if *time > since => {
                    *symbols
                        .entry(v.get(1).ok_or_else(|| bad(line))?.to_string())
                        .or_default() += num(2)?
                }
                "s" => {}
                _ => return Err(bad(line)),
            }
        }
    }
    Ok(Summary {
        orders,
        buys,
        sells: orders - buys,
        malformed,
        top5_clients: crate::dashboard::top(clients.into_iter().collect(), 5)
            .into_iter()
            .map(|(id, c)| (id, c as f64 / 100.0))
            .collect(),
        top5_symbols: crate::dashboard::top(symbols.into_iter().collect(), 5),
        batches: batches.len() as u64,
        orders_per_sec: 0.0,
    })
}
