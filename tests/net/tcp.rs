//! TCP: flags, accept, shutdown, reset, a 16 MiB transfer, options, conversions and
//! bad input.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use selectio::net::{TcpAcceptor, TcpListener, TcpSocket, TcpStream};
use selectio::Interest;

use crate::util::net::{
    assert_flags, assert_same_bytes, localhost, pattern, pump, retry, send_across, wait,
};

/// Whether this host has IPv6 loopback; prints why a test is skipped when not.
pub fn have_ipv6(test: &str) -> bool {
    let ok = std::net::TcpListener::bind("[::1]:0").is_ok();
    if !ok {
        println!("{test}: skipped, this host has no IPv6 loopback (::1)");
    }
    ok
}

/// A connected pair (client, accepted server side) on `addr`'s family.
pub fn tcp_pair_on(addr: SocketAddr) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(addr).unwrap();
    assert_flags(&listener);
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    assert_flags(&client);
    let (server, peer) = retry(&listener, Interest::READABLE, || listener.accept()).unwrap();
    assert_flags(&server);
    wait(&client, Interest::WRITABLE);
    assert!(client.take_error().unwrap().is_none());
    assert_eq!(peer, client.local_addr().unwrap());
    assert_eq!(client.peer_addr().unwrap(), listener.local_addr().unwrap());
    (client, server)
}

pub fn tcp_pair() -> (TcpStream, TcpStream) {
    tcp_pair_on(localhost())
}

#[test]
fn tcp_sockets_are_nonblocking_and_cloexec_from_birth() {
    assert_flags(&TcpSocket::v4().unwrap());
    if have_ipv6("tcp_sockets_are_nonblocking_and_cloexec_from_birth (v6)") {
        assert_flags(&TcpSocket::v6().unwrap());
    }
    // Listener, connected and accepted streams are checked inside tcp_pair.
    let (client, server) = tcp_pair();
    assert_flags(&client);
    assert_flags(&server);
}

#[test]
fn accept_until_would_block() {
    let listener: TcpAcceptor = TcpListener::bind(localhost()).unwrap();
    let addr = listener.local_addr().unwrap();
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    let clients: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut accepted = Vec::new();
    while accepted.len() < clients.len() {
        match listener.accept() {
            Ok((stream, _)) => accepted.push(stream),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait(&listener, Interest::READABLE),
            Err(e) => panic!("accept: {e}"),
        }
    }
    for stream in &accepted {
        assert_flags(stream);
    }
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert!(listener.take_error().unwrap().is_none());
}

#[test]
fn read_on_an_empty_stream_would_block() {
    let (client, _server) = tcp_pair();
    let mut buf = [0u8; 8];
    assert_eq!(
        (&client).read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
}

#[test]
fn shutdown_write_gives_the_peer_eof_and_fails_local_writes() {
    let (client, server) = tcp_pair();
    client.shutdown(Shutdown::Write).unwrap();
    let n = retry(&server, Interest::READABLE, || {
        (&server).read(&mut [0u8; 8])
    })
    .unwrap();
    assert_eq!(n, 0, "the peer of a write-shut-down socket reads EOF");
    let e = (&client).write(b"late").unwrap_err();
    assert_write_after_shutdown(&e);
    // The other direction still works: a half-close.
    assert_eq!(send_across(&server, &client, b"reply"), b"reply");
}

/// A write after `shutdown(Write)` fails: EPIPE (`BrokenPipe`) on Unix; Winsock says
/// WSAESHUTDOWN (10058, "the socket had already been shut down"), which std leaves
/// uncategorized.
#[track_caller]
fn assert_write_after_shutdown(e: &io::Error) {
    if cfg!(windows) {
        assert_eq!(e.raw_os_error(), Some(10058), "{e:?}");
    } else {
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e:?}");
    }
}

