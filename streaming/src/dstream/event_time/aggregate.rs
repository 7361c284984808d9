//! Event-time aggregates: each batch's on-time records are reduced per group (a window, a
//! window and a key, or a key), merged into the state's hash partitions, and the rows the
//! output mode asks for are emitted; groups the watermark closed are freed.

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::{Data, HashPartitioner, Rdd};

use super::types::{EventTime, OutputMode};
use super::{is_late, EventStream};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::recovery::{Progress, StateParts};
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::plumbing::{DStreamBase, DStreamNode};
use crate::services::Services;
use crate::state_store::StateStore;
use crate::time::Time;

/// The groups a record (at its event time) counts in.
pub(crate) type GroupsOf<T, G> = Arc<dyn Fn(&T, EventTime) -> Groups<G> + Send + Sync>;

/// A record's groups: one (a tumbling window, a key) without allocating, or several.
pub(crate) enum Groups<G> {
    One(Option<G>),
    Many(std::vec::IntoIter<G>),
}

impl<G> Iterator for Groups<G> {
    type Item = G;
    fn next(&mut self) -> Option<G> {
        match self {
            Groups::One(g) => g.take(),
            Groups::Many(gs) => gs.next(),
        }
    }
}
/// When a group closes (a window's end); `None`: never.
pub(crate) type ClosesAt<G> = Option<Arc<dyn Fn(&G) -> EventTime + Send + Sync>>;

/// What every event-time operator needs of the context.
pub(crate) fn validate_event_time(services: &Services) -> Result<()> {
    if services.config.concurrent_jobs > 1 {
        return Err(Error::InvalidGraph(
            "event-time operators need batches to run one after another (concurrent_jobs = 1): \
             a batch's watermark comes from the batches before it"
                .into(),
        ));
    }
    Ok(())
}

/// The state of one aggregate, in hash partitions of its groups.
struct Shared<G, V> {
    parts: StateParts<G, V>,
    closes: ClosesAt<G>,
    reduce: Arc<dyn Fn(V, V) -> V + Send + Sync>,
    mode: OutputMode,
    store: StateStore,
    updated: std::sync::atomic::AtomicU64,
    /// The batch's records dropped as late.
    dropped: Arc<std::sync::atomic::AtomicU64>,
    progress: Arc<Progress<(G, V)>>,
}

impl<G: Data + Hash + Eq, V: Data> Shared<G, V> {
    /// Merges one partition of a batch's partial results and returns the rows to emit.
    fn apply(
        &self,
        part: usize,
        partial: impl Iterator<Item = (G, V)>,
        wm: Option<EventTime>,
    ) -> Vec<(G, V)> {
        let mut state = self.parts[part].lock();
        // Only Update emits by what changed: the other modes count the groups, not list them.
        let listing = self.mode == OutputMode::Update;
        let mut updated = Vec::new();
        let mut count = 0u64;
        for (g, v) in partial {
            count += 1;
            if listing {
                updated.push(g.clone());
            }
            match state.get_mut(&g) {
                Some(old) => *old = (self.reduce)(old.clone(), v),
                None => {
                    state.insert(g, v);
                }
            }
        }
        self.updated
            .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
        let closed = |g: &G| self.closes.as_ref().is_some_and(|c| is_late(c(g), wm));
        let row = |(g, v): (&G, &V)| (g.clone(), v.clone());
        let out = match self.mode {
            OutputMode::Complete => state.iter().map(row).collect(),
            OutputMode::Update => updated
                .iter()
                .filter_map(|g| state.get_key_value(g).map(row))
                .collect(),
            OutputMode::Append => state.iter().filter(|(g, _)| closed(g)).map(row).collect(),
        };
        if self.mode != OutputMode::Complete {
            state.retain(|g, _| !closed(g));
        }
        out
    }
}

/// An event-time aggregate of `events`: `value`s reduced per group.
pub(crate) fn aggregate<T, G, V>(
    events: &EventStream<T>,
    groups: GroupsOf<T, G>,
    closes: ClosesAt<G>,
    value: Arc<dyn Fn(&T) -> V + Send + Sync>,
    reduce: Arc<dyn Fn(V, V) -> V + Send + Sync>,
    mode: OutputMode,
    kind: &'static str,
) -> DStream<(G, V)>
where
    T: Data,
    G: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data + Serialize + DeserializeOwned,
{
    let graph = &events.stream.graph;
    let services = graph.services.clone();
    let n = services.ctx.default_parallelism();
    let shared = Arc::new(Shared {
        parts: StateParts::new(n),
        closes,
        reduce,
        mode,
        store: StateStore::inline(services.clone(), events.stream.inner.slide(), kind),
        updated: std::sync::atomic::AtomicU64::new(0),
        dropped: Arc::default(),
        progress: Arc::new(Progress::new()),
    });
    let complete = mode == OutputMode::Complete;
    let stream = DStream::from_node(
        graph,
        AggregateNode {
            events: events.clone(),
            groups,
            value,
            shared,
            kind,
        },
    );
    if complete {
        services.whole_table_streams.lock().insert(stream.id());
    }
    events.watermark.add_replayer(super::replayer(&stream));
    stream
}

