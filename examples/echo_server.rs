//! A TCP echo server on `EventLoop`: it listens, accepts, sends every byte back, and
//! stops gracefully on Ctrl-C (`SIGINT`) or `SIGTERM`.
//!
//! ```text
//! cargo run --example echo_server               # listens on 127.0.0.1:7000
//! cargo run --example echo_server -- 0.0.0.0:0  # any address; port 0 takes a free one
//! SELECTIO_BACKEND=poll cargo run --example echo_server
//! ```
//!
//! Then type into `nc 127.0.0.1 7000`. Read it top to bottom:
//! - `run` picks the backend at run time (`AnySelector` reads `SELECTIO_BACKEND`),
//!   watches the stop signals, and listens with the race-free `EventLoop::listen_with`.
//! - [`Echo`] is the `Handler`. Each connection gets the next token, which keys its
//!   state in a map.
//! - A connection writes back what it reads. When the peer reads slower than it sends,
//!   a write would block: the rest waits for `WRITABLE`, and the connection reads nothing
//!   more until it is out (back-pressure: memory stays bounded).
//! - The first signal stops accepting, closes the connections that owe nothing and gives
//!   the others [`GRACE`] to flush; then, or at a second signal, the rest are cut.

use std::collections::HashMap;
use std::io::{self, ErrorKind::WouldBlock, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use selectio::net::{Acceptor, TcpListener, TcpSocket, TcpStream};
use selectio::{AnySelector, EventLoop, Handler, Interest, Mode, Ready, Selector, Token};

const LISTENER: Token = Token(0); // connections get `Token(1)`, `Token(2)`, …
/// How long connections may flush what they owe after a stop signal.
pub const GRACE: Duration = Duration::from_secs(5);

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:7000".into());
    run(addr.parse().map_err(io::Error::other)?, GRACE)
}

/// Serves `addr` until a stop signal, then prints a summary.
pub fn run(addr: SocketAddr, grace: Duration) -> io::Result<()> {
    let mut el = EventLoop::<Echo, AnySelector>::new()?; // AnySelector::new reads the env
    #[cfg(unix)] // signals are Unix's
    for signal in [libc::SIGINT, libc::SIGTERM] {
        el.watch_signal(signal)?; // from now on, the signal calls `Handler::signal`
    }
    let socket = TcpSocket::for_addr(addr)?;
    socket.set_reuseaddr(true)?; // restart at once, even with old connections in TIME_WAIT
    socket.bind(addr)?;
    let addr = socket.local_addr()?; // the port, if `addr` asked for any (port 0)
    let mut echo = Echo::listen(&mut el, socket, Mode::Level, grace)?;
    let backend = el.selector().name();
    println!("echo server on {backend} listening on {addr}");
    el.run(&mut echo)?;
    println!("echo server: {:?}", echo.stats);
    Ok(())
}

/// What the server did so far.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted.
    pub accepted: usize,
    /// Bytes written back.
    pub echoed: u64,
    /// Times a write would block, so the rest of an echo waited for `WRITABLE`.
    pub stalls: u64,
    /// Connections cut, owing bytes, after a stop signal.
    pub cut: usize,
}

/// The echo server: the listener (until a stop signal), the connections, and stats.
#[derive(Debug)]
pub struct Echo {
    listener: Option<Acceptor<TcpListener>>,
    conns: HashMap<Token, Conn>,
    mode: Mode,
    buf: Vec<u8>,
    grace: Duration,
    pub(crate) stats: Stats,
}

impl Echo {
    /// Listens on the bound `socket`; every registration uses `mode` (`Unsupported`
    /// if the backend lacks it).
    pub fn listen<S: Selector>(
        el: &mut EventLoop<Echo, S>,
        socket: TcpSocket,
        mode: Mode,
        grace: Duration,
    ) -> io::Result<Echo> {
        // listen(2) and register in one step: no connection can slip in between.
        let listener = el.listen_with(socket, 1024, LISTENER, mode)?;
        Ok(Echo {
            // Out of file descriptors, the Acceptor sheds the waiting connections rather
            // than leave the listener ready on every iteration (see its docs).
            listener: Some(Acceptor::new(listener)?),
            conns: HashMap::new(),
            mode,
            buf: vec![0; 64 * 1024],
            grace,
            stats: Stats::default(),
        })
    }

