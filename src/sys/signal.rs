//! Signal handlers for `EventLoop::watch_signal` (sigaction(2)): one process-wide table of
//! watches, served by one async-signal-safe handler that chains to the one it replaced.
//!
//! # Implementation notes
//! A watch is a slot of a static table: the signal it hears, the write end of its loop's
//! self-pipe, a delivery count and a "woken" flag. The handler, for each slot of its
//! signal, adds one to the count and, if the slot was not already woken, writes one byte
//! to the pipe; then it calls the previous handler. It uses atomics and `write(2)` only,
//! both async-signal-safe (signal-safety(7)).
//!
//! The pipe never fills: a slot writes one byte until its loop takes the count and clears
//! the flag, and a loop has fewer watches than any pipe's capacity (POSIX guarantees
//! `PIPE_BUF`, 512 bytes, at least). So the `write` cannot fail and leaves `errno` as the
//! interrupted code had it.
//!
//! A slot is freed by clearing its signal, then waiting until no handler runs
//! (`IN_HANDLER` is zero): a handler that saw the old signal counted itself in before it
//! looked, so once the count is zero no handler still holds the slot's descriptor, which
//! its loop may then close. The previous handler is called after the count drops, so a
//! previous handler that never returns (it exits or jumps away) cannot block a free.
//!
//! The table and the saved dispositions are changed under one mutex, never taken in
//! signal context. The last watch of a signal puts back the disposition found before the
//! first, if ours is still installed; if something installed itself over ours since, ours
//! stays reachable through it (it may chain to ours) and keeps chaining onwards.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize};
use std::sync::Mutex;

/// Signal numbers have a slot below this: Linux and Android number theirs up to 64
/// (`SIGRTMAX`), FreeBSD up to 128 (`_SIG_MAXSIG`), the other BSDs and Apple fewer.
const SIGNAL_LIMIT: usize = 129;

/// Watches the whole process holds at once: well below a pipe's capacity (see the
/// module notes), and scanned by every delivery.
pub(crate) const MAX_WATCHES: usize = 128;

/// Signals that cannot be caught (`SIGKILL`, `SIGSTOP`), or that report a fault of the
/// instruction that raised them: after a handler that only records the delivery
/// returns, the instruction runs again and faults again, forever.
pub(crate) const FORBIDDEN: [libc::c_int; 6] = [
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGSEGV,
    libc::SIGBUS,
];

/// One watch: read by the handler, written under [`STATE`].
struct Slot {
    /// The signal it hears; 0 when free.
    signal: AtomicI32,
    /// The write end of its loop's self-pipe.
    fd: AtomicI32,
    /// Deliveries since the loop last took them.
    count: AtomicUsize,
    /// A byte was written since the loop last took the count.
    woken: AtomicBool,
}

static SLOTS: [Slot; MAX_WATCHES] = [const {
    Slot {
        signal: AtomicI32::new(0),
        fd: AtomicI32::new(-1),
        count: AtomicUsize::new(0),
        woken: AtomicBool::new(false),
    }
}; MAX_WATCHES];

/// Handlers between their first and last look at [`SLOTS`].
static IN_HANDLER: AtomicUsize = AtomicUsize::new(0);

/// The previous handler of each signal (`sa_sigaction`, or `SIG_DFL`/`SIG_IGN`), read by
/// the handler to chain.
static PREV_HANDLER: [AtomicUsize; SIGNAL_LIMIT] = [const { AtomicUsize::new(0) }; SIGNAL_LIMIT];

/// Whether that previous handler takes `(sig, info, context)` (`SA_SIGINFO`).
static PREV_SIGINFO: [AtomicBool; SIGNAL_LIMIT] = [const { AtomicBool::new(false) }; SIGNAL_LIMIT];

/// The disposition each signal had before its first watch; `Some` while ours is
/// installed (or reachable through a handler installed over it).
static STATE: Mutex<[Option<libc::sigaction>; SIGNAL_LIMIT]> = Mutex::new([None; SIGNAL_LIMIT]);

