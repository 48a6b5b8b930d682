//! `register` / `reregister` / `deregister`: replacement, removal and every misuse.

use std::io::{self, ErrorKind};

use super::modes::edge_is_refused;
use super::util::{number, Cx, Source, CAPACITY, INVALID, T1, T2};
use super::FdsAsNumbers;
use crate::{BorrowedSource, Interest, Mode, RawSource, Ready, Selector, Token};

/// `reregister` with a new token: later events carry the new token, never the old one.
pub fn reregister_replaces_token<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "reregister_replaces_token");
    let (r, _w) = cx.reported_pipe(&mut ev, Mode::Level);
    cx.reregister(r.src(), T2, Interest::READABLE, Mode::Level);
    for i in 1..=3 {
        let batch = cx.select(&mut ev, Some(super::util::PATIENCE));
        cx.check(!batch.has(T1), || {
            format!("select {i} after reregister still used the old token: {batch:?}")
        });
        cx.check(batch.ready(T2).is_some_and(Ready::is_readable), || {
            format!("select {i} after reregister did not report the new token: {batch:?}")
        });
    }
    cx.drain(&r);
    cx.deregister(r.src());
}

/// `reregister` with a new interest: the old direction is no longer reported.
pub fn reregister_replaces_interest<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "reregister_replaces_interest");
    let (a, b) = cx.watched_tcp(Interest::WRITABLE);
    cx.wait_for(&mut ev, T1, Ready::WRITABLE);
    cx.step("WRITABLE -> READABLE");
    cx.reregister(a.src(), T1, Interest::READABLE, Mode::Level);
    cx.never(
        &mut ev,
        T1,
        Some(Ready::WRITABLE),
        "the registration is READABLE only now",
    );
    cx.put(&b, b"x");
    cx.wait_for(&mut ev, T1, Ready::READABLE);
    cx.step("READABLE -> WRITABLE, with unread data");
    cx.reregister(a.src(), T1, Interest::WRITABLE, Mode::Level);
    cx.wait_for(&mut ev, T1, Ready::WRITABLE);
    cx.never(
        &mut ev,
        T1,
        Some(Ready::READABLE),
        "the registration is WRITABLE only now",
    );
    cx.deregister(a.src());
}

/// `reregister` with a new mode: Level → Oneshot → Level (→ Edge where supported), each
/// behaving as its mode.
pub fn reregister_replaces_mode<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "reregister_replaces_mode");
    let (r, _w) = cx.reported_pipe(&mut ev, Mode::Level);
    cx.step("Level -> Oneshot");
    cx.reregister(r.src(), T1, Interest::READABLE, Mode::Oneshot);
    cx.reported_once(
        &mut ev,
        T1,
        Ready::READABLE,
        "the registration is Oneshot now and fired already",
    );
    cx.step("Oneshot -> Level");
    cx.reregister(r.src(), T1, Interest::READABLE, Mode::Level);
    cx.reported_each(&mut ev, T1, Ready::READABLE, 3);
    if cx.caps().supports(Mode::Edge) {
        cx.step("Level -> Edge");
        cx.reregister(r.src(), T1, Interest::READABLE, Mode::Edge);
        cx.reported_once(
            &mut ev,
            T1,
            Ready::READABLE,
            "the registration is Edge now and nothing new happened",
        );
    }
    cx.drain(&r);
    cx.deregister(r.src());
}

/// After `deregister`, no `select` reports the fd, though it stays open and becomes
/// ready; in every mode, before and after a first event.
pub fn deregister_then_ready_is_silent<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "deregister_then_ready_is_silent");
    for mode in cx.caps().modes() {
        cx.step(format_args!("mode {mode:?}, deregistered before any event"));
        let (r, w) = cx.watched_pipe(mode);
        cx.deregister(r.src());
        cx.put(&w, b"x");
        cx.silent(&mut ev, T1, "the fd was deregistered");
        cx.step(format_args!("mode {mode:?}, deregistered after an event"));
        cx.register(r.src(), T2, Interest::READABLE, mode);
        cx.wait_for(&mut ev, T2, Ready::READABLE);
        cx.deregister(r.src());
        cx.put(&w, b"y");
        cx.silent(&mut ev, T2, "the fd was deregistered");
    }
}

