//! Kafka for DStreams, in the shape of spark-streaming-kafka-0-10: a direct stream that reads
//! offset ranges `[from, until)` per topic-partition each batch (one RDD partition per Kafka
//! partition, read with an assigned consumer), `create_rdd` for batch reads, offset ranges
//! recorded in the checkpoint so a recovered job re-reads exactly its pending batches, and
//! `commit_async` to record progress in the consumer group. Also a receiver stream (a
//! consumer group whose records go through the receiver write-ahead log before offsets are
//! committed), a producer sink, and a listener that publishes each batch's progress.

mod direct;
mod error;
mod params;
mod rdd;
mod receiver;
mod sink;

pub use direct::{ConsumerStrategy, DirectKafkaStream, KafkaUtils};
pub use error::{Error, Result};
pub use params::KafkaParams;
pub use rdd::{ConsumerRecord, HasOffsetRanges, OffsetRange};
pub use sink::{kafka_sink, produce_lines, KafkaProgressListener};
