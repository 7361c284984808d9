//! emberflow: stream processing in the style of Apache Spark Streaming, in Rust.
//!
//! This facade re-exports the engine crates: the RDD engine (`emberflow-core`) and DStreams
//! (`emberflow-streaming`). Most programs need only the prelude:
//!
//! ```
//! use emberflow::prelude::*;
//! let ctx = Context::local(2);
//! let counts = ctx
//!     .parallelize(vec!["to be or not to be".to_string()], 2)
//!     .flat_map(|l: String| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
//!     .map(|w| (w, 1u64))
//!     .reduce_by_key(|a, b| a + b);
//! let top: Vec<(String, u64)> = counts.top_by(2, |(_, c)| *c)?;
//! assert_eq!(top.iter().map(|(_, c)| *c).collect::<Vec<_>>(), vec![2, 2]);
//! # Ok::<(), emberflow::Error>(())
//! ```
//!
//! [`Error`] is the streaming engine's error, into which the RDD engine's ([`CoreError`],
//! returned by RDD actions) converts, so `?` works across both.
#![deny(missing_docs)]
#![warn(clippy::print_stdout, clippy::print_stderr)]

/// The RDD engine's error type, returned by RDD actions.
pub use emberflow_core::Error as CoreError;
pub use emberflow_core::{
    hash, write_atomically, Config, Context, Data, Emitter, HashPartitioner, Partitioner,
    RangePartitioner, Rdd, StorageLevel, TextRecord,
};
pub use emberflow_streaming::{
    batch_output_dir, BatchInfo, Clock, DStream, Error, EventStream, EventTime, EventWindows,
    JsonFileStream, ManualClock, MapWithStateDStream, MemoryTable, OutputMode, OutputOperationInfo,
    RddQueue, Receiver, ReceiverContext, ReceiverInfo, Result, SessionWindows, State, StateSpec,
    StopOptions, StreamingConfig, StreamingContext, StreamingContextBuilder, StreamingContextState,
    StreamingListener, StreamingProgress, StreamingStatus, StuckBatch, SystemClock, Time, Window,
};
/// The parts of a [`StreamingProgress`].
pub mod progress {
    pub use emberflow_streaming::{
        DurationMs, EventTimeProgress, SinkProgress, SourceProgress, StateOperatorProgress,
        StreamingProgress, StreamingStatus,
    };
}

/// Kafka: the direct stream, `create_rdd`, offset ranges (feature `kafka`).
#[cfg(feature = "kafka")]
pub mod kafka {
    pub use emberflow_connectors::kafka::*;
}

/// Deterministic tests of streaming jobs on a manual clock (see
/// [`BatchRunner`](testing::BatchRunner) and [`run_batches`](testing::run_batches)).
pub mod testing {
    pub use emberflow_streaming::testing::*;
}

/// Checkpoint stores shared by the members of a job: the
/// [`CheckpointStore`](checkpoint_store::CheckpointStore) trait, a directory, an
/// S3-compatible bucket (feature `s3`), and the generation-fenced partition leases built on
/// them.
pub mod checkpoint_store {
    pub use emberflow_streaming::checkpoint_store::*;
}

/// Extension points for implementers of new RDD and DStream kinds.
pub mod plumbing {
    pub use emberflow_core::plumbing::*;
    pub use emberflow_streaming::plumbing::*;
}

/// The names almost every program uses.
pub mod prelude {
    pub use crate::{
        Config, Context, CoreError, DStream, Data, Emitter, Error, EventStream, EventTime,
        HashPartitioner, ManualClock, MemoryTable, OutputMode, Partitioner, RangePartitioner, Rdd,
        RddQueue, Receiver, ReceiverContext, Result, State, StateSpec, StopOptions, StorageLevel,
        StreamingContext, StreamingListener, TextRecord, Time, Window,
    };
}
