//! Inputs against the real thing: files moved into a real directory, a real TCP server on
//! 127.0.0.1 that disconnects and comes back, custom receivers that fail and restart, and a
//! graceful stop that loses nothing received. Batches run on the manual clock; where a real
//! socket or thread is waited for, the wait is on an event with a timeout as a guard.
#![allow(clippy::unwrap_used)] // helpers of tests fail loudly

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{unbounded, Receiver as Rx, Sender};
use emberflow::prelude::*;
use emberflow::testing::BatchRunner;
use emberflow::ReceiverInfo;

const GUARD: Duration = Duration::from_secs(30);

/// Writes `lines` to `dir/name` the way producers should: a hidden temp file renamed into
/// place, with the modification time set to `mtime_ms` on the stream's clock.
fn drop_file(dir: &Path, name: &str, lines: &[&str], mtime_ms: u64) {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    drop(f);
    let f = OpenOptions::new().write(true).open(&tmp).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_millis(mtime_ms))
        .unwrap();
    drop(f);
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

#[test]
fn file_stream_reads_new_files_once_by_modification_time() {
    let dir = common::temp_dir();
    let runner = BatchRunner::new(Duration::from_secs(1));
    runner.clock().set(Time::from_millis(10_000));
    drop_file(dir.path(), "old.txt", &["old"], 5_000);
    let lines = runner.collect(&runner.ssc().text_file_stream(dir.path()));
    let all = runner.collect(&runner.ssc().file_stream(
        dir.path(),
        |p: &Path| p.extension().is_some_and(|e| e == "txt"),
        false,
    ));
    runner.run(0).unwrap();
    drop_file(dir.path(), "a.txt", &["a1", "a2"], 10_500);
    drop_file(dir.path(), "b.log", &["b1"], 10_700);
    drop_file(dir.path(), "_ignored.txt", &["no"], 10_600);
    drop_file(dir.path(), "future.txt", &["f1"], 12_500);
    // A file still being written under a temporary name is not read.
    std::fs::write(dir.path().join("partial.txt.tmp"), "nope\n").unwrap();
    runner.run(1).unwrap();
    drop_file(dir.path(), "c.txt", &["c1"], 11_200);
    runner.run(2).unwrap();
    let got = lines.by_time();
    assert_eq!(got[&Time::from_millis(11_000)], vec!["a1", "a2", "b1"]);
    assert_eq!(got[&Time::from_millis(12_000)], vec!["c1"]);
    assert_eq!(
        got[&Time::from_millis(13_000)],
        vec!["f1"],
        "a file from the future waits for its batch"
    );
    let got = all.by_time();
    assert_eq!(
        got[&Time::from_millis(11_000)],
        vec!["old", "a1", "a2"],
        "new_files_only=false reads what was there"
    );
    assert_eq!(got[&Time::from_millis(12_000)], vec!["c1"]);
}

struct Events {
    tx: Mutex<Sender<String>>,
}

impl StreamingListener for Events {
    fn on_receiver_started(&self, info: &ReceiverInfo) {
        let _ = self
            .tx
            .lock()
            .unwrap()
            .send(format!("started {}", info.name));
    }
    fn on_receiver_error(&self, info: &ReceiverInfo) {
        let _ = self.tx.lock().unwrap().send(format!(
            "error {}",
            info.last_error.clone().unwrap_or_default()
        ));
    }
    fn on_receiver_stopped(&self, _: &ReceiverInfo) {
        let _ = self.tx.lock().unwrap().send("stopped".into());
    }
}

fn events(runner: &BatchRunner) -> Rx<String> {
    let (tx, rx) = unbounded();
    runner
        .ssc()
        .add_streaming_listener(Events { tx: Mutex::new(tx) });
    rx
}

fn wait_for(rx: &Rx<String>, what: &str) -> String {
    loop {
        let e = rx
            .recv_timeout(GUARD)
            .unwrap_or_else(|_| panic!("no event containing {what:?}"));
        if e.contains(what) {
            return e;
        }
    }
}

