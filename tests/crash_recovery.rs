//! Crash tests with real processes: a stateful file-stream job with checkpointing is killed
//! with SIGKILL at random moments (seeded) and restarted with the same directories, again and
//! again, while files keep arriving. At the end, the union of its saved outputs holds every
//! input record exactly once, and its final state equals the sums over all input: nothing
//! lost, nothing counted twice. Waits here are on a real process, as they must be.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime};

const JOB: &str = env!("CARGO_BIN_EXE_emberflow-crash-job");

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn drop_file(dir: &Path, staging: &Path, name: &str, lines: &[String]) {
    let tmp = staging.join(name);
    std::fs::write(&tmp, lines.join("\n") + "\n").unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&tmp)
        .unwrap()
        .set_modified(SystemTime::now())
        .unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

/// A fresh root with the job's directories: input, staging, output, checkpoint.
fn dirs() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let root = common::temp_dir();
    let (input, staging, out, ckpt) = (
        root.path().join("in"),
        root.path().join("staging"),
        root.path().join("out"),
        root.path().join("ckpt"),
    );
    for d in [&input, &staging, &out] {
        std::fs::create_dir_all(d).unwrap();
    }
    (root, input, staging, out, ckpt)
}

fn spawn(input: &Path, out: &Path, ckpt: &Path, extra: &[&str]) -> Child {
    Command::new(JOB)
        .args([
            "--in",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--checkpoint",
            ckpt.to_str().unwrap(),
        ])
        .args(["--batch-ms", "100"])
        .args(extra)
        .spawn()
        .unwrap()
}

#[test]
fn killed_and_restarted_twenty_times_nothing_lost_nothing_duplicated() {
    let kills: usize = std::env::var("EMBERFLOW_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("EMBERFLOW_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    println!("crash test: {kills} kills, seed {seed:#x}");
    let (_root, input, staging, out, ckpt) = dirs();
    let mut rng = Rng(seed | 1);
    let mut all: Vec<String> = Vec::new();
    let mut file_no = 0;
    let mut new_file = |rng: &mut Rng, all: &mut Vec<String>| {
        let lines: Vec<String> = (0..20)
            .map(|_| format!("k{},{}", rng.next() % 7, rng.next() % 1000))
            .collect();
        all.extend(lines.iter().cloned());
        drop_file(&input, &staging, &format!("part-{file_no:04}.txt"), &lines);
        file_no += 1;
    };
    for round in 0..kills {
        for _ in 0..(1 + rng.next() % 3) {
            new_file(&mut rng, &mut all);
        }
        let mut job = spawn(&input, &out, &ckpt, &[]);
        // Let it run a random while, then kill it hard; more files arrive while it runs.
        let life = Duration::from_millis(150 + rng.next() % 500);
        let started = Instant::now();
        while started.elapsed() < life {
            std::thread::sleep(Duration::from_millis(40));
            if rng.next() % 4 == 0 {
                new_file(&mut rng, &mut all);
            }
        }
        job.kill().unwrap();
        let status = job.wait().unwrap();
        assert!(
            !status.success(),
            "round {round}: the job was killed, not finished"
        );
    }
    // Last files, then a run that stops gracefully on its own.
    for _ in 0..3 {
        new_file(&mut rng, &mut all);
    }
    let status = spawn(&input, &out, &ckpt, &["--run-for-ms", "2500"])
        .wait()
        .unwrap();
    assert!(status.success(), "the final run ends cleanly");

    // Every record exactly once across the saved batch outputs (complete directories only);
    // records are saved as "(k,v)".
    let mut saved: Vec<String> = common::saved_lines(&out)
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
    let mut sums: BTreeMap<String, u64> = BTreeMap::new();
    for l in &all {
        let (k, v) = l.split_once(',').unwrap();
        *sums.entry(k.to_string()).or_insert(0) += v.parse::<u64>().unwrap();
    }
    let expected: Vec<String> = sums.iter().map(|(k, v)| format!("{k},{v}")).collect();
    let final_state = std::fs::read_to_string(out.join("final.txt")).unwrap();
    assert_eq!(
        final_state.lines().collect::<Vec<_>>(),
        expected,
        "seed {seed:#x}: final state"
    );
}

#[test]
fn sigterm_stops_gracefully_when_asked_to() {
    let (_root, input, staging, out, ckpt) = dirs();
    let lines: Vec<String> = (0..50).map(|i| format!("k{},{i}", i % 3)).collect();
    drop_file(&input, &staging, "a.txt", &lines);
    let job = spawn(&input, &out, &ckpt, &["--graceful-on-signal"]);
    // Wait (on the real process) until it has processed the file, then ask it to stop.
    let started = Instant::now();
    while !out.join("final.txt").exists()
        || std::fs::read_to_string(out.join("final.txt"))
            .unwrap()
            .lines()
            .count()
            < 3
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the job did not process its input"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-TERM", &job.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut job = job;
    let exit = job.wait().unwrap();
    assert!(
        exit.success(),
        "a graceful stop ends the process normally: {exit:?}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("final.txt")).unwrap(),
        "k0,408\nk1,425\nk2,392"
    );
}

#[test]
fn a_receiver_with_the_write_ahead_log_killed_mid_stream_loses_and_duplicates_nothing() {
    let kills: usize = std::env::var("EMBERFLOW_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("EMBERFLOW_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0xa11);
    let (_root, input, _staging, out, ckpt) = dirs();
    let total = "4000";
    let mut rng = Rng(seed | 1);
    for _ in 0..kills {
        let mut job = spawn(&input, &out, &ckpt, &["--receiver-total", total]);
        std::thread::sleep(Duration::from_millis(100 + rng.next() % 400));
        job.kill().unwrap();
        job.wait().unwrap();
    }
    let status = spawn(
        &input,
        &out,
        &ckpt,
        &["--receiver-total", total, "--run-for-ms", "3000"],
    )
    .wait()
    .unwrap();
    assert!(status.success());

    // Acknowledged: ranges whose store returned (complete lines of acked.log).
    let mut acked = std::collections::BTreeSet::new();
    for line in std::fs::read_to_string(out.join("acked.log"))
        .unwrap()
        .lines()
    {
        let mut it = line.split(' ').filter_map(|v| v.parse::<u64>().ok());
        if let (Some(a), Some(b)) = (it.next(), it.next()) {
            acked.extend(a..b);
        }
    }
    assert!(
        acked.len() > 1000,
        "the source made progress: {}",
        acked.len()
    );
    let saved: Vec<u64> = common::saved_lines(&out)
        .iter()
        .map(|l| l.parse::<u64>().unwrap())
        .collect();
    let distinct: std::collections::BTreeSet<u64> = saved.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        saved.len(),
        "seed {seed:#x}: no record saved twice"
    );
    let missing: Vec<u64> = acked.difference(&distinct).copied().collect();
    assert!(
        missing.is_empty(),
        "seed {seed:#x}: acknowledged records lost: {missing:?}"
    );
    // The state counted each saved record exactly once.
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for i in &saved {
        *counts.entry(format!("k{}", i % 5)).or_insert(0) += 1;
    }
    let expected: Vec<String> = counts.iter().map(|(k, v)| format!("{k},{v}")).collect();
    let final_state = std::fs::read_to_string(out.join("final.txt")).unwrap();
    assert_eq!(
        final_state.lines().collect::<Vec<_>>(),
        expected,
        "seed {seed:#x}: final state"
    );
}
