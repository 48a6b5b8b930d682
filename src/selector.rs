//! The backend contract: the `Selector` trait, its `Capabilities`, and the checklist
//! every backend keeps.
//!
//! A backend turns kernel readiness notifications into token-tagged [`Event`]s. Every
//! item below is a function of `selectio::conformance` with the same name (feature
//! `conformance`), run by `tests/conformance.rs` against every backend the host has; a
//! third-party backend runs the same suite with
//! `selectio::conformance::run_all(MySelector::new)`, once it has promised, with
//! `unsafe impl conformance::FdsAsNumbers for MySelector {}`, to use descriptors only as
//! numbers (the properties on closed and reused numbers need that promise).
//!
//! # The checklist
//!
//! **Readiness**
//! - [ ] `pipe_readable_after_write`, `pipe_writer_is_writable`,
//!   `pipe_reader_sees_writer_close`, `pipe_writer_sees_reader_close`,
//!   `tcp_readable_and_writable`, `tcp_peer_shutdown_is_read_closed`,
//!   `tcp_peer_reset_is_reported`, `unix_stream_readable_and_writable`,
//!   `unix_peer_close_is_read_closed`: events are tagged with the registration's token;
//!   `readable` / `writable` mean the operation will not block (it may return data, EOF or
//!   an error). `error`, `read_closed`, `write_closed` and `priority` are hints, mapped as
//!   in the table below.
//! - [ ] `both_interests_reported_for_one_token`: a registration for both directions
//!   reports both; separate events for one token in one batch are allowed (kqueue has one
//!   filter per direction), the `EventLoop` merges them.
//!
//! **Modes** ([`Mode`])
//! - [ ] `level_repeats_until_drained`: Level reports on every `select` while ready.
//! - [ ] `edge_fires_again_only_on_new_data`: Edge reports once per new readiness, and is
//!   offered only where the kernel has it; elsewhere
//!   `unsupported_edge_is_refused` applies.
//! - [ ] `oneshot_fires_once_until_reregister`: Oneshot reports once, then the
//!   registration is disarmed (but still registered) until `reregister`. Emulated where
//!   not native.
//! - [ ] `oneshot_both_directions_reports_once_until_reregister`: a READABLE|WRITABLE
//!   Oneshot registration reports once too (its events in one batch are one report), and
//!   stays silent when the other direction becomes ready later, until `reregister`.
//! - [ ] `already_ready_is_reported_in_every_mode`: registering a source that is already
//!   ready yields an event on the next `select`, in every supported mode.
//!
//! **Registration**
//! - [ ] `reregister_replaces_token`, `reregister_replaces_interest`,
//!   `reregister_replaces_mode`: `reregister` replaces token, interest and mode entirely.
//! - [ ] `deregister_then_ready_is_silent`: after `deregister` returns, no later `select`
//!   reports that registration, even if the fd stays open and becomes ready.
//! - [ ] `duplicate_register_is_already_exists`: `AlreadyExists`, and the first
//!   registration keeps working.
//! - [ ] `reregister_unknown_is_not_found`, `deregister_unknown_is_not_found`: `NotFound`.
//! - [ ] `reserved_token_is_invalid_input`: [`Token::RESERVED`] is refused with
//!   `InvalidInput` by `register` and `reregister`.
//! - [ ] `unsupported_edge_is_refused`: where [`Capabilities`] says Edge is unsupported,
//!   `register(…, Mode::Edge)` is `Unsupported` naming the backend.
//! - [ ] `invalid_fd_is_an_error`: a negative fd and a closed fd are errors, not panics.
//!   Safe code cannot name either (a [`BorrowedSource`] is open for its lifetime, and
//!   `-1` is no `BorrowedFd` at all); they come through an `unsafe` `borrow_raw` that
//!   broke its contract, which a backend answers as for any other number.
//! - [ ] `regular_file_is_refused_or_always_ready`: epoll refuses regular files (`EPERM`,
//!   mapped to a message); the other backends report them always ready.
//! - [ ] `failed_calls_do_not_disturb_registrations`: nothing already registered changes
//!   when a call fails.
//!
//! **Closing a registered fd**
//!
//! A registration outlives the [`BorrowedSource`] it was made with, so safe code may
//! close a registered fd, and a new file that gets its number is registered through an
//! ordinary borrow of that file. Handing a selector the closed number itself (to
//! `deregister` it, say) takes an `unsafe` `borrow_raw` whose contract the caller breaks
//! (the conformance suite does, on purpose, and only on a selector that implements the
//! `unsafe` trait `conformance::FdsAsNumbers`); a backend answers it as below, as it
//! would any number, never touching a file through it.
//!
//! - [ ] `close_while_registered_does_not_spin`: closing without `deregister` causes no
//!   busy loop, no crash, at most one error/closed event; once a `select` has run since
//!   the close, `deregister` of the closed fd fails (`InvalidInput`: not an open fd, or
//!   `NotFound`: the entry was dropped), never a silent success, and forgets the fd.
//! - [ ] `reused_fd_number_can_be_registered`: once any `select` has run since the close,
//!   a new fd that got the closed one's number registers under its new token and is
//!   reported with it, never with the old one — for a pipe, a TCP socket and an eventfd,
//!   whose registration was Level or a fired Oneshot. (poll(2): `POLLNVAL` drops the
//!   entry, also of a disarmed Oneshot, which stays in the array asking no events.)
//! - [ ] `reused_fd_number_before_any_select`: with no `select` since the close, the same
//!   holds where the kernel already forgot the old file (epoll, kqueue, and `polling` on
//!   them, which ask the kernel). A backend that keeps fd numbers itself and cannot tell
//!   a duplicate from a reused number (poll(2), `polling` on poll(2)) refuses with
//!   `AlreadyExists` saying so (its message says reuse may be the cause): `deregister` the number
//!   first, or let a `select` run. `(st_dev, st_ino)` is no identity: every eventfd,
//!   timerfd, signalfd and epoll fd shares one inode on Linux, sockets stat to (0, 0) on
//!   the BSDs and have no inode on macOS; another identity proves another file, the same
//!   proves nothing.
//! - Not promised, because the kernels differ (the model tests allow exactly this):
//!   `reregister`/`deregister` of a closed number that a new fd reuses may act on the old
//!   entry where registrations are keyed by number (poll(2), `polling` on poll(2),
//!   kqueue's registry) instead of `NotFound`; and epoll keeps reporting a closed fd
//!   while a duplicate of its file lives (epoll(7) Q6) — `EventLoop` drops those events
//!   once `deregister` has reported the fd closed. Narrower gaps, documented where
//!   they are handled: a fired Oneshot that hung up before its close is parked out of
//!   poll(2)'s sight (poll; on Apple's systems every fired Oneshot is, as xnu's poll(2)
//!   never checks an entry asking no events), and one that `polling` took out of its
//!   poller (poll(2), kqueue): for those a reuse before `deregister` is
//!   `registered_or_reused`, and `deregister`/`reregister` of the closed fd ask `fstat`
//!   and fail as for any closed fd. `polling` on epoll tags its keys with a generation,
//!   so an entry epoll keeps for a closed fd (a duplicate of its file lives) never
//!   reaches a later registration: its events are dropped.
//! - io_uring (`uring`): a pending poll request holds a reference to its file, so closing
//!   a registered fd does not close the file (a socket's peer sees no end) until the
//!   request ends: `deregister`, a `register` of the reused number (which tells the new
//!   file from the old one and cancels the old request), or the selector's drop. A
//!   fired Oneshot holds nothing. Its registry is keyed by number, like poll(2)'s, and
//!   a request it queues for a number (a `reregister`, a Level re-arm) goes to the kernel
//!   with the next `select`, which resolves the number then: if the registered fd was
//!   closed and the number reused meanwhile, the request polls (and holds) the new file
//!   under the old token, until the number is registered or deregistered. Deregister
//!   before close on uring. A poll request completes as task work of the thread that
//!   submitted it, which the kernel signals: `register` and `deregister` submit on the
//!   calling thread, so a thread that registers and then blocks in a call with a timeout
//!   (a socket read under `SO_RCVTIMEO`) may see that call fail with `Interrupted` when
//!   its source becomes ready; dropping the selector does the same, once, to each thread
//!   that used it. `EventLoop` registers on its own thread, between selects.
//!
//! **The selector's own descriptors**
//! - [ ] `selector_own_fds_are_refused`: `register`, `reregister` and `deregister` refuse
//!   the selector's own fds — epoll, kqueue or io_uring fd, waker eventfd or pipe, the
//!   uring backend's identity epoll fd, and the `polling` crate's (found by asking polling on epoll and poll(2); on kqueue only its kqueue fd:
//!   its notifier is `EVFILT_USER`, with no fd, on macOS and FreeBSD, while on OpenBSD and
//!   NetBSD it is a pipe whose read end polling itself refuses to `register` and which
//!   `reregister`/`deregister` answer `NotFound`, never reaching it) — with `InvalidInput`
//!   naming them, so a caller can never take over the wake path.
//!
//! **Timeouts** (`select(events, timeout)`)
//! - [ ] `timeout_none_blocks`: `None` blocks until an event, a wake or a signal.
//! - [ ] `timeout_zero_does_not_block`: `Some(ZERO)` never blocks but still asks the kernel.
//! - [ ] `timeout_is_never_early`: never returns before the timeout without an event,
//!   wake or signal.
//! - [ ] `timeout_sub_millisecond_is_never_early`: timeouts finer than a millisecond are
//!   waited out as precisely as the kernel allows — `epoll_pwait2` (Linux 5.11+; whole
//!   milliseconds before), `ppoll` (Linux and the BSDs; macOS's poll(2) counts whole
//!   milliseconds), kqueue's `timespec`, and what `polling` does (a timerfd on epoll) —
//!   or rounded up to whole milliseconds: never early, never down to a 0 ms busy loop.
//! - [ ] `timeout_duration_max_does_not_overflow`: huge timeouts clamp (to the largest the
//!   system call takes), never overflow.
//!
//! **Capacity**
//! - [ ] `capacity_limits_events_and_nothing_starves`: at most `capacity` events per call;
//!   with N ready fds every one is reported within ceil(N / capacity) + 1 selects
//!   (poll(2) rotates its scan start).
//!
//! **Wake**
//! - [ ] `wake_before_select_returns`, `wake_during_select_returns`: `wake()` from any
//!   thread makes the current or the next `select` return.
//! - [ ] `wakes_coalesce`: many wakes make at most one early return.
//! - [ ] `wake_after_consumed_wake_is_not_lost`.
//! - [ ] `wake_is_never_a_user_event`: the waker's own readiness never reaches the caller.
//! - [ ] `wake_does_not_hide_ready_fds`: a `select` ended by a wake still reports ready
//!   level-triggered fds.
//!
//! **Threads and signals**
//! - [ ] `register_from_other_thread_applies_to_blocked_select`,
//!   `reregister_from_other_thread_applies_to_blocked_select`,
//!   `deregister_from_other_thread_applies_to_blocked_select`: the change applies to the
//!   `select` already blocked in another thread (poll(2): wake it, apply under the lock,
//!   poll again with the remaining time).
//! - [ ] `concurrent_select_is_an_error`: only one thread selects at a time; a second
//!   concurrent `select` is `ResourceBusy`, not UB.
//! - [ ] `signal_interrupts_select_without_losing_wake`: a signal delivered to the
//!   selecting thread makes `select` return `Err(Interrupted)` with no events; a wake that
//!   raced the signal is not lost. **Difference:** the `polling` crate retries `EINTR`
//!   itself, so the polling backend never returns `Interrupted`; its select goes on
//!   until an event, a wake or the timeout.
//! - [ ] `create_drop_cycles_leak_no_fd`: 200 create/drop cycles leave the fd count as
//!   it was.
//! - [ ] `events_with_zero_capacity_is_invalid_input`: `Events::with_capacity(0)` is
//!   `InvalidInput` (a select that may store nothing would spin).
//! - [ ] No allocation per `select` or per event in steady state (`tests/no_alloc.rs`).
//!
//! # What safe code cannot do
//!
//! An audit of every public item a caller without `unsafe` reaches that touches memory,
//! fds or threads, kept here so that a new item is checked against it.
//!
//! - **Memory the kernel writes.** [`Events`] keeps its storage private. Safe code fills
//!   it one event at a time ([`Events::push`], refused when full) or writes the slots of
//!   [`Events::spare_capacity_mut`], whose length is the room the allocation really has;
//!   only the `unsafe` [`Events::set_len`] makes written slots count. So no safe call can
//!   make a backend's `epoll_wait`/`kevent` write past the buffer
//!   (`tests/selector/safe_code.rs`, run under AddressSanitizer by `.ci/asan`). The
//!   handle that allowed it is gone:
//!
//!   ```compile_fail
//!   # use selectio::{DefaultSelector, Events};
//!   let mut events = Events::<DefaultSelector>::with_capacity(256).unwrap();
//!   events.raw_mut().shrink_to(1); // no such method: the storage is not reachable
//!   ```
//! - **Descriptors.** Registration calls take a [`BorrowedSource`] (a `BorrowedFd`, a
//!   `BorrowedSocket` on Windows), never a bare number, and never close, read or write
//!   it. A closed, reused or foreign number reaches a selector only through an `unsafe`
//!   `borrow_raw` whose contract the caller broke (the conformance suite's properties on
//!   such numbers run only on selectors that made the `unsafe impl FdsAsNumbers`
//!   promise, so a safe `Selector` of a third party never gets one); the backends still
//!   treat what they get as a number, so even then it is an error or at worst another
//!   file's readiness, never memory unsafety. The selector's own fds are refused
//!   (`selector_own_fds_are_refused`). The socket and pipe types own their fds
//!   (`OwnedFd`) and hand out borrows only.
//! - **Threads and signals.** `select` is refused while another thread selects
//!   (`ResourceBusy`), never racing on the buffers. The conformance suite's
//!   `hooks::Interrupter` signals a thread only while it lives (a thread-local destructor
//!   clears it under the lock the signal is sent under) and refuses to replace a
//!   `SIGUSR1` handler the program installed. `hooks::watch_sigpipe` does replace
//!   `SIGPIPE`'s disposition, and says so.
//! - **Shared state.** Every `unsafe impl Send`/`Sync` in `backends/` states what it
//!   hands out across threads, with the bound that follows. The poll backend shares its
//!   array through a `Mutex` and needs none. The notify channel's sleep handshake and the
//!   poll backend's lock are model-checked with loom (`.ci/loom`).
//!
//! # Raw flags → [`Ready`](crate::Ready)
//!
//! | `Ready`        | epoll                              | kqueue                          | poll(2)                     | polling crate         |
//! |----------------|------------------------------------|---------------------------------|-----------------------------|-----------------------|
//! | `READABLE`     | `EPOLLIN`, `EPOLLRDHUP`, `EPOLLHUP`, `EPOLLERR` | `EVFILT_READ`      | `POLLIN`, `POLLHUP`, `POLLERR` (`POLLRDHUP` on Linux) | `readable`         |
//! | `WRITABLE`     | `EPOLLOUT`, `EPOLLHUP`, `EPOLLERR` | `EVFILT_WRITE`                  | `POLLOUT`, `POLLHUP`, `POLLERR` | `writable`        |
//! | `ERROR`        | `EPOLLERR`                         | `EV_ERROR`; `EV_EOF` with `fflags` ≠ 0 (socket error) | `POLLERR`, `POLLNVAL` | `is_err()`   |
//! | `READ_CLOSED`  | `EPOLLRDHUP`, `EPOLLHUP`           | `EV_EOF` on `EVFILT_READ`       | `POLLHUP` (`POLLRDHUP` on Linux) | `is_hup()`: full hang-up only¹ |
//! | `WRITE_CLOSED` | `EPOLLHUP`                          | `EV_EOF` on `EVFILT_WRITE`      | `POLLHUP`; `POLLERR` on a write-only registration | `is_hup()` |
//! | `PRIORITY`     | `EPOLLPRI`                         | (never)                         | `POLLPRI`                   | `is_pri()`            |
//!
//! `POLLNVAL` (the fd was closed while registered) is reported once as
//! `ERROR | READ_CLOSED | WRITE_CLOSED`, after which the poll backend drops the entry.
//!
//! ¹ The `polling` crate does not surface `EPOLLRDHUP`, so a peer's `shutdown(SHUT_WR)`
//! reaches the polling backend as `READABLE` (the read returns EOF) without the
//! `READ_CLOSED` hint; the suite's `tcp_peer_shutdown_is_read_closed` allows that.

