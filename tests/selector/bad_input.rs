//! The bad-input catalogue: every misuse a user can make through the public
//! API — selectors, the `EventLoop` and its builder, timers, the notify channel, sockets
//! and pipes — and what it must give: an error of a precise kind whose message names
//! what was wrong (the backend, the fd, the token, the setting, the path), never a
//! panic, and no harm to what was registered before.
//!
//! Selector and `EventLoop` cases are generic and run on every backend this host has
//! (`epoll::…`, `poll::…`, `polling::…`, `kqueue::…`, `uring::…`, and `AnySelector` over each:
//! `any_epoll::…`); the others run once. Cases that need a bare fd (a closed or negative
//! number borrowed with `BorrowedFd::borrow_raw`, a pipe, a Unix socket) are `#[cfg(unix)]`; the rest compile for
//! Windows too. Where the OS decides the kind, the documented set is accepted.
//!
//! A case that panics, hangs or gives a vague error is a bug in the library: it stays
//! here, failing, until the library is fixed.

use std::io::{self, ErrorKind::*};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

#[allow(unused_imports)]
use selectio::backends;
use selectio::net::{TcpListener, TcpSocket, UdpSocket};
use selectio::selector::Support;
use selectio::{
    AnySelector, Backend, BorrowedSource, DefaultSelector, EventLoop, Events, Interest, Mode,
    NotifyError, Selector, Source, TimerError, Token,
};

use crate::util::bad::*;
#[cfg(unix)]
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

#[cfg(unix)]
use selectio::pipe::PipeReader;

/// A token no case gives to the witness.
const T1: Token = Token(1);
#[cfg(unix)]
const T2: Token = Token(2);

/// Every case that runs on each backend, instantiated in the modules at the end.
macro_rules! bad_input_tests {
    ($sel:ty, $new:expr) => {
        cases! {
            $new;
            // Selector
            reserved_token_register_is_invalid_input,
            reserved_token_reregister_is_invalid_input,
            duplicate_register_is_already_exists,
            reregister_unknown_is_not_found,
            deregister_unknown_is_not_found,
            deregister_twice_is_not_found,
            unsupported_mode_is_unsupported,
            concurrent_select_is_resource_busy,
            select_duration_max_does_not_overflow,
            events_zero_capacity_is_invalid_input,
            events_absurd_capacity_is_an_error,
            largest_valid_token_round_trips,
            // EventLoop
            loop_reserved_token_is_invalid_input,
            loop_duplicate_register_is_already_exists,
            loop_deregister_twice_is_not_found,
            loop_reregister_unregistered_is_not_found,
            loop_unsupported_mode_registers_nothing,
            loop_stale_token_after_deregister_is_silent,
            loop_connect_reserved_token_registers_nothing,
            loop_connect_wrong_family_registers_nothing,
            loop_connect_to_port_zero_is_reported,
            loop_listen_reserved_token_registers_nothing,
        }
        #[cfg(unix)]
        cases! {
            $new;
            negative_fd_is_invalid_input,
            never_opened_fd_is_invalid_input,
            closed_fd_is_invalid_input,
            regular_file_is_refused_or_always_ready,
            deregister_after_close_is_an_answer,
            loop_deregister_after_close_forgets,
            loop_reused_fd_number_gets_the_new_token,
            loop_listen_unbound_unix_registers_nothing,
        }
    };
}

/// One `#[test]` per case name, each calling `super::$name($new)`.
macro_rules! cases {
    ($new:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let _serial = super::serial();
                super::$name($new);
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------
// Selector

/// `reregister` of `fd`, which `sel` does not hold: `NotFound` naming the backend and the
/// fd, and nothing registered under the token it was given.
#[track_caller]
fn assert_reregister_not_found<S: Selector>(sel: &S, fd: BorrowedSource<'_>) {
    let r = sel.reregister(fd, T1, Interest::READABLE, Mode::Level);
    expect_err(r, &[NotFound], &[sel.name(), &number(&fd)]);
    assert_silent(sel, T1);
}

/// The number of a new pipe's reader, closed (with its writer) once `register` ran on it.
/// `serial()` keeps the other cases of this binary from taking the number meanwhile.
#[cfg(unix)]
fn closed_pipe_reader(register: impl FnOnce(&PipeReader)) -> RawFd {
    let (r, _w) = selectio::pipe::pipe().unwrap();
    register(&r);
    r.as_raw_fd()
}

/// `deregister` of a registered fd closed since: `Ok`, or `NotFound`/`InvalidInput`
/// naming `needles` (the set `EventLoop::deregister` documents).
#[cfg(unix)]
#[track_caller]
fn assert_deregister_after_close_answer(result: io::Result<()>, needles: &[&str]) {
    if let Err(e) = result {
        assert!(matches!(e.kind(), NotFound | InvalidInput), "{e}");
        assert_names(&e.to_string(), needles);
    }
}

/// `register` with [`Token::RESERVED`]: `InvalidInput` naming the backend and the token.
fn reserved_token_register_is_invalid_input<S: Selector>(new: fn() -> io::Result<S>) {
    let (sel, _w) = with_witness(new);
    let other = witness();
    for mode in sel.capabilities().modes() {
        let r = sel.register(other.source(), Token::RESERVED, Interest::READABLE, mode);
        expect_err(r, &[InvalidInput], &[sel.name(), "RESERVED"]);
    }
    // Nothing was registered: the fd is still free, the witness still works.
    sel.register(other.source(), T1, Interest::READABLE, Mode::Level)
        .expect("the refused fd is not registered");
    sel.deregister(other.source()).unwrap();
    assert_witness_delivers(&sel);
}

/// `reregister` with [`Token::RESERVED`]: `InvalidInput`; the registration keeps its token.
fn reserved_token_reregister_is_invalid_input<S: Selector>(new: fn() -> io::Result<S>) {
    let (sel, w) = with_witness(new);
    let r = sel.reregister(w.source(), Token::RESERVED, Interest::BOTH, Mode::Level);
    expect_err(r, &[InvalidInput], &[sel.name(), "RESERVED"]);
    assert_witness_delivers(&sel);
}

/// A second `register` of one fd: `AlreadyExists` naming the backend and the fd; the
/// first registration keeps its token.
fn duplicate_register_is_already_exists<S: Selector>(new: fn() -> io::Result<S>) {
    let (sel, w) = with_witness(new);
    let fd = w.source();
    for mode in sel.capabilities().modes() {
        let r = sel.register(fd, T1, Interest::BOTH, mode);
        expect_err(r, &[AlreadyExists], &[sel.name(), &number(&fd)]);
    }
    let mut events = Events::<S>::with_capacity(8).unwrap();
    sel.select(&mut events, Some(Duration::from_secs(5)))
        .unwrap();
    let tokens: Vec<Token> = events.iter().map(|e| e.token()).collect();
    assert_eq!(tokens, [WITNESS], "the first registration's token only");
    sel.deregister(fd).unwrap();
}

/// `reregister` of an fd never registered: `NotFound` naming the backend and the fd.
fn reregister_unknown_is_not_found<S: Selector>(new: fn() -> io::Result<S>) {
    let (sel, _w) = with_witness(new);
    let stranger = witness();
    assert_reregister_not_found(&sel, stranger.source());
    assert_witness_delivers(&sel);
}

/// `deregister` of an fd never registered: `NotFound` naming the backend and the fd.
fn deregister_unknown_is_not_found<S: Selector>(new: fn() -> io::Result<S>) {
    let (sel, _w) = with_witness(new);
    let stranger = witness();
    let fd = stranger.source();
    expect_err(sel.deregister(fd), &[NotFound], &[sel.name(), &number(&fd)]);
    assert_witness_delivers(&sel);
}

/// `deregister` twice: the second is `NotFound`, and a `reregister` after it too.
fn deregister_twice_is_not_found<S: Selector>(new: fn() -> io::Result<S>) {
    let (sel, _w) = with_witness(new);
    let other = witness();
    let fd = other.source();
    sel.register(fd, T1, Interest::READABLE, Mode::Level)
        .unwrap();
    sel.deregister(fd).unwrap();
    expect_err(sel.deregister(fd), &[NotFound], &[sel.name(), &number(&fd)]);
    assert_reregister_not_found(&sel, fd);
    assert_witness_delivers(&sel);
}

/// A mode `capabilities()` calls unsupported (Edge on poll(2)): `Unsupported` naming the
/// backend and the mode, for `register` and `reregister`; every supported mode works.
fn unsupported_mode_is_unsupported<S: Selector>(new: fn() -> io::Result<S>) {
    let (sel, w) = with_witness(new);
    let caps = sel.capabilities();
    let other = witness();
    let fd = other.source();
    for mode in Mode::ALL {
        if caps.support(mode) != Support::Unsupported {
            sel.register(fd, T1, Interest::READABLE, mode)
                .unwrap_or_else(|e| panic!("{mode:?} is supported by its capabilities: {e}"));
            sel.deregister(fd).unwrap();
            continue;
        }
        let name = format!("{mode:?}");
        let r = sel.register(fd, T1, Interest::READABLE, mode);
        expect_err(r, &[Unsupported], &[sel.name(), &name]);
        let r = sel.reregister(w.source(), T1, Interest::READABLE, mode);
        expect_err(r, &[Unsupported], &[sel.name(), &name]);
    }
    assert_silent(&sel, T1);
    assert_witness_delivers(&sel);
}

/// A second thread's `select` while one is selecting: `ResourceBusy` naming the backend;
/// the first select goes on and the witness still delivers.
fn concurrent_select_is_resource_busy<S: Selector>(new: fn() -> io::Result<S>) {
    let sel = open(new);
    let w = witness();
    std::thread::scope(|s| {
        let blocked = s.spawn(|| {
            let mut events = Events::<S>::with_capacity(8).unwrap();
            loop {
                // The other thread's probe may hold the selector for an instant.
                match sel.select(&mut events, None) {
                    Err(e) if e.kind() == ResourceBusy => std::thread::yield_now(),
                    result => return result,
                }
            }
        });
        let mut events = Events::<S>::with_capacity(8).unwrap();
        let end = std::time::Instant::now() + PATIENCE;
        let err = loop {
            // Until the other thread is inside its select, ours may get in first.
            match sel.select(&mut events, Some(Duration::ZERO)) {
                Err(e) => break e,
                Ok(()) if std::time::Instant::now() < end => std::thread::yield_now(),
                Ok(()) => panic!("a concurrent select never got ResourceBusy"),
            }
        };
        assert_eq!(err.kind(), ResourceBusy, "{err}");
        assert_names(&err.to_string(), &[sel.name()]);
        sel.wake().unwrap();
        blocked.join().unwrap().expect("the first select");
    });
    sel.register(w.source(), WITNESS, Interest::READABLE, Mode::Level)
        .unwrap();
    assert_witness_delivers(&sel);
}

/// `select(Some(Duration::MAX))` clamps: it returns for a ready fd and for a wake.
fn select_duration_max_does_not_overflow<S: Selector>(new: fn() -> io::Result<S>) {
    let (sel, w) = with_witness(new);
    let mut events = Events::<S>::with_capacity(8).unwrap();
    no_panic("select(Some(Duration::MAX))", || {
        sel.select(&mut events, Some(Duration::MAX))
    })
    .expect("select with Duration::MAX");
    assert!(events.iter().any(|e| e.token() == WITNESS));
    sel.deregister(w.source()).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(20));
            sel.wake().unwrap();
        });
        sel.select(&mut events, Some(Duration::MAX))
            .expect("a wake ends a Duration::MAX select");
    });
}

