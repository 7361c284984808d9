//! The direct stream (Spark's DirectKafkaInputDStream): each batch, the driver asks the
//! brokers for the latest offset of every partition of the subscribed topics and the batch
//! reads `[where the previous batch stopped, latest)`, capped by the rate limit. The ranges of
//! each batch and the next offsets are the stream's checkpoint data, so a recovered job
//! re-reads exactly the ranges of its pending batches and continues after them.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::{Context, Rdd};
use emberflow_streaming::plumbing::Source;
use emberflow_streaming::{DStream, StreamingContext, Time};
use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::error::{kafka, Error, Result};
use super::group::{partition_count, GroupMember};
use super::params::KafkaParams;
use super::rdd::{kafka_rdd, ConsumerPool, ConsumerRecord, OffsetRange};

/// Which partitions a stream reads.
#[derive(Clone, Debug)]
pub enum ConsumerStrategy {
    /// Every partition of these topics, including partitions added later.
    Subscribe(Vec<String>),
    /// Every partition of every topic whose name matches this regular expression.
    SubscribePattern(String),
    /// Exactly these partitions, optionally from given offsets.
    Assign(Vec<(String, i32)>, BTreeMap<(String, i32), i64>),
}

impl ConsumerStrategy {
    /// Every partition of `topics`.
    pub fn subscribe<I, S>(topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ConsumerStrategy::Subscribe(topics.into_iter().map(Into::into).collect())
    }
    /// Every partition of the topics matching `regex`.
    pub fn subscribe_pattern(regex: impl Into<String>) -> Self {
        ConsumerStrategy::SubscribePattern(regex.into())
    }
    /// These partitions, from `offsets` where given (else committed, else `auto.offset.reset`).
    pub fn assign(partitions: Vec<(String, i32)>, offsets: BTreeMap<(String, i32), i64>) -> Self {
        ConsumerStrategy::Assign(partitions, offsets)
    }
}

type TopicPartition = (String, i32);

struct DirectState {
    /// How long the stream's batches are remembered (windows and state below it look back
    /// that far): the ranges of completed batches are kept as long.
    remember: Mutex<Duration>,
    ctx: Context,
    params: KafkaParams,
    strategy: ConsumerStrategy,
    pattern: Option<regex::Regex>,
    interval: Duration,
    driver: BaseConsumer,
    /// The next offset to read, per partition.
    next: Mutex<BTreeMap<TopicPartition, i64>>,
    /// The ranges of every batch not yet completed (a restart re-reads pending ones
    /// exactly, however many there are).
    batches: Mutex<BTreeMap<Time, Vec<OffsetRange>>>,
    /// Batches computed in this run and not completed yet.
    running: Mutex<std::collections::BTreeSet<Time>>,
    /// With `KafkaParams::backpressure`: the PID estimator's latest rate for this stream,
    /// and the estimator.
    processed_rate: Mutex<Option<f64>>,
    pid: Mutex<emberflow_streaming::PidRateEstimator>,
    /// Records per second over all partitions set through the rate hook.
    rate_limit: Mutex<Option<u64>>,
    /// Each partition's high watermark when the latest batch was decided (for the lag).
    latest: Mutex<BTreeMap<TopicPartition, i64>>,
    /// Readers kept between batches.
    pool: Arc<ConsumerPool>,
    /// With `group_partitioned`: this process as one member of the consumer group (or why
    /// it cannot be one, reported when the context starts).
    group: std::sync::OnceLock<std::result::Result<GroupMember, String>>,
}

