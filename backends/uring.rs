//! io_uring(7) readiness backend (Linux): poll requests, never reads or writes.
//!
//! # Implementation notes
//! - Every registration is an `IORING_OP_POLL_ADD` request. Oneshot is a single-shot
//!   poll: `reregister` queues the next one in the submission queue, and the `select`
//!   that follows hands it to the kernel in the same `io_uring_enter` that waits, so
//!   re-arming costs no system call of its own. Edge is a multishot poll
//!   (`IORING_POLL_ADD_MULTI`): the kernel posts a completion per wake-up of the file,
//!   as epoll's `EPOLLET` reports per wake-up, and ends it only on error or overflow,
//!   when it is re-armed. Level is emulated: a single-shot poll re-queued after each
//!   delivery, which checks readiness again when the next `select` submits it.
//! - `reregister` is queued and goes to the kernel with the next wait; while a `select`
//!   waits (`waiting`), it submits itself so that it applies to that wait. `register`
//!   submits at once: the kernel resolves the number when it sees the request, and a
//!   caller may close the fd and get its number again for another file before the next
//!   `select`. `deregister` submits at once too: a pending poll holds a reference to the
//!   file, which a closed socket would otherwise keep until the next `select`.
//! - A poll removal can fail with `EALREADY` when it meets a request the kernel is
//!   completing (a multishot poll that just fired runs its completion as task work),
//!   which then stays armed and keeps its file. Removals carry their target in
//!   `user_data` (`REMOVE_BIT`), so the reap queues a failed one again; `deregister`
//!   first submits what is queued, so that a reregister's poll and its removal never
//!   share a batch.
//! - Answers come from the registry (`uring/table.rs`), synchronously: `fstat` refuses
//!   bad fds, the table answers `AlreadyExists` and `NotFound`. Each request's
//!   `user_data` is the fd number and the registration's generation, bumped by every
//!   change, so a completion of an older request (cancelled, or already posted when the
//!   fd was reregistered, deregistered or its number reused in the same batch) never
//!   reaches a newer registration.
//! - A poll request keeps its file alive: closing a registered fd neither ends nor
//!   completes it. A closed fd is noticed when its next request is submitted (`EBADF`:
//!   the entry is dropped, without an event), and when its number is registered again
//!   (the registry tells the new file from the old one, `table::Identity`, and cancels
//!   the old request). A pending request on a closed, idle file stays until then. A
//!   queued request (a `reregister`, a Level re-arm) names a number, not a file: if the
//!   registered fd is closed and its number reused before the next `select` submits it,
//!   it polls and holds the new file (`tests/regressions.rs`,
//!   `peer_closed_after_a_stale_number_was_reused`). Submitting each at once would
//!   close that gap and cost the system call that batching saves.
//! - The waker is an eventfd under a multishot poll; `wake()` writes it only on the
//!   false → true change of `woken`, so wakes coalesce and it stays one `write(2)`, safe
//!   in a signal handler. The eventfd is never drained (each write wakes the poll); a
//!   completion counts as a wake only while `woken` is set.
//! - Completion-queue overflow loses nothing: the ring requires `IORING_FEAT_NODROP`,
//!   whose kernel keeps overflowed completions and hands them over on the next
//!   `io_uring_enter` with `GETEVENTS`, which every `select` makes whenever the
//!   overflow flag is set. A `select` reaps at most `capacity` completions; the rest
//!   stay in the ring for the next one, in order, so none starves.
//! - A poll request completes as task work of the thread that submitted it, signalled
//!   with `TWA_SIGNAL`: a thread that called `register` (which submits at once) and is
//!   then blocked in an interruptible wait with a timeout sees that wait fail with `EINTR`
//!   when the request completes. Submitting only from the selecting thread would avoid it
//!   and lose `register`'s at-once resolution of the number; `COOP_TASKRUN` only spares
//!   threads running in user space.
//! - Dropping the selector closes the ring; the kernel then tears it down from a worker
//!   that sends each thread that ever submitted to it (the selecting thread, and any that
//!   registered) task work with `TWA_SIGNAL`. A thread blocked at that moment in an
//!   interruptible wait with a timeout (a socket read under `SO_RCVTIMEO`) sees it fail
//!   once with `EINTR`; cancelling every request before the close does not avoid it, as
//!   the task work removes the thread's link to the ring, not a request.
//! - Timeouts: `IORING_ENTER_EXT_ARG` with a `timespec`, exact and clamped like the
//!   others (`sys::timeout_timespec`). A wait that ends on completions the caller never
//!   sees (stale generations, cancellations) waits again for the time left.
//! - Setup flags left out on purpose. A poll completes as task work of the thread that
//!   submitted it, run when that thread next leaves the kernel, often at the end of the
//!   caller's `read` or `write`: that is why completions found in the ring are checked
//!   again. `IORING_SETUP_DEFER_TASKRUN` would run it only inside `select`'s
//!   `io_uring_enter`, fresh, but needs `IORING_SETUP_SINGLE_ISSUER`, under which any
//!   other thread's `io_uring_enter` or `io_uring_register` fails with `EEXIST`: a
//!   `register` from another thread could not bind its file at once, a `deregister`
//!   could not let a closed socket go before the owning thread selects, and a selector
//!   made on one thread could not select on another. `IORING_SETUP_COOP_TASKRUN` only
//!   stops interrupting a thread that runs in user space, which delays the completions
//!   of a registration made by a thread that stays there. A registered ring fd
//!   (`IORING_REGISTER_RING_FDS`) belongs to one thread and keeps the ring open until
//!   that thread unregisters it or exits: a selector dropped elsewhere would leak the
//!   ring and every file its polls hold.

