//! The connector's error type: Kafka failures name the operation that failed.

/// Errors of the Kafka connector.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A Kafka operation failed.
    #[error("kafka {operation} failed: {message}")]
    Kafka {
        /// What was being done (e.g. "fetch watermarks of orders-2").
        operation: String,
        /// The client's message.
        message: String,
    },
    /// A parameter is missing or wrong.
    #[error("invalid kafka parameters: {0}")]
    InvalidParams(String),
    /// A group member's partition checkpoints failed (the shared store).
    #[error("group checkpoint: {0}")]
    Checkpoint(#[source] emberflow_streaming::Error),
    /// Reading a range did not finish in time.
    #[error(
        "reading {topic}-{partition} [{from}, {until}) timed out at offset {at}; is the broker up?"
    )]
    ReadTimeout {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// Range start.
        from: i64,
        /// Range end (exclusive).
        until: i64,
        /// The next offset that did not come.
        at: i64,
    },
}

/// The connector's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn kafka(operation: impl Into<String>, e: impl std::fmt::Display) -> Error {
    Error::Kafka {
        operation: operation.into(),
        message: e.to_string(),
    }
}

impl From<Error> for emberflow_streaming::Error {
    fn from(e: Error) -> Self {
        emberflow_streaming::Error::user(e.to_string())
    }
}

impl From<Error> for emberflow_core::Error {
    fn from(e: Error) -> Self {
        emberflow_core::Error::InvalidArgument(e.to_string())
    }
}
