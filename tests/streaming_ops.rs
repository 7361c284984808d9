//! Every stateless DStream operation as a table of input batches and expected output
//! batches, on the manual clock (Spark's BasicOperationsSuite as the checklist).
#![allow(clippy::unwrap_used)] // helpers of tests fail loudly

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::sorted;
use emberflow::prelude::*;
use emberflow::testing::{run_batches, run_graph, BatchRunner};

fn input() -> Vec<Vec<&'static str>> {
    vec![vec!["a b", "b c"], vec![], vec!["a a a"], vec!["c"]]
}

fn words(s: DStream<String>) -> DStream<String> {
    s.flat_map(|l: String| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
}

fn sorted_batches<T: Ord>(out: Vec<Vec<T>>) -> Vec<Vec<T>> {
    out.into_iter().map(sorted).collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn map_flat_map_filter() {
    assert_eq!(
        run_batches(input(), |st: DStream<String>| st.map(|l| l.len()), 4).unwrap(),
        vec![vec![3, 3], vec![], vec![5], vec![1]]
    );
    assert_eq!(
        run_batches(input(), words, 4).unwrap(),
        vec![
            s(&["a", "b", "b", "c"]),
            vec![],
            s(&["a", "a", "a"]),
            s(&["c"])
        ]
    );
    assert_eq!(
        run_batches(
            input(),
            |st: DStream<String>| words(st).filter(|w| w != "a"),
            4
        )
        .unwrap(),
        vec![s(&["b", "b", "c"]), vec![], vec![], s(&["c"])]
    );
}

#[test]
fn map_partitions_glom_repartition() {
    let out = run_batches(
        vec![vec![1, 2, 3, 4], vec![5]],
        |st: DStream<i32>| st.map_partitions(|it| Some(it.sum::<i32>())),
        2,
    )
    .unwrap();
    // Each batch arrives in two partitions.
    assert_eq!(out, vec![vec![3, 7], vec![0, 5]]);
    let glom = run_batches(vec![vec![1, 2, 3]], |st: DStream<i32>| st.glom(), 1).unwrap();
    assert_eq!(glom, vec![vec![vec![1], vec![2, 3]]]);
    let parts = run_batches(
        vec![(0..100).collect::<Vec<i32>>()],
        |st: DStream<i32>| st.repartition(5).glom().map(|p| p.len()),
        1,
    )
    .unwrap();
    assert_eq!(parts[0].len(), 5);
    assert_eq!(parts[0].iter().sum::<usize>(), 100);
}

#[test]
fn count_emits_zero_for_empty_batches() {
    assert_eq!(
        run_batches(input(), |st: DStream<String>| words(st).count(), 4).unwrap(),
        vec![vec![4], vec![0], vec![3], vec![1]]
    );
}

#[test]
fn reduce_count_by_value() {
    assert_eq!(
        run_batches(
            vec![vec![1, 2, 3], vec![], vec![10]],
            |st: DStream<i32>| st.reduce(|a, b| a + b),
            3
        )
        .unwrap(),
        vec![vec![6], vec![], vec![10]]
    );
    let out = run_batches(input(), |st: DStream<String>| words(st).count_by_value(), 4).unwrap();
    assert_eq!(
        sorted_batches(out),
        vec![
            vec![
                ("a".to_string(), 1),
                ("b".to_string(), 2),
                ("c".to_string(), 1)
            ],
            vec![],
            vec![("a".to_string(), 3)],
            vec![("c".to_string(), 1)]
        ]
    );
}

#[test]
fn union_and_transform_with() {
    let out = run_graph(Duration::from_secs(1), 3, |ssc| {
        let ctx = ssc.context();
        let a = ssc.queue_stream(
            &RddQueue::from(vec![
                ctx.parallelize(vec![1, 2], 1),
                ctx.parallelize(vec![3], 1),
            ]),
            true,
        );
        let b = ssc.queue_stream(&RddQueue::from(vec![ctx.parallelize(vec![10], 1)]), true);
        let union = a.union(&b);
        let with = a.transform_with(&b, |x, y, _| x.cartesian(&y).map(|(p, q)| p * q));
        let all = ssc.union(&[a.clone(), b.clone(), a.map(|x| -x)]).unwrap();
        Ok(vec![union, with, all])
    })
    .unwrap();
    assert_eq!(out[0], vec![vec![1, 2, 10], vec![3], vec![]]);
    assert_eq!(out[1], vec![vec![10, 20], vec![], vec![]]);
    assert_eq!(out[2], vec![vec![1, 2, 10, -1, -2], vec![3, -3], vec![]]);
}

#[test]
fn transform_gets_the_batch_time_and_joins_a_static_rdd() {
    let runner = BatchRunner::new(Duration::from_millis(500));
    let blacklist = runner
        .context()
        .parallelize(vec![("spam".to_string(), true)], 1);
    let input = runner.queue_input::<&str, String>(vec![vec!["ham", "spam", "eggs"], vec!["spam"]]);
    let clean = input.map(|w| (w, ())).transform(move |rdd, _| {
        rdd.left_outer_join(&blacklist)
            .filter(|(_, (_, bad))| bad.is_none())
            .keys()
    });
    let stamped = input.transform(|rdd, time| rdd.map(move |w| format!("{w}@{}", time.millis())));
    let c = runner.collect(&clean);
    let t = runner.collect(&stamped);
    runner.run(2).unwrap();
    assert_eq!(
        sorted_batches(c.batches()),
        vec![s(&["eggs", "ham"]), vec![]]
    );
    assert_eq!(
        t.batches(),
        vec![s(&["ham@500", "spam@500", "eggs@500"]), s(&["spam@1000"])]
    );
}

#[test]
fn pair_operations() {
    let kv = vec![vec![("a", 1), ("b", 2), ("a", 3)], vec![], vec![("b", 5)]];
    type Pairs = DStream<(&'static str, i32)>;
    let run = |f: fn(Pairs) -> Pairs| sorted_batches(run_batches(kv.clone(), f, 3).unwrap());
    assert_eq!(
        run(|d| d.reduce_by_key(|a, b| a + b)),
        vec![vec![("a", 4), ("b", 2)], vec![], vec![("b", 5)]]
    );
    assert_eq!(
        run(|d| d.reduce_by_key_with_partitions(|a, b| a * b, 3)),
        vec![vec![("a", 3), ("b", 2)], vec![], vec![("b", 5)]]
    );
    assert_eq!(
        run(|d| d.combine_by_key(|v| v, |c, v| c.max(v), |a, b| a.max(b))),
        vec![vec![("a", 3), ("b", 2)], vec![], vec![("b", 5)]]
    );
    assert_eq!(
        run(|d| d.map_values(|v| v * 10)),
        vec![
            vec![("a", 10), ("a", 30), ("b", 20)],
            vec![],
            vec![("b", 50)]
        ]
    );
    assert_eq!(
        run(|d| d.flat_map_values(|v| vec![v; 2])),
        vec![
            vec![("a", 1), ("a", 1), ("a", 3), ("a", 3), ("b", 2), ("b", 2)],
            vec![],
            vec![("b", 5), ("b", 5)]
        ]
    );
    let grouped = sorted_batches(
        run_batches(
            kv.clone(),
            |d: DStream<(&str, i32)>| d.group_by_key_with_partitions(2),
            3,
        )
        .unwrap(),
    );
    assert_eq!(
        grouped,
        vec![
            vec![("a", vec![1, 3]), ("b", vec![2])],
            vec![],
            vec![("b", vec![5])]
        ]
    );
}

#[test]
fn joins_between_streams() {
    let out = run_graph(Duration::from_secs(1), 2, |ssc| {
        let ctx = ssc.context();
        let l = ssc.queue_stream(
            &RddQueue::from(vec![
                ctx.parallelize(vec![("a", 1), ("b", 2)], 2),
                ctx.parallelize(vec![("c", 3)], 1),
            ]),
            true,
        );
        let r = ssc.queue_stream(
            &RddQueue::from(vec![ctx.parallelize(vec![("a", 10), ("z", 26)], 1)]),
            true,
        );
        Ok(vec![
            l.join(&r).map(|(k, (v, w))| format!("{k}:{v}:{w}")),
            l.left_outer_join(&r)
                .map(|(k, (v, w))| format!("{k}:{v}:{w:?}")),
            l.right_outer_join(&r)
                .map(|(k, (v, w))| format!("{k}:{v:?}:{w}")),
            l.full_outer_join_with_partitions(&r, 3)
                .map(|(k, (v, w))| format!("{k}:{v:?}:{w:?}")),
            l.cogroup(&r).map(|(k, (v, w))| format!("{k}:{v:?}:{w:?}")),
        ])
    })
    .unwrap();
    let out: Vec<Vec<Vec<String>>> = out.into_iter().map(sorted_batches).collect();
    assert_eq!(out[0], vec![s(&["a:1:10"]), vec![]]);
    assert_eq!(
        out[1],
        vec![s(&["a:1:Some(10)", "b:2:None"]), s(&["c:3:None"])]
    );
    assert_eq!(out[2], vec![s(&["a:Some(1):10", "z:None:26"]), vec![]]);
    assert_eq!(
        out[3],
        vec![
            s(&["a:Some(1):Some(10)", "b:Some(2):None", "z:None:Some(26)"]),
            s(&["c:Some(3):None"])
        ]
    );
    assert_eq!(
        out[4],
        vec![
            s(&["a:[1]:[10]", "b:[2]:[]", "z:[]:[26]"]),
            s(&["c:[3]:[]"])
        ]
    );
}

#[test]
fn outputs_run_in_declaration_order_with_the_batch_time() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let log = Arc::new(Mutex::new(Vec::new()));
    let input = runner.queue_input::<i32, i32>(vec![vec![1], vec![2, 3]]);
    for name in ["first", "second", "third"] {
        let log = log.clone();
        input.foreach_rdd(move |rdd, time| {
            log.lock()
                .unwrap()
                .push(format!("{name}@{}:{}", time.millis(), rdd.count()?));
            Ok(())
        });
    }
    runner.run(2).unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            "first@1000:1",
            "second@1000:1",
            "third@1000:1",
            "first@2000:2",
            "second@2000:2",
            "third@2000:2"
        ]
    );
}

