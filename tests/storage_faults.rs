//! Storage that fails under a running job, injected from outside the process: a file-size
//! limit (`ulimit -f`, the kernel refusing writes with EFBIG as a full disk refuses them with
//! ENOSPC) under the receiver's write-ahead log, and a checkpoint directory that stops being
//! a directory. Each fault is either retried (a refused store is stored again) or stops the
//! job with an error; after a restart, nothing acknowledged is lost and nothing is counted
//! twice.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{drop_file, sums_by_key, JobDirs};

/// Log writes past 48 KiB fail: the store is refused (the receiver retries it), the segment
/// is given up, and a fresh one takes the retry.
#[test]
fn a_log_write_refused_by_the_kernel_is_retried_and_nothing_acknowledged_is_lost() {
    let job = JobDirs::new();
    let total = "3000";
    let job_bin = env!("CARGO_BIN_EXE_emberflow-crash-job");
    // SIGXFSZ ignored: the write fails with EFBIG instead of killing the process.
    let status = std::process::Command::new("bash")
        .args([
            "-c",
            "trap '' XFSZ; ulimit -f 48; exec \"$@\"",
            "limit",
            job_bin,
            "--in",
            job.input.to_str().unwrap(),
            "--out",
            job.out.to_str().unwrap(),
            "--checkpoint",
            job.ckpt.to_str().unwrap(),
            "--batch-ms",
            "100",
            "--receiver-total",
            total,
            "--run-for-ms",
            "4000",
        ])
        .status()
        .unwrap();
    assert!(status.success(), "the limited run ends cleanly: {status:?}");
    let refused = std::fs::read_to_string(job.out.join("refused.log")).unwrap_or_default();
    assert!(
        refused.contains("File too large"),
        "the fault happened: {refused:?}"
    );
    // A run without the limit finishes the sequence.
    let status = job
        .spawn(&["--receiver-total", total, "--run-for-ms", "2500"])
        .wait()
        .unwrap();
    assert!(status.success());
    common::assert_receiver_job_exact(&job, "log writes refused");
}

fn lines(file: usize) -> Vec<String> {
    (0..20)
        .map(|i| format!("k{},{}", i % 4, file * 100 + i))
        .collect()
}

/// The checkpoint directory is swapped for a plain file while the job runs: the metadata
/// checkpoint cannot be written, the batch's jobs do not run, and the job stops with an
/// error. With the directory back, a restart processes everything exactly once.
#[test]
fn a_metadata_checkpoint_that_cannot_be_written_stops_the_job_and_loses_nothing() {
    let job = JobDirs::new();
    let mut all = Vec::new();
    for f in 0..2 {
        all.extend(lines(f));
        drop_file(&job.input, &job.staging, &format!("f{f}.txt"), &lines(f));
    }
    let child = job.spawn(&[]);
    // Wait (on the real process) until it has checkpointed, then pull the directory away.
    common::wait_for_lines(&job.out.join("final.txt"), 4);
    let aside = job.ckpt.with_extension("aside");
    std::fs::rename(&job.ckpt, &aside).unwrap();
    std::fs::write(&job.ckpt, b"not a directory").unwrap();
    all.extend(lines(2));
    drop_file(&job.input, &job.staging, "f2.txt", &lines(2));
    let status = common::exit_within(child, Duration::from_secs(30))
        .expect("the job went on without its checkpoints");
    assert!(!status.success(), "the job stops with an error");
    // Storage is back.
    std::fs::remove_file(&job.ckpt).unwrap();
    std::fs::rename(&aside, &job.ckpt).unwrap();
    let status = job.spawn(&["--run-for-ms", "1500"]).wait().unwrap();
    assert!(status.success());
    let mut saved: Vec<String> = common::saved_lines(&job.out)
        .into_iter()
        .map(|l| l.trim_start_matches('(').trim_end_matches(')').to_string())
        .collect();
    saved.sort();
    let mut want = all.clone();
    want.sort();
    assert_eq!(saved, want);
    let pairs = all.iter().map(|l| {
        let (k, v) = l.split_once(',').unwrap();
        (k.to_string(), v.parse::<u64>().unwrap())
    });
    assert_eq!(job.final_state(), sums_by_key(pairs));
}
