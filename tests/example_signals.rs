//! The serving examples stop gracefully on a signal, on every backend: each runs (its
//! real `run`: backend choice through `SELECTIO_BACKEND`, signal watch, listen, summary)
//! in a child process — this test binary again, through an ignored test — and gets
//! `kill -TERM`, with idle connections, one in progress, and one that never finishes:
//! the echo server cuts it at the end of its grace period, http_hello at a second signal
//! (`SIGINT`). The child must stop accepting, close the idle ones at once, finish the one
//! in progress, print its summary and exit 0.
#![cfg(unix)]

#[macro_use]
mod util;

#[path = "../examples/echo_server.rs"]
#[allow(dead_code)]
mod echo;
#[path = "../examples/http_hello.rs"]
#[allow(dead_code)]
mod http_hello;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the child only: the ignored tests that run the examples refuse to run without.
const CHILD: &str = "SELECTIO_EXAMPLE_TEST_CHILD";

/// A bound on every wait, never reached when the code is right. A call with such a
/// timeout fails with `Interrupted` when task work of an io_uring ring dropped on this
/// thread arrives meanwhile (`backend()` starts and drops one): the calls retry.
const LONG: Duration = Duration::from_secs(20);

/// Runs `test` of this binary in a child on `backend`; waits for the line that says
/// `<name> on <backend> listening on <addr>`, and returns the address.
fn start(test: &str, backend: &str, name: &str) -> (Running, BufReader<ChildStdout>, SocketAddr) {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("SELECTIO_BACKEND", backend)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Running(child);
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert_ne!(
            out.read_line(&mut line).unwrap(),
            0,
            "the child ended early"
        );
        let marker = format!("{name} on {backend} listening on ");
        if let Some(rest) = line.split(&marker).nth(1) {
            let addr = rest.split_whitespace().next().unwrap();
            return (
                child,
                out,
                addr.trim_start_matches("http://").parse().unwrap(),
            );
        }
    }
}

/// The child, killed and waited for if the test fails before it exits.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        // Both fail harmlessly once the child has exited and been waited for.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// In the child: the example's `run` on a free loopback port, then exit.
fn child_main(run: fn(SocketAddr, Duration) -> io::Result<()>, timeout: Duration) {
    assert!(
        std::env::var_os(CHILD).is_some(),
        "run by the parent test only"
    );
    let result = run(([127, 0, 0, 1], 0).into(), timeout);
    io::stdout().flush().unwrap();
    if let Err(e) = &result {
        eprintln!("the example failed: {e}");
    }
    std::process::exit(i32::from(result.is_err()));
}

fn kill(child: &Running, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the child to exit (0 expected) and returns the rest of its output.
fn finish(mut child: Running, mut out: BufReader<ChildStdout>) -> String {
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}; output: {rest}");
    rest
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LONG)).unwrap();
    s
}

/// Reads until EOF (or a reset, which the echo server's close of a connection with
/// unread input may send); the bytes read. `Read::read_to_end` retries `Interrupted`
/// (see `LONG`) and keeps what it read before an error.
fn read_to_end(mut s: &TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    match s.read_to_end(&mut got) {
        Ok(_) => got,
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => got,
        Err(e) => panic!("read: {e}"),
    }
}

/// Writes without reading until the write times out: the server then owes this client
/// bytes it cannot send (it stops reading while an echo is pending).
fn fill(mut s: &TcpStream) -> usize {
    s.set_write_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let chunk = vec![0x61u8; 64 * 1024];
    let mut sent = 0;
    let start = Instant::now();
    loop {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return sent
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {} // see `LONG`
            Err(e) => panic!("write: {e}"),
        }
        assert!(start.elapsed() < LONG, "the server never pushed back");
    }
}

fn stopped_accepting(addr: SocketAddr) {
    let e = TcpStream::connect(addr).expect_err("still accepting after SIGTERM");
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
}