mod table;
mod wait;

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types, IoUring};

use self::table::{is_other_file, Oracle, Reg, Table};
use self::wait::Waited;
use crate::selector::{self, errors, Capabilities, SelectLock, Support};
use crate::sys::WakeFd;
use crate::{Event, Events, Interest, Mode, Ready, Selector, Token};

const NAME: &str = "uring";
/// Submission-queue entries: changes queued between two `select`s beyond this submit
/// themselves.
const SQ_ENTRIES: u32 = 256;
/// Completion-queue entries: one `select` of the largest batch seen in practice.
const CQ_ENTRIES: u32 = 4096;
/// The `user_data` of the waker's poll. Registrations have a generation ≥ 1 in the high
/// 32 bits, so generation 0 is the selector's own.
const WAKE_DATA: u64 = 0;
/// Set in the `user_data` of a poll removal, whose other bits name the request it
/// removes (generations stay below 2^31, see `table::next_gen`). A removal posts a
/// completion only when it fails.
const REMOVE_BIT: u64 = 1 << 63;

/// The io_uring(7) selector: readiness through poll requests.
pub struct Uring {
    ring: IoUring,
    table: Mutex<Table>,
    /// A `select` is between its submission and its reap.
    waiting: AtomicBool,
    /// A user wake not yet consumed by a `select`.
    woken: AtomicBool,
    waker: WakeFd,
    oracle: Oracle,
    lock: SelectLock,
}

/// One event as `select` stores it: the registration's token and the poll(2) flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UringEvent {
    token: usize,
    flags: u32,
}

impl fmt::Debug for Uring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Uring")
            .field("ring", &self.ring.as_raw_fd())
            .field("waker", &self.waker)
            .field("oracle", &self.oracle)
            .finish_non_exhaustive()
    }
}

// SAFETY: the number goes into poll requests, to fstat(2) and to the identity epoll instance (epoll_ctl), and into the registry as a key.
#[cfg(feature = "conformance")]
unsafe impl crate::conformance::FdsAsNumbers for Uring {}

impl Selector for Uring {
    type RawEvent = UringEvent;

