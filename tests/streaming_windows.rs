//! Window operators: tables on the manual clock (Spark's WindowOperationsSuite as the
//! checklist) and oracles against a naive recomputation over the raw window, on seeded random
//! input with random partition and thread counts.
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

#[test]
fn window_tables() {
    let input = vec![vec![1], vec![2], vec![3], vec![], vec![]];
    assert_eq!(
        sorted_batches(
            run_batches(input.clone(), |s: DStream<i32>| s.window(2 * S, S), 5).unwrap()
        ),
        vec![vec![1], vec![1, 2], vec![2, 3], vec![3], vec![]]
    );
    // Slide of 2 s: outputs at 2000 and 4000 only; window (t - 3 s, t].
    assert_eq!(
        sorted_batches(
            run_batches(input.clone(), |s: DStream<i32>| s.window(3 * S, 2 * S), 5).unwrap()
        ),
        vec![vec![1, 2], vec![2, 3]]
    );
    assert_eq!(
        run_batches(
            input.clone(),
            |s: DStream<i32>| s.count_by_window(2 * S, S),
            5
        )
        .unwrap(),
        vec![vec![1], vec![2], vec![2], vec![1], vec![0]]
    );
    assert_eq!(
        run_batches(
            input.clone(),
            |s: DStream<i32>| s.reduce_by_window(|a, b| a + b, 3 * S, S),
            5
        )
        .unwrap(),
        vec![vec![1], vec![3], vec![6], vec![5], vec![3]]
    );
    assert_eq!(
        run_batches(
            input,
            |s: DStream<i32>| s.reduce_by_window_with_inverse(|a, b| a + b, |a, b| a - b, 3 * S, S),
            5
        )
        .unwrap(),
        vec![vec![1], vec![3], vec![6], vec![5], vec![3]]
    );
}

#[test]
fn keyed_window_tables() {
    let input: Vec<Vec<(char, i64)>> = vec![
        vec![('a', 1), ('b', 1)],
        vec![('a', 1)],
        vec![],
        vec![('b', 2)],
        vec![],
    ];
    let plain = sorted_batches(
        run_batches(
            input.clone(),
            |s: DStream<(char, i64)>| s.reduce_by_key_and_window(|a, b| a + b, 2 * S, S),
            5,
        )
        .unwrap(),
    );
    assert_eq!(
        plain,
        vec![
            vec![('a', 1), ('b', 1)],
            vec![('a', 2), ('b', 1)],
            vec![('a', 1)],
            vec![('b', 2)],
            vec![('b', 2)]
        ]
    );
    // With the inverse and no filter, keys stay with zero, as in Spark.
    let inv = sorted_batches(
        run_batches(
            input.clone(),
            |s: DStream<(char, i64)>| {
                s.reduce_by_key_and_window_with_inverse(
                    |a, b| a + b,
                    |a, b| a - b,
                    2 * S,
                    S,
                    None::<fn(&(char, i64)) -> bool>,
                )
            },
            5,
        )
        .unwrap(),
    );
    assert_eq!(
        inv,
        vec![
            vec![('a', 1), ('b', 1)],
            vec![('a', 2), ('b', 1)],
            vec![('a', 1), ('b', 0)],
            vec![('a', 0), ('b', 2)],
            vec![('a', 0), ('b', 2)]
        ]
    );
    let filtered = sorted_batches(
        run_batches(
            input.clone(),
            |s: DStream<(char, i64)>| {
                s.reduce_by_key_and_window_with_inverse(
                    |a, b| a + b,
                    |a, b| a - b,
                    2 * S,
                    S,
                    Some(|kv: &(char, i64)| kv.1 != 0),
                )
            },
            5,
        )
        .unwrap(),
    );
    assert_eq!(filtered, plain);
    let by_value = sorted_batches(
        run_batches(
            vec![vec!['x', 'y'], vec!['x'], vec![]],
            |s: DStream<char>| s.count_by_value_and_window(2 * S, S),
            3,
        )
        .unwrap(),
    );
    assert_eq!(
        by_value,
        vec![
            vec![('x', 1), ('y', 1)],
            vec![('x', 2), ('y', 1)],
            vec![('x', 1)]
        ]
    );
    let grouped = sorted_batches(
        run_batches(
            input,
            |s: DStream<(char, i64)>| s.group_by_key_and_window(2 * S, S).map_values(sorted),
            3,
        )
        .unwrap(),
    );
    assert_eq!(
        grouped,
        vec![
            vec![('a', vec![1]), ('b', vec![1])],
            vec![('a', vec![1, 1]), ('b', vec![1])],
            vec![('a', vec![1])]
        ]
    );
}

