//! UDP over IPv4 and IPv6: unconnected and connected sockets, empty datagrams, peeking,
//! options, and bad input.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use selectio::net::UdpSocket;
use selectio::Interest;

use crate::tcp::have_ipv6;
use crate::util::net::{assert_flags, retry};

fn recv_from(socket: &UdpSocket, buf: &mut [u8]) -> (usize, SocketAddr) {
    retry(socket, Interest::READABLE, || socket.recv_from(buf)).unwrap()
}

/// Unconnected sockets: datagrams carry their sender, empty ones included, and peeking
/// leaves them queued.
fn unconnected_round_trip(any: &str) {
    let a = UdpSocket::bind(any.parse().unwrap()).unwrap();
    let b = UdpSocket::bind(any.parse().unwrap()).unwrap();
    assert_flags(&a);
    assert_flags(&b);
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let mut buf = [0u8; 64];
    assert_eq!(
        b.recv_from(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );

    assert_eq!(a.send_to(b"ping", b_addr).unwrap(), 4);
    let (n, from) = retry(&b, Interest::READABLE, || b.peek_from(&mut buf)).unwrap();
    assert_eq!((&buf[..n], from), (&b"ping"[..], a_addr));
    let (n, from) = recv_from(&b, &mut buf);
    assert_eq!(
        (&buf[..n], from),
        (&b"ping"[..], a_addr),
        "peek left it queued"
    );

    assert_eq!(b.send_to(b"", a_addr).unwrap(), 0);
    let (n, from) = recv_from(&a, &mut buf);
    assert_eq!((n, from), (0, b_addr), "an empty datagram arrives as one");
    assert_eq!(
        a.peer_addr().unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
}

#[test]
fn udp_v4_unconnected_round_trip() {
    unconnected_round_trip("127.0.0.1:0");
}

#[test]
fn udp_v6_unconnected_round_trip() {
    if have_ipv6("udp_v6_unconnected_round_trip") {
        unconnected_round_trip("[::1]:0");
    }
}

/// A connected socket sends to its peer and drops datagrams from anyone else.
fn connected_ignores_other_peers(any: &str) {
    let a = UdpSocket::bind(any.parse().unwrap()).unwrap();
    let b = UdpSocket::bind(any.parse().unwrap()).unwrap();
    let stranger = UdpSocket::bind(any.parse().unwrap()).unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());

    // The stranger's datagram goes first: had it been queued, it would be read first.
    stranger
        .send_to(b"intruder", a.local_addr().unwrap())
        .unwrap();
    assert_eq!(b.send(b"friend").unwrap(), 6);
    let mut buf = [0u8; 64];
    let n = retry(&a, Interest::READABLE, || a.peek(&mut buf)).unwrap();
    assert_eq!(&buf[..n], b"friend");
    let n = a.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"friend");
    assert_eq!(
        a.recv(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );

    assert_eq!(a.send(b"").unwrap(), 0);
    let n = retry(&b, Interest::READABLE, || b.recv(&mut buf)).unwrap();
    assert_eq!(n, 0, "an empty datagram on a connected socket");
}

#[test]
fn udp_v4_connected_ignores_other_peers() {
    connected_ignores_other_peers("127.0.0.1:0");
}

#[test]
fn udp_v6_connected_ignores_other_peers() {
    if have_ipv6("udp_v6_connected_ignores_other_peers") {
        connected_ignores_other_peers("[::1]:0");
    }
}

#[test]
fn udp_options_round_trip() {
    let socket = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    socket.set_broadcast(true).unwrap();
    assert!(socket.broadcast().unwrap());
    socket.set_multicast_loop_v4(false).unwrap();
    assert!(!socket.multicast_loop_v4().unwrap());
    socket.set_multicast_ttl_v4(3).unwrap();
    assert_eq!(socket.multicast_ttl_v4().unwrap(), 3);
    socket.set_ttl(21).unwrap();
    assert_eq!(socket.ttl().unwrap(), 21);
    assert!(socket.take_error().unwrap().is_none());
    if have_ipv6("udp_options_round_trip (v6)") {
        let socket = UdpSocket::bind("[::1]:0".parse().unwrap()).unwrap();
        socket.set_multicast_loop_v6(false).unwrap();
        assert!(!socket.multicast_loop_v6().unwrap());
        socket.set_multicast_hops_v6(4).unwrap();
        assert_eq!(socket.multicast_hops_v6().unwrap(), 4);
        socket.set_ttl(22).unwrap();
        assert_eq!(socket.ttl().unwrap(), 22);
    }
}

/// Joins and leaves a multicast group on the loopback interface only (no traffic
/// leaves the host); a host whose loopback has no multicast skips with a message.
#[test]
fn udp_multicast_join_and_leave() {
    let socket = UdpSocket::bind("0.0.0.0:0".parse().unwrap()).unwrap();
    let group = Ipv4Addr::new(239, 255, 42, 99);
    match socket.join_multicast_v4(group, Ipv4Addr::LOCALHOST) {
        Ok(()) => {
            let e = socket
                .join_multicast_v4(group, Ipv4Addr::LOCALHOST)
                .unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "joining twice: {e:?}");
            socket
                .leave_multicast_v4(group, Ipv4Addr::LOCALHOST)
                .unwrap();
            assert!(socket
                .leave_multicast_v4(group, Ipv4Addr::LOCALHOST)
                .is_err());
        }
        Err(e) => println!("udp_multicast_join_and_leave (v4): skipped, loopback refuses: {e}"),
    }
    if !have_ipv6("udp_multicast_join_and_leave (v6)") {
        return;
    }
    let socket = UdpSocket::bind("[::1]:0".parse().unwrap()).unwrap();
    let group: Ipv6Addr = "ff01::4242".parse().unwrap(); // interface-local scope
    let lo = 1; // the loopback interface index on Linux
    match socket.join_multicast_v6(&group, lo) {
        Ok(()) => socket.leave_multicast_v6(&group, lo).unwrap(),
        Err(e) => println!("udp_multicast_join_and_leave (v6): skipped, loopback refuses: {e}"),
    }
}

/// Linux reports the ICMP "port unreachable" of a connected socket as its error.
#[cfg(target_os = "linux")]
#[test]
fn udp_connected_to_a_closed_port_reports_refused() {
    let closed = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let socket = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    socket.connect(addr).unwrap();
    socket.send(b"anyone?").unwrap();
    let e = retry(&socket, Interest::READABLE, || socket.recv(&mut [0u8; 8])).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e:?}");
}

#[test]
fn udp_bind_in_use_is_addr_in_use() {
    let first = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let e = UdpSocket::bind(first.local_addr().unwrap()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e:?}");
}

#[test]
fn udp_from_std_debug_and_into_std() {
    let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let socket = UdpSocket::from_std(std_socket).unwrap();
    assert_flags(&socket);
    let text = format!("{socket:?}");
    assert!(
        text.contains(&socket.local_addr().unwrap().to_string()),
        "{text}"
    );
    assert!(text.contains("fd"), "{text}");
    assert!(!text.contains("peer"), "not connected: {text}");
    let peer = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    socket.connect(peer.local_addr().unwrap()).unwrap();
    let text = format!("{socket:?}");
    assert!(
        text.contains(&format!("peer: {}", peer.local_addr().unwrap())),
        "{text}"
    );
    assert_flags(&socket.into_std());
}
