//! The results: per-round measurements, their paired ratios, and the tables (Markdown,
//! printed and written) and JSON made from them.

use std::fmt::Write as _;

use crate::contenders::{self, RAW_EPOLL, TARGETS};
use crate::stats::{median_ci, Summary, CI_LEVEL, CI_MIN_ROUNDS};
pub use crate::table::table;

/// What a paired ratio is, in one line of stdout above the first table.
pub const PAIRED_RATIO: &str = "Paired ratio: the two contenders' ratio within each round \
     (same seconds, interleaved slices), then its median [min–max] over the rounds; a \
     median of ratios, so it can differ from the ratio of the two medians beside it, \
     which may come from different rounds.";

/// One contender in one round.
#[derive(Debug, Clone, Copy, Default)]
pub struct Run {
    pub rps: f64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    /// Server CPU time per request, in nanoseconds.
    pub cpu_ns: f64,
    pub requests: u64,
    pub mismatches: u64,
    pub errors: u64,
    pub allocations: Option<u64>,
}

/// One configuration of the grid: `runs[contender][round]`.
#[derive(Debug, Clone)]
pub struct Config {
    pub connections: usize,
    pub message: usize,
    pub pipeline: usize,
    pub runs: Vec<Vec<Run>>,
}

impl Config {
    pub fn label(&self) -> String {
        let mut s = format!("C={} M={}", self.connections, self.message);
        if self.pipeline > 1 {
            let _ = write!(s, " P={}", self.pipeline);
        }
        s
    }
}

/// The idle-scaling results for one idle count: ns per iteration by contender.
#[derive(Debug, Clone)]
pub struct IdleRow {
    pub idle: usize,
    pub ns: Vec<Summary>,
}

/// Everything one run of the benchmark produced.
#[derive(Debug, Clone)]
pub struct Report {
    /// `(key, value)` lines about the machine and the settings.
    pub meta: Vec<(&'static str, String)>,
    pub names: Vec<&'static str>,
    pub configs: Vec<Config>,
    pub idle: Vec<IdleRow>,
    pub idle_notes: Vec<String>,
    pub check_allocs: bool,
    /// `--quick`: a smoke run, too short to judge the targets.
    pub quick: bool,
    /// `--mode oneshot`: the connections re-armed after every event.
    pub oneshot: bool,
}

/// A paired ratio and whether it meets its bound.
#[derive(Debug, Clone)]
pub struct Target {
    pub what: String,
    pub ratio: Summary,
    /// The 95 % confidence interval of the median ratio, with enough rounds.
    pub ci: Option<(f64, f64)>,
    /// `None`: a reference, shown and not judged.
    pub bound: Option<f64>,
}

impl Target {
    /// Whether the median reaches the bound; `None` when the run has too few rounds for
    /// a confidence interval, which is then too short to judge a bound a few percent
    /// from 1.
    pub fn met(&self) -> Option<bool> {
        let bound = self.bound?;
        self.ci.map(|_| self.ratio.median >= bound)
    }

    fn met_cell(&self) -> String {
        if self.bound.is_none() {
            return "–".into();
        }
        match self.met() {
            Some(true) => "yes".into(),
            Some(false) => "NO".into(),
            None => "not judged".into(),
        }
    }
}

impl Report {
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }

    /// The value of a `meta` line.
    pub fn meta_value(&self, key: &str) -> Option<&str> {
        let line = self.meta.iter().find(|(k, _)| *k == key);
        line.map(|(_, v)| v.as_str())
    }

    /// `f(a, b)` of contenders `a` and `b` in every round.
    fn paired(&self, c: &Config, a: usize, b: usize, f: impl Fn(&Run, &Run) -> f64) -> Summary {
        Summary::of(&Self::paired_ratios(c, a, b, f))
    }

