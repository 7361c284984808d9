//! The scheduler: failures become errors, shuffle outputs are reused, contexts are
//! independent, long lineages run.
#![allow(clippy::unwrap_used)] // helpers of tests fail loudly

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use emberflow::prelude::*;

#[test]
fn a_panicking_closure_fails_the_job_and_the_context_lives_on() {
    let ctx = Context::local(2);
    let rdd = ctx
        .parallelize((0..100).collect::<Vec<i32>>(), 4)
        .map(|x| if x == 60 { panic!("bad record {x}") } else { x })
        .set_name("risky");
    let err = rdd.count().unwrap_err();
    match &err {
        CoreError::Task {
            rdd,
            partition,
            message,
        } => {
            assert!(rdd.starts_with("risky["), "{rdd}");
            assert_eq!(*partition, 2, "record 60 is in partition 2 of 4");
            assert!(message.contains("bad record 60"), "{message}");
        }
        other => panic!("expected a task error, got {other:?}"),
    }
    assert!(err.to_string().contains("partition 2"));
    // The context still works, for the same and for other RDDs.
    assert_eq!(ctx.parallelize(vec![1, 2, 3], 2).count().unwrap(), 3);
    // Running the failing lineage again fails again, the same way.
    assert!(matches!(
        rdd.filter(|_| false).count(),
        Err(CoreError::Task { partition: 2, .. })
    ));
}

#[test]
fn a_panic_in_a_map_stage_names_the_shuffled_parent() {
    let ctx = Context::local(2);
    let rdd = ctx
        .parallelize(vec![("a", 1), ("b", 2)], 2)
        .map(|(k, v)| if v == 2 { panic!("boom") } else { (k, v) })
        .set_name("before_shuffle")
        .reduce_by_key(|a, b| a + b);
    match rdd.collect() {
        Err(CoreError::Task { rdd, partition, .. }) => {
            assert!(rdd.starts_with("before_shuffle["), "{rdd}");
            assert_eq!(partition, 1);
        }
        other => panic!("expected a task error, got {other:?}"),
    }
}

#[test]
fn shuffle_outputs_are_reused_by_later_jobs() {
    let ctx = Context::local(2);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let reduced = ctx
        .parallelize((0..1000).collect::<Vec<u32>>(), 4)
        .map(move |x| {
            c.fetch_add(1, Ordering::Relaxed);
            (x % 10, 1u64)
        })
        .reduce_by_key(|a, b| a + b);
    assert_eq!(reduced.count().unwrap(), 10);
    assert_eq!(calls.load(Ordering::Relaxed), 1000);
    let doubled = reduced.map_values(|v| v * 2);
    assert_eq!(doubled.values().reduce(|a, b| a + b).unwrap(), 2000);
    assert_eq!(
        calls.load(Ordering::Relaxed),
        1000,
        "the map stage ran once"
    );
}

#[test]
fn multi_stage_jobs_run_parents_first() {
    let ctx = Context::local(2);
    let words = ctx.parallelize(vec!["a", "b", "a", "c", "a", "b"], 3);
    let by_count = words
        .map(|w| (w, 1u32))
        .reduce_by_key(|a, b| a + b)
        .map(|(w, c)| (c, w))
        .group_by_key()
        .sort_by_key(false);
    let got = by_count.collect().unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], (3, vec!["a"]));
    assert_eq!(got[1], (2, vec!["b"]));
    assert_eq!(got[2], (1, vec!["c"]));
}

#[test]
fn contexts_are_independent_and_use_their_own_pools() {
    let a = Context::new(Config::new().threads(3).app_name("alpha"));
    let b = Context::new(Config::new().threads(1).app_name("beta"));
    assert_eq!(a.threads(), 3);
    assert_eq!(b.threads(), 1);
    let names = |ctx: &Context| {
        ctx.parallelize((0..64).collect::<Vec<i32>>(), 16)
            .map(|_| std::thread::current().name().unwrap_or("").to_owned())
            .collect()
            .unwrap()
    };
    let (na, nb) = std::thread::scope(|s| {
        let ha = s.spawn(|| names(&a));
        let hb = s.spawn(|| names(&b));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    assert!(na.iter().all(|n| n.starts_with("alpha-worker-")), "{na:?}");
    assert!(nb.iter().all(|n| n == "beta-worker-0"), "{nb:?}");
    let distinct: std::collections::HashSet<_> = na.into_iter().collect();
    assert!(distinct.len() <= 3);
    // Same ids in both contexts: no shared counters.
    assert_eq!(
        a.parallelize(vec![1], 1).id(),
        b.parallelize(vec![1], 1).id()
    );
}

#[test]
fn ten_thousand_chained_maps_with_a_shuffle() {
    let ctx = Context::local(2);
    let mut rdd = ctx.parallelize((0..50u64).collect(), 2);
    for i in 0..10_000u64 {
        rdd = rdd.map(move |x| x + (i % 2));
    }
    let grouped = rdd.map(|x| (x % 5, x)).reduce_by_key(|a, b| a + b);
    let total: u64 = grouped.values().collect().unwrap().iter().sum();
    assert_eq!(total, (0..50u64).sum::<u64>() + 50 * 5_000);
}

#[test]
fn errors_and_handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Error>();
    assert_send_sync::<Rdd<(String, u64)>>();
    assert_send_sync::<Context>();
}