/// `Events::with_capacity(0)`: `InvalidInput` naming the capacity.
fn events_zero_capacity_is_invalid_input<S: Selector>(_new: fn() -> io::Result<S>) {
    expect_err(
        Events::<S>::with_capacity(0),
        &[InvalidInput],
        &["capacity"],
    );
}

/// `Events::with_capacity(usize::MAX)`: an error naming the capacity (the allocation
/// cannot be made), not a "capacity overflow" panic.
fn events_absurd_capacity_is_an_error<S: Selector>(_new: fn() -> io::Result<S>) {
    let r = no_panic("Events::with_capacity(usize::MAX)", || {
        Events::<S>::with_capacity(usize::MAX)
    });
    expect_err(r, &[InvalidInput, OutOfMemory], &["capacity"]);
}

/// `Token(usize::MAX - 1)`, the largest token a user may take, comes back intact.
fn largest_valid_token_round_trips<S: Selector>(new: fn() -> io::Result<S>) {
    let sel = open(new);
    let w = witness();
    let big = Token(usize::MAX - 1);
    for mode in sel.capabilities().modes() {
        sel.register(w.source(), big, Interest::READABLE, mode)
            .unwrap();
        assert!(next_event_for(&sel, big).is_readable());
        sel.deregister(w.source()).unwrap();
    }
}

/// A negative fd: `InvalidInput` naming the backend and the fd, for `register`,
/// `reregister` and `deregister`. Not `-1`: that is no `BorrowedFd` at all (the type's
/// niche; `borrow_raw(-1)` panics), so the type rules that case out.
#[cfg(unix)]
fn negative_fd_is_invalid_input<S: Selector>(new: fn() -> io::Result<S>) {
    let (sel, _w) = with_witness(new);
    for n in [-2, -42, i32::MIN] {
        let name = n.to_string();
        #[allow(unsafe_code)]
        // SAFETY: no file has a negative number: the selector must answer it as a number.
        let fd = unsafe { BorrowedFd::borrow_raw(n) };
        for mode in sel.capabilities().modes() {
            let r = sel.register(fd, T1, Interest::READABLE, mode);
            expect_err(r, &[InvalidInput, NotFound], &[sel.name(), &name]);
        }
        let r = sel.reregister(fd, T1, Interest::READABLE, Mode::Level);
        expect_err(r, &[InvalidInput, NotFound], &[sel.name(), &name]);
        expect_err(
            sel.deregister(fd),
            &[InvalidInput, NotFound],
            &[sel.name(), &name],
        );
    }
    assert_witness_delivers(&sel);
}

/// An fd number beyond any fd table (`i32::MAX`): `InvalidInput` naming the fd.
#[cfg(unix)]
fn never_opened_fd_is_invalid_input<S: Selector>(new: fn() -> io::Result<S>) {
    let (sel, _w) = with_witness(new);
    for n in [i32::MAX, 1 << 30] {
        #[allow(unsafe_code)]
        // SAFETY: no fd table is this large, so no file has the number: the selector must
        // answer it as a number.
        let fd = unsafe { BorrowedFd::borrow_raw(n) };
        let r = sel.register(fd, T1, Interest::READABLE, Mode::Level);
        expect_err(r, &[InvalidInput], &[sel.name(), &number(&fd)]);
    }
    assert_witness_delivers(&sel);
}

/// An fd that was open and is closed now: `InvalidInput` naming the fd.
#[cfg(unix)]
fn closed_fd_is_invalid_input<S: Selector>(new: fn() -> io::Result<S>) {
    let (sel, _w) = with_witness(new);
    let n = closed_pipe_reader(|_| {});
    #[allow(unsafe_code)]
    // SAFETY: `n` is closed on purpose (`serial()` keeps it unused): the selector must
    // answer it as a number.
    let fd = unsafe { BorrowedFd::borrow_raw(n) };
    // `serial()` keeps the other cases of this binary from reusing the number meanwhile.
    for mode in sel.capabilities().modes() {
        let r = sel.register(fd, T1, Interest::READABLE, mode);
        expect_err(r, &[InvalidInput], &[sel.name(), &number(&fd)]);
    }
    assert_witness_delivers(&sel);
}