#[test]
fn save_as_text_files_writes_one_directory_per_batch_and_rewrites_identically() {
    let dir = common::temp_dir();
    let prefix = dir.path().join("wc").to_string_lossy().into_owned();
    let runner = BatchRunner::new(Duration::from_secs(1));
    let input = runner.queue_input::<&str, String>(vec![vec!["x y", "x"], vec![]]);
    words(input)
        .map(|w| (w, 1u64))
        .reduce_by_key(|a, b| a + b)
        .save_as_text_files(prefix.clone(), "txt");
    runner.run(2).unwrap();
    let first = emberflow::batch_output_dir(&prefix, "txt", Time::from_millis(1000));
    assert!(first.join("_SUCCESS").exists());
    let read = |p: &std::path::Path| -> Vec<String> {
        let mut lines: Vec<String> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|f| {
                f.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("part-")
            })
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(read(&first), vec!["(x,2)", "(y,1)"]);
    let second = emberflow::batch_output_dir(&prefix, "txt", Time::from_millis(2000));
    assert!(second.join("_SUCCESS").exists());
    assert!(read(&second).is_empty());
    // Re-running batch 1000 (as recovery does) rewrites the same directory, same content.
    let ctx = runner.context().clone();
    let again = ctx.parallelize(vec![("x".to_string(), 2u64), ("y".to_string(), 1)], 2);
    again.save_as_text_file_replacing(&first).unwrap();
    assert_eq!(read(&first), vec!["(x,2)", "(y,1)"]);
}

