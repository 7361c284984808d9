//! `reduce_by_key_and_window_with_inverse` in a group-partitioned job: each input partition's
//! window kept apart — its batches' reductions over the window and the running reduction —
//! updated without a shuffle, and saved in and restored from the partition's checkpoints, so
//! a member that takes a partition over has its whole window.

use std::collections::VecDeque;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::hash::StableHashMap;
use emberflow_core::{Data, Rdd};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::dstream::stateful::{LateRdd, Slot};
use crate::dstream::DStreamInner;
use crate::error::{Error, Result};
use crate::group::PartitionGroup;
use crate::plumbing::{DStreamBase, DStreamNode};
use crate::time::Time;

type Reduce<V> = Arc<dyn Fn(V, V) -> V + Send + Sync>;
type Keep<K, V> = Arc<dyn Fn(&(K, V)) -> bool + Send + Sync>;

/// One input partition's window.
struct PartWindow<K, V> {
    /// Each batch's reduction in the window, oldest first.
    batches: VecDeque<(Time, StableHashMap<K, V>)>,
    /// Their reduction.
    current: StableHashMap<K, V>,
}

impl<K, V> Default for PartWindow<K, V> {
    fn default() -> Self {
        PartWindow {
            batches: VecDeque::new(),
            current: StableHashMap::default(),
        }
    }
}

/// A partition's window as its checkpoint holds it.
#[derive(Serialize, Deserialize)]
struct Saved<K, V> {
    batches: Vec<(Time, Vec<(K, V)>)>,
    current: Vec<(K, V)>,
}

impl<K, V> Default for Saved<K, V> {
    fn default() -> Self {
        Saved {
            batches: Vec::new(),
            current: Vec::new(),
        }
    }
}

pub(crate) struct GroupWindows<K, V> {
    parts: Vec<Mutex<PartWindow<K, V>>>,
}