/// A regular file: refused with `InvalidInput` naming the backend and the fd (epoll), or
/// accepted and always ready (the others) — the documented pair.
#[cfg(unix)]
fn regular_file_is_refused_or_always_ready<S: Selector>(new: fn() -> io::Result<S>) {
    let (sel, _w) = with_witness(new);
    let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
    let fd = file.source();
    match sel.register(fd, T1, Interest::READABLE, Mode::Level) {
        Err(e) => {
            assert_eq!(e.kind(), InvalidInput, "{e}");
            assert_names(&e.to_string(), &[sel.name(), &number(&fd)]);
        }
        Ok(()) => {
            assert!(next_event_for(&sel, T1).is_readable());
            sel.deregister(fd).unwrap();
        }
    }
    assert_witness_delivers(&sel);
}

/// `deregister` of a registered fd closed since: `Ok`, or `NotFound`/`InvalidInput`
/// naming the fd (the set `EventLoop::deregister` documents); the witness is unharmed.
#[cfg(unix)]
fn deregister_after_close_is_an_answer<S: Selector>(new: fn() -> io::Result<S>) {
    let (sel, _w) = with_witness(new);
    let n = closed_pipe_reader(|r| {
        sel.register(r.source(), T1, Interest::READABLE, Mode::Level)
            .unwrap();
    });
    #[allow(unsafe_code)]
    // SAFETY: `n` was registered and is closed on purpose: the selector must answer it as
    // a number.
    let fd = unsafe { BorrowedFd::borrow_raw(n) };
    assert_deregister_after_close_answer(sel.deregister(fd), &[sel.name(), &number(&fd)]);
    assert_witness_delivers(&sel);
}

// ---------------------------------------------------------------------------------------
// EventLoop

/// `EventLoop::register` with the reserved token: `InvalidInput`; nothing registered.
fn loop_reserved_token_is_invalid_input<S: Selector>(new: fn() -> io::Result<S>) {
    let (mut el, w) = loop_with_witness(new);
    let mut h = Rec::new();
    let other = witness();
    let r = el.register(&other, Token::RESERVED, Interest::READABLE, Mode::Level);
    expect_err(r, &[InvalidInput], &[el.selector().name(), "RESERVED"]);
    let r = el.reregister(&w, Token::RESERVED, Interest::READABLE, Mode::Level);
    expect_err(r, &[InvalidInput], &[el.selector().name(), "RESERVED"]);
    assert_eq!(el.registered(), 1);
    assert_loop_witness(&mut el, &mut h);
    el.deregister(&w).unwrap();
}

/// `EventLoop::register` twice: `AlreadyExists` naming the fd; the first token stays.
fn loop_duplicate_register_is_already_exists<S: Selector>(new: fn() -> io::Result<S>) {
    let (mut el, w) = loop_with_witness(new);
    let mut h = Rec::new();
    let fd = number(&w);
    let r = el.register(&w, T1, Interest::BOTH, Mode::Level);
    expect_err(r, &[AlreadyExists], &[el.selector().name(), &fd]);
    assert_eq!(el.registered(), 1);
    assert_loop_witness(&mut el, &mut h);
    assert!(!h.saw(T1), "the refused token got events: {:?}", h.ready);
    el.deregister(&w).unwrap();
}

/// `EventLoop::deregister` twice: the second is `NotFound` naming the fd.
fn loop_deregister_twice_is_not_found<S: Selector>(new: fn() -> io::Result<S>) {
    let (mut el, w) = loop_with_witness(new);
    el.deregister(&w).unwrap();
    let fd = number(&w);
    expect_err(el.deregister(&w), &[NotFound], &[el.selector().name(), &fd]);
    assert_eq!(el.registered(), 0);
}

/// `EventLoop::reregister` of a source never registered: `NotFound`; nothing registered.
fn loop_reregister_unregistered_is_not_found<S: Selector>(new: fn() -> io::Result<S>) {
    let mut el = event_loop(new);
    let w = witness();
    let fd = number(&w);
    let r = el.reregister(&w, T1, Interest::READABLE, Mode::Level);
    expect_err(r, &[NotFound], &[el.selector().name(), &fd]);
    assert_eq!(el.registered(), 0);
}

/// An unsupported mode through `register`, `connect_with` and `listen_with`:
/// `Unsupported` naming the backend and the mode; nothing registered.
fn loop_unsupported_mode_registers_nothing<S: Selector>(new: fn() -> io::Result<S>) {
    let mut el = event_loop(new);
    let caps = el.selector().capabilities();
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
    let addr = listener.local_addr().unwrap();
    for mode in Mode::ALL.into_iter().filter(|m| !caps.supports(*m)) {
        let name = el.selector().name();
        let mode_name = format!("{mode:?}");
        let w = witness();
        let r = el.register(&w, T1, Interest::READABLE, mode);
        expect_err(r, &[Unsupported], &[name, &mode_name]);
        let sock = TcpSocket::v4().unwrap();
        let r = el.connect_with(sock, &addr, T1, Interest::READABLE, mode);
        expect_err(r, &[Unsupported], &[name, &mode_name]);
        let sock = TcpSocket::v4().unwrap();
        sock.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .unwrap();
        let r = el.listen_with(sock, 16, T1, mode);
        expect_err(r, &[Unsupported], &[name, &mode_name]);
    }
    assert_eq!(el.registered(), 0);
}

/// After `deregister`, a ready source's token is never reported, and a `reregister`
/// under the stale token is `NotFound`.
fn loop_stale_token_after_deregister_is_silent<S: Selector>(new: fn() -> io::Result<S>) {
    let (mut el, w) = loop_with_witness(new);
    let mut h = Rec::new();
    let stale = witness();
    el.register(&stale, T1, Interest::READABLE, Mode::Level)
        .unwrap();
    el.deregister(&stale).unwrap();
    assert_loop_witness(&mut el, &mut h);
    el.run_once(&mut h, Some(Duration::ZERO)).unwrap();
    assert!(
        !h.saw(T1),
        "a deregistered token was reported: {:?}",
        h.ready
    );
    let r = el.reregister(&stale, T1, Interest::READABLE, Mode::Level);
    expect_err(r, &[NotFound], &[el.selector().name()]);
    el.deregister(&w).unwrap();
    assert_eq!(el.registered(), 0);
}

/// `connect` with the reserved token: `InvalidInput` at once, nothing registered.
fn loop_connect_reserved_token_registers_nothing<S: Selector>(new: fn() -> io::Result<S>) {
    let mut el = event_loop(new);
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
    let addr = listener.local_addr().unwrap();
    let r = el.connect(TcpSocket::v4().unwrap(), &addr, Token::RESERVED);
    expect_err(r, &[InvalidInput], &[el.selector().name(), "RESERVED"]);
    assert_eq!(el.registered(), 0);
}

/// `connect` of an IPv4 socket to an IPv6 address: `InvalidInput` naming the family and
/// the address; nothing registered.
fn loop_connect_wrong_family_registers_nothing<S: Selector>(new: fn() -> io::Result<S>) {
    let mut el = event_loop(new);
    let addr = SocketAddr::from((Ipv6Addr::LOCALHOST, 9));
    let r = el.connect(TcpSocket::v4().unwrap(), &addr, T1);
    expect_err(r, &[InvalidInput], &["family", &addr.to_string()]);
    assert_eq!(el.registered(), 0);
}

