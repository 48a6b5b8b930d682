//! `EventLoop`: the callback-style reactor, written once over any `Selector`.
//!
//! # Implementation notes
//! Each iteration runs the phases `next_timeout → select → dispatch_io →
//! dispatch_pending → dispatch_signals → fire_timers → drain_notify → tick` (the signal
//! phase only after the signal pipe was readable or a signal interrupted `select`; see
//! `crate::signal`). Events of one batch are merged per token (kqueue reports reading
//! and writing apart) so a token gets one `ready` call
//! per iteration; a batch whose tokens are all distinct, the usual case, is dispatched
//! as the selector returned it, without copying or sorting. Registration changes made inside a callback mark the tokens they
//! affect as stale for the rest of the batch, so no event fetched for an old
//! registration reaches a new one.
//!
//! A callback may unwind. Drop guards clear the `in_iteration` and `running` marks
//! however `run_once` and `run` end, and every phase keeps its progress in the loop
//! rather than in locals: the position in the I/O batch, the timer wheel's due list, the
//! notify queue. The next iteration resumes from there, so nothing but the call that
//! panicked is lost. The guards are a store each in their `Drop`; the batch position
//! is one store per event.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod fd_hash;
mod token_set;

use self::token_set::TokenSet;
use crate::net::{Connect, Listen};
use crate::notify::{Receiver, Sender};
use crate::signal::Signals;
use crate::{
    DefaultSelector, Events, Handler, Interest, Mode, RawSource, Ready, Selector, Source, Timeout,
    TimerError, TimerWheel, Token,
};

/// The finest timer tick. The backends wait out a `select` timeout as precisely as their
/// kernel allows (`epoll_pwait2`, `ppoll`, kqueue's `timespec`: microseconds, plus the
/// kernel's timer slack, 50 µs by default on Linux), so ticks finer than a millisecond
/// mean what they say there. Below 10 µs no kernel wakes the loop any sooner: a finer
/// tick would only make the wheel visit more empty ticks per wake-up and shorten its
/// revolution (`slots` ticks), and a timer beyond the revolution wakes the loop once per
/// revolution until its own comes.
const MIN_TIMER_TICK: Duration = Duration::from_micros(10);

/// The shortest revolution of the timer wheel (`slots × tick`): a timer set beyond one
/// wakes the loop once per revolution until its own comes, and more than a thousand
/// wake-ups a second for a far timer is a busy loop.
const MIN_REVOLUTION: Duration = Duration::from_millis(1);

/// The coarsest timer tick. A tick is how late a timer may fire; beyond an hour that is
/// no timer resolution any more, and at `Duration::MAX` no timer would ever fire (the
/// wheel counts time in `u64` nanoseconds, about 584 years).
const MAX_TIMER_TICK: Duration = Duration::from_secs(3600);

/// Registration changes inside one batch the stale set holds before it first grows.
const STALE_CAPACITY: usize = 64;

/// How many tokens of sources closed before `deregister` the loop keeps filtering.
const MAX_ORPHANS: usize = 64;

/// An empty slot of the token set: `Token::RESERVED`, which no registration may use.
const NO_TOKEN: usize = Token::RESERVED.0;

/// Fibonacci hashing's multiplier (2^w / φ, odd) for the token set.
const FIB: usize = (0x9E37_79B9_7F4A_7C15_u64 >> (64 - usize::BITS)) as usize;

/// Settings of an [`EventLoop`]; made by [`EventLoop::builder`].
///
/// Every setting has a default (in its method's docs); [`build`](Builder::build) checks
/// them all and refuses a zero or out-of-range one with `InvalidInput`.
///
/// ```
/// use std::time::Duration;
/// use selectio::{AnySelector, Backend, EventLoop, Handler, Selector};
///
/// struct App;
///
/// impl<S: Selector> Handler<S> for App {
///     type Timeout = ();
///     type Message = String;
/// }
///
/// // The default backend, with a small message queue and 100 µs timers:
/// let el: EventLoop<App> = EventLoop::builder()
///     .notify_capacity(16)
///     .timer_tick(Duration::from_micros(100))
///     .timer_wheel_slots(4096) // a revolution of 4096 × 100 µs
///     .build()?;
/// # drop(el);
///
/// // Around a selector you opened yourself, here poll(2) picked at run time:
/// # #[cfg(unix)] {
/// let selector = AnySelector::with_backend(Backend::Poll)?;
/// let el: EventLoop<App, AnySelector> = EventLoop::builder().build_with(selector)?;
/// assert_eq!(el.selector().name(), "poll");
/// # }
///
/// let err = EventLoop::<App>::builder().events_capacity(0).build().unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Builder<H, S = DefaultSelector> {
    events_capacity: usize,
    notify_capacity: usize,
    messages_per_tick: usize,
    timer_tick: Duration,
    timer_wheel_slots: usize,
    timer_capacity: usize,
    _marker: PhantomData<fn() -> (H, S)>,
}

impl<H: Handler<S>, S: Selector> Builder<H, S> {
    fn new() -> Builder<H, S> {
        Builder {
            events_capacity: 1024,
            notify_capacity: 4096,
            messages_per_tick: 256,
            timer_tick: Duration::from_millis(1),
            timer_wheel_slots: 1024,
            timer_capacity: 65_536,
            _marker: PhantomData,
        }
    }

    /// Most I/O events taken from the selector per iteration (default 1024).
    pub fn events_capacity(mut self, n: usize) -> Self {
        self.events_capacity = n;
        self
    }

    /// Most messages queued in the notify channel (default 4096).
    pub fn notify_capacity(mut self, n: usize) -> Self {
        self.notify_capacity = n;
        self
    }

    /// Most messages handed to `notify` per iteration, so I/O and timers never starve
    /// (default 256).
    pub fn messages_per_tick(mut self, n: usize) -> Self {
        self.messages_per_tick = n;
        self
    }

    /// The timer resolution (default 1 ms): timers fire at most one tick late.
    ///
    /// Between 10 µs and 1 hour, else [`build`](Builder::build) fails with
    /// `InvalidInput`. A sub-millisecond tick means what it says where the backend waits
    /// out timeouts finer than a millisecond (epoll on Linux 5.11+, poll(2) on Linux and
    /// the BSDs, kqueue, `polling` on epoll); elsewhere a timer may fire up to a
    /// millisecond late, never early. No kernel wakes the loop sooner than 10 µs, and a
    /// tick over an hour is no timer resolution (at `Duration::MAX` no timer would fire).
    /// A finer tick shortens the wheel's revolution (`slots × tick`), and a timer set
    /// beyond it wakes the loop once per revolution: raise
    /// [`timer_wheel_slots`](Builder::timer_wheel_slots) with it.
    pub fn timer_tick(mut self, tick: Duration) -> Self {
        self.timer_tick = tick;
        self
    }

