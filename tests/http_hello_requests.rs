//! The http_hello example's handler (`examples/http_hello.rs`, compiled in here as it
//! is) on every backend and every mode it offers, serving on its own thread while a
//! blocking client loads it: 1,000 keep-alive requests (one by one, pipelined in
//! batches, written byte by byte or cut at random points, with bodies that look like
//! requests) plus the close and error cases, every response checked, every response
//! counted on both sides, the loop left empty; with `--features conformance`, the server
//! thread's allocations are counted while the last 400 requests are served (a counting
//! global allocator), and must be zero. Then the idle timeout closes a silent connection
//! and one whose request never ends.

#[macro_use]
mod util;
#[path = "../examples/http_hello.rs"]
#[allow(dead_code)] // the example's `main`
mod http_hello;

use std::fmt::Debug;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use http_hello::{Server, BODY, MAX_HEAD};
use selectio::net::TcpSocket;
use selectio::{EventLoop, Mode, Selector};
// Reproducible request shapes.
use util::rng::XorShift as Rng;

/// Counts the server thread's allocations while the client measures.
#[cfg(feature = "conformance")]
#[global_allocator]
static ALLOCATOR: selectio::conformance::CountingAllocator =
    selectio::conformance::CountingAllocator;

/// A bound on every wait, never reached when the code is right. A call with such a
/// timeout fails with `Interrupted` when task work of an io_uring ring dropped on this
/// thread arrives meanwhile (`S::new()` starts and drops one): the calls retry.
const LONG: Duration = Duration::from_secs(60);

/// Bodies of the POSTs are cut from this, so a body the server parsed as a request would
/// show up as an extra response.
const TRAP: &[u8] = b"GET /trap HTTP/1.1\r\nHost: trap\r\n\r\n";

/// What the server thread reports.
#[derive(Debug)]
struct Served {
    responses: u64,
    connections: usize,
    /// Allocations in the iterations that ran while the client measured (`None`: not
    /// counted, without the conformance feature).
    steady_allocations: Option<usize>,
}

/// Signals between the client and the server thread.
#[derive(Debug, Default)]
struct Flags {
    measuring: AtomicBool,
    done: AtomicBool,
}

/// Runs `f`; with the conformance feature, returns the allocations this thread made.
fn count_allocations(f: impl FnOnce()) -> Option<usize> {
    #[cfg(feature = "conformance")]
    return Some(selectio::conformance::count_allocations(f));
    #[cfg(not(feature = "conformance"))]
    {
        f();
        None
    }
}

/// The example's server on `S` in `mode`: it serves until the client is done and every
/// connection is closed, then stops as on a signal and must end with nothing registered.
/// With the conformance feature, it counts the allocations of the iterations that ran
/// while the client measured.
fn serve<S: Selector + Debug>(
    socket: TcpSocket,
    mode: Mode,
    idle: Duration,
    flags: Arc<Flags>,
    ready: mpsc::Sender<Result<(), String>>,
) -> Result<Served, String> {
    let mut steady = None;
    let listen = |el: &mut _| Server::listen(el, socket, mode, idle);
    let run_once = |el: &mut EventLoop<_, S>, server: &mut _, tick| {
        let measuring = flags.measuring.load(Ordering::Acquire);
        let mut result = Ok(());
        let counted = count_allocations(|| result = el.run_once(server, tick));
        // Only whole iterations that ran while measuring count.
        if measuring && flags.measuring.load(Ordering::Acquire) {
            if let Some(n) = counted {
                *steady.get_or_insert(0) += n;
            }
        }
        result
    };
    let server = util::serve::serve(listen, ready, &flags.done, LONG, run_once)?;
    Ok(Served {
        responses: server.served,
        connections: server.accepted,
        steady_allocations: steady,
    })
}

/// Starts the server on `S` on its own thread; `client` runs on this one with its
/// address; then the server stops. Both results.
fn with_server<S: Selector + Debug, T>(
    mode: Mode,
    idle: Duration,
    client: impl FnOnce(SocketAddr, &Flags) -> Result<T, String>,
) -> Result<(Served, T), String> {
    let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    let socket = TcpSocket::for_addr(addr).unwrap();
    socket.bind(addr).unwrap();
    let addr = socket.local_addr().unwrap();
    let flags = Arc::new(Flags::default());
    let server = {
        let flags = flags.clone();
        move |ready| serve::<S>(socket, mode, idle, flags, ready)
    };
    let (served, result) =
        util::serve::with_server_thread(&flags.done, server, || client(addr, &flags));
    let result = result?;
    Ok((served?, result))
}

