//! `cartesian`: output partition `(i, j)` pairs parent partition `i` of the left with `j` of
//! the right; the right partition is materialised once per task.

use crate::plumbing::{BoxIter, Dependency, RddBase, RddMeta, RddNode, TaskContext};
use crate::rdd::Rdd;
use crate::{Data, Result};

pub(crate) struct CartesianRdd<T: 'static, U: 'static> {
    meta: RddMeta,
    left: Rdd<T>,
    right: Rdd<U>,
}

impl<T: Data, U: Data> CartesianRdd<T, U> {
    pub(crate) fn new(left: Rdd<T>, right: Rdd<U>) -> Self {
        CartesianRdd {
            meta: RddMeta::new(left.context(), "cartesian"),
            left,
            right,
        }
    }
}

impl<T: Data, U: Data> RddBase for CartesianRdd<T, U> {
    fn meta(&self) -> &RddMeta {
        &self.meta
    }
    fn dependencies(&self) -> Vec<Dependency> {
        vec![
            Dependency::Narrow(self.left.as_base()),
            Dependency::Narrow(self.right.as_base()),
        ]
    }
    fn num_partitions(&self) -> usize {
        self.left.num_partitions() * self.right.num_partitions()
    }
}

impl<T: Data, U: Data> RddNode<(T, U)> for CartesianRdd<T, U> {
    fn compute<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, (T, U)>> {
        let n = self.right.num_partitions();
        let (i, j) = (split / n, split % n);
        let right: Vec<U> = self.right.iterator(j, tc)?.collect();
        let left = self.left.iterator(i, tc)?;
        Ok(Box::new(left.flat_map(move |a| {
            right
                .iter()
                .map(|b| (a.clone(), b.clone()))
                .collect::<Vec<_>>()
        })))
    }
}
