//! Unix-domain stream sockets on socket2 and std: `UnixSocket`, `UnixListener`, `UnixStream` (Unix).
//!
//! Addresses are paths, or `std::os::unix::net::SocketAddr` values (the `*_addr`
//! methods), which on Linux and Android may hold an abstract name
//! (`SocketAddrExt::from_abstract_name`). A path that does not fit in `sun_path` is an
//! `InvalidInput` error naming the limit, never truncated.

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;

use socket2::{Domain, SockAddr, SockRef, Socket, Type};

use super::{
    impl_debug, impl_descriptor, impl_read, impl_std, impl_write, invalid_input, private, Connect,
    ConnectError, Listen,
};
use crate::sys::socket as sys;
use crate::Source;

/// `path` as a `sockaddr_un`; `InvalidInput` naming the limit when it does not fit in
/// `sun_path`, or when it is empty (Linux would auto-bind an abstract name instead).
/// On Linux and Android a path that starts with a NUL byte names an abstract address.
pub(super) fn path_addr(path: &Path) -> io::Result<SockAddr> {
    let bytes = path.as_os_str().as_bytes();
    // A pathname needs its terminating NUL inside sun_path; an abstract name (leading
    // NUL) is counted by length and needs none (unix(7)).
    let max = match bytes.first() {
        None => {
            return Err(invalid_input(
                "selectio: empty Unix socket path (name a file, or use an abstract address)"
                    .to_string(),
            ))
        }
        Some(0) => sys::SUN_PATH_LEN,
        Some(_) => sys::SUN_PATH_LEN - 1,
    };
    // A pathname is a C string to the kernel, which would bind the part before a NUL.
    if let Some(at) = bytes
        .iter()
        .skip(1)
        .position(|&b| b == 0)
        .filter(|_| bytes[0] != 0)
    {
        return Err(invalid_input(format!(
            "selectio: Unix socket path has a NUL byte at offset {}: {path:?}",
            at + 1
        )));
    }
    if bytes.len() > max {
        return Err(invalid_input(format!(
            "selectio: Unix socket path is {} bytes, longer than the {max} that sun_path \
             holds ({} bytes with the terminating NUL): {path:?}",
            bytes.len(),
            sys::SUN_PATH_LEN,
        )));
    }
    SockAddr::unix(path)
}

/// A std Unix socket address as a `sockaddr_un`; an unnamed address is `InvalidInput`.
pub(super) fn std_addr(addr: &SocketAddr) -> io::Result<SockAddr> {
    if let Some(path) = addr.as_pathname() {
        return path_addr(path);
    }
    #[cfg(selectio_linux_like)]
    if let Some(name) = std::os::linux::net::SocketAddrExt::as_abstract_name(addr) {
        let mut bytes = Vec::with_capacity(name.len() + 1);
        bytes.push(0);
        bytes.extend_from_slice(name);
        return path_addr(Path::new(std::ffi::OsStr::from_bytes(&bytes)));
    }
    Err(invalid_input(
        "selectio: an unnamed Unix socket address cannot be bound or connected to".to_string(),
    ))
}

/// The std form of an address the OS returned; `unnamed` gives it for an unnamed
/// address, which std cannot build from raw bytes.
fn to_std_addr(
    addr: &SockAddr,
    unnamed: impl FnOnce() -> io::Result<SocketAddr>,
) -> io::Result<SocketAddr> {
    if let Some(path) = addr.as_pathname() {
        return SocketAddr::from_pathname(path);
    }
    #[cfg(selectio_linux_like)]
    if let Some(name) = addr.as_abstract_namespace() {
        return <SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(name);
    }
    unnamed()
}