/// Registering a registered fd again is `AlreadyExists` naming backend and fd, and the
/// first registration keeps working unchanged.
pub fn duplicate_register_is_already_exists<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "duplicate_register_is_already_exists");
    let (r, w) = cx.watched_pipe(Mode::Level);
    for mode in cx.caps().modes() {
        let result = cx.sel.register(r.src(), T2, Interest::BOTH, mode);
        cx.err_fd(
            result,
            ErrorKind::AlreadyExists,
            r.src(),
            format_args!("second register ({mode:?})"),
        );
    }
    cx.put(&w, b"x");
    cx.only(&mut ev, T1, Ready::READABLE);
    cx.reported_each(&mut ev, T1, Ready::READABLE, 2);
    cx.drain(&r);
    cx.deregister(r.src());
}

/// `reregister` of an fd never registered, or deregistered, is `NotFound`.
pub fn reregister_unknown_is_not_found<S: Selector>(new: fn() -> io::Result<S>) {
    let cx = Cx::new(new, "reregister_unknown_is_not_found");
    unknown_is_not_found(&cx, "reregister", |sel, fd| {
        sel.reregister(fd, T1, Interest::READABLE, Mode::Level)
    });
}

/// `deregister` of an fd never registered, or deregistered already, is `NotFound`.
pub fn deregister_unknown_is_not_found<S: Selector>(new: fn() -> io::Result<S>) {
    let cx = Cx::new(new, "deregister_unknown_is_not_found");
    unknown_is_not_found(&cx, "deregister", |sel, fd| sel.deregister(fd));
}

/// `change` (a `reregister` or `deregister`) of a pipe never registered, then of one
/// registered and deregistered, fails with `NotFound` naming the fd.
#[track_caller]
fn unknown_is_not_found<S: Selector>(
    cx: &Cx<S>,
    what: &str,
    change: impl Fn(&S, BorrowedSource<'_>) -> io::Result<()>,
) {
    let (r, _w) = cx.pipe();
    let result = change(&cx.sel, r.src());
    let never = format!("{what} of a never registered fd");
    cx.err_fd(result, ErrorKind::NotFound, r.src(), never);
    cx.register(r.src(), T1, Interest::READABLE, Mode::Level);
    cx.deregister(r.src());
    let result = change(&cx.sel, r.src());
    let after = format!("{what} after deregister");
    cx.err_fd(result, ErrorKind::NotFound, r.src(), after);
}

/// `Token::RESERVED` is refused with `InvalidInput` by `register` (registering nothing)
/// and by `reregister` (keeping the registration as it was).
pub fn reserved_token_is_invalid_input<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "reserved_token_is_invalid_input");
    let (r, w) = cx.pipe();
    for mode in cx.caps().modes() {
        let result = cx
            .sel
            .register(r.src(), Token::RESERVED, Interest::READABLE, mode);
        cx.err_kind(
            result,
            ErrorKind::InvalidInput,
            format_args!("register with Token::RESERVED ({mode:?})"),
        );
    }
    let result = cx.sel.deregister(r.src());
    cx.err_kind(
        result,
        ErrorKind::NotFound,
        "deregister after the refused registers",
    );
    cx.register(r.src(), T1, Interest::READABLE, Mode::Level);
    let result = cx
        .sel
        .reregister(r.src(), Token::RESERVED, Interest::READABLE, Mode::Level);
    cx.err_kind(
        result,
        ErrorKind::InvalidInput,
        "reregister with Token::RESERVED",
    );
    cx.put(&w, b"x");
    cx.only(&mut ev, T1, Ready::READABLE);
    cx.drain(&r);
    cx.deregister(r.src());
}

/// Where capabilities say Edge is unsupported, `register(…, Mode::Edge)` is `Unsupported`
/// naming the backend; where they say it is supported, it registers.
pub fn unsupported_edge_is_refused<S: Selector>(new: fn() -> io::Result<S>) {
    let cx = Cx::new(new, "unsupported_edge_is_refused");
    if !cx.caps().supports(Mode::Edge) {
        return edge_is_refused(&cx);
    }
    let (r, _w) = cx.pipe();
    cx.register(r.src(), T1, Interest::READABLE, Mode::Edge);
    cx.reregister(r.src(), T1, Interest::BOTH, Mode::Edge);
    cx.deregister(r.src());
}

