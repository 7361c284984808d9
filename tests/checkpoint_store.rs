//! Checkpoint stores and generation fencing, on a directory and on a real S3-compatible
//! server (`scripts/test.sh` starts one and sets EMBERFLOW_S3_ENDPOINT, bucket
//! `emberflow-test`).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

#[cfg(feature = "s3")]
use emberflow::checkpoint_store::ObjectCheckpointStore;
use emberflow::checkpoint_store::{check_graph, CheckpointStore, LocalDirStore, PartitionLease};
use emberflow::prelude::*;
use emberflow::Error as StreamingError;

fn t(ms: u64) -> Time {
    Time::from_millis(ms)
}

/// A fresh prefix of the test bucket.
#[cfg(feature = "s3")]
fn s3(test: &str) -> Arc<dyn CheckpointStore> {
    let endpoint = std::env::var("EMBERFLOW_S3_ENDPOINT").expect(
        "EMBERFLOW_S3_ENDPOINT is not set: run the suite with scripts/test.sh, which starts the S3-compatible server",
    );
    let prefix = format!(
        "s3://emberflow-test/{test}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    Arc::new(
        ObjectCheckpointStore::from_url(
            &prefix,
            [
                ("aws_endpoint", endpoint.as_str()),
                ("aws_allow_http", "true"),
                ("aws_region", "us-east-1"),
                ("aws_access_key_id", "test"),
                ("aws_secret_access_key", "test"),
            ],
        )
        .unwrap(),
    )
}

fn local() -> (tempfile::TempDir, Arc<dyn CheckpointStore>) {
    let dir = common::temp_dir();
    let store = Arc::new(LocalDirStore::new(dir.path().join("ckpt")).unwrap());
    (dir, store)
}

/// What every store must do: atomic create-if-absent, replace, read, list by prefix,
/// delete.
fn objects(store: &dyn CheckpointStore) {
    assert_eq!(store.get("a/x").unwrap(), None);
    assert!(store.put_new("a/x", b"first").unwrap());
    assert!(!store.put_new("a/x", b"second").unwrap());
    assert_eq!(store.get("a/x").unwrap().unwrap(), b"first");
    store.put("a/x", b"replaced").unwrap();
    assert_eq!(store.get("a/x").unwrap().unwrap(), b"replaced");
    store.put("a/y-1", b"1").unwrap();
    store.put("a/b/z", b"z").unwrap();
    store.put("ab", b"ab").unwrap();
    assert_eq!(store.list("a/y").unwrap(), vec!["a/y-1".to_string()]);
    assert_eq!(
        store.list("a/").unwrap(),
        vec!["a/b/z".to_string(), "a/x".into(), "a/y-1".into()]
    );
    assert_eq!(store.list("a").unwrap().len(), 4, "`a` prefixes `ab` too");
    store.delete("a/x").unwrap();
    store.delete("a/x").unwrap();
    assert_eq!(store.get("a/x").unwrap(), None);
    assert!(store.put_new("a/x", b"again").unwrap());
    for bad in ["", "/abs", "a//b", "a/../b", "./a"] {
        assert!(store.put(bad, b"").is_err(), "{bad:?} accepted");
    }
}

