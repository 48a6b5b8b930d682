//! A minimal HTTP/1.1 "hello" server on `EventLoop`: keep-alive, pipelined requests,
//! partial reads and writes, an idle timeout, and a graceful stop on Ctrl-C or `SIGTERM`.
//!
//! ```text
//! cargo run --example http_hello                    # listens on 127.0.0.1:8080
//! cargo run --example http_hello -- 127.0.0.1:0     # port 0 takes a free one
//! curl http://127.0.0.1:8080/ http://127.0.0.1:8080/  # two requests, one connection
//! ```
//!
//! `main` and the accept loop are the echo server's (`examples/echo_server.rs`). New here:
//! - A connection collects input until a request head ends (an empty line), answers
//!   `Hello, world!`, and goes on with the next head already read (pipelining). It parses
//!   just enough: the request line, `Connection: close`, `Content-Length` (the body is
//!   skipped). A bad request line gets `400`, a head over [`MAX_HEAD`] bytes `431`, and
//!   a close. No `Date`, no chunked bodies.
//! - Each connection has a timer: every event pushes it back (`reset_timeout`); when it
//!   fires, the connection was idle that long and is closed.
//! - The first stop signal closes the connections with no request in progress; the
//!   others close once answered (or idle). A second signal closes them all.
//!
//! tests/http_hello_requests.rs drives this handler with keep-alive, pipelined, split
//! and bad requests, and counts its allocations; tests/example_signals.rs stops it.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use selectio::net::{Acceptor, TcpListener, TcpSocket, TcpStream};
use selectio::{AnySelector, EventLoop, Handler, Interest, Mode, Ready, Selector, Timeout, Token};

/// The listener's token; connections get `Token(1)`, `Token(2)`, …
pub const LISTENER: Token = Token(0);
/// A connection with no event for this long is closed.
pub const IDLE: Duration = Duration::from_secs(10);
/// The largest request head accepted, request line and final empty line included.
pub const MAX_HEAD: usize = 8 * 1024;
/// The response body, and the head that announces it.
pub const BODY: &[u8] = b"Hello, world!\n";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n";
/// The heads of the error responses, which have no body.
const BAD_REQUEST: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n";
const TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n";

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1);
    let addr = addr.as_deref().unwrap_or("127.0.0.1:8080");
    run(addr.parse().map_err(io::Error::other)?, IDLE)
}

/// Serves `addr` until a stop signal, then prints a summary.
pub fn run(addr: SocketAddr, idle: Duration) -> io::Result<()> {
    let selector = AnySelector::from_env()?;
    let backend = selector.name();
    let mut el = EventLoop::builder().build_with(selector)?;
    #[cfg(unix)] // signals are Unix's
    for signal in [libc::SIGINT, libc::SIGTERM] {
        el.watch_signal(signal)?;
    }
    let socket = TcpSocket::for_addr(addr)?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let addr = socket.local_addr()?;
    let mut server = Server::listen(&mut el, socket, Mode::Level, idle)?;
    println!("http_hello on {backend} listening on http://{addr}");
    el.run(&mut server)?;
    let (served, accepted) = (server.served, server.accepted);
    println!("http_hello: stopped; served {served} responses on {accepted} connections");
    Ok(())
}

/// The server: the listener and the connections.
#[derive(Debug)]
pub struct Server {
    listener: Option<Acceptor<TcpListener>>,
    conns: HashMap<Token, Conn>,
    mode: Mode,
    idle: Duration,
    stopping: bool,
    /// Responses queued.
    pub served: u64,
    /// Connections accepted.
    pub accepted: usize,
}

impl Server {
    /// Listens on the bound `socket`; every registration uses `mode`.
    pub fn listen<S: Selector>(
        el: &mut EventLoop<Server, S>,
        socket: TcpSocket,
        mode: Mode,
        idle: Duration,
    ) -> io::Result<Server> {
        // listen(2) and register in one step: no connection can slip in between.
        let listener = el.listen_with(socket, 1024, LISTENER, mode)?;
        Ok(Server {
            listener: Some(Acceptor::new(listener)?),
            conns: HashMap::new(),
            mode,
            idle,
            stopping: false,
            served: 0,
            accepted: 0,
        })
    }