impl DirectState {
    fn partitions(&self) -> Result<Vec<TopicPartition>> {
        if let ConsumerStrategy::Assign(ps, _) = &self.strategy {
            return Ok(ps.clone());
        }
        let md = self
            .driver
            .fetch_metadata(None, self.params.metadata_timeout())
            .map_err(|e| kafka("fetch metadata", e))?;
        let mut out = Vec::new();
        for t in md.topics() {
            let wanted = match &self.strategy {
                ConsumerStrategy::Subscribe(ts) => ts.iter().any(|x| x == t.name()),
                ConsumerStrategy::SubscribePattern(_) => {
                    self.pattern.as_ref().is_some_and(|p| p.is_match(t.name()))
                }
                ConsumerStrategy::Assign(..) => false,
            };
            if wanted {
                out.extend(t.partitions().iter().map(|p| (t.name().to_owned(), p.id())));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Where a partition seen for the first time starts.
    fn starting_offset(&self, tp: &TopicPartition, low: i64, high: i64) -> Result<i64> {
        if let ConsumerStrategy::Assign(_, offsets) = &self.strategy {
            if let Some(o) = offsets.get(tp) {
                return Ok(*o);
            }
        }
        if self.params.get("group.id").is_some() {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&tp.0, tp.1);
            let committed = self
                .driver
                .committed_offsets(tpl, self.params.metadata_timeout())
                .map_err(|e| kafka(format!("fetch committed offsets of {}-{}", tp.0, tp.1), e))?;
            if let Some(Offset::Offset(o)) = committed.elements().first().map(|e| e.offset()) {
                return Ok(o);
            }
        }
        Ok(if self.params.starts_at_earliest() {
            low
        } else {
            high
        })
    }

    /// The most records a batch reads from one partition, when rates limit it.
    fn cap(&self, partitions: usize) -> Option<i64> {
        let mut cap = self
            .params
            .rate()
            .map(|r| ((r as f64) * self.interval.as_secs_f64()).max(1.0) as i64);
        let hooked = self.rate_limit.lock().map(|r| r as f64);
        let processed = *self.processed_rate.lock();
        for rate in [processed, hooked].into_iter().flatten() {
            // A rate for the whole stream, shared out over the partitions.
            let per_partition =
                (rate * self.interval.as_secs_f64() / partitions.max(1) as f64).max(1.0) as i64;
            cap = Some(cap.map_or(per_partition, |c| c.min(per_partition)));
        }
        cap
    }

    /// The range a batch reads from `tp`, from `from` (where the previous batch stopped,
    /// else where a new partition starts).
    fn range(
        &self,
        tp: &TopicPartition,
        from: Option<i64>,
        cap: Option<i64>,
    ) -> Result<OffsetRange> {
        let (low, high) = self
            .driver
            .fetch_watermarks(&tp.0, tp.1, self.params.metadata_timeout())
            .map_err(|e| kafka(format!("fetch watermarks of {}-{}", tp.0, tp.1), e))?;
        let from = match from {
            Some(o) => o,
            None => self.starting_offset(tp, low, high)?,
        };
        // Records deleted by retention cannot be read: start at the low watermark.
        let from = from.max(low);
        let until = match cap {
            Some(c) => high.min(from + c),
            None => high,
        }
        .max(from);
        self.latest.lock().insert(tp.clone(), high);
        Ok(OffsetRange {
            topic: tp.0.clone(),
            partition: tp.1,
            from_offset: from,
            until_offset: until,
        })
    }

    /// The ranges of a group member's batch at `time`: its partitions (after following
    /// the group's assignment), each from where it stopped, or the batch a takeover runs
    /// again.
    fn group_ranges(&self, member: &GroupMember, time: Time) -> Result<Vec<OffsetRange>> {
        let owned = member.input.active_count().max(1);
        let cap = self.cap(owned);
        let mut next = self.next.lock();
        let slots = member.partitions(
            |p, gained| {
                let tp = (member.topic.clone(), p);
                if gained {
                    // Another member may have read it meanwhile: where to go on comes from
                    // its checkpoint (a replay), else from where the partition starts.
                    next.remove(&tp);
                }
                self.range(&tp, next.get(&tp).copied(), cap)
            },
            time,
        )?;
        for (_, _, r) in &slots {
            next.insert((r.topic.clone(), r.partition), r.until_offset);
        }
        drop(next);
        member.begin_batch(time, &slots)?;
        Ok(slots.into_iter().map(|(_, _, r)| r).collect())
    }

    /// The ranges of the batch at `time`: decided once (a group member decides in
    /// `assign_batch`, before any operator asks), then the same on every call — a batch
    /// re-run after a restart reads exactly what it read before.
    fn ranges_of(&self, time: Time) -> Result<Vec<OffsetRange>> {
        if let Some(r) = self.batches.lock().get(&time) {
            return Ok(r.clone());
        }
        let r = match self.group.get() {
            Some(Ok(member)) => self.group_ranges(member, time)?,
            _ => self.next_ranges()?,
        };
        self.batches.lock().insert(time, r.clone());
        Ok(r)
    }

    fn next_ranges(&self) -> Result<Vec<OffsetRange>> {
        let partitions = self.partitions()?;
        let cap = self.cap(partitions.len());
        // Decided all at once: `next` moves only when every partition's range is known, so a
        // failure part way leaves the batch to be decided again, from the same offsets.
        let mut next = self.next.lock();
        let mut decided = Vec::with_capacity(partitions.len());
        let mut ranges = Vec::with_capacity(partitions.len());
        for tp in partitions {
            let range = self.range(&tp, next.get(&tp).copied(), cap)?;
            decided.push((tp, range.until_offset));
            ranges.push(range);
        }
        next.extend(decided);
        Ok(ranges)
    }
}

/// The direct stream as a source: each batch's offset ranges decided on the driver, read by
/// the RDD's tasks.
struct DirectSource {
    state: Arc<DirectState>,
}

impl DirectSource {
    /// A batch completed: drops ranges no batch needs any more and, with backpressure,
    /// takes the batch's records over its processing time as the rate.
    fn completed(&self, info: &emberflow_streaming::BatchInfo) {
        let t = info.batch_time;
        let mut batches = self.state.batches.lock();
        let records: Option<u64> = batches
            .get(&t)
            .map(|ranges| ranges.iter().map(OffsetRange::count).sum());
        // Ranges are dropped below the oldest batch not completed, but never this batch's
        // own: a metadata checkpoint written while this batch completes may still list it
        // as pending, and a restart must then re-read exactly its ranges.
        let mut running = self.state.running.lock();
        // A failed batch stays running: the context lists it as pending in every later
        // checkpoint, and a restart re-reads exactly its ranges.
        if info.succeeded() {
            running.remove(&t);
        }
        let cut = running.first().copied().unwrap_or(t).min(t);
        drop(running);
        // Completed batches stay as long as the stream is remembered: a window or a stateful
        // stream downstream recomputes them after a restart, from these same ranges.
        let remembered = t.saturating_sub(*self.state.remember.lock());
        let cut = remembered.min(cut);
        let keep = batches.split_off(&cut);
        *batches = keep;
        drop(batches);
        if !self.state.params.has_backpressure() {
            return;
        }
        // The shared PID estimator (as the context's backpressure), for this stream alone.
        if let Some(rate) = records.and_then(|n| self.state.pid.lock().batch_completed(info, n)) {
            *self.state.processed_rate.lock() = Some(rate);
        }
    }
}

impl Source<ConsumerRecord> for DirectSource {
    fn kind(&self) -> &'static str {
        "kafka_direct_input"
    }
    fn name(&self) -> String {
        "kafka direct stream".into()
    }
    fn records(&self, time: Time) -> Option<u64> {
        self.state
            .batches
            .lock()
            .get(&time)
            .map(|ranges| ranges.iter().map(OffsetRange::count).sum())
    }
    fn batch_completed(&self, info: &emberflow_streaming::BatchInfo) {
        self.completed(info);
        if let Some(Ok(member)) = self.state.group.get() {
            member.batch_completed(info.batch_time);
        }
    }
    fn start(&self, _zero_time: Time) -> emberflow_streaming::Result<()> {
        match self.state.group.get() {
            None => Ok(()),
            Some(Ok(member)) => member
                .start()
                .map_err(|e| emberflow_streaming::Error::InvalidConfig(e.to_string())),
            Some(Err(why)) => Err(emberflow_streaming::Error::InvalidConfig(why.clone())),
        }
    }
    fn stop(&self) {
        if let Some(Ok(member)) = self.state.group.get() {
            member.stop();
        }
    }
    /// A group member decides its batch before any operator asks for it: the partitions'
    /// checkpoints must be the batch's first work, before any state changes.
    fn assign_batch(&self, time: Time) -> emberflow_streaming::Result<()> {
        if matches!(self.state.group.get(), Some(Ok(_))) {
            self.state.ranges_of(time)?;
        }
        Ok(())
    }
    fn set_rate_limit(&self, records_per_second: Option<u64>) {
        *self.state.rate_limit.lock() = records_per_second;
    }
    /// Offsets as Spark's Kafka source reports them: `{topic: {partition: offset}}`.
    fn describe_batch(&self, time: Time) -> Option<emberflow_streaming::plumbing::BatchOffsets> {
        let ranges = self.state.batches.lock().get(&time).cloned()?;
        let mut start = serde_json::Map::new();
        let mut end = serde_json::Map::new();
        let mut latest = serde_json::Map::new();
        let entry = |m: &mut serde_json::Map<String, serde_json::Value>,
                     (topic, partition): &TopicPartition,
                     offset: i64| {
            if let serde_json::Value::Object(partitions) = m
                .entry(topic.clone())
                .or_insert_with(|| serde_json::Value::Object(Default::default()))
            {
                partitions.insert(partition.to_string(), offset.into());
            }
        };
        for r in &ranges {
            let tp = (r.topic.clone(), r.partition);
            entry(&mut start, &tp, r.from_offset);
            entry(&mut end, &tp, r.until_offset);
        }
        for (tp, high) in self.state.latest.lock().iter() {
            entry(&mut latest, tp, *high);
        }
        Some(emberflow_streaming::plumbing::BatchOffsets {
            start: Some(start.into()),
            end: end.into(),
            latest: Some(latest.into()),
        })
    }
    fn batch(&self, time: Time) -> emberflow_streaming::Result<Option<Rdd<ConsumerRecord>>> {
        self.state.running.lock().insert(time);
        let ranges = self.state.ranges_of(time)?;
        Ok(Some(kafka_rdd(
            &self.state.ctx,
            &self.state.params,
            ranges,
            Some(self.state.pool.clone()),
        )))
    }
    fn set_remember_duration(&self, remember: Duration) {
        *self.state.remember.lock() = remember;
    }
    fn checkpoint_data(&self) -> emberflow_streaming::Result<Option<Vec<u8>>> {
        if self.state.group.get().is_some() {
            // A group member's offsets live in its partitions' checkpoints.
            return Ok(None);
        }
        let data = (
            self.state.next.lock().clone(),
            self.state.batches.lock().clone(),
        );
        bincode::serialize(&data).map(Some).map_err(|e| {
            emberflow_streaming::Error::CheckpointEncoding {
                stream: "the Kafka direct stream".into(),
                reason: e.to_string(),
            }
        })
    }
    fn restore(&self, data: &[u8]) -> emberflow_streaming::Result<()> {
        type Saved = (
            BTreeMap<TopicPartition, i64>,
            BTreeMap<Time, Vec<OffsetRange>>,
        );
        let (next, batches): Saved = bincode::deserialize(data).map_err(|e| {
            Error::InvalidParams(format!(
                "cannot decode the direct stream's checkpoint data: {e}"
            ))
        })?;
        *self.state.next.lock() = next;
        *self.state.batches.lock() = batches;
        Ok(())
    }
}

/// Commits offsets to the consumer group of a direct stream.
struct Committer {
    consumer: Option<BaseConsumer>,
}

/// The stream `create_direct_stream` returns: a `DStream<ConsumerRecord>` (it derefs to one)
/// that can also commit offsets to its consumer group.
#[derive(Clone)]
pub struct DirectKafkaStream {
    stream: DStream<ConsumerRecord>,
    committer: Arc<Committer>,
    state: Arc<DirectState>,
    ssc: StreamingContext,
}

impl Deref for DirectKafkaStream {
    type Target = DStream<ConsumerRecord>;
    fn deref(&self) -> &DStream<ConsumerRecord> {
        &self.stream
    }
}

impl DirectKafkaStream {
    /// Commits `until_offset` of each range to the consumer group, asynchronously (Spark's
    /// `commitAsync`). Advisory: the checkpoint is what a restart resumes from; committed
    /// offsets serve monitoring and a job started without a checkpoint. Needs `group.id`.
    pub fn commit_async(&self, ranges: Vec<OffsetRange>) {
        let Some(consumer) = &self.committer.consumer else {
            log::warn!("commit_async without a group.id: nothing committed");
            return;
        };
        let mut tpl = TopicPartitionList::new();
        for r in &ranges {
            if let Err(e) =
                tpl.add_partition_offset(&r.topic, r.partition, Offset::Offset(r.until_offset))
            {
                log::warn!("commit_async: {e}");
                return;
            }
        }
        if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
            log::warn!("commit_async of {} ranges failed: {e}", ranges.len());
        }
    }

