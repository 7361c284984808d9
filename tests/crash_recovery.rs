//! Crash tests with real processes: a stateful file-stream job with checkpointing is killed
//! with SIGKILL at random moments (seeded) and restarted with the same directories, again and
//! again, while files keep arriving. At the end, the union of its saved outputs holds every
//! input record exactly once, and its final state equals the sums over all input: nothing
//! lost, nothing counted twice. Waits here are on a real process, as they must be.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{drop_file, env_or, sums_by_key, JobDirs, Rng};

/// `(key, value)` of a `k,v` line.
fn pair(line: &str) -> (String, u64) {
    let (k, v) = line.split_once(',').unwrap();
    (k.to_string(), v.parse().unwrap())
}

#[test]
fn killed_and_restarted_twenty_times_nothing_lost_nothing_duplicated() {
    let kills: usize = env_or("EMBERFLOW_CRASH_KILLS", 20);
    let seed: u64 = env_or("EMBERFLOW_CRASH_SEED", 0x5eed);
    println!("crash test: {kills} kills, seed {seed:#x}");
    let job = JobDirs::new();
    let mut rng = Rng(seed);
    let mut all: Vec<String> = Vec::new();
    let mut file_no = 0;
    let mut new_file = |rng: &mut Rng, all: &mut Vec<String>| {
        let lines: Vec<String> = (0..20)
            .map(|_| format!("k{},{}", rng.next() % 7, rng.next() % 1000))
            .collect();
        all.extend(lines.iter().cloned());
        drop_file(
            &job.input,
            &job.staging,
            &format!("part-{file_no:04}.txt"),
            &lines,
        );
        file_no += 1;
    };
    for round in 0..kills {
        for _ in 0..(1 + rng.next() % 3) {
            new_file(&mut rng, &mut all);
        }
        let mut child = job.spawn(&[]);
        // Let it run a random while, then kill it hard; more files arrive while it runs.
        let life = Duration::from_millis(150 + rng.next() % 500);
        let started = Instant::now();
        while started.elapsed() < life {
            std::thread::sleep(Duration::from_millis(40));
            if rng.next() % 4 == 0 {
                new_file(&mut rng, &mut all);
            }
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "round {round}: the job was killed, not finished"
        );
    }
    // Last files, then a run that stops gracefully on its own.
    for _ in 0..3 {
        new_file(&mut rng, &mut all);
    }
    let status = job.spawn(&["--run-for-ms", "2500"]).wait().unwrap();
    assert!(status.success(), "the final run ends cleanly");

    // Every record exactly once across the saved batch outputs (complete directories only);
    // records are saved as "(k,v)".
    let mut saved: Vec<String> = common::saved_lines(&job.out)
        .into_iter()
        .map(|l| l.trim_start_matches('(').trim_end_matches(')').to_string())
        .collect();
    let mut want = all.clone();
    want.sort();
    saved.sort();
    assert_eq!(
        saved.len(),
        want.len(),
        "seed {seed:#x}: records saved vs records written"
    );
    assert_eq!(saved, want, "seed {seed:#x}");
    // The final state: the sum per key over everything.
    assert_eq!(
        job.final_state(),
        sums_by_key(all.iter().map(|l| pair(l))),
        "seed {seed:#x}: final state"
    );
}

#[test]
fn sigterm_stops_gracefully_when_asked_to() {
    let job = JobDirs::new();
    let lines: Vec<String> = (0..50).map(|i| format!("k{},{i}", i % 3)).collect();
    drop_file(&job.input, &job.staging, "a.txt", &lines);
    let mut child = job.spawn(&["--graceful-on-signal"]);
    // Wait (on the real process) until it has processed the file, then ask it to stop.
    let final_path = job.out.join("final.txt");
    common::wait_for_lines(&final_path, 3);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(
        exit.success(),
        "a graceful stop ends the process normally: {exit:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&final_path).unwrap(),
        "k0,408\nk1,425\nk2,392"
    );
}

#[test]
fn a_receiver_with_the_write_ahead_log_killed_mid_stream_loses_and_duplicates_nothing() {
    let kills: usize = env_or("EMBERFLOW_CRASH_KILLS", 20);
    let seed: u64 = env_or("EMBERFLOW_CRASH_SEED", 0xa11);
    let job = JobDirs::new();
    let total = "4000";
    let mut rng = Rng(seed);
    for _ in 0..kills {
        let mut child = job.spawn(&["--receiver-total", total]);
        std::thread::sleep(Duration::from_millis(100 + rng.next() % 400));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let status = job
        .spawn(&["--receiver-total", total, "--run-for-ms", "3000"])
        .wait()
        .unwrap();
    assert!(status.success());

    let acked = common::assert_receiver_job_exact(&job, &format!("seed {seed:#x}"));
    assert!(acked > 1000, "the source made progress: {acked}");
}
