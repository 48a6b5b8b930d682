//! The uring backend's wait: submit and wait in one `io_uring_enter`, then turn the
//! completions into events.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::time::Duration;

use io_uring::{cqueue, types, EnterFlags};

use super::table::{self, Table};
use super::{interrupted, poll_add, poll_mask, Uring, UringEvent, NAME, REMOVE_BIT, WAKE_DATA};
use crate::selector::errors;
use crate::sys;
use crate::{Events, Mode};

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Waited {
    /// Completions were there, or the kernel returned after waiting.
    Returned,
    /// The kernel submitted requests in the same call, so it reports the submission
    /// count instead of `EINTR` or `ETIME`.
    Submitted,
    /// The timeout expired.
    TimedOut,
}

/// What one reap found.
pub(super) struct Reaped {
    pub(super) woke: bool,
    pub(super) completions: usize,
}

impl Uring {
    /// Submits what is queued and waits up to `timeout` for a completion, unless some
    /// are in the ring already and nothing is queued: then no system call at all.
    /// Returns how the wait ended and how many completions were in the ring before it.
    pub(super) fn enter(&self, timeout: Option<Duration>) -> io::Result<(Waited, usize)> {
        let zero = timeout == Some(Duration::ZERO);
        // SAFETY: only the selecting thread (holding `lock`) reads the completion queue.
        let old = unsafe { self.ring.completion_shared() }.len();
        let ready = old > 0;
        let table = self.lock_table();
        // SAFETY: the table lock serializes access to the submission queue.
        let sq = unsafe { self.ring.submission_shared() };
        let (queued, overflow) = (sq.len() as u32, sq.cq_overflow() || sq.taskrun());
        drop(sq);
        if ready && queued == 0 && !overflow && !zero {
            return Ok((Waited::Returned, old));
        }
        let want = u32::from(!ready && !zero);
        self.waiting.store(true, Ordering::Release);
        drop(table);
        let ts = sys::timeout_timespec(timeout.filter(|_| want > 0));
        let ts = ts.map(|ts| {
            types::Timespec::new()
                .sec(ts.tv_sec as u64)
                .nsec(ts.tv_nsec as u32)
        });
        let flags = EnterFlags::GETEVENTS.bits();
        let submitter = self.ring.submitter();
        let result = match &ts {
            // SAFETY: no argument is passed.
            None => unsafe { submitter.enter::<libc::sigset_t>(queued, want, flags, None) },
            Some(ts) => {
                let args = types::SubmitArgs::new().timespec(ts);
                let flags = flags | EnterFlags::EXT_ARG.bits();
                // SAFETY: `args` is a valid `io_uring_getevents_arg` pointing at `ts`,
                // both alive for the call.
                unsafe { submitter.enter(queued, want, flags, Some(&args)) }
            }
        };
        self.waiting.store(false, Ordering::Release);
        let waited = match result {
            Ok(n) if n > 0 && want > 0 => Waited::Submitted,
            Ok(_) => Waited::Returned,
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => Waited::TimedOut,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(interrupted()),
            // The completion queue overflowed and the kernel could not flush it yet:
            // reap, which makes room, then enter again.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Waited::Returned,
            Err(e) => {
                let fd = self.ring.as_raw_fd();
                return Err(errors::context(NAME, "io_uring_enter", fd, e));
            }
        };
        Ok((waited, old))
    }

    /// Moves completions into `events`, at most its capacity, re-queueing the polls that
    /// go on (Level, an ended multishot). The first `old` completions were in the ring
    /// before this `select` waited: a poll result is the readiness when the file woke,
    /// and the caller may have read or written since, so those are checked again with
    /// one poll(2) (as epoll polls each ready file again before reporting it).
    pub(super) fn reap(&self, events: &mut Events<Uring>, old: usize) -> Reaped {
        let mut table = self.lock_table();
        let mut reaped = Reaped {
            woke: false,
            completions: 0,
        };
        table.checks.clear();
        let room = events.capacity();
        if table.pollfds.capacity() < room {
            // Once per capacity: the steady state allocates nothing.
            let (checks, pollfds) = (room - table.checks.len(), room - table.pollfds.len());
            table.checks.reserve(checks);
            table.pollfds.reserve(pollfds);
        }
        // SAFETY: only the selecting thread (holding `lock`) reads the completion queue;
        // dropping the view gives the reaped slots back to the kernel.
        let mut cq = unsafe { self.ring.completion_shared() };
        while events.len() + table.checks.len() < room {
            let Some(cqe) = cq.next() else { break };
            let stale = reaped.completions < old;
            reaped.completions += 1;
            let (data, res, more) = (cqe.user_data(), cqe.result(), cqueue::more(cqe.flags()));
            if data & REMOVE_BIT != 0 {
                // A removal failed (success posts nothing). `EALREADY`: the request was
                // completing and is still armed; `ENOENT`: it had ended.
                if res == -libc::EALREADY {
                    let _ = self.remove(&mut table, data & !REMOVE_BIT);
                }
                continue;
            }
            if data == WAKE_DATA {
                if !more {
                    // An ended waker poll comes back; its first completion may be the
                    // eventfd's standing readiness, which `woken` filters out.
                    let _ = self.arm_waker(&mut table);
                }
                reaped.woke |= res > 0 && self.woken.swap(false, Ordering::AcqRel);
                continue;
            }
            let Some(event) = self.complete(&mut table, data, res, more) else {
                continue;
            };
            if !stale || res < 0 {
                let _ = events.push(event);
                continue;
            }
            let (fd, gen) = split(data);
            if let Some((_, reg)) = table.get(fd) {
                let check = table::Check { fd, gen, reg: *reg };
                table.checks.push(check);
            }
        }
        drop(cq);
        if !table.checks.is_empty() {
            self.check_again(&mut table, events);
        }
        reaped
    }

