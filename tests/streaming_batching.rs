//! Any batching of the input gives the batch job's result, for every DStream operator: the
//! input is cut into batches at random points (empty batches included), every operator runs
//! on the stream in one graph, and its outputs — concatenated for per-record operators,
//! merged by key for per-batch aggregations, the last window or state for windowed and
//! stateful ones, batch by batch for joins — equal the same operation on RDDs.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use emberflow::prelude::*;
use emberflow::testing::{BatchRunner, Collected};
use proptest::prelude::*;

type Pair = (u8, i64);

fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    common::sorted(v.to_vec())
}

fn concat<T: Clone>(c: &Collected<T>) -> Vec<T> {
    c.batches().concat()
}

fn at<T: Clone>(c: &Collected<T>, i: usize) -> Vec<T> {
    c.batches().get(i).cloned().unwrap_or_default()
}

fn last<T: Clone>(c: &Collected<T>) -> Vec<T> {
    c.batches().last().cloned().unwrap_or_default()
}

/// Per-batch pairs merged by key with `f`.
fn merged<V: Clone>(c: &Collected<(u8, V)>, f: impl Fn(V, V) -> V) -> BTreeMap<u8, V> {
    let mut m: BTreeMap<u8, V> = BTreeMap::new();
    for (k, v) in concat(c) {
        let v = match m.remove(&k) {
            Some(old) => f(old, v),
            None => v,
        };
        m.insert(k, v);
    }
    m
}

fn as_map<V>(v: Vec<(u8, V)>) -> BTreeMap<u8, V> {
    v.into_iter().collect()
}

fn sorted_groups(v: Vec<(u8, Vec<i64>)>) -> BTreeMap<u8, Vec<i64>> {
    v.into_iter()
        .map(|(k, mut vs)| {
            vs.sort();
            (k, vs)
        })
        .collect()
}

