//! Event time on the manual clock: output-mode tables per batch for small hand-written
//! scenarios (as Spark's watermark and deduplication suites), and oracles on generated
//! activity data — every window result equals a batch group-by over the same data, for any
//! batching, when events are out of order by less than the delay; with late events, exactly
//! those are dropped and the late stream holds them; the state stays bounded.
#![allow(clippy::unwrap_used)]

#[path = "../benches/workloads/activity.rs"]
mod activity;

use std::collections::BTreeMap;
use std::time::Duration;

use activity::{event_ms, generate, Activity, Shape};
use emberflow::prelude::*;
use emberflow::testing::BatchRunner;

const SEC: i64 = 1000;

/// (event time in seconds, user).
type Ev = (i64, String);

fn ev(t: i64, user: &str) -> Ev {
    (t, user.to_owned())
}

fn at(e: &Ev) -> EventTime {
    EventTime::from_millis(e.0 * SEC)
}

fn w(start: i64, size: i64) -> Window {
    Window::new(
        EventTime::from_millis(start * SEC),
        Duration::from_secs(size as u64),
    )
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// Tumbling 10 s windows, watermark 10 s behind: each output mode's rows, batch by batch.
#[test]
fn output_modes_batch_by_batch() {
    let batches = vec![
        vec![ev(10, "a"), ev(11, "b"), ev(12, "a")], // watermark: none
        vec![ev(25, "a")],                           // 12 - 10 = 2
        vec![ev(9, "b"), ev(26, "a")],               // 25 - 10 = 15: 9 is late
        vec![ev(40, "c")],                           // 16
        vec![],                                      // 30: [10, 20) and [20, 30) close
        vec![ev(15, "a"), ev(41, "c")],              // 30: 15 is late
        vec![],                                      // 31
    ];
    let runner = BatchRunner::new(Duration::from_secs(1));
    let input = runner.queue_input::<Ev, Ev>(batches);
    let timed = input.with_watermark(at, Duration::from_secs(10));
    let windows = timed.window(Duration::from_secs(10), Duration::from_secs(10));
    let append = runner.collect(&windows.count(OutputMode::Append));
    let update = runner.collect(&windows.count(OutputMode::Update));
    let complete = runner.collect(&windows.count(OutputMode::Complete));
    let late = runner.collect(&timed.late());
    runner.run(7).unwrap();
    let tables = |c: &emberflow::testing::Collected<(Window, u64)>| {
        c.batches().into_iter().map(sorted).collect::<Vec<_>>()
    };
    assert_eq!(
        tables(&append),
        vec![
            vec![],
            vec![],
            vec![],
            vec![],
            vec![(w(10, 10), 3), (w(20, 10), 2)],
            vec![],
            vec![],
        ]
    );
    assert_eq!(
        tables(&update),
        vec![
            vec![(w(10, 10), 3)],
            vec![(w(20, 10), 1)],
            vec![(w(20, 10), 2)],
            vec![(w(40, 10), 1)],
            vec![],
            vec![(w(40, 10), 2)],
            vec![],
        ]
    );
    let all = |rows: &[(i64, u64)]| {
        rows.iter()
            .map(|(s, n)| (w(*s, 10), *n))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        tables(&complete),
        vec![
            all(&[(10, 3)]),
            all(&[(10, 3), (20, 1)]),
            all(&[(10, 3), (20, 2)]),
            all(&[(10, 3), (20, 2), (40, 1)]),
            all(&[(10, 3), (20, 2), (40, 1)]),
            all(&[(10, 3), (20, 2), (40, 2)]),
            all(&[(10, 3), (20, 2), (40, 2)]),
        ]
    );
    assert_eq!(
        late.batches(),
        vec![
            vec![],
            vec![],
            vec![ev(9, "b")],
            vec![],
            vec![],
            vec![ev(15, "a")],
            vec![],
        ]
    );
    // The progress of the third batch: its event times, the watermark in force, the drop.
    let p = &runner.ssc().recent_progress()[2];
    let event_time = p.event_time.clone().unwrap();
    assert_eq!(event_time.min.as_deref(), Some("1970-01-01T00:00:09.000Z"));
    assert_eq!(event_time.max.as_deref(), Some("1970-01-01T00:00:26.000Z"));
    assert_eq!(event_time.avg.as_deref(), Some("1970-01-01T00:00:17.500Z"));
    assert_eq!(
        event_time.watermark.as_deref(),
        Some("1970-01-01T00:00:15.000Z")
    );
    assert_eq!(p.state_operators.len(), 3);
    assert!(
        p.state_operators
            .iter()
            .all(|o| o.num_rows_dropped_by_watermark == 1),
        "{p:?}"
    );
    assert!(
        p.json()
            .contains(r#""eventTime":{"avg":"1970-01-01T00:00:17.500Z""#),
        "{}",
        p.json()
    );
    let first = &runner.ssc().recent_progress()[0];
    assert_eq!(
        first.event_time.clone().unwrap().watermark,
        None,
        "no watermark before data"
    );
}

/// Sliding windows count a record in every window that holds it; keyed windows and a
/// keyed aggregate without a window.
#[test]
fn sliding_and_keyed_windows() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let input = runner.queue_input::<Ev, Ev>(vec![
        vec![ev(3, "a"), ev(7, "b"), ev(8, "a")],
        vec![ev(12, "a")],
    ]);
    let timed = input.with_watermark(at, Duration::from_secs(60));
    let sliding = runner.collect(
        &timed
            .window(Duration::from_secs(10), Duration::from_secs(5))
            .count(OutputMode::Complete),
    );
    let keyed = runner.collect(
        &timed
            .window(Duration::from_secs(10), Duration::from_secs(10))
            .count_by(|e: &Ev| e.1.clone(), OutputMode::Update),
    );
    let summed = runner.collect(
        &timed
            .window(Duration::from_secs(10), Duration::from_secs(10))
            .reduce_by(
                |e: &Ev| e.1.clone(),
                |e| e.0,
                |a, b| a + b,
                OutputMode::Complete,
            ),
    );
    let per_user = runner.collect(&timed.count_by(|e: &Ev| e.1.clone(), OutputMode::Complete));
    runner.run(2).unwrap();
    assert_eq!(
        sorted(sliding.batches()[1].clone()),
        vec![(w(-5, 10), 1), (w(0, 10), 3), (w(5, 10), 3), (w(10, 10), 1)]
    );
    assert_eq!(
        sorted(keyed.batches()[0].clone()),
        vec![((w(0, 10), "a".into()), 2), ((w(0, 10), "b".into()), 1)]
    );
    assert_eq!(keyed.batches()[1], vec![((w(10, 10), "a".into()), 1)]);
    assert_eq!(
        sorted(summed.batches()[1].clone()),
        vec![
            ((w(0, 10), "a".to_owned()), 11),
            ((w(0, 10), "b".to_owned()), 7),
            ((w(10, 10), "a".to_owned()), 12)
        ]
    );
    assert_eq!(
        sorted(per_user.batches()[1].clone()),
        vec![("a".to_owned(), 3), ("b".to_owned(), 1)]
    );
}

/// Deduplication remembers a key until the watermark passes its event time; a copy that
/// arrives later than that is late.
#[test]
fn drop_duplicates_is_bounded_by_the_watermark() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let input = runner.queue_input::<Ev, Ev>(vec![
        vec![ev(10, "a"), ev(10, "a"), ev(11, "b")],
        vec![ev(10, "a"), ev(30, "c")], // a copy of (10, a): still remembered
        vec![ev(10, "a"), ev(31, "c")], // watermark 30 - 5 = 25: (10, a) is late now
    ]);
    let timed = input.with_watermark(at, Duration::from_secs(5));
    let unique = timed.drop_duplicates(|e: &Ev| e.clone());
    let kept = runner.collect(unique.stream());
    let late = runner.collect(&timed.late());
    let per_user = runner.collect(&unique.count_by(|e: &Ev| e.1.clone(), OutputMode::Complete));
    runner.run(3).unwrap();
    assert_eq!(
        kept.batches().into_iter().map(sorted).collect::<Vec<_>>(),
        vec![
            vec![ev(10, "a"), ev(11, "b")],
            vec![ev(30, "c")],
            vec![ev(31, "c")]
        ]
    );
    assert_eq!(late.batches(), vec![vec![], vec![], vec![ev(10, "a")]]);
    assert_eq!(
        sorted(per_user.batches()[2].clone()),
        vec![
            ("a".to_owned(), 1),
            ("b".to_owned(), 1),
            ("c".to_owned(), 2)
        ]
    );
}

