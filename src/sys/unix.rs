//! Unix system calls shared by the backends and the conformance suite.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
#[cfg(selectio_timespec)]
use std::time::Duration;

/// Turns a C return value into `io::Result`, taking `errno` on `-1`.
#[inline]
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Like [`cvt`] for `ssize_t` returns (`read`, `write`).
#[cfg(selectio_fd_io)]
pub(crate) fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// Takes ownership of a descriptor a system call just returned.
#[cfg(any(
    selectio_epoll,
    selectio_kqueue,
    selectio_uring,
    all(selectio_linux_like, feature = "conformance")
))]
pub(crate) fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    let fd = cvt(fd)?;
    // SAFETY: the call succeeded, so `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The largest `timespec` timeout in seconds: xnu's `kevent(2)` refuses more than
/// `INT32_MAX` seconds with `EINVAL` (`kevent_legacy_get_deadline` → `timespec_is_valid`),
/// and a 32-bit `time_t` holds no more; about 68 years, for every call that takes one.
#[cfg(selectio_timespec)]
const MAX_TIMESPEC_SECS: u64 = i32::MAX as u64;

/// The `timespec` for a `kevent(2)`, `ppoll(2)` or `epoll_pwait2(2)` timeout: `None` blocks, sub-millisecond parts stay
/// exact, huge values clamp to [`MAX_TIMESPEC_SECS`] (never overflow, never `EINVAL`).
#[cfg(selectio_timespec)]
pub(crate) fn timeout_timespec(timeout: Option<Duration>) -> Option<libc::timespec> {
    timeout.map(|t| libc::timespec {
        // The clamp makes the cast lossless for every `time_t`.
        tv_sec: t.as_secs().min(MAX_TIMESPEC_SECS) as libc::time_t,
        // Always < 1e9, which fits every `c_long`.
        tv_nsec: t.subsec_nanos() as _,
    })
}

/// Sets `O_NONBLOCK` on `fd` with `fcntl(2)`.
#[doc(alias = "fcntl")]
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: F_GETFL/F_SETFL on a borrowed, open descriptor.
    let flags = cvt(unsafe { libc::fcntl(raw, libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    }
    Ok(())
}

/// Sets `FD_CLOEXEC` on `fd` with `fcntl(2)`.
pub(crate) fn set_cloexec(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_SETFD on a borrowed, open descriptor.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
    Ok(())
}

/// A non-blocking, close-on-exec pipe: `(read end, write end)`.
#[doc(alias = "pipe2")]
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    cfg_if::cfg_if! {
        if #[cfg(selectio_apple)] {
            // Apple has no pipe2(2): create, then set the flags. A fork between the two
            // calls can leak the fds into a child; these systems have no atomic way.
            // SAFETY: `fds` has room for the two descriptors pipe writes.
            cvt(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
            // SAFETY: the call succeeded; both descriptors are fresh and unowned.
            let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
            for fd in [&r, &w] {
                set_nonblocking(std::os::fd::AsFd::as_fd(fd))?;
                set_cloexec(std::os::fd::AsFd::as_fd(fd))?;
            }
        } else {
            // SAFETY: `fds` has room for the two descriptors pipe2 writes.
            cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) })?;
            // SAFETY: the call succeeded; both descriptors are fresh and unowned.
            let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        }
    }
    Ok((r, w))
}

/// `read(2)` into `buf`.
#[cfg(any(selectio_epoll, selectio_kqueue, selectio_poll))]
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` writable bytes; a bad fd is an error.
    cvt_size(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

/// `write(2)` from `buf`.
#[cfg(selectio_fd_io)]
pub(crate) fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` readable bytes; a bad fd is an error.
    cvt_size(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })
}

/// What makes an open file distinct from a later one that reuses its number: device and
/// inode from `fstat(2)`. Used to tell a stale registration (its fd was closed and the
/// number reused) from a true duplicate.
#[cfg(any(selectio_poll, selectio_polling, feature = "conformance"))]
pub(crate) fn fd_identity(fd: RawFd) -> io::Result<(u64, u64)> {
    let st = fstat(fd)?;
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    Ok((st.st_dev as u64, st.st_ino as u64))
}

/// `fstat(2)`'s device, inode and mode of `fd`.
#[cfg(selectio_uring)]
pub(crate) fn fd_stat(fd: RawFd) -> io::Result<(u64, u64, libc::mode_t)> {
    let st = fstat(fd)?;
    Ok((st.st_dev, st.st_ino, st.st_mode))
}