    /// `f(run of a, run of b)` round by round.
    fn paired_ratios(c: &Config, a: usize, b: usize, f: impl Fn(&Run, &Run) -> f64) -> Vec<f64> {
        let pairs = c.runs[a].iter().zip(&c.runs[b]);
        pairs.map(|(x, y)| f(x, y)).collect()
    }

    /// Throughput of `i` over raw epoll's, paired by round.
    pub fn ratio(&self, c: &Config, i: usize) -> Summary {
        let r = self.index(RAW_EPOLL).unwrap_or(0);
        self.paired(c, i, r, |x, y| x.rps / y.rps)
    }

    /// Server CPU per request of `i` over raw epoll's, paired by round (lower is better).
    pub fn cpu_ratio(&self, c: &Config, i: usize) -> Summary {
        let r = self.index(RAW_EPOLL).unwrap_or(0);
        self.paired(c, i, r, |x, y| x.cpu_ns / y.cpu_ns)
    }

    /// The targets that apply to the contenders of this run: DESIGN.md's budgets in
    /// throughput ratio and in CPU efficiency (the peer's CPU per request over the
    /// contender's), both at least the bound; then the io_uring backend's, in throughput
    /// (`contenders::uring_targets`).
    pub fn targets(&self, c: &Config) -> Vec<Target> {
        let target = |what, ratios: Vec<f64>, bound| Target {
            what,
            ratio: Summary::of(&ratios),
            ci: median_ci(&ratios, CI_LEVEL),
            bound,
        };
        // The contenders' indices when both ran, and their req/s ratios by round.
        let pair = |a, b| Some((self.index(a)?, self.index(b)?));
        let rps = |i, j| Self::paired_ratios(c, i, j, |x, y| x.rps / y.rps);
        let mut out = Vec::new();
        for (a, b, bound) in TARGETS {
            let Some((i, j)) = pair(a, b) else { continue };
            let cpu = Self::paired_ratios(c, i, j, |x, y| y.cpu_ns / x.cpu_ns);
            out.push(target(format!("{a} req/s ÷ {b}"), rps(i, j), Some(bound)));
            out.push(target(format!("{b} CPU/req ÷ {a}"), cpu, Some(bound)));
        }
        for (a, b, bound) in contenders::uring_targets(self.oneshot, c.connections) {
            let Some((i, j)) = pair(a, b) else { continue };
            out.push(target(format!("{a} req/s ÷ {b}"), rps(i, j), bound));
        }
        out
    }

    pub fn failures(&self) -> (u64, u64) {
        let runs = self.configs.iter().flat_map(|c| c.runs.iter().flatten());
        runs.fold((0, 0), |(m, e), r| (m + r.mismatches, e + r.errors))
    }

    /// Allocations of an EventLoop server over all measured windows, and per request,
    /// when counted.
    pub fn allocations(&self, c: &Config, i: usize) -> Option<(u64, f64)> {
        let (mut allocs, mut reqs) = (0, 0);
        for r in &c.runs[i] {
            allocs += r.allocations?;
            reqs += r.requests;
        }
        Some((allocs, allocs as f64 / reqs.max(1) as f64))
    }

