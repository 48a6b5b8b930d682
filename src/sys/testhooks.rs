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

/// The `AUDIT_ARCH_*` value of this target (linux/audit.h), which a seccomp filter checks
/// before trusting a system call number.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// Installs a seccomp filter on the calling thread (and the threads it starts later)
/// that makes `io_uring_setup(2)` fail with `EPERM`, as a container runtime's default
/// profile does; every other call is allowed. It cannot be removed: call it on a thread
/// made for the purpose. `prctl(PR_SET_SECCOMP)` without `SECCOMP_FILTER_FLAG_TSYNC`
/// filters the calling thread only (seccomp(2)).
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
pub(crate) fn deny_io_uring_setup() -> io::Result<()> {
    const fn stmt(code: u32, k: u32) -> libc::sock_filter {
        libc::sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        }
    }
    const fn jeq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt,
            jf,
            k,
        }
    }
    // Offsets in `struct seccomp_data`: `nr` at 0, `arch` at 4.
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let mut filter = [
        stmt(load, 4),
        // Another architecture: allow (jump to the last instruction).
        jeq(AUDIT_ARCH, 0, 3),
        stmt(load, 0),
        jeq(libc::SYS_io_uring_setup as u32, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as libc::c_ushort,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers; it is what lets an unprivileged
    // thread install a filter.
    cvt(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
    // SAFETY: `prog` points at `filter`, a valid BPF program, both alive for the call
    // (the kernel copies the program).
    cvt(unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog) })?;
    Ok(())
}