/// `connect` to port 0 (of loopback and of the unspecified address): either refused at
/// once as the caller's error, or the handler hears of it (writable or error) and
/// `take_error` names the failure — never a hang, never silence.
fn loop_connect_to_port_zero_is_reported<S: Selector>(new: fn() -> io::Result<S>) {
    let mut el = event_loop(new);
    let mut h = Rec::new();
    for ip in [Ipv4Addr::LOCALHOST, Ipv4Addr::UNSPECIFIED] {
        let addr = SocketAddr::from((ip, 0));
        let stream = match el.connect(TcpSocket::v4().unwrap(), &addr, T1) {
            Err(e) => {
                let kinds = [AddrNotAvailable, ConnectionRefused, InvalidInput];
                assert!(kinds.contains(&e.kind()), "{addr}: {e:?}");
                continue;
            }
            Ok(stream) => stream,
        };
        h.ready.clear();
        run_until(&mut el, &mut h, "the connect outcome", |h| h.saw(T1));
        let outcome = stream.take_error().unwrap();
        let failed = outcome.is_some() || stream.peer_addr().is_err();
        assert!(failed, "{addr}: connected to port 0? {outcome:?}");
        el.deregister(&stream).unwrap();
    }
    assert_eq!(el.registered(), 0);
}

/// `listen` with the reserved token: `InvalidInput`; nothing registered.
fn loop_listen_reserved_token_registers_nothing<S: Selector>(new: fn() -> io::Result<S>) {
    let mut el = event_loop(new);
    let sock = TcpSocket::v4().unwrap();
    sock.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .unwrap();
    let r = el.listen(sock, 16, Token::RESERVED);
    expect_err(r, &[InvalidInput], &[el.selector().name(), "RESERVED"]);
    assert_eq!(el.registered(), 0);
}

/// `listen` on an unbound Unix socket: `InvalidInput` naming the fd and the fix.
#[cfg(unix)]
fn loop_listen_unbound_unix_registers_nothing<S: Selector>(new: fn() -> io::Result<S>) {
    let mut el = event_loop(new);
    let sock = selectio::net::UnixSocket::new().unwrap();
    let fd = number(&sock);
    let r = el.listen(sock, 16, T1);
    expect_err(r, &[InvalidInput], &[&fd, "bind"]);
    assert_eq!(el.registered(), 0);
}

/// `EventLoop::deregister` of a source closed while registered: an answer from the
/// documented set, and the loop forgets it either way.
#[cfg(unix)]
fn loop_deregister_after_close_forgets<S: Selector>(new: fn() -> io::Result<S>) {
    let (mut el, w) = loop_with_witness(new);
    let mut h = Rec::new();
    let fd = closed_pipe_reader(|r| {
        el.register(r, T1, Interest::READABLE, Mode::Level).unwrap();
    });
    #[allow(unsafe_code)]
    // SAFETY: `fd` was registered and is closed on purpose: the loop and its selector must
    // answer it as a number.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    assert_deregister_after_close_answer(el.deregister(&fd), &[&number(&fd)]);
    assert_eq!(el.registered(), 1, "only the witness is left");
    assert_loop_witness(&mut el, &mut h);
    el.deregister(&w).unwrap();
}

/// A pipe closed while registered, and a new one that takes its number: registering the
/// new one works, and its events come under the new token only.
#[cfg(unix)]
fn loop_reused_fd_number_gets_the_new_token<S: Selector>(new: fn() -> io::Result<S>) {
    use std::io::Write;
    let mut el = event_loop(new);
    let mut h = Rec::new();
    let old = closed_pipe_reader(|r| {
        el.register(r, T1, Interest::READABLE, Mode::Level).unwrap();
    });
    let (r, mut wr) = selectio::pipe::pipe().unwrap();
    // `serial()` makes the reuse likely; the case holds whether or not it happens.
    let reused = r.as_raw_fd() == old;
    el.register(&r, T2, Interest::READABLE, Mode::Level)
        .unwrap_or_else(|e| panic!("register a new fd (number reused: {reused}): {e}"));
    wr.write_all(b"x").unwrap();
    run_until(&mut el, &mut h, "the new pipe's event", |h| h.saw(T2));
    el.run_once(&mut h, Some(Duration::ZERO)).unwrap();
    let old_token: Vec<_> = h.ready.iter().filter(|(t, _)| *t == T1).collect();
    // The old registration may report its close once (error/closed), never readiness
    // of the new pipe.
    assert!(old_token.len() <= 1, "reused {reused}: {old_token:?}");
    el.deregister(&r).unwrap();
    #[allow(unsafe_code)]
    // SAFETY: `old` is closed on purpose (or `r`'s number, deregistered already): the loop
    // and its selector must answer it as a number.
    let old = unsafe { BorrowedFd::borrow_raw(old) };
    let _ = el.deregister(&old);
}

// ---------------------------------------------------------------------------------------
// Per backend

each_backend!(bad_input_tests, any);

// ---------------------------------------------------------------------------------------
// Builder

type DefaultLoop = EventLoop<Rec<DefaultSelector>, DefaultSelector>;
type DefaultBuilder = selectio::Builder<Rec<DefaultSelector>, DefaultSelector>;

/// Builds with `build()` and with `build_with()`; both must fail the same way.
#[track_caller]
fn expect_build_err(setup: fn(DefaultBuilder) -> DefaultBuilder, needles: &[&str]) {
    let what = format!("{:?}", setup(DefaultLoop::builder()));
    let r = no_panic(&what, || setup(DefaultLoop::builder()).build());
    expect_err(r, &[InvalidInput, OutOfMemory], needles);
    let sel = DefaultSelector::new().unwrap();
    let r = no_panic(&what, || setup(DefaultLoop::builder()).build_with(sel));
    expect_err(r, &[InvalidInput, OutOfMemory], needles);
}

