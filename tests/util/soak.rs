//! Helpers of the soak tests (`tests/soak.rs`): sizes from the environment, the fd limit
//! (raised for the connection soak, lowered to 64 for the leak cycles), open-fd counts
//! and memory figures read from `/proc`.
#![allow(dead_code)]

pub mod echo;

use std::fmt;
use std::fs;
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rlimit::Resource;

/// Soaks change process-wide state (the fd limit) and count process-wide things (open
/// fds, RSS): they run one at a time even without `--test-threads=1`.
static ALONE: Mutex<()> = Mutex::new(());

/// Holds the process to one soak at a time; a panicked soak does not block the others.
pub fn alone() -> MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether `SELECTIO_SOAK=full` asks for the full sizes.
pub fn full_size() -> bool {
    std::env::var("SELECTIO_SOAK").is_ok_and(|v| v.eq_ignore_ascii_case("full"))
}

/// A size: the variable `name` if set (a number, `_` allowed), else `full` or `ci`.
pub fn size(name: &str, ci: u64, full: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?}: expected a whole number")),
        Err(_) if full_size() => full,
        Err(_) => ci,
    }
}

/// Open fds of this process: entries of `/proc/self/fd` (Linux) or `/dev/fd` (macOS,
/// the BSDs). The directory handle itself counts once, every time.
pub fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd")
        .or_else(|_| fs::read_dir("/dev/fd"))
        .expect("listing /proc/self/fd or /dev/fd")
        .count()
}

/// A field of `/proc/self/status` in bytes (`VmRSS`, `RssAnon`; given there in kB);
/// `None` where there is no such file (macOS, the BSDs).
pub fn status_bytes(field: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let rest = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?;
    let kb = rest
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

/// Resident anonymous memory of this process (heap, stacks), in bytes.
pub fn rss_anon() -> Option<u64> {
    status_bytes("RssAnon")
}

/// Memory the kernel gives TCP buffers, all sockets of the system (`/proc/net/sockstat`
/// "TCP: … mem N", in pages), in bytes.
pub fn kernel_tcp_bytes() -> Option<u64> {
    let stat = fs::read_to_string("/proc/net/sockstat").ok()?;
    let tcp = stat.lines().find(|l| l.starts_with("TCP:"))?;
    let mut words = tcp.split_whitespace();
    words.find(|w| *w == "mem")?;
    Some(words.next()?.parse::<u64>().ok()? * 4096)
}

/// Bytes of the kernel's epoll slabs (`eventpoll_epi`, `eventpoll_pwq`; one of each per
/// epoll registration), all processes: readable by root only, `None` otherwise.
pub fn epoll_slab_bytes() -> Option<u64> {
    let info = fs::read_to_string("/proc/slabinfo").ok()?;
    let total = info
        .lines()
        .filter(|l| l.starts_with("eventpoll_"))
        .filter_map(|l| {
            let mut f = l.split_whitespace().skip(1).map(|w| w.parse::<u64>().ok());
            Some(f.next()?? * f.nth(1)??) // active objects × object size
        })
        .sum();
    Some(total)
}

/// `after - before` per item, in bytes, signed (memory can shrink); "n/a" when a figure
/// is missing.
pub fn per(before: Option<u64>, after: Option<u64>, items: usize) -> String {
    match (before, after) {
        (Some(b), Some(a)) => Bytes((a as f64 - b as f64) / items.max(1) as f64).to_string(),
        _ => "n/a".to_string(),
    }
}

/// Runs a soak in a fresh process, so its memory figures start from a clean heap (an
/// earlier soak's freed memory, still resident, would hide new allocations).
///
/// In the parent, runs this test binary again with only `test` (its path without the
/// crate, `epoll::connections_echo`), prints the child's output and fails if it failed.
/// In the child (`SELECTIO_SOAK_CHILD` = `test`), runs `body`.
pub fn isolated(test: &str, body: impl FnOnce()) {
    if std::env::var(CHILD).is_ok_and(|t| t == test) {
        return body();
    }
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, test)
        .output()
        .expect("running the soak in a child process");
    // The child's own harness lines ("running 1 test", "test result: …") are dropped.
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        match line.find("[soak") {
            Some(at) => println!("{}", &line[at..]),
            None if line.is_empty() || line.starts_with("running ") => {}
            None if line.starts_with("test ") || line == "ok" => {}
            None => println!("{line}"),
        }
    }
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "{test} failed in its child process: {}",
        out.status
    );
    let ran = String::from_utf8_lossy(&out.stdout).contains("1 passed");
    assert!(ran, "{test}: the child process ran no test (name filter?)");
}

const CHILD: &str = "SELECTIO_SOAK_CHILD";

/// A test's path without the crate name, from `module_path!()` and the function name.
pub fn test_path(module: &str, name: &str) -> String {
    match module.split_once("::") {
        Some((_, rest)) => format!("{rest}::{name}"),
        None => name.to_string(),
    }
}

/// The soft fd limit, restored on drop; see [`raise_fd_limit`] and [`lower_fd_limit`].
pub struct FdLimit {
    saved: (u64, u64),
}

impl FdLimit {
    /// The soft limit in force now.
    pub fn soft(&self) -> u64 {
        Resource::NOFILE.get().expect("getrlimit(RLIMIT_NOFILE)").0
    }

    /// The hard limit (the ceiling for the soft one).
    pub fn hard(&self) -> u64 {
        self.saved.1
    }
}

impl Drop for FdLimit {
    fn drop(&mut self) {
        let (soft, hard) = self.saved;
        if let Err(e) = Resource::NOFILE.set(soft, hard) {
            eprintln!("restoring RLIMIT_NOFILE to {soft}/{hard}: {e}");
        }
    }
}

/// Raises the soft fd limit to the hard one (capped at Linux's default `nr_open`,
/// 1,048,576: a soft limit of "unlimited" is refused for RLIMIT_NOFILE).
pub fn raise_fd_limit() -> FdLimit {
    let saved = Resource::NOFILE.get().expect("getrlimit(RLIMIT_NOFILE)");
    let target = saved.1.min(1 << 20);
    if target > saved.0 {
        Resource::NOFILE
            .set(target, saved.1)
            .expect("raising RLIMIT_NOFILE to the hard limit");
    }
    FdLimit { saved }
}

/// Lowers the soft fd limit to `soft` until the guard drops.
pub fn lower_fd_limit(soft: u64) -> FdLimit {
    let saved = Resource::NOFILE.get().expect("getrlimit(RLIMIT_NOFILE)");
    Resource::NOFILE
        .set(soft.min(saved.1), saved.1)
        .expect("lowering RLIMIT_NOFILE");
    FdLimit { saved }
}

/// A deadline that names what it guards when it passes.
#[derive(Clone, Copy)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    pub fn after(d: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + d,
        }
    }

    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }
}

/// Bytes in binary units, for the printed figures.
pub struct Bytes(pub f64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        match b.abs() {
            x if x >= (1 << 30) as f64 => write!(f, "{:.2} GiB", b / (1u64 << 30) as f64),
            x if x >= (1 << 20) as f64 => write!(f, "{:.2} MiB", b / (1u64 << 20) as f64),
            x if x >= 10_240.0 => write!(f, "{:.1} KiB", b / 1024.0),
            _ => write!(f, "{b:.0} B"),
        }
    }
}
