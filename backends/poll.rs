//! poll(2) backend (every Unix).
//!
//! # Implementation notes
//! - One `pollfd` array kept between calls and handed to poll(2) as it is: the
//!   registrations, then the waker last, and a map from fd to slot finds them. `register` grows the array, `deregister`
//!   swap-removes; `select` never rebuilds, copies nor reallocates it.
//! - The waker is last because of how Linux polls the array (`do_poll` in
//!   fs/select.c): once an entry is found ready, the entries after it are checked
//!   without being added to their wait queues. When a registration is ready, the waker
//!   then costs no wait-queue entry to add and remove; first, it would on every call.
//! - The waker is a pipe, also on Linux (`WakeFd::pipe`): poll(2) costs more per call
//!   with an eventfd in the array, as the ping-pong of `benches/selector.rs` shows
//!   (`docs/benchmarks.md` has the figures).
//! - The array is owned by one thread at a time through a `Mutex` (`owner.rs`): the
//!   selecting thread holds it for its whole `select`, poll(2) included. A thread that
//!   changes a registration and finds the array taken counts itself and wakes the poll
//!   through the waker; the selector then waits on a condvar, the mutex released, until
//!   the waiting changes have applied, and polls again with the time left. A second
//!   concurrent `select` gets in the same way, sees that a `select` runs, and is refused.
//!   A change that finds the array free makes no system call (a oneshot `reregister` per
//!   event stays cheap), and an uncontended `select` or change costs one lock and unlock.
//! - `wake()` sets `woken` and writes the waker only on its false → true change, so wakes
//!   coalesce. A waker wake-up without `woken` (a registration change) makes `select`
//!   poll again; with `woken` it returns.
//! - Level is native. Oneshot is emulated: a delivered slot is disarmed by setting its
//!   `pollfd.fd` to -1 until `reregister`. Edge does not exist for poll(2).
//! - poll(2) keeps no registry, so duplicates, unknown fds, closed fds (`POLLNVAL`) and
//!   reused fd numbers (told apart by their `fstat` identity) are all handled here.
//!   poll(2) sees numbers, not files: a registered fd closed and its number reused by an
//!   unregistered file before the next poll(2) reports that file under the old token.

mod owner;
mod state;

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use libc::c_short;

use self::owner::{Owned, Owner};
use self::state::{Slot, State};
use crate::selector::{self, errors, Capabilities, Support};
use crate::sys;
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
    /// The array and its bookkeeping, owned by the selecting thread or by one change.
    state: Owner<State>,
    /// A user wake not yet consumed by a `select`.
    woken: AtomicBool,
    waker: sys::WakeFd,
}

/// One event as `select` stores it: the token, the events asked for and poll's `revents`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollEvent {
    token: usize,
    events: c_short,
    revents: c_short,
}

// SAFETY: the number goes into the pollfd array, to fstat(2), and into the registry as a key; the file is never read, written, duplicated or closed.
#[cfg(feature = "conformance")]
unsafe impl crate::conformance::FdsAsNumbers for Poll {}

impl Selector for Poll {
    type RawEvent = PollEvent;

    fn new() -> io::Result<Poll> {
        let waker = sys::WakeFd::pipe()?;
        Ok(Poll {
            state: Owner::new(State::new(waker.fd())),
            woken: AtomicBool::new(false),
            waker,
        })
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(Support::Native, Support::Unsupported, Support::Emulated)
    }

    fn register(
        &self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        self.admit("register", fd, (token, interest, mode))?;
        // fstat refuses -1 and closed fds, and gives the identity for the reuse check.
        let identity = sys::fd_identity(fd).map_err(|e| fd_error("register", fd, e))?;
        self.modify(|st| {
            if let Some(&i) = st.index.get(&fd) {
                // Another identity: another file, so the registered fd was closed and its
                // number reused before a poll(2) could report POLLNVAL; the entry is stale
                // and `store` replaces it. The same identity proves nothing: every eventfd,
                // timerfd, signalfd and epoll fd shares one inode on Linux, and sockets
                // stat to (0, 0) on the BSDs. poll(2) sees numbers, not files, so before
                // the next select nothing tells a duplicate from a reuse: say both.
                if st.slots[i].identity == identity {
                    return Err(errors::registered_or_reused(NAME, fd));
                }
            }
            st.store(Slot::new(fd, token, mode, identity), poll_events(interest));
            Ok(())
        })
    }