    /// Slots of the timer wheel, rounded up to a power of two (default 1024), at most
    /// 2^20. A timer more than `slots` ticks away wakes the loop once per revolution of
    /// the wheel (`slots` ticks) until its own revolution comes; with few slots, that is
    /// often (every tick with one slot), though never more than once per tick.
    pub fn timer_wheel_slots(mut self, n: usize) -> Self {
        self.timer_wheel_slots = n;
        self
    }

    /// Most pending timers (default 65,536); beyond it `timeout` is
    /// [`TimerError::Overflow`].
    pub fn timer_capacity(mut self, n: usize) -> Self {
        self.timer_capacity = n;
        self
    }

    fn validate(&self) -> io::Result<()> {
        let limit = (u32::MAX / 2) as usize;
        let tick = format!(
            "timer tick must be between {MIN_TIMER_TICK:?} (no kernel wakes the loop sooner) \
             and {MAX_TIMER_TICK:?}, not {:?}",
            self.timer_tick
        );
        let slots = self
            .timer_wheel_slots
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX);
        let revolution = format!(
            "a revolution of the timer wheel (slots × tick, slots rounded up to a power of \
             two) must be at least {MIN_REVOLUTION:?}, not {} × {:?}: a timer beyond it wakes \
             the loop once per revolution",
            slots, self.timer_tick
        );
        let checks = [
            (
                self.events_capacity == 0,
                "events capacity must be at least 1",
            ),
            (
                self.notify_capacity == 0,
                "notify capacity must be at least 1",
            ),
            (
                self.messages_per_tick == 0,
                "messages per tick must be at least 1",
            ),
            (
                !(MIN_TIMER_TICK..=MAX_TIMER_TICK).contains(&self.timer_tick),
                tick.as_str(),
            ),
            (
                self.timer_tick
                    .saturating_mul(u32::try_from(slots).unwrap_or(u32::MAX))
                    < MIN_REVOLUTION,
                revolution.as_str(),
            ),
            (
                // Two levels of slot lists are allocated up front: 2^20 slots is 48 MiB.
                self.timer_wheel_slots == 0 || self.timer_wheel_slots > 1 << 20,
                "timer wheel slots must be between 1 and 2^20",
            ),
            (
                self.timer_capacity == 0 || self.timer_capacity >= limit,
                "timer capacity must be between 1 and 2^31 - 2",
            ),
        ];
        let failed = checks.into_iter().find(|(bad, _)| *bad);
        match failed {
            Some((_, msg)) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("selectio: EventLoop builder: {msg}"),
            )),
            None => Ok(()),
        }
    }

    /// Opens the selector (`S::new()`) and builds the loop.
    pub fn build(self) -> io::Result<EventLoop<H, S>> {
        self.validate()?;
        self.build_with(S::new()?)
    }

    /// Builds the loop around a selector you opened.
    pub fn build_with(self, selector: S) -> io::Result<EventLoop<H, S>> {
        self.validate()?;
        let selector = Arc::new(selector);
        let notify = Receiver::new(self.notify_capacity, selector.clone());
        Ok(EventLoop {
            events: Events::with_capacity(self.events_capacity)?,
            seen: token_set(self.events_capacity)?,
            batch: Vec::with_capacity(self.events_capacity),
            stale: TokenSet::with_capacity(STALE_CAPACITY),
            unfinished: Batch::None,
            next_event: 0,
            orphans: Vec::new(),
            registry: HashMap::default(),
            pending: VecDeque::new(),
            timers: TimerWheel::new(
                Instant::now(),
                self.timer_tick,
                self.timer_wheel_slots,
                self.timer_capacity,
            ),
            notify,
            messages_per_tick: self.messages_per_tick,
            selector,
            signals: None,
            signaled: false,
            in_iteration: false,
            running: false,
            shutdown: false,
            failure: None,
        })
    }
}

impl<H, S> fmt::Debug for Builder<H, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("events_capacity", &self.events_capacity)
            .field("notify_capacity", &self.notify_capacity)
            .field("messages_per_tick", &self.messages_per_tick)
            .field("timer_tick", &self.timer_tick)
            .field("timer_wheel_slots", &self.timer_wheel_slots)
            .field("timer_capacity", &self.timer_capacity)
            .finish()
    }
}

/// A single-threaded reactor: waits for I/O readiness, timers and cross-thread messages,
/// and calls a [`Handler`].
///
/// # Panics in callbacks
/// A panic in a [`Handler`] callback unwinds out of [`run_once`](EventLoop::run_once)
/// or [`run`](EventLoop::run) to the caller. If the caller catches it
/// ([`std::panic::catch_unwind`]), the loop stays usable: registrations and timers are
/// intact, [`is_running`](EventLoop::is_running) is `false` (that `run` is over), and
/// the next `run_once` or `run` carries on where the panic stopped the iteration. Only the
/// call that panicked is consumed — its event, timer or message is not delivered again;
/// see [`Handler`] for what becomes of the rest.
///
/// # Example
///
/// A UDP socket registered for reading; the handler stops the loop at the first
/// datagram. The crate docs have a [longer example](crate#a-first-event-loop).
///
/// ```
/// use selectio::net::UdpSocket;
/// use selectio::{EventLoop, Handler, Interest, Mode, Token};
///
/// struct Receiver { socket: UdpSocket, got: Vec<u8> }
///
/// impl Handler for Receiver {
///     type Timeout = ();
///     type Message = ();
///
///     fn readable(&mut self, el: &mut EventLoop<Self>, _token: Token) {
///         let mut buf = [0; 64];
///         if let Ok(n) = self.socket.recv(&mut buf) {
///             self.got.extend_from_slice(&buf[..n]);
///             el.shutdown();
///         }
///     }
/// }
///
/// let socket = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
/// let addr = socket.local_addr()?;
/// let mut el: EventLoop<Receiver> = EventLoop::new()?;
/// el.register(&socket, Token(0), Interest::READABLE, Mode::Level)?;
///
/// UdpSocket::bind("127.0.0.1:0".parse().unwrap())?.send_to(b"ping", addr)?;
/// let mut receiver = Receiver { socket, got: Vec::new() };
/// el.run(&mut receiver)?;
/// assert_eq!(receiver.got, b"ping");
/// el.deregister(&receiver.socket)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct EventLoop<H: Handler<S>, S: Selector = DefaultSelector> {
    selector: Arc<S>,
    events: Events<S>,
    /// A batch's tokens while checking that none repeats: open addressing, sized to a
    /// power of two at least twice the batch (room reserved for the largest batch).
    seen: Vec<usize>,
    /// This iteration's I/O events, merged per token and sorted by token.
    batch: Vec<(Token, Ready)>,
    /// Tokens whose registration changed during this batch's dispatch: a set, as a
    /// storm of registrations (accepting a backlog) can make it large.
    stale: TokenSet,
    /// Which buffer holds an I/O batch whose dispatch a panicking callback cut short.
    unfinished: Batch,
    /// The index, in `events` or `batch`, of the next event of the batch to dispatch.
    next_event: usize,
    /// Tokens of sources closed before `deregister`: epoll keeps watching a closed fd's
    /// file while a duplicate of it lives (epoll(7), "Q6"), and nothing can remove that
    /// entry any more. Their events are dropped until the token is registered again.
    orphans: Vec<Token>,
    /// Keyed by number, hashed with one multiply (`fd_hash`): `reregister` looks up its
    /// descriptor every time, and a Oneshot loop reregisters after every event.
    registry: HashMap<RawSource, Token, fd_hash::BuildFdHasher>,
    /// Synthetic events (race-free connect/listen), dispatched after I/O.
    pending: VecDeque<(Token, Ready)>,
    timers: TimerWheel<H::Timeout>,
    notify: Receiver<H::Message>,
    messages_per_tick: usize,
    /// The watched signals; `None` while none is, so the iteration pays one compare.
    signals: Option<Signals>,
    /// The signal pipe was readable, or a signal interrupted `select`, and the counts
    /// are not all handed over yet.
    signaled: bool,
    in_iteration: bool,
    running: bool,
    shutdown: bool,
    /// Set by [`shutdown_with_error`](EventLoop::shutdown_with_error): what ends the
    /// iteration with an error.
    failure: Option<io::Error>,
}

