//! `zip_with_index`: the start index of each partition is the count of the partitions before
//! it, counted on the driver in `prepare`, when the first job needing it runs.

use std::sync::OnceLock;

use crate::plumbing::{BoxIter, Dependency, RddBase, RddMeta, RddNode, TaskContext};
use crate::rdd::Rdd;
use crate::{Data, Result};

pub(crate) struct ZippedWithIndexRdd<T: 'static> {
    meta: RddMeta,
    parent: Rdd<T>,
    starts: OnceLock<Vec<u64>>,
}

impl<T: Data> ZippedWithIndexRdd<T> {
    pub(crate) fn new(parent: Rdd<T>) -> Self {
        ZippedWithIndexRdd {
            meta: RddMeta::new(parent.context(), "zip_with_index"),
            parent,
            starts: OnceLock::new(),
        }
    }
}

impl<T: Data> RddBase for ZippedWithIndexRdd<T> {
    fn meta(&self) -> &RddMeta {
        &self.meta
    }
    fn dependencies(&self) -> Vec<Dependency> {
        vec![Dependency::Narrow(self.parent.as_base())]
    }
    fn num_partitions(&self) -> usize {
        self.parent.num_partitions()
    }
    fn prepare(&self) -> Result<()> {
        if self.starts.get().is_some() {
            return Ok(());
        }
        let n = self.parent.num_partitions();
        // The last partition's size is not needed, as in Spark.
        let counts: Vec<u64> = if n > 1 {
            let parts: Vec<usize> = (0..n - 1).collect();
            self.parent
                .run_job_on(&parts, |_, it| Ok(it.count() as u64))?
        } else {
            Vec::new()
        };
        let mut starts = Vec::with_capacity(n);
        let mut acc = 0u64;
        starts.push(0);
        for c in counts {
            acc += c;
            starts.push(acc);
        }
        starts.truncate(n);
        let _ = self.starts.set(starts);
        Ok(())
    }
}

impl<T: Data> RddNode<(T, u64)> for ZippedWithIndexRdd<T> {
    fn compute<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, (T, u64)>> {
        let start = self
            .starts
            .get()
            .ok_or_else(|| crate::Error::Internal("zip_with_index was not prepared".into()))?
            [split];
        Ok(Box::new(self.parent.iterator(split, tc)?.zip(start..)))
    }
}