/// One `#[test]` per builder setting that must not build: `name: setup => needles;`
/// runs `expect_build_err(setup, needles)`.
macro_rules! build_err_tests {
    ($($(#[$doc:meta])* $name:ident: $setup:expr => $needles:expr;)*) => {
        $(
            $(#[$doc])*
            #[test]
            fn $name() {
                let _serial = serial();
                expect_build_err($setup, $needles);
            }
        )*
    };
}

build_err_tests! {
    builder_zero_events_capacity_is_invalid_input:
        |b| b.events_capacity(0) => &["events capacity"];
    builder_zero_notify_capacity_is_invalid_input:
        |b| b.notify_capacity(0) => &["notify capacity"];
    builder_zero_messages_per_tick_is_invalid_input:
        |b| b.messages_per_tick(0) => &["messages per tick"];
    builder_zero_timer_tick_is_invalid_input:
        |b| b.timer_tick(Duration::ZERO) => &["timer tick"];
    builder_zero_timer_wheel_slots_is_invalid_input:
        |b| b.timer_wheel_slots(0) => &["timer wheel slots"];
    builder_zero_timer_capacity_is_invalid_input:
        |b| b.timer_capacity(0) => &["timer capacity"];
    /// `events_capacity(usize::MAX)`: an error naming the capacity (the buffer cannot be
    /// allocated), not a "capacity overflow" panic.
    builder_absurd_events_capacity_is_an_error:
        |b| b.events_capacity(usize::MAX) => &["capacity", &usize::MAX.to_string()];
}

#[test]
fn builder_absurd_timer_settings_are_invalid_input() {
    let _serial = serial();
    expect_build_err(|b| b.timer_wheel_slots(usize::MAX), &["timer wheel slots"]);
    expect_build_err(|b| b.timer_capacity(usize::MAX), &["timer capacity"]);
}

/// `notify_capacity(usize::MAX)`, "practically unbounded": either an error naming the
/// setting, or a loop whose channel works — not a "capacity overflow" panic.
#[test]
fn builder_absurd_notify_capacity_does_not_panic() {
    let _serial = serial();
    let build = || DefaultLoop::builder().notify_capacity(usize::MAX).build();
    match no_panic("notify_capacity(usize::MAX)", build) {
        Err(e) => {
            assert!(matches!(e.kind(), InvalidInput | OutOfMemory), "{e}");
            assert_names(&e.to_string(), &["notify capacity"]);
        }
        Ok(mut el) => {
            let mut h = Rec::new();
            el.channel().send(1).unwrap();
            run_until(&mut el, &mut h, "the message", |h| h.messages == [1]);
        }
    }
}

/// The largest wheel the builder accepts (2^31 - 1 slots, rounded up to 2^31: two levels
/// of 2^31 slot lists, ~100 GB) must be refused or built lazily, not abort the process
/// on a failed allocation. Run in a child process, since an abort is not a panic.
#[test]
fn builder_largest_accepted_wheel_does_not_abort() {
    let _serial = serial();
    const NAME: &str = concat!(
        "bad_input::",
        "builder_largest_accepted_wheel_does_not_abort"
    );
    if is_child(NAME) {
        let slots = (u32::MAX / 2) as usize;
        let r = DefaultLoop::builder().timer_wheel_slots(slots).build();
        if let Err(e) = r {
            assert!(matches!(e.kind(), InvalidInput | OutOfMemory), "{e}");
            assert_names(&e.to_string(), &["timer wheel slots"]);
        }
        return;
    }
    // Only where such an allocation is refused at once (Linux, vm.overcommit_memory 0 or
    // 2): elsewhere the wheel could really be allocated and written, ~100 GB.
    let refused = std::fs::read_to_string("/proc/sys/vm/overcommit_memory")
        .is_ok_and(|mode| mode.trim() != "1");
    if !refused {
        eprintln!("skipped: this system could overcommit the ~100 GB wheel");
        return;
    }
    assert_child_passed(NAME, &in_child(NAME, &[]));
}

// ---------------------------------------------------------------------------------------
// Timers

/// A timer cancelled twice: `true`, then `false`; it never fires.
#[test]
fn timer_cancel_twice_is_false_the_second_time() {
    let _serial = serial();
    let mut el: DefaultLoop = EventLoop::new().unwrap();
    let mut h = Rec::new();
    let t = el.timeout(1, Duration::from_millis(1)).unwrap();
    assert!(el.clear_timeout(&t));
    assert!(
        !el.clear_timeout(&t),
        "a second cancel must say it was not pending"
    );
    el.run_once(&mut h, Some(Duration::from_millis(10)))
        .unwrap();
    assert!(h.timeouts.is_empty(), "{:?}", h.timeouts);
}

/// A timer cancelled after it fired: `false`.
#[test]
fn timer_cancel_after_firing_is_false() {
    let _serial = serial();
    let mut el: DefaultLoop = EventLoop::new().unwrap();
    let mut h = Rec::new();
    let t = el.timeout(1, Duration::ZERO).unwrap();
    run_until(&mut el, &mut h, "the timer", |h| !h.timeouts.is_empty());
    assert!(!el.clear_timeout(&t));
}

/// A stale handle whose slot a newer timer reuses: cancelling it is `false` and leaves
/// the newer timer pending.
#[test]
fn timer_stale_handle_does_not_cancel_a_newer_timer() {
    let _serial = serial();
    let mut el: DefaultLoop = EventLoop::new().unwrap();
    let mut h = Rec::new();
    let old = el.timeout(1, Duration::from_secs(60)).unwrap();
    assert!(el.clear_timeout(&old));
    let newer = el.timeout(2, Duration::from_millis(1)).unwrap();
    assert!(
        !el.clear_timeout(&old),
        "a stale handle cancelled something"
    );
    run_until(&mut el, &mut h, "the newer timer", |h| h.timeouts == [2]);
    assert!(!el.clear_timeout(&newer));
}

/// A handle from another loop: cancelling it on this loop cancels nothing (`false`),
/// and this loop's own timer (which may sit in the same slot) still fires.
#[test]
fn timer_handle_from_another_loop_cancels_nothing() {
    let _serial = serial();
    let mut a: DefaultLoop = EventLoop::new().unwrap();
    let mut b: DefaultLoop = EventLoop::new().unwrap();
    let mut h = Rec::new();
    let foreign = a.timeout(1, Duration::from_secs(60)).unwrap();
    let own = b.timeout(2, Duration::from_millis(1)).unwrap();
    assert!(
        !b.clear_timeout(&foreign),
        "cancelled with another loop's handle"
    );
    run_until(&mut b, &mut h, "this loop's timer", |h| h.timeouts == [2]);
    assert!(!b.clear_timeout(&own));
    assert!(
        a.clear_timeout(&foreign),
        "the other loop's timer is untouched"
    );
}

/// More timers than `timer_capacity`: `TimerError::Overflow`, saying the store is full;
/// the pending timer still fires.
#[test]
fn timer_overflow_is_an_error_and_keeps_the_others() {
    let _serial = serial();
    let mut el: DefaultLoop = EventLoop::builder().timer_capacity(1).build().unwrap();
    let mut h = Rec::new();
    el.timeout(1, Duration::from_millis(1)).unwrap();
    let err = el.timeout(2, Duration::from_millis(1)).unwrap_err();
    assert_eq!(err, TimerError::Overflow);
    assert_names(&err.to_string(), &["timer", "full"]);
    run_until(&mut el, &mut h, "the first timer", |h| h.timeouts == [1]);
    el.timeout(3, Duration::ZERO)
        .expect("room again once it fired");
}

/// Absurd durations — `Duration::MAX` timers, on the finest and the coarsest tick the
/// builder takes (ticks beyond those are refused: tests/timers.rs) — neither panic,
/// overflow, fire, nor make the loop spin or block past its timeout; the timer stays
/// cancellable.
#[test]
fn timer_absurd_durations_do_not_overflow() {
    let _serial = serial();
    for tick in [Duration::from_millis(1), Duration::from_secs(3600)] {
        let mut el: DefaultLoop = EventLoop::builder().timer_tick(tick).build().unwrap();
        let mut h = Rec::new();
        let t = no_panic("timeout(Duration::MAX)", || el.timeout(1, Duration::MAX))
            .expect("a Duration::MAX timer is accepted");
        let start = std::time::Instant::now();
        no_panic("run_once with a Duration::MAX timer", || {
            el.run_once(&mut h, Some(Duration::from_millis(20)))
        })
        .unwrap();
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(20),
            "tick {tick:?}: returned early: {took:?}"
        );
        assert!(took < PATIENCE, "tick {tick:?}: blocked {took:?}");
        assert!(
            h.timeouts.is_empty(),
            "tick {tick:?}: fired {:?}",
            h.timeouts
        );
        assert!(el.clear_timeout(&t), "tick {tick:?}");
    }
}

/// `run_once(Some(Duration::MAX))` clamps: a ready source ends it.
#[test]
fn run_once_duration_max_does_not_overflow() {
    let _serial = serial();
    let mut el: DefaultLoop = EventLoop::new().unwrap();
    let mut h = Rec::new();
    let w = witness();
    el.register(&w, WITNESS, Interest::READABLE, Mode::Level)
        .unwrap();
    no_panic("run_once(Some(Duration::MAX))", || {
        el.run_once(&mut h, Some(Duration::MAX))
    })
    .unwrap();
    assert!(h.saw(WITNESS));
    el.deregister(&w).unwrap();
}

/// `run_once` from inside a callback: `ResourceBusy` saying the loop is running.
#[test]
fn run_inside_a_callback_is_resource_busy() {
    let _serial = serial();
    let mut el: DefaultLoop = EventLoop::new().unwrap();
    let mut h = Rec::new();
    h.hook = Some(|el, h| el.run_once(h, Some(Duration::ZERO)));
    el.timeout(1, Duration::ZERO).unwrap();
    run_until(&mut el, &mut h, "the timer", |h| h.hook_result.is_some());
    let r = h.hook_result.take().unwrap();
    expect_err(r, &[ResourceBusy], &["already running"]);
    h.hook = Some(|el, h| el.run(h));
    el.timeout(2, Duration::ZERO).unwrap();
    run_until(&mut el, &mut h, "the timer", |h| h.hook_result.is_some());
    let r = h.hook_result.take().unwrap();
    expect_err(r, &[ResourceBusy], &["already running"]);
}

// ---------------------------------------------------------------------------------------
// Notify channel

/// A send after the loop is dropped: `NotifyError::Closed` with the message back,
/// saying the loop is gone — from this thread and from another.
#[test]
fn notify_send_after_the_loop_is_dropped_is_closed() {
    let _serial = serial();
    let el: DefaultLoop = EventLoop::new().unwrap();
    let tx = el.channel();
    let tx2 = tx.clone();
    drop(el);
    let err = tx.send(5).unwrap_err();
    assert!(matches!(err, NotifyError::Closed(5)), "{err:?}");
    assert_names(&err.to_string(), &["event loop", "gone"]);
    assert_eq!(err.into_inner(), 5);
    let err = std::thread::spawn(move || tx2.send(6).unwrap_err())
        .join()
        .unwrap();
    assert!(matches!(err, NotifyError::Closed(6)), "{err:?}");
}

/// A send to a full queue: `NotifyError::Full` with the message back; the queued
/// message is still delivered and sending works again afterwards.
#[test]
fn notify_send_to_a_full_queue_is_full() {
    let _serial = serial();
    let mut el: DefaultLoop = EventLoop::builder().notify_capacity(1).build().unwrap();
    let mut h = Rec::new();
    let tx = el.channel();
    tx.send(1).unwrap();
    let err = tx.send(2).unwrap_err();
    assert!(matches!(err, NotifyError::Full(2)), "{err:?}");
    assert_names(&err.to_string(), &["notify", "full"]);
    run_until(&mut el, &mut h, "the queued message", |h| h.messages == [1]);
    tx.send(3).expect("room again once drained");
    run_until(&mut el, &mut h, "the next message", |h| {
        h.messages == [1, 3]
    });
}

// ---------------------------------------------------------------------------------------
// TCP and UDP sockets

/// The words of the OS's message that a passed-through error must contain, on Unix;
/// Windows messages are localised, so there only the kind is checked ("" matches all).
const fn os_words(unix: &'static str) -> &'static str {
    if cfg!(windows) {
        ""
    } else {
        unix
    }
}

/// `AddrInUse` as the OS words it ("Address already in use").
const IN_USE: &str = os_words("in use");

fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// Binding an address a listener holds: `AddrInUse` — for `TcpSocket::bind` (the step
/// before `EventLoop::listen`) and `TcpListener::bind`.
#[test]
fn tcp_bind_to_a_used_address_is_addr_in_use() {
    let _serial = serial();
    let first = TcpListener::bind(loopback()).unwrap();
    let addr = first.local_addr().unwrap();
    let sock = TcpSocket::v4().unwrap();
    // Even with SO_REUSEADDR, as `TcpListener::bind` sets it. (Not on Windows, where it
    // would let the bind steal the port.)
    #[cfg(unix)]
    sock.set_reuseaddr(true).unwrap();
    expect_err(sock.bind(addr), &[AddrInUse], &[IN_USE]);
    expect_err(TcpListener::bind(addr), &[AddrInUse], &[IN_USE]);
    assert!(first.accept().is_err_and(|e| e.kind() == WouldBlock));
}

/// Binding an IPv4 socket to an IPv6 address (and back): `InvalidInput` naming the fd,
/// the address and the family.
#[test]
fn tcp_bind_wrong_family_is_invalid_input() {
    let _serial = serial();
    let v4 = TcpSocket::v4().unwrap();
    let addr6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 0));
    let fd = number(&v4);
    expect_err(
        v4.bind(addr6),
        &[InvalidInput],
        &[&fd, &addr6.to_string(), "family"],
    );
    if let Ok(v6) = TcpSocket::v6() {
        let fd = number(&v6);
        let r = v6.bind(loopback());
        expect_err(r, &[InvalidInput], &[&fd, "127.0.0.1", "family"]);
    }
}

/// Binding a bound socket again: `InvalidInput` saying it is already bound (the OS
/// says only "Invalid argument").
#[test]
fn tcp_bind_twice_is_invalid_input() {
    let _serial = serial();
    let sock = TcpSocket::v4().unwrap();
    sock.bind(loopback()).unwrap();
    let fd = number(&sock);
    expect_err(
        sock.bind(loopback()),
        &[InvalidInput],
        &[&fd, "already bound"],
    );
}

/// A TTL outside 1..=255: `InvalidInput` naming the TTL and the value (the OS says only
/// "Invalid argument").
#[test]
fn tcp_ttl_out_of_range_is_invalid_input() {
    let _serial = serial();
    let sock = TcpSocket::v4().unwrap();
    for ttl in [0, 256, u32::MAX] {
        let r = sock.set_ttl(ttl);
        expect_err(r, &[InvalidInput], &["ttl", &ttl.to_string()]);
    }
    let listener = TcpListener::bind(loopback()).unwrap();
    expect_err(listener.set_ttl(0), &[InvalidInput], &["ttl", "0"]);
    assert_eq!(
        sock.ttl().unwrap(),
        sock.ttl().unwrap(),
        "unchanged and readable"
    );
}

/// A `Duration::MAX` linger: accepted (clamped) or `InvalidInput`, never a panic.
#[test]
fn tcp_absurd_linger_does_not_panic() {
    let _serial = serial();
    let sock = TcpSocket::v4().unwrap();
    let r = no_panic("set_linger(Some(Duration::MAX))", || {
        sock.set_linger(Some(Duration::MAX))
    });
    if let Err(e) = r {
        assert_eq!(e.kind(), InvalidInput, "{e}");
    }
    no_panic("linger()", || sock.linger()).unwrap();
}

/// Joining a "multicast group" that is a unicast address: `InvalidInput` naming the
/// address and saying it is not multicast (the OS says only "Invalid argument").
#[test]
fn udp_join_non_multicast_group_is_invalid_input() {
    let _serial = serial();
    let sock = UdpSocket::bind(loopback()).unwrap();
    let group = Ipv4Addr::new(10, 1, 2, 3);
    let r = sock.join_multicast_v4(group, Ipv4Addr::UNSPECIFIED);
    expect_err(r, &[InvalidInput], &["multicast", "10.1.2.3"]);
    if let Ok(v6) = UdpSocket::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, 0))) {
        let r = v6.join_multicast_v6(&Ipv6Addr::LOCALHOST, 0);
        expect_err(r, &[InvalidInput], &["multicast", "::1"]);
    }
}