impl<H: Handler<S>, S: Selector> EventLoop<H, S> {
    /// A loop with the default settings on a new `S`.
    pub fn new() -> io::Result<EventLoop<H, S>> {
        Builder::new().build()
    }

    /// Settings for a loop: capacities, timer tick and wheel size.
    pub fn builder() -> Builder<H, S> {
        Builder::new()
    }

    /// The selector, to see which backend runs (`name()`, `capabilities()`).
    pub fn selector(&self) -> &S {
        &self.selector
    }

    /// Runs iterations until [`shutdown`](EventLoop::shutdown). An error from the
    /// selector (other than a signal's `Interrupted`) ends the loop and is returned.
    ///
    /// A panicking callback ends `run` too (see [Panics in
    /// callbacks](EventLoop#panics-in-callbacks)); a shutdown requested before the panic
    /// still applies to the next `run`.
    pub fn run(&mut self, handler: &mut H) -> io::Result<()> {
        if self.in_iteration {
            return Err(reentered());
        }
        let mut this = Running::enter(self);
        loop {
            if this.shutdown {
                // Requested before this `run`, perhaps with an error: it ends at once.
                this.take_failure()?;
                this.shutdown = false;
                return Ok(());
            }
            this.run_once(handler, None)?;
        }
    }

    /// Runs one iteration, waiting at most `timeout` for events (`None`: until an event,
    /// a timer, a message or a wake). After a callback panicked, the next iteration
    /// first delivers what the panic left undelivered, without waiting.
    ///
    /// For a program that drives the loop itself, between other work:
    ///
    /// ```
    /// use std::time::Duration;
    /// use selectio::{EventLoop, Handler};
    ///
    /// struct Done(bool);
    ///
    /// impl Handler for Done {
    ///     type Timeout = ();
    ///     type Message = ();
    ///
    ///     fn timeout(&mut self, _: &mut EventLoop<Self>, (): ()) {
    ///         self.0 = true;
    ///     }
    /// }
    ///
    /// let mut el: EventLoop<Done> = EventLoop::new()?;
    /// el.timeout((), Duration::from_millis(5))?;
    /// let mut done = Done(false);
    /// while !done.0 {
    ///     el.run_once(&mut done, Some(Duration::from_millis(100)))?;
    ///     // … other work between iterations …
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn run_once(&mut self, handler: &mut H, timeout: Option<Duration>) -> io::Result<()> {
        if self.in_iteration {
            return Err(reentered());
        }
        InIteration::enter(self).iteration(handler, timeout)?;
        if self.shutdown {
            return self.take_failure();
        }
        Ok(())
    }

    /// The error a callback ended the iteration with, if any: handed out once, and the
    /// shutdown that came with it is then over.
    #[cold]
    fn take_failure(&mut self) -> io::Result<()> {
        match self.failure.take() {
            Some(err) => {
                self.shutdown = false;
                Err(err)
            }
            None => Ok(()),
        }
    }

    fn iteration(&mut self, handler: &mut H, timeout: Option<Duration>) -> io::Result<()> {
        let resumed = match self.unfinished {
            Batch::None => None,
            unfinished => self.resume_io(handler, unfinished),
        };
        let direct = match resumed {
            Some(direct) => direct,
            None => {
                let timeout = self.next_timeout(timeout);
                if self.select(timeout)? {
                    handler.interrupted(self);
                }
                self.dispatch_io(handler)
            }
        };
        // The phases after I/O are usually empty: test that inline and keep their bodies
        // out of line, so a busy loop pays a few compares for them.
        if self.pending.is_empty() {
            self.stale.clear();
            self.batch.clear();
        } else {
            self.dispatch_pending(handler, direct);
        }
        if self.signaled {
            self.dispatch_signals(handler);
        }
        if !self.timers.is_empty() {
            self.fire_timers(handler);
        }
        if self.notify.has_messages() {
            self.drain_notify(handler);
        }
        handler.tick(self);
        Ok(())
    }

    /// Stops [`run`](EventLoop::run) after the current iteration; called while the loop
    /// is not running, the next `run` returns at once.
    pub fn shutdown(&mut self) {
        self.shutdown = true;
    }

    /// Ends the loop with an error: the current iteration finishes, then
    /// [`run_once`](EventLoop::run_once) (and so [`run`](EventLoop::run)) returns `err`.
    /// For a callback that meets a fatal error, since callbacks return nothing. The first
    /// error wins until it is returned; the loop stays usable after it.
    ///
    /// ```
    /// use std::io;
    /// use std::time::Duration;
    /// use selectio::{EventLoop, Handler};
    ///
    /// struct Startup;
    ///
    /// impl Handler for Startup {
    ///     type Timeout = ();
    ///     type Message = ();
    ///     fn timeout(&mut self, el: &mut EventLoop<Self>, _: ()) {
    ///         el.shutdown_with_error(io::Error::other("the config server did not answer"));
    ///     }
    /// }
    ///
    /// let mut el = EventLoop::new()?;
    /// el.timeout((), Duration::from_millis(1))?;
    /// let err = el.run(&mut Startup).unwrap_err();
    /// assert_eq!(err.to_string(), "the config server did not answer");
    /// # Ok::<(), io::Error>(())
    /// ```
    pub fn shutdown_with_error(&mut self, err: io::Error) {
        self.shutdown = true;
        self.failure.get_or_insert(err);
    }