/// An Append aggregate without a window never closes a row: refused at start.
#[test]
fn append_without_a_window_is_refused() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let input = runner.queue_input::<Ev, Ev>(vec![vec![ev(1, "a")]]);
    input
        .with_watermark(at, Duration::from_secs(5))
        .count_by(|e: &Ev| e.1.clone(), OutputMode::Append)
        .foreach_rdd(|_, _| Ok(()));
    let err = runner.run(1).unwrap_err();
    assert!(err.to_string().contains("Append"), "{err}");
}

/// Splits `records` into batches at the given cut points.
fn split<T: Clone>(records: &[T], cuts: &mut Vec<usize>) -> Vec<Vec<T>> {
    cuts.push(0);
    cuts.push(records.len());
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .map(|c| records[c[0]..c[1]].to_vec())
        .collect()
}

fn group_by<K: Ord + Clone>(
    records: &[Activity],
    key: impl Fn(&Activity) -> Vec<K>,
) -> BTreeMap<K, u64> {
    let mut m = BTreeMap::new();
    for r in records {
        for k in key(r) {
            *m.entry(k).or_default() += 1;
        }
    }
    m
}

const DELAY: Duration = Duration::from_secs(60);

fn timed_of(a: &Activity) -> EventTime {
    EventTime::from_nanos(a.creation_time)
}

