//! One job over several processes (`group_partitioned`), against the real broker
//! `scripts/test.sh` starts: members are real processes of `emberflow-group-job`, killed with
//! SIGKILL, stopped with SIGTERM, paused with SIGSTOP past their session, while a producer
//! keeps writing keyed records. At the end every record is in the outputs exactly once, and
//! the running total per key that the members' `map_with_state` carried across every
//! handover equals the sum of the key's records.
#![cfg(feature = "kafka")]
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use common::kafka::{broker, create_topic, unique};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

const PARTITIONS: u32 = 4;

/// A saved line: key, value, partition, offset, the key's running total.
type Saved = (String, i64, i32, i64, i64);
const KEYS: u64 = 40;

struct Job {
    _root: tempfile::TempDir,
    ckpt: PathBuf,
    out: PathBuf,
    topic: String,
    group: String,
}

impl Job {
    fn new(name: &str) -> Job {
        let topic = unique(name);
        create_topic(&topic, PARTITIONS);
        Job::on(name, topic)
    }

    /// Another job (own group, directories) over the same topic.
    fn on(name: &str, topic: String) -> Job {
        let root = common::temp_dir();
        Job {
            ckpt: root.path().join("ckpt"),
            out: root.path().join("out"),
            _root: root,
            group: unique(&format!("{name}-group")),
            topic,
        }
    }

    /// Starts a member.
    fn member(&self) -> Member {
        self.member_with(&[])
    }

    /// Starts a member with more arguments.
    fn member_with(&self, extra: &[&str]) -> Member {
        Member(Some(
            Command::new(env!("CARGO_BIN_EXE_emberflow-group-job"))
                .args(extra)
                .args([
                    "--kafka",
                    &broker(),
                    "--topic",
                    &self.topic,
                    "--group",
                    &self.group,
                ])
                .args(["--checkpoint", self.ckpt.to_str().unwrap()])
                .args(["--out", self.out.to_str().unwrap()])
                .args(["--batch-ms", "200", "--session-ms", "6000"])
                .spawn()
                .expect("start a member"),
        ))
    }

    /// Waits (polling the claims in the checkpoint directory) until `member` holds the
    /// newest claim of some partition; a guard of `limit` against a hang.
    fn wait_owner(&self, member: &str, limit: Duration) -> BTreeMap<String, (u64, String)> {
        common::poll_files(limit, || {
            let owners = self.owners();
            if owners.values().any(|(_, m)| m == member) {
                Ok(owners)
            } else {
                Err(format!("{member} claims nothing: {owners:?}"))
            }
        })
    }

    /// The saved lines: (key, value, partition, offset, running total) of every output file.
    fn saved(&self) -> Vec<Saved> {
        self.files("records")
            .into_iter()
            .flat_map(|(_, _, lines)| lines)
            .map(|line| {
                let v: Vec<&str> = line.split(',').collect();
                (
                    v[0].to_owned(),
                    v[1].parse().unwrap(),
                    v[2].parse().unwrap(),
                    v[3].parse().unwrap(),
                    v[4].parse().unwrap(),
                )
            })
            .collect()
    }

