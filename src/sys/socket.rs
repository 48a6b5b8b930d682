//! Socket system calls for `src/net` (the parts socket2 and std do not cover).
//!
//! # Implementation notes
//!
//! - Every socket is born non-blocking and close-on-exec: `SOCK_NONBLOCK|SOCK_CLOEXEC`
//!   in `socket(2)`/`socketpair(2)` and `accept4(2)` where the OS has them
//!   (`cfg(selectio_atomic_sock_flags)`, from `build.rs`); elsewhere (Apple, Windows) the
//!   flags are set right after the creating call.
//! - No `SIGPIPE`: stream sends pass [`SEND_FLAGS`] (`MSG_NOSIGNAL`); on Apple, which has
//!   no public `MSG_NOSIGNAL`, `SO_NOSIGPIPE` is set when the socket is created (socket2
//!   does it in `Socket::new`/`Socket::pair`) and accepted sockets inherit it.
//! - The `FromRawFd`/`FromRawSocket` impls of the socket and pipe types live here because
//!   implementing an `unsafe fn` is `unsafe` code, which the crate allows only in `sys`.

use std::io;

use socket2::{Domain, SockAddr, SockRef, Socket, Type};

cfg_if::cfg_if! {
    if #[cfg(selectio_msg_nosignal)] {
        /// Flags for every `send(2)`/`sendmsg(2)` on a stream socket: `MSG_NOSIGNAL` makes a
        /// write to a peer that went away return `EPIPE` instead of raising `SIGPIPE`
        /// (send(2): "MSG_NOSIGNAL ... don't generate a SIGPIPE signal").
        pub(crate) const SEND_FLAGS: i32 = libc::MSG_NOSIGNAL;
    } else {
        /// No `MSG_NOSIGNAL` here: Apple uses `SO_NOSIGPIPE` (set at creation), Windows has no
        /// signals.
        pub(crate) const SEND_FLAGS: i32 = 0;
    }
}

/// `socket(2)`: a new socket, non-blocking and close-on-exec.
#[doc(alias = "socket")]
pub(crate) fn new_socket(domain: Domain, ty: Type) -> io::Result<Socket> {
    cfg_if::cfg_if! {
        if #[cfg(selectio_atomic_sock_flags)] {
            // One call, no window: SOCK_NONBLOCK here, SOCK_CLOEXEC added by socket2.
            Socket::new(domain, ty.nonblocking(), None)
        } else {
            // Apple and Windows have no SOCK_NONBLOCK. socket2 sets FD_CLOEXEC (Apple:
            // fcntl right after socket(2); a fork in between can leak the fd, and these
            // systems have no atomic way) or creates it non-inheritable (Windows:
            // WSA_FLAG_NO_HANDLE_INHERIT), and SO_NOSIGPIPE on Apple. O_NONBLOCK /
            // FIONBIO follows before anyone else sees the socket.
            let socket = Socket::new(domain, ty, None)?;
            socket.set_nonblocking(true)?;
            Ok(socket)
        }
    }
}

/// `socketpair(2)`: two connected sockets, non-blocking and close-on-exec, each turned
/// into `S` (a std socket type) and wrapped by `wrap`.
#[cfg(unix)]
#[doc(alias = "socketpair")]
pub(crate) fn pair<S: From<Socket>, T>(
    domain: Domain,
    ty: Type,
    wrap: impl Fn(S) -> T,
) -> io::Result<(T, T)> {
    let (a, b) = socket_pair(domain, ty)?;
    Ok((wrap(a.into()), wrap(b.into())))
}

