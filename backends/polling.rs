//! Backend over the `polling` crate (every platform it supports, Windows included).
//!
//! # Implementation notes
//! - polling runs on epoll, kqueue, event ports, IOCP/AFD or poll(2) (other Unix; Linux
//!   with `--cfg polling_test_poll_backend`). Level and Edge are offered as
//!   `Poller::supports_level`/`supports_edge` say; Oneshot always. `wake()` is
//!   `Poller::notify()`, whose event (`NOTIFY_KEY` = `usize::MAX`) polling filters out.
//! - **Own registry.** polling's backends disagree on misuse (epoll forwards `EEXIST`/
//!   `ENOENT`; poll, kqueue and IOCP keep fd sets that outlive a `close`), so a slab of
//!   registrations and a map fd → slot live under one `Mutex`. The slot index is polling's
//!   `key`, turned back into the caller's token in `select`; a freed slot is reused only
//!   after the events of a wait that ended later were translated, so an event fetched
//!   for it cannot reach a newer one.
//! - **Closed while registered.** epoll and kqueue drop a closed fd silently, leaving a
//!   stale entry: a duplicate `register` compares the fd's `fstat` device and inode with
//!   those stored and replaces the entry if they changed (Windows has no identity: a
//!   reused socket value is `AlreadyExists`). poll(2) reports `POLLNVAL`: see `accept`.
//! - **Capacity.** polling's poll(2) backend returns *every* ready fd (its `Vec` grows) in
//!   a fixed `HashMap` order, oneshot ones already disarmed. Events beyond the capacity
//!   wait in `pending`, handed out first by the next selects without waiting; a wait
//!   starts only with `pending` empty, so each of N ready fds is reported within
//!   ceil(N / capacity) selects whatever the order (epoll and kqueue return at most the
//!   capacity and rotate their ready lists). `deregister`/`reregister` purge `pending`.
//! - **EINTR.** polling retries `EINTR` itself: this backend never returns `Interrupted`
//!   (the difference documented in [`selector`](crate::selector)).
//! - One `select` at a time ([`SelectLock`]; polling gives a second waiter no events). No
//!   allocation per `select` in steady state: one `polling::Events` of the caller's
//!   capacity is kept, re-created only when that capacity changes.

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::io;
use std::num::NonZeroUsize;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use polling::{PollMode, Poller};

use crate::selector::{self, errors, Capabilities, SelectGuard, SelectLock, Support};
use crate::{
    sys, BorrowedSource, Event, Events, Interest, Mode, RawSource, Ready, Selector, Token,
};

const NAME: &str = "polling";

/// Whether polling runs on poll(2) here, whose `wait` returns at once without polling
/// the fds when `notify` came before it (polling 3.11 src/poll.rs, `wait_deadline`): a
/// woken `select` then waits once more with a zero timeout, so fds that are ready are
/// not left out of its batch. Elsewhere the wake arrives through the same kernel wait
/// as the fds' events (epoll, kqueue, event ports, IOCP).
const NOTIFY_SKIPS_FDS: bool = cfg!(any(polling_test_poll_backend, selectio_polling_on_poll));

/// How a closed fd (`POLLNVAL`) is reported, once.
const CLOSED: Ready = Ready::ERROR
    .with_if(Ready::READ_CLOSED, true)
    .with_if(Ready::WRITE_CLOSED, true);

/// What tells an open file from a later one that reuses its number: device and inode.
#[cfg(unix)]
type Identity = (u64, u64);
/// Windows: nothing beyond the socket value, so a reused value counts as a duplicate.
#[cfg(windows)]
type Identity = RawSource;

/// The selector over a `polling::Poller`.
#[derive(Debug)]
pub struct Polling {
    poller: Poller,
    caps: Capabilities,
    /// Boxed: the bulk of the struct, and `AnySelector` holds one of each backend.
    registry: Box<Mutex<Registry>>,
    /// Set by `wake` before `Poller::notify`: polling reports neither a wake nor a
    /// spurious return as an event, and `select` must tell them apart.
    woken: AtomicBool,
    /// Set when a wait left events in `Registry::pending`; lets `select` skip the registry
    /// lock before waiting in the usual case. Written by the selecting thread only.
    maybe_pending: AtomicBool,
    /// One `select` at a time, and the buffer that `select` alone uses.
    wait: WaitCell,
}