use std::io;
#[cfg(selectio_select_lock)]
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::{BorrowedSource, Event, Events, Interest, Mode, RawSource, Token};

/// A readiness backend: epoll, kqueue, poll(2), polling, or your own.
///
/// See the [module docs](self) for the contract every implementation keeps.
pub trait Selector: Send + Sync + Sized + 'static {
    /// The kernel's event record as `select` stores it in [`Events`] (`epoll_event`,
    /// `kevent`, …); decoded by [`decode`](Selector::decode) when iterated.
    type RawEvent: Copy + Send;

    /// Opens the backend (an epoll or kqueue fd, a waker, …), close-on-exec.
    fn new() -> io::Result<Self>;

    /// The backend's name: `"epoll"`, `"kqueue"`, `"poll"`, `"polling"`, …
    fn name(&self) -> &'static str;

    /// Which [`Mode`]s this backend offers, and which of them are native.
    fn capabilities(&self) -> Capabilities;

    /// Starts watching `fd` for `interest`, reporting events tagged with `token`.
    ///
    /// The selector keeps the fd's number, not the borrow: the registration outlives it,
    /// and closing the fd without `deregister` is handled as the checklist says.
    fn register(
        &self,
        fd: BorrowedSource<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()>;

    /// Replaces the token, interest and mode of a registered `fd`; re-arms a fired
    /// oneshot registration.
    fn reregister(
        &self,
        fd: BorrowedSource<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()>;

    /// Stops watching `fd`. No later `select` reports it.
    fn deregister(&self, fd: BorrowedSource<'_>) -> io::Result<()>;

    /// Waits for readiness, at most `timeout` (`None`: no limit), and stores at most
    /// `events.capacity()` events in `events` (cleared first).
    fn select(&self, events: &mut Events<Self>, timeout: Option<Duration>) -> io::Result<()>;

    /// Makes the current or the next `select` return. Callable from any thread.
    fn wake(&self) -> io::Result<()>;

    /// Decodes one raw event.
    fn decode(raw: &Self::RawEvent) -> Event;
}

/// How a backend supports one [`Mode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Support {
    /// The kernel implements the mode.
    Native,
    /// The backend implements the mode itself (oneshot over poll(2): disarm after delivery).
    Emulated,
    /// The backend refuses the mode with `ErrorKind::Unsupported`.
    Unsupported,
}

/// Which [`Mode`]s a backend offers; query it before registering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capabilities {
    level: Support,
    edge: Support,
    oneshot: Support,
}

