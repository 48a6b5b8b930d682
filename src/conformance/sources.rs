//! Sources for the properties (pipes, TCP and Unix stream pairs, a regular file), I/O on
//! them, helper threads, the watchdog, and the count of open fds.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::panic;
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::util::{Cx, End, Source, PATIENCE, RESCUE, T1};
use crate::{Events, Interest, Mode, RawSource, Ready, Selector};

/// Sources and I/O on them.
impl<S: Selector> Cx<S> {
    /// A non-blocking, close-on-exec pipe `(reader, writer)`; a loopback TCP pair where
    /// there are no pipes.
    #[track_caller]
    pub(crate) fn pipe(&self) -> (End, End) {
        #[cfg(unix)]
        {
            let (r, w) = self.ok(crate::sys::pipe(), "pipe()");
            (End::from(r), End::from(w))
        }
        #[cfg(not(unix))]
        self.tcp_pair()
    }

    /// A [`pipe`](Cx::pipe) whose reader is registered for READABLE under `T1` in `mode`:
    /// the start of most properties.
    #[track_caller]
    pub(crate) fn watched_pipe(&self, mode: Mode) -> (End, End) {
        let (r, w) = self.pipe();
        self.register(r.src(), T1, Interest::READABLE, mode);
        (r, w)
    }

    /// A [`watched_pipe`](Cx::watched_pipe) with a byte written to it, whose READABLE
    /// event `select` has reported: the state in which a property changes the
    /// registration.
    #[track_caller]
    pub(crate) fn reported_pipe(&self, events: &mut Events<S>, mode: Mode) -> (End, End) {
        let (r, w) = self.watched_pipe(mode);
        self.put(&w, b"x");
        self.wait_for(events, T1, Ready::READABLE);
        (r, w)
    }

    /// A [`tcp_pair`](Cx::tcp_pair) whose first end is registered for `interest` under
    /// `T1`, level-triggered.
    #[track_caller]
    pub(crate) fn watched_tcp(&self, interest: Interest) -> (TcpStream, TcpStream) {
        let (a, b) = self.tcp_pair();
        self.register(a.src(), T1, interest, Mode::Level);
        (a, b)
    }

    /// A connected, non-blocking TCP pair on 127.0.0.1.
    #[track_caller]
    pub(crate) fn tcp_pair(&self) -> (TcpStream, TcpStream) {
        let listener = self.ok(TcpListener::bind("127.0.0.1:0"), "binding 127.0.0.1:0");
        let addr = self.ok(listener.local_addr(), "local_addr");
        let a = self.ok(TcpStream::connect(addr), "connecting to 127.0.0.1");
        let (b, _) = self.ok(listener.accept(), "accept");
        for s in [&a, &b] {
            self.ok(s.set_nonblocking(true), "set_nonblocking");
            self.ok(s.set_nodelay(true), "set_nodelay");
        }
        (a, b)
    }

    /// A connected, non-blocking Unix stream pair.
    #[cfg(unix)]
    #[track_caller]
    pub(crate) fn unix_pair(
        &self,
    ) -> (
        std::os::unix::net::UnixStream,
        std::os::unix::net::UnixStream,
    ) {
        let (a, b) = self.ok(std::os::unix::net::UnixStream::pair(), "UnixStream::pair");
        for s in [&a, &b] {
            self.ok(s.set_nonblocking(true), "set_nonblocking");
        }
        (a, b)
    }

