//! The few libc calls the benchmark needs around the contenders: CPU affinity
//! (sched_setaffinity(2)), a thread's CPU-time clock (pthread_getcpuclockid(3) +
//! clock_gettime(2)), the open-file limit (getrlimit/setrlimit(2)), and polling's
//! `unsafe fn add`.
//!
//! Examples are not library code: the crate keeps `unsafe` to `backends/` and `src/sys/`,
//! but a benchmark has to ask the kernel for things the library does not wrap. Every block
//! says why it is sound.
#![allow(unsafe_code)]

use std::io;

/// The CPUs this process may run on (sched_getaffinity(2) of the calling thread).
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a writable cpu_set_t of the size we pass; pid 0 is this thread.
    let ret =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    cvt(ret)?;
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: CPU_ISSET only reads the set, and `cpu` is below the set's bit count.
    Ok((0..max)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Pins the calling thread to `cpu` (sched_setaffinity(2) with pid 0: this thread only).
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit of `set`; `allowed_cpus` gave a `cpu` below its size.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size we pass; pid 0 is this thread.
    let ret = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    cvt(ret).map(drop)
}

/// The CPU-time clock of the calling thread, readable from any thread of the process
/// with [`clock_ns`] (pthread_getcpuclockid(3)): the client reads the server's clock at
/// the exact edges of the measured window.
pub fn current_thread_clock() -> io::Result<libc::clockid_t> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `pthread_self()` is this live thread; `clock` is a writable clockid_t.
    let ret = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(clock)
}

/// The time of `clock` in nanoseconds (clock_gettime(2)).
pub fn clock_ns(clock: libc::clockid_t) -> io::Result<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a writable timespec; a stale clock id is an error the kernel reports.
    cvt(unsafe { libc::clock_gettime(clock, &mut ts) })?;
    Ok(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Raises the soft RLIMIT_NOFILE to the hard one and returns the new soft limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a writable rlimit.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit; raising the soft limit up to the hard one
        // needs no privilege (setrlimit(2)).
        if cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) }).is_ok() {
            lim = raised;
        }
    }
    Ok(lim.rlim_cur)
}

/// `Poller::add_with_mode` for a source the caller keeps alive and deletes from the
/// poller before closing it (polling's `add` is `unsafe` for exactly that obligation).
pub fn polling_add(
    poller: &polling::Poller,
    source: &impl std::os::fd::AsRawFd,
    event: polling::Event,
    mode: polling::PollMode,
) -> io::Result<()> {
    let fd = source.as_raw_fd();
    // SAFETY: every caller deletes the source from the poller before dropping it (the
    // servers on close, the idle workload before the sockets go), so the poller never
    // holds a closed descriptor.
    unsafe { poller.add_with_mode(fd, event, mode) }
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