impl Capabilities {
    /// Capabilities from the support of each mode.
    pub const fn new(level: Support, edge: Support, oneshot: Support) -> Capabilities {
        Capabilities {
            level,
            edge,
            oneshot,
        }
    }

    /// How `mode` is supported.
    pub const fn support(&self, mode: Mode) -> Support {
        match mode {
            Mode::Level => self.level,
            Mode::Edge => self.edge,
            Mode::Oneshot => self.oneshot,
        }
    }

    /// Whether `register` accepts `mode`.
    pub const fn supports(&self, mode: Mode) -> bool {
        !matches!(self.support(mode), Support::Unsupported)
    }

    /// The modes `register` accepts, in [`Mode::ALL`] order.
    pub fn modes(&self) -> impl Iterator<Item = Mode> + '_ {
        Mode::ALL.into_iter().filter(move |m| self.supports(*m))
    }

    /// Checks that a registration may use `token` and `mode`: the reserved token is
    /// `InvalidInput`, an unsupported mode is `Unsupported`; both errors name `backend`.
    pub(crate) fn check(&self, backend: &str, token: Token, mode: Mode) -> io::Result<()> {
        if token == Token::RESERVED {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{backend}: Token::RESERVED (usize::MAX) is reserved for the waker"),
            ));
        }
        if !self.supports(mode) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{backend}: Mode::{mode:?} is not supported by this backend"),
            ));
        }
        Ok(())
    }
}