#[test]
fn windows_must_be_multiples_of_the_batch_interval() {
    let runner = BatchRunner::new(S);
    let s = runner.queue_input::<i32, i32>(vec![]);
    s.window(Duration::from_millis(1500), S)
        .foreach_rdd(|_, _| Ok(()));
    let err = runner.ssc().start().unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("window duration of 1500 ms") && text.contains("1000, 2000, 3000"),
        "{text}"
    );
    let runner = BatchRunner::new(S);
    let s = runner.queue_input::<(u8, i64), (u8, i64)>(vec![]);
    s.reduce_by_key_and_window_with_inverse(
        |a, b| a + b,
        |a, b| a - b,
        2 * S,
        Duration::from_millis(500),
        None::<fn(&(u8, i64)) -> bool>,
    )
    .foreach_rdd(|_, _| Ok(()));
    assert!(runner
        .ssc()
        .start()
        .unwrap_err()
        .to_string()
        .contains("slide duration of 500 ms"));
}

fn random_batches(rng: &mut Rng, n: usize) -> Vec<Vec<(u8, i64)>> {
    (0..n)
        .map(|_| {
            let len = rng.next() % 12;
            (0..len)
                .map(|_| ((rng.next() % 7) as u8, (rng.next() % 100) as i64 - 20))
                .collect()
        })
        .collect()
}

/// Naive: the sum per key of the raw records of batches `(t - w, t]`.
fn naive_window(batches: &[Vec<(u8, i64)>], end_batch: usize, w: usize) -> BTreeMap<u8, i64> {
    let mut m = BTreeMap::new();
    let start = (end_batch + 1).saturating_sub(w);
    for b in &batches[start..=end_batch] {
        for (k, v) in b {
            *m.entry(*k).or_insert(0) += v;
        }
    }
    m
}

