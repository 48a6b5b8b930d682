//! A callback that panics, caught by the caller with `catch_unwind`, leaves the EventLoop
//! usable on every backend: registrations, timers and messages keep working,
//! `is_running()` tells the truth, and of the interrupted iteration only the call that
//! panicked is consumed — the rest of its I/O batch, its due timers and its queued
//! messages are delivered by the next iteration.

#[macro_use]
mod util;

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;
use std::time::{Duration, Instant};

use selectio::{EventLoop, Handler, Interest, Mode, Ready, Selector, Token};
use util::evloop::*;

const T9: Token = Token(9);
/// A bound for "the loop does not hang"; never reached when the code is right. This
/// file's own, shorter than the shared `evloop::LONG`.
const LONG: Option<Duration> = Some(Duration::from_secs(2));
/// The payload of the panics these tests provoke; the panic hook keeps them quiet.
const BOOM: &str = "selectio test: a callback panics on purpose";

fn boom() -> ! {
    std::panic::panic_any(BOOM)
}

/// Runs `f`; `true` if it panicked with [`BOOM`] (any other panic goes on unwinding).
fn panics(f: impl FnOnce()) -> bool {
    static QUIET: Once = Once::new();
    QUIET.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&BOOM) {
                default(info);
            }
        }));
    });
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => false,
        Err(payload) if payload.downcast_ref::<&str>() == Some(&BOOM) => true,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// What a test handler saw, in order.
trait Calls {
    fn calls(&self) -> Vec<Call>;
}

impl<S: Selector> Calls for Recorder<'_, S> {
    fn calls(&self) -> Vec<Call> {
        self.log.all()
    }
}

/// Checks that the loop does its whole job after a panic: a newly registered source is
/// reported, a timer fires and a message arrives, each once; the source is then
/// deregistered.
#[track_caller]
fn assert_still_works<H, S>(el: &mut EventLoop<H, S>, h: &mut H)
where
    H: Handler<S, Timeout = u64, Message = u64> + Calls,
    S: TestSelector,
{
    let (a, _a1) = readable_pair();
    el.register(&a, T9, Interest::READABLE, Mode::Oneshot)
        .expect("register after the panic");
    el.timeout(99, Duration::ZERO)
        .expect("timeout after the panic");
    el.channel().send(99).expect("send after the panic");
    let want = [rd(T9, R), Call::Timeout(99), Call::Notify(99)];
    let seen = |h: &H| want.map(|w| h.calls().iter().filter(|&&c| c == w).count());
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen(h) != [1, 1, 1] && Instant::now() < deadline {
        el.run_once(h, Some(Duration::from_millis(50)))
            .expect("run_once after the panic");
    }
    assert_eq!(seen(h), [1, 1, 1], "after the panic: {:?}", h.calls());
    el.deregister(&a).unwrap();
}

/// The `ready` tokens seen, sorted.
fn ready_tokens(h: &Recorder<'_, impl Selector>) -> Vec<Token> {
    let mut tokens: Vec<Token> = h.log.readies().iter().map(|r| r.1).collect();
    tokens.sort();
    tokens
}

fn panic_in_ready_loses_no_other_event_of_the_batch<S: TestSelector>() {
    // Oneshot: an event not delivered from this batch would never be reported again.
    let pairs = [readable_pair(), readable_pair(), readable_pair()];
    let mut el: El<S> = EventLoop::new().unwrap();
    for ((a, _), token) in pairs.iter().zip([T1, T2, T3]) {
        el.register(a, token, Interest::READABLE, Mode::Oneshot)
            .unwrap();
    }
    // The hook takes itself out while it runs, so only the first `ready` panics.
    let mut h = Recorder::new().on_ready(|_, _, _| boom());
    assert!(panics(|| el.run_once(&mut h, LONG).unwrap()));
    assert_eq!(h.log.readies().len(), 1);
    assert!(!el.is_running());
    // The rest of the batch comes first in the next iteration, without waiting.
    el.run_once(&mut h, LONG).expect("run_once after the panic");
    assert_eq!(ready_tokens(&h), [T1, T2, T3], "{:?}", h.log.all());
    assert_eq!(el.registered(), 3);
    assert_still_works(&mut el, &mut h);
    // One report per Oneshot registration: the panicked one was consumed, not repeated.
    assert_eq!(ready_tokens(&h), [T1, T2, T3, T9]);
    for (a, _) in &pairs {
        el.deregister(a).unwrap();
    }
    assert_nothing_registered(&el);
}

