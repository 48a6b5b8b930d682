//! The readiness backends, each compiled where its kernel interface exists, and the
//! choice of `DefaultSelector`.
//!
//! Which target has which interface is decided once, in `build.rs`, and arrives here
//! as `cfg(selectio_epoll)`, `cfg(selectio_kqueue)`, `cfg(selectio_poll)` and
//! `cfg(selectio_polling)`, `cfg(selectio_uring)`. Backend files never mention each other.
#![allow(unsafe_code)]

#[cfg(selectio_epoll)]
mod epoll;
#[cfg(selectio_epoll)]
#[cfg_attr(
    docsrs,
    doc(cfg(all(feature = "epoll", any(target_os = "linux", target_os = "android"))))
)]
pub use epoll::Epoll;

#[cfg(selectio_kqueue)]
mod kqueue;
#[cfg(selectio_kqueue)]
#[cfg_attr(docsrs, doc(cfg(feature = "kqueue")))]
pub use kqueue::Kqueue;

#[cfg(selectio_poll)]
mod poll;
#[cfg(selectio_poll)]
#[cfg_attr(docsrs, doc(cfg(all(feature = "poll", unix))))]
pub use poll::Poll;

#[cfg(selectio_polling)]
mod polling;
#[cfg(selectio_polling)]
#[cfg_attr(docsrs, doc(cfg(any(all(feature = "polling", unix), windows))))]
pub use self::polling::Polling;

#[cfg(selectio_uring)]
mod uring;
#[cfg(selectio_uring)]
#[cfg_attr(docsrs, doc(cfg(all(feature = "uring", target_os = "linux"))))]
pub use uring::Uring;

mod any;
pub use any::{AnySelector, Backend, BACKEND_ENV};

cfg_if::cfg_if! {
    if #[cfg(selectio_epoll)] {
        /// The first available backend of epoll → kqueue → polling → poll: here, epoll.
        pub type DefaultSelector = Epoll;
    } else if #[cfg(selectio_kqueue)] {
        /// The first available backend of epoll → kqueue → polling → poll: here, kqueue.
        pub type DefaultSelector = Kqueue;
    } else if #[cfg(selectio_polling)] {
        /// The first available backend of epoll → kqueue → polling → poll: here, polling.
        pub type DefaultSelector = Polling;
    } else if #[cfg(selectio_poll)] {
        /// The first available backend of epoll → kqueue → polling → poll: here, poll(2).
        pub type DefaultSelector = Poll;
    } else if #[cfg(selectio_uring)] {
        /// The first available backend of epoll → kqueue → polling → poll → uring: here,
        /// io_uring (the `uring` feature alone).
        pub type DefaultSelector = Uring;
    } else {
        compile_error!(
            "selectio: no backend for this target with the enabled features; \
             enable the `poll` feature (any Unix) or the `polling` feature \
             (Windows, illumos, and wherever the polling crate runs)"
        );
    }
}
