//! Produces order lines to a Kafka topic at a given rate (the classic `streamOrders.sh`):
//! a file of orders, or generated ones. Needs the `kafka` feature.
//!
//! Run: `cargo run --release --features kafka --example stream_orders -- --brokers 127.0.0.1:9092
//! --topic orders [--file orders.txt | --generate 500000] [--rate 1000]`
//!
//! Prints how many lines it sent and how long it took.

/// Order lines to a Kafka topic at a rate.
#[derive(clap::Parser)]
#[command(name = "stream_orders")]
struct Args {
    /// Bootstrap brokers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// The topic.
    #[arg(long, default_value = "orders")]
    topic: String,
    /// Lines per second (default: as fast as possible).
    #[arg(long)]
    rate: Option<u64>,
    /// A file of order lines to send.
    #[arg(long, conflicts_with = "generate")]
    file: Option<std::path::PathBuf>,
    /// Generated orders to send when there is no --file.
    #[arg(long, default_value_t = 100_000)]
    generate: u64,
}

#[cfg(feature = "kafka")]
fn main() -> emberflow::Result<()> {
    let args = <Args as clap::Parser>::parse();
    let lines: Vec<Vec<u8>> = match &args.file {
        Some(f) => std::fs::read(f)
            .map_err(|e| emberflow::Error::io(f, e))?
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect(),
        None => emberflow_dashboard::orders::generate_lines(args.generate, 42, 0.01).lines,
    };
    let started = std::time::Instant::now();
    let sent = emberflow::kafka::produce_lines(
        &emberflow::kafka::KafkaParams::new(args.brokers),
        &args.topic,
        &lines,
        args.rate,
    )?;
    println!(
        "sent {sent} lines to {} in {:.1} s",
        args.topic,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(not(feature = "kafka"))]
fn main() {
    let _ = <Args as clap::Parser>::parse();
    eprintln!(
        "stream_orders needs the kafka feature: cargo run --features kafka --example stream_orders"
    );
    std::process::exit(2);
}
