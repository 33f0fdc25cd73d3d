//! Small inline SVG line charts for the status page (no JavaScript): built from numbers only,
//! so the markup is safe to insert unescaped.

use std::fmt::Write as _;

/// Chart size in CSS pixels.
const WIDTH: f64 = 160.0;
const HEIGHT: f64 = 28.0;

/// A sparkline of `values` (oldest first) with `label` (already a plain description) as its
/// tooltip, and the latest and highest value written beside it by the caller. An empty or
/// single-value series draws a flat baseline.
pub(crate) fn sparkline(values: &[f64], class: &str) -> String {
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let mut points = String::new();
    let n = values.len();
    for (idx, value) in values.iter().enumerate() {
        let x = if n <= 1 {
            WIDTH
        } else {
            idx as f64 * WIDTH / (n - 1) as f64
        };
        let y = if max > 0.0 {
            HEIGHT - 1.0 - (value / max) * (HEIGHT - 2.0)
        } else {
            HEIGHT - 1.0
        };
        let _ = write!(points, "{x:.1},{y:.1} ");
    }
    if n <= 1 {
        points = format!("0,{y:.1} {WIDTH},{y:.1}", y = HEIGHT - 1.0);
    }
    // Only ASCII class names from our own code reach `class`.
    let class: String = class
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!(
        "<svg class=\"chart {class}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-hidden=\"true\"><polyline fill=\"none\" stroke-width=\"1.5\" points=\"{}\"/></svg>",
        points.trim_end()
    )
}

/// A compact number for chart captions: `0`, `12`, `3.4k`, `1.2M`, and one decimal below 10.
pub(crate) fn compact(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if value >= 1e4 {
        format!("{:.0}k", value / 1e3)
    } else if value >= 1e3 {
        format!("{:.1}k", value / 1e3)
    } else if value >= 10.0 || value == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}
