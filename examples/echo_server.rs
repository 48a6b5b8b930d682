//! TCP echo server on `EventLoop` with the race-free `connect` (the seed's example): one
//! `Handler` serves both sides, on any backend, and stops gracefully on a signal.
//!
//! ```text
//! cargo run --example echo_server -- [--addr 127.0.0.1:7000] [--backend epoll|poll|polling]
//!     [--mode level] [--grace 5]
//! cargo run --release --example echo_server -- --selftest [--clients 64] [--messages 1000]
//!     [--mode level|edge|oneshot] [--buffer BYTES (0: OS default)] [--seed N] [--backend …]
//! ```
//!
//! Serving, it echoes every connection until `SIGINT` (Ctrl-C) or `SIGTERM`: then it
//! stops accepting, closes the connections with nothing left to echo, gives the others
//! `--grace` seconds to flush what they owe, prints a one-line summary and exits 0 (a
//! second signal cuts the wait short). Accepting goes through `net::Acceptor`, so running
//! out of file descriptors sheds the waiting connections instead of spinning or ending
//! the server. With `--selftest` it serves a
//! free loopback port and runs its own clients in the same loop: each connects with
//! `el.connect`, sends messages of 1 B to 64 KiB (log-uniform sizes from a seeded
//! xorshift, so the total stays moderate) and checks every echoed byte; then the clients
//! close, the server sees EOF and drops its side, and the loop ends with nothing
//! registered. Exit status 0, or 1 with a message on any mismatch. Without `--backend`,
//! `SELECTIO_BACKEND` picks the backend (`AnySelector::from_env`); `polling` needs
//! `--features polling`.
//!
//! Tokens: [`LISTENER`] is the listener, every other token indexes the connection slab.
//! Each side asks for `WRITABLE` only while it has unsent data; the server stops reading
//! while an echo is pending (back-pressure), and each client keeps at most [`WINDOW`]
//! bytes unechoed.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use selectio::net::{Acceptor, TcpListener, TcpSocket, TcpStream};
use selectio::{AnySelector, EventLoop, Handler, Interest, Mode, Ready, Selector, Token};

/// The listener's token; connection `i` of the slab has `Token(i + 1)`.
pub const LISTENER: Token = Token(0);
/// The largest message a client sends.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// The most bytes a client has sent and not yet seen echoed before it stops sending.
pub const WINDOW: u64 = 256 * 1024;

/// What a self-test runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// How many clients connect.
    pub clients: usize,
    /// Messages each client sends and checks.
    pub messages: usize,
    /// Mode of every connection after the connect notification (and of the listener).
    pub mode: Mode,
    /// Seed of the message sizes, offsets and the byte pattern.
    pub seed: u64,
    /// `SO_SNDBUF`/`SO_RCVBUF` of every socket; `None` keeps the OS default. The
    /// default, 16 KiB, is small so that writes come out partial and need `WRITABLE`
    /// (with Linux's loopback defaults they almost never do).
    pub buffer: Option<usize>,
    /// Fail instead of hanging if the run takes longer.
    pub deadline: Duration,
    /// Test hook: the server flips one bit at this byte offset of each echo stream.
    pub corrupt_at: Option<u64>,
    /// Serving: how long connections may flush after a signal before they are cut.
    pub grace: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            clients: 64,
            messages: 1000,
            mode: Mode::Level,
            seed: 0x5e1e_c710,
            buffer: Some(16 * 1024),
            deadline: Duration::from_secs(300),
            corrupt_at: None,
            grace: Duration::from_secs(5),
        }
    }
}

/// xorshift64 (Marsaglia 2003, shifts 13/7/17): small, seeded, reproducible.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed`, scrambled (splitmix64) so that nearby seeds differ.
    pub fn new(seed: u64) -> XorShift {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        XorShift((z ^ (z >> 31)) | 1) // never 0, the one state xorshift cannot leave
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform enough in `0..n` for test sizes (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// One message: a slice of the shared pattern, and how much of it went through.
#[derive(Debug, Clone, Copy)]
struct Message {
    /// Its place in the client's plan.
    index: usize,
    offset: usize,
    len: usize,
    done: usize,
}

impl Message {
    fn rest<'a>(&self, pattern: &'a [u8]) -> &'a [u8] {
        &pattern[self.offset + self.done..self.offset + self.len]
    }
}

