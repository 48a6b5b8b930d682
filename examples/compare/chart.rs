//! The SVG charts (plotters, SVG backend only): throughput ratios with min–max whiskers,
//! and time per iteration against the number of idle sockets.

use std::io;
use std::path::Path;

use plotters::prelude::*;

use crate::report::Report;

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

/// Grouped bars: per configuration, each contender's req/s ratio vs raw epoll (median),
/// with a whisker from the round minimum to the maximum. The y axis is zoomed around 1
/// (the differences of interest are a few percent) and the legend sits beside the plot.
pub fn ratios(report: &Report, path: &Path) -> io::Result<()> {
    let n = report.configs.len().max(1);
    let k = report.names.len().max(1);
    let (mut lo, mut hi): (f64, f64) = (0.9, 1.1);
    for c in &report.configs {
        for i in 0..k {
            let s = report.ratio(c, i);
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
    let width = 200 + 200 * n as u32;
    let root = SVGBackend::new(path, (width + LEGEND_WIDTH, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let (plot, legend_area) = root.split_horizontally(width);
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            "req/s relative to raw epoll (median, min–max whiskers)",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(10)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..n as f64, lo..hi)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .y_desc("ratio vs raw epoll, same round")
        .draw()
        .map_err(plot_error)?;
    let bar = 0.8 / k as f64;
    for i in 0..k {
        let bars = report.configs.iter().enumerate().map(|(g, c)| {
            let x = g as f64 + 0.1 + i as f64 * bar;
            let m = report.ratio(c, i).median;
            Rectangle::new([(x, lo), (x + bar * 0.9, m.max(lo))], color(i).filled())
        });
        chart.draw_series(bars).map_err(plot_error)?;
        let whiskers = report.configs.iter().enumerate().map(|(g, c)| {
            let x = g as f64 + 0.1 + (i as f64 + 0.45) * bar;
            let s = report.ratio(c, i);
            PathElement::new(vec![(x, s.min), (x, s.max)], BLACK.stroke_width(1))
        });
        chart.draw_series(whiskers).map_err(plot_error)?;
    }
    let labels = report.configs.iter().enumerate().map(|(g, c)| {
        Text::new(
            c.label(),
            (g as f64 + 0.3, hi - (hi - lo) * 0.02),
            ("sans-serif", 15).into_font().color(&BLACK),
        )
    });
    chart.draw_series(labels).map_err(plot_error)?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 1.0), (n as f64, 1.0)],
            BLACK.stroke_width(1),
        )))
        .map_err(plot_error)?;
    legend(&legend_area, &report.names, false)?;
    root.present().map_err(plot_error)
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
    legend(&legend_area, &report.names, true)?;
    root.present().map_err(plot_error)
}

const LEGEND_WIDTH: u32 = 190;

/// One line per contender beside the plot: a colour box, or a line segment for `lines`.
fn legend(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    names: &[&str],
    lines: bool,
) -> io::Result<()> {
    for (i, name) in names.iter().enumerate() {
        let y = 70 + 24 * i as i32;
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
