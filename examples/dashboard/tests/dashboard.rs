//! The order dashboard: its final totals equal a plain batch job over the same lines, over the
//! committed sample and over generated input with malformed lines, for several batch and chunk
//! sizes, with both state operators; the whole program end to end on real files; and the
//! split-and-send script moving every line exactly once.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use emberflow::prelude::*;
use emberflow::testing::BatchRunner;
use emberflow_dashboard::app;
use emberflow_dashboard::dashboard::{batch_summary, Dashboard, DashboardOptions, Summary};
use emberflow_dashboard::orders::generate_lines;

/// A file of the repository's `data/` directory (tests run in this crate's directory).
fn data(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(name)
}

fn lines_of(bytes: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = bytes
        .split(|b| *b == b'\n')
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// Puts `lines` into `dir/name` as a producer drops a file into a watched directory: written
/// beside it, dated `when`, then renamed in whole.
fn drop_lines(dir: &Path, name: &str, lines: &[Vec<u8>], when: std::time::SystemTime) {
    let tmp = dir.parent().unwrap().join(format!("{name}.tmp"));
    let mut bytes = Vec::new();
    for l in lines {
        bytes.extend_from_slice(l);
        bytes.push(b'\n');
    }
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&tmp)
        .unwrap()
        .set_modified(when)
        .unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

/// Runs the dashboard pipeline on the manual clock, one chunk per batch.
fn streamed(lines: &[String], chunk: usize, map_with_state: bool) -> Summary {
    let runner = BatchRunner::new(Duration::from_secs(1));
    let queue = RddQueue::new();
    for c in lines.chunks(chunk) {
        queue.push(runner.context().parallelize(c.to_vec(), 3));
    }
    let n = queue.len();
    let input = runner.ssc().queue_stream(&queue, true);
    let d = Dashboard::build(
        &input,
        &DashboardOptions {
            map_with_state,
            print: false,
            ..DashboardOptions::default()
        },
    );
    runner.run(n + 1).unwrap();
    d.summary(Duration::from_secs(1))
}

fn same_results(got: &Summary, want: &Summary, context: &str) {
    assert_eq!(
        (got.orders, got.buys, got.sells, got.malformed),
        (want.orders, want.buys, want.sells, want.malformed),
        "{context}"
    );
    assert_eq!(got.top5_clients, want.top5_clients, "{context}");
    assert_eq!(got.top5_symbols, want.top5_symbols, "{context}");
}

#[test]
fn the_sample_gives_the_batch_jobs_results() {
    let lines = lines_of(&std::fs::read(data("orders-sample.txt")).unwrap());
    assert_eq!(lines.len(), 10_000);
    let ctx = Context::local(2);
    let want = batch_summary(&ctx, ctx.parallelize(lines.clone(), 4)).unwrap();
    assert!(want.malformed > 0 && want.orders + want.malformed == 10_000);
    for (chunk, mws) in [(10_000, false), (2_500, true), (777, false), (1_000, true)] {
        let got = streamed(&lines, chunk, mws);
        same_results(
            &got,
            &want,
            &format!("chunks of {chunk}, map_with_state {mws}"),
        );
        assert_eq!(got.batches as usize, lines.len().div_ceil(chunk) + 1);
    }
}

#[test]
fn malformed_lines_are_counted_exactly() {
    let g = generate_lines(30_000, 11, 0.03);
    let lines = lines_of(&g.to_bytes());
    let ctx = Context::local(2);
    let want = batch_summary(&ctx, ctx.parallelize(lines.clone(), 4)).unwrap();
    assert_eq!(want.malformed, g.malformed);
    let got = streamed(&lines, 4_000, false);
    same_results(&got, &want, "generated with 3% malformed");
    assert_eq!(got.malformed, g.malformed);
}

#[test]
fn the_program_runs_end_to_end_on_real_files_and_writes_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let orders = dir.path().join("orders.txt");
    let g = generate_lines(6_000, 5, 0.02);
    std::fs::write(&orders, g.to_bytes()).unwrap();
    let json = dir.path().join("summary.json");
    let out = dir.path().join("metrics").to_string_lossy().into_owned();
    let args = [
        "--orders",
        orders.to_str().unwrap(),
        "--batch-ms",
        "100",
        "--chunk-lines",
        "1500",
        "--quiet",
        "--output",
        &out,
        "--summary-json",
        json.to_str().unwrap(),
    ];
    let summary = app::run(&args).unwrap();
    let ctx = Context::local(2);
    let want = batch_summary(&ctx, ctx.text_file(&orders, 2).unwrap()).unwrap();
    same_results(&summary, &want, "end to end");
    assert_eq!(summary.malformed, g.malformed);
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    for key in [
        "orders",
        "buys",
        "sells",
        "malformed",
        "top5_clients",
        "top5_symbols",
        "batches",
        "orders_per_sec",
    ] {
        assert!(written.get(key).is_some(), "{key} missing in {written}");
    }
    assert_eq!(written["orders"], want.orders);
    assert_eq!(written["top5_clients"][0][0], want.top5_clients[0].0);
    // One metrics directory per batch, each complete.
    let mut saved: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("metrics-")
        })
        .collect();
    saved.sort();
    assert!(saved.len() as u64 >= summary.batches.min(4), "{saved:?}");
    assert!(saved.iter().all(|p| p.join("_SUCCESS").exists()));
    assert!(app::run(&["--no-such-flag"])
        .unwrap_err()
        .to_string()
        .contains("--no-such-flag"));
}

