//! `select` timeouts: none, zero, exact, sub-millisecond, huge; and the events capacity.

use std::collections::BTreeSet;
use std::io;
use std::time::{Duration, Instant};

use super::util::{Cx, Source, CAPACITY, PATIENCE, SETTLE, T1};
use crate::{Events, Interest, Mode, Ready, Selector, Token};

/// `select(None)` blocks until woken: it returns, with no event, no earlier than the wake
/// sent by another thread.
pub fn timeout_none_blocks<S: Selector>(new: fn() -> io::Result<S>) {
    let cx = Cx::new(new, "timeout_none_blocks");
    let _rescue = cx.rescue();
    let mut ev = cx.events(CAPACITY);
    blocks_until_woken(&cx, &mut ev, None, SETTLE);
}

/// `select(timeout)` on an idle selector, woken by another thread after `delay`, returns
/// with no event and not before `delay`.
#[track_caller]
fn blocks_until_woken<S: Selector>(
    cx: &Cx<S>,
    ev: &mut Events<S>,
    timeout: Option<Duration>,
    delay: Duration,
) {
    let start = Instant::now();
    let waker = cx.wake_after(delay);
    let batch = cx.select(ev, timeout);
    let elapsed = start.elapsed();
    cx.ok(cx.join(waker), "wake() from another thread");
    cx.check(batch.events.is_empty(), || {
        format!("an idle selector reported {batch:?}")
    });
    cx.check(elapsed >= delay, || {
        format!(
            "select({timeout:?}) returned after {elapsed:?}, before the wake sent after {delay:?}"
        )
    });
}

/// `select(Some(ZERO))` returns at once with no event on an idle selector, and still asks
/// the kernel: an fd ready at that moment is reported by the first such call.
pub fn timeout_zero_does_not_block<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "timeout_zero_does_not_block");
    let (r, w) = cx.watched_pipe(Mode::Level);
    for i in 1..=3 {
        let batch = cx.select(&mut ev, Some(Duration::ZERO));
        cx.check(batch.elapsed < Duration::from_secs(1), || {
            format!("select(Some(ZERO)) {i} took {:?}", batch.elapsed)
        });
        cx.check(!batch.has(T1), || {
            format!("select(Some(ZERO)) {i} reported the idle pipe: {batch:?}")
        });
    }
    cx.put(&w, b"x");
    let batch = cx.select(&mut ev, Some(Duration::ZERO));
    cx.check(batch.ready(T1).is_some_and(Ready::is_readable), || {
        format!("select(Some(ZERO)) did not report the ready pipe (it must still ask the kernel): {batch:?}")
    });
    cx.drain(&r);
    cx.deregister(r.src());
}

/// A `select` with no event never returns before its timeout (20 ms, 50 ms).
pub fn timeout_is_never_early<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "timeout_is_never_early");
    let (r, _w) = cx.pipe();
    cx.register(r.src(), T1, Interest::READABLE, Mode::Level);
    for ms in [20, 50, 20] {
        cx.never_early(&mut ev, Duration::from_millis(ms));
    }
    cx.deregister(r.src());
}

/// Sub-millisecond timeouts (1 µs, 100 µs, 999 µs, 3.1 ms) never return early: a backend
/// waits them out as precisely as its kernel allows (a `timespec`) or rounds them up to
/// whole milliseconds, never down to a 0 ms busy loop.
pub fn timeout_sub_millisecond_is_never_early<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "timeout_sub_millisecond_is_never_early");
    let (r, _w) = cx.pipe();
    cx.register(r.src(), T1, Interest::READABLE, Mode::Level);
    for us in [1, 100, 999, 3_100] {
        for _ in 0..3 {
            cx.never_early(&mut ev, Duration::from_micros(us));
        }
    }
    cx.deregister(r.src());
}

/// Huge timeouts (`Duration::MAX`, just past what the system call takes, …) clamp: the
/// `select` blocks until a wake from another thread, neither failing nor returning at once.
pub fn timeout_duration_max_does_not_overflow<S: Selector>(new: fn() -> io::Result<S>) {
    let cx = Cx::new(new, "timeout_duration_max_does_not_overflow");
    let _rescue = cx.rescue();
    let mut ev = cx.events(CAPACITY);
    let huge = [
        Duration::MAX,
        Duration::from_secs(i64::MAX as u64),
        Duration::from_secs(u64::from(u32::MAX) + 1),
        Duration::from_millis(i32::MAX as u64 + 1),
    ];
    let delay = Duration::from_millis(50);
    for timeout in huge {
        cx.step(format_args!("select(Some({timeout:?}))"));
        blocks_until_woken(&cx, &mut ev, Some(timeout), delay);
    }
}

/// At most `capacity` events per call, and no ready fd starves: with 7 ready Level pipes
/// and capacity 3, every token is seen within ceil(7/3) + 1 selects.
pub fn capacity_limits_events_and_nothing_starves<S: Selector>(new: fn() -> io::Result<S>) {
    let cx = Cx::new(new, "capacity_limits_events_and_nothing_starves");
    let (count, capacity) = (7usize, 3usize);
    let mut ev = cx.events(capacity);
    let pipes: Vec<_> = (0..count).map(|_| cx.pipe()).collect();
    for (i, (r, w)) in pipes.iter().enumerate() {
        cx.put(w, b"x");
        cx.register(r.src(), Token(10 + i), Interest::READABLE, Mode::Level);
    }
    let mut seen = BTreeSet::new();
    // `select` (through `batch`) checks that no call stores more than the capacity.
    for _ in 0..count.div_ceil(capacity) + 1 {
        seen.extend(
            cx.select(&mut ev, Some(PATIENCE))
                .events
                .iter()
                .map(|e| e.token().0 - 10),
        );
    }
    let starved: Vec<usize> = (0..count).filter(|i| !seen.contains(i)).collect();
    cx.check(starved.is_empty(), || {
        format!(
            "pipes {starved:?} of {count} were never reported in {} selects",
            count.div_ceil(capacity) + 1
        )
    });
    for (r, _) in &pipes {
        cx.deregister(r.src());
    }
}

/// `Events::with_capacity(0)` is `InvalidInput`: a buffer that holds nothing would spin.
pub fn events_with_zero_capacity_is_invalid_input<S: Selector>(new: fn() -> io::Result<S>) {
    let cx = Cx::new(new, "events_with_zero_capacity_is_invalid_input");
    let result = Events::<S>::with_capacity(0);
    cx.check(
        matches!(&result, Err(e) if e.kind() == io::ErrorKind::InvalidInput),
        || {
            format!(
                "Events::with_capacity(0) gave {:?}",
                result.as_ref().map(Events::capacity)
            )
        },
    );
}
