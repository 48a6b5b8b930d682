//! The property context `Cx`: a selector under test, assertions that name the backend and
//! the property, and tolerant select/wait/silence helpers. Sources live in `sources.rs`.

use std::cell::RefCell;
use std::fmt::{self, Debug, Display};
use std::io;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use crate::selector::Capabilities;
use crate::{BorrowedSource, Event, Events, Interest, Mode, RawSource, Ready, Selector, Token};

/// How long a helper waits for an expected event before failing (generous for slow CI).
pub(crate) const PATIENCE: Duration = Duration::from_secs(5);
/// A select timeout longer than [`PATIENCE`]: returning from it in time proves a wake-up.
pub(crate) const LONG: Duration = Duration::from_secs(10);
/// The length of a "nothing happens" check.
pub(crate) const QUIET: Duration = Duration::from_millis(100);
/// How long a thread sleeps so that another one is surely blocked in `select` first.
pub(crate) const SETTLE: Duration = Duration::from_millis(100);
/// The events capacity the properties use unless they test capacity.
pub(crate) const CAPACITY: usize = 64;
/// Tokens the properties register.
pub(crate) const T1: Token = Token(1);
pub(crate) const T2: Token = Token(2);
/// The token of the watchdog pipe that ends a `select` which should have returned.
pub(crate) const RESCUE: Token = Token(usize::MAX - 1);
/// An fd number no file can have. Not `-1`: that is no `BorrowedFd` at all (the
/// type's niche), so no selector can be handed it.
#[cfg(unix)]
pub(crate) const INVALID: RawSource = -2;
/// A socket handle no socket can have. Not `INVALID_SOCKET` (`RawSocket::MAX`): that is
/// no `BorrowedSocket` at all (the type's niche), so no selector can be handed it.
#[cfg(not(unix))]
pub(crate) const INVALID: RawSource = RawSource::MAX - 1;

/// Properties that close fds they registered, reuse fd numbers or count fds run alone
/// (write lock); all others share (read lock). Tests run in parallel threads of one
/// process, so this keeps a closed number from being reused by another property.
static FD_LOCK: RwLock<()> = RwLock::new(());

/// The descriptor of anything that has one, borrowed ([`src`](Source::src)) or as a
/// number ([`raw`](Source::raw)) for messages and for what the properties close.
pub(crate) trait Source {
    /// The fd (socket on Windows) to register.
    fn src(&self) -> BorrowedSource<'_>;
    /// Its number.
    fn raw(&self) -> RawSource {
        crate::source::raw(self.src())
    }
}

#[cfg(unix)]
impl<T: std::os::fd::AsFd> Source for T {
    fn src(&self) -> BorrowedSource<'_> {
        self.as_fd()
    }
}

#[cfg(windows)]
impl<T: std::os::windows::io::AsSocket> Source for T {
    fn src(&self) -> BorrowedSource<'_> {
        self.as_socket()
    }
}

/// A number a property hands a selector on purpose (closed, reused, invalid, or the
/// selector's own), borrowed through the one helper that exists for this suite.
pub(crate) use crate::sys::borrow_number_for_conformance as number;

/// One end of a [`Cx::pipe`]: a pipe end on Unix, a loopback TCP stream elsewhere.
#[cfg(unix)]
pub(crate) type End = std::fs::File;
/// One end of a [`Cx::pipe`]: a pipe end on Unix, a loopback TCP stream elsewhere.
#[cfg(not(unix))]
pub(crate) type End = std::net::TcpStream;

/// What one `select` returned, decoded.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) events: Vec<Event>,
    pub(crate) elapsed: Duration,
}

impl Batch {
    /// The readiness of every event for `token` in this batch, merged (kqueue may report
    /// one event per direction); `None` if the token was not reported.
    pub(crate) fn ready(&self, token: Token) -> Option<Ready> {
        let mut it = self.events.iter().filter(|e| e.token() == token);
        it.next()
            .map(|first| it.fold(first.ready(), |acc, e| acc | e.ready()))
    }

    /// Whether `token` was reported.
    pub(crate) fn has(&self, token: Token) -> bool {
        self.events.iter().any(|e| e.token() == token)
    }
}

/// The context of one property run: the selector, and who to blame on failure.
pub(crate) struct Cx<S: Selector> {
    pub(crate) sel: Arc<S>,
    prop: &'static str,
    new: fn() -> io::Result<S>,
    step: RefCell<String>,
    // Declared last: released after everything above (and the property's locals).
    _shared: Option<RwLockReadGuard<'static, ()>>,
    _exclusive: Option<RwLockWriteGuard<'static, ()>>,
}