struct AggregateNode<T: 'static, G, V> {
    events: EventStream<T>,
    groups: GroupsOf<T, G>,
    value: Arc<dyn Fn(&T) -> V + Send + Sync>,
    shared: Arc<Shared<G, V>>,
    kind: &'static str,
}

impl<T, G, V> DStreamNode<(G, V)> for AggregateNode<T, G, V>
where
    T: Data,
    G: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data + Serialize + DeserializeOwned,
{
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn slide_duration(&self) -> Duration {
        self.events.stream.inner.slide()
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        vec![self.events.stream.inner.clone()]
    }
    fn validate(&self, _batch_interval: Duration) -> Result<()> {
        validate_event_time(self.events.services())?;
        match (self.shared.mode, &self.shared.closes) {
            (OutputMode::Append, None) => Err(Error::InvalidGraph(format!(
                "{}: Append emits a row when the watermark closes its window, and an aggregate \
                 without an event-time window has none; use Update or Complete",
                self.kind
            ))),
            (OutputMode::Complete, _) => {
                log::warn!(
                    "{}: Complete output keeps every row for ever (the watermark frees nothing)",
                    self.kind
                );
                Ok(())
            }
            (OutputMode::Update, None) => {
                log::warn!(
                    "{}: without an event-time window no row closes, so every key is kept for ever",
                    self.kind
                );
                Ok(())
            }
            _ => Ok(()),
        }
    }
    fn state(&self) -> Option<&StateStore> {
        Some(&self.shared.store)
    }
    fn fingerprint(&self) -> String {
        format!(
            "{} slide={}ms mode={:?}",
            self.kind,
            self.slide_duration().as_millis(),
            self.shared.mode
        )
    }
    /// The state as of the last batch applied, in every metadata checkpoint (see
    /// `recovery`).
    fn checkpoint_data(&self) -> Result<Option<Vec<u8>>> {
        let shared = &self.shared;
        self.events
            .capture(&shared.progress, self.kind, || shared.parts.rows())
    }
    fn restore(&self, data: &[u8]) -> Result<()> {
        let shared = &self.shared;
        self.events
            .restore(&shared.progress, self.kind, data, |rows| {
                shared.parts.load(rows)
            })
    }
    fn compute(&self, time: Time) -> Result<Option<Rdd<(G, V)>>> {
        let (events, groups, value, shared) = (
            self.events.clone(),
            self.groups.clone(),
            self.value.clone(),
            self.shared.clone(),
        );
        let n = shared.parts.len();
        let progress = shared.progress.clone();
        self.events
            .operator_batch(self.kind, time, n, progress, move |rdd, wm| {
                let time_of = events.time_of.clone();
                let dropped = shared.dropped.clone();
                dropped.store(0, std::sync::atomic::Ordering::Relaxed);
                let pairs = rdd.flat_map(move |r: T| {
                    let t = time_of(&r);
                    let gs = if is_late(t, wm) {
                        dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        Groups::One(None)
                    } else {
                        groups(&r, t)
                    };
                    let v = value(&r);
                    gs.map(move |g| (g, v.clone()))
                });
                let reduce = shared.reduce.clone();
                let partial = pairs.reduce_by_key_with_partitioner(
                    move |a, b| reduce(a, b),
                    HashPartitioner::new(n),
                );
                shared
                    .updated
                    .store(0, std::sync::atomic::Ordering::Relaxed);
                let applier = shared.clone();
                let emitted = partial
                    .run_job(move |tc, it| Ok(Arc::new(applier.apply(tc.partition(), it, wm))))?;
                shared.store.record(
                    shared.parts.total() as u64,
                    shared.updated.load(std::sync::atomic::Ordering::Relaxed),
                    std::mem::size_of::<(G, V)>(),
                );
                shared
                    .store
                    .record_dropped(shared.dropped.load(std::sync::atomic::Ordering::Relaxed));
                Ok(emitted)
            })
    }
}
