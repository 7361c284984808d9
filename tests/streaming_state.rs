//! Stateful operators: tables on the manual clock (Spark's MapWithStateSuite and the
//! updateStateByKey tests as the checklist), oracles against a fold over all batches so far,
//! and thousands of batches with flat lineage and memory.
#![allow(clippy::unwrap_used)]

mod common;

use common::Rng;

use std::collections::BTreeMap;
use std::time::Duration;

use common::sorted;
use emberflow::prelude::*;
use emberflow::testing::{run_batches, BatchRunner};

const S: Duration = Duration::from_secs(1);

fn sorted_batches<T: Ord>(out: Vec<Vec<T>>) -> Vec<Vec<T>> {
    out.into_iter().map(sorted).collect()
}

fn running_sum(vals: &[i64], state: Option<i64>) -> Option<i64> {
    Some(state.unwrap_or(0) + vals.iter().sum::<i64>())
}

#[test]
fn update_state_by_key_keeps_totals_and_removes_keys() {
    let input = vec![
        vec![(1u8, 1i64), (2, 2)],
        vec![(1, 3)],
        vec![],
        vec![(2, -2)],
    ];
    assert_eq!(
        sorted_batches(
            run_batches(
                input.clone(),
                |s: DStream<(u8, i64)>| s.update_state_by_key(running_sum),
                4
            )
            .unwrap()
        ),
        vec![
            vec![(1, 1), (2, 2)],
            vec![(1, 4), (2, 2)],
            vec![(1, 4), (2, 2)],
            vec![(1, 4), (2, 0)]
        ]
    );
    // Returning None removes the key.
    let drop_zero = |vals: &[i64], s: Option<i64>| running_sum(vals, s).filter(|t| *t != 0);
    assert_eq!(
        sorted_batches(
            run_batches(
                input.clone(),
                move |s: DStream<(u8, i64)>| s.update_state_by_key(drop_zero),
                4
            )
            .unwrap()
        ),
        vec![
            vec![(1, 1), (2, 2)],
            vec![(1, 4), (2, 2)],
            vec![(1, 4), (2, 2)],
            vec![(1, 4)]
        ]
    );
    // The function runs for every key in the state every batch, values or not.
    let ticks = |vals: &[i64], s: Option<u32>| Some(s.unwrap_or(0) + u32::from(vals.is_empty()));
    assert_eq!(
        sorted_batches(
            run_batches(
                input,
                move |s: DStream<(u8, i64)>| s.update_state_by_key(ticks),
                4
            )
            .unwrap()
        ),
        vec![
            vec![(1, 0), (2, 0)],
            vec![(1, 0), (2, 1)],
            vec![(1, 1), (2, 2)],
            vec![(1, 2), (2, 2)]
        ]
    );
}

#[test]
fn update_state_by_key_from_an_initial_state_and_iterator_form() {
    let runner = BatchRunner::new(S);
    let initial = runner.context().parallelize(vec![(1u8, 100i64), (9, 9)], 2);
    let input = runner.queue_input::<(u8, i64), (u8, i64)>(vec![vec![(1, 1)], vec![(2, 5)]]);
    let totals =
        runner.collect(&input.update_state_by_key_with_initial(running_sum, 3, Some(initial)));
    // The iterator form sees keys and may emit others: here every key also feeds key 0.
    let fan = runner.collect(&input.update_state_by_key_iter(
        |_t, rows| {
            let mut out: BTreeMap<u8, i64> = BTreeMap::new();
            for (k, vs, s) in rows {
                let total = s.unwrap_or(0) + vs.iter().sum::<i64>();
                if k != 0 {
                    out.insert(k, total);
                }
            }
            let all: i64 = out.values().sum();
            out.insert(0, all);
            out.into_iter().collect()
        },
        1,
        None,
    ));
    runner.run(2).unwrap();
    assert_eq!(
        sorted_batches(totals.batches()),
        vec![vec![(1, 101), (9, 9)], vec![(1, 101), (2, 5), (9, 9)]]
    );
    assert_eq!(
        sorted_batches(fan.batches()),
        vec![vec![(0, 1), (1, 1)], vec![(0, 6), (1, 1), (2, 5)]]
    );
}

