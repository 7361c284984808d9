//! The receiver runner against a real log directory and the stream's clock.
use super::*;
use crate::clock::Clock;

#[test]
fn the_rate_limiter_holds_storing_to_the_rate_of_the_clock() {
    let clock = Arc::new(crate::clock::ManualClock::new());
    let (c, stop) = (clock.clone(), Arc::new(AtomicBool::new(false)));
    let (tx, rx) = crossbeam_channel::unbounded();
    let worker = std::thread::spawn(move || {
        let mut r = RateLimiter::new(Some(1000));
        for _ in 0..20 {
            let due = r.due(10, c.now()).unwrap();
            c.wait_until(due, &stop);
            tx.send(()).unwrap();
        }
    });
    // At 1000 records/s, 10 records take 10 ms of the clock.
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err(), "held");
    clock.advance(Duration::from_millis(10));
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err(), "held");
    clock.advance(Duration::from_millis(190));
    for _ in 0..19 {
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    worker.join().unwrap();
}

/// The rate hook: a new limit counts from the next record; none lets records through.
#[test]
fn a_new_rate_limit_counts_from_the_next_record() {
    let t = |ms| Time::from_millis(ms);
    let mut r = RateLimiter::new(Some(1000));
    assert_eq!(r.due(10, t(0)), Some(t(10)));
    assert_eq!(
        r.due(10, t(5)),
        Some(t(20)),
        "permits add up from the start"
    );
    r.set(Some(100));
    assert_eq!(r.due(10, t(50)), Some(t(150)), "restarted at the change");
    r.set(Some(100));
    assert_eq!(
        r.due(10, t(60)),
        Some(t(250)),
        "the same limit changes nothing"
    );
    r.set(None);
    assert_eq!(r.due(1_000_000, t(60)), None);
}

struct Idle;
impl Receiver for Idle {
    type Item = u32;
    fn on_start(&mut self, _ctx: &ReceiverContext<u32>) {}
}

/// After a power cut the done mark of a completed batch may be gone while its
/// allocation survived: the checkpoint then says that batch completed, and its blocks
/// must not come back into the next batch.
#[test]
fn blocks_of_a_completed_batch_are_not_replayed_without_their_done_mark() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wal = WriteAheadLog::open(dir.path()).expect("open");
    let a = wal.append_block(vec![1u32, 2], |_, _| {}).expect("append");
    let b = wal.append_block(vec![3u32], |_, _| {}).expect("append");
    let c = wal.append_block(vec![4u32], |_, _| {}).expect("append");
    let t1 = Time::from_millis(1000);
    let t2 = Time::from_millis(2000);
    for (time, ids) in [(t1, vec![a]), (t2, vec![b])] {
        wal.append::<u32>(&Record::Allocate { time, ids }, true)
            .expect("append");
    }
    drop(wal);
    let services = Arc::new(Services::new(
        &emberflow_core::Context::local(1),
        Duration::from_secs(1),
        Arc::new(crate::clock::ManualClock::new()),
        crate::services::StreamingConfig::default(),
    ));
    let runner = ReceiverRunner::new(Idle, 0, &services);
    // The checkpoint: batch 1 completed (forgotten), batch 2 still pending.
    runner.shared.set_restored(ReceiverCheckpoint {
        allocations: [(t2, vec![b])].into_iter().collect(),
        allocated_below: b + 1,
    });
    runner
        .shared
        .open_log(dir.path(), crate::wal::ROLL_BYTES)
        .expect("open log");
    let ready: Vec<u64> = runner
        .shared
        .ready
        .lock()
        .iter()
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(
        ready,
        vec![c],
        "only the never-allocated block goes to the next batch"
    );
    assert_eq!(
        runner.shared.blocks_of(t2).len(),
        1,
        "the pending batch keeps its block"
    );
}
