//! The `Connect` and `Listen` hooks the EventLoop uses: outcomes, stored errors,
//! backlogs, and the caller's mistakes.

use std::io;
use std::net::SocketAddr;
#[cfg(unix)]
use std::path::Path;

use selectio::net::{Connect, Listen, TcpListener, TcpSocket, TcpStream};
#[cfg(unix)]
use selectio::net::{UnixListener, UnixSocket, UnixStream};
use selectio::Interest;

use crate::tcp::have_ipv6;
#[cfg(unix)]
use crate::util::net::socket_path;
use crate::util::net::{assert_flags, bound_tcp_socket, localhost, retry, wait};

/// A Unix socket bound to `path`, for `listen_now`.
#[cfg(unix)]
fn bound_unix_socket(path: &Path) -> UnixSocket {
    let socket = UnixSocket::new().unwrap();
    socket.bind(path).unwrap();
    socket
}

/// A non-blocking connect of a new Unix socket to `path` that fails at once with `kind`,
/// the error stored in the socket too (`take_error`, which takes it): the socket.
#[cfg(unix)]
#[track_caller]
fn unix_connect_failing_at_once(path: &Path, kind: io::ErrorKind) -> UnixStream {
    let (stream, outcome) = UnixSocket::new()
        .unwrap()
        .connect_nonblocking(path)
        .unwrap();
    match outcome {
        Some(Err(e)) => assert_eq!(e.kind(), kind, "{e:?}"),
        other => panic!("expected {kind:?} at once, got {other:?}"),
    }
    let e = stream.take_error().unwrap().expect("the stored error");
    assert_eq!(e.kind(), kind, "{e:?}");
    stream
}

/// `socket` connecting to `addr`, an address of the other family: `InvalidInput`.
#[track_caller]
fn assert_other_family_is_invalid_input(socket: TcpSocket, addr: &str) {
    let addr: SocketAddr = addr.parse().unwrap();
    let e = socket.connect_nonblocking(&addr).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e:?}");
}

#[test]
fn tcp_connect_with_an_address_of_the_other_family_is_invalid_input() {
    assert_other_family_is_invalid_input(TcpSocket::v4().unwrap(), "[::1]:9");
    if have_ipv6("tcp_connect_with_an_address_of_the_other_family_is_invalid_input (v6)") {
        assert_other_family_is_invalid_input(TcpSocket::v6().unwrap(), "127.0.0.1:9");
    }
}

#[test]
fn tcp_connect_in_progress_becomes_writable_without_error() {
    let listener = TcpListener::bind(localhost()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stream, outcome) = TcpSocket::v4().unwrap().connect_nonblocking(&addr).unwrap();
    assert!(matches!(outcome, None | Some(Ok(()))), "{outcome:?}");
    assert_flags(&stream);
    wait(&stream, Interest::WRITABLE);
    assert!(stream.take_error().unwrap().is_none());
    assert_eq!(stream.peer_addr().unwrap(), addr);
}

/// A refused connection is reported once, whether connect(2) said so at once (the
/// stored error) or later (`SO_ERROR`).
#[test]
fn tcp_connect_refused_is_reported_once() {
    let addr = TcpListener::bind(localhost())
        .unwrap()
        .local_addr()
        .unwrap();
    let (stream, outcome) = TcpSocket::v4().unwrap().connect_nonblocking(&addr).unwrap();
    match outcome {
        Some(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e:?}"),
        None => wait(&stream, Interest::WRITABLE),
        Some(Ok(())) => panic!("connected to a closed port"),
    }
    let e = stream.take_error().unwrap().expect("the refusal");
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e:?}");
    assert!(stream.take_error().unwrap().is_none(), "reported twice");
}