    /// The table of one configuration.
    pub fn config_rows(&self, c: &Config) -> Vec<Vec<String>> {
        let mut head: Vec<String> = [
            "contender",
            "req/s median [min–max]",
            "vs raw epoll",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "CPU µs/req",
            "CPU vs raw epoll",
            "mismatches",
            "errors",
        ]
        .map(String::from)
        .to_vec();
        if self.check_allocs {
            head.push("allocs/req (total)".into());
        }
        let mut rows = vec![head];
        for (i, name) in self.names.iter().enumerate() {
            let runs = &c.runs[i];
            let col = |f: fn(&Run) -> f64| Summary::of(&runs.iter().map(f).collect::<Vec<_>>());
            let rps = col(|r| r.rps);
            let us = |f: fn(&Run) -> u64| {
                let s = Summary::of(&runs.iter().map(|r| f(r) as f64 / 1e3).collect::<Vec<_>>());
                format!("{:.1}", s.median)
            };
            let cpu = col(|r| r.cpu_ns / 1e3);
            let mut row = vec![
                name.to_string(),
                format!("{:.0} [{:.0}–{:.0}]", rps.median, rps.min, rps.max),
                ratio_cell(self.ratio(c, i)),
                us(|r| r.p50_ns),
                us(|r| r.p99_ns),
                us(|r| r.p999_ns),
                format!("{:.2} [{:.2}–{:.2}]", cpu.median, cpu.min, cpu.max),
                ratio_cell(self.cpu_ratio(c, i)),
                runs.iter().map(|r| r.mismatches).sum::<u64>().to_string(),
                runs.iter().map(|r| r.errors).sum::<u64>().to_string(),
            ];
            if self.check_allocs {
                row.push(match self.allocations(c, i) {
                    Some((n, a)) => format!("{a:.5} ({n})"),
                    None => "–".into(),
                });
            }
            rows.push(row);
        }
        rows
    }

    pub fn target_rows(&self, c: &Config) -> Vec<Vec<String>> {
        let mut rows = vec![[
            "target (paired by round)",
            "median [min–max]",
            "95 % CI of median",
            "needs",
            "met",
        ]
        .map(String::from)
        .to_vec()];
        for t in self.targets(c) {
            rows.push(vec![
                t.what.clone(),
                ratio_cell(t.ratio),
                t.ci.map_or(
                    format!("none: {CI_MIN_ROUNDS}+ rounds needed"),
                    |(lo, hi)| format!("[{lo:.3}–{hi:.3}]"),
                ),
                t.bound.map_or("–".into(), |b| format!("≥ {b:.2}")),
                t.met_cell(),
            ]);
        }
        rows
    }

    /// What this run can and cannot tell, when its targets were not judged (a quick run,
    /// or fewer rounds than a confidence interval needs).
    pub fn limits(&self) -> Option<String> {
        let rounds = self
            .configs
            .iter()
            .flat_map(|c| c.runs.first())
            .map(Vec::len);
        let rounds = rounds.min()?;
        if rounds >= CI_MIN_ROUNDS {
            return None;
        }
        let what = if self.quick {
            "This was a quick run"
        } else {
            "This run was short"
        };
        Some(format!(
            "{what} ({rounds} round{} per configuration). It can tell that every contender \
             served the load and echoed every byte intact (the mismatches and errors \
             columns; the exit status is 1 otherwise), and show the ratios roughly. It \
             cannot tell whether a target is met: a 95 % confidence interval of a median \
             needs {CI_MIN_ROUNDS} rounds or more, and with fewer a difference of a few \
             percent may be noise, so the targets say \"not judged\". For the verdicts, {}.",
            if rounds == 1 { "" } else { "s" },
            if self.quick {
                "run without --quick (10 rounds × 2 s, about 10 minutes)"
            } else {
                "run with --rounds 10 (the default)"
            }
        ))
    }

    pub fn idle_rows(&self) -> Vec<Vec<String>> {
        let mut head = vec!["idle sockets".to_string()];
        head.extend(self.names.iter().map(|n| format!("{n} µs/iter")));
        let mut rows = vec![head];
        for row in &self.idle {
            let mut r = vec![row.idle.to_string()];
            r.extend(row.ns.iter().map(|s| format!("{:.2}", s.median / 1e3)));
            rows.push(r);
        }
        rows
    }