    #[doc(alias = "io_uring_setup")]
    fn new() -> io::Result<Uring> {
        let ring = IoUring::builder()
            // A bad fd fails its own request, not the rest of the batch (Linux 5.18).
            .setup_submit_all()
            .setup_cqsize(CQ_ENTRIES)
            .build(SQ_ENTRIES)
            .map_err(start_error)?;
        let params = ring.params();
        for (has, what) in [
            (params.is_feature_nodrop(), "IORING_FEAT_NODROP (Linux 5.5)"),
            (
                params.is_feature_ext_arg(),
                "IORING_FEAT_EXT_ARG (Linux 5.11)",
            ),
            (
                params.is_feature_poll_32bits(),
                "IORING_FEAT_POLL_32BITS (Linux 5.9)",
            ),
        ] {
            if !has {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("{NAME}: this kernel's io_uring lacks {what}"),
                ));
            }
        }
        let uring = Uring {
            ring,
            table: Mutex::new(Table::default()),
            waiting: AtomicBool::new(false),
            woken: AtomicBool::new(false),
            waker: WakeFd::new()?,
            oracle: Oracle::new()?,
            lock: SelectLock::new(),
        };
        let mut table = uring.lock_table();
        uring.arm_waker(&mut table)?;
        uring.submit()?;
        drop(table);
        Ok(uring)
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(Support::Emulated, Support::Native, Support::Native)
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
        let mut table = self.lock_table();
        let (identity, known) = self
            .oracle
            .identify(fd)
            .map_err(|e| fd_error("register", fd, e))?;
        if let Some((gen, old)) = table.get(fd) {
            match is_other_file(old.identity, identity, known) {
                Some(false) => return Err(errors::already_registered(NAME, fd)),
                None => return Err(errors::registered_or_reused(NAME, fd)),
                // The registered fd was closed without deregister and the number reused:
                // its request (holding the old file) goes, the new file registers.
                Some(true) => {
                    let armed = old.armed;
                    self.cancel(&mut table, fd, gen, armed)?;
                }
            }
        }
        let reg = Reg {
            token,
            interest,
            mode,
            armed: true,
            identity,
        };
        let gen = table.set(fd, Some(reg));
        self.push(&mut table, &poll_add(fd, gen, interest, mode))?;
        // At once: the kernel takes the file the number names when it sees the request,
        // and the caller may close it and get the number again before the next select.
        self.submit()
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
        let mut table = self.lock_table();
        let Some((gen, old)) = table.get(fd) else {
            return Err(errors::not_registered(NAME, fd));
        };
        let reg = Reg {
            token,
            interest,
            mode,
            armed: true,
            identity: old.identity,
        };
        // A fired oneshot has no request left: re-arming is one queued poll.
        let armed = old.armed;
        self.cancel(&mut table, fd, gen, armed)?;
        let gen = table.set(fd, Some(reg));
        self.push(&mut table, &poll_add(fd, gen, interest, mode))?;
        self.submit_if_waiting()
    }

    fn deregister(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        trace!(fd, "uring deregister");
        self.refuse_own("deregister", fd)?;
        let mut table = self.lock_table();
        let Some((gen, old)) = table.get(fd) else {
            return Err(errors::not_registered(NAME, fd));
        };
        let (armed, identity) = (old.armed, old.identity);
        table.set(fd, None);
        self.oracle.forget(fd, identity);
        if armed {
            // A request queued for this fd (a reregister's) must reach the kernel before
            // its removal does: in one batch, an added poll that fires at once completes
            // as task work, and a removal meeting it then fails (`EALREADY`).
            self.submit_queued(&mut table)?;
            self.cancel(&mut table, fd, gen, armed)?;
            // The request holds the file: let it go now, not at the next select.
            self.submit()?;
        }
        Ok(())
    }

    #[doc(alias = "io_uring_enter")]
    fn select(&self, events: &mut Events<Uring>, timeout: Option<Duration>) -> io::Result<()> {
        let _guard = self.lock.enter(NAME)?;
        events.clear();
        let deadline = timeout
            .filter(|t| !t.is_zero())
            .and_then(|t| Instant::now().checked_add(t));
        let mut left = timeout;
        loop {
            let (waited, old) = self.enter(left)?;
            let reaped = self.reap(events, old);
            if !events.is_empty() || reaped.woke || left == Some(Duration::ZERO) {
                break;
            }
            if waited == Waited::TimedOut {
                break;
            }
            left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                break;
            }
            // The wait ended with nothing at all in the ring and time left: a signal
            // the kernel could not report, as requests were submitted in the same call.
            if reaped.completions == 0 && waited == Waited::Submitted {
                return Err(interrupted());
            }
        }
        trace!(events = events.len(), "uring select");
        Ok(())
    }

    fn wake(&self) -> io::Result<()> {
        // AcqRel: the select that clears `woken` sees what the waking thread did before.
        if self.woken.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.waker.notify()
    }

    #[inline]
    fn decode(raw: &UringEvent) -> Event {
        Event::new(Token(raw.token), ready_of(raw.flags))
    }
}

