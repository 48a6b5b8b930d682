//! Unix-domain datagram sockets on socket2 and std: `UnixDatagram` (Unix).

use std::io;
use std::net::Shutdown;
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;

use socket2::{Domain, SockRef, Type};

use super::unix::{path_addr, std_addr};
use super::{impl_debug, impl_descriptor, impl_std};
use crate::sys::socket as sys;

/// A Unix datagram socket, non-blocking and close-on-exec from birth. Every call that
/// would block returns `WouldBlock`; a receive buffer smaller than the datagram gets
/// its first bytes and the OS discards the rest (`recvfrom(2)`).
///
/// ```
/// use std::time::Duration;
/// use selectio::net::UnixDatagram;
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
/// let (a, b) = UnixDatagram::pair()?;
/// let mut el: EventLoop<Seen> = EventLoop::new()?;
/// el.register(&b, Token(0), Interest::READABLE, Mode::Level)?;
///
/// a.send(b"one")?;
/// a.send(b"two")?; // datagrams keep their boundaries
/// let mut seen = Seen(Vec::new());
/// while !seen.0.contains(&Token(0)) {
///     el.run_once(&mut seen, Some(Duration::from_secs(1)))?;
/// }
/// let mut buf = [0; 16];
/// let n = b.recv(&mut buf)?;
/// assert_eq!(&buf[..n], b"one");
/// let n = b.recv(&mut buf)?;
/// assert_eq!(&buf[..n], b"two");
/// el.deregister(&b)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixDatagram {
    inner: net::UnixDatagram,
}

impl UnixDatagram {
    /// A socket bound to `path` (which must not exist yet).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let socket = sys::new_socket(Domain::UNIX, Type::DGRAM)?;
        socket.bind(&path_addr(path.as_ref())?)?;
        Ok(UnixDatagram::from_std_unchecked(socket.into()))
    }

    /// A socket bound to `addr` (a path, or an abstract name on Linux and Android).
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixDatagram> {
        let socket = sys::new_socket(Domain::UNIX, Type::DGRAM)?;
        socket.bind(&std_addr(addr)?)?;
        Ok(UnixDatagram::from_std_unchecked(socket.into()))
    }

    /// A socket bound to no address: it can send, and receive replies only once
    /// connected (its datagrams come from an unnamed address).
    pub fn unbound() -> io::Result<UnixDatagram> {
        let socket = sys::new_socket(Domain::UNIX, Type::DGRAM)?;
        Ok(UnixDatagram::from_std_unchecked(socket.into()))
    }

    /// Two connected sockets (`socketpair(2)`), non-blocking and close-on-exec.
    #[doc(alias = "socketpair")]
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        sys::pair(Domain::UNIX, Type::DGRAM, UnixDatagram::from_std_unchecked)
    }

    /// Sets the default peer to the socket at `path`: [`send`](UnixDatagram::send)
    /// goes there and only its datagrams are received.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        SockRef::from(&self.inner).connect(&path_addr(path.as_ref())?)
    }

    /// Like [`connect`](UnixDatagram::connect), to a std address.
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<()> {
        SockRef::from(&self.inner).connect(&std_addr(addr)?)
    }

    /// Sends one datagram to the socket at `path`.
    pub fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let addr = path_addr(path.as_ref())?;
        SockRef::from(&self.inner).send_to_with_flags(buf, &addr, sys::SEND_FLAGS)
    }

    /// Sends one datagram to `addr`.
    pub fn send_to_addr(&self, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
        let addr = std_addr(addr)?;
        SockRef::from(&self.inner).send_to_with_flags(buf, &addr, sys::SEND_FLAGS)
    }

    /// Receives one datagram and its sender's address (unnamed for an unbound sender).
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.recv_from(buf)
    }

    /// Sends one datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        SockRef::from(&self.inner).send_with_flags(buf, sys::SEND_FLAGS)
    }

    /// Receives one datagram from the connected peer (or any sender, unconnected).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.recv(buf)
    }

    /// The local address (unnamed when unbound).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The connected peer's address (`NotConnected` before `connect`).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Shuts down the read half, the write half or both (`shutdown(2)`).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
}

impl_std! {
    UnixDatagram { inner: net::UnixDatagram },
    /// Adopts a std socket, making it non-blocking and close-on-exec.
    fn from_std(socket) = sys::adopt(&socket, false);
    /// The std socket, still non-blocking.
    fn into_std;
}

impl_debug!(UnixDatagram; if_ok local = local_addr; if_ok peer = peer_addr);

impl_descriptor!(UnixDatagram);
