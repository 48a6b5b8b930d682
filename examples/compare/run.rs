//! The benchmark's course: the echo grid in interleaved rounds, the idle-scaling run,
//! the tables and the files.

use std::io;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{Pin, Settings};
use crate::client::{self, Load, Pattern};
use crate::contenders::{self, Contender, RAW_EPOLL};
use crate::echo::{Phase, ServerArgs};
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
    let all: Vec<Contender> = contenders::all(s.selectors)
        .into_iter()
        .filter(|c| c.name == RAW_EPOLL || selected(c.name, &s.only))
        .collect();
    let meta = meta(&s, &plan, &cpus, &all);
    for (k, v) in &meta {
        println!("{k}: {v}");
    }
    let grid: Vec<(usize, usize)> = s
        .connections
        .iter()
        .flat_map(|&c| s.messages.iter().map(move |&m| (c, m)))
        .collect();
    let idle_rounds = s.rounds.min(5);
    let steps = grid.len() * s.rounds * all.len() + s.idle.len() * idle_rounds * all.len();
    let bar = progress_bar(steps as u64);
    let pattern = Pattern::new();
    let mut report = Report {
        meta,
        names: all.iter().map(|c| c.name).collect(),
        configs: Vec::new(),
        idle: Vec::new(),
        idle_notes: Vec::new(),
        check_allocs: s.check_allocs,
    };
    for &(connections, message) in &grid {
        let load = Load {
            connections,
            message,
            pipeline: s.pipeline,
            warmup: s.warmup,
            duration: s.duration,
            await_counted: false,
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
    Ok(verdict(&report))
}

fn selected(name: &str, only: &[String]) -> bool {
    let name = name.to_lowercase();
    only.is_empty() || only.iter().any(|w| name.contains(w.as_str()))
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

/// All rounds of one configuration: `runs[contender][round]`.
fn run_config(
    all: &[Contender],
    load: Load,
    s: &Settings,
    plan: &CpuPlan,
    pattern: &Pattern,
    bar: &ProgressBar,
) -> io::Result<Config> {
    let mut runs = vec![Vec::with_capacity(s.rounds); all.len()];
    for round in 0..s.rounds {
        for k in 0..all.len() {
            let i = (k + round) % all.len();
            bar.set_message(format!(
                "C={} M={} round {}/{}: {}",
                load.connections,
                load.message,
                round + 1,
                s.rounds,
                all[i].name
            ));
            runs[i].push(run_one(&all[i], load, s, plan, pattern)?);
            bar.inc(1);
        }
    }
    Ok(Config {
        connections: load.connections,
        message: load.message,
        pipeline: load.pipeline,
        runs,
    })
}

/// One contender under one load: a server thread and a client thread.
fn run_one(
    c: &Contender,
    load: Load,
    s: &Settings,
    plan: &CpuPlan,
    pattern: &Pattern,
) -> io::Result<Run> {
    let listener = selectio::net::TcpListener::bind(([127, 0, 0, 1], 0).into())?.into_std();
    let addr = listener.local_addr()?;
    let phase = Arc::new(Phase::default());
    let args = ServerArgs {
        listener,
        connections: load.connections,
        edge: s.edge,
        check_allocs: s.check_allocs && c.event_loop,
        phase: phase.clone(),
    };
    let load = Load {
        await_counted: args.check_allocs,
        ..load
    };
    let (clock_tx, clock_rx) = mpsc::sync_channel(1);
    let (serve, cpu) = (c.serve, plan.server);
    // Not scoped: if the client fails, the server may wait for connections forever, and
    // the error ends the process instead.
    let server = thread::Builder::new()
        .name(format!("server {}", c.name))
        .spawn(move || {
            if let Some(cpu) = cpu {
                os::pin_current_thread(cpu)?;
            }
            let _ = clock_tx.send(os::current_thread_clock()?);
            serve(args)
        })?;
    let (phase, client_cpu) = (&phase, plan.client);
    let outcome = thread::scope(|scope| {
        let client = scope.spawn(move || {
            if let Some(cpu) = client_cpu {
                os::pin_current_thread(cpu)?;
            }
            let clock = clock_rx
                .recv()
                .map_err(|_| io::Error::other(format!("{}: the server did not start", c.name)))?;
            client::run(addr, load, clock, phase, pattern)
        });
        client.join()
    });
    let outcome = match outcome {
        Ok(Ok(outcome)) => outcome,
        // A server that failed first (it cannot pin itself, say) explains the client's
        // failure better than the client does.
        Ok(Err(e)) if server.is_finished() => {
            let server_error = match server.join() {
                Ok(Err(se)) => format!("; server: {se}"),
                _ => String::new(),
            };
            return Err(io::Error::new(
                e.kind(),
                format!("{}: client: {e}{server_error}", c.name),
            ));
        }
        Ok(Err(e)) => return Err(io::Error::new(e.kind(), format!("{}: client: {e}", c.name))),
        Err(_) => return Err(io::Error::other("the client panicked")),
    };
    let stats = server
        .join()
        .map_err(|_| io::Error::other(format!("{}: the server panicked", c.name)))?
        .map_err(|e| io::Error::new(e.kind(), format!("{}: server: {e}", c.name)))?;
    let requests = outcome.requests;
    Ok(Run {
        rps: requests as f64 / outcome.elapsed.as_secs_f64(),
        p50_ns: outcome.p50_ns,
        p99_ns: outcome.p99_ns,
        p999_ns: outcome.p999_ns,
        cpu_ns: outcome.server_cpu.as_nanos() as f64 / requests as f64,
        requests,
        mismatches: outcome.mismatches,
        errors: outcome.errors + stats.errors,
        allocations: stats.allocations,
    })
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
    for &n in &s.idle {
        if n as u64 + FD_HEADROOM > nofile {
            notes.push(format!(
                "{n} idle sockets: skipped, the open-file limit is {nofile} even raised to \
                 its hard limit (raise it with `ulimit -n`)"
            ));
            bar.inc((rounds * all.len()) as u64);
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
                bar.inc(1);
            }
        }
        rows.push(IdleRow {
            idle: n,
            ns: ns.iter().map(|v| Summary::of(v)).collect(),
        });
    }
    Ok((rows, notes))
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
    if !off.is_empty() {
        backends.push_str(&format!(
            " (not compiled in: {}; add them with --features)",
            off.join(", ")
        ));
    }
    let secs = |d: Duration| format!("{}", d.as_secs_f64());
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
                "{} × {} s (+ {} s warm-up), order rotating",
                s.rounds,
                secs(s.duration),
                secs(s.warmup)
            ),
        ),
        (
            "registration",
            if s.edge {
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
