//! Shared helpers of the EventLoop tests (`event_loop.rs`, `timers.rs`, `notify.rs`,
//! `unwind.rs`, `faults.rs`): the tokens, readiness and waits they name, socket pairs, a
//! loop's usual set-up and end, a recording `Handler` with per-callback hooks, and
//! `CountingSelector`, a wrapping selector that counts wakes and can inject faults, or
//! commit a deliberate [`Bug`] (the Selector model's mutants, `tests/selector/model.rs`).
//!
//! Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::fmt::{self, Debug};
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use selectio::selector::Capabilities;
use selectio::{
    BorrowedSource, Event, EventLoop, Events, Handler, Interest, Mode, Ready, Selector, Source,
    Token,
};

/// Tokens named by their number, for tests that need a few.
pub const T0: Token = Token(0);
pub const T1: Token = Token(1);
pub const T2: Token = Token(2);
pub const T3: Token = Token(3);
pub const R: Ready = Ready::READABLE;
pub const W: Ready = Ready::WRITABLE;
/// A `run_once` that only collects what is ready.
pub const ZERO: Option<Duration> = Some(Duration::ZERO);
/// A bound for "the loop does not hang"; never reached when the code is right.
pub const LONG: Option<Duration> = Some(Duration::from_secs(5));

/// What the behaviour tests need of a selector: `Debug`, to check the loop's registry.
pub trait TestSelector: Selector + Debug {}
impl<S: Selector + Debug> TestSelector for S {}

/// One end of a [`pair`]: a Unix stream socket.
#[cfg(unix)]
pub type Stream = std::os::unix::net::UnixStream;
/// One end of a [`pair`]: a loopback TCP stream (Windows has no `socketpair`).
#[cfg(windows)]
pub type Stream = std::net::TcpStream;

/// A connected stream pair: `socketpair(2)` on Unix.
#[cfg(unix)]
fn connected() -> (Stream, Stream) {
    Stream::pair().expect("socketpair")
}

/// A connected stream pair: a loopback TCP connection (with `TCP_NODELAY`, so a one-byte
/// write is sent at once).
#[cfg(windows)]
fn connected() -> (Stream, Stream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = Stream::connect(listener.local_addr().expect("local_addr")).expect("connect");
    let (b, _) = listener.accept().expect("accept");
    for s in [&a, &b] {
        s.set_nodelay(true).expect("set_nodelay");
    }
    (a, b)
}

/// A descriptor's number: `RawFd` on Unix, `RawSocket` on Windows.
#[cfg(unix)]
pub type RawSource = std::os::fd::RawFd;
/// A descriptor's number: `RawFd` on Unix, `RawSocket` on Windows.
#[cfg(windows)]
pub type RawSource = std::os::windows::io::RawSocket;

/// The number of `io`'s descriptor, for tests that close it and hand the number back
/// (through an `unsafe` `BorrowedSource::borrow_raw` that says why).
pub fn raw<E: Source + ?Sized>(io: &E) -> RawSource {
    #[cfg(unix)]
    return std::os::fd::AsRawFd::as_raw_fd(&io.source());
    #[cfg(windows)]
    return std::os::windows::io::AsRawSocket::as_raw_socket(&io.source());
}

/// A connected, non-blocking stream pair.
#[track_caller]
pub fn pair() -> (Stream, Stream) {
    let (a, b) = connected();
    a.set_nonblocking(true).expect("set_nonblocking");
    b.set_nonblocking(true).expect("set_nonblocking");
    (a, b)
}

/// A pair whose first end has one byte to read.
#[track_caller]
pub fn readable_pair() -> (Stream, Stream) {
    let (a, mut b) = pair();
    b.write_all(b"x").expect("write");
    #[cfg(windows)]
    arrived(&a);
    (a, b)
}

/// Waits until the byte written into the peer can be read from `a`: loopback TCP
/// delivers it asynchronously (under load, after the test's first `select`).
#[cfg(windows)]
#[track_caller]
fn arrived(a: &Stream) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match a.peek(&mut [0u8; 1]) {
            Ok(_) => return,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("the byte never arrived: {e}"),
        }
    }
}

