//! Soak and load tests: thousands of loopback connections echoing
//! through one `EventLoop` with every byte checked, a million messages and a million
//! timers through one loop, and thousands of loop and connection lifetimes under an fd
//! limit of 64 with the open fds counted before and after.
//!
//! All are `#[ignore]`d: `.ci/soak` runs them at the bounded CI size,
//!
//! ```text
//! cargo test --release --all-features --test soak -- --ignored --nocapture --test-threads=1
//! ```
//!
//! and `SELECTIO_SOAK=full` selects the full size (one or two runs, not every commit):
//!
//! | variable                        | CI        | full      | what                                   |
//! |---------------------------------|-----------|-----------|----------------------------------------|
//! | `SELECTIO_SOAK_CONNS`           | 4,000     | 9,000     | connections held (capped by the fd limit) |
//! | `SELECTIO_SOAK_SECS`            | 5         | 30        | seconds of echo traffic                |
//! | `SELECTIO_SOAK_REGISTRATIONS`   | 8,000     | 16,000    | fds registered for the bookkeeping figure |
//! | `SELECTIO_SOAK_MESSAGES`        | 1,000,000 | 1,000,000 | notify messages, from 4 threads        |
//! | `SELECTIO_SOAK_TIMERS`          | 1,000,000 | 1,000,000 | timers (plus 10% set and cancelled)    |
//! | `SELECTIO_SOAK_LOOPS`           | 2,000     | 2,000     | EventLoop create/drop cycles, fd limit 64 |
//! | `SELECTIO_SOAK_CYCLES`          | 4,000     | 4,000     | connect/accept/close cycles, fd limit 64 |
//!
//! Each variable overrides its size alone. The connection soak raises the soft
//! `RLIMIT_NOFILE` to the hard limit and needs two fds per connection (both ends live in
//! this process): 9,000 connections want a hard limit of about 20,000 (`ulimit -Hn`); with
//! less it holds what the limit allows and prints so.
//!
//! Every soak runs on each backend compiled in (the default selector among them); the
//! client side of the connection soak is a second loop on `DefaultSelector`, in another
//! thread. Figures are printed (`--nocapture` shows them): connections held, bytes
//! moved, bytes lost and corrupted, memory per connection, bookkeeping bytes per
//! registration, fds leaked, elapsed times. The connection soak and the bookkeeping
//! measurement run in a child process each, so their memory figures start from a fresh
//! heap. `echo_check_catches_a_flipped_bit` proves the byte check is live. The figures
//! of a full run are in `docs/benchmarks.md`.
// Unix only: fd limits (RLIMIT_NOFILE), fd counting in /proc/self/fd or /dev/fd, pipes.
#![cfg(unix)]

#[macro_use]
mod util;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use selectio::net::{TcpListener, TcpSocket, TcpStream};
use selectio::pipe::{PipeReader, PipeWriter};
use selectio::{BorrowedSource, Source, Token};
use selectio::{DefaultSelector, EventLoop, Handler, Interest, Mode, NotifyError, Selector};

use util::soak::echo::{Client, Phase, Server, LISTENER};
use util::soak::{alone, isolated, open_fds, per, size, test_path, Bytes, Deadline};

// The bookkeeping measurement counts allocations when the crate exports its counting
// allocator (feature "conformance"; `.ci/soak` builds with --all-features).
#[cfg(feature = "conformance")]
#[global_allocator]
static GLOBAL: selectio::conformance::CountingAllocator = selectio::conformance::CountingAllocator;

#[cfg(feature = "conformance")]
fn allocations(f: impl FnOnce()) -> Option<usize> {
    Some(selectio::conformance::count_allocations(f))
}

#[cfg(not(feature = "conformance"))]
fn allocations(f: impl FnOnce()) -> Option<usize> {
    f();
    None
}

fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// A loopback listener on a free port, listening with the system's maximum backlog and
/// registered level-triggered under [`LISTENER`].
fn listen<H: Handler<S>, S: Selector>(el: &mut EventLoop<H, S>) -> TcpListener {
    let socket = TcpSocket::v4().expect("socket");
    socket.bind(loopback()).expect("bind 127.0.0.1:0");
    // A negative backlog is the system maximum (somaxconn) on Linux and the BSDs.
    el.listen(socket, -1, LISTENER).expect("listen")
}

// ------------------------------------------------------------ connection soak

/// What the client thread brings back.
struct ClientReport {
    client: Client,
    registered_after: usize,
    connect_time: Duration,
    total_time: Duration,
}

fn run_client(
    addr: SocketAddr,
    target: usize,
    traffic: Duration,
    open: Arc<AtomicUsize>,
    deadline: Deadline,
) -> ClientReport {
    let start = Instant::now();
    let mut el: EventLoop<Client, DefaultSelector> = EventLoop::new().expect("client loop");
    let mut client = Client::new(addr, target, traffic, open);
    client.connect_more(&mut el);
    while client.phase != Phase::Done && !deadline.passed() {
        if let Err(e) = el.run_once(&mut client, Some(Duration::from_millis(100))) {
            client.errors.push(format!("client run_once: {e}"));
            break;
        }
    }
    if client.phase != Phase::Done {
        let phase = client.phase;
        let (sent, received) = client.totals();
        client.errors.push(format!(
            "client stopped in phase {phase:?}: {} of {target} connected, {sent} bytes sent, \
             {received} received",
            client.connected
        ));
        client.abandon(&mut el);
    }
    let connect_time = client
        .traffic_started
        .map_or(start.elapsed(), |t| t - start);
    ClientReport {
        registered_after: el.registered(),
        client,
        connect_time,
        total_time: start.elapsed(),
    }
}

/// Sets its flag when dropped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// How many connections fit under the (raised) fd limit: two fds each, plus headroom.
fn connections_allowed(limit: &util::soak::FdLimit, want: usize) -> usize {
    let spare = open_fds() as u64 + 64;
    let room = (limit.soft().saturating_sub(spare) / 2) as usize;
    if room < want {
        println!(
            "fd limit {} (hard {}) allows {room} of the {want} connections asked for",
            limit.soft(),
            limit.hard()
        );
    }
    want.min(room)
}

/// One echo run: the server loop's state and the client's report after both finished.
struct EchoRun {
    name: &'static str,
    server: Server,
    report: ClientReport,
    /// Sources the server loop still held after deregistering its listener.
    left: usize,
    /// RssAnon and kernel TCP memory before the first connection.
    before: (Option<u64>, Option<u64>),
}

/// `n` connections echo through one server loop on `S` for `traffic` while a client loop
/// (on another thread) keeps 8 KiB in flight on each and checks every byte that comes
/// back; the server flips one bit of its `corrupt_at`-th byte, if given.
fn echo_run<S: Selector>(n: usize, traffic: Duration, corrupt_at: Option<u64>) -> EchoRun {
    let deadline = Deadline::after(traffic + Duration::from_secs(60 + n as u64 / 100));
    let mut el: EventLoop<Server, S> = EventLoop::new().expect("server loop");
    let listener = listen(&mut el);
    let addr = listener.local_addr().expect("local_addr");
    let open = Arc::new(AtomicUsize::new(0));
    let mut server = Server::new(listener, open.clone());
    server.corrupt_at = corrupt_at;
    let before = (util::soak::rss_anon(), util::soak::kernel_tcp_bytes());
    let client_done = Arc::new(AtomicBool::new(false));
    let done = client_done.clone();
    let client = thread::spawn(move || {
        // Set even if the client panics, so the server loop stops waiting for it.
        let _done = SetOnDrop(done);
        run_client(addr, n, traffic, open, deadline)
    });
    while !(client_done.load(Ordering::SeqCst) && server.closed == server.accepted) {
        if deadline.passed() {
            server.errors.push("server: deadline passed".into());
            break;
        }
        if let Err(e) = el.run_once(&mut server, Some(Duration::from_millis(100))) {
            server.errors.push(format!("server run_once: {e}"));
            break;
        }
    }
    let left = server.stop(&mut el);
    let report = client.join().expect("client thread panicked");
    let name = el.selector().name();
    EchoRun {
        name,
        server,
        report,
        left,
        before,
    }
}

