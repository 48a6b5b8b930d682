//! Non-blocking pipes: `PipeReader`, `PipeWriter`, `pipe()` (Unix).
//!
//! [`pipe`] makes both ends non-blocking and close-on-exec at birth (`pipe2(2)` with
//! `O_NONBLOCK|O_CLOEXEC`; `pipe(2)` then `fcntl(2)` on Apple, which has no `pipe2`).
//! The ends of a child process's pipes convert with `TryFrom` (`ChildStdin` to a
//! [`PipeWriter`]; `ChildStdout`, `ChildStderr` to a [`PipeReader`]), which sets
//! `O_NONBLOCK` on the parent's end only (the child's end is another open file
//! description) and can therefore fail.
//!
//! # SIGPIPE
//!
//! Unlike the sockets of [`crate::net`], a pipe has no per-call or per-descriptor way
//! to suppress `SIGPIPE` (there is no `MSG_NOSIGNAL` for `write(2)`, and Linux has no
//! `F_SETNOSIGPIPE`): a write to a pipe whose read end is closed raises `SIGPIPE` in
//! the writing thread. Rust's runtime sets `SIGPIPE` to "ignore" before `main` in every
//! Rust binary, so there the write returns `BrokenPipe`. A C host program, or a Rust
//! binary built with `-Zon-broken-pipe=kill`, may keep the default action, which kills
//! the process; such a host must ignore or block `SIGPIPE` itself. selectio does not
//! change the process-wide disposition behind the host's back.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::process::{ChildStderr, ChildStdin, ChildStdout};

/// Creates a pipe: `(read end, write end)`, both non-blocking and close-on-exec.
#[doc(alias = "pipe2")]
pub fn pipe() -> io::Result<(PipeReader, PipeWriter)> {
    let (r, w) = crate::sys::pipe()?;
    Ok((
        PipeReader::from_std_unchecked(r.into()),
        PipeWriter::from_std_unchecked(w.into()),
    ))
}

/// Sets `O_NONBLOCK` and `FD_CLOEXEC` on a descriptor made elsewhere.
fn adopt(fd: BorrowedFd<'_>) -> io::Result<()> {
    crate::sys::set_nonblocking(fd)?;
    crate::sys::set_cloexec(fd)
}

/// The read end of a pipe. Reads return `WouldBlock` when the pipe is empty and `0`
/// once every write end is closed and the pipe is drained.
pub struct PipeReader {
    inner: io::PipeReader,
}

impl PipeReader {
    fn from_owned(fd: OwnedFd) -> io::Result<PipeReader> {
        PipeReader::from_std(fd.into())
    }
}

/// The parent's end of a child's stdout, made non-blocking (`fcntl(2)` can fail).
impl TryFrom<ChildStdout> for PipeReader {
    type Error = io::Error;

    fn try_from(stdout: ChildStdout) -> io::Result<PipeReader> {
        PipeReader::from_owned(stdout.into())
    }
}

/// The parent's end of a child's stderr, made non-blocking (`fcntl(2)` can fail).
impl TryFrom<ChildStderr> for PipeReader {
    type Error = io::Error;

    fn try_from(stderr: ChildStderr) -> io::Result<PipeReader> {
        PipeReader::from_owned(stderr.into())
    }
}

crate::net::impl_read!(PipeReader);

impl fmt::Debug for PipeReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeReader")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

/// The write end of a pipe. Writes return `WouldBlock` when the pipe is full and
/// `BrokenPipe` once every read end is closed (see the module docs on `SIGPIPE`).
pub struct PipeWriter {
    inner: io::PipeWriter,
}

/// The parent's end of a child's stdin, made non-blocking (`fcntl(2)` can fail).
impl TryFrom<ChildStdin> for PipeWriter {
    type Error = io::Error;

    fn try_from(stdin: ChildStdin) -> io::Result<PipeWriter> {
        PipeWriter::from_std(OwnedFd::from(stdin).into())
    }
}

crate::net::impl_write!(write for PipeWriter);

impl fmt::Debug for PipeWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeWriter")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

crate::net::impl_std! {
    PipeReader { inner: io::PipeReader },
    /// Adopts a std read end, making it non-blocking and close-on-exec.
    fn from_std(reader) = adopt(reader.as_fd());
    /// The std read end, still non-blocking.
    fn into_std;

    PipeWriter { inner: io::PipeWriter },
    /// Adopts a std write end, making it non-blocking and close-on-exec.
    fn from_std(writer) = adopt(writer.as_fd());
    /// The std write end, still non-blocking.
    fn into_std;
}

crate::net::impl_descriptor!(PipeReader, PipeWriter);
