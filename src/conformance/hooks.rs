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

/// Makes `io_uring_setup(2)` fail with `EPERM` on the calling thread from now on (a
/// seccomp filter, as a container's default profile installs; it cannot be removed, so
/// call it on a thread of its own), to test what a program does where io_uring is
/// switched off. Linux on x86_64 and aarch64.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
pub fn deny_io_uring_setup() -> io::Result<()> {
    crate::sys::testhooks::deny_io_uring_setup()
}
