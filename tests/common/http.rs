//! A plain HTTP/1.1 client over a TCP socket, for the UI's tests: it sends exactly the bytes a
//! test gives (hostile ones too) and reads the status and body.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A response: status code and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// The `host:port` of a UI url (`http://host:port/`).
pub fn authority(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// Sends `request` as is and reads the response until the server closes.
pub fn raw(url: &str, request: &[u8]) -> Response {
    let mut s = TcpStream::connect(authority(url)).expect("connect to the UI");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    let mut bytes = Vec::new();
    // A server may reset after answering a request it rejects; what arrived is kept.
    let _ = s.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Response { status, body }
}

/// `method path` with `Connection: close`.
pub fn request(url: &str, method: &str, path: &str) -> Response {
    raw(
        url,
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
}

/// `GET path`.
pub fn get(url: &str, path: &str) -> Response {
    request(url, "GET", path)
}