    pub fn markdown(&self, chart: &str, idle_chart: Option<&str>) -> String {
        let mut md = String::from("# selectio compare\n\n");
        for (k, v) in &self.meta {
            let _ = writeln!(md, "- {k}: {v}");
        }
        md.push_str(
            "\nRatios are paired: each round gives every contender the same measured time, in \
             short slices interleaved with the other contenders' slices, the ratio is \
             taken within the round, and the table shows the median and the range over \
             rounds. \
             A median of ratios can differ from the ratio of the two medians beside it: \
             each median may come from a different round. \
             \"vs raw epoll\" above 1 is faster than the reference; \"CPU vs raw epoll\" \
             below 1 costs less server CPU per request. A target is met when its median \
             reaches the bound; its 95 % confidence interval (order statistics of the \
             rounds, no distribution assumed) says whether this run can tell: when the \
             interval contains the bound, the pass or the miss is within the noise. Only \
             ratios of the same run compare: absolute numbers vary between machines and \
             runs.\n",
        );
        for c in &self.configs {
            let _ = write!(md, "\n## {}\n\n{}", c.label(), table(&self.config_rows(c)));
            let targets = self.target_rows(c);
            if targets.len() > 1 {
                let _ = write!(md, "\n{}", table(&targets));
            }
        }
        let _ = write!(md, "\n![req/s and CPU per request vs raw epoll]({chart})\n");
        md.push_str("\n## Idle scaling: N idle registered sockets + one pipe ping-pong\n\n");
        for note in &self.idle_notes {
            let _ = writeln!(md, "{note}\n");
        }
        if !self.idle.is_empty() {
            md.push_str(&table(&self.idle_rows()));
        }
        if let Some(chart) = idle_chart {
            let _ = write!(md, "\n![idle scaling]({chart})\n");
        }
        if let Some(limits) = self.limits() {
            let _ = write!(md, "\n## What this run can tell\n\n{limits}\n");
        }
        md
    }

    pub fn json(&self) -> String {
        let mut j = String::from("{\n  \"meta\": {");
        let meta: Vec<String> = self
            .meta
            .iter()
            .map(|(k, v)| format!("\n    {}: {}", quote(k), quote(v)))
            .collect();
        j.push_str(&meta.join(","));
        j.push_str("\n  },\n  \"configs\": [");
        let configs: Vec<String> = self.configs.iter().map(|c| self.config_json(c)).collect();
        j.push_str(&configs.join(","));
        j.push_str("\n  ],\n  \"idle\": [");
        let idle: Vec<String> = self
            .idle
            .iter()
            .map(|row| {
                let per: Vec<String> = self
                    .names
                    .iter()
                    .zip(&row.ns)
                    .map(|(n, s)| format!("{}: {}", quote(n), summary_json(*s)))
                    .collect();
                format!(
                    "\n    {{\"idle_sockets\": {}, \"ns_per_iteration\": {{{}}}}}",
                    row.idle,
                    per.join(", ")
                )
            })
            .collect();
        j.push_str(&idle.join(","));
        j.push_str("\n  ]\n}\n");
        j
    }

    fn config_json(&self, c: &Config) -> String {
        let contenders: Vec<String> = self
            .names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let runs = &c.runs[i];
                let list = |f: &dyn Fn(&Run) -> f64| {
                    let v: Vec<String> = runs.iter().map(|r| num(f(r))).collect();
                    format!("[{}]", v.join(", "))
                };
                format!(
                    "\n        {{\"name\": {}, \"rps\": {}, \"ratio_vs_raw_epoll\": {}, \
                     \"cpu_ns_per_request\": {}, \"cpu_ratio_vs_raw_epoll\": {}, \
                     \"p50_ns\": {}, \"p99_ns\": {}, \"p999_ns\": {}, \
                     \"mismatches\": {}, \"errors\": {}, \"allocations_per_request\": {}}}",
                    quote(name),
                    list(&|r| r.rps),
                    summary_json(self.ratio(c, i)),
                    list(&|r| r.cpu_ns),
                    summary_json(self.cpu_ratio(c, i)),
                    list(&|r| r.p50_ns as f64),
                    list(&|r| r.p99_ns as f64),
                    list(&|r| r.p999_ns as f64),
                    runs.iter().map(|r| r.mismatches).sum::<u64>(),
                    runs.iter().map(|r| r.errors).sum::<u64>(),
                    self.allocations(c, i).map_or("null".into(), |a| num(a.1)),
                )
            })
            .collect();
        let targets: Vec<String> = self
            .targets(c)
            .iter()
            .map(|t| {
                format!(
                    "\n        {{\"target\": {}, \"ratio\": {}, \"ci95_of_median\": {}, \
                     \"bound\": {}, \"met\": {}}}",
                    quote(&t.what),
                    summary_json(t.ratio),
                    t.ci.map_or("null".into(), |(lo, hi)| format!(
                        "[{}, {}]",
                        num(lo),
                        num(hi)
                    )),
                    t.bound.map_or("null".into(), num),
                    t.met().map_or("null".into(), |m| m.to_string())
                )
            })
            .collect();
        format!(
            "\n    {{\"connections\": {}, \"message_bytes\": {}, \"pipeline\": {}, \
             \"contenders\": [{}\n      ], \"targets\": [{}\n      ]}}",
            c.connections,
            c.message,
            c.pipeline,
            contenders.join(","),
            targets.join(",")
        )
    }
}

