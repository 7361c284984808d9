//! Deduplication bounded by the watermark: each key is remembered, with its record's event
//! time, until the watermark passes that time; a record with a remembered key, or a late one,
//! is dropped.

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::{Data, HashPartitioner, Rdd};

use super::types::EventTime;
use super::{is_late, EventStream};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::recovery::{Progress, StateParts};
use crate::dstream::stateful::{LateRdd, Slot};
use crate::dstream::DStream;
use crate::error::Result;
use crate::plumbing::{DStreamBase, DStreamNode};
use crate::state_store::StateStore;
use crate::time::Time;

type KeyOf<T, K> = Arc<dyn Fn(&T) -> K + Send + Sync>;

struct Shared<K> {
    /// Keys seen, with their records' event times and the batch that first had them, by
    /// hash partition.
    parts: StateParts<K, (EventTime, Time)>,
    /// Batches applied; no rows kept (a re-run batch's records are found again by the batch
    /// that first had their keys).
    progress: Progress<()>,
    store: StateStore,
    /// The batch's records dropped as late.
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

pub(crate) fn drop_duplicates<T, K>(events: &EventStream<T>, key: KeyOf<T, K>) -> EventStream<T>
where
    T: Data,
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
{
    let graph = &events.stream.graph;
    let services = graph.services.clone();
    let n = services.ctx.default_parallelism();
    let shared = Arc::new(Shared {
        parts: StateParts::new(n),
        store: StateStore::inline(
            services.clone(),
            events.stream.inner.slide(),
            "event_drop_duplicates",
        ),
        dropped: Arc::default(),
        progress: Progress::new(),
    });
    let stream = DStream::from_node(
        graph,
        DedupNode {
            events: events.clone(),
            key,
            shared,
        },
    );
    events.watermark.add_replayer(super::replayer(&stream));
    EventStream {
        stream,
        time_of: events.time_of.clone(),
        watermark: events.watermark.clone(),
        inputs: Vec::new(),
    }
}

struct DedupNode<T: 'static, K> {
    events: EventStream<T>,
    key: KeyOf<T, K>,
    shared: Arc<Shared<K>>,
}

impl<T: Data, K: Data + Hash + Eq + Serialize + DeserializeOwned> DStreamNode<T>
    for DedupNode<T, K>
{
    fn kind(&self) -> &'static str {
        "event_drop_duplicates"
    }
    fn slide_duration(&self) -> Duration {
        self.events.stream.inner.slide()
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        vec![self.events.stream.inner.clone()]
    }
    fn validate(&self, _batch_interval: Duration) -> Result<()> {
        super::aggregate::validate_event_time(self.events.services())
    }
    fn state(&self) -> Option<&StateStore> {
        Some(&self.shared.store)
    }
    /// The keys remembered as of the last batch applied, in every metadata checkpoint.
    fn checkpoint_data(&self) -> Result<Option<Vec<u8>>> {
        let shared = &self.shared;
        self.events
            .capture(&shared.progress, self.kind(), || shared.parts.rows())
    }
    fn restore(&self, data: &[u8]) -> Result<()> {
        let shared = &self.shared;
        self.events
            .restore(&shared.progress, self.kind(), data, |rows| {
                shared.parts.load(rows)
            })
    }
    fn compute(&self, time: Time) -> Result<Option<Rdd<T>>> {
        let batch = self.events.batch(time)?;
        let slot: Slot<T> = Arc::default();
        let (events, key, shared, out) = (
            self.events.clone(),
            self.key.clone(),
            self.shared.clone(),
            slot.clone(),
        );
        let ctx = self.events.services().ctx.clone();
        let n = shared.parts.len();
        let slide = self.events.stream.inner.slide();
        self.events.services().add_batch_work(
            time,
            Box::new(move || {
                events.watermark.catch_up(time, slide)?;
                let rerun = shared.progress.already(time).is_some();
                let (rdd, wm) = events.scan(time, batch)?;
                let time_of = events.time_of.clone();
                let dropped = shared.dropped.clone();
                dropped.store(0, std::sync::atomic::Ordering::Relaxed);
                let keyed = rdd
                    .filter(move |r| {
                        let late = !rerun && is_late(time_of(r), wm);
                        if late {
                            dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        !late
                    })
                    .map(move |r| (key(&r), r))
                    .partition_by(HashPartitioner::new(n));
                let (time_of, seen) = (events.time_of.clone(), shared.clone());
                let _updating = shared.progress.updating.write();
                let kept = keyed.run_job(move |tc, records| {
                    let mut state = seen.parts[tc.partition()].lock();
                    let mut out = Vec::new();
                    if rerun {
                        // The state already holds this batch: its records are those whose
                        // key this batch was first to have (once each).
                        let mut again = std::collections::HashSet::new();
                        for (k, r) in records {
                            if state.get(&k).is_some_and(|(_, first)| *first == time)
                                && again.insert(k)
                            {
                                out.push(r);
                            }
                        }
                        return Ok(Arc::new(out));
                    }
                    for (k, r) in records {
                        if let std::collections::hash_map::Entry::Vacant(e) = state.entry(k) {
                            e.insert((time_of(&r), time));
                            out.push(r);
                        }
                    }
                    // Keys whose records the watermark passed cannot come back on time.
                    state.retain(|_, (t, _)| !is_late(*t, wm));
                    Ok(Arc::new(out))
                })?;
                if !rerun {
                    shared.progress.applied(time, &[]);
                }
                drop(_updating);
                let keys = shared.parts.total();
                let new: usize = kept.iter().map(|p| p.len()).sum();
                shared.store.record(
                    keys as u64,
                    new as u64,
                    std::mem::size_of::<(K, EventTime, Time)>(),
                );
                shared
                    .store
                    .record_dropped(shared.dropped.load(std::sync::atomic::Ordering::Relaxed));
                let _ = out.set(ctx.parallelize_partitions(kept));
                Ok(())
            }),
        );
        Ok(Some(LateRdd::rdd(
            &self.events.services().ctx,
            "event_drop_duplicates",
            time,
            n,
            slot,
        )))
    }
}
