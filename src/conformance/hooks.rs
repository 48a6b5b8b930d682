//! Hooks for fault tests (Unix): signal a thread blocked in `select` ([`Interrupter`]),
//! and count the `SIGPIPE`s the process receives. Safe wrappers over `crate::sys`;
//! `tests/faults.rs` uses them, and so can a third-party backend's tests.
#![cfg(unix)]

use std::io;

pub use crate::sys::testhooks::Interrupter;

/// Makes the process count `SIGPIPE`s instead of ignoring them (see [`sigpipes`]); a
/// write to a dead peer still fails with `EPIPE`. Idempotent.
pub fn watch_sigpipe() -> io::Result<()> {
    crate::sys::testhooks::watch_sigpipe()
}

/// How many `SIGPIPE`s the process received since [`watch_sigpipe`].
pub fn sigpipes() -> usize {
    crate::sys::testhooks::sigpipes()
}
