//! poll(2) backend (every Unix).
//!
//! # Implementation notes
//! - One `pollfd` array kept between calls and handed to poll(2) as it is: slot 0 is the
//!   waker (an eventfd on Linux, a pipe elsewhere), slots 1.. are the registrations, and
//!   a map from fd to slot finds them. `register` grows the array, `deregister`
//!   swap-removes; `select` never rebuilds nor reallocates it.
//! - The array sits under a mutex that `select` holds while in poll(2). A thread that
//!   changes a registration counts itself in `pending` and, if a `select` is running
//!   (its `SelectLock` is held), wakes it through the waker; the selector then waits on
//!   a condvar until no change is pending, and polls again with the time left. Both
//!   sides use `SeqCst` on `pending` and the select lock's flag, so either the selector
//!   sees the pending change before it polls or the changer sees it selecting and wakes
//!   it. With no `select` running a change makes no system call (a oneshot
//!   `reregister` per event stays cheap), and the select path pays no extra atomic.
//! - `wake()` sets `woken` and writes the waker only on its false → true change, so wakes
//!   coalesce. A waker wake-up without `woken` (a registration change) makes `select`
//!   poll again; with `woken` it returns.
//! - Level is native. Oneshot is emulated: a delivered slot is disarmed by setting its
//!   `pollfd.fd` to -1 until `reregister`. Edge does not exist for poll(2).
//! - poll(2) keeps no registry, so duplicates, unknown fds, closed fds (`POLLNVAL`) and
//!   reused fd numbers (told apart by their `fstat` identity) are all handled here.
//!   poll(2) sees numbers, not files: a registered fd closed and its number reused by an
//!   unregistered file before the next poll(2) reports that file under the old token.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use libc::c_short;

use crate::selector::{errors, Capabilities, SelectLock, Support};
use crate::sys::{self, WakeFd};
use crate::{Event, Events, Interest, Mode, Ready, Selector, Token};

const NAME: &str = "poll";

/// poll(2) on Linux: "POLLRDHUP (since Linux 2.6.17) Stream socket peer closed
/// connection, or shut down writing half of connection" — a peer's `shutdown(SHUT_WR)`
/// shows even with no data left. C needs `_GNU_SOURCE` for it; libc exposes it here.
#[cfg(selectio_linux_like)]
const POLLRDHUP: c_short = libc::POLLRDHUP;
/// Other systems have no such flag: a peer's shutdown shows as readable (EOF).
#[cfg(not(selectio_linux_like))]
const POLLRDHUP: c_short = 0;

/// The poll(2) selector.
pub struct Poll {
    state: Mutex<State>,
    /// Registration changes waiting for the state lock.
    pending: AtomicUsize,
    /// Signalled when the last pending change is applied and `select` waits for it.
    cond: Condvar,
    /// A user wake not yet consumed by a `select`.
    woken: AtomicBool,
    waker: WakeFd,
    lock: SelectLock,
}

/// One event as `select` stores it: the token, the events asked for and poll's `revents`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollEvent {
    token: usize,
    events: c_short,
    revents: c_short,
}

/// The array poll(2) reads and its bookkeeping; `fds[i]` and `slots[i]` go together.
struct State {
    fds: Vec<libc::pollfd>,
    slots: Vec<Slot>,
    index: HashMap<RawFd, usize>,
    /// Where the next scan starts, so no ready fd starves when the buffer is small.
    rotate: usize,
    /// Whether a delivered `POLLNVAL` left slots to sweep.
    dead: bool,
    /// Whether `select` waits on the condvar for pending changes.
    waiting: bool,
}

#[derive(Clone, Copy)]
struct Slot {
    /// The real fd, kept while `pollfd.fd` is -1 (a disarmed oneshot).
    fd: RawFd,
    token: Token,
    mode: Mode,
    /// Device and inode at registration, to tell a reused fd number from a duplicate.
    identity: (u64, u64),
}

impl Selector for Poll {
    type RawEvent = PollEvent;

    fn new() -> io::Result<Poll> {
        let waker = WakeFd::new()?;
        Ok(Poll {
            state: Mutex::new(State::new(waker.fd())),
            pending: AtomicUsize::new(0),
            cond: Condvar::new(),
            woken: AtomicBool::new(false),
            waker,
            lock: SelectLock::new(),
        })
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(Support::Native, Support::Unsupported, Support::Emulated)
    }

