//! Defects on the paths where records could be lost or counted twice, each with the test
//! that reaches it: a checkpoint of another batch interval, zero window durations, a parent
//! stream without an RDD, a test input read out of step, a socket's last unterminated line,
//! an order value that overflows, a metadata checkpoint that cannot be written.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use emberflow::plumbing::{DStreamBase, DStreamNode};
use emberflow::prelude::*;
use emberflow::testing::BatchRunner;
use parking_lot::Mutex;

/// A checkpoint written at one batch interval is not silently reused at another.
#[test]
fn a_checkpoint_with_another_batch_interval_is_a_clear_error() {
    let dir = common::temp_dir();
    let ctx = Context::local(2);
    let out = emberflow::testing::run_with_restart(
        &ctx,
        Duration::from_secs(1),
        dir.path(),
        2,
        None,
        |ssc| Ok(ssc.queue_stream(&RddQueue::<u32>::new(), true)),
    )
    .unwrap();
    assert_eq!(out.len(), 2);
    let err = StreamingContext::get_or_create(
        dir.path(),
        |ssc| {
            ssc.queue_stream(&RddQueue::<u32>::new(), true).print(1);
            Ok(())
        },
        StreamingContext::builder(&ctx, Duration::from_millis(500)),
    )
    .err()
    .expect("the interval changed")
    .to_string();
    assert!(err.contains("1000 ms") && err.contains("500 ms"), "{err}");
    assert!(err.contains("new checkpoint directory"), "{err}");
}

/// Zero window or slide durations would make a stream that never emits.
#[test]
fn zero_window_or_slide_durations_are_refused_at_start() {
    for (window, slide) in [(0, 1000), (2000, 0)] {
        let runner = BatchRunner::new(Duration::from_secs(1));
        let input = runner.queue_input::<u32, u32>(vec![vec![1]]);
        input
            .window(Duration::from_millis(window), Duration::from_millis(slide))
            .print(1);
        let err = runner.ssc().start().unwrap_err().to_string();
        assert!(
            err.contains("is zero"),
            "window {window} slide {slide}: {err}"
        );
        let runner = BatchRunner::new(Duration::from_secs(1));
        let input = runner.queue_input::<(u32, u32), (u32, u32)>(vec![vec![(1, 1)]]);
        input
            .reduce_by_key_and_window(
                |a, b| a + b,
                Duration::from_millis(window),
                Duration::from_millis(slide),
            )
            .print(1);
        let err = runner.ssc().start().unwrap_err().to_string();
        assert!(
            err.contains("is zero"),
            "window {window} slide {slide}: {err}"
        );
    }
}

/// A custom input that has no RDD for odd batches.
struct Gappy {
    interval: Duration,
}

impl DStreamNode<u32> for Gappy {
    fn kind(&self) -> &'static str {
        "gappy_input"
    }
    fn slide_duration(&self) -> Duration {
        self.interval
    }
    fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
        Vec::new()
    }
    fn compute(&self, time: Time) -> emberflow::Result<Option<Rdd<u32>>> {
        Ok(None.filter(|_: &Rdd<u32>| time.millis() % 2000 == 0))
    }
}

/// As Spark: union, transform and transform_with fail the batch whose parent has no RDD,
/// naming the stream and the batch time.
#[test]
fn a_parent_without_an_rdd_fails_union_transform_and_transform_with() {
    type Build = fn(&DStream<u32>, &DStream<u32>) -> DStream<u32>;
    let cases: [(&str, Build); 3] = [
        ("union", |g, q| g.union(q)),
        ("transform", |g, _| g.transform(|rdd, _| rdd)),
        ("transform_with", |g, q| {
            q.transform_with(g, |a, b, _| a.union(&b))
        }),
    ];
    for (name, build) in cases {
        let runner = BatchRunner::new(Duration::from_secs(1));
        let gappy = DStream::from_custom_node(
            runner.ssc(),
            Gappy {
                interval: Duration::from_secs(1),
            },
        );
        let queue = runner.queue_input::<u32, u32>(vec![vec![1], vec![2]]);
        let out = build(&gappy, &queue);
        let _c = runner.collect(&out);
        let infos = runner.run(1).unwrap();
        assert!(!infos[0].succeeded(), "{name}: {infos:?}");
        let failure = &infos[0].failures[0];
        assert!(
            failure.contains(&format!("stream {} (gappy_input)", gappy.id()))
                && failure.contains("1000 ms"),
            "{name}: {failure}"
        );
    }
}

/// Batch i holds batches[i] even where the graph does not read the input every batch (a
/// window shorter than its slide reads every other batch).
#[test]
fn the_test_input_is_chosen_by_batch_time_not_by_reads() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let input = runner.queue_input::<u32, u32>(vec![vec![1], vec![2], vec![3], vec![4]]);
    let windowed = runner.collect(&input.window(Duration::from_secs(1), Duration::from_secs(2)));
    runner.run(4).unwrap();
    assert_eq!(windowed.batches(), vec![vec![2], vec![4]]);
}

struct ReceiverEvents(Mutex<std::sync::mpsc::Sender<String>>);

impl StreamingListener for ReceiverEvents {
    fn on_receiver_error(&self, info: &emberflow::ReceiverInfo) {
        let _ = self
            .0
            .lock()
            .send(info.last_error.clone().unwrap_or_default());
    }
}

/// A peer that closes after a last line without a newline: that line is a line.
#[test]
fn the_socket_receiver_keeps_a_last_line_without_newline() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"first\r\nsecond\nlast without newline")
            .unwrap();
        // Dropping the socket closes it.
    });
    let runner = BatchRunner::with_builder(&Context::local(2), Duration::from_secs(1), |b| {
        b.receiver_restart_delay(Duration::from_secs(60))
    });
    let (tx, rx) = std::sync::mpsc::channel();
    runner
        .ssc()
        .add_streaming_listener(ReceiverEvents(Mutex::new(tx)));
    let lines = runner.collect(&runner.ssc().socket_text_stream("127.0.0.1", port));
    runner.ssc().start().unwrap();
    server.join().unwrap();
    // The receiver reports the closed connection after storing what it read.
    loop {
        let e = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        if e.contains("closed the connection") {
            break;
        }
    }
    runner.run(1).unwrap();
    assert_eq!(
        lines.batches().concat(),
        vec!["first", "second", "last without newline"]
    );
}
