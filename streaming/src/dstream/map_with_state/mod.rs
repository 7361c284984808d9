//! `map_with_state` (Spark's MapWithStateDStream), incremental: the state lives in one hash
//! map per partition, updated in place for the keys a batch touches, so a batch costs in
//! proportion to its records, not to the whole state. Idle keys are found through an index
//! of keys by last-update time, so timeouts cost in proportion to the keys that expire.
//!
//! The batch is applied once, by the batch's first job on the job executor (a job over the
//! batch's records, partitioned like the state), all or nothing per partition; the mapped
//! records of each partition are the stream's RDD for that batch. `state_snapshots()` copies the whole state every batch, so it
//! costs what Spark's does.

use std::collections::BTreeMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::{Data, Partitioner, Rdd};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::dstream::event_time::EventTime;
use crate::dstream::state_spec::MappingFn;
pub use crate::dstream::state_spec::{State, StateSpec};
use crate::dstream::stateful::{LateRdd, Slot};
use crate::dstream::DStreamInner;
use crate::error::Result;
use crate::plumbing::{DStreamBase, DStreamNode};
use crate::state_store::StateStore;
use crate::time::Time;
pub use stream::MapWithStateDStream;

mod event_time;
mod stream;
mod table;

use table::Table;

#[derive(Clone)]
struct Entry<S> {
    /// Always `Some` between calls; taken while the mapping function holds it.
    value: Option<S>,
    /// The last batch that brought the key a value.
    touched: Time,
    /// The event time past which the watermark times the key out
    /// (`State::set_timeout_timestamp`), in ms; [`NO_DEADLINE`] when none. A bare `i64`,
    /// not an `Option`: the entry stays 8 bytes smaller, and a table of millions of keys is
    /// bound by the memory its lookups touch.
    deadline: i64,
}

/// Table size (bytes of buckets) above which a partition's updates fetch their keys' entries
/// ahead.
const PREFETCH_ABOVE: usize = 4 << 20;
/// How many keys are fetched ahead at a time.
const PREFETCH_GROUP: usize = 16;

/// An entry's deadline when it has none.
const NO_DEADLINE: i64 = i64::MIN;

impl<S> Entry<S> {
    fn deadline(&self) -> Option<EventTime> {
        (self.deadline != NO_DEADLINE).then(|| EventTime::from_millis(self.deadline))
    }
}

/// An event-time timeout as an entry stores it.
fn deadline_of(t: Option<EventTime>) -> i64 {
    t.map_or(NO_DEADLINE, EventTime::millis)
}

struct StatePartition<K, S> {
    map: Table<K, Entry<S>>,
    /// Keys by the batch that last touched them; an entry is stale when the key was touched
    /// again later (checked against `map` when popped).
    by_time: BTreeMap<Time, Vec<K>>,
}

/// What a batch changed in a state partition, to put back if the mapping function panics.
/// Keys the batch added are not listed: they are the ones touched at the batch's time once
/// the listed entries are back.
struct Undo<K, S> {
    /// Each existing key's entry before the batch changed it, in change order.
    entries: Vec<(K, Entry<S>)>,
    /// Timeout buckets taken out.
    buckets: Vec<(Time, Vec<K>)>,
    /// Whether the batch added keys.
    added: bool,
}

impl<K, S> Default for Undo<K, S> {
    fn default() -> Self {
        Undo {
            entries: Vec::new(),
            buckets: Vec::new(),
            added: false,
        }
    }
}

impl<K: Hash + Eq, S> Undo<K, S> {
    /// Puts the partition back as it was before the batch at `time`.
    fn roll_back(self, p: &mut StatePartition<K, S>, time: Time) {
        for (k, before) in self.entries.into_iter().rev() {
            p.map.insert(k, before);
        }
        if self.added {
            p.map.retain(|_, e| e.touched != time);
        }
        p.by_time.remove(&time);
        for (t, keys) in self.buckets {
            p.by_time.insert(t, keys);
        }
    }
}

impl<K: Hash + Eq + Clone, S> StatePartition<K, S> {
    /// Puts in a key's state from outside the batches (an initial or restored state), as
    /// touched at `time`: its idle time restarts there. `track`: the spec has a timeout.
    fn restore(&mut self, k: K, s: S, time: Time, track: bool) {
        if track {
            self.by_time.entry(time).or_default().push(k.clone());
        }
        self.map.insert(
            k,
            Entry {
                value: Some(s),
                touched: time,
                deadline: NO_DEADLINE,
            },
        );
    }
}

