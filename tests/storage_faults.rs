//! Storage that fails under a running job, injected from outside the process: a failing-disk
//! library loaded with LD_PRELOAD (chosen fsync, write and rename calls of the job fail with
//! EIO or ENOSPC), a file-size limit (`ulimit -f`, the kernel refusing writes with EFBIG as a
//! full disk refuses them with ENOSPC) under the receiver's write-ahead log, and a checkpoint
//! directory that stops being a directory. Each fault is either retried (a refused store is
//! stored again) or stops the job with an error; after a restart, nothing acknowledged is
//! lost and nothing is counted twice.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{drop_file, sums_by_key, JobDirs};

/// Log writes past 48 KiB fail: the store is refused (the receiver retries it), the segment
/// is given up, and a fresh one takes the retry.
#[test]
fn a_log_write_refused_by_the_kernel_is_retried_and_nothing_acknowledged_is_lost() {
    let job = JobDirs::new();
    // Far more than 48 KiB of log: the limit is reached early however slow the machine.
    let total = "9000";
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
            "6000",
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
    assert_file_job_exact(&job, &all, "checkpoint directory gone");
}

/// The failing-disk library (tests/support/failing_io.c), built once per test run.
fn failing_io() -> &'static str {
    static BUILT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("libfailing_io.so");
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/failing_io.c");
        let status = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-O1", "-o"])
            .arg(&out)
            .arg(src)
            .arg("-ldl")
            .status()
            .expect("a C compiler (cc) builds the failing-disk library");
        assert!(status.success(), "cc {src}");
        out.to_str().unwrap().to_owned()
    })
}

/// Starts the job with the disk failing as `rule` says (see failing_io.c); the calls that
/// failed are listed in `out/failed-calls.log`.
fn spawn_on_failing_disk(job: &JobDirs, extra: &[&str], rule: &str) -> std::process::Child {
    let log = job.out.join("failed-calls.log");
    job.spawn_with_env(
        extra,
        &[
            ("LD_PRELOAD", failing_io()),
            ("EMBERFLOW_FAIL", rule),
            ("EMBERFLOW_FAIL_LOG", log.to_str().unwrap()),
        ],
    )
}