#[cfg(unix)]
fn socket_pair(domain: Domain, ty: Type) -> io::Result<(Socket, Socket)> {
    cfg_if::cfg_if! {
        if #[cfg(selectio_atomic_sock_flags)] {
            // SOCK_NONBLOCK in the creating call; socket2 adds SOCK_CLOEXEC.
            Socket::pair(domain, ty.nonblocking(), None)
        } else {
            // Apple: no SOCK_NONBLOCK/SOCK_CLOEXEC in socketpair(2); socket2 sets
            // FD_CLOEXEC and SO_NOSIGPIPE on both, then O_NONBLOCK here.
            let (a, b) = Socket::pair(domain, ty, None)?;
            a.set_nonblocking(true)?;
            b.set_nonblocking(true)?;
            Ok((a, b))
        }
    }
}

/// `accept(2)`: the next connection of `listener`, non-blocking and close-on-exec.
/// `WouldBlock` when none is waiting.
///
/// One attempt: every error is returned, `ECONNABORTED` (a connection aborted while it
/// was queued: BSDs, macOS, Linux for some protocols) and `EINTR` included. Retrying them
/// here would have no bound (a signal storm, a flood of aborted handshakes) and would hide
/// them from the caller's policy: `net::Acceptor` skips such errors up to its own limit,
/// and a plain listener's caller sees them and decides.
pub(crate) fn accept(listener: &Socket) -> io::Result<(Socket, SockAddr)> {
    cfg_if::cfg_if! {
        if #[cfg(selectio_atomic_sock_flags)] {
            // accept4(2): the new socket is born with both flags, whatever the
            // listener's (Linux accept(2) does not inherit O_NONBLOCK; accept(2) man page).
            listener.accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
        } else {
            // Apple and Windows have no accept4. socket2 sets FD_CLOEXEC (Apple, fcntl
            // right after accept(2): a fork in between can leak the fd) or clears handle
            // inheritance (Windows); O_NONBLOCK / FIONBIO follows. SO_NOSIGPIPE is not
            // set again on Apple: XNU's sonewconn copies SOF_NOSIGPIPE from the listener
            // (bsd/kern/uipc_socket2.c), and setting it on an accepted Unix socket fails
            // with EINVAL (rust-lang/socket2#631).
            let (socket, addr) = listener.accept()?;
            socket.set_nonblocking(true)?;
            Ok((socket, addr))
        }
    }
}

/// Makes a socket that was created elsewhere (`from_std`: any type that owns one, std's
/// included) non-blocking and close-on-exec (non-inheritable on Windows), after the
/// fact: it already exists, so nothing can be atomic here. With `nosigpipe`, also
/// [`set_nosigpipe`].
pub(crate) fn adopt<S>(socket: &S, nosigpipe: bool) -> io::Result<()>
where
    for<'s> SockRef<'s>: From<&'s S>,
{
    let socket = &SockRef::from(socket);
    socket.set_nonblocking(true)?;
    #[cfg(unix)]
    socket.set_cloexec(true)?;
    #[cfg(windows)]
    socket.set_no_inherit(true)?;
    if nosigpipe {
        set_nosigpipe(socket)?;
    }
    Ok(())
}

/// Sets `SO_NOSIGPIPE` on Apple (nothing elsewhere: `MSG_NOSIGNAL` or no signals).
/// For sockets that came from elsewhere (`from_std`) and are not connected Unix sockets
/// (on those Apple refuses it with `EINVAL`, rust-lang/socket2#631).
pub(crate) fn set_nosigpipe(socket: &Socket) -> io::Result<()> {
    cfg_if::cfg_if! {
        if #[cfg(selectio_apple)] {
            socket.set_nosigpipe(true)
        } else {
            let _ = socket;
            Ok(())
        }
    }
}

/// How a non-blocking `connect(2)` ended, for [`crate::net::Connect`]:
/// `Ok(None)` in progress, `Ok(Some(Ok(())))` connected, `Ok(Some(Err(e)))` the
/// connection failed with `e`, `Err(e)` the call was misused and nothing was attempted.
pub(crate) fn connect_outcome(result: io::Result<()>) -> io::Result<Option<io::Result<()>>> {
    match result {
        Ok(()) => Ok(Some(Ok(()))),
        Err(e) if is_os_error(&e, CONNECT_IN_PROGRESS) => Ok(None),
        // A non-OS error (ours, such as a bad address) is the caller's as well.
        Err(e) if e.raw_os_error().is_none() || is_os_error(&e, CONNECT_MISUSED) => Err(e),
        Err(e) => Ok(Some(Err(e))),
    }
}

