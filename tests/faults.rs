//! Faults on every backend, injected in-process on real loopback sockets: peer resets,
//! half-closes, shutdowns, tiny buffers, dead peers, refused and unroutable connects,
//! `EMFILE` on accept (lowered `RLIMIT_NOFILE`), `ECONNABORTED`, fd numbers reused and
//! duplicated, and signal storms (feature `conformance`, for its hooks). After each fault the handler sees the EOF or the error
//! once, and the loop goes quiet: over 200 ms it runs a handful of iterations, not
//! thousands. Each test ends with nothing registered.
//!
//! Tests that lower the fd limit or count on fd numbers being reused run alone (an
//! exclusive lock); the others share it.
// Unix only: the faults are Unix mechanisms (RLIMIT_NOFILE, fd numbers and dup(2),
// signals to a thread, SIGPIPE), and `selectio::conformance::hooks` exists on Unix only.
// The feature test only keeps a build without `conformance` from failing until Cargo.toml
// lists this test with `required-features = ["conformance"]`.
#![cfg(all(unix, feature = "conformance"))]

#[macro_use]
mod util;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

use selectio::conformance::hooks;
use selectio::net::{Accept, Acceptor, TcpListener, TcpSocket, TcpStream};
use selectio::{
    EventLoop, Events, Handler, Interest, Mode, NotifyError, Ready, Selector, Sender, Token,
};
use socket2::SockRef;
use util::evloop::*;
use util::net::{bound_tcp_socket, closed_port, localhost};

/// How long the loop must stay quiet after a fault has been handled.
const QUIET: Duration = Duration::from_millis(200);
/// One wait of the quiet window.
const QUIET_STEP: Duration = Duration::from_millis(20);
/// Iterations allowed in the quiet window: 10 waits plus slack for stray wake-ups. A
/// spinning loop runs tens of thousands.
const QUIET_MAX: usize = 30;
/// The bound of "the loop does not hang"; never reached when the code is right.
const LIMIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Serialises the tests that change the process's fd limit or need fd numbers reused.
static FDS: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    FDS.read().unwrap_or_else(PoisonError::into_inner)
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    FDS.write().unwrap_or_else(PoisonError::into_inner)
}

/// A connected loopback pair (ours, the peer), both non-blocking selectio streams.
#[track_caller]
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = std::net::TcpListener::bind(localhost()).expect("bind");
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (ours, _) = listener.accept().expect("accept");
    (
        TcpStream::from_std(ours).expect("from_std"),
        TcpStream::from_std(peer).expect("from_std"),
    )
}

/// Sets `SO_LINGER {on, 0}` and closes: the peer gets a reset (RST), not a FIN.
fn reset(stream: TcpStream) {
    stream
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER 0");
    drop(stream);
}

/// Writes up to `n` bytes without blocking; returns how many were written.
fn fill(mut stream: &TcpStream, n: usize) -> usize {
    let chunk = [7u8; 4096];
    let mut total = 0;
    while total < n {
        match stream.write(&chunk[..chunk.len().min(n - total)]) {
            Ok(k) => total += k,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("write: {e}"),
        }
    }
    total
}

/// The modes `S` supports. (Each mode gets its own loop: a loop's type carries the
/// lifetime of the handler's borrows.)
fn modes<S: Selector>() -> Vec<Mode> {
    S::new().unwrap().capabilities().modes().collect()
}

fn ctx<S: Selector>(mode: Mode, what: &str) -> String {
    format!("[{} {mode:?}] {what}", S::new().unwrap().name())
}

/// Runs the loop for [`QUIET`] in waits of [`QUIET_STEP`]; returns the iterations run and
/// the `ready` calls made meanwhile.
fn quiet_window<'a, S: TestSelector>(
    el: &mut El<'a, S>,
    h: &mut Recorder<'a, S>,
) -> (usize, usize) {
    let (readies, start_iteration) = (h.log.readies().len(), h.log.iteration);
    let start = Instant::now();
    while start.elapsed() < QUIET {
        el.run_once(h, Some(QUIET_STEP)).expect("run_once");
    }
    (
        h.log.iteration - start_iteration,
        h.log.readies().len() - readies,
    )
}

/// Asserts the loop stays quiet for [`QUIET`]: few iterations, no `ready` call.
#[track_caller]
fn assert_quiet<'a, S: TestSelector>(el: &mut El<'a, S>, h: &mut Recorder<'a, S>, ctx: &str) {
    let (iterations, readies) = quiet_window(el, h);
    assert!(
        iterations <= QUIET_MAX,
        "{ctx}: {iterations} iterations in {QUIET:?}: the loop spins"
    );
    let tail: Vec<_> = h.log.readies().into_iter().rev().take(readies).collect();
    assert_eq!(
        readies, 0,
        "{ctx}: notified after the fault was handled: {tail:?}"
    );
}

/// Runs iterations until `done`; panics after [`LIMIT`].
#[track_caller]
fn run_until<'a, S: TestSelector>(
    el: &mut El<'a, S>,
    h: &mut Recorder<'a, S>,
    ctx: &str,
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + LIMIT;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{ctx}: hung; log {:?}",
            h.log.readies()
        );
        el.run_once(h, Some(Duration::from_millis(50)))
            .expect("run_once");
    }
}

/// How a stream's reads or writes ended: `Ok(())` for EOF, or the error's kind.
type End = Result<(), ErrorKind>;

/// One end of a connection, driven by the handler: it reads (or writes) until
/// `WouldBlock`, re-arms a Oneshot registration, and at EOF or an error records the end
/// and deregisters. Calls after the end are counted as late.
struct Side {
    stream: TcpStream,
    token: Token,
    interest: Interest,
    mode: Mode,
    read: usize,
    written: usize,
    /// Writes that returned `Ok(0)`: never allowed.
    zero_writes: usize,
    blocked: bool,
    ends: Vec<End>,
    late: usize,
}

impl Side {
    fn new(stream: TcpStream, token: Token, interest: Interest, mode: Mode) -> Side {
        Side {
            stream,
            token,
            interest,
            mode,
            read: 0,
            written: 0,
            zero_writes: 0,
            blocked: false,
            ends: Vec::new(),
            late: 0,
        }
    }

    fn register<H: Handler<S>, S: Selector>(&self, el: &mut EventLoop<H, S>) {
        el.register(&self.stream, self.token, self.interest, self.mode)
            .expect("register");
    }

    /// Reads until `WouldBlock`, EOF or an error.
    fn on_readable<H: Handler<S>, S: Selector>(&mut self, el: &mut EventLoop<H, S>) {
        if !self.ends.is_empty() {
            self.late += 1;
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            match (&self.stream).read(&mut buf) {
                Ok(0) => return self.end(el, Ok(())),
                Ok(n) => self.read += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return self.rearm(el),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return self.end(el, Err(e.kind())),
            }
        }
    }

