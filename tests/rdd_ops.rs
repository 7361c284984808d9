//! Every RDD operation on every input shape (no partitions, empty partitions, one partition,
//! more partitions than records, skewed keys, an ordinary mix), against a plain-Rust model.
#![allow(clippy::unwrap_used)] // helpers of tests fail loudly

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use common::{group, shapes, sorted};
use emberflow::prelude::*;

fn ctx() -> Context {
    Context::local(2)
}

#[test]
fn narrow_transformations_keep_order() {
    let ctx = ctx();
    for s in shapes(&ctx) {
        let n = s.name;
        let m: Vec<i64> = s.data.iter().map(|(k, v)| *k as i64 + v).collect();
        assert_eq!(
            s.rdd.map(|(k, v)| k as i64 + v).collect().unwrap(),
            m,
            "map: {n}"
        );
        let f: Vec<(u32, i64)> = s.data.iter().filter(|(_, v)| v % 3 == 0).cloned().collect();
        assert_eq!(
            s.rdd.filter(|(_, v)| v % 3 == 0).collect().unwrap(),
            f,
            "filter: {n}"
        );
        let fm: Vec<i64> = s
            .data
            .iter()
            .flat_map(|(k, v)| vec![*v; (*k % 3) as usize])
            .collect();
        assert_eq!(
            s.rdd
                .flat_map(|(k, v)| vec![v; (k % 3) as usize])
                .collect()
                .unwrap(),
            fm,
            "flat_map: {n}"
        );
        assert_eq!(
            s.rdd
                .flat_map_emit(|(k, v), out| out.extend(std::iter::repeat_n(v, (k % 3) as usize)))
                .collect()
                .unwrap(),
            fm,
            "flat_map_emit: {n}"
        );
        let glom = s.rdd.glom().collect().unwrap();
        assert_eq!(glom.len(), s.rdd.num_partitions(), "glom: {n}");
        assert_eq!(glom.concat(), s.data, "glom: {n}");
        let idx = s
            .rdd
            .map_partitions_with_index(|i, it| it.map(move |x| (i, x)).collect::<Vec<_>>())
            .collect()
            .unwrap();
        assert!(
            idx.windows(2).all(|w| w[0].0 <= w[1].0),
            "partition index order: {n}"
        );
        let kb: Vec<(i64, (u32, i64))> = s.data.iter().map(|x| (x.1 * 2, *x)).collect();
        assert_eq!(
            s.rdd.key_by(|x| x.1 * 2).collect().unwrap(),
            kb,
            "key_by: {n}"
        );
        let ks: Vec<u32> = s.data.iter().map(|x| x.0).collect();
        assert_eq!(s.rdd.keys().collect().unwrap(), ks, "keys: {n}");
        let vs: Vec<i64> = s.data.iter().map(|x| x.1).collect();
        assert_eq!(s.rdd.values().collect().unwrap(), vs, "values: {n}");
        let mv: Vec<(u32, i64)> = s.data.iter().map(|(k, v)| (*k, v * 10)).collect();
        assert_eq!(
            s.rdd.map_values(|v| v * 10).collect().unwrap(),
            mv,
            "map_values: {n}"
        );
        let fmv: Vec<(u32, i64)> = s
            .data
            .iter()
            .flat_map(|(k, v)| vec![(*k, *v), (*k, -v)])
            .collect();
        assert_eq!(
            s.rdd.flat_map_values(|v| [v, -v]).collect().unwrap(),
            fmv,
            "flat_map_values: {n}"
        );
        let zi: Vec<((u32, i64), u64)> = s.data.iter().cloned().zip(0u64..).collect();
        assert_eq!(
            s.rdd.zip_with_index().collect().unwrap(),
            zi,
            "zip_with_index: {n}"
        );
        let u: Vec<(u32, i64)> = s.data.iter().chain(s.data.iter()).cloned().collect();
        assert_eq!(s.rdd.union(&s.rdd).collect().unwrap(), u, "union: {n}");
        assert_eq!(
            s.rdd.coalesce(2).collect().unwrap(),
            s.data,
            "coalesce: {n}"
        );
        assert_eq!(
            s.rdd.coalesce(2).num_partitions(),
            s.rdd.num_partitions().min(2),
            "coalesce count: {n}"
        );
    }
}

