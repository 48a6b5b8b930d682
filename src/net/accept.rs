//! `Acceptor`: accepting connections that survives running out of file descriptors
//! (`EMFILE`) and skips connections that died in the queue (`ECONNABORTED`).
//!
//! # Implementation notes
//! - **The problem.** When `accept(2)` fails with `EMFILE`/`ENFILE`, the connection stays
//!   in the listen queue, so a level-triggered listener is reported readable again at
//!   once: the loop spins at 100% CPU, and the client waits until it times out.
//! - **The spare fd.** [`Acceptor::new`] opens one descriptor in reserve (`/` read-only,
//!   close-on-exec: no device or network needed). On `EMFILE`/`ENFILE` it closes the
//!   spare, accepts and closes every waiting connection (their clients see the
//!   connection closed at once instead of hanging), and opens the spare again. The
//!   queue is then empty, so the listener is quiet until a new connection arrives, which
//!   gets the same treatment while fds stay short. libuv does the same
//!   (`uv__emfile_trick`, with one reserve fd per loop). Linux reserves the new fd before
//!   it looks at the queue, so `EMFILE` also comes with an empty queue: shedding then
//!   finds nothing (`WouldBlock`), and no back-off is asked for.
//! - **Back-off.** When shedding cannot help — no spare (another thread took the freed
//!   number, or [`Acceptor::without_spare`]), or the error is memory (`ENOBUFS`,
//!   `ENOMEM`) — [`Acceptor::backoff`] says how long to stop watching the listener:
//!   10 ms, doubling up to 1 s while accepting keeps failing, cleared by a success.
//! - **Transient errors** are skipped, each one consumed one connection from the queue:
//!   `ECONNABORTED` (the peer reset it while queued; BSD, Apple and Windows report it),
//!   `ECONNRESET` (Windows `WSAECONNRESET`), `EINTR`, `EPROTO`, and on Linux the network
//!   errors accept(2) NOTES says to "treat like EAGAIN by retrying" (`ENETDOWN`,
//!   `ENOPROTOOPT`, `EHOSTDOWN`, `ENONET`, `EHOSTUNREACH`, `EOPNOTSUPP`, `ENETUNREACH`).
//!   A run of more than [`MAX_SKIPS`] is returned, so a listener that only ever fails
//!   cannot hang the caller.
//! - The codes are compared by `raw_os_error` in `sys::socket` (`libc` constants on Unix,
//!   Winsock's fixed values on Windows): `io::ErrorKind` has no kind for `EMFILE`.

use std::io;
use std::time::Duration;

use super::TcpListener;
#[cfg(unix)]
use super::UnixListener;
use crate::sys::socket as sys;

/// Consecutive transient errors skipped by one [`Acceptor::accept`] call before the last
/// one is returned.
const MAX_SKIPS: usize = 1024;
/// The first back-off after accepting failed for lack of resources.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest back-off: service resumes within this long after fds are freed.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A listener whose connections an [`Acceptor`] accepts: [`TcpListener`],
/// [`UnixListener`], or your own (a TLS acceptor, a test double).
pub trait Accept {
    /// What a connection is.
    type Stream;
    /// The peer address type.
    type Addr;

    /// Accepts one waiting connection without blocking; `WouldBlock` when none waits.
    fn accept(&self) -> io::Result<(Self::Stream, Self::Addr)>;
}

impl Accept for TcpListener {
    type Stream = super::TcpStream;
    type Addr = std::net::SocketAddr;

    fn accept(&self) -> io::Result<(Self::Stream, Self::Addr)> {
        TcpListener::accept(self)
    }
}

#[cfg(unix)]
impl Accept for UnixListener {
    type Stream = super::UnixStream;
    type Addr = std::os::unix::net::SocketAddr;

    fn accept(&self) -> io::Result<(Self::Stream, Self::Addr)> {
        UnixListener::accept(self)
    }
}

