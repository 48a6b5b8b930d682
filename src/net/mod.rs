//! Networking types: TCP, UDP and Unix-domain sockets, non-blocking and close-on-exec from birth.
//!
//! Every socket here is created non-blocking and close-on-exec in the creating call
//! where the OS can (`SOCK_NONBLOCK|SOCK_CLOEXEC`, `accept4(2)`), and right after it
//! elsewhere (Apple, Windows). Writes never raise `SIGPIPE`: stream sends pass
//! `MSG_NOSIGNAL`, and Apple sockets get `SO_NOSIGPIPE` at creation; a write to a peer
//! that is gone returns `BrokenPipe` or `ConnectionReset`.
//!
//! The types wrap an owned socket and know nothing about backends: register them with
//! an [`EventLoop`](crate::EventLoop) or any [`Selector`](crate::Selector) through
//! [`Source`](crate::Source). Operations that would block return `WouldBlock`.
//!
//! `TcpSocket` and `UnixSocket` are unconnected sockets to configure, then to
//! [`Connect`] or [`Listen`] — either directly (`connect`, `listen`) or through the
//! `EventLoop`'s race-free `connect`/`listen`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, Ordering};

mod accept;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
mod unix_datagram;

#[cfg(all(test, unix))]
mod sigpipe_tests;

pub use accept::{Accept, Acceptor};
pub use tcp::{TcpAcceptor, TcpListener, TcpSocket, TcpStream};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixListener, UnixSocket, UnixStream};
#[cfg(unix)]
pub use unix_datagram::UnixDatagram;

mod private {
    /// Seals [`Connect`](super::Connect) and [`Listen`](super::Listen).
    pub trait Sealed {}
}

/// Sockets the EventLoop can connect race-free (sealed).
pub trait Connect: private::Sealed {
    /// The address type (SocketAddr for TCP, a Path or unix SocketAddr for Unix).
    type Addr: ?Sized;
    /// What a connecting socket becomes.
    type Stream: crate::Source;
    /// Issues a non-blocking connect(2). Ok((stream, None)) = in progress (EINPROGRESS,
    /// or an interrupted connect, which POSIX says goes on asynchronously);
    /// Ok((stream, Some(Ok(())))) = connected at once; Ok((stream, Some(Err(e)))) =
    /// failed at once with an error that belongs to the connection (ECONNREFUSED,
    /// ENOENT for a Unix path, ENETUNREACH, EHOSTUNREACH, ETIMEDOUT, EACCES, and EAGAIN
    /// for a Unix listener whose backlog is full: the socket is then *not* connected,
    /// Linux unix_stream_connect) — then the stream stores `e` and its `take_error()`
    /// returns it once (before looking at SO_ERROR). Err(e) = the caller's fault,
    /// nothing happened: wrong address family (InvalidInput), path too long
    /// (InvalidInput), EISCONN, EALREADY, EBADF, ENOTSOCK, EINVAL, EAFNOSUPPORT.
    #[doc(hidden)]
    fn connect_nonblocking(
        self,
        addr: &Self::Addr,
    ) -> io::Result<(Self::Stream, Option<io::Result<()>>)>;
}

/// Sockets the EventLoop can listen on (sealed).
pub trait Listen: private::Sealed {
    /// What a listening socket becomes.
    type Listener: crate::Source;
    /// listen(2) with `backlog` passed to the OS unchanged. Linux clamps it to
    /// `net.core.somaxconn` after casting it to unsigned (net/socket.c `__sys_listen`:
    /// `if ((unsigned int)backlog > somaxconn) backlog = somaxconn`), so a negative
    /// backlog means "the maximum"; 0 still queues one connection
    /// (`sk_acceptq_is_full` tests `>`). The BSDs and Apple also turn a negative backlog
    /// into `somaxconn` (`solisten`). A Unix socket must be bound first.
    #[doc(hidden)]
    fn listen_now(self, backlog: i32) -> io::Result<Self::Listener>;
}

/// The error a connect(2) failed with at once, kept until `take_error` reports it.
#[derive(Debug, Default)]
struct ConnectError {
    errno: AtomicI32,
    /// Windows: the error code `take` reported last. Reading `SO_ERROR` does not clear it
    /// there (a refused connect reads "refused" on every call: dotnet/corefx#8464, and
    /// Wine alike), so the same code again is no new error.
    #[cfg(windows)]
    reported: AtomicI32,
}