/// polling's event buffer behind the [`SelectLock`]: the lock admits one `select` at a
/// time, so the buffer needs no mutex of its own (two atomic operations less per wait).
#[derive(Debug, Default)]
struct WaitCell {
    lock: SelectLock,
    buf: UnsafeCell<WaitBuf>,
}

// SAFETY: `buf` is reached only through `WaitCell::enter`, which hands it out while
// holding `lock`, so at most one thread uses it at a time; `WaitBuf` is `Send` (checked
// below), so handing it from thread to thread is sound.
unsafe impl Sync for WaitCell {}

const _: () = {
    const fn send<T: Send>() {}
    send::<WaitBuf>();
};

/// The buffer, borrowed for as long as the select lock is held.
struct WaitGuard<'a> {
    buf: &'a mut WaitBuf,
    _lock: SelectGuard<'a>,
}

impl WaitCell {
    fn enter(&self) -> io::Result<WaitGuard<'_>> {
        let lock = self.lock.enter(NAME)?;
        // SAFETY: holding the select lock makes this the only live reference to `buf`
        // (see `unsafe impl Sync`); it lives no longer than the lock guard beside it.
        let buf = unsafe { &mut *self.buf.get() };
        Ok(WaitGuard { buf, _lock: lock })
    }
}

impl Deref for WaitGuard<'_> {
    type Target = WaitBuf;
    fn deref(&self) -> &WaitBuf {
        self.buf
    }
}

impl DerefMut for WaitGuard<'_> {
    fn deref_mut(&mut self) -> &mut WaitBuf {
        self.buf
    }
}

/// One registration.
#[derive(Debug, Clone, Copy)]
struct Slot {
    fd: RawSource,
    token: Token,
    mode: Mode,
    identity: Identity,
    /// Oneshot: the wait (`Registry::batch`) that delivered it, until `reregister`.
    fired: Option<u64>,
    /// False once a fired oneshot was removed from polling (see `Registry::accept`).
    in_poller: bool,
}

#[derive(Debug, Default)]
struct Registry {
    slots: Vec<Option<Slot>>,
    /// The generation of each slot index, advanced when the slot is freed: polling's key
    /// for a slot carries it (see `key`), so an entry the kernel keeps after we forgot it
    /// (a closed fd whose file a duplicate keeps open stays in epoll's list, epoll(7) Q6)
    /// never reaches the slot's next registration.
    gens: Vec<usize>,
    by_fd: HashMap<RawSource, usize>,
    free: Vec<usize>,
    /// Freed since the last wait's events were translated; reusable after the next.
    retired: Vec<usize>,
    /// Events beyond the caller's capacity, with their slot (reused; grows once).
    pending: Vec<(usize, Event)>,
    /// kqueue: numbers of fds closed while registered that polling still holds in its set
    /// of sources (its `delete` stops at the EBADF of the BSDs' `EV_DELETE` before
    /// forgetting the number, and its `add` then refuses the number as a duplicate).
    /// Cleared when a new fd with that number registers.
    #[cfg(selectio_kqueue_os)]
    zombies: Vec<RawSource>,
    batch: u64,
}

/// polling's event buffer and the caller's capacity it was made for (0: not yet).
#[derive(Debug, Default)]
struct WaitBuf {
    events: polling::Events,
    capacity: usize,
}

// SAFETY: the number goes to the `polling` crate (which passes it to epoll_ctl, kevent or poll(2) as a number), to fstat(2), and into the slot table as a key.
#[cfg(feature = "conformance")]
unsafe impl crate::conformance::FdsAsNumbers for Polling {}

impl Selector for Polling {
    type RawEvent = Event;

