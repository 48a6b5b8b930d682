//! Raw OS glue: the only place outside `backends/` that calls the C library.
//!
//! `target_os` lists live in `build.rs`, which turns them into `cfg` names
//! (`selectio_apple`, `selectio_atomic_sock_flags`, …) for items that exist on some
//! targets only, and here, as named `const` bools for a plain `if` where both branches
//! compile everywhere. The rest of the crate uses the names.
#![allow(unsafe_code)]

#[cfg(any(selectio_epoll, selectio_poll, selectio_polling))]
use std::time::Duration;

#[cfg(feature = "conformance")]
pub(crate) mod alloc;
mod buf;
pub(crate) use buf::FixedBuf;
#[cfg(selectio_libkqueue)]
pub(crate) mod libkqueue;
#[cfg(unix)]
pub(crate) mod signal;
pub(crate) mod socket;
pub(crate) mod testhooks;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;

/// Whether the kqueue backend tries an `EVFILT_USER` waker before a pipe: not on OpenBSD
/// (why: the waker in `backends/kqueue.rs`).
#[cfg(selectio_kqueue)]
pub(crate) const TRY_EVFILT_USER: bool = !cfg!(target_os = "openbsd");

/// The largest timeout, in milliseconds, that `poll(2)` / `epoll_wait(2)` take.
#[cfg(any(selectio_epoll, selectio_poll))]
const MAX_TIMEOUT_MS: u128 = i32::MAX as u128;

/// Converts a `select` timeout to the milliseconds of `poll(2)`/`epoll_wait(2)`:
/// `None` is `-1` (block), sub-millisecond remainders round **up** (a 1 µs timeout must
/// not become a 0 ms busy loop, nor return early), and huge values clamp to `i32::MAX`.
#[cfg(any(selectio_epoll, selectio_poll))]
#[inline]
pub(crate) fn timeout_ms(timeout: Option<Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            // The clamp makes the cast lossless.
            ms.min(MAX_TIMEOUT_MS) as i32
        }
    }
}

/// `timeout` when it has a part finer than a whole millisecond: a backend whose kernel
/// takes a `timespec` (`epoll_pwait2`, `ppoll`) uses it for those only, so the usual
/// `None`, zero and whole-millisecond waits keep the plain call.
#[cfg(any(selectio_epoll, all(selectio_poll, selectio_ppoll)))]
#[inline]
pub(crate) fn sub_ms(timeout: Option<Duration>) -> Option<Duration> {
    timeout.filter(|t| t.subsec_nanos() % 1_000_000 != 0)
}

/// Milliseconds left until `deadline` for [`timeout_ms`]: `None` stays `None`.
#[cfg(any(selectio_poll, selectio_polling))]
pub(crate) fn remaining(deadline: Option<std::time::Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()))
}

/// The deadline `timeout` from now; `None` when there is none or it does not fit in an
/// `Instant` (treated as "block", which the timeout conversion then clamps).
#[cfg(any(selectio_poll, selectio_polling))]
pub(crate) fn deadline(timeout: Option<Duration>) -> Option<std::time::Instant> {
    timeout.and_then(|t| std::time::Instant::now().checked_add(t))
}

#[cfg(all(test, any(selectio_epoll, selectio_poll)))]
mod tests {
    use super::*;

    #[test]
    fn timeout_none_blocks() {
        assert_eq!(timeout_ms(None), -1);
    }

    #[test]
    fn timeout_zero_is_zero() {
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
    }

