//! Checkpoint and recovery inside one process, on the manual clock: for every stateful and
//! windowed operator, a run restarted from its checkpoint at any batch boundary gives the
//! same outputs as a run without restart. Plus the documented behaviour for a damaged newest
//! checkpoint and for a graph that changed.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::OpenOptions;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use emberflow::prelude::*;
use emberflow::testing::run_with_restart;

const S: Duration = Duration::from_secs(1);
const BATCHES: usize = 8;

/// Input files dated inside each batch: batch `i` (time `1000 * (i + 1)`) gets two files of
/// `key,value` lines.
fn prepare_input(dir: &Path) {
    for i in 0..BATCHES as u64 {
        for j in 0..2u64 {
            let name = format!("in-{i:03}-{j}.txt");
            let lines: Vec<String> = (0..5)
                .map(|n| format!("k{},{}", (i * 3 + j + n) % 4, i * 10 + j + n))
                .collect();
            let path = dir.join(&name);
            std::fs::write(&path, lines.join("\n") + "\n").unwrap();
            let mtime = UNIX_EPOCH + Duration::from_millis(1000 * i + 400 + j * 100);
            OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(mtime)
                .unwrap();
        }
    }
}

fn pairs(ssc: &StreamingContext, dir: &Path) -> DStream<(String, i64)> {
    ssc.text_file_stream(dir).map(|l: String| {
        let (k, v) = l.split_once(',').unwrap();
        (k.to_string(), v.parse::<i64>().unwrap())
    })
}

type Build = fn(&StreamingContext, &Path) -> Result<DStream<(String, i64)>>;

fn check(name: &str, build: Build) {
    let input = common::temp_dir();
    prepare_input(input.path());
    let ctx = Context::local(2);
    let straight_dir = common::temp_dir();
    let straight = run_with_restart(&ctx, S, straight_dir.path(), BATCHES, None, |ssc| {
        build(ssc, input.path())
    })
    .unwrap();
    assert_eq!(straight.len(), BATCHES, "{name}: one output per batch");
    for k in 1..BATCHES {
        let dir = common::temp_dir();
        let restarted = run_with_restart(&ctx, S, dir.path(), BATCHES, Some(k), |ssc| {
            build(ssc, input.path())
        })
        .unwrap();
        let sorted = |m: &std::collections::BTreeMap<Time, Vec<(String, i64)>>| {
            m.iter()
                .map(|(t, v)| (*t, common::sorted(v.clone())))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            sorted(&restarted),
            sorted(&straight),
            "{name}: restart after batch {k}"
        );
        if k + 3 < BATCHES {
            let pending = run_with_pending_restart(build, input.path(), k, 2);
            assert_eq!(
                sorted(&pending),
                sorted(&straight),
                "{name}: restart after batch {k} with batches pending, into a fresh Context"
            );
        }
    }
}