impl<K, S> Default for StatePartition<K, S> {
    fn default() -> Self {
        StatePartition {
            map: Table::default(),
            by_time: BTreeMap::new(),
        }
    }
}

struct Shared<K: 'static, V, S: 'static, U> {
    func: Arc<MappingFn<K, V, S, U>>,
    partitioner: Arc<dyn Partitioner<K>>,
    timeout: Option<Duration>,
    parts: Vec<Mutex<StatePartition<K, S>>>,
    initial: Mutex<Option<Rdd<(K, S)>>>,
    snapshots_wanted: std::sync::atomic::AtomicBool,
    /// The state after each recent batch, filled by the batch's state update when
    /// `state_snapshots` or the checkpoint needs it.
    snapshots: Mutex<BTreeMap<Time, Slot<(K, S)>>>,
    store: StateStore,
    /// The newest batch applied to the state; after a restart, the batches between the
    /// restored state and the next one asked for are replayed.
    applied_through: Mutex<Option<Time>>,
    /// Records applied since the batch's update began (for the state's metrics).
    batch_updates: std::sync::atomic::AtomicU64,
    /// On an event stream: its watermark times states out (`State::set_timeout_timestamp`).
    event_time: Option<EventTimeHook<K, V>>,
    /// On an event stream: the state's inline checkpoint (set once, after `Shared` exists).
    inline: std::sync::OnceLock<event_time::Inline<U>>,
}

/// The watermark of the event stream `map_with_state` reads, and its records' event times.
pub(crate) type EventTimeHook<K, V> = (
    Arc<crate::dstream::event_time::Watermark>,
    crate::dstream::event_time::TimeOf<(K, V)>,
);

