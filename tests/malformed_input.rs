//! Awkward input through the file stream, on the manual clock: invalid UTF-8, a 50 MB line,
//! NUL bytes, CRLF line ends, a last line without a newline and empty files. Every line is
//! read once, as the batch job reads the same files; nothing is dropped silently.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::OpenOptions;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use emberflow::prelude::*;
use emberflow::testing::BatchRunner;

const S: Duration = Duration::from_secs(1);

/// Writes `bytes` to `dir/name`, dated inside the batch at `batch_ms`.
fn put(dir: &Path, name: &str, bytes: &[u8], batch_ms: u64) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_millis(batch_ms - 500))
        .unwrap();
}

#[test]
fn awkward_files_give_every_line_once_as_the_batch_job_reads_them() {
    let dir = common::temp_dir();
    let big = "x".repeat(50 << 20);
    put(
        dir.path(),
        "utf8.txt",
        b"ok\n\xff\xfebad\xc3\nafter\n",
        1000,
    );
    put(
        dir.path(),
        "big.txt",
        format!("a\n{big}\nb\n").as_bytes(),
        1000,
    );
    put(dir.path(), "nul.txt", b"n\0ul\n\0\n", 2000);
    put(dir.path(), "crlf.txt", b"one\r\ntwo\r\n\r\nlast", 2000);
    put(dir.path(), "empty.txt", b"", 2000);
    put(dir.path(), "empty2.txt", b"", 3000);
    let runner = BatchRunner::new(S);
    // Lines keep their bytes; the big one is compared by length.
    let lines = runner
        .ssc()
        .file_stream(dir.path(), |_| true, false)
        .map(|l: String| {
            if l.len() > 1000 {
                format!("<{} bytes of x>", l.len())
            } else {
                l
            }
        });
    let out = runner.collect(&lines);
    let infos = runner.run(3).unwrap();
    assert!(
        infos.iter().all(emberflow::BatchInfo::succeeded),
        "{infos:?}"
    );
    let by_time = out.by_time();
    let batch = |ms: u64| {
        common::sorted(
            by_time
                .get(&Time::from_millis(ms))
                .cloned()
                .unwrap_or_default(),
        )
    };
    assert_eq!(
        batch(1000),
        common::sorted(vec![
            "ok".to_string(),
            "\u{fffd}\u{fffd}bad\u{fffd}".to_string(),
            "after".to_string(),
            "a".to_string(),
            format!("<{} bytes of x>", 50 << 20),
            "b".to_string(),
        ])
    );
    assert_eq!(
        batch(2000),
        common::sorted(
            ["n\0ul", "\0", "one", "two", "", "last"]
                .map(String::from)
                .to_vec()
        )
    );
    assert!(batch(3000).is_empty());
    // The same files read by the batch job give the same lines.
    let all: Vec<String> = by_time.values().flatten().cloned().collect();
    let batch_job: Vec<String> = runner
        .context()
        .text_file(dir.path(), 2)
        .unwrap()
        .map(|l: String| {
            if l.len() > 1000 {
                format!("<{} bytes of x>", l.len())
            } else {
                l
            }
        })
        .collect()
        .unwrap();
    assert_eq!(common::sorted(all), common::sorted(batch_job));
}