/// A stream whose connect failed: `peer_addr` is `NotConnected` (documented), and
/// options and I/O on it give errors or values, never a panic.
#[test]
fn tcp_stream_after_a_failed_connect_is_not_connected() {
    let _serial = serial();
    let mut el: DefaultLoop = EventLoop::new().unwrap();
    let mut h = Rec::new();
    let closed = TcpListener::bind(loopback()).unwrap().local_addr().unwrap();
    let Ok(stream) = el.connect(TcpSocket::v4().unwrap(), &closed, T1) else {
        return; // refused as the caller's error: nothing to misuse
    };
    run_until(&mut el, &mut h, "the connect outcome", |h| h.saw(T1));
    if stream.take_error().unwrap().is_some() {
        let r = stream.peer_addr();
        expect_err(r, &[NotConnected], &[os_words("not connected")]);
        no_panic("options on a failed stream", || {
            let _ = stream.set_nodelay(true);
            let _ = stream.set_ttl(64);
            let _ = stream.set_linger(Some(Duration::ZERO));
            let _ = stream.shutdown(std::net::Shutdown::Both);
        });
        assert!(std::io::Write::write(&mut &stream, b"x").is_err());
    }
    el.deregister(&stream).unwrap();
}

/// A negative listen backlog means "the maximum" (documented for Linux and the BSDs):
/// `listen` works.
#[cfg(unix)]
#[test]
fn listen_negative_backlog_is_the_maximum() {
    let _serial = serial();
    let mut el: DefaultLoop = EventLoop::new().unwrap();
    for backlog in [-1, i32::MIN] {
        let sock = TcpSocket::v4().unwrap();
        sock.bind(loopback()).unwrap();
        let listener = el.listen(sock, backlog, T1).expect("a negative backlog");
        el.deregister(&listener).unwrap();
    }
}