fn summing_spec() -> StateSpec<u8, i64, i64, (u8, i64)> {
    StateSpec::function(
        |_t: Time, key: &u8, value: Option<i64>, state: &mut State<i64>| {
            let total = value.unwrap_or(0) + state.get().copied().unwrap_or(0);
            if state.is_timing_out() {
                return Some((*key, -total));
            }
            state.update(total);
            Some((*key, total))
        },
    )
}

#[test]
fn map_with_state_emits_per_record_and_keeps_snapshots() {
    let runner = BatchRunner::new(S);
    let input = runner.queue_input::<(u8, i64), (u8, i64)>(vec![
        vec![(1, 1), (1, 2), (2, 5)],
        vec![],
        vec![(2, 1)],
    ]);
    let mapped = input.map_with_state(summing_spec().num_partitions(3));
    let out = runner.collect(&mapped);
    let snaps = runner.collect(&mapped.state_snapshots());
    runner.run(3).unwrap();
    assert_eq!(
        sorted_batches(out.batches()),
        vec![vec![(1, 1), (1, 3), (2, 5)], vec![], vec![(2, 6)]]
    );
    assert_eq!(
        sorted_batches(snaps.batches()),
        vec![
            vec![(1, 3), (2, 5)],
            vec![(1, 3), (2, 5)],
            vec![(1, 3), (2, 6)]
        ]
    );
}

#[test]
fn map_with_state_removes_and_starts_from_initial_state() {
    let runner = BatchRunner::new(S);
    let initial = runner.context().parallelize(vec![(7u8, 70i64)], 1);
    let input = runner.queue_input::<(u8, i64), (u8, i64)>(vec![
        vec![(7, 1), (8, 1)],
        vec![(7, 0)],
        vec![(7, 5)],
    ]);
    let spec = StateSpec::function(
        |_t: Time, key: &u8, value: Option<i64>, state: &mut State<i64>| match value {
            Some(0) => {
                state.remove();
                None
            }
            v => {
                let total = v.unwrap_or(0) + state.get().copied().unwrap_or(0);
                state.update(total);
                Some((*key, total))
            }
        },
    )
    .initial_state(initial)
    .partitioner(HashPartitioner::new(2));
    let mapped = input.map_with_state(spec);
    let out = runner.collect(&mapped);
    let snaps = runner.collect(&mapped.state_snapshots());
    runner.run(3).unwrap();
    assert_eq!(
        sorted_batches(out.batches()),
        vec![vec![(7, 71), (8, 1)], vec![], vec![(7, 5)]]
    );
    assert_eq!(
        sorted_batches(snaps.batches()),
        vec![vec![(7, 71), (8, 1)], vec![(8, 1)], vec![(7, 5), (8, 1)]]
    );
}

#[test]
fn timeouts_fire_exactly_when_a_key_has_been_idle_for_the_timeout() {
    let runner = BatchRunner::new(S);
    // Key 1 gets values at 1000 and 2000; key 2 at 1000 and 4000.
    let input = runner.queue_input::<(u8, i64), (u8, i64)>(vec![
        vec![(1, 1), (2, 10)],
        vec![(1, 1)],
        vec![],
        vec![(2, 10)],
        vec![],
        vec![],
        vec![],
        vec![],
    ]);
    let mapped = input.map_with_state(summing_spec().timeout(3 * S));
    let out = runner.collect(&mapped);
    let snaps = runner.collect(&mapped.state_snapshots());
    runner.run(8).unwrap();
    let out = out.by_time();
    let at = |ms: u64| sorted(out[&Time::from_millis(ms)].clone());
    assert_eq!(at(1000), vec![(1, 1), (2, 10)]);
    assert_eq!(at(2000), vec![(1, 2)]);
    assert_eq!(at(3000), vec![]);
    // Key 2 was last touched at 1000: idle for 3 s at 4000, but a value arrives then.
    assert_eq!(at(4000), vec![(2, 20)]);
    // Key 1 was last touched at 2000: idle for 3 s at 5000, so it times out then (negated).
    assert_eq!(at(5000), vec![(1, -2)]);
    assert_eq!(at(6000), vec![]);
    assert_eq!(at(7000), vec![(2, -20)]);
    let snaps = snaps.by_time();
    assert_eq!(
        sorted(snaps[&Time::from_millis(5000)].clone()),
        vec![(2, 20)]
    );
    assert!(snaps[&Time::from_millis(8000)].is_empty());
}

