//! TCP sockets on socket2 and std: `TcpSocket`, `TcpListener` (`TcpAcceptor`), `TcpStream` (Unix and Windows).

use std::io;
use std::net::{self, Shutdown, SocketAddr};
use std::time::Duration;

use socket2::{Domain, SockRef, Socket, Type};

use super::{
    impl_debug, impl_descriptor, impl_read, impl_std, impl_write, invalid_input, private, Connect,
    ConnectError, Listen,
};
use crate::sys::socket as sys;
use crate::Source;

/// An unconnected TCP socket to configure, [`bind`](TcpSocket::bind), and then
/// [`connect`](TcpSocket::connect) or [`listen`](TcpSocket::listen) on (directly, or
/// through the `EventLoop`'s race-free `connect`/`listen`).
///
/// Non-blocking and close-on-exec from birth.
///
/// # `SO_REUSEADDR`
///
/// On Unix a new socket has `SO_REUSEADDR` set, as std's and mio's
/// `TcpListener::bind` do, so that a server restarted on its port binds even while
/// connections it closed are still in `TIME_WAIT`. The option only counts at
/// [`bind`](TcpSocket::bind), so the socket carries it from its creation; to opt out,
/// call [`set_reuseaddr(false)`](TcpSocket::set_reuseaddr) before `bind`. On Windows it
/// stays off: there `SO_REUSEADDR` lets another socket take over a port in use.
///
/// ```
/// use selectio::net::TcpSocket;
///
/// let socket = TcpSocket::v4()?;
/// assert_eq!(socket.reuseaddr()?, cfg!(unix));
/// socket.set_reuseaddr(false)?; // opt out: bind fails while the port is in TIME_WAIT
/// socket.bind(([127, 0, 0, 1], 0).into())?;
/// let listener = socket.listen(128)?;
/// # drop(listener);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpSocket {
    inner: Socket,
    /// Whether it is IPv6, when known from its creation: Windows cannot tell the family
    /// of an unbound socket by `getsockname` (WSAEINVAL).
    v6: Option<bool>,
}