impl<K, V, S, U> Shared<K, V, S, U>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data,
    S: Data + Serialize + DeserializeOwned,
    U: Data,
{
    /// Applies one partition of the batch at `time` to its state; returns what the function
    /// emitted. All or nothing: if the mapping function panics, every change this batch made
    /// to the partition is undone before the panic goes on (failing the batch).
    fn apply(
        &self,
        part: usize,
        records: &mut dyn Iterator<Item = (K, V)>,
        time: Time,
        watermark: Option<EventTime>,
    ) -> Vec<U> {
        let mut p = self.parts[part].lock();
        let mut undo = Undo::default();
        let mut applied = 0u64;
        let mut counted = records.inspect(|_| applied += 1);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.apply_logged(&mut p, &mut counted, time, watermark, &mut undo)
        }));
        self.batch_updates
            .fetch_add(applied, std::sync::atomic::Ordering::Relaxed);
        match result {
            Ok(out) => out,
            Err(panic) => {
                undo.roll_back(&mut p, time);
                std::panic::resume_unwind(panic)
            }
        }
    }

    fn apply_logged(
        &self,
        p: &mut StatePartition<K, S>,
        records: &mut dyn Iterator<Item = (K, V)>,
        time: Time,
        watermark: Option<EventTime>,
        undo: &mut Undo<K, S>,
    ) -> Vec<U> {
        let StatePartition { map, by_time } = p;
        let mut out = Vec::new();
        let track = self.timeout.is_some();
        // A table larger than the cache makes each lookup a wait on memory: the lines a group
        // of keys' lookups read are fetched together first, so the waits overlap and the
        // updates below find them in cache.
        let prefetch = map.bytes() > PREFETCH_ABOVE;
        let mut group: Vec<(u64, K, V)> =
            Vec::with_capacity(if prefetch { PREFETCH_GROUP } else { 0 });
        loop {
            let (hash, k, v) = if prefetch {
                if group.is_empty() {
                    group.extend(
                        (&mut *records)
                            .take(PREFETCH_GROUP)
                            .map(|(k, v)| (table::hash(&k), k, v)),
                    );
                    if let Some(ahead) = map.prefetcher() {
                        for (hash, _, _) in &group {
                            ahead.fetch(*hash);
                        }
                    }
                    group.reverse();
                }
                match group.pop() {
                    Some(r) => r,
                    None => break,
                }
            } else {
                match records.next() {
                    Some((k, v)) => (table::hash(&k), k, v),
                    None => break,
                }
            };
            // One lookup for a key that has state (the common case): the value is taken out
            // for the function and put back, or the entry removed.
            if let Some(entry) = map.get_hashed_mut(hash, &k) {
                undo.entries.push((k.clone(), entry.clone()));
                // A call with data clears the event-time timeout: the function sets it anew.
                let mut state = State::new(entry.value.take(), false);
                if let Some(u) = (self.func)(time, &k, Some(v), &mut state) {
                    out.push(u);
                }
                match state.value {
                    Some(value) => {
                        entry.value = Some(value);
                        entry.touched = time;
                        entry.deadline = deadline_of(state.timeout_at);
                        if track {
                            by_time.entry(time).or_default().push(k);
                        }
                    }
                    None => {
                        map.remove(&k);
                    }
                }
                continue;
            }
            let mut state = State::new(None, false);
            if let Some(u) = (self.func)(time, &k, Some(v), &mut state) {
                out.push(u);
            }
            if let Some(value) = state.value {
                if track {
                    by_time.entry(time).or_default().push(k.clone());
                }
                undo.added = true;
                map.insert_new(
                    hash,
                    k,
                    Entry {
                        value: Some(value),
                        touched: time,
                        deadline: deadline_of(state.timeout_at),
                    },
                );
            }
        }
        if let Some(wm) = watermark {
            // Keys whose event-time timeout the watermark passed (Spark: timestamp <
            // watermark); a scan of the partition, once per batch.
            let expired: Vec<K> = map
                .iter()
                .filter(|(_, e)| e.deadline().is_some_and(|d| d < wm))
                .map(|(k, _)| k.clone())
                .collect();
            for k in expired {
                let Some(e) = map.remove(&k) else { continue };
                undo.entries.push((k.clone(), e.clone()));
                let deadline = e.deadline();
                let mut state = State::new(e.value, true);
                state.timeout_at = deadline;
                if let Some(u) = (self.func)(time, &k, None, &mut state) {
                    out.push(u);
                }
            }
        }
        if let Some(idle) = self.timeout {
            // Keys whose last value came at or before `time - idle` have been idle for `idle`.
            let limit = time.saturating_sub(idle);
            while let Some(entry) = by_time.first_entry() {
                if *entry.key() > limit {
                    break;
                }
                let (touched, keys) = entry.remove_entry();
                undo.buckets.push((touched, keys.clone()));
                for k in keys {
                    let expired = map.get(&k).is_some_and(|e| e.touched == touched);
                    if !expired {
                        continue;
                    }
                    let e = map.remove(&k).expect("checked above");
                    undo.entries.push((k.clone(), e.clone()));
                    let mut state = State::new(e.value, true);
                    if let Some(u) = (self.func)(time, &k, None, &mut state) {
                        out.push(u);
                    }
                }
            }
        }
        out
    }

    fn load_initial(&self, zero: Time) -> Result<()> {
        let Some(init) = self.initial.lock().take() else {
            return Ok(());
        };
        self.load(&init, zero)
    }

    /// Puts every `(key, state)` of `rdd` into the state, as touched at `time`.
    fn load(&self, rdd: &Rdd<(K, S)>, time: Time) -> Result<()> {
        rdd.partition_by(self.partitioner.clone())
            .run_job(|tc, it| {
                let mut p = self.parts[tc.partition()].lock();
                let track = self.timeout.is_some();
                for (k, s) in it {
                    p.restore(k, s, time, track);
                }
                Ok(())
            })?;
        Ok(())
    }

    /// Replaces the state with a checkpointed one (as of the batch `time`, which it includes),
    /// or with nothing (the initial state is loaded again) when there is none before the
    /// batch being computed.
    fn reset_to(&self, state: Option<(Time, Rdd<(K, S)>)>) -> Result<()> {
        for p in &self.parts {
            *p.lock() = StatePartition::default();
        }
        let Some((time, state)) = state else {
            *self.applied_through.lock() = None;
            return Ok(());
        };
        // Keys count as touched at `time`: their idle time restarts from it.
        self.load(&state, time)?;
        *self.initial.lock() = None;
        *self.applied_through.lock() = Some(time);
        Ok(())
    }

    fn snapshot(&self, ctx: &emberflow_core::Context) -> Rdd<(K, S)> {
        let parts: Vec<Arc<Vec<(K, S)>>> = self
            .parts
            .iter()
            .map(|p| {
                Arc::new(
                    p.lock()
                        .map
                        .iter()
                        .filter_map(|(k, e)| e.value.clone().map(|v| (k.clone(), v)))
                        .collect(),
                )
            })
            .collect();
        ctx.parallelize_partitions(parts)
    }
}