impl<S: Selector> Cx<S> {
    /// A context for `prop`, sharing the process with other properties.
    #[track_caller]
    pub(crate) fn new(new: fn() -> io::Result<S>, prop: &'static str) -> Cx<S> {
        let shared = FD_LOCK.read().unwrap_or_else(PoisonError::into_inner);
        Cx::open(new, prop, Some(shared), None)
    }

    /// [`new`](Cx::new) with an events buffer of [`CAPACITY`]: how most properties start.
    #[track_caller]
    pub(crate) fn with_events(
        new: fn() -> io::Result<S>,
        prop: &'static str,
    ) -> (Cx<S>, Events<S>) {
        let cx = Cx::new(new, prop);
        let events = cx.events(CAPACITY);
        (cx, events)
    }

    /// A context for `prop` that runs while no other property runs (fd numbers, counts).
    #[track_caller]
    pub(crate) fn exclusive(new: fn() -> io::Result<S>, prop: &'static str) -> Cx<S> {
        let exclusive = FD_LOCK.write().unwrap_or_else(PoisonError::into_inner);
        Cx::open(new, prop, None, Some(exclusive))
    }

    #[track_caller]
    fn open(
        new: fn() -> io::Result<S>,
        prop: &'static str,
        _shared: Option<RwLockReadGuard<'static, ()>>,
        _exclusive: Option<RwLockWriteGuard<'static, ()>>,
    ) -> Cx<S> {
        let sel = match new() {
            Ok(sel) => Arc::new(sel),
            Err(e) => panic!("{prop}: the selector could not be created: {e}"),
        };
        Cx {
            sel,
            prop,
            new,
            step: RefCell::new(String::new()),
            _shared,
            _exclusive,
        }
    }

    /// The backend's name.
    pub(crate) fn name(&self) -> &'static str {
        self.sel.name()
    }

    /// The backend's capabilities.
    pub(crate) fn caps(&self) -> Capabilities {
        self.sel.capabilities()
    }

    /// Names the part of the property that runs now; failures mention it.
    pub(crate) fn step(&self, what: impl Display) {
        *self.step.borrow_mut() = what.to_string();
    }

    /// A second selector of the same backend.
    #[track_caller]
    pub(crate) fn another(&self) -> S {
        self.ok((self.new)(), "creating another selector")
    }

    /// Prints why the property does not apply here and what it did not check.
    pub(crate) fn skip(&self, why: &str) {
        println!("[{}] {}: skipped: {why}", self.name(), self.prop);
    }

    /// Fails the property, naming the backend, the property and the current step.
    #[track_caller]
    pub(crate) fn fail(&self, msg: impl Display) -> ! {
        let step = self.step.borrow();
        let step = if step.is_empty() {
            String::new()
        } else {
            format!(" ({step})")
        };
        panic!("[{}] {}{step}: {msg}", self.name(), self.prop)
    }

    /// Fails with `msg()` unless `cond`.
    #[track_caller]
    pub(crate) fn check(&self, cond: bool, msg: impl FnOnce() -> String) {
        if !cond {
            self.fail(msg())
        }
    }

    /// The value of `result`, or a failure saying `what` went wrong.
    #[track_caller]
    pub(crate) fn ok<T>(&self, result: io::Result<T>, what: impl Display) -> T {
        match result {
            Ok(v) => v,
            Err(e) => self.fail(format_args!("{what} failed: {e} (kind {:?})", e.kind())),
        }
    }

    /// Checks that `result` is an error of `kind` whose message names the backend.
    #[track_caller]
    pub(crate) fn err_kind<T: Debug>(
        &self,
        result: io::Result<T>,
        kind: io::ErrorKind,
        what: impl Display,
    ) -> io::Error {
        let e = self.err(result, &what);
        self.check(e.kind() == kind, || {
            format!(
                "{what}: expected an error of kind {kind:?}, got {:?}: {e}",
                e.kind()
            )
        });
        e
    }

    /// Checks that `result` is an error (of any kind) whose message names the backend.
    #[track_caller]
    pub(crate) fn err<T: Debug>(&self, result: io::Result<T>, what: impl Display) -> io::Error {
        match result {
            Ok(v) => self.fail(format_args!("{what}: expected an error, got Ok({v:?})")),
            Err(e) => {
                self.check(e.to_string().contains(self.name()), || {
                    format!("{what}: the error message does not name the backend: {e}")
                });
                e
            }
        }
    }

    /// Checks [`err_kind`](Cx::err_kind), and that the message also names `fd`.
    #[track_caller]
    pub(crate) fn err_fd<T: Debug>(
        &self,
        result: io::Result<T>,
        kind: io::ErrorKind,
        fd: BorrowedSource<'_>,
        what: impl Display,
    ) -> io::Error {
        let fd = fd.raw();
        let e = self.err_kind(result, kind, &what);
        self.check(e.to_string().contains(&fd.to_string()), || {
            format!("{what}: the error message does not name fd {fd}: {e}")
        });
        e
    }
}

