//! libkqueue's `<sys/event.h>` (a userspace kqueue over epoll, on Linux): the part of
//! kqueue(2) that the kqueue backend uses, which the C library on Linux does not have.
//!
//! Built only with `SELECTIO_LIBKQUEUE=<prefix>` (see `build.rs`), which links the
//! library. The names and types match libc's on FreeBSD, so `backends/kqueue.rs` takes
//! them from here or from libc with one `use`. Values: libkqueue's
//! `include/sys/event.h`, the same as FreeBSD's for every item here.

use std::ffi::{c_int, c_short, c_uint, c_ushort, c_void};

/// `struct kevent`, libkqueue's layout (FreeBSD's before version 12: no `ext`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct kevent {
    pub(crate) ident: usize,
    pub(crate) filter: c_short,
    pub(crate) flags: c_ushort,
    pub(crate) fflags: c_uint,
    pub(crate) data: isize,
    pub(crate) udata: *mut c_void,
}

pub(crate) const EVFILT_READ: c_short = -1;
pub(crate) const EVFILT_WRITE: c_short = -2;
pub(crate) const EVFILT_USER: c_short = -11;

pub(crate) const EV_ADD: c_ushort = 0x0001;
pub(crate) const EV_DELETE: c_ushort = 0x0002;
pub(crate) const EV_DISABLE: c_ushort = 0x0008;
pub(crate) const EV_CLEAR: c_ushort = 0x0020;
pub(crate) const EV_RECEIPT: c_ushort = 0x0040;
pub(crate) const EV_DISPATCH: c_ushort = 0x0080;
pub(crate) const EV_ERROR: c_ushort = 0x4000;
pub(crate) const EV_EOF: c_ushort = 0x8000;

pub(crate) const NOTE_TRIGGER: c_uint = 0x0100_0000;

// Linked by `build.rs` (`rustc-link-lib=kqueue`), from the prefix it was given.
extern "C" {
    /// [kqueue(2)](https://man.freebsd.org/cgi/man.cgi?query=kqueue&sektion=2), libkqueue's.
    pub(crate) fn kqueue() -> c_int;

    /// [kevent(2)](https://man.freebsd.org/cgi/man.cgi?query=kevent&sektion=2), libkqueue's.
    pub(crate) fn kevent(
        kq: c_int,
        changelist: *const kevent,
        nchanges: c_int,
        eventlist: *mut kevent,
        nevents: c_int,
        timeout: *const libc::timespec,
    ) -> c_int;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    /// The C layout on LP64 and ILP32: uintptr_t, short, u_short, u_int, intptr_t, void *.
    #[test]
    fn kevent_has_the_c_layout() {
        let word = size_of::<usize>();
        assert_eq!(offset_of!(kevent, filter), word);
        assert_eq!(offset_of!(kevent, flags), word + 2);
        assert_eq!(offset_of!(kevent, fflags), word + 4);
        assert_eq!(offset_of!(kevent, data), word + 8);
        assert_eq!(offset_of!(kevent, udata), 2 * word + 8);
        assert_eq!(size_of::<kevent>(), 3 * word + 8);
        assert_eq!(align_of::<kevent>(), align_of::<usize>());
    }
}
