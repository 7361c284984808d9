//! The DAG scheduler: an action runs a job; the job's stages are cut at shuffle dependencies
//! and run parents first, each stage's tasks in parallel on the context's pool, one task per
//! partition. Map outputs already in the shuffle store are reused, so a later job on the same
//! lineage skips their stages. The lineage is walked with an explicit stack, never recursion.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use rayon::prelude::*;

use crate::plumbing::{
    effective_dependencies, BoxIter, Dependency, RddBase, ShuffleDependency, TaskContext,
};
use crate::rdd::Rdd;
use crate::{Context, Data, Error, Result};

enum Visit {
    Enter(Arc<dyn RddBase>),
    Leave(Arc<dyn RddBase>),
    LeaveShuffle(Arc<dyn ShuffleDependency>),
}

/// Prepares every node the job needs and returns the shuffles whose outputs are missing,
/// parents first (post-order of an iterative depth-first walk).
fn plan(ctx: &Context, root: Arc<dyn RddBase>) -> Result<Vec<Arc<dyn ShuffleDependency>>> {
    let mut seen_rdds = HashSet::new();
    let mut seen_shuffles = HashSet::new();
    let mut missing = Vec::new();
    let mut stack = vec![Visit::Enter(root)];
    while let Some(visit) = stack.pop() {
        match visit {
            Visit::Enter(node) => {
                if !seen_rdds.insert(node.meta().id()) {
                    continue;
                }
                let deps = effective_dependencies(node.as_ref());
                stack.push(Visit::Leave(node));
                for dep in deps.into_iter().rev() {
                    match dep {
                        Dependency::Narrow(parent) => stack.push(Visit::Enter(parent)),
                        Dependency::Shuffle(shuffle) => {
                            if ctx.inner.shuffles.contains(shuffle.shuffle_id()) {
                                continue;
                            }
                            let parent = shuffle.parent();
                            stack.push(Visit::LeaveShuffle(shuffle));
                            stack.push(Visit::Enter(parent));
                        }
                    }
                }
            }
            Visit::Leave(node) => node.prepare()?,
            Visit::LeaveShuffle(shuffle) => {
                if seen_shuffles.insert(shuffle.shuffle_id()) {
                    shuffle.prepare()?;
                    missing.push(shuffle);
                }
            }
        }
    }
    Ok(missing)
}

/// Runs `f` in a task for partition `partition`; a panic becomes [`Error::Task`] naming `rdd`.
fn run_task<R>(
    ctx: &Context,
    job_id: usize,
    stage_id: usize,
    rdd: &dyn RddBase,
    partition: usize,
    f: impl FnOnce(&TaskContext) -> Result<R>,
) -> Result<R> {
    let tc = TaskContext::new(ctx, job_id, stage_id, partition);
    match catch_unwind(AssertUnwindSafe(|| f(&tc))) {
        Ok(result) => {
            let value = result?;
            match tc.take_failure() {
                Some(e) => Err(e),
                None => Ok(value),
            }
        }
        Err(payload) => {
            let message = if let Some(s) = payload.downcast_ref::<&str>() {
                (*s).to_owned()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "panic with a non-string payload".to_owned()
            };
            Err(Error::Task {
                rdd: rdd.meta().label(),
                partition,
                message: format!("panicked: {message}"),
            })
        }
    }
}

/// Runs the map stage of `shuffle` and stores its outputs.
fn run_shuffle_map_stage(
    ctx: &Context,
    job_id: usize,
    shuffle: &Arc<dyn ShuffleDependency>,
) -> Result<()> {
    let parent = shuffle.parent();
    let n = parent.num_partitions();
    let stage_id = shuffle.shuffle_id();
    let outputs: Vec<_> = ctx.inner.pool.install(|| {
        (0..n)
            .into_par_iter()
            .map(|split| {
                run_task(ctx, job_id, stage_id, parent.as_ref(), split, |tc| {
                    shuffle.run_map_task(split, tc)
                })
            })
            .collect::<Result<Vec<_>>>()
    })?;
    ctx.inner.shuffles.put(shuffle.shuffle_id(), outputs);
    Ok(())
}

