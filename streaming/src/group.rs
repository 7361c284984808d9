//! One job over several processes: the partitions of a group-partitioned input (Kafka's
//! consumer group decides which member reads which) and everything keyed by them — the
//! state of their keys, their offsets, their outputs — owned per partition.
//!
//! A member *gains* a partition by claiming it in the shared [`CheckpointStore`] under the
//! next generation ([`PartitionLease`]) and restoring its checkpoint; it *leaves* a partition
//! once no batch that read it is still running. Each batch, before any state changes, the
//! owner writes every partition's checkpoint for that batch: the batch's source data (a Kafka
//! range) and the state of the partition's keys *before* the batch. A member that takes over
//! runs that batch again — same range, same batch time, same state — so it rewrites the same
//! outputs and nothing is lost or counted twice. A write the store refuses (a newer
//! generation claimed the partition: this member was paused past its session, a zombie)
//! makes the member drop the partition, and its outputs for it are not written.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::checkpoint_store::{CheckpointStore, PartitionLease};
use crate::error::{Error, Result};
use crate::time::Time;

/// A batch a member runs again after taking a partition over: the batch time the previous
/// owner gave it, and the source's record of it (a Kafka range).
pub type Replay = (Time, Vec<u8>);

/// A stateful operator whose state is kept per partition of a group-partitioned input.
pub trait PartitionState: Send + Sync {
    /// The state of the keys of partition `slot`, encoded.
    fn save_slot(&self, slot: usize) -> Result<Vec<u8>>;
    /// Replaces the state of partition `slot` (`None`: empty) with the state before the
    /// batch at `time`.
    fn load_slot(&self, slot: usize, data: Option<&[u8]>, time: Time) -> Result<()>;
}

/// Encodes an operator's state of one partition (`what` names the operator in errors).
pub(crate) fn encode<T: Serialize>(what: &str, state: &T) -> Result<Vec<u8>> {
    bincode::serialize(state).map_err(|e| Error::CheckpointEncoding {
        stream: what.into(),
        reason: e.to_string(),
    })
}

/// Decodes what [`encode`] wrote; `None` (a partition nobody checkpointed) is empty.
pub(crate) fn decode<T: serde::de::DeserializeOwned + Default>(
    what: &str,
    data: Option<&[u8]>,
) -> Result<T> {
    match data {
        Some(d) => bincode::deserialize(d).map_err(|e| {
            Error::IllegalState(format!(
                "{what}: a partition's state cannot be decoded: {e}"
            ))
        }),
        None => Ok(T::default()),
    }
}

/// What a partition's checkpoint holds.
#[derive(Serialize, Deserialize)]
struct PartitionCheckpoint {
    /// The batch the checkpoint opens (its state is the state before this batch).
    time: Time,
    /// The source's record of the batch (a Kafka range).
    source: Vec<u8>,
    /// Each operator's state of the partition's keys, by [`PartitionState::state_id`].
    states: BTreeMap<String, Vec<u8>>,
}

/// One partition of one batch.
pub struct Slot {
    /// The partition's number (a Kafka partition): where its keys' state lives.
    pub slot: usize,
    /// Its name (`topic-partition`): output files and checkpoints are named by it.
    pub label: String,
    /// The batch time its outputs carry: the batch's own, or for a batch run again after a
    /// takeover, the time the previous owner gave it.
    pub time: Time,
    lease: Arc<PartitionLease>,
    /// Set when the partition's checkpoint could not be written for this batch (fenced, or
    /// the store failed): its outputs are not written.
    dead: AtomicBool,
}

impl Slot {
    /// Whether this member may still write the partition's outputs for the batch: its
    /// checkpoint was written and no newer generation has claimed the partition since.
    pub fn may_write(&self) -> Result<()> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(Error::IllegalState(format!(
                "partition {}: its checkpoint for batch {} was not written, so its outputs are left to whoever claims it next",
                self.label, self.time
            )));
        }
        self.lease.check()
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.label, self.time)
    }
}

struct Owned {
    label: String,
    lease: Arc<PartitionLease>,
    /// After a takeover: the batch to run again first (its time and source record).
    replay: Option<Replay>,
    /// No new batch reads it; it is let go once no running batch does.
    leaving: bool,
}

