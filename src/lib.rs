//! emberflow: stream processing in the style of Apache Spark Streaming, in Rust.
//!
//! This facade re-exports the engine crates. Most programs need only the prelude:
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
#![deny(missing_docs)]

pub use emberflow_core::*;

/// The names almost every program uses.
pub mod prelude {
    pub use emberflow_core::{
        Config, Context, Data, Error, HashPartitioner, Partitioner, RangePartitioner, Rdd, Result,
        StorageLevel, TextRecord,
    };
}
