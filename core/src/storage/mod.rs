//! The block store: persisted partitions, keyed by `(rdd id, partition)`. Memory blocks hold
//! the records as objects (`Arc<Vec<T>>`) or bincode bytes; disk blocks live as files in the
//! context's local directory. Blocks are removed when their RDD is dropped or unpersisted.

use std::any::Any;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::{Mutex, ReentrantMutex};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::plumbing::{BoxIter, TaskContext};
use crate::rdd::Rdd;
use crate::{Data, Error, Result};

/// Where and how persisted partitions are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageLevel {
    /// Records as objects in memory: fastest to read; what `cache()` uses.
    MemoryOnly,
    /// Records serialized with bincode in memory: compact.
    MemoryOnlySer,
    /// Records serialized with bincode in files of the context's local directory.
    DiskOnly,
}

/// Encodes and decodes a partition of `T`; stored type-erased on the node by `persist`, so
/// `iterator` needs no serde bound.
pub(crate) struct Codec<T> {
    pub(crate) encode: fn(&[T]) -> Result<Vec<u8>>,
    pub(crate) decode: fn(&[u8]) -> Result<Vec<T>>,
}

impl<T: Serialize + DeserializeOwned> Codec<T> {
    pub(crate) fn new() -> Self {
        Codec {
            encode: |v| bincode::serialize(v).map_err(|e| Error::Serialization(e.to_string())),
            decode: |b| bincode::deserialize(b).map_err(|e| Error::Serialization(e.to_string())),
        }
    }
}

enum Block {
    Objects(Arc<dyn Any + Send + Sync>),
    Bytes(Arc<Vec<u8>>),
    File(PathBuf),
}

impl Clone for Block {
    fn clone(&self) -> Self {
        match self {
            Block::Objects(a) => Block::Objects(a.clone()),
            Block::Bytes(b) => Block::Bytes(b.clone()),
            Block::File(p) => Block::File(p.clone()),
        }
    }
}

/// A block's key: `(rdd id, partition)`.
type BlockKey = (usize, usize);

pub(crate) struct BlockStore {
    blocks: Mutex<HashMap<BlockKey, Block>>,
    /// The blocks being computed, each with the lock its computing task holds: another task
    /// that needs the block waits for it instead of computing it again (two tasks of one
    /// stage reading one cached partition, as a union of two branches of it does). Reentrant
    /// because a thread computing a block may, inside a nested job, pick up another task
    /// that needs the same block; that task computes it again rather than deadlock.
    computing: Mutex<HashMap<BlockKey, Arc<ReentrantMutex<()>>>>,
    dir: PathBuf,
    /// Whether `dir` is ours to delete.
    owned_dir: bool,
}

impl BlockStore {
    pub(crate) fn new(dir: Option<PathBuf>) -> Result<Self> {
        let (dir, owned_dir) = match dir {
            Some(d) => (d, false),
            None => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                let d = std::env::temp_dir().join(format!(
                    "emberflow-{}-{nanos:x}-{:x}",
                    std::process::id(),
                    unique_token()
                ));
                (d, true)
            }
        };
        Ok(BlockStore {
            blocks: Mutex::new(HashMap::new()),
            computing: Mutex::new(HashMap::new()),
            dir,
            owned_dir,
        })
    }

    fn get(&self, key: (usize, usize)) -> Option<Block> {
        self.blocks.lock().get(&key).cloned()
    }

    fn put(&self, key: (usize, usize), block: Block) {
        self.blocks.lock().insert(key, block);
    }

    /// The lock of the block `key` while it is being computed.
    fn computing(&self, key: BlockKey) -> Computing<'_> {
        let lock = self.computing.lock().entry(key).or_default().clone();
        Computing {
            store: self,
            key,
            lock,
        }
    }

    pub(crate) fn remove_rdd(&self, rdd_id: usize) {
        let removed: Vec<Block> = {
            let mut blocks = self.blocks.lock();
            let keys: Vec<_> = blocks.keys().filter(|k| k.0 == rdd_id).copied().collect();
            keys.into_iter().filter_map(|k| blocks.remove(&k)).collect()
        };
        for b in removed {
            if let Block::File(p) = b {
                if let Err(e) = std::fs::remove_file(&p) {
                    log::warn!("could not remove block file {}: {e}", p.display());
                }
            }
        }
    }

    /// How many blocks are stored (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.blocks.lock().len()
    }
}

