//! The benchmark's course: the echo grid in interleaved slices, the idle-scaling run,
//! the tables and the files.
//!
//! One configuration (C, M, P) of the echo grid starts every contender's server at once,
//! each on its own thread with its own listener; one client thread opens C connections
//! to each. Load then comes in slices of `--slice` (the span cut into equal slices of at
//! most that): a slice gives one contender load while the others have nothing in flight
//! (see `client.rs`). Slices go in cycles, each contender once per cycle, in an order
//! that changes every cycle ([`cycle_order`]). First `--warmup` of unmeasured slices per
//! contender, once per configuration; then each round gives every contender `--duration`
//! of measured slices, and a contender's round figures are the sums of its slices:
//! requests / summed wall time, summed server CPU time / requests, quantiles of the
//! round's latencies. The contenders compared in one round were thus measured over the
//! same span of time, their slices side by side, so a shared machine's drift over
//! seconds weighs on all of them alike instead of on whichever ran at the time.

use std::io;
use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{Pin, Settings};
use crate::client::{Client, Load, Outcome, Pattern};
use crate::contenders::{self, Contender, RAW_EPOLL};
use crate::echo::{Phase, ServerArgs, ServerStats};
use crate::idle::{self, IdleArgs};
use crate::report::{self, Config, IdleRow, Report, Run};
use crate::stats::Summary;
use crate::{chart, os};

/// Open files the idle-scaling run keeps beside its idle sockets.
const FD_HEADROOM: u64 = 64;

/// Which CPU the server and the client threads run on.
#[derive(Debug, Clone)]
struct CpuPlan {
    server: Option<usize>,
    client: Option<usize>,
    text: String,
}

impl CpuPlan {
    fn new(pin: Option<Pin>, cpus: &[usize]) -> CpuPlan {
        let n = cpus.len();
        let pin = pin.unwrap_or(if n <= 2 { Pin::Same } else { Pin::None });
        let last = cpus.last().copied();
        match (pin, cpus) {
            (Pin::Split, [a, b, ..]) => CpuPlan {
                server: Some(*a),
                client: Some(*b),
                text: format!("split: server on CPU {a}, client on CPU {b} ({n} CPUs)"),
            },
            (Pin::None, _) | (_, []) => CpuPlan {
                server: None,
                client: None,
                text: format!("none: the scheduler places server and client ({n} CPUs)"),
            },
            (Pin::Split, _) | (Pin::Same, _) => CpuPlan {
                server: last,
                client: last,
                text: format!(
                    "same: server and client on CPU {} ({n} CPU{})",
                    last.unwrap_or(0),
                    if n == 1 { "" } else { "s" }
                ),
            },
        }
    }
}

/// Runs everything; `Ok(false)` when an echo was wrong or failed (or allocated, with
/// `--check-allocs`).
pub fn main(s: Settings) -> io::Result<bool> {
    let cpus = os::allowed_cpus()?;
    let plan = CpuPlan::new(s.pin, &cpus);
    let nofile = os::raise_nofile_limit()?;
    let all = contenders::all(s.selectors, s.oneshot);
    let names: Vec<&str> = all.iter().map(|c| c.name).collect();
    let all: Vec<Contender> = all
        .into_iter()
        .filter(|c| c.name == RAW_EPOLL || selected(c.name, &s.only, &names))
        .filter(|c| c.oneshot || !s.oneshot)
        .collect();
    let most = s.connections.iter().copied().max().unwrap_or(0);
    check_open_files(all.len(), most, nofile)?;
    let meta = meta(&s, &plan, &cpus, &all);
    for (k, v) in &meta {
        println!("{k}: {v}");
    }
    println!("{}", report::PAIRED_RATIO);
    let grid: Vec<(usize, usize)> = s
        .connections
        .iter()
        .flat_map(|&c| s.messages.iter().map(move |&m| (c, m)))
        .collect();
    let idle_rounds = s.rounds.min(5);
    // One step per slice; an idle step counts as the slices it lasts, for a fair ETA.
    let per_config =
        Slices::new(s.warmup, s.slice).count + s.rounds * Slices::new(s.duration, s.slice).count;
    let steps = grid.len() * all.len() * per_config
        + s.idle.len() * idle_rounds * all.len() * idle_weight(&s);
    let bar = progress_bar(steps as u64);
    let pattern = Pattern::new();
    let mut report = Report {
        meta,
        names: all.iter().map(|c| c.name).collect(),
        configs: Vec::new(),
        idle: Vec::new(),
        idle_notes: Vec::new(),
        check_allocs: s.check_allocs,
        quick: s.quick,
        oneshot: s.oneshot,
    };
    for &(connections, message) in &grid {
        let load = Load {
            connections,
            message,
            pipeline: s.pipeline,
        };
        let config = run_config(&all, load, &s, &plan, &pattern, &bar)?;
        bar.suspend(|| {
            println!("\n## {}\n", config.label());
            print!("{}", report::table(&report.config_rows(&config)));
            let targets = report.target_rows(&config);
            if targets.len() > 1 {
                print!("\n{}", report::table(&targets));
            }
        });
        report.configs.push(config);
    }
    let (rows, notes) = idle_scaling(&all, &s, &plan, nofile, idle_rounds, &bar)?;
    bar.finish_and_clear();
    report.idle = rows;
    report.idle_notes = notes;
    print_idle(&report);
    write_files(&report, &s)?;
    if let Some(limits) = report.limits() {
        println!("\n{limits}");
    }
    Ok(verdict(&report))
}

