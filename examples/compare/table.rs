//! A Markdown table for terminal output and reports, shared by `compare` and
//! `benches/selector.rs`.

use std::fmt::Write as _;

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
