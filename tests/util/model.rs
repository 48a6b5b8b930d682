//! The model-based harness of `tests/model.rs` and `tests/regressions.rs`: sequences of
//! [`Op`]s over pipes, TCP loopback pairs and Unix stream pairs, run on a real selector
//! and checked after every `select` against a model of what the Selector contract
//! (DESIGN.md, `src/selector.rs`) says must and must not be reported.
//!
//! # What is asserted, and why only that
//! After every batch (one `select` call):
//! - **Never reported**: a token that is not registered (never, deregistered, replaced by
//!   `reregister`), `Token::RESERVED`; a fired Oneshot before its `reregister`; an Edge
//!   registration with no operation on its fd or its peer since the previous `select`
//!   (register and reregister count as operations); a closed registered fd more than
//!   once, and then only as error/closed.
//! - **Flags**, while the peer is open (no hang-up or error can exist): `READABLE` only
//!   with readable interest on an fd that has unread bytes, `WRITABLE` only with
//!   writable interest on an fd that can write, and never neither.
//! - **Must be reported** ("ready" below: unread bytes or a closed peer for reading; an
//!   empty peer buffer or a closed peer for writing): Level, every batch, with every
//!   ready interest; an armed Oneshot, in the first batch; Edge, in the first batch,
//!   after register/reregister (what is ready then) or new data / a closed peer (read).
//! - A `select` that returns nothing before its timeout had a wake pending; a pending
//!   wake makes a `select(5 s)` return at once. A wake answered by a batch with events
//!   may or may not be consumed: the next empty early return is then allowed.
//!
//! Left out on purpose, as the contract does not promise them: Edge reports caused by
//! any operation on the fd or its peer (a read frees the writer's space, a pipe's ends
//! share wait queues, a write may be answered by an ACK); `WRITABLE` as a must while the
//! peer has unread bytes (buffer fullness is not modelled); the hint flags.
//!
//! TCP delivers asynchronously: after each write the harness peeks until the bytes have
//! arrived. A closed TCP peer (FIN or RST, arriving later) makes its end "wild": its
//! musts become eventual (reported within [`PATIENCE`]) and Edge/flag limits lift.
//!
//! poll(2) sees numbers, not files (its documented limitation): a registered fd closed
//! without `deregister` leaves a stale entry under its number. Once the number is reused
//! by an unregistered fd, that fd is reported under the old token until the number is
//! registered again; `reregister` of the number may act on the stale entry (`Ok`: the fd
//! counts as registered with the given token, interest and mode, and the entry keeps the
//! closed file's `fstat` identity, so the next `register` of the number may replace it,
//! `Ok`, instead of `AlreadyExists`), and so may `deregister` (`Ok`: the entry is gone);
//! both may also be `NotFound`. The model allows all that on poll(2) only (the poll
//! backend, and the polling backend in CI's poll(2) mode: see [`POLLING_ON_POLL`]), and on
//! uring, whose registry is keyed by number (only its `register` tells the files apart).
//! Elsewhere `reregister`/`deregister` of such a number are `NotFound` like any unknown
//! fd, and `register` of a registered fd is `AlreadyExists`.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use selectio::selector::Capabilities;
use selectio::{Events, Interest, Mode, Ready, Selector, Token};

/// Readable interest (short, so that a failing sequence prints as pasteable Rust).
pub const R: Interest = Interest::READABLE;
/// Writable interest.
pub const W: Interest = Interest::WRITABLE;
/// Both.
pub const RW: Interest = Interest::BOTH;

/// The pairs every sequence starts with: end `2p` and `2p + 1` are pair `p`'s ends (a
/// pipe's reader, then its writer).
pub const KINDS: [Kind; 4] = [Kind::Pipe, Kind::Tcp, Kind::Unix, Kind::Pipe];
/// Number of pairs.
pub const PAIRS: usize = KINDS.len();
/// Number of ends.
pub const ENDS: usize = 2 * PAIRS;
/// The largest single write.
pub const WRITE_MAX: usize = 2048;
/// Writes stop adding once this much is unread on the peer: far below every buffer, so
/// an end whose peer has read everything is surely writable.
const UNREAD_MAX: usize = 16 * 1024;
/// The events capacity: more than the ends, so every ready end fits in one batch.
const CAPACITY: usize = 64;
/// A select that a pending wake must end at once.
const LONG: Duration = Duration::from_secs(5);
/// The `Wait::Short` timeout.
const SHORT: Duration = Duration::from_millis(2);
/// How long an eventual must (a TCP FIN or RST in flight) may take.
const PATIENCE: Duration = Duration::from_secs(3);
/// The timeout of the extra selects that wait for eventual musts.
const AGAIN: Duration = Duration::from_millis(50);

