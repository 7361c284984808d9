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

fn main() {
    let mut args = std::env::args().skip(1);
    let mut n: u64 = 10_000;
    let mut seed: u64 = 42;
    let mut bad: f64 = 0.0;
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| fail(&format!("{name} needs a value")))
        };
        match a.as_str() {
            "--seed" => {
                seed = value("--seed")
                    .parse()
                    .unwrap_or_else(|_| fail("--seed takes an integer"))
            }
            "--bad" => {
                bad = value("--bad")
                    .parse()
                    .unwrap_or_else(|_| fail("--bad takes a fraction like 0.01"))
            }
            "--help" | "-h" => {
                eprintln!("usage: gen_orders [LINES] [--seed N] [--bad FRACTION]");
                return;
            }
            other => {
                n = other
                    .parse()
                    .unwrap_or_else(|_| fail(&format!("unknown argument {other:?}")))
            }
        }
    }
    let g = emberflow_dashboard::orders::generate_lines(n, seed, bad);
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