    fn register(&self, fd: RawFd, token: Token, interest: Interest, mode: Mode) -> io::Result<()> {
        self.capabilities().check(NAME, token, mode)?;
        trace!(fd, token = token.0, ?interest, ?mode, "poll register");
        // fstat refuses -1 and closed fds, and gives the identity for the reuse check.
        let identity = sys::fd_identity(fd).map_err(|e| fd_error("register", fd, e))?;
        if fd == self.waker.fd() {
            return Err(errors::already_registered(NAME, fd));
        }
        self.modify(|st| {
            if let Some(&i) = st.index.get(&fd) {
                if st.slots[i].identity == identity {
                    return Err(errors::already_registered(NAME, fd));
                }
                // Another file under the same number: the registered fd was closed and the
                // number reused before a poll(2) could report POLLNVAL. The entry is stale
                // and `store` replaces it.
            }
            st.store(Slot::new(fd, token, mode, identity), interest);
            Ok(())
        })
    }

    fn reregister(
        &self,
        fd: RawFd,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        self.capabilities().check(NAME, token, mode)?;
        trace!(fd, token = token.0, ?interest, ?mode, "poll reregister");
        self.modify(|st| {
            let identity = st.slots[st.find(fd)?].identity;
            st.store(Slot::new(fd, token, mode, identity), interest);
            Ok(())
        })
    }

    fn deregister(&self, fd: RawFd) -> io::Result<()> {
        trace!(fd, "poll deregister");
        self.modify(|st| {
            let i = st.find(fd)?;
            st.remove(i);
            Ok(())
        })
    }

    #[doc(alias = "poll")]
    fn select(&self, events: &mut Events<Poll>, timeout: Option<Duration>) -> io::Result<()> {
        // A separate flag, not the state lock: the selecting thread holds that lock while
        // blocked in poll(2), and a second `select` must fail at once, not wait.
        let _guard = self.lock.enter(NAME)?;
        events.clear();
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.rounds(state, events, timeout)
    }

    fn wake(&self) -> io::Result<()> {
        // A wake not yet consumed already has the waker written: coalesce.
        if self.woken.swap(true, SeqCst) {
            return Ok(());
        }
        self.waker
            .notify()
            .inspect_err(|_| self.woken.store(false, SeqCst))
    }

    fn decode(raw: &PollEvent) -> Event {
        let has = |f: c_short| raw.revents & f != 0;
        let (hup, err, nval) = (has(libc::POLLHUP), has(libc::POLLERR), has(libc::POLLNVAL));
        let rdhup = has(POLLRDHUP);
        // POLLERR on a write-only registration: the peer is gone, writes will fail.
        let write_only = raw.events & libc::POLLIN == 0;
        let ready = Ready::EMPTY
            .with_if(Ready::READABLE, has(libc::POLLIN) || rdhup || hup || err)
            .with_if(Ready::WRITABLE, has(libc::POLLOUT) || hup || err)
            .with_if(Ready::ERROR, err || nval)
            .with_if(Ready::READ_CLOSED, rdhup || hup || nval)
            .with_if(Ready::WRITE_CLOSED, hup || nval || (err && write_only))
            .with_if(Ready::PRIORITY, has(libc::POLLPRI));
        Event::new(Token(raw.token), ready)
    }
}

