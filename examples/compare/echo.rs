//! The echo server's per-connection logic, shared by every contender so that only the
//! readiness machinery differs between them.
//!
//! A connection asks for `READABLE` only. On readiness it reads into a 64 KiB buffer and
//! writes the bytes straight back; it reads again only if the read filled the buffer
//! (a shorter read drained the socket: on Linux a new arrival makes a new edge, so this is
//! right for edge- and level-triggered registrations alike, and costs one `read` per
//! request instead of a second one that returns `EAGAIN`). If the echo does not fit in the
//! socket's send buffer, the rest is kept, the connection switches to `WRITABLE` only
//! (back-pressure: it stops reading), and back to `READABLE` once flushed.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// The listener's token; connection `i` of a [`Slab`] has token `i + 1`.
pub const LISTENER: usize = 0;
/// Events fetched per wait, in every contender.
pub const EVENTS: usize = 1024;
/// Each connection's read buffer.
pub const BUF: usize = 64 * 1024;

/// What a server must do with a connection's registration after [`Conn::ready`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing.
    Keep,
    /// Watch for `WRITABLE` only: an echo is pending.
    WantWrite,
    /// Watch for `READABLE` only again: the pending echo went out.
    WantRead,
    /// Deregister and drop it: end of stream or an error.
    Close,
}

/// One echo connection over any non-blocking stream.
#[derive(Debug)]
pub struct Conn<S> {
    pub stream: S,
    buf: Box<[u8]>,
    /// The unsent part of the last echo is `buf[start..end]`.
    start: usize,
    end: usize,
    /// Errors other than "would block" and end of stream.
    pub errors: u64,
}

impl<S: Read + Write> Conn<S> {
    pub fn new(stream: S) -> Conn<S> {
        Conn {
            stream,
            buf: vec![0; BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            errors: 0,
        }
    }

    /// Whether an echo is pending: the interest a oneshot re-arm asks for on `Keep`.
    pub fn pending(&self) -> bool {
        self.start < self.end
    }

    /// Handles readiness (`readable` includes error and hang-up).
    pub fn ready(&mut self, readable: bool, writable: bool) -> Change {
        if self.start < self.end {
            if !(readable || writable) {
                return Change::Keep;
            }
            return match self.flush() {
                Ok(true) => Change::WantRead,
                Ok(false) => Change::Keep,
                Err(_) => self.failed(),
            };
        }
        if !readable {
            return Change::Keep;
        }
        self.echo()
    }

    fn echo(&mut self) -> Change {
        loop {
            match self.stream.read(&mut self.buf) {
                Ok(0) => return Change::Close,
                Ok(n) => {
                    self.start = 0;
                    self.end = n;
                    match self.flush() {
                        Ok(true) if n < self.buf.len() => return Change::Keep,
                        Ok(true) => {}
                        Ok(false) => return Change::WantWrite,
                        Err(_) => return self.failed(),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Change::Keep,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.failed(),
            }
        }
    }

    /// Writes `buf[start..end]`; `Ok(true)` once all of it is out.
    fn flush(&mut self) -> io::Result<bool> {
        while self.start < self.end {
            match self.stream.write(&self.buf[self.start..self.end]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.start += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    fn failed(&mut self) -> Change {
        self.errors += 1;
        Change::Close
    }
}

/// The connections of one server, by token, and when the server is done: once it has
/// accepted every expected connection and all of them have closed.
#[derive(Debug)]
pub struct Slab<S> {
    conns: Vec<Option<Conn<S>>>,
    expected: usize,
    accepted: usize,
    open: usize,
    /// Errors of connections already closed, and of `accept`.
    pub errors: u64,
}

impl<S: Read + Write> Slab<S> {
    pub fn new(expected: usize) -> Slab<S> {
        Slab {
            conns: Vec::with_capacity(expected),
            expected,
            accepted: 0,
            open: 0,
            errors: 0,
        }
    }

    /// Stores a new connection and returns its token.
    pub fn insert(&mut self, stream: S) -> usize {
        self.accepted += 1;
        self.open += 1;
        self.conns.push(Some(Conn::new(stream)));
        self.conns.len()
    }

    pub fn get(&mut self, token: usize) -> Option<&mut Conn<S>> {
        self.conns.get_mut(token.checked_sub(1)?)?.as_mut()
    }

    /// Takes the connection out (the caller deregisters it, then drops it).
    pub fn remove(&mut self, token: usize) -> Option<Conn<S>> {
        let conn = self.conns.get_mut(token.checked_sub(1)?)?.take()?;
        self.open -= 1;
        self.errors += conn.errors;
        Some(conn)
    }

    pub fn done(&self) -> bool {
        self.accepted >= self.expected && self.open == 0
    }
}

/// Accepts one pending connection (non-blocking, `TCP_NODELAY`), `None` when none waits.
pub fn accept(listener: &TcpListener) -> io::Result<Option<TcpStream>> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(true)?;
                stream.set_nodelay(true)?;
                return Ok(Some(stream));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Where the client is with one contender: the servers of `--check-allocs` count
/// allocations from the end of their warm-up to the end of the last round (the waits
/// between their slices allocate nothing, so the whole span counts). Such a server may be
/// blocked in a wait that began inside the window when the client ends it, so the client
/// keeps the requests coming until the server says [`COUNTED`](Phase::COUNTED); only
/// then does it drain and close (a close handled inside the window would count the
/// deregistration's allocations as steady state).
#[derive(Debug, Default)]
pub struct Phase(AtomicU8);

impl Phase {
    pub const WARMUP: u8 = 0;
    pub const MEASURE: u8 = 1;
    /// Set by the client after the last round.
    pub const DRAIN: u8 = 2;
    /// Set by a counting server once its counting window is over.
    pub const COUNTED: u8 = 3;

    pub fn get(&self) -> u8 {
        self.0.load(Ordering::Acquire)
    }

    pub fn set(&self, phase: u8) {
        self.0.store(phase, Ordering::Release);
    }
}

/// What a server gets.
#[derive(Debug)]
pub struct ServerArgs {
    /// Bound, listening and non-blocking.
    pub listener: TcpListener,
    /// How many connections the client makes; the server returns once all have closed.
    pub connections: usize,
    /// Register connections edge-triggered where the mechanism has it.
    pub edge: bool,
    /// Register connections oneshot and re-arm after every event (`--mode oneshot`).
    pub oneshot: bool,
    /// Count the allocations made while the client measures (EventLoop servers).
    pub check_allocs: bool,
    pub phase: Arc<Phase>,
}

/// What a server reports.
#[derive(Debug, Default, Clone, Copy)]
pub struct ServerStats {
    pub errors: u64,
    /// Allocations while the client measured, when counted.
    pub allocations: Option<u64>,
}
