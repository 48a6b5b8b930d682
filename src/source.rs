//! `Source`: anything an `EventLoop` can register, and `SourceFd` for bare descriptors.

use crate::RawSource;

/// Something with a raw fd (Unix) or socket (Windows) that an
/// [`EventLoop`](crate::EventLoop) can watch: selectio's socket and pipe types, std's
/// (`TcpStream`, `UnixStream`, `ChildStdout`, …), or a bare fd through [`SourceFd`].
///
/// Implemented for every `AsRawFd` (Unix) / `AsRawSocket` (Windows) type.
pub trait Source {
    /// The descriptor to watch.
    fn raw_source(&self) -> RawSource;
}

#[cfg(unix)]
impl<T: std::os::fd::AsRawFd + ?Sized> Source for T {
    fn raw_source(&self) -> RawSource {
        self.as_raw_fd()
    }
}

#[cfg(windows)]
impl<T: std::os::windows::io::AsRawSocket + ?Sized> Source for T {
    fn raw_source(&self) -> RawSource {
        self.as_raw_socket()
    }
}

/// Adapts a bare descriptor you own elsewhere, such as one from a C library:
/// `event_loop.register(&SourceFd(fd), token, interest, mode)`.
#[cfg(unix)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceFd(pub std::os::fd::RawFd);

#[cfg(unix)]
impl std::os::fd::AsRawFd for SourceFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0
    }
}
