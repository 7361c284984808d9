//! Text input and output, persistence and checkpoints: round trips on real files, and damage
//! detected.
#![allow(clippy::unwrap_used)] // helpers of tests fail loudly

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::temp_dir;
use emberflow::prelude::*;

fn counted(ctx: &Context, calls: &Arc<AtomicUsize>) -> Rdd<(u32, String)> {
    let c = calls.clone();
    ctx.parallelize((0..300u32).collect(), 3).map(move |i| {
        c.fetch_add(1, Ordering::Relaxed);
        (i % 17, format!("v{i}"))
    })
}

#[test]
fn text_file_reads_every_line_once_for_any_split_count() {
    let dir = temp_dir();
    let path = dir.path().join("lines.txt");
    let lines: Vec<String> = (0..2000)
        .map(|i| "x".repeat(i % 37) + &i.to_string())
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let ctx = Context::local(2);
    for min in [1, 2, 3, 7, 16, 64] {
        let rdd = ctx.text_file(&path, min).unwrap();
        assert!(
            rdd.num_partitions() >= min,
            "{} < {min}",
            rdd.num_partitions()
        );
        assert_eq!(rdd.collect().unwrap(), lines, "min_partitions {min}");
    }
}

#[test]
fn text_file_line_endings_and_encoding() {
    let dir = temp_dir();
    let path = dir.path().join("mixed.txt");
    std::fs::write(&path, b"a\r\nb\n\nlast-no-newline\xff").unwrap();
    let ctx = Context::local(2);
    let got = ctx.text_file(&path, 3).unwrap().collect().unwrap();
    assert_eq!(got, vec!["a", "b", "", "last-no-newline\u{fffd}"]);
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(ctx.text_file(&empty, 4).unwrap().count().unwrap(), 0);
}

/// Lines are read from the reader's buffer where they lie whole in it (256 KiB) and copied out
/// where they run past it: lines longer than the buffer or across its edge, `\r\n` and
/// invalid UTF-8 on either path all read as they are, record by record and in chunks.
#[test]
fn text_file_reads_lines_longer_than_and_across_its_read_buffer() {
    let dir = temp_dir();
    let path = dir.path().join("long.txt");
    let mut bytes = Vec::new();
    let mut expected = Vec::new();
    for i in 0..400usize {
        let mut line = "w".repeat((i * 7919) % 9000) + &i.to_string();
        if i % 50 == 7 {
            line += &"long".repeat(80_000); // 320 KB: longer than the buffer
        }
        let bad = i % 31 == 3;
        bytes.extend_from_slice(line.as_bytes());
        if bad {
            bytes.push(0xff);
            line.push('\u{fffd}');
        }
        bytes.extend_from_slice(if i % 3 == 0 { b"\r\n" } else { b"\n" });
        expected.push(line);
    }
    let line = "e".repeat(300 << 10);
    bytes.extend_from_slice(line.as_bytes());
    bytes.extend_from_slice(b"\r\nlast");
    expected.push(line);
    expected.push("last".to_string());
    std::fs::write(&path, &bytes).unwrap();
    let ctx = Context::local(2);
    for min in [1, 3, 7] {
        let rdd = ctx.text_file(&path, min).unwrap();
        assert_eq!(
            rdd.collect().unwrap(),
            expected,
            "records, min_partitions {min}"
        );
        let chunked = rdd.map(|l| l).collect().unwrap();
        assert_eq!(chunked, expected, "chunks, min_partitions {min}");
    }
}

#[test]
fn text_file_reads_directories_and_globs_and_reports_missing_paths() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("b.txt"), "b1\nb2\n").unwrap();
    std::fs::write(dir.path().join("a.txt"), "a1\n").unwrap();
    std::fs::write(dir.path().join("c.log"), "c1\n").unwrap();
    std::fs::write(dir.path().join(".hidden"), "no\n").unwrap();
    std::fs::write(dir.path().join("_SUCCESS"), "").unwrap();
    let ctx = Context::local(2);
    assert_eq!(
        ctx.text_file(dir.path(), 1).unwrap().collect().unwrap(),
        vec!["a1", "b1", "b2", "c1"]
    );
    assert_eq!(
        ctx.text_file(dir.path().join("*.txt"), 1)
            .unwrap()
            .collect()
            .unwrap(),
        vec!["a1", "b1", "b2"]
    );
    let missing = ctx.text_file(dir.path().join("nope"), 1).unwrap_err();
    assert!(
        matches!(missing, CoreError::InputNotFound { .. }),
        "{missing}"
    );
    assert!(ctx.text_file(dir.path().join("*.csv"), 1).is_err());
}