/// Binding a UDP socket to an address in use: `AddrInUse`.
#[test]
fn udp_bind_to_a_used_address_is_addr_in_use() {
    let _serial = serial();
    let first = UdpSocket::bind(loopback()).unwrap();
    let addr = first.local_addr().unwrap();
    expect_err(UdpSocket::bind(addr), &[AddrInUse], &[IN_USE]);
}

/// `send_to` with an empty buffer: a zero-length datagram, `Ok(0)`, received as such.
#[test]
fn udp_send_to_with_an_empty_buffer_sends_an_empty_datagram() {
    let _serial = serial();
    let a = UdpSocket::bind(loopback()).unwrap();
    let b = UdpSocket::bind(loopback()).unwrap();
    assert_eq!(a.send_to(&[], b.local_addr().unwrap()).unwrap(), 0);
    let sel = DefaultSelector::new().unwrap();
    sel.register(b.source(), T1, Interest::READABLE, Mode::Level)
        .unwrap();
    assert!(next_event_for(&sel, T1).is_readable());
    let mut buf = [0u8; 8];
    let (n, from) = b.recv_from(&mut buf).unwrap();
    assert_eq!((n, from), (0, a.local_addr().unwrap()));
    sel.deregister(b.source()).unwrap();
}

/// `send` on a UDP socket that was never connected: an error saying so (no peer).
#[test]
fn udp_send_without_a_peer_is_an_error() {
    let _serial = serial();
    let sock = UdpSocket::bind(loopback()).unwrap();
    let err = sock.send(b"x").unwrap_err();
    // The OS decides: ENOTCONN is `NotConnected`; Linux says EDESTADDRREQ ("Destination
    // address required"), which std leaves uncategorised; Winsock may say WSAEINVAL.
    let named = err.kind() == NotConnected
        || (cfg!(windows) && err.kind() == InvalidInput)
        || err
            .to_string()
            .to_ascii_lowercase()
            .contains("destination address required");
    assert!(named, "{:?}: {err}", err.kind());
}

/// A datagram larger than UDP allows: an error (`EMSGSIZE`), never a silent truncation.
#[test]
fn udp_oversized_datagram_is_an_error() {
    let _serial = serial();
    let a = UdpSocket::bind(loopback()).unwrap();
    let b = UdpSocket::bind(loopback()).unwrap();
    let big = vec![0u8; 70_000];
    let err = a.send_to(&big, b.local_addr().unwrap()).unwrap_err();
    assert_names(&err.to_string(), &[os_words("message too long")]);
}

// ---------------------------------------------------------------------------------------
// Unix sockets and pipes

#[cfg(unix)]
mod unix {
    use std::io::{Read, Write};
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    use std::path::{Path, PathBuf};

    use selectio::net::{UnixDatagram, UnixListener, UnixSocket, UnixStream};

    use super::*;

    /// A fresh directory for socket files, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("sbi-{}-{tag}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A path of `len` bytes under `dir` (the name padded with `x`).
    fn long_path(dir: &Path, len: usize) -> PathBuf {
        let base = dir.as_os_str().len() + 1;
        dir.join("x".repeat(len.saturating_sub(base).max(1)))
    }

    /// A path longer than `sun_path`: `InvalidInput` naming its length, the limit and
    /// the path — for every call that takes a path; never truncated.
    #[test]
    fn unix_path_too_long_is_invalid_input() {
        let _serial = serial();
        let dir = TempDir::new("long");
        let path = long_path(&dir.0, 300);
        let len = path.as_os_str().len().to_string();
        let tail = "xxxxxxxxxx";
        let needles: &[&str] = &[&len, "sun_path", tail];
        expect_err(UnixListener::bind(&path), &[InvalidInput], needles);
        expect_err(
            UnixSocket::new().unwrap().bind(&path),
            &[InvalidInput],
            needles,
        );
        let r = UnixSocket::new().unwrap().connect(&path);
        expect_err(r, &[InvalidInput], needles);
        expect_err(UnixStream::connect(&path), &[InvalidInput], needles);
        expect_err(UnixDatagram::bind(&path), &[InvalidInput], needles);
        let d = UnixDatagram::unbound().unwrap();
        expect_err(d.connect(&path), &[InvalidInput], needles);
        expect_err(d.send_to(b"x", &path), &[InvalidInput], needles);
        let mut el: DefaultLoop = EventLoop::new().unwrap();
        let r = el.connect(UnixSocket::new().unwrap(), &path, T1);
        expect_err(r, &[InvalidInput], needles);
        assert_eq!(el.registered(), 0);
        assert!(
            !path.exists(),
            "nothing may be created under a truncated name"
        );
        let entries = std::fs::read_dir(&dir.0).unwrap().count();
        assert_eq!(entries, 0, "a truncated name was bound");
    }

    /// An empty path: `InvalidInput` saying it is empty (Linux would auto-bind).
    #[test]
    fn unix_empty_path_is_invalid_input() {
        let _serial = serial();
        expect_err(UnixListener::bind(""), &[InvalidInput], &["empty"]);
        let r = UnixSocket::new().unwrap().connect("");
        expect_err(r, &[InvalidInput], &["empty"]);
        expect_err(UnixDatagram::bind(""), &[InvalidInput], &["empty"]);
    }