#[test]
fn slice_remember_and_cache() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let input = runner.queue_input::<i32, i32>(vec![vec![1], vec![2], vec![3], vec![4]]);
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = calls.clone();
    let mapped = input
        .map(move |x| {
            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            x * 10
        })
        .cache()
        .remember(Duration::from_secs(10));
    let out = runner.collect(&mapped);
    let out2 = runner.collect(&mapped.map(|x| x + 1));
    runner.run(4).unwrap();
    assert_eq!(out.batches(), vec![vec![10], vec![20], vec![30], vec![40]]);
    assert_eq!(out2.batches(), vec![vec![11], vec![21], vec![31], vec![41]]);
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::Relaxed),
        4,
        "cached: each record mapped once"
    );
    let sliced = mapped
        .slice(Time::from_millis(2000), Time::from_millis(3000))
        .unwrap();
    let values: Vec<Vec<i32>> = sliced.iter().map(|r| r.collect().unwrap()).collect();
    assert_eq!(values, vec![vec![20], vec![30]]);
}

#[test]
fn old_rdds_are_forgotten() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let input = runner.queue_input::<i32, i32>(vec![vec![1]; 20]);
    let mapped = input.map(|x| x + 1);
    let remembered = input.map(|x| x).remember(Duration::from_secs(5));
    let _a = runner.collect(&mapped);
    let _b = runner.collect(&remembered);
    runner.run(20).unwrap();
    let held = mapped.remembered_times();
    assert!(
        held.len() <= 2 && held.iter().all(|t| t.millis() >= 19_000),
        "{held:?}"
    );
    let held = remembered.remembered_times();
    assert!(held.len() >= 5 && held.len() <= 6, "{held:?}");
    assert_eq!(*held.last().unwrap(), Time::from_millis(20_000));
}

