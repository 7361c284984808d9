//! emberflow-streaming: DStreams on the emberflow RDD engine.
//!
//! A [`StreamingContext`] cuts input into one RDD per batch interval and runs each batch's
//! output operations, in order, on the RDD engine. Time comes from a [`Clock`]; tests use a
//! [`ManualClock`] (see [`testing`]) and never sleep.
//!
//! ```
//! use emberflow_streaming::testing::run_batches;
//! let out: Vec<Vec<(String, u64)>> = run_batches(
//!     vec![vec!["a b", "a"], vec![], vec!["b"]],
//!     |s: emberflow_streaming::DStream<String>| {
//!         s.flat_map(|l| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
//!             .map(|w| (w, 1u64))
//!             .reduce_by_key(|a, b| a + b)
//!     },
//!     3,
//! )?;
//! let mut first = out[0].clone();
//! first.sort();
//! assert_eq!(first, vec![("a".to_string(), 2), ("b".to_string(), 1)]);
//! assert!(out[1].is_empty());
//! assert_eq!(out[2], vec![("b".to_string(), 1)]);
//! # Ok::<(), emberflow_streaming::Error>(())
//! ```
#![deny(missing_docs)]
#![warn(clippy::print_stdout, clippy::print_stderr)]

mod backpressure;
pub(crate) mod checkpoint;
pub mod checkpoint_store;
mod clock;
mod context;
pub(crate) mod dstream;
mod error;
pub(crate) mod graph;
mod group;
mod listener;
pub mod plumbing;
mod progress;
pub(crate) mod receiver;
pub(crate) mod scheduler;
pub(crate) mod services;
mod spin;
pub(crate) mod state_store;
pub mod testing;
mod time;
#[cfg(feature = "ui")]
mod ui;
pub(crate) mod util;
pub(crate) mod wal;

pub use backpressure::PidRateEstimator;
pub use clock::{Clock, ManualClock, SystemClock};
pub use context::{
    StopOptions, StreamingConfig, StreamingContext, StreamingContextBuilder, StreamingContextState,
};
pub use dstream::event_time::{
    EventStream, EventTime, EventWindows, MemoryTable, OutputMode, SessionWindows, Window,
};
pub use dstream::json_input::JsonFileStream;
pub use dstream::map_with_state::{MapWithStateDStream, State, StateSpec};
pub use dstream::output::batch_output_dir;
pub use dstream::queue_input::RddQueue;
pub use dstream::DStream;
pub use error::{Error, Result};
pub use listener::{BatchInfo, OutputOperationInfo, ReceiverInfo, StreamingListener, StuckBatch};
pub use progress::{
    DurationMs, EventTimeProgress, SinkProgress, SourceProgress, StateOperatorProgress,
    StreamingProgress, StreamingStatus,
};
pub use receiver::{Receiver, ReceiverContext};
pub use time::Time;