/// The polling crate runs on poll(2) (CI's `--cfg polling_test_poll_backend`). Then the
/// polling backend shares poll(2)'s number-based stale entries, and a `wait` that finds a
/// notification pending returns at once without polling the fds (polling's
/// `src/poll.rs`, `wait_deadline`): a woken select may miss ready fds, reported by the
/// next one. Both are allowed in that mode only.
const POLLING_ON_POLL: bool = cfg!(polling_test_poll_backend);

/// One test case at a time per process: a closed fd number reused by another thread's
/// socket would reach poll(2) under this case's stale token.
static SERIAL: Mutex<()> = Mutex::new(());

/// What connects the two ends of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `selectio::pipe::pipe()`: end 0 reads, end 1 writes.
    Pipe,
    /// A TCP loopback connection, `TCP_NODELAY`.
    Tcp,
    /// `UnixStream::pair()`.
    Unix,
}

/// The timeout of a [`Op::Select`] (when no wake is pending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// `Some(Duration::ZERO)`.
    Zero,
    /// 2 ms: an empty return before it is a failure (nothing may end it early).
    Short,
}

/// One step of a sequence. Operations on a closed end, writes to a pipe's reader and
/// reads from its writer do nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `register` with a fresh token.
    Register {
        end: usize,
        interest: Interest,
        mode: Mode,
    },
    /// `reregister`, with a fresh token or the current one.
    Reregister {
        end: usize,
        interest: Interest,
        mode: Mode,
        new_token: bool,
    },
    /// `deregister`.
    Deregister { end: usize },
    /// Writes `len` bytes (fewer if the peer already has [`UNREAD_MAX`] unread).
    Write { end: usize, len: usize },
    /// Reads until `WouldBlock`, end of file or an error.
    Drain { end: usize },
    /// Closes the end without deregistering it.
    Close { end: usize },
    /// If an end of `pair` is closed: closes the other too and opens a new pair of the
    /// same kind (whose fds usually reuse the closed numbers).
    Reopen { pair: usize },
    /// `wake()`.
    Wake,
    /// One `select`, checked; more if an eventual must is still missing.
    Select { wait: Wait },
}

/// [`Op::Register`] as one call, for the fixed sequences.
pub const fn register(end: usize, interest: Interest, mode: Mode) -> Op {
    Op::Register {
        end,
        interest,
        mode,
    }
}

/// [`Op::Reregister`] as one call, for the fixed sequences.
pub const fn reregister(end: usize, interest: Interest, mode: Mode, new_token: bool) -> Op {
    Op::Reregister {
        end,
        interest,
        mode,
        new_token,
    }
}

impl fmt::Debug for Op {
    /// Pasteable Rust (with `use model_util::{Op::*, Wait, R, W, RW}` and `Mode`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Register {
                end,
                interest,
                mode,
            } => write!(
                f,
                "Register {{ end: {end}, interest: {}, mode: Mode::{mode:?} }}",
                interest_name(interest)
            ),
            Op::Reregister {
                end,
                interest,
                mode,
                new_token,
            } => write!(
                f,
                "Reregister {{ end: {end}, interest: {}, mode: Mode::{mode:?}, new_token: {new_token} }}",
                interest_name(interest)
            ),
            Op::Deregister { end } => write!(f, "Deregister {{ end: {end} }}"),
            Op::Write { end, len } => write!(f, "Write {{ end: {end}, len: {len} }}"),
            Op::Drain { end } => write!(f, "Drain {{ end: {end} }}"),
            Op::Close { end } => write!(f, "Close {{ end: {end} }}"),
            Op::Reopen { pair } => write!(f, "Reopen {{ pair: {pair} }}"),
            Op::Wake => f.write_str("Wake"),
            Op::Select { wait } => write!(f, "Select {{ wait: Wait::{wait:?} }}"),
        }
    }
}

fn interest_name(interest: Interest) -> &'static str {
    match (interest.is_readable(), interest.is_writable()) {
        (true, true) => "RW",
        (true, false) => "R",
        _ => "W",
    }
}

/// Runs `ops` on a fresh selector from `new`, then selects, deregisters everything and
/// selects again; `Err` describes the first contract violation.
pub fn run<S: Selector>(new: fn() -> io::Result<S>, ops: &[Op]) -> Result<(), String> {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let mut h = Harness::new(new).map_err(|e| format!("setup failed: {e}"))?;
    for (i, op) in ops.iter().enumerate() {
        if let Err(msg) = h.apply(*op) {
            return Err(format!(
                "[{}] op #{i} {op:?}: {msg}\n{}",
                h.sel.name(),
                h.describe()
            ));
        }
    }
    h.finish()
        .map_err(|msg| format!("[{}] at the end: {msg}\n{}", h.sel.name(), h.describe()))
}

/// An open end.
enum Io {
    PipeR(io::PipeReader),
    PipeW(io::PipeWriter),
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl AsFd for Io {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Io::PipeR(r) => r.as_fd(),
            Io::PipeW(w) => w.as_fd(),
            Io::Tcp(s) => s.as_fd(),
            Io::Unix(s) => s.as_fd(),
        }
    }
}

