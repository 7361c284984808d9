//! Split-and-send, in-process: the classic way to feed a file stream. A file is split into
//! chunks of N lines written to a staging directory beside the watched one; each `send` moves
//! the next chunk into the watched directory by an atomic rename, with its modification time
//! set to the moment of the move (a file stream only takes files modified after it started).
//! `data/split_and_send.sh` does the same from the shell.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use emberflow::{Error, Result};

/// Chunks waiting in a staging directory, sent one at a time into a watched directory.
pub struct SplitAndSend {
    staged: std::vec::IntoIter<PathBuf>,
    target: PathBuf,
    lines: u64,
}

/// Chunk files being written into a staging directory, one line at a time.
struct Stager<'a> {
    staging: &'a Path,
    chunk_lines: usize,
    bytes: Vec<u8>,
    in_chunk: usize,
    total: u64,
    staged: Vec<PathBuf>,
}

impl<'a> Stager<'a> {
    fn new(chunk_lines: usize, staging: &'a Path, target: &Path) -> Result<Self> {
        std::fs::create_dir_all(staging).map_err(|e| Error::io(staging, e))?;
        std::fs::create_dir_all(target).map_err(|e| Error::io(target, e))?;
        Ok(Stager {
            staging,
            chunk_lines: chunk_lines.max(1),
            bytes: Vec::new(),
            in_chunk: 0,
            total: 0,
            staged: Vec::new(),
        })
    }

    /// Adds a line (without its newline); a full chunk goes to disk.
    fn push(&mut self, line: &[u8]) -> Result<()> {
        self.bytes.extend_from_slice(line);
        self.bytes.push(b'\n');
        self.in_chunk += 1;
        self.total += 1;
        if self.in_chunk == self.chunk_lines {
            self.write()?;
        }
        Ok(())
    }

    fn write(&mut self) -> Result<()> {
        let path = self
            .staging
            .join(format!("orders-{:05}.txt", self.staged.len()));
        std::fs::write(&path, &self.bytes).map_err(|e| Error::io(&path, e))?;
        self.staged.push(path);
        self.bytes.clear();
        self.in_chunk = 0;
        Ok(())
    }

    /// Writes the last, partial chunk; the feed of everything staged.
    fn finish(mut self, target: &Path) -> Result<SplitAndSend> {
        if self.in_chunk > 0 {
            self.write()?;
        }
        Ok(SplitAndSend {
            staged: self.staged.into_iter(),
            target: target.to_path_buf(),
            lines: self.total,
        })
    }
}

impl SplitAndSend {
    /// Splits `lines` (raw bytes, one entry per line) into chunks of `chunk_lines` lines in
    /// `staging` (created), to be sent into `target` (created). `staging` and `target` must be
    /// on the same file system for the rename to be atomic.
    pub fn new(
        lines: &[Vec<u8>],
        chunk_lines: usize,
        staging: &Path,
        target: &Path,
    ) -> Result<Self> {
        Self::from_lines(lines, chunk_lines, staging, target)
    }

    /// Splits lines as they come (a generator's: one chunk is in memory at a time), as
    /// [`new`](Self::new) does.
    pub fn from_lines<L: AsRef<[u8]>>(
        lines: impl IntoIterator<Item = L>,
        chunk_lines: usize,
        staging: &Path,
        target: &Path,
    ) -> Result<Self> {
        let mut stager = Stager::new(chunk_lines, staging, target)?;
        for l in lines {
            stager.push(l.as_ref())?;
        }
        stager.finish(target)
    }

