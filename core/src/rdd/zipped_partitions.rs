//! `zip_partitions`: partition `i` of the result is a function of partition `i` of two RDDs
//! with the same partition count (Spark's zipPartitions). With two RDDs placed by the same
//! partitioner, this joins them per partition without a shuffle.

use std::marker::PhantomData;

use crate::plumbing::{BoxIter, Dependency, RddBase, RddMeta, RddNode, TaskContext};
use crate::rdd::Rdd;
use crate::{Data, Result};

pub(crate) struct ZippedPartitionsRdd<T: 'static, U: 'static, V, I, F> {
    meta: RddMeta,
    left: Rdd<T>,
    right: Rdd<U>,
    f: F,
    _out: PhantomData<fn() -> (V, I)>,
}

impl<T: Data, U: Data, V: Data, I, F> ZippedPartitionsRdd<T, U, V, I, F>
where
    I: IntoIterator<Item = V> + 'static,
    F: Fn(BoxIter<'_, T>, BoxIter<'_, U>) -> I + Send + Sync + 'static,
{
    pub(crate) fn new(left: Rdd<T>, right: Rdd<U>, f: F) -> Self {
        ZippedPartitionsRdd {
            meta: RddMeta::new(left.context(), "zip_partitions"),
            left,
            right,
            f,
            _out: PhantomData,
        }
    }
}

impl<T: Data, U: Data, V: Data, I, F> RddBase for ZippedPartitionsRdd<T, U, V, I, F>
where
    I: IntoIterator<Item = V> + 'static,
    F: Fn(BoxIter<'_, T>, BoxIter<'_, U>) -> I + Send + Sync + 'static,
{
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
        self.left.num_partitions()
    }
}

impl<T: Data, U: Data, V: Data, I, F> RddNode<V> for ZippedPartitionsRdd<T, U, V, I, F>
where
    I: IntoIterator<Item = V> + 'static,
    F: Fn(BoxIter<'_, T>, BoxIter<'_, U>) -> I + Send + Sync + 'static,
{
    fn compute<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, V>> {
        let (nl, nr) = (self.left.num_partitions(), self.right.num_partitions());
        if nl != nr {
            return Err(crate::Error::InvalidArgument(format!(
                "zip_partitions needs RDDs with the same number of partitions, got {nl} and {nr}"
            )));
        }
        let l = self.left.iterator(split, tc)?;
        let r = self.right.iterator(split, tc)?;
        Ok(Box::new((self.f)(l, r).into_iter()))
    }
}