impl ConnectError {
    /// Keeps `err`; an error without an OS code cannot come from connect(2).
    fn from_result(result: &Option<io::Result<()>>) -> ConnectError {
        let errno = match result {
            Some(Err(e)) => e.raw_os_error().unwrap_or(0),
            _ => 0,
        };
        let kept = ConnectError::default();
        kept.errno.store(errno, Ordering::Relaxed);
        kept
    }

    /// The kept error, once; then `so_error` (the socket's `SO_ERROR`).
    fn take(
        &self,
        so_error: impl FnOnce() -> io::Result<Option<io::Error>>,
    ) -> io::Result<Option<io::Error>> {
        let err = match self.errno.swap(0, Ordering::Relaxed) {
            0 => so_error()?,
            errno => Some(io::Error::from_raw_os_error(errno)),
        };
        #[cfg(windows)]
        if let Some(code) = err.as_ref().and_then(io::Error::raw_os_error) {
            if self.reported.swap(code, Ordering::Relaxed) == code {
                return Ok(None);
            }
        }
        Ok(err)
    }
}

/// An `InvalidInput` error with `msg`.
fn invalid_input(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Shows an address in `Debug` output, or `?` when the lookup failed.
struct ShowAddr<A>(io::Result<A>);

impl<A: fmt::Debug> fmt::Debug for ShowAddr<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Ok(addr) => addr.fmt(f),
            Err(_) => f.write_str("?"),
        }
    }
}

/// Implements `Debug` as `$ty { fd: …, $field: … }`: the descriptor, then each address
/// `self.$addr()` under the name `$field`, shown by [`ShowAddr`], then each address
/// after `if_ok` only where there is one (a datagram socket's peer once connected).
macro_rules! impl_debug {
    ($ty:ident $(, $field:ident = $addr:ident)* $(; if_ok $opt:ident = $opt_addr:ident)*) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut d = f.debug_struct(stringify!($ty));
                d.field("fd", &$crate::source::raw($crate::Source::source(self)));
                $(d.field(stringify!($field), &$crate::net::ShowAddr(self.$addr()));)*
                $(if let Ok(addr) = self.$opt_addr() {
                    d.field(stringify!($opt), &addr);
                })*
                d.finish()
            }
        }
    };
}
pub(crate) use impl_debug;

/// Implements, for each `$ty`, a wrapper of `inner: $std` (and of the other fields
/// listed, which start as given): `from_std`, which passes its argument `$arg` through
/// `$adopt` (which makes it non-blocking and close-on-exec) and wraps it; `into_std`,
/// which gives `inner` back; and the crate's `from_std_unchecked`, which wraps one as it
/// is (for `FromRawFd`, and for sockets born non-blocking). The doc comments written
/// before `from_std` and `into_std` are theirs.
macro_rules! impl_std {
    ($(
        $ty:ident { inner: $std:ty $(, $field:ident: $value:expr)* },
        $(#[$from_doc:meta])* fn from_std($arg:ident) = $adopt:expr;
        $(#[$into_doc:meta])* fn into_std;
    )*) => {$(
        impl $ty {
            $(#[$from_doc])*
            pub fn from_std($arg: $std) -> std::io::Result<$ty> {
                $adopt?;
                Ok($ty::from_std_unchecked($arg))
            }

            $(#[$into_doc])*
            pub fn into_std(self) -> $std {
                self.inner
            }

            /// Wraps `inner` as it is, flags unchanged.
            pub(crate) fn from_std_unchecked(inner: $std) -> $ty {
                $ty { inner $(, $field: $value)* }
            }
        }
    )*};
}
pub(crate) use impl_std;

/// Implements the descriptor traits (`AsRawFd`, `AsFd`, `IntoRawFd` on Unix;
/// `AsRawSocket`, `AsSocket`, `IntoRawSocket` on Windows) by delegating to `self.inner`.
/// `FromRawFd`/`FromRawSocket` are in `crate::sys::socket` (they are `unsafe`).
macro_rules! impl_descriptor {
    ($($ty:ty),*) => {$(
        #[cfg(unix)]
        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&self.inner)
            }
        }
        #[cfg(unix)]
        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(&self.inner)
            }
        }
        #[cfg(unix)]
        impl std::os::fd::IntoRawFd for $ty {
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                std::os::fd::IntoRawFd::into_raw_fd(self.inner)
            }
        }
        #[cfg(windows)]
        impl std::os::windows::io::AsRawSocket for $ty {
            fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
                std::os::windows::io::AsRawSocket::as_raw_socket(&self.inner)
            }
        }
        #[cfg(windows)]
        impl std::os::windows::io::AsSocket for $ty {
            fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
                std::os::windows::io::AsSocket::as_socket(&self.inner)
            }
        }
        #[cfg(windows)]
        impl std::os::windows::io::IntoRawSocket for $ty {
            fn into_raw_socket(self) -> std::os::windows::io::RawSocket {
                std::os::windows::io::IntoRawSocket::into_raw_socket(self.inner)
            }
        }
    )*};
}
pub(crate) use impl_descriptor;

