//! `wake()`: before and during `select`, coalescing, repeated, invisible to the caller.

use std::io;
use std::time::{Duration, Instant};

use super::util::{Cx, Source, LONG, PATIENCE, SETTLE, T1};
use crate::{Interest, Mode, Ready, Selector};

/// Checks that a `select(Some(LONG))` ended by a wake returned in time, with no event.
#[track_caller]
fn woken<S: Selector>(cx: &Cx<S>, batch: &super::util::Batch) {
    cx.check(batch.elapsed < PATIENCE, || {
        format!(
            "select(Some({LONG:?})) took {:?} despite the wake: the wake was lost",
            batch.elapsed
        )
    });
    cx.check(batch.events.is_empty(), || {
        format!("a wake-up reported events: {batch:?}")
    });
}

/// A `wake()` before `select` makes that `select` return at once.
pub fn wake_before_select_returns<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "wake_before_select_returns");
    cx.ok(cx.sel.wake(), "wake()");
    woken(&cx, &cx.select(&mut ev, Some(LONG)));
}

/// A `wake()` from another thread while `select` blocks makes it return.
pub fn wake_during_select_returns<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "wake_during_select_returns");
    let start = Instant::now();
    let waker = cx.wake_after(SETTLE);
    let batch = cx.select(&mut ev, Some(LONG));
    let elapsed = start.elapsed();
    cx.ok(cx.join(waker), "wake() from another thread");
    woken(&cx, &batch);
    cx.check(elapsed >= SETTLE, || {
        format!("select returned after {elapsed:?}, before the wake at {SETTLE:?}")
    });
}

/// Many wakes (100 in a row, or 4 threads × 25 at once) make at most one `select` return
/// early: the next one waits its full 100 ms.
pub fn wakes_coalesce<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "wakes_coalesce");
    cx.step("100 wakes in a row");
    for _ in 0..100 {
        cx.ok(cx.sel.wake(), "wake()");
    }
    woken(&cx, &cx.select(&mut ev, Some(LONG)));
    cx.never_early(&mut ev, Duration::from_millis(100));
    cx.step("4 threads x 25 wakes at once");
    let threads: Vec<_> = (0..4)
        .map(|_| cx.spawn(|sel| (0..25).try_for_each(|_| sel.wake())))
        .collect();
    for t in threads {
        cx.ok(cx.join(t), "wake() from another thread");
    }
    woken(&cx, &cx.select(&mut ev, Some(LONG)));
    cx.never_early(&mut ev, Duration::from_millis(100));
}

/// A wake after an earlier wake was consumed by a `select` is not lost, whether sent
/// before the next `select` or while it blocks.
pub fn wake_after_consumed_wake_is_not_lost<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "wake_after_consumed_wake_is_not_lost");
    for round in 1..=3 {
        cx.step(format_args!("wake before select, round {round}"));
        cx.ok(cx.sel.wake(), "wake()");
        woken(&cx, &cx.select(&mut ev, Some(LONG)));
    }
    for round in 1..=3 {
        cx.step(format_args!("wake during select, round {round}"));
        let waker = cx.wake_after(SETTLE / 2);
        let batch = cx.select(&mut ev, Some(LONG));
        cx.ok(cx.join(waker), "wake() from another thread");
        woken(&cx, &batch);
    }
}

/// The waker's own readiness never reaches the caller: no event and never
/// `Token::RESERVED`, also when the wake and a ready fd share a capacity-1 buffer.
pub fn wake_is_never_a_user_event<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "wake_is_never_a_user_event");
    cx.ok(cx.sel.wake(), "wake()");
    woken(&cx, &cx.select(&mut ev, Some(LONG)));
    let (r, w) = cx.pipe();
    cx.put(&w, b"x");
    cx.register(r.src(), T1, Interest::READABLE, Mode::Level);
    let mut one = cx.events(1);
    for round in 1..=3 {
        cx.step(format_args!(
            "capacity 1, wake and a ready pipe, round {round}"
        ));
        cx.ok(cx.sel.wake(), "wake()");
        // `select` checks that Token::RESERVED never appears; `only`, that nothing but
        // the pipe does, and that the wake does not starve it.
        cx.only(&mut one, T1, Ready::READABLE);
    }
    cx.drain(&r);
    cx.deregister(r.src());
}

/// A `select` ended by a wake still reports a level-triggered fd that is ready: a wake
/// shortens the wait, it does not replace the look at the fds (polling's poll(2) backend
/// returns at once on a pending notification without polling them).
pub fn wake_does_not_hide_ready_fds<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "wake_does_not_hide_ready_fds");
    let (r, _w) = cx.reported_pipe(&mut ev, Mode::Level);
    cx.ok(cx.sel.wake(), "wake()");
    let batch = cx.select(&mut ev, Some(LONG));
    cx.check(batch.has(T1), || {
        format!("a select ended by a wake left out the ready level-triggered reader: {batch:?}")
    });
    cx.deregister(r.src());
}
