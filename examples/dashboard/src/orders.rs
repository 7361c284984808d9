//! Order lines of the brokerage demo:
//! `yyyy-MM-dd HH:mm:ss,orderId,clientId,symbol,amount,price,B|S`, e.g.
//! `2016-03-22 20:25:28,1,80,EPE,710,51.00,B`. A deterministic generator (skewed client and
//! symbol popularity, timestamps over one hour, optional malformed lines of many kinds) and a
//! strict parser. Prices are kept in cents, so totals are exact.

use chrono::{Datelike, NaiveDate, NaiveDateTime};

/// One parsed order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Order {
    /// When the order was placed (`yyyy-MM-dd HH:mm:ss` in the line; Spark's `Timestamp`).
    pub time: NaiveDateTime,
    /// The order's id.
    pub order_id: u64,
    /// The client's id.
    pub client_id: u64,
    /// The traded symbol.
    pub symbol: String,
    /// Number of shares.
    pub amount: u64,
    /// Price per share in cents.
    pub price_cents: u64,
    /// Buy (`B`) or sell (`S`).
    pub buy: bool,
}

impl Order {
    /// `amount * price`, in cents.
    pub fn value_cents(&self) -> u64 {
        self.amount * self.price_cents
    }
}

/// The date-time of a `yyyy-MM-dd HH:mm:ss` field, if it is a real one (no 30 February, no
/// hour 24). The fixed layout is checked by hand, then chrono builds and validates the value:
/// as fast as the parser's other fields, where a format-string parse would dominate.
pub fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &b[r];
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0u32, |n, c| n * 10 + u32::from(c - b'0')))
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
        .filter(|d| d.year() >= 1)?
        .and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)
}

/// Whether `s` is a real `yyyy-MM-dd HH:mm:ss`.
pub fn valid_timestamp(s: &str) -> bool {
    parse_timestamp(s).is_some()
}

/// Parses one line strictly: exactly 7 fields, a real date-time, integer ids and amount, a
/// decimal price, side exactly `B` or `S`.
pub fn parse_order(line: &str) -> Option<Order> {
    let mut f = line.split(',');
    let time = f.next()?;
    let order_id = f.next()?;
    let client_id = f.next()?;
    let symbol = f.next()?;
    let amount = f.next()?;
    let price = f.next()?;
    let side = f.next()?;
    let time = parse_timestamp(time)?;
    if f.next().is_some() || symbol.is_empty() || !symbol.bytes().all(|c| c.is_ascii_alphanumeric())
    {
        return None;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(order_id) || !digits(client_id) || !digits(amount) {
        return None;
    }
    let (whole, frac) = price.split_once('.').unwrap_or((price, ""));
    if !digits(whole) || frac.len() > 2 || !(frac.is_empty() || digits(frac)) {
        return None;
    }
    let cents = whole
        .parse::<u64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(match frac.len() {
            0 => 0,
            1 => frac.parse::<u64>().ok()? * 10,
            _ => frac.parse::<u64>().ok()?,
        })?;
    let buy = match side {
        "B" => true,
        "S" => false,
        _ => return None,
    };
    let amount: u64 = amount.parse().ok()?;
    // An order whose value does not fit is malformed, not a wrapped (or panicking) total.
    amount.checked_mul(cents)?;
    Some(Order {
        time,
        order_id: order_id.parse().ok()?,
        client_id: client_id.parse().ok()?,
        symbol: symbol.to_owned(),
        amount,
        price_cents: cents,
        buy,
    })
}

/// A xorshift generator: deterministic for a seed, no dependency.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in `[0, n)`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// Skewed toward 0: a few very popular values.
    pub fn skewed(&mut self, n: u64) -> u64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * u) * n as f64) as u64
    }
}

/// The 100 symbols of the demo, three letters each, all different.
pub fn symbols() -> Vec<String> {
    let letters = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..100usize)
        .map(|i| {
            let a = letters[(i * 7 + 4) % 26] as char;
            let b = letters[i % 26] as char;
            let c = letters[(i / 26 * 5 + 2) % 26] as char;
            format!("{a}{b}{c}")
        })
        .collect()
}

/// `n` valid order lines over one hour starting at 2016-03-22 20:00:00.
pub fn generate_orders(n: u64, seed: u64) -> Vec<String> {
    generate_lines(n, seed, 0.0)
        .lines
        .into_iter()
        .map(|l| String::from_utf8(l).expect("valid lines are ASCII"))
        .collect()
}