/// With events out of order by less than the delay, for any batching: the Complete table of
/// the last batch, the latest Update row of every window, and the Append rows once a far
/// later record closes every window, all equal the group-by over the same data.
#[test]
fn windows_equal_a_batch_group_by_for_any_batching() {
    let shape = Shape {
        n: 3000,
        step_ms: 400,
        disorder_ms: 50_000,
        late_fraction: 0.0,
        late_by_ms: 0,
        duplicate_fraction: 0.0,
    };
    for seed in 1..=4u64 {
        let records = generate(shape, seed);
        let mut rng = activity::Rng::new(seed + 100);
        let mut cuts: Vec<usize> = (0..rng.below(12) + 1)
            .map(|_| rng.below(records.len() as u64) as usize)
            .collect();
        let mut batches = split(&records, &mut cuts);
        // A record far later closes every window (its own is left out of the oracle).
        let mut closer = records[0].clone();
        closer.creation_time = (event_ms(records.last().unwrap()) + 100 * 60_000) * 1_000_000;
        batches.push(vec![closer.clone()]);
        batches.push(vec![]);
        let n = batches.len();

        let runner = BatchRunner::new(Duration::from_secs(1));
        let input = runner.queue_input::<Activity, Activity>(batches);
        let timed = input.with_watermark(timed_of, DELAY);
        let ten = Duration::from_secs(600);
        let five = Duration::from_secs(300);
        let complete = runner.collect(&timed.window(ten, five).count(OutputMode::Complete));
        let update = runner.collect(
            &timed
                .window(ten, ten)
                .count_by(|a: &Activity| a.user.clone(), OutputMode::Update),
        );
        let append = runner.collect(
            &timed
                .window(ten, ten)
                .count_by(|a: &Activity| a.user.clone(), OutputMode::Append),
        );
        let late = runner.collect(&timed.late());
        runner.run(n).unwrap();

        let sliding = |a: &Activity| Window::containing(timed_of(a), ten, five);
        let tumbling_user = |a: &Activity| {
            Window::containing(timed_of(a), ten, ten)
                .into_iter()
                .map(|w| (w, a.user.clone()))
                .collect::<Vec<_>>()
        };
        let closer_windows = sliding(&closer);
        let mut got: BTreeMap<Window, u64> = complete.batches()[n - 1].iter().cloned().collect();
        got.retain(|w, _| !closer_windows.contains(w));
        assert_eq!(got, group_by(&records, sliding), "complete, seed {seed}");

        let mut latest = BTreeMap::new();
        for batch in update.batches() {
            latest.extend(batch);
        }
        latest.retain(|(w, _), _| !closer_windows.contains(w));
        assert_eq!(
            latest,
            group_by(&records, tumbling_user),
            "update, seed {seed}"
        );

        let appended: Vec<((Window, String), u64)> = append.batches().concat();
        let once: BTreeMap<(Window, String), u64> = appended.iter().cloned().collect();
        assert_eq!(once.len(), appended.len(), "append emits each row once");
        assert_eq!(
            once,
            group_by(&records, tumbling_user),
            "append, seed {seed}"
        );
        assert!(
            late.batches().concat().is_empty(),
            "nothing late, seed {seed}"
        );
    }
}

