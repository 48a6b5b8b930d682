//! Unix-domain sockets: streams through a listener and in pairs, abstract addresses,
//! datagrams from unbound senders, and paths that do not fit.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use selectio::net::{UnixDatagram, UnixListener, UnixSocket, UnixStream};
use selectio::Interest;

use crate::util::net::{
    assert_flags, assert_same_bytes, pattern, pump, retry, send_across, socket_path,
};

#[test]
fn unix_stream_through_a_listener() {
    let path = socket_path("listener");
    let listener = UnixListener::bind(&path).unwrap();
    assert_flags(&listener);
    assert_eq!(
        listener.local_addr().unwrap().as_pathname(),
        Some(path.as_path())
    );
    let client = UnixStream::connect(&path).unwrap();
    assert_flags(&client);
    let (server, addr) = retry(&listener, Interest::READABLE, || listener.accept()).unwrap();
    assert_flags(&server);
    assert!(
        addr.is_unnamed(),
        "an unbound client's address is unnamed: {addr:?}"
    );
    assert_eq!(
        client.peer_addr().unwrap().as_pathname(),
        Some(path.as_path())
    );
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert!(listener.take_error().unwrap().is_none());

    assert_eq!(send_across(&client, &server, b"over unix"), b"over unix");
    let text = format!("{client:?}");
    assert!(
        text.contains("fd") && text.contains(path.to_str().unwrap()),
        "{text}"
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn accept_reports_a_bound_clients_path() {
    let path = socket_path("named-server");
    let client_path = socket_path("named-client");
    let listener = UnixListener::bind(&path).unwrap();
    let socket = UnixSocket::new().unwrap();
    socket.bind(&client_path).unwrap();
    let _client = socket.connect(&path).unwrap();
    let (_server, addr) = retry(&listener, Interest::READABLE, || listener.accept()).unwrap();
    assert_eq!(addr.as_pathname(), Some(client_path.as_path()));
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&client_path).unwrap();
}

#[test]
fn unix_pair_half_close_and_bulk_transfer() {
    let (a, b) = UnixStream::pair().unwrap();
    assert_flags(&a);
    assert_flags(&b);
    a.shutdown(Shutdown::Write).unwrap();
    assert_eq!(
        retry(&b, Interest::READABLE, || (&b).read(&mut [0u8; 4])).unwrap(),
        0
    );
    assert_eq!(
        (&a).write(b"x").unwrap_err().kind(),
        io::ErrorKind::BrokenPipe
    );
    send_across(&b, &a, b"back");
    assert!(a.take_error().unwrap().is_none());

    let (writer, mut reader) = UnixStream::pair().unwrap();
    let data = pattern(1 << 20);
    assert_same_bytes(&pump(writer, &mut reader, &data), &data);
}

#[cfg(selectio_linux_like)]
#[test]
fn abstract_addresses_bind_connect_and_accept() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::SocketAddr;
    let name = format!("selectio-test-{}-abstract", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = UnixListener::bind_addr(&addr).unwrap();
    assert_eq!(
        listener.local_addr().unwrap().as_abstract_name(),
        Some(name.as_bytes())
    );
    let client_name = format!("{name}-client");
    let socket = UnixSocket::new().unwrap();
    socket
        .bind_addr(&SocketAddr::from_abstract_name(client_name.as_bytes()).unwrap())
        .unwrap();
    let client = socket.connect_addr(&addr).unwrap();
    let (_server, from) = retry(&listener, Interest::READABLE, || listener.accept()).unwrap();
    assert_eq!(from.as_abstract_name(), Some(client_name.as_bytes()));
    assert_eq!(
        client.peer_addr().unwrap().as_abstract_name(),
        Some(name.as_bytes())
    );
    let _plain = UnixStream::connect_addr(&addr).unwrap();
}

/// The longest path that fits works; one byte more is `InvalidInput` naming the
/// limit, for every call that takes a path. Nothing is truncated.
#[test]
fn paths_longer_than_sun_path_are_invalid_input() {
    let max = if cfg!(any(target_os = "linux", target_os = "android")) {
        107
    } else {
        103
    };
    let dir = std::env::temp_dir();
    let stem = format!("{}/selectio-{}-", dir.display(), std::process::id());
    let fits = format!("{stem}{}", "f".repeat(max - stem.len()));
    assert_eq!(fits.len(), max);
    let _ = std::fs::remove_file(&fits);
    let listener = UnixListener::bind(&fits).unwrap();
    assert_eq!(
        listener
            .local_addr()
            .unwrap()
            .as_pathname()
            .unwrap()
            .to_str(),
        Some(fits.as_str())
    );
    let _client = UnixStream::connect(&fits).unwrap();
    std::fs::remove_file(&fits).unwrap();

    let long = format!("{fits}g");
    let check = |e: io::Error| {
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e:?}");
        assert!(
            e.to_string().contains(&format!("the {max} that sun_path")),
            "{e}"
        );
    };
    check(UnixListener::bind(&long).unwrap_err());
    check(UnixStream::connect(&long).unwrap_err());
    check(UnixSocket::new().unwrap().bind(&long).unwrap_err());
    check(UnixDatagram::bind(&long).unwrap_err());
    check(
        UnixDatagram::unbound()
            .unwrap()
            .send_to(b"x", &long)
            .unwrap_err(),
    );
    check(UnixDatagram::unbound().unwrap().connect(&long).unwrap_err());
    assert!(
        !std::path::Path::new(&long[..max]).exists(),
        "a truncated path was created"
    );
}

