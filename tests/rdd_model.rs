//! Property tests: each operation against a plain Vec/HashMap model, over random data,
//! partition counts and pool sizes.
#![allow(clippy::unwrap_used)] // helpers of tests fail loudly

mod common;

use common::{group, sorted};
use emberflow::prelude::*;
use proptest::prelude::*;

fn input() -> impl Strategy<Value = (Vec<(u8, i32)>, usize, usize)> {
    (
        prop::collection::vec((0u8..12, -1000i32..1000), 0..120),
        1usize..9,
        1usize..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn narrow_ops_match_vec((data, parts, threads) in input()) {
        let ctx = Context::local(threads);
        let rdd = ctx.parallelize(data.clone(), parts);
        let m: Vec<i64> = data.iter().filter(|x| x.1 > 0).flat_map(|&(k, v)| vec![v as i64; k as usize % 3]).collect();
        let got = rdd.filter(|x| x.1 > 0).flat_map(|(k, v)| vec![v as i64; k as usize % 3]).collect().unwrap();
        prop_assert_eq!(got, m);
        prop_assert_eq!(rdd.coalesce(2).collect().unwrap(), data.clone());
        prop_assert_eq!(rdd.zip_with_index().map(|(_, i)| i).collect().unwrap(), (0..data.len() as u64).collect::<Vec<_>>());
        prop_assert_eq!(rdd.take(7).unwrap(), data.iter().take(7).cloned().collect::<Vec<_>>());
        prop_assert_eq!(rdd.count().unwrap(), data.len() as u64);
    }

    #[test]
    fn keyed_ops_match_hashmap((data, parts, threads) in input(), out in 1usize..7) {
        let ctx = Context::local(threads);
        let rdd = ctx.parallelize(data.clone(), parts);
        let g = group(&data);
        let sums: Vec<(u8, i32)> = g.iter().map(|(k, v)| (*k, v.iter().sum())).collect();
        prop_assert_eq!(sorted(rdd.reduce_by_key_with_partitions(|a, b| a + b, out).collect().unwrap()), sums);
        let grouped: Vec<(u8, Vec<i32>)> = g.clone().into_iter().collect();
        prop_assert_eq!(sorted(rdd.group_by_key_with_partitions(out).collect().unwrap()), grouped);
        prop_assert_eq!(sorted(rdd.keys().distinct().collect().unwrap()), g.keys().cloned().collect::<Vec<_>>());
        let mut by_key = data.clone();
        by_key.sort_by_key(|x| x.0);
        prop_assert_eq!(
            rdd.sort_by_key_with_partitions(true, out).keys().collect().unwrap(),
            by_key.iter().map(|x| x.0).collect::<Vec<_>>()
        );
        prop_assert_eq!(sorted(rdd.repartition(out).collect().unwrap()), sorted(data.clone()));
    }

    #[test]
    fn join_matches_nested_loops((data, parts, threads) in input(), other in prop::collection::vec((0u8..12, 0u8..5), 0..30)) {
        let ctx = Context::local(threads);
        let a = ctx.parallelize(data.clone(), parts);
        let b = ctx.parallelize(other.clone(), 3);
        let mut want = vec![];
        for (k, v) in &data {
            for (k2, w) in &other {
                if k == k2 {
                    want.push((*k, (*v, *w)));
                }
            }
        }
        prop_assert_eq!(sorted(a.join(&b).collect().unwrap()), sorted(want));
        let left_only: Vec<(u8, i32)> = data.iter().filter(|(k, _)| !other.iter().any(|o| o.0 == *k)).cloned().collect();
        prop_assert_eq!(sorted(a.subtract_by_key(&b).collect().unwrap()), sorted(left_only));
    }

    #[test]
    fn actions_match_iterators((data, parts, threads) in input()) {
        let ctx = Context::local(threads);
        let v: Vec<i32> = data.iter().map(|x| x.1).collect();
        let rdd = ctx.parallelize(v.clone(), parts);
        prop_assert_eq!(rdd.fold(0, |a, b| a + b).unwrap(), v.iter().sum::<i32>());
        prop_assert_eq!(rdd.reduce(|a, b| a.max(b)).ok(), v.iter().cloned().max());
        let mut d = v.clone();
        d.sort_by(|a, b| b.cmp(a));
        d.truncate(5);
        prop_assert_eq!(rdd.top(5).unwrap(), d);
        let mut a = v.clone();
        a.sort();
        a.truncate(5);
        prop_assert_eq!(rdd.take_ordered(5).unwrap(), a);
    }
}
