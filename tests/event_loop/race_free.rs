//! Race-free `EventLoop::connect`/`listen` (the seed's "Event Loop Socket APIs") on every
//! backend, in every mode the backend offers: whether connect(2) finishes at once, is in
//! progress or fails at once, the handler hears `writable` (or an error) for the token,
//! and `take_error()` tells the outcome; a listener with connections already queued is
//! reported readable; caller errors register nothing. Real sockets on loopback and in
//! the temp directory; no test sleeps to pass; each ends with nothing registered.
//! Unix-domain sockets exist on Unix only: elsewhere (Windows) the TCP cases run, and the
//! Unix-socket cases and the Unix parts of the mixed ones are compiled out.
// On Windows some constants and helpers serve only the compiled-out Unix cases.
#![cfg_attr(not(unix), allow(dead_code))]

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv6Addr, SocketAddr};
#[cfg(unix)]
use std::os::unix::net as std_unix;

use crate::util::evloop::{R, W};
use crate::util::net::{closed_port, localhost};
use crate::util::race::*;
use selectio::net::{Connect, TcpListener, TcpSocket};
#[cfg(unix)]
use selectio::net::{UnixListener, UnixSocket};
#[cfg(unix)]
use selectio::EventLoop;
use selectio::{Interest, Mode, Ready, Source, Token};

const CONN: Token = Token(1);
const LISTEN: Token = Token(2);
const ACCEPTED: Token = Token(3);
const HOG: Token = Token(4);
/// Clients connected before a listener's first `select`.
const BACKLOGGED: usize = 3;

fn ctx<S: TestSelector>(el: &El<S>, what: &str, mode: Mode) -> String {
    format!("{} {mode:?} {what}", el.selector().name())
}

/// The notifications of `token` after a connect: at most one per iteration (the loop
/// merges a synthetic event with the kernel's), at least one, and — where the mode does
/// not repeat readiness — at most two (the synthetic one and the kernel's, when they
/// land in different iterations).
#[track_caller]
fn assert_connect_notified(h: &Rec, token: Token, mode: Mode, ctx: &str) {
    let seen = h.of(token);
    assert!(!seen.is_empty(), "{ctx}: never notified");
    for pair in seen.windows(2) {
        assert!(
            pair[0].0 < pair[1].0,
            "{ctx}: two calls in one iteration: {seen:?}"
        );
    }
    if mode != Mode::Level {
        assert!(
            seen.len() <= 2,
            "{ctx}: more than two notifications: {seen:?}"
        );
    }
}

/// Connects `socket` to `addr` through the loop under [`CONN`] (readable, in `mode`) and
/// waits for its first writable notification: the stream and that notification.
#[track_caller]
fn connect_and_wait<S: TestSelector, C: Connect>(
    el: &mut El<S>,
    h: &mut Rec,
    socket: C,
    addr: &C::Addr,
    mode: Mode,
) -> (C::Stream, Ready) {
    let stream = el
        .connect_with(socket, addr, CONN, Interest::READABLE, mode)
        .unwrap();
    (stream, wait_for(el, h, CONN, W))
}

/// The end of a failed connect: a few more iterations bring no notification a connect
/// must not have (see [`assert_connect_notified`]), and deregistering the stream leaves
/// the loop empty.
#[track_caller]
fn settle_and_close_connect<S: TestSelector>(
    el: &mut El<S>,
    h: &mut Rec,
    stream: &impl Source,
    mode: Mode,
    ctx: &str,
) {
    settle(el, h);
    assert_connect_notified(h, CONN, mode, ctx);
    el.deregister(stream).unwrap();
    assert_empty(el);
}

/// Takes the stream's error twice: the outcome, then `None` (reported once).
fn take_errors(
    take: impl Fn() -> std::io::Result<Option<std::io::Error>>,
) -> [Option<ErrorKind>; 2] {
    [(); 2].map(|()| take().expect("take_error").map(|e| e.kind()))
}

