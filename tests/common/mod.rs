//! Helpers shared by the integration tests: the input shapes every operation is checked on,
//! and plain-Rust models of the operations.
#![allow(dead_code, unreachable_pub)]

pub mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod proxy;

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

/// A small seeded generator (SplitMix64) for oracles and crash schedules.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The entries of `dir` whose names start with `prefix`, sorted.
pub fn entries_starting_with(dir: &std::path::Path, prefix: &str) -> Vec<std::path::PathBuf> {
    let mut out: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .expect("directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    out.sort();
    out
}

/// An environment variable parsed, or `default` (longer local runs of the crash tests).
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `k,sum` lines, by key, of `(key, value)` pairs: the final state the crash job writes.
pub fn sums_by_key(pairs: impl IntoIterator<Item = (String, u64)>) -> Vec<String> {
    let mut sums: BTreeMap<String, u64> = BTreeMap::new();
    for (k, v) in pairs {
        *sums.entry(k).or_insert(0) += v;
    }
    sums.iter().map(|(k, v)| format!("{k},{v}")).collect()
}

/// The directories of one crash-job run (tests/support/crash_job.rs) and how to start it.
pub struct JobDirs {
    _root: tempfile::TempDir,
    pub input: std::path::PathBuf,
    pub staging: std::path::PathBuf,
    pub out: std::path::PathBuf,
    pub ckpt: std::path::PathBuf,
}

impl JobDirs {
    pub fn new() -> Self {
        let root = temp_dir();
        let (input, staging, out, ckpt) = (
            root.path().join("in"),
            root.path().join("staging"),
            root.path().join("out"),
            root.path().join("ckpt"),
        );
        for d in [&input, &staging, &out] {
            std::fs::create_dir_all(d).expect("create a job directory");
        }
        JobDirs {
            _root: root,
            input,
            staging,
            out,
            ckpt,
        }
    }

    /// Starts the job on these directories with 100 ms batches and `extra` arguments.
    pub fn spawn(&self, extra: &[&str]) -> std::process::Child {
        self.spawn_with_env(extra, &[])
    }

    /// [`spawn`](Self::spawn) with environment variables (a kill point, a file size limit).
    pub fn spawn_with_env(&self, extra: &[&str], env: &[(&str, &str)]) -> std::process::Child {
        std::process::Command::new(env!("CARGO_BIN_EXE_emberflow-crash-job"))
            .envs(env.iter().copied())
            .args([
                "--in",
                path_str(&self.input),
                "--out",
                path_str(&self.out),
                "--checkpoint",
                path_str(&self.ckpt),
            ])
            .args(["--batch-ms", "100"])
            .args(extra)
            .spawn()
            .expect("start the crash job")
    }

    /// The job's final state, as lines.
    pub fn final_state(&self) -> Vec<String> {
        std::fs::read_to_string(self.out.join("final.txt"))
            .expect("final.txt")
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

fn path_str(p: &std::path::Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// Writes `lines` to `staging/name`, then moves it into `dir` by rename (as a producer of a
/// watched directory must), with a fresh modification time.
pub fn drop_file(dir: &std::path::Path, staging: &std::path::Path, name: &str, lines: &[String]) {
    let tmp = staging.join(name);
    std::fs::write(&tmp, lines.join("\n") + "\n").expect("write a staged file");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&tmp)
        .and_then(|f| f.set_modified(std::time::SystemTime::now()))
        .expect("set its modification time");
    std::fs::rename(&tmp, dir.join(name)).expect("move it into the watched directory");
}

/// The records the crash job's receiver was told were stored: ranges of complete lines of
/// `acked.log`.
pub fn acked_records(out: &std::path::Path) -> std::collections::BTreeSet<u64> {
    let mut acked = std::collections::BTreeSet::new();
    let log = std::fs::read_to_string(out.join("acked.log")).unwrap_or_default();
    for line in log.lines() {
        let mut it = line.split(' ').filter_map(|v| v.parse::<u64>().ok());
        if let (Some(a), Some(b)) = (it.next(), it.next()) {
            acked.extend(a..b);
        }
    }
    acked
}

/// Checks a receiver crash-job run (`--receiver-total`): no record saved twice, every
/// acknowledged record saved, and the final counts per key equal to the saved records.
/// Returns how many were acknowledged.
pub fn assert_receiver_job_exact(job: &JobDirs, what: &str) -> usize {
    let saved: Vec<u64> = saved_lines(&job.out)
        .iter()
        .map(|l| l.parse::<u64>().expect("a saved sequence number"))
        .collect();
    let distinct: std::collections::BTreeSet<u64> = saved.iter().copied().collect();
    assert_eq!(distinct.len(), saved.len(), "{what}: a record saved twice");
    let acked = acked_records(&job.out);
    let lost: Vec<&u64> = acked.difference(&distinct).collect();
    assert!(
        lost.is_empty(),
        "{what}: acknowledged records lost: {lost:?}"
    );
    let expected = sums_by_key(saved.iter().map(|i| (format!("k{}", i % 5), 1)));
    assert_eq!(job.final_state(), expected, "{what}: final state");
    acked.len()
}

/// Waits for a real process to exit; past `limit` (a guard against a hang, not a timing) it
/// is killed and `None` comes back. No polling: a watchdog thread kills it.
pub fn exit_within(
    mut child: std::process::Child,
    limit: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let (done, watch) = std::sync::mpsc::channel::<()>();
    let pid = child.id().to_string();
    let watchdog = std::thread::spawn(move || {
        let expired = watch.recv_timeout(limit).is_err();
        if expired {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
        }
        expired
    });
    let status = child.wait().expect("wait for the job");
    let _ = done.send(());
    let expired = watchdog.join().expect("the watchdog thread");
    (!expired).then_some(status)
}

/// Waits until the file a real process writes at `path` has `lines` lines (polling the
/// file: the only way to hear from another process's output), failing after 30 s.
pub fn wait_for_lines(path: &std::path::Path, lines: usize) {
    poll_files(std::time::Duration::from_secs(30), || {
        let n = std::fs::read_to_string(path).map_or(0, |s| s.lines().count());
        if n >= lines {
            Ok(())
        } else {
            Err(format!(
                "{} never reached {lines} lines ({n}): the job made no progress",
                path.display()
            ))
        }
    })
}

/// Polls what other processes write (files: the only way to hear from them) until `check`
/// says it is there, failing with `check`'s last word after `limit` (a guard against a hang,
/// not a timing).
pub fn poll_files<T>(
    limit: std::time::Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let started = std::time::Instant::now();
    loop {
        match check() {
            Ok(v) => return v,
            Err(why) => assert!(started.elapsed() < limit, "after {limit:?}: {why}"),
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
