//! Produces order lines to a Kafka topic at a given rate (the classic `streamOrders.sh`):
//! a file of orders, or generated ones. Needs the `kafka` feature.
//!
//! Run: `cargo run --release --features kafka --example stream_orders -- --brokers 127.0.0.1:9092
//! --topic orders [--file orders.txt | --generate 500000] [--rate 1000]`
//!
//! Prints how many lines it sent and how long it took.

#[cfg(feature = "kafka")]
fn main() -> emberflow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let brokers = arg("--brokers").unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let topic = arg("--topic").unwrap_or_else(|| "orders".to_owned());
    let rate = arg("--rate").and_then(|v| v.parse().ok());
    let lines: Vec<Vec<u8>> = match arg("--file") {
        Some(f) => std::fs::read(&f)
            .map_err(|e| emberflow::Error::io(&f, e))?
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect(),
        None => {
            let n = arg("--generate")
                .and_then(|v| v.parse().ok())
                .unwrap_or(100_000);
            emberflow_dashboard::orders::generate_lines(n, 42, 0.01).lines
        }
    };
    let started = std::time::Instant::now();
    let sent = emberflow::kafka::produce_lines(
        &emberflow::kafka::KafkaParams::new(brokers),
        &topic,
        &lines,
        rate,
    )?;
    println!(
        "sent {sent} lines to {topic} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(not(feature = "kafka"))]
fn main() {
    eprintln!(
        "stream_orders needs the kafka feature: cargo run --features kafka --example stream_orders"
    );
    std::process::exit(2);
}