fn ratio_cell(s: Summary) -> String {
    format!("{:.3} [{:.3}–{:.3}]", s.median, s.min, s.max)
}

fn quote(s: &str) -> String {
    let mut q = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(q, "\\u{:04x}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn num(x: f64) -> String {
    if x.is_finite() {
        let s = format!("{x:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        "null".into()
    }
}

fn summary_json(s: Summary) -> String {
    format!(
        "{{\"median\": {}, \"min\": {}, \"max\": {}}}",
        num(s.median),
        num(s.min),
        num(s.max)
    )
}

/// A report of `rounds` rounds of one configuration of raw epoll, `EventLoop<Epoll>`
/// and mio, with made-up figures (for the tests of the report and the chart).
#[cfg(test)]
pub fn sample(rounds: usize, quick: bool) -> Report {
    use crate::contenders::{EL_EPOLL, MIO};
    let run = |rps: f64, cpu_ns: f64| Run {
        rps,
        cpu_ns,
        requests: 1000,
        ..Run::default()
    };
    // EventLoop<Epoll> 1 % slower than raw epoll in every round, mio 1 % faster.
    let runs = [1.0, 0.99, 1.01]
        .map(|f| {
            (0..rounds)
                .map(|r| run(f * (1000.0 + r as f64), 5000.0 / f))
                .collect()
        })
        .to_vec();
    Report {
        meta: vec![("rounds", format!("{rounds} × 0.5 s per contender"))],
        names: vec![RAW_EPOLL, EL_EPOLL, MIO],
        configs: vec![Config {
            connections: 1,
            message: 64,
            pipeline: 1,
            runs,
        }],
        idle: Vec::new(),
        idle_notes: Vec::new(),
        check_allocs: false,
        quick,
        oneshot: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quick_run_judges_no_target_and_says_what_it_can_tell() {
        let report = sample(3, true);
        let c = &report.configs[0];
        let targets = report.targets(c);
        assert!(!targets.is_empty());
        assert!(targets.iter().all(|t| t.met().is_none()), "{targets:?}");
        let rows = report.target_rows(c);
        for row in &rows[1..] {
            assert_eq!(
                row.last().map(String::as_str),
                Some("not judged"),
                "{row:?}"
            );
            assert!(row.iter().all(|cell| cell != "NO"), "{row:?}");
        }
        let limits = report.limits().expect("a quick run has limits");
        assert!(limits.contains("every byte") && limits.contains("cannot tell"));
        assert!(limits.contains("without --quick"), "{limits}");
        assert!(report.json().contains("\"met\": null"));
        assert!(report.markdown("r.svg", None).contains(&limits));
        // Not quick, but as short: the same limits, and the advice is more rounds.
        let short = sample(3, false).limits().expect("3 rounds are too few");
        assert!(short.contains("--rounds"), "{short}");
    }

    #[test]
    fn a_full_run_judges_every_target() {
        let report = sample(10, false);
        let c = &report.configs[0];
        let met: Vec<_> = report.targets(c).iter().map(Target::met).collect();
        // EventLoop<Epoll> ÷ raw epoll: 0.99, met; ÷ mio: 0.98, missed (both metrics).
        assert_eq!(met, [Some(true), Some(true), Some(false), Some(false)]);
        let cells: Vec<String> = report.target_rows(c)[1..]
            .iter()
            .filter_map(|row| row.last().cloned())
            .collect();
        assert_eq!(cells, ["yes", "yes", "NO", "NO"]);
        assert_eq!(report.limits(), None);
        assert!(!report.json().contains("\"met\": null"));
    }

    /// The io_uring rows in a oneshot run: the bound follows C (1.02 at C=1, 1.10 at 64,
    /// none between), the no-re-arm reference is shown unjudged; Edge/Level runs ask 1.00.
    #[test]
    fn uring_targets_follow_the_mode_and_the_connections() {
        use crate::contenders::{EL_EPOLL, EL_EPOLL_EDGE, EL_URING};
        let rows = |oneshot: bool, connections: usize| {
            let mut report = sample(10, false);
            report.oneshot = oneshot;
            report.names = vec![RAW_EPOLL, EL_EPOLL, EL_EPOLL_EDGE, EL_URING];
            let c = &mut report.configs[0];
            c.connections = connections;
            // Uring 5 % above EventLoop<Epoll> and 3 % below the no-re-arm reference.
            let base = c.runs[1].clone();
            let scaled = |f: f64| {
                base.iter()
                    .map(|r| Run {
                        rps: r.rps * f,
                        ..*r
                    })
                    .collect()
            };
            c.runs.truncate(2);
            c.runs.push(scaled(1.05 / 0.97));
            c.runs.push(scaled(1.05));
            let c = &report.configs[0];
            let all = report.targets(c).into_iter();
            let uring: Vec<_> = all.filter(|t| t.what.starts_with(EL_URING)).collect();
            let table = report.target_rows(c);
            (uring, table, report.json())
        };
        let (t, table, json) = rows(true, 64);
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(t[0].what, "EventLoop<Uring> req/s ÷ EventLoop<Epoll>");
        assert_eq!((t[0].bound, t[0].met()), (Some(1.10), Some(false)));
        assert!((t[0].ratio.median - 1.05).abs() < 1e-9, "{t:?}");
        assert_eq!(t[1].what, "EventLoop<Uring> req/s ÷ EventLoop<Epoll> edge");
        assert_eq!((t[1].bound, t[1].met()), (None, None));
        assert!((t[1].ratio.median - 0.97).abs() < 1e-9, "{t:?}");
        let last = table.last().expect("rows");
        assert_eq!(&last[3..], ["–", "–"], "{last:?}");
        assert!(json.contains("\"bound\": null, \"met\": null"), "{json}");
        let (t, ..) = rows(true, 1);
        assert_eq!((t[0].bound, t[0].met()), (Some(1.02), Some(true)));
        let (t, ..) = rows(true, 8);
        assert_eq!((t[0].bound, t[0].met()), (None, None));
        let (t, ..) = rows(false, 64);
        assert_eq!(t.len(), 1, "no reference row outside oneshot: {t:?}");
        assert_eq!((t[0].bound, t[0].met()), (Some(1.00), Some(true)));
    }

    #[test]
    fn the_paired_ratio_line_is_one_line_and_names_the_medians() {
        assert!(!PAIRED_RATIO.contains('\n'));
        assert!(PAIRED_RATIO.contains("median of ratios") && PAIRED_RATIO.contains("medians"));
    }

    #[test]
    fn json_strings_and_numbers_are_escaped() {
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(num(1.5), "1.5");
        assert_eq!(num(2.0), "2");
        assert_eq!(num(f64::NAN), "null");
    }
}
