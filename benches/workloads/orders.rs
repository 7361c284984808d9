//! Order lines of the brokerage demo: `yyyy-MM-dd HH:mm:ss,orderId,clientId,symbol,amount,price,B|S`,
//! e.g. `2016-03-22 20:25:28,1,80,EPE,710,51.00,B`. A deterministic generator with skewed
//! client and symbol popularity, and a strict parser.
#![allow(dead_code, unreachable_pub, missing_docs)]

/// One parsed order.
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    pub time: String,
    pub order_id: u64,
    pub client_id: u64,
    pub symbol: String,
    pub amount: u64,
    pub price: f64,
    pub buy: bool,
}

fn is_leap(y: u32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Whether `s` is a real `yyyy-MM-dd HH:mm:ss`.
pub fn valid_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(se)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return false;
    };
    let days = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => return false,
    };
    y >= 1 && d >= 1 && d <= days && h < 24 && mi < 60 && se < 60
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
    if f.next().is_some()
        || !valid_timestamp(time)
        || symbol.is_empty()
        || !symbol.bytes().all(|c| c.is_ascii_alphanumeric())
    {
        return None;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(order_id) || !digits(client_id) || !digits(amount) {
        return None;
    }
    let (whole, frac) = price.split_once('.').unwrap_or((price, ""));
    if !digits(whole) || !(frac.is_empty() || digits(frac)) {
        return None;
    }
    let buy = match side {
        "B" => true,
        "S" => false,
        _ => return None,
    };
    Some(Order {
        time: time.to_owned(),
        order_id: order_id.parse().ok()?,
        client_id: client_id.parse().ok()?,
        symbol: symbol.to_owned(),
        amount: amount.parse().ok()?,
        price: price.parse().ok()?,
        buy,
    })
}

/// A xorshift generator: deterministic for a seed, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// Skewed toward 0: a few very popular values.
    pub fn skewed(&mut self, n: u64) -> u64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * u) * n as f64) as u64
    }
}

/// The ~100 symbols of the demo.
pub fn symbols() -> Vec<String> {
    let letters = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..100)
        .map(|i| {
            let a = letters[i % 26] as char;
            let b = letters[(i * 7 + 3) % 26] as char;
            let c = letters[(i / 26 + i * 3) % 26] as char;
            format!("{a}{b}{c}")
        })
        .collect()
}

/// `n` valid order lines over one hour starting at 2016-03-22 20:00:00.
pub fn generate_orders(n: u64, seed: u64) -> Vec<String> {
    let syms = symbols();
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let secs = i * 3600 / n.max(1);
            let (m, s) = (secs / 60, secs % 60);
            let client = rng.skewed(100) + 1;
            let symbol = &syms[rng.skewed(syms.len() as u64) as usize];
            let amount = rng.below(1000) + 1;
            let price = (rng.below(10_000) + 100) as f64 / 100.0;
            let side = if rng.below(2) == 0 { 'B' } else { 'S' };
            format!(
                "2016-03-22 20:{m:02}:{s:02},{},{client},{symbol},{amount},{price:.2},{side}",
                i + 1
            )
        })
        .collect()
}
