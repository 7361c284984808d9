//! The receiver stream (`KafkaUtils::create_stream`): a consumer group member that stores
//! what it polls with `store_many` — with the write-ahead log on, on disk when it returns —
//! and only then commits the offsets, so a crash loses nothing: records stored but not yet
//! committed are replayed from the log, and read again from Kafka at most once more (as
//! Spark's reliable receiver, at least once at this boundary).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use emberflow_streaming::{Receiver, ReceiverContext};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::params::KafkaParams;
use super::rdd::ConsumerRecord;

pub(crate) struct KafkaReceiver {
    pub(crate) params: KafkaParams,
    pub(crate) topics: Vec<String>,
}

impl Receiver for KafkaReceiver {
    type Item = ConsumerRecord;

    fn name(&self) -> String {
        format!("kafka {}", self.topics.join(","))
    }

    fn on_start(&mut self, ctx: &ReceiverContext<ConsumerRecord>) {
        let consumer: BaseConsumer = match self.params.consumer_config().create() {
            Ok(c) => c,
            Err(e) => {
                ctx.restart(format!("cannot create the consumer: {e}"));
                return;
            }
        };
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        if let Err(e) = consumer.subscribe(&topics) {
            ctx.restart(format!(
                "cannot subscribe to {}: {e}",
                self.topics.join(",")
            ));
            return;
        }
        while !ctx.is_stopped() {
            // Gather up to 500 records or 100 ms, then store them as one block.
            let mut block = Vec::new();
            let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
            let started = Instant::now();
            while block.len() < 500 && started.elapsed() < Duration::from_millis(100) {
                match consumer.poll(Duration::from_millis(20)) {
                    Some(Ok(m)) => {
                        next.insert((m.topic().to_owned(), m.partition()), m.offset() + 1);
                        block.push(ConsumerRecord {
                            topic: m.topic().to_owned(),
                            partition: m.partition(),
                            offset: m.offset(),
                            timestamp: m.timestamp().to_millis(),
                            key: m.key().map(<[u8]>::to_vec),
                            value: m.payload().map(<[u8]>::to_vec),
                        });
                    }
                    Some(Err(e)) => ctx.report_error(format!("poll: {e}")),
                    None => {}
                }
            }
            if block.is_empty() {
                continue;
            }
            if let Err(e) = ctx.store_many(block) {
                // Not durable: nothing is committed, and the restart re-reads from the last
                // committed offsets (a new consumer).
                ctx.restart(format!(
                    "storing a block failed, offsets not committed: {e}"
                ));
                return;
            }
            // Stored (and logged): now the group may move on.
            let mut tpl = TopicPartitionList::new();
            for ((t, p), o) in &next {
                if let Err(e) = tpl.add_partition_offset(t, *p, Offset::Offset(*o)) {
                    ctx.report_error(format!("commit list: {e}"));
                }
            }
            if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
                ctx.report_error(format!("commit of stored offsets failed: {e}"));
            }
        }
    }
}