    /// The plain stream handle.
    pub fn stream(&self) -> DStream<ConsumerRecord> {
        self.stream.clone()
    }

    /// With [`group_partitioned`](Self::group_partitioned): the partitions this member
    /// reads now (`None` for a stream that is not a group member). Empty while the group
    /// rebalances or gives this member nothing.
    pub fn group_partitions(&self) -> Option<Vec<i32>> {
        match self.state.group.get() {
            Some(Ok(member)) => Some(
                member
                    .input
                    .active_slots()
                    .into_iter()
                    .map(|s| s as i32)
                    .collect(),
            ),
            _ => None,
        }
    }

    /// Makes this process one member of the consumer group (`group.id`) that shares the
    /// subscribed topic: the group gives each member some of its partitions and moves them
    /// when members come and go. State kept by key (`map_with_state`) stays with the key's
    /// partition — the records must be keyed so that a key's records are in one partition —
    /// and is checkpointed per partition under the context's checkpoint directory
    /// (`partitions/<topic>-<partition>/`), with the batch's offsets, before every batch, by
    /// the partition's current owner; a member that gains a partition restores it and runs
    /// the owner's unfinished batch again (same offsets, same batch time), and
    /// `save_as_text_files` writes one file per batch and partition, so nothing is lost or
    /// counted twice. A member that lost a partition (paused past `session.timeout.ms`, say)
    /// is fenced by the generation of its claim: it writes neither state nor outputs for it.
    /// Every member must run the same graph (checked when it starts). A batch run again
    /// after a takeover keeps its first batch time for its outputs and windows; the time
    /// `map_with_state` functions are given is the running member's batch time.
    ///
    /// Needs a `group.id`, `ConsumerStrategy::subscribe` of one topic, and a checkpoint
    /// directory (`get_or_create`, or `StreamingContext::checkpoint` before `start`) or
    /// [`group_partitioned_in`](Self::group_partitioned_in)'s store; what is missing is
    /// reported when the context starts. Only narrow operations
    /// (map, filter, flat_map) may come between the stream and its state and outputs.
    ///
    /// # Spark
    /// Spark runs one driver that hands partitions to executors; here every process is a
    /// driver of its own partitions, as in Kafka Streams, and Kafka's group protocol is the
    /// scheduler.
    pub fn group_partitioned(self) -> DirectKafkaStream {
        self.group_partitioned_with(None)
    }

