//! The error type of the streaming engine; RDD engine errors convert into it, so `?` works on
//! both inside user closures and jobs.

use std::path::PathBuf;

use crate::Time;

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
