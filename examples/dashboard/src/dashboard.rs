//! The order-stream dashboard's pipeline, shared by `examples/order_dashboard.rs`, its tests
//! and benchmark. Per batch: buys vs sells (`reduce_by_key`), running totals of orders, buys,
//! sells and malformed lines kept as streaming state (`update_state_by_key`), total
//! `amount * price` per client as state (`update_state_by_key`, or `map_with_state`) with the
//! top 5 clients, and shares per symbol over a 60-minute window (`reduce_by_key_and_window`)
//! with the top 5 symbols. The three are unioned into one stream of `(metric, values)` lines.

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use crate::orders::{parse_order, Order};
use emberflow::{DStream, Data, State, StateSpec, Time};

/// How the dashboard is built.
#[derive(Clone, Debug)]
pub struct DashboardOptions {
    /// The symbol window (default 60 minutes).
    pub window: Duration,
    /// Keep client totals with `map_with_state` instead of `update_state_by_key`.
    pub map_with_state: bool,
    /// Save the `(metric, values)` lines of every batch under this prefix.
    pub output_prefix: Option<String>,
    /// Print the dashboard to the console every batch.
    pub print: bool,
    /// How often the totals and client states are written to the checkpoint directory
    /// (`DStream::checkpoint`); `None`: the engine's default (10 s of stream time).
    pub state_checkpoint_interval: Option<Duration>,
}

impl Default for DashboardOptions {
    fn default() -> Self {
        DashboardOptions {
            window: Duration::from_secs(3600),
            map_with_state: false,
            output_prefix: None,
            print: true,
            state_checkpoint_interval: None,
        }
    }
}

/// Running totals, kept as streaming state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Valid orders.
    pub orders: u64,
    /// Buy orders.
    pub buys: u64,
    /// Sell orders.
    pub sells: u64,
    /// Malformed lines skipped.
    pub malformed: u64,
}

/// What the dashboard shows after a batch.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The batch it is about.
    pub batch_time: Option<Time>,
    /// Batches processed.
    pub batches: u64,
    /// Valid orders of this batch.
    pub batch_orders: u64,
    /// Buys and sells of this batch.
    pub batch_buys: u64,
    /// Sells of this batch.
    pub batch_sells: u64,
    /// Malformed lines of this batch.
    pub batch_malformed: u64,
    /// Totals over everything processed.
    pub totals: Totals,
    /// The five clients with the largest `amount * price` so far, in cents.
    pub top_clients: Vec<(u64, u64)>,
    /// The five symbols with the most shares traded in the window.
    pub top_symbols: Vec<(String, u64)>,
}

/// The final results, as `--summary-json` writes them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Valid orders.
    pub orders: u64,
    /// Buy orders.
    pub buys: u64,
    /// Sell orders.
    pub sells: u64,
    /// Malformed lines.
    pub malformed: u64,
    /// `[client id, total amount * price]`, rounded to cents.
    pub top5_clients: Vec<(u64, f64)>,
    /// `[symbol, shares in the window]`.
    pub top5_symbols: Vec<(String, u64)>,
    /// Batches processed.
    pub batches: u64,
    /// Valid orders per second of processing.
    pub orders_per_sec: f64,
}

#[derive(Clone)]
enum Parsed {
    Valid(Order),
    Malformed(String),
}

/// The `k` largest by value (ties: smallest key first).
pub(crate) fn top<K: Ord + Clone, V: Ord + Clone>(mut v: Vec<(K, V)>, k: usize) -> Vec<(K, V)> {
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(k);
    v
}

/// One record per batch: the 5 largest `(key, value)` pairs of the batch's RDD.
fn top5<K: Data + Ord + Hash, V: Data + Ord>(s: &DStream<(K, V)>) -> DStream<Vec<(K, V)>> {
    s.map(|kv| ((), kv))
        .combine_by_key_with_partitions(
            |kv| vec![kv],
            |mut acc, kv| {
                acc.push(kv);
                if acc.len() > 64 {
                    acc = top(acc, 5);
                }
                acc
            },
            |mut a, b| {
                a.extend(b);
                top(a, 5)
            },
            1,
        )
        .map(|(_, v)| top(v, 5))
}

/// A state stream with its checkpoint interval set, when the options give one.
fn checkpoint_every<T: Data>(state: &DStream<T>, every: Option<Duration>) -> DStream<T> {
    match every {
        Some(every) => state.checkpoint(every),
        None => state.clone(),
    }
}