struct MapWithStateNode<K: 'static, V: 'static, S: 'static, U> {
    parent: Arc<DStreamInner<(K, V)>>,
    shared: Arc<Shared<K, V, S, U>>,
}

/// Applies the parent's batch at `time` to the state; what the function emitted, per
/// partition.
fn apply_batch<K, V, S, U>(
    parent: &DStreamInner<(K, V)>,
    shared: &Arc<Shared<K, V, S, U>>,
    time: Time,
    ctx: &emberflow_core::Context,
) -> Result<Vec<Arc<Vec<U>>>>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data,
    S: Data + Serialize + DeserializeOwned,
    U: Data,
{
    let batch = parent.get_or_compute(time)?.unwrap_or_else(|| ctx.empty());
    let (batch, watermark) = match &shared.event_time {
        Some((watermark, time_of)) => {
            let scan = watermark.begin(time);
            let observed = crate::dstream::event_time::observed(
                batch,
                time_of.clone(),
                watermark.clone(),
                time,
                scan,
            );
            (observed, scan.watermark)
        }
        None => (batch, None),
    };
    // In a group-partitioned job each partition of the batch is one input partition, whose
    // keys have their own state partition: no shuffle.
    let slots: Option<Vec<usize>> = match shared.store.services().group.get().cloned() {
        Some(group) => {
            let layout = group.layout_at(time)?;
            crate::group::check_partitions(
                "map_with_state",
                Rdd::num_partitions(&batch),
                layout.len(),
            )?;
            Some(layout.iter().map(|s| s.slot).collect())
        }
        None => None,
    };
    let batch = match slots {
        Some(_) => batch,
        None => batch.partition_by(shared.partitioner.clone()),
    };
    let shared = shared.clone();
    Ok(batch.run_job(move |tc, mut it| {
        let part = slots.as_ref().map_or(tc.partition(), |s| s[tc.partition()]);
        Ok(Arc::new(shared.apply(part, &mut it, time, watermark)))
    })?)
}

/// The state of one input partition's keys in a group-partitioned job.
impl<K, V, S, U> crate::group::PartitionState for Shared<K, V, S, U>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data,
    S: Data + Serialize + DeserializeOwned,
    U: Data,
{
    fn save_slot(&self, slot: usize) -> Result<Vec<u8>> {
        let p = self.parts[slot].lock();
        let entries: Vec<(&K, &S)> = p
            .map
            .iter()
            .filter_map(|(k, e)| Some((k, e.value.as_ref()?)))
            .collect();
        crate::group::encode("map_with_state", &entries)
    }

    fn load_slot(&self, slot: usize, data: Option<&[u8]>, time: Time) -> Result<()> {
        let entries: Vec<(K, S)> = crate::group::decode("map_with_state", data)?;
        let mut p = self.parts[slot].lock();
        *p = StatePartition::default();
        let track = self.timeout.is_some();
        for (k, s) in entries {
            p.restore(k, s, time, track);
        }
        Ok(())
    }
}