impl Io {
    fn fd(&self) -> RawFd {
        match self {
            Io::PipeR(r) => r.as_raw_fd(),
            Io::PipeW(w) => w.as_raw_fd(),
            Io::Tcp(s) => s.as_raw_fd(),
            Io::Unix(s) => s.as_raw_fd(),
        }
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Io::PipeR(r) => (&*r).read(buf),
            Io::Tcp(s) => (&*s).read(buf),
            Io::Unix(s) => (&*s).read(buf),
            Io::PipeW(_) => Err(io::Error::other("read from a pipe's writer")),
        }
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Io::PipeW(w) => (&*w).write(buf),
            Io::Tcp(s) => (&*s).write(buf),
            Io::Unix(s) => (&*s).write(buf),
            Io::PipeR(_) => Err(io::Error::other("write to a pipe's reader")),
        }
    }
}

/// A registration as the model knows it.
#[derive(Debug, Clone, Copy)]
struct Reg {
    token: Token,
    interest: Interest,
    mode: Mode,
    /// Oneshot: reported since the last register/reregister.
    fired: bool,
    /// Edge: the readiness a new edge promised and no batch has reported yet.
    edge: Ready,
    /// poll(2): a `reregister` adopted a stale entry of the fd's number, which keeps the
    /// closed file's identity (kept by later reregisters): the next `register` may
    /// replace it.
    adopted: bool,
}

impl Reg {
    fn new(token: Token, interest: Interest, mode: Mode) -> Reg {
        let edge = if mode == Mode::Edge {
            flags(interest.is_readable(), interest.is_writable())
        } else {
            Ready::EMPTY
        };
        Reg {
            token,
            interest,
            mode,
            fired: false,
            edge,
            adopted: false,
        }
    }
}

/// One end of a pair: its fd and what the model knows of it.
struct End {
    kind: Kind,
    side: usize,
    io: Option<Io>,
    /// The fd number (kept after close, for the report).
    fd: RawFd,
    /// Bytes the peer wrote that this end has not read.
    unread: usize,
    peer_closed: bool,
    /// Its peer was closed while registered on a backend whose pending poll request
    /// holds the file (uring): the peer's file may live on until that request ends, so
    /// the close may or may not show here (see [`Harness::holds_files`]).
    peer_held: bool,
    reg: Option<Reg>,
    /// An operation touched this fd or its peer since the last batch (Edge may report).
    active: bool,
}

impl End {
    fn new(kind: Kind, side: usize, io: Io) -> End {
        End {
            kind,
            side,
            fd: io.fd(),
            io: Some(io),
            unread: 0,
            peer_closed: false,
            peer_held: false,
            reg: None,
            active: false,
        }
    }

    fn reads(&self) -> bool {
        self.kind != Kind::Pipe || self.side == 0
    }

    fn writes(&self) -> bool {
        self.kind != Kind::Pipe || self.side == 1
    }

    /// A TCP end whose peer closed: a FIN or RST may still be on its way.
    fn wild(&self) -> bool {
        (self.kind == Kind::Tcp && self.peer_closed) || self.peer_held
    }
}

/// A registered fd closed without `deregister`.
#[derive(Debug)]
struct Stale {
    fd: RawFd,
    token: Token,
    /// Reported once as error/closed on a backend that keys entries by number, which
    /// may have kept the entry (see `allowed`).
    reported: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    Idle,
    Pending,
    /// Answered by a batch with events: consumed or not.
    Maybe,
}

struct Harness<S: Selector> {
    sel: S,
    caps: Capabilities,
    /// The backend is poll(2), whose stale entries follow fd numbers.
    numbers: bool,
    /// The backend is uring: an io_uring poll request holds a reference to its file, so
    /// closing a registered fd does not close the file while the request is pending (a
    /// fired Oneshot has none), and its peer sees no end until then. The same holds for
    /// an unregistered fd that reused the number of a stale entry: a request queued for
    /// the number (a `reregister`, a Level re-arm) takes whatever file has the number
    /// when it is submitted (documented in backends/uring.rs).
    holds_files: bool,
    /// The backend is polling on poll(2) (see `POLLING_ON_POLL`).
    on_poll: bool,
    events: Events<S>,
    ends: Vec<End>,
    stale: Vec<Stale>,
    wake: Wake,
    next_token: usize,
    listener: TcpListener,
    buf: Vec<u8>,
}

/// READABLE if `r`, WRITABLE if `w`.
fn flags(r: bool, w: bool) -> Ready {
    Ready::EMPTY
        .with_if(Ready::READABLE, r)
        .with_if(Ready::WRITABLE, w)
}

