//! The Kafka RDD: one partition per offset range, each read by a consumer assigned to that
//! topic-partition from `from` to `until` (exclusive), and the records it yields.

use std::sync::Arc;
use std::time::{Duration, Instant};

use emberflow_core::plumbing::{BoxIter, Dependency, RddBase, RddMeta, RddNode, TaskContext};
use emberflow_core::{Context, Rdd};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use super::error::{kafka, Error, Result};
use super::params::KafkaParams;

/// Offsets `[from_offset, until_offset)` of one topic-partition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OffsetRange {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The first offset.
    pub from_offset: i64,
    /// One past the last offset.
    pub until_offset: i64,
}

impl OffsetRange {
    /// How many offsets the range spans.
    pub fn count(&self) -> u64 {
        (self.until_offset - self.from_offset).max(0) as u64
    }
}

/// One Kafka record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerRecord {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The timestamp (ms since the epoch), if the broker gave one.
    pub timestamp: Option<i64>,
    /// The key.
    pub key: Option<Vec<u8>>,
    /// The value.
    pub value: Option<Vec<u8>>,
}

impl ConsumerRecord {
    /// The value as UTF-8 text (invalid bytes replaced), or "" without a value.
    pub fn value_str(&self) -> String {
        self.value
            .as_deref()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    }
    /// The key as UTF-8 text (invalid bytes replaced), if there is one.
    pub fn key_str(&self) -> Option<String> {
        self.key
            .as_deref()
            .map(|k| String::from_utf8_lossy(k).into_owned())
    }
}

/// The offset ranges of an RDD read from Kafka (Spark's `HasOffsetRanges`). Only the RDD a
/// Kafka source made has them: transformations make new RDDs.
pub trait HasOffsetRanges {
    /// The ranges, one per partition; empty for an RDD not read from Kafka.
    fn offset_ranges(&self) -> Vec<OffsetRange>;
}

impl HasOffsetRanges for Rdd<ConsumerRecord> {
    fn offset_ranges(&self) -> Vec<OffsetRange> {
        self.attachment::<Vec<OffsetRange>>()
            .map(|r| (*r).clone())
            .unwrap_or_default()
    }
}

struct KafkaRdd {
    meta: RddMeta,
    params: KafkaParams,
    ranges: Vec<OffsetRange>,
    poll_timeout: Duration,
    pool: Option<Arc<ConsumerPool>>,
}

/// Consumers kept between batches of a direct stream, one per topic-partition in use, so a
/// batch does not pay a new connection per partition (as Spark caches them per executor).
#[derive(Default)]
pub(crate) struct ConsumerPool {
    idle: parking_lot::Mutex<std::collections::HashMap<(String, i32), BaseConsumer>>,
}

fn new_consumer(params: &KafkaParams, r: &OffsetRange) -> Result<BaseConsumer> {
    params.consumer_config().create().map_err(|e| {
        kafka(
            format!("create a consumer for {}-{}", r.topic, r.partition),
            e,
        )
    })
}

/// Reads one range with an assigned consumer (from `pool` when given, returned there after
/// a clean read).
pub(crate) fn read_range(
    params: &KafkaParams,
    r: &OffsetRange,
    timeout: Duration,
    pool: Option<&ConsumerPool>,
) -> Result<Vec<ConsumerRecord>> {
    if r.count() == 0 {
        return Ok(Vec::new());
    }
    let key = (r.topic.clone(), r.partition);
    let consumer = match pool.and_then(|p| p.idle.lock().remove(&key)) {
        Some(c) => c,
        None => new_consumer(params, r)?,
    };
    let records = read_with(&consumer, r, timeout)?;
    if let Some(p) = pool {
        p.idle.lock().insert(key, consumer);
    }
    Ok(records)
}

fn read_with(
    consumer: &BaseConsumer,
    r: &OffsetRange,
    timeout: Duration,
) -> Result<Vec<ConsumerRecord>> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&r.topic, r.partition, Offset::Offset(r.from_offset))
        .map_err(|e| kafka("build an assignment", e))?;
    consumer
        .assign(&tpl)
        .map_err(|e| kafka(format!("assign {}-{}", r.topic, r.partition), e))?;
    let mut out = Vec::with_capacity(r.count() as usize);
    let mut next = r.from_offset;
    let mut last_progress = Instant::now();
    while next < r.until_offset {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let offset = m.offset();
                if offset >= r.until_offset {
                    break;
                }
                if offset >= next {
                    out.push(ConsumerRecord {
                        topic: m.topic().to_owned(),
                        partition: m.partition(),
                        offset,
                        timestamp: m.timestamp().to_millis(),
                        key: m.key().map(<[u8]>::to_vec),
                        value: m.payload().map(<[u8]>::to_vec),
                    });
                    next = offset + 1;
                    last_progress = Instant::now();
                }
            }
            Some(Err(e)) => {
                log::warn!(
                    "reading {}-{} at {next}: {e}; retrying",
                    r.topic,
                    r.partition
                );
            }
            None => {}
        }
        if last_progress.elapsed() > timeout {
            return Err(Error::ReadTimeout {
                topic: r.topic.clone(),
                partition: r.partition,
                from: r.from_offset,
                until: r.until_offset,
                at: next,
            });
        }
    }
    Ok(out)
}

impl RddBase for KafkaRdd {
    fn meta(&self) -> &RddMeta {
        &self.meta
    }
    fn dependencies(&self) -> Vec<Dependency> {
        Vec::new()
    }
    fn num_partitions(&self) -> usize {
        self.ranges.len()
    }
}

impl RddNode<ConsumerRecord> for KafkaRdd {
    fn compute<'a>(
        &'a self,
        split: usize,
        _tc: &'a TaskContext,
    ) -> emberflow_core::Result<BoxIter<'a, ConsumerRecord>> {
        let records = read_range(
            &self.params,
            &self.ranges[split],
            self.poll_timeout,
            self.pool.as_deref(),
        )?;
        Ok(Box::new(records.into_iter()))
    }
}

/// An RDD over the given ranges (Spark's `KafkaUtils.createRDD`), one partition per range,
/// reading with consumers from `pool` when given.
pub(crate) fn kafka_rdd(
    ctx: &Context,
    params: &KafkaParams,
    ranges: Vec<OffsetRange>,
    pool: Option<Arc<ConsumerPool>>,
) -> Rdd<ConsumerRecord> {
    let rdd = Rdd::from_node(KafkaRdd {
        meta: RddMeta::new(ctx, "kafka"),
        params: params.clone(),
        ranges: ranges.clone(),
        poll_timeout: params.read_timeout(),
        pool,
    });
    rdd.attach(Arc::new(ranges));
    rdd
}
