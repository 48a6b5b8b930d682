//! Command-line flags.

use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
Compares selectio's EventLoop on every backend compiled in with peers running the same
per-connection logic (a raw epoll loop - the reference -, a raw poll(2) loop, mio 1.x and
the polling crate used directly) on a TCP echo workload, then times an idle-scaling
ping-pong. Prints a table per configuration and writes Markdown, JSON and SVG charts.

Usage: cargo run --release --example compare -- [OPTIONS]

Options:
  --quick               3 rounds x 0.5 s and a short idle-scaling run (about a minute):
                        checks that every contender works, too short to judge the
                        targets (that needs 6 rounds or more)
  --rounds N            rounds per configuration; a round gives every contender
                        --duration of measured load (default 10)
  --duration SECS       measured load of one contender in one round, cut into slices
                        (default 2)
  --slice SECS          longest slice: the load of a round (and of the warm-up) is cut
                        into equal slices of at most this, given to the contenders in
                        turn (default 0.1)
  --warmup SECS         unmeasured load per contender, once per configuration before
                        the first round, in slices too (default: a tenth of --duration,
                        at least 0.05)
  --connections LIST    client connections C, comma-separated (default 1,64)
  --message LIST        message sizes M in bytes, comma-separated (default 64,4096)
  --pipeline P          messages in flight per connection (default 1: ping-pong)
  --pin same|split|none where the server and client threads run: both on one CPU,
                        on two different CPUs, or wherever the scheduler likes
                        (default: same on machines with 2 CPUs or fewer, else none)
  --mode edge|level|oneshot
                        how connections are registered where the mechanism offers
                        it (default edge; mio is always edge, poll(2) always level);
                        oneshot re-arms after every event, without mio and poll(2),
                        and adds EventLoop<Epoll> edge (no re-arm at all)
  --only LIST           run only the contenders whose names contain one of these
                        comma-separated words; a word that is a whole name picks that
                        contender alone (raw epoll, the reference, always runs)
  --selectors           also run each backend through the bare Selector trait, without
                        the EventLoop (a diagnostic: splits the loop's overhead from
                        the backend's)
  --idle LIST           idle socket counts of the idle-scaling run (default
                        10,100,1000,10000; counts beyond the open-file limit are skipped)
  --idle-duration SECS  time per contender and count (default 0.2; --quick 0.05)
  --no-idle             skip the idle-scaling run
  --check-allocs        count the EventLoop servers' allocations while the client
                        measures and report them per request (target: zero); needs
                        --features conformance (the counting allocator)
  --out DIR             where the reports go (default target/selectio-compare)
  -h, --help            print this help

Method: for one configuration every contender's server runs at once, each on its own
thread and listener, and one client thread holds C connections to each. Load comes in
slices: a slice gives one contender P messages in flight on each of its connections
(nobody else has any), keeps the ping-pong going for the slice's time, then waits for
every echo. Its requests, wall time (start to the end of that wait), server-thread CPU
time and latencies are the slice's figures. The slices cycle through the contenders in
an order that changes every cycle (a balanced Latin square: over the cycles each
contender follows every other equally often). A contender's round figures are the sums
of its slices in the round: throughput = requests / summed time, CPU per request =
summed CPU / requests, latency quantiles over all its requests of the round.

Every echoed byte is checked; any mismatch or I/O error makes the exit status 1.
Ratios are paired within a round (contender / raw epoll of the same round), then
summarised as median [min-max] over the rounds: a median of ratios, which can differ from
the ratio of two medians, as those may come from different rounds. Absolute numbers vary
between machines; only the ratios of one run compare.
";

/// Where the server and client threads run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    Same,
    Split,
    None,
}

/// Everything the flags set.
#[derive(Debug, Clone)]
pub struct Settings {
    pub rounds: usize,
    pub duration: Duration,
    /// The longest slice of load one contender gets at a time.
    pub slice: Duration,
    pub warmup: Duration,
    pub connections: Vec<usize>,
    pub messages: Vec<usize>,
    pub pipeline: usize,
    /// `None`: decided from the CPU count.
    pub pin: Option<Pin>,
    pub edge: bool,
    /// `--mode oneshot`: re-arm after every event (contenders without Oneshot sit out).
    pub oneshot: bool,
    pub only: Vec<String>,
    pub idle: Vec<usize>,
    pub idle_duration: Duration,
    pub check_allocs: bool,
    pub selectors: bool,
    pub out: PathBuf,
    pub quick: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            rounds: 10,
            duration: Duration::from_secs(2),
            slice: Duration::from_millis(100),
            warmup: Duration::from_millis(200),
            connections: vec![1, 64],
            messages: vec![64, 4096],
            pipeline: 1,
            pin: None,
            edge: true,
            oneshot: false,
            only: Vec::new(),
            idle: vec![10, 100, 1000, 10_000],
            idle_duration: Duration::from_millis(200),
            check_allocs: false,
            selectors: false,
            out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/selectio-compare"),
            quick: false,
        }
    }
}

