//! [`Context`], Spark's SparkContext: the entry point of the engine. It owns the rayon pool
//! the tasks run on, the id counters, the block store (persisted partitions), the shuffle store
//! (map outputs kept for later jobs) and the checkpoint directory. There are no process
//! globals: two contexts in one process are fully independent.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::rdd::parallel_collection::ParallelCollectionRdd;
use crate::rdd::Rdd;
use crate::shuffle::ShuffleStore;
use crate::storage::BlockStore;
use crate::{Data, Error, Result};

/// Settings of a [`Context`].
///
/// ```
/// use emberflow_core::{Config, Context};
/// let ctx = Context::new(Config::new().threads(2).app_name("wc"));
/// assert_eq!(ctx.default_parallelism(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// Name shown in logs.
    pub app_name: String,
    /// Worker threads of the pool (Spark's `local[n]`). Default: the number of cores.
    pub threads: usize,
    /// Partitions of `parallelize` when none are given. Default: `threads`.
    pub default_parallelism: Option<usize>,
    /// Stack of each worker thread. Partitions are computed as chains of iterators, one frame
    /// per lineage step, so a long uncheckpointed lineage needs a deep stack. Default 256 MiB
    /// (address space only; pages are touched as used).
    pub stack_size: usize,
    /// Where disk-persisted blocks go. Default: a fresh directory under the system temp dir,
    /// removed when the context is dropped.
    pub local_dir: Option<PathBuf>,
    /// Where `Rdd::checkpoint` writes.
    pub checkpoint_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            app_name: "emberflow".to_owned(),
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            default_parallelism: None,
            stack_size: 256 << 20,
            local_dir: None,
            checkpoint_dir: None,
        }
    }
}

impl Config {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the worker thread count.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }
    /// Sets the application name.
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.app_name = name.into();
        self
    }
    /// Sets the default partition count of `parallelize`.
    pub fn default_parallelism(mut self, n: usize) -> Self {
        self.default_parallelism = Some(n.max(1));
        self
    }
    /// Sets the worker stack size in bytes.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }
    /// Sets the directory for disk-persisted blocks.
    pub fn local_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.local_dir = Some(dir.into());
        self
    }
    /// Sets the checkpoint directory.
    pub fn checkpoint_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.checkpoint_dir = Some(dir.into());
        self
    }
}

pub(crate) struct ContextInner {
    pub(crate) config: Config,
    pub(crate) pool: rayon::ThreadPool,
    next_rdd_id: AtomicUsize,
    next_shuffle_id: AtomicUsize,
    next_job_id: AtomicUsize,
    pub(crate) blocks: BlockStore,
    pub(crate) shuffles: ShuffleStore,
    checkpoint_dir: RwLock<Option<PathBuf>>,
    /// Distinguishes this context's checkpoint files from other contexts' in the same dir.
    pub(crate) instance: String,
    stopped: std::sync::atomic::AtomicBool,
    /// The crash tests' kill point, if armed.
    pub(crate) kill: crate::fault::KillPoints,
}

/// The entry point: creates RDDs and runs their jobs on its own thread pool.
///
/// Cheap to clone; clones share the pool and the stores.
///
/// ```
/// use emberflow_core::Context;
/// let ctx = Context::local(2);
/// let sum = ctx.parallelize((1..=100).collect::<Vec<u64>>(), 4).reduce(|a, b| a + b)?;
/// assert_eq!(sum, 5050);
/// # Ok::<(), emberflow_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Context {
    pub(crate) inner: Arc<ContextInner>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("app_name", &self.inner.config.app_name)
            .field("threads", &self.inner.config.threads)
            .finish()
    }
}

impl Context {
    /// A context with `threads` worker threads and default settings otherwise.
    pub fn local(threads: usize) -> Self {
        Self::new(Config::new().threads(threads))
    }

    /// A context with the given settings.
    ///
    /// # Panics
    /// If the operating system refuses to start the worker threads.
    pub fn new(config: Config) -> Self {
        Self::try_new(config).expect("cannot start the worker threads of the context")
    }

    /// A context with the given settings, or the error that prevented starting it.
    pub fn try_new(config: Config) -> Result<Self> {
        let threads = config.threads.max(1);
        let name = config.app_name.clone();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .stack_size(config.stack_size)
            .thread_name(move |i| format!("{name}-worker-{i}"))
            .build()
            .map_err(|e| Error::InvalidArgument(format!("cannot build the thread pool: {e}")))?;
        let blocks = BlockStore::new(config.local_dir.clone())?;
        Ok(Context {
            inner: Arc::new(ContextInner {
                checkpoint_dir: RwLock::new(config.checkpoint_dir.clone()),
                config,
                pool,
                next_rdd_id: AtomicUsize::new(0),
                next_shuffle_id: AtomicUsize::new(0),
                next_job_id: AtomicUsize::new(0),
                blocks,
                shuffles: ShuffleStore::default(),
                instance: format!("{:016x}", crate::storage::unique_token()),
                stopped: std::sync::atomic::AtomicBool::new(false),
                kill: crate::fault::KillPoints::from_env(),
            }),
        })
    }