/// The READABLE/WRITABLE flags set in both.
fn common(a: Ready, b: Ready) -> Ready {
    flags(
        a.is_readable() && b.is_readable(),
        a.is_writable() && b.is_writable(),
    )
}

/// The READABLE/WRITABLE flags of `a` missing from `b`.
fn missing(a: Ready, b: Ready) -> Ready {
    flags(
        a.is_readable() && !b.is_readable(),
        a.is_writable() && !b.is_writable(),
    )
}

fn open_pair(kind: Kind, listener: &TcpListener) -> io::Result<(Io, Io)> {
    Ok(match kind {
        Kind::Pipe => {
            let (r, w) = selectio::pipe::pipe()?;
            (Io::PipeR(r.into_std()), Io::PipeW(w.into_std()))
        }
        Kind::Tcp => {
            let a = TcpStream::connect(listener.local_addr()?)?;
            let (b, _) = listener.accept()?;
            for s in [&a, &b] {
                s.set_nonblocking(true)?;
                // No Nagle: a small write behind an unacknowledged one goes out at once.
                s.set_nodelay(true)?;
            }
            (Io::Tcp(a), Io::Tcp(b))
        }
        Kind::Unix => {
            let (a, b) = UnixStream::pair()?;
            a.set_nonblocking(true)?;
            b.set_nonblocking(true)?;
            (Io::Unix(a), Io::Unix(b))
        }
    })
}

impl<S: Selector> Harness<S> {
    fn new(new: fn() -> io::Result<S>) -> io::Result<Harness<S>> {
        let sel = new()?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let mut ends = Vec::with_capacity(ENDS);
        for kind in KINDS {
            let (a, b) = open_pair(kind, &listener)?;
            ends.push(End::new(kind, 0, a));
            ends.push(End::new(kind, 1, b));
        }
        Ok(Harness {
            caps: sel.capabilities(),
            // kqueue (and polling on it) is untested here; its registry is keyed by number
            // and its reregister is EV_ADD, which would adopt a reused number as poll does.
            // uring's registry is keyed by number too: its reregister and deregister look
            // the number up without asking which file it names now.
            numbers: matches!(sel.name(), "poll" | "kqueue" | "uring")
                || (sel.name() == "polling" && (POLLING_ON_POLL || !cfg!(selectio_linux_like))),
            on_poll: sel.name() == "polling" && POLLING_ON_POLL,
            holds_files: sel.name() == "uring",
            events: Events::with_capacity(CAPACITY)?,
            sel,
            ends,
            stale: Vec::new(),
            wake: Wake::Idle,
            next_token: 1,
            listener,
            buf: vec![0; 64 * 1024],
        })
    }

    fn apply(&mut self, op: Op) -> Result<(), String> {
        let end_ok = |e: usize| {
            (e < ENDS)
                .then_some(())
                .ok_or_else(|| format!("no end {e}"))
        };
        match op {
            Op::Register {
                end,
                interest,
                mode,
            } => end_ok(end).and_then(|()| self.register(end, interest, mode)),
            Op::Reregister {
                end,
                interest,
                mode,
                new_token,
            } => end_ok(end).and_then(|()| self.reregister(end, interest, mode, new_token)),
            Op::Deregister { end } => end_ok(end).and_then(|()| self.deregister(end)),
            Op::Write { end, len } => end_ok(end).and_then(|()| self.write(end, len)),
            Op::Drain { end } => end_ok(end).and_then(|()| self.drain(end)),
            Op::Close { end } => end_ok(end).map(|()| self.close(end)),
            Op::Reopen { pair } => self.reopen(pair),
            Op::Wake => {
                self.sel.wake().map_err(|e| format!("wake failed: {e}"))?;
                self.wake = Wake::Pending;
                Ok(())
            }
            Op::Select { wait } => self.select_step(wait),
        }
    }

    /// Selects, deregisters every registration, and selects again.
    fn finish(&mut self) -> Result<(), String> {
        self.select_step(Wait::Zero)?;
        for e in 0..ENDS {
            if self.ends[e].reg.is_some() && self.ends[e].io.is_some() {
                self.deregister(e)?;
            }
        }
        self.select_step(Wait::Zero)
    }

    fn fresh_token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    /// Marks `e` and its peer as touched: an Edge registration on either may report.
    fn touch(&mut self, e: usize) {
        self.ends[e].active = true;
        self.ends[e ^ 1].active = true;
    }

    /// Checks the outcome of a registration call against the allowed ones; returns it.
    fn outcome(
        &self,
        what: String,
        got: io::Result<()>,
        allowed: &[Option<io::ErrorKind>],
    ) -> Result<Option<io::ErrorKind>, String> {
        let kind = got.as_ref().err().map(io::Error::kind);
        if !allowed.contains(&kind) {
            return Err(format!("{what}: got {got:?}, the model allows {allowed:?}"));
        }
        if let Err(e) = got {
            if !e.to_string().contains(self.sel.name()) {
                return Err(format!("{what}: the error does not name the backend: {e}"));
            }
        }
        Ok(kind)
    }