fn panic_in_ready_keeps_stale_marks_for_the_rest_of_the_batch<S: TestSelector>() {
    let pairs = [readable_pair(), readable_pair()];
    let mut el: El<S> = EventLoop::new().unwrap();
    for ((a, _), token) in pairs.iter().zip([T1, T2]) {
        el.register(a, token, Interest::READABLE, Mode::Oneshot)
            .unwrap();
    }
    let source = |token: Token| {
        if token == T1 {
            &pairs[0].0
        } else {
            &pairs[1].0
        }
    };
    let other = move |token: Token| source(if token == T1 { T2 } else { T1 });
    // The first callback deregisters the other source, then panics.
    let mut h = Recorder::new().on_ready(move |el, _, (token, _)| {
        el.deregister(other(token)).unwrap();
        boom()
    });
    assert!(panics(|| el.run_once(&mut h, LONG).unwrap()));
    let first = h.log.readies()[0].1;
    // The other source was deregistered before the panic: its fetched event is dropped.
    el.run_once(&mut h, ZERO).unwrap();
    assert_eq!(ready_tokens(&h), [first]);
    // And so it is for a source deregistered between the panic and the next run.
    let (c, _c1) = readable_pair();
    el.register(&c, T3, Interest::READABLE, Mode::Oneshot)
        .unwrap();
    h = h.on_ready(|_, _, _| boom());
    let (d, _d1) = readable_pair();
    el.register(&d, T9, Interest::READABLE, Mode::Oneshot)
        .unwrap();
    assert!(panics(|| el.run_once(&mut h, LONG).unwrap()));
    let second = h.log.readies()[1].1;
    let untouched = if second == T3 { &d } else { &c };
    el.deregister(untouched).unwrap();
    el.run_once(&mut h, ZERO).unwrap();
    assert_eq!(h.log.readies().len(), 2, "{:?}", h.log.all());
    el.deregister(source(first)).unwrap();
    el.deregister(if second == T3 { &c } else { &d }).unwrap();
    assert_nothing_registered(&el);
}

fn panic_in_a_synthetic_ready_keeps_the_other_posted_events<S: TestSelector>() {
    let mut el: El<S> = EventLoop::new().unwrap();
    for token in [T1, T2, T3] {
        el.post_ready(token, W);
    }
    let mut h = Recorder::new().on_ready(|_, _, _| boom());
    assert!(panics(|| el.run_once(&mut h, LONG).unwrap()));
    assert_eq!(h.log.readies().len(), 1);
    el.run_once(&mut h, LONG).expect("run_once after the panic");
    assert_eq!(ready_tokens(&h), [T1, T2, T3], "{:?}", h.log.all());
    assert_still_works(&mut el, &mut h);
    assert_nothing_registered(&el);
}

/// A handler that keeps the default `ready`, so `readable` and `writable` are called,
/// and panics once in the one named.
struct Routed {
    panic_in: Option<Ready>,
    calls: Vec<Call>,
}

impl Routed {
    fn record(&mut self, token: Token, ready: Ready) {
        self.calls.push(Call::Ready(token, ready));
        if self.panic_in == Some(ready) {
            self.panic_in = None;
            boom();
        }
    }
}

impl Calls for Routed {
    fn calls(&self) -> Vec<Call> {
        self.calls.clone()
    }
}

impl<S: Selector> Handler<S> for Routed {
    type Timeout = u64;
    type Message = u64;

    fn readable(&mut self, _: &mut EventLoop<Self, S>, token: Token) {
        self.record(token, R);
    }

    fn writable(&mut self, _: &mut EventLoop<Self, S>, token: Token) {
        self.record(token, W);
    }

    fn timeout(&mut self, _: &mut EventLoop<Self, S>, id: u64) {
        self.calls.push(Call::Timeout(id));
    }

    fn notify(&mut self, _: &mut EventLoop<Self, S>, msg: u64) {
        self.calls.push(Call::Notify(msg));
    }
}

fn panic_in_readable_or_writable_leaves_the_loop_usable<S: TestSelector>() {
    for panic_in in [R, W] {
        let (a, _a1) = readable_pair();
        let mut el: EventLoop<Routed, S> = EventLoop::new().unwrap();
        el.register(&a, T1, Interest::BOTH, Mode::Level).unwrap();
        let mut h = Routed {
            panic_in: Some(panic_in),
            calls: Vec::new(),
        };
        assert!(panics(|| el.run_once(&mut h, LONG).unwrap()));
        // Level-triggered: the source is reported again, both directions.
        el.run_once(&mut h, LONG).expect("run_once after the panic");
        let both = [rd(T1, R), rd(T1, W)];
        assert!(h.calls.ends_with(&both), "{panic_in:?}: {:?}", h.calls);
        el.deregister(&a).unwrap();
        assert_still_works(&mut el, &mut h);
        assert_nothing_registered(&el);
    }
}