/// Runs a job over `partitions` of `rdd`: missing shuffle map stages first, then one result
/// task per partition applying `f`. Results come back in the order of `partitions`.
pub(crate) fn run_job<T, R, F>(rdd: &Rdd<T>, partitions: &[usize], f: F) -> Result<Vec<R>>
where
    T: Data,
    R: Send,
    F: Fn(&TaskContext, BoxIter<'_, T>) -> Result<R> + Send + Sync,
{
    run_job_with(rdd, partitions, |tc, split| {
        let it = rdd.iterator(split, tc)?;
        f(tc, it)
    })
}

/// [`run_job`], with the records of each partition read as chunks: for actions that fold
/// every record (count, fold, reduce), so a chain of narrow stages ends in a loop with no
/// virtual call per record.
pub(crate) fn run_chunked_job<T, R, F>(rdd: &Rdd<T>, f: F) -> Result<Vec<R>>
where
    T: Data,
    R: Send,
    F: Fn(&TaskContext, crate::plumbing::ChunkIter<'_, T>) -> Result<R> + Send + Sync,
{
    let all: Vec<usize> = (0..rdd.num_partitions()).collect();
    run_job_with(rdd, &all, |tc, split| {
        let chunks = rdd.chunks(split, tc)?;
        f(tc, crate::plumbing::ChunkIter::new(chunks))
    })
}

/// Runs missing shuffle map stages, then `task(tc, split)` for each of `partitions`.
fn run_job_with<T, R, F>(rdd: &Rdd<T>, partitions: &[usize], task: F) -> Result<Vec<R>>
where
    T: Data,
    R: Send,
    F: Fn(&TaskContext, usize) -> Result<R> + Send + Sync,
{
    let ctx = rdd.context().clone();
    if ctx.is_stopped() {
        return Err(Error::ContextStopped);
    }
    let job_id = ctx.new_job_id();
    let n = rdd.num_partitions();
    if let Some(bad) = partitions.iter().find(|&&p| p >= n) {
        return Err(Error::InvalidArgument(format!(
            "partition {bad} does not exist; the RDD has {n} partitions"
        )));
    }
    for shuffle in plan(&ctx, rdd.as_base())? {
        log::debug!(
            "job {job_id}: map stage of shuffle {}",
            shuffle.shuffle_id()
        );
        run_shuffle_map_stage(&ctx, job_id, &shuffle)?;
    }
    let base = rdd.as_base();
    ctx.inner.pool.install(|| {
        partitions
            .par_iter()
            .map(|&split| {
                run_task(&ctx, job_id, usize::MAX, base.as_ref(), split, |tc| {
                    task(tc, split)
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use crate::Context;

    #[test]
    fn shuffle_outputs_and_cached_blocks_die_with_their_rdd() {
        let ctx = Context::local(2);
        let reduced = ctx
            .parallelize((0..100u32).collect(), 4)
            .map(|x| (x % 3, x))
            .reduce_by_key(|a, b| a + b)
            .cache();
        assert_eq!(reduced.count().expect("count"), 3);
        assert_eq!(ctx.inner.shuffles.len(), 1);
        assert_eq!(ctx.inner.blocks.len(), reduced.num_partitions());
        drop(reduced);
        assert_eq!(ctx.inner.shuffles.len(), 0, "map outputs freed");
        assert_eq!(ctx.inner.blocks.len(), 0, "cached blocks freed");
    }

    #[test]
    fn a_stopped_context_refuses_jobs() {
        let ctx = Context::local(1);
        let rdd = ctx.parallelize(vec![1, 2], 2);
        ctx.stop();
        assert!(ctx.is_stopped());
        assert!(matches!(rdd.count(), Err(crate::Error::ContextStopped)));
    }

    #[test]
    fn asking_for_a_partition_that_does_not_exist_is_an_error() {
        let ctx = Context::local(1);
        let rdd = ctx.parallelize(vec![1, 2], 2);
        let err = rdd.run_job_on(&[5], |_, it| Ok(it.count())).unwrap_err();
        assert!(
            err.to_string().contains("partition 5 does not exist"),
            "{err}"
        );
    }
}