#[test]
fn save_as_text_file_round_trips_and_is_atomic() {
    let dir = temp_dir();
    let out = dir.path().join("out");
    let ctx = Context::local(2);
    let rdd = ctx.parallelize(vec![("a".to_string(), 1u64), ("b".to_string(), 2)], 3);
    rdd.save_as_text_file(&out).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    );
    assert_eq!(
        std::fs::read_to_string(out.join("part-00001")).unwrap(),
        "(a,1)\n"
    );
    assert_eq!(
        ctx.text_file(&out, 1).unwrap().collect().unwrap(),
        vec!["(a,1)", "(b,2)"]
    );
    // A second save to the same place is refused; the replacing form rewrites it.
    assert!(matches!(
        rdd.save_as_text_file(&out),
        Err(CoreError::OutputExists { .. })
    ));
    rdd.map(|(k, v)| (k, v * 10))
        .save_as_text_file_replacing(&out)
        .unwrap();
    assert_eq!(
        ctx.text_file(&out, 1).unwrap().collect().unwrap(),
        vec!["(a,10)", "(b,20)"]
    );
    // A failing job leaves neither the target nor a temporary directory behind.
    let failed = dir.path().join("failed");
    let err = rdd
        .map(|x| if x.1 == 2 { panic!("no") } else { x })
        .save_as_text_file(&failed);
    assert!(err.is_err());
    assert!(!failed.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn every_storage_level_computes_once_and_unpersist_recomputes() {
    for level in [
        StorageLevel::MemoryOnly,
        StorageLevel::MemoryOnlySer,
        StorageLevel::DiskOnly,
    ] {
        let ctx = Context::local(2);
        let calls = Arc::new(AtomicUsize::new(0));
        let rdd = counted(&ctx, &calls).persist(level);
        assert_eq!(rdd.storage_level(), Some(level));
        let first = rdd.collect().unwrap();
        let second = rdd.collect().unwrap();
        assert_eq!(first, second, "{level:?}");
        assert_eq!(
            calls.load(Ordering::Relaxed),
            300,
            "{level:?}: computed once"
        );
        assert_eq!(rdd.reduce_by_key(|a, _| a).count().unwrap(), 17);
        assert_eq!(
            calls.load(Ordering::Relaxed),
            300,
            "{level:?}: a shuffle reads the blocks"
        );
        rdd.unpersist();
        assert_eq!(rdd.count().unwrap(), 300);
        assert_eq!(
            calls.load(Ordering::Relaxed),
            600,
            "{level:?}: recomputed after unpersist"
        );
    }
    let ctx = Context::local(2);
    let calls = Arc::new(AtomicUsize::new(0));
    let cached = counted(&ctx, &calls).cache();
    cached.count().unwrap();
    cached.count().unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 300);
}

/// Two tasks of one stage that read the same cached partition (a union of two branches of
/// it) compute it once: the second waits for the first's block. The partition's computation
/// holds on until a second computation of it starts, which ends its wait at once where the
/// partition is computed twice; otherwise the wait runs out after a guard interval.
#[test]
fn a_cached_partition_two_tasks_need_at_once_is_computed_once() {
    use std::sync::{Condvar, Mutex};
    for level in [
        StorageLevel::MemoryOnly,
        StorageLevel::MemoryOnlySer,
        StorageLevel::DiskOnly,
    ] {
        let ctx = Context::local(2);
        let started = Arc::new((Mutex::new(0u32), Condvar::new()));
        let s = started.clone();
        let cached = ctx
            .parallelize((0..1000u32).collect(), 1)
            .map(move |x| {
                if x == 0 {
                    let (n, cv) = &*s;
                    let mut n = n.lock().unwrap();
                    *n += 1;
                    cv.notify_all();
                    let guard = std::time::Duration::from_millis(300);
                    let _ = cv.wait_timeout_while(n, guard, |n| *n < 2).unwrap();
                }
                x
            })
            .persist(level);
        let both = cached.map(|x| x + 1).union(&cached.map(|x| x * 2));
        assert_eq!(both.count().unwrap(), 2000, "{level:?}");
        assert_eq!(*started.0.lock().unwrap(), 1, "{level:?}: computed once");
    }
}

