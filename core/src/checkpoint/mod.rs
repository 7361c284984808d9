//! RDD checkpoints: each partition written as one checksummed file, and the RDD that reads
//! them back. The format is described in README.md beside this file.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::framing::FileFrame;
use crate::plumbing::{BoxIter, Dependency, RddBase, RddMeta, RddNode, TaskContext};
use crate::rdd::Rdd;
use crate::{Context, Data, Error, Result};

/// Every part file is one frame (see `crate::framing`).
const FRAME: FileFrame = FileFrame::new(b"EMBRCKP1", None);
const COUNT_FILE: &str = "_partitions";

/// The subdirectory of the checkpoint dir that belongs to `ctx`.
pub(crate) fn context_subdir(ctx: &Context) -> String {
    format!("ctx-{}", ctx.inner.instance)
}

fn part_name(i: usize) -> String {
    format!("part-{i:05}")
}

/// Writes every partition of `rdd` into `dir` (a job), then the partition count file.
pub(crate) fn write_rdd<T>(rdd: &Rdd<T>, dir: &Path) -> Result<()>
where
    T: Data + Serialize + DeserializeOwned,
{
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let dir_buf = dir.to_path_buf();
    rdd.run_job(move |tc, it| {
        let data: Vec<T> = it.collect();
        let payload = bincode::serialize(&data).map_err(|e| Error::Serialization(e.to_string()))?;
        crate::io::write_atomically(
            &dir_buf.join(part_name(tc.partition())),
            &FRAME.encode(&payload),
        )
    })?;
    crate::fault::kill_point(rdd.context(), "state-checkpoint-mid-write");
    crate::io::write_atomically(
        &dir.join(COUNT_FILE),
        format!("{}\n", rdd.num_partitions()).as_bytes(),
    )
}

/// An RDD over the checkpoint files in `dir`.
pub(crate) fn read_rdd<T>(ctx: &Context, dir: &Path) -> Result<Rdd<T>>
where
    T: Data + Serialize + DeserializeOwned,
{
    let count_path = dir.join(COUNT_FILE);
    let text = std::fs::read_to_string(&count_path).map_err(|e| Error::io(&count_path, e))?;
    let partitions: usize = text.trim().parse().map_err(|_| Error::CorruptCheckpoint {
        path: count_path.clone(),
        reason: format!("partition count {:?} is not a number", text.trim()),
    })?;
    for i in 0..partitions {
        let p = dir.join(part_name(i));
        if !p.is_file() {
            return Err(Error::CorruptCheckpoint {
                path: p,
                reason: format!("missing: the checkpoint has {partitions} partitions"),
            });
        }
    }
    Ok(Rdd::from_node(CheckpointRdd::<T> {
        meta: RddMeta::new(ctx, "checkpoint"),
        dir: dir.to_path_buf(),
        partitions,
        decode: |bytes| bincode::deserialize(bytes).map_err(|e| e.to_string()),
    }))
}

struct CheckpointRdd<T> {
    meta: RddMeta,
    dir: PathBuf,
    partitions: usize,
    decode: fn(&[u8]) -> std::result::Result<Vec<T>, String>,
}

impl<T: Data> RddBase for CheckpointRdd<T> {
    fn meta(&self) -> &RddMeta {
        &self.meta
    }
    fn dependencies(&self) -> Vec<Dependency> {
        Vec::new()
    }
    fn num_partitions(&self) -> usize {
        self.partitions
    }
}

impl<T: Data> RddNode<T> for CheckpointRdd<T> {
    fn compute<'a>(&'a self, split: usize, _tc: &'a TaskContext) -> Result<BoxIter<'a, T>> {
        let path = self.dir.join(part_name(split));
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let payload = FRAME
            .decode(&bytes)
            .map_err(|reason| Error::CorruptCheckpoint {
                path: path.clone(),
                reason,
            })?;
        let data = (self.decode)(payload).map_err(|e| Error::CorruptCheckpoint {
            path: path.clone(),
            reason: format!("cannot decode: {e}"),
        })?;
        Ok(Box::new(data.into_iter()))
    }
}
