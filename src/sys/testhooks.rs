//! Signal hooks for selectio's fault tests (feature `conformance`, Unix): interrupt a
//! thread blocked in `select` with `SIGUSR1`, and count the `SIGPIPE`s the process
//! receives. `crate::conformance::hooks` re-exports them for the tests.
#![cfg(all(unix, feature = "conformance"))]

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::cvt;

/// `SIGPIPE`s received since [`watch_sigpipe`] installed the counter.
static SIGPIPES: AtomicUsize = AtomicUsize::new(0);

/// Counts one `SIGPIPE`; an atomic add is async-signal-safe.
extern "C" fn count_sigpipe(_: libc::c_int) {
    SIGPIPES.fetch_add(1, Ordering::Relaxed);
}

/// Replaces `SIGPIPE`'s disposition (Rust's runtime sets "ignore") with a handler that
/// counts it, with `SA_RESTART`, so a test can prove no write raised one: the write still
/// fails with `EPIPE` either way, only the count tells. Idempotent.
pub(crate) fn watch_sigpipe() -> io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid value; the handler and mask are set below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = count_sigpipe as extern "C" fn(libc::c_int) as usize;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action.sa_mask` is a valid sigset_t to initialise.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: installs an async-signal-safe handler for SIGPIPE; the old action is not
    // needed (it was "ignore", which the counter replaces for the whole test process).
    cvt(unsafe { libc::sigaction(libc::SIGPIPE, &action, std::ptr::null_mut()) }).map(drop)
}

/// How many `SIGPIPE`s arrived since [`watch_sigpipe`].
pub(crate) fn sigpipes() -> usize {
    SIGPIPES.load(Ordering::Relaxed)
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// Makes sure `SIGUSR1` runs [`ignore_signal`] without `SA_RESTART`: installs it over the
/// default disposition (which would kill the process), accepts it if already there, and
/// refuses to replace any other handler, which belongs to someone else.
fn claim_sigusr1() -> io::Result<()> {
    let ours = ignore_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: a zeroed sigaction is a valid value for the kernel to fill.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`.
    cvt(unsafe { libc::sigaction(libc::SIGUSR1, std::ptr::null(), &mut old) })?;
    if old.sa_sigaction == ours {
        return Ok(());
    }
    if old.sa_sigaction != libc::SIG_DFL {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "selectio: SIGUSR1 already has a disposition set by the program; the interrupt \
             hook would replace it, so it refuses",
        ));
    }
    // SAFETY: a zeroed sigaction is a valid value; the handler and mask are set below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = ours;
    // No SA_RESTART: the point is that a blocking call fails with EINTR.
    action.sa_flags = 0;
    // SAFETY: `action.sa_mask` is a valid sigset_t to initialise.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: installs an async-signal-safe handler (it does nothing) for SIGUSR1, whose
    // disposition was the default, so nothing of the program's is lost.
    cvt(unsafe { libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()) }).map(drop)
}

/// The thread an [`Interrupter`] signals, `None` once that thread is exiting.
type Target = Arc<Mutex<Option<libc::pthread_t>>>;

/// Clears its thread's [`Target`] when the thread exits (thread-local destructors run
/// while the thread still exists), under the lock `interrupt` holds while signalling.
struct ExitGuard(Target);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

thread_local! {
    static THIS_THREAD: ExitGuard = {
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        ExitGuard(Arc::new(Mutex::new(Some(me))))
    };
}

/// Sends `SIGUSR1` to one thread, for as long as that thread runs: a `select` blocked in
/// it fails with `EINTR` (`ErrorKind::Interrupted`), and the process is not killed.
///
/// Safe whatever the caller does: the target is cleared when its thread exits, under the
/// lock that [`interrupt`](Interrupter::interrupt) holds while signalling, so no signal
/// can reach a thread that is gone (or a later thread given the same id), and the hook
/// never replaces a `SIGUSR1` handler the program installed (it refuses instead).
#[derive(Debug, Clone)]
pub struct Interrupter {
    target: Target,
}

impl Interrupter {
    /// A handle on the calling thread. Installs a do-nothing `SIGUSR1` handler without
    /// `SA_RESTART` if `SIGUSR1` has its default disposition; `AlreadyExists` if the
    /// program set another one.
    pub fn current() -> io::Result<Interrupter> {
        claim_sigusr1()?;
        let target = THIS_THREAD.with(|guard| Arc::clone(&guard.0));
        Ok(Interrupter { target })
    }

    /// Sends `SIGUSR1` to the thread. `NotFound` once it has exited; `AlreadyExists` if
    /// the program has since installed its own `SIGUSR1` handler.
    pub fn interrupt(&self) -> io::Result<()> {
        let target = self.target.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(thread) = *target else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "selectio: the interrupted thread has exited",
            ));
        };
        claim_sigusr1()?;
        // SAFETY: `thread` has not run its thread-local destructors (it would have cleared
        // `target`, and it cannot while we hold the lock), so it is a live thread of this
        // process and its id is valid.
        match unsafe { libc::pthread_kill(thread, libc::SIGUSR1) } {
            0 => Ok(()),
            rc => Err(io::Error::from_raw_os_error(rc)),
        }
    }
}