fn panic_in_timeout_keeps_the_other_due_timers<S: TestSelector>() {
    let mut el: El<S> = EventLoop::new().unwrap();
    el.timeout(1, Duration::ZERO).unwrap();
    el.timeout(2, Duration::ZERO).unwrap();
    el.timeout(3, Duration::from_millis(1)).unwrap();
    let mut h = Recorder::new().on_timeout(|_, _, _| boom());
    assert!(panics(|| {
        while h.log.timeout_ids().is_empty() {
            el.run_once(&mut h, LONG).unwrap();
        }
    }));
    assert_eq!(h.log.timeout_ids(), [1]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.log.timeout_ids().len() < 3 && Instant::now() < deadline {
        el.run_once(&mut h, LONG).expect("run_once after the panic");
    }
    assert_eq!(h.log.timeout_ids(), [1, 2, 3]);
    assert_still_works(&mut el, &mut h);
    assert_nothing_registered(&el);
}

fn panic_in_notify_consumes_only_that_message<S: TestSelector>() {
    let mut el: El<S> = EventLoop::new().unwrap();
    let tx = el.channel();
    for msg in 1..=3 {
        tx.send(msg).unwrap();
    }
    let mut h = Recorder::new().on_notify(|_, _, _| boom());
    assert!(panics(|| el.run_once(&mut h, LONG).unwrap()));
    assert_eq!(h.log.messages(), [1]);
    el.run_once(&mut h, LONG).expect("run_once after the panic");
    assert_eq!(h.log.messages(), [1, 2, 3]);
    // Delivered messages make room: the channel neither fills nor loses any.
    for msg in 4..=6 {
        tx.send(msg).unwrap();
    }
    el.run_once(&mut h, LONG).unwrap();
    assert_eq!(h.log.messages(), [1, 2, 3, 4, 5, 6]);
    assert_still_works(&mut el, &mut h);
    assert_nothing_registered(&el);
}

fn panic_in_tick_leaves_the_loop_usable<S: TestSelector>() {
    let (a, _a1) = readable_pair();
    let mut el: El<S> = loop_reading(&[(&a, T1)]);
    let mut h = Recorder::new().on_tick(|_, _, ()| boom());
    assert!(panics(|| el.run_once(&mut h, LONG).unwrap()));
    el.run_once(&mut h, LONG).expect("run_once after the panic");
    assert_eq!(h.log.count(|c| *c == rd(T1, R)), 2);
    el.deregister(&a).unwrap();
    assert_still_works(&mut el, &mut h);
    assert_nothing_registered(&el);
}

fn panic_inside_run_ends_it_and_run_works_again<S: TestSelector>() {
    // What `is_running` said in the second run's first `tick`.
    let during = Cell::new(None);
    let (a, _a1) = readable_pair();
    let mut el: El<S> = loop_reading(&[(&a, T1)]);
    let mut h = Recorder::new().on_ready(|el, _, _| {
        assert!(el.is_running());
        boom()
    });
    assert!(panics(|| el.run(&mut h).unwrap()));
    assert!(!el.is_running(), "no run is running after the panic");
    h = h.on_tick(|el, _, ()| {
        if during.get().is_none() {
            during.set(Some(el.is_running()));
            el.shutdown();
        }
    });
    el.run(&mut h).expect("run after the panic");
    assert_eq!(during.get(), Some(true), "is_running inside the second run");
    assert!(!el.is_running());
    assert_eq!(h.log.count(|c| *c == Call::Tick), 1);
    el.deregister(&a).unwrap();
    assert_still_works(&mut el, &mut h);
    assert_nothing_registered(&el);
}

/// Every behaviour above as a `#[test]` for the selector `$sel`.
macro_rules! all_tests {
    ($sel:ty, $new:expr) => {
        backend_tests!($sel;
            panic_in_ready_loses_no_other_event_of_the_batch,
            panic_in_ready_keeps_stale_marks_for_the_rest_of_the_batch,
            panic_in_a_synthetic_ready_keeps_the_other_posted_events,
            panic_in_readable_or_writable_leaves_the_loop_usable,
            panic_in_timeout_keeps_the_other_due_timers,
            panic_in_notify_consumes_only_that_message,
            panic_in_tick_leaves_the_loop_usable,
            panic_inside_run_ends_it_and_run_works_again,
        );
    };
}

each_backend!(all_tests);
