//! A minimal HTTP/1.1 keep-alive "hello" server on `EventLoop`, on any backend.
//!
//! ```text
//! cargo run --release --example http_hello -- [--addr 127.0.0.1:8080]
//!     [--backend epoll|kqueue|poll|polling] [--mode level|edge|oneshot] [--requests N]
//!     [--grace 5]
//! cargo run --release --example http_hello -- --selftest [--backend …] [--mode …]
//! cargo run --example http_hello -- --list-backends
//! ```
//!
//! Every request gets `200 OK` with `Content-Type: text/plain` and the body
//! `Hello, world!\n` (none for `HEAD`); the connection stays open unless the request says
//! `Connection: close`, or is HTTP/1.0 without `Connection: keep-alive`. Request heads are
//! parsed as they arrive, across partial reads and several pipelined requests per read;
//! `Content-Length` bodies are read and dropped. Bad requests get an error and a close:
//! 400 (malformed, or no `Host` in HTTP/1.1), 431 (a head over [`MAX_HEAD`] bytes), 501
//! (`Transfer-Encoding`: no chunked bodies here), 505 (an HTTP major version other than 1).
//! A request with `Expect: 100-continue` and a body is answered at once and the
//! connection closed, without reading the body (RFC 9110 §10.1.1 allows either).
//!
//! `SIGINT` (Ctrl-C) or `SIGTERM` stops the server gracefully: it stops accepting,
//! closes the connections with no request in progress, lets the others finish theirs
//! for `--grace` seconds (closing each once it owes nothing), prints a one-line summary
//! and exits 0; a second signal cuts the wait short. Accepting goes through
//! `net::Acceptor`: out of file descriptors, waiting connections are shed rather than
//! left to make the listener ready on every iteration.
//!
//! Without `--backend`, `SELECTIO_BACKEND` picks the backend (`AnySelector::from_env`);
//! `polling` needs `--features polling`. `--addr 127.0.0.1:0` takes a free port; the
//! first line printed says which. `--requests N` exits once N responses have been
//! written (for scripts). `--selftest` serves a free loopback port and loads it from a
//! client thread: 1,000 keep-alive requests (one by one, pipelined in batches, written
//! byte by byte or cut at random points, with bodies that look like requests) plus the
//! error and close cases, every response checked; with `--features conformance` it also
//! counts the server thread's allocations while the last 400 requests are served (a
//! counting global allocator), which must be zero. Exit status 0, or 1 with a message.
//!
//! Design: [`LISTENER`] is the listener's token; connection `i` of the slab has
//! `Token(i)`. A slot keeps its buffers when its connection closes, so a new connection
//! reuses them: in steady state no request allocates. A connection asks for `WRITABLE`
//! only while output is pending, and then stops reading (back-pressure) until it is
//! written. A server-side close (after `Connection: close` or an error) first reads and
//! drops what the client already sent and shuts the write side down, so that the
//! kernel sends FIN after the response rather than a reset that could destroy it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use selectio::net::{Acceptor, TcpListener, TcpSocket, TcpStream};
use selectio::{
    AnySelector, Backend, EventLoop, Handler, Interest, Mode, Ready, Selector, Sender, Token,
};

/// With the conformance feature, the self-test counts the server thread's allocations.
#[cfg(feature = "conformance")]
#[global_allocator]
static ALLOCATOR: selectio::conformance::CountingAllocator =
    selectio::conformance::CountingAllocator;

/// The listener's token, above every slab index (`Token::EVENT_LOOP` and
/// `Token::RESERVED`, the two above it, are the loop's); connection `i` of the slab has
/// `Token(i)`.
pub const LISTENER: Token = Token(usize::MAX - 2);
/// The largest request head accepted, request line and final empty line included.
pub const MAX_HEAD: usize = 8 * 1024;
/// The response body.
pub const BODY: &[u8] = b"Hello, world!\n";
/// Bytes of a connection's input buffer: a full head plus room for pipelined requests.
const IN_BUF: usize = 2 * MAX_HEAD;
/// A connection queues no more responses while this much output waits to be written.
const OUT_HIGH: usize = 32 * 1024;
/// Room above `OUT_HIGH` for the last response queued (each is under 256 bytes).
const OUT_CAPACITY: usize = OUT_HIGH + 1024;
/// The self-test gives up after this long instead of hanging.
const SELFTEST_DEADLINE: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------
// Request heads (pure functions).

/// A response's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 200: the hello.
    Ok,
    /// 400: a malformed head, or HTTP/1.1 without exactly one `Host`.
    BadRequest,
    /// 431: a head over [`MAX_HEAD`] bytes.
    HeadTooLarge,
    /// 501: `Transfer-Encoding` (no chunked bodies here).
    NotImplemented,
    /// 505: an HTTP major version other than 1.
    VersionNotSupported,
}

impl Status {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::HeadTooLarge => 431,
            Status::NotImplemented => 501,
            Status::VersionNotSupported => 505,
        }
    }

    fn line(self) -> &'static [u8] {
        match self {
            Status::Ok => b"HTTP/1.1 200 OK\r\n",
            Status::BadRequest => b"HTTP/1.1 400 Bad Request\r\n",
            Status::HeadTooLarge => b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
            Status::NotImplemented => b"HTTP/1.1 501 Not Implemented\r\n",
            Status::VersionNotSupported => b"HTTP/1.1 505 HTTP Version Not Supported\r\n",
        }
    }

    fn body(self) -> &'static [u8] {
        match self {
            Status::Ok => BODY,
            Status::BadRequest => b"Bad Request\n",
            Status::HeadTooLarge => b"Request Header Fields Too Large\n",
            Status::NotImplemented => b"Transfer-Encoding is not supported\n",
            Status::VersionNotSupported => b"HTTP Version Not Supported\n",
        }
    }
}

/// What the server needs from a valid request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// `HEAD`: the response carries no body.
    pub head: bool,
    /// The connection stays open after the response.
    pub keep_alive: bool,
    /// HTTP/1.0 keep-alive, which the response must confirm with `Connection: keep-alive`.
    pub keep_alive_10: bool,
    /// Body bytes after the head (`Content-Length`), read and dropped.
    pub body: u64,
}