    /// Whether [`run`](EventLoop::run) is running and no shutdown is requested.
    pub fn is_running(&self) -> bool {
        self.running && !self.shutdown
    }

    /// The shortest of the caller's timeout, the next timer, and zero when synthetic
    /// events or messages wait.
    fn next_timeout(&self, timeout: Option<Duration>) -> Option<Duration> {
        if !self.pending.is_empty() || self.notify.has_messages() || self.signaled {
            return Some(Duration::ZERO);
        }
        if self.timers.is_empty() {
            return timeout;
        }
        match (timeout, self.timers.next_timeout(Instant::now())) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Waits for I/O; `Ok(true)` when a signal interrupted the wait.
    fn select(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        let sleep = self.notify.prepare_sleep(timeout);
        let result = self.selector.select(&mut self.events, sleep.timeout);
        self.notify.awake(sleep);
        match result {
            Ok(()) => {
                if self.signals.is_some() {
                    self.take_signal_event();
                }
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                self.events.clear();
                // Perhaps a watched signal: its counts are read this iteration.
                self.signaled |= self.signals.is_some();
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// Takes the signal pipe's event out of the batch: it is the loop's, not the handler's.
    #[cold]
    #[inline(never)]
    fn take_signal_event(&mut self) {
        if let Some(i) = self
            .events
            .iter()
            .position(|e| e.token() == Token::EVENT_LOOP)
        {
            self.events.remove(i);
            self.signaled = true;
        }
    }

    /// Merges the batch per token (folding in synthetic events for the same tokens) and
    /// calls `ready` once per live token. Returns `true` when it dispatched straight from
    /// the selector's buffer (see [`tokens_unique`](Self::tokens_unique)), leaving
    /// `batch` empty.
    fn dispatch_io(&mut self, handler: &mut H) -> bool {
        self.stale.clear();
        self.next_event = 0;
        if self.pending.is_empty() && self.tokens_unique() {
            self.deliver_direct(handler);
            return true;
        }
        self.merge_batch();
        self.deliver_merged(handler);
        false
    }

    /// Delivers the rest of a batch whose dispatch a panicking callback cut short,
    /// instead of selecting: its stale marks still hold, and so do those of registration
    /// changes made since. Returns what [`dispatch_io`](Self::dispatch_io) would have, or
    /// `None` when nothing was left (the panic came from the batch's last call).
    #[cold]
    #[inline(never)]
    fn resume_io(&mut self, handler: &mut H, unfinished: Batch) -> Option<bool> {
        let len = match unfinished {
            Batch::Direct => self.events.len(),
            _ => self.batch.len(),
        };
        if self.next_event >= len {
            self.unfinished = Batch::None;
            return None;
        }
        match unfinished {
            Batch::Direct => self.deliver_direct(handler),
            _ => self.deliver_merged(handler),
        }
        Some(unfinished == Batch::Direct)
    }

    /// Calls `ready` for each event of `events` from `next_event` on. The position lives
    /// in the loop, not in a local, so a callback that unwinds leaves it behind for
    /// [`resume_io`](Self::resume_io).
    fn deliver_direct(&mut self, handler: &mut H) {
        self.unfinished = Batch::Direct;
        while let Some(event) = self.events.get(self.next_event) {
            self.next_event += 1;
            if !self.is_stale(event.token()) {
                handler.ready(self, event.token(), event.ready());
            }
        }
        self.unfinished = Batch::None;
    }

    /// [`deliver_direct`](Self::deliver_direct) for the merged `batch`.
    fn deliver_merged(&mut self, handler: &mut H) {
        self.unfinished = Batch::Merged;
        while let Some(&(token, ready)) = self.batch.get(self.next_event) {
            self.next_event += 1;
            if !self.is_stale(token) {
                handler.ready(self, token, ready);
            }
        }
        self.unfinished = Batch::None;
    }

    /// Whether no token repeats in the batch (kqueue reports read and write filters
    /// apart; a user may give two sources one token): then nothing needs merging. A
    /// strictly ascending batch, such as every batch of one event, passes at once; any
    /// other goes through [`tokens_distinct`](Self::tokens_distinct): a hash set costs a
    /// fraction of what sorting epoll's unordered batches would.
    fn tokens_unique(&mut self) -> bool {
        if self.events.len() <= 1 {
            return true;
        }
        let mut last = None;
        let ascending = self.events.iter().all(|event| {
            let ascending = last.is_none_or(|last| event.token() > last);
            last = Some(event.token());
            ascending
        });
        ascending || self.tokens_distinct()
    }

    /// Puts the batch's tokens in the set `seen`; `false` at the first one already there.
    #[inline(never)]
    fn tokens_distinct(&mut self) -> bool {
        let n = self.events.len();
        // At least twice the batch, so probes stay short; within the reserved room.
        let bits = (2 * n).next_power_of_two().trailing_zeros();
        let mask = (1 << bits) - 1;
        self.seen.clear();
        self.seen.resize(mask + 1, NO_TOKEN);
        for event in self.events.iter() {
            let token = event.token().0;
            let mut i = token.wrapping_mul(FIB) >> (usize::BITS - bits);
            loop {
                match self.seen[i] {
                    NO_TOKEN => {
                        self.seen[i] = token;
                        break;
                    }
                    seen if seen == token => return false,
                    _ => i = (i + 1) & mask,
                }
            }
        }
        true
    }

    /// Fills `batch` with one entry per token, ascending, with synthetic events for the
    /// same tokens folded in.
    #[cold]
    #[inline(never)]
    fn merge_batch(&mut self) {
        self.batch.clear();
        self.batch
            .extend(self.events.iter().map(|e| (e.token(), e.ready())));
        self.batch.sort_unstable_by_key(|&(token, _)| token);
        self.batch.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                earlier.1 |= later.1;
            }
            same
        });
        self.fold_pending_into_batch();
    }

    /// A synthetic event for a token the kernel reported too joins that token's call, so
    /// a source that is ready every iteration cannot starve it.
    fn fold_pending_into_batch(&mut self) {
        if self.pending.is_empty() || self.batch.is_empty() {
            return;
        }
        let batch = &mut self.batch;
        self.pending.retain(|&(token, ready)| {
            match batch.binary_search_by_key(&token, |&(t, _)| t) {
                Ok(i) => {
                    batch[i].1 |= ready;
                    false
                }
                Err(_) => true,
            }
        });
    }

    /// Synthetic events for tokens the kernel did not report, one `ready` call per token
    /// (several posts merge). Events posted during this iteration for a token already
    /// dispatched in it wait for the next iteration.
    #[cold]
    #[inline(never)]
    fn dispatch_pending(&mut self, handler: &mut H, direct: bool) {
        if direct {
            // Dispatched straight from the selector's buffer: its tokens, unique, are the
            // set already served in this iteration; sorted for the searches below.
            self.batch.clear();
            self.batch
                .extend(self.events.iter().map(|e| (e.token(), Ready::EMPTY)));
            self.batch.sort_unstable_by_key(|&(token, _)| token);
        }
        // Stale marks belong to the kernel batch just dispatched; deregister and
        // reregister already dropped the queued events of the tokens they retired.
        self.stale.clear();
        let mut budget = self.pending.len();
        while budget > 0 {
            let Some((token, mut ready)) = self.pending.pop_front() else {
                break;
            };
            budget -= 1;
            if self.batch.binary_search_by_key(&token, |&(t, _)| t).is_ok() {
                self.pending.push_back((token, ready));
                continue;
            }
            // Merge later posts for the same token that were queued before this phase.
            let mut i = 0;
            while i < budget {
                if self.pending[i].0 == token {
                    ready |= self.pending[i].1;
                    self.pending.remove(i);
                    budget -= 1;
                } else {
                    i += 1;
                }
            }
            handler.ready(self, token, ready);
            self.mark_dispatched(token);
            // The callback may have deregistered tokens, dropping their queued events.
            budget = budget.min(self.pending.len());
        }
        self.stale.clear();
        self.batch.clear();
    }

    /// Records `token` as dispatched in this iteration (the batch stays sorted).
    fn mark_dispatched(&mut self, token: Token) {
        if let Err(i) = self.batch.binary_search_by_key(&token, |&(t, _)| t) {
            self.batch.insert(i, (token, Ready::EMPTY));
        }
    }

    /// Hands each watched signal's deliveries to `signal`, one call per signal. The
    /// counts stay in the loop until handed over, so a panicking callback loses nothing
    /// but its own call, and `signaled` stays set until all are.
    #[cold]
    #[inline(never)]
    fn dispatch_signals(&mut self, handler: &mut H) {
        if let Some(signals) = &mut self.signals {
            signals.collect();
        }
        while let Some((signal, count)) = self.signals.as_mut().and_then(Signals::next_due) {
            handler.signal(self, signal, count);
        }
        self.signaled = false;
    }

    #[cold]
    #[inline(never)]
    fn fire_timers(&mut self, handler: &mut H) {
        self.timers.advance(Instant::now());
        while let Some(timeout) = self.timers.pop_due() {
            handler.timeout(self, timeout);
        }
    }

    #[cold]
    #[inline(never)]
    fn drain_notify(&mut self, handler: &mut H) {
        for _ in 0..self.messages_per_tick {
            match self.notify.pop() {
                Some(msg) => handler.notify(self, msg),
                None => break,
            }
        }
    }

    /// Whether events of this batch for `token` are no longer delivered, because its
    /// registration changed inside a callback.
    pub(crate) fn is_stale(&self, token: Token) -> bool {
        self.stale.contains(token) || (!self.orphans.is_empty() && self.orphans.contains(&token))
    }

    /// `token` names a live registration again.
    fn adopt(&mut self, token: Token) {
        if !self.orphans.is_empty() {
            self.orphans.retain(|&t| t != token);
        }
    }

    fn mark_stale(&mut self, token: Token) {
        // Between a panic and the next iteration, the rest of the cut-short batch still
        // waits for delivery.
        let fetched = self.in_iteration || self.unfinished != Batch::None;
        if fetched {
            self.stale.insert(token);
        }
    }

    /// Starts watching `io` for `interest` in `mode`; its events come to the handler
    /// under `token`.
    ///
    /// `io` is anything with a descriptor ([`Source`]): the types of [`net`](crate::net)
    /// and [`pipe`](crate::pipe), std's sockets, or a `BorrowedFd` of a descriptor a C
    /// library owns (see [`Source`]). Register it once (`AlreadyExists` the second time),
    /// change it with [`reregister`](EventLoop::reregister), and
    /// [`deregister`](EventLoop::deregister) it before you close it. The
    /// [`EventLoop`] example shows it at work.
    pub fn register<E: Source + ?Sized>(
        &mut self,
        io: &E,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        refuse_loop_token(token)?;
        let src = io.source();
        let fd = crate::source::raw(src);
        self.selector.register(src, token, interest, mode)?;
        // Events already fetched for `token` belong to an older registration, and a
        // previous entry for this fd was closed without `deregister`.
        if let Some(old) = self.registry.insert(fd, token) {
            self.mark_stale(old);
        }
        self.mark_stale(token);
        self.adopt(token);
        Ok(())
    }

    /// Replaces the token, interest and mode of a registered `io`; re-arms Oneshot.
    ///
    /// ```
    /// use std::time::Duration;
    /// use selectio::net::UdpSocket;
    /// use selectio::{EventLoop, Handler, Interest, Mode, Token};
    ///
    /// struct Count(usize);
    ///
    /// impl Handler for Count {
    ///     type Timeout = ();
    ///     type Message = ();
    ///
    ///     fn readable(&mut self, _: &mut EventLoop<Self>, _token: Token) {
    ///         self.0 += 1; // reads nothing: the datagrams stay queued
    ///     }
    /// }
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// socket.send_to(b"ping", socket.local_addr()?)?;
    /// let mut el: EventLoop<Count> = EventLoop::new()?;
    /// el.register(&socket, Token(0), Interest::READABLE, Mode::Oneshot)?;
    ///
    /// let mut count = Count(0);
    /// while count.0 == 0 {
    ///     el.run_once(&mut count, Some(Duration::from_secs(1)))?;
    /// }
    /// el.run_once(&mut count, Some(Duration::from_millis(10)))?;
    /// assert_eq!(count.0, 1); // still readable, but Oneshot reported it once
    ///
    /// el.reregister(&socket, Token(0), Interest::READABLE, Mode::Oneshot)?; // re-arm
    /// while count.0 == 1 {
    ///     el.run_once(&mut count, Some(Duration::from_secs(1)))?;
    /// }
    /// el.deregister(&socket)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn reregister<E: Source + ?Sized>(
        &mut self,
        io: &E,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        refuse_loop_token(token)?;
        let src = io.source();
        let fd = crate::source::raw(src);
        self.selector.reregister(src, token, interest, mode)?;
        self.adopt(token);
        if let Some(old) = self.registry.insert(fd, token) {
            if old != token {
                self.mark_stale(old);
                self.mark_stale(token);
                self.pending.retain(|&(t, _)| t != old);
            }
        }
        Ok(())
    }