/// A client's messages, drawn one by one; the sender and the checker each hold a copy
/// started from the same seed, so the checker knows every byte without storing any.
#[derive(Debug, Clone)]
struct Plan {
    rng: XorShift,
    drawn: usize,
    left: usize,
}

impl Plan {
    fn next(&mut self) -> Option<Message> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.drawn += 1;
        // Log-uniform: a power of two 2^e (e in 0..16), then uniform in [2^e, 2^(e+1)].
        let low = 1u64 << self.rng.below(16);
        let len = (low + self.rng.below(low + 1)) as usize;
        let offset = self.rng.below(MAX_MESSAGE as u64) as usize;
        Some(Message {
            index: self.drawn - 1,
            offset,
            len,
            done: 0,
        })
    }

    /// Total bytes of the plan.
    fn total(mut self) -> u64 {
        std::iter::from_fn(|| self.next())
            .map(|m| m.len as u64)
            .sum()
    }
}

/// The bytes messages are cut from: 128 KiB of xorshift output, so that no shift of a
/// message matches itself and a lost, repeated or reordered chunk shows.
fn pattern(seed: u64) -> Vec<u8> {
    let mut rng = XorShift::new(seed ^ 0x0a77_e2e5);
    (0..2 * MAX_MESSAGE).map(|_| rng.next_u64() as u8).collect()
}

/// A client: connecting, then sending its plan and checking the echo.
#[derive(Debug)]
struct Client {
    id: usize,
    connected: bool,
    send: Plan,
    check: Plan,
    sending: Option<Message>,
    checking: Option<Message>,
    sent: u64,
    verified: u64,
}

impl Client {
    fn new(id: usize, plan: Plan) -> Client {
        Client {
            id,
            connected: false,
            send: plan.clone(),
            check: plan,
            sending: None,
            checking: None,
            sent: 0,
            verified: 0,
        }
    }
}

/// The server's side of one connection.
#[derive(Debug, Default)]
struct Peer {
    /// Read but not yet echoed (`out[written..]`).
    out: Vec<u8>,
    written: usize,
    /// Bytes read so far (for the corruption hook).
    read: u64,
    eof: bool,
}

#[derive(Debug)]
enum Role {
    Server(Peer),
    Client(Client),
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    role: Role,
    /// What the registration currently asks for.
    interest: Interest,
    mode: Mode,
}

/// What a connection wants after it handled readiness.
enum Next {
    Wait(Interest),
    Close,
}

/// Counters of a run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Connections the server accepted.
    pub accepted: usize,
    /// Clients that checked their whole echo and closed.
    pub clients_done: usize,
    /// Messages whose echo matched byte for byte.
    pub messages_verified: u64,
    /// Echoed bytes compared with what was sent.
    pub bytes_verified: u64,
    /// Writes that took less than offered or would block, and so needed `WRITABLE`.
    pub server_partial_writes: u64,
    /// The same, on the client side.
    pub client_partial_writes: u64,
    /// Bytes the server echoed.
    pub bytes_echoed: u64,
    /// Connections closed at once when a signal stopped the server (nothing owed).
    pub closed_idle: usize,
    /// Connections that flushed what they owed after the signal, then closed.
    pub finished_in_flight: usize,
    /// Connections cut at the end of the grace period, or by a second signal.
    pub cut: usize,
}

/// What a timer of the echo handler is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The self-test's deadline: it fails.
    Deadline,
    /// The end of an accept back-off: watch the listener again.
    Backoff,
    /// The end of the grace period after a signal: cut what is left.
    Grace,
}

/// The echo handler: listener, server connections and client connections in one slab.
#[derive(Debug)]
pub struct Echo {
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    listener: Option<Acceptor<TcpListener>>,
    /// Serving: the signal that stopped the server, and when; then the loop ends once
    /// every connection has flushed and closed.
    stopping: Option<(i32, Instant)>,
    grace: Duration,
    /// A second signal cut the grace period short.
    second_signal: bool,
    mode: Mode,
    pattern: Vec<u8>,
    buf: Vec<u8>,
    /// Self-test: shut down once every client is done and every server side closed.
    clients: Option<usize>,
    servers_open: usize,
    corrupt_at: Option<u64>,
    /// Counters of the run so far.
    pub stats: Stats,
    /// The first mismatch or error; the self-test stops at it.
    pub failure: Option<String>,
}