fn failed_calls(job: &JobDirs) -> Vec<String> {
    std::fs::read_to_string(job.out.join("failed-calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Every line of `all` saved once, and the final sums equal to them.
fn assert_file_job_exact(job: &JobDirs, all: &[String], what: &str) {
    let mut saved: Vec<String> = common::saved_lines(&job.out)
        .into_iter()
        .map(|l| l.trim_start_matches('(').trim_end_matches(')').to_string())
        .collect();
    saved.sort();
    let mut want = all.to_vec();
    want.sort();
    assert_eq!(saved, want, "{what}: saved records");
    let pairs = all.iter().map(|l| {
        let (k, v) = l.split_once(',').unwrap();
        (k.to_string(), v.parse::<u64>().unwrap())
    });
    assert_eq!(job.final_state(), sums_by_key(pairs), "{what}: final state");
}

/// Runs the file-stream job on a disk failing as `rule` says while files arrive; then, if
/// it stopped with an error, restarts it on a good disk. Nothing is lost or counted twice.
fn file_job_on_failing_disk(rule: &str, stops: bool) -> Vec<String> {
    let job = JobDirs::new();
    let mut all = Vec::new();
    for f in 0..2 {
        all.extend(lines(f));
        drop_file(&job.input, &job.staging, &format!("f{f}.txt"), &lines(f));
    }
    let child = spawn_on_failing_disk(&job, &["--run-for-ms", "2500"], rule);
    // More files while it runs (or after it stopped: the restart reads them).
    for f in 2..6 {
        all.extend(lines(f));
        drop_file(&job.input, &job.staging, &format!("f{f}.txt"), &lines(f));
    }
    let status = common::exit_within(child, Duration::from_secs(60)).expect("the job hung");
    let failed = failed_calls(&job);
    assert!(!failed.is_empty(), "{rule}: the fault happened");
    assert_eq!(
        !status.success(),
        stops,
        "{rule}: stops with an error: {status:?}"
    );
    let status = job.spawn(&["--run-for-ms", "1500"]).wait().unwrap();
    assert!(status.success());
    assert_file_job_exact(&job, &all, rule);
    failed
}

#[test]
fn fsyncs_of_the_log_that_fail_refuse_the_store_and_nothing_acknowledged_is_lost() {
    let job = JobDirs::new();
    let total = "3000";
    // The 5th to 7th fsyncs of the receiver's log fail with EIO.
    let status = spawn_on_failing_disk(
        &job,
        &["--receiver-total", total, "--run-for-ms", "3000"],
        "fsync:received:5:3",
    )
    .wait()
    .unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(failed_calls(&job).len(), 3);
    let refused = std::fs::read_to_string(job.out.join("refused.log")).unwrap_or_default();
    assert!(refused.contains("Input/output error"), "{refused:?}");
    let status = job
        .spawn(&["--receiver-total", total, "--run-for-ms", "2500"])
        .wait()
        .unwrap();
    assert!(status.success());
    common::assert_receiver_job_exact(&job, "log fsyncs failing");
}

/// A stream that keeps generating batches fsyncs one metadata checkpoint per batch, its
/// generation's: a completion checkpoint is written without an fsync of its own and the next
/// generation's makes it old (group commit). So the second checkpoint file fsynced (a
/// temporary `.checkpoint-` file, written before its rename) is the second batch's
/// generation, whose failed fsync is retried and the job goes on; were completions fsynced,
/// it would be the first batch's completion checkpoint, whose failure the job reports.
#[test]
fn a_batch_fsyncs_one_metadata_checkpoint_and_its_completion_rides_on_the_next() {
    let failed = file_job_on_failing_disk("fsync:.checkpoint-:2:1", false);
    assert_eq!(failed.len(), 1, "{failed:?}");
}

/// The last completion checkpoint, which no generation follows, is made durable when the
/// job stops: its file is fsynced under its final name (the only fsync of that kind; made to
/// fail here so that the log shows it).
#[test]
fn the_last_completion_checkpoint_is_fsynced_when_the_job_stops() {
    let job = JobDirs::new();
    drop_file(&job.input, &job.staging, "f0.txt", &lines(0));
    let status = spawn_on_failing_disk(&job, &["--run-for-ms", "1000"], "fsync:/checkpoint-:1:0")
        .wait()
        .unwrap();
    let failed = failed_calls(&job);
    assert!(
        failed
            .iter()
            .any(|c| c.starts_with("fsync ") && c.contains("/checkpoint-")),
        "{status:?}: {failed:?}"
    );
}

#[test]
fn a_metadata_checkpoint_rename_that_fails_once_is_retried_and_the_job_goes_on() {
    let failed = file_job_on_failing_disk("rename:checkpoint-:3:1", false);
    assert_eq!(failed.len(), 1, "{failed:?}");
}

#[test]
fn metadata_checkpoint_fsyncs_that_keep_failing_stop_the_job_and_a_restart_loses_nothing() {
    file_job_on_failing_disk("fsync:checkpoint-:4:0", true);
}

#[test]
fn output_writes_on_a_failing_disk_fail_the_batch_and_a_restart_writes_it_again() {
    // Every write into an output directory from the 2nd on fails with ENOSPC.
    file_job_on_failing_disk("write:records-:2:0", true);
}

#[test]
fn output_renames_that_fail_fail_the_batch_and_a_restart_writes_it_again() {
    file_job_on_failing_disk("rename:records-:2:0", true);
}

#[test]
fn a_state_checkpoint_on_a_failing_disk_fails_the_batch_and_a_restart_loses_nothing() {
    file_job_on_failing_disk("write:/rdd-:2:0", true);
}
