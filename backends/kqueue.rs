//! kqueue(2) backend (macOS, iOS, FreeBSD, NetBSD, OpenBSD, DragonFly).
//!
//! # Implementation notes
//! Evidence: kqueue(2) of each system and the kernels' `kern_event.c` (FreeBSD, OpenBSD,
//! NetBSD `sys/kern/`; xnu `bsd/kern/`), cited by function.
//! - One `kqueue()` fd, `FD_CLOEXEC` set at once (a kqueue "is not inherited by a child
//!   created with fork(2)", kqueue(2); the flag covers exec).
//! - Every change carries `EV_RECEIPT` and each call has room for one receipt per change:
//!   each comes back with `EV_ERROR` set and its errno in `data` (0: applied), and the call
//!   returns without collecting pending events (FreeBSD `kqueue_kevent`, OpenBSD
//!   `sys_kevent`, NetBSD `kevent1`, xnu `kevent_internal`: "if (nerrors) …").
//! - Modes, all native: Level is a plain `EV_ADD`, Edge adds `EV_CLEAR`, Oneshot adds
//!   `EV_DISPATCH` (the knote stays, disabled after one delivery; in every `kqueue_scan`
//!   above; DragonFly took it with `EV_RECEIPT` from FreeBSD, commit 790e2e5). That
//!   disables one filter: `select` disables the other of a READABLE|WRITABLE Oneshot
//!   registration that reported (`oneshot.rs`), for one report per registration.
//! - One knote per (fd, filter); `EV_ADD` on an existing one only updates its
//!   udata/fflags/data, neither failing nor changing `EV_CLEAR`/`EV_DISPATCH` (FreeBSD
//!   `kqueue_register` copies flags only when it creates the knote, xnu `kevent_register`
//!   at attach). So the registry is ours, and `reregister` deletes and re-adds.
//! - close(2) drops the fd's knotes silently ("Calling close() on a file descriptor will
//!   remove any kevents that reference the descriptor"; `knote_fdclose`), leaving our entry
//!   stale if the number is reused. A duplicate `register` asks the kernel: a change with
//!   neither `EV_ADD` nor `EV_DELETE` fails with `ENOENT` if the knote does not exist
//!   (FreeBSD, NetBSD `kqueue_register`: "No matching knote and the EV_ADD flag is not
//!   set"; OpenBSD `kqueue_register`: `kn == NULL && !EV_ADD`; xnu `kevent_register`: "No
//!   knote found, EV_ADD wasn't specified"). If it exists, FreeBSD, NetBSD and xnu re-apply
//!   the udata/fflags/data passed, the registered ones, and re-run the filter: an Edge
//!   knote may report once more.
//! - `EV_DELETE` also drops an event already queued for the knote (`knote_drop` →
//!   `knote_dequeue`): nothing is reported after `deregister`, nor the old token after
//!   `reregister`.
//! - Waker: `EVFILT_USER` ident 0, `EV_CLEAR`, fired by `NOTE_TRIGGER` (macOS, FreeBSD,
//!   DragonFly, NetBSD 10); else a pipe, level-triggered and drained when it fires
//!   (OpenBSD, whose `EVFILT_USER` is recent; NetBSD 9, `EINVAL`). Both carry udata
//!   `Token::RESERVED`. A trigger or a pipe byte stays pending across `EINTR`, which
//!   `kevent` returns on a signal (`kqueue_scan`: "don't restart after signals").
//! - A regular file is always readable with FreeBSD's and OpenBSD's flags; elsewhere
//!   `register` refuses `READABLE` on one (see `READ_FFLAGS`). `WRITABLE` is always ready
//!   (FreeBSD `filt_vfswrite`, OpenBSD `filt_ufswrite`, xnu `vnode_writable_space_count`).
//!
//! This backend has run on Linux only, through libkqueue (a userspace emulation over
//! epoll: `.ci/libkqueue`, whose expected failures are the emulation's); on macOS and the
//! BSDs it is type-checked and linted. The conformance suite (`tests/conformance.rs`,
//! `mod kqueue`) holds the expectation of each kqueue-specific branch, so the first run on
//! a BSD or a Mac tests them all against the kernel:
//! - `EV_DISPATCH` per filter (`oneshot.rs`):
//!   `oneshot_both_directions_reports_once_until_reregister`;
//! - receipts (`Changes::submit`, `apply`/`undo`): `failed_calls_do_not_disturb_registrations`,
//!   `invalid_fd_is_an_error`, `duplicate_register_is_already_exists`,
//!   `reregister_replaces_mode`, `register_from_other_thread_applies_to_blocked_select`
//!   (a change never eats a pending event);
//! - the waker (`EVFILT_USER`, or the pipe on OpenBSD and NetBSD 9): the `wake_*` and
//!   `wakes_coalesce` properties, `signal_interrupts_select_without_losing_wake`,
//!   `create_drop_cycles_leak_no_fd` (the pipe's two fds);
//! - `EV_EOF` in `decode`: `pipe_reader_sees_writer_close`, `pipe_writer_sees_reader_close`,
//!   `tcp_peer_shutdown_is_read_closed`, `tcp_peer_reset_is_reported`,
//!   `unix_peer_close_is_read_closed`;
//! - `ENOENT`/`EBADF` on a closed fd (`first_failure`, `deregister`, `is_live`):
//!   `close_while_registered_does_not_spin` (deregisters the closed fds: an error),
//!   `reused_fd_number_can_be_registered`; `EPIPE` (`change_error`):
//!   `pipe_writer_sees_reader_close` (registers a writer whose reader is closed);
//! - `READ_FFLAGS`: `regular_file_is_refused_or_always_ready`.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