/// Failing calls change nothing: after each one, the good registration still reports
/// (Level, ready) with its token, and nothing else is reported.
pub fn failed_calls_do_not_disturb_registrations<S: FdsAsNumbers>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "failed_calls_do_not_disturb_registrations");
    let (r, w) = cx.pipe();
    let (other, _other_w) = cx.pipe();
    let (good, other) = (r.src(), other.src());
    cx.register(good, T1, Interest::READABLE, Mode::Level);
    cx.put(&w, b"x");
    for (what, call) in failing_calls(&*cx.sel, good, other) {
        cx.step(format_args!("after a failed {what}"));
        cx.err(call(), what);
        cx.only(&mut ev, T1, Ready::READABLE);
    }
    #[cfg(unix)]
    {
        cx.step("after a register of a regular file");
        let file = cx.regular_file();
        let result = cx
            .sel
            .register(file.src(), T2, Interest::READABLE, Mode::Level);
        if result.is_ok() {
            cx.deregister(file.src());
        }
        cx.only(&mut ev, T1, Ready::READABLE);
    }
    cx.step("the end");
    let result = cx.sel.deregister(other);
    cx.err_kind(
        result,
        ErrorKind::NotFound,
        "deregister of the fd no call registered",
    );
    cx.deregister(good);
}

/// A call that must fail, and its description.
type Call<'a> = (&'static str, Box<dyn Fn() -> io::Result<()> + 'a>);

/// Calls that must fail while `good` is registered (Level, READABLE, `T1`) and `other`
/// is not.
fn failing_calls<'a, S: FdsAsNumbers>(
    sel: &'a S,
    good: BorrowedSource<'a>,
    other: BorrowedSource<'a>,
) -> Vec<Call<'a>> {
    let invalid = number(sel, INVALID);
    let rd = Interest::READABLE;
    let mut calls: Vec<Call<'a>> = vec![
        (
            "duplicate register",
            Box::new(move || sel.register(good, T2, Interest::BOTH, Mode::Level)),
        ),
        (
            "reregister of an unknown fd",
            Box::new(move || sel.reregister(other, T2, rd, Mode::Level)),
        ),
        (
            "deregister of an unknown fd",
            Box::new(move || sel.deregister(other)),
        ),
        (
            "register with Token::RESERVED",
            Box::new(move || sel.register(other, Token::RESERVED, rd, Mode::Level)),
        ),
        (
            "reregister with Token::RESERVED",
            Box::new(move || sel.reregister(good, Token::RESERVED, rd, Mode::Level)),
        ),
        (
            "register of an invalid fd",
            Box::new(move || sel.register(invalid, T2, rd, Mode::Level)),
        ),
        (
            "reregister of an invalid fd",
            Box::new(move || sel.reregister(invalid, T2, rd, Mode::Level)),
        ),
        (
            "deregister of an invalid fd",
            Box::new(move || sel.deregister(invalid)),
        ),
    ];
    if !sel.capabilities().supports(Mode::Edge) {
        calls.push((
            "register with Mode::Edge",
            Box::new(move || sel.register(other, T2, rd, Mode::Edge)),
        ));
        calls.push((
            "reregister with Mode::Edge",
            Box::new(move || sel.reregister(good, T2, rd, Mode::Edge)),
        ));
    }
    calls
}

/// A negative fd and a closed fd are errors (naming the backend) for `register`, `reregister`
/// and `deregister`, never panics.
pub fn invalid_fd_is_an_error<S: FdsAsNumbers>(new: fn() -> io::Result<S>) {
    // Alone: no other property may reuse the closed number meanwhile.
    let cx = Cx::exclusive(new, "invalid_fd_is_an_error");
    let closed = {
        let (r, _w) = cx.pipe();
        r.raw()
    };
    for (fd, what) in [(INVALID, "an invalid fd"), (closed, "a closed fd")] {
        cx.step(format_args!("fd {fd} ({what})"));
        let (n, fd) = (fd, number(&*cx.sel, fd));
        for mode in cx.caps().modes() {
            let result = cx.sel.register(fd, T1, Interest::READABLE, mode);
            if result.is_ok() && is_open(n) {
                // Something outside the suite reused the number: not ours to judge.
                cx.deregister(fd);
                cx.skip("the closed fd number was reused by another thread");
                continue;
            }
            cx.err(result, format_args!("register ({mode:?})"));
        }
        cx.err(
            cx.sel.reregister(fd, T1, Interest::READABLE, Mode::Level),
            "reregister",
        );
        cx.err(cx.sel.deregister(fd), "deregister");
    }
}