/// With late records (behind the delay), exactly those the documented rule names are
/// dropped from the aggregates and held by the late stream.
#[test]
fn late_records_are_exactly_the_documented_drops() {
    let shape = Shape {
        n: 3000,
        step_ms: 400,
        disorder_ms: 30_000,
        late_fraction: 0.03,
        late_by_ms: 5 * 60_000,
        duplicate_fraction: 0.0,
    };
    let records = generate(shape, 9);
    let batches: Vec<Vec<Activity>> = records.chunks(97).map(<[Activity]>::to_vec).collect();
    // The oracle: the watermark of batch i is (greatest event time of batches < i) - delay,
    // never back; a record at or before it is late.
    let mut expected_late = Vec::new();
    let mut on_time = Vec::new();
    let mut max_before: Option<i64> = None;
    for b in &batches {
        let wm = max_before.map(|m| m - DELAY.as_millis() as i64);
        for r in b {
            if wm.is_some_and(|w| event_ms(r) <= w) {
                expected_late.push(r.clone());
            } else {
                on_time.push(r.clone());
            }
        }
        max_before = max_before.max(b.iter().map(event_ms).max());
    }
    assert!(
        expected_late.len() > 30,
        "the data has late records: {}",
        expected_late.len()
    );

    let runner = BatchRunner::new(Duration::from_secs(1));
    let n = batches.len();
    let input = runner.queue_input::<Activity, Activity>(batches);
    let timed = input.with_watermark(timed_of, DELAY);
    let late = runner.collect(&timed.late());
    let complete = runner.collect(
        &timed
            .window(Duration::from_secs(600), Duration::from_secs(600))
            .count_by(|a: &Activity| a.gt.clone(), OutputMode::Complete),
    );
    runner.run(n).unwrap();
    let key = |a: &Activity| (a.creation_time, a.user.clone());
    let mut got: Vec<_> = late.batches().concat().iter().map(key).collect();
    got.sort();
    let mut want: Vec<_> = expected_late.iter().map(key).collect();
    want.sort();
    assert_eq!(got, want);
    let table: BTreeMap<(Window, String), u64> =
        complete.batches()[n - 1].iter().cloned().collect();
    let oracle = group_by(&on_time, |a| {
        Window::containing(
            timed_of(a),
            Duration::from_secs(600),
            Duration::from_secs(600),
        )
        .into_iter()
        .map(|w| (w, a.gt.clone()))
        .collect()
    });
    assert_eq!(table, oracle);
}

/// Over 10,000 batches with a watermark, Append and Update keep only the open windows, and
/// deduplication only the keys the watermark has not passed.
#[test]
fn state_stays_bounded_over_ten_thousand_batches() {
    let batches: Vec<Vec<Ev>> = (0..10_000i64)
        .map(|i| vec![ev(i, if i % 2 == 0 { "a" } else { "b" })])
        .collect();
    let runner = BatchRunner::new(Duration::from_millis(100));
    let input = runner.queue_input::<Ev, Ev>(batches);
    let timed = input.with_watermark(at, Duration::from_secs(20));
    timed
        .window(Duration::from_secs(10), Duration::from_secs(10))
        .count_by(|e: &Ev| e.1.clone(), OutputMode::Append)
        .foreach_rdd(|_, _| Ok(()));
    timed
        .drop_duplicates(|e: &Ev| e.clone())
        .count_by(|e: &Ev| e.1.clone(), OutputMode::Update)
        .foreach_rdd(|_, _| Ok(()));
    let mut most = BTreeMap::new();
    for _ in 0..100 {
        runner.run(100).unwrap();
        for op in runner.ssc().last_progress().unwrap().state_operators {
            let m = most.entry(op.operator_name.clone()).or_insert(0);
            *m = (*m).max(op.num_rows_total);
        }
    }
    let bound = |kind: &str| {
        most.iter()
            .find(|(name, _)| name.starts_with(kind))
            .map(|(_, n)| *n)
            .unwrap()
    };
    // Windows of 10 s, a watermark 20 s behind: at most 4 windows open, 2 users each.
    assert!(bound("event_window_reduce") <= 8, "{most:?}");
    // Keys remembered for the 20 s until the watermark passes them, one record per second.
    assert!(bound("event_drop_duplicates") <= 22, "{most:?}");
    // The keyed count has no window: its two users stay.
    assert_eq!(bound("event_count_by"), 2, "{most:?}");
}

/// Writes `lines` to `dir/name`, dated `mtime_ms` (the manual clock's time).
fn put_lines(dir: &std::path::Path, name: &str, lines: &[String], mtime_ms: u64) {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + Duration::from_millis(mtime_ms))
        .unwrap();
}

