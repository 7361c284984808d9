//! The order-stream dashboard of a brokerage (the classic Spark Streaming demo): a
//! `text_file_stream` of order lines; buys vs sells per batch, running totals, the top 5
//! clients by `amount * price` (streaming state), and the top 5 symbols over a 60-minute
//! window; malformed lines skipped and counted.
//!
//! Run: `cargo run --release --example order_dashboard` (the whole demo, on generated data;
//! `-- --help` for every option: a real input directory, a file of orders, batch and chunk
//! sizes, output, checkpoint, `--map-with-state`, `--summary-json`).
//!
//! Prints the dashboard after every batch and a final summary; exits 0 once all data is
//! processed.

fn main() {
    env_logger_lite();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = emberflow_dashboard::app::run(&args) {
        eprintln!("order_dashboard: {e}");
        std::process::exit(1);
    }
}

/// Warnings (malformed lines) to stderr without a logging dependency in the example.
fn env_logger_lite() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.level() <= log::Level::Warn
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                eprintln!("[{}] {}", r.level(), r.args());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    let _ = log::set_logger(&LOGGER).map(|()| log::set_max_level(log::LevelFilter::Warn));
}