/// Registration and selecting, each checked.
impl<S: Selector> Cx<S> {
    /// An events buffer of `capacity`.
    #[track_caller]
    pub(crate) fn events(&self, capacity: usize) -> Events<S> {
        self.ok(Events::with_capacity(capacity), "Events::with_capacity")
    }

    /// `register`, which must succeed.
    #[track_caller]
    pub(crate) fn register(&self, fd: BorrowedSource<'_>, token: Token, i: Interest, mode: Mode) {
        let what = format!("register(fd {}, {token:?}, {i:?}, {mode:?})", fd.raw());
        self.ok(self.sel.register(fd, token, i, mode), what)
    }

    /// `reregister`, which must succeed.
    #[track_caller]
    pub(crate) fn reregister(&self, fd: BorrowedSource<'_>, token: Token, i: Interest, mode: Mode) {
        let what = format!("reregister(fd {}, {token:?}, {i:?}, {mode:?})", fd.raw());
        self.ok(self.sel.reregister(fd, token, i, mode), what)
    }

    /// `deregister`, which must succeed.
    #[track_caller]
    pub(crate) fn deregister(&self, fd: BorrowedSource<'_>) {
        let what = format!("deregister(fd {})", fd.raw());
        self.ok(self.sel.deregister(fd), what)
    }

    /// One `select`, which must succeed; checks the capacity and that neither the waker's
    /// token nor the watchdog's appears.
    #[track_caller]
    pub(crate) fn select(&self, events: &mut Events<S>, timeout: Option<Duration>) -> Batch {
        let start = Instant::now();
        let result = self.sel.select(events, timeout);
        let elapsed = start.elapsed();
        self.ok(result, format_args!("select({timeout:?})"));
        self.batch(events, elapsed)
    }

    /// Decodes and checks what a successful `select` stored in `events`.
    #[track_caller]
    pub(crate) fn batch(&self, events: &Events<S>, elapsed: Duration) -> Batch {
        let batch = Batch {
            events: events.iter().collect(),
            elapsed,
        };
        self.check(batch.events.len() <= events.capacity(), || {
            format!(
                "select stored {} events in a buffer of capacity {}",
                batch.events.len(),
                events.capacity()
            )
        });
        self.check(!batch.has(Token::RESERVED), || {
            format!("an event with Token::RESERVED (the waker's) reached the caller: {batch:?}")
        });
        self.check(!batch.has(RESCUE), || {
            format!(
                "select did not return within {PATIENCE:?}; the watchdog pipe ended it ({batch:?})"
            )
        });
        batch
    }

    /// Selects until one batch reports `token` with every flag of `want`; fails after
    /// [`PATIENCE`]. Other events (spurious or not) are ignored.
    #[track_caller]
    pub(crate) fn wait_for(&self, events: &mut Events<S>, token: Token, want: Ready) -> Ready {
        self.wait_until(events, token, &format!("{want:?}"), |r| r.contains(want))
    }

    /// Like [`wait_for`](Cx::wait_for), for any one flag of `any`.
    #[track_caller]
    pub(crate) fn wait_for_any(&self, events: &mut Events<S>, token: Token, any: Ready) -> Ready {
        self.wait_until(events, token, &format!("any of {any:?}"), |r| {
            r.intersects(any)
        })
    }

    #[track_caller]
    fn wait_until(
        &self,
        events: &mut Events<S>,
        token: Token,
        want: &str,
        pred: impl Fn(Ready) -> bool,
    ) -> Ready {
        let deadline = Instant::now() + PATIENCE;
        // Each distinct readiness reported instead, with how many batches reported it.
        let mut seen: Vec<(Ready, usize)> = Vec::new();
        while let Some(left) = left(deadline) {
            if let Some(ready) = self.select(events, Some(left)).ready(token) {
                if pred(ready) {
                    return ready;
                }
                match seen.iter_mut().find(|(r, _)| *r == ready) {
                    Some((_, n)) => *n += 1,
                    None => seen.push((ready, 1)),
                }
            }
        }
        self.fail(format_args!(
            "no event for {token:?} with {want} within {PATIENCE:?}; reported instead (readiness, batches): {seen:?}"
        ))
    }