#[test]
fn queue_stream_one_at_a_time_all_at_once_and_default() {
    let out = run_graph(Duration::from_secs(1), 3, |ssc| {
        let ctx = ssc.context();
        let rdds = || vec![ctx.parallelize(vec![1], 1), ctx.parallelize(vec![2, 3], 1)];
        let one = ssc.queue_stream(&RddQueue::from(rdds()), true);
        let all = ssc.queue_stream(&RddQueue::from(rdds()), false);
        let with_default = ssc.queue_stream_with_default(
            &RddQueue::from(rdds()),
            true,
            Some(ctx.parallelize(vec![-1], 1)),
        );
        Ok(vec![one, all, with_default])
    })
    .unwrap();
    assert_eq!(out[0], vec![vec![1], vec![2, 3], vec![]]);
    assert_eq!(out[1], vec![vec![1, 2, 3], vec![], vec![]]);
    assert_eq!(out[2], vec![vec![1], vec![2, 3], vec![-1]]);
}

/// Puts even keys in partition 0 and odd ones in partition 1.
struct Parity;

impl Partitioner<u32> for Parity {
    fn num_partitions(&self) -> usize {
        2
    }
    fn partition(&self, key: &u32) -> usize {
        (*key % 2) as usize
    }
}

#[test]
fn the_context_transforms_several_streams_at_once() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let a: DStream<u32> = runner.queue_input::<u32, u32>(vec![vec![1, 2], vec![3]]);
    let b: DStream<u32> = runner.queue_input::<u32, u32>(vec![vec![10], vec![]]);
    let c: DStream<u32> = runner.queue_input::<u32, u32>(vec![vec![100], vec![300]]);
    let out = runner.collect(
        &runner
            .ssc()
            .transform(&[a.clone(), b, c], |rdds, time| {
                let n = rdds.len() as u32;
                rdds[0]
                    .union(&rdds[1])
                    .union(&rdds[2])
                    .map(move |x| x * n + time.millis() as u32 / 1000)
            })
            .unwrap(),
    );
    runner.run(2).unwrap();
    assert_eq!(
        sorted_batches(out.batches()),
        vec![vec![4, 7, 31, 301], vec![11, 902]]
    );
    assert!(runner
        .ssc()
        .transform::<u32, u32, _>(&[], |r, _| r[0].clone())
        .is_err());
    // Streams of different slides are refused at start.
    let other = BatchRunner::new(Duration::from_secs(1));
    let x: DStream<u32> = other.queue_input::<u32, u32>(vec![vec![1]]);
    let y = x.window(Duration::from_secs(2), Duration::from_secs(2));
    other
        .ssc()
        .transform(&[x, y], |r, _| r[0].clone())
        .unwrap()
        .foreach_rdd(|_, _| Ok(()));
    let err = other.ssc().start().unwrap_err();
    assert!(err.to_string().contains("same slide"), "{err}");
}