#[test]
fn an_empty_path_is_invalid_input() {
    let e = UnixListener::bind("").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e:?}");
}

#[test]
fn datagram_from_an_unbound_sender() {
    let path = socket_path("dgram");
    let receiver = UnixDatagram::bind(&path).unwrap();
    let sender = UnixDatagram::unbound().unwrap();
    assert_flags(&receiver);
    assert_flags(&sender);
    let mut buf = [0u8; 16];
    assert_eq!(
        receiver.recv_from(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert_eq!(sender.send_to(b"anon", &path).unwrap(), 4);
    let (n, from) = retry(&receiver, Interest::READABLE, || {
        receiver.recv_from(&mut buf)
    })
    .unwrap();
    assert_eq!(&buf[..n], b"anon");
    assert!(from.is_unnamed(), "{from:?}");
    assert_eq!(
        sender
            .send_to_addr(b"", &receiver.local_addr().unwrap())
            .unwrap(),
        0
    );
    let (n, _) = retry(&receiver, Interest::READABLE, || {
        receiver.recv_from(&mut buf)
    })
    .unwrap();
    assert_eq!(n, 0, "an empty datagram arrives as one");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn datagram_pair_and_connect() {
    let (a, b) = UnixDatagram::pair().unwrap();
    assert_flags(&a);
    assert_flags(&b);
    a.send(b"one").unwrap();
    let mut buf = [0u8; 8];
    let n = retry(&b, Interest::READABLE, || b.recv(&mut buf)).unwrap();
    assert_eq!(&buf[..n], b"one");

    let path = socket_path("dgram-connect");
    let server = UnixDatagram::bind(&path).unwrap();
    let client = UnixDatagram::unbound().unwrap();
    assert_eq!(
        client.peer_addr().unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
    assert!(!format!("{client:?}").contains("peer"), "{client:?}");
    client.connect(&path).unwrap();
    assert_eq!(
        client.peer_addr().unwrap().as_pathname(),
        Some(path.as_path())
    );
    let shown = format!("{client:?}");
    assert!(shown.starts_with("UnixDatagram { fd: "), "{shown}");
    assert!(
        shown.contains(&format!("peer: {:?}", client.peer_addr().unwrap())),
        "{shown}"
    );
    client.send(b"two").unwrap();
    let n = retry(&server, Interest::READABLE, || server.recv(&mut buf)).unwrap();
    assert_eq!(&buf[..n], b"two");
    assert!(server.take_error().unwrap().is_none());
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(
        client.send(b"x").unwrap_err().kind(),
        io::ErrorKind::BrokenPipe
    );
    assert!(format!("{server:?}").contains(path.to_str().unwrap()));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn unix_from_std_and_into_std() {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let (a, b) = (
        UnixStream::from_std(a).unwrap(),
        UnixStream::from_std(b).unwrap(),
    );
    assert_flags(&a);
    assert_flags(&b);
    assert_flags(&a.into_std());
    let path = socket_path("from-std");
    let listener =
        UnixListener::from_std(std::os::unix::net::UnixListener::bind(&path).unwrap()).unwrap();
    assert_flags(&listener);
    let (d, _e) = std::os::unix::net::UnixDatagram::pair().unwrap();
    assert_flags(&UnixDatagram::from_std(d).unwrap());
    assert_flags(&listener.into_std());
    std::fs::remove_file(&path).unwrap();
}
