//! Record counts of inputs that learn them only by reading (files, queued RDDs): each
//! batch's RDD is wrapped so that a partition read to its end records how many records it
//! held; once every partition was read, the batch's count is known and goes into its
//! `BatchInfo` when the batch completes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use emberflow_core::plumbing::{BoxIter, Dependency, RddBase, RddMeta, RddNode, TaskContext};
use emberflow_core::{Data, Rdd};
use parking_lot::Mutex;

use crate::time::Time;

type Slots = Arc<Vec<OnceLock<u64>>>;

/// The per-partition counts of an input's recent batches.
#[derive(Default)]
pub(crate) struct RecordCounts {
    per_batch: Mutex<BTreeMap<Time, Slots>>,
}

impl RecordCounts {
    /// `rdd`, counting its records for the batch at `time` as they are read.
    pub(crate) fn wrap<T: Data>(&self, time: Time, rdd: Rdd<T>) -> Rdd<T> {
        let slots: Slots = Arc::new((0..rdd.num_partitions()).map(|_| OnceLock::new()).collect());
        self.per_batch.lock().insert(time, slots.clone());
        Rdd::from_node(CountedRdd {
            meta: RddMeta::new(rdd.context(), "counted"),
            parent: rdd,
            slots,
        })
    }

    /// The batch's record count, once every partition was read to its end.
    pub(crate) fn read(&self, time: Time) -> Option<u64> {
        let slots = self.per_batch.lock().get(&time)?.clone();
        slots.iter().map(|s| s.get().copied()).sum()
    }

    /// Drops the counts of batches up to `time`, except those in `keep`.
    pub(crate) fn forget(&self, time: Time, keep: &BTreeSet<Time>) {
        self.per_batch
            .lock()
            .retain(|t, _| *t > time || keep.contains(t));
    }
}

struct CountedRdd<T: 'static> {
    meta: RddMeta,
    parent: Rdd<T>,
    slots: Slots,
}

impl<T: Data> RddBase for CountedRdd<T> {
    fn meta(&self) -> &RddMeta {
        &self.meta
    }
    fn dependencies(&self) -> Vec<Dependency> {
        vec![Dependency::Narrow(self.parent.as_base())]
    }
    fn num_partitions(&self) -> usize {
        self.slots.len()
    }
}

impl<T: Data> RddNode<T> for CountedRdd<T> {
    fn compute<'a>(
        &'a self,
        split: usize,
        tc: &'a TaskContext,
    ) -> emberflow_core::Result<BoxIter<'a, T>> {
        let inner = self.parent.iterator(split, tc)?;
        Ok(Box::new(Counting {
            inner,
            seen: 0,
            slot: &self.slots[split],
            tc,
        }))
    }
}

struct Counting<'a, T> {
    inner: BoxIter<'a, T>,
    seen: u64,
    slot: &'a OnceLock<u64>,
    tc: &'a TaskContext,
}

impl<T> Iterator for Counting<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        let r = self.inner.next();
        match r {
            Some(_) => self.seen += 1,
            // Read to its end without an error: the partition's count.
            None if !self.tc.has_failed() => {
                let _ = self.slot.set(self.seen);
            }
            None => {}
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_read_to_its_end_is_counted() {
        let ctx = emberflow_core::Context::local(2);
        let counts = RecordCounts::default();
        let rdd = counts.wrap(
            Time::from_millis(1),
            ctx.parallelize((0..10).collect::<Vec<u32>>(), 3),
        );
        assert_eq!(counts.read(Time::from_millis(1)), None, "nothing read yet");
        assert_eq!(
            rdd.map_partitions(|it| Some(it.count()))
                .collect()
                .unwrap()
                .iter()
                .sum::<usize>(),
            10
        );
        assert_eq!(counts.read(Time::from_millis(1)), Some(10));
    }
}
