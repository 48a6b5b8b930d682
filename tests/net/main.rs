//! selectio's socket types on real loopback sockets: flags, accept, shutdown, reset,
//! bulk transfer, UDP, Unix sockets, the `Connect`/`Listen` hooks and bad input.
//! (The EventLoop-level connect/listen tests are in the event-loop suites.)

#[macro_use]
#[path = "../util/mod.rs"]
mod util;

mod hooks;
mod pipe;
mod tcp;
mod udp;
// Unix-domain sockets (selectio::net::Unix*) exist on Unix only.
#[cfg(unix)]
mod unix;