    fn new() -> io::Result<Polling> {
        let poller = Poller::new()?;
        let native = |yes| [Support::Unsupported, Support::Native][usize::from(yes)];
        let (level, edge) = (poller.supports_level(), poller.supports_edge());
        Ok(Polling {
            caps: Capabilities::new(native(level), native(edge), Support::Native),
            poller,
            registry: Box::default(),
            woken: AtomicBool::new(false),
            maybe_pending: AtomicBool::new(false),
            wait: WaitCell::default(),
        })
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn register(
        &self,
        fd: BorrowedSource<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        let fd = crate::source::raw(fd);
        self.admit("register", fd, (token, interest, mode))?;
        let identity = identity("register", fd)?;
        let mut reg = self.registry();
        if let Some((i, old)) = reg.find(fd) {
            match self.entry_state(&old, identity, reg.next_key(), interest, mode) {
                Entry::Live => return Err(errors::already_registered(NAME, fd)),
                Entry::Unknown => return Err(errors::registered_or_reused(NAME, fd)),
                // Closed since, its number reused: polling's fd sets (poll, kqueue) may
                // still hold the number; delete it there, ignoring "not found".
                Entry::Stale => {
                    reg.remove(i);
                    if old.in_poller {
                        let _ = self.poller.delete(old.source());
                    }
                }
                // The kernel forgot the old file and took the new one: done but the slot.
                Entry::Replaced(key) => {
                    reg.remove(i);
                    reg.insert(Slot::new(fd, token, mode, identity));
                    debug_assert_eq!(reg.find(fd).map(|(i, _)| reg.key_of(i)), Some(key));
                    return Ok(());
                }
            }
        }
        #[cfg(selectio_kqueue_os)]
        if let Some(z) = reg.zombies.iter().position(|&z| z == fd) {
            // The number is open again (identity checked it): polling's `delete` now gets
            // through its EV_DELETEs (no knote: ENOENT, ignored) and forgets the number.
            reg.zombies.swap_remove(z);
            let _ = self.poller.delete(borrow(fd));
        }
        let key = reg.next_key();
        if let Err(e) = self.add(fd, key, interest, mode) {
            // Refused though not ours: polling's own fd (its eventfd, timerfd or pipe).
            return Err(match self.is_pollers(&e) {
                true => errors::own_fd(NAME, "register", fd, "poller's descriptor"),
                false => os_error("register", fd, e),
            });
        }
        reg.insert(Slot::new(fd, token, mode, identity));
        Ok(())
    }

    fn reregister(
        &self,
        fd: BorrowedSource<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        let fd = crate::source::raw(fd);
        // The poller's fd is never in the registry, so refusing it here answers what
        // `unknown` would.
        self.admit("reregister", fd, (token, interest, mode))?;
        let mut reg = self.registry();
        let Some((i, slot)) = reg.find(fd) else {
            return Err(self.unknown("reregister", fd));
        };
        let key = reg.key_of(i);
        let res = if slot.in_poller {
            let ev = polling::Event::new(key, interest.is_readable(), interest.is_writable());
            self.poller
                .modify_with_mode(slot.source(), ev, poll_mode(mode))
        } else {
            self.add(fd, key, interest, mode)
        };
        if let Err(e) = res {
            return Err(reg.failed(i, fd, "reregister", e));
        }
        reg.pending.retain(|&(s, _)| s != i);
        let (fired, in_poller) = (None, true);
        reg.slots[i] = Some(Slot {
            token,
            mode,
            fired,
            in_poller,
            ..slot
        });
        Ok(())
    }

    fn deregister(&self, fd: BorrowedSource<'_>) -> io::Result<()> {
        let fd = crate::source::raw(fd);
        trace!(?fd, "polling deregister");
        let mut reg = self.registry();
        let Some((i, slot)) = reg.find(fd) else {
            return Err(self.unknown("deregister", fd));
        };
        // Windows: polling's IOCP backend deletes a closed socket without a word (it keys
        // sockets by value, and under Wine no AFD_POLL_LOCAL_CLOSE drops it first), so a
        // socket closed while registered is checked here and, as EBADF does on Unix,
        // reported as `InvalidInput` and forgotten.
        #[cfg(windows)]
        if let Err(e) = identity("deregister", fd) {
            if slot.in_poller {
                let _ = self.poller.delete(slot.source());
            }
            reg.remove(i);
            return Err(e);
        }
        if slot.in_poller {
            if let Err(e) = self.poller.delete(slot.source()) {
                return Err(reg.failed(i, fd, "deregister", e));
            }
        }
        reg.remove(i);
        // kqueue: xnu answers an EV_DELETE of a closed fd's knote with ENOENT, which
        // polling takes as done (the BSDs say EBADF), so a closed fd would come back `Ok`:
        // ask, and answer as every backend does (one fstat, on these systems only).
        #[cfg(selectio_kqueue_os)]
        identity("deregister", fd)?;
        Ok(())
    }

    fn select(&self, events: &mut Events<Polling>, timeout: Option<Duration>) -> io::Result<()> {
        let mut wait = self.wait.enter()?;
        events.clear();
        wait.fit(events.capacity());
        // As precise as polling makes it (a timerfd on epoll, a timespec on kqueue; poll(2)
        // rounds up to whole milliseconds); huge timeouts clamp to what poll(2) takes.
        let clamp = |t: Duration| t.min(Duration::from_millis(i32::MAX as u64));
        let deadline = sys::deadline(timeout.map(clamp));
        // Set after a wake that came with no events, where the wait skipped the fds.
        let mut recheck = false;
        loop {
            if self.maybe_pending.load(Ordering::Relaxed) {
                let mut reg = self.registry();
                let handed_out = reg.hand_out_pending(events);
                self.maybe_pending
                    .store(!reg.pending.is_empty(), Ordering::Relaxed);
                if handed_out {
                    return Ok(());
                }
            }
            wait.events.clear();
            let left = match recheck {
                true => Some(Duration::ZERO),
                false => sys::remaining(deadline),
            };
            self.poller.wait(&mut wait.events, left)?;
            // A plain load first: the locked swap only when a wake came.
            let woken =
                self.woken.load(Ordering::SeqCst) && self.woken.swap(false, Ordering::SeqCst);
            let mut reg = self.registry();
            reg.accept_all(&self.poller, &wait.events, events);
            self.maybe_pending
                .store(!reg.pending.is_empty(), Ordering::Relaxed);
            drop(reg);
            trace!(events = events.len(), woken, "polling select");
            if woken && events.is_empty() && NOTIFY_SKIPS_FDS && !recheck {
                // Level-triggered fds that are ready must be in this batch too: look once.
                recheck = true;
                continue;
            }
            // Nothing for us (a fired oneshot, a stale key, a spurious return) and neither a
            // wake nor the deadline: wait again with the time left rather than return early.
            if woken
                || recheck
                || !events.is_empty()
                || deadline.is_some_and(|d| Instant::now() >= d)
            {
                return Ok(());
            }
        }
    }

    fn wake(&self) -> io::Result<()> {
        self.woken.store(true, Ordering::SeqCst);
        self.poller.notify()
    }

    fn decode(raw: &Event) -> Event {
        *raw
    }
}

impl Polling {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `fd` to polling under `key`.
    fn add(&self, fd: RawSource, key: usize, interest: Interest, mode: Mode) -> io::Result<()> {
        let ev = polling::Event::new(key, interest.is_readable(), interest.is_writable());
        // SAFETY: `fd` is open (`identity` checked it). polling asks that it be deleted
        // before it is closed; a caller closing it first (close while registered) gets
        // wrong events at worst, not UB: epoll, kqueue and event ports drop a closed fd,
        // poll(2) reports POLLNVAL (handled in `Registry::accept`), and polling's IOCP
        // backend removes a socket on AFD_POLL_LOCAL_CLOSE.
        unsafe { self.poller.add_with_mode(fd, ev, poll_mode(mode)) }
    }
}

/// What a duplicate `register` finds behind the registry's entry for its number.
enum Entry {
    /// The registered file is still open (or still in the kernel's interest list).
    Live,
    /// Closed since, its number reused; the entry is to be dropped before adding.
    Stale,
    /// Closed since, and the new fd is already added under this key (the probe did it).
    Replaced(usize),
    /// Nothing here can tell (see `registered_or_reused`).
    Unknown,
}

/// Whether polling runs on epoll here (not forced onto poll(2)): the kernel keeps the
/// interest list, and forgets a closed fd.
const ON_EPOLL: bool = cfg!(all(
    selectio_linux_like,
    not(polling_test_poll_backend),
    not(selectio_polling_on_poll)
));

/// How polling's `key` is split: the low bits are the slot index, the high bits its
/// generation (32 and 32 bits, or 20 and 12 on a 32-bit target).
const INDEX_BITS: u32 = if usize::BITS >= 64 { 32 } else { 20 };
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
/// Generations wrap below their all-ones value, which `PROBE_KEY` and polling's own
/// `NOTIFY_KEY` (`usize::MAX`) have: no slot ever matches those.
const GEN_LIMIT: usize = (usize::MAX >> INDEX_BITS) - 1;

/// A key no slot ever has, for probes: its generation is all ones, which no slot reaches,
/// so an event under it finds no registration (`Registry::accept` drops it).
const PROBE_KEY: usize = usize::MAX - 1;

/// polling's key for slot `index` in generation `gen`.
fn key(index: usize, gen: usize) -> usize {
    index | gen << INDEX_BITS
}

/// The slot index and generation of a key.
fn split_key(key: usize) -> (usize, usize) {
    (key & INDEX_MASK, key >> INDEX_BITS)
}

impl Polling {
    /// `register`/`reregister`'s checks: token, mode, and not the poller's own fd.
    fn admit(&self, op: &str, fd: RawSource, reg: (Token, Interest, Mode)) -> io::Result<()> {
        selector::admit(NAME, self.caps, op, fd, reg, |op, fd| {
            self.refuse_poller_fd(op, fd)
        })
    }