/// A signal watched for one loop; [`unwatch`] frees it.
#[derive(Debug)]
pub(crate) struct Watch {
    slot: usize,
    signal: libc::c_int,
}

impl Watch {
    /// The signal watched.
    pub(crate) fn signal(&self) -> libc::c_int {
        self.signal
    }

    /// Takes the deliveries counted since the last call, and lets the next delivery write
    /// to the pipe again. Call it after draining the pipe: a delivery after the drain
    /// then either is in the count taken or writes a new byte.
    pub(crate) fn take(&self) -> usize {
        let slot = &SLOTS[self.slot];
        slot.woken.store(false, SeqCst);
        slot.count.swap(0, SeqCst)
    }
}

fn invalid(signal: libc::c_int, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("selectio: watch_signal({signal}): {why}"),
    )
}

/// Starts counting deliveries of `signal` and writing to `pipe` (a non-blocking write
/// end, kept open until [`unwatch`] returns), installing the handler if `signal` has no
/// watch yet.
#[doc(alias = "sigaction")]
pub(crate) fn watch(signal: libc::c_int, pipe: BorrowedFd<'_>) -> io::Result<Watch> {
    if signal <= 0 || signal as usize >= SIGNAL_LIMIT {
        return Err(invalid(signal, "not a signal number"));
    }
    if FORBIDDEN.contains(&signal) {
        return Err(invalid(
            signal,
            "SIGKILL, SIGSTOP and the fault signals (SIGILL, SIGFPE, SIGSEGV, SIGBUS) cannot \
             be watched",
        ));
    }
    let mut saved = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(slot) = SLOTS.iter().position(|s| s.signal.load(SeqCst) == 0) else {
        return Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "selectio: watch_signal({signal}): the process already holds {MAX_WATCHES} \
                 signal watches"
            ),
        ));
    };
    let s = &SLOTS[slot];
    s.fd.store(pipe.as_raw_fd(), SeqCst);
    s.count.store(0, SeqCst);
    s.woken.store(false, SeqCst);
    // Last: from here on the handler serves the slot. Before the handler is installed,
    // so that no delivery after the install finds nobody to tell.
    s.signal.store(signal, SeqCst);
    if saved[signal as usize].is_none() {
        match install(signal) {
            Ok(prev) => saved[signal as usize] = Some(prev),
            Err(e) => {
                release(slot);
                return Err(e);
            }
        }
    }
    Ok(Watch { slot, signal })
}

/// Frees `slot`; on return no handler uses its pipe any more.
fn release(slot: usize) {
    let s = &SLOTS[slot];
    s.signal.store(0, SeqCst);
    while IN_HANDLER.load(SeqCst) != 0 {
        std::thread::yield_now();
    }
    s.fd.store(-1, SeqCst);
}

/// Stops the watch; when it was the signal's last, puts back the disposition found
/// before the first. On return no handler uses the watch's pipe any more.
pub(crate) fn unwatch(watch: Watch) {
    let mut saved = STATE.lock().unwrap_or_else(|e| e.into_inner());
    release(watch.slot);
    let signal = watch.signal;
    if SLOTS.iter().any(|s| s.signal.load(SeqCst) == signal) {
        return;
    }
    if let Some(prev) = saved[signal as usize] {
        if restore(signal, &prev) {
            saved[signal as usize] = None;
        }
    }
}

/// Installs [`on_signal`] for `signal`; returns the disposition it replaced.
fn install(signal: libc::c_int) -> io::Result<libc::sigaction> {
    // SAFETY: an all-zero `sigaction` is a valid value (SIG_DFL, no flags, empty mask).
    let mut ours: libc::sigaction = unsafe { std::mem::zeroed() };
    ours.sa_sigaction = ours_address();
    // SA_RESTART: other threads' blocking calls go on; select's wait returns EINTR
    // whatever the flag (epoll_wait(2), poll(2) and kevent(2) are never restarted).
    ours.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
    // SAFETY: `ours.sa_mask` is a valid `sigset_t` to initialise.
    unsafe { libc::sigemptyset(&mut ours.sa_mask) };
    // Record the current one first, so the handler chains correctly from its first run.
    let current = query(signal)?;
    remember(signal, &current);
    // SAFETY: both pointers are valid `sigaction`s; `on_signal` is async-signal-safe.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    crate::sys::cvt(unsafe { libc::sigaction(signal, &ours, &mut old) })?;
    // Another thread may have changed it between the two calls.
    remember(signal, &old);
    Ok(old)
}

