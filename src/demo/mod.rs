//! The order-stream dashboard of a brokerage, the classic Spark Streaming teaching demo: the
//! order-line format with its generator and strict parser ([`orders`]), split-and-send feeding
//! of a watched directory ([`feed`]), and the dashboard pipeline ([`dashboard`]) that
//! `examples/order_dashboard.rs` runs.

pub mod app;
pub mod dashboard;
pub mod feed;
pub mod orders;
