//! The JSON API under `/api/v1/streaming/`, in the shapes of Spark's streaming REST API
//! (camelCase; times ISO-8601 in UTC; durations in milliseconds; a batch's id is its batch
//! time in milliseconds, as Spark's).

use serde_json::{json, Value};

use super::model::{BatchRecord, BatchStatus, UiModel};
use crate::listener::OutputOperationInfo;
use crate::progress::iso8601;

fn ms(d: Option<std::time::Duration>) -> Value {
    d.map_or(Value::Null, |d| json!(d.as_millis() as u64))
}

fn mean(values: impl Iterator<Item = f64>) -> Value {
    let (sum, n) = values.fold((0.0, 0u64), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        Value::Null
    } else {
        json!(sum / n as f64)
    }
}

/// `/statistics`: the whole job (averages over the retained completed batches).
pub(crate) fn statistics(m: &UiModel) -> Value {
    m.read(|r| {
        let completed: Vec<&BatchRecord> = r
            .batches
            .values()
            .filter(|b| b.status == BatchStatus::Completed)
            .collect();
        let interval = m.batch_interval.as_secs_f64().max(f64::MIN_POSITIVE);
        let delay = |f: fn(&BatchRecord) -> Option<std::time::Duration>| {
            mean(
                completed
                    .iter()
                    .filter_map(|b| f(b))
                    .map(|d| d.as_millis() as f64),
            )
        };
        let active_receivers = r.receivers.values().filter(|x| x.info.active).count();
        json!({
            "startTime": iso8601(m.start_time),
            "batchDuration": m.batch_interval.as_millis() as u64,
            "numReceivers": r.receivers.len(),
            "numActiveReceivers": active_receivers,
            "numInactiveReceivers": r.receivers.len() - active_receivers,
            "numTotalCompletedBatches": r.completed_total,
            "numTotalFailedBatches": r.failed_total,
            "numRetainedCompletedBatches": completed.len(),
            "numActiveBatches": r.batches.len() - completed.len(),
            "numProcessedRecords": r.records_total,
            "numReceivedRecords": r.records_total,
            "avgInputRate": mean(completed.iter().map(|b| b.info.num_records() as f64 / interval)),
            "avgSchedulingDelay": delay(|b| b.info.scheduling_delay()),
            "avgProcessingTime": delay(|b| b.info.processing_delay()),
            "avgTotalDelay": delay(|b| b.info.total_delay()),
            "stuck": r.stuck.as_ref().map(|s| s.to_string()),
            "droppedListenerEvents": m.dropped_events(),
        })
    })
}

fn batch_json(b: &BatchRecord) -> Value {
    let ops = |f: fn(&OutputOperationInfo) -> bool| b.outputs.values().filter(|o| f(o)).count();
    let failed = ops(|o| o.failure.is_some());
    let completed = ops(|o| o.end_time.is_some());
    let first_failure = b
        .outputs
        .values()
        .find_map(|o| o.failure.clone())
        .or_else(|| b.info.failures.first().cloned());
    json!({
        "batchId": b.info.batch_time.millis(),
        "batchTime": iso8601(b.info.batch_time),
        "status": b.status.as_str(),
        "batchDuration": ms(b.info.processing_delay()),
        "inputSize": b.info.num_records(),
        "inputSizePerStream": b.info.records_per_input,
        "schedulingDelay": ms(b.info.scheduling_delay()),
        "processingTime": ms(b.info.processing_delay()),
        "totalDelay": ms(b.info.total_delay()),
        "numActiveOutputOps": b.outputs.len() - completed,
        "numCompletedOutputOps": completed - failed,
        "numFailedOutputOps": failed.max(b.info.failures.len()),
        "numTotalOutputOps": b.info.output_operations,
        "firstFailureReason": first_failure,
    })
}

/// `/batches`: active and retained completed batches, newest first.
pub(crate) fn batches(m: &UiModel) -> Value {
    m.read(|r| Value::Array(r.batches.values().rev().map(batch_json).collect()))
}

/// `/batches/{time}/operations`: the batch's output operations.
pub(crate) fn operations(m: &UiModel, time_ms: u64) -> Option<Value> {
    m.read(|r| {
        let b = r.batches.get(&crate::time::Time::from_millis(time_ms))?;
        Some(Value::Array(
            b.outputs
                .values()
                .map(|o| {
                    json!({
                        "outputOpId": o.id,
                        "name": o.name,
                        "description": o.name,
                        "startTime": o.start_time.map(iso8601),
                        "endTime": o.end_time.map(iso8601),
                        "duration": match (o.start_time, o.end_time) {
                            (Some(s), Some(e)) => json!((e - s).as_millis() as u64),
                            _ => Value::Null,
                        },
                        "failureReason": o.failure,
                    })
                })
                .collect(),
        ))
    })
}

/// `/batches/{time}`: one batch with its output operations.
pub(crate) fn batch(m: &UiModel, time_ms: u64) -> Option<Value> {
    let ops = operations(m, time_ms)?;
    let mut b = m.read(|r| {
        r.batches
            .get(&crate::time::Time::from_millis(time_ms))
            .map(batch_json)
    })?;
    b["outputOperations"] = ops;
    Some(b)
}

/// `/receivers`: every receiver with its rates (records per second, by batch).
pub(crate) fn receivers(m: &UiModel) -> Value {
    m.read(|r| {
        Value::Array(
            r.receivers
                .iter()
                .map(|(id, rec)| {
                    json!({
                        "streamId": id,
                        "streamName": rec.info.name,
                        "isActive": rec.info.active,
                        "executorId": "driver",
                        "executorHost": "localhost",
                        "lastErrorTime": rec.last_error_time.map(iso8601),
                        "lastErrorMessage": rec.info.last_error,
                        "lastError": rec.info.last_error,
                        "avgEventRate": mean(rec.rates.iter().map(|(_, r)| *r)),
                        "eventRates": rec.rates.iter().map(|(t, r)| json!([t.millis(), r])).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        )
    })
}

/// `/progress`: the recent progress reports, oldest first.
pub(crate) fn progress(m: &UiModel) -> Value {
    serde_json::to_value(m.recent_progress()).unwrap_or(Value::Null)
}

/// `/status`: what the job is doing now.
pub(crate) fn status(m: &UiModel) -> Value {
    serde_json::to_value(m.status()).unwrap_or(Value::Null)
}

/// `/lag`: per Kafka partition, the latest offset, the processed one and their difference.
pub(crate) fn lag(m: &UiModel) -> Value {
    Value::Array(
        m.lag()
            .into_iter()
            .map(|l| {
                json!({
                    "source": l.source,
                    "topic": l.topic,
                    "partition": l.partition,
                    "latestOffset": l.latest,
                    "processedOffset": l.processed,
                    "lag": l.latest - l.processed,
                })
            })
            .collect(),
    )
}