/// The header fields the server acts on.
#[derive(Debug, Default)]
struct Fields {
    length: Option<u64>,
    transfer_encoding: bool,
    close: bool,
    keep_alive: bool,
    hosts: usize,
    expect_continue: bool,
}

/// Parses a request head: the request line and the header lines, each ending in CRLF,
/// without the final empty line. Strict (RFC 9112): CRLF only, no whitespace before a
/// colon, no line folding, no control bytes.
pub fn parse_head(head: &[u8]) -> Result<Request, Status> {
    let mut lines = head
        .split_inclusive(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r\n").ok_or(Status::BadRequest));
    let first = lines.next().ok_or(Status::BadRequest)??;
    let (head, minor) = request_line(first)?;
    let mut fields = Fields::default();
    for line in lines {
        field(line?, &mut fields)?;
    }
    // RFC 9112 §3.2: a 1.1 request without exactly one Host is a 400; so are two Hosts.
    if fields.hosts > 1 || (minor > 0 && fields.hosts != 1) {
        return Err(Status::BadRequest);
    }
    if fields.transfer_encoding {
        return Err(Status::NotImplemented);
    }
    let body = fields.length.unwrap_or(0);
    let keep_alive = match minor {
        0 => fields.keep_alive && !fields.close,
        _ => !fields.close,
    };
    // Answer an `Expect: 100-continue` request at once and close, unread body and all.
    let keep_alive = keep_alive && !(fields.expect_continue && body > 0);
    Ok(Request {
        head,
        keep_alive,
        keep_alive_10: minor == 0 && keep_alive,
        body,
    })
}

/// `METHOD SP TARGET SP HTTP/1.x`: whether the method is `HEAD`, and the minor version.
fn request_line(line: &[u8]) -> Result<(bool, u8), Status> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Status::BadRequest);
    };
    let visible = |b: &u8| (0x21..=0x7e).contains(b);
    if !is_token(method) || target.is_empty() || !target.iter().all(visible) {
        return Err(Status::BadRequest);
    }
    match *version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            if major != b'1' {
                return Err(Status::VersionNotSupported);
            }
            Ok((method == b"HEAD", minor - b'0'))
        }
        _ => Err(Status::BadRequest),
    }
}

/// One `name: value` line, noted in `f` if the server cares about it.
fn field(line: &[u8], f: &mut Fields) -> Result<(), Status> {
    let colon = line.iter().position(|&b| b == b':');
    let colon = colon.ok_or(Status::BadRequest)?;
    let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
    if !is_token(name) || value.iter().any(|&b| is_ctl(b)) {
        return Err(Status::BadRequest);
    }
    let is = |s: &[u8]| name.eq_ignore_ascii_case(s);
    if is(b"content-length") {
        let n = parse_length(value)?;
        if f.length.is_some_and(|old| old != n) {
            return Err(Status::BadRequest); // RFC 9112 §6.3: differing lengths
        }
        f.length = Some(n);
    } else if is(b"transfer-encoding") {
        f.transfer_encoding = true;
    } else if is(b"connection") {
        for option in value.split(|&b| b == b',').map(trim) {
            f.close |= option.eq_ignore_ascii_case(b"close");
            f.keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
        }
    } else if is(b"host") {
        f.hosts += 1;
    } else if is(b"expect") {
        f.expect_continue = value.eq_ignore_ascii_case(b"100-continue");
    }
    Ok(())
}

/// `1*DIGIT` that fits a u64.
fn parse_length(value: &[u8]) -> Result<u64, Status> {
    if value.is_empty() {
        return Err(Status::BadRequest);
    }
    value.iter().try_fold(0u64, |n, &b| match b {
        b'0'..=b'9' => n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(Status::BadRequest),
        _ => Err(Status::BadRequest),
    })
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Control bytes other than HTAB, forbidden in field values (a CR or LF among them).
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// Strips optional whitespace (SP, HTAB) at both ends.
fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Garbage caught before a head ends: a method (the bytes before the first space, among
/// the first 16) with a byte no token has — such as a TLS handshake's first byte, 0x16.
/// A lone CR may be the start of an empty line before the request, which is allowed.
fn bad_start(data: &[u8]) -> bool {
    data != b"\r"
        && data
            .iter()
            .take(16)
            .take_while(|&&b| b != b' ')
            .any(|&b| !is_tchar(b))
}

/// Appends a response; `connection` is the `Connection` field's value, if any.
fn respond(out: &mut Vec<u8>, status: Status, head: bool, connection: &[u8], date: &[u8]) {
    let body = status.body();
    out.extend_from_slice(status.line());
    out.extend_from_slice(b"Content-Type: text/plain\r\nContent-Length: ");
    push_decimal(out, body.len());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date);
    if !connection.is_empty() {
        out.extend_from_slice(b"\r\nConnection: ");
        out.extend_from_slice(connection);
    }
    out.extend_from_slice(b"\r\n\r\n");
    if !head {
        out.extend_from_slice(body);
    }
}

fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// An IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(unix_secs: u64) -> [u8; 29] {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, secs) = (unix_secs / 86_400, unix_secs % 86_400);
    // Days to a civil date (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let mut out = [b' '; 29];
    let _ = write!(
        &mut out[..],
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize], // 1970-01-01 was a Thursday
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    out
}

// ---------------------------------------------------------------------------------------
// Connections.

/// What a connection wants after it handled readiness.
enum Next {
    Wait(Interest),
    /// Close; `true` after a response the server chose to close after (linger first).
    Close(bool),
}

/// A slot's per-connection state and buffers, kept and reused when the connection closes.
#[derive(Debug)]
struct Conn {
    /// Input; the unparsed bytes are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// `buf[start..scanned]` holds no complete head: the search resumes near `scanned`.
    scanned: usize,
    /// Body bytes still to drop.
    body: u64,
    /// Responses; `out[written..]` is still to write.
    out: Vec<u8>,
    written: usize,
    /// Responses in `out`.
    queued: u64,
    /// The last response queued closes the connection.
    closing: bool,
    eof: bool,
    /// What the registration asks for.
    interest: Interest,
}