    /// Splits `file` as [`new`](Self::new) does, streaming: one chunk is in memory at a
    /// time, whatever the file's size.
    pub fn from_file(
        file: &Path,
        chunk_lines: usize,
        staging: &Path,
        target: &Path,
    ) -> Result<Self> {
        use std::io::BufRead;
        let mut stager = Stager::new(chunk_lines, staging, target)?;
        let f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, f);
        // One line buffer, reused: no allocation per line.
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader
                .read_until(b'\n', &mut line)
                .map_err(|e| Error::io(file, e))?
                == 0
            {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            stager.push(&line)?;
        }
        stager.finish(target)
    }

    /// How many lines all chunks hold.
    pub fn total_lines(&self) -> u64 {
        self.lines
    }

    /// Chunks not sent yet.
    pub fn remaining(&self) -> usize {
        self.staged.len()
    }

    /// Moves the next chunk into the target directory; `None` when all are sent.
    pub fn send_next(&mut self) -> Result<Option<PathBuf>> {
        let Some(from) = self.staged.next() else {
            return Ok(None);
        };
        let name = from
            .file_name()
            .expect("staged files have names")
            .to_owned();
        let to = self.target.join(name);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&from)
            .map_err(|e| Error::io(&from, e))?;
        f.set_modified(SystemTime::now())
            .map_err(|e| Error::io(&from, e))?;
        drop(f);
        std::fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
        Ok(Some(to))
    }

    /// Sends every chunk, one every `every`, on a thread of its own; the thread returns how
    /// many chunks it sent.
    pub fn spawn(mut self, every: Duration) -> std::thread::JoinHandle<Result<usize>> {
        std::thread::spawn(move || {
            let mut sent = 0;
            while self.send_next()?.is_some() {
                sent += 1;
                if self.remaining() > 0 {
                    std::thread::sleep(every);
                }
            }
            Ok(sent)
        })
    }
}

/// A local TCP server that sends text lines to whoever connects, for the socket examples'
/// `--feed` flag (Spark's demos use `nc -lk 9999`). It serves one client at a time, sends
/// `lines` in a loop, one every `every`, for `duration`, then stops.
pub struct LineServer {
    port: u16,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LineServer {
    /// Starts serving on 127.0.0.1 on a free port.
    pub fn start(lines: Vec<String>, every: Duration, duration: Duration) -> Result<Self> {
        use std::io::Write;
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("127.0.0.1:0", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::io("127.0.0.1:0", e))?
            .port();
        let deadline = std::time::Instant::now() + duration;
        let thread = std::thread::spawn(move || {
            if listener.set_nonblocking(true).is_err() {
                return;
            }
            while std::time::Instant::now() < deadline {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                'serve: while std::time::Instant::now() < deadline {
                    for l in &lines {
                        if conn
                            .write_all(l.as_bytes())
                            .and_then(|_| conn.write_all(b"\n"))
                            .is_err()
                        {
                            break 'serve;
                        }
                        std::thread::sleep(every);
                    }
                }
            }
        });
        Ok(LineServer {
            port,
            thread: Some(thread),
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for LineServer {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sample sentences for the word-count examples.
pub fn sample_sentences() -> Vec<String> {
    [
        "the quick brown fox jumps over the lazy dog",
        "spark streaming cuts a stream into batches",
        "emberflow runs the same jobs in rust",
        "the fox and the dog are friends",
        "batches of words become counts of words",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Where the socket examples read from: `HOST PORT` from the arguments, or (with `--feed` or
/// no arguments) a [`LineServer`] of sample sentences started here, kept alive by the returned
/// value. Also reads `--seconds N` (the run's length, `default_seconds` otherwise).
pub fn socket_source(
    args: &[String],
    every: Duration,
    default_seconds: u64,
) -> Result<(String, u16, u64, Option<LineServer>)> {
    let seconds = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_seconds);
    if args.is_empty()
        || args.iter().any(|a| a == "--feed")
        || args.first().is_some_and(|a| a == "--seconds")
    {
        let server = LineServer::start(sample_sentences(), every, Duration::from_secs(seconds))?;
        return Ok((
            "127.0.0.1".to_string(),
            server.port(),
            seconds,
            Some(server),
        ));
    }
    let port = args
        .get(1)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| Error::user("usage: HOST PORT [--seconds N] | --feed [--seconds N]"))?;
    Ok((args[0].clone(), port, seconds, None))
}
