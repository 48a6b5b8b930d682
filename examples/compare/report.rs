//! The results: per-round measurements, their paired ratios, and the tables (Markdown,
//! printed and written) and JSON made from them.

use std::fmt::Write as _;

use crate::contenders::{RAW_EPOLL, TARGETS};
use crate::stats::{median_ci, Summary};

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
}

/// A paired ratio and whether it meets its bound.
#[derive(Debug, Clone)]
pub struct Target {
    pub what: String,
    pub ratio: Summary,
    /// The 95 % confidence interval of the median ratio, with enough rounds.
    pub ci: Option<(f64, f64)>,
    pub bound: f64,
}

impl Target {
    pub fn met(&self) -> bool {
        self.ratio.median >= self.bound
    }
}

impl Report {
    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
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

    /// The targets that apply to the contenders of this run: throughput ratio,
    /// and CPU efficiency (the peer's CPU per request over the contender's), both at
    /// least the bound.
    pub fn targets(&self, c: &Config) -> Vec<Target> {
        let mut out = Vec::new();
        for (a, b, bound) in TARGETS {
            let (Some(i), Some(j)) = (self.index(a), self.index(b)) else {
                continue;
            };
            let target = |what, ratios: Vec<f64>| Target {
                what,
                ratio: Summary::of(&ratios),
                ci: median_ci(&ratios, 0.95),
                bound,
            };
            let rps = Self::paired_ratios(c, i, j, |x, y| x.rps / y.rps);
            let cpu = Self::paired_ratios(c, i, j, |x, y| y.cpu_ns / x.cpu_ns);
            out.push(target(format!("{a} req/s ÷ {b}"), rps));
            out.push(target(format!("{b} CPU/req ÷ {a}"), cpu));
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
                t.ci.map_or("(too few rounds)".into(), |(lo, hi)| {
                    format!("[{lo:.3}–{hi:.3}]")
                }),
                format!("≥ {:.2}", t.bound),
                if t.met() { "yes" } else { "NO" }.into(),
            ]);
        }
        rows
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
        let _ = write!(md, "\n![throughput ratios]({chart})\n");
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
                    num(t.bound),
                    t.met()
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

/// A Markdown table, columns padded so that it also reads as plain text.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width = |c: usize| {
        rows.iter()
            .filter_map(|r| r.get(c))
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..cols).map(width).collect();
    let mut out = String::new();
    for (n, row) in rows.iter().enumerate() {
        out.push('|');
        for (c, w) in widths.iter().enumerate() {
            let cell = row.get(c).map_or("", String::as_str);
            let pad = w - cell.chars().count();
            if c == 0 {
                let _ = write!(out, " {cell}{} |", " ".repeat(pad));
            } else {
                let _ = write!(out, " {}{cell} |", " ".repeat(pad));
            }
        }
        out.push('\n');
        if n == 0 {
            out.push('|');
            for (c, w) in widths.iter().enumerate() {
                let dashes = "-".repeat((*w).max(1));
                let _ = write!(
                    out,
                    "{}|",
                    if c == 0 {
                        format!("-{dashes}-")
                    } else {
                        format!("-{dashes}:")
                    }
                );
            }
            out.push('\n');
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_and_numbers_are_escaped() {
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(num(1.5), "1.5");
        assert_eq!(num(2.0), "2");
        assert_eq!(num(f64::NAN), "null");
    }
}