impl Conn {
    fn new() -> Conn {
        Conn {
            buf: vec![0; IN_BUF],
            start: 0,
            end: 0,
            scanned: 0,
            body: 0,
            out: Vec::with_capacity(OUT_CAPACITY),
            written: 0,
            queued: 0,
            closing: false,
            eof: false,
            interest: Interest::READABLE,
        }
    }

    /// Whether no request is in progress: no unparsed input, no body to skip, no
    /// response unwritten.
    fn is_idle(&self) -> bool {
        self.start == self.end && self.body == 0 && self.written == self.out.len()
    }

    /// Forgets the connection, keeps the buffers.
    fn reset(&mut self) {
        (self.start, self.end, self.scanned, self.body) = (0, 0, 0, 0);
        self.out.clear();
        (self.written, self.queued) = (0, 0);
        (self.closing, self.eof) = (false, false);
        self.interest = Interest::READABLE;
    }

    /// Writes, answers and reads until the socket would block or the connection is done.
    /// `budget` is how many more responses may be queued; `served` counts written ones.
    /// Outside Edge mode a short read or write is taken as "would block", saving a call.
    fn pump(&mut self, s: &TcpStream, ctx: &mut Pump<'_>) -> io::Result<Next> {
        let mut more = true; // whether reading on may find data
        loop {
            if self.written < self.out.len() {
                let rest = self.out.len() - self.written;
                let n = write_some(s, &self.out[self.written..])?;
                self.written += n;
                if n == 0 || (n < rest && ctx.mode != Mode::Edge) {
                    return Ok(Next::Wait(Interest::WRITABLE));
                }
                continue;
            }
            self.out.clear();
            self.written = 0;
            *ctx.served += std::mem::take(&mut self.queued);
            if self.closing {
                return Ok(Next::Close(true));
            }
            if self.answer(ctx.date, ctx.budget) > 0 {
                continue;
            }
            if self.eof {
                return Ok(Next::Close(false));
            }
            if !more || self.end == self.buf.len() {
                return Ok(Next::Wait(Interest::READABLE));
            }
            let space = self.buf.len() - self.end;
            match read_some(s, &mut self.buf[self.end..])? {
                None => return Ok(Next::Wait(Interest::READABLE)),
                Some(0) => self.eof = true,
                Some(n) => {
                    self.end += n;
                    more = n == space || ctx.mode == Mode::Edge;
                }
            }
        }
    }

    /// Queues a response for each complete head in the buffer, until the output is long,
    /// the connection closes or `budget` runs out; returns how many.
    fn answer(&mut self, date: &[u8], budget: &mut u64) -> usize {
        let mut n = 0;
        while !self.closing && self.out.len() < OUT_HIGH && *budget > 0 {
            self.skip_body();
            self.skip_empty_lines();
            let Some(parsed) = self.next_head() else {
                break;
            };
            let (status, head, connection): (_, _, &[u8]) = match parsed {
                Ok(r) if !r.keep_alive => (Status::Ok, r.head, b"close"),
                Ok(r) if r.keep_alive_10 => (Status::Ok, r.head, b"keep-alive"),
                Ok(r) => (Status::Ok, r.head, b""),
                Err(status) => (status, false, b"close"),
            };
            if let Ok(r) = parsed {
                self.body = r.body;
            }
            self.closing = connection == b"close";
            respond(&mut self.out, status, head, connection, date);
            (self.queued, *budget, n) = (self.queued + 1, *budget - 1, n + 1);
        }
        self.compact();
        n
    }

    /// The next complete head, parsed and consumed; `None` if it has not all arrived.
    fn next_head(&mut self) -> Option<Result<Request, Status>> {
        let from = self.scanned.saturating_sub(3).max(self.start);
        let found = self.buf[from..self.end]
            .windows(4)
            .position(|w| w == b"\r\n\r\n");
        let Some(i) = found else {
            self.scanned = self.end;
            let pending = &self.buf[self.start..self.end];
            return match pending.len() {
                n if n >= MAX_HEAD => Some(Err(Status::HeadTooLarge)),
                _ if bad_start(pending) => Some(Err(Status::BadRequest)),
                _ => None,
            };
        };
        let len = from + i + 4 - self.start;
        if len > MAX_HEAD {
            return Some(Err(Status::HeadTooLarge));
        }
        let parsed = parse_head(&self.buf[self.start..self.start + len - 2]);
        self.start += len;
        self.scanned = self.start;
        Some(parsed)
    }

    fn skip_body(&mut self) {
        let k = self.body.min((self.end - self.start) as u64);
        self.start += k as usize;
        self.body -= k;
        self.scanned = self.scanned.max(self.start);
    }

    /// RFC 9112 §2.2: ignore empty lines before a request line (some clients send a CRLF
    /// after a body).
    fn skip_empty_lines(&mut self) {
        if self.body > 0 {
            return;
        }
        while self.buf[self.start..self.end].starts_with(b"\r\n") {
            self.start += 2;
        }
        self.scanned = self.scanned.max(self.start);
    }

    /// Moves the unparsed bytes to the front of the buffer.
    fn compact(&mut self) {
        if self.start == self.end {
            (self.start, self.end, self.scanned) = (0, 0, 0);
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scanned -= self.start;
            self.start = 0;
        }
    }

    /// Before a server-side close: drop what the client already sent (unread input makes
    /// close(2) send RST, which can destroy the response in flight: RFC 9112 §9.6), then
    /// send FIN after the response.
    fn linger(&mut self, s: &TcpStream) {
        for _ in 0..16 {
            match read_some(s, &mut self.buf) {
                Ok(Some(n)) if n > 0 => continue,
                _ => break,
            }
        }
        let _ = s.shutdown(Shutdown::Write);
    }
}

/// What `Conn::pump` needs from the server.
struct Pump<'a> {
    date: &'a [u8],
    budget: &'a mut u64,
    served: &'a mut u64,
    mode: Mode,
}