    /// Stops watching `io`; events already fetched for it are not delivered.
    ///
    /// If the selector no longer knows the fd (`NotFound`, or `InvalidInput` for an fd
    /// closed without `deregister`), the loop forgets it too, and the error is returned.
    /// After `InvalidInput` the token's events are dropped until it is registered again:
    /// on epoll a duplicate (`dup`, `try_clone`, a forked child) of the closed fd keeps
    /// its kernel entry alive, and a level-triggered one then wakes every `select` until
    /// the last duplicate closes. Deregister before closing.
    pub fn deregister<E: Source + ?Sized>(&mut self, io: &E) -> io::Result<()> {
        let src = io.source();
        let fd = crate::source::raw(src);
        let result = self.selector.deregister(src);
        let (gone, closed) = match &result {
            Ok(()) => (true, false),
            Err(e) => match e.kind() {
                io::ErrorKind::NotFound => (true, false),
                io::ErrorKind::InvalidInput => (true, true),
                _ => (false, false),
            },
        };
        if gone {
            if let Some(old) = self.registry.remove(&fd) {
                self.mark_stale(old);
                self.pending.retain(|&(t, _)| t != old);
                if closed && !self.orphans.contains(&old) {
                    // Bounded: a program that keeps closing first must not make every
                    // event pay a long scan; the oldest orphan is forgotten.
                    if self.orphans.len() == MAX_ORPHANS {
                        self.orphans.remove(0);
                    }
                    self.orphans.push(old);
                }
            }
        }
        result
    }