/// The partitions this member owns, their leases, and the batches reading them.
pub struct PartitionGroup {
    store: OnceLock<Arc<dyn CheckpointStore>>,
    member: String,
    owned: Mutex<BTreeMap<usize, Owned>>,
    /// The operators keeping state per partition (weak: they hold the services that hold
    /// the group).
    states: Mutex<Vec<Weak<dyn PartitionState>>>,
    /// Each running batch's partitions, in the order of its RDD's partitions.
    layouts: Mutex<BTreeMap<Time, Arc<Vec<Arc<Slot>>>>>,
    /// Partitions this member was fenced out of, and when: not claimed again until the group
    /// rebalances (else a resumed zombie would take them back from their new owner) or, if
    /// the group keeps giving them to this member, until `fence_grace` has passed (the other
    /// member claimed them in a rebalance this member saw together with the next one, which
    /// gave them back; by then it has let them go).
    fenced: Mutex<BTreeMap<usize, std::time::Instant>>,
    fence_grace: Mutex<std::time::Duration>,
    slots: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for PartitionGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionGroup")
            .field("member", &self.member)
            .field("owned", &self.owned.lock().keys().collect::<Vec<_>>())
            .finish()
    }
}

impl PartitionGroup {
    pub(crate) fn new(member: String) -> Self {
        PartitionGroup {
            store: OnceLock::new(),
            member,
            owned: Mutex::new(BTreeMap::new()),
            states: Mutex::new(Vec::new()),
            layouts: Mutex::new(BTreeMap::new()),
            fenced: Mutex::new(BTreeMap::new()),
            fence_grace: Mutex::new(std::time::Duration::from_secs(45)),
            slots: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// This member's name in claims.
    pub fn member(&self) -> &str {
        &self.member
    }

    /// Sets the store (once).
    pub(crate) fn set_store(&self, store: Arc<dyn CheckpointStore>) {
        let _ = self.store.set(store);
    }

    /// Whether the store is set.
    pub(crate) fn has_store(&self) -> bool {
        self.store.get().is_some()
    }

    /// The shared store.
    pub fn store(&self) -> Result<Arc<dyn CheckpointStore>> {
        self.store.get().cloned().ok_or_else(|| {
            Error::InvalidConfig(
                "a group-partitioned stream needs a checkpoint store: give the context a checkpoint directory (get_or_create) or a store".into(),
            )
        })
    }

    /// Registers an operator's per-partition state (held weakly: the operator holds the
    /// services that hold the group).
    pub(crate) fn register_state<T: PartitionState + 'static>(&self, state: &Arc<T>) {
        let weak: Weak<dyn PartitionState> = Arc::downgrade(state) as _;
        self.states.lock().push(weak);
    }

    /// One empty value per partition state is kept for ([`slots`](Self::slots)).
    pub(crate) fn per_slot<T: Default>(&self) -> Vec<Mutex<T>> {
        (0..self.slots().max(1))
            .map(|_| Mutex::new(T::default()))
            .collect()
    }

    /// The live operators, each with its name in checkpoints: its place among the
    /// operators (the same program registers them in the same order).
    fn live_states(&self) -> Vec<(String, Arc<dyn PartitionState>)> {
        self.states
            .lock()
            .iter()
            .enumerate()
            .filter_map(|(i, w)| Some((format!("state-{i}"), w.upgrade()?)))
            .collect()
    }

    /// How many partitions state is kept for (set by the source: the topic's partition
    /// count, with room to grow).
    pub fn slots(&self) -> usize {
        self.slots.load(Ordering::SeqCst)
    }

    /// Sets [`slots`](Self::slots); operators built after size their state by it.
    pub fn set_slots(&self, n: usize) {
        self.slots.store(n, Ordering::SeqCst);
    }

    /// The partitions new batches read, with the batch to run again first where a takeover
    /// left one (taken: it is run once).
    pub fn active(&self) -> Vec<(usize, String, Option<Replay>)> {
        self.owned
            .lock()
            .iter_mut()
            .filter(|(_, o)| !o.leaving)
            .map(|(s, o)| (*s, o.label.clone(), o.replay.take()))
            .collect()
    }

    /// The partitions new batches read (not those being let go).
    pub fn active_slots(&self) -> Vec<usize> {
        self.owned
            .lock()
            .iter()
            .filter(|(_, o)| !o.leaving)
            .map(|(s, _)| *s)
            .collect()
    }

    /// How many partitions new batches read.
    pub fn active_count(&self) -> usize {
        self.owned.lock().values().filter(|o| !o.leaving).count()
    }

    /// Whether this member owns `slot` (leaving or not).
    pub fn owns(&self, slot: usize) -> bool {
        self.owned.lock().contains_key(&slot)
    }

    /// Whether a running batch reads `slot`.
    fn busy(&self, slot: usize) -> bool {
        self.layouts
            .lock()
            .values()
            .any(|l| l.iter().any(|s| s.slot == slot))
    }

    /// The group rebalanced: what it assigns now is its new decision, so partitions this
    /// member was fenced out of may be claimed again if assigned; partitions this member
    /// holds under a claim another member has superseded meanwhile (it was paused through
    /// the rebalance) are let go, to be claimed afresh if the group gave them back.
    pub fn rebalanced(&self) -> Result<()> {
        self.fenced.lock().clear();
        let held: Vec<(usize, Arc<PartitionLease>)> = self
            .owned
            .lock()
            .iter()
            .map(|(s, o)| (*s, o.lease.clone()))
            .collect();
        for (slot, lease) in held {
            match lease.check() {
                Ok(()) => {}
                Err(e @ Error::Fenced { .. }) => {
                    log::info!("member {}: {e}", self.member);
                    self.leave(slot);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// How long a partition this member was fenced out of stays unclaimed while no rebalance
    /// comes (the group's session timeout: by then a member that claimed it has heard that
    /// the group moved it on). Default 45 s, Kafka's.
    pub fn set_fence_grace(&self, grace: std::time::Duration) {
        *self.fence_grace.lock() = grace;
    }

    /// Claims `slot` (named `label`) and restores its state. Not done while a batch that read
    /// the partition before is still running, or after this member was fenced out of it
    /// (until the group rebalances or the fence grace passes): `Ok(false)`.
    pub fn gain(&self, slot: usize, label: &str) -> Result<bool> {
        let grace = *self.fence_grace.lock();
        let fenced = self
            .fenced
            .lock()
            .get(&slot)
            .is_some_and(|at| at.elapsed() < grace);
        if self.owns(slot) || self.busy(slot) || fenced {
            return Ok(false);
        }
        if slot >= self.slots() {
            return Err(Error::IllegalState(format!(
                "partition {label} is beyond the {} partitions this member keeps state for; restart the members to take the topic's new partitions",
                self.slots()
            )));
        }
        let store = self.store()?;
        let (lease, restored) = PartitionLease::acquire(store, label, &self.member)?;
        let (replay, states) = match restored {
            Some(r) => {
                let c: PartitionCheckpoint = bincode::deserialize(&r.data).map_err(|e| {
                    Error::IllegalState(format!(
                        "the checkpoint of partition {label} cannot be decoded: {e}"
                    ))
                })?;
                (Some((c.time, c.source)), c.states)
            }
            None => (None, BTreeMap::new()),
        };
        let before = replay.as_ref().map_or(Time::ZERO, |(t, _)| *t);
        for (id, s) in self.live_states() {
            s.load_slot(slot, states.get(&id).map(Vec::as_slice), before)?;
        }
        log::info!(
            "member {}: gained partition {label} (generation {}){}",
            self.member,
            lease.generation(),
            match &replay {
                Some((t, _)) => format!(", running batch {t} again first"),
                None => String::new(),
            }
        );
        self.owned.lock().insert(
            slot,
            Owned {
                label: label.to_owned(),
                lease: Arc::new(lease),
                replay,
                leaving: false,
            },
        );
        Ok(true)
    }

    /// Stops reading `slot` in new batches; it is let go once no running batch reads it.
    pub fn leave(&self, slot: usize) {
        if let Some(o) = self.owned.lock().get_mut(&slot) {
            o.leaving = true;
        }
        self.let_go();
    }

    /// Lets go of leaving partitions no running batch reads: their state is dropped.
    fn let_go(&self) {
        let gone: Vec<usize> = self
            .owned
            .lock()
            .iter()
            .filter(|(s, o)| o.leaving && !self.busy(**s))
            .map(|(s, _)| *s)
            .collect();
        for slot in gone {
            let Some(o) = self.owned.lock().remove(&slot) else {
                continue;
            };
            for (_, s) in self.live_states() {
                if let Err(e) = s.load_slot(slot, None, Time::ZERO) {
                    log::warn!("partition {}: dropping its state failed: {e}", o.label);
                }
            }
            log::info!("member {}: let go of partition {}", self.member, o.label);
        }
    }

    /// Opens the batch at `time` over `slots` (partition, batch time for its outputs, source
    /// record), in the order of the batch RDD's partitions. Returns the batch's first work:
    /// it writes each partition's checkpoint before any state changes.
    pub(crate) fn begin_batch(
        self: &Arc<Self>,
        time: Time,
        slots: Vec<(usize, Time, Vec<u8>)>,
    ) -> Box<dyn FnOnce() -> Result<()> + Send> {
        let owned = self.owned.lock();
        let layout: Vec<(Arc<Slot>, Vec<u8>)> = slots
            .into_iter()
            .filter_map(|(slot, t, source)| {
                let o = owned.get(&slot)?;
                Some((
                    Arc::new(Slot {
                        slot,
                        label: o.label.clone(),
                        time: t,
                        lease: o.lease.clone(),
                        dead: AtomicBool::new(false),
                    }),
                    source,
                ))
            })
            .collect();
        drop(owned);
        self.layouts.lock().insert(
            time,
            Arc::new(layout.iter().map(|(s, _)| s.clone()).collect()),
        );
        let group = self.clone();
        Box::new(move || {
            for (slot, source) in layout {
                if let Err(e) = group.commit(&slot, source) {
                    slot.dead.store(true, Ordering::SeqCst);
                    if matches!(e, Error::Fenced { .. }) {
                        group
                            .fenced
                            .lock()
                            .insert(slot.slot, std::time::Instant::now());
                    }
                    log::warn!(
                        "member {}: partition {} dropped: {e}",
                        group.member,
                        slot.label
                    );
                    group.leave(slot.slot);
                }
            }
            Ok(())
        })
    }

    fn commit(&self, slot: &Slot, source: Vec<u8>) -> Result<()> {
        let mut states = BTreeMap::new();
        for (id, s) in self.live_states() {
            states.insert(id, s.save_slot(slot.slot)?);
        }
        let c = PartitionCheckpoint {
            time: slot.time,
            source,
            states,
        };
        let bytes = bincode::serialize(&c).map_err(|e| {
            Error::IllegalState(format!("partition checkpoint encoding failed: {e}"))
        })?;
        slot.lease.commit(slot.time, &bytes)
    }

    /// The partitions of the batch at `time`, in the order of its RDD's partitions (`None`
    /// for a batch the group did not open).
    pub fn layout(&self, time: Time) -> Option<Arc<Vec<Arc<Slot>>>> {
        self.layouts.lock().get(&time).cloned()
    }

    /// [`layout`](Self::layout) for an operator of the job: an error if the batch has none.
    pub(crate) fn layout_at(&self, time: Time) -> Result<Arc<Vec<Arc<Slot>>>> {
        self.layout(time).ok_or_else(|| {
            Error::IllegalState(format!(
                "batch {time} of a group-partitioned job has no partition layout"
            ))
        })
    }
}

/// Checks that `what` reads one RDD partition per input partition of its batch (`layout`):
/// its data stays with its input partition, so only narrow operations may come between.
pub(crate) fn check_partitions(what: &str, partitions: usize, layout: usize) -> Result<()> {
    if partitions != layout {
        return Err(Error::InvalidGraph(format!(
            "{what} in a group-partitioned job reads {partitions} partitions for {layout} input partitions: its data stays with its input partition, so only narrow operations (map, filter, flat_map) may come between the input and it"
        )));
    }
    Ok(())
}

impl PartitionGroup {
    /// The batch at `time` is done: partitions waiting for it are let go.
    pub fn batch_completed(&self, time: Time) {
        self.layouts.lock().remove(&time);
        self.let_go();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::checkpoint_store::LocalDirStore;

    /// A state that is one byte string per partition.
    #[derive(Default)]
    struct Bytes(Mutex<BTreeMap<usize, Vec<u8>>>);

    impl PartitionState for Bytes {
        fn save_slot(&self, slot: usize) -> Result<Vec<u8>> {
            Ok(self.0.lock().get(&slot).cloned().unwrap_or_default())
        }
        fn load_slot(&self, slot: usize, data: Option<&[u8]>, _time: Time) -> Result<()> {
            let mut m = self.0.lock();
            match data {
                Some(d) => m.insert(slot, d.to_vec()),
                None => m.remove(&slot),
            };
            Ok(())
        }
    }

    fn member(store: &Arc<dyn CheckpointStore>, name: &str) -> (Arc<PartitionGroup>, Arc<Bytes>) {
        let g = Arc::new(PartitionGroup::new(name.into()));
        g.set_store(store.clone());
        g.set_slots(4);
        let state = Arc::new(Bytes::default());
        g.register_state(&state);
        (g, state)
    }

    fn t(ms: u64) -> Time {
        Time::from_millis(ms)
    }

    /// Runs batch `time` of `g` over `slot` with `source`, writing `state` after it.
    fn batch(g: &Arc<PartitionGroup>, state: &Bytes, time: Time, source: &[u8], after: &[u8]) {
        let work = g.begin_batch(time, vec![(1, time, source.to_vec())]);
        work().unwrap();
        state.0.lock().insert(1, after.to_vec());
    }

    #[test]
    fn a_new_owner_restores_the_state_before_the_unfinished_batch_and_runs_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn CheckpointStore> = Arc::new(LocalDirStore::new(dir.path()).unwrap());
        let (a, a_state) = member(&store, "a");
        assert!(a.gain(1, "orders-1").unwrap());
        assert_eq!(a.active(), vec![(1, "orders-1".to_string(), None)]);
        batch(&a, &a_state, t(1000), b"range 0..10", b"sum 10");
        a.batch_completed(t(1000));
        // Batch 2000's checkpoint is written (state before it: "sum 10"), then a dies.
        batch(&a, &a_state, t(2000), b"range 10..25", b"sum 25");
        let (b, b_state) = member(&store, "b");
        assert!(b.gain(1, "orders-1").unwrap());
        assert_eq!(b_state.0.lock().get(&1).unwrap(), b"sum 10");
        assert_eq!(
            b.active(),
            vec![(
                1,
                "orders-1".to_string(),
                Some((t(2000), b"range 10..25".to_vec()))
            )]
        );
        assert_eq!(b.active()[0].2, None, "the re-run is handed out once");
    }

    #[test]
    fn partitions_up_to_the_reserved_count_are_claimed_and_one_beyond_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn CheckpointStore> = Arc::new(LocalDirStore::new(dir.path()).unwrap());
        let (a, _) = member(&store, "a");
        // The topic grew from 1 to 4 partitions: all within the 4 reserved.
        for p in 0..4 {
            assert!(a.gain(p, &format!("orders-{p}")).unwrap());
        }
        let err = a.gain(4, "orders-4").unwrap_err().to_string();
        assert!(err.contains("restart the members"), "{err}");
    }

    #[test]
    fn a_partition_left_while_a_batch_reads_it_is_let_go_when_the_batch_completes() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn CheckpointStore> = Arc::new(LocalDirStore::new(dir.path()).unwrap());
        let (a, a_state) = member(&store, "a");
        a.gain(1, "orders-1").unwrap();
        batch(&a, &a_state, t(1000), b"r", b"s1");
        a.leave(1);
        assert!(a.owns(1), "batch 1000 still reads it");
        assert!(a.active().is_empty(), "no new batch reads it");
        assert_eq!(a_state.0.lock().get(&1).unwrap(), b"s1");
        a.batch_completed(t(1000));
        assert!(!a.owns(1));
        assert!(a_state.0.lock().get(&1).is_none(), "its state is dropped");
    }

    #[test]
    fn a_fenced_member_writes_nothing_and_claims_again_only_after_a_rebalance() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn CheckpointStore> = Arc::new(LocalDirStore::new(dir.path()).unwrap());
        let (a, a_state) = member(&store, "a");
        a.gain(1, "orders-1").unwrap();
        batch(&a, &a_state, t(1000), b"r1", b"s1");
        a.batch_completed(t(1000));
        // a pauses; b claims the partition.
        let (b, _) = member(&store, "b");
        b.gain(1, "orders-1").unwrap();
        // a resumes and runs its next batch: its checkpoint is refused, its outputs too.
        let work = a.begin_batch(t(2000), vec![(1, t(2000), b"r2".to_vec())]);
        work().unwrap();
        let slot = a.layout(t(2000)).unwrap()[0].clone();
        assert!(slot.may_write().is_err());
        a.batch_completed(t(2000));
        assert!(!a.owns(1));
        assert!(
            !a.gain(1, "orders-1").unwrap(),
            "no claim back before the group decides"
        );
        let newest = PartitionLease::latest(&*store, "orders-1")
            .unwrap()
            .unwrap();
        assert_eq!(
            newest.time,
            t(1000),
            "a's refused checkpoint is not what counts"
        );
        // Had the group kept giving it to a without a rebalance a sees (b claimed it in one a
        // saw together with the next), a claims it once the fence grace passes.
        a.set_fence_grace(std::time::Duration::ZERO);
        assert!(a.gain(1, "orders-1").unwrap());
        a.leave(1);
        let (c, _) = member(&store, "c");
        c.gain(1, "orders-1").unwrap();
        // The group rebalances and gives it to a: a claims it afresh, c is fenced.
        a.rebalanced().unwrap();
        assert!(a.gain(1, "orders-1").unwrap());
        c.rebalanced().unwrap();
        assert!(c.active().is_empty(), "c lets go of its superseded claim");
        let _ = b;
    }
}
