//! The backend comparison: selectio's `EventLoop` on every backend compiled in against
//! peers running the same per-connection logic — a hand-written raw epoll loop (the
//! reference), a raw poll(2) loop, mio 1.x and the `polling` crate used directly — on a
//! TCP echo workload, side by side in one run; then an idle-scaling ping-pong.
//!
//! ```sh
//! cargo run --release --example compare                      # 10 rounds x 2 s, ~10 min
//! cargo run --release --example compare -- --quick           # 3 rounds x 0.5 s, ~1 min
//! cargo run --release --example compare --features conformance -- --check-allocs
//! cargo run --release --example compare -- --help            # every flag
//! ```
//!
//! Every backend this host runs takes part without `--features`: the crate's
//! dev-dependency on itself turns the `polling` backend on for its examples, tests and
//! benches only, never for the library's users.
//!
//! Contenders are interleaved: all their servers run at once and the client gives them
//! load in turn in short slices (`--slice`, 0.1 s), `--duration` per contender per round;
//! ratios are taken within a round before the median and min–max over rounds are shown.
//! The load client, on another thread of this process, checks every echoed byte and
//! measures each request's latency; a server's CPU time in a slice comes from its
//! thread's CPU clock. On machines with 2 CPUs or
//! fewer the server and the client share one CPU (`--pin same`): a wake-up across vCPUs
//! costs several times more and swings from round to round, which would drown the
//! differences being measured.
//!
//! Files: `examples/compare/` — `echo.rs` (the per-connection logic every server
//! shares), `client.rs`, `contenders.rs` (EventLoop, mio, polling), `raw.rs` (raw epoll
//! and poll(2), `unsafe`), `os.rs` (affinity, CPU clocks, rlimit, `unsafe`), `idle.rs`,
//! `stats.rs`, `report.rs`, `table.rs` (also printed by `benches/selector.rs`), `chart.rs`,
//! `args.rs`.

#[cfg(target_os = "linux")]
#[path = "compare/args.rs"]
mod args;
#[cfg(target_os = "linux")]
#[path = "compare/chart.rs"]
mod chart;
#[cfg(target_os = "linux")]
#[path = "compare/client.rs"]
mod client;
#[cfg(target_os = "linux")]
#[path = "compare/contenders.rs"]
mod contenders;
#[cfg(target_os = "linux")]
#[path = "compare/echo.rs"]
mod echo;
#[cfg(target_os = "linux")]
#[path = "compare/idle.rs"]
mod idle;
#[cfg(target_os = "linux")]
#[path = "compare/os.rs"]
mod os;
#[cfg(target_os = "linux")]
#[path = "compare/raw.rs"]
mod raw;
#[cfg(target_os = "linux")]
#[path = "compare/report.rs"]
mod report;
#[cfg(target_os = "linux")]
#[path = "compare/run.rs"]
mod run;

#[cfg(target_os = "linux")]
#[path = "compare/stats.rs"]
mod stats;
#[cfg(target_os = "linux")]
#[path = "compare/table.rs"]
mod table;

/// `--check-allocs` counts the EventLoop servers' allocations with this.
#[cfg(feature = "conformance")]
#[global_allocator]
static ALLOCATOR: selectio::conformance::CountingAllocator =
    selectio::conformance::CountingAllocator;

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    use std::process::ExitCode;
    let settings = match args::parse(std::env::args().skip(1)) {
        Ok(Some(settings)) => settings,
        Ok(None) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("compare: {msg}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    if settings.check_allocs && !cfg!(feature = "conformance") {
        eprintln!(
            "compare: --check-allocs counts allocations with selectio's CountingAllocator, \
             which the `conformance` feature exports; run\n  \
             cargo run --release --example compare --features conformance -- --check-allocs"
        );
        return ExitCode::from(2);
    }
    match run::main(settings) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("compare: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!(
        "compare: its reference peers are raw epoll and poll(2) loops and its CPU clocks \
         are Linux's, so it runs on Linux only; skipped"
    );
}
