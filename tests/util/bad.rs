//! Helpers of `tests/bad_input.rs`: error assertions, a witness registration that must
//! keep delivering after a failed call, a recording handler, and child-process isolation
//! for inputs that could take the whole test process down.
#![allow(dead_code)]

use std::fmt::Debug;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::panic::{self, AssertUnwindSafe};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use selectio::net::UdpSocket;
use selectio::{EventLoop, Events, Handler, Interest, Mode, Ready, Selector, Source, Token};

/// The number of `io`'s descriptor (fd on Unix, socket on Windows), as messages name it.
pub fn number<E: Source + ?Sized>(io: &E) -> String {
    #[cfg(unix)]
    return std::os::fd::AsRawFd::as_raw_fd(&io.source()).to_string();
    #[cfg(windows)]
    return std::os::windows::io::AsRawSocket::as_raw_socket(&io.source()).to_string();
}

/// The token of the witness registration in every case.
pub const WITNESS: Token = Token(7);

/// How long a helper waits for something that should come at once.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// Serialises the cases of this binary: several of them close an fd and reuse or watch
/// its number, which a case running in parallel could otherwise take.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Asserts `result` failed with one of `kinds` and a message containing every one of
/// `needles` (ASCII case-insensitive); returns the error.
#[track_caller]
pub fn expect_err<T: Debug>(
    result: io::Result<T>,
    kinds: &[io::ErrorKind],
    needles: &[&str],
) -> io::Error {
    let err = match result {
        Ok(v) => panic!("expected an error of kind {kinds:?}, got Ok({v:?})"),
        Err(e) => e,
    };
    assert!(
        kinds.contains(&err.kind()),
        "expected kind {kinds:?}, got {:?}: {err}",
        err.kind()
    );
    assert_names(&err.to_string(), needles);
    err
}

/// Asserts `message` contains every one of `needles` (ASCII case-insensitive).
#[track_caller]
pub fn assert_names(message: &str, needles: &[&str]) {
    let lower = message.to_ascii_lowercase();
    for needle in needles {
        assert!(
            lower.contains(&needle.to_ascii_lowercase()),
            "the message does not name {needle:?}: {message:?}"
        );
    }
}

/// Runs `f`, turning a panic into a test failure that says a bad input panicked.
#[track_caller]
pub fn no_panic<R>(what: &str, f: impl FnOnce() -> R) -> R {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("<non-string payload>");
            panic!("bad input panicked instead of returning an error: {what}: {msg}")
        }
    }
}

/// A UDP socket on loopback with one datagram queued to itself: readable, and
/// level-triggered readable until `recv`. Portable, unlike a pipe.
#[track_caller]
pub fn witness() -> UdpSocket {
    let sock = UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("bind udp");
    let me = sock.local_addr().expect("local_addr");
    sock.send_to(b"w", me).expect("send_to self");
    sock
}

/// A fresh selector from `new`.
#[track_caller]
pub fn open<S: Selector>(new: fn() -> io::Result<S>) -> S {
    new().expect("open the selector")
}

/// A selector with the witness registered (level, readable) under [`WITNESS`].
#[track_caller]
pub fn with_witness<S: Selector>(new: fn() -> io::Result<S>) -> (S, UdpSocket) {
    let sel = open(new);
    let w = witness();
    sel.register(w.source(), WITNESS, Interest::READABLE, Mode::Level)
        .expect("register the witness");
    (sel, w)
}

/// Selects until an event for `token` arrives (others are tolerated); its flags.
#[track_caller]
pub fn next_event_for<S: Selector>(sel: &S, token: Token) -> Ready {
    let mut events = Events::<S>::with_capacity(64).expect("events");
    let end = Instant::now() + PATIENCE;
    while Instant::now() < end {
        sel.select(&mut events, Some(Duration::from_millis(100)))
            .expect("select");
        if let Some(ev) = events.iter().find(|e| e.token() == token) {
            return ev.ready();
        }
    }
    panic!("no event for {token:?} within {PATIENCE:?}")
}

/// Asserts the witness still delivers a readable event under [`WITNESS`].
#[track_caller]
pub fn assert_witness_delivers<S: Selector>(sel: &S) {
    assert!(next_event_for(sel, WITNESS).is_readable());
}

/// Asserts one non-blocking select reports nothing for `token`.
#[track_caller]
pub fn assert_silent<S: Selector>(sel: &S, token: Token) {
    let mut events = Events::<S>::with_capacity(64).expect("events");
    sel.select(&mut events, Some(Duration::from_millis(20)))
        .expect("select");
    let hit: Vec<_> = events.iter().filter(|e| e.token() == token).collect();
    assert!(hit.is_empty(), "unexpected events for {token:?}: {hit:?}");
}