impl Uring {
    /// `register`/`reregister`'s checks: token, mode, and none of our own fds.
    fn admit(&self, op: &str, fd: RawFd, reg: (Token, Interest, Mode)) -> io::Result<()> {
        let caps = self.capabilities();
        selector::admit(NAME, caps, op, fd, reg, |op, fd| self.refuse_own(op, fd))
    }

    fn lock_table(&self) -> MutexGuard<'_, Table> {
        // A panic while the lock was held left the table consistent: every change to it
        // is one assignment.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The ring, the waker's eventfd and the identity epoll are the selector's: a caller
    /// that registered the waker would take over `wake()`.
    fn refuse_own(&self, op: &str, fd: RawFd) -> io::Result<()> {
        if fd == self.ring.as_raw_fd() {
            return Err(errors::own_fd(NAME, op, fd, "io_uring fd"));
        }
        if self.waker.owns(fd) {
            return Err(errors::own_fd(NAME, op, fd, "waker (eventfd)"));
        }
        if fd == self.oracle.fd() {
            return Err(errors::own_fd(NAME, op, fd, "identity epoll fd"));
        }
        Ok(())
    }

    /// Queues `sqe`; a full queue is submitted first. `_table` proves the caller holds
    /// the lock that serializes every writer of the submission queue.
    fn push(&self, _table: &mut Table, sqe: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: the table lock, which the caller holds, serializes every access to
            // the submission queue; dropping the view publishes the new tail.
            let mut sq = unsafe { self.ring.submission_shared() };
            // SAFETY: poll add and remove entries point to no memory the kernel reads.
            if unsafe { sq.push(sqe) }.is_ok() {
                return Ok(());
            }
            drop(sq);
            self.submit()?;
        }
    }

    /// Hands the queued requests to the kernel without waiting.
    fn submit(&self) -> io::Result<()> {
        loop {
            match self.ring.submitter().submit() {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The completion queue overflowed and the kernel keeps the entries; the
                // requests stay queued for the next select, which flushes it.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => return Ok(()),
                Err(e) => return Err(errors::context(NAME, "submit", "-", e)),
            }
        }
    }

    /// Submits what is queued, if anything. `_table`: as in `push`.
    fn submit_queued(&self, _table: &mut Table) -> io::Result<()> {
        // SAFETY: the table lock, which the caller holds, serializes access to the
        // submission queue.
        let queued = unsafe { self.ring.submission_shared() }.len();
        if queued > 0 {
            self.submit()?;
        }
        Ok(())
    }

    /// Submits at once when a `select` waits, so that the change applies to it.
    fn submit_if_waiting(&self) -> io::Result<()> {
        if self.waiting.load(Ordering::Acquire) {
            self.submit()?;
        }
        Ok(())
    }

    /// Queues the removal of generation `gen`'s request on `fd` when it is `armed`.
    fn cancel(&self, table: &mut Table, fd: RawFd, gen: u32, armed: bool) -> io::Result<()> {
        if !armed {
            return Ok(());
        }
        self.remove(table, user_data(fd, gen))
    }

    /// Queues the removal of the request tagged `target`. A removal that meets the
    /// request while the kernel completes it (a multishot poll that just fired: its
    /// completion runs as task work) fails with `EALREADY` and leaves it armed, holding
    /// its file: the reap queues it again (`retry_remove`).
    fn remove(&self, table: &mut Table, target: u64) -> io::Result<()> {
        let sqe = opcode::PollRemove::new(target)
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(target | REMOVE_BIT);
        self.push(table, &sqe)
    }

    fn arm_waker(&self, table: &mut Table) -> io::Result<()> {
        let sqe = opcode::PollAdd::new(types::Fd(self.waker.fd()), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(WAKE_DATA);
        self.push(table, &sqe)
    }
}

/// `user_data` of generation `gen`'s request on `fd`.
fn user_data(fd: RawFd, gen: u32) -> u64 {
    (u64::from(gen) << 32) | u64::from(fd as u32)
}

