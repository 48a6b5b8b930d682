//! The SVG charts (plotters, SVG backend only): throughput ratios with min–max whiskers,
//! and time per iteration against the number of idle sockets.

use std::io;
use std::path::Path;

use plotters::prelude::*;

use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::contenders::RAW_EPOLL;
use crate::report::{Config, Report};
use crate::stats::Summary;

const COLORS: [RGBColor; 8] = [
    RGBColor(0x44, 0x44, 0x44),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

fn plot_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("chart: {e}"))
}

/// Two panels of grouped bars, req/s and server CPU per request, each a paired ratio to
/// raw epoll (which is 1 by definition, so it has no bar): per configuration (labelled
/// under the x axis), each contender's median, with a whisker from the round minimum to
/// the maximum. The y axes are zoomed around 1 (the differences of interest are a few
/// percent); the run's settings head the chart and the legend sits beside the plot.
pub fn ratios(report: &Report, path: &Path) -> io::Result<()> {
    let reference = report.index(RAW_EPOLL);
    let shown: Vec<(usize, &str)> = (report.names.iter().copied().enumerate())
        .filter(|(i, _)| Some(*i) != reference)
        .collect();
    let width = 200 + 200 * report.configs.len().max(1) as u32;
    let root = SVGBackend::new(path, (width + LEGEND_WIDTH, 880)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let (head, body) = root.split_vertically(80);
    let title = "selectio compare: each contender ÷ raw epoll, paired by round \
                 (median, min–max whiskers)";
    let lines = [
        (title.to_string(), 20, 8),
        (settings_line(report), 14, 36),
        (machine_line(report), 14, 56),
    ];
    for (text, size, y) in lines {
        let font = ("sans-serif", size).into_font().color(&BLACK);
        head.draw(&Text::new(text, (15, y), font))
            .map_err(plot_error)?;
    }
    let (plot, legend_area) = body.split_horizontally(width);
    let (top, bottom) = plot.split_vertically(400);
    let rps = Panel {
        caption: "req/s ÷ raw epoll's (higher is better)",
        ratio: &|c, i| report.ratio(c, i),
    };
    let cpu = Panel {
        caption: "server CPU per request ÷ raw epoll's (lower is better)",
        ratio: &|c, i| report.cpu_ratio(c, i),
    };
    panel(&top, report, &shown, &rps)?;
    panel(&bottom, report, &shown, &cpu)?;
    legend(&legend_area, &shown, false)?;
    root.present().map_err(plot_error)
}

/// One panel of [`ratios`]: what it shows and how to get it per configuration and
/// contender.
struct Panel<'a> {
    caption: &'static str,
    ratio: &'a dyn Fn(&Config, usize) -> Summary,
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn panel(area: &Area<'_>, report: &Report, shown: &[(usize, &str)], p: &Panel) -> io::Result<()> {
    let n = report.configs.len().max(1);
    let k = shown.len().max(1);
    let (mut lo, mut hi): (f64, f64) = (0.9, 1.1);
    for c in &report.configs {
        for &(i, _) in shown {
            let s = (p.ratio)(c, i);
            if s.min.is_finite() && s.max.is_finite() {
                lo = lo.min(s.min - 0.02);
                hi = hi.max(s.max + 0.05);
            }
        }
    }
    let (lo, hi) = (
        (lo.max(0.0) * 20.0).floor() / 20.0,
        (hi * 20.0).ceil() / 20.0,
    );
    let mut chart = ChartBuilder::on(area)
        .caption(p.caption, ("sans-serif", 16))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..n as f64, lo..hi)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .x_desc("configuration: C client connections, M bytes per message")
        .y_desc("ratio vs raw epoll, same round")
        .draw()
        .map_err(plot_error)?;
    let bar = 0.8 / k as f64;
    for (slot, &(i, _)) in shown.iter().enumerate() {
        let bars = report.configs.iter().enumerate().map(|(g, c)| {
            let x = g as f64 + 0.1 + slot as f64 * bar;
            let m = (p.ratio)(c, i).median;
            Rectangle::new([(x, lo), (x + bar * 0.9, m.max(lo))], color(i).filled())
        });
        chart.draw_series(bars).map_err(plot_error)?;
        let whiskers = report.configs.iter().enumerate().map(|(g, c)| {
            let x = g as f64 + 0.1 + (slot as f64 + 0.45) * bar;
            let s = (p.ratio)(c, i);
            PathElement::new(vec![(x, s.min), (x, s.max)], BLACK.stroke_width(1))
        });
        chart.draw_series(whiskers).map_err(plot_error)?;
    }
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 1.0), (n as f64, 1.0)],
            BLACK.stroke_width(1),
        )))
        .map_err(plot_error)?;
    // The configurations label the x axis, one under each group of bars; the area's
    // pixel position comes from the chart's coordinates, as the axis has no ticks.
    let (x0, y0) = area.get_base_pixel();
    for (g, c) in report.configs.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(g as f64 + 0.5, lo));
        let font = ("sans-serif", 15)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top));
        area.draw(&Text::new(c.label(), (x - x0, y - y0 + 6), font))
            .map_err(plot_error)?;
    }
    Ok(())
}