impl<K, V> crate::group::PartitionState for GroupWindows<K, V>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data + Serialize + DeserializeOwned,
{
    fn save_slot(&self, slot: usize) -> Result<Vec<u8>> {
        let p = self.parts[slot].lock();
        let saved = Saved {
            batches: p
                .batches
                .iter()
                .map(|(t, m)| (*t, m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
                .collect(),
            current: p
                .current
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        crate::group::encode("reduce_by_key_and_window_with_inverse", &saved)
    }

    fn load_slot(&self, slot: usize, data: Option<&[u8]>, _time: Time) -> Result<()> {
        let saved: Saved<K, V> =
            crate::group::decode("reduce_by_key_and_window_with_inverse", data)?;
        let mut p = self.parts[slot].lock();
        p.batches = saved
            .batches
            .into_iter()
            .map(|(t, kv)| (t, kv.into_iter().collect()))
            .collect();
        p.current = saved.current.into_iter().collect();
        Ok(())
    }
}

pub(crate) struct GroupWindowNode<K: 'static, V: 'static> {
    parent: Arc<DStreamInner<(K, V)>>,
    reduce: Reduce<V>,
    inverse: Reduce<V>,
    keep: Option<Keep<K, V>>,
    window: Duration,
    slide: Duration,
    windows: Arc<GroupWindows<K, V>>,
    group: Arc<PartitionGroup>,
    services: Arc<crate::services::Services>,
}

/// How a windowed node in a group-partitioned job is made.
pub(crate) struct WindowSpec<K, V> {
    pub(crate) reduce: Reduce<V>,
    pub(crate) inverse: Reduce<V>,
    pub(crate) keep: Option<Keep<K, V>>,
    pub(crate) window: Duration,
    pub(crate) slide: Duration,
}

impl<K, V> GroupWindowNode<K, V>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data + Serialize + DeserializeOwned,
{
    pub(crate) fn new(
        parent: Arc<DStreamInner<(K, V)>>,
        spec: WindowSpec<K, V>,
        group: Arc<PartitionGroup>,
        services: Arc<crate::services::Services>,
    ) -> Self {
        let windows = Arc::new(GroupWindows {
            parts: group.per_slot(),
        });
        group.register_state(&windows);
        GroupWindowNode {
            parent,
            reduce: spec.reduce,
            inverse: spec.inverse,
            keep: spec.keep,
            window: spec.window,
            slide: spec.slide,
            windows,
            group,
            services,
        }
    }
}

impl<K, V> DStreamNode<(K, V)> for GroupWindowNode<K, V>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data + Serialize + DeserializeOwned,
{
    fn kind(&self) -> &'static str {
        "reduce_by_key_and_window_with_inverse"
    }
    fn slide_duration(&self) -> Duration {
        self.slide
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        vec![self.parent.clone()]
    }
    fn parent_recompute(&self, _own: Duration) -> Duration {
        // The window is held here and in the partitions' checkpoints.
        self.parent.slide()
    }
    fn fingerprint(&self) -> String {
        crate::dstream::window_check::window_fingerprint(self.kind(), self.window, self.slide)
    }
    fn validate(&self, _batch_interval: Duration) -> Result<()> {
        crate::dstream::window_check::check_window(self.window, self.slide, self.parent.slide())?;
        if self.slide != self.parent.slide() {
            return Err(Error::InvalidGraph(format!(
                "a window in a group-partitioned job slides with every batch: slide {} ms, batches {} ms",
                self.slide.as_millis(),
                self.parent.slide().as_millis()
            )));
        }
        Ok(())
    }
    fn compute(&self, time: Time) -> Result<Option<Rdd<(K, V)>>> {
        let layout = self.group.layout_at(time)?;
        // Each partition's batch time: a batch a takeover runs again keeps its first time, and
        // the window of that partition counts by it.
        let slots: Vec<(usize, Time)> = layout.iter().map(|s| (s.slot, s.time)).collect();
        let out: Slot<(K, V)> = Arc::default();
        let set = out.clone();
        let parent = self.parent.clone();
        let (reduce, inverse, keep) =
            (self.reduce.clone(), self.inverse.clone(), self.keep.clone());
        let windows = self.windows.clone();
        let window = self.window;
        let ctx = self.services.ctx.clone();
        self.services.add_batch_work(
            time,
            Box::new(move || {
                let batch = parent.get_or_compute(time)?.unwrap_or_else(|| ctx.empty());
                crate::group::check_partitions(
                    "reduce_by_key_and_window_with_inverse",
                    batch.num_partitions(),
                    slots.len(),
                )?;
                let parts = batch.run_job(|tc, records| {
                    let mut reduced: StableHashMap<K, V> = StableHashMap::default();
                    for (k, v) in records {
                        let merged = match reduced.remove(&k) {
                            Some(old) => reduce(old, v),
                            None => v,
                        };
                        reduced.insert(k, merged);
                    }
                    let (slot, batch_time) = slots[tc.partition()];
                    let since = batch_time.saturating_sub(window);
                    let mut w = windows.parts[slot].lock();
                    for (k, v) in &reduced {
                        let merged = match w.current.remove(k) {
                            Some(old) => reduce(old, v.clone()),
                            None => v.clone(),
                        };
                        w.current.insert(k.clone(), merged);
                    }
                    w.batches.push_back((batch_time, reduced));
                    // Batches leaving the window are taken out with the inverse function.
                    while w.batches.front().is_some_and(|(t, _)| *t <= since) {
                        let (_, old) = w.batches.pop_front().expect("checked");
                        for (k, v) in old {
                            if let Some(cur) = w.current.remove(&k) {
                                w.current.insert(k, inverse(cur, v));
                            }
                        }
                    }
                    // The output is a copy of the window; `keep` judges the copies, and the
                    // keys it drops leave the window too.
                    let mut out: Vec<(K, V)> = w
                        .current
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    if let Some(keep) = &keep {
                        let current = &mut w.current;
                        out.retain(|kv| {
                            let kept = keep(kv);
                            if !kept {
                                current.remove(&kv.0);
                            }
                            kept
                        });
                    }
                    Ok(Arc::new(out))
                })?;
                let _ = set.set(ctx.parallelize_partitions(parts));
                Ok(())
            }),
        );
        Ok(Some(LateRdd::rdd(
            &self.services.ctx,
            "reduce_by_key_and_window_with_inverse",
            time,
            layout.len(),
            out,
        )))
    }
}
