//! Signal hooks for selectio's fault tests (feature `conformance`, Unix): count the
//! `SIGPIPE`s the process receives. Signalling a thread is `interrupt_thread` in
//! `unix.rs`; `crate::conformance::hooks` wraps both for the tests.
#![cfg(all(unix, feature = "conformance"))]

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::cvt;

/// `SIGPIPE`s received since [`watch_sigpipe`] installed the counter.
static SIGPIPES: AtomicUsize = AtomicUsize::new(0);

/// Counts one `SIGPIPE`; an atomic add is async-signal-safe.
extern "C" fn count_sigpipe(_: libc::c_int) {
    SIGPIPES.fetch_add(1, Ordering::Relaxed);
}

/// Replaces `SIGPIPE`'s disposition (Rust's runtime sets "ignore") with a handler that
/// counts it, with `SA_RESTART`, so a test can prove no write raised one: the write still
/// fails with `EPIPE` either way, only the count tells. Idempotent.
pub(crate) fn watch_sigpipe() -> io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid value; the handler and mask are set below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = count_sigpipe as extern "C" fn(libc::c_int) as usize;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action.sa_mask` is a valid sigset_t to initialise.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: installs an async-signal-safe handler for SIGPIPE; the old action is not
    // needed (it was "ignore", which the counter replaces for the whole test process).
    cvt(unsafe { libc::sigaction(libc::SIGPIPE, &action, std::ptr::null_mut()) }).map(drop)
}

/// How many `SIGPIPE`s arrived since [`watch_sigpipe`].
pub(crate) fn sigpipes() -> usize {
    SIGPIPES.load(Ordering::Relaxed)
}
