//! `coalesce` without a shuffle: output partition `i` reads a contiguous run of parent
//! partitions, so order is kept and no data moves between tasks.

use crate::plumbing::{BoxIter, Dependency, RddBase, RddMeta, RddNode, TaskContext};
use crate::rdd::Rdd;
use crate::{Data, Result};

pub(crate) struct CoalescedRdd<T: 'static> {
    meta: RddMeta,
    parent: Rdd<T>,
    groups: Vec<std::ops::Range<usize>>,
}

impl<T: Data> CoalescedRdd<T> {
    pub(crate) fn new(parent: Rdd<T>, partitions: usize) -> Self {
        let n = parent.num_partitions();
        let m = partitions.max(1).min(n.max(1));
        let groups = if n == 0 {
            Vec::new()
        } else {
            (0..m).map(|i| (i * n / m)..((i + 1) * n / m)).collect()
        };
        CoalescedRdd {
            meta: RddMeta::new(parent.context(), "coalesce"),
            parent,
            groups,
        }
    }
}

impl<T: Data> RddBase for CoalescedRdd<T> {
    fn meta(&self) -> &RddMeta {
        &self.meta
    }
    fn dependencies(&self) -> Vec<Dependency> {
        vec![Dependency::Narrow(self.parent.as_base())]
    }
    fn num_partitions(&self) -> usize {
        self.groups.len()
    }
}

impl<T: Data> RddNode<T> for CoalescedRdd<T> {
    fn compute<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, T>> {
        let mut parts = Vec::with_capacity(self.groups[split].len());
        for p in self.groups[split].clone() {
            parts.push(self.parent.iterator(p, tc)?);
        }
        Ok(Box::new(parts.into_iter().flatten()))
    }
}