/// Whether `fd` is open now.
#[cfg(unix)]
fn is_open(fd: RawSource) -> bool {
    crate::sys::fd_identity(fd).is_ok()
}

/// Whether `fd` is open now (unknown here: assume not).
#[cfg(not(unix))]
fn is_open(_fd: RawSource) -> bool {
    false
}

/// A regular file is either refused with an error naming the backend (epoll: `EPERM`) or
/// accepted and then always reported ready (poll(2), kqueue); never a panic.
pub fn regular_file_is_refused_or_always_ready<S: Selector>(new: fn() -> io::Result<S>) {
    let cx = Cx::new(new, "regular_file_is_refused_or_always_ready");
    #[cfg(unix)]
    {
        let mut ev = cx.events(CAPACITY);
        let file = cx.regular_file();
        let both = [
            (Interest::READABLE, Ready::READABLE),
            (Interest::WRITABLE, Ready::WRITABLE),
        ];
        for (interest, want) in both {
            cx.step(format_args!("{interest:?}"));
            match cx.sel.register(file.src(), T1, interest, Mode::Level) {
                Err(e) => drop(cx.err::<()>(Err(e), "register of a regular file")),
                Ok(()) => {
                    cx.wait_for(&mut ev, T1, want);
                    cx.reported_each(&mut ev, T1, want, 2);
                    cx.deregister(file.src());
                }
            }
        }
    }
    #[cfg(not(unix))]
    cx.skip("a regular file is no socket: outside Unix there is nothing to register");
}

/// The selector's own fds (its epoll or kqueue fd, its waker's eventfd or pipe, the
/// `polling` crate's) are refused by `register`, `reregister` and `deregister` with
/// `InvalidInput`, and the wake path still works afterwards: `wake()` ends one `select`,
/// and the next one waits its whole timeout (no hijacked waker left readable, no spin).
/// The fds are found as those a new selector opened, where the system lists open fds.
pub fn selector_own_fds_are_refused<S: FdsAsNumbers>(new: fn() -> io::Result<S>) {
    // Alone: the fds opened meanwhile must be the selector's.
    let cx = Cx::exclusive(new, "selector_own_fds_are_refused");
    if cfg!(not(unix)) {
        // Handles, not fds: a `/proc/self/fd` there (Wine) lists the host's descriptors.
        return cx.skip("Windows handles are not listed as fds");
    }
    let Some(before) = super::sources::open_fd_numbers() else {
        return cx.skip("this system lists no open fds (/proc/self/fd, /dev/fd)");
    };
    let sel = cx.another();
    let own: Vec<RawSource> = super::sources::open_fd_numbers()
        .unwrap_or_default()
        .into_iter()
        .filter(|fd| !before.contains(fd))
        .collect();
    cx.check(!own.is_empty(), || {
        "the selector opened no fd the system lists".to_string()
    });
    for &n in &own {
        let fd = number(&*cx.sel, n);
        let calls = [
            (
                "register",
                sel.register(fd, T1, Interest::READABLE, Mode::Level),
            ),
            (
                "reregister",
                sel.reregister(fd, T1, Interest::READABLE, Mode::Level),
            ),
            ("deregister", sel.deregister(fd)),
        ];
        for (op, result) in calls {
            cx.err_kind(
                result,
                ErrorKind::InvalidInput,
                format_args!("{op} of own fd {n}"),
            );
        }
    }
    let mut ev = cx.events(CAPACITY);
    cx.ok(sel.wake(), "wake()");
    let start = std::time::Instant::now();
    cx.ok(
        sel.select(&mut ev, Some(super::util::PATIENCE)),
        "select after wake()",
    );
    cx.check(
        ev.is_empty() && start.elapsed() < super::util::PATIENCE,
        || {
            format!(
                "the woken select returned {:?} after {:?}",
                ev,
                start.elapsed()
            )
        },
    );
    let quiet = std::time::Duration::from_millis(50);
    let start = std::time::Instant::now();
    cx.ok(
        sel.select(&mut ev, Some(quiet)),
        "select after the wake was consumed",
    );
    cx.check(ev.is_empty() && start.elapsed() >= quiet, || {
        format!(
            "an idle select of {quiet:?} returned {:?} after {:?}",
            ev,
            start.elapsed()
        )
    });
}
