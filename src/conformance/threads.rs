//! Other threads acting on a blocked `select`, signals, and selector lifetimes.

use std::io::{self, Write};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use super::sources::open_fds;
use super::util::{Batch, Cx, End, Source, CAPACITY, LONG, PATIENCE, SETTLE, T1, T2};
use crate::{BorrowedSource, Events, Interest, Mode, Ready, Selector};

/// Another thread registers an already-ready pipe while `select(Some(5 s))` blocks: that
/// same `select` returns with it, well before its timeout.
pub fn register_from_other_thread_applies_to_blocked_select<S: Selector>(
    new: fn() -> io::Result<S>,
) {
    let (cx, mut ev) = Cx::with_events(new, "register_from_other_thread_applies_to_blocked_select");
    let (r, w) = cx.pipe();
    cx.put(&w, b"x");
    let r = Arc::new(r);
    let theirs = Arc::clone(&r);
    let other = cx.spawn(move |sel| {
        thread::sleep(SETTLE);
        sel.register(theirs.src(), T1, Interest::READABLE, Mode::Level)
    });
    let batch = cx.select(&mut ev, Some(PATIENCE));
    cx.ok(cx.join(other), "register from another thread");
    cx.check(batch.ready(T1).is_some_and(Ready::is_readable), || {
        format!("the blocked select did not report the pipe registered meanwhile: {batch:?}")
    });
    cx.check(batch.elapsed < PATIENCE - Duration::from_secs(1), || {
        format!(
            "the blocked select took {:?} of its {PATIENCE:?}",
            batch.elapsed
        )
    });
    cx.deregister(r.src());
}

