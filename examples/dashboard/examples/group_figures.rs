//! Prints the throughput of the order dashboard run as 1, 2 and 3 members of one consumer
//! group (`order_dashboard --kafka --group`), each a process of its own on this machine:
//! generated orders are produced to a topic of 6 partitions first, then the members start
//! and the clock runs until the members' merged counts hold every order. Needs the `kafka`
//! feature, a broker, `nisshi` on PATH (to create topics) and a release build of the
//! program with Kafka (`cargo build --release --features kafka --example order_dashboard`).
//!
//! Run: `cargo run --release --features kafka --example group_figures -- [BROKER] [ORDERS] [PROGRAM]`
//! (default 127.0.0.1:19092, 400000 orders, target/release/examples/order_dashboard)
//!
//! Each member count runs three times, the counts alternating; prints one line per member
//! count: `members N: <best> orders/s (<seconds>), runs <r1> <r2> <r3>`.

#[cfg(feature = "kafka")]
fn main() -> emberflow::Result<()> {
    use std::time::{Duration, Instant};

    use emberflow::kafka::{produce_lines, KafkaParams};
    use emberflow::Error;
    use emberflow_dashboard::group::merge;
    use emberflow_dashboard::orders::generate_lines;

    let args: Vec<String> = std::env::args().skip(1).collect();
    let broker = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:19092".to_owned());
    let n: u64 = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(400_000);
    let program = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "target/release/examples/order_dashboard".to_owned());
    let lines = generate_lines(n, 7, 0.01).lines;
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); 3];
    for round in 0..3 {
        for members in 1..=3usize {
            let run = format!("group-figures-{}-{members}-{round}", std::process::id());
            let status = std::process::Command::new("nisshi")
                .args([
                    "topic",
                    "create",
                    &run,
                    "--broker",
                    &format!("tcp://{broker}"),
                ])
                .args(["--partitions", "6"])
                .stdout(std::process::Stdio::null())
                .status()
                .map_err(|e| Error::io("nisshi", e))?;
            if !status.success() {
                return Err(Error::user("nisshi topic create failed"));
            }
            produce_lines(&KafkaParams::new(broker.clone()), &run, &lines, None)?;
            let dir = std::env::temp_dir().join(&run);
            let prefix = dir.join("facts").join("batch");
            let started = Instant::now();
            let mut children = Vec::new();
            for _ in 0..members {
                children.push(
                    std::process::Command::new(&program)
                        .args(["--kafka", &broker, "--topic", &run, "--group", &run])
                        .args(["--checkpoint", &dir.to_string_lossy(), "--batch-ms", "500"])
                        .arg("--quiet")
                        .stdout(std::process::Stdio::null())
                        .spawn()
                        .map_err(|e| Error::io(&program, e))?,
                );
            }
            // The members' outputs are the only way to hear from them: poll the merged counts.
            let counted = loop {
                std::thread::sleep(Duration::from_millis(50));
                let s = merge(&prefix.to_string_lossy(), Duration::from_secs(3600)).ok();
                let got = s.map_or(0, |s| s.orders + s.malformed);
                if got >= n {
                    break started.elapsed();
                }
                if started.elapsed() > Duration::from_secs(600) {
                    return Err(Error::user(format!("only {got} of {n} orders counted")));
                }
            };
            for c in &mut children {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &c.id().to_string()])
                    .status();
            }
            for mut c in children {
                let _ = c.wait();
            }
            let _ = std::fs::remove_dir_all(&dir);
            rates[members - 1].push(n as f64 / counted.as_secs_f64());
        }
    }
    for (i, r) in rates.iter().enumerate() {
        let best = r.iter().copied().fold(0.0, f64::max);
        let runs: Vec<String> = r.iter().map(|x| format!("{x:.0}")).collect();
        println!(
            "members {}: {best:.0} orders/s ({:.2} s), runs {}",
            i + 1,
            n as f64 / best,
            runs.join(" ")
        );
    }
    Ok(())
}

#[cfg(not(feature = "kafka"))]
fn main() {
    eprintln!("group_figures needs the kafka feature");
}