/// One read: `Some(n)` bytes (0 = EOF), `None` when it would block.
fn read_some(mut stream: &TcpStream, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        match stream.read(buf) {
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// One write: the bytes taken, 0 when it would block.
fn write_some(mut stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
    loop {
        match stream.write(data) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The server.

/// A slab slot: a connection, or none (the buffers stay for the next one).
#[derive(Debug)]
struct Slot {
    stream: Option<TcpStream>,
    conn: Conn,
}

/// What a timer of the server is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The self-test's deadline: it fails.
    Deadline,
    /// The end of an accept back-off: watch the listener again.
    Backoff,
    /// The end of the grace period after a signal: cut what is left.
    Grace,
}

/// How a signal ended the run, for the summary.
#[derive(Debug, Clone, Copy)]
pub struct Stopped {
    /// The signal.
    pub signal: i32,
    /// When it came.
    pub at: Instant,
    /// Connections closed at once: no request in progress.
    pub idle: usize,
    /// Connections that finished their requests, then closed.
    pub finished: usize,
    /// Connections cut at the end of the grace period, or by a second signal.
    pub cut: usize,
    /// A second signal cut the grace period short.
    pub second_signal: bool,
}

/// Messages to the server (the self-test's client thread sends them).
#[derive(Debug)]
pub enum Msg {
    /// Start (`true`) or stop counting the server thread's allocations.
    Measure(bool),
    /// Finish once every connection is closed.
    Stop,
}

/// The HTTP server: the listener and a slab of connections indexed by token.
#[derive(Debug)]
pub struct Server {
    listener: Option<Acceptor<TcpListener>>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    mode: Mode,
    /// Responses still to queue before `--requests` is reached (`u64::MAX`: no limit).
    budget: u64,
    limit: Option<u64>,
    date: [u8; 29],
    date_secs: u64,
    date_fresh: bool,
    stopping: bool,
    /// Set by a signal: the server is draining (and how it went).
    pub stopped: Option<Stopped>,
    /// How long connections may finish after a signal.
    pub grace: Duration,
    measuring: bool,
    /// The run is over: `--requests` reached, or the self-test stopped or failed.
    pub done: bool,
    /// Responses written (or dropped with their connection).
    pub served: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections open.
    pub open: usize,
    /// Allocations of the server thread while measuring (`None`: not counted).
    pub steady_allocations: Option<usize>,
    /// The first error of the library (register, reregister, deregister) or the
    /// self-test's deadline; the run goes on after the former.
    pub failure: Option<String>,
}

impl Server {
    /// A server whose connections use `mode`, exiting after `limit` responses if given.
    pub fn new(mode: Mode, limit: Option<u64>) -> Server {
        Server {
            listener: None,
            slots: Vec::new(),
            free: Vec::new(),
            mode,
            budget: limit.unwrap_or(u64::MAX),
            limit,
            date: http_date(0),
            date_secs: u64::MAX,
            date_fresh: false,
            stopping: false,
            stopped: None,
            grace: Duration::from_secs(5),
            measuring: false,
            done: false,
            served: 0,
            accepted: 0,
            open: 0,
            steady_allocations: None,
            failure: None,
        }
    }

    /// Binds `addr`, listens, and registers the listener's [`Acceptor`] in the server's
    /// mode (connections already waiting are reported, as with `el.listen`).
    pub fn listen<S: Selector>(
        &mut self,
        el: &mut EventLoop<Server, S>,
        addr: SocketAddr,
    ) -> io::Result<SocketAddr> {
        let socket = TcpSocket::for_addr(addr)?;
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let acceptor = Acceptor::new(socket.listen(1024)?)?;
        el.register(&acceptor, LISTENER, Interest::READABLE, self.mode)?;
        let local = acceptor.get_ref().local_addr()?;
        self.listener = Some(acceptor);
        Ok(local)
    }

    /// Runs the loop until `done`, counting allocations of whole iterations that ran
    /// while measuring (an iteration that starts or stops the count is not counted).
    pub fn run<S: Selector>(&mut self, el: &mut EventLoop<Server, S>) -> io::Result<()> {
        while !self.done {
            let measuring = self.measuring;
            let mut result = Ok(());
            let counted = count_allocations(|| result = el.run_once(self, None));
            if measuring && self.measuring {
                if let Some(n) = counted {
                    *self.steady_allocations.get_or_insert(0) += n;
                }
            }
            result?;
        }
        Ok(())
    }

    /// Accepts until `WouldBlock`, registering each connection for `READABLE`. Out of
    /// descriptors, the [`Acceptor`] has shed the waiting connections, so the listener
    /// is not ready again at once; when it asks for a back-off, the listener is unwatched
    /// until a [`Timer::Backoff`].
    fn accept<S: Selector>(&mut self, el: &mut EventLoop<Server, S>) {
        loop {
            let Some(listener) = &mut self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, _)) => self.adopt(el, stream),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    let shed = listener.shed_count();
                    eprintln!("http_hello: accept: {e} ({shed} waiting connections shed so far)");
                    if let Some(pause) = listener.backoff() {
                        if let Err(e) = el.deregister(&*listener) {
                            self.fail(format!("deregister the listener: {e}"));
                        } else if let Err(e) = el.timeout(Timer::Backoff, pause) {
                            self.fail(format!("back-off timer: {e}"));
                        }
                        return;
                    }
                    break;
                }
            }
        }
        if self.mode == Mode::Oneshot {
            if let Some(listener) = &self.listener {
                if let Err(e) = el.reregister(listener, LISTENER, Interest::READABLE, self.mode) {
                    self.fail(format!("re-arm the listener: {e}"));
                }
            }
        }
    }

    /// Puts an accepted stream in a free slot (reusing its buffers) and registers it.
    fn adopt<S: Selector>(&mut self, el: &mut EventLoop<Server, S>, stream: TcpStream) {
        // Responses go out in one write per batch; no Nagle delay behind a delayed ACK.
        let _ = stream.set_nodelay(true);
        let i = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot {
                stream: None,
                conn: Conn::new(),
            });
            self.slots.len() - 1
        });
        if let Err(e) = el.register(&stream, Token(i), Interest::READABLE, self.mode) {
            self.error(format!("register connection {i}: {e}"));
            self.free.push(i);
            return;
        }
        self.slots[i].stream = Some(stream);
        self.accepted += 1;
        self.open += 1;
    }

    /// Serves connection `token`, then updates or drops its registration.
    fn drive<S: Selector>(&mut self, el: &mut EventLoop<Server, S>, token: Token) {
        self.refresh_date();
        let Some(Slot {
            stream: Some(stream),
            conn,
        }) = self.slots.get_mut(token.0)
        else {
            return; // closed earlier in this iteration
        };
        let mut ctx = Pump {
            date: &self.date,
            budget: &mut self.budget,
            served: &mut self.served,
            mode: self.mode,
        };
        let outcome = conn.pump(stream, &mut ctx);
        if self.stopped.is_some() && matches!(outcome, Ok(Next::Wait(_))) && conn.is_idle() {
            // Draining: the requests in progress are answered; nothing more is read.
            self.stopped.as_mut().expect("checked above").finished += 1;
            self.close(el, token, true);
            return self.check_limit();
        }
        match outcome {
            Ok(Next::Wait(interest)) => {
                if self.mode == Mode::Oneshot || conn.interest != interest {
                    conn.interest = interest;
                    if let Err(e) = el.reregister(&*stream, token, interest, self.mode) {
                        self.error(format!("reregister {token:?}: {e}"));
                        self.close(el, token, false);
                    }
                }
            }
            Ok(Next::Close(linger)) => self.close(el, token, linger),
            // Resets and broken pipes are the client's business: just close.
            Err(_) => self.close(el, token, false),
        }
        self.check_limit();
    }

    fn check_limit(&mut self) {
        if self.limit.is_some_and(|limit| self.served >= limit) {
            self.done = true;
        }
    }

    /// After a signal: stops accepting, closes the connections with no request in
    /// progress, and lets the others finish for the grace period. A second signal cuts
    /// them at once.
    fn stop<S: Selector>(&mut self, el: &mut EventLoop<Server, S>, signal: i32) {
        if let Some(stopped) = &mut self.stopped {
            stopped.second_signal = true;
            return self.cut(el);
        }
        self.stopped = Some(Stopped {
            signal,
            at: Instant::now(),
            idle: 0,
            finished: 0,
            cut: 0,
            second_signal: false,
        });
        self.stopping = true;
        if let Some(listener) = self.listener.take() {
            if let Err(e) = el.deregister(&listener) {
                self.error(format!("deregister the listener: {e}"));
            }
        }
        for i in 0..self.slots.len() {
            let slot = &self.slots[i];
            if slot.stream.is_some() && slot.conn.is_idle() {
                self.stopped.as_mut().expect("set above").idle += 1;
                self.close(el, Token(i), true);
            }
        }
        self.done |= self.open == 0;
        if !self.done {
            if let Err(e) = el.timeout(Timer::Grace, self.grace) {
                self.error(format!("grace timer: {e}"));
                self.cut(el);
            }
        }
    }

    /// Closes every connection still open, whatever it owes, and ends the run.
    fn cut<S: Selector>(&mut self, el: &mut EventLoop<Server, S>) {
        for i in 0..self.slots.len() {
            if self.slots[i].stream.is_some() {
                if let Some(stopped) = &mut self.stopped {
                    stopped.cut += 1;
                }
                self.close(el, Token(i), false);
            }
        }
        self.done = true;
    }

    /// The one-line summary of the run.
    pub fn summary(&self) -> String {
        let served = format!(
            "served {} responses on {} connections",
            self.served, self.accepted
        );
        let Some(s) = &self.stopped else {
            return format!("http_hello: {served}");
        };
        format!(
            "http_hello: {}: stopped accepting; {served}; {} closed idle, {} finished in \
             flight, {} cut {}; shut down in {:.1?}",
            signal_name(s.signal),
            s.idle,
            s.finished,
            s.cut,
            cut_when(s.second_signal, self.grace),
            s.at.elapsed()
        )
    }

    /// Deregisters and drops connection `token`; its slot keeps the buffers.
    fn close<S: Selector>(&mut self, el: &mut EventLoop<Server, S>, token: Token, linger: bool) {
        let slot = &mut self.slots[token.0];
        let Some(stream) = slot.stream.take() else {
            return;
        };
        if linger {
            slot.conn.linger(&stream);
        }
        if let Err(e) = el.deregister(&stream) {
            self.error(format!("deregister {token:?}: {e}"));
        }
        let slot = &mut self.slots[token.0];
        self.served += slot.conn.queued; // unwritten responses are done with too
        slot.conn.reset();
        self.free.push(token.0);
        self.open -= 1;
        self.done |= self.stopping && self.open == 0;
    }

    /// Deregisters and drops every connection and the listener: the loop ends empty.
    pub fn close_all<S: Selector>(&mut self, el: &mut EventLoop<Server, S>) {
        for i in 0..self.slots.len() {
            self.close(el, Token(i), false);
        }
        if let Some(listener) = self.listener.take() {
            if let Err(e) = el.deregister(&listener) {
                self.error(format!("deregister the listener: {e}"));
            }
        }
    }

    /// The Date field's value, computed again when the second changes; checked once per
    /// loop iteration (`tick` marks it stale).
    fn refresh_date(&mut self) {
        if self.date_fresh {
            return;
        }
        self.date_fresh = true;
        let now = SystemTime::now().duration_since(UNIX_EPOCH);
        let secs = now.map_or(0, |d| d.as_secs());
        if secs != self.date_secs {
            (self.date, self.date_secs) = (http_date(secs), secs);
        }
    }

    /// Records a failure of the library (the first one is kept) and goes on.
    fn error(&mut self, msg: String) {
        eprintln!("http_hello: {msg}");
        self.failure.get_or_insert(msg);
    }

    /// Records a failure and ends the run.
    fn fail(&mut self, msg: String) {
        self.error(msg);
        self.done = true;
    }
}

