//! No `SIGPIPE` from socket writes: each test re-runs itself in a child process of this
//! test binary whose `SIGPIPE` action is the default (terminate), which Rust's runtime
//! otherwise hides by ignoring the signal.

use std::io::{self, IoSlice, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::net::{TcpStream, UnixStream};
use crate::sys::socket::reset_sigpipe_to_default;

/// Names the test a child process runs; set only in the child.
const CHILD_ENV: &str = "SELECTIO_SIGPIPE_CHILD";

/// What the child process must do.
enum Expect {
    /// Exit successfully: its test passed and no signal killed it.
    Pass,
    /// Be killed by `SIGPIPE`.
    KilledBySigpipe,
}

/// Runs `body` in a child process (this binary, `--exact name`) with `SIGPIPE` at its
/// default action, and checks how the child ended.
fn in_child_with_default_sigpipe(name: &str, expect: Expect, body: impl FnOnce()) {
    let full = format!("net::sigpipe_tests::{name}");
    if std::env::var(CHILD_ENV).as_deref() == Ok(full.as_str()) {
        reset_sigpipe_to_default().expect("signal(SIGPIPE, SIG_DFL)");
        body();
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .args([full.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &full)
        .output()
        .expect("spawn the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = format!(
        "child {full}: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    match expect {
        Expect::Pass => {
            assert!(out.status.success(), "{report}");
            assert!(
                stdout.contains("1 passed"),
                "the child ran no test: {report}"
            );
        }
        Expect::KilledBySigpipe => {
            assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{report}")
        }
    }
}

/// Writes with `write` until the OS reports the closed peer; returns that error.
/// Gives up after 10 s (the peer's RST arrives within microseconds on loopback).
fn write_until_error(mut write: impl FnMut() -> io::Result<usize>) -> io::Error {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match write() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return e,
        }
        assert!(
            Instant::now() < deadline,
            "writes to a closed peer kept succeeding"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[track_caller]
fn assert_closed_peer_error(e: &io::Error) {
    assert!(
        matches!(
            e.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ),
        "expected BrokenPipe or ConnectionReset, got {e:?}"
    );
}

/// A selectio TCP stream whose peer has been accepted and closed.
fn tcp_stream_with_closed_peer() -> TcpStream {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    drop(listener.accept().expect("accept"));
    TcpStream::from_std(client).expect("from_std")
}

#[test]
fn tcp_write_to_closed_peer_is_an_error_not_sigpipe() {
    in_child_with_default_sigpipe(
        "tcp_write_to_closed_peer_is_an_error_not_sigpipe",
        Expect::Pass,
        || {
            let stream = tcp_stream_with_closed_peer();
            let e = write_until_error(|| (&stream).write(b"hello"));
            assert_closed_peer_error(&e);
        },
    );
}

#[test]
fn tcp_vectored_write_to_closed_peer_is_an_error_not_sigpipe() {
    in_child_with_default_sigpipe(
        "tcp_vectored_write_to_closed_peer_is_an_error_not_sigpipe",
        Expect::Pass,
        || {
            let stream = tcp_stream_with_closed_peer();
            let bufs = [IoSlice::new(b"hel"), IoSlice::new(b"lo")];
            let e = write_until_error(|| (&stream).write_vectored(&bufs));
            assert_closed_peer_error(&e);
        },
    );
}

#[test]
fn unix_write_to_closed_peer_is_an_error_not_sigpipe() {
    in_child_with_default_sigpipe(
        "unix_write_to_closed_peer_is_an_error_not_sigpipe",
        Expect::Pass,
        || {
            let (a, b) = UnixStream::pair().expect("pair");
            drop(b);
            let e = write_until_error(|| (&a).write(b"hello"));
            assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e:?}");
            let bufs = [IoSlice::new(b"hel"), IoSlice::new(b"lo")];
            let e = write_until_error(|| (&a).write_vectored(&bufs));
            assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e:?}");
        },
    );
}

/// Documents the limit stated in `pipe.rs`: a pipe cannot suppress `SIGPIPE`, so
/// under the default action a write to a pipe without reader kills the process.
#[test]
fn pipe_write_without_reader_raises_sigpipe_under_default_action() {
    in_child_with_default_sigpipe(
        "pipe_write_without_reader_raises_sigpipe_under_default_action",
        Expect::KilledBySigpipe,
        || {
            let (r, w) = crate::pipe::pipe().expect("pipe");
            drop(r);
            let _ = (&w).write(b"x");
        },
    );
}
