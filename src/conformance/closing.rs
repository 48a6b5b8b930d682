//! Closing a registered fd without `deregister`, and reusing its number.

use std::io;
use std::time::{Duration, Instant};

use super::util::{Cx, Source, CAPACITY, T1, T2};
use crate::{Interest, Mode, Ready, Selector};

/// Closing registered fds (a ready pipe reader, a TCP stream) without `deregister` causes
/// no busy loop, no crash, and at most one event per fd over ten 20 ms selects.
pub fn close_while_registered_does_not_spin<S: Selector>(new: fn() -> io::Result<S>) {
    // Alone: no other property may get the closed numbers meanwhile.
    let cx = Cx::exclusive(new, "close_while_registered_does_not_spin");
    let mut ev = cx.events(CAPACITY);
    let (r, w) = cx.pipe();
    let (a, _b) = cx.tcp_pair();
    // Both are ready: a stale Level registration would report them on every select.
    cx.put(&w, b"x");
    cx.register(r.src(), T1, Interest::READABLE, Mode::Level);
    cx.register(a.src(), T2, Interest::BOTH, Mode::Level);
    let closed = [r.src(), a.src()];
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
        match cx.sel.deregister(fd) {
            Ok(()) if cfg!(windows) => {}
            result => {
                let e = cx.err(result, "first deregister");
                let kinds = [io::ErrorKind::InvalidInput, io::ErrorKind::NotFound];
                cx.check(kinds.contains(&e.kind()), || format!("{e:?}"));
            }
        }
        cx.err(cx.sel.deregister(fd), "second deregister");
    }
}

/// After a registered fd is closed without `deregister`, a new fd that gets its number can
/// be registered under a new token and is reported with it, never with the old one.
pub fn reused_fd_number_can_be_registered<S: Selector>(new: fn() -> io::Result<S>) {
    // Alone: the new fd must be ours to get the number.
    let cx = Cx::exclusive(new, "reused_fd_number_can_be_registered");
    if cfg!(not(unix)) {
        return cx.skip("handle numbers are not reused lowest-first outside Unix");
    }
    let mut ev = cx.events(CAPACITY);
    let (r, w) = cx.pipe();
    let n = r.src();
    cx.register(n, T1, Interest::READABLE, Mode::Level);
    cx.put(&w, b"x");
    drop(r);
    // Lets a backend notice the close (poll(2): POLLNVAL); may report it once.
    cx.select(&mut ev, Some(Duration::ZERO));
    // Unix gives the lowest free number, so the first new pipe normally gets `n`.
    let mut spare = Vec::new();
    let (nr, nw) = loop {
        let (nr, nw) = cx.pipe();
        if nr.src() == n || nw.src() == n {
            break (nr, nw);
        }
        spare.push((nr, nw));
        cx.check(spare.len() < 8, || {
            format!("8 new pipes did not reuse fd number {n}")
        });
    };
    let (interest, want) = if nr.src() == n {
        cx.put(&nw, b"x");
        (Interest::READABLE, Ready::READABLE)
    } else {
        (Interest::WRITABLE, Ready::WRITABLE)
    };
    let result = cx.sel.register(n, T2, interest, Mode::Level);
    cx.ok(
        result,
        format_args!("register of a new fd reusing the number {n} of a closed, registered one"),
    );
    cx.only(&mut ev, T2, want);
    cx.only(&mut ev, T2, want);
    cx.deregister(n);
}