#[test]
fn shutdown_read_makes_local_reads_return_zero() {
    let (client, server) = tcp_pair();
    client.shutdown(Shutdown::Read).unwrap();
    assert_eq!((&client).read(&mut [0u8; 8]).unwrap(), 0);
    // Writing still works.
    send_across(&client, &server, b"x");
}

#[test]
fn shutdown_both_ends_reads_and_writes() {
    let (client, server) = tcp_pair();
    client.shutdown(Shutdown::Both).unwrap();
    assert_eq!((&client).read(&mut [0u8; 8]).unwrap(), 0);
    let e = (&client).write(b"x").unwrap_err();
    assert_write_after_shutdown(&e);
    let n = retry(&server, Interest::READABLE, || {
        (&server).read(&mut [0u8; 8])
    })
    .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn peer_reset_is_an_error_or_eof_never_a_hang() {
    let (client, server) = tcp_pair();
    server.set_linger(Some(Duration::ZERO)).unwrap();
    assert_eq!(server.linger().unwrap(), Some(Duration::ZERO));
    drop(server); // RST instead of FIN
    wait(&client, Interest::READABLE);
    match (&client).read(&mut [0u8; 8]) {
        Ok(0) => {}
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e:?}"),
        Ok(n) => panic!("read {n} bytes from a reset connection"),
    }
    let e = (&client).write(b"x").unwrap_err();
    assert!(
        matches!(
            e.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ),
        "{e:?}"
    );
}

#[test]
fn sixteen_mib_through_a_tcp_pair_arrive_intact() {
    let (client, mut server) = tcp_pair();
    let data = pattern(16 << 20);
    let got = pump(client, &mut server, &data);
    assert_same_bytes(&got, &data);
}

#[test]
fn vectored_io_and_peek() {
    let (mut client, mut server) = tcp_pair();
    let n = client
        .write_vectored(&[IoSlice::new(b"hello "), IoSlice::new(b"world")])
        .unwrap();
    assert_eq!(n, 11, "a small vectored write to an empty socket is whole");
    let mut peeked = [0u8; 11];
    retry(&server, Interest::READABLE, || server.peek(&mut peeked)).unwrap();
    let (mut a, mut b) = ([0u8; 6], [0u8; 5]);
    let n = server
        .read_vectored(&mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)])
        .unwrap();
    assert_eq!(n, 11);
    assert_eq!((&a, &b), (b"hello ", b"world"));
    assert_eq!(&peeked[..5], b"hello", "peek left the data for read");
}

/// `SO_REUSEADDR` is on from creation on Unix, as std's `TcpListener::bind` sets it
/// (it must be in place before bind); off on Windows, where it would let another socket
/// take the port. The opt-out sticks.
#[test]
fn new_sockets_have_reuseaddr_on_unix_only() {
    let v6 = (std::net::Ipv6Addr::LOCALHOST, 0).into();
    let sockets = [
        ("v4", TcpSocket::v4()),
        ("v6", TcpSocket::v6()),
        ("for_addr v4", TcpSocket::for_addr(localhost())),
        ("for_addr v6", TcpSocket::for_addr(v6)),
    ];
    for (what, socket) in sockets {
        let socket = socket.unwrap();
        assert_eq!(socket.reuseaddr().unwrap(), cfg!(unix), "{what}");
        socket.set_reuseaddr(false).unwrap();
        assert!(!socket.reuseaddr().unwrap(), "{what}: opted out");
    }
}