/// The settings, or `None` for `--help`.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Settings>, String> {
    let mut s = Settings::default();
    let (mut rounds, mut duration, mut warmup, mut idle_duration) = (None, None, None, None);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--quick" => s.quick = true,
            "--no-idle" => s.idle.clear(),
            "--check-allocs" => s.check_allocs = true,
            "--selectors" => s.selectors = true,
            "--rounds" => rounds = Some(number(&flag, &value()?)?),
            "--duration" => duration = Some(seconds(&flag, &value()?)?),
            "--warmup" => warmup = Some(seconds(&flag, &value()?)?),
            "--slice" => s.slice = seconds(&flag, &value()?)?,
            "--idle-duration" => idle_duration = Some(seconds(&flag, &value()?)?),
            "--connections" => s.connections = list(&flag, &value()?)?,
            "--message" => s.messages = list(&flag, &value()?)?,
            "--pipeline" => s.pipeline = number(&flag, &value()?)?,
            "--idle" => s.idle = list(&flag, &value()?)?,
            "--pin" => s.pin = Some(pin(&value()?)?),
            "--mode" => (s.edge, s.oneshot) = mode(&value()?)?,
            "--only" => s.only = value()?.split(',').map(str::to_lowercase).collect(),
            "--out" => s.out = PathBuf::from(value()?),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    if s.quick {
        s.rounds = 3;
        s.duration = Duration::from_millis(500);
        s.idle_duration = Duration::from_millis(50);
    }
    s.rounds = rounds.unwrap_or(s.rounds);
    s.duration = duration.unwrap_or(s.duration);
    s.idle_duration = idle_duration.unwrap_or(s.idle_duration);
    s.warmup = warmup.unwrap_or((s.duration / 10).max(Duration::from_millis(50)));
    Ok(Some(s))
}

fn number(flag: &str, v: &str) -> Result<usize, String> {
    match v.trim().replace('_', "").parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag}: {v:?} is not a positive whole number")),
    }
}

fn list(flag: &str, v: &str) -> Result<Vec<usize>, String> {
    v.split(',').map(|x| number(flag, x)).collect()
}

fn seconds(flag: &str, v: &str) -> Result<Duration, String> {
    match v.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x < 3600.0 => Ok(Duration::from_secs_f64(x)),
        _ => Err(format!(
            "{flag}: {v:?} is not a number of seconds (0 < s < 3600)"
        )),
    }
}

fn pin(v: &str) -> Result<Pin, String> {
    match v {
        "same" => Ok(Pin::Same),
        "split" => Ok(Pin::Split),
        "none" => Ok(Pin::None),
        _ => Err(format!("--pin: {v:?} is not same, split or none")),
    }
}

/// `(edge, oneshot)`.
fn mode(v: &str) -> Result<(bool, bool), String> {
    match v {
        "edge" => Ok((true, false)),
        "level" => Ok((false, false)),
        "oneshot" => Ok((false, true)),
        _ => Err(format!("--mode: {v:?} is not edge, level or oneshot")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: &[&str]) -> Settings {
        parse(args.iter().map(|s| s.to_string())).unwrap().unwrap()
    }

    #[test]
    fn quick_sets_rounds_and_duration_but_flags_win() {
        let s = parse_ok(&["--quick", "--rounds=5"]);
        assert_eq!((s.rounds, s.duration), (5, Duration::from_millis(500)));
        assert_eq!(s.warmup, Duration::from_millis(50));
        assert_eq!(s.slice, Duration::from_millis(100));
        let s = parse_ok(&["--connections", "1,8,64", "--pin", "split", "--mode=level"]);
        assert_eq!(s.connections, vec![1, 8, 64]);
        assert_eq!((s.pin, s.edge), (Some(Pin::Split), false));
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            &["--rounds", "0"][..],
            &["--pin", "both"],
            &["--duration"],
            &["--slice", "0"],
            &["-x"],
        ] {
            assert!(parse(bad.iter().map(|s| s.to_string())).is_err(), "{bad:?}");
        }
    }
}