/// Reads everything available; `WouldBlock` ends it.
pub fn drain(mut s: &Stream) -> usize {
    let mut buf = [0u8; 256];
    let mut total = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// A new loop with each source registered under its token, readable and level-triggered:
/// the start of most dispatch tests.
#[track_caller]
pub fn loop_reading<H: Handler<S>, S: Selector, E: Source>(
    sources: &[(&E, Token)],
) -> EventLoop<H, S> {
    let mut el = EventLoop::new().expect("EventLoop::new");
    for &(s, token) in sources {
        el.register(s, token, Interest::READABLE, Mode::Level)
            .expect("register");
    }
    el
}

/// Deregisters each source, then asserts nothing is left registered: the end of a test
/// that registered them.
#[track_caller]
pub fn deregister_all_and_assert_empty<'s, H: Handler<S>, S: TestSelector, E: Source + 's>(
    el: &mut EventLoop<H, S>,
    sources: impl IntoIterator<Item = &'s E>,
) {
    for s in sources {
        el.deregister(s).expect("deregister");
    }
    assert_nothing_registered(el);
}

/// Asserts the loop holds no registration ("every test ends with an empty loop"), read
/// from its `Debug` output, the only public view of its registry.
#[track_caller]
pub fn assert_nothing_registered<H: Handler<S>, S: TestSelector>(el: &EventLoop<H, S>) {
    assert_eq!(el.registered(), 0, "registrations left: {el:?}");
}

/// One recorded callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Ready(Token, Ready),
    Notify(u64),
    Timeout(u64),
    Interrupted,
    Tick,
}

/// What a [`Recorder`] saw: each call with its iteration number (counted by `tick`) and
/// the time it was made.
#[derive(Debug, Default)]
pub struct Log {
    pub calls: Vec<(usize, Instant, Call)>,
    /// The current iteration: the number of `tick` calls so far.
    pub iteration: usize,
}

impl Log {
    fn push(&mut self, call: Call) {
        self.calls.push((self.iteration, Instant::now(), call));
    }

    /// The calls of iteration `i`, in order.
    pub fn iteration_calls(&self, i: usize) -> Vec<Call> {
        self.calls
            .iter()
            .filter(|c| c.0 == i)
            .map(|c| c.2)
            .collect()
    }

    /// Every call, in order, without iteration and time.
    pub fn all(&self) -> Vec<Call> {
        self.calls.iter().map(|c| c.2).collect()
    }

    /// How many calls match `pred`.
    pub fn count(&self, pred: impl Fn(&Call) -> bool) -> usize {
        self.calls.iter().filter(|c| pred(&c.2)).count()
    }

    /// The `ready` calls as (iteration, token, ready).
    pub fn readies(&self) -> Vec<(usize, Token, Ready)> {
        self.calls
            .iter()
            .filter_map(|c| match c.2 {
                Call::Ready(t, r) => Some((c.0, t, r)),
                _ => None,
            })
            .collect()
    }

    /// The fired timers as (iteration, time, id).
    pub fn timeouts(&self) -> Vec<(usize, Instant, u64)> {
        self.calls
            .iter()
            .filter_map(|c| match c.2 {
                Call::Timeout(id) => Some((c.0, c.1, id)),
                _ => None,
            })
            .collect()
    }

    /// The ids of the fired timers, in firing order.
    pub fn timeout_ids(&self) -> Vec<u64> {
        self.timeouts().into_iter().map(|t| t.2).collect()
    }

    /// The messages received, in order.
    pub fn messages(&self) -> Vec<u64> {
        self.calls
            .iter()
            .filter_map(|c| match c.2 {
                Call::Notify(m) => Some(m),
                _ => None,
            })
            .collect()
    }
}

/// A recorded `ready` call.
pub fn rd(token: Token, ready: Ready) -> Call {
    Call::Ready(token, ready)
}

