//! Session windows: per key, a session runs from its first event to its last event plus the
//! gap; an event within the gap of a session extends it, and one that bridges two sessions
//! merges them. A session closes when the watermark reaches its end.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::{Data, HashPartitioner, Rdd};

use super::aggregate::validate_event_time;
use super::types::{EventTime, OutputMode, Window};
use super::{is_late, EventStream};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::recovery::{Progress, StateParts};
use crate::dstream::DStream;
use crate::error::Result;
use crate::plumbing::{DStreamBase, DStreamNode};
use crate::state_store::StateStore;
use crate::time::Time;

type KeyOf<T, K> = Arc<dyn Fn(&T) -> K + Send + Sync>;
/// A row: a session of a key, and its events.
type Row<K> = ((Window, K), u64);

/// Session windows of an [`EventStream`] per key (see
/// [`EventStream::session_window`](super::EventStream::session_window)).
pub struct SessionWindows<T: 'static, K: 'static> {
    pub(crate) events: EventStream<T>,
    pub(crate) key: KeyOf<T, K>,
    pub(crate) gap: Duration,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Session {
    window: Window,
    count: u64,
    changed: bool,
}

/// Adds an event at `t` to a key's sessions (sorted, disjoint), merging what it bridges.
fn add(sessions: &mut Vec<Session>, t: EventTime, gap: Duration) {
    let mut merged = Session {
        window: Window::new(t, gap),
        count: 1,
        changed: true,
    };
    sessions.retain(|s| {
        let overlaps = s.window.start < merged.window.end && merged.window.start < s.window.end;
        if overlaps {
            merged.window.start = merged.window.start.min(s.window.start);
            merged.window.end = merged.window.end.max(s.window.end);
            merged.count += s.count;
        }
        !overlaps
    });
    // One pass is enough: the sessions are disjoint, so what the merged session grows by is
    // a session it overlapped, and no other session overlaps that.
    let at = sessions.partition_point(|s| s.window.start < merged.window.start);
    sessions.insert(at, merged);
}

struct Shared<K> {
    parts: StateParts<K, Vec<Session>>,
    gap: Duration,
    mode: OutputMode,
    store: StateStore,
    dropped: Arc<std::sync::atomic::AtomicU64>,
    progress: Arc<Progress<Row<K>>>,
}

impl<K: Data + Hash + Eq> Shared<K> {
    fn apply(
        &self,
        part: usize,
        events: impl Iterator<Item = (K, EventTime)>,
        wm: Option<EventTime>,
    ) -> (Vec<Row<K>>, u64) {
        let mut state = self.parts[part].lock();
        let mut by_key: HashMap<K, Vec<EventTime>> = HashMap::new();
        for (k, t) in events {
            by_key.entry(k).or_default().push(t);
        }
        let mut updated = 0u64;
        for (k, mut times) in by_key {
            times.sort_unstable();
            let sessions = state.entry(k).or_default();
            for t in times {
                add(sessions, t, self.gap);
            }
            updated += 1;
        }
        let closed = |s: &Session| is_late(s.window.end, wm);
        let mut out = Vec::new();
        for (k, sessions) in state.iter_mut() {
            for s in sessions.iter_mut() {
                let emit = match self.mode {
                    OutputMode::Complete => true,
                    OutputMode::Update => s.changed,
                    OutputMode::Append => closed(s),
                };
                if emit {
                    out.push(((s.window, k.clone()), s.count));
                }
                s.changed = false;
            }
            if self.mode != OutputMode::Complete {
                sessions.retain(|s| !closed(s));
            }
        }
        state.retain(|_, sessions| !sessions.is_empty());
        (out, updated)
    }
}

impl<T: Data, K: Data + Hash + Eq + Serialize + DeserializeOwned> SessionWindows<T, K> {
    /// Events per session and key: rows `((session window, key), count)`.
    pub fn count(&self, mode: OutputMode) -> DStream<((Window, K), u64)> {
        let graph = &self.events.stream.graph;
        let services = graph.services.clone();
        let n = services.ctx.default_parallelism();
        let shared = Arc::new(Shared {
            parts: StateParts::new(n),
            gap: self.gap,
            mode,
            store: StateStore::inline(
                services.clone(),
                self.events.stream.inner.slide(),
                "event_session_count",
            ),
            dropped: Arc::default(),
            progress: Arc::new(Progress::new()),
        });
        let complete = mode == OutputMode::Complete;
        let stream = DStream::from_node(
            graph,
            SessionNode {
                events: self.events.clone(),
                key: self.key.clone(),
                shared,
            },
        );
        if complete {
            services.whole_table_streams.lock().insert(stream.id());
        }
        self.events.watermark.add_replayer(super::replayer(&stream));
        stream
    }
}

struct SessionNode<T: 'static, K: 'static> {
    events: EventStream<T>,
    key: KeyOf<T, K>,
    shared: Arc<Shared<K>>,
}

impl<T: Data, K: Data + Hash + Eq + Serialize + DeserializeOwned> DStreamNode<((Window, K), u64)>
    for SessionNode<T, K>
{
    fn kind(&self) -> &'static str {
        "event_session_count"
    }
    fn slide_duration(&self) -> Duration {
        self.events.stream.inner.slide()
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        vec![self.events.stream.inner.clone()]
    }
    fn validate(&self, _batch_interval: Duration) -> Result<()> {
        validate_event_time(self.events.services())
    }
    fn state(&self) -> Option<&StateStore> {
        Some(&self.shared.store)
    }
    /// The sessions as of the last batch applied, in every metadata checkpoint.
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
    fn fingerprint(&self) -> String {
        format!(
            "{} gap={}ms mode={:?}",
            self.kind(),
            self.shared.gap.as_millis(),
            self.shared.mode
        )
    }
    fn compute(&self, time: Time) -> Result<Option<Rdd<((Window, K), u64)>>> {
        let (events, key, shared) = (self.events.clone(), self.key.clone(), self.shared.clone());
        let n = shared.parts.len();
        let progress = shared.progress.clone();
        self.events
            .operator_batch(self.kind(), time, n, progress, move |rdd, wm| {
                let time_of = events.time_of.clone();
                let dropped = shared.dropped.clone();
                dropped.store(0, std::sync::atomic::Ordering::Relaxed);
                let keyed = rdd
                    .flat_map(move |r: T| {
                        let t = time_of(&r);
                        if is_late(t, wm) {
                            dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            return None;
                        }
                        Some((key(&r), t))
                    })
                    .partition_by(HashPartitioner::new(n));
                let applier = shared.clone();
                let results =
                    keyed.run_job(move |tc, it| Ok(applier.apply(tc.partition(), it, wm)))?;
                let updated: u64 = results.iter().map(|(_, u)| u).sum();
                let emitted: Vec<Arc<Vec<Row<K>>>> = results
                    .into_iter()
                    .map(|(rows, _)| Arc::new(rows))
                    .collect();
                let sessions: usize = shared
                    .parts
                    .iter()
                    .map(|p| p.lock().values().map(Vec::len).sum::<usize>())
                    .sum();
                shared.store.record(
                    sessions as u64,
                    updated,
                    std::mem::size_of::<(K, Session)>(),
                );
                shared
                    .store
                    .record_dropped(shared.dropped.load(std::sync::atomic::Ordering::Relaxed));
                Ok(emitted)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> EventTime {
        EventTime::from_millis(s * 1000)
    }

    #[test]
    fn events_extend_and_bridge_sessions() {
        let gap = Duration::from_secs(5);
        let mut s = Vec::new();
        add(&mut s, t(0), gap);
        add(&mut s, t(3), gap);
        add(&mut s, t(20), gap);
        let spans = |s: &[Session]| {
            s.iter()
                .map(|x| {
                    (
                        x.window.start.millis() / 1000,
                        x.window.end.millis() / 1000,
                        x.count,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(spans(&s), vec![(0, 8, 2), (20, 25, 1)]);
        add(&mut s, t(12), gap); // [12, 17): bridges nothing (8 < 12, 17 < 20)
        assert_eq!(spans(&s), vec![(0, 8, 2), (12, 17, 1), (20, 25, 1)]);
        add(&mut s, t(16), gap); // [16, 21): joins [12, 17) and [20, 25)
        assert_eq!(spans(&s), vec![(0, 8, 2), (12, 25, 3)]);
    }
}
