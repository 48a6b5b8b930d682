//! uring: no poll request outlives the registration it was made for and holds the next
//! file that gets the fd number (found by an outside review; each failed before its fix).
//!
//! A binary of its own: the tests need the number a closed fd frees to go to the next
//! file they open, which a binary whose other tests open fds in parallel cannot promise.

#[cfg(all(target_os = "linux", feature = "uring"))]
#[macro_use]
#[path = "util/mod.rs"]
mod util;

#[cfg(all(target_os = "linux", feature = "uring"))]
mod uring {
    use std::io::{ErrorKind, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    use selectio::backends::Uring;
    use selectio::{Events, Interest, Mode, Selector, Token};

    use std::sync::{Mutex, MutexGuard, PoisonError};

    use crate::util::reuse::{pipe, registered_pipe};

    type Serial = MutexGuard<'static, ()>;

    /// The tests of this binary, one at a time.
    fn serial() -> Serial {
        static LOCK: Mutex<()> = Mutex::new(());
        LOCK.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A Level registration of a pipe reader whose poll has completed, then the reader
    /// closed without deregister and one select run: the situation both tests start
    /// from. Returns the selector, its events, the closed reader's number, the writer
    /// and the guard of `serial()`, which keeps the other test of this binary from
    /// taking the number before the caller reopens it; `None` where io_uring is
    /// unavailable.
    fn orphaned_level_rearm() -> Option<(Uring, Events<Uring>, RawFd, std::fs::File, Serial)> {
        let serial = serial();
        let sel = Uring::new().ok()?;
        let mut events = Events::<Uring>::with_capacity(16).unwrap();
        let (r, mut w, n) = registered_pipe(&sel, Token(1), Mode::Level);
        // The poll completes; its completion is posted when this write returns.
        w.write_all(b"x").unwrap();
        drop(r); // closed without deregister; the completion waits in the ring
        sel.select(&mut events, Some(Duration::ZERO)).unwrap();
        Some((sel, events, n, w, serial))
    }

    /// A Level registration closed without deregister, whose completion was in the ring
    /// before the select (so it is checked again with poll(2)): `complete` queues the
    /// Level re-arm, then `check_again` sees POLLNVAL and drops the entry, but cancels
    /// the request only for Edge. The queued re-arm names the number, and the next select
    /// submits it against whatever file got the number meanwhile: a pipe reader nobody
    /// registered stays alive in the ring after its owner closed it.
    #[test]
    fn level_rearm_of_a_closed_fd_does_not_hold_the_next_file_with_its_number() {
        let Some((sel, mut events, n, w, _serial)) = orphaned_level_rearm() else {
            return;
        };
        assert!(
            events.is_empty(),
            "a closed fd's completion is not reported"
        );
        // A new pipe, never registered, gets the number.
        let (r2, mut w2) = pipe();
        assert_eq!(r2.as_raw_fd(), n, "the new reader reuses the number");
        sel.select(&mut events, Some(Duration::ZERO)).unwrap();
        drop(r2);
        // With no reader left, a write to the pipe is EPIPE (Rust ignores SIGPIPE).
        let err = w2.write(b"y").expect_err(
            "the closed reader's file is still alive: the selector holds a file it never had",
        );
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
        drop(w);
    }

    /// The same orphaned re-arm outlives even a new file that follows the contract: the
    /// reader that reuses the number is registered and deregistered before it is closed,
    /// yet the old Level re-arm (whose entry is gone, so neither call can find it) still
    /// holds it.
    #[test]
    fn orphaned_level_rearm_outlives_register_and_deregister_of_the_new_file() {
        let Some((sel, mut events, n, w, _serial)) = orphaned_level_rearm() else {
            return;
        };
        let (r2, mut w2) = pipe();
        assert_eq!(r2.as_raw_fd(), n, "the new reader reuses the number");
        sel.register(r2.as_fd(), Token(2), Interest::READABLE, Mode::Level)
            .unwrap();
        sel.select(&mut events, Some(Duration::ZERO)).unwrap();
        sel.deregister(r2.as_fd()).unwrap();
        sel.select(&mut events, Some(Duration::ZERO)).unwrap();
        drop(r2);
        let err = w2
            .write(b"y")
            .expect_err("a deregistered, closed reader's file is still held by the ring");
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
        drop(w);
    }

    /// A registered socket closed without deregister whose number another, readable file
    /// takes before the held socket sees its peer's FIN: nothing is reported under the
    /// old token, and the number is forgotten, so `reregister` of the new file is
    /// `NotFound`. Before the fix the completion, found in the ring before `select`, was
    /// checked again with poll(2) on the number and reported the new file's readiness
    /// under the old token, and the entry stayed: a hang-up dropped it only when the
    /// number was closed (the model tests caught the entry outliving a reported end when
    /// a parallel test took the number between the backend's look and theirs). `dup2`
    /// puts the new file at the number at once.
    #[test]
    fn end_of_a_closed_socket_whose_number_another_file_took_is_forgotten() {
        let _serial = serial();
        let Ok(sel) = Uring::new() else {
            return;
        };
        let mut events = Events::<Uring>::with_capacity(16).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        for mode in [Mode::Level, Mode::Edge, Mode::Oneshot] {
            let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (b, _) = listener.accept().unwrap();
            sel.register(a.as_fd(), Token(1), Interest::READABLE, mode)
                .unwrap();
            let (x, mut y) = UnixStream::pair().unwrap();
            // The new file is readable: a look at the number would find it ready.
            y.write_all(b"z").unwrap();
            let n = a.into_raw_fd();
            #[allow(unsafe_code)] // dup2(2) onto a chosen number: std has no call for it
            // SAFETY: `n` is a's number, given up by `into_raw_fd`; dup2 closes a's file
            // there (the ring still holds it) and puts a duplicate of `x` in its place,
            // which `new` then owns.
            let new = unsafe {
                assert_eq!(libc::dup2(x.as_raw_fd(), n), n, "dup2");
                OwnedFd::from_raw_fd(n)
            };
            drop(b);
            for _ in 0..10 {
                sel.select(&mut events, Some(Duration::from_millis(20)))
                    .unwrap();
                let old = events.iter().find(|e| e.token() == Token(1));
                assert!(
                    old.is_none(),
                    "{mode:?}: the closed socket's end was reported under its old token \
                     ({old:?}) though its number names another file"
                );
            }
            let err = sel
                .reregister(new.as_fd(), Token(2), Interest::READABLE, mode)
                .expect_err("the closed registration's entry outlived its end");
            assert_eq!(err.kind(), ErrorKind::NotFound, "{mode:?}: {err}");
        }
    }

    /// The same under Edge, with a completion of the old file before its end in one
    /// reap: data (a check of the number queued, as the completion is in the ring before
    /// `select`), then the FIN (the entry dropped). The queued check must not report the
    /// number's new, readable file under the old token.
    #[test]
    fn check_queued_before_the_end_of_a_closed_socket_reports_nothing() {
        let _serial = serial();
        let Ok(sel) = Uring::new() else {
            return;
        };
        let mut events = Events::<Uring>::with_capacity(16).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut b, _) = listener.accept().unwrap();
        sel.register(a.as_fd(), Token(1), Interest::READABLE, Mode::Edge)
            .unwrap();
        b.write_all(b"x").unwrap();
        let (x, mut y) = UnixStream::pair().unwrap();
        y.write_all(b"z").unwrap();
        let n = a.into_raw_fd();
        #[allow(unsafe_code)] // dup2(2) onto a chosen number: std has no call for it
        // SAFETY: `n` is a's number, given up by `into_raw_fd`; dup2 closes a's file there
        // (the ring still holds it) and puts a duplicate of `x` in its place, which `new`
        // then owns.
        let new = unsafe {
            assert_eq!(libc::dup2(x.as_raw_fd(), n), n, "dup2");
            OwnedFd::from_raw_fd(n)
        };
        drop(b);
        for _ in 0..10 {
            sel.select(&mut events, Some(Duration::from_millis(20)))
                .unwrap();
            let old = events.iter().find(|e| e.token() == Token(1));
            assert!(old.is_none(), "reported under the old token: {old:?}");
        }
        let err = sel
            .reregister(new.as_fd(), Token(2), Interest::READABLE, Mode::Edge)
            .expect_err("the closed registration's entry outlived its end");
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    }
}
