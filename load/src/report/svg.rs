//! A few SVG primitives for the tool's charts (a run's timeline, a comparison's rounds and
//! ratios): a panel with a value axis and a horizontal axis, lines, points, interval bars and
//! a band, each axis with ticks on round numbers whose labels say exactly what they are.
//!
//! Written by hand rather than with a charting crate (plotters): the charts are a few dozen
//! elements each, and plotters would bring its font stack and bitmap back-ends into the build
//! for text this writes as `<text>`; the browser test (`tests/charts.rs`) opens every chart in
//! headless Chromium and checks its labels are inside the picture, apart, and in order.

use std::fmt::Write;

/// Ticks for an axis from `min` to `max`: about `wanted` steps of 1, 2 or 5 × a power of ten;
/// returns (first tick, step, last tick).
pub fn ticks(min: f64, max: f64, wanted: usize) -> (f64, f64, f64) {
    let span = (max - min).abs().max(f64::MIN_POSITIVE);
    let rough = span / wanted.max(1) as f64;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * power).find(|step| *step >= rough).unwrap_or(10.0 * power);
    ((min / step).floor() * step, step, (max / step).ceil() * step)
}

/// A tick label: thousands separated, as many decimals as the step needs, never rounded into
/// a neighbour's label (1,500 is "1,500", not "2k").
pub fn tick_label(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 { 0 } else { (-step.log10().floor()) as usize };
    let text = format!("{:.*}", decimals, value.abs());
    let (whole, fraction) = text.split_once('.').map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if value < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') { "-" } else { "" };
    match fraction {
        Some(fraction) => format!("{sign}{grouped}.{fraction}"),
        None => format!("{sign}{grouped}"),
    }
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The start of an SVG document of `width` × `height` with a title.
pub fn document(width: f64, height: f64, title: &str, subtitle: &str) -> String {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif">
<style>.title {{ font-size: 13px; font-weight: bold }} .axis {{ font-size: 11px; fill: #444 }} .note {{ font-size: 11px; fill: #666 }}</style>
<rect width="100%" height="100%" fill="white"/>
<text x="16" y="20" font-size="15">{}</text>
<text x="16" y="38" class="note">{}</text>
"##,
        escape(title),
        escape(subtitle)
    )
}

/// One plotting area: where it is on the page, and the ranges of its two axes.
pub struct Panel {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
    pub x: (f64, f64),
    pub y: (f64, f64),
}

impl Panel {
    pub fn x_at(&self, value: f64) -> f64 {
        let (from, to) = self.x;
        self.left + (value - from) / (to - from).max(f64::MIN_POSITIVE) * self.width
    }

    pub fn y_at(&self, value: f64) -> f64 {
        let (from, to) = self.y;
        self.top + self.height - (value - from) / (to - from).max(f64::MIN_POSITIVE) * self.height
    }

    /// The title above the panel and the value axis: grid lines and labels at `y_ticks`
    /// (first, step, last), each label followed by `unit`.
    pub fn frame(&self, out: &mut String, title: &str, y_ticks: (f64, f64, f64), unit: &str) {
        let _ =
            writeln!(out, r#"<text x="{}" y="{}" class="title">{}</text>"#, self.left, self.top - 10.0, escape(title));
        let (first, step, last) = y_ticks;
        let mut value = first;
        while value <= last + step / 2.0 {
            let y = self.y_at(value);
            let _ = writeln!(
                out,
                r##"<line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" class="axis" text-anchor="end">{} {}</text>"##,
                self.left,
                self.left + self.width,
                self.left - 6.0,
                y + 4.0,
                tick_label(value, step),
                unit
            );
            value += step;
        }
        let bottom = self.top + self.height;
        let _ = writeln!(
            out,
            r##"<line x1="{:.1}" x2="{:.1}" y1="{bottom:.1}" y2="{bottom:.1}" stroke="#888"/>"##,
            self.left,
            self.left + self.width
        );
    }

    /// The horizontal axis: a tick and a label at each of `labels` (value, text), and the
    /// axis's name under them.
    pub fn x_axis(&self, out: &mut String, labels: &[(f64, String)], name: &str) {
        let bottom = self.top + self.height;
        for (value, text) in labels {
            let x = self.x_at(*value);
            let _ = writeln!(
                out,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{bottom:.1}" y2="{:.1}" stroke="#888"/><text x="{x:.1}" y="{:.1}" class="axis" text-anchor="middle">{}</text>"##,
                bottom + 4.0,
                bottom + 16.0,
                escape(text)
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" class="axis" text-anchor="middle">{}</text>"#,
            self.left + self.width / 2.0,
            bottom + 32.0,
            escape(name)
        );
    }

    /// A line through `points`, with a tooltip.
    pub fn line(&self, out: &mut String, points: &[(f64, f64)], colour: &str, name: &str) {
        let points: Vec<String> =
            points.iter().map(|(x, y)| format!("{:.1},{:.1}", self.x_at(*x), self.y_at(*y))).collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"><title>{}</title></polyline>"#,
            points.join(" "),
            escape(name)
        );
    }

    /// A dot at each of `points`.
    pub fn dots(&self, out: &mut String, points: &[(f64, f64)], colour: &str, name: &str) {
        for (x, y) in points {
            let _ = writeln!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{colour}"><title>{}: {}</title></circle>"#,
                self.x_at(*x),
                self.y_at(*y),
                escape(name),
                tick_label(*y, 0.01)
            );
        }
    }

    /// A horizontal interval bar from `low` to `high` at height `y` (the panel's y is then a
    /// row index), with a mark at `estimate`.
    pub fn interval(&self, out: &mut String, y: f64, low: f64, estimate: f64, high: f64, colour: &str) {
        let (yy, l, e, h) = (self.y_at(y), self.x_at(low), self.x_at(estimate), self.x_at(high));
        let _ = writeln!(
            out,
            r#"<line x1="{l:.1}" x2="{h:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="{colour}" stroke-width="3"/><line x1="{l:.1}" x2="{l:.1}" y1="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2"/><line x1="{h:.1}" x2="{h:.1}" y1="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2"/><circle cx="{e:.1}" cy="{yy:.1}" r="4" fill="{colour}"/>"#,
            yy - 5.0,
            yy + 5.0,
            yy - 5.0,
            yy + 5.0
        );
    }

    /// A shaded vertical band from `from` to `to` on the horizontal axis.
    pub fn band(&self, out: &mut String, from: f64, to: f64, colour: &str) {
        let (l, r) = (self.x_at(from), self.x_at(to));
        let _ = writeln!(
            out,
            r#"<rect x="{l:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}" opacity="0.35"/>"#,
            self.top,
            (r - l).max(0.0),
            self.height
        );
    }

    /// A legend in the panel's top right corner: a swatch and a name per entry.
    pub fn legend(&self, out: &mut String, entries: &[(&str, &str)]) {
        let mut x = self.left + self.width - 100.0 * entries.len() as f64;
        for (name, colour) in entries {
            let _ = writeln!(
                out,
                r#"<rect x="{x:.1}" y="{:.1}" width="12" height="4" fill="{colour}"/><text x="{:.1}" y="{:.1}" class="axis">{}</text>"#,
                self.top - 15.0,
                x + 16.0,
                self.top - 10.0,
                escape(name)
            );
            x += 100.0;
        }
    }
}

/// Time-axis labels for `0..=seconds`: about six ticks on 1, 2, 5, 10, 15, 30 s or minutes.
pub fn time_labels(seconds: f64) -> Vec<(f64, String)> {
    let step = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0]
        .into_iter()
        .find(|step| seconds / step <= 7.0)
        .unwrap_or(3600.0);
    let mut labels = Vec::new();
    let mut at = 0.0;
    while at <= seconds + 1e-9 {
        let text = if step >= 60.0 {
            format!("{}:{:02}", (at / 60.0) as u64, (at % 60.0) as u64)
        } else {
            format!("{at:.0} s")
        };
        labels.push((at, text));
        at += step;
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_numbers_and_cover_the_range() {
        assert_eq!(ticks(0.0, 1_500.0, 4), (0.0, 500.0, 1_500.0));
        assert_eq!(ticks(0.0, 17_000.0, 4), (0.0, 5_000.0, 20_000.0));
        assert_eq!(ticks(0.0, 3.2, 4), (0.0, 1.0, 4.0));
        let (first, step, last) = ticks(0.9, 1.12, 4);
        assert!((step - 0.1).abs() < 1e-12 && first <= 0.9 && last >= 1.12 && (last - first) / step < 5.0);
    }

    #[test]
    fn tick_labels_are_exact_and_distinct() {
        let (first, step, last) = ticks(0.0, 1_500.0, 4);
        let mut labels = Vec::new();
        let mut value = first;
        while value <= last {
            labels.push(tick_label(value, step));
            value += step;
        }
        assert_eq!(labels, ["0", "500", "1,000", "1,500"]);
        assert_eq!(tick_label(0.25, 0.05), "0.25");
        assert_eq!(tick_label(20_000.0, 5_000.0), "20,000");
        assert_eq!(tick_label(-0.0, 1.0), "0");
    }

    #[test]
    fn time_ticks_are_round_and_few() {
        let labels: Vec<String> = time_labels(30.0).into_iter().map(|(_, text)| text).collect();
        assert_eq!(labels, ["0 s", "5 s", "10 s", "15 s", "20 s", "25 s", "30 s"]);
        assert_eq!(time_labels(300.0).last().unwrap().1, "5:00");
        assert!(time_labels(3.0).len() == 4);
    }
}