    /// The poller's own epoll or kqueue fd is refused by name.
    fn refuse_poller_fd(&self, op: &str, fd: RawSource) -> io::Result<()> {
        // polling gives its fd where it has one: not on poll(2) (nor on Windows).
        #[cfg(all(unix, not(any(polling_test_poll_backend, selectio_polling_on_poll))))]
        if fd == std::os::fd::AsRawFd::as_raw_fd(&self.poller) {
            return Err(errors::own_fd(NAME, op, fd, "poller's epoll or kqueue fd"));
        }
        let _ = (op, fd);
        Ok(())
    }

    /// Whether an `add` of an fd not in our registry was refused because polling holds
    /// it: epoll's `EEXIST` (polling's eventfd and timerfd are in its interest list, and
    /// every other entry is in our registry), or polling's poll(2) backend refusing its
    /// notifier (`InvalidInput` with no OS error).
    fn is_pollers(&self, err: &io::Error) -> bool {
        match err.kind() {
            io::ErrorKind::AlreadyExists => true,
            io::ErrorKind::InvalidInput => err.raw_os_error().is_none(),
            _ => false,
        }
    }

    /// The error for `reregister`/`deregister` of an fd not in the registry: polling's own
    /// fds are named as such (an `add` probe tells them, on epoll and poll(2)), the others
    /// are `NotFound`.
    fn unknown(&self, op: &str, fd: RawSource) -> io::Error {
        if let Err(e) = self.refuse_poller_fd(op, fd) {
            return e;
        }
        // kqueue: `EV_ADD` on polling's notifier pipe would change its knote, so no probe
        // there (its usual notifier, `EVFILT_USER`, has no fd to protect).
        if cfg!(unix) && !cfg!(selectio_kqueue_os) && identity(op, fd).is_ok() {
            match self.add(fd, PROBE_KEY, Interest::READABLE, Mode::Level) {
                Ok(()) => drop(self.poller.delete(borrow(fd))),
                Err(e) if self.is_pollers(&e) => {
                    return errors::own_fd(NAME, op, fd, "poller's descriptor")
                }
                Err(_) => {}
            }
        }
        errors::not_registered(NAME, fd)
    }