// The kqueue API: the C library's on the BSDs and macOS; libkqueue's on Linux (a test
// build, see `build.rs`), whose header gives the same names and FreeBSD's values.
#[cfg(selectio_libkqueue)]
use crate::sys::libkqueue as ffi;
use ffi::{EVFILT_READ, EVFILT_USER, EVFILT_WRITE, EV_ADD, EV_CLEAR, EV_DELETE, EV_ERROR};
#[cfg(not(selectio_libkqueue))]
use libc as ffi;

use self::oneshot::Arming;
use crate::selector::{self, errors, Capabilities, SelectLock, Support};
use crate::sys::{self, WakeFd};
use crate::{Event, Events, Interest, Mode, Ready, Selector, Token};

mod oneshot;

const NAME: &str = "kqueue";
const WAKER: Token = Token::RESERVED;

/// OpenBSD's libc lists `EVFILT_USER` but only recent kernels have it: the waker is a
/// pipe there. Elsewhere `EVFILT_USER` is tried first.
const TRY_USER_WAKER: bool = sys::TRY_EVFILT_USER;

/// The waker's `EVFILT_USER` ident (user filters do not share the fd namespace).
const USER_IDENT: usize = 0;

/// `EVFILT_READ` fflags that make a regular file readable even at its end, as poll(2)
/// reports it: FreeBSD `NOTE_FILE_POLL` ("behave like poll()", `filt_vfsread`), OpenBSD
/// `NOTE_EOF` ("return on EOF", `filt_ufsread`), both of the EVFILT_READ/WRITE flag
/// space, where sockets and pipes only look at NOTE_LOWAT. The others have none: a file
/// is readable only before its end (kqueue(2) on vnodes: "Returns when the file pointer
/// is not at the end of file"; xnu `vnode_readable_data_count`), so `register` refuses it.
#[cfg(selectio_note_file_poll)]
const READ_FFLAGS: Option<u32> = Some(libc::NOTE_FILE_POLL);
#[cfg(selectio_note_eof)]
const READ_FFLAGS: Option<u32> = Some(libc::NOTE_EOF);
#[cfg(not(any(selectio_note_file_poll, selectio_note_eof)))]
const READ_FFLAGS: Option<u32> = None;

/// At most four changes per call: `reregister` deletes two filters and adds two.
const MAX_CHANGES: usize = 4;

// NetBSD's `struct kevent` has `uint32_t filter, flags` (sys/event.h); the others have
// `short filter; u_short flags`.
#[cfg(selectio_kevent_u32)]
type Filter = u32;
#[cfg(selectio_kevent_u32)]
type Flags = u32;
#[cfg(not(selectio_kevent_u32))]
type Filter = i16;
#[cfg(not(selectio_kevent_u32))]
type Flags = u16;

