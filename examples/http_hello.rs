//! A minimal HTTP/1.1 "hello" server on `EventLoop`: keep-alive, pipelined requests,
//! partial reads and writes, an idle timeout, and a graceful stop on Ctrl-C or `SIGTERM`.
//!
//! ```text
//! cargo run --example http_hello                    # listens on 127.0.0.1:8080
//! curl http://127.0.0.1:8080/ http://127.0.0.1:8080/  # two requests, one connection
//! ```
//!
//! It grows `examples/echo_server.rs`: a connection answers each request head its input
//! holds (pipelining); it has an idle timer; a stop lets requests in progress finish.

use std::collections::HashMap;
use std::io::{self, ErrorKind::WouldBlock, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use selectio::net::{Acceptor, TcpListener, TcpSocket, TcpStream};
use selectio::{AnySelector, EventLoop, Handler, Interest, Mode, Ready, Selector, Timeout, Token};

const LISTENER: Token = Token(0); // connections get `Token(1)`, `Token(2)`, …
/// The largest request head accepted, request line and final empty line included.
pub const MAX_HEAD: usize = 8 * 1024;
/// The response body; then the heads of the responses, without their final empty line.
pub const BODY: &str = "Hello, world!\n";
const OK: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n";
const BAD_REQUEST: &str = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n";
const TOO_LARGE: &str = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n";

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:8080".into());
    let idle = Duration::from_secs(10); // a connection with no event this long is closed
    run(addr.parse().map_err(io::Error::other)?, idle)
}

/// Serves `addr` until a stop signal, then prints a summary.
pub fn run(addr: SocketAddr, idle: Duration) -> io::Result<()> {
    let mut el = EventLoop::<Server, AnySelector>::new()?;
    #[cfg(unix)] // signals are Unix's
    for signal in [libc::SIGINT, libc::SIGTERM] {
        el.watch_signal(signal)?;
    }
    let socket = TcpSocket::for_addr(addr)?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let addr = socket.local_addr()?;
    let mut server = Server::listen(&mut el, socket, Mode::Level, idle)?;
    let backend = el.selector().name();
    println!("http_hello on {backend} listening on http://{addr}");
    el.run(&mut server)?;
    let (served, accepted) = (server.served, server.accepted);
    println!("http_hello: stopped; served {served} responses on {accepted} connections");
    Ok(())
}

/// The server: the listener (until a stop signal), the connections, and counters.
#[derive(Debug)]
pub struct Server {
    listener: Option<Acceptor<TcpListener>>,
    conns: HashMap<Token, Conn>,
    mode: Mode,
    idle: Duration,
    pub(crate) served: u64,
    pub(crate) accepted: usize,
}

impl Server {
    /// Listens on the bound `socket`; every registration uses `mode`.
    pub fn listen<S: Selector>(
        el: &mut EventLoop<Server, S>,
        socket: TcpSocket,
        mode: Mode,
        idle: Duration,
    ) -> io::Result<Server> {
        let listener = el.listen_with(socket, 1024, LISTENER, mode)?;
        Ok(Server {
            listener: Some(Acceptor::new(listener)?),
            conns: HashMap::new(),
            mode,
            idle,
            served: 0,
            accepted: 0,
        })
    }

    /// Accepts every waiting connection, starts its idle timer and registers it.
    fn accept<S: Selector>(&mut self, el: &mut EventLoop<Server, S>) {
        while let Some(Ok((stream, _peer))) = self.listener.as_mut().map(Acceptor::accept) {
            self.accepted += 1;
            let token = Token(self.accepted);
            let _ = stream.set_nodelay(true); // each batch of responses goes out at once
            if let Ok(timer) = el.timeout(token, self.idle) {
                // Should registering fail, the idle timer closes the connection.
                let _ = el.register(&stream, token, Interest::READABLE, self.mode);
                let conn = Conn {
                    stream,
                    input: Vec::with_capacity(MAX_HEAD), // never grows: see `pump`
                    skip: 0,
                    out: Vec::with_capacity(4096),
                    closing: false,
                    timer,
                };
                self.conns.insert(token, conn);
            }
        } // WouldBlock: none waits any more (other errors: see the echo server)
        if let (Some(listener), Mode::Oneshot) = (&self.listener, self.mode) {
            let _ = el.reregister(listener, LISTENER, Interest::READABLE, Mode::Oneshot);
        }
    }