impl Echo {
    /// A handler whose connections use `mode` once connected.
    pub fn new(mode: Mode, seed: u64) -> Echo {
        Echo {
            conns: Vec::new(),
            free: Vec::new(),
            listener: None,
            stopping: None,
            grace: Duration::from_secs(5),
            second_signal: false,
            mode,
            pattern: pattern(seed),
            buf: vec![0; MAX_MESSAGE],
            clients: None,
            servers_open: 0,
            corrupt_at: None,
            stats: Stats::default(),
            failure: None,
        }
    }

    /// Binds `addr`, listens, and registers the listener's [`Acceptor`] in the handler's
    /// mode; `buffer` sizes the listener's buffers, which accepted sockets inherit.
    /// (Registering a listener that already has connections waiting reports them, so
    /// this is as race-free as `el.listen`, which returns the bare listener.)
    pub fn listen<S: Selector>(
        &mut self,
        el: &mut EventLoop<Echo, S>,
        addr: SocketAddr,
        buffer: Option<usize>,
    ) -> io::Result<SocketAddr> {
        let socket = TcpSocket::for_addr(addr)?;
        socket.set_reuseaddr(true)?;
        set_buffers(&socket, buffer)?;
        socket.bind(addr)?;
        let acceptor = Acceptor::new(socket.listen(1024)?)?;
        el.register(&acceptor, LISTENER, Interest::READABLE, self.mode)?;
        let local = acceptor.get_ref().local_addr()?;
        self.listener = Some(acceptor);
        Ok(local)
    }

    /// Starts the self-test's clients: each connects with `el.connect` (Oneshot, both
    /// interests) and is told of the outcome by a `writable` notification.
    pub fn start_clients<S: Selector>(
        &mut self,
        el: &mut EventLoop<Echo, S>,
        addr: SocketAddr,
        cfg: &Config,
    ) -> io::Result<()> {
        self.clients = Some(cfg.clients);
        self.corrupt_at = cfg.corrupt_at;
        for id in 0..cfg.clients {
            let socket = TcpSocket::for_addr(addr)?;
            socket.set_nodelay(true)?;
            set_buffers(&socket, cfg.buffer)?;
            let token = self.vacant();
            let stream = el.connect(socket, &addr, token).inspect_err(|_| {
                self.free.push(token.0 - 1);
            })?;
            let role = Role::Client(Client::new(id, client_plan(cfg, id)));
            self.put(token, stream, role, Interest::BOTH, Mode::Oneshot);
        }
        Ok(())
    }

    /// A free slab slot's token.
    fn vacant(&mut self) -> Token {
        let i = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        Token(i + 1)
    }

    fn put(&mut self, token: Token, stream: TcpStream, role: Role, interest: Interest, mode: Mode) {
        let conn = Conn {
            stream,
            role,
            interest,
            mode,
        };
        self.conns[token.0 - 1] = Some(conn);
    }

    /// Records the first failure and stops the loop.
    fn fail<S: Selector>(&mut self, el: &mut EventLoop<Echo, S>, msg: String) {
        if self.failure.is_none() {
            self.failure = Some(msg);
        }
        el.shutdown();
    }