fn check(data: Vec<Pair>, batches: Vec<Vec<Pair>>) {
    let n = batches.len();
    let window = Duration::from_secs(n as u64);
    let s1 = Duration::from_secs(1);
    let runner = BatchRunner::new(s1);
    let input: DStream<Pair> = runner.queue_input(batches.clone());
    let values = input.map(|(_, v)| v);
    let other = input.map(|(k, v)| (k, v % 7));

    let map = runner.collect(&input.map(|(k, v)| (k, v * 3)));
    let filter = runner.collect(&input.filter(|(_, v)| v % 2 == 0));
    let flat_map = runner.collect(&input.flat_map(|(k, v)| vec![(k, v); (k % 3) as usize]));
    let flat_map_emit = runner.collect(&input.flat_map_emit(|(k, v): Pair, out| {
        for _ in 0..k % 3 {
            out.emit((k, v));
        }
    }));
    let map_partitions = runner
        .collect(&input.map_partitions(|it| it.map(|(k, v)| v - k as i64).collect::<Vec<_>>()));
    let glom = runner.collect(&input.glom().map(|p| p.len() as u64));
    let repartition = runner.collect(&input.repartition(3));
    let union = runner.collect(&input.union(&input.map(|(k, v)| (k, -v))));
    let count = runner.collect(&input.count());
    let reduce = runner.collect(&values.reduce(|a, b| a + b));
    let count_by_value = runner.collect(&input.count_by_value());
    let reduce_by_key = runner.collect(&input.reduce_by_key(|a, b| a + b));
    let group_by_key = runner.collect(&input.group_by_key());
    let combine_by_key = runner.collect(&input.combine_by_key(
        |v| (1u64, v),
        |(c, s), v| (c + 1, s + v),
        |(c1, s1), (c2, s2)| (c1 + c2, s1 + s2),
    ));
    let map_values = runner.collect(&input.map_values(|v| v + 1));
    let flat_map_values = runner.collect(&input.flat_map_values(|v| 0..(v % 3)));
    let join = runner.collect(&input.join(&other));
    let left_outer_join = runner.collect(&input.left_outer_join(&other));
    let cogroup = runner.collect(&input.cogroup(&other).map(|(k, (mut a, mut b))| {
        a.sort();
        b.sort();
        (k, (a, b))
    }));
    let update_state = runner.collect(&input.update_state_by_key(|vs: &[i64], s: Option<i64>| {
        Some(s.unwrap_or(0) + vs.iter().sum::<i64>())
    }));
    let map_with_state = runner.collect(
        &input
            .map_with_state(StateSpec::function(
                |_t, _k: &u8, v: Option<i64>, s: &mut State<i64>| {
                    let total = s.get().copied().unwrap_or(0) + v.unwrap_or(0);
                    s.update(total);
                    None::<()>
                },
            ))
            .state_snapshots(),
    );
    let windowed = runner.collect(&input.window(window, s1));
    let count_by_window = runner.collect(&input.count_by_window(window, s1));
    let reduce_by_window = runner.collect(&values.reduce_by_window(|a, b| a + b, window, s1));
    let reduce_by_key_and_window =
        runner.collect(&input.reduce_by_key_and_window(|a, b| a + b, window, s1));
    let with_inverse = runner.collect(&input.reduce_by_key_and_window_with_inverse(
        |a, b| a + b,
        |a, b| a - b,
        window,
        s1,
        None::<fn(&Pair) -> bool>,
    ));
    let count_by_value_and_window = runner.collect(&input.count_by_value_and_window(window, s1));
    let group_by_key_and_window = runner.collect(&input.group_by_key_and_window(window, s1));

    let infos = runner.run(n).unwrap();
    assert!(infos.iter().all(emberflow::BatchInfo::succeeded));

    // The batch job, on RDDs over the whole input.
    let ctx = runner.context();
    let whole = ctx.parallelize(data.clone(), 3);
    let total: i64 = data.iter().map(|(_, v)| v).sum();
    let sums = as_map(whole.reduce_by_key(|a, b| a + b).collect().unwrap());
    let counts: BTreeMap<Pair, u64> = whole.count_by_value().unwrap().into_iter().collect();
    let groups = sorted_groups(whole.group_by_key().collect().unwrap());

    assert_eq!(
        concat(&map),
        whole.map(|(k, v)| (k, v * 3)).collect().unwrap(),
        "map"
    );
    assert_eq!(
        concat(&filter),
        whole.filter(|(_, v)| v % 2 == 0).collect().unwrap(),
        "filter"
    );
    assert_eq!(
        concat(&flat_map),
        whole
            .flat_map(|(k, v)| vec![(k, v); (k % 3) as usize])
            .collect()
            .unwrap(),
        "flat_map"
    );
    assert_eq!(concat(&flat_map_emit), concat(&flat_map), "flat_map_emit");
    assert_eq!(
        concat(&map_partitions),
        whole.map(|(k, v)| v - k as i64).collect().unwrap(),
        "map_partitions"
    );
    assert_eq!(concat(&glom).iter().sum::<u64>(), data.len() as u64, "glom");
    assert_eq!(sorted(&concat(&repartition)), sorted(&data), "repartition");
    let mut both = data.clone();
    both.extend(data.iter().map(|(k, v)| (*k, -v)));
    assert_eq!(sorted(&concat(&union)), sorted(&both), "union");
    assert_eq!(
        concat(&count).iter().sum::<u64>(),
        data.len() as u64,
        "count"
    );
    assert_eq!(concat(&reduce).iter().sum::<i64>(), total, "reduce");
    let mut cbv: BTreeMap<Pair, u64> = BTreeMap::new();
    for (p, c) in concat(&count_by_value) {
        *cbv.entry(p).or_default() += c;
    }
    assert_eq!(cbv, counts, "count_by_value");
    assert_eq!(merged(&reduce_by_key, |a, b| a + b), sums, "reduce_by_key");
    let grouped = merged(&group_by_key, |mut a, b| {
        a.extend(b);
        a
    });
    assert_eq!(
        sorted_groups(grouped.into_iter().collect()),
        groups,
        "group_by_key"
    );
    let combined = merged(&combine_by_key, |(c1, s1), (c2, s2)| (c1 + c2, s1 + s2));
    let whole_combined = as_map(
        whole
            .combine_by_key(
                |v| (1u64, v),
                |(c, s), v| (c + 1, s + v),
                |(c1, s1), (c2, s2)| (c1 + c2, s1 + s2),
            )
            .collect()
            .unwrap(),
    );
    assert_eq!(combined, whole_combined, "combine_by_key");
    assert_eq!(
        concat(&map_values),
        whole.map_values(|v| v + 1).collect().unwrap(),
        "map_values"
    );
    assert_eq!(
        concat(&flat_map_values),
        whole.flat_map_values(|v| 0..(v % 3)).collect().unwrap(),
        "flat_map_values"
    );
    // Joins pair records of the same batch: batch by batch, the batch job on that batch.
    for (i, batch) in batches.iter().enumerate() {
        let b = ctx.parallelize(batch.clone(), 2);
        let o = b.map(|(k, v)| (k, v % 7));
        assert_eq!(
            sorted(&at(&join, i)),
            sorted(&b.join(&o).collect().unwrap()),
            "join"
        );
        assert_eq!(
            sorted(&at(&left_outer_join, i)),
            sorted(&b.left_outer_join(&o).collect().unwrap()),
            "left_outer_join"
        );
        let cg: Vec<_> = b
            .cogroup(&o)
            .map(|(k, (mut a, mut b))| {
                a.sort();
                b.sort();
                (k, (a, b))
            })
            .collect()
            .unwrap();
        assert_eq!(sorted(&at(&cogroup, i)), sorted(&cg), "cogroup");
    }
    // State and windows covering the whole input: the last batch's output is the whole.
    assert_eq!(as_map(last(&update_state)), sums, "update_state_by_key");
    assert_eq!(as_map(last(&map_with_state)), sums, "map_with_state");
    assert_eq!(sorted(&last(&windowed)), sorted(&data), "window");
    assert_eq!(
        last(&count_by_window),
        vec![data.len() as u64],
        "count_by_window"
    );
    let want_reduce = if data.is_empty() { vec![] } else { vec![total] };
    assert_eq!(last(&reduce_by_window), want_reduce, "reduce_by_window");
    assert_eq!(
        as_map(last(&reduce_by_key_and_window)),
        sums,
        "reduce_by_key_and_window"
    );
    assert_eq!(
        as_map(last(&with_inverse)),
        sums,
        "reduce_by_key_and_window_with_inverse"
    );
    assert_eq!(
        last(&count_by_value_and_window)
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        counts,
        "count_by_value_and_window"
    );
    assert_eq!(
        sorted_groups(last(&group_by_key_and_window)),
        groups,
        "group_by_key_and_window"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn any_batching_gives_the_batch_jobs_result_for_every_operator(
        data in prop::collection::vec((0u8..5, 0i64..50), 0..60),
        cuts in prop::collection::vec(0usize..60, 0..5),
    ) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
        cuts.push(0);
        cuts.push(data.len());
        cuts.sort();
        let batches: Vec<Vec<Pair>> = cuts.windows(2).map(|w| data[w[0]..w[1]].to_vec()).collect();
        check(data, batches);
    }
}