/// Enforces "one `select` at a time" for a backend: a second concurrent `select` gets
/// `ResourceBusy` instead of racing on shared buffers.
#[cfg(selectio_select_lock)]
#[derive(Debug)]
pub(crate) struct SelectLock {
    busy: AtomicBool,
}

/// Held while one `select` runs; releases the [`SelectLock`] on drop.
#[cfg(selectio_select_lock)]
#[derive(Debug)]
pub(crate) struct SelectGuard<'a> {
    lock: &'a SelectLock,
}

// By hand, not derived: the polling backend makes its lock through `Default`, the others
// through `const fn new`; a derived `Default` would leave `new` unused (dead code under
// `-D warnings`) in a build whose only backend is polling, as on Windows.
#[cfg(selectio_select_lock)]
impl Default for SelectLock {
    fn default() -> SelectLock {
        SelectLock::new()
    }
}

#[cfg(selectio_select_lock)]
impl SelectLock {
    /// A free lock.
    pub(crate) const fn new() -> SelectLock {
        SelectLock {
            busy: AtomicBool::new(false),
        }
    }

    /// Enters `select`, or fails with `ResourceBusy` naming `backend` if another thread
    /// is selecting.
    #[inline]
    pub(crate) fn enter(&self, backend: &str) -> io::Result<SelectGuard<'_>> {
        // Acquire pairs with the guard's Release: what one select wrote, the next sees.
        if self.busy.swap(true, Ordering::Acquire) {
            return Err(errors::busy(backend));
        }
        Ok(SelectGuard { lock: self })
    }
}