    /// Accepts until `WouldBlock`, registering each connection for `READABLE`. Out of
    /// descriptors, the [`Acceptor`] has shed the waiting connections (the listener does
    /// not stay ready, so nothing spins); when it asks for a back-off, the listener is
    /// unwatched until a [`Timer::Backoff`].
    fn accept<S: Selector>(&mut self, el: &mut EventLoop<Echo, S>) {
        loop {
            let Some(listener) = &mut self.listener else {
                return;
            };
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    let shed = listener.shed_count();
                    eprintln!("echo: accept: {e} ({shed} waiting connections shed so far)");
                    if let Some(pause) = listener.backoff() {
                        return self.back_off(el, pause);
                    }
                    break;
                }
            };
            let token = self.vacant();
            if let Err(e) = el.register(&stream, token, Interest::READABLE, self.mode) {
                self.free.push(token.0 - 1);
                return self.fail(el, format!("register {token:?}: {e}"));
            }
            let role = Role::Server(Peer::default());
            self.put(token, stream, role, Interest::READABLE, self.mode);
            self.stats.accepted += 1;
            self.servers_open += 1;
        }
        if self.mode == Mode::Oneshot {
            self.rearm_listener(el);
        }
    }

    /// Stops watching the listener for `pause`.
    fn back_off<S: Selector>(&mut self, el: &mut EventLoop<Echo, S>, pause: Duration) {
        if let Some(listener) = &self.listener {
            if let Err(e) = el.deregister(listener) {
                return self.fail(el, format!("deregister the listener: {e}"));
            }
            if let Err(e) = el.timeout(Timer::Backoff, pause) {
                self.fail(el, format!("back-off timer: {e}"));
            }
        }
    }

    fn rearm_listener<S: Selector>(&mut self, el: &mut EventLoop<Echo, S>) {
        if let Some(listener) = &self.listener {
            if let Err(e) = el.reregister(listener, LISTENER, Interest::READABLE, self.mode) {
                self.fail(el, format!("re-arm the listener: {e}"));
            }
        }
    }

    /// Handles readiness of connection `token`, then updates or drops its registration.
    fn conn_ready<S: Selector>(&mut self, el: &mut EventLoop<Echo, S>, token: Token) {
        let Some(Some(conn)) = self.conns.get_mut(token.0 - 1) else {
            return; // closed earlier in this iteration
        };
        let draining = self.stopping.is_some();
        let result = match &mut conn.role {
            Role::Server(peer) if draining => flush(peer, &conn.stream, &mut self.stats),
            Role::Server(peer) => serve(
                peer,
                &conn.stream,
                &mut self.buf,
                self.corrupt_at,
                &mut self.stats,
            ),
            Role::Client(client) => drive(
                client,
                &conn.stream,
                &self.pattern,
                &mut self.buf,
                &mut self.stats,
            ),
        };
        match result {
            Ok(Next::Wait(interest)) => {
                let mode = self.mode;
                if conn.mode == Mode::Oneshot || conn.mode != mode || conn.interest != interest {
                    if let Err(e) = el.reregister(&conn.stream, token, interest, mode) {
                        return self.fail(el, format!("reregister {token:?}: {e}"));
                    }
                    (conn.interest, conn.mode) = (interest, mode);
                }
            }
            Ok(Next::Close) => self.close(el, token),
            Err(msg) if self.clients.is_none() && matches!(conn.role, Role::Server(_)) => {
                eprintln!("echo: connection {token:?} dropped: {msg}");
                self.close(el, token);
            }
            Err(msg) => self.fail(el, msg),
        }
    }

    /// Deregisters and drops connection `token`; the self-test ends after the last one.
    fn close<S: Selector>(&mut self, el: &mut EventLoop<Echo, S>, token: Token) {
        let Some(conn) = self.conns[token.0 - 1].take() else {
            return;
        };
        self.free.push(token.0 - 1);
        if let Err(e) = el.deregister(&conn.stream) {
            return self.fail(el, format!("deregister {token:?}: {e}"));
        }
        match conn.role {
            Role::Server(_) => self.servers_open -= 1,
            Role::Client(_) => self.stats.clients_done += 1,
        }
        if self.stopping.is_some() && self.servers_open == 0 {
            el.shutdown();
        }
        if self.clients == Some(self.stats.clients_done) && self.servers_open == 0 {
            if let Some(listener) = self.listener.take() {
                if let Err(e) = el.deregister(&listener) {
                    return self.fail(el, format!("deregister the listener: {e}"));
                }
            }
            el.shutdown();
        }
    }

    /// After `signal`: stops accepting, closes the connections that owe nothing, lets the
    /// others flush for the grace period. A second signal cuts them at once.
    fn stop<S: Selector>(&mut self, el: &mut EventLoop<Echo, S>, signal: i32) {
        if self.stopping.is_some() {
            self.second_signal = true;
            return self.cut(el);
        }
        self.stopping = Some((signal, Instant::now()));
        if let Some(listener) = self.listener.take() {
            if let Err(e) = el.deregister(&listener) {
                eprintln!("echo: deregister the listener: {e}");
            }
        }
        for i in 0..self.conns.len() {
            let owes = match &self.conns[i] {
                Some(Conn {
                    role: Role::Server(peer),
                    ..
                }) => peer.written < peer.out.len(),
                _ => continue,
            };
            if owes {
                // Writable only, from now on: flush, then close.
                let conn = self.conns[i].as_mut().expect("checked above");
                let (token, mode) = (Token(i + 1), self.mode);
                if el
                    .reregister(&conn.stream, token, Interest::WRITABLE, mode)
                    .is_ok()
                {
                    (conn.interest, conn.mode) = (Interest::WRITABLE, mode);
                    continue;
                }
            }
            self.stats.closed_idle += 1;
            self.close(el, Token(i + 1));
        }
        if self.servers_open == 0 {
            el.shutdown();
        } else if let Err(e) = el.timeout(Timer::Grace, self.grace) {
            eprintln!("echo: grace timer: {e}");
            self.cut(el);
        }
    }

    /// Closes every server connection still open, whatever it owes, and ends the run.
    fn cut<S: Selector>(&mut self, el: &mut EventLoop<Echo, S>) {
        for i in 0..self.conns.len() {
            if let Some(Conn {
                role: Role::Server(_),
                ..
            }) = self.conns[i]
            {
                self.stats.cut += 1;
                self.close(el, Token(i + 1));
            }
        }
        el.shutdown();
    }

    /// The one-line summary of a run that a signal ended.
    pub fn summary(&self) -> Option<String> {
        let (signal, since) = self.stopping?;
        let s = &self.stats;
        Some(format!(
            "echo server: {}: stopped accepting after {} connections and {} bytes echoed; \
             {} closed idle, {} finished in flight, {} cut {}; shut down in {:.1?}",
            signal_name(signal),
            s.accepted,
            s.bytes_echoed,
            s.closed_idle,
            s.finished_in_flight,
            s.cut,
            cut_when(self.second_signal, self.grace),
            since.elapsed()
        ))
    }

    /// Deregisters and drops everything still open (after a failure).
    pub fn close_all<S: Selector>(&mut self, el: &mut EventLoop<Echo, S>) {
        for conn in self.conns.drain(..).flatten() {
            let _ = el.deregister(&conn.stream);
        }
        if let Some(listener) = self.listener.take() {
            let _ = el.deregister(&listener);
        }
    }
}

