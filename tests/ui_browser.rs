//! The live page in a real headless Chromium (Debian's package; `scripts/test.sh` installs
//! it): it loads, its charts hold exactly the batches that ran, new batches appear without a
//! reload, a failed batch shows its error and its output operations. Screenshots go to
//! `target/tmp/ui-screenshots/`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use emberflow::prelude::*;
use emberflow::testing::BatchRunner;
use emberflow::BatchInfo;
use fantoccini::{Client, ClientBuilder, Locator};

const GUARD: Duration = Duration::from_secs(30);

fn program(var: &str, default: &str, package: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(
        path.exists(),
        "{} not found: install Debian's {package} package (scripts/test.sh does) or set {var}",
        path.display()
    );
    path
}

/// Headless Chromium driven over WebDriver by chromedriver; both end with the test.
struct Tab {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
}

impl Tab {
    fn open(url: &str) -> Tab {
        let chromium = program("EMBERFLOW_CHROMIUM", "/usr/bin/chromium", "chromium");
        let chromedriver = program(
            "EMBERFLOW_CHROMEDRIVER",
            "/usr/bin/chromedriver",
            "chromium-driver",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        // Without the network switches Chromium keeps calling out, and a closed network
        // refuses it many times a second.
        let options = serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1400,1800",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        });
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let deadline = Instant::now() + GUARD;
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let attempt = rt.block_on(
                ClientBuilder::new(connector)
                    .capabilities(caps.clone())
                    .connect(&format!("http://127.0.0.1:{port}")),
            );
            match attempt {
                Ok(c) => break c,
                // chromedriver is still starting.
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("no WebDriver session: {e}"),
            }
        };
        std::mem::forget(profile);
        rt.block_on(client.goto(url)).unwrap();
        Tab {
            rt,
            client: Some(client),
            driver,
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// The value of a JavaScript expression in the page.
    fn eval(&self, js: &str) -> serde_json::Value {
        self.rt
            .block_on(self.client().execute(&format!("return ({js});"), vec![]))
            .unwrap()
    }

    fn click(&self, css: &str) {
        self.rt.block_on(async {
            self.client()
                .find(Locator::Css(css))
                .await
                .unwrap()
                .click()
                .await
                .unwrap()
        });
    }

    /// Waits until `js` is true in the page (the page polls its API every second).
    fn wait_until(&self, js: &str) {
        let deadline = Instant::now() + GUARD;
        while self.eval(js) != serde_json::Value::Bool(true) {
            assert!(Instant::now() < deadline, "the page never had {js}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.rt.block_on(self.client().screenshot()).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

impl Drop for Tab {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            let _ = self.rt.block_on(c.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The points of a timeline chart: (batch time in ms, value).
fn points(tab: &Tab, chart: &str) -> Vec<(u64, f64)> {
    let v = tab.eval(&format!(
        "JSON.stringify(emberflow.charts.{chart}.data.datasets[0].data)"
    ));
    let points: Vec<serde_json::Value> = serde_json::from_str(v.as_str().unwrap()).unwrap();
    points
        .iter()
        .map(|p| (p["x"].as_u64().unwrap(), p["y"].as_f64().unwrap()))
        .collect()
}

fn expected(infos: &[BatchInfo], f: impl Fn(&BatchInfo) -> f64) -> Vec<(u64, f64)> {
    infos
        .iter()
        .map(|i| (i.batch_time.millis(), f(i)))
        .collect()
}

#[test]
fn the_page_shows_the_batches_that_ran_and_updates_itself() {
    let ctx = Context::local(2);
    let runner = BatchRunner::with_builder(&ctx, Duration::from_secs(1), |b| {
        b.name("browser-test").ui("127.0.0.1:0")
    });
    let input = runner.queue_input::<u32, u32>(vec![
        vec![1, 2, 3],
        vec![4],
        (0..7).collect(),
        vec![],
        (0..12).collect(),
    ]);
    input.foreach_rdd(|rdd, t| {
        let n = rdd.count()?;
        if t == Time::from_millis(2000) {
            return Err(emberflow::Error::User(format!("sink refused {n} records")));
        }
        Ok(())
    });
    input
        .map(|x| (x % 3, 1u64))
        .update_state_by_key(|v: &[u64], s: Option<u64>| Some(s.unwrap_or(0) + v.len() as u64))
        .foreach_rdd(|rdd, _| Ok(rdd.count().map(|_| ())?));
    // Records as event seconds: the page shows the watermark (greatest time seen minus 2 s).
    input
        .with_watermark(
            |x| EventTime::from_millis(i64::from(*x) * 1000),
            Duration::from_secs(2),
        )
        .window(Duration::from_secs(10), Duration::from_secs(10))
        .count(OutputMode::Update)
        .foreach_rdd(|rdd, _| Ok(rdd.count().map(|_| ())?));
    let mut infos = runner.run(3).unwrap();
    let url = runner.ssc().ui_url().unwrap();

    let tab = Tab::open(&url);
    tab.wait_until("window.emberflow !== undefined && emberflow.refreshes > 0");
    // A mark that a reload would wipe.
    tab.eval("window.loadedOnce = 'yes'");

    let rate = |i: &BatchInfo| i.num_records() as f64;
    let delay = |i: &BatchInfo| i.scheduling_delay().unwrap().as_millis() as f64;
    let total = |i: &BatchInfo| i.total_delay().unwrap().as_millis() as f64;
    assert_eq!(points(&tab, "inputRate"), expected(&infos, rate));
    assert_eq!(points(&tab, "schedulingDelay"), expected(&infos, delay));
    assert_eq!(points(&tab, "totalDelay"), expected(&infos, total));
    assert_eq!(
        tab.eval(
            "emberflow.charts.inputRateHistogram.data.datasets[0].data.reduce((a, b) => a + b, 0)"
        ),
        3
    );
    assert_eq!(
        tab.eval("document.querySelectorAll('#batches tbody tr').length"),
        3
    );
    assert_eq!(
        tab.eval("document.getElementById('completed').textContent"),
        "3"
    );
    assert_eq!(
        tab.eval("document.getElementById('failed').textContent"),
        "1"
    );
    // Batch 3 runs with the watermark of batches 1 and 2: 4 s - 2 s.
    assert_eq!(
        tab.eval("document.getElementById('watermark').textContent"),
        "1970-01-01T00:00:02.000Z"
    );
    assert_eq!(
        tab.eval("document.getElementById('title').textContent"),
        "browser-test — emberflow streaming"
    );
    // The state operator's keys (0, 1, 2 seen so far).
    assert_eq!(
        tab.eval("document.querySelector('#state tbody td:nth-child(2)').textContent"),
        "3"
    );

    // The failed batch: its row says so, and a click shows its output operations.
    let row = "document.querySelector('#batches tr[data-batch=\"2000\"]')";
    assert_eq!(
        tab.eval(&format!("{row}.classList.contains('failed')")),
        true
    );
    let shown = tab.eval(&format!("{row}.textContent"));
    assert!(
        shown.as_str().unwrap().contains("sink refused 1 records"),
        "{shown}"
    );
    tab.click("#batches tr[data-batch=\"2000\"]");
    tab.wait_until("document.querySelectorAll('#operations tbody tr').length === 3");
    let ops = tab.eval("document.getElementById('operations').innerText");
    let ops = ops.as_str().unwrap();
    assert!(ops.contains("failed"), "{ops}");
    assert!(ops.contains("sink refused 1 records"), "{ops}");
    assert!(
        ops.contains("succeeded"),
        "the other output operation: {ops}"
    );
    tab.screenshot("page-3-batches.png");

    // Two more batches: the page shows them without a reload.
    infos.extend(runner.run(2).unwrap());
    tab.wait_until("emberflow.charts.inputRate.data.datasets[0].data.length === 5");
    assert_eq!(
        tab.eval("window.loadedOnce"),
        "yes",
        "the page was not reloaded"
    );
    assert_eq!(points(&tab, "inputRate"), expected(&infos, rate));
    assert_eq!(points(&tab, "processingTime").len(), 5);
    assert_eq!(
        tab.eval("document.querySelectorAll('#batches tbody tr').length"),
        5
    );
    tab.screenshot("page-5-batches.png");
    runner.stop().unwrap();
}