    /// Every saved file of the output `kind` (`records`, `state`, `window`): (batch time,
    /// partition file name, lines).
    fn files(&self, kind: &str) -> Vec<(u64, String, Vec<String>)> {
        let mut out = Vec::new();
        let Ok(dirs) = std::fs::read_dir(&self.out) else {
            return out; // nothing saved yet
        };
        for dir in dirs.flatten() {
            let name = dir.file_name().to_string_lossy().into_owned();
            let Some(time) = name
                .strip_prefix(&format!("{kind}-"))
                .and_then(|r| r.strip_suffix(".txt"))
                .and_then(|t| t.parse::<u64>().ok())
            else {
                continue;
            };
            for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
                let part = f.file_name().to_string_lossy().into_owned();
                if part.starts_with("part-") {
                    let text = std::fs::read_to_string(f.path()).unwrap();
                    out.push((time, part, text.lines().map(str::to_owned).collect()));
                }
            }
        }
        out
    }

    /// Each partition's newest saved `update_state_by_key` state: key → total.
    fn final_state(&self) -> BTreeMap<String, i64> {
        let mut newest: BTreeMap<String, (u64, Vec<String>)> = BTreeMap::new();
        for (time, part, lines) in self.files("state") {
            if newest.get(&part).is_none_or(|(t, _)| *t < time) {
                newest.insert(part, (time, lines));
            }
        }
        let mut state = BTreeMap::new();
        for (_, lines) in newest.values() {
            for line in lines {
                let (k, v) = line.split_once(',').unwrap();
                let before = state.insert(k.to_owned(), v.parse().unwrap());
                assert!(before.is_none(), "{k} in two partitions");
            }
        }
        state
    }

    /// Waits (polling the members' output files: the only way to hear from other processes)
    /// until `n` distinct records are saved; a guard of `limit` against a hang.
    fn wait_saved(&self, n: usize, limit: Duration) {
        common::poll_files(limit, || {
            let distinct: BTreeSet<(i32, i64)> = self.saved().iter().map(|r| (r.2, r.3)).collect();
            if distinct.len() >= n {
                Ok(())
            } else {
                Err(format!("only {} of {n} records saved", distinct.len()))
            }
        })
    }

    /// The newest claim of each partition: (generation, member).
    fn owners(&self) -> BTreeMap<String, (u64, String)> {
        let mut owners = BTreeMap::new();
        for p in std::fs::read_dir(self.ckpt.join("partitions"))
            .unwrap()
            .flatten()
        {
            let mut claims: Vec<String> = std::fs::read_dir(p.path())
                .unwrap()
                .flatten()
                .map(|f| f.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("claim-"))
                .collect();
            claims.sort();
            let newest = claims.last().unwrap();
            let claim: serde_json::Value =
                serde_json::from_slice(&std::fs::read(p.path().join(newest)).unwrap()).unwrap();
            owners.insert(
                p.file_name().to_string_lossy().into_owned(),
                (
                    claim["generation"].as_u64().unwrap(),
                    claim["member"].as_str().unwrap().to_owned(),
                ),
            );
        }
        owners
    }
}