#[test]
fn state_operators_equal_a_fold_over_all_batches() {
    for seed in 0..6u64 {
        let mut rng = Rng(seed);
        let threads = 1 + (rng.next() % 3) as usize;
        let parts = 1 + (rng.next() % 5) as usize;
        let n = 10;
        let batches: Vec<Vec<(u8, i64)>> = (0..n)
            .map(|_| {
                (0..rng.next() % 15)
                    .map(|_| ((rng.next() % 9) as u8, (rng.next() % 50) as i64))
                    .collect()
            })
            .collect();
        let ctx = Context::local(threads);
        let runner = BatchRunner::with_builder(&ctx, S, |b| b);
        let queue = RddQueue::new();
        for b in &batches {
            queue.push(ctx.parallelize(b.clone(), 1 + (rng.next() % 4) as usize));
        }
        let input = runner.ssc().queue_stream(&queue, true);
        let by_update =
            runner.collect(&input.update_state_by_key_with_partitions(running_sum, parts));
        let mapped = input.map_with_state(summing_spec().num_partitions(parts));
        let by_map = runner.collect(&mapped.state_snapshots());
        runner.run(n).unwrap();
        let mut fold: BTreeMap<u8, i64> = BTreeMap::new();
        for (i, b) in batches.iter().enumerate() {
            for (k, v) in b {
                *fold.entry(*k).or_insert(0) += v;
            }
            let want: Vec<(u8, i64)> = fold.clone().into_iter().collect();
            let context = format!("seed {seed}, threads {threads}, partitions {parts}, batch {i}");
            assert_eq!(
                sorted(by_update.batches()[i].clone()),
                want,
                "update_state_by_key: {context}"
            );
            assert_eq!(
                sorted(by_map.batches()[i].clone()),
                want,
                "map_with_state: {context}"
            );
        }
    }
}

#[test]
fn five_thousand_batches_keep_lineage_and_memory_flat() {
    let ctx = Context::local(2);
    let runner = BatchRunner::with_builder(&ctx, Duration::from_millis(10), |b| b);
    let queue = RddQueue::new();
    for i in 0..5000u64 {
        queue.push(ctx.parallelize(vec![(i % 50, 1i64)], 1));
    }
    let input = runner.ssc().queue_stream(&queue, true);
    let every = Duration::from_millis(50);
    let state = input
        .update_state_by_key_with_partitions(running_sum, 2)
        .checkpoint(every);
    let windowed = input
        .reduce_by_key_and_window_with_inverse_with_partitions(
            |a, b| a + b,
            |a, b| a - b,
            Duration::from_millis(200),
            Duration::from_millis(10),
            2,
            None::<fn(&(u64, i64)) -> bool>,
        )
        .checkpoint(every);
    let mapped = input.map_with_state(summing_spec_u64().num_partitions(2));
    mapped.checkpoint(every);
    let lineage = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let l = lineage.clone();
    state.foreach_rdd(move |rdd, time| {
        if time.millis() % 10_000 == 0 {
            l.lock()
                .unwrap()
                .push((rdd.to_debug_string().lines().count(), rdd.count()?));
        }
        Ok(())
    });
    let w = runner.collect(&windowed.filter(|kv| kv.0 == 0));
    let m = runner.collect(&mapped.filter(|kv| kv.0 == 0));
    runner.run(5000).unwrap();
    let lineage = lineage.lock().unwrap().clone();
    assert_eq!(lineage.len(), 5);
    assert!(
        lineage
            .iter()
            .all(|(depth, keys)| *depth <= 2 && *keys == 50),
        "{lineage:?}"
    );
    // Memory: each stream holds a bounded number of batches, not 5,000.
    // (The input keeps two checkpoint intervals, 100 ms here, plus the 200 ms window, for
    // recomputation after a restart.)
    for held in [
        state.remembered_times().len(),
        windowed.remembered_times().len(),
        input.remembered_times().len(),
    ] {
        assert!(held <= 40, "{held}");
    }
    // And the results are still right at the end: key 0 gets a record every 50 batches.
    assert_eq!(w.batches().last().unwrap().clone(), vec![(0, 0)]);
    assert_eq!(m.batches().iter().flatten().last().unwrap().1, 100);
}