/// Registers a fresh pipe for `T1`; while this thread's `select(timeout)` blocks, another
/// thread applies `change` to the reader and then writes a byte. Fails unless the change
/// (named by `what`) and the write succeeded; returns the reader and the batch.
fn change_from_other_thread<S: Selector>(
    cx: &Cx<S>,
    ev: &mut Events<S>,
    timeout: Duration,
    what: &str,
    change: fn(&S, BorrowedSource<'_>) -> io::Result<()>,
) -> (Arc<End>, Batch) {
    let (r, w) = cx.watched_pipe(Mode::Level);
    let r = Arc::new(r);
    let theirs = Arc::clone(&r);
    let other = cx.spawn(move |sel| {
        thread::sleep(SETTLE);
        let result = change(sel, theirs.src());
        (result, (&w).write(b"x"), w)
    });
    let batch = cx.select(ev, Some(timeout));
    let (result, written, _w) = cx.join(other);
    cx.ok(result, format_args!("{what} from another thread"));
    cx.ok(written, "write from another thread");
    (r, batch)
}

/// Another thread reregisters a pipe under a new token, then makes it ready, while
/// `select` blocks: that `select` reports the new token, never the old one.
pub fn reregister_from_other_thread_applies_to_blocked_select<S: Selector>(
    new: fn() -> io::Result<S>,
) {
    let (cx, mut ev) = Cx::with_events(
        new,
        "reregister_from_other_thread_applies_to_blocked_select",
    );
    let (r, batch) = change_from_other_thread(&cx, &mut ev, PATIENCE, "reregister", |sel, fd| {
        sel.reregister(fd, T2, Interest::READABLE, Mode::Level)
    });
    cx.check(!batch.has(T1), || {
        format!("the old token was reported after reregister: {batch:?}")
    });
    cx.check(batch.ready(T2).is_some_and(Ready::is_readable), || {
        format!("the blocked select did not report the new token: {batch:?}")
    });
    cx.drain(&*r);
    cx.deregister(r.src());
}

/// Another thread deregisters a pipe, then makes it ready, while `select` blocks: that
/// `select` (and later ones) does not report it.
pub fn deregister_from_other_thread_applies_to_blocked_select<S: Selector>(
    new: fn() -> io::Result<S>,
) {
    let (cx, mut ev) = Cx::with_events(
        new,
        "deregister_from_other_thread_applies_to_blocked_select",
    );
    let (_r, batch) =
        change_from_other_thread(&cx, &mut ev, SETTLE * 5, "deregister", |sel, fd| {
            sel.deregister(fd)
        });
    cx.check(!batch.has(T1), || {
        format!("the blocked select reported the fd deregistered meanwhile: {batch:?}")
    });
    cx.silent(&mut ev, T1, "the fd was deregistered");
}

/// A second `select` while another thread is in `select` is `ResourceBusy` naming the
/// backend, not UB; the first `select` goes on and is woken normally.
pub fn concurrent_select_is_an_error<S: Selector>(new: fn() -> io::Result<S>) {
    let cx = Cx::new(new, "concurrent_select_is_an_error");
    let (ready, entering) = mpsc::channel();
    let first = cx.spawn(move |sel| {
        let mut ev = Events::<S>::with_capacity(CAPACITY).expect("Events::with_capacity");
        let _ = ready.send(());
        let start = Instant::now();
        let result = sel.select(&mut ev, Some(LONG));
        (result, start.elapsed(), ev.len())
    });
    let _ = entering.recv();
    thread::sleep(SETTLE);
    let mut ev = cx.events(CAPACITY);
    let second = cx.sel.select(&mut ev, Some(Duration::ZERO));
    cx.err_kind(
        second,
        io::ErrorKind::ResourceBusy,
        "a select while another thread selects",
    );
    cx.ok(cx.sel.wake(), "wake()");
    let (result, elapsed, len) = cx.join(first);
    cx.ok(result, "the first select");
    cx.check(elapsed < PATIENCE && len == 0, || {
        format!("the first select returned after {elapsed:?} with {len} events; the wake should end it at once")
    });
    cx.select(&mut ev, Some(Duration::ZERO));
}

/// A signal delivered to the selecting thread makes `select` return `Err(Interrupted)`
/// with no events (the polling backend instead goes on waiting, as documented), and a
/// wake sent right after the signal is not lost.
pub fn signal_interrupts_select_without_losing_wake<S: Selector>(new: fn() -> io::Result<S>) {
    let cx = Cx::new(new, "signal_interrupts_select_without_losing_wake");
    #[cfg(unix)]
    {
        // The polling crate retries EINTR itself: the contract's one documented difference.
        let retries = cx.name() == "polling";
        cx.step("a signal alone");
        signal_alone(&cx, retries);
        cx.step("a signal and a wake right after it");
        let outcomes = signalled(&cx, Duration::ZERO);
        cx.check(retries || outcomes.len() <= 2, || {
            format!("more than one EINTR: {outcomes:?}")
        });
        cx.check(!retries || outcomes.len() == 1, || {
            format!("polling returned Interrupted: {outcomes:?}")
        });
    }
    #[cfg(not(unix))]
    cx.skip("no signals outside Unix");
}

/// A signal alone ends the select with `Err(Interrupted)` and no events, or, where the
/// backend retries EINTR (`retries`), does not end it before the wake.
#[cfg(unix)]
#[track_caller]
fn signal_alone<S: Selector>(cx: &Cx<S>, retries: bool) {
    let gap = Duration::from_millis(300);
    let mut tries = Vec::new();
    // A signal that lands before the thread enters `select` (on a very loaded machine)
    // interrupts nothing, so a missing EINTR is retried twice before it counts.
    while tries.len() < 3 {
        let (first, n, elapsed) = signalled(cx, gap)[0];
        if retries {
            return cx.check(first.is_ok() && elapsed >= gap / 2, || {
                format!("select gave {first:?} after {elapsed:?}; it should wait for the wake")
            });
        }
        if first == Err(io::ErrorKind::Interrupted) {
            return cx.check(n == 0, || format!("Err(Interrupted) came with {n} events"));
        }
        tries.push((first, n, elapsed));
    }
    cx.fail(format_args!(
        "select gave {tries:?} (result, events, time), never Err(Interrupted), in 3 tries"
    ))
}

/// One select outcome: the result's error kind, the events stored, the time it took.
#[cfg(unix)]
type Outcome = (Result<(), io::ErrorKind>, usize, Duration);

/// Signals a thread blocked in `select(Some(LONG))`, wakes the selector `then` later, and
/// returns the outcomes of its selects (it selects again after each `Interrupted`). The
/// last one must be `Ok` with no events, well within [`PATIENCE`].
#[cfg(unix)]
#[track_caller]
fn signalled<S: Selector>(cx: &Cx<S>, then: Duration) -> Vec<Outcome> {
    let (ready, entering) = mpsc::channel();
    let selecting = cx.spawn(move |sel| {
        let mut ev = Events::<S>::with_capacity(CAPACITY).expect("Events::with_capacity");
        let _ = ready.send(crate::sys::testhooks::Interrupter::current());
        let mut outcomes = Vec::new();
        while outcomes.len() < 3 {
            let start = Instant::now();
            let result = sel.select(&mut ev, Some(LONG)).map_err(|e| e.kind());
            outcomes.push((result, ev.len(), start.elapsed()));
            if result != Err(io::ErrorKind::Interrupted) {
                break;
            }
        }
        outcomes
    });
    let interrupter = entering.recv().expect("the selecting thread started");
    thread::sleep(SETTLE);
    let sent = interrupter.and_then(|target| target.interrupt());
    cx.ok(sent, "pthread_kill(SIGUSR1)");
    thread::sleep(then);
    cx.ok(cx.sel.wake(), "wake()");
    let outcomes = cx.join(selecting);
    let last = outcomes[outcomes.len() - 1];
    cx.check(matches!(last, (Ok(()), 0, _)), || {
        format!("select outcomes {outcomes:?} did not end in Ok with no events")
    });
    let total: Duration = outcomes.iter().map(|o| o.2).sum();
    cx.check(total < PATIENCE, || {
        format!("the wake after the signal was lost: {outcomes:?}")
    });
    for (result, n, _) in &outcomes {
        cx.check(*n == 0, || {
            format!("{result:?} came with {n} events: {outcomes:?}")
        });
    }
    outcomes
}

/// 200 selectors created, woken, selected on and dropped leave the fd count as it was
/// (within noise from other threads; a leak of one fd per cycle would be 200).
pub fn create_drop_cycles_leak_no_fd<S: Selector>(new: fn() -> io::Result<S>) {
    // Alone: other properties' fds would blur the count.
    let cx = Cx::exclusive(new, "create_drop_cycles_leak_no_fd");
    let Some(before) = open_fds() else {
        return cx.skip("this system lists no open fds (/proc/self/fd, /dev/fd)");
    };
    let mut ev = cx.events(4);
    for _ in 0..200 {
        let sel = cx.another();
        cx.ok(sel.wake(), "wake()");
        cx.ok(
            sel.select(&mut ev, Some(Duration::ZERO)),
            "select(Some(ZERO))",
        );
    }
    let after = open_fds().unwrap_or(before);
    cx.check(after < before + 100, || {
        format!("{before} fds open before 200 create/drop cycles, {after} after")
    });
}
