//! Lists the backends compiled into this build with what each offers, tells which one
//! `DefaultSelector` is and which one `AnySelector::from_env()` picks, then times a
//! one-byte ping-pong through every backend.
//!
//! ```sh
//! cargo run --release --example backends
//! cargo run --release --example backends -- --seconds 3
//! SELECTIO_BACKEND=poll cargo run --release --example backends
//! ```

use std::io;
use std::time::Duration;

use selectio::backends::BACKEND_ENV;
use selectio::selector::Support;
use selectio::{AnySelector, Backend, DefaultSelector, Selector};

const USAGE: &str = "\
Lists the selectio backends compiled into this build and times a one-byte ping-pong
through each of them.

Usage: backends [--seconds N]

Options:
  --seconds N   how long to run the ping-pong on each backend (default 1; fractions allowed)
  -h, --help    print this help

Environment:
  SELECTIO_BACKEND=epoll|kqueue|poll|polling   the backend AnySelector::from_env() tries first
";

fn main() {
    let seconds = match parse_args(std::env::args().skip(1)) {
        Ok(Some(seconds)) => seconds,
        Ok(None) => {
            print!("{USAGE}");
            return;
        }
        Err(msg) => {
            eprintln!("backends: {msg}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    print_capabilities();
    print_choices();
    if let Err(err) = print_pingpong(seconds) {
        eprintln!("backends: {err}");
        std::process::exit(1);
    }
}

/// The ping-pong duration per backend, or `None` for `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Duration>, String> {
    let mut seconds = 1.0;
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--seconds" => args.next().ok_or("--seconds needs a value")?,
            other => match other.strip_prefix("--seconds=") {
                Some(value) => value.to_string(),
                None => return Err(format!("unknown argument {other:?}")),
            },
        };
        seconds = value
            .parse::<f64>()
            .map_err(|e| format!("--seconds {value:?}: {e}"))?;
    }
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .map(Some)
        .ok_or_else(|| format!("--seconds {seconds}: expected a positive number of seconds"))
}

/// One row per compiled-in backend: how it supports each mode.
fn print_capabilities() {
    let compiled: Vec<&str> = Backend::available().map(Backend::name).collect();
    let missing: Vec<&str> = Backend::ALL
        .into_iter()
        .filter(|b| !b.is_compiled())
        .map(Backend::name)
        .collect();
    println!(
        "Backends compiled in (priority order): {}",
        compiled.join(", ")
    );
    if !missing.is_empty() {
        println!(
            "Not compiled in (feature off or no such kernel interface here): {}",
            missing.join(", ")
        );
    }
    let mut rows = vec![row(["backend", "Level", "Edge", "Oneshot"])];
    for backend in Backend::available() {
        match AnySelector::with_backend(backend) {
            Ok(sel) => {
                let caps = sel.capabilities();
                let [level, edge, oneshot] = selectio::Mode::ALL.map(|m| support(caps.support(m)));
                rows.push(row([backend.name(), level, edge, oneshot]));
            }
            Err(err) => rows.push(vec![
                backend.name().to_string(),
                format!("cannot start: {err}"),
            ]),
        }
    }
    println!();
    print_table(&rows);
}

fn support(support: Support) -> &'static str {
    match support {
        Support::Native => "native",
        Support::Emulated => "emulated",
        Support::Unsupported => "unsupported",
    }
}

/// What `DefaultSelector` is, and what `AnySelector::from_env()` picks and why.
fn print_choices() {
    println!();
    match DefaultSelector::new() {
        Ok(sel) => println!(
            "DefaultSelector: {} (first compiled in of epoll → kqueue → polling → poll)",
            sel.name()
        ),
        Err(err) => println!("DefaultSelector: cannot start: {err}"),
    }
    let requested = match std::env::var(BACKEND_ENV) {
        Ok(value) => format!("{BACKEND_ENV}={value:?}"),
        Err(_) => format!("{BACKEND_ENV} unset"),
    };
    match AnySelector::from_env() {
        Ok(sel) => {
            println!("AnySelector::from_env() ({requested}): {}", sel.backend());
            for (backend, err) in sel.fallbacks() {
                println!("  fell back past {backend}: {err}");
            }
        }
        Err(err) => println!("AnySelector::from_env() ({requested}): error: {err}"),
    }
}