fn summing_spec_u64() -> StateSpec<u64, i64, i64, (u64, i64)> {
    StateSpec::function(
        |_t: Time, key: &u64, value: Option<i64>, state: &mut State<i64>| {
            let total = value.unwrap_or(0) + state.get().copied().unwrap_or(0);
            state.update(total);
            Some((*key, total))
        },
    )
}

#[test]
fn with_a_checkpoint_directory_state_is_written_every_interval() {
    let dir = common::temp_dir();
    let runner = BatchRunner::new(S);
    runner.ssc().checkpoint(dir.path()).unwrap();
    let input = runner.queue_input::<(u8, i64), (u8, i64)>(vec![
        vec![(1, 1)],
        vec![(1, 2)],
        vec![(1, 3)],
        vec![(1, 4)],
    ]);
    let state = input.update_state_by_key(running_sum).checkpoint(2 * S);
    let paths = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let p = paths.clone();
    state.foreach_rdd(move |rdd, time| {
        p.lock().unwrap().push((time.millis(), rdd.collect()?));
        Ok(())
    });
    runner.run(4).unwrap();
    assert_eq!(
        *paths.lock().unwrap(),
        vec![
            (1000, vec![(1, 1)]),
            (2000, vec![(1, 3)]),
            (3000, vec![(1, 6)]),
            (4000, vec![(1, 10)])
        ]
    );
    // Batches 2000 and 4000 wrote the state: two checkpointed RDD directories.
    let ctx_dir = common::entries_starting_with(dir.path(), "ctx-").remove(0);
    let written = std::fs::read_dir(&ctx_dir).unwrap().count();
    assert_eq!(written, 2, "{ctx_dir:?}");
    // A checkpoint interval that is not a multiple of the slide is refused at start.
    let runner = BatchRunner::new(S);
    let input = runner.queue_input::<(u8, i64), (u8, i64)>(vec![]);
    input
        .update_state_by_key(running_sum)
        .checkpoint(Duration::from_millis(1500))
        .foreach_rdd(|_, _| Ok(()));
    assert!(runner
        .ssc()
        .start()
        .unwrap_err()
        .to_string()
        .contains("checkpoint interval of 1500 ms"));
}

/// The state update runs as a job of its batch on the job executor: the mapping function's
/// time (here it moves the manual clock 5 ms per record) is the batch's processing delay,
/// and the next batch's generation does not wait for it.
#[test]
fn map_with_state_work_is_processing_time_not_scheduling_delay() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let clock = runner.clock().clone();
    let input: DStream<(u32, u64)> =
        runner.queue_input(vec![(0..20).map(|i| (i % 4, 1)).collect::<Vec<_>>()]);
    let mapped = input.map_with_state(StateSpec::function(
        move |_t, k: &u32, v: Option<u64>, s: &mut State<u64>| {
            clock.advance(Duration::from_millis(5));
            let total = s.get().copied().unwrap_or(0) + v.unwrap_or(0);
            s.update(total);
            Some((*k, total))
        },
    ));
    let out = runner.collect(&mapped.state_snapshots());
    let infos = runner.run(1).unwrap();
    let info = infos.last().unwrap();
    assert_eq!(info.scheduling_delay(), Some(Duration::ZERO), "{info:?}");
    assert!(
        info.processing_delay().unwrap() >= Duration::from_millis(100),
        "20 records × 5 ms: {info:?}"
    );
    assert_eq!(
        sorted(out.batches().concat()),
        vec![(0, 5), (1, 5), (2, 5), (3, 5)]
    );
}