    /// Serves connection `token`, then waits for what it needs next, or closes it.
    fn serve<S: Selector>(&mut self, el: &mut EventLoop<Server, S>, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return; // closed earlier in this iteration
        };
        el.reset_timeout(&conn.timer, self.idle); // activity: not idle
        let writing = !conn.out.is_empty(); // then it waits for WRITABLE: see `pump`
        match conn.pump(&mut self.served, self.listener.is_none()) {
            // Oneshot disarms after each event; otherwise ask again only for a change.
            Ok(Some(i)) if self.mode != Mode::Oneshot && writing == (i == Interest::WRITABLE) => {}
            Ok(Some(i)) if el.reregister(&conn.stream, token, i, self.mode).is_ok() => {}
            _ => self.close(el, token), // done, failed, or not watched
        }
    }

    /// Deregisters and drops connection `token`; the last one ends a stopped server.
    fn close<S: Selector>(&mut self, el: &mut EventLoop<Server, S>, token: Token) {
        if let Some(conn) = self.conns.remove(&token) {
            el.clear_timeout(&conn.timer);
            let _ = el.deregister(&conn.stream);
        }
        if self.listener.is_none() && self.conns.is_empty() {
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

    /// The first stop signal: stop accepting; connections close once they have no
    /// request in progress. A second one: close them all.
    fn signal(&mut self, el: &mut EventLoop<Server, S>, _signal: i32, _count: usize) {
        // The first signal closes the listener: new clients are refused.
        let first = self.listener.take().map(|l| el.deregister(&l)).is_some();
        for token in self.conns.keys().copied().collect::<Vec<_>>() {
            match first {
                true => self.serve(el, token), // closes it if it has no request in progress
                false => self.close(el, token),
            }
        }
        if self.conns.is_empty() {
            el.shutdown();
        }
    }
}

/// One connection: unparsed input, body bytes to skip, unwritten output, and its timer.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    input: Vec<u8>,
    skip: usize,
    out: Vec<u8>,
    closing: bool,
    timer: Timeout,
}

impl Conn {
    /// Answers, writes and reads until it would block: what to wait for (`None`: done).
    fn pump(&mut self, served: &mut u64, stopping: bool) -> io::Result<Option<Interest>> {
        let mut buf = [0; MAX_HEAD];
        loop {
            self.answer(served);
            while !self.out.is_empty() {
                match (&self.stream).write(&self.out) {
                    Ok(n) => drop(self.out.drain(..n)),
                    Err(e) if e.kind() == WouldBlock => return Ok(Some(Interest::WRITABLE)),
                    Err(e) => return Err(e),
                }
            }
            if self.closing || (stopping && self.input.is_empty() && self.skip == 0) {
                // Done. FIN, then drop (some of) what the client sent since: unread input
                // makes close(2) send a reset, which can destroy the last response.
                let _ = self.stream.shutdown(Shutdown::Write);
                let _ = io::copy(&mut (&self.stream).take(64 * 1024), &mut io::sink());
                return Ok(None);
            }
            // Read no more than a head can hold: a longer one gets its 431 in `answer`.
            match (&self.stream).read(&mut buf[..MAX_HEAD - self.input.len()]) {
                Ok(0) => return Ok(None), // EOF
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == WouldBlock => return Ok(Some(Interest::READABLE)),
                Err(e) => return Err(e),
            }
        }
    }

    /// Queues a response for each complete request head in the input.
    fn answer(&mut self, served: &mut u64) {
        while !self.closing {
            self.skip -= self.input.drain(..self.skip.min(self.input.len())).len(); // a body
            let end = self.input.windows(4).position(|w| w == b"\r\n\r\n");
            let (head, body, close, skip) = match end.map(|end| parse(&self.input[..end + 2])) {
                Some(Some((close, skip))) => (OK, BODY, close, skip),
                Some(None) => (BAD_REQUEST, "", true, 0),
                None if self.input.len() == MAX_HEAD => (TOO_LARGE, "", true, 0),
                None => return, // the rest of the head has not come yet
            };
            self.input.drain(..end.map_or(0, |end| end + 4));
            let connection = if close { "Connection: close\r\n" } else { "" };
            let _ = write!(self.out, "{head}{connection}\r\n{body}"); // to a Vec: never fails
            (self.skip, self.closing) = (skip, close);
            *served += 1;
        }
    }
}

/// Parses a request head: whether to close after the response (`Connection: close`, or
/// HTTP/1.0) and the body length (`Content-Length`), or `None` for a bad request.
fn parse(head: &[u8]) -> Option<(bool, usize)> {
    let mut lines = std::str::from_utf8(head).ok()?.lines(); // without their "\r\n"
    let mut close = match lines.next()?.splitn(3, ' ').nth(2)? {
        "HTTP/1.1" => false, // after the method and the target: the version
        "HTTP/1.0" => true,  // just close
        _ => return None,
    };
    let mut body = 0;
    for line in lines.filter(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':')?;
        if name.eq_ignore_ascii_case("connection") {
            let mut options = value.split(',');
            close |= options.any(|o| o.trim_ascii().eq_ignore_ascii_case("close"));
        } else if name.eq_ignore_ascii_case("content-length") {
            body = value.trim_ascii().parse().ok()?;
        }
    }
    Some((close, body))
}