/// Keyed records `from..to`: key `k<i % KEYS>`, value `i % 7 + 1`; returns (key, value).
fn produce(topic: &str, from: u64, to: u64) -> Vec<(String, i64)> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let mut sent = Vec::new();
    for i in from..to {
        let (key, value) = (format!("k{}", i % KEYS), (i % 7 + 1) as i64);
        let payload = value.to_string();
        loop {
            match producer.send(BaseRecord::to(topic).key(&key).payload(&payload)) {
                Ok(()) => break,
                Err((_, _)) => {
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        producer.poll(Duration::ZERO);
        sent.push((key, value));
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    sent
}

/// Every produced record saved exactly once; each key's records in one partition; each
/// key's last running total (by offset) equal to the sum of its values.
fn assert_exact(job: &Job, sent: &[(String, i64)]) {
    let saved = job.saved();
    let mut by_record: BTreeMap<(i32, i64), &Saved> = BTreeMap::new();
    for r in &saved {
        if let Some(old) = by_record.insert((r.2, r.3), r) {
            assert_eq!(old, r, "a record saved twice with different results");
        }
    }
    assert_eq!(by_record.len(), sent.len(), "records saved (distinct)");
    // Re-run batches rewrite their own file: no record appears in two files.
    assert_eq!(saved.len(), sent.len(), "records saved (with repeats)");
    let mut want: BTreeMap<&str, i64> = BTreeMap::new();
    for (k, v) in sent {
        *want.entry(k).or_default() += v;
    }
    let mut got_sum: BTreeMap<&str, i64> = BTreeMap::new();
    let mut last: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut partition_of: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    for r in by_record.values() {
        *got_sum.entry(&r.0).or_default() += r.1;
        partition_of.entry(&r.0).or_default().insert(r.2);
        let e = last.entry(&r.0).or_insert((r.3, r.4));
        if r.3 >= e.0 {
            *e = (r.3, r.4);
        }
    }
    assert_eq!(got_sum, want, "per-key sums of the saved records");
    let totals: BTreeMap<&str, i64> = last.iter().map(|(k, (_, t))| (*k, *t)).collect();
    assert_eq!(
        totals, want,
        "each key's running total carried across members"
    );
    assert!(
        partition_of.values().all(|p| p.len() == 1),
        "{partition_of:?}"
    );
    let state = job.final_state();
    let want: BTreeMap<String, i64> = want.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    assert_eq!(
        state, want,
        "update_state_by_key's state carried across members"
    );
    assert_windows(job);
}

/// Every saved window (2 s over 200 ms batches) holds, for its partition's keys, the sum of
/// their records saved for the batches of that window — whichever member saved them.
fn assert_windows(job: &Job) {
    let mut records: BTreeMap<String, Vec<(u64, i64)>> = BTreeMap::new();
    let mut partition_of: BTreeMap<String, String> = BTreeMap::new();
    for (time, part, lines) in job.files("records") {
        for line in lines {
            let v: Vec<&str> = line.split(',').collect();
            records
                .entry(v[0].to_owned())
                .or_default()
                .push((time, v[1].parse().unwrap()));
            partition_of.insert(v[0].to_owned(), part.clone());
        }
    }
    let windows = job.files("window");
    assert!(!windows.is_empty(), "no window saved");
    for (time, part, lines) in &windows {
        let sum = |k: &str| -> i64 {
            records.get(k).map_or(0, |rs| {
                rs.iter()
                    .filter(|(t, _)| *t + 2_000 > *time && t <= time)
                    .map(|(_, v)| v)
                    .sum()
            })
        };
        let mut seen = BTreeSet::new();
        for line in lines {
            let (k, v) = line.split_once(',').unwrap();
            assert_eq!(
                v.parse::<i64>().unwrap(),
                sum(k),
                "window at {time} of {part}, key {k}"
            );
            seen.insert(k.to_owned());
        }
        for (k, p) in &partition_of {
            if p == part && sum(k) != 0 {
                assert!(seen.contains(k), "window at {time} of {part} misses {k}");
            }
        }
    }
}

/// A member process; killed if a test fails before it is stopped.
struct Member(Option<Child>);

impl Member {
    fn signal(&self, sig: &str) {
        let pid = self.0.as_ref().unwrap().id().to_string();
        Command::new("kill").args([sig, &pid]).status().unwrap();
    }

    fn kill(mut self) {
        self.signal("-KILL");
        self.0.take().unwrap().wait().unwrap();
    }

    /// Stops it gracefully (SIGTERM) and checks it exits cleanly.
    fn stop(mut self) {
        self.signal("-TERM");
        let status = common::exit_within(self.0.take().unwrap(), Duration::from_secs(60));
        assert!(
            status.is_some_and(|s| s.success()),
            "graceful stop: {status:?}"
        );
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn members_come_and_go_and_every_record_counts_once() {
    let job = Job::new("scale");
    let mut sent = produce(&job.topic, 0, 2_000);
    let a = job.member();
    let b = job.member();
    let c = job.member();
    job.wait_saved(2_000, Duration::from_secs(90));
    sent.extend(produce(&job.topic, 2_000, 3_000));
    // One member dies: its partitions, state and unfinished batch go to the others once its
    // session expires.
    a.kill();
    sent.extend(produce(&job.topic, 3_000, 4_000));
    let d = job.member();
    job.wait_saved(4_000, Duration::from_secs(90));
    sent.extend(produce(&job.topic, 4_000, 5_000));
    // One leaves gracefully: it finishes its batches and leaves the group.
    b.stop();
    sent.extend(produce(&job.topic, 5_000, 6_000));
    job.wait_saved(6_000, Duration::from_secs(90));
    c.stop();
    d.stop();
    assert_exact(&job, &sent);
    // Members stopped gracefully leave no metadata of their own; the killed one's stays.
    let left = std::fs::read_dir(job.ckpt.join("members")).unwrap().count();
    assert_eq!(left, 1, "only the killed member's directory is left");
    // Partitions changed hands: some claimed more than once.
    assert!(
        job.owners().values().any(|(g, _)| *g > 1),
        "{:?}",
        job.owners()
    );
    // A single process over the same records ends with the same state and windows.
    let single = Job::on("single", job.topic.clone());
    let only = single.member();
    single.wait_saved(sent.len(), Duration::from_secs(90));
    only.stop();
    assert_eq!(single.final_state(), job.final_state());
    let last_windows = |j: &Job| -> BTreeMap<String, String> {
        let mut newest: BTreeMap<String, (u64, Vec<String>)> = BTreeMap::new();
        for (time, part, lines) in j.files("window") {
            if newest.get(&part).is_none_or(|(t, _)| *t < time) {
                newest.insert(part, (time, lines));
            }
        }
        newest
            .into_values()
            .flat_map(|(_, lines)| lines)
            .map(|l| {
                let (k, v) = l.split_once(',').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect()
    };
    let keys = |j: &Job| -> BTreeMap<String, i64> {
        let mut m = BTreeMap::new();
        for r in j.saved() {
            *m.entry(r.0).or_default() += r.1;
        }
        m
    };
    assert_eq!(
        keys(&single),
        keys(&job),
        "per-key totals of the saved records"
    );
    assert_eq!(
        last_windows(&single).keys().collect::<Vec<_>>(),
        last_windows(&job).keys().collect::<Vec<_>>()
    );
}

#[test]
fn a_paused_member_past_its_session_writes_nothing_for_partitions_it_lost() {
    let job = Job::new("zombie");
    let mut sent = produce(&job.topic, 0, 1_000);
    let a = job.member();
    job.wait_saved(1_000, Duration::from_secs(90));
    let before = job.owners();
    assert_eq!(before.len(), PARTITIONS as usize);
    // A owns everything; B joins and gets some; then A is paused past its session, and B
    // takes over the rest.
    let b = job.member();
    a.signal("-STOP");
    sent.extend(produce(&job.topic, 1_000, 2_000));
    job.wait_saved(2_000, Duration::from_secs(90));
    let during = job.owners();
    let a_member = before.values().next().unwrap().1.clone();
    assert!(
        during.values().all(|(g, m)| *m != a_member && *g >= 2),
        "B owns every partition while A is paused: {during:?}"
    );
    // A resumes: its in-flight work for the lost partitions is fenced; it lets go of its
    // stale claims and, when the group gives it partitions again, claims them afresh.
    a.signal("-CONT");
    let after = job.wait_owner(&a_member, Duration::from_secs(60));
    assert!(
        after.values().all(|(g, m)| *m != a_member || *g >= 3),
        "A holds partitions only under new claims: {after:?}"
    );
    sent.extend(produce(&job.topic, 2_000, 3_000));
    job.wait_saved(3_000, Duration::from_secs(90));
    a.stop();
    b.stop();
    assert_exact(&job, &sent);
}

/// Starts an in-process member of `job` whose graph `build` makes on its group-partitioned
/// stream (builder adjusted by `configure`); returns what `start` said, stopping it after.
fn start_in_process(
    job: &Job,
    configure: impl FnOnce(emberflow::StreamingContextBuilder) -> emberflow::StreamingContextBuilder,
    build: impl FnOnce(emberflow::kafka::DirectKafkaStream),
) -> emberflow::Result<()> {
    use emberflow::kafka::{ConsumerStrategy, KafkaParams, KafkaUtils};
    use emberflow::prelude::*;
    let ctx = Context::local(1);
    let ssc = StreamingContext::get_or_create(
        &job.ckpt,
        |ssc| {
            let records = KafkaUtils::create_direct_stream(
                ssc,
                KafkaParams::new(broker()).group_id(job.group.clone()),
                ConsumerStrategy::subscribe([job.topic.clone()]),
            )?
            .group_partitioned();
            build(records);
            Ok(())
        },
        configure(StreamingContext::builder(&ctx, Duration::from_millis(200))),
    )
    .unwrap();
    let started = ssc.start();
    let _ = ssc.stop(StopOptions::immediate());
    started
}

/// A member whose program differs from the one the group's first member recorded is refused
/// when it starts, before it claims any partition.
#[test]
fn a_member_with_another_graph_is_refused() {
    use emberflow::prelude::*;
    let job = Job::new("graphs");
    let out = job.out.join("v").to_string_lossy().into_owned();
    let member = |extra_filter: bool| {
        start_in_process(
            &job,
            |b| b,
            |records| {
                let values = records.map(|r: emberflow::kafka::ConsumerRecord| r.value_str());
                let values = if extra_filter {
                    values.filter(|v| !v.is_empty())
                } else {
                    values
                };
                values.save_as_text_files(out.clone(), "txt");
            },
        )
    };
    member(false).unwrap();
    let err = member(true).unwrap_err();
    assert!(matches!(err, Error::GraphMismatch { .. }), "{err}");
    assert!(err.to_string().contains("filter"), "{err}");
    // The same program again is welcome.
    member(false).unwrap();
}

/// A window whose data would not move with a partition is refused at start, with the
/// operator to use instead; the refused program leaves nothing in the store.
#[test]
fn a_plain_window_in_a_group_partitioned_job_is_refused() {
    use emberflow::prelude::*;
    let job = Job::new("plainwindow");
    let err = start_in_process(
        &job,
        |b| b,
        |records| {
            records
                .map(|r: emberflow::kafka::ConsumerRecord| (r.value_str(), 1u64))
                .reduce_by_key_and_window(
                    |a, b| a + b,
                    Duration::from_secs(2),
                    Duration::from_millis(200),
                )
                .foreach_rdd(|_, _| Ok(()));
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::InvalidGraph(_))
            && err
                .to_string()
                .contains("reduce_by_key_and_window_with_inverse"),
        "{err}"
    );
    assert!(
        !job.ckpt.join("graph").exists(),
        "the refused graph was recorded"
    );
}

/// Batches of a group-partitioned job run one after another: concurrent jobs are refused.
#[test]
fn concurrent_jobs_in_a_group_partitioned_job_are_refused() {
    let job = Job::new("concurrent");
    let err = start_in_process(
        &job,
        |b| b.concurrent_jobs(2),
        |records| records.foreach_rdd(|_, _| Ok(())),
    )
    .unwrap_err();
    assert!(err.to_string().contains("concurrent_jobs is 2"), "{err}");
}

/// The partitions' checkpoints in an S3-compatible bucket (the server `scripts/test.sh`
/// starts): a member is killed and another takes over from what the bucket holds.
#[cfg(feature = "s3")]
#[test]
fn members_share_checkpoints_in_an_s3_bucket() {
    let job = Job::new("s3members");
    let url = format!("s3://emberflow-test/{}", job.group);
    let mut sent = produce(&job.topic, 0, 1_000);
    let a = job.member_with(&["--s3", &url]);
    let b = job.member_with(&["--s3", &url]);
    job.wait_saved(1_000, Duration::from_secs(90));
    a.kill();
    sent.extend(produce(&job.topic, 1_000, 2_000));
    job.wait_saved(2_000, Duration::from_secs(90));
    b.stop();
    assert!(
        !job.ckpt.join("partitions").exists(),
        "the partitions' checkpoints went to the bucket, not the directory"
    );
    assert_exact(&job, &sent);
}

/// Sends every completed batch's info.
struct Completed(std::sync::Mutex<std::sync::mpsc::Sender<emberflow::BatchInfo>>);

impl emberflow::StreamingListener for Completed {
    fn on_batch_completed(&self, info: &emberflow::BatchInfo) {
        let _ = self.0.lock().unwrap().send(info.clone());
    }
}

/// A checkpoint directory given after the stream became a group member is where the
/// partitions' checkpoints go.
#[test]
fn a_checkpoint_directory_given_after_the_group_input_holds_the_partitions() {
    use emberflow::kafka::{ConsumerStrategy, KafkaParams, KafkaUtils};
    use emberflow::prelude::*;
    let job = Job::new("latedir");
    let sent = produce(&job.topic, 0, 200);
    let ctx = Context::local(1);
    let ssc = StreamingContext::new(&ctx, Duration::from_millis(200));
    KafkaUtils::create_direct_stream(
        &ssc,
        KafkaParams::new(broker())
            .group_id(job.group.clone())
            .set("auto.offset.reset", "earliest"),
        ConsumerStrategy::subscribe([job.topic.clone()]),
    )
    .unwrap()
    .group_partitioned()
    .map(|r: emberflow::kafka::ConsumerRecord| r.value_str())
    .save_as_text_files(job.out.join("records").to_string_lossy(), "txt");
    ssc.checkpoint(&job.ckpt).unwrap();
    // Batches are heard of from the context itself: no polling.
    let (tx, done) = std::sync::mpsc::channel();
    ssc.add_streaming_listener(Completed(std::sync::Mutex::new(tx)));
    ssc.start().unwrap();
    let mut read = 0;
    while read < sent.len() as u64 {
        let info = done
            .recv_timeout(Duration::from_secs(60))
            .expect("batches complete");
        read += info.num_records();
    }
    ssc.stop(StopOptions::graceful()).unwrap();
    assert!(job.ckpt.join("graph").exists());
    assert_eq!(
        job.owners().len(),
        PARTITIONS as usize,
        "{:?}",
        job.owners()
    );
}