/// JSON lines become records; malformed lines are counted and skipped; a batch takes at
/// most `max_files_per_batch` files, oldest first, and the rest wait for later batches —
/// even past the file stream's 60 s memory.
#[test]
fn json_files_are_parsed_and_capped_per_batch() {
    let dir = tempfile::tempdir().unwrap();
    let records = generate(
        Shape {
            n: 140,
            step_ms: 1000,
            disorder_ms: 0,
            late_fraction: 0.0,
            late_by_ms: 0,
            duplicate_fraction: 0.0,
        },
        3,
    );
    // 70 files of two records each, all there at the start; every tenth has a bad line.
    for (i, pair) in records.chunks(2).enumerate() {
        let mut lines: Vec<String> = pair
            .iter()
            .map(|a| serde_json::to_string(a).unwrap())
            .collect();
        if i % 10 == 0 {
            lines.push("{\"Creation_Time\": oops".into());
            lines.push(String::new());
        }
        put_lines(
            dir.path(),
            &format!("part-{i:03}.json"),
            &lines,
            500 + i as u64,
        );
    }
    let runner = BatchRunner::new(Duration::from_secs(1));
    let json = runner.ssc().json_file_stream::<Activity>(dir.path());
    let events = json.max_files_per_batch(1);
    let out = runner.collect(&events);
    runner.run(72).unwrap();
    let batches = out.batches();
    assert!(
        batches[..70].iter().all(|b| b.len() == 2),
        "one file of two records per batch"
    );
    assert!(batches[70..].iter().all(Vec::is_empty));
    assert_eq!(
        batches.concat(),
        records,
        "every record once, oldest file first"
    );
    assert_eq!(json.malformed_lines(), 7);
}

/// Session windows, 5 s gap, watermark 5 s behind: sessions grow, a bridging event merges
/// two, Append emits each session once when the watermark reaches its end.
#[test]
fn session_windows_grow_merge_and_close() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let input = runner.queue_input::<Ev, Ev>(vec![
        vec![ev(10, "a"), ev(12, "a"), ev(11, "b")], // a: [10, 17); b: [11, 16)
        vec![ev(30, "a"), ev(20, "a")],              // a: [10, 17), [20, 25), [30, 35)
        vec![ev(16, "a")],                           // wm 25: 16 is late, dropped
        vec![ev(33, "a")],                           // wm 25: a [30, 38)
        vec![ev(50, "b")],                           // wm 28
        vec![],                                      // wm 45: everything before closes
    ]);
    let timed = input.with_watermark(at, Duration::from_secs(5));
    let sessions = timed.session_window(|e: &Ev| e.1.clone(), Duration::from_secs(5));
    let append = runner.collect(&sessions.count(OutputMode::Append));
    let update = runner.collect(&sessions.count(OutputMode::Update));
    runner.run(6).unwrap();
    let s = |a: i64, b: i64, k: &str, n: u64| {
        (
            (
                Window {
                    start: EventTime::from_millis(a * SEC),
                    end: EventTime::from_millis(b * SEC),
                },
                k.to_owned(),
            ),
            n,
        )
    };
    assert_eq!(
        update.batches().into_iter().map(sorted).collect::<Vec<_>>(),
        vec![
            vec![s(10, 17, "a", 2), s(11, 16, "b", 1)],
            vec![s(20, 25, "a", 1), s(30, 35, "a", 1)],
            vec![],
            vec![s(30, 38, "a", 2)],
            vec![s(50, 55, "b", 1)],
            vec![],
        ]
    );
    assert_eq!(
        append.batches().into_iter().map(sorted).collect::<Vec<_>>(),
        vec![
            vec![],
            vec![],
            vec![s(10, 17, "a", 2), s(11, 16, "b", 1), s(20, 25, "a", 1)],
            vec![],
            vec![],
            vec![s(30, 38, "a", 2)],
        ]
    );
}

/// Within the delay, a late-but-allowed event bridges two sessions into one.
#[test]
fn an_allowed_late_event_merges_sessions() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let input = runner.queue_input::<Ev, Ev>(vec![
        vec![ev(10, "a"), ev(18, "a")], // [10, 15), [18, 23)
        vec![ev(14, "a")],              // wm 18 - 30 < 0: on time; [14, 19) joins both
    ]);
    let sessions = input
        .with_watermark(at, Duration::from_secs(30))
        .session_window(|e: &Ev| e.1.clone(), Duration::from_secs(5));
    let complete = runner.collect(&sessions.count(OutputMode::Complete));
    runner.run(2).unwrap();
    let merged = Window {
        start: EventTime::from_millis(10 * SEC),
        end: EventTime::from_millis(23 * SEC),
    };
    assert_eq!(complete.batches()[1], vec![((merged, "a".to_owned()), 3)]);
}