impl TcpSocket {
    /// A new IPv4 TCP socket (`socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC)`),
    /// with `SO_REUSEADDR` on Unix (see [`TcpSocket`]).
    #[doc(alias = "socket")]
    pub fn v4() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV4)
    }

    /// A new IPv6 TCP socket, with `SO_REUSEADDR` on Unix (see [`TcpSocket`]).
    pub fn v6() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV6)
    }

    /// A new TCP socket of `addr`'s family (IPv4 or IPv6).
    pub fn for_addr(addr: SocketAddr) -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::for_address(addr))
    }

    fn new(domain: Domain) -> io::Result<TcpSocket> {
        let inner = sys::new_socket(domain, Type::STREAM)?;
        // Set here rather than in `listen`: it must be in place before bind(2), which
        // the user calls between creation and listen. Windows keeps the default off,
        // as std does: there it would let another socket steal the port.
        #[cfg(not(windows))]
        inner.set_reuse_address(true)?;
        let v6 = Some(domain == Domain::IPV6);
        Ok(TcpSocket { inner, v6 })
    }

    /// Wraps a socket as it is (for `FromRawFd`).
    pub(crate) fn from_socket(inner: Socket) -> TcpSocket {
        TcpSocket { inner, v6: None }
    }

    /// Binds the socket to `addr` (`bind(2)`). An address of the other family is
    /// `InvalidInput`; an address in use is `AddrInUse`.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.check_family(addr, "bind")?;
        self.inner
            .bind(&addr.into())
            .map_err(|e| self.explain_bind_error(addr, e))
    }

    /// bind(2) on a bound socket is `EINVAL` (Linux inet_bind; Winsock WSAEINVAL): say so.
    fn explain_bind_error(&self, addr: SocketAddr, e: io::Error) -> io::Error {
        match self.local_addr() {
            Ok(local) if e.kind() == io::ErrorKind::InvalidInput && local.port() != 0 => {
                invalid_input(format!(
                    "selectio: cannot bind the TCP socket (fd {}) to {addr}: it is already bound to {local}",
                    crate::source::raw(self.source())
                ))
            }
            _ => e,
        }
    }

    /// Starts a non-blocking `connect(2)` to `addr` and returns the stream, connected
    /// or still connecting: wait until it is writable, then check
    /// [`take_error`](TcpStream::take_error). A failure reported at once (such as
    /// `ConnectionRefused`) is returned as the error.
    pub fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        match self.connect_nonblocking(&addr)? {
            (_, Some(Err(e))) => Err(e),
            (stream, _) => Ok(stream),
        }
    }

    /// Marks the socket as listening (`listen(2)`) with `backlog`, which the OS takes as
    /// it is (see [`Listen::listen_now`]), and returns the listener.
    ///
    /// An unbound socket listens on an ephemeral port of the unspecified address, on
    /// Windows too.
    pub fn listen(self, backlog: i32) -> io::Result<TcpListener> {
        // Unix binds an unbound socket to an ephemeral port on listen(2) (Linux
        // `inet_autobind`); Winsock refuses it ("WSAEINVAL: The socket has not been bound
        // with bind", listen function docs), so the unspecified address is bound first.
        #[cfg(windows)]
        if let (Some(v6), Err(_)) = (self.v6, self.inner.local_addr()) {
            let any: std::net::IpAddr = if v6 {
                std::net::Ipv6Addr::UNSPECIFIED.into()
            } else {
                std::net::Ipv4Addr::UNSPECIFIED.into()
            };
            self.inner.bind(&SocketAddr::new(any, 0).into())?;
        }
        self.inner.listen(backlog)?;
        Ok(TcpListener::from_std_unchecked(self.inner.into()))
    }

    /// `InvalidInput` when `addr` is not of the socket's family (the OS would say
    /// `EAFNOSUPPORT` or `EINVAL`, depending on the direction).
    fn check_family(&self, addr: SocketAddr, op: &str) -> io::Result<()> {
        match self.v6.or_else(|| super::is_v6(&self.inner)) {
            Some(v6) if v6 != addr.is_ipv6() => Err(invalid_input(format!(
                "selectio: cannot {op} the IPv{} TCP socket (fd {}) to {addr}: wrong address family",
                if v6 { 6 } else { 4 },
                crate::source::raw(self.source()),
            ))),
            _ => Ok(()),
        }
    }

    /// Sets `SO_REUSEADDR`: bind to a local address still in `TIME_WAIT`. On by
    /// default on Unix (see [`TcpSocket`]); only a change made before
    /// [`bind`](TcpSocket::bind) has an effect.
    pub fn set_reuseaddr(&self, reuse: bool) -> io::Result<()> {
        self.inner.set_reuse_address(reuse)
    }

    /// Whether `SO_REUSEADDR` is set.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        self.inner.reuse_address()
    }

    /// Sets `SO_REUSEPORT`: several sockets may bind the same address and port.
    ///
    /// Unix only, and not on Solaris, illumos or Cygwin (no `SO_REUSEPORT` in socket2).
    #[cfg(selectio_reuseport)]
    pub fn set_reuseport(&self, reuse: bool) -> io::Result<()> {
        self.inner.set_reuse_port(reuse)
    }

    /// Whether `SO_REUSEPORT` is set.
    ///
    /// Unix only, and not on Solaris, illumos or Cygwin (no `SO_REUSEPORT` in socket2).
    #[cfg(selectio_reuseport)]
    pub fn reuseport(&self) -> io::Result<bool> {
        self.inner.reuse_port()
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm); connected streams keep it.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_tcp_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.tcp_nodelay()
    }

    /// Sets `SO_KEEPALIVE`.
    pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
        self.inner.set_keepalive(keepalive)
    }

    /// Whether `SO_KEEPALIVE` is set.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.inner.keepalive()
    }

    /// Sets `SO_LINGER`: `Some(ZERO)` makes close send a reset (RST) instead of FIN.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.inner.set_linger(linger)
    }

    /// The `SO_LINGER` setting.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.inner.linger()
    }

    /// Sets `SO_SNDBUF` (the OS may round it; Linux doubles it).
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        self.inner.set_send_buffer_size(size)
    }

    /// The `SO_SNDBUF` size the OS uses.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        self.inner.send_buffer_size()
    }

    /// Sets `SO_RCVBUF` (the OS may round it; Linux doubles it).
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        self.inner.set_recv_buffer_size(size)
    }

    /// The `SO_RCVBUF` size the OS uses.
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        self.inner.recv_buffer_size()
    }

    /// Sets the time-to-live (`IP_TTL`; the hop limit `IPV6_UNICAST_HOPS` on IPv6).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        super::set_ttl(&self.inner, ttl)
    }

    /// The time-to-live (IPv4) or hop limit (IPv6).
    pub fn ttl(&self) -> io::Result<u32> {
        super::ttl(&self.inner)
    }

    /// The bound local address (`getsockname(2)`; the unspecified address before
    /// `bind`).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        super::inet_addr(self.inner.local_addr()?)
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
}