#[test]
fn socket_stream_survives_a_server_that_goes_away_and_comes_back() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ctx = Context::local(2);
    let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| {
        b.receiver_restart_delay(Duration::from_millis(20))
    });
    let ev = events(&runner);
    let lines = runner.collect(&runner.ssc().socket_text_stream("127.0.0.1", port));
    let (go_tx, go_rx) = unbounded::<()>();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.write_all(b"alpha\nbeta\n").unwrap();
        drop(conn);
        drop(listener);
        // Down until the test has seen a refused reconnect; then back on the same port.
        go_rx.recv().unwrap();
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        conn.write_all(b"gamma\r\n").unwrap();
    });
    runner.run(0).unwrap();
    wait_for(&ev, "closed the connection");
    wait_for(&ev, "cannot connect");
    go_tx.send(()).unwrap();
    server.join().unwrap();
    wait_for(&ev, "closed the connection");
    let infos = runner.run(1).unwrap();
    assert_eq!(lines.batches(), vec![vec!["alpha", "beta", "gamma"]]);
    assert_eq!(infos[0].num_records(), 3);
}

/// Stores 1 and 2, asks for a restart; after it, panics once; then stores 3 and reports.
struct Flaky {
    starts: usize,
    done: Sender<()>,
}

impl Receiver for Flaky {
    type Item = u32;
    fn on_start(&mut self, ctx: &ReceiverContext<u32>) {
        self.starts += 1;
        match self.starts {
            1 => {
                ctx.store_many(vec![1, 2]).unwrap();
                ctx.restart("boom");
            }
            2 => panic!("second start fails"),
            _ => {
                ctx.store(3).unwrap();
                ctx.report_error("just saying");
                let _ = self.done.send(());
            }
        }
    }
}

#[test]
fn a_failing_receiver_is_restarted_and_keeps_what_it_stored() {
    let ctx = Context::local(2);
    let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| {
        b.receiver_restart_delay(Duration::from_millis(5))
    });
    let ev = events(&runner);
    let (tx, done) = unbounded();
    let s = runner.ssc().receiver_stream(Flaky {
        starts: 0,
        done: tx,
    });
    let out = runner.collect(&s);
    runner.run(0).unwrap();
    done.recv_timeout(GUARD).unwrap();
    let infos = runner.run(2).unwrap();
    assert_eq!(out.batches(), vec![vec![1, 2, 3], vec![]]);
    assert_eq!(infos[0].num_records(), 3);
    let mut seen = Vec::new();
    while let Ok(e) = ev.try_recv() {
        seen.push(e);
    }
    assert_eq!(
        seen.iter().filter(|e| e.starts_with("started")).count(),
        3,
        "{seen:?}"
    );
    assert!(seen.iter().any(|e| e == "error boom"), "{seen:?}");
    assert!(seen.iter().any(|e| e.contains("panicked")), "{seen:?}");
    assert!(seen.iter().any(|e| e == "error just saying"), "{seen:?}");
}

/// Stores `n` records from a thread of its own once `go` says so, then signals.
struct Burst {
    n: u64,
    go: Option<Rx<()>>,
    done: Sender<()>,
}

impl Receiver for Burst {
    type Item = u64;
    fn on_start(&mut self, ctx: &ReceiverContext<u64>) {
        let (ctx, n, done, go) = (ctx.clone(), self.n, self.done.clone(), self.go.take());
        std::thread::spawn(move || {
            if let Some(go) = go {
                let _ = go.recv();
            }
            for i in 0..n {
                ctx.store(i).unwrap();
            }
            let _ = done.send(());
        });
    }
}

