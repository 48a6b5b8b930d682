//! Signals as an event source (`EventLoop::watch_signal`, `Handler::signal`) on every
//! backend: a storm while messages and I/O flow, two loops on one signal, the previous
//! handler chained and put back, the default disposition put back (in a child process),
//! a child's `SIGCHLD`, and the refusals.
//!
//! Signals are process-wide and the tests of this binary run in parallel threads, so
//! every test holds [`SERIAL`]; each uses its own signal too. None leaves a signal at a
//! disposition that would kill the process: the raises happen only while a loop or an
//! earlier handler catches them.
#![cfg(unix)]

#[macro_use]
mod util;

use std::io::{self, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use selectio::pipe::{pipe, PipeReader};
use selectio::{EventLoop, Handler, Interest, Mode, Selector, Token};
use signal_hook::low_level::raise;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long a loop may wait for what a test expects before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);
const PIPE: Token = Token(7);

/// Records every `signal` call; reads a pipe and counts messages for the storm; stops the
/// loop when `goal` holds, fails it at the deadline timer.
struct Hear {
    calls: Vec<(i32, usize)>,
    pipe: Option<PipeReader>,
    bytes: usize,
    messages: usize,
    /// Raises of the storm's signal left to make from the loop's own thread, one per tick.
    raise_in_tick: usize,
    storm_signal: i32,
    interrupted: usize,
    goal: fn(&Hear) -> bool,
    timed_out: bool,
}

impl Hear {
    fn new(goal: fn(&Hear) -> bool) -> Hear {
        Hear {
            calls: Vec::new(),
            pipe: None,
            bytes: 0,
            messages: 0,
            raise_in_tick: 0,
            storm_signal: 0,
            interrupted: 0,
            goal,
            timed_out: false,
        }
    }

    /// Deliveries of `signal` handed over so far.
    fn heard(&self, signal: i32) -> usize {
        self.calls
            .iter()
            .filter(|(s, _)| *s == signal)
            .map(|(_, n)| n)
            .sum()
    }
}

impl<S: Selector> Handler<S> for Hear {
    type Timeout = ();
    type Message = u32;