/// Thousands of connections held and echoing through one loop: every byte comes back.
fn connections_echo<S: Selector>() {
    let _alone = alone();
    let limit = util::soak::raise_fd_limit();
    let want = size("SELECTIO_SOAK_CONNS", 4_000, 9_000) as usize;
    let n = connections_allowed(&limit, want);
    let traffic = Duration::from_secs(size("SELECTIO_SOAK_SECS", 5, 30));
    let run = echo_run::<S>(n, traffic, None);
    print_connections(&run, n, &limit);
    check_connections(&run, n);
}

/// The soak's byte check is live: one flipped bit in the server is one corrupted byte.
fn echo_check_catches_a_flipped_bit<S: Selector>() {
    let _alone = alone();
    let run = echo_run::<S>(16, Duration::from_millis(500), Some(100_000));
    let c = &run.report.client;
    assert_eq!(c.corrupted, 1, "[{}] {:?}", run.name, first(&c.errors));
    assert!(c.errors[0].contains("differ"), "{:?}", c.errors);
    assert_eq!(c.sent, c.received, "[{}] bytes lost", run.name);
}

fn print_connections(run: &EchoRun, n: usize, limit: &util::soak::FdLimit) {
    let (name, server, c) = (run.name, &run.server, &run.report.client);
    let lost = c.sent.saturating_sub(c.received);
    let secs = c
        .traffic_started
        .zip(c.traffic_ended)
        .map_or(0.0, |(a, b)| (b - a).as_secs_f64());
    println!(
        "[soak {name}] connections held: {n} (server peak {}, client {}), fd limit {}/{}",
        server.peak_open,
        c.connected,
        limit.soft(),
        limit.hard()
    );
    println!(
        "[soak {name}] bytes moved: {} sent, {} echoed back ({}/s each way over {secs:.1} s \
         of traffic); lost {lost}, corrupted {}",
        c.sent,
        c.received,
        Bytes(c.received as f64 / secs.max(1e-9)),
        c.corrupted
    );
    if let Some(peak) = c.peak {
        println!(
            "[soak {name}] memory per connection: {} user (RssAnon delta / connections, both \
             ends in this process), {} kernel TCP buffers (sockstat, system-wide); {} fds open",
            per(run.before.0, peak.rss_anon, n),
            per(run.before.1, peak.kernel_tcp, n),
            peak.open_fds
        );
    }
    println!(
        "[soak {name}] elapsed: {:.2} s connecting, {:.2} s in all; server echoed {} B",
        run.report.connect_time.as_secs_f64(),
        run.report.total_time.as_secs_f64(),
        server.bytes
    );
}

#[track_caller]
fn check_connections(run: &EchoRun, n: usize) {
    let (name, server, c) = (run.name, &run.server, &run.report.client);
    assert!(
        c.errors.is_empty(),
        "[{name}] client: {:?}",
        first(&c.errors)
    );
    assert!(
        server.errors.is_empty(),
        "[{name}] server: {:?}",
        first(&server.errors)
    );
    assert_eq!(c.connected, n, "[{name}] connections made");
    assert_eq!(server.accepted, n, "[{name}] connections accepted");
    let peak = c.peak.expect("the traffic phase was reached");
    assert_eq!(
        (peak.server_open, peak.client_open),
        (n, n),
        "[{name}] held at once"
    );
    assert_eq!(c.corrupted, 0, "[{name}] corrupted bytes");
    assert_eq!(c.sent, c.received, "[{name}] bytes lost");
    assert_eq!(server.bytes, c.sent, "[{name}] bytes through the server");
    assert!(c.sent > 0, "[{name}] no traffic");
    assert_eq!(
        (run.left, run.report.registered_after),
        (0, 0),
        "[{name}] left registered"
    );
}

