//! What the benches share: the quick-run switch, numbers from the environment, the
//! thread's CPU clock and "median [min–max]" summaries. Each bench takes it in with
//! `mod common;` and uses the part it needs.
//!
//! `thread_cpu_time` calls `clock_gettime(2)` through libc: benches are not library
//! code, and its `unsafe` block says why it is sound.

// Each bench uses a part of this module.
#![allow(dead_code)]

use std::fmt::Display;
use std::io;
use std::str::FromStr;
#[cfg(unix)]
use std::time::Duration;

/// Whether to keep the run short: `SELECTIO_BENCH_QUICK=1`, or no `--bench` argument
/// (`cargo bench` passes it; `cargo test --benches` does not, and runs each bench once
/// as a smoke test).
pub fn quick() -> bool {
    std::env::var("SELECTIO_BENCH_QUICK").is_ok_and(|v| v == "1")
        || !std::env::args().any(|a| a == "--bench")
}

/// The number in the environment variable `name`, if it is set; an `InvalidInput` error
/// naming the variable if it does not parse.
pub fn env_number<T: FromStr>(name: &str) -> io::Result<Option<T>>
where
    T::Err: Display,
{
    match std::env::var(name) {
        Ok(v) => {
            v.trim().parse().map(Some).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("{name}={v:?}: {e}"))
            })
        }
        Err(_) => Ok(None),
    }
}

/// Ends the bench: on an error, prints it after the bench's name and exits with status 1.
pub fn exit_on_error(bench: &str, result: io::Result<()>) {
    if let Err(err) = result {
        eprintln!("{bench} bench: {err}");
        std::process::exit(1);
    }
}

/// Median (of an even count, the mean of the middle two), min and max.
pub fn stats(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

/// "median [min–max]" of `values`, with `digits` decimals.
pub fn summary(values: Vec<f64>, digits: usize) -> String {
    let (median, min, max) = stats(values);
    format!("{median:.digits$} [{min:.digits$}–{max:.digits$}]")
}

/// CPU time the calling thread has used (`CLOCK_THREAD_CPUTIME_ID`): time spent
/// preempted by other processes does not count.
#[cfg(unix)]
#[allow(unsafe_code)]
#[doc(alias = "clock_gettime")]
pub fn thread_cpu_time() -> io::Result<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`, which outlives the call.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}