impl private::Sealed for TcpSocket {}

impl Connect for TcpSocket {
    type Addr = SocketAddr;
    type Stream = TcpStream;

    fn connect_nonblocking(
        self,
        addr: &SocketAddr,
    ) -> io::Result<(TcpStream, Option<io::Result<()>>)> {
        self.check_family(*addr, "connect")?;
        let outcome = sys::connect_outcome(self.inner.connect(&(*addr).into()))?;
        let stream = TcpStream {
            connect_error: ConnectError::from_result(&outcome),
            inner: self.inner.into(),
        };
        Ok((stream, outcome))
    }
}

impl Listen for TcpSocket {
    type Listener = TcpListener;

    fn listen_now(self, backlog: i32) -> io::Result<TcpListener> {
        self.listen(backlog)
    }
}

impl_debug!(TcpSocket, local = local_addr);

/// A listening TCP socket: [`accept`](TcpListener::accept) returns its connections.
///
/// Register it for `READABLE`: it is readable while connections wait to be accepted.
/// [`EventLoop::listen`](crate::EventLoop::listen) makes one from a [`TcpSocket`] and
/// registers it in one step; [`Acceptor`](crate::net::Acceptor) wraps it to survive
/// running out of file descriptors.
///
/// ```
/// use std::time::Duration;
/// use selectio::net::{TcpListener, TcpStream};
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
/// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
/// let mut el: EventLoop<Seen> = EventLoop::new()?;
/// el.register(&listener, Token(0), Interest::READABLE, Mode::Level)?;
///
/// let client = TcpStream::connect(listener.local_addr()?)?;
/// let mut seen = Seen(Vec::new());
/// while !seen.0.contains(&Token(0)) {
///     el.run_once(&mut seen, Some(Duration::from_secs(1)))?;
/// }
/// let (_stream, peer) = listener.accept()?; // a TcpStream, non-blocking already
/// assert_eq!(peer, client.local_addr()?);
/// el.deregister(&listener)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpListener {
    inner: net::TcpListener,
}

/// The original (mio 0.1) name of [`TcpListener`], whose page has the example.
///
/// ```
/// use selectio::net::{TcpAcceptor, TcpListener};
///
/// let acceptor: TcpAcceptor = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
/// assert!(acceptor.accept().is_err()); // WouldBlock: nobody has connected
/// # Ok::<(), std::io::Error>(())
/// ```
pub type TcpAcceptor = TcpListener;

impl TcpListener {
    /// Creates a socket for `addr` (with `SO_REUSEADDR` on Unix, not on Windows, where
    /// it lets another socket steal the port: see [`TcpSocket`]), binds it and listens
    /// with a backlog of 1024.
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        let socket = TcpSocket::for_addr(addr)?;
        socket.bind(addr)?;
        socket.listen(1024)
    }

    /// Accepts one waiting connection, non-blocking and close-on-exec at birth
    /// (`accept4(2)` where the OS has it). `WouldBlock` when none is waiting.
    ///
    /// One accept(2): errors of a single connection that died in the queue
    /// (`ConnectionAborted`, and the others [`Acceptor`](crate::net::Acceptor) lists) and
    /// `Interrupted` are returned as they come. Call again, or let an `Acceptor` skip them.
    #[doc(alias = "accept4")]
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (socket, addr) = sys::accept(&SockRef::from(&self.inner))?;
        let addr = super::inet_addr(addr)?;
        Ok((TcpStream::from_std_unchecked(socket.into()), addr))
    }

    /// The local address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// Sets the time-to-live (IPv4) or hop limit (IPv6) of accepted connections.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        super::set_ttl(&SockRef::from(&self.inner), ttl)
    }

    /// The time-to-live (IPv4) or hop limit (IPv6).
    pub fn ttl(&self) -> io::Result<u32> {
        super::ttl(&SockRef::from(&self.inner))
    }
}

