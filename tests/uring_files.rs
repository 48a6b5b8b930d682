//! uring: no poll request outlives the registration it was made for and holds the next
//! file that gets the fd number (found by an outside review; each failed before its fix).
//!
//! A binary of its own: both tests need the number a closed fd frees to go to the next
//! pipe they open, which a binary whose other tests open fds in parallel cannot promise.

#[cfg(all(target_os = "linux", feature = "uring"))]
#[macro_use]
#[path = "util/mod.rs"]
mod util;

#[cfg(all(target_os = "linux", feature = "uring"))]
mod uring {
    use std::io::{ErrorKind, Write};
    use std::os::fd::{AsFd, AsRawFd, RawFd};
    use std::time::Duration;

    use selectio::backends::Uring;
    use selectio::{Events, Interest, Mode, Selector, Token};

    use std::sync::{Mutex, MutexGuard, PoisonError};

    use crate::util::reuse::{pipe, registered_pipe};

    type Serial = MutexGuard<'static, ()>;

    /// The two tests of this binary, one at a time.
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
}