    /// Writes until `WouldBlock` or an error, alternating `write` and `write_vectored`.
    fn on_writable<H: Handler<S>, S: Selector>(&mut self, el: &mut EventLoop<H, S>) {
        if !self.ends.is_empty() {
            self.late += 1;
            return;
        }
        let chunk = [3u8; 16 * 1024];
        for i in 0.. {
            let result = if i % 2 == 0 {
                (&self.stream).write(&chunk)
            } else {
                let half = chunk.len() / 2;
                let bufs = [IoSlice::new(&chunk[..half]), IoSlice::new(&chunk[half..])];
                (&self.stream).write_vectored(&bufs)
            };
            match result {
                Ok(0) => self.zero_writes += 1,
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.blocked = true;
                    return self.rearm(el);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return self.end(el, Err(e.kind())),
            }
            if self.zero_writes > 0 {
                return self.end(el, Err(ErrorKind::WriteZero));
            }
        }
    }

    fn rearm<H: Handler<S>, S: Selector>(&self, el: &mut EventLoop<H, S>) {
        if self.mode == Mode::Oneshot {
            el.reregister(&self.stream, self.token, self.interest, self.mode)
                .expect("reregister");
        }
    }

    fn end<H: Handler<S>, S: Selector>(&mut self, el: &mut EventLoop<H, S>, end: End) {
        self.ends.push(end);
        el.deregister(&self.stream).expect("deregister");
    }
}

/// A handler over [`Side`]s: `ready` for a side's token drives it.
fn drive<'a, S: Selector>(sides: &'a [&'a RefCell<Side>]) -> Recorder<'a, S> {
    Recorder::new().on_ready(move |el, _, (token, ready)| {
        for side in sides {
            let mut side = side.borrow_mut();
            if side.token != token {
                continue;
            }
            if side.interest.is_readable()
                && ready.intersects(Ready::READABLE | Ready::READ_CLOSED | Ready::ERROR)
            {
                side.on_readable(el);
            }
            if side.interest.is_writable()
                && side.ends.is_empty()
                && ready.intersects(Ready::WRITABLE | Ready::WRITE_CLOSED | Ready::ERROR)
            {
                side.on_writable(el);
            }
        }
    })
}

/// Runs `body` with SIGPIPE counted (by a handler that replaces Rust's "ignore"), then
/// asserts that no write in it raised one.
#[track_caller]
fn no_sigpipe(body: impl FnOnce()) {
    hooks::watch_sigpipe().expect("watch SIGPIPE");
    let sigpipes = hooks::sigpipes();
    body();
    assert_eq!(hooks::sigpipes(), sigpipes, "a write raised SIGPIPE");
}

/// Runs `body` on a fresh loop driving `ours` as its one [`Side`] (token `T1`, `interest`,
/// `mode`, registered), then asserts the side left nothing registered.
fn one_side<S: TestSelector>(
    ours: TcpStream,
    interest: Interest,
    mode: Mode,
    body: impl for<'a> FnOnce(&mut El<'a, S>, &mut Recorder<'a, S>, &RefCell<Side>),
) {
    let side = RefCell::new(Side::new(ours, T1, interest, mode));
    let sides = [&side];
    let mut h = drive::<S>(&sides);
    let mut el: El<S> = EventLoop::new().unwrap();
    side.borrow().register(&mut el);
    body(&mut el, &mut h, &side);
    assert_nothing_registered(&el);
}

/// Runs the loop until `side` ends, then asserts the loop stays quiet and `side` ended
/// exactly once, with one of `allowed`.
#[track_caller]
fn end_quietly<'a, S: TestSelector>(
    el: &mut El<'a, S>,
    h: &mut Recorder<'a, S>,
    side: &RefCell<Side>,
    allowed: &[End],
    ctx: &str,
) {
    run_until(el, h, ctx, || !side.borrow().ends.is_empty());
    assert_quiet(el, h, ctx);
    assert_ended_once(&side.borrow(), allowed, ctx);
}

/// Asserts `side` ended exactly once, with one of `allowed`, and was never called after.
#[track_caller]
fn assert_ended_once(side: &Side, allowed: &[End], ctx: &str) {
    assert_eq!(side.ends.len(), 1, "{ctx}: ends {:?}", side.ends);
    assert!(
        allowed.contains(&side.ends[0]),
        "{ctx}: ended with {:?}, expected one of {allowed:?}",
        side.ends[0]
    );
    assert_eq!(side.late, 0, "{ctx}: called after its end");
    assert_eq!(side.zero_writes, 0, "{ctx}: a write returned Ok(0)");
}

const EOF: End = Ok(());
const RESET: End = Err(ErrorKind::ConnectionReset);
const BROKEN: End = Err(ErrorKind::BrokenPipe);

// ---------------------------------------------------------------------------------------
// Peer resets, half-closes, shutdowns
// ---------------------------------------------------------------------------------------

/// The peer sends, we read part of it, then the peer resets with more data on the way:
/// we read what arrived, then the reset (or EOF) once, and the loop goes quiet.
fn peer_reset_during_read_is_reported_once<S: TestSelector>() {
    let _lock = shared();
    for mode in modes::<S>() {
        let ctx = ctx::<S>(mode, "peer reset during read");
        let (ours, peer) = tcp_pair();
        let sent = fill(&peer, 8 * 1024);
        one_side::<S>(ours, Interest::READABLE, mode, |el, h, side| {
            run_until(el, h, &ctx, || side.borrow().read > 0);
            let sent = sent + fill(&peer, 8 * 1024);
            reset(peer);
            run_until(el, h, &ctx, || !side.borrow().ends.is_empty());
            assert_quiet(el, h, &ctx);
            let side = side.borrow();
            assert_ended_once(&side, &[RESET, EOF], &ctx);
            assert!(side.read <= sent, "{ctx}: read {} of {sent}", side.read);
        });
    }
}

/// We write into tiny buffers until `WouldBlock`, then the peer resets: the next write
/// fails once (reset or broken pipe, never `Ok(0)`), and the loop goes quiet.
fn peer_reset_during_write_is_reported_once<S: TestSelector>() {
    let _lock = shared();
    no_sigpipe(|| {
        for mode in modes::<S>() {
            let ctx = ctx::<S>(mode, "peer reset during write");
            let (ours, peer) = tcp_pair();
            SockRef::from(&ours).set_send_buffer_size(4096).unwrap();
            SockRef::from(&peer).set_recv_buffer_size(4096).unwrap();
            one_side::<S>(ours, Interest::WRITABLE, mode, |el, h, side| {
                run_until(el, h, &ctx, || side.borrow().blocked);
                reset(peer);
                end_quietly(el, h, side, &[RESET, BROKEN], &ctx);
            });
        }
    });
}

