//! selectio's socket types on real loopback sockets: flags, accept, shutdown, reset,
//! bulk transfer, UDP, Unix sockets, the `Connect`/`Listen` hooks and bad input.
//! (The EventLoop-level connect/listen tests are in the event-loop suites.)

#[path = "../net_util/mod.rs"]
mod net_util;

mod hooks;
mod tcp;
mod udp;
// Unix-domain sockets (selectio::net::Unix*) exist on Unix only.
#[cfg(unix)]
mod unix;