/// Accepts connections from a listener and keeps a server alive when the process runs
/// out of file descriptors.
///
/// [`accept`](Acceptor::accept) behaves like the listener's, with three differences:
/// - connections aborted while queued (`ECONNABORTED` and the other transient errors of
///   accept(2)) are skipped: the call returns the next connection or `WouldBlock`;
/// - on `EMFILE`/`ENFILE` it releases a spare descriptor, accepts and closes every
///   waiting connection, takes the spare back, and returns the error: the queue is empty,
///   so a level-triggered listener does not spin, and clients are told at once
///   ([`shed_count`](Acceptor::shed_count) counts them);
/// - when that cannot help, [`backoff`](Acceptor::backoff) says how long to stop watching
///   the listener (deregister it and set a timer).
///
/// After any error other than `WouldBlock`, leave your accept loop (in `Edge` mode, call
/// `accept` again until `WouldBlock` unless you back off). Register the `Acceptor`
/// itself: it has the listener's descriptor.
///
/// ```
/// use std::time::Duration;
/// use selectio::net::{Acceptor, TcpListener, TcpStream};
/// use selectio::{EventLoop, Handler, Interest, Mode, Token};
///
/// const LISTENER: Token = Token(0);
///
/// struct Server {
///     acceptor: Acceptor<TcpListener>,
///     clients: Vec<TcpStream>,
/// }
///
/// impl Handler for Server {
///     type Timeout = ();
///     type Message = ();
///
///     fn readable(&mut self, el: &mut EventLoop<Self>, _: Token) {
///         loop {
///             match self.acceptor.accept() {
///                 Ok((stream, _addr)) => self.clients.push(stream), // register it…
///                 Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
///                 Err(e) => {
///                     eprintln!("accept: {e}"); // EMFILE: waiting clients were shed
///                     if let Some(pause) = self.acceptor.backoff() {
///                         el.deregister(&self.acceptor).unwrap();
///                         el.timeout((), pause).unwrap();
///                     }
///                     return;
///                 }
///             }
///         }
///     }
///
///     fn timeout(&mut self, el: &mut EventLoop<Self>, (): ()) {
///         // The back-off is over: watch the listener again.
///         el.register(&self.acceptor, LISTENER, Interest::READABLE, Mode::Level)
///             .unwrap();
///     }
/// }
///
/// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
/// let addr = listener.local_addr()?;
/// let mut server = Server { acceptor: Acceptor::new(listener)?, clients: Vec::new() };
/// let mut el = EventLoop::new()?;
/// el.register(&server.acceptor, LISTENER, Interest::READABLE, Mode::Level)?;
/// let _client = TcpStream::connect(addr)?;
/// while server.clients.is_empty() {
///     el.run_once(&mut server, Some(Duration::from_millis(100)))?;
/// }
/// el.deregister(&server.acceptor)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Acceptor<L> {
    listener: L,
    spare: Spare,
    shed: u64,
    backoff: Option<Duration>,
}

impl<L: Accept> Acceptor<L> {
    /// Wraps `listener` and reserves the spare descriptor (fails if none is free).
    /// On Windows, where sockets are not file descriptors, there is no spare: see
    /// [`without_spare`](Acceptor::without_spare).
    pub fn new(listener: L) -> io::Result<Acceptor<L>> {
        Ok(Acceptor::with_spare(listener, Spare::reserve()?))
    }

    /// Wraps `listener` without a spare descriptor: on `EMFILE` nothing is shed, and
    /// [`backoff`](Acceptor::backoff) tells how long to stop watching the listener.
    pub fn without_spare(listener: L) -> Acceptor<L> {
        Acceptor::with_spare(listener, Spare::none())
    }

    fn with_spare(listener: L, spare: Spare) -> Acceptor<L> {
        Acceptor {
            listener,
            spare,
            shed: 0,
            backoff: None,
        }
    }

    /// Accepts the next connection, skipping those aborted in the queue. `WouldBlock`
    /// when none waits. On `EMFILE`/`ENFILE` the waiting connections are shed (accepted
    /// and closed) when a spare descriptor allows it, and the error is returned.
    #[doc(alias = "accept4")]
    pub fn accept(&mut self) -> io::Result<(L::Stream, L::Addr)> {
        match self.accept_skipping() {
            Ok(conn) => {
                self.backoff = None;
                self.spare.refill();
                Ok(conn)
            }
            Err(e) if sys::is_fd_limit(&e) && self.spare.is_held() => {
                if !self.shed_waiting() {
                    self.back_off();
                }
                Err(e)
            }
            Err(e) => {
                if sys::is_fd_limit(&e) || sys::is_out_of_memory(&e) {
                    self.back_off();
                }
                Err(e)
            }
        }
    }

    /// The listener's `accept`, skipping transient errors (at most [`MAX_SKIPS`]).
    fn accept_skipping(&self) -> io::Result<(L::Stream, L::Addr)> {
        let mut skipped = 0;
        loop {
            match self.listener.accept() {
                Err(e) if is_transient(&e) && skipped < MAX_SKIPS => skipped += 1,
                result => return result,
            }
        }
    }

