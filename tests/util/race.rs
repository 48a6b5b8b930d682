//! Helpers of the race-free `connect`/`listen` tests (`tests/race_free.rs`): a handler
//! that records every `ready` call with its iteration, a loop driver with a deadline,
//! unique Unix socket paths, and the "nothing registered, nothing pending" check.
#![allow(dead_code)]

use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use selectio::{EventLoop, Handler, Mode, Ready, Selector, Token};

/// The longest a test waits for a notification that must come (never reached on a
/// working system: loopback events arrive in microseconds).
pub const LIMIT: Duration = Duration::from_secs(10);

/// One iteration's wait while polling for a condition: long enough not to spin, short
/// enough to re-check the deadline.
const STEP: Option<Duration> = Some(Duration::from_millis(100));

/// What a test needs of a selector: `Debug`, the only public view of the loop's registry.
pub trait TestSelector: Selector + Debug {}
impl<S: Selector + Debug> TestSelector for S {}

/// Records every `ready` call as (iteration, token, ready); `tick` counts iterations.
#[derive(Debug, Default)]
pub struct Rec {
    pub iteration: usize,
    pub seen: Vec<(usize, Token, Ready)>,
}

impl<S: Selector> Handler<S> for Rec {
    type Timeout = ();
    type Message = ();

    fn ready(&mut self, _: &mut EventLoop<Self, S>, token: Token, ready: Ready) {
        self.seen.push((self.iteration, token, ready));
    }

    fn tick(&mut self, _: &mut EventLoop<Self, S>) {
        self.iteration += 1;
    }
}

impl Rec {
    /// The notifications of `token`, in order, as (iteration, ready).
    pub fn of(&self, token: Token) -> Vec<(usize, Ready)> {
        self.seen
            .iter()
            .filter(|s| s.1 == token)
            .map(|s| (s.0, s.2))
            .collect()
    }

    /// The first notification of `token` that intersects `want`.
    pub fn first(&self, token: Token, want: Ready) -> Option<Ready> {
        self.of(token)
            .into_iter()
            .map(|(_, r)| r)
            .find(|r| r.intersects(want))
    }
}

/// The loop every race-free test drives.
pub type El<S> = EventLoop<Rec, S>;

/// A loop on a new `S`.
#[track_caller]
pub fn new_loop<S: TestSelector>() -> El<S> {
    EventLoop::new().expect("EventLoop::new")
}

/// Runs iterations until `done(log)` holds; panics after [`LIMIT`] naming `what`.
#[track_caller]
pub fn run_until<S: TestSelector>(
    el: &mut El<S>,
    h: &mut Rec,
    what: &str,
    mut done: impl FnMut(&Rec) -> bool,
) {
    let deadline = Instant::now() + LIMIT;
    while !done(h) {
        assert!(
            Instant::now() < deadline,
            "{}: no {what} within {LIMIT:?}; log: {:?}",
            el.selector().name(),
            h.seen
        );
        el.run_once(h, STEP).expect("run_once");
    }
}

/// Runs iterations until `token` gets a notification intersecting `want`; returns it.
#[track_caller]
pub fn wait_for<S: TestSelector>(el: &mut El<S>, h: &mut Rec, token: Token, want: Ready) -> Ready {
    let what = format!("{want:?} notification for {token:?}");
    run_until(el, h, &what, |h| h.first(token, want).is_some());
    h.first(token, want).expect("just seen")
}

/// Runs a few more iterations (three that do not block, then one 20 ms wait) so that
/// notifications that should not come would show. Not needed for any test to pass.
pub fn settle<S: TestSelector>(el: &mut El<S>, h: &mut Rec) {
    for timeout in [0, 0, 0, 20] {
        el.run_once(h, Some(Duration::from_millis(timeout)))
            .expect("run_once");
    }
}

/// Asserts the loop holds no registration and no queued synthetic event, read from its
/// `Debug` output ("every test ends with an empty loop").
#[track_caller]
pub fn assert_empty<S: TestSelector>(el: &El<S>) {
    let dbg = format!("{el:?}");
    assert!(
        dbg.contains("registered: 0,") && dbg.contains("pending: 0,"),
        "registrations or synthetic events left: {dbg}"
    );
}

/// Asserts `result` failed with `kind` and nothing is registered or queued, and that an
/// iteration delivers nothing.
#[track_caller]
pub fn assert_refused<T: Debug, S: TestSelector>(
    el: &mut El<S>,
    result: io::Result<T>,
    kind: io::ErrorKind,
    ctx: &str,
) -> io::Error {
    let err = result.expect_err(ctx);
    assert_eq!(err.kind(), kind, "{ctx}: {err}");
    assert_empty(el);
    let mut h = Rec::default();
    el.run_once(&mut h, Some(Duration::ZERO)).expect("run_once");
    assert!(
        h.seen.is_empty(),
        "{ctx}: notified after a refused call: {h:?}"
    );
    err
}

/// The modes `el`'s backend supports, and those it does not.
pub fn modes<S: TestSelector>(el: &El<S>) -> (Vec<Mode>, Vec<Mode>) {
    let caps = el.selector().capabilities();
    Mode::ALL.into_iter().partition(|&m| caps.supports(m))
}

/// A unique Unix socket path in the temp directory, removed on drop.
#[derive(Debug)]
pub struct SockPath(PathBuf);

impl SockPath {
    pub fn new() -> SockPath {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("selectio-racefree-{}-{n}.sock", std::process::id());
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_file(&path);
        SockPath(path)
    }
}

impl AsRef<Path> for SockPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl std::ops::Deref for SockPath {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for SockPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