/// A run stopped after `k` batches with `pending` more generated (checkpointed as pending)
/// but not run: a job of batch `k + 1` waits until they are, then fails, and the context
/// (stopping on errors) skips the rest. It is restarted from the checkpoint into a fresh
/// `Context`, which runs the pending batches and the rest.
fn run_with_pending_restart(
    build: Build,
    input: &Path,
    k: usize,
    pending: usize,
) -> std::collections::BTreeMap<Time, Vec<(String, i64)>> {
    use emberflow::testing::BatchRunner;
    use std::sync::{Arc, Mutex};
    type ByTime = std::collections::BTreeMap<Time, Vec<(String, i64)>>;
    let dir = common::temp_dir();
    let out: Arc<Mutex<ByTime>> = Arc::default();
    let gate_time = Time::from_millis(1000 * (k as u64 + 1));
    let (go_tx, go_rx) = crossbeam_channel::unbounded::<()>();
    let go_rx = Arc::new(Mutex::new(Some(go_rx)));
    let create = |ssc: &StreamingContext| {
        let sink = out.clone();
        build(ssc, input)?.foreach_rdd(move |rdd, time| {
            sink.lock().unwrap().insert(time, rdd.collect()?);
            Ok(())
        });
        let gate = go_rx.clone();
        // The job that holds the first run up (the restart finds the gate gone).
        ssc.queue_stream(&RddQueue::<u8>::new(), true)
            .foreach_rdd(move |_, time| {
                if time != gate_time {
                    return Ok(());
                }
                let rx = gate.lock().unwrap().take();
                match rx {
                    Some(rx) => {
                        let _ = rx.recv();
                        Err(emberflow::Error::user("stop here"))
                    }
                    None => Ok(()),
                }
            });
        Ok(())
    };
    let first = BatchRunner::get_or_create(
        &Context::local(2),
        S,
        dir.path(),
        Time::ZERO,
        |b| b.stop_on_error(true),
        create,
    )
    .unwrap();
    first.run(k).unwrap();
    let (submitted_tx, submitted) = crossbeam_channel::unbounded();
    first
        .ssc()
        .add_streaming_listener(Submitted(Mutex::new(submitted_tx)));
    for _ in 0..=pending {
        first.clock().advance(S);
        submitted.recv_timeout(Duration::from_secs(30)).unwrap();
    }
    // Batches k + 1 … k + 1 + pending are generated and checkpointed; k + 1 now fails and
    // the context skips the jobs of the others.
    go_tx.send(()).unwrap();
    first.ssc().await_termination().unwrap_err();
    first.ssc().stop(StopOptions::immediate()).unwrap();
    drop(first);
    let again = BatchRunner::get_or_create(
        &Context::local(2),
        S,
        dir.path(),
        Time::from_millis(1000 * (k + 1 + pending) as u64),
        |b| b,
        create,
    )
    .unwrap();
    again.run(BATCHES - k - 1 - pending).unwrap();
    again.ssc().stop(StopOptions::immediate()).unwrap();
    let result = out.lock().unwrap().clone();
    result
}

struct Submitted(std::sync::Mutex<crossbeam_channel::Sender<Time>>);

impl StreamingListener for Submitted {
    fn on_batch_submitted(&self, info: &emberflow::BatchInfo) {
        let _ = self.0.lock().unwrap().send(info.batch_time);
    }
}

fn sum(vals: &[i64], s: Option<i64>) -> Option<i64> {
    Some(s.unwrap_or(0) + vals.iter().sum::<i64>())
}

#[test]
fn update_state_by_key_recovers_at_every_batch_boundary() {
    check("update_state_by_key", |ssc, dir| {
        Ok(pairs(ssc, dir).update_state_by_key_with_partitions(sum, 2))
    });
    check("update_state_by_key, checkpoint every 2 s", |ssc, dir| {
        Ok(pairs(ssc, dir)
            .update_state_by_key_with_partitions(sum, 3)
            .checkpoint(2 * S))
    });
}

#[test]
fn map_with_state_recovers_at_every_batch_boundary() {
    check("map_with_state", |ssc, dir| {
        let spec =
            StateSpec::function(|_t: Time, k: &String, v: Option<i64>, s: &mut State<i64>| {
                let total = s.get().copied().unwrap_or(0) + v.unwrap_or(0);
                s.update(total);
                Some((k.clone(), total))
            })
            .num_partitions(2);
        let mapped = pairs(ssc, dir).map_with_state(spec);
        mapped.checkpoint(2 * S);
        Ok(mapped.state_snapshots())
    });
}

/// The state seam from outside the library: a running sum per key written with
/// `emberflow::plumbing` only. It declares a `StateStore`; the base writes and restores it.
mod running_sum {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use emberflow::plumbing::{DStreamBase, DStreamNode, Parent, StateStore};
    use emberflow::prelude::*;

    /// States handed back by restarts.
    pub(super) static RESTORED: std::sync::atomic::AtomicUsize =
        std::sync::atomic::AtomicUsize::new(0);

