//! An I/O reactor with pluggable readiness backends and a callback-style event loop.
//!
//! selectio waits on many sockets, pipes, timers and cross-thread messages at once and
//! calls your code when one of them needs attention. It reports *readiness* ("this
//! socket can be read without blocking"); your code then does the read or the write
//! itself. The waiting is done by a backend — epoll, kqueue, poll(2), the `polling`
//! crate or io_uring — chosen by Cargo features or at run time; the code above it is
//! the same on every backend.
//!
//! # How it fits together
//!
//! - **Sources and tokens.** You [`register`](EventLoop::register) a source (a socket
//!   of [`net`], a pipe end, a std socket, anything with a file descriptor: see
//!   [`Source`]) with a [`Token`] of your choice, an [`Interest`] (`READABLE`,
//!   `WRITABLE` or `BOTH`) and a [`Mode`]: `Level` (reported on every wait while
//!   ready), `Edge` (reported once per new readiness, where the kernel has it) or
//!   `Oneshot` (reported once, then silent until you
//!   [`reregister`](EventLoop::reregister)). The token is how you tell your sources
//!   apart; a slab index is the usual choice.
//! - **The handler.** An [`EventLoop`] owns a backend and calls your [`Handler`]:
//!   [`readable`](Handler::readable) and [`writable`](Handler::writable) for a token
//!   whose source is ready (an EOF or a socket error comes as `readable`, so the read
//!   sees it), [`timeout`](Handler::timeout) for a timer, [`notify`](Handler::notify)
//!   for a message from another thread, [`signal`](Handler::signal) for a watched Unix
//!   signal, and [`tick`](Handler::tick) after each iteration. Every callback gets
//!   `&mut EventLoop`, so it can register, set timers or shut the loop down on the spot.
//! - **Readiness, not completion.** A readable socket may still answer `WouldBlock`
//!   (another reader got there first, or the event was spurious): treat `WouldBlock` as
//!   "wait for the next event". Every socket and pipe here is non-blocking from birth.
//!
//! # A first event loop
//!
//! An echo server on a free loopback port, a client thread that sends one message and
//! reads the echo, and a loop that ends when the client hangs up:
//!
//! ```
//! use std::io::{ErrorKind, Read, Write};
//! use selectio::net::{TcpListener, TcpStream};
//! use selectio::{EventLoop, Handler, Interest, Mode, Selector, Token};
//!
//! struct Echo { listener: TcpListener, conn: Option<TcpStream> }
//!
//! impl<S: Selector> Handler<S> for Echo {        // one handler for every backend
//!     type Timeout = ();
//!     type Message = ();
//!     fn readable(&mut self, el: &mut EventLoop<Self, S>, token: Token) {
//!         if token == Token(0) {                 // the listener: a client waits
//!             let (conn, _peer) = self.listener.accept().unwrap();
//!             el.register(&conn, Token(1), Interest::READABLE, Mode::Level).unwrap();
//!             self.conn = Some(conn);
//!         } else if let Some(conn) = self.conn.as_mut() {
//!             let mut buf = [0; 1024];
//!             match conn.read(&mut buf) {
//!                 Ok(0) => el.shutdown(),        // the client hung up
//!                 Ok(n) => conn.write_all(&buf[..n]).unwrap(),
//!                 Err(e) if e.kind() == ErrorKind::WouldBlock => {} // wait again
//!                 Err(e) => panic!("read: {e}"),
//!             }
//!         }
//!     }
//! }
//!
//! let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
//! let addr = listener.local_addr()?;
//! let mut event_loop: EventLoop<Echo> = EventLoop::new()?;
//! event_loop.register(&listener, Token(0), Interest::READABLE, Mode::Level)?;
//! let client = std::thread::spawn(move || {  // a plain blocking client
//!     let mut stream = std::net::TcpStream::connect(addr).unwrap();
//!     stream.write_all(b"hello").unwrap();
//!     let mut echo = [0; 5];
//!     stream.read_exact(&mut echo).unwrap();
//!     echo                                   // dropping `stream` hangs up
//! });
//! let mut echo = Echo { listener, conn: None };
//! event_loop.run(&mut echo)?;                // returns after `shutdown`
//! assert_eq!(&client.join().unwrap(), b"hello");
//! event_loop.deregister(echo.conn.as_ref().unwrap())?;
//! event_loop.deregister(&echo.listener)?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! [`EventLoop::run`] repeats iterations until a callback calls
//! [`shutdown`](EventLoop::shutdown); [`run_once`](EventLoop::run_once) runs one, with a
//! timeout, for programs that drive the loop themselves. Settings (capacities, timer
//! resolution) go through [`EventLoop::builder`].
//!
//! # Timers, messages and signals
//!
//! - [`EventLoop::timeout`] sets a timer that calls [`Handler::timeout`] with the value
//!   you gave it, never early; [`clear_timeout`](EventLoop::clear_timeout) cancels it
//!   and [`reset_timeout`](EventLoop::reset_timeout) moves it (an idle timeout pushed
//!   back on every read).
//! - [`EventLoop::channel`] gives a [`Sender`], `Clone + Send`, whose messages reach
//!   [`Handler::notify`] on the loop's thread; it wakes the loop only when the loop may
//!   be asleep, and a failed send gives the message back ([`NotifyError`]).
//! - [`EventLoop::watch_signal`] (Unix) hands deliveries of a signal (`SIGTERM`,
//!   `SIGINT`, …) to [`Handler::signal`] on the loop's thread, with their count; in
//!   signal context selectio only counts the delivery and writes a byte to a pipe.
//!
//! # Choosing a backend
//!
//! | backend | type | Cargo feature | where |
//! |---|---|---|---|
//! | epoll(7) | `Epoll` | `epoll` (default) | Linux, Android |
//! | kqueue(2) | `Kqueue` | `kqueue` (default) | macOS, iOS, the BSDs |
//! | poll(2) | `Poll` | `poll` (default) | every Unix |
//! | the `polling` crate | `Polling` | `polling` (always on for Windows) | Windows, illumos, wherever `polling` runs |
//! | io_uring poll requests | `Uring` | `uring` (opt-in) | Linux 5.18+ |
//!
//! The types live in [`backends`], which holds only those compiled in for the target:
//! a feature for an interface the target lacks compiles to nothing, so the default
//! features build on every Unix and on Windows.
//!
//! - **At compile time**, [`DefaultSelector`] is the first compiled-in backend of epoll
//!   → kqueue → polling → poll (→ uring): `EventLoop<H>` uses it. Name another as the
//!   second parameter: `EventLoop<H, selectio::backends::Poll>`. A handler written as
//!   `impl<S: Selector> Handler<S> for MyHandler` runs on any of them.
//! - **At run time**, [`AnySelector`] runs one of the compiled-in backends, picked by
//!   [`AnySelector::with_backend`] or by the `SELECTIO_BACKEND` environment variable
//!   (`epoll|kqueue|poll|polling|uring`) through [`AnySelector::from_env`]. If the
//!   chosen backend cannot start (a sandbox refusing epoll, io_uring switched off), it
//!   falls back along the priority order and says so:
//!   [`backend`](AnySelector::backend) is the one that runs,
//!   [`fallbacks`](AnySelector::fallbacks) the errors of the others.
//! - **Modes differ**: `Edge` exists only where the kernel has it (epoll, kqueue, and
//!   `polling` on those); ask [`Selector::capabilities`] before relying on it. `Level`
//!   and `Oneshot` work everywhere.
//!
//! The `tracing` feature adds spans and events on register, select and dispatch; the
//! `conformance` feature exports the backend test suite (see [Writing a
//! backend](#writing-a-backend)).
//!
//! # Race-free `connect` and `listen`
//!
//! A non-blocking connect(2) ends in one of three ways: in progress (the kernel reports
//! the socket writable once it is decided), connected at once, or failed at once — and
//! a connect that failed at once leaves nothing for the kernel to report, so the caller
//! would need a second code path beside its `writable` callback.
//! [`EventLoop::connect`] issues the connect *and* registers the stream, and the handler
//! is told — a `writable` (or error) call for the token — in all three cases, on every
//! backend and in every mode. The stream's `take_error()` then says how it ended. [`EventLoop::listen`] does
//! listen(2) and the registration as one step, and connections that arrive in between
//! are reported.
//!
//! # Errors
//!
//! Every misuse is an [`std::io::Error`] with a precise [`ErrorKind`](std::io::ErrorKind)
//! and a message naming the backend, fd or token — never a panic, never a silent
//! success — and a failed call changes nothing that was registered before:
//!
//! - `AlreadyExists`: registering a source twice (use `reregister`);
//! - `NotFound`: `reregister` or `deregister` of a source that is not registered;
//! - `InvalidInput`: a reserved token ([`Token::RESERVED`], [`Token::EVENT_LOOP`]), a
//!   closed or invalid fd, zero or out-of-range [`Builder`] settings;
//! - `Unsupported`: a [`Mode`] the backend lacks, a backend not compiled in;
//! - `ResourceBusy`: `run` called from inside a callback;
//! - `Interrupted`: a signal interrupted the wait (the loop calls
//!   [`Handler::interrupted`] and goes on).
//!
//! Socket and pipe calls pass the OS's error through (`WouldBlock`, `ConnectionRefused`,
//! `BrokenPipe`, …). Timers and the channel have their own errors: [`TimerError`] and
//! [`NotifyError`].
//!
//! # Platform differences
//!
//! The backends keep one contract, written as a checklist in [`selector`]; where the
//! kernels differ it says so item by item. In short:
//!
//! - `Edge` is refused by poll(2) (`Unsupported`); `Oneshot` is emulated there.
//! - The `polling` backend never reports `Interrupted`: the `polling` crate retries an
//!   interrupted wait itself.
//! - Deregister a source before closing it: epoll keeps watching a closed fd while a
//!   duplicate of it (`dup`, a forked child) lives, and io_uring holds the file open
//!   until its poll request ends.
//! - Windows has only the `polling` backend; Unix-domain sockets and [`pipe`] are
//!   Unix-only (a [`Source`] there is a socket), and a peer's orderly close arrives as
//!   `readable` (the read returns 0) without `read_closed`.
//!
//! # Examples
//!
//! The repository's `examples/` directory holds complete programs:
//!
//! - `echo_server.rs`: a TCP echo server with race-free `listen`, [`net::Acceptor`],
//!   back-pressure and graceful shutdown on `SIGINT`/`SIGTERM`;
//!   `cargo run --example echo_server`, then `nc 127.0.0.1 7000`.
//! - `http_hello.rs`: a keep-alive HTTP/1.1 "hello" server with an idle timeout;
//!   `cargo run --example http_hello`, then `curl http://127.0.0.1:8080/`.
//! - `backends.rs`: what each compiled-in backend offers, and which one
//!   `AnySelector::from_env()` picks; `cargo run --example backends`.
//! - `compare.rs`: the benchmark of every backend against raw epoll and poll(2) loops,
//!   mio and `polling`; `cargo run --release --example compare -- --quick`.
//!
//! # Writing a backend
//!
//! A backend is a type implementing [`Selector`] (register, reregister, deregister,
//! select, wake), usable by [`EventLoop`] like the built-in ones. The [`selector`]
//! module lists every obligation; with the `conformance` feature the crate exports one
//! test function per item, and `selectio::conformance::run_all(MySelector::new)` runs
//! them all once the selector has promised, with `unsafe impl
//! conformance::FdsAsNumbers`, to use the descriptors it gets only as numbers (the
//! suite hands it closed and reused ones on purpose).
#![cfg_attr(docsrs, feature(doc_cfg))]