/// The parts of a response the client checks.
#[derive(Debug, Default)]
struct Response {
    status: u16,
    connection: String,
    content_type: String,
    length: usize,
    body: Vec<u8>,
}

/// A blocking client connection and the bytes it received but has not parsed yet.
#[derive(Debug)]
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    received: u64,
}

impl Client {
    fn connect(addr: SocketAddr) -> Result<Client, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        stream
            .set_nodelay(true)
            .and_then(|()| stream.set_read_timeout(Some(LONG)))
            .map_err(|e| format!("socket options: {e}"))?;
        let (buf, received) = (Vec::new(), 0);
        Ok(Client {
            stream,
            buf,
            received,
        })
    }

    fn send(&mut self, data: &[u8]) -> Result<(), String> {
        let sent = self.stream.write_all(data);
        sent.map_err(|e| format!("write: {e}"))
    }

    /// Sends `data` byte by byte, or cut at random points (each piece one write).
    fn send_split(&mut self, mut data: &[u8], rng: &mut Rng) -> Result<(), String> {
        let bytewise = rng.below(2) == 0;
        while !data.is_empty() {
            let k = match bytewise {
                true => 1,
                false => 1 + rng.below(data.len()),
            };
            self.send(&data[..k])?;
            data = &data[k..];
        }
        Ok(())
    }

    fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err("EOF where a response was due".to_string()),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()), // see `LONG`
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// Reads one response.
    fn response(&mut self) -> Result<Response, String> {
        let head_len = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill()?;
        };
        let mut resp = parse_response(&self.buf[..head_len])?;
        let end = head_len + resp.length;
        while self.buf.len() < end {
            self.fill()?;
        }
        resp.body = self.buf[head_len..end].to_vec();
        self.buf.drain(..end);
        self.received += 1;
        Ok(resp)
    }

    /// The server closed cleanly: EOF after the last response, no reset, no extra bytes.
    fn expect_eof(&mut self) -> Result<(), String> {
        let mut byte = [0; 1];
        loop {
            return match self.stream.read(&mut byte) {
                Ok(0) if self.buf.is_empty() => Ok(()),
                Ok(_) => Err("bytes after the last response".to_string()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue, // see `LONG`
                Err(e) => Err(format!("no clean close: {e}")),
            };
        }
    }
}

fn parse_response(head: &[u8]) -> Result<Response, String> {
    let text = std::str::from_utf8(head).map_err(|e| format!("response head: {e}"))?;
    let mut lines = text.split("\r\n").filter(|line| !line.is_empty());
    let first = lines.next().unwrap_or_default();
    let status = first.strip_prefix("HTTP/1.1 ").and_then(|s| s.get(..3));
    let status = status.and_then(|s| s.parse().ok());
    let mut resp = Response {
        status: status.ok_or_else(|| format!("status line {first:?}"))?,
        ..Response::default()
    };
    let mut length = None;
    for line in lines {
        let field = line.split_once(": ");
        let (name, value) = field.ok_or_else(|| format!("field {line:?}"))?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().ok(),
            "connection" => resp.connection = value.to_string(),
            "content-type" => resp.content_type = value.to_string(),
            _ => {}
        }
    }
    resp.length = length.ok_or("no valid Content-Length")?;
    Ok(resp)
}

/// Checks `resp` has `status`, the `Connection` value `connection` ("" for none), and
/// the hello as text (after a 200) or no body.
fn check(resp: &Response, status: u16, connection: &str) -> Result<(), String> {
    let (body, content_type): (&[u8], _) = match status {
        200 => (BODY.as_bytes(), "text/plain"),
        _ => (b"", ""),
    };
    let ok = resp.status == status
        && resp.connection == connection
        && resp.content_type == content_type
        && resp.length == body.len()
        && resp.body == body;
    match ok {
        true => Ok(()),
        false => Err(format!(
            "expected {status} (Connection {connection:?}), got {resp:?}"
        )),
    }
}

/// A valid keep-alive request of random shape (target, field-name case, whitespace, a
/// body).
fn random_request(rng: &mut Rng, i: usize) -> Vec<u8> {
    let post = rng.below(5) < 2;
    let method = if post { "POST" } else { "GET" };
    let host = ["Host", "host", "HOST"][rng.below(3)];
    let mut req = Vec::with_capacity(512);
    let n = rng.below(1000);
    let _ = write!(
        req,
        "{method} /hello/{i}?n={n} HTTP/1.1\r\n{host}: 127.0.0.1\r\n"
    );
    if rng.below(3) == 0 {
        req.extend_from_slice(b"Accept: \t */* \t\r\nConnection: Keep-Alive\r\n");
    }
    if post {
        let len = rng.below(300);
        let _ = write!(req, "content-length: {len}\r\n\r\n");
        req.extend(TRAP.iter().cycle().take(len));
    } else {
        req.extend_from_slice(b"\r\n");
    }
    req
}