/// The loop type a [`Recorder`] runs in.
pub type El<'a, S> = EventLoop<Recorder<'a, S>, S>;
type Hook<'a, S, A> = Box<dyn FnMut(&mut El<'a, S>, &mut Log, A) + 'a>;

/// A handler that logs every callback (overriding `ready`, so the default routing is not
/// involved) and then runs the hook set for it, if any. Timers and messages are `u64`s.
pub struct Recorder<'a, S: Selector> {
    pub log: Log,
    on_ready: Option<Hook<'a, S, (Token, Ready)>>,
    on_notify: Option<Hook<'a, S, u64>>,
    on_timeout: Option<Hook<'a, S, u64>>,
    on_interrupted: Option<Hook<'a, S, ()>>,
    on_tick: Option<Hook<'a, S, ()>>,
}

impl<S: Selector> Debug for Recorder<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder").field("log", &self.log).finish()
    }
}

impl<S: Selector> Default for Recorder<'_, S> {
    fn default() -> Self {
        Recorder {
            log: Log::default(),
            on_ready: None,
            on_notify: None,
            on_timeout: None,
            on_interrupted: None,
            on_tick: None,
        }
    }
}

macro_rules! hook_setter {
    ($name:ident, $field:ident, $arg:ty) => {
        pub fn $name(mut self, f: impl FnMut(&mut El<'a, S>, &mut Log, $arg) + 'a) -> Self {
            self.$field = Some(Box::new(f));
            self
        }
    };
}

impl<'a, S: Selector> Recorder<'a, S> {
    pub fn new() -> Self {
        Self::default()
    }
    hook_setter!(on_ready, on_ready, (Token, Ready));
    hook_setter!(on_notify, on_notify, u64);
    hook_setter!(on_timeout, on_timeout, u64);
    hook_setter!(on_interrupted, on_interrupted, ());
    hook_setter!(on_tick, on_tick, ());

    /// Sets the `ready` hook to run `f` in the first `ready` call for `token`, and never
    /// again: a registration change made once, in the middle of a batch.
    pub fn on_first_ready(self, token: Token, f: impl FnOnce(&mut El<'a, S>) + 'a) -> Self {
        let mut f = Some(f);
        self.on_ready(move |el, _, (t, _)| {
            if t == token {
                if let Some(f) = f.take() {
                    f(el);
                }
            }
        })
    }
}

fn run_hook<'a, S: Selector, A>(
    hook: &mut Option<Hook<'a, S, A>>,
    el: &mut El<'a, S>,
    log: &mut Log,
    arg: A,
) {
    if let Some(mut f) = hook.take() {
        f(el, log, arg);
        *hook = Some(f);
    }
}

impl<'a, S: Selector> Handler<S> for Recorder<'a, S> {
    type Timeout = u64;
    type Message = u64;

    fn ready(&mut self, el: &mut El<'a, S>, token: Token, ready: Ready) {
        self.log.push(Call::Ready(token, ready));
        run_hook(&mut self.on_ready, el, &mut self.log, (token, ready));
    }

    fn notify(&mut self, el: &mut El<'a, S>, msg: u64) {
        self.log.push(Call::Notify(msg));
        run_hook(&mut self.on_notify, el, &mut self.log, msg);
    }

    fn timeout(&mut self, el: &mut El<'a, S>, id: u64) {
        self.log.push(Call::Timeout(id));
        run_hook(&mut self.on_timeout, el, &mut self.log, id);
    }

    fn interrupted(&mut self, el: &mut El<'a, S>) {
        self.log.push(Call::Interrupted);
        run_hook(&mut self.on_interrupted, el, &mut self.log, ());
    }

    fn tick(&mut self, el: &mut El<'a, S>) {
        self.log.push(Call::Tick);
        run_hook(&mut self.on_tick, el, &mut self.log, ());
        self.log.iteration += 1;
    }
}

/// Runs `run_once(Some(ZERO))` until `done` or `max` iterations; returns whether `done`.
pub fn spin_until<H: Handler<S>, S: Selector>(
    el: &mut EventLoop<H, S>,
    h: &mut H,
    max: usize,
    mut done: impl FnMut(&H) -> bool,
) -> bool {
    for _ in 0..max {
        if done(h) {
            return true;
        }
        el.run_once(h, Some(Duration::ZERO)).expect("run_once");
    }
    done(h)
}

/// A closure run by [`CountingSelector`] at the start of its next `select`.
pub type SelectHook = Box<dyn FnOnce() + Send>;

/// A contract violation a [`CountingSelector`] commits on purpose, for the whole of its
/// life: a checker that is not vacuous must catch each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// `deregister` answers `Ok` and does nothing.
    IgnoreDeregister,
    /// Oneshot registrations are made Level.
    OneshotAsLevel,
    /// Edge registrations are made Level.
    EdgeAsLevel,
    /// A `select` that got more than one event drops the last.
    DropLastEvent,
    /// A `reregister` of an unknown fd registers it: what poll(2) may do with a reused
    /// number's stale entry, and the Selector model allows there only.
    AdoptUnknown,
}