impl<S: Selector> Handler<S> for Server {
    type Timeout = Timer;
    type Message = Msg;

    fn ready(&mut self, el: &mut EventLoop<Server, S>, token: Token, _: Ready) {
        if token == LISTENER {
            self.accept(el);
        } else {
            self.drive(el, token);
        }
    }

    fn notify(&mut self, _: &mut EventLoop<Server, S>, msg: Msg) {
        match msg {
            Msg::Measure(on) => self.measuring = on,
            Msg::Stop => {
                self.stopping = true;
                self.done |= self.open == 0;
            }
        }
    }

    fn timeout(&mut self, el: &mut EventLoop<Server, S>, timer: Timer) {
        match timer {
            Timer::Deadline => {
                let msg = format!("timed out after {SELFTEST_DEADLINE:?}");
                self.fail(msg);
            }
            Timer::Backoff => {
                if let Some(listener) = &self.listener {
                    if let Err(e) = el.register(listener, LISTENER, Interest::READABLE, self.mode) {
                        self.fail(format!("watch the listener again: {e}"));
                    }
                }
            }
            Timer::Grace => self.cut(el),
        }
    }

    fn signal(&mut self, el: &mut EventLoop<Server, S>, signal: i32, _: usize) {
        self.stop(el, signal);
    }