    /// [`group_partitioned`](Self::group_partitioned) with the partitions' checkpoints in
    /// `store` (an S3-compatible bucket: `ObjectCheckpointStore`).
    pub fn group_partitioned_in(
        self,
        store: Arc<dyn emberflow_streaming::checkpoint_store::CheckpointStore>,
    ) -> DirectKafkaStream {
        self.group_partitioned_with(Some(store))
    }

    fn group_partitioned_with(
        self,
        store: Option<Arc<dyn emberflow_streaming::checkpoint_store::CheckpointStore>>,
    ) -> DirectKafkaStream {
        let member = self.member(store);
        if let Err(why) = &member {
            log::error!("group_partitioned: {why}");
        }
        let _ = self.state.group.set(member);
        self
    }

    fn member(
        &self,
        store: Option<Arc<dyn emberflow_streaming::checkpoint_store::CheckpointStore>>,
    ) -> std::result::Result<GroupMember, String> {
        if self.state.params.get("group.id").is_none() {
            return Err("group_partitioned needs a group.id in the Kafka params".into());
        }
        let topic = match &self.state.strategy {
            ConsumerStrategy::Subscribe(topics) if topics.len() == 1 => topics[0].clone(),
            other => {
                return Err(format!(
                    "group_partitioned needs ConsumerStrategy::subscribe of exactly one topic, not {other:?}"
                ))
            }
        };
        let input = self.ssc.group_input(store).map_err(|e| e.to_string())?;
        let count = partition_count(
            &self.state.driver,
            &topic,
            self.state.params.metadata_timeout(),
        )
        .map_err(|e| e.to_string())?;
        // State is kept for every partition the topic may grow to without a restart.
        input.set_slots((count * 4).max(64));
        let session_ms: u64 = self
            .state
            .params
            .get("session.timeout.ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(45_000);
        input.set_fence_grace(Duration::from_millis(session_ms));
        Ok(GroupMember::new(input, topic, self.state.params.clone()))
    }
}

/// A consumer of `params`, after checking the brokers answer (a clear error at creation
/// rather than failed batches later).
fn reachable_consumer(params: &KafkaParams) -> Result<BaseConsumer> {
    let consumer: BaseConsumer = params
        .consumer_config()
        .create()
        .map_err(|e| kafka("create a consumer", e))?;
    consumer
        .fetch_metadata(None, Duration::from_secs(3))
        .map_err(|e| {
            kafka(
                format!(
                    "reach the brokers at {}",
                    params.get("bootstrap.servers").unwrap_or("?")
                ),
                e,
            )
        })?;
    Ok(consumer)
}

/// Entry points, named as in spark-streaming-kafka-0-10.
pub struct KafkaUtils;

impl KafkaUtils {
    /// A direct stream over the partitions `strategy` selects. Fails at once if the brokers
    /// cannot be reached.
    pub fn create_direct_stream(
        ssc: &StreamingContext,
        params: KafkaParams,
        strategy: ConsumerStrategy,
    ) -> Result<DirectKafkaStream> {
        let driver = reachable_consumer(&params)?;
        let pattern = match &strategy {
            ConsumerStrategy::SubscribePattern(p) => Some(
                regex::Regex::new(p)
                    .map_err(|e| Error::InvalidParams(format!("bad topic pattern {p:?}: {e}")))?,
            ),
            _ => None,
        };
        let committer = Committer {
            consumer: match params.get("group.id") {
                Some(_) => Some(
                    params
                        .consumer_config()
                        .create()
                        .map_err(|e| kafka("create the committing consumer", e))?,
                ),
                None => None,
            },
        };
        let state = Arc::new(DirectState {
            remember: Mutex::new(ssc.batch_interval()),
            latest: Mutex::new(BTreeMap::new()),
            ctx: ssc.context().clone(),
            params,
            strategy,
            pattern,
            interval: ssc.batch_interval(),
            driver,
            next: Mutex::new(BTreeMap::new()),
            batches: Mutex::new(BTreeMap::new()),
            running: Mutex::new(std::collections::BTreeSet::new()),
            processed_rate: Mutex::new(None),
            pid: Mutex::new(emberflow_streaming::PidRateEstimator::new(
                ssc.batch_interval(),
            )),
            rate_limit: Mutex::new(None),
            pool: Arc::new(ConsumerPool::default()),
            group: std::sync::OnceLock::new(),
        });
        let stream = DStream::from_source(
            ssc,
            DirectSource {
                state: state.clone(),
            },
        );
        Ok(DirectKafkaStream {
            stream,
            committer: Arc::new(committer),
            state,
            ssc: ssc.clone(),
        })
    }

