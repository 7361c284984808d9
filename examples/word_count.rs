//! Word count, end to end: generates a text file (deterministic, ~20 MB by default), counts
//! its words with `reduce_by_key`, prints the ten most frequent, and saves all counts with
//! `save_as_text_file` (`part-00000…` and `_SUCCESS`, written atomically).
//!
//! Run: `cargo run --release --example word_count [-- <MB of text> <output dir>]`
//!
//! Prints the input size, the number of distinct words, the top ten as `(word,count)` and
//! where the output went.

use emberflow::prelude::*;

#[path = "../benches/workloads/mod.rs"]
mod workloads;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mb: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20);
    let work = std::env::temp_dir().join(format!("emberflow-word-count-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    let out = args
        .get(2)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| work.join("counts"));
    let input = work.join("words.txt");
    workloads::generate_text(&input, mb << 20, 42).map_err(|e| Error::io(&input, e))?;

    let ctx = Context::local(std::thread::available_parallelism().map_or(2, |n| n.get()));
    let started = std::time::Instant::now();
    let lines = ctx.text_file(&input, 4)?;
    // `flat_map(|l| ... .collect::<Vec<_>>()).map(|w| (w, 1))` counts the same; emitting the
    // pairs spares a `Vec` per line and a pass over the words.
    let counts = lines
        .flat_map_emit(|l: String, out| {
            for w in l.split_whitespace() {
                out.emit((w.to_owned(), 1u64));
            }
        })
        .reduce_by_key(|a, b| a + b)
        .cache();
    let top: Vec<(String, u64)> = counts.top_by(10, |(_, c)| *c)?;
    let distinct = counts.count()?;
    if out.exists() {
        counts.save_as_text_file_replacing(&out)?;
    } else {
        counts.save_as_text_file(&out)?;
    }
    println!(
        "input: {} ({mb} MB), {distinct} distinct words, {:.0} ms",
        input.display(),
        started.elapsed().as_secs_f64() * 1e3
    );
    for (word, count) in &top {
        println!("{}", (word, count).to_text());
    }
    println!("counts saved to {}", out.display());
    std::fs::remove_file(&input).map_err(|e| Error::io(&input, e))?;
    Ok(())
}