    /// Tells a duplicate registration from a new file that got the number of a
    /// registered one closed without `deregister`. Another identity proves a new file;
    /// the same proves nothing (eventfds, timerfds and epoll fds share one inode on Linux,
    /// BSD sockets stat to (0, 0)), so the kernel is asked where it keeps the list.
    fn entry_state(
        &self,
        old: &Slot,
        identity: Identity,
        key: usize,
        interest: Interest,
        mode: Mode,
    ) -> Entry {
        if old.identity != identity {
            return Entry::Stale;
        }
        if ON_EPOLL && old.in_poller {
            // epoll keys its list by file: `EEXIST` if the registered one is still there;
            // added if the kernel dropped it at its close (and then it is done).
            return match self.add(old.fd, key, interest, mode) {
                Ok(()) => Entry::Replaced(key),
                Err(_) => Entry::Live,
            };
        }
        #[cfg(selectio_kqueue_os)]
        if old.in_poller && old.fired.is_none() {
            // close(2) dropped the fd's knotes; a fired oneshot's are gone too (polling uses
            // EV_ONESHOT), so only an armed entry can be asked.
            return match kqueue_has_knote(&self.poller, old.fd) {
                Ok(true) => Entry::Live,
                Ok(false) => Entry::Stale,
                Err(_) => Entry::Unknown,
            };
        }
        let _ = (key, interest, mode);
        Entry::Unknown
    }
}

/// Whether polling's kqueue holds a read or write knote for `fd`: a change with neither
/// `EV_ADD` nor `EV_DELETE` looks the knote up and fails with `ENOENT` when there is none
/// (FreeBSD and NetBSD `kqueue_register`, OpenBSD `kqueue_register`, xnu
/// `kevent_register`; the kqueue backend's notes cite each). `EV_RECEIPT` returns each
/// change's errno without collecting events.
#[cfg(selectio_kqueue_os)]
fn kqueue_has_knote(poller: &Poller, fd: RawSource) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let change = |filter| {
        // SAFETY: an all-zero kevent is a valid value (no flags, null udata).
        let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
        ev.ident = fd as _;
        ev.filter = filter;
        ev.flags = libc::EV_RECEIPT;
        ev
    };
    let changes = [change(libc::EVFILT_READ), change(libc::EVFILT_WRITE)];
    // SAFETY: as above.
    let mut receipts: [libc::kevent; 2] = unsafe { std::mem::zeroed() };
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: both arrays hold 2 valid kevents, as the counts say; the kqueue fd is the
    // poller's, alive for this call.
    let n = sys::cvt(unsafe {
        libc::kevent(
            poller.as_raw_fd(),
            changes.as_ptr(),
            2,
            receipts.as_mut_ptr(),
            2,
            &zero,
        )
    })?;
    let mut found = false;
    for receipt in &receipts[..n as usize] {
        match receipt.data as i32 {
            0 => found = true,
            libc::ENOENT | libc::EBADF => {}
            errno => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
    Ok(found)
}

/// `fd` as polling's `AsSource`, for an open fd (the caller checked).
fn borrow<'a>(fd: RawSource) -> BorrowedSource<'a> {
    // SAFETY: the caller checked `fd` is open (`identity`); polling uses it during the one
    // call it is passed to, as an fd-set key or a syscall argument.
    unsafe { BorrowedSource::borrow_raw(fd) }
}

impl Slot {
    fn new(fd: RawSource, token: Token, mode: Mode, identity: Identity) -> Slot {
        Slot {
            fd,
            token,
            mode,
            identity,
            fired: None,
            in_poller: true,
        }
    }

    /// The registered fd (socket) as polling's `AsSource`.
    fn source(&self) -> BorrowedSource<'_> {
        // SAFETY: `fd` passed `identity` at registration, so it is not -1 (INVALID_SOCKET).
        // If it was closed since, polling uses it only during this call, as the key of its
        // fd sets (poll, kqueue, IOCP) or as a syscall argument (epoll_ctl, kevent,
        // port_dissociate), where a closed fd is EBADF.
        unsafe { BorrowedSource::borrow_raw(self.fd) }
    }
}

impl Registry {
    /// The slot index and registration of `fd`.
    fn find(&self, fd: RawSource) -> Option<(usize, Slot)> {
        let i = *self.by_fd.get(&fd)?;
        Some((i, (*self.slots.get(i)?)?))
    }

