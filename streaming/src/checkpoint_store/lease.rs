//! Generation fencing of per-partition checkpoints.
//!
//! Under `partitions/<partition>/` a store holds claims `claim-<generation>` and checkpoints
//! `ckpt-<generation>-<batch time>`. A member that gains a partition creates the next claim
//! (`put_new`: one of several racing members wins) and records in it which checkpoint it
//! continues from. What counts from then on is the newest claim's own checkpoints, or, while
//! it has none, the one its claim names: a checkpoint an older owner writes after the claim
//! (a zombie, paused past its session and resumed) is never read, and the old owner learns
//! it was fenced when it checks after writing.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::CheckpointStore;
use crate::error::{Error, Result};
use crate::time::Time;

/// How many of its own newest checkpoints an owner keeps (at least two: a member claiming
/// the partition may have listed the store just before the newest one was written).
const KEEP: usize = 3;

/// What a claim records.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct Claim {
    member: String,
    generation: u64,
    /// The checkpoint the claimant continues from: (generation, batch time in ms).
    from: Option<(u64, u64)>,
}

/// A checkpoint a new owner continues from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The batch the checkpoint was written for.
    pub time: Time,
    /// The generation of the owner that wrote it.
    pub generation: u64,
    /// What the owner wrote.
    pub data: Vec<u8>,
}

/// The ownership of one partition's checkpoints by one member, for one generation.
///
/// ```
/// use std::sync::Arc;
/// use emberflow_streaming::Time;
/// use emberflow_streaming::checkpoint_store::{LocalDirStore, PartitionLease};
/// let dir = tempfile::tempdir()?;
/// let store = Arc::new(LocalDirStore::new(dir.path())?);
/// let (a, restored) = PartitionLease::acquire(store.clone(), "orders-0", "member-a")?;
/// assert!(restored.is_none());
/// a.commit(Time::from_millis(1000), b"offset 10")?;
/// // member-a pauses; the group gives the partition to member-b, which carries on.
/// let (b, restored) = PartitionLease::acquire(store.clone(), "orders-0", "member-b")?;
/// assert_eq!(restored.unwrap().data, b"offset 10");
/// // member-a resumes: it is fenced, and what it wrote is never read.
/// assert!(a.commit(Time::from_millis(2000), b"offset 20").is_err());
/// b.commit(Time::from_millis(2000), b"offset 25")?;
/// assert_eq!(PartitionLease::latest(&*store, "orders-0")?.unwrap().data, b"offset 25");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PartitionLease {
    store: Arc<dyn CheckpointStore>,
    partition: String,
    member: String,
    generation: u64,
}

impl std::fmt::Debug for PartitionLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionLease")
            .field("partition", &self.partition)
            .field("member", &self.member)
            .field("generation", &self.generation)
            .finish()
    }
}

fn dir(partition: &str) -> String {
    format!("partitions/{partition}/")
}

fn claim_name(partition: &str, generation: u64) -> String {
    format!("{}claim-{generation:020}", dir(partition))
}

fn ckpt_name(partition: &str, generation: u64, time_ms: u64) -> String {
    format!("{}ckpt-{generation:020}-{time_ms:020}", dir(partition))
}

/// The numbers that follow `prefix` in the store's names, ascending (names are
/// zero-padded, so the store's order is numeric).
fn numbered(store: &dyn CheckpointStore, prefix: &str) -> Result<Vec<u64>> {
    Ok(store
        .list(prefix)?
        .iter()
        .filter_map(|n| n.strip_prefix(prefix)?.parse().ok())
        .collect())
}

/// The generations claimed so far, ascending.
fn claims(store: &dyn CheckpointStore, partition: &str) -> Result<Vec<u64>> {
    numbered(store, &format!("{}claim-", dir(partition)))
}

/// The checkpoints of `generation`, by batch time ascending.
fn ckpts(store: &dyn CheckpointStore, partition: &str, generation: u64) -> Result<Vec<u64>> {
    numbered(store, &format!("{}ckpt-{generation:020}-", dir(partition)))
}

fn read_claim(store: &dyn CheckpointStore, partition: &str, generation: u64) -> Result<Claim> {
    let name = claim_name(partition, generation);
    let bytes = store.get(&name)?.ok_or_else(|| {
        Error::IllegalState(format!("claim {name} in {} vanished", store.describe()))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::IllegalState(format!(
            "claim {name} in {} cannot be read: {e}",
            store.describe()
        ))
    })
}

/// The checkpoint that counts now: (generation, time).
fn current(store: &dyn CheckpointStore, partition: &str) -> Result<Option<(u64, u64)>> {
    let Some(&newest) = claims(store, partition)?.last() else {
        return Ok(None);
    };
    if let Some(&t) = ckpts(store, partition, newest)?.last() {
        return Ok(Some((newest, t)));
    }
    Ok(read_claim(store, partition, newest)?.from)
}