    /// Frees the spare, accepts and closes every waiting connection, and takes the spare
    /// back. Returns whether the queue was emptied (`WouldBlock`); `false` when even the
    /// freed number was not enough (another thread took it, or `ENFILE` persists).
    fn shed_waiting(&mut self) -> bool {
        self.spare.release();
        let mut shed = 0u64;
        // Each accepted connection is dropped (closed) at once, freeing the number again.
        let emptied = loop {
            match self.accept_skipping() {
                Ok(_) => shed += 1,
                Err(e) => break e.kind() == io::ErrorKind::WouldBlock,
            }
        };
        self.spare.refill();
        self.shed += shed;
        trace!(
            shed,
            emptied,
            "accept: out of file descriptors, shed waiting connections"
        );
        emptied
    }

    fn back_off(&mut self) {
        let next = self
            .backoff
            .map_or(BACKOFF_MIN, |d| (d * 2).min(BACKOFF_MAX));
        self.backoff = Some(next);
    }

    /// How long to stop watching the listener, after an `accept` that failed for lack of
    /// descriptors or memory and could shed nothing: 10 ms, doubling up to 1 s while it
    /// keeps failing. `None` when there is no reason to pause (cleared by a success).
    pub fn backoff(&self) -> Option<Duration> {
        self.backoff
    }

    /// How many connections were accepted and closed at once for lack of descriptors.
    pub fn shed_count(&self) -> u64 {
        self.shed
    }

    /// Whether the spare descriptor is held (it is retaken after each use, and on the
    /// next successful accept if another thread took the number meanwhile).
    pub fn has_spare(&self) -> bool {
        self.spare.is_held()
    }

    /// The listener.
    pub fn get_ref(&self) -> &L {
        &self.listener
    }

    /// The listener; the spare descriptor is closed.
    pub fn into_inner(self) -> L {
        self.listener
    }
}

#[cfg(unix)]
impl<L: std::os::fd::AsRawFd> std::os::fd::AsRawFd for Acceptor<L> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.listener.as_raw_fd()
    }
}

#[cfg(unix)]
impl<L: std::os::fd::AsFd> std::os::fd::AsFd for Acceptor<L> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.listener.as_fd()
    }
}

#[cfg(windows)]
impl<L: std::os::windows::io::AsRawSocket> std::os::windows::io::AsRawSocket for Acceptor<L> {
    fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
        self.listener.as_raw_socket()
    }
}

#[cfg(windows)]
impl<L: std::os::windows::io::AsSocket> std::os::windows::io::AsSocket for Acceptor<L> {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        self.listener.as_socket()
    }
}

/// The reserved descriptor, and whether the acceptor wants one.
#[derive(Debug)]
struct Spare {
    wanted: bool,
    fd: Option<std::fs::File>,
}

impl Spare {
    #[cfg(unix)]
    fn reserve() -> io::Result<Spare> {
        let fd = Some(open_spare()?);
        Ok(Spare { wanted: true, fd })
    }

    /// Windows: sockets are handles, not numbered fds; a spare would not free a socket.
    #[cfg(windows)]
    fn reserve() -> io::Result<Spare> {
        Ok(Spare::none())
    }

    fn none() -> Spare {
        Spare {
            wanted: false,
            fd: None,
        }
    }

    fn is_held(&self) -> bool {
        self.fd.is_some()
    }

    fn release(&mut self) {
        self.fd = None;
    }

    /// Takes the spare back if it is wanted and missing; a failure leaves it missing.
    fn refill(&mut self) {
        if self.wanted && self.fd.is_none() {
            self.fd = open_spare().ok();
        }
    }
}

/// Opens the root directory read-only: present on every Unix, needs no device, and std
/// opens it close-on-exec (`O_CLOEXEC`).
#[cfg(unix)]
fn open_spare() -> io::Result<std::fs::File> {
    std::fs::File::open("/")
}