/// A handler that records what the loop calls, and may run a hook in `timeout`.
pub struct Rec<S: Selector> {
    pub ready: Vec<(Token, Ready)>,
    pub timeouts: Vec<u32>,
    pub messages: Vec<u32>,
    /// Run by `timeout`, with the loop; its result is kept in `hook_result`.
    pub hook: Option<Hook<S>>,
    pub hook_result: Option<io::Result<()>>,
}

/// A hook run inside a callback.
pub type Hook<S> = fn(&mut EventLoop<Rec<S>, S>, &mut Rec<S>) -> io::Result<()>;

impl<S: Selector> Rec<S> {
    pub fn new() -> Rec<S> {
        Rec {
            ready: Vec::new(),
            timeouts: Vec::new(),
            messages: Vec::new(),
            hook: None,
            hook_result: None,
        }
    }

    /// Whether `ready` was called for `token`.
    pub fn saw(&self, token: Token) -> bool {
        self.ready.iter().any(|&(t, _)| t == token)
    }
}

impl<S: Selector> Handler<S> for Rec<S> {
    type Timeout = u32;
    type Message = u32;

    fn ready(&mut self, _: &mut EventLoop<Self, S>, token: Token, ready: Ready) {
        self.ready.push((token, ready));
    }

    fn timeout(&mut self, el: &mut EventLoop<Self, S>, t: u32) {
        self.timeouts.push(t);
        if let Some(hook) = self.hook.take() {
            self.hook_result = Some(hook(el, self));
        }
    }

    fn notify(&mut self, _: &mut EventLoop<Self, S>, msg: u32) {
        self.messages.push(msg);
    }
}

/// A loop over a selector from `new`, default settings.
#[track_caller]
pub fn event_loop<S: Selector>(new: fn() -> io::Result<S>) -> EventLoop<Rec<S>, S> {
    EventLoop::builder()
        .build_with(open(new))
        .expect("build the loop")
}

/// A loop over a selector from `new` with the witness registered (level, readable) under
/// [`WITNESS`].
#[track_caller]
pub fn loop_with_witness<S: Selector>(
    new: fn() -> io::Result<S>,
) -> (EventLoop<Rec<S>, S>, UdpSocket) {
    let mut el = event_loop(new);
    let w = witness();
    el.register(&w, WITNESS, Interest::READABLE, Mode::Level)
        .expect("register the witness");
    (el, w)
}

/// Runs iterations until `done(handler)` or [`PATIENCE`] runs out.
#[track_caller]
pub fn run_until<S: Selector>(
    el: &mut EventLoop<Rec<S>, S>,
    h: &mut Rec<S>,
    what: &str,
    done: impl Fn(&Rec<S>) -> bool,
) {
    let end = Instant::now() + PATIENCE;
    while !done(h) {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        el.run_once(h, Some(Duration::from_millis(50)))
            .expect("run_once");
    }
}

/// Asserts the loop still delivers the witness under [`WITNESS`].
#[track_caller]
pub fn assert_loop_witness<S: Selector>(el: &mut EventLoop<Rec<S>, S>, h: &mut Rec<S>) {
    h.ready.clear();
    run_until(el, h, "the witness event", |h| h.saw(WITNESS));
    let ready = h.ready.iter().find(|(t, _)| *t == WITNESS).map(|e| e.1);
    assert!(ready.is_some_and(Ready::is_readable), "{ready:?}");
}

/// Runs the test `name` of this binary alone in a child process with `env` set, and
/// returns whether it passed; the child runs the body, the parent only watches. For
/// inputs that abort the process (an allocation failure is not a panic) or need an
/// environment variable (setting one in a threaded test process is a data race).
pub fn in_child(name: &str, env: &[(&str, &str)]) -> std::process::Output {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("spawn the test binary")
}

/// Set in a child started by [`in_child`] to the name of the test it runs.
pub const CHILD_ENV: &str = "SELECTIO_BAD_INPUT_CHILD";

/// Whether this process is the child [`in_child`] started for `name`.
pub fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|v| v == name)
}

/// Asserts a child run of `name` passed, showing its output otherwise.
#[track_caller]
pub fn assert_child_passed(name: &str, out: &std::process::Output) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the child run of {name} failed ({}): {text}",
        out.status
    );
    assert!(
        text.contains("1 passed"),
        "the child did not run {name}: {text}"
    );
}