fn cents(c: u64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

fn sum_state(vals: &[u64], s: Option<u64>) -> Option<u64> {
    Some(s.unwrap_or(0) + vals.iter().sum::<u64>())
}

/// A built dashboard: read its [`Snapshot`] at any time.
pub struct Dashboard {
    latest: Arc<Mutex<Snapshot>>,
}

impl Dashboard {
    /// Builds the pipeline over a stream of order lines.
    pub fn build(lines: &DStream<String>, opts: &DashboardOptions) -> Dashboard {
        let latest = Arc::new(Mutex::new(Snapshot::default()));
        let parsed = lines
            .map(|l| match parse_order(&l) {
                Some(o) => Parsed::Valid(o),
                None => Parsed::Malformed(l),
            })
            .cache();
        let orders = parsed
            .flat_map(|p| match p {
                Parsed::Valid(o) => Some(o),
                Parsed::Malformed(_) => None,
            })
            .cache();
        let malformed = parsed.flat_map(|p| match p {
            Parsed::Malformed(l) => Some(l),
            Parsed::Valid(_) => None,
        });

        // Per-batch counts; their running sums are the totals, kept as streaming state.
        let counts = orders
            .flat_map(|o| {
                let side = if o.buy { "buys" } else { "sells" };
                [(side.to_string(), 1u64), ("orders".to_string(), 1)]
            })
            .union(&malformed.map(|_| ("malformed".to_string(), 1u64)))
            .reduce_by_key_with_partitions(|a, b| a + b, 1);
        let totals = counts.update_state_by_key_with_partitions(sum_state, 1);
        let every = opts.state_checkpoint_interval;
        checkpoint_every(&totals, every);

        let values = orders.map(|o| (o.client_id, o.value_cents()));
        let clients: DStream<(u64, u64)> = if opts.map_with_state {
            let spec = StateSpec::function(
                |_t: Time, id: &u64, v: Option<u64>, state: &mut State<u64>| {
                    let total = state.get().copied().unwrap_or(0) + v.unwrap_or(0);
                    state.update(total);
                    Some((*id, total))
                },
            );
            let mapped = values.map_with_state(spec);
            checkpoint_every(&mapped, every);
            mapped.state_snapshots()
        } else {
            checkpoint_every(&values.update_state_by_key(sum_state), every)
        };
        let top_clients = top5(&clients);
        let symbols = orders
            .map(|o| (o.symbol, o.amount))
            .reduce_by_key_and_window(|a, b| a + b, opts.window, lines.slide_duration());
        let top_symbols = top5(&symbols);

        // The record of each batch, in declaration order: counts, totals, tops, then print.
        let l = latest.clone();
        malformed.foreach_rdd(move |rdd, time| {
            let n = rdd.count()?;
            if n > 0 {
                let example = rdd.first()?;
                log::warn!("batch {time}: skipped {n} malformed lines, e.g. {example:?}");
            }
            let mut s = l.lock();
            s.batch_time = Some(time);
            s.batch_malformed = n;
            Ok(())
        });
        let l = latest.clone();
        counts.foreach_rdd(move |rdd, _| {
            let m = rdd.collect_as_map()?;
            let mut s = l.lock();
            s.batch_orders = m.get("orders").copied().unwrap_or(0);
            s.batch_buys = m.get("buys").copied().unwrap_or(0);
            s.batch_sells = m.get("sells").copied().unwrap_or(0);
            Ok(())
        });
        let l = latest.clone();
        totals.foreach_rdd(move |rdd, _| {
            let m = rdd.collect_as_map()?;
            let get = |k: &str| m.get(k).copied().unwrap_or(0);
            l.lock().totals = Totals {
                orders: get("orders"),
                buys: get("buys"),
                sells: get("sells"),
                malformed: get("malformed"),
            };
            Ok(())
        });
        let l = latest.clone();
        top_clients.foreach_rdd(move |rdd, _| {
            l.lock().top_clients = rdd.collect()?.into_iter().next().unwrap_or_default();
            Ok(())
        });
        let l = latest.clone();
        top_symbols.foreach_rdd(move |rdd, _| {
            l.lock().top_symbols = rdd.collect()?.into_iter().next().unwrap_or_default();
            Ok(())
        });

        if let Some(prefix) = &opts.output_prefix {
            let metrics = DStream::union_all(&[
                counts.map(|(k, n)| ("batch".to_string(), format!("{k}={n}"))),
                totals.map(|(k, n)| ("totals".to_string(), format!("{k}={n}"))),
                top_clients.map(|v| {
                    let items: Vec<String> = v
                        .iter()
                        .map(|(id, c)| format!("{id}:{}", cents(*c)))
                        .collect();
                    ("top5_clients".to_string(), items.join(" "))
                }),
                top_symbols.map(|v| {
                    let items: Vec<String> = v.iter().map(|(s, n)| format!("{s}:{n}")).collect();
                    ("top5_symbols".to_string(), items.join(" "))
                }),
            ])
            .expect("four streams");
            metrics.save_as_text_files(prefix.clone(), "txt");
        }

        let l = latest.clone();
        let print = opts.print;
        counts.foreach_rdd(move |_, _| {
            let mut s = l.lock();
            s.batches += 1;
            if print {
                #[allow(clippy::print_stdout)] // the console dashboard is the feature
                {
                    println!("{}", render(&s));
                }
            }
            Ok(())
        });
        Dashboard { latest }
    }

    pub(crate) fn from_snapshot(latest: Arc<Mutex<Snapshot>>) -> Dashboard {
        Dashboard { latest }
    }

    /// What the dashboard shows now.
    pub fn snapshot(&self) -> Snapshot {
        self.latest.lock().clone()
    }

    /// The final results, with the throughput over `elapsed` of processing.
    pub fn summary(&self, elapsed: Duration) -> Summary {
        let s = self.snapshot();
        Summary {
            orders: s.totals.orders,
            buys: s.totals.buys,
            sells: s.totals.sells,
            malformed: s.totals.malformed,
            top5_clients: s
                .top_clients
                .iter()
                .map(|(id, c)| (*id, *c as f64 / 100.0))
                .collect(),
            top5_symbols: s.top_symbols.clone(),
            batches: s.batches,
            orders_per_sec: (s.totals.orders as f64 / elapsed.as_secs_f64().max(1e-9) * 10.0)
                .round()
                / 10.0,
        }
    }
}

/// The compact console view of one batch.
pub fn render(s: &Snapshot) -> String {
    // Batch times are wall-clock milliseconds: show them as a UTC time of day.
    let time = s
        .batch_time
        .map(|t| {
            let ms = t.millis() % 86_400_000;
            format!(
                "{:02}:{:02}:{:02}.{:03}",
                ms / 3_600_000,
                ms / 60_000 % 60,
                ms / 1000 % 60,
                ms % 1000
            )
        })
        .unwrap_or_default();
    let clients: Vec<String> = s
        .top_clients
        .iter()
        .map(|(id, c)| format!("#{id} {}", cents(*c)))
        .collect();
    let symbols: Vec<String> = s
        .top_symbols
        .iter()
        .map(|(sym, n)| format!("{sym} {n}"))
        .collect();
    format!(
        "== batch {time}: {} orders ({} buys, {} sells), {} malformed | totals: {} orders, {} buys, {} sells, {} malformed\n   top clients: {}\n   top symbols (window): {}",
        s.batch_orders,
        s.batch_buys,
        s.batch_sells,
        s.batch_malformed,
        s.totals.orders,
        s.totals.buys,
        s.totals.sells,
        s.totals.malformed,
        clients.join(" | "),
        symbols.join(" | ")
    )
}

/// The same final results computed by a plain batch job over all lines at once: the oracle
/// the dashboard must agree with (for runs shorter than the symbol window).
pub fn batch_summary(
    ctx: &emberflow::Context,
    lines: emberflow::Rdd<String>,
) -> emberflow::Result<Summary> {
    let parsed = lines.map(|l| parse_order(&l)).cache();
    let orders = parsed.flat_map(|o| o).cache();
    let malformed = parsed.filter(|o| o.is_none()).count()?;
    let buys = orders.filter(|o| o.buy).count()?;
    let n = orders.count()?;
    let clients = orders
        .map(|o| (o.client_id, o.value_cents()))
        .reduce_by_key(|a, b| a + b)
        .collect()?;
    let symbols = orders
        .map(|o| (o.symbol, o.amount))
        .reduce_by_key(|a, b| a + b)
        .collect()?;
    let _ = ctx;
    Ok(Summary {
        orders: n,
        buys,
        sells: n - buys,
        malformed,
        top5_clients: top(clients, 5)
            .into_iter()
            .map(|(id, c)| (id, c as f64 / 100.0))
            .collect(),
        top5_symbols: top(symbols, 5),
        batches: 0,
        orders_per_sec: 0.0,
    })
}