fn echo_server_stops_gracefully_on_sigterm(backend: &str, test: &str) {
    let (child, out, addr) = start(test, backend, "echo server");
    let idle = connect(addr);
    (&idle).write_all(b"ping").unwrap();
    let mut pong = [0u8; 4];
    (&idle).read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"ping");
    let in_flight = connect(addr);
    let owed = fill(&in_flight);
    let never_reads = connect(addr);
    fill(&never_reads);
    kill(&child, "-TERM");
    assert_eq!(
        read_to_end(&idle),
        b"",
        "the idle connection was not closed"
    );
    stopped_accepting(addr);
    let echoed = read_to_end(&in_flight);
    assert!(
        !echoed.is_empty() && echoed.len() <= owed && echoed.iter().all(|&b| b == 0x61),
        "{} of {owed} bytes echoed",
        echoed.len()
    );
    // The one that never reads is cut at the end of the grace period.
    let rest = finish(child, out);
    assert!(
        rest.contains("echo server: Stats { accepted: 3,") && rest.contains("cut: 1 }"),
        "{rest}"
    );
    drop(never_reads);
}

fn http_hello_stops_gracefully_on_sigterm(backend: &str, test: &str) {
    let (child, out, addr) = start(test, backend, "http_hello");
    let idle = connect(addr);
    get(&idle);
    let in_flight = connect(addr);
    let stuck = connect(addr);
    for s in [&in_flight, &stuck] {
        (&*s).write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
    }
    // The partial heads have arrived (loopback delivers within `write`), before this
    // connection was queued: the server accepted theirs no later than this one, so it
    // sees their bytes no later than this request, and reads them before it answers it
    // or in the same iteration — before it handles the signal, which comes after the
    // answer and is dispatched after the I/O of its iteration.
    let probe = connect(addr);
    get(&probe);
    kill(&child, "-TERM");
    for s in [&idle, &probe] {
        assert_eq!(read_to_end(s), b"", "an idle connection was not closed");
    }
    stopped_accepting(addr);
    (&in_flight).write_all(b"\r\n").unwrap();
    let response = String::from_utf8(read_to_end(&in_flight)).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200 OK") && response.ends_with("Hello, world!\n"),
        "{response:?}"
    );
    // The idle timeout is long: a second signal cuts the request that never completes.
    kill(&child, "-INT");
    assert_eq!(read_to_end(&stuck), b"", "the stuck connection was not cut");
    let rest = finish(child, out);
    assert!(
        rest.contains("http_hello: stopped; served 3 responses on 4 connections"),
        "{rest}"
    );
}

/// One keep-alive request and its whole response.
fn get(mut s: &TcpStream) {
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(http_hello::BODY.as_bytes()) {
        let n = match s.read(&mut buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue, // see `LONG`
            n => n.unwrap(),
        };
        assert_ne!(n, 0, "EOF after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 200 OK"), "{got:?}");
}

macro_rules! example_tests {
    ($sel:ty, $new:expr) => {
        fn backend() -> &'static str {
            selectio::Selector::name(&<$sel as selectio::Selector>::new().unwrap())
        }

        #[test]
        fn echo_server_stops_gracefully_on_sigterm() {
            let child = util::soak::test_path(module_path!(), "echo_server_child");
            super::echo_server_stops_gracefully_on_sigterm(backend(), &child);
        }

        #[test]
        #[ignore = "the child process of echo_server_stops_gracefully_on_sigterm"]
        fn echo_server_child() {
            // A grace period long enough for the parent to read what it is owed.
            super::child_main(super::echo::run, std::time::Duration::from_secs(2));
        }

        #[test]
        fn http_hello_stops_gracefully_on_sigterm() {
            let child = util::soak::test_path(module_path!(), "http_hello_child");
            super::http_hello_stops_gracefully_on_sigterm(backend(), &child);
        }

        #[test]
        #[ignore = "the child process of http_hello_stops_gracefully_on_sigterm"]
        fn http_hello_child() {
            // An idle timeout longer than the test: the second signal is what cuts.
            super::child_main(super::http_hello::run, std::time::Duration::from_secs(60));
        }
    };
}

each_backend!(example_tests);
