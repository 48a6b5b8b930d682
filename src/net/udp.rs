//! UDP sockets on socket2 and std: `UdpSocket` (Unix and Windows).

use std::io;
use std::net::{self, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, SockRef, Type};

use super::{impl_debug, impl_descriptor, impl_std};
use crate::sys::socket as sys;

/// A UDP socket, non-blocking and close-on-exec from birth. Every call that would
/// block returns `WouldBlock`.
///
/// As with every datagram socket, a receive buffer smaller than the datagram gets its
/// first bytes and the OS discards the rest (`recvfrom(2)`): size buffers for the
/// largest datagram you accept (65 507 bytes of payload at most over IPv4).
///
/// ```
/// use std::time::Duration;
/// use selectio::net::UdpSocket;
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
/// let server = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
/// let client = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
/// client.connect(server.local_addr()?)?; // `send` goes there from now on
/// let mut el: EventLoop<Seen> = EventLoop::new()?;
/// el.register(&server, Token(0), Interest::READABLE, Mode::Level)?;
///
/// client.send(b"ping")?;
/// let mut seen = Seen(Vec::new());
/// while !seen.0.contains(&Token(0)) {
///     el.run_once(&mut seen, Some(Duration::from_secs(1)))?;
/// }
/// let mut buf = [0; 64];
/// let (n, from) = server.recv_from(&mut buf)?;
/// assert_eq!((&buf[..n], from), (&b"ping"[..], client.local_addr()?));
/// el.deregister(&server)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UdpSocket {
    inner: net::UdpSocket,
}

impl UdpSocket {
    /// Creates a socket of `addr`'s family and binds it to `addr` (port 0: the OS picks).
    pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
        let socket = sys::new_socket(Domain::for_address(addr), Type::DGRAM)?;
        socket.bind(&addr.into())?;
        Ok(UdpSocket::from_std_unchecked(socket.into()))
    }

    /// Sends one datagram to `target` (`sendto(2)`); returns the bytes sent.
    pub fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.inner.send_to(buf, target)
    }

    /// Receives one datagram and its sender (`recvfrom(2)`).
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.recv_from(buf)
    }

    /// Like [`recv_from`](UdpSocket::recv_from), leaving the datagram queued.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.peek_from(buf)
    }

    /// Sets the default peer (`connect(2)`): [`send`](UdpSocket::send) goes there, and
    /// datagrams from any other address are no longer received.
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.inner.connect(addr)
    }

    /// Sends one datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.send(buf)
    }

    /// Receives one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.recv(buf)
    }

    /// Like [`recv`](UdpSocket::recv), leaving the datagram queued.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.peek(buf)
    }

    /// Sets `SO_BROADCAST`: allows sending to a broadcast address.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.set_broadcast(on)
    }

    /// Whether `SO_BROADCAST` is set.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.broadcast()
    }

    /// Joins the IPv4 multicast group `multiaddr` on the interface with address
    /// `interface` (`0.0.0.0`: the OS chooses) — `IP_ADD_MEMBERSHIP`.
    pub fn join_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        if !multiaddr.is_multicast() {
            return Err(super::invalid_input(format!(
                "selectio: {multiaddr} is not an IPv4 multicast address (224.0.0.0/4)"
            )));
        }
        self.inner.join_multicast_v4(&multiaddr, &interface)
    }

    /// Leaves an IPv4 multicast group (`IP_DROP_MEMBERSHIP`).
    pub fn leave_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.inner.leave_multicast_v4(&multiaddr, &interface)
    }

    /// Joins the IPv6 multicast group `multiaddr` on interface index `interface` (0:
    /// the OS chooses) — `IPV6_ADD_MEMBERSHIP`.
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        if !multiaddr.is_multicast() {
            return Err(super::invalid_input(format!(
                "selectio: {multiaddr} is not an IPv6 multicast address (ff00::/8)"
            )));
        }
        self.inner.join_multicast_v6(multiaddr, interface)
    }

    /// Leaves an IPv6 multicast group (`IPV6_DROP_MEMBERSHIP`).
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.leave_multicast_v6(multiaddr, interface)
    }

    /// Sets `IP_MULTICAST_LOOP`: whether this host receives its own IPv4 multicasts.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.inner.set_multicast_loop_v4(on)
    }

    /// Whether `IP_MULTICAST_LOOP` is set.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.inner.multicast_loop_v4()
    }

    /// Sets `IPV6_MULTICAST_LOOP`.
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.inner.set_multicast_loop_v6(on)
    }

    /// Whether `IPV6_MULTICAST_LOOP` is set.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.inner.multicast_loop_v6()
    }

    /// Sets `IP_MULTICAST_TTL`, the time-to-live of outgoing IPv4 multicasts.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_multicast_ttl_v4(ttl)
    }

    /// The `IP_MULTICAST_TTL`.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.inner.multicast_ttl_v4()
    }

    /// Sets `IPV6_MULTICAST_HOPS`, the hop limit of outgoing IPv6 multicasts.
    pub fn set_multicast_hops_v6(&self, hops: u32) -> io::Result<()> {
        SockRef::from(&self.inner).set_multicast_hops_v6(hops)
    }

    /// The `IPV6_MULTICAST_HOPS`.
    pub fn multicast_hops_v6(&self) -> io::Result<u32> {
        SockRef::from(&self.inner).multicast_hops_v6()
    }

    /// Sets the time-to-live (`IP_TTL`; the hop limit `IPV6_UNICAST_HOPS` on IPv6).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        super::set_ttl(&SockRef::from(&self.inner), ttl)
    }

    /// The time-to-live (IPv4) or hop limit (IPv6).
    pub fn ttl(&self) -> io::Result<u32> {
        super::ttl(&SockRef::from(&self.inner))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The connected peer (`NotConnected` before [`connect`](UdpSocket::connect)).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Takes the pending socket error (`SO_ERROR`), such as an ICMP "port unreachable"
    /// reported for a connected socket.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
}

impl_std! {
    UdpSocket { inner: net::UdpSocket },
    /// Adopts a std socket, making it non-blocking and close-on-exec.
    fn from_std(socket) = sys::adopt(&socket, false);
    /// The std socket, still non-blocking.
    fn into_std;
}

impl_debug!(UdpSocket, local = local_addr; if_ok peer = peer_addr);

impl_descriptor!(UdpSocket);