impl_debug!(TcpListener, local = local_addr);

/// A connected (or connecting) TCP stream. Reads and writes never block: they return
/// `WouldBlock`. Writes use `send(2)` with `MSG_NOSIGNAL`, so a closed peer is an error
/// (`BrokenPipe`, `ConnectionReset`), never `SIGPIPE`.
///
/// `Read` and `Write` are implemented for `TcpStream` and `&TcpStream`. Read until
/// `WouldBlock`, then wait for the next `readable`; a read of 0 bytes is the peer's end.
///
/// ```
/// use std::io::{ErrorKind, Read, Write};
/// use std::time::Duration;
/// use selectio::net::{TcpListener, TcpStream};
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
/// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
/// let mut client = TcpStream::connect(listener.local_addr()?)?;
/// let mut el: EventLoop<Seen> = EventLoop::new()?;
/// el.register(&listener, Token(0), Interest::READABLE, Mode::Level)?;
/// let mut seen = Seen(Vec::new());
/// while !seen.0.contains(&Token(0)) {
///     el.run_once(&mut seen, Some(Duration::from_secs(1)))?;
/// }
/// let (mut server, _) = listener.accept()?;
/// el.register(&server, Token(1), Interest::READABLE, Mode::Level)?;
///
/// let mut buf = [0; 16];
/// assert_eq!(server.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
/// client.write_all(b"hi")?;
/// while !seen.0.contains(&Token(1)) {
///     el.run_once(&mut seen, Some(Duration::from_secs(1)))?;
/// }
/// assert_eq!(server.read(&mut buf)?, 2);
/// el.deregister(&server)?;
/// el.deregister(&listener)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpStream {
    inner: net::TcpStream,
    /// The error connect(2) failed with at once, until `take_error` reports it.
    connect_error: ConnectError,
}

impl TcpStream {
    /// Starts a non-blocking connection to `addr`: see [`TcpSocket::connect`].
    pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        TcpSocket::for_addr(addr)?.connect(addr)
    }

    /// The remote address (`NotConnected` while connecting or after a failure).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Shuts down the read half, the write half or both (`shutdown(2)`).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.nodelay()
    }

    /// Sets `SO_LINGER`: `Some(ZERO)` makes the close send a reset (RST).
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        SockRef::from(&self.inner).set_linger(linger)
    }

    /// The `SO_LINGER` setting.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        SockRef::from(&self.inner).linger()
    }

    /// Sets the time-to-live (IPv4) or hop limit (IPv6).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        super::set_ttl(&SockRef::from(&self.inner), ttl)
    }

    /// The time-to-live (IPv4) or hop limit (IPv6).
    pub fn ttl(&self) -> io::Result<u32> {
        super::ttl(&SockRef::from(&self.inner))
    }

    /// Reads without removing the data from the queue (`recv(2)` with `MSG_PEEK`).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.peek(buf)
    }

    /// Takes the socket's error: first the one a connect(2) failed with at once (see
    /// [`Connect`]), then `SO_ERROR` (for a connection in progress: `None` once it
    /// succeeded, the reason once it failed).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.connect_error.take(|| self.inner.take_error())
    }
}

impl_read!(TcpStream);
impl_write!(
    /// `send(2)` with `MSG_NOSIGNAL` (std's `write` would do the same, but its
    /// `write_vectored` is `writev(2)`, which can raise `SIGPIPE`).
    send for TcpStream
);

impl_debug!(TcpStream, local = local_addr, peer = peer_addr);

impl_std! {
    TcpListener { inner: net::TcpListener },
    /// Adopts a std listener, making it non-blocking and close-on-exec (and
    /// `SO_NOSIGPIPE` on Apple, which accepted sockets inherit).
    fn from_std(listener) = sys::adopt(&listener, true);
    /// The std listener, still non-blocking.
    fn into_std;

    TcpStream { inner: net::TcpStream, connect_error: ConnectError::default() },
    /// Adopts a std stream, making it non-blocking and close-on-exec (and
    /// `SO_NOSIGPIPE` on Apple).
    fn from_std(stream) = sys::adopt(&stream, true);
    /// The std stream, still non-blocking. A stored connect error is dropped.
    fn into_std;
}

impl_descriptor!(TcpSocket, TcpListener, TcpStream);
