//! loom models of the poll backend's lock (its mutex, condvar and word) with its waker:
//! `Poll::select`, `Poll::modify` and `Poll::wake`, step for step, over a model pipe
//! whose poll(2) blocks until the pipe is written. A change that cannot get in, or a wake
//! that is lost, shows as a deadlock; a change applied twice or not at all, as a failed
//! assertion.

use loom::thread;

use super::Owner;
use crate::sync::atomic::{AtomicBool, Ordering::SeqCst};
use crate::sync::{model, Arc, Condvar, Mutex};

/// The waker pipe, and poll(2) over it alone: no registration ever becomes ready, so a
/// select ends only through the waker.
struct Pipe {
    readable: Mutex<bool>,
    written: Condvar,
}

impl Pipe {
    fn notify(&self) {
        *self.readable.lock().unwrap() = true;
        self.written.notify_all();
    }

    /// poll(2) with no timeout: returns once the pipe is readable.
    fn poll(&self) {
        let mut readable = self.readable.lock().unwrap();
        while !*readable {
            readable = self.written.wait(readable).unwrap();
        }
    }

    fn drain(&self) {
        *self.readable.lock().unwrap() = false;
    }
}

/// The parts of `Poll` the handshake uses; the registrations are a list of numbers.
struct Poll {
    state: Owner<Vec<u32>>,
    woken: AtomicBool,
    waker: Pipe,
}

impl Poll {
    fn new() -> Arc<Poll> {
        Arc::new(Poll {
            state: Owner::new(Vec::new()),
            woken: AtomicBool::new(false),
            waker: Pipe {
                readable: Mutex::new(false),
                written: Condvar::new(),
            },
        })
    }

    /// `Poll::wake`: only the wake that sets `woken` writes the pipe.
    fn wake(&self) {
        if !self.woken.swap(true, SeqCst) {
            self.waker.notify();
        }
    }

    /// `Poll::modify` registering `fd`: a running select is woken to let it in.
    fn register(&self, fd: u32) {
        let mut state = self.state.change(|| self.waker.notify());
        state.push(fd);
    }

    /// `Poll::select` with no timeout: `round` (the kernel writes the array, the waker
    /// fires, `waker_fired`), then `more_rounds` until a user wake. Returns the
    /// registrations of its last poll, or `None` if another select runs.
    fn try_select(&self) -> Option<Vec<u32>> {
        let mut state = self.state.select(|| self.waker.notify())?;
        loop {
            // The kernel writes `revents` into the array the select owns.
            state.as_mut_slice().reverse();
            self.waker.poll();
            self.waker.drain();
            if self.woken.swap(false, SeqCst) {
                let mut seen = state.clone();
                seen.sort_unstable();
                return Some(seen);
            }
            if state.changes_waiting() {
                state = state.let_changes_in();
            }
        }
    }

    fn select(&self) -> Vec<u32> {
        self.try_select().expect("one select at a time")
    }

    /// A select that, if refused, wakes the one that runs.
    fn select_or_wake(&self) -> Option<Vec<u32>> {
        let seen = self.try_select();
        if seen.is_none() {
            self.wake();
        }
        seen
    }
}

/// A thread registers while another selects, then wakes it: the change gets in (the
/// select is woken for it and lets it in), and the select that the wake ends has it.
#[test]
fn loom_register_while_selecting_then_wake() {
    model("loom_register_while_selecting_then_wake", 3, || {
        let poll = Poll::new();
        let other = poll.clone();
        let changer = thread::spawn(move || {
            other.register(1);
            other.wake();
        });
        assert_eq!(poll.select(), [1]);
        changer.join().unwrap();
    });
}

/// Two changes from two threads while a select runs, one of them also waking: both get
/// in, each exactly once, and the select ends. Three threads: two preemptions keep the
/// run to seconds.
#[test]
fn loom_two_changes_while_selecting() {
    model("loom_two_changes_while_selecting", 2, || {
        let poll = Poll::new();
        let changers: Vec<_> = [1, 2]
            .into_iter()
            .map(|fd| {
                let poll = poll.clone();
                thread::spawn(move || {
                    poll.register(fd);
                    if fd == 2 {
                        poll.wake();
                    }
                })
            })
            .collect();
        let seen = poll.select();
        assert!(
            seen.contains(&2),
            "woken before the waking change: {seen:?}"
        );
        changers.into_iter().for_each(|c| c.join().unwrap());
        let mut all = poll.state.change(|| {}).clone();
        all.sort_unstable();
        assert_eq!(all, [1, 2]);
    });
}

/// Two threads select at once: one of them is refused (the other's poll is woken for it
/// to find out, and lets it in) and then wakes the other, whose select ends.
#[test]
fn loom_second_select_is_refused() {
    model("loom_second_select_is_refused", 3, || {
        let poll = Poll::new();
        let second = {
            let poll = poll.clone();
            thread::spawn(move || poll.select_or_wake())
        };
        let first = poll.select_or_wake();
        let second = second.join().unwrap();
        assert!(
            first.is_none() != second.is_none(),
            "exactly one select is refused: {first:?}, {second:?}"
        );
    });
}