/// `map_with_state` on an event stream: a state times out once the watermark passes the
/// timestamp its function set; a call with data clears the timeout; a timed-out state is
/// gone.
#[test]
fn map_with_state_times_out_on_the_watermark() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    // (user, event second)
    let input = runner.queue_input::<(String, i64), (String, i64)>(vec![
        vec![("a".into(), 10), ("b".into(), 10)], // a: timeout 20; b: timeout 20
        vec![("a".into(), 25)],                   // wm 5; a: timeout 35
        vec![],                                   // wm 15
        vec![("c".into(), 60)],                   // wm 15; c: timeout 70
        vec![],                                   // wm 55: b (20) and a (35) time out
        vec![],                                   // wm 55
    ]);
    let timed = input.with_watermark(
        |e: &(String, i64)| EventTime::from_millis(e.1 * SEC),
        Duration::from_secs(5),
    );
    let mapped = timed.map_with_state(StateSpec::function(
        |_: Time, user: &String, at: Option<i64>, s: &mut State<u32>| match at {
            Some(at) => {
                s.update(s.get().copied().unwrap_or(0) + 1);
                s.set_timeout_timestamp(EventTime::from_millis((at + 10) * SEC));
                None
            }
            None => {
                assert!(s.is_timing_out());
                Some((user.clone(), *s.get().unwrap()))
            }
        },
    ));
    let ended = runner.collect(&mapped);
    let states = runner.collect(&mapped.state_snapshots());
    runner.run(6).unwrap();
    assert_eq!(
        ended.batches().into_iter().map(sorted).collect::<Vec<_>>(),
        vec![
            vec![],
            vec![],
            vec![],
            vec![],
            vec![("a".to_owned(), 2), ("b".to_owned(), 1)],
            vec![],
        ]
    );
    assert_eq!(states.batches()[5], vec![("c".to_owned(), 1)]);
}

/// Idle advance: with no records for 3 s of batches, the watermark moves on with the
/// batches and the open window closes; without it the window stays open.
#[test]
fn idle_advance_closes_windows_without_new_input() {
    let run = |idle: bool| {
        let runner = BatchRunner::new(Duration::from_secs(1));
        let mut batches = vec![vec![ev(12, "a")]];
        batches.extend((0..20).map(|_| Vec::new()));
        let input = runner.queue_input::<Ev, Ev>(batches);
        let mut timed = input.with_watermark(at, Duration::from_secs(5));
        if idle {
            timed = timed.idle_advance(Duration::from_secs(3));
        }
        let out = runner.collect(
            &timed
                .window(Duration::from_secs(10), Duration::from_secs(10))
                .count(OutputMode::Append),
        );
        runner.run(21).unwrap();
        let watermarks: Vec<Option<String>> = runner
            .ssc()
            .recent_progress()
            .iter()
            .map(|p| p.event_time.clone().and_then(|e| e.watermark))
            .collect();
        (out.batches(), watermarks)
    };
    let (still, _) = run(false);
    assert!(
        still.concat().is_empty(),
        "without idle advance the window stays open"
    );
    let (closed, watermarks) = run(true);
    // Batch 2: 12 - 5 = 7 s. From batch 4 (3 s after the last data) +1 s a batch: 20 s is
    // reached in batch 16, whose Append emits [10, 20).
    assert_eq!(watermarks[1].as_deref(), Some("1970-01-01T00:00:07.000Z"));
    assert_eq!(watermarks[2].as_deref(), Some("1970-01-01T00:00:07.000Z"));
    assert_eq!(watermarks[3].as_deref(), Some("1970-01-01T00:00:08.000Z"));
    let at_batch = closed.iter().position(|b| !b.is_empty()).unwrap();
    assert_eq!(at_batch, 15);
    assert_eq!(closed[15], vec![(w(10, 10), 1)]);
}

