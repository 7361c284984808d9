//! The order dashboard as two members of one consumer group (`--group`), in two threads
//! against rdkafka's in-process mock cluster: each reads the partitions the group gives it,
//! and the merged summary equals the batch job over every line.
#![cfg(feature = "kafka")]
#![allow(clippy::unwrap_used)]

use emberflow::kafka::{produce_lines, KafkaParams};
use emberflow::prelude::*;
use emberflow_dashboard::dashboard::batch_summary;
use emberflow_dashboard::orders::generate_lines;
use emberflow_dashboard::{app, group};
use rdkafka::mocking::MockCluster;

#[test]
fn two_members_share_the_topic_and_their_summary_is_the_whole_one() {
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("orders", 4, 1).unwrap();
    let g = generate_lines(6000, 11, 0.02);
    let n = produce_lines(&KafkaParams::new(servers.clone()), "orders", &g.lines, None).unwrap();
    assert_eq!(n, 6000);
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    let members: Vec<_> = (0..2)
        .map(|i| {
            let (servers, ckpt) = (servers.clone(), ckpt.clone());
            let json = dir.path().join(format!("member-{i}.json"));
            std::thread::spawn(move || {
                app::run(&[
                    "--kafka",
                    &servers,
                    "--topic",
                    "orders",
                    "--group",
                    "dashboard",
                    "--checkpoint",
                    ckpt.to_str().unwrap(),
                    "--batch-ms",
                    "200",
                    "--stop-when-idle",
                    "40",
                    "--quiet",
                    "--summary-json",
                    json.to_str().unwrap(),
                ])
                .unwrap()
            })
        })
        .collect();
    let summaries: Vec<_> = members.into_iter().map(|m| m.join().unwrap()).collect();
    let lines: Vec<String> = g
        .lines
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    let ctx = Context::local(2);
    let want = batch_summary(&ctx, ctx.parallelize(lines, 2)).unwrap();
    let merged = group::merge(
        ckpt.join("facts").join("batch").to_str().unwrap(),
        std::time::Duration::from_secs(3600),
    )
    .unwrap();
    let key = |s: &emberflow_dashboard::dashboard::Summary| {
        (
            s.orders,
            s.buys,
            s.malformed,
            s.top5_clients.clone(),
            s.top5_symbols.clone(),
        )
    };
    assert_eq!(key(&merged), key(&want));
    // Both members read some of it; the one that stopped last summarised all of it.
    let files: Vec<String> = walk(&ckpt.join("facts"));
    let partitions: std::collections::BTreeSet<&str> =
        files.iter().filter_map(|f| f.rsplit('/').next()).collect();
    // One file per batch and partition (the producer's sticky partitioner may leave a
    // partition empty).
    assert!(
        partitions.len() >= 2 && partitions.iter().all(|p| p.starts_with("part-orders-")),
        "{partitions:?}"
    );
    assert!(
        summaries.iter().any(|s| key(s) == key(&want)),
        "{summaries:?}"
    );
    let claims = walk(&ckpt.join("partitions"));
    let members: std::collections::BTreeSet<String> = claims
        .iter()
        .filter(|f| f.contains("claim-"))
        .map(|f| {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            v["member"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        members.len(),
        2,
        "both members claimed partitions: {claims:?}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path().to_string_lossy().into_owned());
        }
    }
    out
}