    fn readable(&mut self, _: &mut EventLoop<Self, S>, token: Token) {
        assert_eq!(token, PIPE, "an event for a token nobody registered");
        let mut buf = [0u8; 4096];
        let pipe = self.pipe.as_mut().expect("the pipe");
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.bytes += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    fn notify(&mut self, _: &mut EventLoop<Self, S>, _: u32) {
        self.messages += 1;
    }

    fn timeout(&mut self, el: &mut EventLoop<Self, S>, _: ()) {
        self.timed_out = true;
        el.shutdown();
    }

    fn interrupted(&mut self, _: &mut EventLoop<Self, S>) {
        self.interrupted += 1;
    }

    fn signal(&mut self, _: &mut EventLoop<Self, S>, signal: i32, count: usize) {
        assert!(count > 0, "signal({signal}) with a count of 0");
        self.calls.push((signal, count));
    }

    fn tick(&mut self, el: &mut EventLoop<Self, S>) {
        if self.raise_in_tick > 0 {
            self.raise_in_tick -= 1;
            raise(self.storm_signal).expect("raise");
        }
        if (self.goal)(self) {
            el.shutdown();
        }
    }
}

type El<S> = EventLoop<Hear, S>;

/// Runs `el` until `h.goal` holds; fails at [`DEADLINE`].
#[track_caller]
fn run_until<S: Selector>(el: &mut El<S>, h: &mut Hear, what: &str) {
    let deadline = el.timeout((), DEADLINE).expect("timer");
    el.run(h).expect("run");
    el.clear_timeout(&deadline);
    assert!(
        !h.timed_out,
        "{}: timed out waiting for {what}",
        el.selector().name()
    );
}

const STORM: usize = 2_000;
const MESSAGES: usize = 5_000;
const BYTES: usize = 1 << 20;

/// `SIGUSR2` raised from another thread and from the loop's own, while a pipe and the
/// channel keep it busy: every delivery is counted (`raise` returns after the handler
/// ran, so none merge in the kernel), every byte and message arrives.
fn storm_while_messages_and_io_flow<S: Selector>() {
    let _serial = serial();
    let sig = libc::SIGUSR2;
    let mut el: El<S> = EventLoop::new().unwrap();
    el.watch_signal(sig).unwrap();
    let (r, mut w) = pipe().unwrap();
    el.register(&r, PIPE, Interest::READABLE, Mode::Level)
        .unwrap();
    let mut h = Hear::new(|h| {
        h.heard(h.storm_signal) == STORM + 100 && h.bytes == BYTES && h.messages == MESSAGES
    });
    h.pipe = Some(r);
    h.storm_signal = sig;
    h.raise_in_tick = 100;
    let tx = el.channel();
    let storm = thread::spawn(move || {
        for _ in 0..STORM {
            raise(sig).expect("raise");
        }
    });
    let messages = thread::spawn(move || {
        for i in 0..MESSAGES {
            let mut msg = i as u32;
            loop {
                match tx.send(msg) {
                    Ok(()) => break,
                    Err(selectio::NotifyError::Full(m)) => {
                        msg = m;
                        thread::yield_now();
                    }
                    Err(e) => panic!("send: {e:?}"),
                }
            }
        }
    });
    let writer = thread::spawn(move || {
        let chunk = [0x5a; 1000];
        let mut left = BYTES;
        while left > 0 {
            match w.write(&chunk[..left.min(chunk.len())]) {
                Ok(n) => left -= n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::yield_now(),
                Err(e) => panic!("write: {e}"),
            }
        }
    });
    run_until(&mut el, &mut h, "the storm, the bytes and the messages");
    storm.join().unwrap();
    messages.join().unwrap();
    writer.join().unwrap();
    assert_eq!(h.heard(sig), STORM + 100, "{:?}", h.calls.len());
    assert_eq!((h.bytes, h.messages), (BYTES, MESSAGES));
    assert!(
        h.calls.iter().all(|&(s, _)| s == sig),
        "a signal nobody raised"
    );
    el.deregister(h.pipe.as_ref().unwrap()).unwrap();
    // Nothing more than was raised is counted later.
    let mut quiet = Hear::new(|_| false);
    el.run_once(&mut quiet, Some(Duration::ZERO)).unwrap();
    assert_eq!(quiet.calls, []);
    el.unwatch_signal(sig).unwrap();
    assert_eq!(el.registered(), 0);
}

/// Two loops, each blocked in `run` on its own thread, both hear one `SIGUSR1`; dropping
/// one leaves the other hearing.
fn two_loops_hear_one_signal<S: Selector>() {
    let _serial = serial();
    let sig = libc::SIGUSR1;
    let watching = Arc::new(Barrier::new(3));
    let loops: Vec<_> = (0..2)
        .map(|_| {
            let watching = Arc::clone(&watching);
            thread::spawn(move || {
                let mut el: El<S> = EventLoop::new().unwrap();
                el.watch_signal(sig).unwrap();
                watching.wait();
                let mut h = Hear::new(|h| h.heard(libc::SIGUSR1) >= 1);
                run_until(&mut el, &mut h, "SIGUSR1");
                // The loop is dropped here, still watching: that ends its watch.
                h.heard(sig)
            })
        })
        .collect();
    let mut el: El<S> = EventLoop::new().unwrap();
    el.watch_signal(sig).unwrap();
    watching.wait();
    raise(sig).unwrap();
    for l in loops {
        assert_eq!(l.join().unwrap(), 1);
    }
    // Both others are gone; this loop still watches, and hears the first raise and a new one.
    raise(sig).unwrap();
    let mut h = Hear::new(|h| h.heard(libc::SIGUSR1) >= 2);
    run_until(&mut el, &mut h, "SIGUSR1 twice");
    assert_eq!(h.heard(sig), 2);
    el.unwatch_signal(sig).unwrap();
    assert_eq!(el.registered(), 0);
}

/// A handler installed before the watch (signal-hook's) runs on every delivery while the
/// loop watches, and alone after `unwatch_signal`; watching again works.
fn previous_handler_is_chained_then_put_back<S: Selector>() {
    let _serial = serial();
    let sig = libc::SIGHUP;
    let earlier = Arc::new(AtomicBool::new(false));
    let id = signal_hook::flag::register(sig, Arc::clone(&earlier)).unwrap();
    let mut el: El<S> = EventLoop::new().unwrap();
    for round in 0..2 {
        el.watch_signal(sig).unwrap();
        raise(sig).unwrap();
        assert!(earlier.swap(false, SeqCst), "round {round}: not chained");
        let mut h = Hear::new(|h| h.heard(libc::SIGHUP) == 1);
        run_until(&mut el, &mut h, "SIGHUP");
        el.unwatch_signal(sig).unwrap();
        assert_eq!(el.registered(), 0);
        raise(sig).unwrap();
        assert!(earlier.swap(false, SeqCst), "round {round}: not put back");
        assert_eq!(h.calls, [(sig, 1)], "round {round}");
        let mut quiet = Hear::new(|_| false);
        el.run_once(&mut quiet, Some(Duration::ZERO)).unwrap();
        assert_eq!(quiet.calls, [], "round {round}: heard after unwatch");
    }
    signal_hook::low_level::unregister(id);
}

/// The environment variable that makes [`default_disposition_child`] do its part.
const CHILD: &str = "SELECTIO_SIGNALS_TEST_CHILD";

/// In a child process (this test binary again): watch `SIGTERM`, hear one, unwatch,
/// raise it once more. The default action must come back and end the child by `SIGTERM`.
/// `child` is the path of this backend's `default_disposition_child` test.
fn default_disposition_comes_back<S: Selector>(child: &str) {
    let _serial = serial();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            child,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGTERM),
        "{}: the child was not ended by SIGTERM: {:?}\n{stdout}\n{}",
        S::new().unwrap().name(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("heard SIGTERM 1"), "{stdout}");
}