/// `n` requests on `c`, in batches of 1 to `batch`: each batch in one write, or split
/// (byte by byte or at random points, cuts falling inside and between requests); then
/// every response of the batch is read and checked.
fn load(c: &mut Client, n: usize, batch: usize, split: bool, rng: &mut Rng) -> Result<(), String> {
    let mut i = 0;
    while i < n {
        let count = (1 + rng.below(batch)).min(n - i);
        let mut bytes = Vec::new();
        for _ in 0..count {
            bytes.extend_from_slice(&random_request(rng, i));
            i += 1;
        }
        match split {
            true => c.send_split(&bytes, rng)?,
            false => c.send(&bytes)?,
        }
        for k in 0..count {
            let resp = c.response()?;
            check(&resp, 200, "").map_err(|e| format!("request {}: {e}", i - count + k))?;
        }
    }
    Ok(())
}

/// A request head of exactly `total` bytes.
fn padded(total: usize) -> Vec<u8> {
    let mut req = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ".to_vec();
    let pad = total - req.len() - 4;
    req.extend(std::iter::repeat_n(b'p', pad));
    req.extend_from_slice(b"\r\n\r\n");
    req
}

/// Close and error cases, each on its own connection: what is sent (`|` stands for
/// CRLF, `~` cuts it into two writes), the statuses expected, their `Connection` value,
/// and whether the server closes the connection after them.
#[rustfmt::skip]
const CASES: &[(&str, &str, &[u16], &str, bool)] = &[
    ("HTTP/1.0", "GET / HTTP/1.0||", &[200], "close", true),
    ("HTTP/1.0 keep-alive: closed all the same",
        "GET / HTTP/1.0|Connection: keep-alive||GET / HTTP/1.0||", &[200], "close", true),
    ("close, then a request",
        "GET / HTTP/1.1|Host: a|Connection: keep-alive, close||GET / HTTP/1.1|Host: a||",
        &[200], "close", true),
    ("body across writes",
        "POST / HTTP/1.1|Host: a|Content-Length: 10||0123~456789GET / HTTP/1.1|Host: a||",
        &[200, 200], "", false),
    ("garbage", "HELLO||", &[400], "close", true),
    ("a field line without a colon", "GET / HTTP/1.1|Host: a|X: b| c||", &[400], "close", true),
    ("bad Content-Length", "POST / HTTP/1.1|Host: a|Content-Length: 1x||", &[400], "close", true),
    ("HTTP/2.0", "GET / HTTP/2.0|Host: a||", &[400], "close", true),
];

/// An edge case: name, the writes, statuses, `Connection` value, whether the server closes.
type Case = (
    &'static str,
    Vec<Vec<u8>>,
    &'static [u16],
    &'static str,
    bool,
);

/// [`CASES`] as bytes, and heads at and over [`MAX_HEAD`].
fn cases() -> Vec<Case> {
    let wire = |s: &str| -> Vec<Vec<u8>> {
        let pieces = s.split('~');
        pieces
            .map(|p| p.replace('|', "\r\n").into_bytes())
            .collect()
    };
    let mut cases: Vec<Case> = CASES
        .iter()
        .map(|&(name, sent, statuses, conn, eof)| (name, wire(sent), statuses, conn, eof))
        .collect();
    let at_limit = [padded(MAX_HEAD), wire("GET / HTTP/1.1|Host: a||").concat()].concat();
    let endless = padded(MAX_HEAD + 100)[..MAX_HEAD + 50].to_vec();
    // More than one read takes: a close without the linger would send RST, not FIN.
    let mut trailing = wire("GET / HTTP/1.1|Host: a|Connection: close||").concat();
    trailing.extend(std::iter::repeat_n(b'x', 3 * MAX_HEAD));
    cases.extend([
        (
            "close, then 24 KiB",
            vec![trailing],
            &[200][..],
            "close",
            true,
        ),
        (
            "head of 8 KiB, then a request",
            vec![at_limit],
            &[200, 200][..],
            "",
            false,
        ),
        (
            "head of 8 KiB + 1",
            vec![padded(MAX_HEAD + 1)],
            &[431],
            "close",
            true,
        ),
        (
            "8 KiB and no end of head",
            vec![endless],
            &[431],
            "close",
            true,
        ),
    ]);
    cases
}

