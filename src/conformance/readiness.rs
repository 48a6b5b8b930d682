//! Readiness of real pipes, TCP pairs and Unix stream pairs.

use std::io::{self, Read};
use std::net::Shutdown;

use super::util::{Cx, Source, T1, T2};
use crate::{Interest, Mode, Ready, Selector};

/// A pipe's reader is reported readable, with its token, after a write.
pub fn pipe_readable_after_write<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "pipe_readable_after_write");
    let (r, _w) = cx.reported_pipe(&mut ev, Mode::Level);
    cx.check(cx.drain(&r) == 1, || {
        "the readable pipe did not hold the byte written".into()
    });
    cx.deregister(r.src());
}

/// A pipe's writer (with room in the pipe) is reported writable.
pub fn pipe_writer_is_writable<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "pipe_writer_is_writable");
    let (_r, w) = cx.pipe();
    cx.register(w.src(), T1, Interest::WRITABLE, Mode::Level);
    cx.wait_for(&mut ev, T1, Ready::WRITABLE);
    cx.deregister(w.src());
}

/// Closing a pipe's writer makes the reader readable (EOF) and `read_closed`.
pub fn pipe_reader_sees_writer_close<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "pipe_reader_sees_writer_close");
    let (r, w) = cx.watched_pipe(Mode::Level);
    drop(w);
    // Windows: the "pipe" is a loopback TCP pair, and polling's IOCP backend reports the
    // peer's FIN (AFD_POLL_DISCONNECT) as readable only: its `is_interrupt` is
    // AFD_POLL_ABORT, a reset (polling `iocp/mod.rs`, `EventExtra::is_hup`). The read
    // below still checks the EOF.
    let want = Ready::READABLE.with_if(Ready::READ_CLOSED, !cfg!(windows));
    cx.wait_for(&mut ev, T1, want);
    cx.expect_eof(&r, "the writer closed");
    cx.deregister(r.src());
}

/// Closing a full pipe's reader makes the writer writable (the write fails at once) or
/// reports error / `write_closed`.
pub fn pipe_writer_sees_reader_close<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "pipe_writer_sees_reader_close");
    let (r, w) = cx.pipe();
    // A full pipe's writer is not writable, so only the close can make it ready.
    cx.fill_up(&w);
    cx.register(w.src(), T1, Interest::WRITABLE, Mode::Level);
    drop(r);
    cx.wait_for_any(
        &mut ev,
        T1,
        Ready::WRITABLE | Ready::ERROR | Ready::WRITE_CLOSED,
    );
    cx.deregister(w.src());
    // A writer whose reader is already closed: registered and reported the same way, or
    // refused as `BrokenPipe` naming the backend (kqueue: FreeBSD's `pipe_kqfilter` and
    // macOS refuse EVFILT_WRITE with EPIPE).
    cx.step("register after the reader closed");
    let (r, w) = cx.pipe();
    drop(r);
    match cx
        .sel
        .register(w.src(), T2, Interest::WRITABLE, Mode::Level)
    {
        Ok(()) => {
            let any = Ready::WRITABLE | Ready::ERROR | Ready::WRITE_CLOSED;
            cx.wait_for_any(&mut ev, T2, any);
            cx.deregister(w.src());
        }
        Err(e) => {
            let e = cx.err(Err::<(), _>(e), "register");
            cx.check(e.kind() == io::ErrorKind::BrokenPipe, || {
                format!("refused, but not as BrokenPipe: {e:?}")
            });
        }
    }
}

/// A TCP stream with data to read and room to write is reported readable and writable.
pub fn tcp_readable_and_writable<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "tcp_readable_and_writable");
    let (a, b) = cx.watched_tcp(Interest::BOTH);
    cx.put(&b, b"x");
    cx.wait_for(&mut ev, T1, Ready::READABLE | Ready::WRITABLE);
    cx.drain(&a);
    cx.deregister(a.src());
}