    /// Selects until `token` has been reported with every flag of `want`, merging its
    /// readiness across batches.
    #[track_caller]
    pub(crate) fn wait_for_union(&self, events: &mut Events<S>, token: Token, want: Ready) {
        let deadline = Instant::now() + PATIENCE;
        let mut seen = Ready::EMPTY;
        while let Some(left) = left(deadline) {
            seen |= self
                .select(events, Some(left))
                .ready(token)
                .unwrap_or_default();
            if seen.contains(want) {
                return;
            }
        }
        self.fail(format_args!(
            "{token:?} was not reported with {want:?} within {PATIENCE:?}; seen: {seen:?}"
        ))
    }

    /// Like [`wait_for`](Cx::wait_for), but any event for another token is a failure.
    #[track_caller]
    pub(crate) fn only(&self, events: &mut Events<S>, token: Token, want: Ready) -> Ready {
        let deadline = Instant::now() + PATIENCE;
        while let Some(left) = left(deadline) {
            let batch = self.select(events, Some(left));
            if let Some(other) = batch.events.iter().find(|e| e.token() != token) {
                self.fail(format_args!(
                    "unexpected event {other:?}; only {token:?} is registered"
                ));
            }
            match batch.ready(token) {
                Some(ready) if ready.contains(want) => return ready,
                _ => {}
            }
        }
        self.fail(format_args!(
            "no event for {token:?} with {want:?} within {PATIENCE:?}"
        ))
    }

    /// Each of `n` consecutive selects reports `token` with `want` (Level while ready).
    #[track_caller]
    pub(crate) fn reported_each(
        &self,
        events: &mut Events<S>,
        token: Token,
        want: Ready,
        n: usize,
    ) {
        for i in 1..=n {
            let batch = self.select(events, Some(PATIENCE));
            self.check(batch.ready(token).is_some_and(|r| r.contains(want)), || {
                format!("select {i} of {n} did not report {token:?} with {want:?} again: {batch:?}")
            });
        }
    }

    /// No event at all for `token` during [`QUIET`] (several selects).
    #[track_caller]
    pub(crate) fn silent(&self, events: &mut Events<S>, token: Token, why: &str) {
        self.never(events, token, None, why)
    }

    /// `want` reported for `token` once, then nothing more (`why`) during [`QUIET`]: how a
    /// Oneshot or Edge registration answers one readiness.
    #[track_caller]
    pub(crate) fn reported_once(
        &self,
        events: &mut Events<S>,
        token: Token,
        want: Ready,
        why: &str,
    ) {
        self.wait_for(events, token, want);
        self.silent(events, token, why)
    }

    /// No event for `token` with any flag of `flags` (`None`: no event at all) during
    /// [`QUIET`], checked over several selects.
    #[track_caller]
    pub(crate) fn never(
        &self,
        events: &mut Events<S>,
        token: Token,
        flags: Option<Ready>,
        why: &str,
    ) {
        let deadline = Instant::now() + QUIET;
        while let Some(left) = left(deadline) {
            let batch = self.select(events, Some(left.min(QUIET / 5)));
            if let Some(ready) = batch.ready(token) {
                if flags.is_none_or(|f| ready.intersects(f)) {
                    self.fail(format_args!(
                        "{token:?} was reported as {ready:?}, but {why}"
                    ));
                }
            }
        }
    }

    /// A `select(Some(timeout))` with no event returns no earlier than `timeout`. A batch
    /// with events may end early; after three such batches in a row the check fails.
    #[track_caller]
    pub(crate) fn never_early(&self, events: &mut Events<S>, timeout: Duration) {
        for _ in 0..3 {
            let batch = self.select(events, Some(timeout));
            if batch.events.is_empty() {
                self.check(batch.elapsed >= timeout, || {
                    format!(
                        "select(Some({timeout:?})) returned after {:?} with no event",
                        batch.elapsed
                    )
                });
                return;
            }
        }
        self.fail(format_args!(
            "select(Some({timeout:?})) kept returning events on an idle fd"
        ))
    }
}

impl<S: Selector> fmt::Debug for Cx<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cx")
            .field("backend", &self.name())
            .field("property", &self.prop)
            .finish()
    }
}

/// The time left until `deadline`, `None` once it passed.
pub(crate) fn left(deadline: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then_some(left)
}