fn load(store: &dyn CheckpointStore, partition: &str, at: (u64, u64)) -> Result<Restored> {
    let name = ckpt_name(partition, at.0, at.1);
    let data = store.get(&name)?.ok_or_else(|| {
        Error::IllegalState(format!(
            "checkpoint {name} in {} is named by a claim but missing",
            store.describe()
        ))
    })?;
    Ok(Restored {
        time: Time::from_millis(at.1),
        generation: at.0,
        data,
    })
}

impl PartitionLease {
    /// Claims `partition` for `member` under the next generation and returns the checkpoint
    /// it continues from (`None` for a partition nobody checkpointed yet). From now on, no
    /// checkpoint of an older generation counts.
    pub fn acquire(
        store: Arc<dyn CheckpointStore>,
        partition: &str,
        member: &str,
    ) -> Result<(PartitionLease, Option<Restored>)> {
        loop {
            let newest = claims(&*store, partition)?.last().copied().unwrap_or(0);
            let from = current(&*store, partition)?;
            let generation = newest + 1;
            let claim = Claim {
                member: member.to_owned(),
                generation,
                from,
            };
            let bytes = serde_json::to_vec(&claim).expect("a claim serialises");
            if !store.put_new(&claim_name(partition, generation), &bytes)? {
                continue; // another member claimed this generation first: look again
            }
            log::info!(
                "partition {partition}: claimed by {member}, generation {generation}, continuing from {from:?}"
            );
            let restored = from.map(|at| load(&*store, partition, at)).transpose()?;
            let lease = PartitionLease {
                store,
                partition: partition.to_owned(),
                member: member.to_owned(),
                generation,
            };
            return Ok((lease, restored));
        }
    }

    /// The checkpoint a member claiming `partition` now would continue from.
    pub fn latest(store: &dyn CheckpointStore, partition: &str) -> Result<Option<Restored>> {
        current(store, partition)?
            .map(|at| load(store, partition, at))
            .transpose()
    }

    /// The partition.
    pub fn partition(&self) -> &str {
        &self.partition
    }

    /// The generation this lease claimed.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The member holding the lease.
    pub fn member(&self) -> &str {
        &self.member
    }

    /// `Ok` while no newer generation claimed the partition; [`Error::Fenced`] after.
    /// Outputs check it right before they write.
    pub fn check(&self) -> Result<()> {
        let newest = claims(&*self.store, &self.partition)?
            .last()
            .copied()
            .unwrap_or(0);
        self.fenced_by(newest)
    }

    /// Writes the partition's checkpoint of the batch at `time`. [`Error::Fenced`] if a
    /// newer generation claimed the partition: what was written then never counts.
    pub fn commit(&self, time: Time, data: &[u8]) -> Result<()> {
        // Checked before, so a member that knows it lost the partition writes nothing, and
        // after, because a claim may come while the checkpoint is written.
        self.check()?;
        self.store.put(
            &ckpt_name(&self.partition, self.generation, time.millis()),
            data,
        )?;
        // One listing of the partition serves the check after and the pruning.
        let prefix = dir(&self.partition);
        let names = self.store.list(&prefix)?;
        let newest = names
            .iter()
            .filter_map(|n| {
                n.strip_prefix(&prefix)?
                    .strip_prefix("claim-")?
                    .parse()
                    .ok()
            })
            .max()
            .unwrap_or(0);
        self.fenced_by(newest)?;
        // Older checkpoints: this generation's beyond the newest few, and every older
        // generation's (the next claimant reads only this generation's now).
        let ckpts: Vec<(u64, u64)> = names
            .iter()
            .filter_map(|n| {
                let (g, t) = n
                    .strip_prefix(&prefix)?
                    .strip_prefix("ckpt-")?
                    .split_once('-')?;
                Some((g.parse().ok()?, t.parse().ok()?))
            })
            .collect();
        let own = ckpts.iter().filter(|(g, _)| *g == self.generation).count();
        let mut own_seen = 0;
        for (g, t) in ckpts {
            let old_own = g == self.generation && {
                own_seen += 1;
                own_seen <= own.saturating_sub(KEEP)
            };
            if g < self.generation || old_own {
                self.store.delete(&ckpt_name(&self.partition, g, t))?;
            }
        }
        Ok(())
    }

    /// `Err(Fenced)` if `newest` is a newer generation than this lease's.
    fn fenced_by(&self, newest: u64) -> Result<()> {
        if newest > self.generation {
            return Err(Error::Fenced {
                partition: self.partition.clone(),
                generation: self.generation,
                newer: newest,
            });
        }
        Ok(())
    }
}

/// Records the graph's fingerprint in the store the first time; later members must bring
/// the same one ([`Error::GraphMismatch`] otherwise), so a member started with an
/// incompatible program is refused before it touches any partition.
pub fn check_graph(store: &dyn CheckpointStore, fingerprint: &str) -> Result<()> {
    if store.put_new("graph", fingerprint.as_bytes())? {
        return Ok(());
    }
    let recorded = store.get("graph")?.unwrap_or_default();
    let recorded = String::from_utf8_lossy(&recorded);
    if recorded != fingerprint {
        return Err(Error::GraphMismatch {
            expected: recorded.into_owned(),
            found: fingerprint.to_owned(),
        });
    }
    Ok(())
}