/// The peer's `shutdown(Write)` makes a TCP stream readable (EOF) and `read_closed`.
///
/// Documented difference: the `polling` crate does not surface `EPOLLRDHUP` (its
/// `is_hup()` means a full hang-up only), so the polling backend reports a half-close as
/// readable without the `read_closed` hint.
pub fn tcp_peer_shutdown_is_read_closed<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "tcp_peer_shutdown_is_read_closed");
    let (a, b) = cx.watched_tcp(Interest::READABLE);
    cx.ok(b.shutdown(Shutdown::Write), "shutdown(Write)");
    let expected = if cx.name() == "polling" {
        Ready::READABLE
    } else {
        Ready::READABLE | Ready::READ_CLOSED
    };
    cx.wait_for(&mut ev, T1, expected);
    cx.expect_eof(&a, "the peer's shutdown");
    cx.deregister(a.src());
}

/// A reset from the peer makes a TCP stream readable: the read fails at once.
pub fn tcp_peer_reset_is_reported<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "tcp_peer_reset_is_reported");
    let (a, b) = cx.watched_tcp(Interest::READABLE);
    cx.put(&a, b"never read");
    cx.arrived(&b);
    // Closing a TCP socket whose receive buffer holds unread data sends RST instead of FIN
    // (RFC 2525 §2.17; Linux tcp_close(), BSD soclose()), and so does SO_LINGER {on, 0}.
    #[cfg(unix)]
    cx.ok(
        crate::sys::set_linger_zero(std::os::fd::AsFd::as_fd(&b)),
        "SO_LINGER 0",
    );
    drop(b);
    let ready = cx.wait_for(&mut ev, T1, Ready::READABLE);
    let read = (&a).read(&mut [0u8; 8]);
    cx.check(
        !matches!(&read, Err(e) if e.kind() == io::ErrorKind::WouldBlock),
        || format!("reported {ready:?} after a reset, but the read would block"),
    );
    cx.deregister(a.src());
}

/// A Unix stream with data to read and room to write is reported readable and writable.
pub fn unix_stream_readable_and_writable<S: Selector>(new: fn() -> io::Result<S>) {
    let cx = Cx::new(new, "unix_stream_readable_and_writable");
    #[cfg(unix)]
    {
        let mut ev = cx.events(super::util::CAPACITY);
        let (a, b) = cx.unix_pair();
        cx.register(a.src(), T1, Interest::BOTH, Mode::Level);
        cx.put(&b, b"x");
        cx.wait_for(&mut ev, T1, Ready::READABLE | Ready::WRITABLE);
        cx.drain(&a);
        cx.deregister(a.src());
    }
    #[cfg(not(unix))]
    cx.skip("Unix stream sockets are Unix-only");
}

/// Closing the peer makes a Unix stream readable (EOF) and `read_closed`.
pub fn unix_peer_close_is_read_closed<S: Selector>(new: fn() -> io::Result<S>) {
    let cx = Cx::new(new, "unix_peer_close_is_read_closed");
    #[cfg(unix)]
    {
        let mut ev = cx.events(super::util::CAPACITY);
        let (a, b) = cx.unix_pair();
        cx.register(a.src(), T1, Interest::READABLE, Mode::Level);
        drop(b);
        cx.wait_for(&mut ev, T1, Ready::READABLE | Ready::READ_CLOSED);
        cx.expect_eof(&a, "the peer closed");
        cx.deregister(a.src());
    }
    #[cfg(not(unix))]
    cx.skip("Unix stream sockets are Unix-only");
}

/// A registration for both directions reports both, in every supported mode; separate
/// events for one token (kqueue) are merged.
pub fn both_interests_reported_for_one_token<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "both_interests_reported_for_one_token");
    for mode in cx.caps().modes() {
        cx.step(format_args!("mode {mode:?}"));
        let (a, b) = cx.tcp_pair();
        cx.put(&b, b"x");
        // Both directions are ready before the registration, so even a oneshot one
        // that fires once per direction (or once for both) reports both.
        cx.arrived(&a);
        cx.register(a.src(), T1, Interest::BOTH, mode);
        cx.wait_for_union(&mut ev, T1, Ready::READABLE | Ready::WRITABLE);
        cx.deregister(a.src());
    }
}