    /// A receiver stream: a member of the consumer group `params` names, reading `topics`;
    /// with `receiver_write_ahead_log(true)` on the context, records are logged before their
    /// offsets are committed, so a crash loses nothing. Fails at once without a `group.id`
    /// or if the brokers cannot be reached.
    pub fn create_stream<I, S>(
        ssc: &StreamingContext,
        params: KafkaParams,
        topics: I,
    ) -> Result<DStream<ConsumerRecord>>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if params.get("group.id").is_none() {
            return Err(Error::InvalidParams(
                "a receiver stream needs a group.id".into(),
            ));
        }
        reachable_consumer(&params)?;
        let topics: Vec<String> = topics.into_iter().map(Into::into).collect();
        if !ssc.config().receiver_write_ahead_log {
            log::warn!(
                "Kafka receiver stream on {}: the write-ahead log is off, so records received but not yet processed are lost if the process crashes (their offsets are committed once stored in memory); turn on receiver_write_ahead_log(true) with a checkpoint directory",
                topics.join(",")
            );
        }
        Ok(ssc.receiver_stream(super::receiver::KafkaReceiver { params, topics }))
    }

    /// An RDD over exactly `ranges` (Spark's `createRDD`), one partition per range.
    pub fn create_rdd(
        ctx: &Context,
        params: &KafkaParams,
        ranges: Vec<OffsetRange>,
    ) -> Rdd<ConsumerRecord> {
        kafka_rdd(ctx, params, ranges, None)
    }
}