fn default_disposition_child<S: Selector>() {
    assert!(
        std::env::var_os(CHILD).is_some(),
        "run by default_disposition_comes_back only"
    );
    let mut el: El<S> = EventLoop::new().unwrap();
    el.watch_signal(libc::SIGTERM).unwrap();
    raise(libc::SIGTERM).unwrap();
    let mut h = Hear::new(|h| h.heard(libc::SIGTERM) >= 1);
    run_until(&mut el, &mut h, "SIGTERM");
    println!("heard SIGTERM {}", h.heard(libc::SIGTERM));
    el.unwatch_signal(libc::SIGTERM).unwrap();
    raise(libc::SIGTERM).unwrap();
    println!("still alive after SIGTERM");
}

/// A spawned child's exit is heard as `SIGCHLD`; then the child is waited for.
fn sigchld_of_a_spawned_child<S: Selector>() {
    let _serial = serial();
    let mut el: El<S> = EventLoop::new().unwrap();
    el.watch_signal(libc::SIGCHLD).unwrap();
    let mut child = Command::new("true").spawn().unwrap();
    let mut h = Hear::new(|h| h.heard(libc::SIGCHLD) >= 1);
    run_until(&mut el, &mut h, "SIGCHLD");
    assert!(child.wait().unwrap().success());
    el.unwatch_signal(libc::SIGCHLD).unwrap();
    assert_eq!(el.registered(), 0);
}

/// Forbidden and unknown signals, a second watch, an unwatch of nothing, and the loop's
/// own token: precise errors, and the loop keeps working.
fn refusals_are_precise<S: Selector>() {
    let _serial = serial();
    let mut el: El<S> = EventLoop::new().unwrap();
    for sig in [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        0,
        -1,
        100_000,
    ] {
        let e = el.watch_signal(sig).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{sig}: {e}");
        assert!(e.to_string().contains(&sig.to_string()), "{e}");
    }
    let e = el.unwatch_signal(libc::SIGWINCH).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    el.watch_signal(libc::SIGWINCH).unwrap();
    let e = el.watch_signal(libc::SIGWINCH).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}");
    let e = el.unwatch_signal(libc::SIGURG).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    let (r, _w) = pipe().unwrap();
    let e = el
        .register(&r, Token::EVENT_LOOP, Interest::READABLE, Mode::Level)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("EVENT_LOOP"), "{e}");
    el.register(&r, PIPE, Interest::READABLE, Mode::Level)
        .unwrap();
    let e = el
        .reregister(&r, Token::EVENT_LOOP, Interest::READABLE, Mode::Level)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    el.deregister(&r).unwrap();
    raise(libc::SIGWINCH).unwrap();
    let mut h = Hear::new(|h| h.heard(libc::SIGWINCH) == 1);
    run_until(&mut el, &mut h, "SIGWINCH");
    el.unwatch_signal(libc::SIGWINCH).unwrap();
    assert_eq!(el.registered(), 0);
}

/// Every behaviour above as a `#[test]` for the selector `$sel`, and the child process of
/// `default_disposition_comes_back`.
macro_rules! signal_tests {
    ($sel:ty, $new:expr) => {
        backend_tests!($sel;
            storm_while_messages_and_io_flow,
            two_loops_hear_one_signal,
            previous_handler_is_chained_then_put_back,
            sigchld_of_a_spawned_child,
            refusals_are_precise,
        );

        #[test]
        fn default_disposition_comes_back() {
            let child = util::soak::test_path(module_path!(), "default_disposition_child");
            super::default_disposition_comes_back::<$sel>(&child);
        }

        #[test]
        #[ignore = "the child process of default_disposition_comes_back"]
        fn default_disposition_child() {
            super::default_disposition_child::<$sel>();
        }
    };
}

each_backend!(signal_tests);
