//! The receiver behind `socket_text_stream`: connects to a TCP server, stores each line, and
//! on a refused connection or a closed socket asks to be restarted (the supervisor backs off
//! while reconnects bring nothing).

use std::io::{BufRead, BufReader, ErrorKind};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::receiver::{Receiver, ReceiverContext};

pub(crate) struct SocketTextReceiver {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Receiver for SocketTextReceiver {
    type Item = String;

    fn name(&self) -> String {
        format!("socket {}:{}", self.host, self.port)
    }

    fn on_start(&mut self, ctx: &ReceiverContext<String>) {
        let addr = match (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map(|mut a| a.next())
        {
            Ok(Some(a)) => a,
            Ok(None) | Err(_) => {
                ctx.restart(format!("cannot resolve {}:{}", self.host, self.port));
                return;
            }
        };
        let stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => s,
            Err(e) => {
                ctx.restart(format!("cannot connect to {addr}: {e}"));
                return;
            }
        };
        // A short read timeout lets the loop notice a stop request on an idle socket.
        if let Err(e) = stream.set_read_timeout(Some(Duration::from_millis(100))) {
            ctx.restart(format!("cannot configure the socket to {addr}: {e}"));
            return;
        }
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        // Stores the line read so far; a refused store (the log failed) restarts the
        // receiver, which reconnects.
        let store = |line: &mut Vec<u8>| {
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let stored = ctx.store(String::from_utf8_lossy(line).into_owned());
            line.clear();
            stored
        };
        while !ctx.is_stopped() {
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => {
                    // The peer closed: its last line may have no newline; it is a line all
                    // the same.
                    if !line.is_empty() {
                        if let Err(e) = store(&mut line) {
                            ctx.restart(format!("storing a line from {addr} failed: {e}"));
                            return;
                        }
                    }
                    ctx.restart(format!("{addr} closed the connection"));
                    return;
                }
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        if let Err(e) = store(&mut line) {
                            ctx.restart(format!("storing a line from {addr} failed: {e}"));
                            return;
                        }
                    }
                }
                // A timeout keeps the partial line in `line` and reads on.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    ctx.restart(format!("error reading from {addr}: {e}"));
                    return;
                }
            }
        }
    }
}
