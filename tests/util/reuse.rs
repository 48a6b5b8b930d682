//! Helpers of the tests that close a registered fd without deregistering it and let the
//! next file take its number (`tests/selector/regressions.rs`, `tests/uring_files.rs`):
//! pipes as plain files, one with its reader registered, and the reader's number.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use selectio::{Interest, Mode, Selector, Token};

/// A pipe as two files: (reader, writer).
pub fn pipe() -> (File, File) {
    let (r, w) = std::io::pipe().expect("pipe");
    let (r, w): (OwnedFd, OwnedFd) = (r.into(), w.into());
    (r.into(), w.into())
}

/// A pipe whose reader is registered with `sel` as `token`, readable, in `mode`: the
/// reader, the writer and the reader's number, for the caller to close the reader and
/// hand the number back.
#[track_caller]
pub fn registered_pipe<S: Selector>(sel: &S, token: Token, mode: Mode) -> (File, File, RawFd) {
    let (r, w) = pipe();
    let n = r.as_raw_fd();
    sel.register(r.as_fd(), token, Interest::READABLE, mode)
        .unwrap();
    (r, w, n)
}
