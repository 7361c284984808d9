//! The StreamingContext's life: validation at start, start/stop/await, errors surfacing,
//! listener events with batch infos; and a property: stateless streams over any split into
//! batches give the batch job's result.
#![allow(clippy::unwrap_used)] // helpers of tests fail loudly

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use emberflow::prelude::*;
use emberflow::testing::BatchRunner;
use emberflow::{BatchInfo, OutputOperationInfo, StreamingContextState};
use proptest::prelude::*;

#[test]
fn start_validates_the_graph() {
    let ctx = Context::local(1);
    let ssc = StreamingContext::builder(&ctx, Duration::from_secs(1))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let _input = ssc.queue_stream(&RddQueue::<i32>::new(), true);
    let err = ssc.start().unwrap_err();
    assert!(err.to_string().contains("no output operations"), "{err}");
    assert_eq!(ssc.state(), StreamingContextState::Initialized);

    let missing = common::temp_dir().path().join("not-there");
    let ssc = StreamingContext::builder(&ctx, Duration::from_secs(1))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    ssc.text_file_stream(&missing).foreach_rdd(|_, _| Ok(()));
    let err = ssc.start().unwrap_err();
    assert!(
        matches!(&err, Error::MissingDirectory { path } if *path == missing),
        "{err}"
    );
    assert!(err.to_string().contains("create it"), "{err}");
}

#[test]
fn lifecycle_states_and_restarts_are_refused() {
    let ctx = Context::local(1);
    let ssc = StreamingContext::builder(&ctx, Duration::from_secs(1))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    ssc.queue_stream(&RddQueue::<i32>::new(), true)
        .foreach_rdd(|_, _| Ok(()));
    assert_eq!(ssc.state(), StreamingContextState::Initialized);
    ssc.start().unwrap();
    assert_eq!(ssc.state(), StreamingContextState::Active);
    assert_eq!(ssc.zero_time(), Some(Time::from_millis(0)));
    assert!(matches!(ssc.start(), Err(Error::IllegalState(_))));
    assert!(!ssc
        .await_termination_or_timeout(Duration::from_millis(1))
        .unwrap());
    ssc.stop(StopOptions::immediate().keep_context(true))
        .unwrap();
    assert_eq!(ssc.state(), StreamingContextState::Stopped);
    assert!(ssc
        .await_termination_or_timeout(Duration::from_millis(1))
        .unwrap());
    ssc.await_termination().unwrap();
    assert!(ssc.start().is_err(), "a stopped context cannot start again");
    ssc.stop(StopOptions::graceful()).unwrap();
    assert!(!ctx.is_stopped(), "keep_context kept it");
    assert_eq!(ctx.parallelize(vec![1], 1).count().unwrap(), 1);
    let ssc2 = StreamingContext::builder(&ctx, Duration::from_secs(1))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    ssc2.queue_stream(&RddQueue::<i32>::new(), true)
        .foreach_rdd(|_, _| Ok(()));
    ssc2.start().unwrap();
    ssc2.stop(StopOptions::immediate()).unwrap();
    assert!(
        ctx.is_stopped(),
        "the default stop stops the RDD context too"
    );
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
    infos: Mutex<Vec<BatchInfo>>,
    ops: Mutex<Vec<OutputOperationInfo>>,
}

impl StreamingListener for Recorder {
    fn on_streaming_started(&self, time: Time) {
        self.events
            .lock()
            .unwrap()
            .push(format!("started@{}", time.millis()));
    }
    fn on_batch_submitted(&self, info: &BatchInfo) {
        self.events
            .lock()
            .unwrap()
            .push(format!("submitted@{}", info.batch_time.millis()));
    }
    fn on_batch_started(&self, info: &BatchInfo) {
        self.events
            .lock()
            .unwrap()
            .push(format!("batch_started@{}", info.batch_time.millis()));
    }
    fn on_batch_completed(&self, info: &BatchInfo) {
        self.events
            .lock()
            .unwrap()
            .push(format!("completed@{}", info.batch_time.millis()));
        self.infos.lock().unwrap().push(info.clone());
    }
    fn on_output_operation_completed(&self, info: &OutputOperationInfo) {
        self.ops.lock().unwrap().push(info.clone());
    }
}