#[test]
fn map_partitions_is_one_call_per_partition() {
    let ctx = ctx();
    for s in shapes(&ctx) {
        let counts = s
            .rdd
            .map_partitions(|it| Some(it.count()))
            .collect()
            .unwrap();
        assert_eq!(counts.len(), s.rdd.num_partitions(), "{}", s.name);
        assert_eq!(counts.iter().sum::<usize>(), s.data.len(), "{}", s.name);
    }
}

#[test]
fn shuffles_match_the_model() {
    let ctx = ctx();
    for s in shapes(&ctx) {
        let n = s.name;
        let groups = group(&s.data);
        let sums: Vec<(u32, i64)> = groups.iter().map(|(k, v)| (*k, v.iter().sum())).collect();
        assert_eq!(
            sorted(s.rdd.reduce_by_key(|a, b| a + b).collect().unwrap()),
            sums,
            "reduce_by_key: {n}"
        );
        assert_eq!(
            sorted(
                s.rdd
                    .reduce_by_key_with_partitions(|a, b| a + b, 5)
                    .collect()
                    .unwrap()
            ),
            sums,
            "reduce_by_key_with_partitions: {n}"
        );
        assert_eq!(
            sorted(
                s.rdd
                    .reduce_by_key_with_partitioner(|a, b| a + b, HashPartitioner::new(3))
                    .collect()
                    .unwrap()
            ),
            sums,
            "reduce_by_key_with_partitioner: {n}"
        );
        assert_eq!(
            sorted(s.rdd.fold_by_key(0, |a, b| a + b).collect().unwrap()),
            sums,
            "fold_by_key: {n}"
        );
        let counts: Vec<(u32, usize)> = groups.iter().map(|(k, v)| (*k, v.len())).collect();
        assert_eq!(
            sorted(
                s.rdd
                    .aggregate_by_key(0usize, |c, _| c + 1, |a, b| a + b)
                    .collect()
                    .unwrap()
            ),
            counts,
            "aggregate_by_key: {n}"
        );
        let minmax: Vec<(u32, (i64, i64))> = groups
            .iter()
            .map(|(k, v)| (*k, (*v.iter().min().unwrap(), *v.iter().max().unwrap())))
            .collect();
        assert_eq!(
            sorted(
                s.rdd
                    .combine_by_key(
                        |v| (v, v),
                        |(lo, hi), v| (lo.min(v), hi.max(v)),
                        |a, b| (a.0.min(b.0), a.1.max(b.1))
                    )
                    .collect()
                    .unwrap()
            ),
            minmax,
            "combine_by_key: {n}"
        );
        // Values of a group arrive in input order: map partitions in order, then records.
        let grouped: Vec<(u32, Vec<i64>)> = groups.clone().into_iter().collect();
        assert_eq!(
            sorted(s.rdd.group_by_key().collect().unwrap()),
            grouped,
            "group_by_key: {n}"
        );
        assert_eq!(
            sorted(s.rdd.group_by_key_with_partitions(7).collect().unwrap()),
            grouped,
            "group_by_key_with_partitions: {n}"
        );
        let distinct: Vec<u32> = groups.keys().cloned().collect();
        assert_eq!(
            sorted(s.rdd.keys().distinct().collect().unwrap()),
            distinct,
            "distinct: {n}"
        );
        let parted = s.rdd.partition_by(HashPartitioner::new(4));
        assert_eq!(parted.num_partitions(), 4);
        assert_eq!(
            sorted(parted.collect().unwrap()),
            sorted(s.data.clone()),
            "partition_by: {n}"
        );
        for (i, part) in parted.glom().collect().unwrap().into_iter().enumerate() {
            for (k, _) in part {
                assert_eq!(
                    Partitioner::<u32>::partition(&HashPartitioner::new(4), &k),
                    i,
                    "placement: {n}"
                );
            }
        }
        let rep = s.rdd.repartition(3);
        assert_eq!(rep.num_partitions(), 3);
        assert_eq!(
            sorted(rep.collect().unwrap()),
            sorted(s.data.clone()),
            "repartition: {n}"
        );
    }
}

#[test]
fn repartition_balances_partitions() {
    let ctx = ctx();
    let rdd = ctx
        .parallelize((0..10_000).collect::<Vec<i32>>(), 1)
        .repartition(4);
    let sizes: Vec<usize> = rdd.glom().collect().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes.len(), 4);
    assert!(sizes.iter().all(|&s| s == 2500), "{sizes:?}");
}