    type Sums = Arc<Mutex<BTreeMap<Time, Rdd<(String, i64)>>>>;

    pub(super) struct RunningSum {
        parent: Parent<(String, i64)>,
        store: StateStore,
        /// The state after each recent batch (restored ones included).
        sums: Sums,
    }

    pub(super) fn running_sum(stream: &DStream<(String, i64)>) -> Result<DStream<(String, i64)>> {
        let parent = Parent::of(stream);
        let store = parent.state_store("running_sum")?;
        let sums: Sums = Arc::default();
        let restored = sums.clone();
        store.on_restore(move |states: Vec<(Time, Rdd<(String, i64)>)>| {
            RESTORED.fetch_add(states.len(), std::sync::atomic::Ordering::SeqCst);
            restored.lock().unwrap().extend(states);
            Ok(())
        });
        Ok(stream.add_node(RunningSum {
            parent,
            store,
            sums,
        }))
    }

    impl RunningSum {
        /// The state after the batch at `time`: known, or computed from the one before.
        fn sum_at(&self, time: Time) -> Result<Option<Rdd<(String, i64)>>> {
            if let Some(s) = self.sums.lock().unwrap().get(&time) {
                return Ok(Some(s.clone()));
            }
            // Before the first batch: no state.
            let Some(batch) = self.parent.rdd_at(time)? else {
                return Ok(None);
            };
            let slide = self.parent.slide();
            let next = match self.sum_at(time.saturating_sub(slide))? {
                Some(prev) => prev.union(&batch),
                None => batch,
            }
            .reduce_by_key(|a, b| a + b);
            let next = self.store.truncate(next, time)?;
            let mut sums = self.sums.lock().unwrap();
            sums.insert(time, next.clone());
            while sums.len() > 3 {
                sums.pop_first();
            }
            Ok(Some(next))
        }
    }

    impl DStreamNode<(String, i64)> for RunningSum {
        fn kind(&self) -> &'static str {
            "running_sum"
        }
        fn slide_duration(&self) -> Duration {
            self.parent.slide()
        }
        fn dependencies(&self) -> Vec<Arc<dyn DStreamBase>> {
            vec![self.parent.base()]
        }
        fn state(&self) -> Option<&StateStore> {
            Some(&self.store)
        }
        fn compute(&self, time: Time) -> Result<Option<Rdd<(String, i64)>>> {
            self.sum_at(time)
        }
    }
}

#[test]
fn a_stateful_operator_written_outside_the_library_recovers() {
    check("running_sum (outside the library)", |ssc, dir| {
        Ok(running_sum::running_sum(&pairs(ssc, dir))?.checkpoint(Duration::from_secs(2)))
    });
    check("running_sum, every batch written", |ssc, dir| {
        Ok(running_sum::running_sum(&pairs(ssc, dir))?.checkpoint(S))
    });
    // The restarts resumed from the states the base wrote and read back (not only from
    // recomputing the input).
    assert!(running_sum::RESTORED.load(std::sync::atomic::Ordering::SeqCst) > 0);
}

#[test]
fn windows_recover_at_every_batch_boundary() {
    check("reduce_by_key_and_window", |ssc, dir| {
        Ok(pairs(ssc, dir).reduce_by_key_and_window(|a, b| a + b, 3 * S, S))
    });
    check("reduce_by_key_and_window_with_inverse", |ssc, dir| {
        Ok(pairs(ssc, dir)
            .reduce_by_key_and_window_with_inverse(
                |a, b| a + b,
                |a, b| a - b,
                3 * S,
                S,
                Some(|kv: &(String, i64)| kv.1 != 0),
            )
            .checkpoint(2 * S))
    });
    check("window + reduce_by_key", |ssc, dir| {
        Ok(pairs(ssc, dir).window(2 * S, S).reduce_by_key(|a, b| a + b))
    });
}

