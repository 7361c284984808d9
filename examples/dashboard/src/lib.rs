//! The order-stream dashboard of a brokerage, the classic Spark Streaming teaching demo, as
//! its own crate (not published): the order-line format with its generator and strict parser
//! ([`orders`]), split-and-send feeding of a watched directory and a line server for the
//! socket examples ([`feed`]), the dashboard pipeline ([`dashboard`]) and its member form for
//! a consumer group ([`group`]), and the program
//! ([`app`]) that `examples/order_dashboard.rs` runs.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod app;
pub mod dashboard;
pub mod feed;
pub mod group;
pub mod orders;