    fn tick(&mut self, _: &mut EventLoop<Server, S>) {
        self.date_fresh = false;
    }
}

/// Runs `f`; with the conformance feature, returns the allocations this thread made.
#[cfg(feature = "conformance")]
fn count_allocations(f: impl FnOnce()) -> Option<usize> {
    Some(selectio::conformance::count_allocations(f))
}

/// Runs `f`; without the conformance feature, allocations are not counted.
#[cfg(not(feature = "conformance"))]
fn count_allocations(f: impl FnOnce()) -> Option<usize> {
    f();
    None
}

// ---------------------------------------------------------------------------------------
// The self-test's client: blocking std sockets on another thread.

/// Bodies of the self-test's POSTs are cut from this, so a body the server parsed as a
/// request would show up as an extra response.
const TRAP: &[u8] = b"GET /trap HTTP/1.1\r\nHost: trap\r\n\r\n";

/// xorshift64 (Marsaglia 2003, shifts 13/7/17): reproducible request shapes.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x % n as u64) as usize
    }
}

/// The parts of a response the self-test checks.
#[derive(Debug, Default)]
struct Response {
    status: u16,
    connection: String,
    content_type: String,
    date: String,
    length: usize,
    body: Vec<u8>,
}

/// A blocking client connection and the bytes it received but has not parsed yet.
#[derive(Debug)]
struct Client {
    stream: std::net::TcpStream,
    buf: Vec<u8>,
    received: u64,
}

impl Client {
    fn connect(addr: SocketAddr) -> Result<Client, String> {
        let stream = std::net::TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        stream
            .set_nodelay(true)
            .and_then(|()| stream.set_read_timeout(Some(Duration::from_secs(10))))
            .map_err(|e| format!("socket options: {e}"))?;
        Ok(Client {
            stream,
            buf: Vec::new(),
            received: 0,
        })
    }

    fn send(&mut self, data: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(data)
            .map_err(|e| format!("write: {e}"))
    }