#[test]
fn options_round_trip() {
    let socket = TcpSocket::v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    assert!(socket.reuseaddr().unwrap());
    // SO_REUSEPORT: not on Windows, illumos or Solaris (TcpSocket::set_reuseport).
    #[cfg(selectio_reuseport)]
    {
        socket.set_reuseport(true).unwrap();
        assert!(socket.reuseport().unwrap());
    }
    socket.set_nodelay(true).unwrap();
    assert!(socket.nodelay().unwrap());
    socket.set_keepalive(true).unwrap();
    assert!(socket.keepalive().unwrap());
    socket.set_linger(Some(Duration::from_secs(3))).unwrap();
    assert_eq!(socket.linger().unwrap(), Some(Duration::from_secs(3)));
    socket.set_send_buffer_size(64 * 1024).unwrap();
    assert!(socket.send_buffer_size().unwrap() >= 64 * 1024);
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    assert!(socket.recv_buffer_size().unwrap() >= 64 * 1024);
    socket.set_ttl(42).unwrap();
    assert_eq!(socket.ttl().unwrap(), 42);
    assert!(socket.take_error().unwrap().is_none());
    let (client, _server) = tcp_pair();
    client.set_nodelay(true).unwrap();
    assert!(client.nodelay().unwrap());
    client.set_ttl(17).unwrap();
    assert_eq!(client.ttl().unwrap(), 17);
    let listener = TcpListener::bind(localhost()).unwrap();
    listener.set_ttl(9).unwrap();
    assert_eq!(listener.ttl().unwrap(), 9);
}

#[test]
fn ipv6_pair_and_hop_limit() {
    if !have_ipv6("ipv6_pair_and_hop_limit") {
        return;
    }
    let (client, server) = tcp_pair_on("[::1]:0".parse().unwrap());
    assert!(client.local_addr().unwrap().is_ipv6());
    client.set_ttl(33).unwrap(); // IPV6_UNICAST_HOPS on an IPv6 socket
    assert_eq!(client.ttl().unwrap(), 33);
    assert_eq!(send_across(&client, &server, b"six"), b"six");
}

#[test]
fn debug_shows_fd_and_addresses() {
    let (client, _server) = tcp_pair();
    let text = format!("{client:?}");
    #[cfg(unix)]
    let fd = std::os::fd::AsRawFd::as_raw_fd(&client);
    #[cfg(windows)]
    let fd = std::os::windows::io::AsRawSocket::as_raw_socket(&client);
    assert!(text.contains(&format!("fd: {fd}")), "{text}");
    assert!(
        text.contains(&client.local_addr().unwrap().to_string()),
        "{text}"
    );
    assert!(
        text.contains(&client.peer_addr().unwrap().to_string()),
        "{text}"
    );
    let socket = TcpSocket::v4().unwrap();
    assert!(format!("{socket:?}").contains("TcpSocket"));
}

#[test]
fn from_std_makes_sockets_nonblocking_and_into_std_gives_them_back() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let listener = TcpListener::from_std(std_listener).unwrap();
    assert_flags(&listener);
    let std_client = std::net::TcpStream::connect(addr).unwrap(); // blocking connect
    let client = TcpStream::from_std(std_client).unwrap();
    assert_flags(&client);
    let (server, _) = retry(&listener, Interest::READABLE, || listener.accept()).unwrap();
    let std_server = server.into_std();
    assert_flags(&std_server); // into_std keeps the flags
    let _ = listener.into_std();
}

#[test]
fn binding_an_address_in_use_is_addr_in_use() {
    let first = TcpListener::bind(localhost()).unwrap();
    let addr = first.local_addr().unwrap();
    let e = TcpListener::bind(addr).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e:?}");
    let e = TcpSocket::v4().unwrap().bind(addr).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e:?}");
}

#[test]
fn binding_an_address_of_the_other_family_is_invalid_input() {
    let e = TcpSocket::v4()
        .unwrap()
        .bind("[::1]:0".parse().unwrap())
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e:?}");
    assert!(e.to_string().contains("wrong address family"), "{e}");
}

#[test]
fn connect_reports_refusal_as_an_error() {
    let addr = {
        let gone = TcpListener::bind(localhost()).unwrap();
        gone.local_addr().unwrap()
    };
    // Either refused at once, or in progress and refused through take_error.
    match TcpStream::connect(addr) {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e:?}"),
        Ok(stream) => {
            wait(&stream, Interest::WRITABLE);
            let e = stream.take_error().unwrap().expect("an error");
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e:?}");
        }
    }
}