/// An unconnected Unix stream socket to [`bind`](UnixSocket::bind), and then
/// [`connect`](UnixSocket::connect) or [`listen`](UnixSocket::listen) on (directly, or
/// through the `EventLoop`'s race-free `connect`/`listen`).
///
/// A path that does not fit in `sun_path` is an `InvalidInput` error, never truncated.
///
/// ```
/// use selectio::net::{UnixListener, UnixSocket, UnixStream};
/// use selectio::{EventLoop, Handler, Token};
///
/// const SERVER: Token = Token(0);
/// const CLIENT: Token = Token(1);
///
/// #[derive(Default)]
/// struct Both { listening: bool, connected: bool }
///
/// impl Handler for Both {
///     type Timeout = ();
///     type Message = ();
///
///     fn readable(&mut self, el: &mut EventLoop<Self>, token: Token) {
///         self.listening |= token == SERVER; // a connection waits
///         if self.listening && self.connected { el.shutdown() }
///     }
///     fn writable(&mut self, el: &mut EventLoop<Self>, token: Token) {
///         self.connected |= token == CLIENT; // connect(2) is decided
///         if self.listening && self.connected { el.shutdown() }
///     }
/// }
///
/// let dir = std::env::temp_dir().join(format!("selectio-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("unix-socket.sock");
/// let mut el: EventLoop<Both> = EventLoop::new()?;
///
/// let server = UnixSocket::new()?;
/// server.bind(&path)?;
/// let listener: UnixListener = el.listen(server, 16, SERVER)?;
/// let client: UnixStream = el.connect(UnixSocket::new()?, &path, CLIENT)?;
/// el.run(&mut Both::default())?;
/// assert!(client.take_error()?.is_none());
/// assert!(listener.accept().is_ok());
///
/// el.deregister(&client)?;
/// el.deregister(&listener)?;
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixSocket {
    inner: Socket,
}

impl UnixSocket {
    /// A new Unix stream socket (`socket(AF_UNIX, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC)`).
    #[doc(alias = "socket")]
    pub fn new() -> io::Result<UnixSocket> {
        sys::new_socket(Domain::UNIX, Type::STREAM).map(UnixSocket::from_socket)
    }

    /// Wraps a socket as it is (for `FromRawFd`).
    pub(crate) fn from_socket(inner: Socket) -> UnixSocket {
        UnixSocket { inner }
    }

    /// Binds the socket to the file `path` (which must not exist yet).
    pub fn bind(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let addr = path_addr(path.as_ref())?;
        self.inner
            .bind(&addr)
            .map_err(|e| self.explain_bind_error(e))
    }

    /// bind(2) on a bound Unix socket is `EINVAL` (Linux unix_bind_bsd): say so.
    fn explain_bind_error(&self, e: io::Error) -> io::Error {
        match self.inner.local_addr() {
            Ok(local) if e.raw_os_error() == Some(sys::EINVAL) && !local.is_unnamed() => {
                invalid_input(format!(
                    "selectio: the Unix socket (fd {}) is already bound to {:?}",
                    crate::source::raw(self.source()),
                    local.as_pathname()
                ))
            }
            _ => e,
        }
    }

    /// Binds the socket to `addr` (a path, or an abstract name on Linux and Android).
    pub fn bind_addr(&self, addr: &SocketAddr) -> io::Result<()> {
        self.inner.bind(&std_addr(addr)?)
    }

    /// Connects to the listener at `path` without blocking and returns the stream.
    /// A failure reported at once (`NotFound`, `ConnectionRefused`, `WouldBlock` for a
    /// full backlog) is returned as the error.
    pub fn connect(self, path: impl AsRef<Path>) -> io::Result<UnixStream> {
        match self.connect_nonblocking(path.as_ref())? {
            (_, Some(Err(e))) => Err(e),
            (stream, _) => Ok(stream),
        }
    }

    /// Like [`connect`](UnixSocket::connect), to a std address (a path, or an abstract
    /// name on Linux and Android).
    pub fn connect_addr(self, addr: &SocketAddr) -> io::Result<UnixStream> {
        match self.connect_sockaddr(&std_addr(addr)?)? {
            (_, Some(Err(e))) => Err(e),
            (stream, _) => Ok(stream),
        }
    }

    fn connect_sockaddr(self, addr: &SockAddr) -> io::Result<(UnixStream, Option<io::Result<()>>)> {
        let outcome = sys::connect_outcome(self.inner.connect(addr))?;
        let stream = UnixStream {
            connect_error: ConnectError::from_result(&outcome),
            inner: self.inner.into(),
        };
        Ok((stream, outcome))
    }