#[test]
fn graceful_stop_processes_everything_received() {
    let ctx = Context::local(2);
    let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| {
        b.block_interval(Duration::from_millis(100))
    });
    let (tx, done) = unbounded();
    let (go_tx, go) = unbounded();
    let s = runner.ssc().receiver_stream(Burst {
        n: 10_000,
        go: Some(go),
        done: tx,
    });
    let total = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sum = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (t, u) = (total.clone(), sum.clone());
    s.foreach_rdd(move |rdd, _| {
        t.fetch_add(rdd.count()?, std::sync::atomic::Ordering::SeqCst);
        u.fetch_add(
            rdd.fold(0, |a, b| a + b)?,
            std::sync::atomic::Ordering::SeqCst,
        );
        Ok(())
    });
    let first = runner.run(1).unwrap();
    assert_eq!(first[0].num_records(), 0, "nothing stored yet");
    go_tx.send(()).unwrap();
    done.recv_timeout(GUARD).unwrap();
    // No clock advance: the stop itself must run the batch that holds the data.
    runner.stop().unwrap();
    assert_eq!(runner.ssc().completed_batches(), 2);
    assert_eq!(total.load(std::sync::atomic::Ordering::SeqCst), 10_000);
    assert_eq!(
        sum.load(std::sync::atomic::Ordering::SeqCst),
        (0..10_000u64).sum::<u64>()
    );
}

/// Stores `per_step` records each time `go` says so, and acknowledges.
struct Paced {
    per_step: u64,
    go: Option<Rx<()>>,
    stored: Sender<()>,
}

impl Receiver for Paced {
    type Item = u64;
    fn on_start(&mut self, ctx: &ReceiverContext<u64>) {
        let (ctx, n, stored, go) = (
            ctx.clone(),
            self.per_step,
            self.stored.clone(),
            self.go.take().unwrap(),
        );
        std::thread::spawn(move || {
            let mut next = 0;
            while go.recv().is_ok() {
                for i in next..next + n {
                    ctx.store(i).unwrap();
                }
                next += n;
                let _ = stored.send(());
            }
        });
    }
}

#[test]
fn blocks_are_cut_on_the_block_interval() {
    let ctx = Context::local(2);
    let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| {
        b.block_interval(Duration::from_millis(250))
    });
    let (go_tx, go) = unbounded();
    let (stored_tx, stored) = unbounded();
    let s = runner.ssc().receiver_stream(Paced {
        per_step: 25,
        go: Some(go),
        stored: stored_tx,
    });
    let parts = runner.collect(&s.glom().map(|p| p.len()));
    runner.run(1).unwrap();
    // In each quarter of the next batch the receiver stores 25 records; the clock then
    // moves to the next block boundary and the block timer cuts what was stored.
    for _ in 0..4 {
        go_tx.send(()).unwrap();
        stored.recv_timeout(GUARD).unwrap();
        runner.advance(Duration::from_millis(250)).unwrap();
    }
    let second = parts.by_time()[&Time::from_millis(2000)].clone();
    assert_eq!(second, vec![25; 4], "one partition per block interval");
}

#[test]
fn time_of_day_is_not_used_by_the_manual_clock() {
    // The runner's clock starts at zero whatever the wall clock says.
    let runner = BatchRunner::new(Duration::from_millis(200));
    let s = runner.queue_input::<i32, i32>(vec![vec![1]]);
    let out = runner.collect(&s);
    runner.run(1).unwrap();
    assert_eq!(
        out.by_time().keys().next().copied(),
        Some(Time::from_millis(200))
    );
    assert!(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis()
            > 200
    );
}

#[test]
fn a_receivers_max_rate_holds_end_to_end() {
    let ctx = Context::local(2);
    let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| {
        b.receiver_max_rate(100)
            .block_interval(Duration::from_millis(100))
    });
    let (tx, done) = unbounded();
    let (go_tx, go) = unbounded();
    let s = runner.ssc().receiver_stream(Burst {
        n: 450,
        go: Some(go),
        done: tx,
    });
    let counts = runner.collect(&s.count());
    // The limit counts from the receiver's first store, and when its thread gets going is up
    // to the machine: a loaded one may start it batches late, and then its last records are
    // due on the stream's clock well after 4.5 s. Here it starts storing after the fourth
    // batch at the earliest, so batches run until it has stored everything (its last record
    // is due at 8.5 s or later), with the wall clock only as a guard against a hang.
    let deadline = std::time::Instant::now() + GUARD;
    let mut cumulative = 0;
    let mut k = 0u64;
    while k < 8 || done.try_recv().is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            counts.batches()
        );
        if k == 4 {
            go_tx.send(()).unwrap();
        }
        runner.run(1).unwrap();
        k += 1;
        cumulative += counts.batches().last().unwrap()[0];
        // At 100 records per second of the stream's clock, never more than 100 per second
        // so far, however the stores fall between batches.
        assert!(
            cumulative <= 100 * k,
            "{cumulative} records by batch {k}: {:?}",
            counts.batches()
        );
    }
    runner.run(1).unwrap();
    let total: u64 = counts.batches().iter().map(|b| b[0]).sum();
    assert_eq!(total, 450, "{:?}", counts.batches());
}