    fn reregister(
        &self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        self.admit("reregister", fd, (token, interest, mode))?;
        self.modify(|st| {
            let i = st.find(fd)?;
            // A parked slot's close went unseen (see `deregister`).
            if st.fds[i].fd < 0 && sys::fd_identity(fd).is_err() {
                st.remove(i);
                return Err(errors::closed_fd(NAME, "reregister", fd));
            }
            let identity = st.slots[i].identity;
            st.store(Slot::new(fd, token, mode, identity), poll_events(interest));
            Ok(())
        })
    }

    fn deregister(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        trace!(fd, "poll deregister");
        refuse_own(&self.waker, "deregister", fd)?;
        self.modify(|st| {
            let i = st.find(fd)?;
            // A parked slot (a fired Oneshot that hung up, see `state::disarm`) is out of
            // poll(2)'s sight, so no `select` reported its close: ask now, and answer a
            // closed fd as every backend does.
            let parked = st.fds[i].fd < 0;
            st.remove(i);
            if parked && sys::fd_identity(fd).is_err() {
                return Err(errors::closed_fd(NAME, "deregister", fd));
            }
            Ok(())
        })
    }

    #[doc(alias = "poll")]
    fn select(&self, events: &mut Events<Poll>, timeout: Option<Duration>) -> io::Result<()> {
        // A second `select` is refused (it wakes the first's poll to find out); this one
        // waits only for the changes that own or wait for the array.
        let Some(mut state) = self.state.select(|| self.wake_to_let_in()) else {
            return Err(busy());
        };
        events.clear();
        let deadline = timeout.and_then(deadline);
        // The first round polls for the whole timeout; the others are off the hot path.
        let woken = self.round(&mut state, events, timeout)?;
        if events.is_empty() && !woken {
            self.more_rounds(state, events, timeout, deadline)?;
        }
        trace!(events = events.len(), "poll select");
        Ok(())
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
    /// `register`/`reregister`'s checks: token, mode, and not our waker.
    fn admit(&self, op: &str, fd: RawFd, reg: (Token, Interest, Mode)) -> io::Result<()> {
        let caps = self.capabilities();
        selector::admit(NAME, caps, op, fd, reg, |op, fd| {
            refuse_own(&self.waker, op, fd)
        })
    }

    /// One poll(2): stores the registrations' events, and says whether a user wake came.
    #[inline(always)]
    fn round(
        &self,
        state: &mut State,
        events: &mut Events<Poll>,
        timeout: Option<Duration>,
    ) -> io::Result<bool> {
        let polled = poll(&mut state.fds, timeout);
        // EINTR returns here as `Interrupted` with no events; the waker and `woken` are
        // left as they are, so a wake that raced the signal is not lost.
        let mut ready = polled?;
        let mut woken = false;
        if state.waker().revents != 0 {
            ready -= 1;
            woken = self.waker_fired();
        }
        if ready > 0 {
            state.collect(events, ready);
        }
        Ok(woken)
    }

    /// Empties the waker, and says whether a user wake stood behind it.
    #[cold]
    fn waker_fired(&self) -> bool {
        self.waker.drain();
        // `woken` is consumed only with the waker's readiness it stands for: a wake
        // whose write has not landed yet makes the next select return instead.
        self.woken.swap(false, SeqCst)
    }

    /// The rounds after one that brought neither an event nor a user wake (a
    /// registration change or a spurious wake-up), until one does or the time is up.
    #[cold]
    fn more_rounds(
        &self,
        mut state: Owned<'_, State>,
        events: &mut Events<Poll>,
        timeout: Option<Duration>,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        loop {
            // The time left is recomputed on every round, so a round cut short by a
            // registration change never makes the whole call return early. A timeout
            // too large for an `Instant` has no deadline: it clamps and polls again.
            let left = sys::remaining(deadline).or(timeout);
            if left == Some(Duration::ZERO) {
                return Ok(());
            }
            // A change counted before the waker write this select drained is seen here
            // (the write and the drain go through the waker's lock in the kernel); one
            // counted after this check writes the waker after it, so the next poll(2)
            // returns at once.
            if state.changes_waiting() {
                state = state.let_changes_in();
            }
            if self.round(&mut state, events, left)? || !events.is_empty() {
                return Ok(());
            }
        }
    }

    /// Applies a registration change, first waking a `select` blocked in poll(2) so it
    /// lets the change in.
    fn modify<R>(&self, change: impl FnOnce(&mut State) -> io::Result<R>) -> io::Result<R> {
        let mut state = self.state.change(|| self.wake_to_let_in());
        change(&mut state)
    }

    /// Wakes a `select` blocked in poll(2) (if one is) so that it lets in the change
    /// waiting for the array.
    #[cold]
    fn wake_to_let_in(&self) {
        // notify maps a full pipe (already readable) to Ok; if it ever failed, the change
        // would still apply when the current poll(2) ends.
        drop(self.waker.notify());
    }
}

impl fmt::Debug for Poll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registered = self.state.try_change().map(|st| st.slots.len());
        f.debug_struct("Poll")
            .field("waker", &self.waker)
            .field("registered", &registered)
            .field("woken", &self.woken.load(SeqCst))
            .finish_non_exhaustive()
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

/// poll(2) over `fds`: how many entries have non-zero `revents`. A timeout finer than a
/// millisecond goes to `ppoll(2)` where it exists, which takes a `timespec`; poll(2)
/// rounds it up to whole milliseconds (later, never earlier).
#[inline(always)]
fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<usize> {
    #[cfg(selectio_ppoll)]
    if let Some(t) = sys::sub_ms(timeout) {
        return ppoll(fds, t);
    }
    // SAFETY: `fds` is an exclusively borrowed array of `fds.len()` initialised pollfd
    // that the kernel reads and whose `revents` it writes; negative fds are ignored.
    let n = unsafe {
        libc::poll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            sys::timeout_ms(timeout),
        )
    };
    sys::cvt(n).map(|n| n as usize)
}

