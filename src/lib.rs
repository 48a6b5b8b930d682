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
pub use selector::Selector;
pub use source::Source;
#[cfg(unix)]
pub use source::SourceFd;
pub use timer::{Timeout, TimerError, TimerWheel};
pub use token::Token;

/// What a [`Selector`] watches: a file descriptor on Unix, a socket on Windows.
#[cfg(unix)]
pub type RawSource = std::os::fd::RawFd;
/// What a [`Selector`] watches: a file descriptor on Unix, a socket on Windows.
#[cfg(windows)]
pub type RawSource = std::os::windows::io::RawSocket;