/// A registration as `register` or `reregister` received it.
type Registration = (Token, Interest, Mode);

/// Each registered fd's registration, stamped when its knotes were last armed.
type Registry = HashMap<RawFd, (Registration, oneshot::Stamp)>;

/// The kqueue(2) selector.
#[derive(Debug)]
pub struct Kqueue {
    kq: OwnedFd,
    /// What is registered: the kernel cannot refuse duplicates (see the notes).
    registry: Mutex<Registry>,
    /// Keeps READABLE|WRITABLE Oneshot registrations to one report (`oneshot.rs`).
    arming: Arming,
    waker: Waker,
    lock: SelectLock,
}

/// One `struct kevent`, as `kevent(2)` writes it into [`Events`].
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct KEvent(ffi::kevent);

// SAFETY: `udata` is the only field that is not `Send`; it carries a token as an
// integer, read back as an integer and never dereferenced.
unsafe impl Send for KEvent {}

impl fmt::Debug for KEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ident, event) = (self.0.ident, Kqueue::decode(self));
        f.debug_struct("KEvent")
            .field("ident", &ident)
            .field("event", &event)
            .finish()
    }
}

// SAFETY: register, reregister and deregister hand the number to kevent(2) and fstat(2), and keep it as the registry's key.
#[cfg(feature = "conformance")]
unsafe impl crate::conformance::FdsAsNumbers for Kqueue {}

impl Selector for Kqueue {
    type RawEvent = KEvent;