/// Generated input: the lines (as bytes: some malformed lines are not UTF-8) and how many of
/// them are malformed.
pub struct Generated {
    /// One entry per line, without the newline.
    pub lines: Vec<Vec<u8>>,
    /// How many lines are malformed.
    pub malformed: u64,
}

impl Generated {
    /// The lines joined with newlines, ready to write to a file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lines.iter().map(|l| l.len() + 1).sum());
        for l in &self.lines {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        out
    }
}

fn valid_line(rng: &mut Rng, syms: &[String], order_id: u64, i: u64, n: u64) -> String {
    let secs = i * 3600 / n.max(1);
    let (m, s) = (secs / 60, secs % 60);
    let client = rng.skewed(100) + 1;
    let symbol = &syms[rng.skewed(syms.len() as u64) as usize];
    let amount = rng.below(1000) + 1;
    let cents = rng.below(10_000) + 100;
    let side = if rng.below(2) == 0 { 'B' } else { 'S' };
    format!(
        "2016-03-22 20:{m:02}:{s:02},{order_id},{client},{symbol},{amount},{}.{:02},{side}",
        cents / 100,
        cents % 100
    )
}

/// A malformed variant of a valid line, of one of the kinds the parser must reject.
fn malformed_line(rng: &mut Rng, valid: &str) -> Vec<u8> {
    let fields: Vec<&str> = valid.split(',').collect();
    let with = |i: usize, v: &str| {
        let mut f = fields.clone();
        f[i] = v;
        f.join(",").into_bytes()
    };
    match rng.below(12) {
        0 => fields[..6].join(",").into_bytes(),
        1 => format!("{valid},extra").into_bytes(),
        2 => with(1, "12x"),
        3 => with(4, "-5"),
        4 => with(4, "1.5"),
        5 => with(5, "abc"),
        6 => with(0, "2016-02-30 10:00:00"),
        7 => with(0, "2016-13-01 25:61:00"),
        8 => with(6, "X"),
        9 => Vec::new(),
        10 => {
            // Invalid UTF-8 in the symbol.
            let mut out = fields[..3].join(",").into_bytes();
            out.extend_from_slice(&[b',', 0xff, 0xfe, b'Q', b',']);
            out.extend_from_slice(fields[4..].join(",").as_bytes());
            out
        }
        _ => with(6, "b"),
    }
}

/// `n` lines over one hour starting at 2016-03-22 20:00:00, deterministic for `seed`, of
/// which about `bad_fraction` are malformed (wrong field count, bad numbers, impossible dates,
/// bad side, empty lines, invalid UTF-8).
pub fn generate_lines(n: u64, seed: u64, bad_fraction: f64) -> Generated {
    let mut g = LineGenerator::new(n, seed, bad_fraction);
    let lines = g.by_ref().collect();
    Generated {
        lines,
        malformed: g.malformed,
    }
}

/// The lines of [`generate_lines`], one at a time (a feeder that streams them holds none).
pub struct LineGenerator {
    syms: Vec<String>,
    rng: Rng,
    bad_rng: Rng,
    threshold: u64,
    bad_fraction: f64,
    next: u64,
    n: u64,
    /// Malformed lines made so far.
    pub malformed: u64,
}

impl LineGenerator {
    /// The generator of `generate_lines(n, seed, bad_fraction)`.
    pub fn new(n: u64, seed: u64, bad_fraction: f64) -> Self {
        LineGenerator {
            syms: symbols(),
            rng: Rng::new(seed),
            bad_rng: Rng::new(seed ^ 0xbad),
            threshold: (bad_fraction.clamp(0.0, 1.0) * u32::MAX as f64) as u64,
            bad_fraction,
            next: 0,
            n,
            malformed: 0,
        }
    }
}

impl Iterator for LineGenerator {
    type Item = Vec<u8>;
    fn next(&mut self) -> Option<Vec<u8>> {
        if self.next >= self.n {
            return None;
        }
        let i = self.next;
        self.next += 1;
        let line = valid_line(&mut self.rng, &self.syms, i + 1, i, self.n);
        if self.bad_fraction > 0.0 && (self.bad_rng.next_u64() & 0xffff_ffff) < self.threshold {
            self.malformed += 1;
            return Some(malformed_line(&mut self.bad_rng, &line));
        }
        Some(line.into_bytes())
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.n - self.next) as usize;
        (left, Some(left))
    }
}