    /// Accepts every waiting connection, registers it and starts its idle timer.
    fn accept<S: Selector>(&mut self, el: &mut EventLoop<Server, S>) {
        let Some(listener) = &mut self.listener else {
            return;
        };
        while let Ok((stream, _peer)) = listener.accept() {
            self.accepted += 1;
            let token = Token(self.accepted);
            let _ = stream.set_nodelay(true); // each batch of responses goes out at once
            let Ok(timer) = el.timeout(token, self.idle) else {
                continue;
            };
            // If registering fails, the timer finds no connection when it fires.
            let registered = el.register(&stream, token, Interest::READABLE, self.mode);
            if registered.is_ok() {
                let conn = Conn {
                    stream,
                    input: Vec::with_capacity(MAX_HEAD), // never grows: see `pump`
                    skip: 0,
                    out: Vec::with_capacity(4096),
                    closing: false,
                    interest: Interest::READABLE,
                    timer,
                };
                self.conns.insert(token, conn);
            }
        } // WouldBlock: none waits any more (for other errors, see echo_server's accept)
        if self.mode == Mode::Oneshot {
            let _ = el.reregister(&*listener, LISTENER, Interest::READABLE, Mode::Oneshot);
        }
    }

    /// Serves connection `token`, then waits for what it needs next, or closes it.
    fn serve<S: Selector>(&mut self, el: &mut EventLoop<Server, S>, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        el.reset_timeout(&conn.timer, self.idle); // activity: not idle
        match conn.pump(&mut self.served, self.stopping) {
            Ok(Some(interest)) if self.mode != Mode::Oneshot && interest == conn.interest => {}
            Ok(Some(interest)) => {
                conn.interest = interest;
                let rearmed = el.reregister(&conn.stream, token, interest, self.mode);
                if rearmed.is_err() {
                    self.close(el, token);
                }
            }
            Ok(None) | Err(_) => self.close(el, token),
        }
    }

    /// Deregisters and drops connection `token`; the last one ends a stopped server.
    fn close<S: Selector>(&mut self, el: &mut EventLoop<Server, S>, token: Token) {
        if let Some(conn) = self.conns.remove(&token) {
            el.clear_timeout(&conn.timer);
            let _ = el.deregister(&conn.stream);
            if conn.closing {
                // FIN after the response, then drop what the client sent meanwhile:
                // unread input makes close(2) send a reset, which can destroy the
                // response on its way.
                let _ = conn.stream.shutdown(Shutdown::Write);
                let mut buf = [0; 4096];
                for _ in 0..16 {
                    if !matches!((&conn.stream).read(&mut buf), Ok(1..)) {
                        break;
                    }
                }
            }
        }
        if self.stopping && self.conns.is_empty() {
            el.shutdown();
        }
    }

    /// The first stop signal: stop accepting and close the connections with no request
    /// in progress; the others close once answered. A second one: close them all.
    pub fn stop<S: Selector>(&mut self, el: &mut EventLoop<Server, S>) {
        let again = std::mem::replace(&mut self.stopping, true);
        if let Some(listener) = self.listener.take() {
            let _ = el.deregister(&listener);
        }
        let tokens: Vec<Token> = self.conns.keys().copied().collect();
        for token in tokens {
            if again || self.conns[&token].is_idle() {
                self.close(el, token);
            }
        }
        if self.conns.is_empty() {
            el.shutdown();
        }
    }
}

impl<S: Selector> Handler<S> for Server {
    type Timeout = Token; // a connection's idle timer
    type Message = ();

    fn ready(&mut self, el: &mut EventLoop<Server, S>, token: Token, _: Ready) {
        match token {
            LISTENER => self.accept(el),
            token => self.serve(el, token),
        }
    }

    fn timeout(&mut self, el: &mut EventLoop<Server, S>, token: Token) {
        self.close(el, token);
    }