/// Puts `prev` back if our handler is still the installed one; `false` if another was
/// installed over ours (which then stays reachable through it).
fn restore(signal: libc::c_int, prev: &libc::sigaction) -> bool {
    match query(signal) {
        Ok(current) if current.sa_sigaction == ours_address() => {
            // SAFETY: `prev` is a disposition sigaction(2) itself returned.
            let r = unsafe { libc::sigaction(signal, prev, std::ptr::null_mut()) };
            r == 0
        }
        _ => false,
    }
}

fn query(signal: libc::c_int) -> io::Result<libc::sigaction> {
    // SAFETY: an all-zero `sigaction` is a valid value to be overwritten.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `current`.
    crate::sys::cvt(unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) })?;
    Ok(current)
}

fn remember(signal: libc::c_int, prev: &libc::sigaction) {
    let i = signal as usize;
    PREV_SIGINFO[i].store(prev.sa_flags & libc::SA_SIGINFO != 0, SeqCst);
    PREV_HANDLER[i].store(prev.sa_sigaction, SeqCst);
}

/// [`on_signal`] as `sigaction(2)` stores it.
fn ours_address() -> libc::sighandler_t {
    on_signal as *const () as libc::sighandler_t
}

/// The handler: count, wake each watching loop once, then chain. Atomics and `write(2)`
/// only (async-signal-safe); never panics (no indexing that can fail, no allocation).
extern "C" fn on_signal(signal: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    IN_HANDLER.fetch_add(1, SeqCst);
    for slot in &SLOTS {
        if slot.signal.load(SeqCst) != signal {
            continue;
        }
        slot.count.fetch_add(1, SeqCst);
        if !slot.woken.swap(true, SeqCst) {
            let byte = 1u8;
            // SAFETY: the slot's pipe stays open while IN_HANDLER counts us (see
            // `unwatch`); the buffer is one valid byte. It cannot fail (module notes).
            unsafe { libc::write(slot.fd.load(SeqCst), (&byte as *const u8).cast(), 1) };
        }
    }
    IN_HANDLER.fetch_sub(1, SeqCst);
    chain(signal, info, ctx);
}

/// Calls the handler `on_signal` replaced, unless that was `SIG_DFL` or `SIG_IGN`: while
/// a loop watches the signal, the loop's handler is what the signal does.
fn chain(signal: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let Some(prev) = PREV_HANDLER.get(signal as usize) else {
        return;
    };
    let handler = prev.load(SeqCst);
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN || handler == ours_address() {
        return;
    }
    if PREV_SIGINFO[signal as usize].load(SeqCst) {
        type Action = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);
        // SAFETY: sigaction(2) returned this address as an SA_SIGINFO handler, which has
        // this signature; the kernel would have called it with these arguments.
        let action: Action = unsafe { std::mem::transmute::<usize, Action>(handler) };
        action(signal, info, ctx);
    } else {
        type Handler = extern "C" fn(libc::c_int);
        // SAFETY: sigaction(2) returned this address as a plain `sa_handler`.
        let action: Handler = unsafe { std::mem::transmute::<usize, Handler>(handler) };
        action(signal);
    }
}

/// Reads `pipe` (non-blocking) until it is empty.
pub(crate) fn drain(pipe: BorrowedFd<'_>) {
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: `buf` is valid for `buf.len()` writable bytes; the fd is borrowed open.
        let n = unsafe { libc::read(pipe.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        // Fewer bytes than asked, EOF or an error (WouldBlock): empty.
        if n < buf.len() as isize {
            break;
        }
    }
}