    /// polling's key for slot `i` as it is now.
    fn key_of(&self, i: usize) -> usize {
        key(i, self.gens.get(i).copied().unwrap_or(0))
    }

    /// The key the next `insert` uses.
    fn next_key(&self) -> usize {
        self.key_of(self.free.last().copied().unwrap_or(self.slots.len()))
    }

    fn insert(&mut self, slot: Slot) {
        let i = self.free.pop().unwrap_or(self.slots.len());
        if i == self.slots.len() {
            self.slots.push(None);
            self.gens.push(0);
        }
        self.slots[i] = Some(slot);
        self.by_fd.insert(slot.fd, i);
    }

    /// Forgets slot `i` and its pending events; its next registration gets a new key.
    fn remove(&mut self, i: usize) {
        if let Some(slot) = self.slots.get_mut(i).and_then(Option::take) {
            self.by_fd.remove(&slot.fd);
            self.gens[i] = if self.gens[i] >= GEN_LIMIT {
                0
            } else {
                self.gens[i] + 1
            };
            self.retired.push(i);
            self.pending.retain(|&(s, _)| s != i);
        }
    }

    /// Maps polling's error for slot `i`. `NotFound`: polling (or the kernel) has already
    /// forgotten the fd; EBADF: it was closed (the caller forgets it, as the other
    /// backends do). The entry goes too; any other error leaves it as it was.
    fn failed(&mut self, i: usize, fd: RawSource, op: &str, err: io::Error) -> io::Error {
        #[cfg(unix)]
        let closed = err.raw_os_error() == Some(libc::EBADF);
        #[cfg(not(unix))]
        let closed = false;
        if err.kind() == io::ErrorKind::NotFound || closed {
            self.remove(i);
        }
        #[cfg(selectio_kqueue_os)]
        if closed {
            self.zombies.push(fd);
        }
        os_error(op, fd, err)
    }