#[test]
fn listeners_see_every_batch_with_its_info() {
    let runner = BatchRunner::new(Duration::from_millis(500));
    let rec = Arc::new(Recorder::default());
    runner.ssc().add_streaming_listener(rec.clone());
    let input = runner.queue_input::<i32, i32>(vec![vec![1, 2], vec![3]]);
    input.foreach_rdd(|_, _| Ok(()));
    input.map(|x| x * 2).foreach_rdd(|rdd, _| {
        rdd.count()?;
        Ok(())
    });
    runner.run(2).unwrap();
    let events = rec.events.lock().unwrap().clone();
    assert_eq!(
        events,
        vec![
            "started@0",
            "submitted@500",
            "batch_started@500",
            "completed@500",
            "submitted@1000",
            "batch_started@1000",
            "completed@1000"
        ]
    );
    let infos = rec.infos.lock().unwrap().clone();
    assert_eq!(infos[0].output_operations, 2);
    assert!(infos.iter().all(|i| i.succeeded()));
    // On the manual clock nothing takes time: delays are exactly zero.
    assert_eq!(infos[1].scheduling_delay(), Some(Duration::ZERO));
    assert_eq!(infos[1].processing_delay(), Some(Duration::ZERO));
    assert_eq!(infos[1].total_delay(), Some(Duration::ZERO));
    let ops = rec.ops.lock().unwrap().clone();
    assert_eq!(
        ops.iter()
            .map(|o| (o.batch_time.millis(), o.id))
            .collect::<Vec<_>>(),
        vec![(500, 0), (500, 1), (1000, 0), (1000, 1)]
    );
    assert_eq!(runner.ssc().completed_batches(), 2);
}

#[test]
fn batch_errors_surface_in_await_termination_and_the_stream_goes_on() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let input = runner.queue_input::<i32, i32>(vec![vec![1], vec![-1], vec![2]]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    input
        .map(|x| {
            if x < 0 {
                panic!("negative record {x}")
            } else {
                x
            }
        })
        .foreach_rdd(move |rdd, _| {
            s.lock().unwrap().extend(rdd.collect()?);
            Ok(())
        });
    let infos = runner.run(3).unwrap();
    assert!(infos[0].succeeded() && !infos[1].succeeded() && infos[2].succeeded());
    assert!(
        infos[1].failures[0].contains("negative record -1"),
        "{:?}",
        infos[1].failures
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![1, 2],
        "the batch after the failure ran"
    );
    assert_eq!(runner.ssc().failed_batches(), 1);
    let err = runner
        .ssc()
        .await_termination_or_timeout(Duration::from_secs(5))
        .unwrap_err();
    assert!(
        matches!(&err, Error::BatchFailed { time, .. } if time.millis() == 2000),
        "{err}"
    );
    assert_eq!(runner.ssc().state(), StreamingContextState::Active);
}

#[test]
fn stop_on_error_stops_generating_batches() {
    let ctx = Context::local(2);
    let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| b.stop_on_error(true));
    let input = runner.queue_input::<i32, i32>(vec![vec![1], vec![2], vec![3]]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    input.foreach_rdd(move |rdd, _| {
        let v = rdd.collect()?;
        if v == vec![2] {
            return Err(Error::user("sink refused 2"));
        }
        s.lock().unwrap().extend(v);
        Ok(())
    });
    let infos = runner.run(2).unwrap();
    assert!(!infos[1].succeeded());
    assert!(runner.ssc().await_termination().is_err());
    // No third batch comes: the timer stopped.
    let runner = runner.timeout(Duration::from_millis(300));
    assert!(runner.run(1).is_err());
    assert_eq!(*seen.lock().unwrap(), vec![1]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Stateless operations: the per-batch outputs, concatenated, equal the same RDD job
    /// over the whole input, for any split of the input into batches.
    #[test]
    fn any_batching_equals_the_batch_job(data in prop::collection::vec(0u32..50, 0..80), cuts in prop::collection::vec(0usize..80, 0..6)) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
        cuts.push(0);
        cuts.push(data.len());
        cuts.sort();
        let batches: Vec<Vec<u32>> = cuts.windows(2).map(|w| data[w[0]..w[1]].to_vec()).collect();
        let n = batches.len();
        let job = |rdd: Rdd<u32>| rdd.filter(|x| x % 3 != 0).flat_map(|x| vec![x; (x % 4) as usize]).map(|x| x * 7);
        let streamed = emberflow::testing::run_batches(batches, move |s: DStream<u32>| s.transform(move |r, _| job(r)), n).unwrap();
        let ctx = Context::local(2);
        let whole = job(ctx.parallelize(data.clone(), 3)).collect().unwrap();
        prop_assert_eq!(streamed.concat(), whole);
    }
}

