//! epoll(7) backend (Linux, Android).
//!
//! # Implementation notes
//! - One `epoll_create1(EPOLL_CLOEXEC)` descriptor; the waker is an eventfd registered
//!   level-triggered under [`Token::RESERVED`], drained when it fires.
//! - All three modes are native: `EPOLLET` for Edge, `EPOLLONESHOT` for Oneshot.
//! - The kernel keeps the registry, so duplicate (`EEXIST`) and unknown (`ENOENT`) fds
//!   are its answers, and a closed fd leaves the interest list by itself (once its last
//!   duplicate is closed), so its number can be registered again at once.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::selector::{self, errors, Capabilities, SelectLock, Support};
use crate::sys::{self, WakeFd};
use crate::{Event, Events, Interest, Mode, Ready, Selector, Token};

const NAME: &str = "epoll";
const WAKE_DATA: u64 = Token::RESERVED.0 as u64;

/// The epoll(7) selector.
#[derive(Debug)]
pub struct Epoll {
    ep: OwnedFd,
    waker: WakeFd,
    lock: SelectLock,
}

// SAFETY: register, reregister and deregister hand the number to epoll_ctl(2) and keep nothing of the borrow.
#[cfg(feature = "conformance")]
unsafe impl crate::conformance::FdsAsNumbers for Epoll {}

impl Selector for Epoll {
    type RawEvent = libc::epoll_event;

    #[doc(alias = "epoll_create1")]
    fn new() -> io::Result<Epoll> {
        // SAFETY: plain system call; the result is checked and owned by `owned`.
        let ep = sys::owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        let waker = WakeFd::new()?;
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: WAKE_DATA,
        };
        ctl(&ep, libc::EPOLL_CTL_ADD, waker.fd(), &mut ev)?;
        Ok(Epoll {
            ep,
            waker,
            lock: SelectLock::new(),
        })
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(Support::Native, Support::Native, Support::Native)
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
        let mut ev = epoll_event(token, interest, mode);
        ctl(&self.ep, libc::EPOLL_CTL_ADD, fd, &mut ev).map_err(|e| ctl_error("register", fd, e))
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
        let mut ev = epoll_event(token, interest, mode);
        ctl(&self.ep, libc::EPOLL_CTL_MOD, fd, &mut ev).map_err(|e| ctl_error("reregister", fd, e))
    }

    fn deregister(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        trace!(fd, "epoll deregister");
        self.refuse_own("deregister", fd)?;
        // Linux before 2.6.9 wanted a non-null event even for DEL; an empty one costs nothing.
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        ctl(&self.ep, libc::EPOLL_CTL_DEL, fd, &mut ev).map_err(|e| ctl_error("deregister", fd, e))
    }

    #[doc(alias = "epoll_wait")]
    #[inline(always)] // Into the EventLoop's iteration: the call cost a tenth of the loop.
    fn select(&self, events: &mut Events<Epoll>, timeout: Option<Duration>) -> io::Result<()> {
        let _guard = self.lock.enter(NAME)?;
        events.clear();
        let spare = events.spare_capacity_mut();
        let room = spare.len().min(libc::c_int::MAX as usize) as libc::c_int;
        let n = match sys::sub_ms(timeout) {
            // SAFETY: `spare` is `room` writable slots of the buffer's own memory; the
            // kernel writes at most `room` events into it.
            None => sys::cvt(unsafe {
                libc::epoll_wait(
                    self.ep.as_raw_fd(),
                    spare.as_mut_ptr().cast(),
                    room,
                    sys::timeout_ms(timeout),
                )
            })?,
            // SAFETY: as above.
            Some(t) => unsafe { wait_precise(&self.ep, spare.as_mut_ptr().cast(), room, t) }?,
        };
        // SAFETY: epoll_wait initialised the first `n` <= room slots.
        unsafe { events.set_len(n as usize) };
        // The waker is level-triggered and appears at most once per batch.
        if let Some(i) = events.raw().iter().position(|ev| ev.u64 == WAKE_DATA) {
            self.take_wake(events, i);
        }
        trace!(events = events.len(), "epoll select");
        Ok(())
    }

    fn wake(&self) -> io::Result<()> {
        self.waker.notify()
    }

    #[inline]
    fn decode(raw: &libc::epoll_event) -> Event {
        Event::new(Token(raw.u64 as usize), DECODE[decode_index(raw.events)])
    }
}