/// Times the ping-pong on every compiled-in backend and prints the rates.
fn print_pingpong(duration: Duration) -> io::Result<()> {
    println!(
        "\nOne-byte ping-pong over a Unix stream socket pair (non-blocking), one thread, \
         through AnySelector, Level mode, {:.2} s per backend.\nA round trip: A writes 1 byte, \
         select reports B readable, B reads it and writes 1 byte back, select reports A \
         readable, A reads it.\n",
        duration.as_secs_f64()
    );
    let mut rows = vec![row([
        "backend",
        "round trips",
        "round trips/s",
        "µs/round trip",
    ])];
    for backend in Backend::available() {
        let sel = match AnySelector::with_backend(backend) {
            Ok(sel) => sel,
            Err(err) => {
                rows.push(vec![
                    backend.name().to_string(),
                    format!("cannot start: {err}"),
                ]);
                continue;
            }
        };
        let (trips, elapsed) = pingpong::run(&sel, duration)?;
        let secs = elapsed.as_secs_f64();
        rows.push(vec![
            backend.name().to_string(),
            trips.to_string(),
            format!("{:.0}", trips as f64 / secs),
            format!("{:.2}", secs * 1e6 / trips.max(1) as f64),
        ]);
    }
    print_table(&rows);
    Ok(())
}

#[cfg(unix)]
mod pingpong {
    use std::io::{self, Read, Write};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;
    use std::time::{Duration, Instant};

    use selectio::{Events, Interest, Mode, Selector, Token};

    const A: Token = Token(1);
    const B: Token = Token(2);

    /// Round trips for `duration` through `sel`; returns their count and the time taken.
    pub fn run<S: Selector>(sel: &S, duration: Duration) -> io::Result<(u64, Duration)> {
        let (mut a, mut b) = UnixStream::pair()?;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        sel.register(a.as_fd(), A, Interest::READABLE, Mode::Level)?;
        sel.register(b.as_fd(), B, Interest::READABLE, Mode::Level)?;
        let mut events = Events::with_capacity(16)?;
        let start = Instant::now();
        let mut trips = 0u64;
        // Reading the clock every 64 round trips keeps it out of the measurement.
        let result = loop {
            if trips.is_multiple_of(64) && start.elapsed() >= duration {
                break Ok(());
            }
            if let Err(err) = round_trip(sel, &mut events, &mut a, &mut b) {
                break Err(err);
            }
            trips += 1;
        };
        let elapsed = start.elapsed();
        sel.deregister(a.as_fd())?;
        sel.deregister(b.as_fd())?;
        result.map(|()| (trips, elapsed))
    }

    fn round_trip<S: Selector>(
        sel: &S,
        events: &mut Events<S>,
        a: &mut UnixStream,
        b: &mut UnixStream,
    ) -> io::Result<()> {
        a.write_all(b"p")?;
        wait_readable(sel, events, B)?;
        b.read_exact(&mut [0])?;
        b.write_all(b"p")?;
        wait_readable(sel, events, A)?;
        a.read_exact(&mut [0])
    }

    fn wait_readable<S: Selector>(sel: &S, events: &mut Events<S>, token: Token) -> io::Result<()> {
        loop {
            sel.select(events, None)?;
            if events.iter().any(|e| e.token() == token && e.is_readable()) {
                return Ok(());
            }
        }
    }
}

#[cfg(not(unix))]
mod pingpong {
    use std::io;
    use std::time::Duration;

    /// The ping-pong uses a Unix socket pair; elsewhere it is not run.
    pub fn run<S: selectio::Selector>(
        _sel: &S,
        _duration: Duration,
    ) -> io::Result<(u64, Duration)> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the ping-pong uses a Unix socket pair: not available on this platform",
        ))
    }
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.map(str::to_string).to_vec()
}

/// Prints `rows` (the first is the header) as a Markdown table with aligned columns; a
/// short row is padded with empty cells.
fn print_table(rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let cell = |row: &[String], c: usize| row.get(c).map_or("", String::as_str).to_string();
    let width = |c: usize| {
        rows.iter()
            .map(|r| cell(r, c).chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..columns).map(width).collect();
    let line = |cells: Vec<String>| println!("| {} |", cells.join(" | "));
    for (n, row) in rows.iter().enumerate() {
        let pad = |c: usize| {
            let s = cell(row, c);
            let fill = " ".repeat(widths[c] - s.chars().count());
            s + &fill
        };
        line((0..columns).map(pad).collect());
        if n == 0 {
            line(widths.iter().map(|&w| "-".repeat(w)).collect());
        }
    }
}