/// A block being computed; dropped once it is stored, failed or its task panicked, after
/// which later tasks find the block in the store (or compute it afresh).
struct Computing<'s> {
    store: &'s BlockStore,
    key: BlockKey,
    lock: Arc<ReentrantMutex<()>>,
}

impl Drop for Computing<'_> {
    fn drop(&mut self) {
        self.store.computing.lock().remove(&self.key);
    }
}

impl Drop for BlockStore {
    fn drop(&mut self) {
        if self.owned_dir && self.dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                log::warn!("could not remove local dir {}: {e}", self.dir.display());
            }
        }
    }
}

/// A value that differs between calls: std's `RandomState` is randomly keyed per instance.
pub(crate) fn unique_token() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

fn codec<T: Data>(rdd: &Rdd<T>) -> Result<Arc<Codec<T>>> {
    let any = rdd
        .node()
        .meta()
        .codec
        .lock()
        .clone()
        .ok_or_else(|| Error::Internal("serialized storage level without a codec".into()))?;
    any.downcast::<Codec<T>>()
        .map_err(|_| Error::Internal("codec of the wrong type".into()))
}

fn vec_iter<'a, T: Data>(v: Arc<Vec<T>>) -> BoxIter<'a, T> {
    Box::new((0..v.len()).map(move |i| v[i].clone()))
}

/// Reads partition `split` of a persisted RDD from the store, or computes and stores it.
pub(crate) fn get_or_compute<'a, T: Data>(
    rdd: &'a Rdd<T>,
    level: StorageLevel,
    split: usize,
    tc: &'a TaskContext,
) -> Result<BoxIter<'a, T>> {
    let store = &tc.context().inner.blocks;
    let key = (rdd.id(), split);
    if let Some(block) = store.get(key) {
        return read_block(rdd, block);
    }
    let computing = store.computing(key);
    let _held = computing.lock.lock();
    // Stored by the task this one waited for (unless that one failed).
    if let Some(block) = store.get(key) {
        return read_block(rdd, block);
    }
    let data: Vec<T> = rdd.node().compute(split, tc)?.collect();
    if tc.has_failed() {
        // Never store a partial partition.
        return Ok(Box::new(data.into_iter()));
    }
    match level {
        StorageLevel::MemoryOnly => {
            let v = Arc::new(data);
            store.put(key, Block::Objects(v.clone()));
            Ok(vec_iter(v))
        }
        StorageLevel::MemoryOnlySer => {
            let bytes = (codec(rdd)?.encode)(&data)?;
            store.put(key, Block::Bytes(Arc::new(bytes)));
            Ok(Box::new(data.into_iter()))
        }
        StorageLevel::DiskOnly => {
            let bytes = (codec(rdd)?.encode)(&data)?;
            std::fs::create_dir_all(&store.dir).map_err(|e| Error::io(&store.dir, e))?;
            let path = store.dir.join(format!("rdd_{}_{}", key.0, key.1));
            crate::io::write_atomically(&path, &bytes)?;
            store.put(key, Block::File(path));
            Ok(Box::new(data.into_iter()))
        }
    }
}

fn read_block<'a, T: Data>(rdd: &Rdd<T>, block: Block) -> Result<BoxIter<'a, T>> {
    match block {
        Block::Objects(any) => {
            let v = any
                .downcast::<Vec<T>>()
                .map_err(|_| Error::Internal("cached block of the wrong type".into()))?;
            Ok(vec_iter(v))
        }
        Block::Bytes(bytes) => Ok(Box::new(((codec(rdd)?).decode)(&bytes)?.into_iter())),
        Block::File(path) => {
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            Ok(Box::new(((codec(rdd)?).decode)(&bytes)?.into_iter()))
        }
    }
}