impl<S: Selector> Handler<S> for Echo {
    type Timeout = Timer;
    type Message = ();

    fn ready(&mut self, el: &mut EventLoop<Echo, S>, token: Token, _: Ready) {
        if token == LISTENER {
            self.accept(el);
        } else {
            self.conn_ready(el, token);
        }
    }

    fn timeout(&mut self, el: &mut EventLoop<Echo, S>, timer: Timer) {
        match timer {
            Timer::Deadline => {
                let msg = format!("timed out; progress: {:?}", self.stats);
                self.fail(el, msg);
            }
            Timer::Backoff => {
                if let Some(listener) = &self.listener {
                    if let Err(e) = el.register(listener, LISTENER, Interest::READABLE, self.mode) {
                        self.fail(el, format!("watch the listener again: {e}"));
                    }
                }
            }
            Timer::Grace => self.cut(el),
        }
    }

    fn signal(&mut self, el: &mut EventLoop<Echo, S>, signal: i32, _: usize) {
        self.stop(el, signal);
    }
}

/// The server side: echo what arrives; while an echo is pending, wait for `WRITABLE`
/// only (no reading: back-pressure); on EOF with nothing pending, close.
fn serve(
    peer: &mut Peer,
    stream: &TcpStream,
    buf: &mut [u8],
    corrupt_at: Option<u64>,
    stats: &mut Stats,
) -> Result<Next, String> {
    loop {
        if peer.written < peer.out.len() {
            match write_some(stream, &peer.out[peer.written..]) {
                Ok(0) => return Ok(Next::Wait(Interest::WRITABLE)),
                Ok(n) => {
                    peer.written += n;
                    stats.bytes_echoed += n as u64;
                }
                Err(e) => return Err(format!("server write: {e}")),
            }
            continue;
        }
        peer.out.clear();
        peer.written = 0;
        if peer.eof {
            return Ok(Next::Close);
        }
        let n = match read_some(stream, buf) {
            Ok(Some(0)) => {
                peer.eof = true;
                continue;
            }
            Ok(Some(n)) => n,
            Ok(None) => return Ok(Next::Wait(Interest::READABLE)),
            Err(e) => return Err(format!("server read: {e}")),
        };
        if let Some(at) = corrupt_at.filter(|at| (peer.read..peer.read + n as u64).contains(at)) {
            buf[(at - peer.read) as usize] ^= 1;
        }
        peer.read += n as u64;
        let written = write_some(stream, &buf[..n]).map_err(|e| format!("server write: {e}"))?;
        stats.bytes_echoed += written as u64;
        if written < n {
            stats.server_partial_writes += 1;
            peer.out.extend_from_slice(&buf[written..n]);
        }
    }
}

