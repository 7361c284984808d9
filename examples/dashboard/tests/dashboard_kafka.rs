//! The order dashboard reading from Kafka (`--kafka BROKERS --topic T`), fed by producing the
//! generated orders to the topic, against rdkafka's in-process mock cluster: the totals equal
//! the batch job over the same lines.
#![cfg(feature = "kafka")]
#![allow(clippy::unwrap_used)]

use emberflow::prelude::*;
use emberflow_dashboard::app;
use emberflow_dashboard::dashboard::batch_summary;
use emberflow_dashboard::orders::generate_lines;
use rdkafka::mocking::MockCluster;

#[test]
fn the_dashboard_reads_orders_from_kafka() {
    let mock = MockCluster::new(1).unwrap();
    let servers = mock.bootstrap_servers();
    mock.create_topic("orders", 3, 1).unwrap();
    let summary = app::run(&[
        "--kafka",
        &servers,
        "--topic",
        "orders",
        "--generate",
        "3000",
        "--seed",
        "5",
        "--bad",
        "0.02",
        "--batch-ms",
        "100",
        "--quiet",
    ])
    .unwrap();
    let g = generate_lines(3000, 5, 0.02);
    let lines: Vec<String> = g
        .lines
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    let ctx = Context::local(2);
    let want = batch_summary(&ctx, ctx.parallelize(lines, 2)).unwrap();
    assert_eq!(
        (summary.orders, summary.malformed),
        (want.orders, want.malformed)
    );
    assert_eq!(summary.top5_clients, want.top5_clients);
    assert_eq!(summary.top5_symbols, want.top5_symbols);
}