    /// Sends `data` byte by byte, or cut at random points (each piece one write).
    fn send_split(&mut self, mut data: &[u8], rng: &mut Rng) -> Result<(), String> {
        let bytewise = rng.below(2) == 0;
        while !data.is_empty() {
            let k = if bytewise {
                1
            } else {
                1 + rng.below(data.len())
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
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// Reads one response (`head_only`: to a HEAD request, so without a body).
    fn response(&mut self, head_only: bool) -> Result<Response, String> {
        let head_len = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill()?;
        };
        let mut resp = parse_response(&self.buf[..head_len])?;
        let end = head_len + if head_only { 0 } else { resp.length };
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
        match self.stream.read(&mut byte) {
            Ok(0) if self.buf.is_empty() => Ok(()),
            Ok(_) => Err("bytes after the last response".to_string()),
            Err(e) => Err(format!("no clean close: {e}")),
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
        let (name, value) = line
            .split_once(": ")
            .ok_or_else(|| format!("field {line:?}"))?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().ok(),
            "connection" => resp.connection = value.to_string(),
            "content-type" => resp.content_type = value.to_string(),
            "date" => resp.date = value.to_string(),
            _ => {}
        }
    }
    resp.length = length.ok_or("no valid Content-Length")?;
    Ok(resp)
}

/// Checks `resp` has `status`, the `Connection` value `connection` ("" for none), a
/// Date, and the hello (nothing after HEAD) or an error message.
fn check(resp: &Response, status: u16, head_only: bool, connection: &str) -> Result<(), String> {
    let body_ok = match (status, head_only) {
        (_, true) => resp.body.is_empty(),
        (200, false) => resp.body == BODY,
        _ => resp.body.len() == resp.length && resp.length > 0,
    };
    let ok = resp.status == status
        && resp.connection == connection
        && resp.content_type == "text/plain"
        && (status != 200 || resp.length == BODY.len())
        && resp.date.len() == 29
        && resp.date.ends_with(" GMT")
        && body_ok;
    match ok {
        true => Ok(()),
        false => Err(format!(
            "expected {status} (Connection {connection:?}, head only: {head_only}), got {resp:?}"
        )),
    }
}

/// A valid keep-alive request of random shape (method, target, field-name case,
/// whitespace, a body); `true` for HEAD.
fn random_request(rng: &mut Rng, i: usize) -> (Vec<u8>, bool) {
    let kind = rng.below(10);
    let method = ["HEAD", "POST", "POST"].get(kind).unwrap_or(&"GET");
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
    if *method == "POST" {
        let len = rng.below(300);
        let _ = write!(req, "Content-Length: {len}\r\n\r\n");
        req.extend(TRAP.iter().cycle().take(len));
    } else {
        req.extend_from_slice(b"\r\n");
    }
    (req, kind == 0)
}

/// `n` requests on `c`, in batches of 1 to `batch`: each batch in one write, or split
/// (byte by byte or at random points, cuts falling inside and between requests); then
/// every response of the batch is read and checked.
fn load(c: &mut Client, n: usize, batch: usize, split: bool, rng: &mut Rng) -> Result<(), String> {
    let mut i = 0;
    while i < n {
        let count = (1 + rng.below(batch)).min(n - i);
        let (mut bytes, mut heads) = (Vec::new(), Vec::new());
        for _ in 0..count {
            let (req, head) = random_request(rng, i);
            bytes.extend_from_slice(&req);
            heads.push(head);
            i += 1;
        }
        match split {
            true => c.send_split(&bytes, rng)?,
            false => c.send(&bytes)?,
        }
        for (k, head) in heads.into_iter().enumerate() {
            let resp = c.response(head)?;
            check(&resp, 200, head, "").map_err(|e| format!("request {}: {e}", i - count + k))?;
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

/// Edge cases, each on its own connection: what is sent (`|` stands for CRLF, `~` cuts
/// it into two writes), the statuses expected, their `Connection` value, and whether the
/// server closes the connection after them.
#[rustfmt::skip]
const CASES: &[(&str, &str, &[u16], &str, bool)] = &[
    ("HTTP/1.0", "GET / HTTP/1.0||", &[200], "close", true),
    ("HTTP/1.0 keep-alive",
        "GET / HTTP/1.0|Connection: keep-alive||GET / HTTP/1.0|Connection: keep-alive||",
        &[200, 200], "keep-alive", false),
    ("close, then a request",
        "GET / HTTP/1.1|Host: a|Connection: keep-alive, close||GET / HTTP/1.1|Host: a||",
        &[200], "close", true),
    ("HEAD", "HEAD / HTTP/1.1|Host: a||", &[200], "", false),
    ("empty lines first", "||GET / HTTP/1.1|Host: a||", &[200], "", false),
    ("body across writes",
        "POST / HTTP/1.1|Host: a|Content-Length: 10||0123~456789GET / HTTP/1.1|Host: a||",
        &[200, 200], "", false),
    ("garbage", "HELLO||", &[400], "close", true),
    ("TLS handshake", "\x16\x03\x01\x00\x7f\x01\x00\x00", &[400], "close", true),
    ("no Host", "GET / HTTP/1.1||", &[400], "close", true),
    ("two Hosts", "GET / HTTP/1.1|Host: a|Host: b||", &[400], "close", true),
    ("space before a colon", "GET / HTTP/1.1|Host : a||", &[400], "close", true),
    ("line folding", "GET / HTTP/1.1|Host: a|X: b| c||", &[400], "close", true),
    ("bare LF", "GET / HTTP/1.1\nHost: a||", &[400], "close", true),
    ("bad Content-Length", "POST / HTTP/1.1|Host: a|Content-Length: 1x||", &[400], "close", true),
    ("two Content-Lengths", "POST / HTTP/1.1|Host: a|Content-Length: 1|Content-Length: 2||",
        &[400], "close", true),
    ("chunked", "POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||0||", &[501], "close", true),
    ("HTTP/2.0", "GET / HTTP/2.0|Host: a||", &[505], "close", true),
    ("Expect: 100-continue",
        "POST / HTTP/1.1|Host: a|Expect: 100-continue|Content-Length: 5||",
        &[200], "close", true),
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
        s.split('~')
            .map(|piece| piece.replace('|', "\r\n").into_bytes())
            .collect()
    };
    let mut cases: Vec<Case> = CASES
        .iter()
        .map(|&(name, sent, statuses, connection, eof)| {
            (name, wire(sent), statuses, connection, eof)
        })
        .collect();
    let at_limit = [padded(MAX_HEAD), wire("GET / HTTP/1.1|Host: a||").concat()].concat();
    let endless = padded(MAX_HEAD + 100)[..MAX_HEAD + 50].to_vec();
    // More than one read takes: a close without the linger would send RST, not FIN.
    let mut trailing = wire("GET / HTTP/1.1|Host: a|Connection: close||").concat();
    trailing.extend(std::iter::repeat_n(b'x', IN_BUF + MAX_HEAD));
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
        let head_only = pieces[0].starts_with(b"HEAD");
        let run = |c: &mut Client| {
            pieces.iter().try_for_each(|piece| c.send(piece))?;
            for &status in statuses {
                check(&c.response(head_only)?, status, head_only, connection)?;
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

/// The client thread: 1,000 keep-alive requests on three connections and the edge
/// cases; the last 400 requests are served while the server counts its allocations.
/// Returns the responses received.
fn client(addr: SocketAddr, server: &Sender<Msg>) -> Result<u64, String> {
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
    let _ = server.send(Msg::Measure(true));
    let steady = load(&mut b, 200, 32, false, rng)
        .and_then(|()| load(&mut c, 100, 3, true, rng))
        .and_then(|()| load(&mut a, 100, 1, false, rng));
    let _ = server.send(Msg::Measure(false));
    steady.map_err(|e| format!("steady state: {e}"))?;
    Ok(a.received + b.received + c.received + edge)
}

/// What a passed self-test measured.
#[derive(Debug)]
pub struct Report {
    /// Responses received and checked.
    pub responses: u64,
    /// Connections the server accepted.
    pub connections: u64,
    /// Server-thread allocations in steady state (`None`: not counted).
    pub allocations: Option<usize>,
}

/// Serves a free loopback port in `el` (connections in `mode`) and loads it from a
/// client thread; `Ok` when every response was right, everything closed cleanly, the
/// loop ended empty, and (if counted) steady state allocated nothing.
pub fn selftest<S: Selector>(el: &mut EventLoop<Server, S>, mode: Mode) -> Result<Report, String> {
    if &http_date(784_111_777) != b"Sun, 06 Nov 1994 08:49:37 GMT"
        || &http_date(951_782_400) != b"Tue, 29 Feb 2000 00:00:00 GMT"
    {
        return Err("http_date is wrong".to_string());
    }
    let mut server = Server::new(mode, None);
    let addr = server
        .listen(el, ([127, 0, 0, 1], 0).into())
        .map_err(|e| format!("listen: {e}"))?;
    let deadline = el
        .timeout(Timer::Deadline, SELFTEST_DEADLINE)
        .map_err(|e| format!("timer: {e:?}"))?;
    let sender = el.channel();
    let thread = thread::spawn(move || {
        let result = client(addr, &sender);
        // The client's sockets are closed by now; the server ends when it saw them close.
        let _ = sender.send(Msg::Stop);
        result
    });
    let run = server.run(el);
    el.clear_timeout(&deadline);
    server.close_all(el); // after a failure: the client sees EOF instead of waiting
    let received = thread.join().map_err(|_| "the client thread panicked")?;
    run.map_err(|e| format!("event loop: {e}"))?;
    let received = received?;
    if let Some(failure) = server.failure {
        return Err(failure);
    }
    let leaks = (server.served != received, el.registered() != 0);
    if leaks.0 || leaks.1 || server.steady_allocations.is_some_and(|n| n > 0) {
        return Err(format!(
            "served {} responses, the client got {received}; {} sources left registered; \
             {:?} allocations in steady state",
            server.served,
            el.registered(),
            server.steady_allocations
        ));
    }
    Ok(Report {
        responses: received,
        connections: server.accepted,
        allocations: server.steady_allocations,
    })
}

// ---------------------------------------------------------------------------------------
// Command line.

/// Command-line options.
#[derive(Debug)]
struct Args {
    addr: SocketAddr,
    backend: Option<String>,
    mode: Mode,
    requests: Option<u64>,
    selftest: bool,
    list: bool,
    help: bool,
    grace: Duration,
}

const USAGE: &str = "\
usage: http_hello [--addr IP:PORT] [--backend NAME] [--mode MODE] [--requests N] [--grace SECS]
       http_hello --selftest [--backend NAME] [--mode MODE]
       http_hello --list-backends

  --addr IP:PORT   where to listen (default 127.0.0.1:8080; port 0 takes a free one)
  --backend NAME   epoll, kqueue, poll or polling (default: SELECTIO_BACKEND if set,
                   else the first compiled in of epoll, kqueue, polling, poll)
  --mode MODE      level, edge or oneshot (default level)
  --requests N     exit after N responses (default: no limit)
  --grace SECS     after SIGINT/SIGTERM, how long requests in progress may finish
                   (default 5)
  --selftest       serve a free port and check its responses to a client thread
  --list-backends  print the backends compiled in, one per line
  -h, --help       print this help

SIGINT (Ctrl-C) or SIGTERM stops accepting, lets requests in progress finish for the
grace period, prints a summary and exits 0; a second signal cuts the wait short.
";

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut out = Args {
        addr: ([127, 0, 0, 1], 8080).into(),
        backend: None,
        mode: Mode::Level,
        requests: None,
        selftest: false,
        list: false,
        help: false,
        grace: Duration::from_secs(5),
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--addr" => out.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--backend" => out.backend = Some(value()?),
            "--mode" => out.mode = parse_mode(&value()?)?,
            "--requests" => {
                let n = value()?;
                let n = n.parse().ok().filter(|&n| n > 0);
                out.requests = Some(n.ok_or("--requests: expected a number above 0")?);
            }
            "--grace" => {
                let secs: f64 = value()?.parse().map_err(|e| format!("--grace: {e}"))?;
                out.grace = Duration::try_from_secs_f64(secs)
                    .map_err(|e| format!("--grace {secs}: {e}"))?;
            }
            "--selftest" => out.selftest = true,
            "--list-backends" => out.list = true,
            "-h" | "--help" => out.help = true,
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(out)
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse().map_err(|e| format!("--mode: {e}"))
}

/// The selector `--backend` names, or `SELECTIO_BACKEND`'s choice.
fn open_selector(backend: Option<&str>) -> io::Result<AnySelector> {
    let selector = match backend {
        Some(name) => AnySelector::with_backend(name.parse()?)?,
        None => AnySelector::from_env()?,
    };
    for (backend, err) in selector.fallbacks() {
        eprintln!("http_hello: backend {backend} unavailable: {err}");
    }
    Ok(selector)
}

fn run(args: Args) -> Result<(), String> {
    if args.help {
        print!("{USAGE}");
        return Ok(());
    }
    if args.list {
        Backend::available().for_each(|backend| println!("{backend}"));
        return Ok(());
    }
    let selector = open_selector(args.backend.as_deref()).map_err(|e| e.to_string())?;
    let name = selector.name();
    let mut el: EventLoop<Server, AnySelector> = EventLoop::builder()
        .build_with(selector)
        .map_err(|e| e.to_string())?;
    match args.selftest {
        true => run_selftest(&mut el, name, args.mode),
        false => serve(&mut el, name, &args),
    }
}

fn run_selftest(
    el: &mut EventLoop<Server, AnySelector>,
    name: &str,
    mode: Mode,
) -> Result<(), String> {
    let start = Instant::now();
    let report = selftest(el, mode)
        .map_err(|e| format!("http_hello selftest on {name} ({mode:?}) FAILED: {e}"))?;
    let allocations = match report.allocations {
        Some(n) => format!("{n} allocations in steady state"),
        None => "allocations not counted (needs --features conformance)".to_string(),
    };
    println!(
        "http_hello selftest on {name} ({mode:?}): {} responses checked on {} connections \
         in {:.2?}; {allocations}",
        report.responses,
        report.connections,
        start.elapsed()
    );
    Ok(())
}

fn serve(el: &mut EventLoop<Server, AnySelector>, name: &str, args: &Args) -> Result<(), String> {
    let mut server = Server::new(args.mode, args.requests);
    server.grace = args.grace;
    for (signal, name) in STOP_SIGNALS {
        el.watch_signal(signal)
            .map_err(|e| format!("watch {name}: {e}"))?;
    }
    let addr = server
        .listen(el, args.addr)
        .map_err(|e| format!("listen on {}: {e}", args.addr))?;
    println!(
        "http_hello on {name} ({:?}) listening on http://{addr}",
        args.mode
    );
    let result = server.run(el);
    server.close_all(el);
    result.map_err(|e| format!("event loop: {e}"))?;
    println!("{}", server.summary());
    server.failure.map_or(Ok(()), Err)
}

/// The signals that stop the server gracefully (signals exist on Unix only).
#[cfg(unix)]
const STOP_SIGNALS: [(i32, &str); 2] = [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")];
#[cfg(not(unix))]
const STOP_SIGNALS: [(i32, &str); 0] = [];

/// When the connections still open were cut, for the summary.
fn cut_when(second_signal: bool, grace: Duration) -> String {
    match second_signal {
        true => "by a second signal".to_string(),
        false => format!("at the {grace:?} deadline"),
    }
}

/// A signal's name, for the summary.
fn signal_name(signal: i32) -> String {
    match STOP_SIGNALS.iter().find(|(s, _)| *s == signal) {
        Some((_, name)) => name.to_string(),
        None => format!("signal {signal}"),
    }
}

fn main() -> ExitCode {
    main_with(std::env::args().skip(1))
}

/// `main` on the given arguments (tests run the example this way in a child process).
pub fn main_with(args: impl Iterator<Item = String>) -> ExitCode {
    match parse_args(args).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}
