//! Hooks for fault tests (Unix): signal a thread blocked in `select`, and count the
//! `SIGPIPE`s the process receives. Safe wrappers over `crate::sys`; `tests/faults.rs`
//! uses them, and so can a third-party backend's tests.
#![cfg(unix)]

use std::io;

/// A thread's `pthread_t`, as [`std::os::unix::thread::JoinHandleExt::as_pthread_t`]
/// returns it.
pub use std::os::unix::thread::RawPthread;

/// The calling thread, as a target for [`interrupt_thread`].
pub fn current_thread() -> RawPthread {
    // std's and our libc's pthread_t are the same C type (an integer or a pointer).
    #[allow(clippy::unnecessary_cast)]
    let thread = crate::sys::current_thread() as RawPthread;
    thread
}

/// Sends `SIGUSR1` to `thread`, with a do-nothing handler installed without
/// `SA_RESTART`: a `select` blocked in that thread fails with `EINTR` (the process is not
/// killed). `thread` must still be running.
pub fn interrupt_thread(thread: RawPthread) -> io::Result<()> {
    #[allow(clippy::unnecessary_cast)]
    crate::sys::interrupt_thread(thread as _)
}

/// Makes the process count `SIGPIPE`s instead of ignoring them (see [`sigpipes`]); a
/// write to a dead peer still fails with `EPIPE`. Idempotent.
pub fn watch_sigpipe() -> io::Result<()> {
    crate::sys::testhooks::watch_sigpipe()
}

/// How many `SIGPIPE`s the process received since [`watch_sigpipe`].
pub fn sigpipes() -> usize {
    crate::sys::testhooks::sigpipes()
}