impl Poll {
    /// Polls until an event, a user wake or the deadline.
    fn rounds<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        events: &mut Events<Poll>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let capacity = events.capacity();
        let deadline = sys::deadline(timeout);
        loop {
            state = self.quiesce(state);
            // The time left is recomputed on every round, so a round cut short by a
            // registration change never makes the whole call return early. A timeout
            // too large for an `Instant` has no deadline: it clamps and polls again.
            let left = sys::remaining(deadline).or(timeout);
            let polled = poll(&mut state.fds, sys::timeout_ms(left));
            // EINTR returns here as `Interrupted` with no events; the waker and `woken`
            // are left as they are, so a wake that raced the signal is not lost.
            let mut ready = polled?;
            let waker_fired = state.fds[0].revents != 0;
            if waker_fired {
                self.waker.drain();
                ready -= 1;
            }
            if ready > 0 {
                state.collect(events.raw_mut(), capacity, ready);
            }
            // `woken` is consumed only with the waker's readiness it stands for: a wake
            // whose write has not landed yet makes the next select return instead.
            let woken = waker_fired && self.woken.swap(false, SeqCst);
            if !events.is_empty() || woken || deadline.is_some_and(|d| Instant::now() >= d) {
                trace!(events = events.len(), woken, "poll select");
                return Ok(());
            }
        }
    }

    /// Applies a registration change under the state lock, first waking a `select`
    /// blocked in poll(2) so it lets go of the lock.
    fn modify<R>(&self, change: impl FnOnce(&mut State) -> io::Result<R>) -> io::Result<R> {
        self.pending.fetch_add(1, SeqCst);
        // A select that has not reached poll(2) yet sees `pending` and lets us in; one
        // that has returned finds at most a spurious byte in the waker next time.
        if self.lock.is_held() {
            // notify fails only on a full pipe or counter, which it maps to Ok; if it
            // ever failed, the change would still apply when the current poll(2) ends.
            let _ = self.waker.notify();
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let result = change(&mut state);
        // Decremented under the lock that `quiesce` reads it under: no lost signal.
        self.pending.fetch_sub(1, SeqCst);
        if state.waiting {
            self.cond.notify_all();
        }
        result
    }

    /// Waits until no registration change is pending.
    fn quiesce<'a>(&self, mut state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        // `pending` is read after the select lock was taken (both `SeqCst`): a change
        // counted before then is waited for here, one counted after sees the lock held
        // and wakes the poll.
        while self.pending.load(SeqCst) > 0 {
            state.waiting = true;
            state = self
                .cond
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.waiting = false;
        }
        state
    }
}

impl Slot {
    fn new(fd: RawFd, token: Token, mode: Mode, identity: (u64, u64)) -> Slot {
        Slot {
            fd,
            token,
            mode,
            identity,
        }
    }
}

impl State {
    fn new(waker: RawFd) -> State {
        let waker_slot = Slot::new(waker, Token::RESERVED, Mode::Level, (0, 0));
        State {
            fds: vec![pollfd(waker, libc::POLLIN)],
            slots: vec![waker_slot],
            index: HashMap::new(),
            rotate: 0,
            dead: false,
            waiting: false,
        }
    }

    /// The slot of a registered `fd`, or `NotFound`.
    fn find(&self, fd: RawFd) -> io::Result<usize> {
        self.index
            .get(&fd)
            .copied()
            .ok_or_else(|| errors::not_registered(NAME, fd))
    }

    /// Registers `slot` armed, replacing the entry of its fd if there is one.
    fn store(&mut self, slot: Slot, interest: Interest) {
        let pfd = pollfd(slot.fd, poll_events(interest));
        match self.index.get(&slot.fd) {
            Some(&i) => (self.fds[i], self.slots[i]) = (pfd, slot),
            None => {
                self.index.insert(slot.fd, self.fds.len());
                self.fds.push(pfd);
                self.slots.push(slot);
            }
        }
    }

    fn remove(&mut self, i: usize) {
        self.index.remove(&self.slots[i].fd);
        self.fds.swap_remove(i);
        self.slots.swap_remove(i);
        if let Some(moved) = self.slots.get(i) {
            self.index.insert(moved.fd, i);
        }
    }

    /// Stores at most `capacity` of the `ready` slots' events, scanning from `rotate`.
    fn collect(&mut self, raw: &mut Vec<PollEvent>, capacity: usize, mut ready: usize) {
        let n = self.fds.len() - 1;
        let start = if self.rotate < n { self.rotate } else { 0 };
        self.rotate = start + 1;
        // Slots `1 + start ..= n`, then `1 ..= start`: one pass without a division per slot.
        for i in (1 + start..=n).chain(1..=start) {
            let pfd = self.fds[i];
            if pfd.revents == 0 {
                continue;
            }
            if raw.len() == capacity {
                // The next scan starts at the first ready slot left out (still armed,
                // oneshot included), so every ready fd gets its turn.
                self.rotate = i - 1;
                break;
            }
            raw.push(PollEvent {
                token: self.slots[i].token.0,
                events: pfd.events,
                revents: pfd.revents,
            });
            self.delivered(i, pfd.revents);
            ready -= 1;
            if ready == 0 {
                break;
            }
        }
        self.sweep();
    }