/// The input's values as event seconds, a watermark 12 s behind: batch `i` holds event
/// times `10 i` to `10 i + 6`, so each batch closes the windows of the one before last.
fn timed(ssc: &StreamingContext, dir: &Path) -> EventStream<(String, i64)> {
    pairs(ssc, dir).with_watermark(
        |(_, v): &(String, i64)| EventTime::from_millis(v * 1000),
        Duration::from_secs(12),
    )
}

/// Event-time rows as `(name, value)`: the window's start and the key in the name.
fn windowed(stream: DStream<((Window, String), u64)>) -> DStream<(String, i64)> {
    stream.map(|((w, k), n): ((Window, String), u64)| {
        (
            format!("{k}@{}-{}", w.start.millis(), w.end.millis()),
            n as i64,
        )
    })
}

#[test]
fn event_time_state_and_watermark_recover_at_every_batch_boundary() {
    check("event-time window, Update", |ssc, dir| {
        Ok(windowed(
            timed(ssc, dir)
                .window(Duration::from_secs(10), Duration::from_secs(10))
                .count_by(|(k, _)| k.clone(), OutputMode::Update),
        ))
    });
    check("event-time sliding window, Append", |ssc, dir| {
        Ok(windowed(
            timed(ssc, dir)
                .window(Duration::from_secs(10), Duration::from_secs(5))
                .count_by(|(k, _)| k.clone(), OutputMode::Append),
        ))
    });
    check("deduplicated counts, Complete", |ssc, dir| {
        Ok(timed(ssc, dir)
            .drop_duplicates(|(k, v)| (k.clone(), v / 4))
            .count_by(|(k, _)| k.clone(), OutputMode::Complete)
            .map(|(k, n)| (k, n as i64)))
    });
    check("map_with_state with event-time timeouts", |ssc, dir| {
        Ok(timed(ssc, dir)
            .map_with_state(StateSpec::function(
                |_: Time, k: &String, v: Option<i64>, s: &mut State<i64>| match v {
                    Some(v) => {
                        let n = s.get().copied().unwrap_or(0) + 1;
                        s.update(n);
                        // Times out once the watermark is 3 s past this key's newest event.
                        s.set_timeout_timestamp(EventTime::from_millis((v + 3) * 1000));
                        Some((k.clone(), n))
                    }
                    None => Some((format!("{k} timed out"), *s.get().unwrap())),
                },
            ))
            .stream())
    });
    check("sessions, Append", |ssc, dir| {
        Ok(windowed(
            timed(ssc, dir)
                .session_window(|(k, _)| k.clone(), Duration::from_secs(3))
                .count(OutputMode::Append),
        ))
    });
}

#[test]
fn a_damaged_newest_checkpoint_falls_back_and_a_changed_graph_is_refused() {
    let input = common::temp_dir();
    prepare_input(input.path());
    let ctx = Context::local(2);
    let dir = common::temp_dir();
    let build: Build = |ssc, dir| Ok(pairs(ssc, dir).update_state_by_key_with_partitions(sum, 2));
    run_with_restart(&ctx, S, dir.path(), 4, None, |ssc| build(ssc, input.path())).unwrap();
    let files = common::entries_starting_with(dir.path(), "checkpoint-");
    assert!(files.len() >= 2 && files.len() <= 3, "{files:?}");
    // Tear the newest in half: the previous one is used, with a warning naming the file.
    let newest = files.last().unwrap();
    let bytes = std::fs::read(newest).unwrap();
    std::fs::write(newest, &bytes[..bytes.len() / 2]).unwrap();
    let ssc = StreamingContext::get_or_create(
        dir.path(),
        |ssc| {
            build(ssc, input.path())?.foreach_rdd(|_, _| Ok(()));
            Ok(())
        },
        StreamingContext::builder(&ctx, S).clock(ManualClock::starting_at(Time::from_millis(4000))),
    );
    assert!(ssc.is_ok(), "{:?}", ssc.err());
    // Another graph: a clear error naming the first difference.
    let err = StreamingContext::get_or_create(
        dir.path(),
        |ssc| {
            pairs(ssc, input.path())
                .window(2 * S, S)
                .foreach_rdd(|_, _| Ok(()));
            Ok(())
        },
        StreamingContext::builder(&ctx, S).clock(ManualClock::new()),
    )
    .err()
    .unwrap();
    let text = err.to_string();
    assert!(matches!(err, Error::GraphMismatch { .. }), "{text}");
    assert!(
        text.contains("new checkpoint directory") && text.contains("window"),
        "{text}"
    );
}

