//! The connection soak's two sides: an echo [`Server`] (the loop under test, one
//! `EventLoop` holding every connection) and a [`Client`] loop that opens the
//! connections, keeps a window of bytes in flight on each, and checks every echoed byte
//! against the stream it sent.
//!
//! Each connection's stream is a pure function of (connection, offset), so the client
//! keeps no copy of what it sent: a byte that comes back wrong, late, twice or on the
//! wrong connection fails the comparison, and `sent - received` at the end is the loss.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use selectio::net::{TcpListener, TcpSocket, TcpStream};
use selectio::{EventLoop, Handler, Interest, Mode, Selector, Token};

/// The listener's token; connection `i` is `Token(i + 1)` on both sides.
pub const LISTENER: Token = Token(0);

/// The byte at `offset` of connection `conn`'s stream.
pub fn pattern(conn: usize, offset: u64) -> u8 {
    let h = (offset ^ ((conn as u64) << 40)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 56) as u8
}

fn slot(token: Token) -> usize {
    token.0 - 1
}

// ---------------------------------------------------------------- server

/// One accepted connection: what was read but not yet written back.
struct Echoing {
    stream: TcpStream,
    pending: Vec<u8>,
}

/// The echo server: accepts, echoes level-triggered, closes on EOF.
pub struct Server {
    listener: TcpListener,
    conns: Vec<Option<Echoing>>,
    free: Vec<usize>,
    scratch: Vec<u8>,
    /// Connections open now, shared with the client for its report.
    pub open: Arc<AtomicUsize>,
    pub accepted: usize,
    pub closed: usize,
    pub peak_open: usize,
    pub bytes: u64,
    /// Flip one bit of the byte with this index in the server's stream (a self-test).
    pub corrupt_at: Option<u64>,
    pub errors: Vec<String>,
}

impl Server {
    pub fn new(listener: TcpListener, open: Arc<AtomicUsize>) -> Server {
        Server {
            listener,
            conns: Vec::new(),
            free: Vec::new(),
            scratch: vec![0; 64 * 1024],
            open,
            accepted: 0,
            closed: 0,
            peak_open: 0,
            bytes: 0,
            corrupt_at: None,
            errors: Vec::new(),
        }
    }

    /// Deregisters the listener; returns how many sources the loop still holds.
    pub fn stop<S: Selector>(&mut self, el: &mut EventLoop<Self, S>) -> usize {
        if let Err(e) = el.deregister(&self.listener) {
            self.errors.push(format!("deregister listener: {e}"));
        }
        el.registered()
    }