    /// How many sources are registered through this loop.
    pub fn registered(&self) -> usize {
        self.registry.len()
    }

    /// Queues a synthetic readiness event for `token`: the handler's `ready` gets it after
    /// this iteration's I/O, or in the next iteration (which then does not block) if the
    /// token was already dispatched in this one. Useful to resume work an edge-triggered
    /// handler stopped early for fairness; race-free `connect` uses it too. Deregistering
    /// the token's source drops its queued events.
    pub fn post_ready(&mut self, token: Token, ready: Ready) {
        self.pending.push_back((token, ready));
    }

    /// Connects `socket` to `addr` race-free and registers the stream under `token`
    /// (interest `BOTH`, [`Mode::Oneshot`]: one notification, then `reregister`).
    ///
    /// See [`connect_with`](EventLoop::connect_with). `socket` is a
    /// [`TcpSocket`](crate::net::TcpSocket) (connecting to a `SocketAddr`) or a
    /// [`UnixSocket`](crate::net::UnixSocket) (connecting to a path).
    ///
    /// ```
    /// use selectio::net::{TcpListener, TcpSocket, TcpStream};
    /// use selectio::{EventLoop, Handler, Token};
    ///
    /// const CLIENT: Token = Token(1);
    ///
    /// struct Client { stream: Option<TcpStream>, connected: bool }
    ///
    /// impl Handler for Client {
    ///     type Timeout = ();
    ///     type Message = ();
    ///
    ///     fn writable(&mut self, el: &mut EventLoop<Self>, token: Token) {
    ///         assert_eq!(token, CLIENT);
    ///         // Told whether connect(2) finished at once or later: ask how it ended.
    ///         let error = self.stream.as_ref().unwrap().take_error().unwrap();
    ///         self.connected = error.is_none();
    ///         el.shutdown();
    ///     }
    /// }
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
    /// let mut el: EventLoop<Client> = EventLoop::new()?;
    /// let stream = el.connect(TcpSocket::v4()?, &listener.local_addr()?, CLIENT)?;
    /// let mut client = Client { stream: Some(stream), connected: false };
    /// el.run(&mut client)?;
    /// assert!(client.connected);
    /// el.deregister(client.stream.as_ref().unwrap())?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect<C: Connect>(
        &mut self,
        socket: C,
        addr: &C::Addr,
        token: Token,
    ) -> io::Result<C::Stream> {
        self.connect_with(socket, addr, token, Interest::BOTH, Mode::Oneshot)
    }

    /// Issues a non-blocking connect(2) and registers the stream for `interest` (plus
    /// `WRITABLE`, through which completion is told) in `mode`.
    ///
    /// Whether connect(2) finished at once, is in progress, or failed at once with an
    /// error of the connection (refused, say), the handler gets a `writable` (or error)
    /// notification for `token` — at least one, in every mode, on every backend: a
    /// synchronous outcome is posted as a synthetic event, merged with the kernel's if
    /// both arrive in one iteration. Then `take_error()` on the stream tells the outcome.
    /// Errors that are the caller's (wrong address family, a Unix path too long, a
    /// reserved token, an unsupported mode) return `Err` at once and register nothing.
    pub fn connect_with<C: Connect>(
        &mut self,
        socket: C,
        addr: &C::Addr,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<C::Stream> {
        let caps = self.selector.capabilities();
        caps.check(self.selector.name(), token, mode)?;
        refuse_loop_token(token)?;
        let (stream, outcome) = socket.connect_nonblocking(addr)?;
        self.register(&stream, token, interest | Interest::WRITABLE, mode)?;
        match outcome {
            // In progress: the kernel reports writability when it is decided.
            None => {}
            Some(Ok(())) => self.post_ready(token, Ready::WRITABLE),
            Some(Err(_)) => self.post_ready(token, Ready::WRITABLE | Ready::ERROR),
        }
        Ok(stream)
    }

    /// listen(2) on `socket` with `backlog` and register the listener for `READABLE`
    /// under `token`, level-triggered, in one step.
    ///
    /// See [`listen_with`](EventLoop::listen_with). `socket` is a bound
    /// [`TcpSocket`](crate::net::TcpSocket) or [`UnixSocket`](crate::net::UnixSocket).
    ///
    /// ```
    /// use selectio::net::{TcpListener, TcpSocket};
    /// use selectio::{EventLoop, Handler, Token};
    ///
    /// struct Server { listener: Option<TcpListener>, accepted: usize }
    ///
    /// impl Handler for Server {
    ///     type Timeout = ();
    ///     type Message = ();
    ///
    ///     fn readable(&mut self, el: &mut EventLoop<Self>, _token: Token) {
    ///         while self.listener.as_ref().unwrap().accept().is_ok() {
    ///             self.accepted += 1;
    ///         }
    ///         el.shutdown();
    ///     }
    /// }
    ///
    /// let socket = TcpSocket::v4()?;
    /// socket.bind("127.0.0.1:0".parse().unwrap())?;
    /// let mut el: EventLoop<Server> = EventLoop::new()?;
    /// let listener = el.listen(socket, 128, Token(0))?;
    /// // A connection that arrives right away is reported all the same.
    /// let _client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let mut server = Server { listener: Some(listener), accepted: 0 };
    /// el.run(&mut server)?;
    /// assert_eq!(server.accepted, 1);
    /// el.deregister(server.listener.as_ref().unwrap())?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn listen<L: Listen>(
        &mut self,
        socket: L,
        backlog: i32,
        token: Token,
    ) -> io::Result<L::Listener> {
        self.listen_with(socket, backlog, token, Mode::Level)
    }

    /// listen(2) and register the listener for `READABLE` under `token` in `mode`.
    /// Connections that arrive before the registration are reported (a source that is
    /// ready when registered is reported in every mode). `backlog` goes to the OS as it
    /// is: Linux and the BSDs treat a negative backlog as the maximum (`somaxconn`).
    pub fn listen_with<L: Listen>(
        &mut self,
        socket: L,
        backlog: i32,
        token: Token,
        mode: Mode,
    ) -> io::Result<L::Listener> {
        let caps = self.selector.capabilities();
        caps.check(self.selector.name(), token, mode)?;
        refuse_loop_token(token)?;
        let listener = socket.listen_now(backlog)?;
        self.register(&listener, token, Interest::READABLE, mode)?;
        Ok(listener)
    }

    /// Sets a timer: `handler.timeout(t)` runs `after` from now, never earlier, at most
    /// one tick later (plus scheduling delay). A timer set from inside `timeout` runs in
    /// a later iteration.
    ///
    /// The [`Timeout`] handle cancels the timer ([`clear_timeout`](EventLoop::clear_timeout))
    /// or moves it ([`reset_timeout`](EventLoop::reset_timeout)). Fails with
    /// [`TimerError::Overflow`] when the loop holds its
    /// [`timer_capacity`](Builder::timer_capacity) already; `?` turns that into an
    /// `io::Error`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use selectio::{EventLoop, Handler};
    ///
    /// struct Alarms { fired: Vec<&'static str> }
    ///
    /// impl Handler for Alarms {
    ///     type Timeout = &'static str; // what each timer carries back
    ///     type Message = ();
    ///
    ///     fn timeout(&mut self, el: &mut EventLoop<Self>, name: &'static str) {
    ///         self.fired.push(name);
    ///         if self.fired.len() == 2 {
    ///             el.shutdown();
    ///         }
    ///     }
    /// }
    ///
    /// let mut el: EventLoop<Alarms> = EventLoop::new()?;
    /// let start = Instant::now();
    /// el.timeout("later", Duration::from_millis(20))?;
    /// el.timeout("sooner", Duration::from_millis(10))?;
    /// let mut alarms = Alarms { fired: Vec::new() };
    /// el.run(&mut alarms)?;
    /// assert_eq!(alarms.fired, ["sooner", "later"]);
    /// assert!(start.elapsed() >= Duration::from_millis(20)); // never early
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn timeout(&mut self, t: H::Timeout, after: Duration) -> Result<Timeout, TimerError> {
        self.timers.insert(Instant::now(), after, t)
    }

    /// Cancels a timer; `true` only if it was pending (it will not fire).
    ///
    /// ```
    /// use std::time::Duration;
    /// use selectio::{EventLoop, Handler};
    ///
    /// struct FirstAlarm(Option<&'static str>);
    ///
    /// impl Handler for FirstAlarm {
    ///     type Timeout = &'static str;
    ///     type Message = ();
    ///
    ///     fn timeout(&mut self, el: &mut EventLoop<Self>, name: &'static str) {
    ///         self.0 = Some(name);
    ///         el.shutdown();
    ///     }
    /// }
    ///
    /// let mut el: EventLoop<FirstAlarm> = EventLoop::new()?;
    /// let cancelled = el.timeout("cancelled", Duration::from_millis(1))?;
    /// el.timeout("kept", Duration::from_millis(5))?;
    /// assert!(el.clear_timeout(&cancelled));
    /// assert!(!el.clear_timeout(&cancelled)); // no longer pending
    /// let mut first = FirstAlarm(None);
    /// el.run(&mut first)?;
    /// assert_eq!(first.0, Some("kept"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn clear_timeout(&mut self, timeout: &Timeout) -> bool {
        self.timers.cancel(timeout)
    }

    /// Moves a pending timer to fire `after` from now, in O(1), keeping its handle and
    /// its value: the idle-timeout pattern (push a connection's deadline back on every
    /// read) without [`clear_timeout`](EventLoop::clear_timeout) and a new
    /// [`timeout`](EventLoop::timeout). `true` only if the timer was pending; a timer due
    /// in this iteration but not yet fired is taken back. Never early, like `timeout`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use selectio::{EventLoop, Handler};
    ///
    /// struct Idle(bool);
    ///
    /// impl Handler for Idle {
    ///     type Timeout = ();
    ///     type Message = ();
    ///
    ///     fn timeout(&mut self, el: &mut EventLoop<Self>, (): ()) {
    ///         self.0 = true; // no activity for a while: close the connection, say
    ///         el.shutdown();
    ///     }
    /// }
    ///
    /// let mut el: EventLoop<Idle> = EventLoop::new()?;
    /// let idle = el.timeout((), Duration::from_secs(3600))?;
    /// // Activity on the connection: the deadline moves, here closer.
    /// assert!(el.reset_timeout(&idle, Duration::from_millis(5)));
    /// let start = Instant::now();
    /// let mut handler = Idle(false);
    /// el.run(&mut handler)?;
    /// assert!(handler.0 && start.elapsed() >= Duration::from_millis(5));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn reset_timeout(&mut self, timeout: &Timeout, after: Duration) -> bool {
        self.timers.reset(timeout, Instant::now(), after)
    }

    /// Starts handing deliveries of `signal` (`libc::SIGINT`, `SIGTERM`, `SIGHUP`,
    /// `SIGCHLD`, `SIGUSR1`, …) to [`Handler::signal`].
    ///
    /// While any loop watches a signal, the process no longer takes its default action
    /// (a `SIGTERM` no longer ends it): the handler decides. A handler installed before
    /// the first watch (by a C library, `signal-hook`, …) still runs on every delivery,
    /// after the loops are told. Several loops, in any threads, may watch one signal;
    /// each hears every delivery. When the last watch of a signal ends
    /// ([`unwatch_signal`](Self::unwatch_signal), or the loop is dropped) the
    /// disposition it had before the first comes back — unless something installed its
    /// own handler over selectio's meanwhile, which is then left in place.
    ///
    /// Deliveries are counted by a handler that only uses atomics and write(2)
    /// (async-signal-safe), and wake the loop through a self-pipe registered in its
    /// selector under [`Token::EVENT_LOOP`]; the first watch opens the pipe. No delivery
    /// is lost; several between two iterations merge into one call with their count.
    /// A signal that interrupts the wait makes [`Handler::interrupted`] run first.
    ///
    /// # Errors
    /// `InvalidInput` for a number that is no signal, and for `SIGKILL`, `SIGSTOP` and
    /// the fault signals (`SIGILL`, `SIGFPE`, `SIGSEGV`, `SIGBUS`), which no handler may
    /// usefully take; `AlreadyExists` if this loop watches it already; `OutOfMemory`
    /// past 128 watches in the whole process; `Unsupported` outside Unix; an
    /// `io::Error` from pipe(2), sigaction(2) or the selector.
    ///
    /// ```
    /// use selectio::{EventLoop, Handler, Selector};
    ///
    /// struct Server;
    ///
    /// impl<S: Selector> Handler<S> for Server {
    ///     type Timeout = ();
    ///     type Message = ();
    ///
    ///     fn signal(&mut self, el: &mut EventLoop<Self, S>, signal: i32, count: usize) {
    ///         println!("signal {signal} ({count}x): shutting down");
    ///         el.shutdown();
    ///     }
    /// }
    ///
    /// # #[cfg(unix)]
    /// # fn main() -> std::io::Result<()> {
    /// let mut el: EventLoop<Server> = EventLoop::new()?;
    /// el.watch_signal(libc::SIGUSR2)?;
    /// // As `kill -USR2 <pid>` would from another process:
    /// std::process::Command::new("kill")
    ///     .args(["-USR2", &std::process::id().to_string()])
    ///     .status()?;
    /// el.run(&mut Server)?;
    /// el.unwatch_signal(libc::SIGUSR2)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(unix))]
    /// # fn main() {}
    /// ```
    #[doc(alias = "sigaction")]
    pub fn watch_signal(&mut self, signal: i32) -> io::Result<()> {
        if let Some(signals) = &mut self.signals {
            return signals.watch(signal);
        }
        let mut signals = Signals::new()?;
        signals.watch(signal)?;
        self.selector.register(
            signals.source(),
            Token::EVENT_LOOP,
            Interest::READABLE,
            Mode::Level,
        )?;
        self.signals = Some(signals);
        Ok(())
    }

    /// Stops watching `signal`; deliveries not yet handed to [`Handler::signal`] are
    /// dropped. The last watch of the loop closes its pipe; the last in the process
    /// puts the signal's previous disposition back (see
    /// [`watch_signal`](Self::watch_signal)). `NotFound` if the loop does not watch it.
    pub fn unwatch_signal(&mut self, signal: i32) -> io::Result<()> {
        let signals = self
            .signals
            .as_mut()
            .ok_or_else(|| crate::signal::not_watched(signal))?;
        signals.unwatch(signal)?;
        if signals.is_empty() {
            self.close_signals();
        }
        Ok(())
    }

    /// Deregisters and closes the signal pipe.
    fn close_signals(&mut self) {
        if let Some(signals) = self.signals.take() {
            // It is ours and open: a failure here would be a selector bug, and the
            // pipe closes below in any case.
            let _ = self.selector.deregister(signals.source());
        }
        self.signaled = false;
    }

    /// A sender for this loop's notify channel, usable from any thread: its messages
    /// reach [`Handler::notify`]. See [`Sender`] for an example.
    pub fn channel(&self) -> Sender<H::Message> {
        self.notify.sender()
    }
}

