//! Closing a registered fd without `deregister`, and reusing its number.

use std::io;
use std::time::{Duration, Instant};

use super::util::{number, Cx, Source, CAPACITY, T1, T2};
use super::FdsAsNumbers;
use crate::{Interest, Mode, Selector};
#[cfg(unix)]
use crate::{RawSource, Ready};

/// Closing registered fds (a ready pipe reader, a TCP stream) without `deregister` causes
/// no busy loop, no crash, and at most one event per fd over ten 20 ms selects.
pub fn close_while_registered_does_not_spin<S: FdsAsNumbers>(new: fn() -> io::Result<S>) {
    // Alone: no other property may get the closed numbers meanwhile.
    let cx = Cx::exclusive(new, "close_while_registered_does_not_spin");
    let mut ev = cx.events(CAPACITY);
    let (r, w) = cx.pipe();
    let (a, _b) = cx.tcp_pair();
    // Both are ready: a stale Level registration would report them on every select.
    cx.put(&w, b"x");
    cx.register(r.src(), T1, Interest::READABLE, Mode::Level);
    cx.register(a.src(), T2, Interest::BOTH, Mode::Level);
    let closed = [r.raw(), a.raw()];
    drop(r);
    drop(a);
    let slice = Duration::from_millis(20);
    let (mut reports, start) = ([0usize; 2], Instant::now());
    for _ in 0..10 {
        let batch = cx.select(&mut ev, Some(slice));
        reports[0] += batch.events.iter().filter(|e| e.token() == T1).count();
        reports[1] += batch.events.iter().filter(|e| e.token() == T2).count();
    }
    let elapsed = start.elapsed();
    cx.check(reports[0] <= 1 && reports[1] <= 1, || {
        format!(
            "closed fds were reported {} (pipe) and {} (TCP) times in 10 selects",
            reports[0], reports[1]
        )
    });
    // At most one early return per closed fd: the others each wait their 20 ms.
    cx.check(elapsed >= slice * 8, || {
        format!("10 selects of {slice:?} took only {elapsed:?}")
    });
    // `deregister` of a closed fd is an error, never a silent success: `InvalidInput`
    // (not an open fd: EBADF, or kqueue's ENOENT on xnu for a closed fd) or `NotFound`
    // (a `select` since the close dropped the entry: poll(2)'s POLLNVAL). Either way
    // nothing stays registered under the number: a second call fails too. Windows: a
    // socket handle has no identity but its value, which the system may reuse at once;
    // `Ok` is allowed there.
    for (fd, what) in [(closed[0], "pipe"), (closed[1], "TCP")] {
        cx.step(format_args!("deregister the closed {what} fd {fd}"));
        match cx.sel.deregister(number(&*cx.sel, fd)) {
            Ok(()) if cfg!(windows) => {}
            result => {
                let e = cx.err(result, "first deregister");
                let kinds = [io::ErrorKind::InvalidInput, io::ErrorKind::NotFound];
                cx.check(kinds.contains(&e.kind()), || format!("{e:?}"));
            }
        }
        cx.err(cx.sel.deregister(number(&*cx.sel, fd)), "second deregister");
    }
}

/// After a registered fd is closed without `deregister` and a `select` has run, a new fd
/// that gets its number registers under a new token and is reported with it, never with
/// the old one. For a pipe, a TCP socket and (Linux) an eventfd — every eventfd shares
/// one inode, so `(st_dev, st_ino)` cannot tell an old one from a new one — registered
/// Level, or Oneshot and already fired (a disarmed registration is closed too).
pub fn reused_fd_number_can_be_registered<S: FdsAsNumbers>(new: fn() -> io::Result<S>) {
    reuse(new, "reused_fd_number_can_be_registered", true);
}

/// The same with no `select` between the close and the new `register`: the new fd
/// registers and is reported under its token where the kernel already forgot the old
/// file (epoll, kqueue, polling on them); a backend that keeps fd numbers itself
/// (poll(2)) may instead refuse with `AlreadyExists` saying it cannot tell a duplicate
/// from a reused number, after which `deregister` and `register` do it.
pub fn reused_fd_number_before_any_select<S: FdsAsNumbers>(new: fn() -> io::Result<S>) {
    reuse(new, "reused_fd_number_before_any_select", false);
}

/// The kinds of fd the reuse properties close and reopen.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Pipe,
    Tcp,
    #[cfg(selectio_linux_like)]
    Eventfd,
}