#[test]
fn window_operators_equal_a_naive_recomputation() {
    for seed in 0..6u64 {
        let mut rng = Rng(seed);
        let threads = 1 + (rng.next() % 3) as usize;
        let parts = 1 + (rng.next() % 5) as usize;
        let w = 1 + (rng.next() % 5) as usize;
        let s = 1 + (rng.next() % w as u64) as usize;
        let n = 12;
        let batches = random_batches(&mut rng, n);
        let ctx = Context::local(threads);
        let runner = BatchRunner::with_builder(&ctx, S, |b| b);
        let queue = RddQueue::new();
        for b in &batches {
            queue.push(ctx.parallelize(b.clone(), parts));
        }
        let input = runner.ssc().queue_stream(&queue, true);
        let (wd, sd) = (S * w as u32, S * s as u32);
        let plain = runner.collect(&input.reduce_by_key_and_window_with_partitions(
            |a, b| a + b,
            wd,
            sd,
            parts,
        ));
        let inv = runner.collect(
            &input.reduce_by_key_and_window_with_inverse_with_partitions(
                |a, b| a + b,
                |a, b| a - b,
                wd,
                sd,
                parts,
                None::<fn(&(u8, i64)) -> bool>,
            ),
        );
        let raw = runner.collect(&input.window(wd, sd));
        let counts = runner.collect(&input.count_by_window(wd, sd));
        let by_value = runner.collect(&input.map(|kv| kv.0).count_by_value_and_window(wd, sd));
        let total = runner.collect(&input.map(|kv| kv.1).reduce_by_window_with_inverse(
            |a, b| a + b,
            |a, b| a - b,
            wd,
            sd,
        ));
        let grouped = runner.collect(
            &input
                .group_by_key_and_window(wd, sd)
                .map_values(|v| v.iter().sum::<i64>()),
        );
        runner.run(n).unwrap();
        let context =
            format!("seed {seed}: threads {threads}, partitions {parts}, window {w}, slide {s}");
        let plain = plain.by_time();
        let inv = inv.by_time();
        let raw = raw.by_time();
        let counts = counts.by_time();
        let by_value = by_value.by_time();
        let total = total.by_time();
        let grouped = grouped.by_time();
        for (i, _) in batches.iter().enumerate() {
            let t = Time::from_millis(1000 * (i as u64 + 1));
            if (i + 1) % s != 0 {
                assert!(
                    !plain.contains_key(&t),
                    "{context}: no output off the slide at {t}"
                );
                continue;
            }
            let want = naive_window(&batches, i, w);
            let got: BTreeMap<u8, i64> = plain[&t].iter().cloned().collect();
            assert_eq!(got, want, "{context}: reduce_by_key_and_window at {t}");
            // The inverse form keeps keys that fell to zero; drop them to compare.
            let got_inv: BTreeMap<u8, i64> = inv[&t]
                .iter()
                .cloned()
                .filter(|kv| want.contains_key(&kv.0) || kv.1 != 0)
                .collect();
            assert_eq!(got_inv, want, "{context}: with inverse at {t}");
            let start = (i + 1).saturating_sub(w);
            let mut want_raw: Vec<(u8, i64)> = batches[start..=i].concat();
            want_raw.sort();
            assert_eq!(
                sorted(raw[&t].clone()),
                want_raw,
                "{context}: window at {t}"
            );
            assert_eq!(
                counts[&t],
                vec![want_raw.len() as u64],
                "{context}: count_by_window at {t}"
            );
            let mut want_by_value: BTreeMap<u8, u64> = BTreeMap::new();
            for (k, _) in &want_raw {
                *want_by_value.entry(*k).or_insert(0) += 1;
            }
            let got_by_value: BTreeMap<u8, u64> = by_value[&t].iter().cloned().collect();
            assert_eq!(
                got_by_value, want_by_value,
                "{context}: count_by_value_and_window at {t}"
            );
            let sum: i64 = want_raw.iter().map(|kv| kv.1).sum();
            // Before any record arrives there is no value to reduce from.
            if !(want_raw.is_empty() && total[&t].is_empty()) {
                assert_eq!(
                    total[&t],
                    vec![sum],
                    "{context}: reduce_by_window_with_inverse at {t}"
                );
            }
            let got_grouped: BTreeMap<u8, i64> = grouped[&t].iter().cloned().collect();
            assert_eq!(
                got_grouped, want,
                "{context}: group_by_key_and_window at {t}"
            );
        }
    }
}

/// A long window and a state keep what they need, not the raw records: the parsed batches
/// upstream of a 60-minute window and of `update_state_by_key` (checkpoint interval 10 s)
/// are let go once their batch is done, while the window and the state still cover every
/// batch.
#[test]
fn a_long_window_and_a_state_do_not_hold_raw_batches() {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let batches: Vec<Vec<(String, u64)>> = (0..30u64)
        .map(|b| (0..100).map(|i| (format!("k{}", i % 5), b + i)).collect())
        .collect();
    let input = runner.queue_input(batches.clone());
    let parsed = input.map(|(k, v): (String, u64)| (k, v * 2)).cache();
    let window = parsed.reduce_by_key_and_window(|a, b| a + b, Duration::from_secs(3600), S);
    let state = parsed.update_state_by_key(|vs: &[u64], s: Option<u64>| {
        Some(s.unwrap_or(0) + vs.iter().sum::<u64>())
    });
    let windowed = runner.collect(&window);
    let totals = runner.collect(&state);
    runner.run(30).unwrap();
    let held = emberflow::plumbing::Parent::of(&parsed)
        .base()
        .generated_times();
    assert!(held.len() <= 2, "parsed batches still held: {held:?}");
    let expected: u64 = batches.iter().flatten().map(|(_, v)| v * 2).sum();
    let sum = |b: &Vec<(String, u64)>| b.iter().map(|(_, v)| v).sum::<u64>();
    assert_eq!(sum(windowed.batches().last().unwrap()), expected);
    assert_eq!(sum(totals.batches().last().unwrap()), expected);
}