/// A union of event streams goes by the least of its inputs' watermarks, each input with
/// its own delay.
#[test]
fn a_union_goes_by_the_least_watermark() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let fast = runner.queue_input::<Ev, Ev>(vec![
        vec![ev(100, "a")],
        vec![ev(46, "a"), ev(44, "a")],
        vec![],
    ]);
    let slow = runner.queue_input::<Ev, Ev>(vec![vec![ev(50, "b")], vec![], vec![]]);
    let both = fast
        .with_watermark(at, Duration::from_secs(10))
        .union(&slow.with_watermark(at, Duration::from_secs(5)));
    let late = runner.collect(&both.late());
    let counts = runner.collect(
        &both
            .window(Duration::from_secs(10), Duration::from_secs(10))
            .count(OutputMode::Complete),
    );
    runner.run(3).unwrap();
    // Batch 2: fast's watermark is 90 s, slow's 45 s: 44 is late, 46 is not.
    assert_eq!(late.batches(), vec![vec![], vec![ev(44, "a")], vec![]]);
    assert_eq!(
        sorted(counts.batches()[1].clone()),
        vec![(w(40, 10), 1), (w(50, 10), 1), (w(100, 10), 1)]
    );
    let p = &runner.ssc().recent_progress()[1];
    assert_eq!(
        p.event_time.clone().unwrap().watermark.as_deref(),
        Some("1970-01-01T00:00:45.000Z")
    );
}

/// Writes batch `i`'s input file (dated inside the batch at `1000 (i + 1)` ms): lines
/// `user,event second`.
fn put_batch(dir: &std::path::Path, i: u64, lines: &[(&str, i64)]) -> std::path::PathBuf {
    let body: Vec<String> = lines.iter().map(|(u, t)| format!("{u},{t}")).collect();
    let path = dir.join(format!("in-{i:03}.txt"));
    put_lines(dir, &format!("in-{i:03}.txt"), &body, 1000 * i + 500);
    path
}

/// Rows per batch time.
type ByTime = BTreeMap<Time, Vec<(String, u32)>>;

/// Runs the event-time graph over the files in `input` from checkpoint `ckpt` for
/// `batches` batches starting at `start` (a restart when the checkpoint exists); returns
/// the rows per batch time.
fn run_events(
    input: &std::path::Path,
    ckpt: &std::path::Path,
    start: u64,
    batches: usize,
) -> ByTime {
    use std::sync::{Arc, Mutex};
    let out: Arc<Mutex<ByTime>> = Arc::default();
    let sink = out.clone();
    let runner = emberflow::testing::BatchRunner::get_or_create(
        &Context::local(2),
        Duration::from_secs(1),
        ckpt,
        Time::from_millis(1000 * start),
        |b| b,
        |ssc| {
            let timed = ssc
                .text_file_stream(input)
                .map(|l: String| {
                    let (u, t) = l.split_once(',').unwrap();
                    (u.to_owned(), t.parse::<i64>().unwrap())
                })
                .with_watermark(
                    |e: &(String, i64)| EventTime::from_millis(e.1 * SEC),
                    Duration::from_secs(5),
                );
            let counts = timed.map_with_state(StateSpec::function(
                |_: Time, u: &String, t: Option<i64>, s: &mut State<u32>| match t {
                    Some(t) => {
                        s.update(s.get().copied().unwrap_or(0) + 1);
                        s.set_timeout_timestamp(EventTime::from_millis((t + 10) * SEC));
                        None
                    }
                    None => Some((u.clone(), *s.get().unwrap())),
                },
            ));
            counts.foreach_rdd(move |rdd, time| {
                sink.lock().unwrap().insert(time, sorted(rdd.collect()?));
                Ok(())
            });
            Ok(())
        },
    )
    .unwrap();
    runner.run(batches).unwrap();
    runner
        .ssc()
        .stop(StopOptions::immediate().keep_context(true))
        .unwrap();
    let rows = out.lock().unwrap().clone();
    rows
}