/// The server side once a signal stopped the server: write what is owed, read nothing
/// more, then close.
fn flush(peer: &mut Peer, stream: &TcpStream, stats: &mut Stats) -> Result<Next, String> {
    while peer.written < peer.out.len() {
        match write_some(stream, &peer.out[peer.written..]) {
            Ok(0) => return Ok(Next::Wait(Interest::WRITABLE)),
            Ok(n) => {
                peer.written += n;
                stats.bytes_echoed += n as u64;
            }
            Err(e) => return Err(format!("server write: {e}")),
        }
    }
    stats.finished_in_flight += 1;
    Ok(Next::Close)
}

/// A client: on the first notification check the connect outcome, then read and check
/// everything available and send while the window allows; `WRITABLE` only while a
/// message is partly unsent.
fn drive(
    client: &mut Client,
    stream: &TcpStream,
    pattern: &[u8],
    buf: &mut [u8],
    stats: &mut Stats,
) -> Result<Next, String> {
    let id = client.id;
    if !client.connected {
        if let Some(e) = stream.take_error().map_err(|e| e.to_string())? {
            return Err(format!("client {id}: connect failed: {e}"));
        }
        if stream.peer_addr().is_err() {
            return Ok(Next::Wait(Interest::BOTH)); // still connecting: a spurious wake-up
        }
        client.connected = true;
    }
    loop {
        match read_some(stream, buf).map_err(|e| format!("client {id}: read: {e}"))? {
            Some(0) => return Err(format!("client {id}: EOF after {} bytes", client.verified)),
            Some(n) => check(client, &buf[..n], pattern, stats)?,
            None => break,
        }
    }
    let blocked = send(client, stream, pattern, stats)?;
    if client.checking.is_none() && client.check.left == 0 {
        return Ok(Next::Close);
    }
    Ok(Next::Wait(if blocked {
        Interest::BOTH
    } else {
        Interest::READABLE
    }))
}

/// Compares echoed bytes with what the client sent, message by message.
fn check(
    client: &mut Client,
    mut data: &[u8],
    pattern: &[u8],
    stats: &mut Stats,
) -> Result<(), String> {
    let id = client.id;
    if client.verified + data.len() as u64 > client.sent {
        return Err(format!(
            "client {id}: {} bytes echoed, {} sent",
            client.verified + data.len() as u64,
            client.sent
        ));
    }
    while !data.is_empty() {
        let mut msg = match client.checking.take().or_else(|| client.check.next()) {
            Some(msg) => msg,
            None => return Err(format!("client {id}: echo longer than its messages")),
        };
        let want = msg.rest(pattern);
        let k = want.len().min(data.len());
        // Slice equality is one memcmp; the byte loop runs only to describe a mismatch.
        if data[..k] != want[..k] {
            let i = (0..k).find(|&i| data[i] != want[i]).unwrap_or(0);
            let (got, sent, at) = (data[i], want[i], msg.done + i);
            let (index, len) = (msg.index, msg.len);
            return Err(format!(
                "client {id}: byte {at} of message {index} ({len} bytes) differs: \
                 got {got:#04x}, sent {sent:#04x}"
            ));
        }
        (msg.done, data) = (msg.done + k, &data[k..]);
        client.verified += k as u64;
        stats.bytes_verified += k as u64;
        if msg.done < msg.len {
            client.checking = Some(msg);
        } else {
            stats.messages_verified += 1;
        }
    }
    Ok(())
}

/// Sends while the window allows; `Ok(true)` when a write would block.
fn send(
    client: &mut Client,
    stream: &TcpStream,
    pattern: &[u8],
    stats: &mut Stats,
) -> Result<bool, String> {
    while client.sent - client.verified < WINDOW {
        let Some(mut msg) = client.sending.take().or_else(|| client.send.next()) else {
            return Ok(false);
        };
        let rest = msg.rest(pattern);
        let n =
            write_some(stream, rest).map_err(|e| format!("client {}: write: {e}", client.id))?;
        (msg.done, client.sent) = (msg.done + n, client.sent + n as u64);
        if msg.done < msg.len {
            client.sending = Some(msg);
        }
        if n < rest.len() {
            stats.client_partial_writes += 1;
            return Ok(true);
        }
    }
    Ok(false)
}