fn first(errors: &[String]) -> &[String] {
    &errors[..errors.len().min(5)]
}

// ------------------------------------------------------------ bookkeeping

/// A handler that does nothing: the loop only holds registrations.
struct Idle;

impl<S: Selector> Handler<S> for Idle {
    type Timeout = ();
    type Message = u64;
}

/// What registering a batch of fds cost: resident memory, allocations, kernel slabs.
struct Cost {
    rss: String,
    allocations: String,
    slabs: String,
}

/// Runs `register` (which makes `n` registrations) and measures what it cost.
fn cost(n: usize, register: impl FnOnce()) -> Cost {
    let (rss0, slab0) = (util::soak::rss_anon(), util::soak::epoll_slab_bytes());
    let allocs = allocations(register);
    let (rss1, slab1) = (util::soak::rss_anon(), util::soak::epoll_slab_bytes());
    Cost {
        rss: per(rss0, rss1, n),
        allocations: allocs.map_or("n/a".to_string(), |a| a.to_string()),
        slabs: per(slab0, slab1, n),
    }
}

/// Pipes whose both ends make `want` registrations, or as many as the fd limit allows.
fn pipes_for(want: usize, limit: &util::soak::FdLimit) -> Vec<(PipeReader, PipeWriter)> {
    let room = limit.soft().saturating_sub(open_fds() as u64 + 64) as usize;
    (0..want.min(room) / 2)
        .map(|_| selectio::pipe::pipe().expect("pipe"))
        .collect()
}