#[cfg(selectio_select_lock)]
impl Drop for SelectGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.lock.busy.store(false, Ordering::Release);
    }
}

/// The opening of every backend's `register` and `reregister` (`op`): a reserved token
/// or an unsupported mode is refused by [`Capabilities::check`], then one of the
/// selector's own descriptors by `refuse_own(op, fd)`, and what passed is traced.
pub(crate) fn admit(
    backend: &str,
    caps: Capabilities,
    op: &str,
    fd: RawSource,
    (token, interest, mode): (Token, Interest, Mode),
    refuse_own: impl FnOnce(&str, RawSource) -> io::Result<()>,
) -> io::Result<()> {
    caps.check(backend, token, mode)?;
    refuse_own(op, fd)?;
    trace!(
        backend,
        op,
        ?fd,
        token = token.0,
        ?interest,
        ?mode,
        "selector change"
    );
    // Read by the trace only, which compiles to nothing without the `tracing` feature.
    let _ = interest;
    Ok(())
}

/// Error constructors shared by the backends, so every backend words the same misuse
/// the same way.
pub(crate) mod errors {
    use std::fmt::Debug;
    use std::io;

    /// `AlreadyExists`: `fd` is registered already.
    #[cfg(any(selectio_epoll, selectio_kqueue, selectio_polling, selectio_uring))]
    pub(crate) fn already_registered(backend: &str, fd: impl Debug) -> io::Error {
        io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{backend}: fd {fd:?} is already registered (use reregister)"),
        )
    }

    /// `AlreadyExists` from a backend that cannot tell a duplicate registration from a
    /// new file that got the number of a registered one closed without `deregister`
    /// (poll(2) before its next `select`): says both, and what to do.
    #[cfg(any(selectio_poll, selectio_polling, selectio_uring))]
    pub(crate) fn registered_or_reused(backend: &str, fd: impl Debug) -> io::Error {
        io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{backend}: fd {fd:?} is already registered (use reregister), or a registered \
                 fd was closed without deregister and this new one got its number before a \
                 select noticed; the backend cannot tell which: deregister({fd:?}) first, or \
                 let a select run after the close"
            ),
        )
    }

    /// `InvalidInput`: `fd` is one of the selector's own descriptors (`what`: its epoll or
    /// kqueue fd, its waker), which no caller may register, change or deregister.
    pub(crate) fn own_fd(backend: &str, op: &str, fd: impl Debug, what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{backend}: {op} fd {fd:?}: it is the selector's own {what}"),
        )
    }

    /// `ResourceBusy`: another thread is in `select` on this selector.
    pub(crate) fn busy(backend: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::ResourceBusy,
            format!("{backend}: another thread is already in select on this selector"),
        )
    }

    /// `NotFound`: `fd` is not registered.
    pub(crate) fn not_registered(backend: &str, fd: impl Debug) -> io::Error {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{backend}: fd {fd:?} is not registered"),
        )
    }

    /// `InvalidInput`: `fd` is not open (the OS said `EBADF`), for every backend alike.
    /// Unix only: Windows answers a closed socket with `WSAENOTSOCK`, which the polling
    /// backend words itself.
    #[cfg(unix)]
    pub(crate) fn closed_fd(backend: &str, op: &str, fd: impl Debug) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{backend}: {op} fd {fd:?}: not an open file descriptor"),
        )
    }

    /// Adds the backend, the operation and the fd to an OS error, keeping its kind.
    pub(crate) fn context(backend: &str, op: &str, fd: impl Debug, err: io::Error) -> io::Error {
        io::Error::new(err.kind(), format!("{backend}: {op} fd {fd:?}: {err}"))
    }
}