/// The rate hook steers a running receiver: a limit set before start, raised part way,
/// then lifted.
#[test]
fn set_max_rate_steers_a_receiver_while_it_runs() {
    let ctx = Context::local(2);
    let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| {
        b.block_interval(Duration::from_millis(100))
    });
    let (tx, done) = unbounded();
    let s = runner.ssc().receiver_stream(Burst {
        n: 600,
        go: None,
        done: tx,
    });
    runner.ssc().set_max_rate(s.id(), Some(50)).unwrap();
    let counts = runner.collect(&s.count());
    // Records stored before a batch's time may reach the next batch (the receiver catches
    // up after the clock moves), so the limits hold on the running total: 50/s for two
    // batches, then 150/s. (How soon the receiver thread gets going is up to the machine, so
    // only upper bounds are checked here; the limiter's arithmetic is tested on its own.)
    let mut cumulative = 0;
    for k in 1..=4u64 {
        if k == 3 {
            runner.ssc().set_max_rate(s.id(), Some(150)).unwrap();
        }
        runner.run(1).unwrap();
        cumulative += counts.batches().last().unwrap()[0];
        let allowed = if k <= 2 { 50 * k } else { 100 + 150 * (k - 2) };
        assert!(
            cumulative <= allowed,
            "{cumulative} records by batch {k}: {:?}",
            counts.batches()
        );
    }
    runner.ssc().set_max_rate(s.id(), None).unwrap();
    runner.run(1).unwrap();
    done.recv_timeout(GUARD).unwrap();
    runner.run(1).unwrap();
    let total: u64 = counts.batches().iter().map(|b| b[0]).sum();
    assert_eq!(total, 600, "{:?}", counts.batches());
}

/// Inputs that learn their record counts by reading (files, queues) report them in the
/// completed batch's `BatchInfo`, as receivers do.
#[test]
fn file_and_queue_inputs_report_their_record_counts() {
    let dir = common::temp_dir();
    let runner = BatchRunner::new(Duration::from_secs(1));
    runner.clock().set(Time::from_millis(10_000));
    let files = runner.ssc().text_file_stream(dir.path());
    let queue = RddQueue::from(vec![runner.context().parallelize(vec![1, 2, 3, 4, 5], 2)]);
    let queued = runner.ssc().queue_stream(&queue, true);
    let file_counts = runner.collect(&files.count());
    let queue_counts = runner.collect(&queued.count());
    runner.run(0).unwrap();
    drop_file(dir.path(), "a.txt", &["x", "y", "z"], 10_500);
    drop_file(dir.path(), "b.txt", &["w"], 10_600);
    let infos = runner.run(2).unwrap();
    let first = &infos[0];
    assert_eq!(
        first.records_per_input.get(&files.id()),
        Some(&4),
        "{first:?}"
    );
    assert_eq!(
        first.records_per_input.get(&queued.id()),
        Some(&5),
        "{first:?}"
    );
    assert_eq!(first.num_records(), 9);
    assert_eq!(file_counts.batches()[0], vec![4]);
    assert_eq!(queue_counts.batches()[0], vec![5]);
    // Nothing new: both count zero.
    assert_eq!(infos[1].records_per_input.get(&files.id()), Some(&0));
    assert_eq!(infos[1].records_per_input.get(&queued.id()), Some(&0));
}