/// Leases: the newest claim's checkpoints count; an older owner is fenced, before and after
/// it writes; what it writes after the claim is never read; old checkpoints are pruned.
fn fencing(store: Arc<dyn CheckpointStore>) {
    let p = "orders-3";
    let (a, restored) = PartitionLease::acquire(store.clone(), p, "a").unwrap();
    assert_eq!((restored, a.generation()), (None, 1));
    for i in 1..=5u64 {
        a.commit(t(i * 1000), format!("a{i}").as_bytes()).unwrap();
    }
    let own: Vec<_> = store.list("partitions/orders-3/ckpt-").unwrap();
    assert_eq!(own.len(), 3, "the newest three are kept: {own:?}");

    // b takes over (a is paused): it continues from a's newest.
    let (b, restored) = PartitionLease::acquire(store.clone(), p, "b").unwrap();
    let restored = restored.unwrap();
    assert_eq!(
        (restored.data.as_slice(), restored.time, restored.generation),
        (&b"a5"[..], t(5000), 1)
    );
    assert_eq!(b.generation(), 2);
    b.check().unwrap();

    // a resumes and tries to carry on: fenced, and the next claimant does not see it.
    let err = a.commit(t(6000), b"zombie").unwrap_err();
    assert!(
        matches!(
            err,
            StreamingError::Fenced {
                generation: 1,
                newer: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(a.check().is_err());
    assert_eq!(
        PartitionLease::latest(&*store, p).unwrap().unwrap().data,
        b"a5",
        "b has written nothing yet: its claim names a's batch 5, not the zombie's 6"
    );
    // A zombie that writes past the check (it was paused between its check and its write)
    // is not read either: the store is written directly here, as its `put` would.
    store
        .put(
            "partitions/orders-3/ckpt-00000000000000000001-00000000000000007000",
            b"zombie",
        )
        .unwrap();
    let (c, restored) = PartitionLease::acquire(store.clone(), p, "c").unwrap();
    assert_eq!(restored.unwrap().data, b"a5");
    assert!(b.commit(t(6000), b"b6").is_err(), "b lost it to c");
    c.commit(t(6000), b"c6").unwrap();
    let (d, restored) = PartitionLease::acquire(store.clone(), p, "d").unwrap();
    assert_eq!(restored.unwrap().data, b"c6");
    d.commit(t(7000), b"d7").unwrap();
    // Older generations' checkpoints are gone once the owner wrote its own.
    assert_eq!(
        store.list("partitions/orders-3/ckpt-").unwrap(),
        vec!["partitions/orders-3/ckpt-00000000000000000004-00000000000000007000".to_string()]
    );
}

/// Members racing for one partition get distinct generations; only the newest may write.
fn racing(store: Arc<dyn CheckpointStore>) {
    let leases: Vec<PartitionLease> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let store = store.clone();
                s.spawn(move || {
                    PartitionLease::acquire(store, "clicks-0", &format!("m{i}"))
                        .unwrap()
                        .0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut generations: Vec<u64> = leases.iter().map(|l| l.generation()).collect();
    generations.sort();
    assert_eq!(generations, (1..=6).collect::<Vec<_>>());
    let writable: Vec<u64> = leases
        .iter()
        .filter(|l| l.commit(t(1000), l.member().as_bytes()).is_ok())
        .map(|l| l.generation())
        .collect();
    assert_eq!(writable, vec![6]);
}

fn graphs(store: &dyn CheckpointStore) {
    check_graph(store, "map -> map_with_state -> save").unwrap();
    check_graph(store, "map -> map_with_state -> save").unwrap();
    let err = check_graph(store, "map -> window -> save").unwrap_err();
    assert!(matches!(err, StreamingError::GraphMismatch { .. }), "{err}");
}

#[test]
fn a_directory_store_keeps_objects_atomically() {
    let (_dir, store) = local();
    objects(&*store);
}

#[test]
fn a_directory_store_fences_older_generations() {
    let (_dir, store) = local();
    fencing(store);
}

#[test]
fn a_directory_store_gives_racing_members_one_generation_each() {
    let (_dir, store) = local();
    racing(store);
}

#[test]
fn a_directory_store_refuses_a_different_graph() {
    let (_dir, store) = local();
    graphs(&*store);
}

#[cfg(feature = "s3")]
#[test]
fn an_s3_store_keeps_objects_atomically() {
    objects(&*s3("objects"));
}

#[cfg(feature = "s3")]
#[test]
fn an_s3_store_fences_older_generations() {
    fencing(s3("fencing"));
}

#[cfg(feature = "s3")]
#[test]
fn an_s3_store_gives_racing_members_one_generation_each() {
    racing(s3("racing"));
}

#[cfg(feature = "s3")]
#[test]
fn an_s3_store_refuses_a_different_graph() {
    graphs(&*s3("graphs"));
}