/// The peer sends and shuts down its write side: we read the data, then EOF once, and
/// can still answer on our write side.
fn peer_half_close_is_eof_once_and_we_can_still_write<S: TestSelector>() {
    let _lock = shared();
    for mode in modes::<S>() {
        let ctx = ctx::<S>(mode, "peer half-close");
        let (ours, peer) = tcp_pair();
        (&peer).write_all(b"hello").unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        one_side::<S>(ours, Interest::READABLE, mode, |el, h, side| {
            run_until(el, h, &ctx, || !side.borrow().ends.is_empty());
            assert_ended_once(&side.borrow(), &[EOF], &ctx);
            assert_eq!(side.borrow().read, 5, "{ctx}");
            // Half-closed, not closed: our write side still works.
            {
                let ours = &side.borrow().stream;
                (&*ours)
                    .write_all(b"bye")
                    .expect("write after the peer's half-close");
                ours.shutdown(Shutdown::Write).unwrap();
            }
            assert_quiet(el, h, &ctx);
            let mut reply = Vec::new();
            let peer = peer.into_std();
            peer.set_nonblocking(false).unwrap();
            peer.set_read_timeout(Some(LIMIT)).unwrap();
            (&peer)
                .read_to_end(&mut reply)
                .expect("the peer reads our reply");
            assert_eq!(reply, b"bye", "{ctx}");
        });
    }
}

/// Both ends, registered in one loop, shut down both directions at the same moment:
/// each sees EOF once, and the loop goes quiet.
fn both_ends_shut_down_at_once_each_sees_eof_once<S: TestSelector>() {
    let _lock = shared();
    for mode in modes::<S>() {
        let ctx = ctx::<S>(mode, "both ends shut down");
        let (a, b) = tcp_pair();
        let a = RefCell::new(Side::new(a, T1, Interest::READABLE, mode));
        let b = RefCell::new(Side::new(b, T2, Interest::READABLE, mode));
        let sides = [&a, &b];
        let mut h = drive::<S>(&sides);
        let mut el: El<S> = EventLoop::new().unwrap();
        a.borrow().register(&mut el);
        b.borrow().register(&mut el);
        el.run_once(&mut h, Some(Duration::ZERO)).unwrap();
        a.borrow().stream.shutdown(Shutdown::Both).unwrap();
        b.borrow().stream.shutdown(Shutdown::Both).unwrap();
        run_until(&mut el, &mut h, &ctx, || {
            !a.borrow().ends.is_empty() && !b.borrow().ends.is_empty()
        });
        assert_quiet(&mut el, &mut h, &ctx);
        // A local shutdown(SHUT_RD) reads as EOF; the peer's RST (it shut down with
        // nothing unread, so there is none) would read as a reset.
        assert_ended_once(&a.borrow(), &[EOF, RESET], &ctx);
        assert_ended_once(&b.borrow(), &[EOF, RESET], &ctx);
        assert_nothing_registered(&el);
    }
}

/// The peer sends and closes while its data is still unread on our side: we read all
/// of it, then EOF once.
fn peer_closes_with_data_we_have_not_read_gives_all_data_then_eof<S: TestSelector>() {
    let _lock = shared();
    for mode in modes::<S>() {
        let ctx = ctx::<S>(mode, "peer closes, its data unread by us");
        let (ours, peer) = tcp_pair();
        let sent = fill(&peer, 32 * 1024);
        drop(peer);
        one_side::<S>(ours, Interest::READABLE, mode, |el, h, side| {
            end_quietly(el, h, side, &[EOF], &ctx);
            assert_eq!(side.borrow().read, sent, "{ctx}: bytes lost");
        });
    }
}

/// We send, the peer closes without reading it (so its kernel answers with a reset):
/// our read sees the reset (or EOF) once, a write after it fails, and the loop goes
/// quiet.
fn peer_closes_with_our_data_unread_resets_us_once<S: TestSelector>() {
    let _lock = shared();
    no_sigpipe(|| {
        for mode in modes::<S>() {
            let ctx = ctx::<S>(mode, "peer closes, our data unread by it");
            let (ours, peer) = tcp_pair();
            (&ours).write_all(&[1u8; 1000]).unwrap();
            one_side::<S>(ours, Interest::READABLE, mode, |el, h, side| {
                el.run_once(h, Some(Duration::ZERO)).unwrap();
                drop(peer);
                end_quietly(el, h, side, &[RESET, EOF], &ctx);
                let err = (&side.borrow().stream)
                    .write(b"x")
                    .expect_err("write after a reset");
                assert!(
                    matches!(
                        err.kind(),
                        ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
                    ),
                    "{ctx}: {err:?}"
                );
            });
        }
    });
}

