//! Helpers shared by `tests/net` and `tests/pipe`: flag checks, waiting for readiness
//! with the `DefaultSelector`, a bound TCP socket, sending a few bytes across a stream
//! pair, pumping bytes through a non-blocking writer and reader, and unique socket paths.
#![allow(dead_code)]

use std::io::{self, Read, Write};
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use selectio::net::TcpSocket;
use selectio::{DefaultSelector, Events, Interest, Mode, Selector, Source, Token};

/// The longest any test waits for readiness before it fails (never needed on a
/// working system: loopback events arrive in microseconds).
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Asserts that `fd` is non-blocking and close-on-exec.
#[cfg(unix)]
#[track_caller]
#[allow(unsafe_code)] // fcntl(2): std has no getter for these flags
pub fn assert_flags(fd: &impl AsFd) {
    let fd = fd.as_fd().as_raw_fd();
    // SAFETY: fcntl(F_GETFL/F_GETFD) only reads the flags of `fd`, which the borrow keeps
    // open for the call.
    let (fl, fdfl) = unsafe {
        (
            libc::fcntl(fd, libc::F_GETFL),
            libc::fcntl(fd, libc::F_GETFD),
        )
    };
    assert!(
        fl >= 0 && fdfl >= 0,
        "fcntl({fd}): {}",
        std::io::Error::last_os_error()
    );
    assert!(fl & libc::O_NONBLOCK != 0, "fd {fd} lacks O_NONBLOCK");
    assert!(fdfl & libc::FD_CLOEXEC != 0, "fd {fd} lacks FD_CLOEXEC");
}

/// Windows: checks nothing. Winsock has no call that reads a socket's non-blocking mode
/// back (FIONBIO only sets it), and std creates every socket non-inheritable
/// (WSA_FLAG_NO_HANDLE_INHERIT); the tests' `WouldBlock` paths show the mode instead.
#[cfg(windows)]
pub fn assert_flags(_socket: &impl std::os::windows::io::AsSocket) {}

/// 127.0.0.1, port 0: bind there for a free loopback port.
pub fn localhost() -> std::net::SocketAddr {
    (std::net::Ipv4Addr::LOCALHOST, 0).into()
}

/// An IPv4 TCP socket bound to a free loopback port, for `listen` or `listen_now`.
#[track_caller]
pub fn bound_tcp_socket() -> TcpSocket {
    let socket = TcpSocket::v4().unwrap();
    socket.bind(localhost()).unwrap();
    socket
}

/// A loopback port nobody listens on: bound by a socket that is then closed.
#[track_caller]
pub fn closed_port() -> std::net::SocketAddr {
    bound_tcp_socket().local_addr().unwrap()
}

/// Waits until `fd` is ready for `interest`; panics after [`TIMEOUT`].
#[track_caller]
pub fn wait(fd: &impl Source, interest: Interest) {
    let selector = DefaultSelector::new().expect("selector");
    let fd = fd.source();
    selector
        .register(fd, Token(7), interest, Mode::Level)
        .expect("register");
    let mut events = Events::with_capacity(4).expect("events");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "fd {fd:?} not ready for {interest:?} within {TIMEOUT:?}"
        );
        match selector.select(&mut events, Some(left)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("select: {e}"),
        }
        if events.iter().any(|e| e.token() == Token(7)) {
            break;
        }
    }
    selector.deregister(fd).expect("deregister");
}

/// `op` retried after waiting for `interest` on `fd` while it returns `WouldBlock`.
#[track_caller]
pub fn retry<T>(
    fd: &impl Source,
    interest: Interest,
    mut op: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait(fd, interest),
            other => return other,
        }
    }
}

/// Writes `bytes` into the non-blocking stream `from` and reads as many back from `to`
/// (waiting for it to be readable): what arrived.
#[track_caller]
pub fn send_across<S: Source>(from: &S, to: &S, bytes: &[u8]) -> Vec<u8>
where
    for<'a> &'a S: Read + Write,
{
    let mut from = from;
    from.write_all(bytes).unwrap();
    let mut buf = vec![0u8; bytes.len()];
    retry(to, Interest::READABLE, || {
        let mut to = to;
        to.read_exact(&mut buf)
    })
    .unwrap();
    buf
}

/// Deterministic test bytes: no short period, so a lost or repeated chunk shows.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + i / 251) % 253) as u8).collect()
}

const WRITER: Token = Token(0);
const READER: Token = Token(1);

/// Writes all of `data` into `writer` and reads from `reader` until end of file, both
/// non-blocking, driven by one `DefaultSelector` (Level mode). `writer` is dropped
/// once everything is written, which is how the reader's side sees the end.
pub fn pump<W, R>(writer: W, reader: &mut R, data: &[u8]) -> Vec<u8>
where
    W: Write + Source,
    R: Read + Source,
{
    let selector = DefaultSelector::new().expect("selector");
    let mut events = Events::with_capacity(8).expect("events");
    let mut writer = Some(writer);
    let wfd = writer.as_ref().map(|w| w.source()).expect("writer");
    selector
        .register(wfd, WRITER, Interest::WRITABLE, Mode::Level)
        .expect("register writer");
    selector
        .register(reader.source(), READER, Interest::READABLE, Mode::Level)
        .expect("register reader");
    let (mut sent, mut received, mut eof) = (0, Vec::with_capacity(data.len()), false);
    let deadline = Instant::now() + TIMEOUT * 3;
    while !eof {
        assert!(
            Instant::now() < deadline,
            "pump stalled: sent {sent}, received {}",
            received.len()
        );
        match selector.select(&mut events, Some(TIMEOUT)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("select: {e}"),
        }
        for event in events.iter() {
            if event.token() == WRITER {
                if let Some(w) = writer.as_mut() {
                    sent += write_some(w, &data[sent..]);
                }
                if sent == data.len() {
                    if let Some(w) = writer.take() {
                        selector.deregister(w.source()).expect("deregister writer");
                    }
                }
            } else if event.token() == READER {
                eof = read_some(reader, &mut received);
            }
        }
    }
    selector
        .deregister(reader.source())
        .expect("deregister reader");
    assert!(
        writer.is_none(),
        "the reader saw EOF before everything was written"
    );
    received
}

/// Writes until `WouldBlock` or everything is written; returns the bytes written.
fn write_some(w: &mut impl Write, data: &[u8]) -> usize {
    let mut n = 0;
    while n < data.len() {
        let end = (n + 256 * 1024).min(data.len());
        match w.write(&data[n..end]) {
            Ok(0) => panic!("write returned 0"),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("write: {e}"),
        }
    }
    n
}

/// Reads until `WouldBlock` (returns false) or end of file (returns true).
fn read_some(r: &mut impl Read, out: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return true,
            Ok(k) => out.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Asserts that `got` equals `want`, naming the first differing offset.
#[track_caller]
pub fn assert_same_bytes(got: &[u8], want: &[u8]) {
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("byte {i} differs: got {}, want {}", got[i], want[i]);
    }
    assert_eq!(got.len(), want.len(), "length differs");
}

/// A fresh path for a Unix socket in the temp directory (removed first if present).
pub fn socket_path(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path =
        std::env::temp_dir().join(format!("selectio-{}-{n}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}
