//! A selector with no kernel behind it, for the notify channel's unit tests and loom
//! models: it knows only wakes.

use std::io;
use std::time::Duration;

use crate::selector::{Capabilities, Support};
use crate::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::sync::{Condvar, Mutex};
use crate::{BorrowedSource, Event, EventLoop, Events, Handler, Interest, Mode, Selector, Token};

/// `select` with a timeout other than zero and no wake pending blocks until a wake when
/// `waits` (the loom models, where a lost wake-up shows as a deadlock), or returns at once
/// and counts it in `would_block` (the unit tests, which must fail rather than hang).
#[derive(Debug)]
pub(super) struct Fake {
    woken: Mutex<bool>,
    wakeup: Condvar,
    waits: bool,
    pub(super) wakes: AtomicUsize,
    /// Selects with a timeout other than zero.
    pub(super) sleeps: AtomicUsize,
    /// Of those, the ones that found no wake pending.
    pub(super) would_block: AtomicUsize,
    /// Dropped with the selector, so a test can tell whether anything still holds it.
    _alive: std::sync::Arc<()>,
}

impl Fake {
    pub(super) fn new(waits: bool, alive: std::sync::Arc<()>) -> Fake {
        Fake {
            woken: Mutex::new(false),
            wakeup: Condvar::new(),
            waits,
            wakes: AtomicUsize::new(0),
            sleeps: AtomicUsize::new(0),
            would_block: AtomicUsize::new(0),
            _alive: alive,
        }
    }
}

impl Selector for Fake {
    type RawEvent = ();

    fn new() -> io::Result<Fake> {
        Ok(Fake::new(false, std::sync::Arc::new(())))
    }

    fn name(&self) -> &'static str {
        "fake"
    }

    fn capabilities(&self) -> Capabilities {
        let no = Support::Unsupported;
        Capabilities::new(Support::Native, no, no)
    }

    fn register(&self, _: BorrowedSource<'_>, _: Token, _: Interest, _: Mode) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    fn reregister(&self, _: BorrowedSource<'_>, _: Token, _: Interest, _: Mode) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    fn deregister(&self, _: BorrowedSource<'_>) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    fn select(&self, events: &mut Events<Fake>, timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        let mut woken = self.woken.lock().unwrap();
        if timeout != Some(Duration::ZERO) {
            self.sleeps.fetch_add(1, SeqCst);
        }
        if !*woken && timeout != Some(Duration::ZERO) {
            self.would_block.fetch_add(1, SeqCst);
            while self.waits && !*woken {
                woken = self.wakeup.wait(woken).unwrap();
            }
        }
        *woken = false;
        Ok(())
    }

    fn wake(&self) -> io::Result<()> {
        self.wakes.fetch_add(1, SeqCst);
        *self.woken.lock().unwrap() = true;
        self.wakeup.notify_one();
        Ok(())
    }

    fn decode(_: &()) -> Event {
        unreachable!("the fake selector stores no event")
    }
}

/// Keeps the messages it is handed.
#[derive(Debug, Default)]
pub(super) struct Got(pub(super) Vec<u32>);

impl Handler<Fake> for Got {
    type Timeout = ();
    type Message = u32;

    fn notify(&mut self, _: &mut EventLoop<Got, Fake>, msg: u32) {
        self.0.push(msg);
    }
}