#[cfg(unix)] // Unix-domain sockets exist on Unix only.
#[test]
fn unix_connect_to_a_listener_completes_at_once() {
    let path = socket_path("hook-connect");
    let listener = UnixListener::bind(&path).unwrap();
    let (stream, outcome) = UnixSocket::new()
        .unwrap()
        .connect_nonblocking(&path)
        .unwrap();
    // Linux and the BSDs connect Unix stream sockets synchronously.
    assert!(matches!(outcome, Some(Ok(()))), "{outcome:?}");
    assert_flags(&stream);
    assert!(stream.take_error().unwrap().is_none());
    let (accepted, _) = retry(&listener, Interest::READABLE, || listener.accept()).unwrap();
    assert_flags(&accepted);
    std::fs::remove_file(&path).unwrap();
}

#[cfg(unix)] // Unix-domain sockets exist on Unix only.
#[test]
fn unix_connect_to_a_missing_path_is_not_found_once() {
    let path = socket_path("hook-missing");
    let stream = unix_connect_failing_at_once(&path, io::ErrorKind::NotFound);
    assert!(stream.take_error().unwrap().is_none(), "reported twice");
}

#[cfg(unix)] // Unix-domain sockets exist on Unix only.
#[test]
fn unix_connect_to_a_path_longer_than_sun_path_is_invalid_input() {
    let long = format!("/tmp/{}", "x".repeat(200));
    let e = UnixSocket::new()
        .unwrap()
        .connect_nonblocking(Path::new(&long))
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e:?}");
    assert!(e.to_string().contains("sun_path"), "{e}");
}

/// Linux: a non-blocking Unix connect to a listener whose backlog is full fails with
/// EAGAIN and leaves the socket unconnected, so it is a failure, not "in progress".
#[cfg(target_os = "linux")]
#[test]
fn unix_connect_to_a_full_backlog_is_would_block_not_in_progress() {
    let path = socket_path("hook-full");
    let _listener = bound_unix_socket(&path).listen_now(0).unwrap();
    // Backlog 0 queues one connection (unix_recvq_full tests `>`).
    let (_first, outcome) = UnixSocket::new()
        .unwrap()
        .connect_nonblocking(&path)
        .unwrap();
    assert!(matches!(outcome, Some(Ok(()))), "{outcome:?}");
    let second = unix_connect_failing_at_once(&path, io::ErrorKind::WouldBlock);
    assert!(
        second.peer_addr().is_err(),
        "the second socket is not connected"
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn listen_with_backlog_zero_still_accepts_a_connection() {
    let listener = bound_tcp_socket().listen_now(0).unwrap();
    assert_flags(&listener);
    let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = retry(&listener, Interest::READABLE, || listener.accept()).unwrap();
    assert_flags(&server);
}

/// Linux and the BSDs take a negative backlog as the maximum (`somaxconn`).
#[test]
fn listen_with_a_negative_backlog_is_the_maximum() {
    let listener = bound_tcp_socket().listen_now(-1).unwrap();
    let addr = listener.local_addr().unwrap();
    let clients: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for _ in &clients {
        retry(&listener, Interest::READABLE, || listener.accept()).unwrap();
    }
}

#[test]
fn listen_on_an_unbound_tcp_socket_picks_a_port() {
    let listener = TcpSocket::v4().unwrap().listen_now(16).unwrap();
    assert_ne!(listener.local_addr().unwrap().port(), 0);
}

#[cfg(unix)] // Unix-domain sockets exist on Unix only.
#[test]
fn listen_on_an_unbound_unix_socket_says_bind_it_first() {
    let e = UnixSocket::new().unwrap().listen_now(16).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e:?}");
    assert!(e.to_string().contains("bind it first"), "{e}");
}

#[cfg(unix)] // Unix-domain sockets exist on Unix only.
#[test]
fn unix_listen_hook_accepts() {
    let path = socket_path("hook-listen");
    let listener = bound_unix_socket(&path).listen_now(8).unwrap();
    assert_flags(&listener);
    let _client = UnixSocket::new().unwrap().connect(&path).unwrap();
    retry(&listener, Interest::READABLE, || listener.accept()).unwrap();
    std::fs::remove_file(&path).unwrap();
}
