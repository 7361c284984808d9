//! The UI's JSON API and Prometheus metrics, checked against the listener's `BatchInfo`s of
//! the batches that ran (manual clock); hostile requests get errors while batches keep
//! completing; the server lives from `start` to `stop`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use common::http::{get, raw, request};
use emberflow::prelude::*;
use emberflow::testing::BatchRunner;
use emberflow::{BatchInfo, ReceiverContext, StreamingProgress, StreamingStatus};

const GUARD: Duration = Duration::from_secs(30);

/// Stores four records, then reports an error and keeps running.
struct Reporter {
    done: crossbeam_channel::Sender<()>,
}

impl emberflow::Receiver for Reporter {
    type Item = u64;
    fn on_start(&mut self, ctx: &ReceiverContext<u64>) {
        ctx.store_many(vec![1, 2, 3, 4]).unwrap();
        ctx.report_error("disk full");
        let _ = self.done.send(());
    }
}

fn ms(d: Option<Duration>) -> serde_json::Value {
    d.map_or(serde_json::Value::Null, |d| (d.as_millis() as u64).into())
}

/// The value of a sample (`name` with these labels) in a Prometheus scrape.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"));
    match &s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => *v,
        other => panic!("{name} is not a number: {other:?}"),
    }
}

#[test]
fn the_api_and_the_metrics_agree_with_the_listener() {
    let ctx = Context::local(2);
    let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| {
        b.name("ui-test").ui("127.0.0.1:0")
    });
    let ssc = runner.ssc().clone();
    assert_eq!(ssc.ui_url(), None, "no server before start");
    let queued = runner.queue_input::<(u32, u64), (u32, u64)>(vec![
        vec![(1, 10), (2, 20), (1, 5)],
        vec![],
        vec![(3, 1), (4, 1), (1, 1), (5, 1), (6, 1)],
        vec![(7, 1), (8, 1)],
    ]);
    let (done_tx, done) = crossbeam_channel::unbounded();
    let received = ssc.receiver_stream(Reporter { done: done_tx });
    received.foreach_rdd(|rdd, _| Ok(rdd.count().map(|_| ())?));
    queued
        .update_state_by_key(|vs: &[u64], s: Option<u64>| {
            Some(s.unwrap_or(0) + vs.iter().sum::<u64>())
        })
        .foreach_rdd(|rdd, _| Ok(rdd.count().map(|_| ())?));
    queued.foreach_rdd(|rdd, t| {
        if t == Time::from_millis(3000) {
            return Err(emberflow::Error::User(format!(
                "refused to write batch {t} ({} records)",
                rdd.count()?
            )));
        }
        Ok(())
    });
    runner.run(0).unwrap();
    let url = ssc.ui_url().expect("a UI url after start");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(!url.ends_with(":0/"), "port 0 picks a free port: {url}");
    done.recv_timeout(GUARD).unwrap();
    let infos: Vec<BatchInfo> = runner.run(4).unwrap();
    let by_time: BTreeMap<u64, &BatchInfo> =
        infos.iter().map(|i| (i.batch_time.millis(), i)).collect();

    // /statistics
    let stats = get(&url, "/api/v1/streaming/statistics");
    assert_eq!(stats.status, 200);
    let stats = stats.json();
    assert_eq!(stats["batchDuration"], 1000);
    assert_eq!(stats["numTotalCompletedBatches"], 4);
    assert_eq!(stats["numTotalFailedBatches"], 1);
    assert_eq!(stats["numActiveBatches"], 0);
    let records: u64 = infos.iter().map(BatchInfo::num_records).sum();
    assert_eq!(records, 3 + 5 + 2 + 4);
    assert_eq!(stats["numProcessedRecords"], records);
    assert_eq!(stats["numReceivers"], 1);
    assert_eq!(stats["numActiveReceivers"], 1);
    let mean_delay = infos
        .iter()
        .map(|i| i.scheduling_delay().unwrap().as_millis() as f64)
        .sum::<f64>()
        / 4.0;
    assert_eq!(stats["avgSchedulingDelay"].as_f64(), Some(mean_delay));
    assert_eq!(stats["avgInputRate"].as_f64(), Some(records as f64 / 4.0));

    // /batches: newest first, each as its BatchInfo says.
    let batches = get(&url, "/api/v1/streaming/batches").json();
    let batches = batches.as_array().unwrap();
    let ids: Vec<u64> = batches
        .iter()
        .map(|b| b["batchId"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, by_time.keys().rev().copied().collect::<Vec<_>>());
    for b in batches {
        let info = by_time[&b["batchId"].as_u64().unwrap()];
        assert_eq!(b["status"], "COMPLETED");
        assert_eq!(b["inputSize"], info.num_records());
        assert_eq!(b["schedulingDelay"], ms(info.scheduling_delay()));
        assert_eq!(b["processingTime"], ms(info.processing_delay()));
        assert_eq!(b["totalDelay"], ms(info.total_delay()));
        assert_eq!(b["numTotalOutputOps"], info.output_operations);
        let failed = !info.succeeded();
        assert_eq!(b["numFailedOutputOps"], u64::from(failed));
        assert_eq!(b["firstFailureReason"].is_string(), failed);
    }

    // /batches/{time}: the failed batch's output operations, the failure in its own.
    let failed = get(&url, "/api/v1/streaming/batches/3000");
    assert_eq!(failed.status, 200);
    let failed = failed.json();
    let ops = failed["outputOperations"].as_array().unwrap();
    assert_eq!(ops.len(), 3);
    assert_eq!(
        ops.iter()
            .filter(|o| o["failureReason"].is_string())
            .map(|o| o["outputOpId"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![2]
    );
    assert!(ops[2]["failureReason"]
        .as_str()
        .unwrap()
        .contains("refused to write batch 3000 ms (5 records)"));
    assert_eq!(
        get(&url, "/api/v1/streaming/batches/3000/operations").json(),
        failed["outputOperations"]
    );
    assert_eq!(get(&url, "/api/v1/streaming/batches/99000").status, 404);

    // /receivers: its rate in each batch and its last error.
    let receivers = get(&url, "/api/v1/streaming/receivers").json();
    let r = &receivers[0];
    assert_eq!(r["isActive"], true);
    assert_eq!(r["lastErrorMessage"], "disk full");
    let id = r["streamId"].as_u64().unwrap() as usize;
    let rates: Vec<(u64, f64)> = r["eventRates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_u64().unwrap(), p[1].as_f64().unwrap()))
        .collect();
    let expected: Vec<(u64, f64)> = infos
        .iter()
        .map(|i| {
            let n = i.records_per_input.get(&id).copied().unwrap_or(0);
            (i.batch_time.millis(), n as f64)
        })
        .collect();
    assert_eq!(rates, expected);
    assert_eq!(rates[0].1, 4.0, "the receiver's records in the first batch");

    // /progress and /status are the context's own.
    let progress: Vec<StreamingProgress> =
        serde_json::from_str(&get(&url, "/api/v1/streaming/progress").body).unwrap();
    assert_eq!(progress, ssc.recent_progress());
    assert_eq!(progress.len(), 4);
    assert_eq!(progress[0].name.as_deref(), Some("ui-test"));
    let status: StreamingStatus =
        serde_json::from_str(&get(&url, "/api/v1/streaming/status").body).unwrap();
    assert_eq!(status, ssc.status());

    // /metrics, read by a Prometheus text parser.
    let metrics = get(&url, "/metrics");
    assert_eq!(metrics.status, 200);
    let scrape =
        prometheus_parse::Scrape::parse(metrics.body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    for (name, value) in [
        ("batches_completed_total", 4.0),
        ("batches_failed_total", 1.0),
        ("active_batches", 0.0),
        ("receivers_active", 1.0),
    ] {
        let name = format!("emberflow_streaming_{name}");
        assert_eq!(sample(&scrape, &name, &[]), value, "{name}");
    }
    let per_input: BTreeMap<usize, u64> = infos.iter().fold(BTreeMap::new(), |mut m, i| {
        for (id, n) in &i.records_per_input {
            *m.entry(*id).or_default() += n;
        }
        m
    });
    for (id, n) in &per_input {
        let label = id.to_string();
        assert_eq!(
            sample(
                &scrape,
                "emberflow_streaming_input_records_total",
                &[("stream", &label)]
            ),
            *n as f64
        );
    }
    let last = ssc.last_progress().unwrap();
    let state = &last.state_operators[0];
    assert_eq!(state.num_rows_total, 8);
    assert_eq!(
        sample(
            &scrape,
            "emberflow_streaming_state_rows",
            &[("operator", &state.operator_name)]
        ),
        8.0
    );
    let histogram = scrape
        .samples
        .iter()
        .find(|s| s.metric == "emberflow_streaming_total_delay_seconds")
        .expect("the total delay histogram");
    match &histogram.value {
        prometheus_parse::Value::Histogram(buckets) => {
            let all = buckets
                .iter()
                .find(|b| b.less_than == f64::INFINITY)
                .unwrap();
            assert_eq!(all.count, 4.0);
            let within_a_second = buckets.iter().find(|b| b.less_than == 1.024).unwrap();
            let expected = infos
                .iter()
                .filter(|i| i.total_delay().unwrap().as_secs_f64() <= 1.024)
                .count();
            assert_eq!(within_a_second.count, expected as f64);
        }
        other => panic!("not a histogram: {other:?}"),
    }

    // The page and its chart library come from the crate itself.
    let page = get(&url, "/");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("/static/chart.umd.min.js"));
    let chart = get(&url, "/static/chart.umd.min.js");
    assert_eq!(chart.status, 200);
    assert!(chart.body.contains("Chart.js v4"));

    runner.stop().unwrap();
    assert_eq!(ssc.ui_url(), None, "no server after stop");
    assert!(
        std::net::TcpStream::connect(common::http::authority(&url)).is_err(),
        "the port is released at stop"
    );
}

#[test]
fn hostile_requests_get_errors_and_batches_keep_completing() {
    let ctx = Context::local(2);
    let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| b.ui("127.0.0.1:0"));
    let input = runner.queue_input::<u32, u32>(vec![vec![1, 2], vec![3], vec![4, 5, 6]]);
    let out = runner.collect(&input);
    runner.run(0).unwrap();
    let url = runner.ssc().ui_url().unwrap();

    // Many connections at once, held open, some half a request, some garbage.
    let held: Vec<std::net::TcpStream> = (0..300)
        .map(|i| {
            let mut s = std::net::TcpStream::connect(common::http::authority(&url)).unwrap();
            match i % 3 {
                0 => {}
                1 => s
                    .write_all(b"GET /api/v1/streaming/statistics HTTP/1.1\r\nHost: x\r\n")
                    .unwrap(),
                _ => s.write_all(&[0xff, 0x00, 0x13, 0x37]).unwrap(),
            }
            s
        })
        .collect();

    let long = format!("/{}", "a".repeat(100_000));
    let status = get(&url, &long).status;
    assert!((400..500).contains(&status), "a 100 kB path: {status}");
    let long_batch = format!("/api/v1/streaming/batches/{}", "9".repeat(5_000));
    assert_eq!(
        get(&url, &long_batch).status,
        400,
        "a batch time beyond u64"
    );
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        assert_eq!(
            request(&url, method, "/api/v1/streaming/batches").status,
            405,
            "{method} on a read-only API"
        );
    }
    assert_eq!(get(&url, "/api/v1/streaming/batches/-3").status, 400);
    assert_eq!(get(&url, "/api/v1/streaming/batches/1e3").status, 400);
    assert_eq!(get(&url, "/../../etc/passwd").status, 404);
    assert_eq!(get(&url, "/api/v1/streaming/nothing").status, 404);
    assert_eq!(raw(&url, b"NOT HTTP AT ALL\r\n\r\n").status, 400);
    let huge_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Junk: {}\r\n\r\n",
        "j".repeat(1_000_000)
    );
    let status = raw(&url, huge_header.as_bytes()).status;
    assert!((400..500).contains(&status), "a 1 MB header: {status}");

    // With all of that open, the job goes on and the server still answers.
    let infos = runner.run(3).unwrap();
    assert_eq!(infos.len(), 3);
    assert_eq!(out.batches(), vec![vec![1, 2], vec![3], vec![4, 5, 6]]);
    let stats = get(&url, "/api/v1/streaming/statistics");
    assert_eq!(stats.status, 200);
    assert_eq!(stats.json()["numTotalCompletedBatches"], 3);
    drop(held);
    runner.stop().unwrap();
}

#[test]
fn a_bad_address_is_an_error_at_build_and_a_taken_port_at_start() {
    let ctx = Context::local(2);
    let err = StreamingContext::builder(&ctx, Duration::from_secs(1))
        .ui("not an address")
        .build()
        .err()
        .expect("an unparsable address does not build");
    assert!(err.to_string().contains("not an address"), "{err}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let ssc = StreamingContext::builder(&ctx, Duration::from_secs(1))
        .clock(ManualClock::new())
        .ui(addr.clone())
        .build()
        .unwrap();
    ssc.queue_stream(&RddQueue::<u32>::new(), true)
        .foreach_rdd(|_, _| Ok(()));
    let err = ssc.start().unwrap_err();
    assert!(err.to_string().contains(&addr), "{err}");
}