/// Whether `e` carries one of the OS error codes `codes`.
fn is_os_error(e: &io::Error, codes: &[i32]) -> bool {
    e.raw_os_error().is_some_and(|code| codes.contains(&code))
}

/// `EINPROGRESS`: the handshake goes on (connect(2)). `EINTR`: POSIX says the
/// connection "shall be established asynchronously" after an interrupted connect.
/// Not `EAGAIN`: for a Unix stream socket it means the listener's backlog is full and
/// the socket stays unconnected (Linux unix_stream_connect), so it is a failure.
#[cfg(unix)]
const CONNECT_IN_PROGRESS: &[i32] = &[libc::EINPROGRESS, libc::EINTR];

/// `WSAEWOULDBLOCK` (10035) is Winsock's "in progress" for a non-blocking connect
/// (connect function docs: "WSAEWOULDBLOCK ... the connection cannot be completed
/// immediately"). The codes are Winsock's fixed values (winerror.h).
#[cfg(windows)]
const CONNECT_IN_PROGRESS: &[i32] = &[10035, 10004];

/// Errors that are the caller's fault: the socket or the address was wrong, no
/// connection was attempted (connect(2) ERRORS).
#[cfg(unix)]
const CONNECT_MISUSED: &[i32] = &[
    libc::EISCONN,
    libc::EALREADY,
    libc::EBADF,
    libc::ENOTSOCK,
    libc::EINVAL,
    libc::EAFNOSUPPORT,
    libc::EFAULT,
    libc::ENAMETOOLONG,
    libc::EOPNOTSUPP,
];

/// Winsock's caller errors: WSAEFAULT 10014, WSAEINVAL 10022, WSAEALREADY 10037,
/// WSAENOTSOCK 10038, WSAEAFNOSUPPORT 10047, WSAEISCONN 10056.
#[cfg(windows)]
const CONNECT_MISUSED: &[i32] = &[10014, 10022, 10037, 10038, 10047, 10056];

/// `EMFILE` (this process's limit) or `ENFILE` (the system's), Winsock's `WSAEMFILE`.
pub(crate) fn is_fd_limit(e: &io::Error) -> bool {
    #[cfg(unix)]
    const FD_LIMIT: &[i32] = &[libc::EMFILE, libc::ENFILE];
    #[cfg(not(unix))]
    const FD_LIMIT: &[i32] = &[10024];
    is_os_error(e, FD_LIMIT)
}

/// `ENOBUFS`/`ENOMEM` (accept(2): "Not enough free memory"), Winsock's `WSAENOBUFS`.
pub(crate) fn is_out_of_memory(e: &io::Error) -> bool {
    #[cfg(unix)]
    const OUT_OF_MEMORY: &[i32] = &[libc::ENOBUFS, libc::ENOMEM];
    #[cfg(not(unix))]
    const OUT_OF_MEMORY: &[i32] = &[10055];
    is_os_error(e, OUT_OF_MEMORY)
}

/// accept(2) NOTES (Linux): "Linux accept() passes already-pending network errors on the
/// new socket as an error code from accept() … For reliable operation the application
/// should detect the network errors defined for the protocol after accept() and treat
/// them like EAGAIN by retrying." `EPROTO` is POSIX's "protocol error" for the same case.
pub(crate) fn is_pending_network_error(e: &io::Error) -> bool {
    #[cfg(selectio_linux_like)]
    const PENDING: &[i32] = &[
        libc::EPROTO,
        libc::ENETDOWN,
        libc::ENOPROTOOPT,
        libc::EHOSTDOWN,
        libc::ENONET,
        libc::EHOSTUNREACH,
        libc::EOPNOTSUPP,
        libc::ENETUNREACH,
    ];
    #[cfg(all(unix, not(selectio_linux_like)))]
    const PENDING: &[i32] = &[libc::EPROTO];
    #[cfg(not(unix))]
    const PENDING: &[i32] = &[];
    is_os_error(e, PENDING)
}

