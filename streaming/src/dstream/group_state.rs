//! `update_state_by_key` in a group-partitioned job: the state of each input partition's keys
//! kept apart (a key's records are all in its partition), updated without a shuffle, and
//! saved in and restored from the partition's checkpoints by the job's partition group.

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::{Data, Rdd};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::dstream::stateful::{LateRdd, Slot};
use crate::dstream::DStreamInner;
use crate::error::Result;
use crate::group::PartitionGroup;
use crate::plumbing::{DStreamBase, DStreamNode};
use crate::time::Time;

use crate::dstream::stateful::PartitionUpdate as UpdateFn;

/// One partition's whole state after a batch.
type Partition<K, S> = Arc<Vec<(K, S)>>;

/// The state, per input partition (indexed by the partition's number): its whole state after
/// the last batch, which is also that batch's output (`update_state_by_key` emits every key).
pub(crate) struct GroupState<K, S> {
    parts: Vec<Mutex<Partition<K, S>>>,
}

impl<K, S> crate::group::PartitionState for GroupState<K, S>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    S: Data + Serialize + DeserializeOwned,
{
    fn save_slot(&self, slot: usize) -> Result<Vec<u8>> {
        let p = self.parts[slot].lock().clone();
        crate::group::encode("update_state_by_key", &*p)
    }

    fn load_slot(&self, slot: usize, data: Option<&[u8]>, _time: Time) -> Result<()> {
        let entries: Vec<(K, S)> = crate::group::decode("update_state_by_key", data)?;
        *self.parts[slot].lock() = Arc::new(entries);
        Ok(())
    }
}

pub(crate) struct GroupStateNode<K: 'static, V: 'static, S: 'static> {
    pub(crate) parent: Arc<DStreamInner<(K, V)>>,
    pub(crate) update: Arc<UpdateFn<K, V, S>>,
    pub(crate) state: Arc<GroupState<K, S>>,
    pub(crate) group: Arc<PartitionGroup>,
    pub(crate) services: Arc<crate::services::Services>,
}

impl<K, V, S> GroupStateNode<K, V, S>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data,
    S: Data + Serialize + DeserializeOwned,
{
    /// A node over `parent`, its state registered with `group`.
    pub(crate) fn new(
        parent: Arc<DStreamInner<(K, V)>>,
        update: Arc<UpdateFn<K, V, S>>,
        group: Arc<PartitionGroup>,
        services: Arc<crate::services::Services>,
    ) -> Self {
        let state = Arc::new(GroupState {
            parts: group.per_slot(),
        });
        group.register_state(&state);
        GroupStateNode {
            parent,
            update,
            state,
            group,
            services,
        }
    }
}

/// Applies the batch at `time` to each of its partitions' state; returns each partition's
/// whole new state, in the batch's partition order.
fn apply<K, V, S>(
    ctx: &emberflow_core::Context,
    parent: &DStreamInner<(K, V)>,
    update: &Arc<UpdateFn<K, V, S>>,
    state: &Arc<GroupState<K, S>>,
    slots: &[usize],
    time: Time,
) -> Result<Vec<Partition<K, S>>>
where
    K: Data + Hash + Eq,
    V: Data,
    S: Data,
{
    let batch = match parent.get_or_compute(time)? {
        Some(b) => b,
        None => ctx.empty(),
    };
    crate::group::check_partitions("update_state_by_key", batch.num_partitions(), slots.len())?;
    let (update, state) = (update.clone(), state.clone());
    Ok(batch.run_job(move |tc, records| {
        let mut values = crate::dstream::stateful::group(records);
        let mut part = state.parts[slots[tc.partition()]].lock();
        // The old state stays until the update returns: a panicking function leaves it.
        let rows = part
            .iter()
            .map(|(k, s)| {
                let vs = values.remove(k).unwrap_or_default();
                (k.clone(), vs, Some(s.clone()))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .chain(values.into_iter().map(|(k, vs)| (k, vs, None)));
        let new = Arc::new(update(time, Box::new(rows)));
        *part = new.clone();
        Ok(new)
    })?)
}

impl<K, V, S> DStreamNode<(K, S)> for GroupStateNode<K, V, S>
where
    K: Data + Hash + Eq + Serialize + DeserializeOwned,
    V: Data,
    S: Data + Serialize + DeserializeOwned,
{
    fn kind(&self) -> &'static str {
        "update_state_by_key"
    }
    fn slide_duration(&self) -> Duration {
        self.parent.slide()
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        vec![self.parent.clone()]
    }
    fn parent_recompute(&self, _own: Duration) -> Duration {
        // The state is held here and in the partitions' checkpoints: the parent's current
        // batch is all it reads.
        self.parent.slide()
    }
    fn compute(&self, time: Time) -> Result<Option<Rdd<(K, S)>>> {
        let layout = self.group.layout_at(time)?;
        let slots: Vec<usize> = layout.iter().map(|s| s.slot).collect();
        let out: Slot<(K, S)> = Arc::default();
        let (parent, update, state, set) = (
            self.parent.clone(),
            self.update.clone(),
            self.state.clone(),
            out.clone(),
        );
        let services = &self.services;
        let ctx = services.ctx.clone();
        services.add_batch_work(
            time,
            Box::new(move || {
                let parts = apply(&ctx, &parent, &update, &state, &slots, time)?;
                let _ = set.set(ctx.parallelize_partitions(parts));
                Ok(())
            }),
        );
        Ok(Some(LateRdd::rdd(
            &services.ctx,
            "update_state_by_key",
            time,
            layout.len(),
            out,
        )))
    }
}
