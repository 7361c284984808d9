//! Kafka for DStreams, in the shape of spark-streaming-kafka-0-10: a direct stream that reads
//! offset ranges `[from, until)` per topic-partition each batch (one RDD partition per Kafka
//! partition, read with an assigned consumer), `create_rdd` for batch reads, offset ranges
//! recorded in the checkpoint so a recovered job re-reads exactly its pending batches, and
//! `commit_async` to record progress in the consumer group. Also a receiver stream (a
//! consumer group whose records go through the receiver write-ahead log before offsets are
//! committed), a producer sink, and a listener that publishes each batch's progress.
//!
//! ```no_run
//! use emberflow_connectors::kafka::*;
//! use emberflow_core::Context;
//! use emberflow_streaming::StreamingContext;
//! use std::time::Duration;
//! # fn main() -> emberflow_streaming::Result<()> {
//! let ssc = StreamingContext::new(&Context::local(2), Duration::from_secs(1));
//! let params = KafkaParams::new("127.0.0.1:9092").group_id("orders-dashboard")
//!     .set("auto.offset.reset", "earliest");
//! let stream = KafkaUtils::create_direct_stream(&ssc, params.clone(),
//!     ConsumerStrategy::subscribe(["orders"]))?;
//! let stream_handle = stream.clone();
//! stream.foreach_rdd(move |rdd, _time| {
//!     let ranges = rdd.offset_ranges();          // Vec<OffsetRange>: topic, partition, from, until
//!     stream_handle.commit_async(ranges);        // advisory; our checkpoint is the truth
//!     Ok(())
//! });
//! let lines = KafkaUtils::create_stream(&ssc, params, ["orders"])?;   // receiver-based, uses the WAL
//! let results = lines.map(|r| (r.value_str(), 1u64)).reduce_by_key(|a, b| a + b);
//! results.foreach_rdd(kafka_sink(KafkaParams::new("127.0.0.1:9092"), "metrics"));
//! # Ok(())
//! # }
//! ```

mod direct;
mod error;
mod group;
mod params;
mod rdd;
mod receiver;
mod sink;

pub use direct::{ConsumerStrategy, DirectKafkaStream, KafkaUtils};
pub use error::{Error, Result};
pub use params::KafkaParams;
pub use rdd::{ConsumerRecord, HasOffsetRanges, OffsetRange};
pub use sink::{kafka_sink, produce_lines, produce_lines_from, KafkaProgressListener};