#[macro_use]
mod macros;

mod event;
mod event_loop;
mod handler;
mod interest;
pub mod net;
mod notify;
#[cfg(unix)]
pub mod pipe;
pub mod selector;
mod signal;
mod source;
mod sync;
mod sys;
mod timer;
mod token;

#[path = "../backends/mod.rs"]
pub mod backends;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use backends::{AnySelector, Backend, DefaultSelector};
pub use event::{Event, Events, Iter, Ready};
pub use event_loop::{Builder, EventLoop};
pub use handler::Handler;
pub use interest::{Interest, Mode};
pub use notify::{NotifyError, Sender};
pub use selector::Selector;
pub use source::Source;
pub use timer::{Timeout, TimerError, TimerWheel};
pub use token::Token;

/// What a [`Selector`] watches, borrowed for one call: a file descriptor on Unix
/// ([`BorrowedFd`](std::os::fd::BorrowedFd)), a socket on Windows
/// ([`BorrowedSocket`](https://doc.rust-lang.org/std/os/windows/io/struct.BorrowedSocket.html)).
///
/// Every [`Source`] hands one out; a descriptor from C is borrowed with the `unsafe`
/// `BorrowedFd::borrow_raw` (see [`Source`]).
#[cfg(unix)]
pub type BorrowedSource<'a> = std::os::fd::BorrowedFd<'a>;
/// What a [`Selector`] watches, borrowed for one call: a file descriptor on Unix
/// (`BorrowedFd`), a socket on Windows
/// ([`BorrowedSocket`](std::os::windows::io::BorrowedSocket)).
///
/// Every [`Source`] hands one out; a socket from C is borrowed with the `unsafe`
/// `BorrowedSocket::borrow_raw`.
#[cfg(windows)]
pub type BorrowedSource<'a> = std::os::windows::io::BorrowedSocket<'a>;

/// The number behind a [`BorrowedSource`], as the backends and the loop's registry key
/// it: never taken from a caller in a safe fn.
#[cfg(unix)]
pub(crate) type RawSource = std::os::fd::RawFd;
/// The number behind a [`BorrowedSource`], as the backends and the loop's registry key
/// it: never taken from a caller in a safe fn.
#[cfg(windows)]
pub(crate) type RawSource = std::os::windows::io::RawSocket;

/// The README's Rust examples, compiled and run by `cargo test --doc` so that they
/// cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