#[test]
fn split_and_send_moves_every_line_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("watched");
    let status = std::process::Command::new("bash")
        .args([
            data("split_and_send.sh").to_str().unwrap(),
            data("orders-sample.txt").to_str().unwrap(),
            target.to_str().unwrap(),
            "700",
            "0",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let mut chunks: Vec<_> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    chunks.sort();
    assert_eq!(chunks.len(), 10_000usize.div_ceil(700));
    let mut joined = Vec::new();
    for c in &chunks {
        joined.extend(std::fs::read(c).unwrap());
    }
    assert_eq!(joined, std::fs::read(data("orders-sample.txt")).unwrap());
    // Nothing left behind: the staging directory is gone.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // The in-process helper does the same.
    let lines: Vec<Vec<u8>> = std::fs::read(data("orders-sample.txt"))
        .unwrap()
        .split(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    let mut feed = emberflow_dashboard::feed::SplitAndSend::new(
        &lines[..10_000],
        3_000,
        &dir.path().join("st"),
        &dir.path().join("w2"),
    )
    .unwrap();
    let mut n = 0;
    while feed.send_next().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 4);
    assert_eq!(std::fs::read_dir(dir.path().join("st")).unwrap().count(), 0);
}

/// Splitting a file streams it (one chunk in memory at a time) and keeps every line once:
/// empty lines, CRLF, and a last line without a newline included.
#[test]
fn split_and_send_from_a_file_keeps_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.txt");
    let mut text = String::new();
    for i in 0..2_503 {
        text.push_str(&match i % 500 {
            7 => String::new(),
            8 => format!("line {i}\r"),
            _ => format!("line {i}"),
        });
        text.push('\n');
    }
    text.push_str("last, no newline");
    std::fs::write(&file, &text).unwrap();
    let mut feed = emberflow_dashboard::feed::SplitAndSend::from_file(
        &file,
        1_000,
        &dir.path().join("staging"),
        &dir.path().join("watched"),
    )
    .unwrap();
    assert_eq!(feed.total_lines(), 2_504);
    let mut sent = Vec::new();
    while let Some(p) = feed.send_next().unwrap() {
        sent.push(std::fs::read(p).unwrap());
    }
    assert_eq!(sent.len(), 3, "1000 + 1000 + 504 lines");
    let joined: Vec<u8> = sent.concat();
    assert_eq!(joined, format!("{text}\n").into_bytes());
}

#[test]
fn watching_a_real_directory_stops_when_idle_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let watched = dir.path().join("in");
    std::fs::create_dir_all(&watched).unwrap();
    let g = generate_lines(3_000, 9, 0.01);
    // Files dated a little ahead: whenever the program starts in the next moments, they are
    // new to it, and the batch whose time passes their date takes them.
    let when = std::time::SystemTime::now() + Duration::from_millis(1000);
    for (i, chunk) in g.lines.chunks(1_000).enumerate() {
        drop_lines(&watched, &format!("orders-{i}.txt"), chunk, when);
    }
    let json = dir.path().join("s.json");
    let args = [
        "--input-dir",
        watched.to_str().unwrap(),
        "--batch-ms",
        "100",
        "--stop-when-idle",
        "30",
        "--quiet",
        "--summary-json",
        json.to_str().unwrap(),
    ];
    let summary = app::run(&args).unwrap();
    assert_eq!(summary.orders + summary.malformed, 3_000);
    assert_eq!(summary.malformed, g.malformed);
    assert!(json.exists());
    assert!(matches!(
        app::run(&["--input-dir", "/no/such/dir"]),
        Err(Error::MissingDirectory { .. })
    ));
}