/// Runs every edge case; returns the responses received.
fn edge_cases(addr: SocketAddr) -> Result<u64, String> {
    let mut received = 0;
    for (name, pieces, statuses, connection, eof) in cases() {
        let mut c = Client::connect(addr)?;
        let run = |c: &mut Client| {
            pieces.iter().try_for_each(|piece| c.send(piece))?;
            for &status in statuses {
                check(&c.response()?, status, connection)?;
            }
            match eof {
                true => c.expect_eof(),
                false => Ok(()),
            }
        };
        run(&mut c).map_err(|e| format!("case {name:?}: {e}"))?;
        received += c.received;
    }
    Ok(received)
}

/// The client: 1,000 keep-alive requests on three connections and the edge cases; the
/// last 400 requests are served while the server counts its allocations. Returns the
/// responses received.
fn client(addr: SocketAddr, flags: &Flags) -> Result<u64, String> {
    let rng = &mut Rng(0x9e37_79b9_7f4a_7c15);
    let (mut a, mut b, mut c) = (
        Client::connect(addr)?,
        Client::connect(addr)?,
        Client::connect(addr)?,
    );
    load(&mut a, 250, 1, false, rng).map_err(|e| format!("one by one: {e}"))?;
    load(&mut b, 250, 32, false, rng).map_err(|e| format!("pipelined: {e}"))?;
    load(&mut c, 100, 3, true, rng).map_err(|e| format!("split: {e}"))?;
    let edge = edge_cases(addr)?;
    flags.measuring.store(true, Ordering::Release);
    let steady = load(&mut b, 200, 32, false, rng)
        .and_then(|()| load(&mut c, 100, 3, true, rng))
        .and_then(|()| load(&mut a, 100, 1, false, rng));
    flags.measuring.store(false, Ordering::Release);
    steady.map_err(|e| format!("steady state: {e}"))?;
    Ok(a.received + b.received + c.received + edge)
}

fn answers_every_request_in_every_mode<S: Selector + Debug>() {
    let caps = S::new().expect("selector").capabilities();
    for mode in Mode::ALL {
        let run = with_server::<S, _>(mode, LONG, client);
        let (served, received) = match run {
            Err(e) if !caps.supports(mode) => {
                assert!(e.contains("not supported"), "{mode:?}: {e}");
                continue;
            }
            run => run.unwrap_or_else(|e| panic!("{mode:?}: {e}")),
        };
        assert_eq!(served.responses, received, "{mode:?}: {served:?}");
        assert_eq!(served.connections, 3 + cases().len(), "{mode:?}");
        // Zero allocations per request is the Unix promise (tests/no_alloc.rs is Unix-only
        // too): on Windows the `polling` crate's IOCP poller may allocate when it re-arms.
        if let (true, Some(n)) = (cfg!(unix), served.steady_allocations) {
            assert_eq!(n, 0, "{mode:?}: allocations in steady state");
        }
    }
}

/// With a short idle timeout: a connection that says nothing, and one whose request head
/// never ends (a TLS handshake, say), are closed; one that keeps talking is not.
fn idle_connections_are_closed<S: Selector + Debug>() {
    let idle = Duration::from_millis(300);
    let (served, ()) = with_server::<S, _>(Mode::Level, idle, |addr, _| {
        let mut busy = Client::connect(addr)?;
        let mut silent = Client::connect(addr)?;
        let mut tls = Client::connect(addr)?;
        tls.send(b"\x16\x03\x01\x00\x7f\x01\x00\x00")?;
        let start = Instant::now();
        while start.elapsed() < 3 * idle {
            load(&mut busy, 1, 1, false, &mut Rng(7))?;
            thread::sleep(idle / 10);
        }
        silent.expect_eof().map_err(|e| format!("silent: {e}"))?;
        tls.expect_eof().map_err(|e| format!("TLS bytes: {e}"))?;
        load(&mut busy, 1, 1, false, &mut Rng(7)).map_err(|e| format!("busy: {e}"))
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(served.connections, 3);
}

/// Every behaviour above as a `#[test]` for the selector `$sel`.
macro_rules! all_tests {
    ($sel:ty, $new:expr) => {
        backend_tests!($sel;
            answers_every_request_in_every_mode,
            idle_connections_are_closed,
        );
    };
}

each_backend!(all_tests);
