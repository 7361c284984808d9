//! The direct stream as one member of a consumer group (`group_partitioned`): Kafka's group
//! protocol decides which partitions this process reads; the streaming engine's partition
//! group ([`GroupInput`]) owns their checkpoints, state and outputs.

use std::collections::BTreeSet;
use std::time::Duration;

use emberflow_streaming::plumbing::GroupInput;
use emberflow_streaming::Time;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::ClientContext;

use super::error::{kafka, Error, Result};
use super::params::KafkaParams;
use super::rdd::OffsetRange;

/// Counts the group's rebalances as the member's consumer hears them (on its polls).
#[derive(Default)]
pub(crate) struct Rebalances {
    count: AtomicU64,
}

impl ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(_) = rebalance {
            self.count.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// What a member keeps between batches.
pub(crate) struct GroupMember {
    pub(crate) input: GroupInput,
    pub(crate) topic: String,
    params: KafkaParams,
    /// Subscribed from `start` to `stop`; it only takes part in the group (its partitions
    /// stay paused: batches read through the stream's readers).
    consumer: Mutex<Option<BaseConsumer<Rebalances>>>,
    /// The partitions the group gave this member at the previous batch.
    assigned: Mutex<BTreeSet<i32>>,
    /// The rebalances seen so far.
    rebalances: AtomicU64,
}

/// A partition a batch reads: its slot, the batch time its outputs carry, and its range.
pub(crate) type GroupSlot = (usize, Time, OffsetRange);

impl GroupMember {
    pub(crate) fn new(input: GroupInput, topic: String, params: KafkaParams) -> Self {
        GroupMember {
            input,
            topic,
            params,
            consumer: Mutex::new(None),
            assigned: Mutex::new(BTreeSet::new()),
            rebalances: AtomicU64::new(0),
        }
    }

    /// Joins the group.
    pub(crate) fn start(&self) -> Result<()> {
        self.input.store().map_err(Error::Checkpoint)?;
        let consumer: BaseConsumer<Rebalances> = self
            .params
            .consumer_config()
            .set("enable.auto.commit", "false")
            .create_with_context(Rebalances::default())
            .map_err(|e| kafka("create the group member", e))?;
        consumer
            .subscribe(&[self.topic.as_str()])
            .map_err(|e| kafka(format!("subscribe to {}", self.topic), e))?;
        *self.consumer.lock() = Some(consumer);
        log::info!(
            "{}: joined group {} on topic {}",
            self.input.member(),
            self.params.get("group.id").unwrap_or("?"),
            self.topic
        );
        Ok(())
    }

    /// Leaves the group: its partitions go to the other members at once.
    pub(crate) fn stop(&self) {
        if let Some(c) = self.consumer.lock().take() {
            c.unsubscribe();
        }
    }

    /// The partitions the group gives this member now (serving the group's protocol), and
    /// whether the group rebalanced since the previous call.
    fn assignment(&self) -> Result<(BTreeSet<i32>, bool)> {
        let guard = self.consumer.lock();
        let Some(c) = guard.as_ref() else {
            return Ok((BTreeSet::new(), false));
        };
        // Polling serves rebalances; the partitions are paused, so records rarely come,
        // and those that do are read again through the batch's ranges.
        for _ in 0..64 {
            if c.poll(Duration::ZERO).is_none() {
                break;
            }
        }
        let tpl = c
            .assignment()
            .map_err(|e| kafka("read the group's assignment", e))?;
        if tpl.count() > 0 {
            let _ = c.pause(&tpl);
        }
        let seen = c.context().count.load(Ordering::SeqCst);
        let rebalanced = self.rebalances.swap(seen, Ordering::SeqCst) != seen;
        let partitions = tpl
            .elements()
            .iter()
            .filter(|e| e.topic() == self.topic)
            .map(|e| e.partition())
            .collect();
        Ok((partitions, rebalanced))
    }

    /// Follows the group's assignment: lets go of partitions taken away, claims those
    /// given (restoring their state), and returns the partitions the batch at `time` reads
    /// with the batch to run again first where a takeover left one. `decide` gives the range
    /// of a partition read normally: (partition, `true` if newly gained) → range.
    pub(crate) fn partitions(
        &self,
        mut decide: impl FnMut(i32, bool) -> Result<OffsetRange>,
        time: Time,
    ) -> Result<Vec<GroupSlot>> {
        let (now, rebalanced) = self.assignment()?;
        if rebalanced {
            self.input.rebalanced().map_err(Error::Checkpoint)?;
        }
        let mut before = self.assigned.lock();
        for p in before.difference(&now) {
            self.input.leave(*p as usize);
        }
        *before = now.clone();
        drop(before);
        let mut gained = BTreeSet::new();
        for p in &now {
            let label = format!("{}-{p}", self.topic);
            match self.input.gain(*p as usize, &label) {
                Ok(true) => {
                    gained.insert(*p);
                }
                Ok(false) => {}
                Err(e) => log::warn!("{}: cannot claim {label}: {e}", self.input.member()),
            }
        }
        let mut out = Vec::new();
        for (slot, _label, replay) in self.input.active() {
            let p = slot as i32;
            match replay {
                Some((t, bytes)) => {
                    let range: OffsetRange = bincode::deserialize(&bytes).map_err(|e| {
                        Error::InvalidParams(format!(
                            "the checkpoint of {}-{p} holds no offset range: {e}",
                            self.topic
                        ))
                    })?;
                    out.push((slot, t, range));
                }
                None => out.push((slot, time, decide(p, gained.contains(&p))?)),
            }
        }
        Ok(out)
    }

    /// Opens the batch: each partition's checkpoint is the batch's first work.
    pub(crate) fn begin_batch(&self, time: Time, slots: &[GroupSlot]) -> Result<()> {
        let mut records = Vec::with_capacity(slots.len());
        for (slot, t, range) in slots {
            let bytes = bincode::serialize(range)
                .map_err(|e| Error::InvalidParams(format!("encode an offset range: {e}")))?;
            records.push((*slot, *t, bytes));
        }
        self.input.begin_batch(time, records);
        Ok(())
    }

    pub(crate) fn batch_completed(&self, time: Time) {
        self.input.batch_completed(time);
    }
}

/// The partition count of `topic` (for sizing the state kept per partition).
pub(crate) fn partition_count(
    driver: &BaseConsumer,
    topic: &str,
    timeout: Duration,
) -> Result<usize> {
    let md = driver
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| kafka(format!("fetch metadata of {topic}"), e))?;
    Ok(md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map_or(0, |t| t.partitions().len()))
}
