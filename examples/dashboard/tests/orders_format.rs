//! The order-line generator and strict parser shared by the benchmarks and examples.
#![allow(clippy::unwrap_used)]

use emberflow_dashboard::orders::{generate_lines, generate_orders, parse_order};

#[test]
fn parses_the_example_and_rejects_bad_lines() {
    let o = parse_order("2016-03-22 20:25:28,1,80,EPE,710,51.00,B").expect("valid");
    assert_eq!(
        (o.client_id, o.amount, o.price_cents, o.buy),
        (80, 710, 5100, true)
    );
    assert_eq!(o.value_cents(), 710 * 5100);
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

#[test]
fn generated_malformed_lines_are_all_rejected_and_valid_ones_accepted() {
    let g = generate_lines(20_000, 7, 0.05);
    let rejected = g
        .lines
        .iter()
        .filter(|l| std::str::from_utf8(l).ok().and_then(parse_order).is_none())
        .count() as u64;
    assert_eq!(rejected, g.malformed);
    assert!((800..1200).contains(&g.malformed), "{}", g.malformed);
    assert!(
        g.lines.iter().any(|l| l.is_empty()),
        "empty lines are among the kinds"
    );
    assert!(
        g.lines.iter().any(|l| std::str::from_utf8(l).is_err()),
        "invalid UTF-8 too"
    );
    // Deterministic for a seed.
    assert_eq!(
        generate_lines(500, 3, 0.1).lines,
        generate_lines(500, 3, 0.1).lines
    );
    assert_eq!(
        emberflow_dashboard::orders::symbols()
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        100
    );
}

/// An order whose amount × price overflows is malformed, not a wrapped value or a panic.
#[test]
fn an_order_whose_value_overflows_is_malformed() {
    assert!(parse_order("2016-03-22 20:25:28,1,80,EPE,710,51.00,B").is_some());
    let huge = format!("2016-03-22 20:25:28,1,80,EPE,{},51.00,B", u64::MAX / 100);
    assert!(parse_order(&huge).is_none());
    let max_amount = format!("2016-03-22 20:25:28,1,80,EPE,{},0.01,B", u64::MAX);
    assert!(parse_order(&max_amount).is_some(), "fits: 1 cent each");
}

/// Order times are date-time values with a real calendar behind them.
#[test]
fn order_times_are_calendar_date_times() {
    use chrono::{NaiveDate, Timelike};
    let o = parse_order("2016-02-29 23:59:59,1,80,EPE,710,51.00,S").expect("a leap day");
    assert_eq!(
        o.time,
        NaiveDate::from_ymd_opt(2016, 2, 29)
            .unwrap()
            .and_hms_opt(23, 59, 59)
            .unwrap()
    );
    assert_eq!(o.time.hour(), 23);
    for bad in [
        "2015-02-29 10:00:00",
        "2016-13-01 10:00:00",
        "2016-04-31 10:00:00",
        "2016-03-22 24:00:00",
        "2016-03-22 23:60:00",
        "0000-03-22 10:00:00",
        "2016-03-22T10:00:00",
        "2016-3-22 10:00:00 ",
    ] {
        let line = format!("{bad},1,80,EPE,710,51.00,S");
        assert!(parse_order(&line).is_none(), "{bad}");
    }
}
