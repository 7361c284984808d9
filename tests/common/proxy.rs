//! A TCP proxy between Kafka clients and a real broker, for broker-fault tests: it forwards
//! bytes both ways until told to cut every connection (and refuse new ones), stall (hold
//! bytes without closing), or restore. A cut can be armed to fire by itself once a number of
//! bytes went one way, so it lands in the middle of a fetch or a produce request.
//!
//! The broker must advertise the proxy's address, so that clients reach it through the
//! proxy after the bootstrap too: [`Broker::behind_proxy`] starts one like that.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Open,
    Stalled,
    /// Requests reach the broker, responses are held.
    Deaf,
    Cut,
}

impl Mode {
    fn holds(self, way: Way) -> bool {
        self == Mode::Stalled || (self == Mode::Deaf && way == Way::ToClient)
    }
}

/// What an armed fault does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fault {
    /// Close every connection and refuse new ones.
    Cut,
    /// Hold every byte, connections open.
    Stall,
    /// Let requests through, hold every response: the broker acts, the client never hears.
    HoldResponses,
}

/// Which way bytes go.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Way {
    /// Client to broker (requests: produce, commit, fetch requests).
    ToBroker,
    /// Broker to client (responses: fetched records, acknowledgements).
    ToClient,
}

struct State {
    target: String,
    mode: Mutex<Mode>,
    changed: Condvar,
    conns: Mutex<Vec<TcpStream>>,
    to_broker: AtomicU64,
    to_client: AtomicU64,
    /// An armed fault: once this many bytes went this way in total, cut or stall.
    armed: Mutex<Option<(Way, u64, Fault)>>,
    faults: AtomicU64,
    closed: AtomicBool,
}

impl State {
    fn set(&self, mode: Mode) {
        *self.mode.lock() = mode;
        if mode != Mode::Open {
            self.faults.fetch_add(1, Ordering::SeqCst);
        }
        if mode == Mode::Cut {
            for c in self.conns.lock().drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
        self.changed.notify_all();
    }
}

/// The proxy; stops accepting when dropped.
pub struct Proxy {
    port: u16,
    state: Arc<State>,
}

impl Proxy {
    /// A proxy on a free 127.0.0.1 port forwarding to `target` (`host:port`).
    pub fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self::on(listener, target)
    }

    fn on(listener: TcpListener, target: String) -> Proxy {
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            target,
            mode: Mutex::new(Mode::Open),
            changed: Condvar::new(),
            conns: Mutex::new(Vec::new()),
            to_broker: AtomicU64::new(0),
            to_client: AtomicU64::new(0),
            armed: Mutex::new(None),
            faults: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        let s = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.closed.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                if *s.mode.lock() == Mode::Cut {
                    // Refused: the broker is unreachable.
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(broker) = TcpStream::connect(&s.target) else {
                    continue;
                };
                {
                    let mut conns = s.conns.lock();
                    conns.push(client.try_clone().unwrap());
                    conns.push(broker.try_clone().unwrap());
                }
                let (c2, b2) = (client.try_clone().unwrap(), broker.try_clone().unwrap());
                let (sa, sb) = (s.clone(), s.clone());
                std::thread::spawn(move || pump(&sa, client, broker, Way::ToBroker));
                std::thread::spawn(move || pump(&sb, b2, c2, Way::ToClient));
            }
        });
        Proxy { port, state }
    }

    /// The address clients use.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Closes every connection and refuses new ones until [`restore`](Self::restore).
    pub fn cut(&self) {
        self.state.set(Mode::Cut);
    }

    /// Holds every byte (connections stay open) until [`restore`](Self::restore).
    pub fn stall(&self) {
        self.state.set(Mode::Stalled);
    }

    /// Forwards again and accepts new connections.
    pub fn restore(&self) {
        self.state.set(Mode::Open);
    }

    /// Cuts or stalls by itself once `after` more bytes went `way`.
    pub fn arm(&self, way: Way, after: u64, fault: Fault) {
        let total = self.bytes(way) + after;
        *self.state.armed.lock() = Some((way, total, fault));
    }

    /// Whether every byte is held now.
    pub fn stalled(&self) -> bool {
        *self.state.mode.lock() == Mode::Stalled
    }

    /// Bytes forwarded `way` so far.
    pub fn bytes(&self, way: Way) -> u64 {
        match way {
            Way::ToBroker => self.state.to_broker.load(Ordering::SeqCst),
            Way::ToClient => self.state.to_client.load(Ordering::SeqCst),
        }
    }

    /// How many faults fired or were set (armed ones included).
    pub fn faults(&self) -> u64 {
        self.state.faults.load(Ordering::SeqCst)
    }

    /// Waits (at most `timeout`) until more than `before` faults happened; whether they did.
    pub fn wait_for_fault(&self, before: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut mode = self.state.mode.lock();
        while self.faults() <= before {
            if self
                .state
                .changed
                .wait_until(&mut mode, deadline)
                .timed_out()
            {
                return self.faults() > before;
            }
        }
        true
    }

    /// In a thread: once the next fault happened, waits `for_how_long`, cuts every
    /// connection (what was held is lost) and restores `then` later.
    pub fn cut_after_next_fault(
        self: &Arc<Self>,
        for_how_long: Duration,
        then: Duration,
    ) -> std::thread::JoinHandle<bool> {
        self.after_next_fault(for_how_long, move |p| {
            p.cut();
            std::thread::sleep(then);
            p.restore();
        })
    }

    /// In a thread: once the next fault happened, waits `for_how_long` and restores.
    pub fn restore_after_next_fault(
        self: &Arc<Self>,
        for_how_long: Duration,
    ) -> std::thread::JoinHandle<bool> {
        self.after_next_fault(for_how_long, Proxy::restore)
    }

    /// In a thread: once the next fault happened, waits `wait` and does `then`; the thread
    /// says whether the fault happened.
    fn after_next_fault(
        self: &Arc<Self>,
        wait: Duration,
        then: impl FnOnce(&Proxy) + Send + 'static,
    ) -> std::thread::JoinHandle<bool> {
        let p = self.clone();
        let before = p.faults();
        std::thread::spawn(move || {
            let fired = p.wait_for_fault(before, Duration::from_secs(60));
            std::thread::sleep(wait);
            then(&p);
            fired
        })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.closed.store(true, Ordering::SeqCst);
        self.state.set(Mode::Cut);
        // Wakes the accept loop so it sees `closed`.
        let _ = TcpStream::connect(self.addr());
    }
}