    /// Before a wait: hands out pending events instead of waiting (returns true).
    fn hand_out_pending(&mut self, out: &mut Events<Polling>) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        let n = out.capacity().min(self.pending.len());
        for (_, event) in self.pending.drain(..n) {
            let _ = out.push(event);
        }
        true
    }

    /// Translates a wait's events into `out`, and those beyond its capacity into `pending`.
    /// Then the slots freed before this point become reusable: no event fetched by this
    /// wait is translated after it, and the next wait fetches none for them.
    fn accept_all(&mut self, poller: &Poller, events: &polling::Events, out: &mut Events<Polling>) {
        self.batch = self.batch.wrapping_add(1);
        for ev in events.iter() {
            if let Some(event) = self.accept(poller, &ev) {
                if let Err(event) = out.push(event) {
                    self.pending.push((split_key(ev.key).0, event));
                }
            }
        }
        self.free.append(&mut self.retired);
    }

    /// Translates one polling event for the slot of `ev.key`, or drops it (`None`).
    fn accept(&mut self, poller: &Poller, ev: &polling::Event) -> Option<Event> {
        let ((i, gen), batch) = (split_key(ev.key), self.batch);
        // Another generation: an entry the kernel kept for a registration we forgot.
        if self.gens.get(i) != Some(&gen) {
            return None;
        }
        // No slot: deregistered after polling fetched the event.
        let slot = self.slots.get_mut(i)?.as_mut()?;
        let ready = ready(ev);
        let refired = slot.mode == Mode::Oneshot && slot.fired.is_some_and(|b| b != batch);
        if ready.is_empty() {
            // Only POLLNVAL gets here: polling's poll(2) backend sets `readable` from
            // IN|PRI|HUP|ERR and `writable` from OUT|WRBAND|HUP|ERR (src/poll.rs
            // `read_events`, `write_events`); POLLNVAL ("fd not open", poll(2)) is in
            // neither, nor behind `is_err`/`is_interrupt`/`is_priority`. The fd was closed
            // while registered and would come back on every wait (a busy loop in Level
            // mode): drop it from polling (which uses the fd only as a map key) and here,
            // so its number can be registered again, and report it once as closed (not
            // at all if it is a oneshot that fired already).
            let token = slot.token;
            let _ = poller.delete(slot.source());
            self.remove(i);
            return (!refired).then_some(Event::new(token, CLOSED));
        }
        if refired {
            // Back after firing in an earlier wait. polling's poll(2) backend disarms by
            // clearing `events`, but poll(2) reports POLLHUP/POLLERR whatever `events`
            // says ("ignored in events", poll(2)): a hung-up fd would return on every
            // wait. (kqueue's read and write filters also fire once each.) Take it out of
            // polling until `reregister` adds it back.
            let _ = poller.delete(slot.source());
            slot.in_poller = false;
            return None;
        }
        if slot.mode == Mode::Oneshot {
            // kqueue may report both filters in one batch: let both through.
            slot.fired = Some(batch);
        }
        Some(Event::new(slot.token, ready))
    }
}