#[test]
fn state_checkpoints_nothing_refers_to_are_removed() {
    let input = common::temp_dir();
    prepare_input(input.path());
    let ctx = Context::local(2);
    let dir = common::temp_dir();
    run_with_restart(&ctx, S, dir.path(), BATCHES, Some(3), |ssc| {
        Ok(pairs(ssc, input.path())
            .update_state_by_key_with_partitions(sum, 2)
            .checkpoint(S))
    })
    .unwrap();
    // Eight batches wrote eight states; only those the kept metadata checkpoints refer to stay.
    let mut states = 0;
    for ctx_dir in common::entries_starting_with(dir.path(), "ctx-") {
        states += std::fs::read_dir(&ctx_dir).unwrap().count();
    }
    assert!((1..=4).contains(&states), "{states} state directories left");
    let metadata = common::entries_starting_with(dir.path(), "checkpoint-").len();
    assert_eq!(
        metadata, 3,
        "the newest three metadata checkpoints are kept"
    );
}

#[test]
fn a_failed_batch_stays_pending_and_runs_again_after_a_restart() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let input = common::temp_dir();
    prepare_input(input.path());
    let dir = common::temp_dir();
    let ctx = Context::local(2);
    type ByTime = std::collections::BTreeMap<Time, Vec<(String, i64)>>;
    let out: Arc<Mutex<ByTime>> = Arc::default();
    // The first run's output fails at batch 3 s (a sink that is down); batches after it
    // succeed.
    let sink_down = Arc::new(AtomicBool::new(true));
    let build = |ssc: &StreamingContext| {
        let sink = out.clone();
        let down = sink_down.clone();
        pairs(ssc, input.path()).foreach_rdd(move |rdd, time| {
            if time == Time::from_millis(3000) && down.load(Ordering::SeqCst) {
                return Err(emberflow::Error::user("the sink is down"));
            }
            sink.lock().unwrap().insert(time, rdd.collect()?);
            Ok(())
        });
        Ok(())
    };
    let first = emberflow::testing::BatchRunner::get_or_create(
        &ctx,
        S,
        dir.path(),
        Time::ZERO,
        |b| b,
        build,
    )
    .unwrap();
    let infos = first.run(5).unwrap();
    assert_eq!(
        infos.iter().filter(|i| !i.succeeded()).count(),
        1,
        "{infos:?}"
    );
    first
        .ssc()
        .stop(StopOptions::immediate().keep_context(true))
        .unwrap();
    drop(first);
    assert!(!out.lock().unwrap().contains_key(&Time::from_millis(3000)));
    // The sink is back; the restart runs the failed batch again, on the same files.
    sink_down.store(false, Ordering::SeqCst);
    let second = emberflow::testing::BatchRunner::get_or_create(
        &ctx,
        S,
        dir.path(),
        Time::from_millis(5000),
        |b| b,
        build,
    )
    .unwrap();
    second.run(2).unwrap();
    let got = out.lock().unwrap().clone();
    for i in 0..7u64 {
        let expected: Vec<(String, i64)> = (0..2u64)
            .flat_map(|j| {
                (0..5).map(move |n| (format!("k{}", (i * 3 + j + n) % 4), (i * 10 + j + n) as i64))
            })
            .collect();
        assert_eq!(
            common::sorted(
                got.get(&Time::from_millis(1000 * (i + 1)))
                    .cloned()
                    .unwrap_or_default()
            ),
            common::sorted(expected),
            "batch {} s",
            i + 1
        );
    }
}
