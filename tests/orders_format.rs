//! The order-line generator and strict parser shared by the benchmarks and examples.
#![allow(clippy::unwrap_used)]

#[path = "../benches/workloads/orders.rs"]
mod orders;
