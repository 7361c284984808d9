//! `ShuffledRdd`: the reduce side of a shuffle. The map side (`ShuffleDep`) runs a writer per
//! parent partition that splits records, optionally combined, into one bucket per reduce
//! partition. The reduce side reads bucket `i` of every map output, downcasting once per
//! bucket, and clones its records out (outputs stay for later jobs).

use std::any::Any;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::hash::StableHashMap;
use crate::partitioner::Partitioner;
use crate::plumbing::{
    BoxIter, Bucket, Dependency, RddBase, RddMeta, RddNode, ShuffleDependency, TaskContext,
};
use crate::rdd::Rdd;
use crate::{Context, Data, Error, Result};

/// Splits one map partition into buckets.
/// Writes a map task's records (read as chunks: no virtual call per record) into buckets.
pub(crate) type Writer<K, V, M> = Box<
    dyn Fn(crate::plumbing::ChunkIter<'_, (K, V)>, &dyn Partitioner<K>) -> Vec<Vec<(K, M)>>
        + Send
        + Sync,
>;

pub(crate) struct ShuffleDep<K: 'static, V: 'static, M> {
    id: usize,
    ctx: Context,
    parent: Rdd<(K, V)>,
    partitioner: Arc<dyn Partitioner<K>>,
    writer: Writer<K, V, M>,
}

impl<K: 'static, V: 'static, M> Drop for ShuffleDep<K, V, M> {
    fn drop(&mut self) {
        self.ctx.inner.shuffles.remove(self.id);
    }
}

impl<K: Data, V: Data, M: Data> ShuffleDependency for ShuffleDep<K, V, M> {
    fn shuffle_id(&self) -> usize {
        self.id
    }
    fn parent(&self) -> Arc<dyn RddBase> {
        self.parent.as_base()
    }
    fn num_reduce_partitions(&self) -> usize {
        self.partitioner.num_partitions()
    }
    fn prepare(&self) -> Result<()> {
        self.partitioner.prepare()
    }
    fn run_map_task(&self, split: usize, tc: &TaskContext) -> Result<Vec<Bucket>> {
        let input = crate::plumbing::ChunkIter::new(self.parent.chunks(split, tc)?);
        let buckets = (self.writer)(input, self.partitioner.as_ref());
        Ok(buckets
            .into_iter()
            .map(|b| Arc::new(b) as Arc<dyn Any + Send + Sync>)
            .collect())
    }
}

pub(crate) struct ShuffledRdd<K, M> {
    meta: RddMeta,
    dep: Arc<dyn ShuffleDependency>,
    shuffle_id: usize,
    partitions: usize,
    _out: PhantomData<fn() -> (K, M)>,
}

impl<K: Data, M: Data> ShuffledRdd<K, M> {
    /// A shuffle of `parent` by `partitioner`, written by `writer`.
    pub(crate) fn build<V: Data>(
        parent: &Rdd<(K, V)>,
        partitioner: Arc<dyn Partitioner<K>>,
        writer: Writer<K, V, M>,
    ) -> Rdd<(K, M)> {
        let ctx = parent.context().clone();
        let id = ctx.new_shuffle_id();
        let partitions = partitioner.num_partitions();
        let placement = partitioner.placement();
        let dep = Arc::new(ShuffleDep {
            id,
            ctx: ctx.clone(),
            parent: parent.clone(),
            partitioner,
            writer,
        });
        Rdd::from_node(ShuffledRdd {
            meta: RddMeta::new(&ctx, "shuffled"),
            dep,
            shuffle_id: id,
            partitions,
            _out: PhantomData,
        })
        .placed_as(placement)
    }
}

impl<K: Data, M: Data> RddBase for ShuffledRdd<K, M> {
    fn meta(&self) -> &RddMeta {
        &self.meta
    }
    fn dependencies(&self) -> Vec<Dependency> {
        vec![Dependency::Shuffle(self.dep.clone())]
    }
    fn num_partitions(&self) -> usize {
        self.partitions
    }
}

impl<K: Data, M: Data> RddNode<(K, M)> for ShuffledRdd<K, M> {
    fn compute<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, (K, M)>> {
        let outputs = tc
            .context()
            .inner
            .shuffles
            .get(self.shuffle_id)
            .ok_or_else(|| {
                Error::Internal(format!(
                    "map outputs of shuffle {} are missing for a reduce task",
                    self.shuffle_id
                ))
            })?;
        let mut buckets: Vec<Arc<Vec<(K, M)>>> = Vec::with_capacity(outputs.len());
        for map_output in outputs.iter() {
            let bucket = map_output[split]
                .clone()
                .downcast::<Vec<(K, M)>>()
                .map_err(|_| {
                    Error::Internal(format!(
                        "shuffle {} bucket has the wrong type",
                        self.shuffle_id
                    ))
                })?;
            if !bucket.is_empty() {
                buckets.push(bucket);
            }
        }
        Ok(Box::new(
            buckets
                .into_iter()
                .flat_map(|b| (0..b.len()).map(move |i| b[i].clone())),
        ))
    }
}

/// Places records by their `usize` key modulo the partition count (repartition's round robin).
pub(crate) struct IdentityPartitioner(pub(crate) usize);

impl Partitioner<usize> for IdentityPartitioner {
    fn num_partitions(&self) -> usize {
        self.0
    }
    fn partition(&self, key: &usize) -> usize {
        key % self.0
    }
}

/// The plain writer: records go to their key's bucket as they are.
pub(crate) fn plain_writer<K: Data, V: Data>() -> Writer<K, V, V> {
    Box::new(|input, partitioner| {
        let mut buckets: Vec<Vec<(K, V)>> = (0..partitioner.num_partitions())
            .map(|_| Vec::new())
            .collect();
        // Internal iteration, as in `merge_by_key`.
        input.for_each(|(k, v)| {
            let p = partitioner.partition(&k);
            buckets[p].push((k, v));
        });
        buckets
    })
}

/// Combines values per key in a hash map (map-side combine), then buckets the combiners.
pub(crate) fn combining_writer<K, V, C, FC, FM>(create: FC, merge_value: FM) -> Writer<K, V, C>
where
    K: Data + Hash + Eq,
    V: Data,
    C: Data,
    FC: Fn(V) -> C + Send + Sync + 'static,
    FM: Fn(C, V) -> C + Send + Sync + 'static,
{
    Box::new(move |input, partitioner| {
        let mut buckets: Vec<Vec<(K, C)>> = (0..partitioner.num_partitions())
            .map(|_| Vec::new())
            .collect();
        for (k, c) in merge_by_key(input, &create, &merge_value) {
            let p = partitioner.partition(&k);
            buckets[p].push((k, c));
        }
        buckets
    })
}

/// Merges `(K, X)` records into one value per key, in a hash map; the reduce side of
/// combine-by-key operations. Keys come out in a deterministic order.
pub(crate) fn merge_by_key<K, X, C>(
    input: impl Iterator<Item = (K, X)>,
    create: impl Fn(X) -> C,
    merge: impl Fn(C, X) -> C,
) -> Vec<(K, C)>
where
    K: Hash + Eq,
{
    let mut map: StableHashMap<K, Option<C>> = StableHashMap::default();
    // Internal iteration: a chunked input then runs its `fold`, one tight loop per chunk,
    // where `for` would pay a buffer check and a fresh chunk per `next`.
    input.for_each(|(k, x)| {
        // Looking up by reference first is cheaper than `entry` on the hit path, which is
        // nearly every record when combining.
        match map.get_mut(&k) {
            Some(slot) => {
                let c = slot
                    .take()
                    .expect("combiner slots are always full between records");
                *slot = Some(merge(c, x));
            }
            None => {
                map.insert(k, Some(create(x)));
            }
        }
    });
    map.into_iter()
        .map(|(k, c)| (k, c.expect("combiner slots are always full")))
        .collect()
}
