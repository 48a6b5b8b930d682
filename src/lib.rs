#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[macro_use]
mod macros;

mod event;
mod interest;
pub mod selector;
mod sys;
mod token;

#[path = "../backends/mod.rs"]
pub mod backends;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use backends::{AnySelector, Backend, DefaultSelector};
pub use event::{Event, Events, Iter, Ready};
pub use interest::{Interest, Mode};
pub use selector::{Capabilities, Selector, Support};
pub use token::Token;

/// What a [`Selector`] watches: a file descriptor on Unix, a socket on Windows.
#[cfg(unix)]
pub type RawSource = std::os::fd::RawFd;
/// What a [`Selector`] watches: a file descriptor on Unix, a socket on Windows.
#[cfg(windows)]
pub type RawSource = std::os::windows::io::RawSocket;