    /// The outcomes of `reregister`/`deregister` of `fd`, not registered: `NotFound`, or
    /// on poll(2) (numbers, not files) `Ok` if a closed registered fd left its number a
    /// stale entry, which the call then acts on.
    /// End `e`'s descriptor, which the caller checked is open.
    fn open(&self, e: usize) -> BorrowedFd<'_> {
        self.ends[e].io.as_ref().expect("an open end").as_fd()
    }

    fn unknown(&self, fd: RawFd) -> &'static [Option<io::ErrorKind>] {
        if self.numbers && self.stale.iter().any(|s| s.fd == fd) {
            &[Some(io::ErrorKind::NotFound), None]
        } else {
            &[Some(io::ErrorKind::NotFound)]
        }
    }

    fn register(&mut self, e: usize, interest: Interest, mode: Mode) -> Result<(), String> {
        let Some(fd) = self.ends[e].io.as_ref().map(Io::fd) else {
            return Ok(());
        };
        let token = self.fresh_token();
        let old = self.ends[e].reg;
        let exists = Some(io::ErrorKind::AlreadyExists);
        let allowed: &[_] = match old {
            _ if !self.caps.supports(mode) => &[Some(io::ErrorKind::Unsupported)],
            // poll(2): the adopted entry has the closed file's identity, so this fd may
            // be taken for a reused number and replace it.
            Some(reg) if reg.adopted => &[exists, None],
            Some(_) => &[exists],
            None => &[None],
        };
        let got = self.sel.register(self.open(e), token, interest, mode);
        let what = format!("register(fd {fd}, {token:?}, {interest:?}, {mode:?})");
        match self.outcome(what, got, allowed)? {
            None => {
                self.ends[e].reg = Some(Reg::new(token, interest, mode));
                self.touch(e);
                // A new registration under the number replaces any stale entry.
                self.stale.retain(|s| s.fd != fd);
            }
            // The backend told this fd apart from the closed file: it will from now on.
            Some(io::ErrorKind::AlreadyExists) => {
                if let Some(reg) = self.ends[e].reg.as_mut() {
                    reg.adopted = false;
                }
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn reregister(
        &mut self,
        e: usize,
        interest: Interest,
        mode: Mode,
        new_token: bool,
    ) -> Result<(), String> {
        let Some(fd) = self.ends[e].io.as_ref().map(Io::fd) else {
            return Ok(());
        };
        let old = self.ends[e].reg;
        let token = match old {
            Some(reg) if !new_token => reg.token,
            _ => self.fresh_token(),
        };
        let allowed: &[_] = if !self.caps.supports(mode) {
            &[Some(io::ErrorKind::Unsupported)]
        } else if old.is_some() {
            &[None]
        } else {
            // This fd was never registered; poll(2) may act on its number's stale entry.
            self.unknown(fd)
        };
        let got = self.sel.reregister(self.open(e), token, interest, mode);
        let what = format!("reregister(fd {fd}, {token:?}, {interest:?}, {mode:?})");
        match self.outcome(what, got, allowed)? {
            Some(io::ErrorKind::Unsupported) => {}
            Some(_) => self.stale.retain(|s| s.fd != fd),
            None => {
                let mut reg = Reg::new(token, interest, mode);
                // Adopted now (no registration of this fd before), or still.
                reg.adopted = old.is_none_or(|r| r.adopted);
                self.ends[e].reg = Some(reg);
                self.touch(e);
                self.stale.retain(|s| s.fd != fd);
            }
        }
        Ok(())
    }

    fn deregister(&mut self, e: usize) -> Result<(), String> {
        let Some(fd) = self.ends[e].io.as_ref().map(Io::fd) else {
            return Ok(());
        };
        let allowed: &[_] = match self.ends[e].reg {
            Some(_) => &[None],
            None => self.unknown(fd),
        };
        let got = self.sel.deregister(self.open(e));
        self.outcome(format!("deregister(fd {fd})"), got, allowed)?;
        self.ends[e].reg = None;
        self.stale.retain(|s| s.fd != fd);
        self.touch(e);
        Ok(())
    }

    fn write(&mut self, e: usize, len: usize) -> Result<(), String> {
        let p = e ^ 1;
        let end = &self.ends[e];
        let Some(io) = end.io.as_ref().filter(|_| end.writes()) else {
            return Ok(());
        };
        // A held peer (see `peer_held`) is closed for the model: nothing reads it.
        let gone = end.peer_closed || end.peer_held;
        let room = if gone {
            len
        } else {
            UNREAD_MAX.saturating_sub(self.ends[p].unread)
        };
        let len = len.min(room).min(WRITE_MAX);
        if len == 0 {
            return Ok(());
        }
        let n = match io.write(&[0x5a; WRITE_MAX][..len]) {
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
            // EPIPE, ECONNRESET: the peer is gone.
            Err(_) if gone => 0,
            Err(err) => return Err(format!("write of {len} bytes failed: {err}")),
        };
        let peer_open = !gone;
        self.touch(e);
        if n == 0 || !peer_open {
            return Ok(());
        }
        let peer = &mut self.ends[p];
        peer.unread += n;
        if let Some(reg) = peer.reg.as_mut().filter(|r| r.mode == Mode::Edge) {
            if reg.interest.is_readable() {
                reg.edge |= Ready::READABLE;
            }
        }
        if peer.kind == Kind::Tcp {
            self.arrived(p)?;
        }
        Ok(())
    }

    /// Peeks at TCP end `p` until every byte the model counts as unread has arrived.
    fn arrived(&mut self, p: usize) -> Result<(), String> {
        let want = self.ends[p].unread;
        let Some(Io::Tcp(stream)) = self.ends[p].io.as_ref() else {
            return Ok(());
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            match stream.peek(&mut self.buf) {
                Ok(n) if n >= want => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("peek on end {p} failed: {e}")),
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{want} bytes did not reach TCP end {p} in {PATIENCE:?}"
                ));
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    fn drain(&mut self, e: usize) -> Result<(), String> {
        let end = &self.ends[e];
        let Some(io) = end.io.as_ref().filter(|_| end.reads()) else {
            return Ok(());
        };
        let (mut total, mut eof) = (0, false);
        loop {
            match io.read(&mut self.buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => total += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) if end.peer_closed || end.peer_held => break,
                Err(err) => return Err(format!("read failed: {err}")),
            }
        }
        let held_eof = eof && end.peer_held;
        if !end.peer_closed && ((eof && !held_eof) || total != end.unread) {
            return Err(format!(
                "the harness lost track: read {total} bytes (eof: {eof}), the model said {}",
                end.unread
            ));
        }
        self.ends[e].unread = 0;
        // The request that held the closed peer's file ended: the close shows now.
        self.ends[e].peer_closed |= held_eof;
        self.touch(e);
        Ok(())
    }

    fn close(&mut self, e: usize) {
        let Some(io) = self.ends[e].io.take() else {
            return;
        };
        let fd = io.fd();
        drop(io);
        // uring: a stale entry under this number (its registered file was closed without
        // deregister) may have queued a request that the kernel resolved to this file
        // when it got the number: that request holds this file too.
        let mut held = self.holds_files && self.stale.iter().any(|s| s.fd == fd);
        if let Some(reg) = self.ends[e].reg.take() {
            self.stale.push(Stale {
                fd,
                token: reg.token,
                reported: false,
            });
            held |= self.holds_files && !(reg.mode == Mode::Oneshot && reg.fired);
        }
        self.ends[e].unread = 0;
        self.touch(e);
        let peer = &mut self.ends[e ^ 1];
        if peer.io.is_some() && held {
            peer.peer_held = true;
        } else if peer.io.is_some() {
            peer.peer_closed = true;
            let reads = peer.reads();
            if let Some(reg) = peer.reg.as_mut().filter(|r| r.mode == Mode::Edge) {
                if reads && reg.interest.is_readable() {
                    reg.edge |= Ready::READABLE;
                }
            }
        }
    }

    fn reopen(&mut self, pair: usize) -> Result<(), String> {
        if pair >= PAIRS {
            return Err(format!("no pair {pair}"));
        }
        let (a, b) = (2 * pair, 2 * pair + 1);
        if self.ends[a].io.is_some() && self.ends[b].io.is_some() {
            return Ok(());
        }
        self.close(a);
        self.close(b);
        let kind = KINDS[pair];
        let (x, y) =
            open_pair(kind, &self.listener).map_err(|e| format!("reopening failed: {e}"))?;
        self.ends[a] = End::new(kind, 0, x);
        self.ends[b] = End::new(kind, 1, y);
        Ok(())
    }
}

/// Selecting and checking.
impl<S: Selector> Harness<S> {
    /// One checked `select`, then more while an eventual must is missing.
    fn select_step(&mut self, wait: Wait) -> Result<(), String> {
        let timeout = match (self.wake, wait) {
            (Wake::Pending, _) => LONG,
            (_, Wait::Zero) => Duration::ZERO,
            (_, Wait::Short) => SHORT,
        };
        let mut seen = HashMap::new();
        self.select_once(timeout, true, &mut seen)?;
        let deadline = Instant::now() + PATIENCE;
        while let Some(lack) = self.unmet(&seen) {
            if Instant::now() >= deadline {
                return Err(format!("not reported within {PATIENCE:?}: {lack}"));
            }
            self.select_once(AGAIN, false, &mut seen)?;
        }
        Ok(())
    }

    fn select_once(
        &mut self,
        timeout: Duration,
        first: bool,
        seen: &mut HashMap<Token, Ready>,
    ) -> Result<(), String> {
        let start = Instant::now();
        let result = self.sel.select(&mut self.events, Some(timeout));
        let elapsed = start.elapsed();
        result.map_err(|e| format!("select({timeout:?}) failed: {e}"))?;
        let batch = self.batch()?;
        // polling on poll(2) returns from a wake without polling the fds: their musts are
        // due in the next select of this step instead (see `POLLING_ON_POLL`).
        let woken_early = self.on_poll && self.wake != Wake::Idle && batch.is_empty();
        self.check_wake(timeout, elapsed, batch.is_empty())?;
        for &(token, ready) in &batch {
            self.allowed(token, ready)?;
        }
        if !woken_early {
            self.check_musts(&batch, first)?;
        }
        self.update(&batch);
        for (token, ready) in batch {
            *seen.entry(token).or_default() |= ready;
        }
        Ok(())
    }

    /// The batch, one entry per token (kqueue may report a token once per direction).
    fn batch(&self) -> Result<Vec<(Token, Ready)>, String> {
        if self.events.len() > self.events.capacity() {
            return Err(format!(
                "{} events in a buffer of capacity {}",
                self.events.len(),
                self.events.capacity()
            ));
        }
        let mut batch: Vec<(Token, Ready)> = Vec::new();
        for ev in self.events.iter() {
            match batch.iter_mut().find(|(t, _)| *t == ev.token()) {
                Some((_, ready)) => *ready |= ev.ready(),
                None => batch.push((ev.token(), ev.ready())),
            }
        }
        Ok(batch)
    }

    fn check_wake(
        &mut self,
        timeout: Duration,
        elapsed: Duration,
        empty: bool,
    ) -> Result<(), String> {
        self.wake = match (self.wake, empty) {
            (Wake::Pending, true) if elapsed >= LONG / 2 => {
                return Err(format!(
                    "a wake was pending, yet select({timeout:?}) returned nothing after {elapsed:?}"
                ))
            }
            (Wake::Pending | Wake::Maybe, true) => Wake::Idle,
            (Wake::Pending | Wake::Maybe, false) => Wake::Maybe,
            (Wake::Idle, true) if elapsed < timeout => {
                return Err(format!(
                    "select({timeout:?}) returned nothing after {elapsed:?}, with no wake pending"
                ))
            }
            (Wake::Idle, _) => Wake::Idle,
        };
        Ok(())
    }

    /// The registered end whose token is `token`.
    fn holder(&self, token: Token) -> Option<usize> {
        (0..ENDS).find(|&e| self.ends[e].reg.is_some_and(|r| r.token == token))
    }

    /// Whether `token` may be reported as `ready` now.
    fn allowed(&mut self, token: Token, ready: Ready) -> Result<(), String> {
        if token == Token::RESERVED {
            return Err(format!(
                "the waker's Token::RESERVED reached the caller ({ready:?})"
            ));
        }
        if let Some(e) = self.holder(token) {
            return self.allowed_live(e, ready);
        }
        let Some(i) = self.stale.iter().position(|s| s.token == token) else {
            return Err(format!(
                "{token:?} reported as {ready:?}, but it is not registered (deregistered, \
                 replaced by reregister, or its fd closed and reported already)"
            ));
        };
        let fd = self.stale[i].fd;
        if self.numbers
            && (self
                .ends
                .iter()
                .any(|end| end.io.as_ref().is_some_and(|io| io.fd() == fd))
                || is_open(fd))
        {
            // poll(2): the number now names an unregistered fd, reported under the old
            // token until the number is registered again (documented in backends/poll.rs).
            // The fd may be another test's: the tests of a binary run in parallel, in one
            // fd table.
            return Ok(());
        }
        let closed = Ready::ERROR | Ready::READ_CLOSED | Ready::WRITE_CLOSED;
        if !ready.intersects(closed) || self.stale[i].reported {
            return Err(format!(
                "{token:?} of closed fd {fd} reported as {ready:?}: at most one error/closed event is allowed"
            ));
        }
        if self.numbers {
            // The backend looked at the number when it reported the end: if another file
            // had it then (a parallel test's: this binary's tests share one fd table), it
            // kept the entry, as it keeps poll(2)'s stale entries, until the number is
            // registered or deregistered. Closed again by now, the number cannot say
            // which: the entry may stay, and may not report the end again.
            self.stale[i].reported = true;
        } else {
            self.stale.remove(i);
        }
        Ok(())
    }

    fn allowed_live(&self, e: usize, ready: Ready) -> Result<(), String> {
        let end = &self.ends[e];
        let Some(reg) = end.reg else {
            return Ok(());
        };
        let who = format!(
            "{:?} (end {e}, fd {}, {:?} {:?})",
            reg.token, end.fd, reg.interest, reg.mode
        );
        if reg.mode == Mode::Oneshot && reg.fired {
            return Err(format!(
                "{who} reported as {ready:?} again: a fired Oneshot is disarmed until reregister"
            ));
        }
        if reg.mode == Mode::Edge && !end.active && !end.wild() {
            return Err(format!(
                "{who} reported as {ready:?} again with no new edge (nothing touched the fd or its peer since the last select)"
            ));
        }
        if end.peer_closed || end.peer_held {
            return Ok(());
        }
        let r_ok = reg.interest.is_readable() && end.reads() && end.unread > 0;
        if ready.is_readable() && !r_ok {
            return Err(format!(
                "{who} reported READABLE ({ready:?}) with {} unread bytes, peer open",
                end.unread
            ));
        }
        if ready.is_writable() && !(reg.interest.is_writable() && end.writes()) {
            return Err(format!(
                "{who} reported WRITABLE ({ready:?}) without writable interest or a writable fd"
            ));
        }
        if !ready.is_readable() && !ready.is_writable() {
            return Err(format!(
                "{who} reported as {ready:?}: neither readable nor writable, and no peer hang-up"
            ));
        }
        Ok(())
    }

    /// The flags `e`'s registration must report now, and whether they are due in this
    /// very batch (false: a TCP FIN/RST may still be in flight).
    fn must(&self, e: usize) -> (Ready, bool) {
        let end = &self.ends[e];
        let Some(reg) = end.reg.filter(|_| end.io.is_some()) else {
            return (Ready::EMPTY, true);
        };
        let peer = &self.ends[e ^ 1];
        let r = end.reads() && (end.unread > 0 || end.peer_closed);
        let w = end.writes() && (end.peer_closed || peer.unread == 0);
        let ready = common(
            flags(r, w),
            flags(reg.interest.is_readable(), reg.interest.is_writable()),
        );
        let must = match reg.mode {
            Mode::Level => ready,
            Mode::Oneshot if reg.fired => Ready::EMPTY,
            Mode::Oneshot => ready,
            Mode::Edge => common(reg.edge, ready),
        };
        (must, !end.wild())
    }

    fn check_musts(&self, batch: &[(Token, Ready)], first: bool) -> Result<(), String> {
        for e in 0..ENDS {
            let (must, due) = self.must(e);
            let Some(reg) = self.ends[e].reg.filter(|_| !must.is_empty() && due) else {
                continue;
            };
            if !first && reg.mode != Mode::Level {
                continue;
            }
            let got = batch.iter().find(|(t, _)| *t == reg.token).map(|(_, r)| *r);
            let lack = missing(must, got.unwrap_or_default());
            if !lack.is_empty() {
                return Err(format!(
                    "{:?} (end {e}, fd {}, {:?} {:?}) must be reported with {must:?}; got {got:?} (missing {lack:?}); batch {batch:?}",
                    reg.token, self.ends[e].fd, reg.interest, reg.mode
                ));
            }
        }
        Ok(())
    }

    /// After a checked batch: fired oneshots disarm, Edge promises are kept, touches end.
    fn update(&mut self, batch: &[(Token, Ready)]) {
        for end in &mut self.ends {
            let wild = end.wild();
            if let Some(reg) = end.reg.as_mut() {
                let got = batch.iter().find(|(t, _)| *t == reg.token).map(|(_, r)| *r);
                if reg.mode == Mode::Oneshot && got.is_some() {
                    reg.fired = true;
                }
                reg.edge = if wild {
                    missing(reg.edge, got.unwrap_or_default())
                } else {
                    Ready::EMPTY
                };
            }
            end.active = wild;
        }
    }

    /// A must not yet reported in this step, described; `None` when all were.
    fn unmet(&self, seen: &HashMap<Token, Ready>) -> Option<String> {
        (0..ENDS).find_map(|e| {
            let reg = self.ends[e].reg?;
            let (must, _) = self.must(e);
            let lack = missing(must, seen.get(&reg.token).copied().unwrap_or_default());
            (!lack.is_empty()).then(|| format!("{:?} (end {e}) with {lack:?}", reg.token))
        })
    }

    /// The model's state, for failure messages.
    fn describe(&self) -> String {
        let mut s = String::from("model:");
        for (e, end) in self.ends.iter().enumerate() {
            let state = if end.io.is_some() { "open" } else { "closed" };
            s += &format!(
                "\n  end {e:2} {:?}/{} fd {:3} {state}, unread {}, peer closed {}, active {}, reg {:?}",
                end.kind, end.side, end.fd, end.unread, end.peer_closed, end.active, end.reg
            );
        }
        s += &format!("\n  stale {:?}, wake {:?}", self.stale, self.wake);
        s
    }
}

/// Whether `fd` names an open file of this process (another test's, perhaps).
#[allow(unsafe_code)] // fcntl(2) on a bare number: std has no call that asks
fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD reads the descriptor flags of the number and touches no file.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}