/// Memory and allocations per registration: `N` fds (both ends of `N / 2` pipes)
/// registered on a bare selector, then through an `EventLoop` (which adds its fd → token
/// map), with no traffic.
fn registration_bookkeeping<S: Selector>() {
    let _alone = alone();
    let limit = util::soak::raise_fd_limit();
    let want = size("SELECTIO_SOAK_REGISTRATIONS", 8_000, 16_000) as usize;
    let pipes = pipes_for(want, &limit);
    let n = pipes.len() * 2;
    let sel = S::new().expect("selector");
    let name = sel.name();
    fn ends(
        i: usize,
        (r, w): &(PipeReader, PipeWriter),
    ) -> [(BorrowedSource<'_>, Token, Interest); 2] {
        let reader = (r.source(), Token(2 * i), Interest::READABLE);
        [reader, (w.source(), Token(2 * i + 1), Interest::WRITABLE)]
    }
    let bare = cost(n, || {
        for (fd, token, interest) in pipes.iter().enumerate().flat_map(|(i, p)| ends(i, p)) {
            sel.register(fd, token, interest, Mode::Level)
                .expect("register");
        }
    });
    for (fd, _, _) in pipes.iter().enumerate().flat_map(|(i, p)| ends(i, p)) {
        sel.deregister(fd).expect("deregister");
    }
    let mut el: EventLoop<Idle, S> = EventLoop::new().expect("EventLoop");
    let looped = cost(n, || {
        for (fd, token, interest) in pipes.iter().enumerate().flat_map(|(i, p)| ends(i, p)) {
            el.register(&fd, token, interest, Mode::Level)
                .expect("register");
        }
    });
    for (fd, _, _) in pipes.iter().enumerate().flat_map(|(i, p)| ends(i, p)) {
        el.deregister(&fd).expect("deregister");
    }
    assert_eq!(el.registered(), 0, "[{name}] left registered");
    println!(
        "[soak {name}] bookkeeping per registration ({n} fds, no traffic): selector {} \
         (RssAnon delta; {} allocations in all), EventLoop {} ({} allocations); kernel \
         epoll slabs {} (system-wide)",
        bare.rss, bare.allocations, looped.rss, looped.allocations, bare.slabs,
    );
}

// ------------------------------------------------------------ fd leaks

/// One EventLoop lifetime: a message, a registered pipe, a timer, one iteration, then
/// drop — with the pipe still registered every other cycle.
fn loop_lifetime<S: Selector>(i: u64) -> io::Result<()> {
    let mut el: EventLoop<Idle, S> = EventLoop::new()?;
    let tx = el.channel();
    tx.send(i).map_err(|e| io::Error::other(e.to_string()))?;
    let (r, mut w) = selectio::pipe::pipe()?;
    el.register(&r, Token(1), Interest::READABLE, Mode::Level)?;
    w.write_all(b"x")?;
    el.timeout((), Duration::ZERO)
        .map_err(|e| io::Error::other(e.to_string()))?;
    el.run_once(&mut Idle, Some(Duration::ZERO))?;
    if i.is_multiple_of(2) {
        el.deregister(&r)?;
    }
    drop(el);
    match tx.send(i) {
        Err(NotifyError::Closed(_)) => Ok(()),
        other => Err(io::Error::other(format!(
            "send after the loop was dropped: {other:?}"
        ))),
    }
}

/// 2,000 EventLoops created, used and dropped under an fd limit of 64: none leaks an fd.
fn event_loop_create_drop_no_fd_leak<S: Selector>() {
    let _alone = alone();
    let cycles = size("SELECTIO_SOAK_LOOPS", 2_000, 2_000);
    let name = S::new().expect("selector").name();
    loop_lifetime::<S>(0).expect("warm-up cycle");
    let before = open_fds();
    let start = Instant::now();
    let limit = util::soak::lower_fd_limit(64);
    let failed = (0..cycles).find_map(|i| loop_lifetime::<S>(i).err().map(|e| (i, e)));
    let after = open_fds();
    drop(limit);
    println!(
        "[soak {name}] {cycles} EventLoop create/drop cycles under an fd limit of 64: {} fds \
         leaked ({before} open before, {after} after), {:.2} s",
        after as i64 - before as i64,
        start.elapsed().as_secs_f64()
    );
    if let Some((i, e)) = failed {
        panic!("[{name}] cycle {i}: {e} ({after} fds open)");
    }
    assert_eq!(after, before, "[{name}] fds leaked");
}

const CLIENT: Token = Token(1);
const ACCEPTED: Token = Token(2);

/// Accepts one connection at a time and notes what each end reports.
struct Cycler {
    listener: Option<TcpListener>,
    accepted: Option<TcpStream>,
    connected: bool,
    client_readable: bool,
    server_readable: bool,
    errors: Vec<String>,
}

impl<S: Selector> Handler<S> for Cycler {
    type Timeout = ();
    type Message = ();

    fn readable(&mut self, el: &mut EventLoop<Self, S>, token: Token) {
        match token {
            LISTENER => self.accept(el),
            CLIENT => self.client_readable = true,
            _ => self.server_readable = true,
        }
    }

    fn writable(&mut self, _: &mut EventLoop<Self, S>, token: Token) {
        if token == CLIENT {
            self.connected = true;
        }
    }
}

impl Cycler {
    fn accept<S: Selector>(&mut self, el: &mut EventLoop<Self, S>) {
        let Some(listener) = &self.listener else {
            return;
        };
        match listener.accept() {
            Ok((stream, _)) => {
                let registered = el.register(&stream, ACCEPTED, Interest::READABLE, Mode::Level);
                self.errors
                    .extend(registered.err().map(|e| format!("register: {e}")));
                self.accepted = Some(stream);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => self.errors.push(format!("accept: {e}")),
        }
    }
}

/// Runs the loop until `done` holds (at most 10 s).
fn run_until<S: Selector>(
    el: &mut EventLoop<Cycler, S>,
    h: &mut Cycler,
    done: impl Fn(&Cycler) -> bool,
) -> io::Result<()> {
    let deadline = Deadline::after(Duration::from_secs(10));
    while !done(h) {
        if deadline.passed() || !h.errors.is_empty() {
            let why = format!("stuck; errors: {:?}", h.errors);
            return Err(io::Error::new(ErrorKind::TimedOut, why));
        }
        el.run_once(h, Some(Duration::from_millis(100)))?;
    }
    Ok(())
}

/// One connection's life, closed in one of four ways by `i % 4`: both ends deregistered
/// and closed; the server end first, the client reading the EOF; both closed while still
/// registered; the client reset (SO_LINGER 0), the server reading the error.
fn connection_lifetime<S: Selector>(
    el: &mut EventLoop<Cycler, S>,
    h: &mut Cycler,
    addr: SocketAddr,
    i: u64,
) -> io::Result<()> {
    (h.connected, h.client_readable, h.server_readable) = (false, false, false);
    let client = el.connect(TcpSocket::v4()?, &addr, CLIENT)?;
    run_until(el, h, |h| h.connected && h.accepted.is_some())?;
    let server = h.accepted.take().expect("accepted");
    match i % 4 {
        0 => {
            el.deregister(&client)?;
            el.deregister(&server)?;
        }
        1 => {
            el.deregister(&server)?;
            drop(server);
            el.reregister(&client, CLIENT, Interest::READABLE, Mode::Oneshot)?;
            run_until(el, h, |h| h.client_readable)?;
            let eof = (&client).read(&mut [0u8; 16])?;
            assert_eq!(eof, 0, "the client read data, not EOF");
            el.deregister(&client)?;
        }
        2 => {} // both dropped while registered
        _ => {
            el.deregister(&client)?;
            client.set_linger(Some(Duration::ZERO))?;
            drop(client);
            run_until(el, h, |h| h.server_readable)?;
            let outcome = (&server).read(&mut [0u8; 16]);
            let reset = matches!(&outcome, Err(e) if e.kind() == ErrorKind::ConnectionReset);
            assert!(reset || matches!(outcome, Ok(0)), "after RST: {outcome:?}");
            el.deregister(&server)?;
        }
    }
    Ok(())
}

/// 4,000 connections opened, accepted and closed under an fd limit of 64: no fd leaks.
fn connect_accept_close_no_fd_leak<S: Selector>() {
    let _alone = alone();
    let cycles = size("SELECTIO_SOAK_CYCLES", 4_000, 4_000);
    let before = open_fds();
    let start = Instant::now();
    let limit = util::soak::lower_fd_limit(64);
    let mut el: EventLoop<Cycler, S> = EventLoop::new().expect("EventLoop");
    let name = el.selector().name();
    let listener = listen(&mut el);
    let addr = listener.local_addr().expect("local_addr");
    let mut h = Cycler {
        listener: Some(listener),
        accepted: None,
        connected: false,
        client_readable: false,
        server_readable: false,
        errors: Vec::new(),
    };
    let failed = (0..cycles).find_map(|i| {
        let result = connection_lifetime(&mut el, &mut h, addr, i);
        result.err().map(|e| (i, e))
    });
    if let Some(listener) = h.listener.take() {
        el.deregister(&listener).expect("deregister listener");
    }
    drop(el);
    let after = open_fds();
    drop(limit);
    println!(
        "[soak {name}] {cycles} connect/accept/close cycles under an fd limit of 64: {} fds \
         leaked ({before} open before, {after} after), {:.2} s",
        after as i64 - before as i64,
        start.elapsed().as_secs_f64()
    );
    if let Some((i, e)) = failed {
        panic!("[{name}] cycle {i}: {e} ({} fds open)", open_fds());
    }
    assert_eq!(after, before, "[{name}] fds leaked");
}

// ------------------------------------------------------------ notify and timers

/// Checks that each sender's messages arrive exactly once and in order.
struct Receiver {
    next: Vec<u64>,
    received: u64,
    errors: Vec<String>,
}

impl<S: Selector> Handler<S> for Receiver {
    type Timeout = ();
    type Message = (usize, u64);

    fn notify(&mut self, _: &mut EventLoop<Self, S>, (sender, seq): (usize, u64)) {
        if self.next[sender] != seq && self.errors.len() < 10 {
            let expected = self.next[sender];
            self.errors
                .push(format!("sender {sender}: got {seq}, expected {expected}"));
        }
        self.next[sender] = seq + 1;
        self.received += 1;
    }
}

/// Sends `0..count` as `(id, seq)`, retrying while the queue is full.
fn send_all(tx: selectio::Sender<(usize, u64)>, id: usize, count: u64) -> Result<(), String> {
    for seq in 0..count {
        util::evloop::send_when_room(&tx, (id, seq))
            .map_err(|e| format!("sender {id} at {seq}: {e}"))?;
    }
    Ok(())
}

/// A million messages from four threads through one loop: each delivered exactly once,
/// in order per sender.
fn notify_messages<S: Selector>() {
    let _alone = alone();
    const SENDERS: usize = 4;
    let per_sender = size("SELECTIO_SOAK_MESSAGES", 1_000_000, 1_000_000) / SENDERS as u64;
    let total = per_sender * SENDERS as u64;
    let mut el: EventLoop<Receiver, S> = EventLoop::new().expect("EventLoop");
    let name = el.selector().name();
    let mut rx = Receiver {
        next: vec![0; SENDERS],
        received: 0,
        errors: Vec::new(),
    };
    let start = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|id| {
            let tx = el.channel();
            thread::spawn(move || send_all(tx, id, per_sender))
        })
        .collect();
    let deadline = Deadline::after(Duration::from_secs(120));
    while rx.received < total && !deadline.passed() {
        el.run_once(&mut rx, Some(Duration::from_millis(100)))
            .expect("run_once");
    }
    let elapsed = start.elapsed();
    let results: Vec<_> = senders
        .into_iter()
        .map(|t| t.join().expect("sender"))
        .collect();
    println!(
        "[soak {name}] notify: {} of {total} messages from {SENDERS} threads delivered in \
         {:.3} s ({:.0} messages/s)",
        rx.received,
        elapsed.as_secs_f64(),
        rx.received as f64 / elapsed.as_secs_f64()
    );
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!(rx.errors.is_empty(), "[{name}] {:?}", rx.errors);
    assert_eq!(rx.received, total, "[{name}] messages delivered");
    assert_eq!(rx.next, vec![per_sender; SENDERS], "[{name}] per sender");
}

/// Counts timer firings by index.
struct Timers {
    fired: Vec<bool>,
    count: usize,
    base: Instant,
    spread: Duration,
    errors: Vec<String>,
}

impl Timers {
    /// When timer `i` of `n` is due, at the earliest: its delay from `base`.
    fn delay(&self, i: usize) -> Duration {
        self.spread.mul_f64(i as f64 / self.fired.len() as f64)
    }
}

impl Timers {
    /// Sets timer `i` for each index, and for every tenth one a timer `n + i` with the
    /// same delay, cancelled at once.
    fn set_all<S: Selector>(&self, el: &mut EventLoop<Self, S>) {
        let n = self.fired.len();
        for i in 0..n {
            el.timeout(i, self.delay(i)).expect("timeout");
            if i.is_multiple_of(10) {
                let doomed = el.timeout(n + i, self.delay(i)).expect("timeout");
                assert!(el.clear_timeout(&doomed), "cancelling a pending timer");
            }
        }
    }
}

impl<S: Selector> Handler<S> for Timers {
    type Timeout = usize;
    type Message = ();

    fn timeout(&mut self, _: &mut EventLoop<Self, S>, i: usize) {
        let early = Instant::now() < self.base + self.delay(i.min(self.fired.len() - 1));
        let problem = match self.fired.get_mut(i) {
            None => Some(format!("cancelled timer {i} fired")),
            Some(true) => Some(format!("timer {i} fired twice")),
            Some(f) => {
                *f = true;
                self.count += 1;
                early.then(|| format!("timer {i} fired early"))
            }
        };
        if self.errors.len() < 10 {
            self.errors.extend(problem);
        }
    }
}

/// A million timers spread over one second, plus 10% more set and cancelled, through
/// one loop: each fires exactly once, never early; no cancelled one fires.
fn timers_fire_once<S: Selector>() {
    let _alone = alone();
    let n = size("SELECTIO_SOAK_TIMERS", 1_000_000, 1_000_000) as usize;
    let cancelled = n.div_ceil(10);
    let mut el: EventLoop<Timers, S> = EventLoop::builder()
        .timer_capacity(n + cancelled + 1)
        .build()
        .expect("EventLoop");
    let name = el.selector().name();
    let mut t = Timers {
        fired: vec![false; n],
        count: 0,
        base: Instant::now(),
        spread: Duration::from_secs(1),
        errors: Vec::new(),
    };
    t.set_all(&mut el);
    let inserted = t.base.elapsed();
    let deadline = Deadline::after(Duration::from_secs(120));
    while t.count < n && !deadline.passed() {
        el.run_once(&mut t, Some(Duration::from_millis(100)))
            .expect("run_once");
    }
    // Past the last deadline: a cancelled timer would have fired by now.
    el.run_once(&mut t, Some(Duration::from_millis(5)))
        .expect("run_once");
    let elapsed = t.base.elapsed();
    println!(
        "[soak {name}] timers: {} of {n} fired once ({cancelled} more cancelled) over a \
         {:.1} s spread; set in {:.3} s, all fired after {:.3} s",
        t.count,
        t.spread.as_secs_f64(),
        inserted.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    assert!(t.errors.is_empty(), "[{name}] {:?}", t.errors);
    assert_eq!(t.count, n, "[{name}] timers fired");
}

// ------------------------------------------------------------ the tests

/// One ignored `#[test]` `$name` running the soak `crate::$soak` on `$sel`:
/// `isolated` runs it in a child process of its own (the soaks with memory figures).
macro_rules! soak {
    ($sel:ty, $name:ident, isolated $soak:ident) => {
        #[test]
        #[ignore = "soak: run by .ci/soak"]
        fn $name() {
            let path = crate::test_path(module_path!(), stringify!($name));
            crate::isolated(&path, crate::$soak::<$sel>);
        }
    };
    ($sel:ty, $name:ident, $soak:ident) => {
        #[test]
        #[ignore = "soak: run by .ci/soak"]
        fn $name() {
            crate::$soak::<$sel>();
        }
    };
}

/// Every soak on one backend; the two with memory figures in a child process each.
macro_rules! backend_soaks {
    ($sel:ty, $new:expr) => {
        soak!($sel, connections_echo, isolated connections_echo);
        soak!($sel, echo_check_catches_a_flipped_bit, echo_check_catches_a_flipped_bit);
        soak!($sel, registration_bookkeeping, isolated registration_bookkeeping);
        soak!($sel, event_loop_create_drop_no_fd_leak, event_loop_create_drop_no_fd_leak);
        soak!($sel, connect_accept_close_no_fd_leak, connect_accept_close_no_fd_leak);
        soak!($sel, notify_million_messages, notify_messages);
        soak!($sel, timers_million_fire_once, timers_fire_once);
    };
}

// The default selector (epoll on Linux, kqueue on macOS and the BSDs) is one of these.

each_backend!(backend_soaks);
