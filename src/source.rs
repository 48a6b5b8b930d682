//! `Source`: anything an `EventLoop` can register.

use crate::BorrowedSource;

/// Something with a file descriptor (Unix) or socket (Windows) that an
/// [`EventLoop`](crate::EventLoop) can watch: selectio's socket and pipe types, std's
/// (`TcpStream`, `UnixStream`, `ChildStdout`, …), and a [`BorrowedFd`] itself.
///
/// Implemented for every [`AsFd`] (Unix) / `AsSocket` (Windows) type. A descriptor that
/// only a C library owns is borrowed for the call with the `unsafe`
/// [`BorrowedFd::borrow_raw`], whose contract (the fd stays open while borrowed) is the
/// caller's to keep:
///
/// ```
/// # #[cfg(unix)] {
/// use std::os::fd::{AsRawFd, BorrowedFd};
/// use selectio::{EventLoop, Handler, Interest, Mode, Token};
///
/// struct Quiet;
/// impl Handler for Quiet {
///     type Timeout = ();
///     type Message = ();
/// }
///
/// let (reader, _writer) = std::io::pipe()?;
/// let fd = reader.as_raw_fd(); // as a C library would hand it over
/// let mut event_loop = EventLoop::<Quiet>::new()?;
/// // SAFETY: `reader` keeps `fd` open for as long as it is borrowed here.
/// let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
/// event_loop.register(&borrowed, Token(0), Interest::READABLE, Mode::Level)?;
/// event_loop.deregister(&borrowed)?;
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// [`AsFd`]: std::os::fd::AsFd
/// [`BorrowedFd`]: std::os::fd::BorrowedFd
/// [`BorrowedFd::borrow_raw`]: std::os::fd::BorrowedFd::borrow_raw
pub trait Source {
    /// The descriptor to watch, borrowed for as long as `self` is.
    fn source(&self) -> BorrowedSource<'_>;
}

#[cfg(unix)]
impl<T: std::os::fd::AsFd + ?Sized> Source for T {
    fn source(&self) -> BorrowedSource<'_> {
        self.as_fd()
    }
}

#[cfg(windows)]
impl<T: std::os::windows::io::AsSocket + ?Sized> Source for T {
    fn source(&self) -> BorrowedSource<'_> {
        self.as_socket()
    }
}

/// The number behind a borrow, for the crate's own bookkeeping (registries keyed by
/// number, error messages).
#[cfg(unix)]
pub(crate) fn raw(fd: BorrowedSource<'_>) -> crate::RawSource {
    std::os::fd::AsRawFd::as_raw_fd(&fd)
}

/// The number behind a borrow, for the crate's own bookkeeping (registries keyed by
/// number, error messages).
#[cfg(windows)]
pub(crate) fn raw(fd: BorrowedSource<'_>) -> crate::RawSource {
    std::os::windows::io::AsRawSocket::as_raw_socket(&fd)
}
