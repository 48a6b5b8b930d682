//! `Handler`: the callbacks an `EventLoop` makes; every method has a no-op default.

use crate::{DefaultSelector, EventLoop, Ready, Selector, Token};

/// What an [`EventLoop`] calls. Each callback gets `&mut EventLoop`, so it can register,
/// set timers or shut down directly — no `RefCell`, no `Rc`.
///
/// Write `impl<S: Selector> Handler<S> for MyHandler` and the same handler runs on every
/// backend. Implement only the callbacks you need: the others do nothing.
///
/// ```
/// use std::time::Duration;
/// use selectio::{AnySelector, EventLoop, Handler, Selector};
///
/// /// Counts down, one timer per step, then stops the loop.
/// struct Countdown { seen: Vec<u32> }
///
/// impl<S: Selector> Handler<S> for Countdown {
///     type Timeout = u32; // what a timer carries back to `timeout`
///     type Message = (); // what other threads send to `notify` (nothing here)
///
///     fn timeout(&mut self, el: &mut EventLoop<Self, S>, n: u32) {
///         self.seen.push(n);
///         if n == 0 {
///             el.shutdown();
///         } else {
///             el.timeout(n - 1, Duration::from_millis(1)).unwrap();
///         }
///     }
/// }
///
/// // On the default backend…
/// let mut el: EventLoop<Countdown> = EventLoop::new()?;
/// el.timeout(2, Duration::from_millis(1))?;
/// let mut countdown = Countdown { seen: Vec::new() };
/// el.run(&mut countdown)?;
/// assert_eq!(countdown.seen, [2, 1, 0]);
///
/// // …and on the one `SELECTIO_BACKEND` names, unchanged.
/// let mut el: EventLoop<Countdown, AnySelector> = EventLoop::new()?;
/// el.timeout(0, Duration::from_millis(1))?;
/// el.run(&mut countdown)?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panicking callbacks
/// A callback may panic; the panic unwinds out of `run_once` or `run`, and a caller that
/// catches it can run the loop again (see [`EventLoop`]). The call that panicked is
/// consumed: its event, timer or message is not delivered again. The rest of that
/// iteration is kept and delivered by the next one, which begins with it and does not
/// wait:
/// - **I/O**: the batch's events not yet dispatched are delivered first, edge-triggered
///   and Oneshot ones included, except those whose registration changed meanwhile (in a
///   callback before the panic, or by the caller between the panic and the next run),
///   as for any registration change. When the panic came from `readable`, the same
///   `ready` call's `writable` is not made; a level-triggered source is reported again
///   by the next `select`. Synthetic events ([`EventLoop::post_ready`]) not yet
///   dispatched stay queued.
/// - **Timers**: those already due stay due and fire next, in deadline order.
/// - **Messages**: those not yet handed to `notify` stay queued, in order.
/// - **Signals**: the counts not yet handed to `signal` come next.
/// - **`tick`**, **`interrupted`**: nothing is left over.
#[allow(unused_variables)]
pub trait Handler<S: Selector = DefaultSelector>: Sized {
    /// The value a timer carries back to [`timeout`](Handler::timeout).
    type Timeout;
    /// The message type of the cross-thread channel ([`EventLoop::channel`]).
    type Message: Send;

    /// Readiness for `token`: all flags of one iteration, merged into one call.
    ///
    /// The default calls [`readable`](Handler::readable) when `ready` is readable,
    /// read-closed or an error (so the read sees the data, the EOF or the error), then
    /// [`writable`](Handler::writable) when it is writable or write-closed — unless the
    /// `readable` callback deregistered the token or gave it to another source.
    #[inline(always)]
    fn ready(&mut self, event_loop: &mut EventLoop<Self, S>, token: Token, ready: Ready) {
        let writable = ready.intersects(Ready::WRITABLE | Ready::WRITE_CLOSED);
        if ready.intersects(Ready::READABLE | Ready::READ_CLOSED | Ready::ERROR) {
            self.readable(event_loop, token);
            // Staleness is asked only when there is more to deliver: a read-only event
            // then costs no lookup.
            if !writable || event_loop.is_stale(token) {
                return;
            }
        }
        if writable {
            self.writable(event_loop, token);
        }
    }

    /// The source registered under `token` can be read (or has hit EOF or an error).
    fn readable(&mut self, event_loop: &mut EventLoop<Self, S>, token: Token) {}

    /// The source registered under `token` can be written (or its write side closed).
    fn writable(&mut self, event_loop: &mut EventLoop<Self, S>, token: Token) {}

    /// A message sent through a [`Sender`](crate::Sender).
    fn notify(&mut self, event_loop: &mut EventLoop<Self, S>, msg: Self::Message) {}

    /// A timer set with [`EventLoop::timeout`] is due.
    fn timeout(&mut self, event_loop: &mut EventLoop<Self, S>, timeout: Self::Timeout) {}

    /// A signal interrupted the wait for events; the loop goes on.
    ///
    /// Any signal with a handler that interrupts `select` on the loop's thread does this
    /// on epoll, kqueue and poll(2); the `polling` backend hides the interruption and
    /// returns no event instead, so there it is not called. A signal the loop
    /// [watches](EventLoop::watch_signal) is then also handed to
    /// [`signal`](Handler::signal) in the same iteration, after `interrupted`; one
    /// delivered to another thread wakes the loop without `interrupted`.
    fn interrupted(&mut self, event_loop: &mut EventLoop<Self, S>) {}

    /// `signal` (`libc::SIGTERM`, …) was delivered `count` times (at least once) since the
    /// loop last called this for it; the loop must [watch](EventLoop::watch_signal) it.
    ///
    /// Deliveries between two iterations merge into one call; `count` says how many
    /// the handler counted. The kernel itself merges a standard signal raised again
    /// while it is pending, so `count` can be lower than the number of `kill` calls, but
    /// never zero and never a delivery lost: one after this call started comes in a
    /// later call. Called after I/O and synthetic events, before timers.
    fn signal(&mut self, event_loop: &mut EventLoop<Self, S>, signal: i32, count: usize) {}

    /// The end of each iteration, after I/O, timers and messages.
    fn tick(&mut self, event_loop: &mut EventLoop<Self, S>) {}
}
