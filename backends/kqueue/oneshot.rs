//! kqueue: one report per READABLE|WRITABLE Oneshot registration.
//!
//! # Implementation notes
//! `EV_DISPATCH` disables the knote that fired, and kqueue keeps one knote per
//! (ident, filter) (kqueue(2): "the (ident, filter) pair"), so a registration for both
//! directions would report a second time, through the other filter, where epoll's
//! `EPOLLONESHOT` disarms the whole registration. After `kevent` returns, `select`
//! disables the other filter of each such registration that reported, with `EV_DISABLE`
//! (kqueue(2): "Disable the event so kevent() will not return it"; a queued knote
//! that is disabled is skipped by the scan: FreeBSD `kqueue_scan`, `KN_DISABLED`; xnu
//! `kevent_register` dequeues it), so its events already queued for a later batch do
//! not come either. Both filters firing in one batch is one report: both are then
//! disabled by the kernel, and the extra `EV_DISABLE` is a no-op.
//!
//! The registry tells which registrations need this, and a stamp taken after each
//! arming tells whether an event can be trusted to belong to the current registration
//! (see [`Kqueue::disarm_other_filters`]). Registrations of any other kind cost one
//! atomic load per `select`.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

use super::ffi::{EVFILT_READ, EVFILT_WRITE, EV_ADD, EV_DELETE, EV_DISABLE};
use super::{mode_flags, Changes, Filter, Kqueue, Registration, Registry};
use crate::{Events, Interest, Mode};

/// The value of the arming clock after some arming, or before a scan.
pub(super) type Stamp = u64;

/// What `select` needs to keep READABLE|WRITABLE Oneshot registrations to one report.
#[derive(Debug, Default)]
pub(super) struct Arming {
    /// How many registrations are Oneshot for both directions: counted before their
    /// knotes are added and uncounted after they are deleted, so that a `select` whose
    /// events came from one never reads 0.
    both: AtomicUsize,
    /// Advanced after every change that arms knotes, registrations and re-arms alike.
    clock: AtomicU64,
}

/// Whether `reg` is a Oneshot registration for both directions.
fn is_both((_, interest, mode): Registration) -> bool {
    mode == Mode::Oneshot && interest.is_readable() && interest.is_writable()
}

impl Arming {
    /// Counts `new` before its knotes are added (a no-op unless it is both-directions
    /// Oneshot).
    pub(super) fn enter(&self, new: Registration) {
        if is_both(new) {
            self.both.fetch_add(1, SeqCst);
        }
    }

    /// Uncounts `gone` (what the registry no longer holds) after its knotes are deleted.
    pub(super) fn leave(&self, gone: Option<Registration>) {
        if gone.is_some_and(is_both) {
            self.both.fetch_sub(1, SeqCst);
        }
    }

    /// Stamps an arming, after the kernel applied it (so a scan that began before this
    /// value was read saw the new knotes).
    pub(super) fn stamp(&self) -> Stamp {
        self.clock.fetch_add(1, SeqCst) + 1
    }

    /// The clock, read before a scan: registrations stamped no later were in the kernel,
    /// as they are now, when it began.
    pub(super) fn now(&self) -> Stamp {
        self.clock.load(SeqCst)
    }
}

impl Kqueue {
    /// Keeps each READABLE|WRITABLE Oneshot registration reported in `raw` to this one
    /// report, `raw` being a batch that `kevent` returned from a scan that began after
    /// [`Arming::now`] said `scan_began`.
    pub(super) fn disarm_other_filters(&self, events: &mut Events<Kqueue>, scan_began: Stamp) {
        if self.arming.both.load(SeqCst) == 0 {
            return;
        }
        // Held to the end: no `reregister` can run between the check of an entry and the
        // change made for it.
        let mut registry = self.registry();
        events.retain(|ev| {
            let (filter, ident) = (ev.0.filter, ev.0.ident);
            let Ok(fd) = RawFd::try_from(ident) else {
                return true;
            };
            let Some(&(reg, armed)) = registry.get(&fd) else {
                return true;
            };
            if !is_both(reg) || (filter != EVFILT_READ && filter != EVFILT_WRITE) {
                return true;
            }
            // The race: another thread's `reregister` of this fd may have run between the
            // start of the scan and the lock above; the event may then be the old
            // registration's (collected before it) or the new one's (after it), and
            // nothing in a kevent tells which when the token is the same. Disabling the
            // other filter would leave a new registration half-disabled in the first case;
            // doing nothing would let it report twice in the second.
            // - Stamped no later than the scan's start: the registration was in the kernel
            //   before the scan and has not changed since (changes take the registry lock,
            //   held here), so the event is its own: disable the other filter.
            // - Else the event is dropped and the current registration re-armed (both
            //   knotes deleted and re-added, which re-runs the filters): if the event was
            //   the new registration's, its one report is still to come; if it was the old
            //   one's, `reregister` had replaced it before this `select` returned.
            if armed <= scan_began {
                self.disable_other(fd, filter, reg);
                true
            } else {
                !self.rearm(&mut registry, fd, reg)
            }
        });
    }