    #[test]
    fn timeout_sub_millisecond_rounds_up() {
        assert_eq!(timeout_ms(Some(Duration::from_nanos(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_micros(999))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1001))), 2);
        assert_eq!(timeout_ms(Some(Duration::from_millis(7))), 7);
    }

    #[test]
    #[cfg(any(selectio_epoll, all(selectio_poll, selectio_ppoll)))]
    fn only_sub_millisecond_parts_take_the_precise_call() {
        assert_eq!(sub_ms(None), None);
        assert_eq!(sub_ms(Some(Duration::ZERO)), None);
        assert_eq!(sub_ms(Some(Duration::from_millis(3))), None);
        let t = Duration::from_micros(3_100);
        assert_eq!(sub_ms(Some(t)), Some(t));
        assert_eq!(sub_ms(Some(Duration::MAX)), Some(Duration::MAX));
    }

    #[test]
    fn timeout_huge_clamps() {
        assert_eq!(timeout_ms(Some(Duration::MAX)), i32::MAX);
        assert_eq!(
            timeout_ms(Some(Duration::from_secs(u64::from(u32::MAX)))),
            i32::MAX
        );
    }
}

/// A [`Selector`](crate::Selector) that uses the descriptors handed to `register`,
/// `reregister` and `deregister` only as numbers: it passes them to the kernel's readiness
/// calls or keeps them as keys, and never reads, writes, duplicates or closes them, nor
/// keeps the borrow.
///
/// The conformance properties that check how a selector answers a closed, reused,
/// invalid or foreign number ([`close_while_registered_does_not_spin`],
/// [`reused_fd_number_can_be_registered`], [`reused_fd_number_before_any_select`],
/// [`failed_calls_do_not_disturb_registrations`], [`invalid_fd_is_an_error`],
/// [`selector_own_fds_are_refused`], and so [`all`] and [`run_all`]) hand it borrows that
/// break `BorrowedFd`'s contract on purpose; they run only on selectors that implement
/// this trait.
///
/// # Safety
///
/// The implementer promises the above. A selector that acts on a descriptor through its
/// borrow (`try_clone_to_owned`, a read) would act on whatever file has the number.
///
/// Every backend of this crate implements it. A selector that does not cannot run those
/// properties:
///
/// ```compile_fail
/// use std::io;
/// use selectio::{conformance, Selector};
///
/// fn check<S: Selector>(new: fn() -> io::Result<S>) {
///     conformance::invalid_fd_is_an_error(new); // S made no FdsAsNumbers promise
/// }
/// ```
///
/// [`close_while_registered_does_not_spin`]: crate::conformance::close_while_registered_does_not_spin
/// [`reused_fd_number_can_be_registered`]: crate::conformance::reused_fd_number_can_be_registered
/// [`reused_fd_number_before_any_select`]: crate::conformance::reused_fd_number_before_any_select
/// [`failed_calls_do_not_disturb_registrations`]: crate::conformance::failed_calls_do_not_disturb_registrations
/// [`invalid_fd_is_an_error`]: crate::conformance::invalid_fd_is_an_error
/// [`selector_own_fds_are_refused`]: crate::conformance::selector_own_fds_are_refused
/// [`all`]: crate::conformance::all
/// [`run_all`]: crate::conformance::run_all
#[cfg(feature = "conformance")]
pub unsafe trait FdsAsNumbers: crate::Selector {}

/// `n` as a borrowed descriptor whatever it names: closed, reused by another file,
/// invalid, or a selector's own. For the conformance suite only, which hands such numbers
/// on purpose to the selector `_for` to check that it answers them as the contract
/// says; nothing else in the crate may borrow a number it does not own.
#[cfg(feature = "conformance")]
pub(crate) fn borrow_number_for_conformance<S: FdsAsNumbers>(
    _for: &S,
    n: crate::RawSource,
) -> crate::BorrowedSource<'static> {
    // SAFETY: `borrow_raw` asks that `n` stay open while borrowed, and the suite breaks
    // that on purpose. The borrow goes only to the calls of a selector of type `S`, whose
    // implementer promised (`unsafe impl FdsAsNumbers`) to use it as a number it never
    // reads, writes, duplicates or closes: a closed or reused number is then an error or
    // another file's readiness, which is what the suite checks. The niche value (`-1`,
    // `INVALID_SOCKET`), which `borrow_raw` refuses, is never passed.
    unsafe { crate::BorrowedSource::borrow_raw(n) }
}
