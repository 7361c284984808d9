//! One-parent, one-to-one-partition nodes: map, flat_map, filter, map_partitions. The user
//! closure is a generic field (static dispatch per record); erasure happens once, at the node.

use std::marker::PhantomData;

use crate::plumbing::{BoxIter, Dependency, RddBase, RddMeta, RddNode, TaskContext};
use crate::rdd::Rdd;
use crate::{Data, Result};

macro_rules! one_parent_base {
    ($ty:ident < $($g:ident),* > where $($bounds:tt)*) => {
        impl<$($g),*> RddBase for $ty<$($g),*> where $($bounds)* {
            fn meta(&self) -> &RddMeta {
                &self.meta
            }
            fn dependencies(&self) -> Vec<Dependency> {
                vec![Dependency::Narrow(self.parent.as_base())]
            }
            fn num_partitions(&self) -> usize {
                self.parent.num_partitions()
            }
        }
    };
}

pub(crate) struct MappedRdd<T: 'static, U, F> {
    meta: RddMeta,
    parent: Rdd<T>,
    f: F,
    _out: PhantomData<fn() -> U>,
}

impl<T: Data, U: Data, F: Fn(T) -> U + Send + Sync + 'static> MappedRdd<T, U, F> {
    pub(crate) fn new(parent: Rdd<T>, name: &str, f: F) -> Self {
        MappedRdd {
            meta: RddMeta::new(parent.context(), name),
            parent,
            f,
            _out: PhantomData,
        }
    }
}

one_parent_base!(MappedRdd<T, U, F> where T: Data, U: Data, F: Fn(T) -> U + Send + Sync + 'static);

impl<T: Data, U: Data, F: Fn(T) -> U + Send + Sync + 'static> RddNode<U> for MappedRdd<T, U, F> {
    fn compute<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, U>> {
        Ok(Box::new(self.parent.iterator(split, tc)?.map(&self.f)))
    }
}

pub(crate) struct FlatMappedRdd<T: 'static, U, I, F> {
    meta: RddMeta,
    parent: Rdd<T>,
    f: F,
    _out: PhantomData<fn() -> (U, I)>,
}

impl<T, U, I, F> FlatMappedRdd<T, U, I, F>
where
    T: Data,
    U: Data,
    I: IntoIterator<Item = U> + 'static,
    F: Fn(T) -> I + Send + Sync + 'static,
{
    pub(crate) fn new(parent: Rdd<T>, f: F) -> Self {
        FlatMappedRdd {
            meta: RddMeta::new(parent.context(), "flat_map"),
            parent,
            f,
            _out: PhantomData,
        }
    }
}

one_parent_base!(FlatMappedRdd<T, U, I, F> where T: Data, U: Data, I: IntoIterator<Item = U> + 'static, F: Fn(T) -> I + Send + Sync + 'static);

impl<T, U, I, F> RddNode<U> for FlatMappedRdd<T, U, I, F>
where
    T: Data,
    U: Data,
    I: IntoIterator<Item = U> + 'static,
    F: Fn(T) -> I + Send + Sync + 'static,
{
    fn compute<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, U>> {
        Ok(Box::new(self.parent.iterator(split, tc)?.flat_map(&self.f)))
    }
}

pub(crate) struct FilteredRdd<T: 'static, F> {
    meta: RddMeta,
    parent: Rdd<T>,
    f: F,
}

impl<T: Data, F: Fn(&T) -> bool + Send + Sync + 'static> FilteredRdd<T, F> {
    pub(crate) fn new(parent: Rdd<T>, f: F) -> Self {
        FilteredRdd {
            meta: RddMeta::new(parent.context(), "filter"),
            parent,
            f,
        }
    }
}

one_parent_base!(FilteredRdd<T, F> where T: Data, F: Fn(&T) -> bool + Send + Sync + 'static);

impl<T: Data, F: Fn(&T) -> bool + Send + Sync + 'static> RddNode<T> for FilteredRdd<T, F> {
    fn compute<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, T>> {
        Ok(Box::new(
            self.parent
                .iterator(split, tc)?
                .filter(move |x| (self.f)(x)),
        ))
    }
}

pub(crate) struct MapPartitionsRdd<T: 'static, U, I, F> {
    meta: RddMeta,
    parent: Rdd<T>,
    f: F,
    _out: PhantomData<fn() -> (U, I)>,
}

impl<T, U, I, F> MapPartitionsRdd<T, U, I, F>
where
    T: Data,
    U: Data,
    I: IntoIterator<Item = U> + 'static,
    F: Fn(usize, BoxIter<'_, T>) -> I + Send + Sync + 'static,
{
    pub(crate) fn new(parent: Rdd<T>, f: F) -> Self {
        MapPartitionsRdd {
            meta: RddMeta::new(parent.context(), "map_partitions"),
            parent,
            f,
            _out: PhantomData,
        }
    }
}

one_parent_base!(MapPartitionsRdd<T, U, I, F> where T: Data, U: Data, I: IntoIterator<Item = U> + 'static, F: Fn(usize, BoxIter<'_, T>) -> I + Send + Sync + 'static);

impl<T, U, I, F> RddNode<U> for MapPartitionsRdd<T, U, I, F>
where
    T: Data,
    U: Data,
    I: IntoIterator<Item = U> + 'static,
    F: Fn(usize, BoxIter<'_, T>) -> I + Send + Sync + 'static,
{
    fn compute<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, U>> {
        let input = self.parent.iterator(split, tc)?;
        Ok(Box::new((self.f)(split, input).into_iter()))
    }
}