    /// Reports the `checks` that poll(2) finds ready now, with what it finds; re-arms a
    /// oneshot that is not (it was never reported), forgets a closed fd (`POLLNVAL`).
    fn check_again(&self, table: &mut Table, events: &mut Events<Uring>) {
        let Table {
            checks, pollfds, ..
        } = &mut *table;
        pollfds.clear();
        pollfds.extend(checks.iter().map(|c| libc::pollfd {
            fd: c.fd,
            events: poll_mask(c.reg.interest) as libc::c_short,
            revents: 0,
        }));
        // SAFETY: `pollfds` is a valid array of its length; a zero timeout never blocks.
        let n = unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, 0) };
        if n < 0 {
            // EINTR or ENOMEM: report what the completions said, as they are.
            pollfds.iter_mut().for_each(|p| p.revents = p.events);
        }
        for i in 0..table.checks.len() {
            let (check, revents) = (table.checks[i], table.pollfds[i].revents);
            if revents & libc::POLLNVAL != 0 {
                // Closed without deregister: nothing to report, the entry goes, and so
                // does its request: Edge's multishot poll, or the re-arm `complete` just
                // queued for Level (it names the number, and would poll, and hold,
                // whatever file gets the number next).
                if check.reg.mode != Mode::Oneshot {
                    let _ = self.cancel(table, check.fd, check.gen, true);
                }
                table.set(check.fd, None);
                continue;
            }
            if revents != 0 {
                let _ = events.push(UringEvent {
                    token: check.reg.token.0,
                    flags: revents as u16 as u32,
                });
            } else if check.reg.mode == Mode::Oneshot {
                // Not ready any more: the oneshot did not fire for the caller.
                let sqe = poll_add(check.fd, check.gen, check.reg.interest, check.reg.mode);
                if self.push(table, &sqe).is_ok() {
                    if let Some((_, reg)) = table.get(check.fd) {
                        reg.armed = true;
                    }
                }
            }
        }
    }

    /// Applies one completion of a registration; the event to report, if any.
    fn complete(&self, table: &mut Table, data: u64, res: i32, more: bool) -> Option<UringEvent> {
        let (fd, gen) = split(data);
        let (now, reg) = table.get(fd)?;
        if gen == 0 || now != gen {
            // The selector's own request, or one of an earlier registration.
            return None;
        }
        let reg = *reg;
        let flags = match res {
            0.. => res as u32,
            e if e == -libc::EBADF => {
                // Closed without deregister before this request reached the kernel.
                table.set(fd, None);
                return None;
            }
            e if e == -libc::ECANCELED => {
                // Not ours (ours bump the generation): the kernel ended it, as when the
                // thread that submitted it exits. It comes back.
                let _ = self.push(table, &poll_add(fd, gen, reg.interest, reg.mode));
                return None;
            }
            // Any other failure is reported once, as an error, and disarms.
            _ => libc::POLLERR as u32,
        };
        let gone = (libc::POLLHUP | libc::POLLERR) as u32;
        if flags & gone != 0 && !self.still_open(fd) {
            // The registered fd was closed without deregister and the request, which
            // held the file, saw it hang up: nothing to report, the entry goes, and a
            // multishot request lets the file go.
            if more {
                let _ = self.cancel(table, fd, gen, true);
            }
            table.set(fd, None);
            return None;
        }
        let rearm = match reg.mode {
            Mode::Level => res >= 0,
            Mode::Edge => res >= 0 && !more,
            Mode::Oneshot => false,
        };
        if rearm {
            let _ = self.push(table, &poll_add(fd, gen, reg.interest, reg.mode));
        } else if !more {
            if let Some((_, reg)) = table.get(fd) {
                reg.armed = false;
            }
        }
        Some(UringEvent {
            token: reg.token.0,
            flags,
        })
    }
}

impl Uring {
    /// Whether `fd` is still open: asked only when a completion says the file hung up or
    /// failed, where a registration closed without `deregister` shows. A number reused
    /// by another file meanwhile counts as open: the entry stays, as poll(2)'s stale
    /// entries do, until the number is registered or deregistered.
    fn still_open(&self, fd: RawFd) -> bool {
        sys::fd_stat(fd).is_ok()
    }
}

/// The fd and the generation in a registration's `user_data`.
fn split(data: u64) -> (RawFd, u32) {
    ((data & 0xffff_ffff) as u32 as RawFd, (data >> 32) as u32)
}
