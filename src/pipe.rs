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
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use selectio::{pipe, EventLoop, Handler, Interest, Mode, Token};
///
/// /// Records the tokens reported readable.
/// struct Seen(Vec<Token>);
///
/// impl Handler for Seen {
///     type Timeout = ();
///     type Message = ();
///
///     fn readable(&mut self, _: &mut EventLoop<Self>, token: Token) {
///         self.0.push(token);
///     }
/// }
///
/// let (mut reader, mut writer) = pipe::pipe()?;
/// let mut el: EventLoop<Seen> = EventLoop::new()?;
/// el.register(&reader, Token(0), Interest::READABLE, Mode::Level)?;
///
/// writer.write_all(b"wake up")?;
/// let mut seen = Seen(Vec::new());
/// while !seen.0.contains(&Token(0)) {
///     el.run_once(&mut seen, Some(Duration::from_secs(1)))?;
/// }
/// let mut buf = [0; 16];
/// let n = reader.read(&mut buf)?;
/// assert_eq!(&buf[..n], b"wake up");
/// el.deregister(&reader)?;
/// # Ok::<(), std::io::Error>(())
/// ```
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
///
/// Made by [`pipe`], or from a child process's stdout or stderr:
///
/// ```
/// use std::io::Read;
/// use std::process::{Command, Stdio};
/// use std::time::Duration;
/// use selectio::pipe::PipeReader;
/// use selectio::{EventLoop, Handler, Interest, Mode, Token};
///
/// /// Records the tokens reported readable.
/// struct Seen(Vec<Token>);
///
/// impl Handler for Seen {
///     type Timeout = ();
///     type Message = ();
///
///     fn readable(&mut self, _: &mut EventLoop<Self>, token: Token) {
///         self.0.push(token);
///     }
/// }
///
/// let mut child = Command::new("echo").arg("hi").stdout(Stdio::piped()).spawn()?;
/// let mut stdout = PipeReader::try_from(child.stdout.take().unwrap())?;
/// let mut el: EventLoop<Seen> = EventLoop::new()?;
/// el.register(&stdout, Token(0), Interest::READABLE, Mode::Level)?;
///
/// let mut seen = Seen(Vec::new());
/// while !seen.0.contains(&Token(0)) {
///     el.run_once(&mut seen, Some(Duration::from_secs(1)))?;
/// }
/// child.wait()?; // the child has exited: its end is closed, so the read finds EOF
/// let mut out = String::new();
/// stdout.read_to_string(&mut out)?; // would be WouldBlock while the child could write
/// assert_eq!(out, "hi\n");
/// el.deregister(&stdout)?;
/// child.wait()?;
/// # Ok::<(), std::io::Error>(())
/// ```
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
///
/// Made by [`pipe`], or from a child process's stdin. Register it for `WRITABLE` to be
/// told when a full pipe has room again:
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use selectio::{pipe, EventLoop, Handler, Interest, Mode, Token};
///
/// struct Room(bool);
///
/// impl Handler for Room {
///     type Timeout = ();
///     type Message = ();
///
///     fn writable(&mut self, _: &mut EventLoop<Self>, _token: Token) {
///         self.0 = true;
///     }
/// }
///
/// let (mut reader, mut writer) = pipe::pipe()?;
/// while writer.write(&[0; 4096]).is_ok() {} // fill it: the last write is WouldBlock
/// let mut el: EventLoop<Room> = EventLoop::new()?;
/// el.register(&writer, Token(0), Interest::WRITABLE, Mode::Level)?;
///
/// let mut sink = Vec::new();
/// let _ = reader.read_to_end(&mut sink); // drains it, then WouldBlock
/// let mut room = Room(false);
/// while !room.0 {
///     el.run_once(&mut room, Some(Duration::from_secs(1)))?;
/// }
/// writer.write_all(b"more")?;
/// el.deregister(&writer)?;
/// # Ok::<(), std::io::Error>(())
/// ```
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