    #[doc(alias = "kqueue")]
    fn new() -> io::Result<Kqueue> {
        // SAFETY: plain system call; the result is checked and owned by `owned`.
        let kq = sys::owned(unsafe { ffi::kqueue() })?;
        sys::set_cloexec(kq.as_fd())?;
        let waker = Waker::new(&kq)?;
        let (registry, lock) = (Mutex::new(HashMap::new()), SelectLock::new());
        Ok(Kqueue {
            kq,
            registry,
            arming: Arming::default(),
            waker,
            lock,
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
        if READ_FFLAGS.is_none() && interest.is_readable() && is_regular_file(fd) {
            // Never "always ready" here (see READ_FFLAGS): refused, as epoll refuses it.
            let msg = "a regular file is readable for kqueue only before its end";
            let msg = format!("{NAME}: register fd {fd}: {msg}");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        self.set("register", fd, (token, interest, mode))
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
        self.set("reregister", fd, (token, interest, mode))
    }

    fn deregister(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        trace!(fd, "kqueue deregister");
        self.refuse_own("deregister", fd)?;
        let mut registry = self.registry();
        let old = registry.get(&fd).map(|&(reg, _)| reg);
        let (token, interest, mode) = old.ok_or_else(|| errors::not_registered(NAME, fd))?;
        let mut changes = Changes::new();
        changes.filters(fd, interest, EV_DELETE, token);
        let mut result = self.apply(&mut changes, mode_flags(mode));
        if result.is_ok() && changes.none_found() && is_closed(fd) {
            // xnu looks for the knote before the fd and answers ENOENT, which `apply`
            // takes as "already gone" (`kevent_register`: "No knote found, EV_ADD wasn't
            // specified"; the fd is looked up only to attach a new knote). No knote and
            // no such fd is the closed fd the other kernels report: the same error here.
            result = Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        // EBADF (FreeBSD and the BSDs check the fd first: `kqueue_register`'s `fget`):
        // the fd was closed while registered and close(2) took its knotes: nothing is
        // left to keep.
        let closed = matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EBADF));
        if result.is_ok() || closed {
            registry.remove(&fd);
            self.arming.leave(old);
        }
        result.map_err(|e| change_error("deregister", fd, e))
    }

    #[doc(alias = "kevent")]
    fn select(&self, events: &mut Events<Kqueue>, timeout: Option<Duration>) -> io::Result<()> {
        let _guard = self.lock.enter(NAME)?;
        events.clear();
        let (kq, ts) = (self.kq.as_raw_fd(), sys::timeout_timespec(timeout));
        let scan_began = self.arming.now();
        let spare = events.spare_capacity_mut();
        let room = spare.len().min(libc::c_int::MAX as usize);
        // SAFETY: `KEvent` is a transparent `ffi::kevent`, and `spare` is `room` writable
        // slots of the buffer's own memory; the kernel writes at most `room` events.
        let n = sys::cvt(unsafe {
            ffi::kevent(
                kq,
                ptr::null(),
                0,
                spare.as_mut_ptr().cast::<ffi::kevent>(),
                room as _,
                timespec_ptr(&ts),
            )
        })?;
        // SAFETY: kevent initialised the first `n` <= room slots.
        unsafe { events.set_len(n as usize) };
        // The waker is one knote, so it appears at most once per batch.
        if let Some(i) = events
            .raw()
            .iter()
            .position(|ev| ev.0.udata.addr() == WAKER.0)
        {
            events.remove(i);
            if let Some(pipe) = self.waker.pipe() {
                pipe.drain();
            }
        }
        self.disarm_other_filters(events, scan_began);
        trace!(events = events.len(), "kqueue select");
        Ok(())
    }

    fn wake(&self) -> io::Result<()> {
        self.waker.wake(&self.kq)
    }

    fn decode(raw: &KEvent) -> Event {
        let ev = &raw.0;
        let read = ev.filter == EVFILT_READ;
        let write = ev.filter == EVFILT_WRITE;
        let eof = ev.flags & ffi::EV_EOF != 0;
        // EV_EOF is per filter (kqueue(2)): EVFILT_READ sets it when "the read direction
        // of the socket has shutdown" and on pipes/FIFOs "when the last writer
        // disconnects": READ_CLOSED. EVFILT_WRITE sets it on sockets, pipes and FIFOs
        // "when the reader disconnects": WRITE_CLOSED. On a socket the filter "returns the
        // socket error (if any) in fflags" (ECONNRESET after a reset): ERROR. EV_ERROR
        // only comes back for a failed change, which `select` never submits; it counts
        // as ERROR all the same.
        let error = ev.flags & EV_ERROR != 0 || (eof && ev.fflags != 0);
        let ready = Ready::EMPTY
            .with_if(Ready::READABLE, read)
            .with_if(Ready::WRITABLE, write)
            .with_if(Ready::READ_CLOSED, read && eof)
            .with_if(Ready::WRITE_CLOSED, write && eof)
            .with_if(Ready::ERROR, error);
        Event::new(Token(ev.udata.addr()), ready)
    }
}

impl Kqueue {
    /// `register`/`reregister`'s checks: token, mode, and none of our own fds.
    fn admit(&self, op: &str, fd: RawFd, reg: (Token, Interest, Mode)) -> io::Result<()> {
        let caps = self.capabilities();
        selector::admit(NAME, caps, op, fd, reg, |op, fd| self.refuse_own(op, fd))
    }

    /// The kqueue fd and the waker's pipe (where there is one) are the selector's: an
    /// `EV_ADD` on the waker's fd would retag its knote and take over `wake()`.
    fn refuse_own(&self, op: &str, fd: RawFd) -> io::Result<()> {
        if fd == self.kq.as_raw_fd() {
            return Err(errors::own_fd(NAME, op, fd, "kqueue fd"));
        }
        if self.waker.pipe().is_some_and(|pipe| pipe.owns(fd)) {
            return Err(errors::own_fd(NAME, op, fd, "waker (pipe)"));
        }
        Ok(())
    }

    /// The registry. Every update is one insert or remove, so a panic elsewhere cannot
    /// leave it half-done and a poisoned lock is still sound to use.
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `new` for `fd` (`op`: "register" or "reregister"), replacing the old
    /// registration's filters, if any, in one changelist. `EV_ADD` would keep the old
    /// `EV_CLEAR`/`EV_DISPATCH`, so old filters are deleted and new ones added afresh,
    /// which also re-arms a fired oneshot and re-runs the filter for a ready source.
    fn set(&self, op: &str, fd: RawFd, new: Registration) -> io::Result<()> {
        let (token, interest, mode) = new;
        let register = op == "register";
        let mut registry = self.registry();
        let current = registry.get(&fd).map(|&(reg, _)| reg);
        let old = match current {
            None if !register => return Err(errors::not_registered(NAME, fd)),
            Some(old) if register => match self.is_live(fd, old) {
                Ok(true) => return Err(errors::already_registered(NAME, fd)),
                // Stale (its fd was closed): no knote is left, the entry is replaced.
                Ok(false) => None,
                Err(e) => return Err(change_error(op, fd, e)),
            },
            old => old,
        };
        let mut changes = Changes::new();
        if let Some((token, interest, _)) = old {
            changes.filters(fd, interest, EV_DELETE, token);
        }
        changes.filters(fd, interest, EV_ADD | mode_flags(mode), token);
        let restore = old.map_or(0, |(_, _, mode)| mode_flags(mode));
        self.arming.enter(new);
        let result = self.apply(&mut changes, restore);
        // What the registry holds no more: the replaced entry, or `new` if it failed.
        self.arming
            .leave(if result.is_ok() { current } else { Some(new) });
        result.map_err(|e| change_error(op, fd, e))?;
        registry.insert(fd, (new, self.arming.stamp()));
        Ok(())
    }

    /// Whether the kernel still has a knote of `old` for `fd`; `false` means the entry is
    /// stale (the fd was closed, its number maybe reused). A change with neither `EV_ADD`
    /// nor `EV_DELETE` is an existence check that leaves the knote as it was (see the
    /// notes), given the registered udata, fflags and data.
    fn is_live(&self, fd: RawFd, (token, interest, _): Registration) -> io::Result<bool> {
        let mut probe = Changes::new();
        probe.filters(fd, interest, 0, token);
        let errnos = probe.submit(&self.kq)?;
        // ENOENT: no such knote; EBADF: the fd is closed (FreeBSD checks that first).
        match errnos
            .iter()
            .find(|e| ![0, libc::ENOENT, libc::EBADF].contains(e))
        {
            Some(&errno) => Err(io::Error::from_raw_os_error(errno)),
            None => Ok(errnos.contains(&0)),
        }
    }

    /// Submits `changes`. If one fails, undoes those that were applied (re-adding deleted
    /// filters with the `restore` mode flags) and returns the failure's errno, so a failed
    /// call leaves the kernel as it was.
    fn apply(&self, changes: &mut Changes, restore: Flags) -> io::Result<()> {
        changes.submit(&self.kq)?;
        let Some(errno) = changes.first_failure() else {
            return Ok(());
        };
        // Best effort: deleting a knote just added cannot fail under the registry lock;
        // re-adding a deleted one could only fail as the failed add did.
        let _ = changes.undo(restore).submit(&self.kq);
        Err(io::Error::from_raw_os_error(errno))
    }
}

/// A changelist of at most [`MAX_CHANGES`] kevents, each with `EV_RECEIPT`, and the
/// errno of each after [`submit`](Changes::submit).
struct Changes {
    list: [ffi::kevent; MAX_CHANGES],
    errnos: [i32; MAX_CHANGES],
    len: usize,
}

impl Changes {
    fn new() -> Changes {
        let list = [zeroed_kevent(); MAX_CHANGES];
        Changes {
            list,
            errnos: [0; MAX_CHANGES],
            len: 0,
        }
    }

    /// Appends a change with `data` 0, tagged with `token`.
    fn push(&mut self, ident: usize, filter: Filter, flags: Flags, fflags: u32, token: Token) {
        debug_assert!(self.len < MAX_CHANGES, "at most two deletes and two adds");
        if let Some(ev) = self.list.get_mut(self.len) {
            *ev = zeroed_kevent();
            (ev.ident, ev.filter, ev.flags) = (ident, filter, flags | ffi::EV_RECEIPT);
            ev.fflags = fflags;
            ev.udata = ptr::without_provenance_mut(token.0);
            self.len += 1;
        }
    }

    /// One change per filter of `interest` (`EVFILT_READ`, `EVFILT_WRITE`) on `fd`.
    fn filters(&mut self, fd: RawFd, interest: Interest, flags: Flags, token: Token) {
        // A negative fd (only an unsafe borrow makes one) becomes an ident above INT_MAX,
        // which the kernels answer with EBADF.
        let ident = fd as usize;
        if interest.is_readable() {
            self.push(ident, EVFILT_READ, flags, READ_FFLAGS.unwrap_or(0), token);
        }
        if interest.is_writable() {
            self.push(ident, EVFILT_WRITE, flags, 0, token);
        }
    }

    /// Applies the changes in one `kevent` call; returns each change's errno (0: applied).
    fn submit(&mut self, kq: &OwnedFd) -> io::Result<&[i32]> {
        let mut receipts = [zeroed_kevent(); MAX_CHANGES];
        let zero = sys::timeout_timespec(Some(Duration::ZERO));
        let (kq, len) = (kq.as_raw_fd(), self.len as _);
        let (list, out) = (self.list.as_ptr(), receipts.as_mut_ptr());
        // SAFETY: `list` holds `len` initialised changes and `out` has room for `len`
        // events, which bounds what the kernel writes; `zero` outlives the call.
        let n = sys::cvt(unsafe { ffi::kevent(kq, list, len, out, len, timespec_ptr(&zero)) })?;
        // kqueue(2), EV_RECEIPT: "useful for making bulk changes to a kqueue without
        // draining any pending events. When passed as input, it forces EV_ERROR to always
        // be returned. When a filter is successfully added the data field will be zero."
        // So each change comes back once, in changelist order (FreeBSD `kqueue_kevent`
        // copies out `EV_ERROR` with the error, 0 or not, in `data` as it processes each
        // change), and the call returns without scanning for events as it had "errors"
        // to report ("if (nerrors) …", in every kernel named in the notes).
        // A missing receipt (never seen: there is room for one per change) counts as EIO,
        // as does an entry without EV_ERROR, which would be an event, not a receipt.
        self.errnos = [libc::EIO; MAX_CHANGES];
        for (errno, receipt) in self.errnos.iter_mut().zip(&receipts).take(n as usize) {
            if receipt.flags & EV_ERROR != 0 {
                *errno = receipt.data as i32;
            }
        }
        Ok(&self.errnos[..self.len])
    }

    /// Like [`submit`](Changes::submit), failing with the first change's error, if any.
    fn submit_all(&mut self, kq: &OwnedFd) -> io::Result<()> {
        match self.submit(kq)?.iter().find(|&&errno| errno != 0) {
            Some(&errno) => Err(io::Error::from_raw_os_error(errno)),
            None => Ok(()),
        }
    }

    /// The submitted changes with their errnos.
    fn results(&self) -> impl Iterator<Item = (&ffi::kevent, i32)> {
        self.list.iter().zip(self.errnos).take(self.len)
    }

    /// The errno of the first change that failed. A delete that finds no knote (`ENOENT`)
    /// is no failure: the knote is gone, as wanted (xnu answers so for a closed fd, and
    /// FreeBSD's `pipeclose` turns a writer's knote into a oneshot when the reader closes).
    fn first_failure(&self) -> Option<i32> {
        self.results().find_map(|(ev, errno)| {
            let gone = ev.flags & EV_DELETE != 0 && errno == libc::ENOENT;
            (errno != 0 && !gone).then_some(errno)
        })
    }

    /// Whether no change found its knote (each failed with `ENOENT`).
    fn none_found(&self) -> bool {
        self.results().all(|(_, errno)| errno == libc::ENOENT)
    }

    /// The changes that undo the applied ones: delete what was added, re-add what was
    /// deleted (with its token and the `restore` mode flags).
    fn undo(&self, restore: Flags) -> Changes {
        let mut undo = Changes::new();
        for (ev, _) in self.results().filter(|&(_, errno)| errno == 0) {
            let added = ev.flags & EV_ADD != 0;
            let flags = if added { EV_DELETE } else { EV_ADD | restore };
            undo.push(
                ev.ident,
                ev.filter,
                flags,
                ev.fflags,
                Token(ev.udata.addr()),
            );
        }
        undo
    }
}

/// The waker: an `EVFILT_USER` knote, or a pipe where there is none (see the notes).
#[derive(Debug)]
enum Waker {
    User,
    Pipe(WakeFd),
}

impl Waker {
    fn new(kq: &OwnedFd) -> io::Result<Waker> {
        // OpenBSD never tries it: its EVFILT_USER was proposed on tech@openbsd.org only in
        // 2022 and again in May 2025 ("EVFILT_USER and kevent(2)", Visa Hankala), with a
        // per-process cap on user events; the pipe works on every release.
        if TRY_USER_WAKER {
            let mut add = Changes::new();
            add.push(USER_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, 0, WAKER);
            match add.submit_all(kq) {
                Ok(()) => return Ok(Waker::User),
                // NetBSD before 10 has no EVFILT_USER (added for 10: PR kern/55663, closed
                // Dec 2020): `kfilter_byfilter` finds no filter and kevent says EINVAL
                // (kqueue(2): "EINVAL The specified time limit or filter is invalid").
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                Err(e) => return Err(e),
            }
        }
        let pipe = WakeFd::new()?;
        let mut add = Changes::new();
        add.push(pipe.fd() as usize, EVFILT_READ, EV_ADD, 0, WAKER);
        add.submit_all(kq)?;
        Ok(Waker::Pipe(pipe))
    }

    /// Fires the waker. With `EV_CLEAR`, triggers coalesce until `select` returns the
    /// event; the next trigger then fires again.
    fn wake(&self, kq: &OwnedFd) -> io::Result<()> {
        if let Some(pipe) = self.pipe() {
            return pipe.notify();
        }
        let mut trigger = Changes::new();
        // The udata is repeated: a change to an existing knote overwrites it (FreeBSD
        // `kqueue_register`, xnu `kevent_register`), and `select` knows the waker by it.
        trigger.push(USER_IDENT, EVFILT_USER, 0, ffi::NOTE_TRIGGER, WAKER);
        let context = |e: io::Error| io::Error::new(e.kind(), format!("{NAME}: wake: {e}"));
        trigger.submit_all(kq).map_err(context)
    }

    /// The pipe, which `select` drains after it fired (an `EV_CLEAR` knote resets itself).
    fn pipe(&self) -> Option<&WakeFd> {
        match self {
            Waker::User => None,
            Waker::Pipe(pipe) => Some(pipe),
        }
    }
}

/// The flags that give a filter its [`Mode`].
fn mode_flags(mode: Mode) -> Flags {
    match mode {
        Mode::Level => 0,
        // kqueue(2) EV_CLEAR: "After the event is retrieved by the user, its state is reset."
        Mode::Edge => EV_CLEAR,
        // kqueue(2) EV_DISPATCH: "Disable the event source immediately after delivery of
        // an event." The knote stays registered; `reregister` deletes and re-adds it.
        Mode::Oneshot => ffi::EV_DISPATCH,
    }
}

/// The `timeout` argument of `kevent`: null blocks.
fn timespec_ptr(ts: &Option<libc::timespec>) -> *const libc::timespec {
    ts.as_ref().map_or(ptr::null(), ptr::from_ref)
}

/// Gives a failed change the kind and wording the contract asks for.
fn change_error(op: &str, fd: RawFd, err: io::Error) -> io::Error {
    let (kind, what) = match err.raw_os_error() {
        Some(libc::EBADF) => return errors::closed_fd(NAME, op, fd),
        // EVFILT_WRITE cannot attach to a pipe whose read end is closed: FreeBSD and
        // DragonFly `pipe_kqfilter` return EPIPE ("other end of pipe has been closed"),
        // so does macOS (mio PR #584, 10.10/10.11). Refused rather than registered
        // without a write filter, which would never report.
        Some(libc::EPIPE) => (io::ErrorKind::BrokenPipe, "the pipe's read end is closed"),
        _ => return errors::context(NAME, op, fd, err),
    };
    io::Error::new(kind, format!("{NAME}: {op} fd {fd}: {what} ({err})"))
}

/// Whether `fd` is a regular file; `false` when `fstat` fails (the kernel then reports
/// the real error).
fn is_regular_file(fd: RawFd) -> bool {
    let mut st = mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` has room for a `stat`; a bad fd is an error.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: fstat succeeded and filled `st`.
    let st = unsafe { st.assume_init() };
    st.st_mode & libc::S_IFMT == libc::S_IFREG
}

/// Whether `fd` is not an open descriptor: `fcntl(F_GETFD)` fails with `EBADF`.
fn is_closed(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; a bad fd is an error.
    let ret = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    ret == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::EBADF)
}

fn zeroed_kevent() -> ffi::kevent {
    // SAFETY: `kevent` is a C struct of integers and a pointer; all zero bytes are a
    // valid value of each (a null `udata`).
    unsafe { mem::zeroed() }
}
