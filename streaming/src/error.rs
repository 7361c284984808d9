//! The error type of the streaming engine; RDD engine errors convert into it, so `?` works on
//! both inside user closures and jobs.

use std::path::PathBuf;

use crate::time::Time;

/// Errors of the streaming engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the RDD engine (a failed task, I/O, a corrupt checkpoint, …).
    #[error(transparent)]
    Core(#[from] emberflow_core::Error),
    /// The DStream graph cannot run as built.
    #[error("invalid streaming graph: {0}")]
    InvalidGraph(String),
    /// The graph built by the setup function is not the one the checkpoint was written by.
    #[error("the streaming graph differs from the checkpoint's: {found} (the checkpoint has {expected}); a checkpoint restores only the graph that wrote it, so use a new checkpoint directory (changing a closure's body is fine)")]
    GraphMismatch {
        /// What the checkpoint recorded.
        expected: String,
        /// What the setup function built.
        found: String,
    },
    /// A duration is not a multiple of the one it must divide into.
    #[error("{what} of {value_ms} ms is not a multiple of the {base_ms} ms {base}; use {hint}")]
    InvalidDuration {
        /// What was set (e.g. "window duration").
        what: &'static str,
        /// Its value in ms.
        value_ms: u64,
        /// What it must be a multiple of (e.g. "batch interval").
        base: &'static str,
        /// That value in ms.
        base_ms: u64,
        /// Valid values.
        hint: String,
    },
    /// An input directory does not exist.
    #[error(
        "input directory {path} does not exist; create it before starting the StreamingContext"
    )]
    MissingDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// A setting cannot be used (an unparsable UI address, a feature not built in).
    #[error("invalid setting: {0}")]
    InvalidConfig(String),
    /// The operation is not allowed in the context's current state.
    #[error("{0}")]
    IllegalState(String),
    /// An output operation of a batch failed.
    #[error("batch {time} failed in output operation {output}: {message}")]
    BatchFailed {
        /// The batch time.
        time: Time,
        /// The index of the output operation, in declaration order.
        output: usize,
        /// What went wrong.
        message: String,
    },
    /// A member wrote for a partition a newer generation of the group has claimed since:
    /// it lost the partition (a rebalance, or it was paused past its session) and must stop
    /// working on it.
    #[error(
        "partition {partition}: generation {generation} is fenced, generation {newer} owns it now"
    )]
    Fenced {
        /// The partition.
        partition: String,
        /// The writer's generation.
        generation: u64,
        /// The newest claimed generation.
        newer: u64,
    },
    /// A checkpoint store's service failed (an object store's request).
    #[error("checkpoint store {store}: {operation} failed: {reason}")]
    Store {
        /// The store (its URL).
        store: String,
        /// What was asked (`put partitions/…`).
        operation: String,
        /// What the service answered.
        reason: String,
    },
    /// An I/O operation on `path` failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file, directory or address.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A user function reported a failure.
    #[error("{0}")]
    User(String),
    /// A stream's checkpoint data could not be encoded, so the checkpoint was not written.
    #[error("cannot encode the checkpoint data of {stream}: {reason}; the checkpoint was not written (its records would not survive a restart)")]
    CheckpointEncoding {
        /// The stream.
        stream: String,
        /// The encoder's message.
        reason: String,
    },
    /// The checkpoint was written with another batch interval than the code asks for.
    #[error("the checkpoint in {dir} was written with a batch interval of {checkpoint_ms} ms, but the code asks for {requested_ms} ms; use {checkpoint_ms} ms, or a new checkpoint directory to change it")]
    IntervalMismatch {
        /// The checkpoint directory.
        dir: PathBuf,
        /// The interval in the checkpoint.
        checkpoint_ms: u64,
        /// The interval the builder was given.
        requested_ms: u64,
    },
    /// A duration that must be positive is zero.
    #[error("{what} is zero; it must be a positive multiple of the {base_ms} ms {base}")]
    ZeroDuration {
        /// What was set (e.g. "window duration").
        what: &'static str,
        /// What it must be a multiple of.
        base: &'static str,
        /// That value in ms.
        base_ms: u64,
    },
    /// A parent stream had no RDD for a batch its child needs (as Spark's "Couldn't generate
    /// RDD from parent"): the batch fails.
    #[error("{child} could not generate the RDD of batch {time}: parent stream {parent} has no RDD for it")]
    MissingParentRdd {
        /// The operation that needed the RDD.
        child: &'static str,
        /// The parent stream, as `id (kind)`.
        parent: String,
        /// The batch time.
        time: Time,
    },
}

/// The result type of the streaming engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An error with a message, for user closures (`foreach_rdd`, receivers).
    pub fn user(message: impl Into<String>) -> Self {
        Error::User(message.into())
    }
}