    /// An open regular file (already unlinked).
    #[cfg(unix)]
    #[track_caller]
    pub(crate) fn regular_file(&self) -> std::fs::File {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("selectio-conformance-{}-{n}", std::process::id()));
        let open = std::fs::File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path);
        let mut file = self.ok(open, format_args!("creating {}", path.display()));
        self.ok(file.write_all(b"data"), "writing the regular file");
        // The open file stays a regular file once unlinked; nothing is left behind.
        self.ok(std::fs::remove_file(&path), "unlinking the regular file");
        file
    }

    /// Writes all of `bytes` with one `write`.
    #[track_caller]
    pub(crate) fn put<W>(&self, w: &W, bytes: &[u8])
    where
        for<'a> &'a W: Write,
    {
        let mut w = w;
        let n = self.ok(w.write(bytes), "write");
        self.check(n == bytes.len(), || {
            format!("short write: {n} of {} bytes", bytes.len())
        });
    }

    /// Writes until the write would block; returns how much was written.
    #[track_caller]
    pub(crate) fn fill_up<W>(&self, w: &W) -> usize
    where
        for<'a> &'a W: Write,
    {
        let (mut w, buf, mut total) = (w, [0u8; 4096], 0);
        loop {
            match w.write(&buf) {
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.fail(format_args!("filling the buffer: {e}")),
            }
        }
    }

    /// Fails unless the next read of `r` is end of file; `after` says what should have
    /// caused it.
    #[track_caller]
    pub(crate) fn expect_eof<R>(&self, r: &R, after: &str)
    where
        for<'a> &'a R: Read,
    {
        let mut r = r;
        let read = r.read(&mut [0u8; 8]);
        self.check(matches!(read, Ok(0)), || {
            format!("after {after}, read gave {read:?}, not EOF")
        });
    }

    /// Reads until the read would block or hits EOF; returns how much was read.
    #[track_caller]
    pub(crate) fn drain<R>(&self, r: &R) -> usize
    where
        for<'a> &'a R: Read,
    {
        let (mut r, mut buf, mut total) = (r, [0u8; 4096], 0);
        loop {
            match r.read(&mut buf) {
                Ok(0) => return total,
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.fail(format_args!("draining: {e}")),
            }
        }
    }

    /// Waits until data sent by the peer has arrived in `s`'s receive buffer.
    #[track_caller]
    pub(crate) fn arrived(&self, s: &TcpStream) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match s.peek(&mut [0u8; 1]) {
                Ok(_) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(1))
                }
                Err(e) => self.fail(format_args!("waiting for the peer's data: {e}")),
            }
        }
    }
}

/// Threads.
impl<S: Selector> Cx<S> {
    /// Runs `f` with the selector on another thread.
    pub(crate) fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&S) -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let sel = Arc::clone(&self.sel);
        thread::spawn(move || f(&sel))
    }

    /// The thread's result; its panic becomes this thread's.
    #[track_caller]
    pub(crate) fn join<T>(&self, handle: JoinHandle<T>) -> T {
        handle.join().unwrap_or_else(|p| panic::resume_unwind(p))
    }

    /// Calls `wake()` from another thread after `delay`.
    pub(crate) fn wake_after(&self, delay: Duration) -> JoinHandle<io::Result<()>> {
        self.spawn(move |sel| {
            thread::sleep(delay);
            sel.wake()
        })
    }

    /// Arms a watchdog for a `select` that may block without limit: after [`PATIENCE`] a
    /// registered pipe becomes readable, which [`select`](Cx::select) turns into a
    /// failure instead of a hang.
    #[track_caller]
    pub(crate) fn rescue(&self) -> Rescue<'_, S> {
        let (reader, writer) = self.pipe();
        self.register(reader.src(), RESCUE, Interest::READABLE, Mode::Level);
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(PATIENCE) {
                let _ = (&writer).write(&[1]);
                // Keep the writer open until told to stop: its close would also be readiness.
                let _ = stopped.recv();
            }
        });
        Rescue {
            cx: self,
            reader,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

/// The watchdog of [`Cx::rescue`]; disarmed and deregistered on drop.
pub(crate) struct Rescue<'a, S: Selector> {
    cx: &'a Cx<S>,
    reader: End,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl<S: Selector> Drop for Rescue<'_, S> {
    fn drop(&mut self) {
        let deregistered = self.cx.sel.deregister(self.reader.src());
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if !thread::panicking() {
            self.cx.ok(deregistered, "deregistering the watchdog pipe");
        }
    }
}

/// How many fds this process has open, where the system lists them (`/proc/self/fd`,
/// `/dev/fd`); `None` elsewhere.
pub(crate) fn open_fds() -> Option<usize> {
    open_fd_numbers().map(|fds| fds.len())
}

/// The numbers of the fds this process has open, where the system lists them; the
/// listing's own directory fd is left out (it is closed again by the time this returns).
pub(crate) fn open_fd_numbers() -> Option<Vec<RawSource>> {
    let dir = ["/proc/self/fd", "/dev/fd"]
        .into_iter()
        .find_map(|dir| std::fs::read_dir(dir).ok())?;
    let listed: Vec<RawSource> = dir
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // The directory is closed now: its fd fails fstat, and is left out.
    #[cfg(unix)]
    let listed = listed
        .into_iter()
        .filter(|&fd| crate::sys::fd_identity(fd).is_ok())
        .collect();
    Some(listed)
}