/// "quick run: 3 × 0.5 s per contender …" or "full run: …", from the report's settings.
fn settings_line(report: &Report) -> String {
    let kind = if report.quick {
        "quick run (--quick), too short to judge the targets"
    } else {
        "full run"
    };
    let rounds = report.meta_value("rounds").unwrap_or("?");
    let mode = report.meta_value("registration").unwrap_or("?");
    format!("{kind} · rounds: {rounds} · {mode}")
}

/// Machine, pinning and date, from the report's settings.
fn machine_line(report: &Report) -> String {
    let get = |k| report.meta_value(k).unwrap_or("?");
    format!(
        "{} · pinning {} · {} UTC",
        get("machine"),
        get("pinning"),
        get("date (UTC)")
    )
}

/// Lines: µs per iteration (log) against idle sockets (log), one line per contender.
pub fn idle(report: &Report, path: &Path) -> io::Result<()> {
    let xs: Vec<f64> = report.idle.iter().map(|r| r.idle as f64).collect();
    let (xmin, xmax) = xs
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    let ys = report
        .idle
        .iter()
        .flat_map(|r| r.ns.iter().map(|s| s.median / 1e3));
    let (ymin, ymax) = ys
        .filter(|y| y.is_finite() && *y > 0.0)
        .fold((f64::MAX, 0.0f64), |(a, b), y| (a.min(y), b.max(y)));
    if xs.is_empty() || ymax <= 0.0 {
        return Ok(());
    }
    let root = SVGBackend::new(path, (900 + LEGEND_WIDTH, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let (plot, legend_area) = root.split_horizontally(900);
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            "idle scaling: time per ping-pong iteration (median)",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(
            (xmin * 0.8..xmax * 1.25).log_scale(),
            (ymin * 0.7..ymax * 1.4).log_scale(),
        )
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("idle registered sockets")
        .y_desc("µs per iteration")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(plot_error)?;
    for i in 0..report.names.len() {
        let points: Vec<(f64, f64)> = report
            .idle
            .iter()
            .map(|r| (r.idle as f64, r.ns[i].median / 1e3))
            .filter(|p| p.1.is_finite() && p.1 > 0.0)
            .collect();
        chart
            .draw_series(std::iter::once(PathElement::new(
                points.clone(),
                color(i).stroke_width(2),
            )))
            .map_err(plot_error)?;
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color(i).filled())))
            .map_err(plot_error)?;
    }
    let all: Vec<(usize, &str)> = report.names.iter().copied().enumerate().collect();
    legend(&legend_area, &all, true)?;
    root.present().map_err(plot_error)
}

const LEGEND_WIDTH: u32 = 190;

/// One line per contender beside the plot, in its colour (by its index in the run): a
/// box, or a line segment for `lines`.
fn legend(area: &Area<'_>, shown: &[(usize, &str)], lines: bool) -> io::Result<()> {
    for (row, &(i, name)) in shown.iter().enumerate() {
        let y = 70 + 24 * row as i32;
        if lines {
            let mark = PathElement::new(vec![(2, y), (18, y)], color(i).stroke_width(2));
            area.draw(&mark).map_err(plot_error)?;
        } else {
            let mark = Rectangle::new([(4, y - 6), (16, y + 6)], color(i).filled());
            area.draw(&mark).map_err(plot_error)?;
        }
        let font = ("sans-serif", 14).into_font().color(&BLACK);
        area.draw(&Text::new(name.to_string(), (24, y - 7), font))
            .map_err(plot_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report;

    #[test]
    fn the_ratio_chart_labels_configurations_shows_cpu_and_settings_without_raw_epoll() {
        let dir = std::env::temp_dir().join(format!("selectio-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ratios.svg");
        ratios(&report::sample(3, true), &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // plotters writes each text element's content on a line of its own.
        let text = |t: &str| svg.lines().any(|line| line.trim() == t);
        assert!(text("C=1 M=64"), "the configuration under its bars");
        assert!(svg.contains("configuration: C client connections"));
        assert!(svg.contains("req/s ÷ raw epoll") && svg.contains("CPU per request ÷ raw epoll"));
        assert!(svg.contains("quick run") && svg.contains("3 × 0.5 s per contender"));
        // The legend names the contenders drawn: not raw epoll, 1 by definition.
        assert!(text("mio") && text("EventLoop&lt;Epoll&gt;"), "the legend");
        assert!(!text("raw epoll"), "raw epoll has no bar");
    }
}