/// `map_with_state` with event-time timeouts continues exactly after a restart from its
/// checkpoint even when the input of the batches before it is gone (its state, timeouts and
/// watermark come back from the checkpoint, not from recomputing the input).
#[test]
fn event_time_timeouts_survive_a_restart_without_the_old_input() {
    let input = tempfile::tempdir().unwrap();
    let batches: Vec<Vec<(&str, i64)>> = vec![
        vec![("a", 10), ("b", 11)],
        vec![("a", 14)],
        vec![("c", 20)],
        vec![("c", 24)],
        vec![("d", 40)], // watermark 35 from the next batch: a (24), b (21), c (34) time out
        vec![],
        vec![("e", 60)], // 55: d (50) times out
        vec![],
    ];
    let files: Vec<_> = batches
        .iter()
        .enumerate()
        .map(|(i, b)| put_batch(input.path(), i as u64, b))
        .collect();
    let straight = run_events(input.path(), tempfile::tempdir().unwrap().path(), 0, 8);
    let row = |u: &str, n: u32| (u.to_owned(), n);
    assert_eq!(
        straight[&Time::from_millis(6000)],
        vec![row("a", 2), row("b", 1), row("c", 2)]
    );
    assert_eq!(straight[&Time::from_millis(8000)], vec![row("d", 1)]);

    let ckpt = tempfile::tempdir().unwrap();
    let mut restarted = run_events(input.path(), ckpt.path(), 0, 4);
    // The input the first run read is gone; only the checkpoint can bring its state back.
    for f in &files[..4] {
        std::fs::remove_file(f).unwrap();
    }
    restarted.extend(run_events(input.path(), ckpt.path(), 4, 4));
    assert_eq!(restarted, straight);
}

/// The event-time API as users write it (the chapter's queries), end to end over JSON files:
/// every table holds what a group-by over the same records gives.
#[test]
fn the_chapter_queries_as_users_write_them() {
    let dir = tempfile::tempdir().unwrap();
    let records = generate(
        Shape {
            n: 400,
            step_ms: 3000,
            disorder_ms: 0,
            late_fraction: 0.0,
            late_by_ms: 0,
            duplicate_fraction: 0.1,
        },
        11,
    );
    let lines: Vec<String> = records
        .iter()
        .map(|a| serde_json::to_string(a).unwrap())
        .collect();
    put_lines(dir.path(), "activity.json", &lines, 500);
    let runner = BatchRunner::new(Duration::from_secs(1));
    let ssc = runner.ssc();

    let events: DStream<Activity> = ssc
        .json_file_stream::<Activity>(dir.path())
        .max_files_per_batch(10);
    let timed: EventStream<Activity> = events.with_watermark(
        |a: &Activity| EventTime::from_nanos(a.creation_time),
        Duration::from_secs(30 * 60),
    );
    let per_window: DStream<(Window, u64)> = timed
        .window(Duration::from_secs(600), Duration::from_secs(300))
        .count(OutputMode::Complete);
    let per_user: DStream<((Window, String), u64)> = timed
        .window(Duration::from_secs(600), Duration::from_secs(600))
        .count_by(|a| a.user.clone(), OutputMode::Append);
    let sums = timed
        .window(Duration::from_secs(600), Duration::from_secs(600))
        .reduce_by(|a| a.gt.clone(), |a| a.x, |x, y| x + y, OutputMode::Update);
    let sessions: DStream<((Window, String), u64)> = timed
        .session_window(|a| a.user.clone(), Duration::from_secs(5 * 60))
        .count(OutputMode::Append);
    let unique: EventStream<Activity> =
        timed.drop_duplicates(|a| (a.user.clone(), a.creation_time));
    let per_user_unique: DStream<(String, u64)> =
        unique.count_by(|a| a.user.clone(), OutputMode::Complete);
    let late: DStream<Activity> = timed.late();
    let table: MemoryTable<(Window, u64)> = per_window.to_memory_table("events_per_window");
    let appended = per_user.to_memory_table("per_user");
    let summed = runner.collect(&sums);
    let _ = sessions.to_memory_table("sessions");
    let unique_table = per_user_unique.to_memory_table("unique");
    let late_rows = late.to_memory_table("late");
    runner.run(3).unwrap();

    let rows: Vec<(Window, u64)> = table.rows();
    let sliding = |a: &Activity| {
        Window::containing(
            EventTime::from_nanos(a.creation_time),
            Duration::from_secs(600),
            Duration::from_secs(300),
        )
    };
    assert_eq!(
        rows.into_iter().collect::<BTreeMap<_, _>>(),
        group_by(&records, sliding)
    );
    assert!(
        appended.rows().is_empty(),
        "no window closed: the data spans 20 minutes"
    );
    assert!(!summed.batches()[0].is_empty());
    let mut seen = std::collections::BTreeSet::new();
    let firsts: Vec<Activity> = records
        .iter()
        .filter(|a| seen.insert((a.user.clone(), a.creation_time)))
        .cloned()
        .collect();
    assert!(firsts.len() < records.len(), "the data has re-sent records");
    assert_eq!(
        unique_table.rows().into_iter().collect::<BTreeMap<_, _>>(),
        group_by(&firsts, |a| vec![a.user.clone()])
    );
    assert!(late_rows.rows().is_empty());
}