#[test]
fn streaming_handles_and_errors_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DStream<(String, u64)>>();
    assert_send_sync::<StreamingContext>();
    assert_send_sync::<Error>();
    assert_send_sync::<emberflow::MapWithStateDStream<String, u64, u64, (String, u64)>>();
}

/// A listener that holds the bus until released, recording the batches it heard completed.
struct Blocking {
    release: crossbeam_channel::Receiver<()>,
    completed: Arc<Mutex<Vec<Time>>>,
    events: Arc<std::sync::atomic::AtomicU64>,
}

impl StreamingListener for Blocking {
    fn on_batch_submitted(&self, _: &BatchInfo) {
        self.events
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // Held until the test releases it (the release channel is closed then).
        let _ = self.release.recv();
    }
    fn on_batch_completed(&self, info: &BatchInfo) {
        self.events
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.completed.lock().unwrap().push(info.batch_time);
    }
    fn on_streaming_started(&self, _: Time) {
        self.events
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    fn on_batch_started(&self, _: &BatchInfo) {
        self.events
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    fn on_output_operation_started(&self, _: &OutputOperationInfo) {
        self.events
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    fn on_output_operation_completed(&self, _: &OutputOperationInfo) {
        self.events
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Runs `batches` one-second batches on a manual clock with a listener blocked from the
/// first event on, and a listener queue of `queue` events; returns the context (stopped),
/// what the listener heard completed, and how many events it got.
fn run_with_a_stuck_listener(queue: usize, batches: u32) -> (StreamingContext, Vec<Time>, u64) {
    let ctx = Context::local(2);
    let clock = Arc::new(emberflow::ManualClock::new());
    let ssc = StreamingContext::builder(&ctx, Duration::from_secs(1))
        .clock(clock.clone())
        .listener_queue(queue)
        .build()
        .unwrap();
    let rdds = emberflow::RddQueue::new();
    for b in 0..batches {
        rdds.push(ctx.parallelize(vec![b; 10], 2));
    }
    ssc.queue_stream(&rdds, true)
        .count()
        .foreach_rdd(|_, _| Ok(()));
    let (release_tx, release) = crossbeam_channel::unbounded::<()>();
    let completed = Arc::new(Mutex::new(Vec::new()));
    let events = Arc::new(std::sync::atomic::AtomicU64::new(0));
    ssc.add_streaming_listener(Blocking {
        release,
        completed: completed.clone(),
        events: events.clone(),
    });
    ssc.start().unwrap();
    for _ in 0..batches {
        clock.advance(Duration::from_secs(1));
    }
    // Every batch completes while the listener is stuck on the first one.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ssc.completed_batches() < u64::from(batches) && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(ssc.completed_batches(), u64::from(batches));
    assert!(
        completed.lock().unwrap().is_empty(),
        "the listener is still stuck"
    );
    drop(release_tx);
    ssc.stop(StopOptions::graceful()).unwrap();
    let heard = completed.lock().unwrap().clone();
    (ssc, heard, events.load(std::sync::atomic::Ordering::SeqCst))
}

#[test]
fn a_stuck_listener_does_not_delay_batches_and_hears_everything_later() {
    let (ssc, heard, got) = run_with_a_stuck_listener(10_000, 5);
    let expected: Vec<Time> = (1..=5).map(|i| Time::from_millis(i * 1000)).collect();
    assert_eq!(heard, expected, "every completion, in order, once released");
    assert_eq!(ssc.dropped_listener_events(), 0);
    // Started, then per batch: submitted, started, output started and completed, completed.
    assert_eq!(got, 1 + 5 * 5);
}

#[test]
fn a_full_listener_queue_drops_and_counts_events() {
    let (ssc, heard, got) = run_with_a_stuck_listener(3, 8);
    let dropped = ssc.dropped_listener_events();
    assert!(dropped > 0, "a queue of 3 cannot hold 8 batches' events");
    assert!(heard.len() < 8, "{heard:?}");
    // Every event was delivered or counted as dropped.
    assert_eq!(got + dropped, 1 + 8 * 5, "{got} heard, {dropped} dropped");
}

/// Hears stuck batches.
struct Stuck(Arc<Mutex<Vec<emberflow::StuckBatch>>>);

impl StreamingListener for Stuck {
    fn on_batch_stuck(&self, stuck: &emberflow::StuckBatch) {
        self.0.lock().unwrap().push(stuck.clone());
    }
}

/// The watchdog names a batch whose output operation hangs, once, in the listeners, the
/// status and the UI (its API, which the page shows, and its metrics); all recover when the
/// batch completes.
#[test]
fn the_watchdog_names_a_stuck_batch_and_its_output_operation() {
    let ctx = Context::local(2);
    let clock = Arc::new(emberflow::ManualClock::new());
    let ssc = StreamingContext::builder(&ctx, Duration::from_secs(1))
        .clock(clock.clone())
        .watchdog(Some(3))
        .ui("127.0.0.1:0")
        .build()
        .unwrap();
    let rdds = emberflow::RddQueue::new();
    rdds.push(ctx.parallelize(vec![1, 2, 3], 2));
    let (release_tx, release) = crossbeam_channel::unbounded::<()>();
    let (running_tx, running) = crossbeam_channel::unbounded::<()>();
    ssc.queue_stream(&rdds, true).foreach_rdd(move |rdd, time| {
        if time == Time::from_millis(1000) {
            // Hangs until the test lets it go.
            let _ = running_tx.send(());
            let _ = release.recv();
        }
        rdd.count()?;
        Ok(())
    });
    let heard = Arc::new(Mutex::new(Vec::new()));
    ssc.add_streaming_listener(Stuck(heard.clone()));
    ssc.start().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    clock.advance(Duration::from_secs(1));
    running.recv_timeout(Duration::from_secs(30)).unwrap();
    for _ in 0..4 {
        clock.advance(Duration::from_secs(1));
        assert!(clock.settle(Duration::from_secs(30)));
    }
    while !ssc.status().message.starts_with("Stuck") {
        assert!(std::time::Instant::now() < deadline, "{:?}", ssc.status());
        std::thread::yield_now();
    }
    let message = ssc.status().message;
    assert!(message.contains("foreach_rdd"), "{message}");
    let url = ssc.ui_url().unwrap();
    let stuck =
        |url: &str| common::http::get(url, "/api/v1/streaming/statistics").json()["stuck"].clone();
    while stuck(&url).is_null() {
        assert!(
            std::time::Instant::now() < deadline,
            "the UI never showed it"
        );
        std::thread::yield_now();
    }
    let shown = stuck(&url);
    assert!(
        shown.as_str().unwrap().contains("batch 1000 ms")
            && shown.as_str().unwrap().contains("foreach_rdd"),
        "{shown}"
    );
    let status = common::http::get(&url, "/api/v1/streaming/status").json();
    assert_eq!(status["message"], message.as_str());
    let batches = common::http::get(&url, "/api/v1/streaming/batches").json();
    let hung = batches
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["batchId"] == 1000)
        .unwrap()
        .clone();
    assert_eq!(hung["status"], "PROCESSING");
    assert_eq!(hung["numActiveOutputOps"], 1);
    let metrics = common::http::get(&url, "/metrics").body;
    assert!(
        metrics.lines().any(|l| l == "emberflow_streaming_stuck 1"),
        "{metrics}"
    );
    drop(release_tx);
    while ssc.completed_batches() < 5 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::yield_now();
    }
    while !stuck(&url).is_null() {
        assert!(std::time::Instant::now() < deadline, "the UI kept it stuck");
        std::thread::yield_now();
    }
    let metrics = common::http::get(&url, "/metrics").body;
    assert!(
        metrics.lines().any(|l| l == "emberflow_streaming_stuck 0"),
        "{metrics}"
    );
    ssc.stop(StopOptions::immediate().keep_context(true))
        .unwrap();
    let heard = heard.lock().unwrap().clone();
    assert_eq!(heard.len(), 1, "once per stuck batch: {heard:?}");
    assert_eq!(heard[0].batch_time, Time::from_millis(1000));
    assert_eq!(heard[0].output, Some((0, "foreach_rdd".to_string())));
    assert!(heard[0].late_by >= Duration::from_secs(3));
}