    /// Marks the bound socket as listening with `backlog` (taken by the OS as it is: see
    /// [`Listen::listen_now`]). An unbound socket is an `InvalidInput` error.
    pub fn listen(self, backlog: i32) -> io::Result<UnixListener> {
        if let Err(e) = self.inner.listen(backlog) {
            return Err(self.explain_listen_error(e));
        }
        Ok(UnixListener::from_std_unchecked(self.inner.into()))
    }

    /// Linux and the BSDs say `EINVAL` for listen(2) on an unbound Unix socket
    /// (net/unix/af_unix.c unix_listen: "No listens on an unbound socket"); say why.
    fn explain_listen_error(&self, e: io::Error) -> io::Error {
        let unbound = matches!(self.inner.local_addr(), Ok(a) if a.is_unnamed());
        if e.raw_os_error() == Some(sys::EINVAL) && unbound {
            return invalid_input(format!(
                "selectio: cannot listen on the unbound Unix socket (fd {}): bind it first",
                crate::source::raw(self.source())
            ));
        }
        e
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
}

impl private::Sealed for UnixSocket {}

impl Connect for UnixSocket {
    type Addr = Path;
    type Stream = UnixStream;

    fn connect_nonblocking(self, path: &Path) -> io::Result<(UnixStream, Option<io::Result<()>>)> {
        self.connect_sockaddr(&path_addr(path)?)
    }
}

impl Listen for UnixSocket {
    type Listener = UnixListener;

    fn listen_now(self, backlog: i32) -> io::Result<UnixListener> {
        self.listen(backlog)
    }
}

impl fmt::Debug for UnixSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local = self.inner.local_addr();
        let path = local.as_ref().ok().and_then(|a| a.as_pathname());
        f.debug_struct("UnixSocket")
            .field("fd", &crate::source::raw(self.source()))
            .field("local", &path)
            .finish()
    }
}

/// A listening Unix stream socket: [`accept`](UnixListener::accept) returns its
/// connections.
///
/// The socket file stays after the listener is dropped; remove it yourself.
///
/// ```
/// use std::time::Duration;
/// use selectio::net::{UnixListener, UnixStream};
/// use selectio::{EventLoop, Handler, Interest, Mode, Token};
///
/// /// Records the tokens reported readable.
/// struct Seen(Vec<Token>);
///
/// impl Handler for Seen {
///     type Timeout = ();
///     type Message = ();
///
///     fn readable(&mut self, _: &mut EventLoop<Self>, token: Token) {
///         self.0.push(token);
///     }
/// }
///
/// let dir = std::env::temp_dir().join(format!("selectio-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("unix-listener.sock");
/// let listener = UnixListener::bind(&path)?;
/// let mut el: EventLoop<Seen> = EventLoop::new()?;
/// el.register(&listener, Token(0), Interest::READABLE, Mode::Level)?;
///
/// let _client = UnixStream::connect(&path)?;
/// let mut seen = Seen(Vec::new());
/// while !seen.0.contains(&Token(0)) {
///     el.run_once(&mut seen, Some(Duration::from_secs(1)))?;
/// }
/// let (_stream, _addr) = listener.accept()?;
/// el.deregister(&listener)?;
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixListener {
    inner: net::UnixListener,
}

impl UnixListener {
    /// Creates a socket, binds it to `path` and listens with a backlog of 1024.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let socket = UnixSocket::new()?;
        socket.bind(path)?;
        socket.listen(1024)
    }

    /// Like [`bind`](UnixListener::bind), to a std address (a path, or an abstract
    /// name on Linux and Android).
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixListener> {
        let socket = UnixSocket::new()?;
        socket.bind_addr(addr)?;
        socket.listen(1024)
    }

    /// Accepts one waiting connection, non-blocking and close-on-exec at birth
    /// (`accept4(2)` where the OS has it). `WouldBlock` when none is waiting.
    ///
    /// One accept(2): errors of a single connection that died in the queue
    /// (`ConnectionAborted`, and the others [`Acceptor`](crate::net::Acceptor) lists) and
    /// `Interrupted` are returned as they come. Call again, or let an `Acceptor` skip them.
    #[doc(alias = "accept4")]
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (socket, addr) = sys::accept(&SockRef::from(&self.inner))?;
        let stream = UnixStream::from_std_unchecked(socket.into());
        let addr = to_std_addr(&addr, || stream.peer_addr())?;
        Ok((stream, addr))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
}

