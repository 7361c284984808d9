//! A custom `Receiver`: reads a text file line by line from its own thread and stores each
//! line, restarting itself if the file cannot be opened yet (Spark's CustomReceiver example,
//! with a file instead of a socket). The stream counts words per batch.
//!
//! Run: `cargo run --release --example custom_receiver [-- FILE]` (default: a generated file)
//!
//! Prints word counts per batch.

use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

use emberflow::prelude::*;

struct FileLines {
    path: PathBuf,
}

impl Receiver for FileLines {
    type Item = String;

    fn on_start(&mut self, ctx: &ReceiverContext<String>) {
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) => {
                ctx.restart(format!("cannot open {}: {e}", self.path.display()));
                return;
            }
        };
        for line in std::io::BufReader::new(file).lines() {
            if ctx.is_stopped() {
                return;
            }
            match line {
                Ok(l) => {
                    // Only fails with the write-ahead log on and its disk failing.
                    if let Err(e) = ctx.store(l) {
                        ctx.restart(format!("cannot store: {e}"));
                        return;
                    }
                }
                Err(e) => {
                    ctx.report_error(format!("read error: {e}"));
                    return;
                }
            }
            // Pace the lines so they spread over a few batches.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn main() -> Result<()> {
    let path = match std::env::args().nth(1) {
        Some(p) => PathBuf::from(p),
        None => {
            let p =
                std::env::temp_dir().join(format!("emberflow-receiver-{}.txt", std::process::id()));
            let text: Vec<String> = (0..1000)
                .map(|i| format!("line {} of the custom receiver", i % 7))
                .collect();
            std::fs::write(&p, text.join("\n")).map_err(|e| Error::io(&p, e))?;
            p
        }
    };
    let ctx = Context::local(2);
    let ssc = StreamingContext::new(&ctx, Duration::from_millis(500));
    let counts = ssc
        .receiver_stream(FileLines { path })
        .flat_map(|l: String| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|w| (w, 1u64))
        .reduce_by_key(|a, b| a + b);
    counts.print(5);
    ssc.start()?;
    ssc.await_termination_or_timeout(Duration::from_secs(3))?;
    ssc.stop(StopOptions::graceful())?;
    Ok(())
}