    /// Disables the filter of `reg` other than `fired` (which `EV_DISPATCH` disabled).
    fn disable_other(&self, fd: RawFd, fired: Filter, (token, _, _): Registration) {
        let other = if fired == EVFILT_READ {
            Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let mut disable = Changes::new();
        disable.filters(fd, other, EV_DISABLE, token);
        // The errors kevent(2) lists for a change to an existing ident and filter are
        // ENOENT (no such knote: nothing left to report) and EBADF (the fd was closed,
        // taking its knotes): neither leaves a knote that could report.
        let _ = disable.submit(&self.kq);
    }

    /// Re-arms `reg` afresh; whether it worked (else the event is kept: one report).
    fn rearm(&self, registry: &mut Registry, fd: RawFd, reg: Registration) -> bool {
        let (token, interest, mode) = reg;
        let mut changes = Changes::new();
        changes.filters(fd, interest, EV_DELETE, token);
        changes.filters(fd, interest, EV_ADD | mode_flags(mode), token);
        if self.apply(&mut changes, mode_flags(mode)).is_err() {
            return false;
        }
        registry.insert(fd, (reg, self.arming.stamp()));
        true
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::{AsFd, AsRawFd};
    use std::os::unix::net::UnixStream;
    use std::ptr;
    use std::time::Duration;

    use super::super::ffi;
    use super::*;
    use crate::{Events, Ready, Selector, Token};

    /// What the kernel has ready, collected as `select` collects it before it disarms.
    fn scan(kq: &Kqueue) -> Events<Kqueue> {
        let mut events = Events::<Kqueue>::with_capacity(8).unwrap();
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let spare = events.spare_capacity_mut();
        let (list, room) = (spare.as_mut_ptr().cast::<ffi::kevent>(), spare.len());
        // SAFETY: `spare` has room for `room` transparent kevents, which bounds what the
        // kernel writes; `zero` outlives the call.
        let n = unsafe { ffi::kevent(kq.kq.as_raw_fd(), ptr::null(), 0, list, room as _, &zero) };
        assert!(n >= 0, "kevent: {}", std::io::Error::last_os_error());
        // SAFETY: kevent initialised the first `n` <= room slots.
        unsafe { events.set_len(n as usize) };
        events
    }

    /// The readiness reported for `token` in `events`, merged.
    fn ready(events: &Events<Kqueue>, token: Token) -> Ready {
        events
            .iter()
            .filter(|e| e.token() == token)
            .fold(Ready::EMPTY, |acc, e| acc | e.ready())
    }

    /// The race of `disarm_other_filters`, made to happen: a `reregister` lands between
    /// the scan and the disarming. The event, which may be the old registration's, is
    /// dropped, and the new registration stays whole: a byte that arrives later is
    /// reported with the writing direction, once. (Disabling the other filter there
    /// would leave the new registration deaf to the byte.)
    #[test]
    fn reregister_between_scan_and_disarm_leaves_the_new_registration_whole() {
        let kq = Kqueue::new().unwrap();
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let (fd, token) = (a.as_fd(), Token(1));
        kq.register(fd, token, Interest::BOTH, Mode::Oneshot)
            .unwrap();
        let began = kq.arming.now();
        let mut raw = scan(&kq);
        assert_eq!(ready(&raw, token), Ready::WRITABLE);
        // Another thread's reregister, with the same token: nothing in the event tells
        // which registration it came from.
        kq.reregister(fd, token, Interest::BOTH, Mode::Oneshot)
            .unwrap();
        kq.disarm_other_filters(&mut raw, began);
        assert!(raw.is_empty(), "an event of unknown registration was kept");
        b.write_all(b"x").unwrap();
        let mut events = Events::<Kqueue>::with_capacity(8).unwrap();
        kq.select(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        let got = events
            .iter()
            .filter(|e| e.token() == token)
            .fold(Ready::EMPTY, |acc, e| acc | e.ready());
        assert!(
            got.contains(Ready::READABLE | Ready::WRITABLE),
            "the re-armed registration reported {got:?}"
        );
        kq.select(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        assert!(
            events.iter().all(|e| e.token() != token),
            "a fired Oneshot registration reported again"
        );
        kq.deregister(fd).unwrap();
    }
}