    /// The settings this context was made with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Worker threads of the pool.
    pub fn threads(&self) -> usize {
        self.inner.pool.current_num_threads()
    }

    /// Partitions used when an operation is not told how many.
    pub fn default_parallelism(&self) -> usize {
        self.inner
            .config
            .default_parallelism
            .unwrap_or(self.inner.config.threads)
            .max(1)
    }

    /// Sets the directory `Rdd::checkpoint` writes to (created when needed).
    pub fn set_checkpoint_dir(&self, dir: impl AsRef<Path>) {
        *self.inner.checkpoint_dir.write() = Some(dir.as_ref().to_path_buf());
    }

    /// The checkpoint directory, if one is set.
    pub fn checkpoint_dir(&self) -> Option<PathBuf> {
        self.inner.checkpoint_dir.read().clone()
    }

    pub(crate) fn new_rdd_id(&self) -> usize {
        self.inner.next_rdd_id.fetch_add(1, Ordering::Relaxed)
    }
    pub(crate) fn new_shuffle_id(&self) -> usize {
        self.inner.next_shuffle_id.fetch_add(1, Ordering::Relaxed)
    }
    pub(crate) fn new_job_id(&self) -> usize {
        self.inner.next_job_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Distributes a local collection into `slices` partitions (0: the default parallelism).
    ///
    /// ```
    /// use emberflow_core::Context;
    /// let ctx = Context::local(2);
    /// let rdd = ctx.parallelize(vec!['a', 'b', 'c'], 2);
    /// assert_eq!(rdd.glom().collect()?, vec![vec!['a'], vec!['b', 'c']]);
    /// # Ok::<(), emberflow_core::Error>(())
    /// ```
    pub fn parallelize<T: Data>(&self, data: Vec<T>, slices: usize) -> Rdd<T> {
        let slices = if slices == 0 {
            self.default_parallelism()
        } else {
            slices
        };
        Rdd::from_node(ParallelCollectionRdd::new(self, data, slices))
    }

    /// The integers `start..end` stepping by `step`, in `slices` partitions, computed lazily.
    pub fn range(&self, start: i64, end: i64, step: i64, slices: usize) -> Rdd<i64> {
        let slices = if slices == 0 {
            self.default_parallelism()
        } else {
            slices
        };
        Rdd::from_node(crate::rdd::parallel_collection::RangeRdd::new(
            self, start, end, step, slices,
        ))
    }

    /// An RDD whose partitions are the given shared vectors, one partition each (received
    /// blocks, data already split by the caller). Nothing is copied until a task reads it.
    pub fn parallelize_partitions<T: Data>(&self, partitions: Vec<Arc<Vec<T>>>) -> Rdd<T> {
        Rdd::from_node(crate::rdd::parallel_collection::PartitionsRdd::new(
            self,
            "partitions",
            partitions,
        ))
    }

    /// Stops the context: jobs submitted afterwards fail with [`Error::ContextStopped`].
    /// Running jobs finish. Idempotent.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::SeqCst)
    }

    /// An RDD with no partitions.
    pub fn empty<T: Data>(&self) -> Rdd<T> {
        Rdd::from_node(ParallelCollectionRdd::new(self, Vec::new(), 0))
    }

    /// The union of several RDDs of the same type: their partitions, in order.
    pub fn union<T: Data>(&self, rdds: &[Rdd<T>]) -> Rdd<T> {
        Rdd::from_node(crate::rdd::union::UnionRdd::new(self, rdds.to_vec()))
    }

    /// Lines of a text file, of every visible file of a directory, or of every file a glob
    /// matches, split on line boundaries into at least `min_partitions` partitions.
    ///
    /// Lines end at `\n`; a trailing `\r` is dropped; invalid UTF-8 is replaced (as Spark).
    /// Fails at once if the path matches no file.
    pub fn text_file(&self, path: impl AsRef<Path>, min_partitions: usize) -> Result<Rdd<String>> {
        crate::io::text::text_file(self, path.as_ref(), min_partitions)
    }

    /// Lines of exactly the given files, in order (no directory listing, no globbing), split
    /// into at least `min_partitions` partitions. Fails at once if a file cannot be read.
    pub fn text_files<P: AsRef<Path>>(
        &self,
        files: &[P],
        min_partitions: usize,
    ) -> Result<Rdd<String>> {
        let files = files.iter().map(|p| p.as_ref().to_path_buf()).collect();
        crate::io::text::text_files(self, files, min_partitions)
    }

    /// Reads back an RDD written by `Rdd::checkpoint` from its directory.
    pub fn checkpoint_file<T>(&self, dir: impl AsRef<Path>) -> Result<Rdd<T>>
    where
        T: Data + serde::Serialize + serde::de::DeserializeOwned,
    {
        crate::checkpoint::read_rdd(self, dir.as_ref())
    }
}