impl WaitBuf {
    /// Sizes polling's buffer to the caller's `capacity` (polling's epoll and kqueue
    /// backends fetch at most that many; its poll backend grows it to every ready fd).
    fn fit(&mut self, capacity: usize) {
        if self.capacity != capacity {
            let cap = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
            self.events = polling::Events::with_capacity(cap);
            self.capacity = capacity;
        }
    }
}

/// polling's event → our flags (the table in [`selector`](crate::selector)), through the
/// accessors every polling backend has (`is_err` is `None` on kqueue, `is_interrupt` and
/// `is_priority` always false there).
fn ready(ev: &polling::Event) -> Ready {
    let hup = ev.is_interrupt();
    Ready::EMPTY
        .with_if(Ready::READABLE, ev.readable)
        .with_if(Ready::WRITABLE, ev.writable)
        .with_if(Ready::ERROR, ev.is_err() == Some(true))
        .with_if(Ready::READ_CLOSED, hup)
        .with_if(Ready::WRITE_CLOSED, hup)
        .with_if(Ready::PRIORITY, ev.is_priority())
}

fn poll_mode(mode: Mode) -> PollMode {
    match mode {
        Mode::Level => PollMode::Level,
        Mode::Edge => PollMode::Edge,
        Mode::Oneshot => PollMode::Oneshot,
    }
}

/// The identity of an open `fd`; a negative or closed fd is `InvalidInput` (fstat's EBADF).
#[cfg(unix)]
fn identity(op: &str, fd: RawSource) -> io::Result<Identity> {
    sys::fd_identity(fd).map_err(|e| os_error(op, fd, e))
}

/// Windows: the socket value itself, once `getsockopt(SO_TYPE)` shows it is an open socket.
/// polling's IOCP backend does not check (under Wine it accepts a closed socket and never
/// reports it), so INVALID_SOCKET and a closed socket are refused here, as fstat does on Unix.
#[cfg(windows)]
fn identity(op: &str, sock: RawSource) -> io::Result<Identity> {
    /// getsockopt: "WSAENOTSOCK: The descriptor is not a socket" (Winsock error codes).
    const WSAENOTSOCK: i32 = 10038;
    // No `BorrowedSocket` holds it (the type's niche); checked so the borrow below holds.
    if sock == RawSource::MAX {
        return Err(invalid_input(op, sock, "INVALID_SOCKET"));
    }
    // SAFETY: not INVALID_SOCKET (checked above); the borrow lives for this one
    // getsockopt call, which answers WSAENOTSOCK for a value that names no socket.
    let borrowed = unsafe { BorrowedSource::borrow_raw(sock) };
    match socket2::SockRef::from(&borrowed).r#type() {
        Ok(_) => Ok(sock),
        Err(e) if e.raw_os_error() == Some(WSAENOTSOCK) => {
            Err(invalid_input(op, sock, "not an open socket"))
        }
        Err(e) => Err(os_error(op, sock, e)),
    }
}

/// Gives an error from polling (or fstat) the kind and wording the contract asks for.
fn os_error(op: &str, fd: RawSource, err: io::Error) -> io::Error {
    match err.kind() {
        io::ErrorKind::AlreadyExists => return errors::already_registered(NAME, fd),
        io::ErrorKind::NotFound => return errors::not_registered(NAME, fd),
        _ => {}
    }
    #[cfg(unix)]
    match err.raw_os_error() {
        Some(libc::EBADF) => return errors::closed_fd(NAME, op, fd),
        // epoll_ctl(2), with polling on epoll: "EPERM The target file fd does not support
        // epoll. This error can occur if fd refers to, for example, a regular file".
        Some(libc::EPERM) => {
            return invalid_input(op, fd, "epoll refuses this kind of file (regular file?)")
        }
        _ => {}
    }
    errors::context(NAME, op, fd, err)
}

/// `InvalidInput` naming the backend, the operation and the fd.
fn invalid_input(op: &str, fd: RawSource, what: &str) -> io::Error {
    let msg = format!("{NAME}: {op} fd {fd}: {what}");
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