/// Accepts until `WouldBlock`; returns how many were accepted.
fn accept_all<T>(accept: impl Fn() -> std::io::Result<T>) -> usize {
    let mut n = 0;
    loop {
        match accept() {
            Ok(_) => n += 1,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return n,
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Reads one byte from a non-blocking stream that was reported readable.
fn read_byte(mut stream: impl Read) -> u8 {
    let mut b = [0u8; 1];
    assert_eq!(stream.read(&mut b).expect("read"), 1);
    b[0]
}

#[cfg(unix)]
fn unix_connect_completes_at_once_and_is_writable<S: TestSelector>() {
    let mut el = new_loop::<S>();
    for mode in modes(&el).0 {
        let ctx = ctx(&el, "unix connect", mode);
        let path = SockPath::new();
        let listener = UnixListener::bind(&path).unwrap();
        let mut h = Rec::default();
        let sock = UnixSocket::new().unwrap();
        let stream = el
            .connect_with(sock, &path, CONN, Interest::READABLE, mode)
            .unwrap();
        // Linux connects a Unix stream socket inside connect(2) (af_unix.c
        // unix_stream_connect queues it on the listener and returns 0): the case where
        // registering after connect(2) would race, covered by the synthetic event.
        #[cfg(selectio_linux_like)]
        assert!(stream.peer_addr().is_ok(), "{ctx}: not connected at once");
        let first = wait_for(&mut el, &mut h, CONN, W);
        assert!(!first.is_error(), "{ctx}: {first:?}");
        assert_eq!(h.of(CONN)[0].0, 0, "{ctx}: not in the first iteration");
        settle(&mut el, &mut h);
        assert_connect_notified(&h, CONN, mode, &ctx);
        // The synthetic event and the kernel's came in one iteration: merged into one.
        if mode != Mode::Level {
            assert_eq!(h.of(CONN).len(), 1, "{ctx}: {h:?}");
        }
        assert_eq!(take_errors(|| stream.take_error()), [None, None], "{ctx}");
        listener.accept().expect("accept");
        el.deregister(&stream).unwrap();
        assert_empty(&el);
    }
}

fn tcp_connect_is_writable_and_usable<S: TestSelector>() {
    let mut el = new_loop::<S>();
    for mode in modes(&el).0 {
        let ctx = ctx(&el, "tcp connect", mode);
        let listener = TcpListener::bind(localhost()).unwrap();
        el.register(&listener, LISTEN, Interest::READABLE, Mode::Level)
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let mut h = Rec::default();
        // On loopback connect(2) usually says EINPROGRESS; either outcome must notify.
        let (stream, first) =
            connect_and_wait(&mut el, &mut h, TcpSocket::v4().unwrap(), &addr, mode);
        assert!(!first.is_error(), "{ctx}: {first:?}");
        settle(&mut el, &mut h);
        assert_connect_notified(&h, CONN, mode, &ctx);
        assert_eq!(take_errors(|| stream.take_error()), [None, None], "{ctx}");
        wait_for(&mut el, &mut h, LISTEN, R);
        let (accepted, _) = listener.accept().expect("accept");
        el.register(&accepted, ACCEPTED, Interest::READABLE, Mode::Level)
            .unwrap();
        // Usable both ways: one byte each direction, each read after its notification.
        (&stream).write_all(b"a").unwrap();
        h.seen.clear();
        wait_for(&mut el, &mut h, ACCEPTED, R);
        assert_eq!(read_byte(&accepted), b'a', "{ctx}");
        (&accepted).write_all(b"b").unwrap();
        el.reregister(&stream, CONN, Interest::READABLE, mode) // re-arms Oneshot
            .unwrap();
        h.seen.clear();
        wait_for(&mut el, &mut h, CONN, R);
        assert_eq!(read_byte(&stream), b'b', "{ctx}");
        for source in [&stream as &dyn Source, &accepted, &listener] {
            el.deregister(source).unwrap();
        }
        assert_empty(&el);
    }
}

/// The outcome of a connect, as compared across backends: whether the first
/// notification was writable and an error, then two `take_error` calls.
type Outcome = (bool, bool, [Option<ErrorKind>; 2]);

fn tcp_connect_refused_is_the_same_on_every_backend<S: TestSelector>() {
    let mut el = new_loop::<S>();
    // Linux loopback: connect(2) says EINPROGRESS or ECONNREFUSED; either way epoll,
    // poll(2) and polling all report WRITABLE | ERROR (and the closed/readable hints).
    let expected: Outcome = (true, true, [Some(ErrorKind::ConnectionRefused), None]);
    // `None`: the default `connect` (Oneshot, both interests).
    let cases = modes(&el).0.into_iter().map(Some).chain([None]);
    for mode in cases {
        let ctx = ctx(
            &el,
            "tcp connect to a closed port",
            mode.unwrap_or(Mode::Oneshot),
        );
        let (addr, sock) = (closed_port(), TcpSocket::v4().unwrap());
        let mut h = Rec::default();
        let stream = match mode {
            Some(mode) => el.connect_with(sock, &addr, CONN, Interest::READABLE, mode),
            None => el.connect(sock, &addr, CONN),
        }
        .unwrap();
        run_until(&mut el, &mut h, "notification", |h| !h.of(CONN).is_empty());
        let first = h.of(CONN)[0].1;
        let errors = take_errors(|| stream.take_error());
        let outcome = (first.is_writable(), first.is_error(), errors);
        assert_eq!(outcome, expected, "{ctx}: first notification {first:?}");
        let mode = mode.unwrap_or(Mode::Oneshot);
        settle_and_close_connect(&mut el, &mut h, &stream, mode, &ctx);
    }
}

/// Unix connects that fail inside connect(2) on Linux (af_unix.c): no file at the path
/// is `ENOENT` → `NotFound`; a socket file nobody listens on — its listener closed, or
/// a socket bound but not listening — is `ECONNREFUSED` → `ConnectionRefused`.
#[cfg(unix)]
fn unix_connect_without_listener_is_reported<S: TestSelector>() {
    let mut el = new_loop::<S>();
    for mode in modes(&el).0 {
        let missing = SockPath::new();
        let closed = SockPath::new();
        drop(UnixListener::bind(&closed).unwrap()); // leaves the socket file
        let bound = SockPath::new();
        let bound_socket = UnixSocket::new().unwrap();
        bound_socket.bind(&bound).unwrap();
        let cases = [
            (&missing, ErrorKind::NotFound),
            (&closed, ErrorKind::ConnectionRefused),
            (&bound, ErrorKind::ConnectionRefused),
        ];
        for (path, kind) in cases {
            let ctx = ctx(&el, &format!("unix connect to {path:?}"), mode);
            let mut h = Rec::default();
            let (stream, first) =
                connect_and_wait(&mut el, &mut h, UnixSocket::new().unwrap(), path, mode);
            // Failed at once: the synthetic event carries ERROR and comes in the first
            // iteration, merged with whatever the kernel reports.
            assert!(first.is_error(), "{ctx}: {first:?}");
            assert_eq!(h.of(CONN)[0].0, 0, "{ctx}: not in the first iteration");
            assert_eq!(
                take_errors(|| stream.take_error()),
                [Some(kind), None],
                "{ctx}"
            );
            settle_and_close_connect(&mut el, &mut h, &stream, mode, &ctx);
        }
    }
}

/// A Unix listener whose backlog is full makes a non-blocking connect(2) fail with
/// `EAGAIN` and the socket stays unconnected (af_unix.c unix_stream_connect): reported
/// like any failure, and `take_error()` gives `WouldBlock` once.
#[cfg(selectio_linux_like)]
fn unix_connect_to_a_full_backlog_is_reported<S: TestSelector>() {
    let mut el = new_loop::<S>();
    for mode in modes(&el).0 {
        let ctx = ctx(&el, "unix connect to a full backlog", mode);
        let path = SockPath::new();
        let socket = UnixSocket::new().unwrap();
        socket.bind(&path).unwrap();
        // Backlog 0 queues one connection: Linux tests `queue length > backlog`.
        let listener = socket.listen(0).unwrap();
        let _queued = std_unix::UnixStream::connect(&path).unwrap();
        let mut h = Rec::default();
        let (stream, first) =
            connect_and_wait(&mut el, &mut h, UnixSocket::new().unwrap(), &path, mode);
        assert!(first.is_error(), "{ctx}: {first:?}");
        let expected = [Some(ErrorKind::WouldBlock), None];
        assert_eq!(take_errors(|| stream.take_error()), expected, "{ctx}");
        assert!(stream.peer_addr().is_err(), "{ctx}: connected after EAGAIN");
        settle_and_close_connect(&mut el, &mut h, &stream, mode, &ctx);
        assert_eq!(accept_all(|| listener.accept()), 1, "{ctx}");
    }
}

/// `listen` registers right after listen(2); clients that connect before the first
/// `select` (the only window in which "before the registration" can exist is between
/// those two calls, inside `listen_with`) are reported, in every mode.
fn listen_reports_connections_queued_before_the_first_select<S: TestSelector>() {
    let mut el = new_loop::<S>();
    // `None`: the default `listen` (Level).
    for mode in modes(&el).0.into_iter().map(Some).chain([None]) {
        let ctx = ctx(&el, "listen", mode.unwrap_or(Mode::Level));
        let socket = TcpSocket::v4().unwrap();
        socket.bind(localhost()).unwrap();
        let listener = match mode {
            Some(mode) => el.listen_with(socket, 16, LISTEN, mode),
            None => el.listen(socket, 16, LISTEN),
        }
        .unwrap();
        let addr = listener.local_addr().unwrap();
        // A blocking connect returns once the kernel queued the connection.
        let clients: Vec<_> = (0..BACKLOGGED)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        #[cfg(unix)]
        let (path, unix_mode) = (SockPath::new(), mode.unwrap_or(Mode::Level));
        #[cfg(unix)]
        let (unix, unix_clients) = {
            let socket = UnixSocket::new().unwrap();
            socket.bind(&path).unwrap();
            let unix = el.listen_with(socket, 16, ACCEPTED, unix_mode).unwrap();
            let clients: Vec<_> = (0..BACKLOGGED)
                .map(|_| std_unix::UnixStream::connect(&path).unwrap())
                .collect();
            (unix, clients)
        };
        let mut h = Rec::default();
        wait_for(&mut el, &mut h, LISTEN, R);
        assert_eq!(accept_all(|| listener.accept()), BACKLOGGED, "{ctx} tcp");
        el.deregister(&listener).unwrap();
        #[cfg(unix)]
        {
            wait_for(&mut el, &mut h, ACCEPTED, R);
            assert_eq!(accept_all(|| unix.accept()), BACKLOGGED, "{ctx} unix");
            el.deregister(&unix).unwrap();
            drop(unix_clients);
        }
        assert_empty(&el);
        drop(clients);
    }
}

/// Listens on `socket` through the loop, takes one connection and closes it from the
/// server's side first, as a server ending a session does: that end then waits in
/// FIN_WAIT_2 / TIME_WAIT, holding the port, after the listener is gone.
fn serve_one_closing_first<S: TestSelector>(el: &mut El<S>, socket: TcpSocket) -> SocketAddr {
    let listener = el.listen(socket, 16, LISTEN).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    wait_for(el, &mut Rec::default(), LISTEN, R);
    // accept_all drops what it accepts: the server's close comes first.
    assert_eq!(accept_all(|| listener.accept()), 1);
    // Blocking: returns once the server's FIN arrived.
    assert_eq!(
        client.read(&mut [0u8; 1]).unwrap(),
        0,
        "EOF after the server's close"
    );
    drop(client);
    el.deregister(&listener).unwrap();
    addr
}

/// A server restarted on its port listens again while connections it closed first still
/// hold the port: `TcpSocket` carries `SO_REUSEADDR` from its creation on Unix, as std's
/// `TcpListener::bind` sets it, and `set_reuseaddr(false)` before `bind` opts out.
fn listen_restarts_on_a_port_its_closed_connections_hold<S: TestSelector>() {
    let mut el = new_loop::<S>();
    let ctx = ctx(&el, "restart", Mode::Level);
    let socket = TcpSocket::v4().unwrap();
    socket.bind(localhost()).unwrap();
    let addr = serve_one_closing_first(&mut el, socket);
    let again = TcpSocket::v4().unwrap();
    let rebound = again.bind(addr);
    #[cfg(unix)]
    {
        rebound.unwrap_or_else(|e| panic!("{ctx}: rebinding {addr}: {e}"));
        serve_one_closing_first(&mut el, again);
        let opted_out = TcpSocket::v4().unwrap();
        opted_out.set_reuseaddr(false).unwrap();
        assert!(!opted_out.reuseaddr().unwrap(), "{ctx}");
        // Where the kernel refuses a port held by TIME_WAIT to a socket without the
        // option (Linux inet_csk_bind_conflict: both sockets need it).
        #[cfg(selectio_linux_like)]
        assert_eq!(
            opted_out.bind(addr).map_err(|e| e.kind()),
            Err(ErrorKind::AddrInUse),
            "{ctx}: set_reuseaddr(false) before bind is respected"
        );
    }
    // Windows keeps SO_REUSEADDR off (it would let a socket steal a port in use).
    #[cfg(windows)]
    {
        assert!(!again.reuseaddr().unwrap(), "{ctx}");
        drop(rebound);
    }
    assert_empty(&el);
}

/// A std listener with connections already queued, adopted with `from_std` and
/// registered afterwards, is reported readable in the first iteration, in every mode.
fn adopted_listener_with_queued_connections_is_readable<S: TestSelector>() {
    let mut el = new_loop::<S>();
    for mode in modes(&el).0 {
        let ctx = ctx(&el, "from_std listener", mode);
        let std_tcp = std::net::TcpListener::bind(localhost()).unwrap();
        let addr = std_tcp.local_addr().unwrap();
        let clients: Vec<_> = (0..BACKLOGGED)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        #[cfg(unix)]
        let path = SockPath::new();
        #[cfg(unix)]
        let (unix, unix_clients) = {
            let std_unix = std_unix::UnixListener::bind(&path).unwrap();
            let clients: Vec<_> = (0..BACKLOGGED)
                .map(|_| std_unix::UnixStream::connect(&path).unwrap())
                .collect();
            let unix = UnixListener::from_std(std_unix).unwrap();
            el.register(&unix, ACCEPTED, Interest::READABLE, mode)
                .unwrap();
            (unix, clients)
        };
        let tcp = TcpListener::from_std(std_tcp).unwrap();
        el.register(&tcp, LISTEN, Interest::READABLE, mode).unwrap();
        let mut h = Rec::default();
        // Both are ready when registered, so the first `select` reports both.
        el.run_once(&mut h, Some(LIMIT)).unwrap();
        assert!(h.first(LISTEN, R).is_some(), "{ctx} tcp: {h:?}");
        assert_eq!(accept_all(|| tcp.accept()), BACKLOGGED, "{ctx} tcp");
        el.deregister(&tcp).unwrap();
        #[cfg(unix)]
        {
            assert!(h.first(ACCEPTED, R).is_some(), "{ctx} unix: {h:?}");
            assert_eq!(accept_all(|| unix.accept()), BACKLOGGED, "{ctx} unix");
            el.deregister(&unix).unwrap();
            drop(unix_clients);
        }
        assert_empty(&el);
        drop(clients);
    }
}

/// One connect, its kernel event pushed into a later iteration than its synthetic one:
/// `events_capacity(1)` and an always-readable source registered first. Oneshot and Edge
/// then give at most the two notifications the contract allows (here: the synthetic one
/// in the first iteration, the kernel's in the second); Level one per iteration.
#[cfg(unix)]
fn one_connect_notifies_at_least_once_at_most_twice<S: TestSelector>() {
    let mut el: El<S> = EventLoop::builder().events_capacity(1).build().unwrap();
    for mode in modes(&el).0 {
        let ctx = ctx(&el, "connect behind a busy source", mode);
        let (hog, mut hog_peer) = std_unix::UnixStream::pair().unwrap();
        hog_peer.write_all(b"x").unwrap();
        el.register(&hog, HOG, Interest::READABLE, Mode::Level)
            .unwrap();
        let path = SockPath::new();
        let listener = UnixListener::bind(&path).unwrap();
        let sock = UnixSocket::new().unwrap();
        let stream = el
            .connect_with(sock, &path, CONN, Interest::READABLE, mode)
            .unwrap();
        let mut h = Rec::default();
        for _ in 0..4 {
            settle(&mut el, &mut h);
        }
        assert_eq!(h.of(CONN).first().map(|c| c.0), Some(0), "{ctx}: {h:?}");
        assert_connect_notified(&h, CONN, mode, &ctx);
        assert!(
            h.of(HOG).len() >= 4,
            "{ctx}: the busy source starved: {h:?}"
        );
        assert_eq!(take_errors(|| stream.take_error()), [None, None], "{ctx}");
        el.deregister(&stream).unwrap();
        el.deregister(&hog).unwrap();
        listener.accept().unwrap();
        assert_empty(&el);
    }
}

/// Records the `readable`/`writable` calls the default `Handler::ready` makes; on its
/// first `readable` for [`HOG`] it connects a Unix socket to `target` under [`CONN`] —
/// a connect made inside an I/O callback.
#[derive(Default)]
#[cfg(unix)]
struct Split {
    iteration: usize,
    calls: Vec<(usize, Token, char)>,
    target: Option<(std::path::PathBuf, Mode)>,
    stream: Option<selectio::net::UnixStream>,
}

#[cfg(unix)]
impl<S: TestSelector> selectio::Handler<S> for Split {
    type Timeout = ();
    type Message = ();

    fn readable(&mut self, el: &mut EventLoop<Self, S>, token: Token) {
        self.calls.push((self.iteration, token, 'r'));
        if let (HOG, Some((path, mode))) = (token, self.target.take()) {
            let sock = UnixSocket::new().unwrap();
            let stream = el.connect_with(sock, &path, CONN, Interest::READABLE, mode);
            self.stream = Some(stream.expect("connect_with inside a callback"));
        }
    }

    fn writable(&mut self, _: &mut EventLoop<Self, S>, token: Token) {
        self.calls.push((self.iteration, token, 'w'));
    }

    fn tick(&mut self, _: &mut EventLoop<Self, S>) {
        self.iteration += 1;
    }
}

#[cfg(unix)]
impl Split {
    /// The calls for `token` in the first iteration that had any.
    fn first_calls(&self, token: Token) -> Vec<char> {
        let mine = self.calls.iter().filter(|c| c.1 == token);
        let first = mine.clone().next().map(|c| c.0);
        mine.filter(|c| Some(c.0) == first).map(|c| c.2).collect()
    }
}

/// With the default `Handler::ready`, a connect's first notification calls the same
/// callbacks whether `connect_with` ran outside the loop or inside an I/O callback:
/// `writable` on success; `readable` (the error) and `writable` on a failure at once.
#[cfg(unix)]
fn connect_inside_a_callback_notifies_like_outside<S: TestSelector>() {
    let mut el: EventLoop<Split, S> = EventLoop::new().unwrap();
    let caps = el.selector().capabilities();
    for mode in Mode::ALL.into_iter().filter(|&m| caps.supports(m)) {
        let live = SockPath::new();
        let _listener = UnixListener::bind(&live).unwrap();
        let missing = SockPath::new();
        for (path, expected) in [(&live, ['w'].as_slice()), (&missing, &['r', 'w'])] {
            for inside in [false, true] {
                let name = el.selector().name();
                let ctx = format!("{name} {mode:?} inside={inside} {path:?}");
                let calls = first_connect_calls(&mut el, path, mode, inside);
                assert_eq!(
                    calls.first_calls(CONN),
                    expected,
                    "{ctx}: {:?}",
                    calls.calls
                );
            }
        }
        let dbg = format!("{el:?}");
        assert!(dbg.contains("registered: 0,"), "{dbg}");
    }
}

/// Connects to `path` before the loop runs or, when `inside`, from the `readable`
/// callback of a Oneshot source; runs three iterations and deregisters everything.
#[cfg(unix)]
fn first_connect_calls<S: TestSelector>(
    el: &mut EventLoop<Split, S>,
    path: &std::path::Path,
    mode: Mode,
    inside: bool,
) -> Split {
    let (hog, mut hog_peer) = std_unix::UnixStream::pair().unwrap();
    hog_peer.write_all(b"x").unwrap();
    el.register(&hog, HOG, Interest::READABLE, Mode::Oneshot)
        .unwrap();
    let mut h = Split {
        target: Some((path.to_path_buf(), mode)),
        ..Split::default()
    };
    if !inside {
        let (sock, target) = (UnixSocket::new().unwrap(), h.target.take().unwrap());
        let stream = el.connect_with(sock, &target.0, CONN, Interest::READABLE, mode);
        h.stream = Some(stream.unwrap());
    }
    for _ in 0..3 {
        el.run_once(&mut h, Some(std::time::Duration::ZERO))
            .unwrap();
    }
    el.deregister(h.stream.as_ref().expect("connected"))
        .unwrap();
    el.deregister(&hog).unwrap();
    h
}

/// A mode the backend lacks (Edge on poll(2)) is `Unsupported`, naming the backend,
/// for `connect_with` and `listen_with`, and nothing is registered or queued.
fn unsupported_mode_is_refused_and_registers_nothing<S: TestSelector>() {
    let mut el = new_loop::<S>();
    let (_, unsupported) = modes(&el);
    if el.selector().name() == "poll" {
        assert_eq!(unsupported, [Mode::Edge]);
    }
    for mode in unsupported {
        let ctx = ctx(&el, "unsupported mode", mode);
        let name = el.selector().name();
        let addr = TcpListener::bind(localhost())
            .unwrap()
            .local_addr()
            .unwrap();
        let sock = TcpSocket::v4().unwrap();
        let result = el.connect_with(sock, &addr, CONN, Interest::READABLE, mode);
        let err = assert_refused(&mut el, result, ErrorKind::Unsupported, &ctx);
        assert!(err.to_string().contains(name), "{ctx}: {err}");
        #[cfg(unix)]
        {
            let path = SockPath::new();
            let _listener = UnixListener::bind(&path).unwrap();
            let sock = UnixSocket::new().unwrap();
            let result = el.connect_with(sock, &path, CONN, Interest::READABLE, mode);
            assert_refused(&mut el, result, ErrorKind::Unsupported, &ctx);
        }
        let socket = TcpSocket::v4().unwrap();
        socket.bind(localhost()).unwrap();
        let result = el.listen_with(socket, 16, LISTEN, mode);
        assert_refused(&mut el, result, ErrorKind::Unsupported, &ctx);
    }
}

/// An address of the other family is `InvalidInput` before any connect(2).
fn wrong_address_family_is_invalid_input<S: TestSelector>() {
    let mut el = new_loop::<S>();
    let v6: SocketAddr = (Ipv6Addr::LOCALHOST, closed_port().port()).into();
    let result = el.connect(TcpSocket::v4().unwrap(), &v6, CONN);
    let err = assert_refused(&mut el, result, ErrorKind::InvalidInput, "v4 to v6");
    assert!(err.to_string().contains("address family"), "{err}");
    let result = el.connect_with(
        TcpSocket::v4().unwrap(),
        &v6,
        CONN,
        Interest::BOTH,
        Mode::Level,
    );
    assert_refused(&mut el, result, ErrorKind::InvalidInput, "v4 to v6, Level");
    // A host without IPv6 cannot make the socket; the v4 case above still ran.
    if let Ok(sock) = TcpSocket::v6() {
        let result = el.connect(sock, &closed_port(), CONN);
        assert_refused(&mut el, result, ErrorKind::InvalidInput, "v6 to v4");
    }
}

/// A path that does not fit in `sun_path` is `InvalidInput` naming the limit, never
/// truncated into another path.
#[cfg(unix)]
fn unix_path_too_long_is_invalid_input<S: TestSelector>() {
    let mut el = new_loop::<S>();
    let long = std::env::temp_dir().join("x".repeat(300));
    let result = el.connect(UnixSocket::new().unwrap(), &long, CONN);
    let err = assert_refused(&mut el, result, ErrorKind::InvalidInput, "long path");
    assert!(err.to_string().contains("sun_path"), "{err}");
}

/// `Token::RESERVED` is refused by `connect`, `connect_with`, `listen`, `listen_with`.
fn reserved_token_is_invalid_input<S: TestSelector>() {
    let mut el = new_loop::<S>();
    let listener = TcpListener::bind(localhost()).unwrap();
    let addr = listener.local_addr().unwrap();
    let result = el.connect(TcpSocket::v4().unwrap(), &addr, Token::RESERVED);
    assert_refused(&mut el, result, ErrorKind::InvalidInput, "connect");
    #[cfg(unix)]
    {
        let path = SockPath::new();
        let _unix = UnixListener::bind(&path).unwrap();
        let sock = UnixSocket::new().unwrap();
        let result = el.connect_with(sock, &path, Token::RESERVED, Interest::BOTH, Mode::Level);
        assert_refused(&mut el, result, ErrorKind::InvalidInput, "connect_with");
    }
    let result = el.connect_with(
        TcpSocket::v4().unwrap(),
        &addr,
        Token::RESERVED,
        Interest::BOTH,
        Mode::Level,
    );
    assert_refused(&mut el, result, ErrorKind::InvalidInput, "tcp connect_with");
    for level in [true, false] {
        let socket = TcpSocket::v4().unwrap();
        socket.bind(localhost()).unwrap();
        let result = match level {
            true => el.listen(socket, 16, Token::RESERVED),
            false => el.listen_with(socket, 16, Token::RESERVED, Mode::Oneshot),
        };
        assert_refused(&mut el, result, ErrorKind::InvalidInput, "listen");
    }
    // Nothing was connected: the listener has no connection to accept.
    assert_eq!(accept_all(|| listener.accept()), 0);
}

/// listen(2) on an unbound Unix socket: `InvalidInput` saying to bind first.
#[cfg(unix)]
fn listen_on_unbound_unix_socket_is_a_clear_error<S: TestSelector>() {
    let mut el = new_loop::<S>();
    let result = el.listen(UnixSocket::new().unwrap(), 16, LISTEN);
    let err = assert_refused(&mut el, result, ErrorKind::InvalidInput, "unbound");
    assert!(err.to_string().contains("bind it first"), "{err}");
}

macro_rules! all_tests {
    ($sel:ty, $new:expr) => {
        backend_tests!($sel;
            tcp_connect_is_writable_and_usable,
            tcp_connect_refused_is_the_same_on_every_backend,
            listen_reports_connections_queued_before_the_first_select,
            listen_restarts_on_a_port_its_closed_connections_hold,
            adopted_listener_with_queued_connections_is_readable,
            unsupported_mode_is_refused_and_registers_nothing,
            wrong_address_family_is_invalid_input,
            reserved_token_is_invalid_input,
        );
        // Unix-domain sockets exist on Unix only.
        #[cfg(unix)]
        backend_tests!($sel;
            unix_connect_completes_at_once_and_is_writable,
            unix_connect_without_listener_is_reported,
            one_connect_notifies_at_least_once_at_most_twice,
            connect_inside_a_callback_notifies_like_outside,
            unix_path_too_long_is_invalid_input,
            listen_on_unbound_unix_socket_is_a_clear_error,
        );
        #[cfg(selectio_linux_like)]
        backend_tests!($sel; unix_connect_to_a_full_backlog_is_reported);
    };
}

each_backend!(all_tests);
