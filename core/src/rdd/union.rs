//! `union`: the partitions of several RDDs, in order, without a shuffle.

use crate::plumbing::{BoxIter, Dependency, RddBase, RddMeta, RddNode, TaskContext};
use crate::rdd::Rdd;
use crate::{Context, Data, Result};

pub(crate) struct UnionRdd<T: 'static> {
    meta: RddMeta,
    parents: Vec<Rdd<T>>,
    /// `(parent, parent partition)` of each output partition.
    index: Vec<(usize, usize)>,
}

impl<T: Data> UnionRdd<T> {
    pub(crate) fn new(ctx: &Context, parents: Vec<Rdd<T>>) -> Self {
        let index = parents
            .iter()
            .enumerate()
            .flat_map(|(i, p)| (0..p.num_partitions()).map(move |s| (i, s)))
            .collect();
        UnionRdd {
            meta: RddMeta::new(ctx, "union"),
            parents,
            index,
        }
    }
}

impl<T: Data> RddBase for UnionRdd<T> {
    fn meta(&self) -> &RddMeta {
        &self.meta
    }
    fn dependencies(&self) -> Vec<Dependency> {
        self.parents
            .iter()
            .map(|p| Dependency::Narrow(p.as_base()))
            .collect()
    }
    fn num_partitions(&self) -> usize {
        self.index.len()
    }
}

impl<T: Data> RddNode<T> for UnionRdd<T> {
    fn compute<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, T>> {
        let (p, s) = self.index[split];
        self.parents[p].iterator(s, tc)
    }
}
