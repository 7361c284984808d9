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

// Every batch allocates and frees millions of small values (lines, orders, keys); glibc's
// malloc spent ~30% of the program's time on them (perf), mimalloc a fraction of that.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // RUST_LOG sets the level; warnings (a summary of malformed lines per batch) by default.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = emberflow_dashboard::app::run(&args) {
        eprintln!("order_dashboard: {e}");
        std::process::exit(1);
    }
}