/// Whether `--only`'s lower-cased words pick `name`: a word that is a contender's whole
/// name picks that contender alone (`EventLoop<Epoll>`, not `EventLoop<Epoll> edge`),
/// any other word every name that contains it.
fn selected(name: &str, only: &[String], names: &[&str]) -> bool {
    let name = name.to_lowercase();
    let whole = |w: &str| names.iter().any(|n| n.to_lowercase() == w);
    only.is_empty()
        || only.iter().any(|w| {
            if whole(w) {
                name == *w
            } else {
                name.contains(w.as_str())
            }
        })
}

fn progress_bar(steps: u64) -> ProgressBar {
    let bar = ProgressBar::new(steps);
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} (eta {eta}) {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Every contender's connections are open at once, both ends in this process.
fn check_open_files(contenders: usize, connections: usize, nofile: u64) -> io::Result<()> {
    let needed = (2 * contenders * (connections + 1)) as u64 + FD_HEADROOM;
    if needed > nofile {
        return Err(io::Error::other(format!(
            "C={connections} with {contenders} contenders needs about {needed} open files, \
             and the limit is {nofile} even raised to its hard limit (raise it with \
             `ulimit -n`, or run fewer contenders with --only)"
        )));
    }
    Ok(())
}

/// A contender's server for one configuration: its own thread and listener.
struct Server {
    name: &'static str,
    addr: SocketAddr,
    /// The server thread's CPU clock.
    clock: libc::clockid_t,
    phase: Arc<Phase>,
    /// It counts its allocations (`--check-allocs`, an EventLoop server).
    counting: bool,
    thread: thread::JoinHandle<io::Result<ServerStats>>,
}

impl Server {
    /// Binds a listener and starts the server thread on it, pinned as planned; returns
    /// once the thread runs.
    fn start(
        c: &Contender,
        connections: usize,
        s: &Settings,
        plan: &CpuPlan,
    ) -> io::Result<Server> {
        let listener = selectio::net::TcpListener::bind(([127, 0, 0, 1], 0).into())?.into_std();
        let addr = listener.local_addr()?;
        let phase = Arc::new(Phase::default());
        let counting = s.check_allocs && c.event_loop;
        let args = ServerArgs {
            listener,
            connections,
            edge: s.edge,
            oneshot: s.oneshot,
            check_allocs: counting,
            phase: phase.clone(),
        };
        let (clock_tx, clock_rx) = mpsc::sync_channel(1);
        let (serve, cpu) = (c.serve, plan.server);
        // Not scoped: if the client fails, a server may wait for connections forever,
        // and the error ends the process instead.
        let thread = thread::Builder::new()
            .name(format!("server {}", c.name))
            .spawn(move || {
                if let Some(cpu) = cpu {
                    os::pin_current_thread(cpu)?;
                }
                let _ = clock_tx.send(os::current_thread_clock()?);
                serve(args)
            })?;
        let Ok(clock) = clock_rx.recv() else {
            let why = join_server(c.name, thread).err();
            let why = why.unwrap_or_else(|| format!("{}: the server did not start", c.name));
            return Err(io::Error::other(why));
        };
        Ok(Server {
            name: c.name,
            addr,
            clock,
            phase,
            counting,
            thread,
        })
    }
}

/// Waits for a server's end: its figures, or its error or panic with its name.
fn join_server(
    name: &str,
    thread: thread::JoinHandle<io::Result<ServerStats>>,
) -> Result<ServerStats, String> {
    match thread.join() {
        Ok(Ok(stats)) => Ok(stats),
        Ok(Err(e)) => Err(format!("{name}: server: {e}")),
        Err(_) => Err(format!("{name}: the server panicked")),
    }
}

/// One configuration: every contender's server at once, one client thread for all of
/// them (see [`drive`]), then the servers' ends. `runs[contender][round]`.
fn run_config(
    all: &[Contender],
    load: Load,
    s: &Settings,
    plan: &CpuPlan,
    pattern: &Pattern,
    bar: &ProgressBar,
) -> io::Result<Config> {
    let servers = all
        .iter()
        .map(|c| Server::start(c, load.connections, s, plan))
        .collect::<io::Result<Vec<_>>>()?;
    let client_cpu = plan.client;
    let driven = thread::scope(|scope| {
        let client = scope.spawn(|| {
            if let Some(cpu) = client_cpu {
                os::pin_current_thread(cpu)?;
            }
            drive(&servers, load, s, pattern, bar)
        });
        client.join()
    });
    let outcomes = match driven {
        Ok(Ok(outcomes)) => outcomes,
        Ok(Err(e)) => return Err(client_failed(e, servers)),
        Err(_) => return Err(io::Error::other("the client panicked")),
    };
    let mut runs = Vec::with_capacity(all.len());
    let mut failures = Vec::new();
    for (server, outcomes) in servers.into_iter().zip(outcomes) {
        match join_server(server.name, server.thread) {
            Ok(stats) => runs.push(contender_runs(&outcomes, stats)),
            Err(why) => failures.push(why),
        }
    }
    if !failures.is_empty() {
        return Err(io::Error::other(failures.join("; ")));
    }
    Ok(Config {
        connections: load.connections,
        message: load.message,
        pipeline: load.pipeline,
        runs,
    })
}

/// A client error, with the errors of the servers that already ended (a server that
/// failed first, unable to pin itself say, explains the client's failure better).
fn client_failed(e: io::Error, servers: Vec<Server>) -> io::Error {
    let mut why = e.to_string();
    for server in servers.into_iter().filter(|s| s.thread.is_finished()) {
        if let Err(server_error) = join_server(server.name, server.thread) {
            why.push_str(&format!("; {server_error}"));
        }
    }
    io::Error::new(e.kind(), why)
}

/// A contender's rounds as runs; the server's errors and allocations (counted over all
/// the rounds at once) go to the last round.
fn contender_runs(outcomes: &[Outcome], stats: ServerStats) -> Vec<Run> {
    let mut runs: Vec<Run> = outcomes
        .iter()
        .map(|o| Run {
            rps: o.requests as f64 / o.elapsed.as_secs_f64(),
            p50_ns: o.p50_ns,
            p99_ns: o.p99_ns,
            p999_ns: o.p999_ns,
            cpu_ns: o.server_cpu.as_nanos() as f64 / o.requests as f64,
            requests: o.requests,
            mismatches: o.mismatches,
            errors: o.errors,
            allocations: stats.allocations.map(|_| 0),
        })
        .collect();
    if let Some(last) = runs.last_mut() {
        last.errors += stats.errors;
        last.allocations = stats.allocations;
    }
    runs
}

/// The client thread's part of one configuration: it connects to every server, warms
/// each contender up in slices, runs the rounds in slices, and ends the counting
/// servers' windows; the connections close when it returns, which ends the servers.
/// `outcomes[contender][round]`.
fn drive(
    servers: &[Server],
    load: Load,
    s: &Settings,
    pattern: &Pattern,
    bar: &ProgressBar,
) -> io::Result<Vec<Vec<Outcome>>> {
    let mut clients = Vec::with_capacity(servers.len());
    for server in servers {
        let client = Client::connect(server.addr, load, server.clock, pattern);
        clients.push(client.map_err(|e| client_error(server.name, e))?);
    }
    let label = format!("C={} M={}", load.connections, load.message);
    let mut cycle = 0;
    bar.set_message(format!("{label} warm-up"));
    let warm = Slices::new(s.warmup, s.slice);
    slices(&mut clients, servers, warm, &mut cycle, bar, Client::warm)?;
    for server in servers.iter().filter(|server| server.counting) {
        server.phase.set(Phase::MEASURE);
    }
    let mut outcomes = vec![Vec::with_capacity(s.rounds); servers.len()];
    for round in 0..s.rounds {
        bar.set_message(format!("{label} round {}/{}", round + 1, s.rounds));
        let measured = Slices::new(s.duration, s.slice);
        slices(
            &mut clients,
            servers,
            measured,
            &mut cycle,
            bar,
            Client::measure,
        )?;
        for (o, client) in outcomes.iter_mut().zip(&mut clients) {
            o.push(client.finish_round());
        }
    }
    for ((client, server), o) in clients.iter_mut().zip(servers).zip(&mut outcomes) {
        if server.counting {
            let counted = client.await_counted(&server.phase);
            counted.map_err(|e| client_error(server.name, e))?;
        }
        let rest = client.finish_round();
        if let Some(last) = o.last_mut() {
            last.mismatches += rest.mismatches;
            last.errors += rest.errors;
        }
    }
    Ok(outcomes)
}

/// Gives every contender `sliced.count` slices, cycle by cycle in [`cycle_order`].
fn slices<'p>(
    clients: &mut [Client<'p>],
    servers: &[Server],
    sliced: Slices,
    cycle: &mut usize,
    bar: &ProgressBar,
    one: impl Fn(&mut Client<'p>, Duration) -> io::Result<()>,
) -> io::Result<()> {
    for _ in 0..sliced.count {
        for i in cycle_order(clients.len(), *cycle) {
            one(&mut clients[i], sliced.length).map_err(|e| client_error(servers[i].name, e))?;
            bar.inc(1);
        }
        *cycle += 1;
    }
    Ok(())
}

fn client_error(name: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{name}: client: {e}"))
}

/// A span of load cut into equal slices of at most `--slice`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Slices {
    count: usize,
    length: Duration,
}

impl Slices {
    fn new(total: Duration, slice: Duration) -> Slices {
        let count = total.as_nanos().div_ceil(slice.as_nanos().max(1)).max(1);
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        Slices {
            count: count as usize,
            length: total / count,
        }
    }
}

/// The order of the contenders in slice cycle `cycle`: row `cycle` of a balanced Latin
/// square (Williams design). Row 0 is 0, 1, n-1, 2, n-2, …; row r adds r to each entry
/// (mod n); for odd n the rows n..2n are rows 0..n reversed. Over n consecutive cycles
/// (2n for odd n) every contender comes first equally often and right after every other
/// contender equally often, so none always follows the same one.
fn cycle_order(n: usize, cycle: usize) -> Vec<usize> {
    let rows = if n.is_multiple_of(2) { n } else { 2 * n };
    let r = cycle % rows.max(1);
    let mut order: Vec<usize> = (0..n)
        .map(|j| {
            let first = if j % 2 == 1 {
                j.div_ceil(2)
            } else {
                (n - j / 2) % n
            };
            (first + r) % n
        })
        .collect();
    if r >= n {
        order.reverse();
    }
    order
}

/// The idle-scaling run, on the server's CPU: rows by idle count, and notes on the counts
/// skipped.
fn idle_scaling(
    all: &[Contender],
    s: &Settings,
    plan: &CpuPlan,
    nofile: u64,
    rounds: usize,
    bar: &ProgressBar,
) -> io::Result<(Vec<IdleRow>, Vec<String>)> {
    let (mut rows, mut notes) = (Vec::new(), Vec::new());
    let weight = idle_weight(s) as u64;
    for &n in &s.idle {
        if n as u64 + FD_HEADROOM > nofile {
            notes.push(format!(
                "{n} idle sockets: skipped, the open-file limit is {nofile} even raised to \
                 its hard limit (raise it with `ulimit -n`)"
            ));
            bar.inc((rounds * all.len()) as u64 * weight);
            continue;
        }
        let sockets = idle::idle_sockets(n)?;
        let args = IdleArgs {
            idle: &sockets,
            edge: s.edge,
            duration: s.idle_duration,
        };
        let mut ns = vec![Vec::with_capacity(rounds); all.len()];
        for round in 0..rounds {
            for k in 0..all.len() {
                let i = (k + round) % all.len();
                bar.set_message(format!(
                    "idle {n} round {}/{rounds}: {}",
                    round + 1,
                    all[i].name
                ));
                let result = thread::scope(|scope| {
                    let run = scope.spawn(|| {
                        if let Some(cpu) = plan.server {
                            os::pin_current_thread(cpu)?;
                        }
                        (all[i].idle)(&args)
                    });
                    run.join()
                })
                .map_err(|_| io::Error::other("the idle run panicked"))?
                .map_err(|e| io::Error::new(e.kind(), format!("{}: idle {n}: {e}", all[i].name)))?;
                ns[i].push(result.ns_per_iteration());
                bar.inc(weight);
            }
        }
        rows.push(IdleRow {
            idle: n,
            ns: ns.iter().map(|v| Summary::of(v)).collect(),
        });
    }
    Ok((rows, notes))
}

/// Progress-bar steps per idle step: the slices its `--idle-duration` would hold.
fn idle_weight(s: &Settings) -> usize {
    Slices::new(s.idle_duration, s.slice).count
}

fn print_idle(report: &Report) {
    if report.idle.is_empty() && report.idle_notes.is_empty() {
        return;
    }
    println!("\n## Idle scaling: N idle registered sockets + one pipe ping-pong (median)\n");
    for note in &report.idle_notes {
        println!("{note}");
    }
    if !report.idle.is_empty() {
        print!("{}", report::table(&report.idle_rows()));
    }
}

fn write_files(report: &Report, s: &Settings) -> io::Result<()> {
    std::fs::create_dir_all(&s.out)?;
    let md = s.out.join("compare.md");
    let json = s.out.join("compare.json");
    let ratios = s.out.join("ratios.svg");
    let idle = s.out.join("idle.svg");
    chart::ratios(report, &ratios)?;
    let idle_chart = if report.idle.is_empty() {
        None
    } else {
        chart::idle(report, &idle)?;
        Some("idle.svg")
    };
    std::fs::write(&md, report.markdown("ratios.svg", idle_chart))?;
    std::fs::write(&json, report.json())?;
    println!("\nWritten:");
    for path in [
        Some(&md),
        Some(&json),
        Some(&ratios),
        idle_chart.map(|_| &idle),
    ]
    .into_iter()
    .flatten()
    {
        println!("  {}", path.display());
    }
    Ok(())
}

/// Prints what failed; `true` when nothing did.
fn verdict(report: &Report) -> bool {
    let (mismatches, errors) = report.failures();
    let mut ok = true;
    if mismatches > 0 || errors > 0 {
        eprintln!("compare: FAILED: {mismatches} mismatched echoed bytes, {errors} errors");
        ok = false;
    }
    if report.check_allocs {
        for c in &report.configs {
            for (i, name) in report.names.iter().enumerate() {
                match report.allocations(c, i) {
                    Some((n, a)) if n > 0 => {
                        eprintln!(
                            "compare: {name} allocated {n} times in the measured windows of {} \
                             ({a:.5} per request; target: 0)",
                            c.label()
                        );
                        ok = false;
                    }
                    _ => {}
                }
            }
        }
        if ok {
            println!("Allocations per request in steady state, every EventLoop server: 0");
        }
    }
    ok
}

/// What the run was: machine, build, settings.
fn meta(
    s: &Settings,
    plan: &CpuPlan,
    cpus: &[usize],
    all: &[Contender],
) -> Vec<(&'static str, String)> {
    let (on, off) = contenders::backends();
    let mut backends = on.join(", ");
    // The crate's dev-dependency on itself adds `polling` to whatever features the
    // command asks for; `--no-default-features` still leaves epoll and poll out.
    if !off.is_empty() {
        backends.push_str(&format!(
            " (not compiled in: {}; add them with --features)",
            off.join(", ")
        ));
    }
    // Whole microseconds: a third of a second reads 0.333333, not 0.3333333333.
    let secs = |d: Duration| format!("{}", (d.as_secs_f64() * 1e6).round() / 1e6);
    let cmd: Vec<String> = std::env::args().skip(1).collect();
    vec![
        ("date (UTC)", utc_now()),
        (
            "command",
            format!("compare {}", cmd.join(" ")).trim_end().to_string(),
        ),
        ("machine", machine(cpus.len())),
        ("backends compiled in", backends),
        (
            "contenders",
            all.iter().map(|c| c.name).collect::<Vec<_>>().join(", "),
        ),
        ("pinning", plan.text.clone()),
        (
            "run",
            if s.quick {
                "quick (--quick): a smoke run that checks every contender works; too few \
                 rounds to judge the targets"
                    .into()
            } else {
                "full".into()
            },
        ),
        (
            "grid",
            format!(
                "C ∈ {{{}}} × M ∈ {{{}}} bytes, pipeline P = {}",
                join(&s.connections),
                join(&s.messages),
                s.pipeline
            ),
        ),
        (
            "rounds",
            format!(
                "{} × {} s per contender in {} s slices, interleaved, order rotating \
                 (+ {} s warm-up)",
                s.rounds,
                secs(s.duration),
                secs(Slices::new(s.duration, s.slice).length),
                secs(s.warmup)
            ),
        ),
        (
            "registration",
            if s.oneshot {
                "oneshot, re-armed after every event (mio, poll(2): skipped)".into()
            } else if s.edge {
                "edge-triggered where offered (poll(2): level)".into()
            } else {
                "level-triggered (mio: edge, it has no other)".into()
            },
        ),
    ]
}

fn join(v: &[usize]) -> String {
    v.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// CPU model, CPUs usable, kernel release.
fn machine(usable: usize) -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!("{usable} CPUs usable, {model}, Linux {kernel}")
}

/// Today's date and time in UTC, from the system clock (civil-from-days, H. Hinnant).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_takes_a_whole_name_alone_and_other_words_as_parts() {
        use crate::contenders::{EL_EPOLL, EL_EPOLL_EDGE, EL_POLL, EL_POLLING, EL_URING};
        let names = [
            RAW_EPOLL,
            EL_EPOLL,
            EL_EPOLL_EDGE,
            EL_POLL,
            EL_POLLING,
            EL_URING,
        ];
        let picked = |only: &str| -> Vec<&str> {
            let only: Vec<String> = only.split(',').map(str::to_lowercase).collect();
            let only = if only == [""] { Vec::new() } else { only };
            names
                .into_iter()
                .filter(|n| selected(n, &only, &names))
                .collect()
        };
        assert_eq!(picked("EventLoop<Epoll>"), [EL_EPOLL]);
        assert_eq!(picked("eventloop<epoll> edge"), [EL_EPOLL_EDGE]);
        assert_eq!(picked("epoll>,uring>"), [EL_EPOLL, EL_EPOLL_EDGE, EL_URING]);
        assert_eq!(picked("EventLoop<Poll>"), [EL_POLL]);
        assert_eq!(picked("poll"), names[..5]);
        assert_eq!(picked(""), names);
    }

    #[test]
    fn cycle_orders_are_balanced() {
        for n in 1..=9usize {
            let rows = if n.is_multiple_of(2) { n } else { 2 * n };
            let (mut first, mut follows) = (vec![0; n], vec![vec![0; n]; n]);
            for cycle in 0..rows {
                let order = cycle_order(n, cycle);
                let mut sorted = order.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "n={n} cycle {cycle}");
                first[order[0]] += 1;
                for pair in order.windows(2) {
                    follows[pair[0]][pair[1]] += 1;
                }
            }
            assert!(first.iter().all(|&f| f == rows / n), "n={n}: {first:?}");
            for (a, row) in follows.iter().enumerate() {
                for (b, &count) in row.iter().enumerate() {
                    let want = if a == b { 0 } else { rows / n };
                    assert_eq!(count, want, "n={n}: {b} after {a}");
                }
            }
            assert_eq!(cycle_order(n, rows + 1), cycle_order(n, 1));
        }
    }

    #[test]
    fn slices_cut_the_span_evenly() {
        let ms = Duration::from_millis;
        let cases = [
            (2000, 100, 20),
            (500, 100, 5),
            (200, 300, 1),
            (1000, 300, 4),
        ];
        for (total, slice, count) in cases {
            let sliced = Slices::new(ms(total), ms(slice));
            assert_eq!(sliced.count, count, "{total} ms in slices of {slice} ms");
            assert!(sliced.length <= ms(slice));
            let sum = sliced.length * sliced.count as u32;
            assert!(ms(total) - sum < Duration::from_nanos(count as u64));
        }
    }
}
