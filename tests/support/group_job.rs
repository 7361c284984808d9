//! One member of a group-partitioned job, for the scale-out tests (tests/group_scale_out.rs
//! starts several, kills, pauses and stops them). Not a user tool.
//!
//! `emberflow-group-job --kafka BROKERS --topic T --group G --checkpoint DIR --out DIR
//! [--batch-ms N] [--session-ms N] [--s3 s3://bucket/prefix]`
//!
//! Reads keyed records (`key` → decimal `value`) from T as a member of the consumer group G;
//! keeps a running total per key with `map_with_state`; saves, per batch and partition, one
//! line per record: `key,value,partition,offset,total` (`OUT/records-<time>.txt/`); keeps
//! the same totals with `update_state_by_key` and saves each partition's whole state every
//! batch, `key,total` (`OUT/state-<time>.txt/`); and each key's sum over the last 2 s
//! with `reduce_by_key_and_window_with_inverse`, `key,sum` (`OUT/window-<time>.txt/`).
//! Stops gracefully on SIGTERM.

#[cfg(feature = "kafka")]
fn main() -> emberflow::Result<()> {
    use emberflow::kafka::{ConsumerRecord, ConsumerStrategy, KafkaParams, KafkaUtils};
    use emberflow::prelude::*;
    use std::time::Duration;

    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let need = |name: &str| arg(name).ok_or_else(|| Error::user(format!("{name} is required")));
    let (brokers, topic, group) = (need("--kafka")?, need("--topic")?, need("--group")?);
    let ckpt = need("--checkpoint")?;
    // `--s3 s3://bucket/prefix`: the partitions' checkpoints in an S3-compatible bucket
    // (endpoint from EMBERFLOW_S3_ENDPOINT) instead of the checkpoint directory.
    let s3 = arg("--s3");
    let out = std::path::PathBuf::from(need("--out")?);
    let batch = Duration::from_millis(
        arg("--batch-ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(200),
    );
    let session = arg("--session-ms").unwrap_or_else(|| "6000".into());
    let params = KafkaParams::new(brokers)
        .group_id(group)
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", session)
        .set("heartbeat.interval.ms", "500");
    let ctx = Context::local(2);
    let prefix = out.join("records").to_string_lossy().into_owned();
    let state_prefix = out.join("state").to_string_lossy().into_owned();
    let window_prefix = out.join("window").to_string_lossy().into_owned();
    let ssc = StreamingContext::get_or_create(
        &ckpt,
        |ssc| {
            let direct = KafkaUtils::create_direct_stream(
                ssc,
                params.clone(),
                ConsumerStrategy::subscribe([topic.clone()]),
            )?;
            let records = match &s3 {
                None => direct.group_partitioned(),
                Some(url) => direct.group_partitioned_in(s3_store(url)?),
            };
            let keyed = records.map(|r: ConsumerRecord| {
                let key =
                    String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned();
                let value: i64 = r.value_str().parse().unwrap_or(0);
                (key, (value, r.partition, r.offset))
            });
            let totals = keyed.map_with_state(StateSpec::function(
                |_t: Time, key: &String, v: Option<(i64, i32, i64)>, state: &mut State<i64>| {
                    let (value, partition, offset) = v?;
                    let total = state.get().copied().unwrap_or(0) + value;
                    state.update(total);
                    Some(format!("{key},{value},{partition},{offset},{total}"))
                },
            ));
            totals.save_as_text_files(prefix.clone(), "txt");
            // The same totals as update_state_by_key: every batch, each partition's state.
            keyed
                .map(|(k, (v, _, _))| (k, v))
                .update_state_by_key(|vs: &[i64], s: Option<i64>| {
                    Some(s.unwrap_or(0) + vs.iter().sum::<i64>())
                })
                .map(|(k, total)| format!("{k},{total}"))
                .save_as_text_files(state_prefix.clone(), "txt");
            // Each key's sum over the last 2 s (10 batches of 200 ms), every batch.
            keyed
                .map(|(k, (v, _, _))| (k, v))
                .reduce_by_key_and_window_with_inverse(
                    |a, b| a + b,
                    |a, b| a - b,
                    Duration::from_secs(2),
                    batch,
                    None::<fn(&(String, i64)) -> bool>,
                )
                .map(|(k, sum)| format!("{k},{sum}"))
                .save_as_text_files(window_prefix.clone(), "txt");
            Ok(())
        },
        StreamingContext::builder(&ctx, batch).stop_gracefully_on_signal(true),
    )?;
    ssc.start()?;
    ssc.await_termination()?;
    Ok(())
}

/// The S3-compatible store at `url`, on the server EMBERFLOW_S3_ENDPOINT names.
#[cfg(all(feature = "kafka", feature = "s3"))]
fn s3_store(
    url: &str,
) -> emberflow::Result<std::sync::Arc<dyn emberflow::checkpoint_store::CheckpointStore>> {
    let endpoint = std::env::var("EMBERFLOW_S3_ENDPOINT")
        .map_err(|_| emberflow::Error::user("--s3 needs EMBERFLOW_S3_ENDPOINT"))?;
    Ok(std::sync::Arc::new(
        emberflow::checkpoint_store::ObjectCheckpointStore::from_url(
            url,
            [
                ("aws_endpoint", endpoint.as_str()),
                ("aws_allow_http", "true"),
                ("aws_region", "us-east-1"),
                ("aws_access_key_id", "test"),
                ("aws_secret_access_key", "test"),
            ],
        )?,
    ))
}

#[cfg(all(feature = "kafka", not(feature = "s3")))]
fn s3_store(
    _: &str,
) -> emberflow::Result<std::sync::Arc<dyn emberflow::checkpoint_store::CheckpointStore>> {
    Err(emberflow::Error::user("--s3 needs the s3 feature"))
}

#[cfg(not(feature = "kafka"))]
fn main() {
    eprintln!("emberflow-group-job needs the kafka feature");
    std::process::exit(2);
}
