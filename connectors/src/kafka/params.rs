//! [`KafkaParams`]: the client configuration, as Kafka's own property names.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;

/// Kafka client settings: bootstrap servers, an optional consumer group, and any Kafka
/// property (`auto.offset.reset`, `security.protocol`, …).
///
/// ```
/// use emberflow_connectors::kafka::KafkaParams;
/// let p = KafkaParams::new("127.0.0.1:9092").group_id("dashboard").set("auto.offset.reset", "earliest");
/// assert_eq!(p.get("group.id"), Some("dashboard"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct KafkaParams {
    props: BTreeMap<String, String>,
    max_rate_per_partition: Option<u64>,
    request_timeout: Option<std::time::Duration>,
    backpressure: bool,
}

impl KafkaParams {
    /// Settings for the brokers at `bootstrap_servers` (`host:port[,host:port…]`).
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        let mut props = BTreeMap::new();
        props.insert("bootstrap.servers".to_owned(), bootstrap_servers.into());
        KafkaParams {
            props,
            max_rate_per_partition: None,
            request_timeout: None,
            backpressure: false,
        }
    }
    /// The consumer group (needed for `commit_async` and committed starting offsets).
    pub fn group_id(self, group: impl Into<String>) -> Self {
        self.set("group.id", group)
    }
    /// Any Kafka property.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.props.insert(key.into(), value.into());
        self
    }
    /// Every property set, as librdkafka receives it.
    pub fn props(&self) -> impl Iterator<Item = (&str, &str)> {
        self.props.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
    /// A property's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }
    /// At most this many records per partition per second of batch (Spark's
    /// `spark.streaming.kafka.maxRatePerPartition`).
    pub fn max_rate_per_partition(mut self, records_per_second: u64) -> Self {
        self.max_rate_per_partition = Some(records_per_second);
        self
    }
    /// Backpressure for this stream alone (the context's `backpressure(true)` does it for
    /// every input): after each batch the PID rate estimator (`PidRateEstimator`, Spark's
    /// defaults) sets the rate the next batches read at, shared out over the partitions,
    /// never more than the rate limit.
    pub fn backpressure(mut self, on: bool) -> Self {
        self.backpressure = on;
        self
    }
    pub(crate) fn has_backpressure(&self) -> bool {
        self.backpressure
    }

    /// How long the driver waits for metadata and offsets before the batch fails (default
    /// 10 s); also how long a task waits for records of its range that do not come (default
    /// 30 s).
    pub fn request_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }
    pub(crate) fn metadata_timeout(&self) -> std::time::Duration {
        self.request_timeout
            .unwrap_or(std::time::Duration::from_secs(10))
    }
    pub(crate) fn read_timeout(&self) -> std::time::Duration {
        self.request_timeout
            .unwrap_or(std::time::Duration::from_secs(30))
    }
    pub(crate) fn rate(&self) -> Option<u64> {
        self.max_rate_per_partition
    }
    /// Where a partition without a committed offset starts: `earliest` or `latest`
    /// (the default, as Kafka's).
    pub(crate) fn starts_at_earliest(&self) -> bool {
        matches!(
            self.get("auto.offset.reset"),
            Some("earliest" | "smallest" | "beginning")
        )
    }
    /// The rdkafka configuration of a consumer that reads assigned partitions and never
    /// commits by itself (our checkpoint is the truth).
    pub(crate) fn consumer_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        for (k, v) in &self.props {
            c.set(k, v);
        }
        if self.get("group.id").is_none() {
            // An assigned consumer still needs a group id in librdkafka; it never joins.
            c.set("group.id", "emberflow-direct-reader");
        }
        c.set("enable.auto.commit", "false");
        c.set("enable.auto.offset.store", "false");
        // A reader asks for a known range: a long-poll fetch at the end of a partition would
        // only delay the next batch's first fetch.
        if self.get("fetch.wait.max.ms").is_none() {
            c.set("fetch.wait.max.ms", "10");
        }
        c
    }
}