/// The bytes of `sockaddr_un.sun_path` (108 on Linux, 104 on the BSDs and Apple): a
/// path must fit with its terminating NUL.
#[cfg(unix)]
pub(crate) const SUN_PATH_LEN: usize =
    std::mem::size_of::<libc::sockaddr_un>() - std::mem::offset_of!(libc::sockaddr_un, sun_path);

/// `EINVAL` as an `io::Error` value, to recognise `listen(2)` on an unbound Unix socket.
#[cfg(unix)]
pub(crate) const EINVAL: i32 = libc::EINVAL;

/// Restores the default action of `SIGPIPE` (terminate) in this process, which Rust's
/// runtime set to ignored: lets a test prove that no write raises the signal.
#[cfg(all(test, unix))]
pub(crate) fn reset_sigpipe_to_default() -> io::Result<()> {
    // SAFETY: signal(2) with SIG_DFL installs no handler code; it only changes the
    // disposition, which the test process owns.
    if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Implements `$from` (`FromRawFd` on Unix, `FromRawSocket` on Windows) through
/// `from_std_unchecked`/`from_socket`, which take the descriptor as it is: the caller
/// promises it is open, owned, and of the right kind (and should make it non-blocking;
/// `from_std` does that checked).
macro_rules! from_raw {
    ($from:ident::$method:ident($raw:ty) { $($ty:ty => $std:ty, $ctor:ident;)* }) => {$(
        impl $from for $ty {
            /// Takes ownership of the descriptor as it is: its flags are not changed (this
            /// call cannot report an error), so pass a non-blocking, close-on-exec
            /// (non-inheritable on Windows) one, or use `from_std`, which sets them.
            unsafe fn $method(raw: $raw) -> Self {
                // SAFETY: the caller upholds the trait's contract: `raw` is open and
                // owned by nobody else.
                <$ty>::$ctor(unsafe { <$std as $from>::$method(raw) })
            }
        }
    )*};
}

#[cfg(unix)]
mod from_raw_fd {
    use std::os::fd::{FromRawFd, RawFd};

    use crate::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
    use crate::net::{UnixDatagram, UnixListener, UnixSocket, UnixStream};
    use crate::pipe::{PipeReader, PipeWriter};

    from_raw! {
        FromRawFd::from_raw_fd(RawFd) {
            TcpSocket => socket2::Socket, from_socket;
            TcpListener => std::net::TcpListener, from_std_unchecked;
            TcpStream => std::net::TcpStream, from_std_unchecked;
            UdpSocket => std::net::UdpSocket, from_std_unchecked;
            UnixSocket => socket2::Socket, from_socket;
            UnixListener => std::os::unix::net::UnixListener, from_std_unchecked;
            UnixStream => std::os::unix::net::UnixStream, from_std_unchecked;
            UnixDatagram => std::os::unix::net::UnixDatagram, from_std_unchecked;
            PipeReader => std::io::PipeReader, from_std_unchecked;
            PipeWriter => std::io::PipeWriter, from_std_unchecked;
        }
    }
}

#[cfg(windows)]
mod from_raw_socket {
    use std::os::windows::io::{FromRawSocket, RawSocket};

    use crate::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};

    from_raw! {
        FromRawSocket::from_raw_socket(RawSocket) {
            TcpSocket => socket2::Socket, from_socket;
            TcpListener => std::net::TcpListener, from_std_unchecked;
            TcpStream => std::net::TcpStream, from_std_unchecked;
            UdpSocket => std::net::UdpSocket, from_std_unchecked;
        }
    }
}