#[test]
fn a_restarted_dashboard_continues_its_totals_from_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let watched = dir.path().join("in");
    let ckpt = dir.path().join("ckpt");
    std::fs::create_dir_all(&watched).unwrap();
    let drop_now = |name: &str, lines: &[Vec<u8>]| {
        let when = std::time::SystemTime::now() + Duration::from_millis(1000);
        drop_lines(&watched, name, lines, when);
    };
    let g = generate_lines(4_000, 21, 0.02);
    let args = |json: &Path| {
        vec![
            "--input-dir".to_string(),
            watched.to_string_lossy().into_owned(),
            "--checkpoint".to_string(),
            ckpt.to_string_lossy().into_owned(),
            "--batch-ms".to_string(),
            "100".to_string(),
            "--stop-when-idle".to_string(),
            "30".to_string(),
            "--quiet".to_string(),
            "--summary-json".to_string(),
            json.to_string_lossy().into_owned(),
        ]
    };
    drop_now("a.txt", &g.lines[..2_000]);
    let first = app::run(&args(&dir.path().join("1.json"))).unwrap();
    assert_eq!(first.orders + first.malformed, 2_000);
    drop_now("b.txt", &g.lines[2_000..]);
    let second = app::run(&args(&dir.path().join("2.json"))).unwrap();
    // Totals are streaming state: the second run reports everything it ever processed.
    assert_eq!(second.orders + second.malformed, 4_000);
    assert_eq!(second.malformed, g.malformed);
    let ctx = Context::local(2);
    let all: Vec<String> = lines_of(&g.to_bytes());
    let want = batch_summary(&ctx, ctx.parallelize(all, 2)).unwrap();
    assert_eq!(second.top5_clients, want.top5_clients);
}

#[test]
fn the_no_argument_demo_on_a_small_generated_input_reports_the_batch_jobs_results() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("summary.json");
    // The no-argument path (generate, feed split-and-send style, process, exit), made small.
    let summary = app::run(&[
        "--generate",
        "4000",
        "--batch-ms",
        "100",
        "--chunk-lines",
        "1000",
        "--quiet",
        "--summary-json",
        json.to_str().unwrap(),
    ])
    .unwrap();
    let g = generate_lines(4000, 42, 0.01);
    let ctx = Context::local(2);
    let want = batch_summary(&ctx, ctx.parallelize(lines_of(&g.to_bytes()), 2)).unwrap();
    same_results(&summary, &want, "no-argument demo");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(written["orders"], want.orders);
    assert_eq!(written["malformed"], g.malformed);
    assert!(written["batches"].as_u64().unwrap() >= 4);
}

#[test]
fn the_command_line_keeps_every_flag_and_has_help() {
    use clap::CommandFactory;
    let cmd = app::Options::command();
    let longs: Vec<&str> = cmd.get_arguments().filter_map(|a| a.get_long()).collect();
    for flag in [
        "orders",
        "batch-ms",
        "chunk-lines",
        "quiet",
        "summary-json",
        "input-dir",
        "checkpoint",
        "stop-when-idle",
        "output",
        "kafka",
        "topic",
        "map-with-state",
        "generate",
        "seed",
        "bad",
        "rate",
    ] {
        assert!(longs.contains(&flag), "--{flag} missing: {longs:?}");
    }
    assert!(app::Options::parse(&["--help"]).unwrap().is_none());
    let o = app::Options::parse(&["--batch-ms", "250", "--chunk-lines", "0", "--quiet"])
        .unwrap()
        .unwrap();
    assert_eq!(o.batch, Duration::from_millis(250));
    assert_eq!(o.chunk_lines, 1, "at least one line per chunk");
    assert!(o.quiet);
    let err = app::Options::parse(&["--batch-ms", "soon"]).unwrap_err();
    assert!(err.to_string().contains("--batch-ms"), "{err}");
}

/// Directories of state (RDD) checkpoints written under a checkpoint directory.
fn state_checkpoints(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("ctx-"))
        .flat_map(|e| std::fs::read_dir(e.path()).unwrap().flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with("rdd-"))
        .count()
}

#[test]
fn the_states_are_written_at_the_interval_the_options_give() {
    let lines = generate_lines(2_000, 5, 0.01).lines;
    for map_with_state in [false, true] {
        for every in [None, Some(Duration::from_secs(2))] {
            let dir = tempfile::tempdir().unwrap();
            let (input, ckpt) = (dir.path().join("in"), dir.path().join("ckpt"));
            std::fs::create_dir_all(&input).unwrap();
            let when = std::time::UNIX_EPOCH + Duration::from_millis(500);
            drop_lines(&input, "orders.txt", &lines, when);
            let runner = BatchRunner::new(Duration::from_secs(1));
            runner.ssc().checkpoint(&ckpt).unwrap();
            let d = Dashboard::build(
                &runner.ssc().text_file_stream(&input),
                &DashboardOptions {
                    map_with_state,
                    print: false,
                    state_checkpoint_interval: every,
                    ..DashboardOptions::default()
                },
            );
            runner.run(4).unwrap();
            let summary = d.summary(Duration::from_secs(1));
            assert_eq!(summary.orders + summary.malformed, 2_000);
            let written = state_checkpoints(&ckpt);
            // Two states (totals, clients), each written at 2 s and 4 s (one state alone
            // leaves at most 2 directories); none before the default interval (10 s).
            match every {
                None => assert_eq!(written, 0, "map_with_state {map_with_state}"),
                Some(_) => assert!(written >= 3, "map_with_state {map_with_state}: {written}"),
            }
        }
    }
}