fn pump(state: &State, mut from: TcpStream, mut to: TcpStream, way: Way) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut mode = state.mode.lock();
            while mode.holds(way) {
                state.changed.wait(&mut mode);
            }
            if *mode == Mode::Cut {
                break;
            }
        }
        // An armed cut lands inside this chunk: what went before it is forwarded.
        let counter = match way {
            Way::ToBroker => &state.to_broker,
            Way::ToClient => &state.to_client,
        };
        let before = counter.load(Ordering::SeqCst);
        // Taken under the lock: of two connections crossing the mark, one fires.
        let fire = {
            let mut armed = state.armed.lock();
            match *armed {
                Some((w, at, fault)) if w == way && before + n as u64 >= at => {
                    *armed = None;
                    Some((at.saturating_sub(before) as usize, fault))
                }
                _ => None,
            }
        };
        let forward = fire.map_or(n, |(at, _)| at.min(n));
        if to.write_all(&buf[..forward]).is_err() {
            break;
        }
        counter.fetch_add(forward as u64, Ordering::SeqCst);
        match fire {
            None => {}
            Some((_, Fault::Cut)) => {
                state.set(Mode::Cut);
                break;
            }
            Some((_, hold)) => {
                state.set(if hold == Fault::Stall {
                    Mode::Stalled
                } else {
                    Mode::Deaf
                });
                let mut mode = state.mode.lock();
                while mode.holds(way) {
                    state.changed.wait(&mut mode);
                }
                if *mode == Mode::Cut {
                    break;
                }
                drop(mode);
                if to.write_all(&buf[forward..n]).is_err() {
                    break;
                }
                counter.fetch_add((n - forward) as u64, Ordering::SeqCst);
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// A broker of its own (nisshi, in memory) that advertises a proxy in front of it, so every
/// client connection goes through the proxy. Stopped when dropped.
pub struct Broker {
    child: Child,
    _dir: tempfile::TempDir,
    /// The proxy every client goes through.
    pub proxy: Arc<Proxy>,
}

impl Broker {
    /// Starts the broker and its proxy; waits until the broker accepts connections.
    pub fn behind_proxy() -> Broker {
        let proxy_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy_port = proxy_listener.local_addr().unwrap().port();
        let broker_port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("nisshi")
            .current_dir(dir.path())
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{broker_port}"),
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{proxy_port}"),
                "--storage-engine",
                "memory://nisshi/",
                "--group-initial-rebalance-delay",
                "0s",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nisshi is on PATH (scripts/test.sh installs it)");
        let target = format!("127.0.0.1:{broker_port}");
        let started = Instant::now();
        while TcpStream::connect(&target).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the broker did not open {target}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker {
            child,
            _dir: dir,
            proxy: Arc::new(Proxy::on(proxy_listener, target)),
        }
    }

    /// The bootstrap address clients use (the proxy).
    pub fn bootstrap(&self) -> String {
        self.proxy.addr()
    }

    /// Creates `topic` with `partitions` partitions, through the proxy.
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let status = Command::new("nisshi")
            .args([
                "topic",
                "create",
                topic,
                "--broker",
                &format!("tcp://{}", self.bootstrap()),
                "--partitions",
                &partitions.to_string(),
            ])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "nisshi topic create {topic}");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
