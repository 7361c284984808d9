//! emberflow-core: the RDD engine of emberflow.
//!
//! A [`Context`] owns a rayon pool; an [`Rdd`] is a cheap handle to a partitioned, lazily
//! computed dataset. Narrow transformations pipeline per partition as iterators; wide ones
//! (`reduce_by_key`, `group_by_key`, joins, `sort_by`, `repartition`, …) cut a stage at a
//! shuffle, with map-side combine where an aggregator exists. Actions run a job: stages
//! parents first, each stage's tasks in parallel, one per partition.
//!
//! ```
//! use emberflow_core::Context;
//! let ctx = Context::local(2);
//! let counts = ctx
//!     .parallelize(vec!["a b", "b c", "b"], 2)
//!     .flat_map(|l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
//!     .map(|w| (w, 1u64))
//!     .reduce_by_key(|a, b| a + b);
//! assert_eq!(counts.top_by(1, |(_, c)| *c)?, vec![("b".to_string(), 3)]);
//! # Ok::<(), emberflow_core::Error>(())
//! ```
#![deny(missing_docs)]
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub(crate) mod checkpoint;
mod context;
mod error;
#[doc(hidden)]
pub mod fault;
pub mod framing;
pub mod hash;
pub(crate) mod io;
mod partitioner;
pub mod plumbing;
pub(crate) mod rdd;
pub(crate) mod scheduler;
pub(crate) mod shuffle;
pub(crate) mod storage;

pub use context::{Config, Context};
pub use error::{Error, Result};
pub use io::text::TextRecord;
pub use io::{make_durable, write_atomically, write_replacing};
pub use partitioner::{HashPartitioner, Partitioner, RangePartitioner};
pub use rdd::{Emitter, Rdd};
pub use storage::StorageLevel;

/// What a record must be: cloneable (records are read from shared shuffle outputs and
/// caches), sendable between worker threads, and owned.
pub trait Data: Clone + Send + Sync + 'static {}

impl<T: Clone + Send + Sync + 'static> Data for T {}
