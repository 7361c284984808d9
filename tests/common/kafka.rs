//! The real broker `scripts/test.sh` starts (EMBERFLOW_KAFKA_BROKER), for the tests that
//! use it.

use std::process::Command;

/// The broker's address.
pub fn broker() -> String {
    std::env::var("EMBERFLOW_KAFKA_BROKER")
        .expect("EMBERFLOW_KAFKA_BROKER is not set: run the suite with scripts/test.sh, which starts the broker")
}

/// Creates a topic with the broker's own tool (unique names per test: the broker is shared).
pub fn create_topic(name: &str, partitions: u32) {
    let status = Command::new("nisshi")
        .args([
            "topic",
            "create",
            name,
            "--broker",
            &format!("tcp://{}", broker()),
            "--partitions",
            &partitions.to_string(),
        ])
        .status()
        .expect("run nisshi");
    assert!(status.success(), "nisshi topic create {name}");
}

/// A name no other test (or run) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{nanos:x}", std::process::id())
}
