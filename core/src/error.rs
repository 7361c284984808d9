//! The error type of the RDD engine. Every fallible operation returns [`Result`]; messages say
//! what failed and what to do next.

use std::path::PathBuf;

/// Errors of the RDD engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A task failed: a user closure panicked, or computing the partition failed.
    #[error("task for partition {partition} of {rdd} failed: {message}")]
    Task {
        /// The RDD the task computed, as `Name[id]`.
        rdd: String,
        /// The partition index.
        partition: usize,
        /// The panic message or the underlying error.
        message: String,
    },
    /// An I/O operation on `path` failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint file failed its checksum or could not be decoded.
    #[error(
        "corrupt checkpoint file {path}: {reason}; delete the checkpoint directory and recompute"
    )]
    CorruptCheckpoint {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `checkpoint()` was called before `Context::set_checkpoint_dir`.
    #[error("no checkpoint directory is set; call Context::set_checkpoint_dir(dir) first")]
    NoCheckpointDir,
    /// An output path exists already.
    #[error("output path {path} already exists; delete it or choose another path")]
    OutputExists {
        /// The existing path.
        path: PathBuf,
    },
    /// The input path or pattern matched nothing.
    #[error("input path {path} does not exist or matches no file")]
    InputNotFound {
        /// The path or glob as given.
        path: String,
    },
    /// An action that needs at least one element ran on an empty RDD.
    #[error("{operation} of an empty RDD; use fold or check is_empty() first")]
    EmptyRdd {
        /// The action, e.g. `reduce`.
        operation: &'static str,
    },
    /// The context was stopped; create a new one to run more jobs.
    #[error("the context was stopped; create a new Context to run more jobs")]
    ContextStopped,
    /// An argument is out of its allowed range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Encoding or decoding records failed.
    #[error("serialization failed: {0}")]
    Serialization(String),
    /// A broken internal invariant: this is a bug in emberflow, please report it.
    #[error("internal error (a bug in emberflow): {0}")]
    Internal(String),
}

/// The result type of the RDD engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_and_names_the_file() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Error>();
        let e = Error::CorruptCheckpoint {
            path: "/c/part-00001".into(),
            reason: "checksum mismatch".into(),
        };
        let text = e.to_string();
        assert!(text.contains("/c/part-00001") && text.contains("checksum mismatch"));
    }
}