    fn accept<S: Selector>(&mut self, el: &mut EventLoop<Self, S>) {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => return self.errors.push(format!("accept: {e}")),
            };
            let i = self.free.pop().unwrap_or_else(|| {
                self.conns.push(None);
                self.conns.len() - 1
            });
            if let Err(e) = el.register(&stream, Token(i + 1), Interest::READABLE, Mode::Level) {
                self.errors.push(format!("register accepted stream: {e}"));
                self.free.push(i);
                continue;
            }
            self.conns[i] = Some(Echoing {
                stream,
                pending: Vec::new(),
            });
            self.accepted += 1;
            let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
            self.peak_open = self.peak_open.max(open);
        }
    }

    fn close<S: Selector>(&mut self, el: &mut EventLoop<Self, S>, i: usize, why: Option<String>) {
        if let Some(conn) = self.conns[i].take() {
            if let Err(e) = el.deregister(&conn.stream) {
                self.errors.push(format!("deregister conn {i}: {e}"));
            }
            self.errors.extend(why);
            self.free.push(i);
            self.closed += 1;
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Reads once, writes it back; a partial write parks the rest and waits for WRITABLE.
    fn echo<S: Selector>(&mut self, el: &mut EventLoop<Self, S>, i: usize) {
        let Some(conn) = self.conns.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        if !conn.pending.is_empty() {
            return; // waiting for WRITABLE; the data stays in the socket meanwhile
        }
        let n = match (&conn.stream).read(&mut self.scratch) {
            Ok(0) => return self.close(el, i, None),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => return self.close(el, i, Some(format!("server read {i}: {e}"))),
        };
        if let Some(at) = self.corrupt_at {
            if (self.bytes..self.bytes + n as u64).contains(&at) {
                self.scratch[(at - self.bytes) as usize] ^= 1;
            }
        }
        self.bytes += n as u64;
        match write_some(&conn.stream, &self.scratch[..n]) {
            Ok(w) if w == n => {}
            Ok(w) => {
                conn.pending.extend_from_slice(&self.scratch[w..n]);
                let token = Token(i + 1);
                if let Err(e) = el.reregister(&conn.stream, token, Interest::WRITABLE, Mode::Level)
                {
                    self.close(el, i, Some(format!("reregister {i}: {e}")));
                }
            }
            Err(e) => self.close(el, i, Some(format!("server write {i}: {e}"))),
        }
    }

    fn flush<S: Selector>(&mut self, el: &mut EventLoop<Self, S>, i: usize) {
        let Some(conn) = self.conns.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        match write_some(&conn.stream, &conn.pending) {
            Ok(w) => drop(conn.pending.drain(..w)),
            Err(e) => return self.close(el, i, Some(format!("server flush {i}: {e}"))),
        }
        if conn.pending.is_empty() {
            let token = Token(i + 1);
            if let Err(e) = el.reregister(&conn.stream, token, Interest::READABLE, Mode::Level) {
                self.close(el, i, Some(format!("reregister {i}: {e}")));
            }
        }
    }
}

/// Writes until done or `WouldBlock`; returns how much went out.
fn write_some(mut stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match stream.write(&buf[done..]) {
            Ok(0) => return Err(io::Error::new(ErrorKind::WriteZero, "write returned 0")),
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

impl<S: Selector> Handler<S> for Server {
    type Timeout = ();
    type Message = ();

    fn readable(&mut self, el: &mut EventLoop<Self, S>, token: Token) {
        if token == LISTENER {
            self.accept(el);
        } else {
            self.echo(el, slot(token));
        }
    }

    fn writable(&mut self, el: &mut EventLoop<Self, S>, token: Token) {
        if token != LISTENER {
            self.flush(el, slot(token));
        }
    }
}

// ---------------------------------------------------------------- client

/// What the client loop does now.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Phase {
    /// Opening connections, none sending yet.
    Connecting,
    /// Every connection is open; sending until the traffic time is up.
    Traffic,
    /// Sending stopped; waiting for the last echoes.
    Draining,
    /// Every byte came back; the connections are closed.
    Done,
}

/// One client connection.
struct Conn {
    stream: TcpStream,
    connected: bool,
    /// Waiting for WRITABLE after a `WouldBlock` on write.
    blocked: bool,
    sent: u64,
    received: u64,
    rng: u32,
}

/// The client side: opens `target` connections to `addr` and drives them.
pub struct Client {
    addr: SocketAddr,
    pub target: usize,
    conns: Vec<Conn>,
    /// Most bytes in flight per connection.
    window: u64,
    traffic: Duration,
    pub phase: Phase,
    connecting: usize,
    pub connected: usize,
    outstanding: usize,
    scratch: Vec<u8>,
    out: Vec<u8>,
    pub traffic_started: Option<Instant>,
    pub traffic_ended: Option<Instant>,
    pub corrupted: u64,
    /// Bytes sent and received over all connections, kept when they close.
    pub sent: u64,
    pub received: u64,
    pub errors: Vec<String>,
    /// Connections the server holds, shared with it.
    open: Arc<AtomicUsize>,
    /// Taken when the traffic time is up, before draining.
    pub peak: Option<Peak>,
}

/// The state at the end of the traffic time, with every connection open and busy.
#[derive(Clone, Copy, Debug)]
pub struct Peak {
    pub rss_anon: Option<u64>,
    pub kernel_tcp: Option<u64>,
    pub server_open: usize,
    pub client_open: usize,
    pub open_fds: usize,
}

/// Most connects in flight at once: keeps the listener's SYN and accept queues short.
const CONNECTS_IN_FLIGHT: usize = 256;

impl Client {
    pub fn new(
        addr: SocketAddr,
        target: usize,
        traffic: Duration,
        open: Arc<AtomicUsize>,
    ) -> Client {
        Client {
            addr,
            target,
            conns: Vec::with_capacity(target),
            window: 8 * 1024,
            traffic,
            phase: Phase::Connecting,
            connecting: 0,
            connected: 0,
            outstanding: 0,
            scratch: vec![0; 64 * 1024],
            out: vec![0; 4096],
            traffic_started: None,
            traffic_ended: None,
            corrupted: 0,
            sent: 0,
            received: 0,
            errors: Vec::new(),
            open,
            peak: None,
        }
    }

    /// Bytes the kernel accepted from the client, and bytes that came back, so far.
    pub fn totals(&self) -> (u64, u64) {
        let sent = self.conns.iter().map(|c| c.sent).sum::<u64>();
        let received = self.conns.iter().map(|c| c.received).sum::<u64>();
        (self.sent + sent, self.received + received)
    }

    /// Opens connections until `CONNECTS_IN_FLIGHT` are pending or all are open.
    pub fn connect_more<S: Selector>(&mut self, el: &mut EventLoop<Self, S>) {
        while self.connecting < CONNECTS_IN_FLIGHT && self.conns.len() < self.target {
            let i = self.conns.len();
            let socket = match TcpSocket::v4() {
                Ok(s) => s,
                Err(e) => return self.fail(format!("socket {i}: {e}")),
            };
            match el.connect_with(
                socket,
                &self.addr,
                Token(i + 1),
                Interest::READABLE,
                Mode::Level,
            ) {
                Ok(stream) => self.conns.push(Conn {
                    stream,
                    connected: false,
                    blocked: false,
                    sent: 0,
                    received: 0,
                    rng: (i as u32).wrapping_mul(2_654_435_761) | 1,
                }),
                Err(e) => return self.fail(format!("connect {i}: {e}")),
            }
            self.connecting += 1;
        }
    }

    fn fail(&mut self, msg: String) {
        self.errors.push(msg);
        self.phase = Phase::Done;
    }

    fn on_connected<S: Selector>(&mut self, el: &mut EventLoop<Self, S>, i: usize) {
        let conn = &mut self.conns[i];
        match conn.stream.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => return self.fail(format!("connect {i}: {e}")),
        }
        conn.connected = true;
        self.connecting -= 1;
        self.connected += 1;
        let token = Token(i + 1);
        if let Err(e) = el.reregister(&conn.stream, token, Interest::READABLE, Mode::Level) {
            return self.fail(format!("reregister {i}: {e}"));
        }
        if self.connected < self.target {
            return self.connect_more(el);
        }
        self.phase = Phase::Traffic;
        self.traffic_started = Some(Instant::now());
        if let Err(e) = el.timeout((), self.traffic) {
            return self.fail(format!("traffic timer: {e}"));
        }
        for i in 0..self.conns.len() {
            self.pump(el, i);
        }
    }

    /// Sends chunks of 1 to 4,096 bytes while less than `window` is in flight.
    fn pump<S: Selector>(&mut self, el: &mut EventLoop<Self, S>, i: usize) {
        let conn = &mut self.conns[i];
        while self.phase == Phase::Traffic {
            let room = self.window - (conn.sent - conn.received);
            if room == 0 {
                break;
            }
            conn.rng ^= conn.rng << 13;
            conn.rng ^= conn.rng >> 17;
            conn.rng ^= conn.rng << 5;
            let len = (conn.rng as u64 % 4096 + 1).min(room) as usize;
            for (k, b) in self.out[..len].iter_mut().enumerate() {
                *b = pattern(i, conn.sent + k as u64);
            }
            match (&conn.stream).write(&self.out[..len]) {
                Ok(n) => conn.sent += n as u64,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    conn.blocked = true;
                    let token = Token(i + 1);
                    if let Err(e) = el.reregister(&conn.stream, token, Interest::BOTH, Mode::Level)
                    {
                        self.fail(format!("reregister {i}: {e}"));
                    }
                    break;
                }
                Err(e) => return self.fail(format!("client write {i}: {e}")),
            }
        }
    }

    /// Reads what is there and checks it against the stream sent.
    fn receive<S: Selector>(&mut self, el: &mut EventLoop<Self, S>, i: usize) {
        let conn = &mut self.conns[i];
        let n = match (&conn.stream).read(&mut self.scratch) {
            Ok(0) => return self.fail(format!("client {i}: EOF from the server")),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => return self.fail(format!("client read {i}: {e}")),
        };
        let start = conn.received;
        let bad = self.scratch[..n]
            .iter()
            .enumerate()
            .filter(|&(k, &b)| b != pattern(i, start + k as u64))
            .count();
        conn.received += n as u64;
        if bad > 0 {
            self.corrupted += bad as u64;
            self.errors
                .push(format!("client {i}: {bad} of {n} bytes at {start} differ"));
        }
        if conn.received > conn.sent {
            let extra = conn.received - conn.sent;
            self.fail(format!("client {i}: {extra} bytes more than sent"));
        } else if self.phase == Phase::Draining && conn.received == conn.sent {
            self.outstanding -= 1;
            if self.outstanding == 0 {
                self.finish(el);
            }
        } else {
            self.pump(el, i);
        }
    }

    fn on_writable<S: Selector>(&mut self, el: &mut EventLoop<Self, S>, i: usize) {
        let conn = &mut self.conns[i];
        if !conn.blocked {
            return;
        }
        conn.blocked = false;
        let token = Token(i + 1);
        if let Err(e) = el.reregister(&conn.stream, token, Interest::READABLE, Mode::Level) {
            return self.fail(format!("reregister {i}: {e}"));
        }
        self.pump(el, i);
    }

    /// Traffic time is up: snapshot, stop sending, wait for the echoes in flight.
    fn drain<S: Selector>(&mut self, el: &mut EventLoop<Self, S>) {
        self.peak = Some(Peak {
            rss_anon: super::rss_anon(),
            kernel_tcp: super::kernel_tcp_bytes(),
            server_open: self.open.load(Ordering::Relaxed),
            client_open: self.conns.len(),
            open_fds: super::open_fds(),
        });
        self.traffic_ended = Some(Instant::now());
        self.phase = Phase::Draining;
        self.outstanding = self.conns.iter().filter(|c| c.received != c.sent).count();
        if self.outstanding == 0 {
            self.finish(el);
        }
    }

    /// Every byte is back: closes every connection (the server sees EOF on each).
    fn finish<S: Selector>(&mut self, el: &mut EventLoop<Self, S>) {
        (self.sent, self.received) = self.totals();
        for (i, conn) in self.conns.drain(..).enumerate() {
            if let Err(e) = el.deregister(&conn.stream) {
                self.errors.push(format!("deregister client {i}: {e}"));
            }
        }
        self.phase = Phase::Done;
    }

    /// Closes whatever is still open (after a failure or a deadline); keeps the totals.
    pub fn abandon<S: Selector>(&mut self, el: &mut EventLoop<Self, S>) {
        self.finish(el);
    }
}

impl<S: Selector> Handler<S> for Client {
    type Timeout = ();
    type Message = ();

    fn readable(&mut self, el: &mut EventLoop<Self, S>, token: Token) {
        let i = slot(token);
        if i < self.conns.len() && self.phase != Phase::Done {
            if self.conns[i].connected {
                self.receive(el, i);
            } else {
                self.on_connected(el, i);
            }
        }
    }

    fn writable(&mut self, el: &mut EventLoop<Self, S>, token: Token) {
        let i = slot(token);
        if i >= self.conns.len() || self.phase == Phase::Done {
            return;
        }
        if self.conns[i].connected {
            self.on_writable(el, i);
        } else {
            self.on_connected(el, i);
        }
    }

    fn timeout(&mut self, el: &mut EventLoop<Self, S>, _: ()) {
        if self.phase == Phase::Traffic {
            self.drain(el);
        }
    }
}
