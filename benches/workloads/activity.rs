//! The activity data of the event-time chapter, generated: JSON lines with `Creation_Time`
//! (event time, ns), `Arrival_Time` (ms), `User`, `gt`, `Device`, `Model`, `x`, `y`, `z`, in
//! arrival order, some out of order, some late, some re-sent. Shared by the event-time tests,
//! the example and the figures.
#![allow(dead_code, unreachable_pub)]

use serde::{Deserialize, Serialize};

/// One activity record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    #[serde(rename = "Creation_Time")]
    pub creation_time: i64,
    #[serde(rename = "Arrival_Time")]
    pub arrival_time: i64,
    #[serde(rename = "User")]
    pub user: String,
    pub gt: String,
    #[serde(rename = "Device")]
    pub device: String,
    #[serde(rename = "Model")]
    pub model: String,
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

/// How the generated stream misbehaves.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Records.
    pub n: usize,
    /// Milliseconds of event time between consecutive records, on average.
    pub step_ms: i64,
    /// Records arrive up to this much (ms) out of event-time order.
    pub disorder_ms: i64,
    /// Fraction of records that arrive this much later than their neighbours (late).
    pub late_fraction: f64,
    pub late_by_ms: i64,
    /// Fraction of records sent twice (the copy arrives a few records later).
    pub duplicate_fraction: f64,
}

/// 2015-02-23T10:00:00Z, in ms: where generated event time starts.
pub const START_MS: i64 = 1_424_685_600_000;

const USERS: [&str; 9] = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
const ACTIVITIES: [&str; 6] = ["stand", "sit", "walk", "bike", "stairsup", "stairsdown"];
const MODELS: [&str; 2] = ["nexus4", "s3mini"];

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// Activity records in arrival order.
pub fn generate(shape: Shape, seed: u64) -> Vec<Activity> {
    let mut rng = Rng::new(seed);
    let mut out: Vec<Activity> = Vec::with_capacity(shape.n + shape.n / 10);
    let mut t = START_MS;
    for i in 0..shape.n {
        t += rng.below(2 * shape.step_ms.max(1) as u64 + 1) as i64;
        let mut event = t - rng.below(shape.disorder_ms.max(0) as u64 + 1) as i64;
        if rng.chance(shape.late_fraction) {
            event -= shape.late_by_ms;
        }
        let a = Activity {
            creation_time: event * 1_000_000 + rng.below(1_000_000) as i64,
            arrival_time: t,
            user: USERS[rng.below(USERS.len() as u64) as usize].to_owned(),
            gt: ACTIVITIES[rng.below(ACTIVITIES.len() as u64) as usize].to_owned(),
            device: format!("{}_{}", MODELS[i % 2], rng.below(3)),
            model: MODELS[i % 2].to_owned(),
            x: (rng.below(2000) as f64 - 1000.0) / 1000.0,
            y: (rng.below(2000) as f64 - 1000.0) / 1000.0,
            z: (rng.below(2000) as f64 - 1000.0) / 1000.0,
        };
        if rng.chance(shape.duplicate_fraction) {
            let at = out.len().saturating_sub(rng.below(3) as usize);
            out.insert(at, a.clone());
        }
        out.push(a);
    }
    out
}

/// Event time in ms of a record.
pub fn event_ms(a: &Activity) -> i64 {
    a.creation_time.div_euclid(1_000_000)
}