/// `fstat(2)` of `fd`.
#[cfg(any(
    selectio_poll,
    selectio_polling,
    selectio_uring,
    feature = "conformance"
))]
fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` has room for a `stat`; a bad fd is an error.
    cvt(unsafe { libc::fstat(fd, st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded and filled `st`.
    Ok(unsafe { st.assume_init() })
}

/// A non-blocking, close-on-exec eventfd(2) with its counter at 0.
#[cfg(all(
    selectio_linux_like,
    any(
        selectio_epoll,
        selectio_kqueue,
        selectio_uring,
        feature = "conformance"
    )
))]
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain eventfd(2) call; the result is checked by `owned`.
    owned(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })
}

/// The self-pipe (or eventfd) that wakes a thread blocked in `poll(2)`/`epoll_wait(2)`.
///
/// `notify` makes `fd()` readable; `drain` makes it unreadable again. Several `notify`
/// calls before a `drain` coalesce (eventfd: one counter; pipe: bytes drained at once).
#[cfg(any(selectio_epoll, selectio_kqueue, selectio_poll, selectio_uring))]
#[derive(Debug)]
pub(crate) struct WakeFd {
    read: OwnedFd,
    /// `None` for an eventfd, which is read and written through one descriptor.
    write: Option<OwnedFd>,
}

#[cfg(any(selectio_epoll, selectio_kqueue, selectio_poll, selectio_uring))]
impl WakeFd {
    /// An eventfd on Linux and Android, a pipe elsewhere.
    #[cfg(any(selectio_epoll, selectio_kqueue, selectio_uring))]
    pub(crate) fn new() -> io::Result<WakeFd> {
        #[cfg(selectio_linux_like)]
        {
            Ok(WakeFd {
                read: eventfd()?,
                write: None,
            })
        }
        #[cfg(not(selectio_linux_like))]
        {
            WakeFd::pipe()
        }
    }

    /// A non-blocking pipe on every Unix, Linux included: poll(2) costs less per call
    /// with a pipe's read end in its array than with an eventfd (the poll backend's
    /// choice: `backends/poll.rs` says why), at one more descriptor.
    #[cfg(any(selectio_poll, all(selectio_kqueue, not(selectio_linux_like))))]
    pub(crate) fn pipe() -> io::Result<WakeFd> {
        let (read, write) = pipe()?;
        Ok(WakeFd {
            read,
            write: Some(write),
        })
    }

    /// Whether `fd` is one of the waker's own descriptors.
    pub(crate) fn owns(&self, fd: RawFd) -> bool {
        fd == self.read.as_raw_fd() || self.write.as_ref().is_some_and(|w| w.as_raw_fd() == fd)
    }

    /// The descriptor to watch for readability.
    pub(crate) fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Makes `fd()` readable. A full pipe or a saturated counter means it already is.
    pub(crate) fn notify(&self) -> io::Result<()> {
        let fd = self.write.as_ref().unwrap_or(&self.read).as_raw_fd();
        match write(fd, &1u64.to_ne_bytes()) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Empties the wake descriptor so it is no longer readable (uring never does: each
    /// write wakes its poll request anyway).
    #[cfg(any(selectio_epoll, selectio_kqueue, selectio_poll))]
    pub(crate) fn drain(&self) {
        let mut buf = [0u8; 64];
        // An eventfd read returns the whole counter at once; a pipe needs a loop. Any
        // error (WouldBlock) means it is empty.
        while let Ok(n) = read(self.read.as_raw_fd(), &mut buf) {
            if n < buf.len() || self.write.is_none() {
                break;
            }
        }
    }
}

/// Sets `SO_LINGER` to `{on, 0 s}`: closing the socket then sends RST instead of FIN,
/// so the peer sees a reset (used to inject faults in tests).
#[cfg(feature = "conformance")]
pub(crate) fn set_linger_zero(fd: BorrowedFd<'_>) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `linger` is a valid `struct linger` of the size passed; a bad fd is an error.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    })
    .map(drop)
}

#[cfg(all(
    test,
    any(selectio_epoll, selectio_kqueue, all(selectio_poll, selectio_ppoll))
))]
mod tests {
    use super::*;

    #[test]
    fn timespec_keeps_sub_millisecond_and_clamps() {
        assert!(timeout_timespec(None).is_none());
        let ts = timeout_timespec(Some(Duration::from_nanos(1_500))).unwrap();
        assert_eq!((ts.tv_sec, ts.tv_nsec), (0, 1_500));
        let ts = timeout_timespec(Some(Duration::MAX)).unwrap();
        assert_eq!(ts.tv_sec as u64, MAX_TIMESPEC_SECS);
    }
}