/// One read: `Some(n)` bytes (0 = EOF), `None` when it would block.
fn read_some(mut stream: &TcpStream, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        match stream.read(buf) {
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// One write: the bytes taken, 0 when it would block.
fn write_some(mut stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
    loop {
        match stream.write(data) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn set_buffers(socket: &TcpSocket, buffer: Option<usize>) -> io::Result<()> {
    if let Some(size) = buffer {
        socket.set_send_buffer_size(size)?;
        socket.set_recv_buffer_size(size)?;
    }
    Ok(())
}

fn client_plan(cfg: &Config, id: usize) -> Plan {
    Plan {
        rng: XorShift::new(cfg.seed ^ (id as u64).wrapping_mul(0x9e37_79b9)),
        drawn: 0,
        left: cfg.messages,
    }
}

/// The bytes every client of `cfg` sends, in total.
pub fn expected_bytes(cfg: &Config) -> u64 {
    (0..cfg.clients)
        .map(|id| client_plan(cfg, id).total())
        .sum()
}

/// Serves a free loopback port and runs `cfg.clients` clients in `el`; `Ok` with the
/// counters when every byte came back as sent and everything was closed.
pub fn selftest<S: Selector>(el: &mut EventLoop<Echo, S>, cfg: &Config) -> Result<Stats, String> {
    let mut echo = Echo::new(cfg.mode, cfg.seed);
    let local: SocketAddr = ([127, 0, 0, 1], 0).into();
    let setup = echo
        .listen(el, local, cfg.buffer)
        .and_then(|addr| echo.start_clients(el, addr, cfg));
    let deadline = el
        .timeout(Timer::Deadline, cfg.deadline)
        .map_err(|e| format!("timer: {e:?}"));
    let result = match (setup, deadline) {
        (Err(e), _) => Err(format!("setup: {e}")),
        (_, Err(e)) => Err(e),
        (Ok(()), Ok(deadline)) => {
            let run = el.run(&mut echo).map_err(|e| format!("event loop: {e}"));
            el.clear_timeout(&deadline);
            run
        }
    };
    echo.close_all(el);
    result?;
    if let Some(failure) = echo.failure {
        return Err(failure);
    }
    let expected = (cfg.clients * cfg.messages) as u64;
    if echo.stats.messages_verified != expected || echo.stats.bytes_verified != expected_bytes(cfg)
    {
        return Err(format!(
            "incomplete: {:?}, expected {expected} messages",
            echo.stats
        ));
    }
    Ok(echo.stats)
}

/// Command-line options.
#[derive(Debug)]
struct Args {
    addr: SocketAddr,
    backend: Option<String>,
    selftest: bool,
    help: bool,
    cfg: Config,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut out = Args {
        addr: ([127, 0, 0, 1], 7000).into(),
        backend: None,
        selftest: false,
        help: false,
        cfg: Config::default(),
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--addr" => out.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--backend" => out.backend = Some(value()?),
            "--selftest" => out.selftest = true,
            "--clients" => out.cfg.clients = number(&arg, value()?)?,
            "--messages" => out.cfg.messages = number(&arg, value()?)?,
            "--buffer" => out.cfg.buffer = Some(number(&arg, value()?)?).filter(|&n| n > 0),
            "--seed" => out.cfg.seed = number(&arg, value()?)? as u64,
            "--mode" => out.cfg.mode = parse_mode(&value()?)?,
            "--grace" => {
                let secs: f64 = value()?.parse().map_err(|e| format!("--grace: {e}"))?;
                out.cfg.grace = Duration::try_from_secs_f64(secs)
                    .map_err(|e| format!("--grace {secs}: {e}"))?;
            }
            "-h" | "--help" => out.help = true,
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(out)
}

const USAGE: &str = "\
usage: echo_server [--addr IP:PORT] [--backend NAME] [--mode MODE] [--grace SECS]
       echo_server --selftest [--clients N] [--messages N] [--buffer BYTES] [--seed N]
                   [--backend NAME] [--mode MODE]

  --addr IP:PORT   where to listen (default 127.0.0.1:7000; port 0 takes a free one)
  --backend NAME   epoll, kqueue, poll or polling (default: SELECTIO_BACKEND if set,
                   else the first compiled in of epoll, kqueue, polling, poll)
  --mode MODE      level, edge or oneshot (default level)
  --grace SECS     after SIGINT/SIGTERM, how long connections may flush (default 5)
  --selftest       serve a free port and check the echo of its own clients
  --clients N      self-test clients (default 64)
  --messages N     messages per client (default 1000)
  --buffer BYTES   socket buffer sizes, 0 for the OS default (default 16384)
  --seed N         seed of the message sizes and bytes (default 1579075344)
  -h, --help       print this help

Serving, SIGINT (Ctrl-C) or SIGTERM stops accepting, lets connections flush for the
grace period, prints a summary and exits 0; a second signal cuts the wait short.
";

fn number(arg: &str, s: String) -> Result<usize, String> {
    s.parse().map_err(|e| format!("{arg} {s:?}: {e}"))
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse().map_err(|e| format!("--mode: {e}"))
}

/// The selector `--backend` names, or `SELECTIO_BACKEND`'s choice.
fn open_selector(backend: Option<&str>) -> io::Result<AnySelector> {
    let selector = match backend {
        Some(name) => AnySelector::with_backend(name.parse()?)?,
        None => AnySelector::from_env()?,
    };
    for (backend, err) in selector.fallbacks() {
        eprintln!("echo: backend {backend} unavailable: {err}");
    }
    Ok(selector)
}

fn run(args: Args) -> Result<(), String> {
    if args.help {
        print!("{USAGE}");
        return Ok(());
    }
    let selector = open_selector(args.backend.as_deref()).map_err(|e| e.to_string())?;
    let name = selector.name();
    let mut el: EventLoop<Echo, AnySelector> = EventLoop::builder()
        .build_with(selector)
        .map_err(|e| e.to_string())?;
    if args.selftest {
        let cfg = &args.cfg;
        let start = Instant::now();
        let stats =
            selftest(&mut el, cfg).map_err(|e| format!("echo selftest on {name} FAILED: {e}"))?;
        println!(
            "echo selftest on {name} ({:?}): {} clients x {} messages, {} bytes verified in {:.2?}; \
             partial writes: server {}, client {}",
            cfg.mode, cfg.clients, cfg.messages, stats.bytes_verified, start.elapsed(),
            stats.server_partial_writes, stats.client_partial_writes
        );
        return Ok(());
    }
    let mut echo = Echo::new(args.cfg.mode, args.cfg.seed);
    echo.grace = args.cfg.grace;
    for (signal, name) in STOP_SIGNALS {
        el.watch_signal(signal)
            .map_err(|e| format!("watch {name}: {e}"))?;
    }
    let addr = echo
        .listen(&mut el, args.addr, None)
        .map_err(|e| format!("listen on {}: {e}", args.addr))?;
    println!("echo server on {name} listening on {addr} (Ctrl-C to stop)");
    let result = el.run(&mut echo).map_err(|e| format!("event loop: {e}"));
    echo.close_all(&mut el);
    result?;
    if let Some(failure) = echo.failure {
        return Err(failure);
    }
    if let Some(summary) = echo.summary() {
        println!("{summary}");
    }
    Ok(())
}

/// The signals that stop the server gracefully (signals exist on Unix only).
#[cfg(unix)]
const STOP_SIGNALS: [(i32, &str); 2] = [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")];
#[cfg(not(unix))]
const STOP_SIGNALS: [(i32, &str); 0] = [];

/// When the connections still open were cut, for the summary.
fn cut_when(second_signal: bool, grace: Duration) -> String {
    match second_signal {
        true => "by a second signal".to_string(),
        false => format!("at the {grace:?} deadline"),
    }
}

/// A signal's name, for the summary.
fn signal_name(signal: i32) -> String {
    match STOP_SIGNALS.iter().find(|(s, _)| *s == signal) {
        Some((_, name)) => name.to_string(),
        None => format!("signal {signal}"),
    }
}

fn main() -> ExitCode {
    main_with(std::env::args().skip(1))
}

/// `main` on the given arguments (tests run the example this way in a child process).
pub fn main_with(args: impl Iterator<Item = String>) -> ExitCode {
    match parse_args(args).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}
