//! What a running context reports: a progress record per batch in Structured Streaming's
//! JSON shape (checked against the batches that ran), the status, and a job id that survives
//! a restart from the checkpoint.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use emberflow::prelude::*;
use emberflow::testing::BatchRunner;
use emberflow::{StreamingProgress, StreamingStatus};

fn status(message: &str, data: bool, active: bool) -> StreamingStatus {
    StreamingStatus {
        message: message.into(),
        is_data_available: data,
        is_trigger_active: active,
    }
}

#[test]
fn every_batch_reports_its_progress_in_structured_streamings_shape() {
    let ctx = Context::local(2);
    let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| b.name("orders"));
    let input = runner.queue_input::<(u32, u64), (u32, u64)>(vec![
        vec![(1, 10), (2, 20), (1, 5)],
        vec![],
        vec![(3, 1), (4, 1), (1, 1), (5, 1), (6, 1)],
    ]);
    let totals = input
        .map_with_state(StateSpec::function(
            |_t: Time, _k: &u32, v: Option<u64>, s: &mut State<u64>| {
                let total = s.get().copied().unwrap_or(0) + v.unwrap_or(0);
                s.update(total);
                Some(total)
            },
        ))
        .state_snapshots();
    let out = runner.collect(&totals);
    assert_eq!(runner.ssc().status().message, "Initializing");
    runner.run(0).unwrap();
    assert_eq!(
        runner.ssc().status().json(),
        r#"{"message":"Waiting for data to arrive","isDataAvailable":false,"isTriggerActive":false}"#
    );
    let infos = runner.run(3).unwrap();
    let progress = runner.ssc().recent_progress();
    assert_eq!(progress.len(), 3);
    assert_eq!(runner.ssc().last_progress().as_ref(), progress.last());
    let rows = [3u64, 0, 5];
    let keys = [2u64, 2, 6];
    for (i, (p, info)) in progress.iter().zip(&infos).enumerate() {
        assert_eq!(p.name.as_deref(), Some("orders"));
        assert_eq!(p.batch_id, i as u64);
        assert_eq!(p.batch_time, info.batch_time.millis());
        assert_eq!(p.num_input_rows, info.num_records());
        assert_eq!(p.num_input_rows, rows[i]);
        assert_eq!(p.input_rows_per_second, rows[i] as f64);
        assert_eq!(p.sources.len(), 1);
        assert_eq!(p.sources[0].num_input_rows, rows[i]);
        assert_eq!(p.state_operators.len(), 1, "{p:?}");
        assert_eq!(p.state_operators[0].num_rows_total, keys[i]);
        assert_eq!(p.state_operators[0].num_rows_updated, rows[i]);
        assert!(p.state_operators[0].memory_used_bytes >= keys[i] * 12);
        assert!(p.sink.description.contains("foreach_rdd"), "{:?}", p.sink);
        assert_eq!(p.id, progress[0].id);
        assert_eq!(p.run_id, progress[0].run_id);
        // Spark's field names, and a round trip through serde.
        let json: serde_json::Value = serde_json::from_str(&p.json()).unwrap();
        for key in [
            "id",
            "runId",
            "name",
            "timestamp",
            "batchId",
            "batchTime",
            "numInputRows",
            "inputRowsPerSecond",
            "processedRowsPerSecond",
            "durationMs",
            "sources",
            "sink",
            "stateOperators",
        ] {
            assert!(json.get(key).is_some(), "{key} in {json}");
        }
        for key in ["generate", "schedule", "process", "checkpoint", "total"] {
            assert!(json["durationMs"].get(key).is_some(), "{key}");
        }
        assert_eq!(json["stateOperators"][0]["numRowsTotal"], keys[i]);
        assert_eq!(
            serde_json::from_str::<StreamingProgress>(&p.json()).unwrap(),
            *p
        );
    }
    assert_eq!(progress[0].timestamp, "1970-01-01T00:00:01.000Z");
    assert_eq!(out.batches().len(), 3);
    assert_eq!(
        runner.ssc().status(),
        status("Waiting for data to arrive", true, false)
    );
    runner.stop().unwrap();
    assert_eq!(runner.ssc().status(), status("Stopped", true, false));
}

/// The files of a batch are its progress's end offset.
#[test]
fn a_file_batch_reports_its_files() {
    let dir = common::temp_dir();
    let runner = BatchRunner::new(Duration::from_secs(1));
    runner.clock().set(Time::from_millis(10_000));
    let lines = runner.ssc().text_file_stream(dir.path());
    lines.count().foreach_rdd(|rdd, _| {
        rdd.collect()?;
        Ok(())
    });
    runner.run(0).unwrap();
    let path = dir.path().join("a.txt");
    std::fs::write(&path, "x\ny\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + Duration::from_millis(10_500))
        .unwrap();
    let infos = runner.run(1).unwrap();
    let p = runner.ssc().last_progress().unwrap();
    assert_eq!(p.num_input_rows, 2, "{infos:?} {p:?}");
    assert_eq!(
        p.sources[0].end_offset,
        Some(serde_json::json!({ "files": [path.display().to_string()] }))
    );
}

/// The job id is kept in the checkpoint directory: a restart reports the same id, with a new
/// run id.
#[test]
fn the_job_id_survives_a_restart_and_the_run_id_does_not() {
    let dir = common::temp_dir();
    let ctx = Context::local(2);
    let ids = |start_at: Time, batches: usize| {
        let runner = BatchRunner::get_or_create(
            &ctx,
            Duration::from_secs(1),
            dir.path(),
            start_at,
            |b| b,
            |ssc| {
                ssc.queue_stream(&RddQueue::<u32>::new(), true)
                    .foreach_rdd(|_, _| Ok(()));
                Ok(())
            },
        )
        .unwrap();
        runner.run(batches).unwrap();
        let p = runner.ssc().last_progress().unwrap();
        runner.stop().unwrap();
        (p.id, p.run_id, p.batch_id)
    };
    let (id, run, first) = ids(Time::ZERO, 2);
    let (again, rerun, next) = ids(Time::from_millis(2000), 1);
    assert_eq!(id, again);
    assert_ne!(run, rerun);
    assert_eq!(
        (first, next),
        (1, 2),
        "batch ids continue across the restart"
    );
}
