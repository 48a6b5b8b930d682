#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[macro_use]
mod macros;

mod event;
mod event_loop;
mod handler;
mod interest;
pub mod net;
mod notify;
#[cfg(unix)]
pub mod pipe;
pub mod selector;
mod signal;
mod source;
mod sync;
mod sys;
mod timer;
mod token;

#[path = "../backends/mod.rs"]
pub mod backends;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use backends::{AnySelector, Backend, DefaultSelector};
pub use event::{Event, Events, Iter, Ready};
pub use event_loop::{Builder, EventLoop};
pub use handler::Handler;
pub use interest::{Interest, Mode};
pub use notify::{NotifyError, Sender};
pub use selector::{Capabilities, Selector, Support};
pub use source::Source;
pub use timer::{Timeout, TimerError, TimerWheel};
pub use token::Token;

/// What a [`Selector`] watches, borrowed for one call: a file descriptor on Unix
/// ([`BorrowedFd`](std::os::fd::BorrowedFd)), a socket on Windows
/// ([`BorrowedSocket`](https://doc.rust-lang.org/std/os/windows/io/struct.BorrowedSocket.html)).
///
/// Every [`Source`] hands one out; a descriptor from C is borrowed with the `unsafe`
/// `BorrowedFd::borrow_raw` (see [`Source`]).
#[cfg(unix)]
pub type BorrowedSource<'a> = std::os::fd::BorrowedFd<'a>;
/// What a [`Selector`] watches, borrowed for one call: a file descriptor on Unix
/// (`BorrowedFd`), a socket on Windows
/// ([`BorrowedSocket`](std::os::windows::io::BorrowedSocket)).
///
/// Every [`Source`] hands one out; a socket from C is borrowed with the `unsafe`
/// `BorrowedSocket::borrow_raw`.
#[cfg(windows)]
pub type BorrowedSource<'a> = std::os::windows::io::BorrowedSocket<'a>;

/// The number behind a [`BorrowedSource`], as the backends and the loop's registry key
/// it: never taken from a caller in a safe fn.
#[cfg(unix)]
pub(crate) type RawSource = std::os::fd::RawFd;
/// The number behind a [`BorrowedSource`], as the backends and the loop's registry key
/// it: never taken from a caller in a safe fn.
#[cfg(windows)]
pub(crate) type RawSource = std::os::windows::io::RawSocket;
