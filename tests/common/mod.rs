//! Helpers shared by the integration tests: the input shapes every operation is checked on,
//! and plain-Rust models of the operations.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use emberflow::prelude::*;

/// A named input: the RDD and the same records as a plain vector.
pub struct Shape {
    pub name: &'static str,
    pub rdd: Rdd<(u32, i64)>,
    pub data: Vec<(u32, i64)>,
}

/// The shapes every operation must handle: no partitions, only empty partitions, one
/// partition, more partitions than records, one hot key, and an ordinary mix.
pub fn shapes(ctx: &Context) -> Vec<Shape> {
    let mix: Vec<(u32, i64)> = (0..200)
        .map(|i| ((i * 7 % 13) as u32, i as i64 - 50))
        .collect();
    let skewed: Vec<(u32, i64)> = (0..5000)
        .map(|i| (if i % 50 == 0 { i as u32 } else { 1 }, i as i64))
        .collect();
    let few = vec![(3, 30), (1, 10), (3, 31)];
    vec![
        Shape {
            name: "no partitions",
            rdd: ctx.empty(),
            data: vec![],
        },
        Shape {
            name: "empty partitions",
            rdd: ctx.parallelize(vec![], 4),
            data: vec![],
        },
        Shape {
            name: "one partition",
            rdd: ctx.parallelize(mix.clone(), 1),
            data: mix.clone(),
        },
        Shape {
            name: "more partitions than records",
            rdd: ctx.parallelize(few.clone(), 10),
            data: few,
        },
        Shape {
            name: "skewed keys",
            rdd: ctx.parallelize(skewed.clone(), 4),
            data: skewed,
        },
        Shape {
            name: "mix",
            rdd: ctx.parallelize(mix.clone(), 3),
            data: mix,
        },
    ]
}

/// Records sorted, for comparing results whose order is not defined.
pub fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// Groups values by key, in input order: the model of group_by_key.
pub fn group<K: Ord + Clone, V: Clone>(data: &[(K, V)]) -> BTreeMap<K, Vec<V>> {
    let mut m: BTreeMap<K, Vec<V>> = BTreeMap::new();
    for (k, v) in data {
        m.entry(k.clone()).or_default().push(v.clone());
    }
    m
}

/// A fresh temporary directory for one test.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create a temp dir")
}

/// Every line of the complete (`_SUCCESS`) `records-*` output directories under `out`.
pub fn saved_lines(out: &std::path::Path) -> Vec<String> {
    let mut saved = Vec::new();
    for entry in std::fs::read_dir(out).expect("output dir") {
        let dir = entry.expect("entry").path();
        let name = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if !name.starts_with("records-") || !dir.join("_SUCCESS").exists() {
            continue;
        }
        for part in std::fs::read_dir(&dir).expect("batch dir") {
            let part = part.expect("entry").path();
            if part
                .file_name()
                .expect("name")
                .to_string_lossy()
                .starts_with("part-")
            {
                saved.extend(
                    std::fs::read_to_string(&part)
                        .expect("part")
                        .lines()
                        .map(str::to_owned),
                );
            }
        }
    }
    saved
}

/// The value of each saved `(k,v)` record line.
pub fn saved_values(out: &std::path::Path) -> Vec<u64> {
    saved_lines(out)
        .iter()
        .map(|l| {
            let v = l
                .trim_start_matches('(')
                .trim_end_matches(')')
                .split(',')
                .nth(1)
                .expect("a (k,v) record");
            v.parse().expect("a number")
        })
        .collect()
}