impl_debug!(UnixListener, local = local_addr);

/// A connected Unix stream socket. Reads and writes never block (`WouldBlock`); writes
/// use `send(2)` with `MSG_NOSIGNAL` (std's `UnixStream` writes with `write(2)`, which
/// raises `SIGPIPE` when the peer is gone), so a closed peer is `BrokenPipe`.
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use selectio::net::UnixStream;
/// use selectio::{EventLoop, Handler, Interest, Mode, Token};
///
/// /// Records the tokens reported readable.
/// struct Seen(Vec<Token>);
///
/// impl Handler for Seen {
///     type Timeout = ();
///     type Message = ();
///
///     fn readable(&mut self, _: &mut EventLoop<Self>, token: Token) {
///         self.0.push(token);
///     }
/// }
///
/// let (mut ours, mut theirs) = UnixStream::pair()?;
/// let mut el: EventLoop<Seen> = EventLoop::new()?;
/// el.register(&ours, Token(0), Interest::READABLE, Mode::Level)?;
///
/// theirs.write_all(b"hello")?;
/// drop(theirs); // then the end: a read of 0 bytes
/// let mut seen = Seen(Vec::new());
/// while !seen.0.contains(&Token(0)) {
///     el.run_once(&mut seen, Some(Duration::from_secs(1)))?;
/// }
/// let mut text = String::new();
/// ours.read_to_string(&mut text)?;
/// assert_eq!(text, "hello");
/// el.deregister(&ours)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixStream {
    inner: net::UnixStream,
    /// The error connect(2) failed with at once, until `take_error` reports it.
    connect_error: ConnectError,
}

impl UnixStream {
    /// Two connected streams (`socketpair(2)`), non-blocking and close-on-exec.
    #[doc(alias = "socketpair")]
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        sys::pair(Domain::UNIX, Type::STREAM, UnixStream::from_std_unchecked)
    }

    /// Connects to the listener at `path` without blocking: see
    /// [`UnixSocket::connect`].
    pub fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        UnixSocket::new()?.connect(path)
    }

    /// Connects to `addr` without blocking: see [`UnixSocket::connect_addr`].
    pub fn connect_addr(addr: &SocketAddr) -> io::Result<UnixStream> {
        UnixSocket::new()?.connect_addr(addr)
    }

    /// The address of the peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address (unnamed unless bound).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Shuts down the read half, the write half or both (`shutdown(2)`).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Takes the socket's error: first the one a connect(2) failed with at once, then
    /// `SO_ERROR`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.connect_error.take(|| self.inner.take_error())
    }
}

impl_read!(UnixStream);
impl_write!(
    /// `send(2)` with `MSG_NOSIGNAL`.
    send for UnixStream
);

impl_debug!(UnixStream, local = local_addr, peer = peer_addr);

impl_std! {
    UnixListener { inner: net::UnixListener },
    /// Adopts a std listener, making it non-blocking and close-on-exec (and
    /// `SO_NOSIGPIPE` on Apple, which accepted sockets inherit).
    fn from_std(listener) = sys::adopt(&listener, true);
    /// The std listener, still non-blocking.
    fn into_std;

    UnixStream { inner: net::UnixStream, connect_error: ConnectError::default() },
    /// Adopts a std stream, making it non-blocking and close-on-exec.
    ///
    /// On Apple, which has no `MSG_NOSIGNAL`, `SO_NOSIGPIPE` cannot be added here (it
    /// fails with `EINVAL` on a connected Unix socket, rust-lang/socket2#631): a stream
    /// std created keeps raising `SIGPIPE` on a write to a closed peer, which Rust
    /// programs ignore by default. Streams selectio creates or accepts have it.
    fn from_std(stream) = sys::adopt(&stream, false);
    /// The std stream, still non-blocking. A stored connect error is dropped.
    fn into_std;
}

impl_descriptor!(UnixSocket, UnixListener, UnixStream);