/// The peer is gone before we write: writes succeed until its reset arrives, then fail
/// with `BrokenPipe` or `ConnectionReset` — never `Ok(0)`, never `SIGPIPE` (counted by
/// a handler that replaces Rust's "ignore").
fn writing_to_a_dead_peer_fails_never_ok_zero_never_sigpipe<S: TestSelector>() {
    let _lock = shared();
    no_sigpipe(|| {
        for mode in modes::<S>() {
            for peer_resets in [false, true] {
                let ctx = ctx::<S>(mode, &format!("dead peer (reset: {peer_resets})"));
                let (ours, peer) = tcp_pair();
                if peer_resets {
                    reset(peer);
                } else {
                    drop(peer);
                }
                one_side::<S>(ours, Interest::WRITABLE, mode, |el, h, side| {
                    end_quietly(el, h, side, &[RESET, BROKEN], &ctx);
                });
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// Connects that fail or never finish
// ---------------------------------------------------------------------------------------

/// A connect to a closed port: the handler hears it once as an error, `take_error` says
/// `ConnectionRefused`, `run` returns (a guard timer would stop a hang), and the loop
/// goes quiet.
fn connect_refused_is_reported_and_run_returns<S: TestSelector>() {
    let _lock = shared();
    for mode in modes::<S>() {
        let ctx = ctx::<S>(mode, "connect refused");
        let refused = Cell::new(0);
        let stream = RefCell::new(None::<TcpStream>);
        let mut h = Recorder::new()
            .on_ready(|el, _, (token, _)| {
                let stream = stream.borrow();
                let stream = stream.as_ref().expect("the stream");
                let err = stream.take_error().expect("take_error");
                assert_eq!(
                    err.map(|e| e.kind()),
                    Some(ErrorKind::ConnectionRefused),
                    "{ctx}"
                );
                assert_eq!(token, T1);
                refused.set(refused.get() + 1);
                el.deregister(stream).unwrap();
                el.shutdown();
            })
            .on_timeout(|el, _, _| el.shutdown());
        let mut el: El<S> = EventLoop::new().unwrap();
        let guard = el.timeout(0, LIMIT).unwrap();
        let socket = TcpSocket::v4().unwrap();
        let s = el
            .connect_with(socket, &closed_port(), T1, Interest::WRITABLE, mode)
            .unwrap();
        *stream.borrow_mut() = Some(s);
        let start = Instant::now();
        el.run(&mut h).unwrap();
        assert!(start.elapsed() < LIMIT, "{ctx}: run hung until the guard");
        assert_eq!(refused.get(), 1, "{ctx}: {:?}", h.log.readies());
        assert!(el.clear_timeout(&guard));
        assert_quiet(&mut el, &mut h, &ctx);
        assert_nothing_registered(&el);
    }
}

/// A connect that may never finish, cancelled by a timer after 100 ms (deregister,
/// close): `run` returns, never before the timer unless the connect failed, and the loop
/// goes quiet. Two targets: TEST-NET-1 (192.0.2.1, RFC 5737: never routed), which
/// either stays in progress or fails (refused, unreachable), depending on the host's
/// routes and firewall; and a listener with backlog 0 whose queue is full, which drops
/// the SYN (Linux `tcp_conn_request`: `sk_acceptq_is_full` → drop), so the connect stays
/// in progress for sure.
fn connect_that_never_finishes_is_cancelled_by_a_timer<S: TestSelector>() {
    let _lock = shared();
    let full = bound_tcp_socket().listen(0).unwrap();
    let full_addr = full.local_addr().unwrap();
    // Queued, never accepted: the queue of a backlog-0 listener holds one.
    let _queued = std::net::TcpStream::connect(full_addr).expect("fill the backlog");
    let targets = [
        (
            "TEST-NET-1",
            (Ipv4Addr::new(192, 0, 2, 1), 80).into(),
            false,
        ),
        ("full backlog", full_addr, cfg!(selectio_linux_like)),
    ];
    for mode in modes::<S>() {
        for (target, addr, must_hang) in targets {
            let ctx = ctx::<S>(mode, &format!("connect to {target} ({addr})"));
            cancel_connect::<S>(mode, addr, must_hang, &ctx);
        }
    }
}

/// One connect of [`connect_that_never_finishes_is_cancelled_by_a_timer`].
fn cancel_connect<S: TestSelector>(mode: Mode, addr: SocketAddr, must_hang: bool, ctx: &str) {
    let cancel_after = Duration::from_millis(100);
    let stream = RefCell::new(None::<TcpStream>);
    let failed = RefCell::new(Vec::new());
    let cancelled = Cell::new(false);
    let mut h = Recorder::new()
        .on_ready(|el, _, (token, ready)| {
            assert_eq!(token, T1);
            let s = stream.borrow_mut().take().expect("one notification");
            let err = s.take_error().expect("take_error");
            assert!(err.is_some(), "{ctx}: connected: {ready:?}");
            failed.borrow_mut().push(err.map(|e| e.kind()));
            el.deregister(&s).unwrap();
            el.shutdown();
        })
        .on_timeout(|el, _, _| {
            if let Some(s) = stream.borrow_mut().take() {
                el.deregister(&s).unwrap();
                cancelled.set(true);
            }
            el.shutdown();
        });
    let mut el: El<S> = EventLoop::new().unwrap();
    let start = Instant::now();
    let timer = el.timeout(0, cancel_after).unwrap();
    let socket = TcpSocket::v4().unwrap();
    match el.connect_with(socket, &addr, T1, Interest::WRITABLE, mode) {
        Ok(s) => *stream.borrow_mut() = Some(s),
        // Some sandboxes refuse at once with a caller-side error (EACCES, EPERM).
        Err(e) if !must_hang => {
            eprintln!("{ctx}: connect refused outright: {e}");
            return;
        }
        Err(e) => panic!("{ctx}: connect: {e}"),
    }
    el.run(&mut h).unwrap();
    let elapsed = start.elapsed();
    assert!(elapsed < LIMIT, "{ctx}: hung for {elapsed:?}");
    if cancelled.get() {
        assert!(
            elapsed >= cancel_after,
            "{ctx}: cancelled early: {elapsed:?}"
        );
        eprintln!("{ctx}: in progress, cancelled by the timer after {elapsed:?}");
    } else {
        eprintln!("{ctx}: failed after {elapsed:?}: {:?}", failed.borrow());
        assert!(!must_hang, "{ctx}: finished: {:?}", failed.borrow());
        assert_eq!(failed.borrow().len(), 1, "{ctx}");
        el.clear_timeout(&timer);
    }
    assert_quiet(&mut el, &mut h, ctx);
    assert_nothing_registered(&el);
}

// ---------------------------------------------------------------------------------------
// Accept: EMFILE and ECONNABORTED
// ---------------------------------------------------------------------------------------

/// Lowers the soft `RLIMIT_NOFILE` to just above the highest open fd and fills every
/// free number below it, so the next fd the process asks for fails with `EMFILE`.
/// Dropping it frees the fds and restores the limit.
struct Exhausted {
    hog: Vec<File>,
    limit: (u64, u64),
}

impl Exhausted {
    #[track_caller]
    fn new() -> Exhausted {
        let limit = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("getrlimit");
        let highest = std::fs::read_dir("/proc/self/fd")
            .or_else(|_| std::fs::read_dir("/dev/fd"))
            .expect("list open fds")
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
            .max()
            .expect("some fd is open");
        let soft = (highest + 4).min(limit.0);
        rlimit::setrlimit(rlimit::Resource::NOFILE, soft, limit.1).expect("setrlimit");
        let mut exhausted = Exhausted {
            hog: Vec::new(),
            limit,
        };
        loop {
            match File::open("/") {
                Ok(f) => exhausted.hog.push(f),
                Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return exhausted,
                Err(e) => panic!("filling the fd table: {e}"),
            }
        }
    }
}

impl Drop for Exhausted {
    fn drop(&mut self) {
        self.hog.clear();
        let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, self.limit.0, self.limit.1);
    }
}

/// What the accepting handler saw.
#[derive(Debug, Default)]
struct Accepts {
    accepted: Vec<TcpStream>,
    errors: Vec<io::Error>,
}

/// A fresh loop with `listener` registered (READABLE, Level) under `T0`.
fn listening<'a, S: TestSelector, L: selectio::Source>(listener: &RefCell<L>) -> El<'a, S> {
    let mut el: El<S> = EventLoop::new().unwrap();
    el.register(&*listener.borrow(), T0, Interest::READABLE, Mode::Level)
        .unwrap();
    el
}

/// Accepts until `WouldBlock` or an error, as the `Acceptor` docs show; on an error that
/// asks for a back-off, stops watching the listener and sets timer 1 to resume.
fn accept_all<H: Handler<S, Timeout = u64>, S: Selector, L>(
    el: &mut EventLoop<H, S>,
    acceptor: &mut Acceptor<L>,
    seen: &mut Accepts,
) where
    L: Accept<Stream = TcpStream> + AsFd,
{
    loop {
        match acceptor.accept() {
            Ok((stream, _)) => seen.accepted.push(stream),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => {
                seen.errors.push(e);
                if let Some(pause) = acceptor.backoff() {
                    el.deregister(acceptor).expect("deregister the listener");
                    el.timeout(1, pause).expect("back-off timer");
                }
                return;
            }
        }
    }
}

/// A listener with backlog 1 whose connection comes while the process is out of fds:
/// with a spare fd, the `Acceptor` sheds it (the client sees the connection closed),
/// the level-triggered listener goes quiet instead of spinning, and once fds are free
/// again the next client is accepted.
fn emfile_on_accept_sheds_without_spinning_then_resumes<S: TestSelector>() {
    let _lock = exclusive();
    let listener = bound_tcp_socket().listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = RefCell::new(Acceptor::new(listener).expect("reserve the spare fd"));
    let seen = RefCell::new(Accepts::default());
    let client = RefCell::new(None::<TcpStream>);
    let client_end = RefCell::new(Vec::new());
    let mut h = Recorder::new().on_ready(|el, _, (token, _)| match token {
        T0 => accept_all(el, &mut acceptor.borrow_mut(), &mut seen.borrow_mut()),
        T1 => {
            let client = client.borrow();
            let client = client.as_ref().expect("client");
            let mut buf = [0u8; 16];
            let end = (&*client).read(&mut buf).map_err(|e| e.kind());
            client_end.borrow_mut().push(end);
            el.deregister(client).unwrap();
        }
        _ => panic!("unexpected {token:?}"),
    });
    let mut el: El<S> = listening(&acceptor);
    let name = el.selector().name();
    // The client's socket exists before the fds run out; connect(2) needs no new fd.
    let socket = TcpSocket::v4().unwrap();
    let exhausted = Exhausted::new();
    let stream = el.connect_with(socket, &addr, T1, Interest::READABLE, Mode::Level);
    *client.borrow_mut() = Some(stream.expect("connect"));
    let (iterations, _) = quiet_window(&mut el, &mut h);
    drop(exhausted);
    {
        let seen = seen.borrow();
        assert!(
            seen.errors
                .iter()
                .any(|e| e.raw_os_error() == Some(libc::EMFILE)),
            "[{name}] accept never hit EMFILE: {seen:?}"
        );
        assert!(
            seen.accepted.is_empty(),
            "[{name}] accepted while out of fds"
        );
    }
    assert!(
        iterations <= QUIET_MAX,
        "[{name}] {iterations} iterations in {QUIET:?} out of fds: the listener spins"
    );
    assert_eq!(acceptor.borrow().shed_count(), 1, "[{name}]");
    assert!(
        acceptor.borrow().has_spare(),
        "[{name}] the spare was not retaken"
    );
    assert_eq!(acceptor.borrow().backoff(), None, "[{name}]");
    // The shed client was told at once: EOF (or a reset), not silence.
    let end = client_end.borrow().clone();
    assert!(
        matches!(end[..], [Ok(0)] | [Err(ErrorKind::ConnectionReset)]),
        "[{name}] {end:?}"
    );
    // Service resumes.
    let _next = std::net::TcpStream::connect(addr).expect("connect after the fds are back");
    run_until(&mut el, &mut h, name, || !seen.borrow().accepted.is_empty());
    el.deregister(&*acceptor.borrow()).unwrap();
    assert_nothing_registered(&el);
}

/// Without a spare fd nothing can be shed: the `Acceptor` asks for a back-off (10 ms,
/// doubling), the handler stops watching the listener and resumes from a timer — few
/// iterations instead of a spin — and the waiting client is accepted once fds are back.
fn emfile_without_spare_backs_off_then_resumes<S: TestSelector>() {
    let _lock = exclusive();
    let listener = TcpListener::bind(localhost()).unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = RefCell::new(Acceptor::without_spare(listener));
    let seen = RefCell::new(Accepts::default());
    let max_backoff = Cell::new(Duration::ZERO);
    let mut h = Recorder::new()
        .on_ready(|el, _, (token, _)| {
            assert_eq!(token, T0);
            let mut acceptor = acceptor.borrow_mut();
            accept_all(el, &mut acceptor, &mut seen.borrow_mut());
            max_backoff.set(
                max_backoff
                    .get()
                    .max(acceptor.backoff().unwrap_or_default()),
            );
        })
        .on_timeout(|el, _, id| {
            assert_eq!(id, 1);
            el.register(&*acceptor.borrow(), T0, Interest::READABLE, Mode::Level)
                .expect("register the listener again");
        });
    let mut el: El<S> = listening(&acceptor);
    let name = el.selector().name();
    let socket = TcpSocket::v4().unwrap();
    let exhausted = Exhausted::new();
    let _client = socket.connect(addr).expect("connect");
    let (iterations, _) = quiet_window(&mut el, &mut h);
    drop(exhausted);
    let errors = seen.borrow().errors.len();
    assert!(
        errors >= 2,
        "[{name}] {errors} EMFILE errors: no retry after the back-off"
    );
    assert!(
        iterations <= QUIET_MAX,
        "[{name}] {iterations} iterations in {QUIET:?}: the back-off does not hold"
    );
    assert!(
        max_backoff.get() >= Duration::from_millis(20),
        "[{name}] no doubling"
    );
    assert_eq!(acceptor.borrow().shed_count(), 0);
    // Fds are back: the next timer re-registers, and the same client is accepted.
    run_until(&mut el, &mut h, name, || !seen.borrow().accepted.is_empty());
    assert_eq!(
        acceptor.borrow().backoff(),
        None,
        "[{name}] back-off not cleared"
    );
    el.deregister(&*acceptor.borrow()).unwrap();
    assert_nothing_registered(&el);
}

/// A listener whose next `accept` calls fail with `ECONNABORTED` (a connection reset
/// while queued: BSD, Apple and Windows report it; Linux returns such a connection,
/// so it is injected here).
struct AbortingListener {
    inner: TcpListener,
    aborts: Cell<usize>,
}

impl Accept for AbortingListener {
    type Stream = TcpStream;
    type Addr = SocketAddr;

    fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        if self.aborts.get() > 0 {
            self.aborts.set(self.aborts.get() - 1);
            return Err(io::Error::from_raw_os_error(libc::ECONNABORTED));
        }
        self.inner.accept()
    }
}

impl AsFd for AbortingListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

/// `ECONNABORTED` from accept is skipped: the handler gets the next connection, never
/// the error; an endless run of them is returned after a bound, not looped on forever.
fn econnaborted_from_accept_is_skipped<S: TestSelector>() {
    let _lock = shared();
    let inner = TcpListener::bind(localhost()).unwrap();
    let addr = inner.local_addr().unwrap();
    let listener = AbortingListener {
        inner,
        aborts: Cell::new(3),
    };
    let acceptor = RefCell::new(Acceptor::new(listener).unwrap());
    let seen = RefCell::new(Accepts::default());
    let mut h = Recorder::new().on_ready(|el, _, _| {
        accept_all(el, &mut acceptor.borrow_mut(), &mut seen.borrow_mut());
    });
    let mut el: El<S> = listening(&acceptor);
    let _client = std::net::TcpStream::connect(addr).unwrap();
    let name = el.selector().name();
    run_until(&mut el, &mut h, name, || !seen.borrow().accepted.is_empty());
    assert!(
        seen.borrow().errors.is_empty(),
        "[{name}] {:?}",
        seen.borrow()
    );
    assert_eq!(acceptor.borrow().get_ref().aborts.get(), 0);
    // A listener that only ever aborts: the error comes back, the call does not hang.
    acceptor.borrow().get_ref().aborts.set(usize::MAX);
    let err = acceptor.borrow_mut().accept().expect_err("endless aborts");
    assert_eq!(err.kind(), ErrorKind::ConnectionAborted);
    el.deregister(&*acceptor.borrow()).unwrap();
    assert_nothing_registered(&el);
}

// ---------------------------------------------------------------------------------------
// Fd numbers reused and duplicated
// ---------------------------------------------------------------------------------------

/// Opens placeholder files until one gets a number above `fd`, so every number below
/// `fd` is taken and the next one closed is the lowest free.
fn fill_holes_below(fd: RawFd) -> Vec<File> {
    let mut files = Vec::new();
    loop {
        let f = File::open("/").expect("open a placeholder");
        let above = f.as_raw_fd() > fd;
        files.push(f);
        if above {
            return files;
        }
    }
}

/// Two readable sockets in one batch; the first one dispatched closes the other (after
/// deregistering it, or not) and connects a new, idle socket that gets the closed
/// number, registered under a new token or the closed one's: the old socket's event,
/// fetched in the same batch, reaches no one, and the new socket gets nothing until its
/// own data comes.
fn fd_closed_in_callback_and_reused_gets_no_old_events<S: TestSelector>() {
    let _lock = exclusive();
    let name = S::new().unwrap().name();
    for mode in modes::<S>() {
        for deregister_first in [false, true] {
            for old_token in [false, true] {
                let what = format!(
                    "[{name} {mode:?}] deregister first: {deregister_first}, \
                     new socket under the old token: {old_token}"
                );
                let reused =
                    (0..5).any(|_| reuse_attempt::<S>(mode, deregister_first, old_token, &what));
                assert!(reused, "{what}: the closed number was never reused");
            }
        }
    }
}

/// Who did what in [`reuse_attempt`]: the iteration, the token whose callback closed the
/// other, the closed one's token, the new socket's token.
#[derive(Debug, Clone, Copy)]
struct Swap {
    iteration: usize,
    closer: Token,
    victim: Token,
    new: Token,
}

/// One try of [`fd_closed_in_callback_and_reused_gets_no_old_events`]; `false` when the
/// new socket did not get the closed number (then nothing was checked).
fn reuse_attempt<S: TestSelector>(
    mode: Mode,
    deregister_first: bool,
    old_token: bool,
    what: &str,
) -> bool {
    let listener = std::net::TcpListener::bind(localhost()).unwrap();
    let (a, a_peer) = tcp_pair();
    let (b, b_peer) = tcp_pair();
    let _holes = fill_holes_below(a.as_raw_fd().max(b.as_raw_fd()));
    (&a_peer).write_all(b"a").unwrap();
    (&b_peer).write_all(b"b").unwrap();
    let fds = [a.as_raw_fd(), b.as_raw_fd()];
    // Source i has token T1 + i.
    let sources = RefCell::new([Some(a), Some(b)]);
    let c = RefCell::new(None::<(TcpStream, std::net::TcpStream)>);
    let swap = Cell::new(None::<Swap>);
    let mut h = Recorder::new().on_ready(|el, log, (closer, _)| {
        if swap.get().is_some() {
            return;
        }
        let victim = if closer == T1 { T2 } else { T1 };
        let old = sources.borrow_mut()[victim.0 - 1].take().expect("victim");
        if deregister_first {
            el.deregister(&old).unwrap();
        }
        drop(old);
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let stream = TcpStream::from_std(stream).unwrap();
        let new = if old_token { victim } else { T3 };
        el.register(&stream, new, Interest::READABLE, mode).unwrap();
        let iteration = log.iteration;
        swap.set(Some(Swap {
            iteration,
            closer,
            victim,
            new,
        }));
        *c.borrow_mut() = Some((stream, server));
    });
    let mut el: El<S> = EventLoop::new().unwrap();
    for (i, source) in sources.borrow().iter().enumerate() {
        let source = source.as_ref().unwrap();
        el.register(source, Token(i + 1), Interest::READABLE, mode)
            .unwrap();
    }
    let deadline = Instant::now() + LIMIT;
    while swap.get().is_none() {
        assert!(Instant::now() < deadline, "{what}: no event for a or b");
        el.run_once(&mut h, Some(Duration::from_millis(50)))
            .unwrap();
    }
    for _ in 0..3 {
        el.run_once(&mut h, Some(Duration::from_millis(10)))
            .unwrap();
    }
    let sw = swap.get().unwrap();
    let (c_stream, mut c_server) = c.borrow_mut().take().expect("c");
    let reused = c_stream.as_raw_fd() == fds[sw.victim.0 - 1];
    if reused {
        // From the swap on, nothing for the victim's token or the new one (c is idle);
        // the closer's own event of that iteration is logged before its callback ran.
        let wrong: Vec<_> = h
            .log
            .readies()
            .into_iter()
            .filter(|&(i, t, _)| i >= sw.iteration && (t == sw.victim || t == sw.new))
            .collect();
        assert!(wrong.is_empty(), "{what}: {sw:?}: old events: {wrong:?}");
        // The new registration works: data for c is reported under its token.
        c_server.write_all(b"c").unwrap();
        let before = h.log.readies().len();
        let deadline = Instant::now() + LIMIT;
        while !h.log.readies()[before..].iter().any(|r| r.1 == sw.new) {
            assert!(Instant::now() < deadline, "{what}: c's data never reported");
            el.run_once(&mut h, Some(Duration::from_millis(50)))
                .unwrap();
        }
    }
    let closer = sources.borrow_mut()[sw.closer.0 - 1].take().unwrap();
    el.deregister(&closer).unwrap();
    el.deregister(&c_stream).unwrap();
    assert_nothing_registered(&el);
    reused
}

/// A registered socket is duplicated (dup(2)), deregistered and closed; the duplicate
/// lives on and gets data: nothing reaches the old token, and the duplicate registered
/// anew gets its own event.
fn dup_of_a_deregistered_fd_brings_no_events<S: TestSelector>() {
    let _lock = shared();
    for mode in modes::<S>() {
        let ctx = ctx::<S>(mode, "deregister, close, the dup lives");
        let mut h = Recorder::new();
        let (mut el, ours, peer, dup) = registered_end_and_its_dup::<S>(mode);
        el.deregister(&ours).unwrap();
        drop(ours);
        (&peer).write_all(b"x").unwrap();
        assert_quiet(&mut el, &mut h, &ctx);
        assert_dup_gets_its_own_event(&mut el, &mut h, &dup, mode, &ctx);
    }
}

/// The registered socket is closed while a duplicate lives, then deregistered by its
/// number (which fails: the fd is gone); the duplicate gets data. Nothing may reach the
/// old token once it was deregistered: the EventLoop drops the events of a token whose
/// deregister found the fd closed. The loop must not spin where the kernel forgets a
/// closed fd (poll(2)). epoll keys its interest list by (file, fd number) and drops an
/// entry only when the last duplicate closes, so an entry whose fd number is closed can
/// no longer be removed (epoll(7), Q6): a level-triggered one wakes every wait until the
/// duplicate closes — documented on `EventLoop::deregister`, and not checked here.
fn registered_fd_closed_while_its_dup_lives_then_deregistered_brings_no_events<S: TestSelector>() {
    let _lock = exclusive();
    let mut failures = Vec::new();
    for mode in modes::<S>() {
        let ctx = ctx::<S>(mode, "close while the dup lives, then deregister");
        let mut h = Recorder::new();
        let (mut el, ours, peer, dup) = registered_end_and_its_dup::<S>(mode);
        let fd = ours.as_raw_fd();
        drop(ours);
        #[allow(unsafe_code)]
        // SAFETY: `fd` is closed on purpose (its file lives on in `dup`): the loop and its
        // selector must answer it as a number.
        let closed = unsafe { BorrowedFd::borrow_raw(fd) };
        let result = el.deregister(&closed);
        assert_eq!(
            el.registered(),
            0,
            "{ctx}: the loop still holds fd {fd}: {result:?}"
        );
        (&peer).write_all(b"x").unwrap();
        let (iterations, readies) = quiet_window(&mut el, &mut h);
        let epoll_level = mode == Mode::Level && on_epoll(el.selector().name());
        if (iterations > QUIET_MAX && !epoll_level) || readies > 0 {
            failures.push(format!(
                "{ctx}: deregister said {result:?}, then {readies} ready calls for the \
                 old token and {iterations} iterations in {QUIET:?}"
            ));
        }
        // Closing the duplicate removes the kernel's entry at last (epoll); drain the
        // spin it caused before going on.
        drop(dup);
        el.run_once(&mut h, Some(Duration::ZERO)).unwrap();
        assert_nothing_registered(&el);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Whether the backend named `name` runs on epoll here (polling does, unless CI forces
/// it onto poll(2) with `--cfg polling_test_poll_backend`).
fn on_epoll(name: &str) -> bool {
    name == "epoll" || (name == "polling" && !cfg!(polling_test_poll_backend))
}

/// A loop with our end of a TCP pair registered for reading under T1 in `mode`, and a
/// dup(2) of that end: (the loop, ours, the peer, the dup).
fn registered_end_and_its_dup<'a, S: TestSelector>(
    mode: Mode,
) -> (El<'a, S>, TcpStream, TcpStream, socket2::Socket) {
    let mut el: El<S> = EventLoop::new().unwrap();
    let (ours, peer) = tcp_pair();
    el.register(&ours, T1, Interest::READABLE, mode).unwrap();
    let dup = SockRef::from(&ours).try_clone().expect("dup");
    (el, ours, peer, dup)
}

/// Registers `dup` under T2, waits for its data, reads it and deregisters.
#[track_caller]
fn assert_dup_gets_its_own_event<'a, S: TestSelector>(
    el: &mut El<'a, S>,
    h: &mut Recorder<'a, S>,
    dup: &socket2::Socket,
    mode: Mode,
    ctx: &str,
) {
    el.register(dup, T2, Interest::READABLE, mode).unwrap();
    let before = h.log.readies().len();
    let deadline = Instant::now() + LIMIT;
    while !h.log.readies()[before..].iter().any(|r| r.1 == T2) {
        assert!(
            Instant::now() < deadline,
            "{ctx}: the dup's data never reported"
        );
        el.run_once(h, Some(Duration::from_millis(50))).unwrap();
    }
    let mut buf = [0u8; 8];
    assert_eq!((&*dup).read(&mut buf).expect("read the dup"), 1, "{ctx}");
    el.deregister(dup).unwrap();
    assert_nothing_registered(el);
}

// ---------------------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------------------

/// A thread sending `SIGUSR1` to a target thread every 50 µs until stopped. Dropping it
/// stops it too, so a failing test (unwinding on the target thread) never leaves it
/// signalling a thread that is gone.
struct Storm {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Storm {
    /// Starts the storm at `target`; returns once the first signal is sent.
    fn start(target: hooks::Interrupter) -> Storm {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let (stop2, sent2) = (stop.clone(), sent.clone());
        let thread = thread::spawn(move || {
            while !stop2.load(SeqCst) {
                target.interrupt().expect("pthread_kill");
                sent2.fetch_add(1, SeqCst);
                thread::sleep(Duration::from_micros(50));
            }
        });
        while sent.load(SeqCst) == 0 {
            thread::yield_now();
        }
        Storm {
            stop,
            sent,
            thread: Some(thread),
        }
    }

    fn sent(&self) -> usize {
        self.sent.load(SeqCst)
    }

    /// Stops the storm; returns how many signals were sent.
    fn stop(mut self) -> usize {
        self.halt();
        self.sent()
    }

    fn halt(&mut self) {
        self.stop.store(true, SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Storm {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Signals the storms of the tests below must have sent before they may end.
const MIN_SIGNALS: usize = 200;

/// Sends `ids` from another thread, retrying while the channel is full, with a 1 ms
/// pause every 50 (to spread them over a signal storm).
fn send_messages(tx: Sender<u64>, ids: std::ops::Range<u64>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for m in ids {
            let mut msg = m;
            while let Err(e) = tx.send(msg) {
                match e {
                    NotifyError::Full(back) => msg = back,
                    other => panic!("send: {other:?}"),
                }
                thread::yield_now();
            }
            if m % 50 == 49 {
                thread::sleep(Duration::from_millis(1));
            }
        }
    })
}

/// From another thread, makes `n` connections; puts our end of the i-th into `handed`
/// under `base + i`, sends that number, and writes a byte from the peer. Returns the
/// peers.
fn hand_over_sockets(
    tx: Sender<u64>,
    handed: Arc<Mutex<HashMap<u64, TcpStream>>>,
    base: u64,
    n: u64,
) -> thread::JoinHandle<Vec<TcpStream>> {
    thread::spawn(move || {
        let mut peers = Vec::new();
        for i in 0..n {
            let (ours, peer) = tcp_pair();
            handed.lock().unwrap().insert(base + i, ours);
            tx.send(base + i).expect("hand over a socket");
            (&peer).write_all(b"!").unwrap();
            peers.push(peer);
            thread::sleep(Duration::from_millis(1));
        }
        peers
    })
}

/// While a storm of signals hits the selecting thread, two threads send 2,000 messages
/// each and a third hands over 50 new sockets (through the channel) and writes to them:
/// every message arrives once, every socket's data is reported, `interrupted` is called
/// (except on polling, which retries `EINTR` itself), and the loop ends empty.
fn signal_storm_loses_no_message_and_no_registration<S: TestSelector>() {
    let _lock = shared();
    const PER_SENDER: u64 = 2000;
    const SOCKETS: u64 = 50;
    /// Messages at or above this hand over the socket with that index.
    const SOCKET_BASE: u64 = 1 << 32;
    let handed: Arc<Mutex<HashMap<u64, TcpStream>>> = Arc::default();
    let registered = RefCell::new(HashMap::<Token, TcpStream>::new());
    let got_data = RefCell::new(BTreeSet::new());
    let mut messages = BTreeSet::new();
    let (mut duplicates, mut consumed) = (0, 0);
    let mut h = Recorder::new()
        .on_notify(|el, _, m| {
            if m >= SOCKET_BASE {
                let stream = handed.lock().unwrap().remove(&m).expect("handed socket");
                let token = Token((m - SOCKET_BASE) as usize + 100);
                el.register(&stream, token, Interest::READABLE, Mode::Level)
                    .expect("register a handed socket");
                registered.borrow_mut().insert(token, stream);
            }
        })
        .on_ready(|el, _, (token, _)| {
            let registered = registered.borrow();
            let stream = registered.get(&token).expect("registered");
            let mut buf = [0u8; 8];
            match (&*stream).read(&mut buf) {
                Ok(n) if n > 0 => {
                    el.deregister(stream).unwrap();
                    got_data.borrow_mut().insert(token);
                }
                other => panic!("{token:?}: {other:?}"),
            }
        });
    let mut el: El<S> = EventLoop::new().unwrap();
    let name = el.selector().name();
    let storm = Storm::start(hooks::Interrupter::current().expect("SIGUSR1"));
    let senders: Vec<_> = (0..2)
        .map(|s| send_messages(el.channel(), s * PER_SENDER..(s + 1) * PER_SENDER))
        .collect();
    let registrar = hand_over_sockets(el.channel(), handed.clone(), SOCKET_BASE, SOCKETS);
    let deadline = Instant::now() + LIMIT;
    loop {
        el.run_once(&mut h, Some(Duration::from_millis(50)))
            .unwrap();
        let log_messages = h.log.messages();
        for &m in &log_messages[consumed..] {
            if m < SOCKET_BASE && !messages.insert(m) {
                duplicates += 1;
            }
        }
        consumed = log_messages.len();
        let all_in = messages.len() as u64 == 2 * PER_SENDER;
        let sockets_done = got_data.borrow().len() as u64 == SOCKETS;
        let interrupted = h.log.count(|c| *c == Call::Interrupted) > 0 || name == "polling";
        if all_in && sockets_done && interrupted && storm.sent() >= MIN_SIGNALS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "[{name}] messages {}/{}, sockets {}/{SOCKETS}, interrupted: {interrupted}",
            messages.len(),
            2 * PER_SENDER,
            got_data.borrow().len()
        );
    }
    let signals = storm.stop();
    for s in senders {
        s.join().unwrap();
    }
    let _peers = registrar.join().unwrap();
    assert_eq!(duplicates, 0, "[{name}] messages delivered twice");
    eprintln!(
        "[{name}] {signals} signals, {} interrupted calls",
        h.log.count(|c| *c == Call::Interrupted)
    );
    assert_nothing_registered(&el);
}

/// While a storm of signals hits a thread blocked in `select` on a bare selector,
/// another thread registers 100 sockets that have data: every registration is reported
/// (select returns `Interrupted` with no events in between, or polling retries).
fn signal_storm_loses_no_cross_thread_registration<S: TestSelector>() {
    let _lock = shared();
    const SOCKETS: usize = 100;
    let sel = Arc::new(S::new().unwrap());
    let name = sel.name();
    let storm = Storm::start(hooks::Interrupter::current().expect("SIGUSR1"));
    let sel2 = sel.clone();
    let registrar = thread::spawn(move || {
        let mut pairs = Vec::new();
        for i in 0..SOCKETS {
            let (ours, peer) = tcp_pair();
            (&peer).write_all(b"!").unwrap();
            sel2.register(ours.as_fd(), Token(i), Interest::READABLE, Mode::Oneshot)
                .expect("register from another thread");
            pairs.push((ours, peer));
            if i % 10 == 9 {
                thread::sleep(Duration::from_millis(2));
            }
        }
        pairs
    });
    let mut events = Events::with_capacity(16).unwrap();
    let mut seen = BTreeSet::new();
    let mut interrupted = 0;
    let deadline = Instant::now() + LIMIT;
    while seen.len() < SOCKETS || storm.sent() < MIN_SIGNALS {
        assert!(
            Instant::now() < deadline,
            "[{name}] only {} of {SOCKETS} reported",
            seen.len()
        );
        match sel.select(&mut events, Some(Duration::from_millis(100))) {
            Ok(()) => seen.extend(events.iter().map(|e| e.token().0)),
            Err(e) if e.kind() == ErrorKind::Interrupted => {
                assert!(events.is_empty(), "[{name}] Interrupted with events");
                interrupted += 1;
            }
            Err(e) => panic!("[{name}] select: {e}"),
        }
    }
    let signals = storm.stop();
    let pairs = registrar.join().unwrap();
    for (ours, _) in &pairs {
        sel.deregister(ours.as_fd()).unwrap();
    }
    eprintln!("[{name}] {signals} signals, {interrupted} interrupted selects");
}

/// The SIGPIPE counter the tests above rely on counts: a write to a pipe whose reader is
/// closed raises SIGPIPE whatever the flags (no `MSG_NOSIGNAL` for write(2)). Alone, so
/// no other test sees this signal.
#[test]
fn sigpipe_counter_counts() {
    let _lock = exclusive();
    hooks::watch_sigpipe().expect("watch SIGPIPE");
    let before = hooks::sigpipes();
    let (reader, mut writer) = io::pipe().expect("pipe");
    drop(reader);
    let err = writer
        .write(b"x")
        .expect_err("write to a pipe without reader");
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    assert_eq!(hooks::sigpipes(), before + 1);
}

/// The interrupt hook is safe to misuse: a handle on a thread that has exited refuses
/// with `NotFound` instead of signalling a thread id that may be gone or reused.
#[test]
fn interrupter_of_an_exited_thread_is_not_found() {
    let target = std::thread::spawn(|| hooks::Interrupter::current().expect("SIGUSR1"))
        .join()
        .expect("thread");
    let err = target.interrupt().expect_err("the thread has exited");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // A live one works, and the process survives the signal.
    let me = hooks::Interrupter::current().expect("SIGUSR1");
    me.interrupt().expect("signal this thread");
}

/// Every test above, for the selector `$sel`.
macro_rules! all_tests {
    ($sel:ty, $new:expr) => {
        backend_tests!($sel;
            peer_reset_during_read_is_reported_once,
            peer_reset_during_write_is_reported_once,
            peer_half_close_is_eof_once_and_we_can_still_write,
            both_ends_shut_down_at_once_each_sees_eof_once,
            peer_closes_with_data_we_have_not_read_gives_all_data_then_eof,
            peer_closes_with_our_data_unread_resets_us_once,
            writing_to_a_dead_peer_fails_never_ok_zero_never_sigpipe,
            connect_refused_is_reported_and_run_returns,
            connect_that_never_finishes_is_cancelled_by_a_timer,
            emfile_on_accept_sheds_without_spinning_then_resumes,
            emfile_without_spare_backs_off_then_resumes,
            econnaborted_from_accept_is_skipped,
            fd_closed_in_callback_and_reused_gets_no_old_events,
            dup_of_a_deregistered_fd_brings_no_events,
            registered_fd_closed_while_its_dup_lives_then_deregistered_brings_no_events,
            signal_storm_loses_no_message_and_no_registration,
            signal_storm_loses_no_cross_thread_registration,
        );
    };
}

each_backend!(all_tests);

mod any {
    all_tests!(selectio::AnySelector, selectio::AnySelector::new);
}
