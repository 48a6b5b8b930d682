//! The poll backend's `pollfd` array and its bookkeeping: registration slots, the
//! scan of what poll(2) reported, oneshot disarming and `POLLNVAL` sweeping.

use std::collections::HashMap;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;

use libc::c_short;

use super::{Poll, PollEvent, NAME};
use crate::selector::errors;
use crate::{Events, Mode, Token};

/// The array poll(2) reads and its bookkeeping; `fds[i]` and `slots[i]` go together,
/// and `fds` has one more entry, the waker, at the end.
pub(super) struct State {
    pub(super) fds: Vec<libc::pollfd>,
    pub(super) slots: Vec<Slot>,
    pub(super) index: HashMap<RawFd, usize>,
    /// Where the next scan starts, so no ready fd starves when the buffer is small.
    rotate: usize,
}

/// One registration.
#[derive(Clone, Copy)]
pub(super) struct Slot {
    /// The real fd, kept while `pollfd.fd` is -1 (a disarmed oneshot).
    fd: RawFd,
    token: Token,
    mode: Mode,
    /// Device and inode at registration, to tell a reused fd number from a duplicate.
    pub(super) identity: (u64, u64),
}

impl Slot {
    pub(super) fn new(fd: RawFd, token: Token, mode: Mode, identity: (u64, u64)) -> Slot {
        Slot {
            fd,
            token,
            mode,
            identity,
        }
    }
}

impl State {
    pub(super) fn new(waker: RawFd) -> State {
        State {
            fds: vec![pollfd(waker, libc::POLLIN)],
            slots: Vec::new(),
            index: HashMap::new(),
            rotate: 0,
        }
    }

    /// The waker's entry, last so that Linux adds no wait-queue entry for it when a
    /// registration before it is ready (see the notes of the `poll` module).
    pub(super) fn waker(&self) -> &libc::pollfd {
        &self.fds[self.slots.len()]
    }

    /// The slot of a registered `fd`, or `NotFound`.
    pub(super) fn find(&self, fd: RawFd) -> io::Result<usize> {
        self.index
            .get(&fd)
            .copied()
            .ok_or_else(|| errors::not_registered(NAME, fd))
    }

    /// Registers `slot` armed for `events`, replacing the entry of its fd if there is one.
    pub(super) fn store(&mut self, slot: Slot, events: c_short) {
        let pfd = pollfd(slot.fd, events);
        match self.index.get(&slot.fd) {
            Some(&i) => (self.fds[i], self.slots[i]) = (pfd, slot),
            None => {
                // In the waker's place; the waker moves up one.
                let i = self.slots.len();
                self.index.insert(slot.fd, i);
                self.fds.insert(i, pfd);
                self.slots.push(slot);
            }
        }
    }

    pub(super) fn remove(&mut self, i: usize) {
        self.index.remove(&self.slots[i].fd);
        // The last registration moves into `i`, and the waker down one.
        let last = self.slots.len() - 1;
        self.fds.swap(i, last);
        self.fds.remove(last);
        self.slots.swap_remove(i);
        if let Some(moved) = self.slots.get(i) {
            self.index.insert(moved.fd, i);
        }
    }

    /// Stores the events of the `ready` slots poll(2) counted, as many as fit.
    #[inline(always)]
    pub(super) fn collect(&mut self, events: &mut Events<Poll>, ready: usize) {
        let dead = match events.spare_capacity_mut().get_mut(..ready) {
            Some(out) => {
                // Every ready slot fits: one scan in slot order, as a hand-written poll
                // loop does, stopping at the last ready slot.
                let (stored, dead) = deliver_all(&mut self.fds, &self.slots, out);
                // SAFETY: `deliver_all` initialised the first `stored` spare slots.
                unsafe { events.set_len(stored) };
                dead
            }
            None => self.collect_rotated(events, ready),
        };
        if dead {
            self.sweep();
        }
    }