#[test]
fn checkpoint_truncates_lineage_and_reads_back() {
    let dir = temp_dir();
    let ctx = Context::local(2);
    let calls = Arc::new(AtomicUsize::new(0));
    let rdd = counted(&ctx, &calls).reduce_by_key(|a, b| a + &b);
    assert!(matches!(rdd.checkpoint(), Err(CoreError::NoCheckpointDir)));
    ctx.set_checkpoint_dir(dir.path());
    let before = rdd.collect().unwrap();
    let computed = calls.load(Ordering::Relaxed);
    assert_eq!(rdd.checkpoint_path(), None);
    rdd.checkpoint().unwrap();
    assert!(rdd.is_checkpointed());
    let lineage = rdd.to_debug_string();
    assert!(
        !lineage.contains("parallelize"),
        "lineage is cut: {lineage}"
    );
    assert_eq!(rdd.collect().unwrap(), before);
    assert_eq!(rdd.map(|x| x.0).count().unwrap(), 17);
    assert_eq!(
        calls.load(Ordering::Relaxed),
        computed,
        "reads come from the checkpoint"
    );
    // The files can be read back by a new context, as recovery does.
    let rdd_dir = rdd.checkpoint_path().unwrap();
    assert!(rdd_dir.starts_with(dir.path()));
    let other = Context::local(1);
    let back: Rdd<(u32, String)> = other.checkpoint_file(&rdd_dir).unwrap();
    assert_eq!(back.collect().unwrap(), before);
}

#[test]
fn corrupt_checkpoint_files_are_named_in_the_error() {
    let dir = temp_dir();
    let ctx = Context::local(2);
    ctx.set_checkpoint_dir(dir.path());
    let rdd = ctx.parallelize((0..100u64).collect(), 4);
    rdd.checkpoint().unwrap();
    let rdd_dir = rdd.checkpoint_path().unwrap();
    assert!(rdd_dir.starts_with(dir.path()));
    let part = rdd_dir.join("part-00002");
    let mut bytes = std::fs::read(&part).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&part, &bytes).unwrap();
    match rdd.collect() {
        Err(CoreError::CorruptCheckpoint { path, reason }) => {
            assert_eq!(path, part);
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected a corrupt checkpoint error, got {other:?}"),
    }
    // Partitions that are intact still read.
    assert_eq!(rdd.take(5).unwrap(), vec![0, 1, 2, 3, 4]);
    std::fs::remove_file(rdd_dir.join("part-00001")).unwrap();
    let missing = Context::local(1)
        .checkpoint_file::<u64>(&rdd_dir)
        .unwrap_err();
    assert!(
        matches!(&missing, CoreError::CorruptCheckpoint { path, .. } if path.ends_with("part-00001")),
        "{missing}"
    );
}

#[test]
fn local_checkpoint_truncates_without_files() {
    let ctx = Context::local(2);
    let calls = Arc::new(AtomicUsize::new(0));
    let rdd = counted(&ctx, &calls).filter(|x| x.0 < 5);
    rdd.local_checkpoint().unwrap();
    let n = calls.load(Ordering::Relaxed);
    assert!(rdd.is_checkpointed());
    assert_eq!(rdd.count().unwrap(), rdd.collect().unwrap().len() as u64);
    assert_eq!(rdd.map(|x| x.0).distinct().count().unwrap(), 5);
    assert_eq!(calls.load(Ordering::Relaxed), n);
}
