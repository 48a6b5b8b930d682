//! The test support every test binary shares: the per-backend macros, and one module
//! per kind of test (`evloop`: handlers and selector wrappers for EventLoop tests,
//! `net`: sockets and readiness waits, `model`: the Selector model and its sequences,
//! `race`: connect/listen races, `soak`: load and resource accounting, `bad`: misuse
//! cases, `rng`: a seeded generator for test data, `serve`: an example's server on its
//! own thread, `reuse`: registered pipes whose fd number a test closes and reuses). A
//! binary uses the parts it needs.
#![allow(dead_code, unused_imports, unused_macros)]

/// `each_backend!(tests)` instantiates `tests!(S, new)` once per backend compiled in
/// (`epoll`, `kqueue`, `poll`, `polling`, `uring`), each in a module of that name with the
/// parent's items in scope: `S` is the backend's type, `new` a `fn() -> io::Result<S>`.
/// `each_backend!(tests, any)` also instantiates it through `AnySelector`
/// (`any_epoll`, …), where `S` is `AnySelector` and `new` picks the backend.
macro_rules! each_backend {
    ($tests:ident) => {
        each_backend!(@all $tests, direct);
    };
    ($tests:ident, any) => {
        each_backend!(@all $tests, any);
    };
    (@all $tests:ident, $how:ident) => {
        each_backend!(@one $tests, $how, selectio_epoll, epoll, any_epoll, Epoll);
        each_backend!(@one $tests, $how, selectio_kqueue, kqueue, any_kqueue, Kqueue);
        each_backend!(@one $tests, $how, selectio_poll, poll, any_poll, Poll);
        each_backend!(@one $tests, $how, selectio_polling, polling, any_polling, Polling);
        each_backend!(@one $tests, $how, selectio_uring, uring, any_uring, Uring);
    };
    (@one $tests:ident, direct, $cfg:ident, $name:ident, $any:ident, $B:ident) => {
        #[cfg($cfg)]
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $tests!(selectio::backends::$B, selectio::backends::$B::new);
        }
    };
    (@one $tests:ident, any, $cfg:ident, $name:ident, $any:ident, $B:ident) => {
        each_backend!(@one $tests, direct, $cfg, $name, $any, $B);
        #[cfg($cfg)]
        mod $any {
            #[allow(unused_imports)]
            use super::*;
            fn new() -> std::io::Result<selectio::AnySelector> {
                selectio::AnySelector::with_backend(selectio::Backend::$B)
            }
            $tests!(selectio::AnySelector, new);
        }
    };
}

/// One `#[test]` per named generic test function of the parent module, instantiated on
/// the selector type `$sel`: `backend_tests!(S; name, …)` inside an `each_backend!` body.
macro_rules! backend_tests {
    ($sel:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                super::$name::<$sel>();
            }
        )*
    };
}

pub mod bad;
pub mod evloop;
#[cfg(unix)]
pub mod model;
pub mod net;
pub mod race;
#[cfg(unix)]
pub mod reuse;
pub mod rng;
pub mod serve;
#[cfg(unix)]
pub mod soak;
