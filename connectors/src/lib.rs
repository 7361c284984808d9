//! emberflow-connectors: sources and sinks beyond files and sockets. Kafka, behind the
//! `kafka` feature, on the `rdkafka` crate (synchronous consumers and producers, no tokio);
//! rdkafka's types stay out of every public signature.
#![deny(missing_docs)]
#![warn(clippy::print_stdout, clippy::print_stderr)]

#[cfg(feature = "kafka")]
pub mod kafka;
