//! The kill-point matrix: the crash job aborts itself at the n-th pass of a named point —
//! after a log append and before `store` returns, after the metadata checkpoint and before
//! the batch's jobs, in the middle of writing an output directory, after the outputs and
//! before the completion checkpoint, in the middle of a state checkpoint, during log pruning —
//! and is restarted. Outputs and final state must equal what a straight run gives: nothing
//! lost, nothing twice. `EMBERFLOW_KILL_PASSES` (e.g. `1,2,3,5,8`) runs more passes per point.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Child;
use std::time::Duration;

use common::{drop_file, sums_by_key, JobDirs};

fn passes() -> Vec<u64> {
    std::env::var("EMBERFLOW_KILL_PASSES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 3])
}

/// Waits for a child armed with a kill point to die by it.
fn dies_at_the_kill_point(child: Child, what: &str) {
    let status = common::exit_within(child, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("{what}: the kill point was never reached"));
    assert!(!status.success(), "{what}: the job ended cleanly instead");
}

fn lines(file: usize) -> Vec<String> {
    (0..20)
        .map(|i| format!("k{},{}", (file * 7 + i) % 5, file * 100 + i))
        .collect()
}

fn saved_pairs(job: &JobDirs) -> Vec<String> {
    let mut saved: Vec<String> = common::saved_lines(&job.out)
        .into_iter()
        .map(|l| l.trim_start_matches('(').trim_end_matches(')').to_string())
        .collect();
    saved.sort();
    saved
}

/// Every file of every complete output directory, with its bytes.
fn complete_outputs(job: &JobDirs) -> BTreeMap<String, Vec<(String, Vec<u8>)>> {
    let mut all = BTreeMap::new();
    for dir in common::entries_starting_with(&job.out, "records-") {
        if !dir.join("_SUCCESS").exists() {
            continue;
        }
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        all.insert(
            dir.file_name().unwrap().to_string_lossy().into_owned(),
            files,
        );
    }
    all
}

fn output_inodes(job: &JobDirs) -> BTreeMap<std::path::PathBuf, u64> {
    use std::os::unix::fs::MetadataExt;
    common::entries_starting_with(&job.out, "records-")
        .into_iter()
        .map(|d| {
            let ino = std::fs::metadata(&d).unwrap().ino();
            (d, ino)
        })
        .collect()
}

#[test]
fn file_job_killed_at_every_point_restarts_exactly() {
    for point in [
        "checkpoint-before-jobs",
        "output-mid-write",
        "outputs-before-completion-checkpoint",
        "state-checkpoint-mid-write",
    ] {
        for n in passes() {
            let what = format!("{point}:{n}");
            let job = JobDirs::new();
            let mut all = Vec::new();
            for f in 0..3 {
                all.extend(lines(f));
                drop_file(&job.input, &job.staging, &format!("f{f}.txt"), &lines(f));
            }
            let env = [("EMBERFLOW_KILL_POINT", what.as_str())];
            dies_at_the_kill_point(job.spawn_with_env(&[], &env), &what);
            let before = complete_outputs(&job);
            let inodes = output_inodes(&job);
            // More input while it is down, then a run that stops on its own.
            all.extend(lines(3));
            drop_file(&job.input, &job.staging, "f3.txt", &lines(3));
            let status = job.spawn(&["--run-for-ms", "1500"]).wait().unwrap();
            assert!(status.success(), "{what}: the restarted run ends cleanly");
            // A batch run again after the restart rewrites its output byte for byte.
            let after = complete_outputs(&job);
            for (dir, files) in &before {
                assert_eq!(
                    after.get(dir),
                    Some(files),
                    "{what}: {dir} rewritten differently"
                );
            }
            if point == "outputs-before-completion-checkpoint" {
                let now = output_inodes(&job);
                assert!(
                    inodes.iter().any(|(d, i)| now.get(d) != Some(i)),
                    "{what}: the killed batch was written again"
                );
            }
            let mut want = all.clone();
            want.sort();
            assert_eq!(saved_pairs(&job), want, "{what}: saved records");
            let pairs = all.iter().map(|l| {
                let (k, v) = l.split_once(',').unwrap();
                (k.to_string(), v.parse::<u64>().unwrap())
            });
            assert_eq!(job.final_state(), sums_by_key(pairs), "{what}: final state");
        }
    }
}

#[test]
fn receiver_job_killed_at_every_log_point_loses_and_duplicates_nothing() {
    let total = "1500";
    for point in ["wal-appended", "wal-prune"] {
        for n in passes() {
            let what = format!("{point}:{n}");
            let job = JobDirs::new();
            // Small segments: they roll and are pruned every few batches.
            let args = ["--receiver-total", total, "--wal-roll-bytes", "2048"];
            let env = [("EMBERFLOW_KILL_POINT", what.as_str())];
            dies_at_the_kill_point(job.spawn_with_env(&args, &env), &what);
            let status = job
                .spawn(&[&args[..], &["--run-for-ms", "2500"]].concat())
                .wait()
                .unwrap();
            assert!(status.success(), "{what}: the restarted run ends cleanly");
            let acked = common::assert_receiver_job_exact(&job, &what);
            assert!(acked > 500, "{what}: the source made progress");
        }
    }
}