const KINDS: &[Kind] = &[
    Kind::Pipe,
    Kind::Tcp,
    #[cfg(selectio_linux_like)]
    Kind::Eventfd,
];

/// A readable fd of `kind`, opened first so that it gets the lowest free number, and what
/// keeps it readable; dropping the box closes all of it.
#[cfg(unix)]
fn open_readable<S: Selector>(cx: &Cx<S>, kind: Kind) -> (RawSource, Box<dyn std::any::Any>) {
    match kind {
        Kind::Pipe => {
            let (r, w) = cx.pipe();
            cx.put(&w, b"x");
            (r.raw(), Box::new((r, w)))
        }
        Kind::Tcp => {
            // A listener with a connection queued: readable until accepted.
            let listener = cx.ok(std::net::TcpListener::bind("127.0.0.1:0"), "bind");
            let addr = cx.ok(listener.local_addr(), "local_addr");
            let client = cx.ok(std::net::TcpStream::connect(addr), "connect");
            (listener.raw(), Box::new((listener, client)))
        }
        #[cfg(selectio_linux_like)]
        Kind::Eventfd => {
            let fd = cx.ok(crate::sys::eventfd(), "eventfd()");
            cx.ok(
                crate::sys::write(fd.raw(), &1u64.to_ne_bytes()),
                "eventfd write",
            );
            (fd.raw(), Box::new(fd))
        }
    }
}

#[cfg(unix)]
fn reuse<S: FdsAsNumbers>(new: fn() -> io::Result<S>, prop: &'static str, select_between: bool) {
    // Alone: the new fd must be ours to get the number.
    let cx = Cx::exclusive(new, prop);
    let mut ev = cx.events(CAPACITY);
    for &kind in KINDS {
        for mode in [Mode::Level, Mode::Oneshot] {
            cx.step(format_args!("{kind:?}, {mode:?}"));
            let (n, old) = open_readable(&cx, kind);
            // A number on purpose: the property closes it and registers whatever reuses it.
            let fd = number(&*cx.sel, n);
            cx.register(fd, T1, Interest::READABLE, mode);
            if mode == Mode::Oneshot {
                // Fired: the registration is disarmed when its fd is closed.
                cx.wait_for(&mut ev, T1, Ready::READABLE);
            }
            drop(old);
            if select_between {
                // Lets a backend notice the close (poll(2): POLLNVAL); may report it once.
                cx.select(&mut ev, Some(Duration::ZERO));
            }
            // Unix gives the lowest free number, so the first new fd normally gets `n`.
            let mut spare = Vec::new();
            let new = loop {
                let (m, new) = open_readable(&cx, kind);
                if m == n {
                    break new;
                }
                spare.push(new);
                cx.check(spare.len() < 8, || {
                    format!("8 new {kind:?} fds did not reuse number {n}")
                });
            };
            let what = format!("register of a new {kind:?} fd reusing the number {n}");
            match cx.sel.register(fd, T2, Interest::READABLE, Mode::Level) {
                Ok(()) => {}
                // xnu's poll(2) never checks an entry that asks no events, so the poll
                // backend parks a fired Oneshot out of its sight on Apple's systems and
                // cannot see its close (see the contract's "Closing a registered fd").
                Err(e)
                    if (!select_between || apple_poll_oneshot(&cx, mode))
                        && e.kind() == io::ErrorKind::AlreadyExists =>
                {
                    cx.check(e.to_string().contains("cannot tell"), || {
                        format!("{what}: {e} (AlreadyExists must say it cannot tell)")
                    });
                    cx.deregister(fd);
                    cx.register(fd, T2, Interest::READABLE, Mode::Level);
                }
                Err(e) => cx.fail(format_args!("{what}: {e}")),
            }
            cx.only(&mut ev, T2, Ready::READABLE);
            cx.only(&mut ev, T2, Ready::READABLE);
            cx.deregister(fd);
            drop(new);
        }
    }
}

/// The one documented gap of the select-between case: poll(2) on Apple's systems with a
/// fired Oneshot registration.
#[cfg(unix)]
fn apple_poll_oneshot<S: Selector>(cx: &Cx<S>, mode: Mode) -> bool {
    cfg!(selectio_apple) && cx.name() == "poll" && mode == Mode::Oneshot
}

#[cfg(not(unix))]
fn reuse<S: Selector>(new: fn() -> io::Result<S>, prop: &'static str, _: bool) {
    let _ = KINDS;
    Cx::exclusive(new, prop).skip("handle numbers are not reused lowest-first outside Unix");
}
