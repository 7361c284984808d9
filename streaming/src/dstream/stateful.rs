//! What the library's stateful nodes share beyond their [`StateStore`]: restoring a state
//! that is the stream's own RDD into its memo, and [`LateRdd`], an RDD generated with its
//! batch whose data the batch's first job provides.

use std::sync::Weak;

use std::hash::Hash;

use emberflow_core::hash::StableHashMap;
use emberflow_core::plumbing::BoxIter;
use emberflow_core::{Data, Rdd};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::dstream::DStreamInner;
use crate::error::Error;
use crate::state_store::StateStore;
use crate::time::Time;

/// A state that is the stream's own RDD of each batch (`update_state_by_key`, windows
/// with an inverse function): restored states go back into the stream's memo.
pub(crate) fn restores_into_memo<T>(store: &StateStore, me: Weak<DStreamInner<T>>)
where
    T: Data + Serialize + DeserializeOwned,
{
    let kind = store.kind();
    store.on_restore(move |states: Vec<(Time, Rdd<T>)>| {
        let me = me
            .upgrade()
            .ok_or_else(|| Error::IllegalState(format!("{kind}: the stream is gone")))?;
        for (t, rdd) in states {
            me.restore_rdd(t, rdd);
        }
        Ok(())
    });
}

/// The shared slot a batch's work fills with an RDD.
pub(crate) type Slot<T> = std::sync::Arc<std::sync::OnceLock<Rdd<T>>>;

/// An RDD generated with its batch whose data the batch's first job provides (a stateful
/// node's output: the state update runs on the job executor, not when the batch is
/// generated).
pub(crate) struct LateRdd<T: 'static> {
    meta: emberflow_core::plumbing::RddMeta,
    what: &'static str,
    time: Time,
    partitions: usize,
    data: Slot<T>,
}

impl<T: Data> LateRdd<T> {
    pub(crate) fn rdd(
        ctx: &emberflow_core::Context,
        what: &'static str,
        time: Time,
        partitions: usize,
        data: Slot<T>,
    ) -> Rdd<T> {
        Rdd::from_node(LateRdd {
            meta: emberflow_core::plumbing::RddMeta::new(ctx, what),
            what,
            time,
            partitions,
            data,
        })
    }
}

impl<T: Data> emberflow_core::plumbing::RddBase for LateRdd<T> {
    fn meta(&self) -> &emberflow_core::plumbing::RddMeta {
        &self.meta
    }
    fn dependencies(&self) -> Vec<emberflow_core::plumbing::Dependency> {
        self.data
            .get()
            .map(|r| vec![emberflow_core::plumbing::Dependency::Narrow(r.as_base())])
            .unwrap_or_default()
    }
    fn num_partitions(&self) -> usize {
        self.partitions
    }
}

impl<T: Data> emberflow_core::plumbing::RddNode<T> for LateRdd<T> {
    fn compute<'a>(
        &'a self,
        split: usize,
        tc: &'a emberflow_core::plumbing::TaskContext,
    ) -> emberflow_core::Result<emberflow_core::plumbing::BoxIter<'a, T>> {
        let rdd = self.data.get().ok_or_else(|| {
            emberflow_core::Error::Internal(format!(
                "{} of batch {}: read before the batch's state update ran",
                self.what, self.time
            ))
        })?;
        rdd.iterator(split, tc)
    }
}

/// The update `update_state_by_key` applies to one partition: the batch time and every
/// `(key, new values, state)`.
pub(crate) type PartitionUpdate<K, V, S> = dyn Fn(Time, Box<dyn Iterator<Item = (K, Vec<V>, Option<S>)> + '_>) -> Vec<(K, S)>
    + Send
    + Sync;

/// Groups one partition of batch records by key, in arrival order.
pub(crate) fn group<K: Hash + Eq, V>(batch: BoxIter<'_, (K, V)>) -> StableHashMap<K, Vec<V>> {
    let mut m: StableHashMap<K, Vec<V>> = StableHashMap::default();
    for (k, v) in batch {
        m.entry(k).or_default().push(v);
    }
    m
}