    /// A path with a NUL byte inside (not first): `InvalidInput` naming the NUL, never
    /// bound under the truncated name the kernel would read up to the NUL.
    #[test]
    fn unix_path_with_an_interior_nul_is_invalid_input() {
        let _serial = serial();
        let dir = TempDir::new("nul");
        let mut bytes = dir.0.join("a").into_os_string().into_vec();
        bytes.extend_from_slice(b"\0b");
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(&bytes));
        let r = UnixListener::bind(&path);
        let bound = dir.0.join("a").exists();
        expect_err(r, &[InvalidInput], &["nul"]);
        assert!(!bound, "bound the truncated path {:?}", dir.0.join("a"));
        let r = UnixStream::connect(&path);
        expect_err(r, &[InvalidInput], &["nul"]);
    }

    /// Binding a path that exists: `AddrInUse`; the existing listener keeps working.
    #[test]
    fn unix_bind_to_an_existing_path_is_addr_in_use() {
        let _serial = serial();
        let dir = TempDir::new("used");
        let path = dir.0.join("s");
        let first = UnixListener::bind(&path).unwrap();
        expect_err(UnixListener::bind(&path), &[AddrInUse], &["in use"]);
        expect_err(UnixDatagram::bind(&path), &[AddrInUse], &["in use"]);
        let _c = UnixStream::connect(&path).expect("the first listener still accepts");
        first.accept().expect("a connection for the first listener");
    }

    /// Binding a bound Unix socket again: `InvalidInput` saying it is already bound.
    #[test]
    fn unix_bind_twice_is_invalid_input() {
        let _serial = serial();
        let dir = TempDir::new("twice");
        let sock = UnixSocket::new().unwrap();
        sock.bind(dir.0.join("a")).unwrap();
        let fd = number(&sock);
        let r = sock.bind(dir.0.join("b"));
        expect_err(r, &[InvalidInput], &[&fd, "already bound"]);
    }

    /// Connecting to a path where nothing listens: `NotFound` (no file) or
    /// `ConnectionRefused` (a file, no listener).
    #[test]
    fn unix_connect_to_nothing_is_not_found_or_refused() {
        let _serial = serial();
        let dir = TempDir::new("nothing");
        let missing = dir.0.join("missing");
        expect_err(
            UnixStream::connect(&missing),
            &[NotFound],
            &["no such file"],
        );
        let stale = dir.0.join("stale");
        drop(UnixDatagram::bind(&stale).unwrap());
        let r = UnixStream::connect(&stale);
        expect_err(r, &[ConnectionRefused], &["refused"]);
    }

    /// An abstract name bound twice: `AddrInUse` (Linux and Android have abstract names).
    #[cfg(selectio_linux_like)]
    #[test]
    fn unix_abstract_name_in_use_is_addr_in_use() {
        let _serial = serial();
        use std::os::linux::net::SocketAddrExt;
        let name = format!("selectio-bad-input-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
        let first = UnixListener::bind_addr(&addr).unwrap();
        expect_err(UnixListener::bind_addr(&addr), &[AddrInUse], &["in use"]);
        let _c = UnixStream::connect_addr(&addr).unwrap();
        first.accept().expect("the first listener still accepts");
    }

    /// `send` on an unconnected Unix datagram socket: `NotConnected`.
    #[test]
    fn unix_datagram_send_unconnected_is_not_connected() {
        let _serial = serial();
        let d = UnixDatagram::unbound().unwrap();
        expect_err(d.send(b"x"), &[NotConnected], &["not connected"]);
    }

    /// Writing to a pipe whose reader is gone: `BrokenPipe` (Rust ignores SIGPIPE).
    #[test]
    fn pipe_write_after_the_reader_is_dropped_is_broken_pipe() {
        let _serial = serial();
        let (r, mut w) = selectio::pipe::pipe().unwrap();
        drop(r);
        expect_err(w.write(b"x"), &[BrokenPipe], &["broken pipe"]);
    }

    /// Empty buffers on a pipe: `Ok(0)` at once, whether the pipe is empty or not.
    #[test]
    fn pipe_empty_buffers_are_ok_zero() {
        let _serial = serial();
        let (mut r, mut w) = selectio::pipe::pipe().unwrap();
        assert_eq!(w.write(&[]).unwrap(), 0);
        assert_eq!(r.read(&mut []).unwrap(), 0);
        w.write_all(b"x").unwrap();
        assert_eq!(r.read(&mut []).unwrap(), 0);
        let mut one = [0u8; 1];
        assert_eq!(r.read(&mut one).unwrap(), 1, "the byte is still there");
    }
}

// ---------------------------------------------------------------------------------------
// Choosing a backend

/// `SELECTIO_BACKEND` naming no backend: `AnySelector::from_env` is `InvalidInput`
/// quoting the name and listing the valid ones. (Run in a child: setting a variable in
/// this threaded process would race with other tests.)
#[test]
fn from_env_unknown_backend_is_invalid_input() {
    let _serial = serial();
    const NAME: &str = concat!("bad_input::", "from_env_unknown_backend_is_invalid_input");
    if is_child(NAME) {
        let err = AnySelector::from_env().unwrap_err();
        assert_eq!(err.kind(), InvalidInput, "{err}");
        let mut needles = vec!["epol"];
        needles.extend(Backend::ALL.iter().map(|b| b.name()));
        assert_names(&err.to_string(), &needles);
        return;
    }
    assert_child_passed(NAME, &in_child(NAME, &[("SELECTIO_BACKEND", "epol")]));
}

/// `SELECTIO_BACKEND` naming a backend not compiled in here: `from_env` falls back along
/// the priority order and reports why in `fallbacks()` (`Unsupported`, naming it).
#[test]
fn from_env_backend_not_compiled_falls_back() {
    let _serial = serial();
    const NAME: &str = concat!("bad_input::", "from_env_backend_not_compiled_falls_back");
    let Some(missing) = Backend::ALL.into_iter().find(|b| !b.is_compiled()) else {
        return; // every backend is compiled in: nothing to fall back from
    };
    if is_child(NAME) {
        let sel = AnySelector::from_env().expect("a fallback backend");
        assert_ne!(sel.backend(), missing);
        assert_eq!(Some(sel.backend()), Backend::available().next());
        let (b, e) = &sel.fallbacks()[0];
        assert_eq!(*b, missing);
        assert_eq!(e.kind(), Unsupported, "{e}");
        assert_names(&e.to_string(), &[missing.name()]);
        return;
    }
    let out = in_child(NAME, &[("SELECTIO_BACKEND", missing.name())]);
    assert_child_passed(NAME, &out);
}

/// `AnySelector::with_backend` of a backend not compiled in: `Unsupported` naming it
/// and the ones that are.
#[test]
fn with_backend_not_compiled_is_unsupported() {
    let _serial = serial();
    for b in Backend::ALL.into_iter().filter(|b| !b.is_compiled()) {
        let r = AnySelector::with_backend(b);
        let mut needles = vec![b.name()];
        needles.extend(Backend::available().map(|b| b.name()));
        expect_err(r, &[Unsupported], &needles);
    }
}

/// The reason given for a backend not compiled in is true: one this target has is a
/// feature to turn on (`--features polling`); one it lacks is said to be missing, with no
/// feature to try; and the list names exactly the backends compiled in.
#[test]
fn backend_not_compiled_message_is_true() {
    let _serial = serial();
    for b in Backend::ALL.into_iter().filter(|b| !b.is_compiled()) {
        let msg = AnySelector::with_backend(b).unwrap_err().to_string();
        let here = msg.split("compiled in here: ").nth(1).unwrap_or_default();
        let listed: Vec<&str> = here.split(", ").filter(|n| !n.is_empty()).collect();
        let compiled: Vec<&str> = Backend::available().map(|b| b.name()).collect();
        assert_eq!(listed, compiled, "{msg}");
        let exists = match b {
            Backend::Epoll => cfg!(selectio_linux_like),
            Backend::Kqueue => cfg!(selectio_kqueue_os),
            Backend::Poll => cfg!(unix),
            Backend::Polling => true,
            Backend::Uring => cfg!(target_os = "linux"),
        };
        let feature = format!("--features {}", b.name());
        assert_eq!(msg.contains(&feature), exists, "{msg}");
        assert_eq!(msg.contains("this target has no"), !exists, "{msg}");
    }
}

/// Backend names that are not one: empty, blank, misspelt — `InvalidInput`.
#[test]
fn backend_name_parse_errors_are_invalid_input() {
    let _serial = serial();
    for name in ["", "   ", "epol", "select", "EPOLL2"] {
        let r = name.parse::<Backend>();
        expect_err(r, &[InvalidInput], &["unknown backend", "epoll"]);
    }
}