/// A mapping function that panics part way fails its batch and leaves the state as it was
/// before that batch: when the batch is applied again (the next batch replays it), nothing
/// of the failed attempt counts twice.
#[test]
fn a_mapping_function_that_panics_part_way_leaves_the_state_as_it_was() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let runner = BatchRunner::new(Duration::from_secs(1));
    let input: DStream<(u32, i64)> = runner.queue_input(vec![
        vec![(1, 1), (2, 1)],
        vec![(1, 10), (2, 5), (1, 100)],
        vec![(1, 1000)],
    ]);
    // Panics once, at the third record of batch 2, after two changes to the partition.
    let armed = std::sync::Arc::new(AtomicBool::new(true));
    let mapped = input.map_with_state(
        StateSpec::function(move |_t, _k: &u32, v: Option<i64>, s: &mut State<i64>| {
            let v = v.unwrap_or(0);
            if v == 100 && armed.swap(false, Ordering::SeqCst) {
                panic!("a bad record");
            }
            let total = s.get().copied().unwrap_or(0) + v;
            s.update(total);
            None::<()>
        })
        .num_partitions(1),
    );
    let out = runner.collect(&mapped.state_snapshots());
    let infos = runner.run(3).unwrap();
    assert!(infos[0].succeeded(), "{infos:?}");
    assert!(!infos[1].succeeded(), "the panic fails batch 2: {infos:?}");
    assert!(infos[2].succeeded(), "{infos:?}");
    // Batch 3 applied batch 2 again, then itself, to the state of batch 1.
    assert_eq!(
        sorted(out.by_time()[&Time::from_millis(3000)].clone()),
        vec![(1, 1111), (2, 6)]
    );
}

/// A state table larger than the cache takes the path that looks a group of keys up ahead of
/// their updates: records must still apply in order (a key twice in one group), and removals
/// and new keys mix with updates, exactly as a fold over the records says.
#[test]
fn a_state_larger_than_the_cache_applies_records_in_order() {
    let mut rng = Rng(7);
    let first: Vec<(u64, i64)> = (0..200_000u64).map(|k| (k, 1)).collect();
    let mut second = Vec::new();
    for _ in 0..30_000 {
        let k = rng.next() % 260_000; // some keys are new
        let v = (rng.next() % 7) as i64 - 1; // -1 removes the key
        second.push((k, v));
        if rng.next() % 4 == 0 {
            second.push((k, 2)); // the same key again, next in line
        }
    }
    let runner = BatchRunner::new(S);
    let input: DStream<(u64, i64)> = runner.queue_input(vec![first.clone(), second.clone()]);
    let mapped = input.map_with_state(
        StateSpec::function(|_t, k: &u64, v: Option<i64>, s: &mut State<i64>| {
            let v = v.unwrap_or(0);
            if v < 0 {
                s.remove();
                return Some((*k, -1));
            }
            let total = s.get().copied().unwrap_or(0) + v;
            s.update(total);
            Some((*k, total))
        })
        .num_partitions(1),
    );
    let emitted = runner.collect(&mapped);
    let snaps = runner.collect(&mapped.state_snapshots());
    runner.run(2).unwrap();
    let mut fold: BTreeMap<u64, i64> = BTreeMap::new();
    let mut want = Vec::new();
    for (k, v) in first.iter().chain(&second) {
        if *v < 0 {
            fold.remove(k);
            want.push((*k, -1));
        } else {
            let total = fold.get(k).copied().unwrap_or(0) + v;
            fold.insert(*k, total);
            want.push((*k, total));
        }
    }
    let got: Vec<(u64, i64)> = emitted.batches().concat();
    assert_eq!(sorted(got), sorted(want));
    assert_eq!(
        sorted(snaps.batches()[1].clone()),
        fold.into_iter().collect::<Vec<_>>()
    );
}
