//! `each_backend!(tests)`: one module per backend compiled in (`epoll`, `kqueue`, `poll`,
//! `polling`, `uring`), each invoking the test crate's `tests!(selectio::backends::Backend)`
//! macro, which defines that backend's `#[test]`s.

macro_rules! each_backend {
    ($tests:ident) => {
        each_backend!(@one $tests, selectio_epoll, epoll, Epoll);
        each_backend!(@one $tests, selectio_kqueue, kqueue, Kqueue);
        each_backend!(@one $tests, selectio_poll, poll, Poll);
        each_backend!(@one $tests, selectio_polling, polling, Polling);
        each_backend!(@one $tests, selectio_uring, uring, Uring);
    };
    (@one $tests:ident, $cfg:ident, $name:ident, $Backend:ident) => {
        #[cfg($cfg)]
        mod $name {
            $tests!(selectio::backends::$Backend);
        }
    };
}