impl Epoll {
    /// `register`/`reregister`'s checks: token, mode, and none of our own fds.
    fn admit(&self, op: &str, fd: RawFd, reg: (Token, Interest, Mode)) -> io::Result<()> {
        let caps = self.capabilities();
        selector::admit(NAME, caps, op, fd, reg, |op, fd| self.refuse_own(op, fd))
    }

    /// The epoll fd and the waker's eventfd are the selector's: a caller that changed the
    /// waker's registration would take over `wake()` (its event under the caller's token,
    /// never drained: every later `select` would return at once).
    fn refuse_own(&self, op: &str, fd: RawFd) -> io::Result<()> {
        if fd == self.ep.as_raw_fd() {
            return Err(errors::own_fd(NAME, op, fd, "epoll fd"));
        }
        if self.waker.owns(fd) {
            return Err(errors::own_fd(NAME, op, fd, "waker (eventfd)"));
        }
        Ok(())
    }

    /// Removes the waker's event `i` from the batch and drains the waker: out of line, as
    /// `select` is inlined into its callers.
    #[cold]
    #[inline(never)]
    fn take_wake(&self, events: &mut Events<Epoll>, i: usize) {
        events.remove(i);
        self.waker.drain();
    }
}

/// Whether `epoll_pwait2` may work here: cleared by the first `ENOSYS` (Linux before
/// 5.11) or `EPERM` (a seccomp filter that does not know it).
static PWAIT2: AtomicBool = AtomicBool::new(true);

/// `epoll_wait` with a timeout finer than a millisecond: `epoll_pwait2(2)` takes a
/// `timespec` (Linux 5.11, "epoll_pwait2() ... allows for nanosecond resolution"). Where
/// it is missing, the timeout rounds up to whole milliseconds as `epoll_wait` needs:
/// later, never earlier.
///
/// # Safety
/// `events` is valid for writing `room` `epoll_event`s.
#[cold]
#[inline(never)]
unsafe fn wait_precise(
    ep: &OwnedFd,
    events: *mut libc::epoll_event,
    room: libc::c_int,
    timeout: Duration,
) -> io::Result<libc::c_int> {
    if PWAIT2.load(Ordering::Relaxed) {
        let ts = sys::timeout_timespec(Some(timeout)).expect("a timeout");
        // The kernel reads a `__kernel_timespec`: two 64-bit fields on every target.
        #[allow(clippy::unnecessary_cast)] // `time_t` and `c_long` are 32-bit on some targets.
        let kts: [i64; 2] = [ts.tv_sec as i64, ts.tv_nsec as i64];
        // SAFETY: `events` is valid for `room` events (the caller's contract), `kts` is a
        // valid `__kernel_timespec` for the call, and a null sigmask leaves it alone.
        let n = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                ep.as_raw_fd(),
                events,
                room,
                kts.as_ptr(),
                std::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        match sys::cvt(n as libc::c_int) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                PWAIT2.store(false, Ordering::Relaxed);
            }
            result => return result,
        }
    }
    // SAFETY: as above.
    sys::cvt(unsafe {
        libc::epoll_wait(ep.as_raw_fd(), events, room, sys::timeout_ms(Some(timeout)))
    })
}

/// The `Ready` of every combination of the six epoll bits that matter, so `decode` is one
/// load instead of a chain of tests (it runs once per event of every batch).
const DECODE: [Ready; 64] = {
    let mut table = [Ready::EMPTY; 64];
    let mut index = 0;
    while index < 64 {
        // The inverse of `decode_index`: bits 0-4 as they are, bit 5 is EPOLLRDHUP.
        table[index] = ready_of((index as u32 & 0x1f) | (index as u32 & 0x20) << 8);
        index += 1;
    }
    table
};

// `decode_index` keeps the low five bits as they are and moves EPOLLRDHUP down to bit 5.
const _: () = assert!(
    (libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) == 0x1f
        && libc::EPOLLRDHUP == 0x2000
);

const fn decode_index(flags: u32) -> usize {
    ((flags & 0x1f) | (flags & 0x2000) >> 8) as usize
}