impl<H: Handler<S>, S: Selector> Drop for EventLoop<H, S> {
    fn drop(&mut self) {
        self.notify.close();
        self.close_signals();
    }
}

impl<H: Handler<S>, S: Selector + fmt::Debug> fmt::Debug for EventLoop<H, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("selector", &self.selector)
            .field("registered", &self.registry.len())
            .field("timers", &self.timers.len())
            .field("pending", &self.pending.len())
            .field("running", &self.running)
            .finish()
    }
}

/// Room for the token set of a batch of up to `capacity` events: the next power of two
/// at least twice that.
fn token_set(capacity: usize) -> io::Result<Vec<usize>> {
    let size = capacity
        .checked_mul(2)
        .and_then(usize::checked_next_power_of_two);
    let mut set = Vec::new();
    match size.map(|size| set.try_reserve_exact(size)) {
        Some(Ok(())) => Ok(set),
        _ => Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("selectio: EventLoop: no room for the token set of {capacity} events"),
        )),
    }
}

/// Which buffer holds the I/O batch being dispatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Batch {
    /// None: dispatch is over (or has not begun).
    None,
    /// The selector's `events`, every token distinct.
    Direct,
    /// `batch`, merged per token.
    Merged,
}

/// The loop inside `run_once`: refuses re-entry until dropped, which also happens when a
/// callback unwinds.
struct InIteration<'a, H: Handler<S>, S: Selector>(&'a mut EventLoop<H, S>);

