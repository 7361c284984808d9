//! The order-line generator and strict parser shared by the benchmarks and examples.
#![allow(clippy::unwrap_used)]

#[path = "../benches/workloads/orders.rs"]
mod orders;

use orders::{generate_orders, parse_order};

#[test]
fn parses_the_example_and_rejects_bad_lines() {
    let o = parse_order("2016-03-22 20:25:28,1,80,EPE,710,51.00,B").expect("valid");
    assert_eq!((o.client_id, o.amount, o.buy), (80, 710, true));
    for bad in [
        "",
        "2016-03-22 20:25:28,1,80,EPE,710,51.00",
        "2016-02-30 20:25:28,1,80,EPE,710,51.00,B",
        "2016-03-22 20:25:28,x,80,EPE,710,51.00,B",
        "2016-03-22 20:25:28,1,80,EPE,710,5a.00,B",
        "2016-03-22 20:25:28,1,80,EPE,710,51.00,b",
        "2016-03-22 20:25:28,1,80,EPE,710,51.00,B,extra",
    ] {
        assert!(parse_order(bad).is_none(), "{bad}");
    }
    assert!(generate_orders(1000, 3)
        .iter()
        .all(|l| parse_order(l).is_some()));
}