    /// Disarms a delivered oneshot slot, and marks a closed fd's slot for removal.
    fn delivered(&mut self, i: usize, revents: c_short) {
        if revents & libc::POLLNVAL != 0 {
            // The fd was closed while registered: reported once, then dropped, so poll(2)
            // does not report it on every call and its number can be registered again.
            self.dead = true;
        } else if self.slots[i].mode != Mode::Oneshot {
            return;
        }
        // POSIX poll(2): "If the value of fd is less than 0, events shall be ignored, and
        // revents shall be set to 0". Clearing `events` instead would not do: POLLHUP,
        // POLLERR and POLLNVAL are reported whatever `events` asks, and would spin.
        self.fds[i].fd = -1;
    }

    /// Removes the slots whose `POLLNVAL` was delivered (disarmed by `delivered`; an
    /// undelivered one is still armed and waits for its turn).
    fn sweep(&mut self) {
        if !std::mem::take(&mut self.dead) {
            return;
        }
        // Backwards: swap_remove moves the last slot into `i`, and that one was checked.
        for i in (1..self.fds.len()).rev() {
            let pfd = self.fds[i];
            if pfd.fd < 0 && pfd.revents & libc::POLLNVAL != 0 {
                self.remove(i);
            }
        }
    }
}

impl fmt::Debug for Poll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registered = self.state.try_lock().map(|st| st.fds.len() - 1).ok();
        f.debug_struct("Poll")
            .field("waker", &self.waker)
            .field("registered", &registered)
            .field("woken", &self.woken.load(SeqCst))
            .finish_non_exhaustive()
    }
}

fn pollfd(fd: RawFd, events: c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// The `pollfd.events` that ask for `interest`.
fn poll_events(interest: Interest) -> c_short {
    let mut events = 0;
    if interest.is_readable() {
        events |= libc::POLLIN | POLLRDHUP;
    }
    if interest.is_writable() {
        events |= libc::POLLOUT;
    }
    events
}

/// poll(2) over `fds`: how many entries have non-zero `revents`.
fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    // SAFETY: `fds` is an exclusively borrowed array of `fds.len()` initialised pollfd
    // that the kernel reads and whose `revents` it writes; negative fds are ignored.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    sys::cvt(n).map(|n| n as usize)
}

/// Gives an `fstat` error on a registered fd the kind and wording the contract asks for.
fn fd_error(op: &str, fd: RawFd, err: io::Error) -> io::Error {
    match err.raw_os_error() {
        Some(libc::EBADF) => io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{NAME}: {op} fd {fd}: not an open file descriptor"),
        ),
        _ => errors::context(NAME, op, fd, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(events: c_short, revents: c_short) -> Event {
        Poll::decode(&PollEvent {
            token: 7,
            events,
            revents,
        })
    }

    #[test]
    fn interest_maps_to_poll_events() {
        let (r, w) = (libc::POLLIN | POLLRDHUP, libc::POLLOUT);
        assert_eq!(poll_events(Interest::READABLE), r);
        assert_eq!(poll_events(Interest::WRITABLE), w);
        assert_eq!(poll_events(Interest::BOTH), r | w);
    }

    #[test]
    fn decode_follows_the_table() {
        let (r, w) = (libc::POLLIN, libc::POLLOUT);
        let ready = |events, revents| decode(events, revents).ready();
        assert_eq!(decode(r, r).token(), Token(7));
        assert_eq!(ready(r, libc::POLLIN), Ready::READABLE);
        assert_eq!(ready(w, libc::POLLOUT), Ready::WRITABLE);
        let hup = Ready::READABLE | Ready::WRITABLE | Ready::READ_CLOSED | Ready::WRITE_CLOSED;
        assert_eq!(ready(r, libc::POLLHUP), hup);
        let err = Ready::READABLE | Ready::WRITABLE | Ready::ERROR;
        assert_eq!(ready(r, libc::POLLERR), err);
        assert_eq!(ready(w, libc::POLLERR), err | Ready::WRITE_CLOSED);
        let nval = Ready::ERROR | Ready::READ_CLOSED | Ready::WRITE_CLOSED;
        assert_eq!(ready(r | w, libc::POLLNVAL), nval);
        assert_eq!(ready(r, libc::POLLPRI), Ready::PRIORITY);
        #[cfg(selectio_linux_like)]
        assert_eq!(ready(r, POLLRDHUP), Ready::READABLE | Ready::READ_CLOSED);
    }
}
