//! Stateless nodes: one RDD-to-RDD function per batch over one parent (every map-like
//! operation and `transform`), over two parents (`transform_with`, joins between streams), and
//! the union of several streams.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::{Data, Rdd};

use crate::dstream::DStreamInner;
use crate::error::Result;
use crate::plumbing::{DStreamBase, DStreamNode};
use crate::time::Time;

pub(crate) struct TransformedDStream<T: 'static, U, F> {
    kind: &'static str,
    /// Whether a parent without an RDD fails the batch (`transform`, as Spark) rather than
    /// passing the gap on (map-like operations).
    needs_parent: bool,
    parent: Arc<DStreamInner<T>>,
    f: F,
    _out: PhantomData<fn() -> U>,
}

impl<T: Data, U: Data, F> TransformedDStream<T, U, F>
where
    F: Fn(Rdd<T>, Time) -> Rdd<U> + Send + Sync + 'static,
{
    pub(crate) fn new(
        kind: &'static str,
        needs_parent: bool,
        parent: Arc<DStreamInner<T>>,
        f: F,
    ) -> Self {
        TransformedDStream {
            kind,
            needs_parent,
            parent,
            f,
            _out: PhantomData,
        }
    }
}

impl<T: Data, U: Data, F> DStreamNode<U> for TransformedDStream<T, U, F>
where
    F: Fn(Rdd<T>, Time) -> Rdd<U> + Send + Sync + 'static,
{
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn slide_duration(&self) -> Duration {
        self.parent.slide()
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        vec![self.parent.clone()]
    }
    fn compute(&self, time: Time) -> Result<Option<Rdd<U>>> {
        match self.parent.get_or_compute(time)? {
            Some(rdd) => Ok(Some((self.f)(rdd, time))),
            None if self.needs_parent => Err(missing(self.kind, &*self.parent, time)),
            None => Ok(None),
        }
    }
}

pub(crate) struct TransformedDStream2<T: 'static, U: 'static, V, F> {
    kind: &'static str,
    left: Arc<DStreamInner<T>>,
    right: Arc<DStreamInner<U>>,
    f: F,
    _out: PhantomData<fn() -> V>,
}

impl<T: Data, U: Data, V: Data, F> TransformedDStream2<T, U, V, F>
where
    F: Fn(Rdd<T>, Rdd<U>, Time) -> Rdd<V> + Send + Sync + 'static,
{
    pub(crate) fn new(
        kind: &'static str,
        left: Arc<DStreamInner<T>>,
        right: Arc<DStreamInner<U>>,
        f: F,
    ) -> Self {
        TransformedDStream2 {
            kind,
            left,
            right,
            f,
            _out: PhantomData,
        }
    }
}

impl<T: Data, U: Data, V: Data, F> DStreamNode<V> for TransformedDStream2<T, U, V, F>
where
    F: Fn(Rdd<T>, Rdd<U>, Time) -> Rdd<V> + Send + Sync + 'static,
{
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn slide_duration(&self) -> Duration {
        self.left.slide()
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        vec![self.left.clone(), self.right.clone()]
    }
    fn validate(&self, _batch: Duration) -> Result<()> {
        same_slide(&[self.left.slide(), self.right.slide()], self.kind)
    }
    fn compute(&self, time: Time) -> Result<Option<Rdd<V>>> {
        // As Spark: a parent without an RDD for a batch fails that batch.
        let l = self
            .left
            .get_or_compute(time)?
            .ok_or_else(|| missing(self.kind, &*self.left, time))?;
        let r = self
            .right
            .get_or_compute(time)?
            .ok_or_else(|| missing(self.kind, &*self.right, time))?;
        Ok(Some((self.f)(l, r, time)))
    }
}

/// One RDD-to-RDD function per batch over several parents of one type
/// (`StreamingContext::transform`).
pub(crate) struct TransformedDStreamN<T: 'static, U, F> {
    parents: Vec<Arc<DStreamInner<T>>>,
    f: F,
    _out: PhantomData<fn() -> U>,
}

impl<T: Data, U: Data, F> TransformedDStreamN<T, U, F>
where
    F: Fn(Vec<Rdd<T>>, Time) -> Rdd<U> + Send + Sync + 'static,
{
    pub(crate) fn new(parents: Vec<Arc<DStreamInner<T>>>, f: F) -> Self {
        TransformedDStreamN {
            parents,
            f,
            _out: PhantomData,
        }
    }
}

impl<T: Data, U: Data, F> DStreamNode<U> for TransformedDStreamN<T, U, F>
where
    F: Fn(Vec<Rdd<T>>, Time) -> Rdd<U> + Send + Sync + 'static,
{
    fn kind(&self) -> &'static str {
        "transform"
    }
    fn slide_duration(&self) -> Duration {
        self.parents[0].slide()
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        self.parents
            .iter()
            .map(|p| p.clone() as Arc<dyn DStreamBase>)
            .collect()
    }
    fn validate(&self, _batch: Duration) -> Result<()> {
        let slides: Vec<Duration> = self.parents.iter().map(|p| p.slide()).collect();
        same_slide(&slides, "transform")
    }
    fn compute(&self, time: Time) -> Result<Option<Rdd<U>>> {
        // As Spark: a parent without an RDD for a batch fails that batch.
        let rdds = self
            .parents
            .iter()
            .map(|p| {
                p.get_or_compute(time)?
                    .ok_or_else(|| missing("transform", &**p, time))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((self.f)(rdds, time)))
    }
}

/// The error of a batch whose `parent` gave `child` no RDD.
fn missing(child: &'static str, parent: &dyn DStreamBase, time: Time) -> crate::error::Error {
    crate::error::Error::MissingParentRdd {
        child,
        parent: format!("{} ({})", parent.id(), parent.kind()),
        time,
    }
}

pub(crate) fn same_slide(slides: &[Duration], kind: &str) -> Result<()> {
    if slides.windows(2).any(|w| w[0] != w[1]) {
        return Err(crate::error::Error::InvalidGraph(format!(
            "{kind} needs streams with the same slide duration, got {:?}; window them to a common slide first",
            slides
        )));
    }
    Ok(())
}

pub(crate) struct UnionDStream<T: 'static> {
    parents: Vec<Arc<DStreamInner<T>>>,
}

impl<T: Data> UnionDStream<T> {
    pub(crate) fn new(parents: Vec<Arc<DStreamInner<T>>>) -> Self {
        UnionDStream { parents }
    }
}

impl<T: Data> DStreamNode<T> for UnionDStream<T> {
    fn kind(&self) -> &'static str {
        "union"
    }
    fn slide_duration(&self) -> Duration {
        self.parents
            .first()
            .map(|p| p.slide())
            .unwrap_or(Duration::from_millis(1))
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        self.parents
            .iter()
            .map(|p| p.clone() as Arc<dyn DStreamBase>)
            .collect()
    }
    fn validate(&self, _batch: Duration) -> Result<()> {
        let slides: Vec<Duration> = self.parents.iter().map(|p| p.slide()).collect();
        same_slide(&slides, "union")
    }
    fn compute(&self, time: Time) -> Result<Option<Rdd<T>>> {
        let mut rdds = Vec::with_capacity(self.parents.len());
        for p in &self.parents {
            // As Spark: a parent without an RDD for a batch fails that batch.
            rdds.push(
                p.get_or_compute(time)?
                    .ok_or_else(|| missing("union", &**p, time))?,
            );
        }
        match rdds.first() {
            None => Ok(None),
            Some(first) => {
                let ctx = first.context().clone();
                Ok(Some(ctx.union(&rdds)))
            }
        }
    }
}