/// The mapping of the table in `selector`'s docs: EPOLLHUP and EPOLLERR make a source
/// readable and writable (the next I/O call returns the end or the error).
const fn ready_of(flags: u32) -> Ready {
    const fn has(flags: u32, flag: libc::c_int) -> bool {
        flags & flag as u32 != 0
    }
    let hup = has(flags, libc::EPOLLHUP);
    let err = has(flags, libc::EPOLLERR);
    let rdhup = has(flags, libc::EPOLLRDHUP);
    Ready::EMPTY
        .with_if(
            Ready::READABLE,
            has(flags, libc::EPOLLIN) || rdhup || hup || err,
        )
        .with_if(Ready::WRITABLE, has(flags, libc::EPOLLOUT) || hup || err)
        .with_if(Ready::ERROR, err)
        .with_if(Ready::READ_CLOSED, rdhup || hup)
        .with_if(Ready::WRITE_CLOSED, hup)
        .with_if(Ready::PRIORITY, has(flags, libc::EPOLLPRI))
}

/// The `epoll_event` that asks for `interest` in `mode`, tagged with `token`.
fn epoll_event(token: Token, interest: Interest, mode: Mode) -> libc::epoll_event {
    let mut flags = 0;
    if interest.is_readable() {
        // EPOLLRDHUP reports a peer's shutdown(SHUT_WR) even with no data to read.
        flags |= libc::EPOLLIN | libc::EPOLLRDHUP;
    }
    if interest.is_writable() {
        flags |= libc::EPOLLOUT;
    }
    flags |= match mode {
        Mode::Level => 0,
        Mode::Edge => libc::EPOLLET,
        Mode::Oneshot => libc::EPOLLONESHOT,
    };
    libc::epoll_event {
        events: flags as u32,
        u64: token.0 as u64,
    }
}

#[doc(alias = "epoll_ctl")]
fn ctl(ep: &OwnedFd, op: libc::c_int, fd: RawFd, ev: &mut libc::epoll_event) -> io::Result<()> {
    // SAFETY: `ev` is a valid epoll_event for the duration of the call; a bad `fd` is an
    // error the kernel reports.
    sys::cvt(unsafe { libc::epoll_ctl(ep.as_raw_fd(), op, fd, ev) }).map(drop)
}

/// Gives an `epoll_ctl` error the kind and wording the contract asks for.
fn ctl_error(op: &str, fd: RawFd, err: io::Error) -> io::Error {
    match err.raw_os_error() {
        Some(libc::EEXIST) => errors::already_registered(NAME, fd),
        Some(libc::ENOENT) => errors::not_registered(NAME, fd),
        // epoll_ctl(2): "EPERM The target file fd does not support epoll. This error can
        // occur if fd refers to, for example, a regular file or a directory."
        Some(libc::EPERM) => io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{NAME}: {op} fd {fd}: this kind of file (a regular file or directory?) does not support epoll"),
        ),
        Some(libc::EBADF) => errors::closed_fd(NAME, op, fd),
        // EINVAL: the epoll fd itself; ELOOP: nested epoll instances forming a cycle.
        _ => errors::context(NAME, op, fd, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_table_matches_the_flag_mapping() {
        let bits = [
            libc::EPOLLIN,
            libc::EPOLLPRI,
            libc::EPOLLOUT,
            libc::EPOLLERR,
            libc::EPOLLHUP,
            libc::EPOLLRDHUP,
        ];
        // Bits the kernel may report that `decode` ignores.
        let noise = (libc::EPOLLRDNORM | libc::EPOLLWRNORM | libc::EPOLLMSG) as u32;
        for combo in 0..64u32 {
            let flags = (0..6)
                .filter(|i| combo & (1 << i) != 0)
                .fold(0, |acc, i| acc | bits[i] as u32);
            for extra in [0, noise] {
                let raw = libc::epoll_event {
                    events: flags | extra,
                    u64: 7,
                };
                let event = Epoll::decode(&raw);
                assert_eq!(event.ready(), ready_of(flags), "flags {flags:#x}");
                assert_eq!(event.token(), Token(7));
            }
        }
        assert_eq!(
            ready_of((libc::EPOLLIN | libc::EPOLLRDHUP) as u32),
            Ready::READABLE | Ready::READ_CLOSED
        );
        assert_eq!(
            ready_of(libc::EPOLLHUP as u32),
            Ready::READABLE | Ready::WRITABLE | Ready::READ_CLOSED | Ready::WRITE_CLOSED
        );
    }
}