/// The poll request of a registration.
fn poll_add(fd: RawFd, gen: u32, interest: Interest, mode: Mode) -> squeue::Entry {
    opcode::PollAdd::new(types::Fd(fd), poll_mask(interest))
        .multi(mode == Mode::Edge)
        .build()
        .user_data(user_data(fd, gen))
}

/// The poll(2) events that `interest` asks for.
fn poll_mask(interest: Interest) -> u32 {
    let mut mask = 0;
    if interest.is_readable() {
        // POLLRDHUP reports a peer's shutdown(SHUT_WR) even with no data to read.
        mask |= libc::POLLIN | libc::POLLRDHUP;
    }
    if interest.is_writable() {
        mask |= libc::POLLOUT;
    }
    mask as u32
}

/// The mapping of the table in `selector`'s docs for poll(2) flags (io_uring reports a
/// poll's result as poll(2) does): POLLHUP and POLLERR make a source readable and
/// writable (the next I/O call returns the end or the error).
fn ready_of(flags: u32) -> Ready {
    let has = |flag: libc::c_short| flags & flag as u32 != 0;
    let (hup, err, rdhup) = (has(libc::POLLHUP), has(libc::POLLERR), has(libc::POLLRDHUP));
    Ready::EMPTY
        .with_if(Ready::READABLE, has(libc::POLLIN) || rdhup || hup || err)
        .with_if(Ready::WRITABLE, has(libc::POLLOUT) || hup || err)
        .with_if(Ready::ERROR, err || has(libc::POLLNVAL))
        .with_if(Ready::READ_CLOSED, rdhup || hup)
        .with_if(Ready::WRITE_CLOSED, hup)
        .with_if(Ready::PRIORITY, has(libc::POLLPRI))
}

fn interrupted() -> io::Error {
    io::Error::new(
        io::ErrorKind::Interrupted,
        format!("{NAME}: select interrupted by a signal"),
    )
}

/// Why the ring could not be set up, in words: io_uring is often switched off.
fn start_error(err: io::Error) -> io::Error {
    let why = match err.raw_os_error() {
        Some(libc::ENOSYS) => {
            "io_uring_setup(2) does not exist here (ENOSYS): a kernel before 5.1, one built \
             without CONFIG_IO_URING, or a seccomp filter that answers ENOSYS"
        }
        Some(libc::EPERM) => {
            "io_uring_setup(2) was refused (EPERM): the sysctl kernel.io_uring_disabled is 2, \
             or 1 and this process is not in kernel.io_uring_group, or a seccomp filter (a \
             container runtime's) blocks io_uring"
        }
        Some(libc::EINVAL) => {
            "io_uring_setup(2) refused IORING_SETUP_SUBMIT_ALL (EINVAL): this backend needs \
             Linux 5.18 or later"
        }
        _ => return errors::context(NAME, "io_uring_setup", "-", err),
    };
    io::Error::new(err.kind(), format!("{NAME}: {why}"))
}

/// Gives an `fstat` error the kind and wording the contract asks for.
fn fd_error(op: &str, fd: RawFd, err: io::Error) -> io::Error {
    match err.raw_os_error() {
        Some(libc::EBADF) => errors::closed_fd(NAME, op, fd),
        _ => errors::context(NAME, op, fd, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hang_up_and_error_make_both_directions_ready() {
        let hup = ready_of(libc::POLLHUP as u32);
        assert_eq!(
            hup,
            Ready::READABLE | Ready::WRITABLE | Ready::READ_CLOSED | Ready::WRITE_CLOSED
        );
        let rdhup = ready_of((libc::POLLIN | libc::POLLRDHUP) as u32);
        assert_eq!(rdhup, Ready::READABLE | Ready::READ_CLOSED);
        let err = ready_of(libc::POLLERR as u32);
        assert!(err.is_readable() && err.is_writable() && err.is_error());
        assert_eq!(ready_of(libc::POLLOUT as u32), Ready::WRITABLE);
    }

    #[test]
    fn user_data_keeps_fd_and_generation_apart() {
        let data = user_data(7, 3);
        assert_eq!(data & 0xffff_ffff, 7);
        assert_eq!(data >> 32, 3);
        assert_ne!(user_data(0, 1), WAKE_DATA);
        assert_eq!(user_data(1, (1 << 31) - 1) & REMOVE_BIT, 0);
    }
}