#[test]
fn joins_cogroup_and_state_take_a_partitioner() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let left: DStream<(u32, &str)> =
        runner.queue_input(vec![vec![(1, "a"), (2, "b"), (3, "c"), (4, "d")]]);
    let right: DStream<(u32, i32)> = runner.queue_input(vec![vec![(1, 10), (2, 20), (5, 50)]]);
    // Every output partition holds only keys the partitioner puts there.
    let placed = |s: DStream<u32>| {
        s.glom()
            .map(|p| p.iter().map(|k| k % 2).collect::<Vec<_>>())
    };
    let join = runner.collect(&left.join_with_partitioner(&right, Parity));
    let join_parts = runner.collect(&placed(
        left.join_with_partitioner(&right, Parity).map(|(k, _)| k),
    ));
    let cogroup_parts = runner.collect(&placed(
        left.cogroup_with_partitioner(&right, Parity)
            .map(|(k, _)| k),
    ));
    let left_outer = runner.collect(&left.left_outer_join_with_partitioner(&right, Parity));
    let right_outer = runner.collect(&left.right_outer_join_with_partitioner(&right, Parity));
    let full_outer = runner.collect(&left.full_outer_join_with_partitioner(&right, Parity));
    let state = left
        .map(|(k, _)| (k, 1u64))
        .update_state_by_key_with_partitioner(
            |vs: &[u64], s: Option<u64>| Some(s.unwrap_or(0) + vs.iter().sum::<u64>()),
            Parity,
            None,
        );
    let state_parts = runner.collect(&placed(state.map(|(k, _)| k)));
    runner.run(1).unwrap();
    assert_eq!(
        sorted(join.batches().concat()),
        vec![(1, ("a", 10)), (2, ("b", 20))]
    );
    assert_eq!(sorted(left_outer.batches().concat()).len(), 4);
    assert_eq!(sorted(right_outer.batches().concat()).len(), 3);
    assert_eq!(sorted(full_outer.batches().concat()).len(), 5);
    for (what, parts) in [
        ("join", join_parts),
        ("cogroup", cogroup_parts),
        ("update_state_by_key", state_parts),
    ] {
        let parts = parts.batches().concat();
        assert_eq!(parts.len(), 2, "{what}: the partitioner's partition count");
        assert!(parts[0].iter().all(|k| *k == 0), "{what}: {parts:?}");
        assert!(parts[1].iter().all(|k| *k == 1), "{what}: {parts:?}");
    }
}

#[test]
fn map_with_state_converts_into_a_plain_stream() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let input: DStream<(u32, u64)> = runner.queue_input(vec![vec![(1, 2), (1, 3)]]);
    let mapped = input.map_with_state(StateSpec::function(
        |_t, k: &u32, v: Option<u64>, s: &mut State<u64>| {
            let total = s.get().copied().unwrap_or(0) + v.unwrap_or(0);
            s.update(total);
            Some((*k, total))
        },
    ));
    let plain: DStream<(u32, u64)> = mapped.into();
    let out = runner.collect(&plain);
    runner.run(1).unwrap();
    assert_eq!(sorted(out.batches().concat()), vec![(1, 2), (1, 5)]);
}

/// Streams hash-partitioned alike (a per-batch reduction, a state) are joined without a
/// shuffle of their own: each batch's joined RDD has only the shuffles that placed them.
#[test]
fn joins_of_streams_partitioned_alike_do_not_shuffle_again() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let batches: Vec<Vec<(u32, u32)>> = (0..3u32)
        .map(|b| (0..200).map(|i| (i % 13, b * 200 + i)).collect())
        .collect();
    let input = runner.queue_input(batches.clone());
    let sums = input.reduce_by_key_with_partitions(|a, b| a + b, 4);
    let counts = input
        .map(|(k, _)| (k, 1u32))
        .reduce_by_key_with_partitions(|a, b| a + b, 4);
    let totals = input.update_state_by_key_with_partitions(
        |vs: &[u32], s: Option<u32>| Some(s.unwrap_or(0) + vs.iter().sum::<u32>()),
        4,
    );
    let joined = sums.join_with_partitions(&counts, 4);
    let with_state = sums.join_with_partitions(&totals, 4);
    let lineage = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    for s in [&joined, &with_state] {
        let l = lineage.clone();
        s.foreach_rdd(move |rdd, _| {
            l.lock().unwrap().push(rdd.to_debug_string());
            Ok(())
        });
    }
    let out = runner.collect(&with_state);
    runner.run(3).unwrap();
    for debug in lineage.lock().unwrap().iter() {
        // The join adds none: two for the reductions (or the reduction and the batch
        // placed for the state), none more.
        assert!(debug.matches("shuffled[").count() <= 2, "{debug}");
    }
    // The state after the last batch joined with its sums: totals over every batch.
    let last: std::collections::BTreeMap<u32, (u32, u32)> =
        out.batches()[2].iter().cloned().collect();
    for (k, (batch_sum, total)) in last {
        let expect: u32 = batches
            .iter()
            .flatten()
            .filter(|(x, _)| *x == k)
            .map(|(_, v)| v)
            .sum();
        assert_eq!(total, expect, "key {k}");
        let in_batch: u32 = batches[2]
            .iter()
            .filter(|(x, _)| *x == k)
            .map(|(_, v)| v)
            .sum();
        assert_eq!(batch_sum, in_batch);
    }
}
