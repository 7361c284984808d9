//! The lag of each Kafka partition, from a progress report's source offsets.

use crate::progress::StreamingProgress;

/// One Kafka partition's lag after the newest batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PartitionLag {
    pub(crate) source: String,
    pub(crate) topic: String,
    pub(crate) partition: String,
    pub(crate) latest: i64,
    pub(crate) processed: i64,
}

/// The lag of every partition a progress's sources report latest and end offsets of
/// (`{topic: {partition: offset}}`).
pub(crate) fn lag_of(p: &StreamingProgress) -> Vec<PartitionLag> {
    let mut out = Vec::new();
    for s in &p.sources {
        let (Some(latest), Some(end)) = (&s.latest_offset, &s.end_offset) else {
            continue;
        };
        let Some(topics) = latest.as_object() else {
            continue;
        };
        for (topic, partitions) in topics {
            let Some(partitions) = partitions.as_object() else {
                continue;
            };
            for (partition, high) in partitions {
                let processed = end
                    .get(topic)
                    .and_then(|t| t.get(partition))
                    .and_then(serde_json::Value::as_i64);
                if let (Some(latest), Some(processed)) = (high.as_i64(), processed) {
                    out.push(PartitionLag {
                        source: s.description.clone(),
                        topic: topic.clone(),
                        partition: partition.clone(),
                        latest,
                        processed,
                    });
                }
            }
        }
    }
    out
}