#[test]
fn sorting_is_total_and_range_partitioned() {
    let ctx = ctx();
    for s in shapes(&ctx) {
        let n = s.name;
        let mut asc = s.data.clone();
        asc.sort_by_key(|x| x.0);
        let got = s.rdd.sort_by_key(true).collect().unwrap();
        assert_eq!(
            got.iter().map(|x| x.0).collect::<Vec<_>>(),
            asc.iter().map(|x| x.0).collect::<Vec<_>>(),
            "sort_by_key: {n}"
        );
        assert_eq!(
            sorted(got),
            sorted(s.data.clone()),
            "sort_by_key keeps records: {n}"
        );
        let desc = s
            .rdd
            .sort_by_key_with_partitions(false, 3)
            .keys()
            .collect()
            .unwrap();
        let mut want: Vec<u32> = s.data.iter().map(|x| x.0).collect();
        want.sort_by(|a, b| b.cmp(a));
        assert_eq!(desc, want, "descending: {n}");
        let by_value = s.rdd.sort_by(|x| x.1, true, 4).collect().unwrap();
        let mut want = s.data.clone();
        want.sort_by_key(|x| x.1);
        assert_eq!(by_value, want, "sort_by: {n}");
    }
}

#[test]
fn sort_partitions_are_balanced() {
    let ctx = ctx();
    let rdd = ctx.parallelize((0..10_000u32).rev().map(|i| (i, ())).collect(), 5);
    let parts = rdd
        .sort_by_key_with_partitions(true, 4)
        .glom()
        .collect()
        .unwrap();
    for p in &parts {
        assert!(
            p.len() > 1000 && p.len() < 4000,
            "{:?}",
            parts.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }
}

#[test]
fn joins_match_the_model() {
    let ctx = ctx();
    let other_data: Vec<(u32, char)> = vec![(1, 'a'), (1, 'b'), (3, 'c'), (99, 'z')];
    let other = ctx.parallelize(other_data.clone(), 2);
    for s in shapes(&ctx) {
        let n = s.name;
        let l = group(&s.data);
        let r = group(&other_data);
        let keys: std::collections::BTreeSet<u32> = l.keys().chain(r.keys()).cloned().collect();
        let mut inner = vec![];
        let mut left = vec![];
        let mut right = vec![];
        let mut full = vec![];
        let mut cogroup = vec![];
        let mut subtract = vec![];
        for k in keys {
            let vs = l.get(&k).cloned().unwrap_or_default();
            let ws = r.get(&k).cloned().unwrap_or_default();
            cogroup.push((k, (vs.clone(), ws.clone())));
            for v in &vs {
                for w in &ws {
                    inner.push((k, (*v, *w)));
                    left.push((k, (*v, Some(*w))));
                    right.push((k, (Some(*v), *w)));
                    full.push((k, (Some(*v), Some(*w))));
                }
                if ws.is_empty() {
                    left.push((k, (*v, None)));
                    full.push((k, (Some(*v), None)));
                    subtract.push((k, *v));
                }
            }
            if vs.is_empty() {
                for w in &ws {
                    right.push((k, (None, *w)));
                    full.push((k, (None, Some(*w))));
                }
            }
        }
        assert_eq!(
            sorted(s.rdd.join(&other).collect().unwrap()),
            sorted(inner),
            "join: {n}"
        );
        assert_eq!(
            sorted(s.rdd.left_outer_join(&other).collect().unwrap()),
            sorted(left),
            "left: {n}"
        );
        assert_eq!(
            sorted(s.rdd.right_outer_join(&other).collect().unwrap()),
            sorted(right),
            "right: {n}"
        );
        assert_eq!(
            sorted(s.rdd.full_outer_join(&other).collect().unwrap()),
            sorted(full),
            "full: {n}"
        );
        assert_eq!(
            sorted(s.rdd.cogroup(&other).collect().unwrap()),
            cogroup,
            "cogroup: {n}"
        );
        assert_eq!(
            sorted(s.rdd.subtract_by_key(&other).collect().unwrap()),
            sorted(subtract),
            "subtract_by_key: {n}"
        );
        assert_eq!(s.rdd.join_with_partitions(&other, 7).num_partitions(), 7);
    }
}

#[test]
fn cartesian_pairs_everything() {
    let ctx = ctx();
    for s in shapes(&ctx) {
        let small = ctx.parallelize(vec!['x', 'y'], 2);
        let got = s.rdd.keys().cartesian(&small).collect().unwrap();
        let want: Vec<(u32, char)> = s
            .data
            .iter()
            .flat_map(|(k, _)| [(*k, 'x'), (*k, 'y')])
            .collect();
        assert_eq!(sorted(got), sorted(want), "{}", s.name);
    }
}

#[test]
fn sampling_is_seeded_and_about_right() {
    let ctx = ctx();
    let rdd = ctx.range(0, 100_000, 1, 4);
    let a = rdd.sample(false, 0.1, 42).collect().unwrap();
    let b = Context::local(1)
        .range(0, 100_000, 1, 4)
        .sample(false, 0.1, 42)
        .collect()
        .unwrap();
    assert_eq!(a, b, "same seed, any thread count: same sample");
    assert!((9_000..11_000).contains(&a.len()), "{}", a.len());
    assert!(
        a.windows(2).all(|w| w[0] < w[1]),
        "without replacement: no repeats"
    );
    let c = rdd.sample(false, 0.1, 43).collect().unwrap();
    assert_ne!(a, c);
    let r = rdd.sample(true, 2.0, 7).count().unwrap();
    assert!((190_000..210_000).contains(&r), "{r}");
    assert_eq!(rdd.sample(false, 0.0, 1).count().unwrap(), 0);
    assert_eq!(ctx.empty::<i32>().sample(true, 0.5, 1).count().unwrap(), 0);
}

#[test]
fn actions_match_the_model() {
    let ctx = ctx();
    for s in shapes(&ctx) {
        let n = s.name;
        let vals: Vec<i64> = s.data.iter().map(|x| x.1).collect();
        let v = s.rdd.values();
        assert_eq!(s.rdd.count().unwrap(), s.data.len() as u64, "count: {n}");
        assert_eq!(s.rdd.collect().unwrap(), s.data, "collect: {n}");
        assert_eq!(
            s.rdd.is_empty().unwrap(),
            s.data.is_empty(),
            "is_empty: {n}"
        );
        match s.data.first() {
            Some(f) => assert_eq!(s.rdd.first().unwrap(), *f, "first: {n}"),
            None => assert!(
                matches!(s.rdd.first(), Err(CoreError::EmptyRdd { .. })),
                "first: {n}"
            ),
        }
        for k in [0, 1, 2, 5, 150, 10_000] {
            assert_eq!(
                s.rdd.take(k).unwrap(),
                s.data.iter().take(k).cloned().collect::<Vec<_>>(),
                "take {k}: {n}"
            );
        }
        let mut desc = vals.clone();
        desc.sort_by(|a, b| b.cmp(a));
        assert_eq!(
            v.top(3).unwrap(),
            desc.iter().take(3).cloned().collect::<Vec<_>>(),
            "top: {n}"
        );
        let mut asc = vals.clone();
        asc.sort();
        assert_eq!(
            v.take_ordered(4).unwrap(),
            asc.iter().take(4).cloned().collect::<Vec<_>>(),
            "take_ordered: {n}"
        );
        assert_eq!(
            s.rdd
                .top_by(2, |x| x.1)
                .unwrap()
                .iter()
                .map(|x| x.1)
                .collect::<Vec<_>>(),
            desc.iter().take(2).cloned().collect::<Vec<_>>(),
            "top_by: {n}"
        );
        assert_eq!(
            s.rdd
                .take_ordered_by(2, |x| -x.1)
                .unwrap()
                .iter()
                .map(|x| x.1)
                .collect::<Vec<_>>(),
            desc.iter().take(2).cloned().collect::<Vec<_>>(),
            "take_ordered_by: {n}"
        );
        match vals.iter().cloned().reduce(|a, b| a + b) {
            Some(sum) => assert_eq!(v.reduce(|a, b| a + b).unwrap(), sum, "reduce: {n}"),
            None => assert!(matches!(
                v.reduce(|a, b| a + b),
                Err(CoreError::EmptyRdd {
                    operation: "reduce"
                })
            )),
        }
        assert_eq!(
            v.fold(0, |a, b| a + b).unwrap(),
            vals.iter().sum::<i64>(),
            "fold: {n}"
        );
        assert_eq!(
            v.aggregate(
                (0i64, 0usize),
                |(s, c), x| (s + x, c + 1),
                |a, b| (a.0 + b.0, a.1 + b.1)
            )
            .unwrap(),
            (vals.iter().sum::<i64>(), vals.len()),
            "aggregate: {n}"
        );
        let total = std::sync::atomic::AtomicI64::new(0);
        v.foreach(|x| {
            total.fetch_add(x, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(total.into_inner(), vals.iter().sum::<i64>(), "foreach: {n}");
        let parts = std::sync::atomic::AtomicUsize::new(0);
        v.foreach_partition(|_| {
            parts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(
            parts.into_inner(),
            s.rdd.num_partitions(),
            "foreach_partition: {n}"
        );
        let mut cbv: HashMap<u32, u64> = HashMap::new();
        let mut last: HashMap<u32, i64> = HashMap::new();
        for (k, v) in &s.data {
            *cbv.entry(*k).or_default() += 1;
            last.insert(*k, *v);
        }
        assert_eq!(
            s.rdd.keys().count_by_value().unwrap(),
            cbv,
            "count_by_value: {n}"
        );
        assert_eq!(s.rdd.count_by_key().unwrap(), cbv, "count_by_key: {n}");
        assert_eq!(s.rdd.collect_as_map().unwrap(), last, "collect_as_map: {n}");
        let g = group(&s.data);
        assert_eq!(
            s.rdd.lookup(&1).unwrap(),
            g.get(&1).cloned().unwrap_or_default(),
            "lookup: {n}"
        );
    }
}

#[test]
fn take_scans_partitions_incrementally() {
    let ctx = ctx();
    let computed = std::sync::Arc::new(std::sync::Mutex::new(HashSet::new()));
    let seen = computed.clone();
    let rdd = ctx
        .parallelize((0..1000).collect::<Vec<i32>>(), 100)
        .map_partitions_with_index(move |i, it| {
            seen.lock().unwrap().insert(i);
            it.collect::<Vec<_>>()
        });
    assert_eq!(rdd.take(5).unwrap(), vec![0, 1, 2, 3, 4]);
    assert_eq!(
        computed.lock().unwrap().len(),
        1,
        "take(5) needs only the first partition"
    );
    computed.lock().unwrap().clear();
    assert_eq!(rdd.take(25).unwrap().len(), 25);
    assert!(
        computed.lock().unwrap().len() < 10,
        "{:?}",
        computed.lock().unwrap()
    );
}

#[test]
fn ties_in_top_keep_input_order() {
    let ctx = ctx();
    let rdd = ctx.parallelize(vec![("a", 1), ("b", 2), ("c", 2), ("d", 2)], 3);
    assert_eq!(rdd.top_by(2, |x| x.1).unwrap(), vec![("b", 2), ("c", 2)]);
    assert_eq!(
        rdd.take_ordered_by(3, |x| -x.1).unwrap(),
        vec![("b", 2), ("c", 2), ("d", 2)]
    );
    assert_eq!(rdd.top(0).unwrap(), vec![]);
}

#[test]
fn word_count_example_from_the_issue() {
    let dir = common::temp_dir();
    let input = dir.path().join("words.txt");
    std::fs::write(&input, "the quick fox\nthe lazy dog\nthe end\n").unwrap();
    let ctx = Context::local(2);
    let lines = ctx.text_file(&input, 4).unwrap();
    let counts = lines
        .flat_map(|l: String| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .map(|w| (w, 1u64))
        .reduce_by_key(|a, b| a + b);
    let top: Vec<(String, u64)> = counts.top_by(1, |(_, c)| *c).unwrap();
    assert_eq!(top, vec![("the".to_string(), 3)]);
    let out = dir.path().join("out");
    counts.save_as_text_file(&out).unwrap();
    let back: BTreeMap<String, ()> = ctx
        .text_file(&out, 1)
        .unwrap()
        .map(|l| (l, ()))
        .collect()
        .unwrap()
        .into_iter()
        .collect();
    assert!(
        back.contains_key("(the,3)") && back.contains_key("(dog,1)"),
        "{back:?}"
    );
    assert_eq!(back.len(), 6);
}

/// Narrow stages run on chunks of records: filters that empty whole chunks, flat maps that
/// make several chunks of one, and reads that stop early all see every record once, in order.
#[test]
fn chained_narrow_stages_across_chunk_boundaries() {
    let ctx = Context::local(2);
    let sparse = ctx
        .range(0, 100_000, 1, 3)
        .filter(|x| x % 25_000 == 7)
        .map(|x| x * 2)
        .collect()
        .unwrap();
    assert_eq!(sparse, vec![14, 50_014, 100_014, 150_014]);
    let wide = ctx
        .parallelize((0..5u32).collect(), 2)
        .flat_map(|x| (0..3000u32).map(move |i| x * 3000 + i))
        .filter(|x| x % 2 == 0)
        .collect()
        .unwrap();
    assert_eq!(
        wide,
        (0..15_000u32).filter(|x| x % 2 == 0).collect::<Vec<_>>()
    );
    let chain = ctx
        .range(0, 10_000, 1, 4)
        .map(|x| x + 1)
        .filter(|x| x % 3 == 0);
    assert_eq!(chain.take(3).unwrap(), vec![3, 6, 9]);
    assert_eq!(chain.count().unwrap(), 3333);
    assert_eq!(
        chain.fold(0, |a, b| a + b).unwrap(),
        (1..=10_000).filter(|x| x % 3 == 0).sum::<i64>()
    );
    // A persisted stage in the middle is read from storage, the rest chunked.
    let cached = ctx.range(0, 5_000, 1, 2).map(|x| x % 10).cache();
    let counted = cached.filter(|x| *x == 3).count().unwrap();
    assert_eq!(counted, 500);
    assert_eq!(cached.filter(|x| *x == 4).count().unwrap(), 500);
}

/// Shuffles in an RDD's lineage.
fn shuffles<T: Data>(rdd: &Rdd<T>) -> usize {
    rdd.to_debug_string().matches("shuffled[").count()
}

/// A join or cogroup of RDDs already hash-partitioned alike moves neither side again; with
/// one side placed, only the other moves; results are those of the shuffling join.
#[test]
fn joins_of_rdds_partitioned_alike_do_not_shuffle_again() {
    let ctx = Context::local(2);
    let a = ctx
        .parallelize((0..1000u32).map(|i| (i % 37, i)).collect(), 3)
        .reduce_by_key_with_partitions(|x, y| x + y, 4);
    let b = ctx
        .parallelize((0..500u32).map(|i| (i % 41, 1u32)).collect(), 2)
        .reduce_by_key_with_partitions(|x, y| x + y, 4);
    assert_eq!(a.placement(), Some("hash/4".to_string()));
    let joined = a.join_with_partitions(&b, 4);
    assert_eq!(shuffles(&joined), 2, "{}", joined.to_debug_string());
    assert_eq!(joined.placement(), a.placement());
    let expected: BTreeMap<u32, (u32, u32)> = {
        let a: HashMap<u32, u32> = a.collect().unwrap().into_iter().collect();
        let b: HashMap<u32, u32> = b.collect().unwrap().into_iter().collect();
        a.iter()
            .filter_map(|(k, v)| b.get(k).map(|w| (*k, (*v, *w))))
            .collect()
    };
    let got: BTreeMap<u32, (u32, u32)> = joined.collect().unwrap().into_iter().collect();
    assert_eq!(got, expected);
    // Placement survives map_values and filter; a different count moves both.
    let filtered = a.map_values(|v| v * 2).filter(|(k, _)| k % 2 == 0);
    assert_eq!(shuffles(&filtered.cogroup_with_partitions(&b, 4)), 2);
    assert_eq!(shuffles(&a.cogroup_with_partitions(&b, 5)), 3);
    // One side placed: only the other side moves.
    let raw = ctx.parallelize((0..100u32).map(|i| (i % 37, i)).collect(), 2);
    let half = a.join_with_partitions(&raw, 4);
    assert_eq!(shuffles(&half), 2, "{}", half.to_debug_string());
    let shuffled_join = a.join_with_partitions(&raw.map(|x| x), 5);
    assert_eq!(
        sorted(half.collect().unwrap()),
        sorted(shuffled_join.collect().unwrap())
    );
}