    fn signal(&mut self, el: &mut EventLoop<Server, S>, _signal: i32, _count: usize) {
        self.stop(el);
    }
}

/// One connection: the input not yet parsed, body bytes still to skip, the output not
/// yet written, and its idle timer.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    input: Vec<u8>,
    skip: u64,
    out: Vec<u8>,
    /// The last response queued closes the connection.
    closing: bool,
    interest: Interest,
    timer: Timeout,
}

impl Conn {
    /// No request in progress: nothing unparsed, no body to skip, nothing to write.
    fn is_idle(&self) -> bool {
        self.input.is_empty() && self.skip == 0 && self.out.is_empty()
    }

    /// Writes, answers and reads until the socket would block: returns what to wait
    /// for next, or `None` when the connection is done.
    fn pump(&mut self, served: &mut u64, stopping: bool) -> io::Result<Option<Interest>> {
        let mut buf = [0; MAX_HEAD];
        loop {
            while !self.out.is_empty() {
                match (&self.stream).write(&self.out) {
                    Ok(n) => drop(self.out.drain(..n)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(Some(Interest::WRITABLE)); // and read nothing meanwhile
                    }
                    Err(e) => return Err(e),
                }
            }
            if self.closing || (stopping && self.is_idle()) {
                return Ok(None);
            }
            self.answer(served);
            if !self.out.is_empty() {
                continue; // write it
            }
            // Read no more than a head can hold: a longer one gets its 431 in `answer`.
            match (&self.stream).read(&mut buf[..MAX_HEAD - self.input.len()]) {
                Ok(0) => return Ok(None), // EOF
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(Some(Interest::READABLE))
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Queues a response for each complete request head in the input (at most
    /// `MAX_HEAD` bytes, so the output stays bounded too).
    fn answer(&mut self, served: &mut u64) {
        while !self.closing {
            let skip = self.skip.min(self.input.len() as u64);
            self.input.drain(..skip as usize);
            self.skip -= skip;
            let end = self.input.windows(4).position(|w| w == b"\r\n\r\n");
            let reply = match end {
                Some(end) => parse(&self.input[..end + 2]),
                None if self.input.len() == MAX_HEAD => Err(TOO_LARGE),
                None => return, // the rest of the head has not come yet
            };
            self.input.drain(..end.map_or(0, |end| end + 4));
            let (head, body, close): (_, &[u8], _) = match reply {
                Ok((close, skip)) => {
                    self.skip = skip;
                    (OK, BODY, close)
                }
                Err(head) => (head, b"", true),
            };
            self.closing = close;
            self.out.extend_from_slice(head);
            if close {
                self.out.extend_from_slice(b"Connection: close\r\n");
            }
            self.out.extend_from_slice(b"\r\n");
            self.out.extend_from_slice(body);
            *served += 1;
        }
    }
}

/// Parses a request head (the request line and the header lines, each ending in CRLF):
/// whether to close after the response (`Connection: close`, or HTTP/1.0) and the body
/// length (`Content-Length`), or the head of the error response.
fn parse(head: &[u8]) -> Result<(bool, u64), &'static [u8]> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let mut parts = lines.next().unwrap_or_default().split(|&b| b == b' ');
    let mut close = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_method), Some(_target), Some(b"HTTP/1.1"), None) => false,
        (Some(_method), Some(_target), Some(b"HTTP/1.0"), None) => true, // just close
        _ => return Err(BAD_REQUEST),
    };
    let mut body = 0;
    for line in lines.filter(|line| !line.is_empty()) {
        let colon = line.iter().position(|&b| b == b':').ok_or(BAD_REQUEST)?;
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"connection") {
            let mut options = value.split(|&b| b == b',');
            close |= options.any(|o| o.trim_ascii().eq_ignore_ascii_case(b"close"));
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let digits = std::str::from_utf8(value).map_err(|_| BAD_REQUEST)?;
            body = digits.parse().map_err(|_| BAD_REQUEST)?;
        }
    }
    Ok((close, body))
}