    /// Stores as many more ready slots' events as fit, scanning from `rotate`, so that
    /// no ready fd starves however small the buffer; whether a closed fd was among them.
    #[cold]
    fn collect_rotated(&mut self, events: &mut Events<Poll>, mut ready: usize) -> bool {
        let mut dead = false;
        let n = self.slots.len();
        let start = if self.rotate < n { self.rotate } else { 0 };
        self.rotate = start + 1;
        // Slots `start .. n`, then `0 .. start`, wrapping without a division.
        let mut i = start;
        for _ in 0..n {
            if self.fds[i].revents != 0 {
                if events.len() == events.capacity() {
                    // The next scan starts at the first ready slot left out (still
                    // armed, oneshot included), so every ready fd gets its turn.
                    self.rotate = i;
                    break;
                }
                dead |= deliver(&mut self.fds[i], &self.slots[i], events);
                ready -= 1;
                if ready == 0 {
                    break;
                }
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        dead
    }

    /// Removes the slots whose `POLLNVAL` was delivered (disarmed by `disarm`; an
    /// undelivered one is still armed and waits for its turn).
    #[cold]
    fn sweep(&mut self) {
        // Backwards: swap_remove moves the last slot into `i`, and that one was checked.
        for i in (0..self.slots.len()).rev() {
            let pfd = self.fds[i];
            if pfd.fd < 0 && pfd.revents & libc::POLLNVAL != 0 {
                self.remove(i);
            }
        }
    }
}

/// Writes the events of the slots with `revents` into `out`, stopping once it is full
/// (`out` has room for every ready one; the waker's entry, last in `fds`, has no slot and
/// is left out). Returns how many it wrote and whether a closed fd was among them.
#[inline(always)]
fn deliver_all(
    fds: &mut [libc::pollfd],
    slots: &[Slot],
    out: &mut [MaybeUninit<PollEvent>],
) -> (usize, bool) {
    let (mut stored, mut dead) = (0, false);
    for (pfd, slot) in fds.iter_mut().zip(slots) {
        if pfd.revents == 0 {
            continue;
        }
        if pfd.events == 0 {
            dead |= fired_oneshot_woke(pfd);
            continue;
        }
        let Some(place) = out.get_mut(stored) else {
            break;
        };
        place.write(event(pfd, slot));
        stored += 1;
        dead |= disarm_if_done(pfd, slot);
        if stored == out.len() {
            break;
        }
    }
    (stored, dead)
}

/// Stores the event of one ready slot (the caller checked there is room); whether its fd
/// was closed.
#[inline(always)]
fn deliver(pfd: &mut libc::pollfd, slot: &Slot, events: &mut Events<Poll>) -> bool {
    if pfd.events == 0 {
        return fired_oneshot_woke(pfd);
    }
    let _ = events.push(event(pfd, slot));
    disarm_if_done(pfd, slot)
}

#[inline(always)]
fn event(pfd: &libc::pollfd, slot: &Slot) -> PollEvent {
    PollEvent {
        token: slot.token.0,
        events: pfd.events,
        revents: pfd.revents,
    }
}

/// After delivery: disarms a oneshot slot or a closed fd's slot; whether it was closed.
#[inline(always)]
fn disarm_if_done(pfd: &mut libc::pollfd, slot: &Slot) -> bool {
    if pfd.revents & libc::POLLNVAL != 0 {
        return closed(pfd);
    }
    if slot.mode == Mode::Oneshot {
        disarm(pfd);
    }
    false
}

/// Disarms a delivered oneshot slot until `reregister`. It stays in the array with no
/// events asked, so that poll(2) still answers `POLLNVAL` once it is closed: a closed
/// fired registration is then dropped by the next `select`, and its number can be
/// registered again, as for an armed one. Setting `fd` to -1 instead would hide the
/// close until `reregister`/`deregister`.
///
/// Not on Apple's systems: xnu's poll(2) turns each entry into kevents for the events
/// it asks (`poll_nocancel`) and reports `POLLNVAL` only when registering one fails, so
/// an entry asking none is never checked; there the slot is parked at fd -1 at once, and
/// the close of a fired Oneshot is noticed at `reregister`/`deregister` only.
#[cold]
fn disarm(pfd: &mut libc::pollfd) {
    if cfg!(selectio_apple) {
        pfd.fd = -1;
    } else {
        pfd.events = 0;
    }
}

/// A disarmed oneshot slot came back: poll(2) reports `POLLHUP`, `POLLERR` and
/// `POLLNVAL` whatever `events` asks ("ignored in events", poll(2)). Nothing is
/// delivered (one report per registration). Closed: it goes (returns true). Hung up or
/// failed: it is parked with `fd` -1 ("events shall be ignored, and revents shall be
/// set to 0", POSIX poll(2)), so it cannot wake every poll(2) until `reregister`.
#[cold]
fn fired_oneshot_woke(pfd: &mut libc::pollfd) -> bool {
    let closed = pfd.revents & libc::POLLNVAL != 0;
    pfd.fd = -1;
    closed
}

/// A closed fd's slot, reported once: parked with `fd` -1 until `sweep` removes it, so
/// poll(2) does not report it on every call and its number can be registered again.
#[cold]
fn closed(pfd: &mut libc::pollfd) -> bool {
    pfd.fd = -1;
    true
}

fn pollfd(fd: RawFd, events: c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(fd: RawFd) -> Slot {
        Slot::new(fd, Token(fd as usize), Mode::Level, (0, fd as u64))
    }

    /// Every registration sits where the index says, and the waker stays last.
    fn assert_consistent(st: &State, waker: RawFd) {
        assert_eq!(st.fds.len(), st.slots.len() + 1);
        assert_eq!(st.waker().fd, waker);
        assert_eq!(st.index.len(), st.slots.len());
        for (&fd, &i) in &st.index {
            assert_eq!((st.fds[i].fd, st.slots[i].fd), (fd, fd));
        }
    }

    #[test]
    fn store_and_remove_keep_the_waker_last() {
        let mut st = State::new(100);
        for fd in 3..8 {
            st.store(slot(fd), libc::POLLIN);
            assert_consistent(&st, 100);
        }
        st.store(slot(5), libc::POLLOUT);
        assert_eq!(
            st.fds[st.find(5).expect("registered")].events,
            libc::POLLOUT
        );
        for fd in [5, 7, 3, 4, 6] {
            st.remove(st.find(fd).expect("registered"));
            assert_consistent(&st, 100);
        }
        assert!(st.slots.is_empty());
    }

    #[test]
    fn a_small_buffer_rotates_through_every_ready_slot() {
        let mut st = State::new(100);
        for fd in 3..8 {
            st.store(slot(fd), libc::POLLIN);
        }
        let mut seen = Vec::new();
        for _ in 0..3 {
            st.fds.iter_mut().for_each(|p| p.revents = libc::POLLIN);
            let waker = st.slots.len();
            st.fds[waker].revents = 0;
            let mut events = Events::<Poll>::with_capacity(2).expect("events");
            st.collect(&mut events, st.slots.len());
            assert_eq!(events.len(), 2);
            seen.extend(events.raw().iter().map(|e| e.token));
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, [3, 4, 5, 6, 7]);
    }
}