    /// Accepts every waiting connection and registers it for `READABLE`.
    fn accept<S: Selector>(&mut self, el: &mut EventLoop<Echo, S>) {
        while let Some(accepted) = self.listener.as_mut().map(Acceptor::accept) {
            let stream = match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) if e.kind() == WouldBlock => break, // none waits any more
                Err(e) => {
                    // Still out of descriptors: `Acceptor::backoff` says how long to pause.
                    eprintln!("echo: accept: {e}");
                    break;
                }
            };
            self.stats.accepted += 1;
            let token = Token(self.stats.accepted); // never reused, never LISTENER
            match el.register(&stream, token, Interest::READABLE, self.mode) {
                Err(e) => eprintln!("echo: register: {e}"), // the client sees a close
                Ok(()) => {
                    let conn = Conn {
                        stream,
                        pending: Vec::new(),
                    };
                    self.conns.insert(token, conn);
                }
            }
        }
        if let (Some(listener), Mode::Oneshot) = (&self.listener, self.mode) {
            let _ = el.reregister(listener, LISTENER, Interest::READABLE, Mode::Oneshot);
        }
    }

    /// Echoes on connection `token`, then waits for what it needs next, or closes.
    fn echo<S: Selector>(&mut self, el: &mut EventLoop<Echo, S>, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return; // closed earlier in this iteration
        };
        let owed = !conn.pending.is_empty(); // then it waits for WRITABLE: see `pump`
        let stopping = self.listener.is_none();
        match conn.pump(&mut self.buf, stopping, &mut self.stats) {
            // Oneshot disarms after each event; otherwise ask again only for a change.
            Ok(Some(i)) if self.mode != Mode::Oneshot && owed == (i == Interest::WRITABLE) => {}
            Ok(Some(i)) if el.reregister(&conn.stream, token, i, self.mode).is_ok() => {}
            _ => {
                // Done (EOF, or flushed after a stop signal), reset, or not watched: close.
                let conn = self.conns.remove(&token).expect("still open");
                let _ = el.deregister(&conn.stream);
                if stopping && self.conns.is_empty() {
                    el.shutdown();
                }
            }
        }
    }

    /// Closes every connection, whatever it owes, and ends the loop.
    fn cut<S: Selector>(&mut self, el: &mut EventLoop<Echo, S>) {
        for (_, conn) in self.conns.drain() {
            let _ = el.deregister(&conn.stream);
            self.stats.cut += 1;
        }
        el.shutdown();
    }
}

impl<S: Selector> Handler<S> for Echo {
    type Timeout = (); // the one timer: the end of the grace period
    type Message = ();

    fn ready(&mut self, el: &mut EventLoop<Echo, S>, token: Token, _: Ready) {
        match token {
            LISTENER => self.accept(el),
            token => self.echo(el, token),
        }
    }

    fn timeout(&mut self, el: &mut EventLoop<Echo, S>, (): ()) {
        self.cut(el);
    }

    /// The first stop signal: stop accepting, close the connections that owe nothing,
    /// give the others the grace period. A second: cut.
    fn signal(&mut self, el: &mut EventLoop<Echo, S>, _signal: i32, _count: usize) {
        match self.listener.take() {
            Some(listener) => drop(el.deregister(&listener)), // closed here: clients are refused
            None => return self.cut(el),                      // a second signal
        }
        self.conns.retain(|_, c| {
            // One that owes bytes already waits for WRITABLE (see `pump`), and stays.
            let owes = !c.pending.is_empty();
            if !owes {
                let _ = el.deregister(&c.stream);
            }
            owes
        });
        if self.conns.is_empty() {
            el.shutdown();
        } else if el.timeout((), self.grace).is_err() {
            self.cut(el);
        }
    }
}

/// One connection: its stream and the bytes read but not yet written back.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl Conn {
    /// Writes what is owed, then reads and writes back, until the socket would block:
    /// returns what to wait for next, or `None` when the connection is done (EOF with
    /// everything written back, or, `stopping`, nothing owed any more).
    fn pump(
        &mut self,
        buf: &mut [u8],
        stopping: bool,
        stats: &mut Stats,
    ) -> io::Result<Option<Interest>> {
        loop {
            while !self.pending.is_empty() {
                match (&self.stream).write(&self.pending) {
                    Ok(n) => {
                        self.pending.drain(..n);
                        stats.echoed += n as u64;
                    }
                    Err(e) if e.kind() == WouldBlock => {
                        stats.stalls += 1;
                        return Ok(Some(Interest::WRITABLE)); // no READABLE: back-pressure
                    }
                    Err(e) => return Err(e), // a non-blocking call never sleeps: no EINTR
                }
            }
            if stopping {
                return Ok(None);
            }
            match (&self.stream).read(buf) {
                Ok(0) => return Ok(None),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == WouldBlock => return Ok(Some(Interest::READABLE)),
                Err(e) => return Err(e),
            }
        }
    }
}