/// A selector that delegates to `S`, counts `wake` and `select` calls, and can inject
/// faults: make the next selects fail (`Interrupted` or any kind), fail `wake`, report
/// every event twice (as kqueue reports reading and writing apart), run a hook inside
/// `select` — that is, while the loop is about to block — or commit a [`Bug`].
pub struct CountingSelector<S: Selector> {
    inner: S,
    /// `select` fills this buffer of the inner type, then copies the raw events out.
    buf: Mutex<Option<Events<S>>>,
    wakes: AtomicUsize,
    selects: AtomicUsize,
    /// How many of the next selects fail, and with which kind.
    failures: AtomicUsize,
    failure_kind: Mutex<io::ErrorKind>,
    /// How many of the next wakes fail.
    wake_failures: AtomicUsize,
    duplicate: AtomicBool,
    hook: Mutex<Option<SelectHook>>,
    bug: Option<Bug>,
    /// Dropped with the selector (and so with the wrapped one and its fds).
    alive: Arc<()>,
}

impl<S: Selector> CountingSelector<S> {
    pub fn wrap(inner: S) -> Self {
        CountingSelector {
            inner,
            buf: Mutex::new(None),
            wakes: AtomicUsize::new(0),
            selects: AtomicUsize::new(0),
            failures: AtomicUsize::new(0),
            failure_kind: Mutex::new(io::ErrorKind::Interrupted),
            wake_failures: AtomicUsize::new(0),
            duplicate: AtomicBool::new(false),
            hook: Mutex::new(None),
            bug: None,
            alive: Arc::new(()),
        }
    }

    /// Commits `bug` from now on.
    pub fn with_bug(mut self, bug: Bug) -> Self {
        self.bug = Some(bug);
        self
    }

    /// Upgrades while this selector, and the wrapped one with its fds, is not dropped.
    pub fn alive(&self) -> Weak<()> {
        Arc::downgrade(&self.alive)
    }

    /// `wake` calls so far.
    pub fn wakes(&self) -> usize {
        self.wakes.load(SeqCst)
    }

    /// `select` calls so far.
    pub fn selects(&self) -> usize {
        self.selects.load(SeqCst)
    }

    /// The next `n` selects return `Err(kind)` with no events, without asking `S`.
    pub fn fail_next_selects(&self, n: usize, kind: io::ErrorKind) {
        *self.failure_kind.lock().unwrap() = kind;
        self.failures.store(n, SeqCst);
    }

    /// The next `n` wakes fail with `BrokenPipe` (and do not wake).
    pub fn fail_next_wakes(&self, n: usize) {
        self.wake_failures.store(n, SeqCst);
    }

    /// Reports every event twice while `on`.
    pub fn duplicate_events(&self, on: bool) {
        self.duplicate.store(on, SeqCst);
    }

    /// Runs `f` at the start of the next `select`.
    pub fn on_next_select(&self, f: impl FnOnce() + Send + 'static) {
        *self.hook.lock().unwrap() = Some(Box::new(f));
    }