/// Windows has no spare (see [`Spare::reserve`]); never called, as none is wanted there.
#[cfg(windows)]
fn open_spare() -> io::Result<std::fs::File> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Errors that belong to one queued connection (now consumed) or to a signal: the next
/// `accept` may succeed.
fn is_transient(e: &io::Error) -> bool {
    use io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted)
        || sys::is_pending_network_error(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_recognised() {
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert!(is_transient(&aborted));
        assert!(!is_transient(&io::Error::from(io::ErrorKind::WouldBlock)));
        assert!(!sys::is_fd_limit(&aborted));
    }

    #[cfg(unix)]
    #[test]
    fn fd_limit_and_memory_errors_are_recognised() {
        assert!(sys::is_fd_limit(&io::Error::from_raw_os_error(
            libc::EMFILE
        )));
        assert!(sys::is_fd_limit(&io::Error::from_raw_os_error(
            libc::ENFILE
        )));
        assert!(sys::is_out_of_memory(&io::Error::from_raw_os_error(
            libc::ENOBUFS
        )));
        assert!(is_transient(&io::Error::from_raw_os_error(
            libc::ECONNABORTED
        )));
        assert!(is_transient(&io::Error::from_raw_os_error(libc::EPROTO)));
        assert!(!is_transient(&io::Error::from_raw_os_error(libc::EMFILE)));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut a = Acceptor::without_spare(NeverReady);
        let mut seen = Vec::new();
        for _ in 0..10 {
            a.back_off();
            seen.push(a.backoff().unwrap());
        }
        assert_eq!(seen[0], BACKOFF_MIN);
        assert_eq!(seen[1], BACKOFF_MIN * 2);
        assert_eq!(*seen.last().unwrap(), BACKOFF_MAX);
    }

    /// Runs `f` on a thread and sends that thread `SIGUSR1` (whose handler does nothing
    /// and does not ask for restarts) every 100 µs until `f` returns, at most for 10 s.
    /// Returns what `f` returned and how many signals were sent.
    ///
    /// The listeners of these tests are made blocking (a selectio listener never is by
    /// itself), so `accept` sleeps in the kernel, where a signal interrupts it with
    /// `EINTR`; `SO_RCVTIMEO` bounds each sleep, so a version that retried `EINTR` forever
    /// still ends once the signals stop (Linux never restarts an accept with a receive
    /// timeout, signal(7)). The thread stays alive until the signalling has stopped.
    #[cfg(all(unix, feature = "conformance"))]
    fn interrupt_until_done<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> (T, usize) {
        use crate::sys::testhooks::Interrupter;
        use std::sync::mpsc;
        let (thread_tx, thread_rx) = mpsc::channel();
        let (result_tx, result_rx) = mpsc::channel();
        let (exit_tx, exit_rx) = mpsc::channel::<()>();
        let worker = std::thread::spawn(move || {
            thread_tx.send(Interrupter::current().unwrap()).unwrap();
            result_tx.send(f()).unwrap();
            let _ = exit_rx.recv();
        });
        let thread = thread_rx.recv().unwrap();
        let give_up = std::time::Instant::now() + Duration::from_secs(10);
        let mut signals = 0;
        let result = loop {
            match result_rx.recv_timeout(Duration::from_micros(100)) {
                Ok(result) => break result,
                Err(_) if std::time::Instant::now() < give_up => {
                    thread.interrupt().expect("pthread_kill");
                    signals += 1;
                }
                // Let a retrying accept reach its receive timeout.
                Err(_) => break result_rx.recv().unwrap(),
            }
        };
        drop(exit_tx);
        worker.join().unwrap();
        (result, signals)
    }

    /// A listener that blocks in accept(2), each wait bounded by a receive timeout.
    #[cfg(all(unix, feature = "conformance"))]
    fn blocking_listener() -> TcpListener {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let socket = socket2::SockRef::from(&listener);
        socket.set_nonblocking(false).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        listener
    }

    #[cfg(all(unix, feature = "conformance"))]
    #[test]
    fn listener_accept_returns_eintr_instead_of_retrying() {
        let listener = blocking_listener();
        let (result, _) = interrupt_until_done(move || listener.accept().map(drop));
        let err = result.expect_err("nobody connected");
        assert_eq!(err.kind(), io::ErrorKind::Interrupted, "{err}");
    }

    #[cfg(all(unix, feature = "conformance"))]
    #[test]
    fn acceptor_skips_eintr_up_to_its_limit_then_returns_it() {
        let mut acceptor = Acceptor::without_spare(blocking_listener());
        let (result, signals) = interrupt_until_done(move || acceptor.accept().map(drop));
        let err = result.expect_err("nobody connected");
        assert_eq!(err.kind(), io::ErrorKind::Interrupted, "{err}");
        // Each skipped EINTR took a signal: the limit was reached, not a single one.
        assert!(signals > MAX_SKIPS, "{signals} signals");
    }

    /// A listener with nothing to accept.
    struct NeverReady;

    impl Accept for NeverReady {
        type Stream = ();
        type Addr = ();

        fn accept(&self) -> io::Result<((), ())> {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }
}