/// `ppoll(2)` with `timeout` and no signal mask change.
#[cfg(selectio_ppoll)]
#[cold]
#[inline(never)]
fn ppoll(fds: &mut [libc::pollfd], timeout: Duration) -> io::Result<usize> {
    let ts = sys::timeout_timespec(Some(timeout)).expect("a timeout");
    // SAFETY: as in `poll`; `ts` lives for the call, and a null sigmask leaves it alone.
    let n = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    sys::cvt(n).map(|n| n as usize)
}

/// The deadline of a `select` with a timeout.
#[inline(never)]
fn deadline(timeout: Duration) -> Option<Instant> {
    // No clock read for a zero timeout: that select returns after one round anyway.
    if timeout.is_zero() {
        None
    } else {
        sys::deadline(Some(timeout))
    }
}

#[cold]
fn busy() -> io::Error {
    errors::busy(NAME)
}

/// The waker's pipe ends are the selector's: a caller registering the read end would see
/// `wake()` as its own event, and one registered elsewhere could be drained by others.
fn refuse_own(waker: &sys::WakeFd, op: &str, fd: RawFd) -> io::Result<()> {
    match waker.owns(fd) {
        true => Err(errors::own_fd(NAME, op, fd, "waker (pipe)")),
        false => Ok(()),
    }
}

/// Gives an `fstat` error on a registered fd the kind and wording the contract asks for.
fn fd_error(op: &str, fd: RawFd, err: io::Error) -> io::Error {
    match err.raw_os_error() {
        Some(libc::EBADF) => errors::closed_fd(NAME, op, fd),
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