    fn take_failure(&self) -> Option<io::Error> {
        take_one(&self.failures)
            .then(|| io::Error::new(*self.failure_kind.lock().unwrap(), "injected by test"))
    }

    /// The mode `S` is asked for: `mode`, unless a [`Bug`] makes it Level.
    fn mode(&self, mode: Mode) -> Mode {
        match (self.bug, mode) {
            (Some(Bug::OneshotAsLevel), Mode::Oneshot) | (Some(Bug::EdgeAsLevel), Mode::Edge) => {
                Mode::Level
            }
            _ => mode,
        }
    }
}

/// Takes one from a countdown; `false` when it is at zero.
fn take_one(n: &AtomicUsize) -> bool {
    n.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)).is_ok()
}

impl<S: Selector> Debug for CountingSelector<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingSelector")
            .field("inner", &self.inner.name())
            .field("wakes", &self.wakes())
            .field("selects", &self.selects())
            .finish()
    }
}

impl<S: Selector> Selector for CountingSelector<S> {
    type RawEvent = S::RawEvent;

    fn new() -> io::Result<Self> {
        S::new().map(CountingSelector::wrap)
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn register(
        &self,
        fd: BorrowedSource<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        self.inner.register(fd, token, interest, self.mode(mode))
    }

    fn reregister(
        &self,
        fd: BorrowedSource<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        match self.inner.reregister(fd, token, interest, self.mode(mode)) {
            Err(e)
                if self.bug == Some(Bug::AdoptUnknown) && e.kind() == io::ErrorKind::NotFound =>
            {
                self.inner.register(fd, token, interest, self.mode(mode))
            }
            result => result,
        }
    }

    fn deregister(&self, fd: BorrowedSource<'_>) -> io::Result<()> {
        match self.bug {
            Some(Bug::IgnoreDeregister) => Ok(()),
            _ => self.inner.deregister(fd),
        }
    }

    fn select(&self, events: &mut Events<Self>, timeout: Option<Duration>) -> io::Result<()> {
        self.selects.fetch_add(1, SeqCst);
        events.clear();
        let hook = self.hook.lock().unwrap().take();
        if let Some(f) = hook {
            f();
        }
        if let Some(e) = self.take_failure() {
            return Err(e);
        }
        let mut buf = self.buf.lock().unwrap();
        if buf
            .as_ref()
            .is_none_or(|b| b.capacity() != events.capacity())
        {
            *buf = Some(Events::with_capacity(events.capacity())?);
        }
        let inner = buf.as_mut().expect("buffer");
        self.inner.select(inner, timeout)?;
        events.clear();
        let keep = match self.bug {
            Some(Bug::DropLastEvent) if inner.len() > 1 => inner.len() - 1,
            _ => inner.len(),
        };
        let copies = if self.duplicate.load(SeqCst) { 2 } else { 1 };
        for _ in 0..copies {
            for &raw in &inner.raw()[..keep] {
                // A duplicated batch may not fit: the rest is dropped, as a full buffer does.
                let _ = events.push(raw);
            }
        }
        Ok(())
    }

    fn wake(&self) -> io::Result<()> {
        self.wakes.fetch_add(1, SeqCst);
        if take_one(&self.wake_failures) {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "wake failure injected by test",
            ));
        }
        self.inner.wake()
    }

    fn decode(raw: &S::RawEvent) -> Event {
        S::decode(raw)
    }
}

/// Sends `msg` on `tx`, yielding the CPU while the queue is full: a sender that must not
/// lose a message. Any other error (the loop is gone, its wake failed) comes back.
pub fn send_when_room<M>(
    tx: &selectio::Sender<M>,
    mut msg: M,
) -> Result<(), selectio::NotifyError<M>> {
    loop {
        match tx.send(msg) {
            Err(selectio::NotifyError::Full(m)) => {
                msg = m;
                std::thread::yield_now();
            }
            other => return other,
        }
    }
}