/// The state update of the batch at `time`, run by the batch's first job: replays batches
/// the state has not seen (after a restart), applies this one, and takes the snapshot the
/// checkpoint or `state_snapshots` needs. Returns what the function emitted.
fn update<K, V, S, U>(
    parent: &Arc<DStreamInner<(K, V)>>,
    shared: &Arc<Shared<K, V, S, U>>,
    time: Time,
    snapshot: &Slot<(K, S)>,
) -> Result<Rdd<U>>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data,
    S: Data + Serialize + DeserializeOwned,
    U: Data,
{
    let graph = shared.store.services();
    let ctx = graph.ctx.clone();
    let slide = parent.slide();
    let inline = shared.inline.get();
    if let Some((watermark, _)) = &shared.event_time {
        // Batches the restored state missed, through every event-time operator, in order.
        watermark.catch_up(time, slide)?;
    }
    if let Some(rows) = inline.and_then(|i| i.progress.already(time)) {
        return Ok(ctx.parallelize_partitions(rows));
    }
    shared.load_initial(graph.zero_time().unwrap_or(Time::ZERO))?;
    // Replay batches the state has not seen (only after a restart from a checkpoint).
    // A fresh start has applied nothing before its first batch (zero + slide); so has a
    // restart that found no state written yet: both replay from the zero time.
    let applied = shared.applied_through.lock().or(graph.zero_time());
    if let Some(mut t) = applied {
        t = t + slide;
        while t < time {
            apply_batch(parent, shared, t, &ctx)?;
            t = t + slide;
        }
    }
    shared
        .batch_updates
        .store(0, std::sync::atomic::Ordering::Relaxed);
    let emitted = {
        let _updating = inline.map(|i| i.progress.updating.write());
        let emitted = apply_batch(parent, shared, time, &ctx)?;
        if let Some(i) = inline {
            i.progress.applied(time, &emitted);
        }
        emitted
    };
    let keys: usize = shared.parts.iter().map(|p| p.lock().map.len()).sum();
    shared.store.record(
        keys as u64,
        shared
            .batch_updates
            .load(std::sync::atomic::Ordering::Relaxed),
        std::mem::size_of::<(K, Entry<S>)>(),
    );
    *shared.applied_through.lock() = Some(time);
    // The state is written to the checkpoint directory at checkpoint intervals; the
    // snapshot is taken only when that, or `state_snapshots`, needs it.
    let wanted = shared
        .snapshots_wanted
        .load(std::sync::atomic::Ordering::SeqCst);
    let zero = graph.zero_time().unwrap_or(Time::ZERO);
    // (In a group-partitioned job the state goes into each partition's checkpoint instead.)
    let due = graph.ctx.checkpoint_dir().is_some()
        && !shared.store.is_inline()
        && graph.group.get().is_none()
        && Time::from_millis((time - zero).as_millis() as u64)
            .is_multiple_of(shared.store.interval());
    if wanted || due {
        let snap = shared.store.truncate_now(shared.snapshot(&ctx), time)?;
        let _ = snapshot.set(snap);
    }
    Ok(ctx.parallelize_partitions(emitted))
}

impl<K, V, S, U> DStreamNode<U> for MapWithStateNode<K, V, S, U>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data,
    S: Data + Serialize + DeserializeOwned,
    U: Data,
{
    fn kind(&self) -> &'static str {
        "map_with_state"
    }
    fn validate(&self, _batch_interval: Duration) -> Result<()> {
        if self.shared.event_time.is_none() {
            return Ok(());
        }
        crate::dstream::event_time::validate_event_time(self.shared.store.services())?;
        Ok(())
    }
    fn slide_duration(&self) -> Duration {
        self.parent.slide()
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        vec![self.parent.clone()]
    }
    /// The state lives in the node's partitions; written snapshots are restored into them.
    fn state(&self) -> Option<&StateStore> {
        Some(&self.shared.store)
    }
    /// On an event stream the state is inline in the metadata checkpoint (otherwise the
    /// base writes the state store's files).
    fn checkpoint_data(&self) -> Result<Option<Vec<u8>>> {
        match self.shared.inline.get() {
            Some(i) => (i.capture)(),
            None => Ok(None),
        }
    }
    fn restore(&self, data: &[u8]) -> Result<()> {
        match self.shared.inline.get() {
            Some(i) => (i.restore)(data),
            None => Ok(()),
        }
    }
    /// Generates the batch's RDD without touching the state: the update runs as the batch's
    /// first job, on the job executor (its cost is processing time, not scheduling delay).
    fn compute(&self, time: Time) -> Result<Option<Rdd<U>>> {
        let graph = self.shared.store.services();
        let emitted: Slot<U> = Arc::default();
        let snapshot: Slot<(K, S)> = Arc::default();
        {
            let mut snaps = self.shared.snapshots.lock();
            snaps.insert(time, snapshot.clone());
            // The snapshot stream memoises what it reads; keep only the newest few here.
            while snaps.len() > 2 {
                snaps.pop_first();
            }
        }
        let (parent, shared, out) = (self.parent.clone(), self.shared.clone(), emitted.clone());
        graph.add_batch_work(
            time,
            Box::new(move || {
                let rdd = update(&parent, &shared, time, &snapshot)?;
                let _ = out.set(rdd);
                Ok(())
            }),
        );
        // In a group-partitioned job, one partition per input partition of the batch.
        let n = match graph.group.get() {
            Some(g) => g.layout(time).map_or(0, |l| l.len()),
            None => self.shared.parts.len(),
        };
        Ok(Some(LateRdd::rdd(
            &graph.ctx,
            "map_with_state",
            time,
            n,
            emitted,
        )))
    }
}
