//! Generates order lines for the dashboard, deterministically for a seed:
//! `yyyy-MM-dd HH:mm:ss,orderId,clientId,symbol,amount,price,B|S`, about 100 symbols and 100
//! clients with skewed popularity, timestamps spread over an hour, and optionally a fraction of
//! malformed lines of many kinds (wrong field count, bad numbers, impossible dates, bad side,
//! empty lines, invalid UTF-8).
//!
//! Run: `cargo run --release --example gen_orders -- 500000 --seed 42 --bad 0.01 > orders.txt`
//!
//! Prints the lines to stdout and, to stderr, how many are malformed.

use std::io::Write;

use clap::Parser;

/// Deterministic order lines on stdout (how many are malformed on stderr).
#[derive(Parser)]
#[command(name = "gen_orders")]
struct Args {
    /// How many lines.
    #[arg(default_value_t = 10_000)]
    lines: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Fraction of malformed lines, like 0.01.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    bad: f64,
}

fn main() {
    let args = Args::parse();
    let n = args.lines;
    let g = emberflow_dashboard::orders::generate_lines(n, args.seed, args.bad);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for l in &g.lines {
        if out.write_all(l).and_then(|_| out.write_all(b"\n")).is_err() {
            fail("cannot write to stdout");
        }
    }
    if out.flush().is_err() {
        fail("cannot write to stdout");
    }
    eprintln!("{n} lines, {} malformed", g.malformed);
}

fn fail(msg: &str) -> ! {
    eprintln!("gen_orders: {msg}");
    std::process::exit(2)
}