/// Implements `Read` for `$ty` and for `&$ty` (a shared stream can be read, as with
/// std's): both read `&self.inner` (`recv(2)`/`read(2)`, `readv(2)`).
macro_rules! impl_read {
    ($ty:ty) => {
        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::io::Read::read(&mut &*self, buf)
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                std::io::Read::read_vectored(&mut &*self, bufs)
            }
        }

        impl std::io::Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::io::Read::read(&mut &self.inner, buf)
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                std::io::Read::read_vectored(&mut &self.inner, bufs)
            }
        }
    };
}
pub(crate) use impl_read;

/// Implements `Write` for `$ty` and for `&$ty` (a shared stream can be written, as
/// with std's); `$ty` writes through `&$ty`, and `flush` does nothing (nothing is
/// buffered). `&$ty` writes:
/// - `write for $ty`: to `&self.inner` (`write(2)`, `writev(2)`: pipes);
/// - `send for $ty`: with `send(2)`/`sendmsg(2)` and
///   [`SEND_FLAGS`](crate::sys::socket::SEND_FLAGS) (stream sockets, never `SIGPIPE`).
///   The doc comments before `send` are those of `<&$ty as Write>::write`.
macro_rules! impl_write {
    (write for $ty:ty) => {
        $crate::net::impl_write!(@by_ref $ty);

        impl std::io::Write for &$ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::io::Write::write(&mut &self.inner, buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                std::io::Write::write_vectored(&mut &self.inner, bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
    ($(#[$write_doc:meta])* send for $ty:ty) => {
        $crate::net::impl_write!(@by_ref $ty);

        impl std::io::Write for &$ty {
            $(#[$write_doc])*
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                socket2::SockRef::from(&self.inner)
                    .send_with_flags(buf, $crate::sys::socket::SEND_FLAGS)
            }

            /// `sendmsg(2)` with `MSG_NOSIGNAL`.
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                socket2::SockRef::from(&self.inner)
                    .send_vectored_with_flags(bufs, $crate::sys::socket::SEND_FLAGS)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
    // `Write for $ty`, through `&$ty`.
    (@by_ref $ty:ty) => {
        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::io::Write::write(&mut &*self, buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                std::io::Write::write_vectored(&mut &*self, bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}
pub(crate) use impl_write;

/// The IP address of a socket address from the OS, or an error if it is not one.
fn inet_addr(addr: socket2::SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "selectio: expected an IP socket address, got family {}",
                addr.family()
            ),
        )
    })
}

/// Whether `socket` is an IPv6 socket (`None` when the OS cannot say: an unbound
/// socket on Windows, whose `getsockname` fails).
fn is_v6(socket: &socket2::Socket) -> Option<bool> {
    socket.local_addr().ok()?.as_socket().map(|a| a.is_ipv6())
}

/// Sets the time-to-live of outgoing packets: `IP_TTL` on IPv4, `IPV6_UNICAST_HOPS`
/// (the hop limit) on IPv6.
fn set_ttl(socket: &socket2::Socket, ttl: u32) -> io::Result<()> {
    // IP_TTL takes 1..=255, IPV6_UNICAST_HOPS 0..=255 (ip(7), ipv6(7)); the OS says only
    // EINVAL, and u32::MAX would reach it as -1, "reset to the default".
    let v6 = is_v6(socket) == Some(true);
    if ttl > 255 || (ttl == 0 && !v6) {
        return Err(invalid_input(format!(
            "selectio: TTL {ttl} is out of range ({}..=255)",
            u8::from(!v6)
        )));
    }
    match v6 {
        true => socket.set_unicast_hops_v6(ttl),
        false => socket.set_ttl_v4(ttl),
    }
}

/// The time-to-live (IPv4) or hop limit (IPv6) of outgoing packets.
fn ttl(socket: &socket2::Socket) -> io::Result<u32> {
    match is_v6(socket) {
        Some(true) => socket.unicast_hops_v6(),
        _ => socket.ttl_v4(),
    }
}