impl<'a, H: Handler<S>, S: Selector> InIteration<'a, H, S> {
    fn enter(event_loop: &'a mut EventLoop<H, S>) -> Self {
        event_loop.in_iteration = true;
        InIteration(event_loop)
    }
}

impl<H: Handler<S>, S: Selector> Drop for InIteration<'_, H, S> {
    fn drop(&mut self) {
        self.0.in_iteration = false;
    }
}

/// The loop inside `run`: `is_running` until dropped, which also happens when a callback
/// unwinds.
struct Running<'a, H: Handler<S>, S: Selector>(&'a mut EventLoop<H, S>);

impl<'a, H: Handler<S>, S: Selector> Running<'a, H, S> {
    fn enter(event_loop: &'a mut EventLoop<H, S>) -> Self {
        event_loop.running = true;
        Running(event_loop)
    }
}

impl<H: Handler<S>, S: Selector> Drop for Running<'_, H, S> {
    fn drop(&mut self) {
        self.0.running = false;
    }
}

macro_rules! deref_to_loop {
    ($guard:ident) => {
        impl<H: Handler<S>, S: Selector> Deref for $guard<'_, H, S> {
            type Target = EventLoop<H, S>;
            fn deref(&self) -> &EventLoop<H, S> {
                self.0
            }
        }

        impl<H: Handler<S>, S: Selector> DerefMut for $guard<'_, H, S> {
            fn deref_mut(&mut self) -> &mut EventLoop<H, S> {
                self.0
            }
        }
    };
}
deref_to_loop!(InIteration);
deref_to_loop!(Running);

/// `InvalidInput` for [`Token::EVENT_LOOP`], the loop's own.
fn refuse_loop_token(token: Token) -> io::Result<()> {
    if token == Token::EVENT_LOOP {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "selectio: EventLoop: Token::EVENT_LOOP (usize::MAX - 1) is reserved for the \
             loop's signal pipe",
        ));
    }
    Ok(())
}

fn reentered() -> io::Error {
    io::Error::new(
        io::ErrorKind::ResourceBusy,
        "selectio: the event loop is already running (run/run_once called from a callback)",
    )
}
