//! The signals an `EventLoop` watches: a self-pipe per loop that the signal handler of
//! `sys::signal` writes to, and the counts it hands to `Handler::signal`.
//!
//! # Implementation notes
//! One mechanism on every backend: the handler writes a byte to the loop's pipe, whose
//! read end the loop registers in its own selector under [`Token::EVENT_LOOP`]. It runs
//! in signal context, so it may not call `Selector::wake`, which takes locks on some
//! backends. `EVFILT_SIGNAL` (kqueue) only sees signals whose disposition is not
//! `SIG_IGN`, and needs a handler anyway to keep the default action away; signalfd(2)
//! needs the signal blocked in every thread, which a library cannot promise. The pipe
//! costs one descriptor pair per loop that watches, and nothing per iteration otherwise.
//!
//! [`Token::EVENT_LOOP`]: crate::Token::EVENT_LOOP

use std::io;

#[cfg(unix)]
pub(crate) use self::unix::Signals;

#[cfg(not(unix))]
pub(crate) use self::other::Signals;

#[cfg(unix)]
mod unix {
    use std::fmt;
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, OwnedFd};

    use crate::sys::signal::{self, Watch};
    use crate::BorrowedSource;

    /// One loop's watches and the pipe their deliveries wake it through.
    pub(crate) struct Signals {
        read: OwnedFd,
        write: OwnedFd,
        watches: Vec<Watch>,
        /// Deliveries taken from each watch (same index) and not yet handed over.
        counts: Vec<usize>,
    }

    impl Signals {
        /// A pipe and no watch yet.
        pub(crate) fn new() -> io::Result<Signals> {
            let (read, write) = crate::sys::pipe()?;
            Ok(Signals {
                read,
                write,
                watches: Vec::new(),
                counts: Vec::new(),
            })
        }

        /// The pipe's read end, for the selector.
        pub(crate) fn source(&self) -> BorrowedSource<'_> {
            self.read.as_fd()
        }

        /// Starts hearing `sig`; `AlreadyExists` when this loop already does.
        pub(crate) fn watch(&mut self, sig: i32) -> io::Result<()> {
            if self.watches.iter().any(|w| w.signal() == sig) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("selectio: watch_signal({sig}): this loop already watches it"),
                ));
            }
            // Room first, so a watch never exists without its count.
            self.watches.try_reserve(1).map_err(oom)?;
            self.counts.try_reserve(1).map_err(oom)?;
            self.watches.push(signal::watch(sig, self.write.as_fd())?);
            self.counts.push(0);
            Ok(())
        }

        /// Stops hearing `sig`; deliveries not yet handed over are dropped. `NotFound`
        /// when this loop does not watch it.
        pub(crate) fn unwatch(&mut self, sig: i32) -> io::Result<()> {
            let Some(i) = self.watches.iter().position(|w| w.signal() == sig) else {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("selectio: unwatch_signal({sig}): this loop does not watch it"),
                ));
            };
            signal::unwatch(self.watches.remove(i));
            self.counts.remove(i);
            Ok(())
        }

        /// Whether no signal is watched.
        pub(crate) fn is_empty(&self) -> bool {
            self.watches.is_empty()
        }

        /// Empties the pipe, then adds each watch's deliveries to its count. In that
        /// order: a delivery after the drain is either taken here or writes a new byte.
        pub(crate) fn collect(&mut self) {
            signal::drain(self.read.as_fd());
            for (watch, count) in self.watches.iter().zip(&mut self.counts) {
                *count = count.saturating_add(watch.take());
            }
        }

        /// The next watched signal with deliveries to hand over, and how many.
        pub(crate) fn next_due(&mut self) -> Option<(i32, usize)> {
            let i = self.counts.iter().position(|&n| n > 0)?;
            Some((
                self.watches[i].signal(),
                std::mem::take(&mut self.counts[i]),
            ))
        }
    }

    impl Drop for Signals {
        fn drop(&mut self) {
            // Before the pipe closes: no handler writes to it once `unwatch` returns.
            for watch in self.watches.drain(..) {
                signal::unwatch(watch);
            }
        }
    }

    impl fmt::Debug for Signals {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let signals: Vec<i32> = self.watches.iter().map(Watch::signal).collect();
            f.debug_struct("Signals")
                .field("pipe", &(self.read.as_raw_fd(), self.write.as_raw_fd()))
                .field("signals", &signals)
                .finish()
        }
    }

    fn oom(_: std::collections::TryReserveError) -> io::Error {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            "selectio: watch_signal: out of memory",
        )
    }
}

#[cfg(not(unix))]
mod other {
    use std::convert::Infallible;
    use std::io;

    use crate::BorrowedSource;

    /// No signals outside Unix: [`Signals::new`] fails, so no value exists.
    #[derive(Debug)]
    pub(crate) struct Signals(Infallible);

    impl Signals {
        pub(crate) fn new() -> io::Result<Signals> {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "selectio: watch_signal: signals exist on Unix only",
            ))
        }

        pub(crate) fn source(&self) -> BorrowedSource<'_> {
            match self.0 {}
        }

        pub(crate) fn watch(&mut self, _: i32) -> io::Result<()> {
            match self.0 {}
        }

        pub(crate) fn unwatch(&mut self, _: i32) -> io::Result<()> {
            match self.0 {}
        }

        pub(crate) fn is_empty(&self) -> bool {
            match self.0 {}
        }

        pub(crate) fn collect(&mut self) {
            match self.0 {}
        }

        pub(crate) fn next_due(&mut self) -> Option<(i32, usize)> {
            match self.0 {}
        }
    }
}

/// The error of `unwatch_signal` when the loop watches nothing.
pub(crate) fn not_watched(sig: i32) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("selectio: unwatch_signal({sig}): this loop does not watch it"),
    )
}
