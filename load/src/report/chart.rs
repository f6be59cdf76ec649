//! `chart.svg`: throughput and latency percentiles (p50, p95, p99) over the run, second by
//! second, in two panels sharing the time axis.
//!
//! Written by hand: two line charts are a few dozen SVG elements, while the charting crate
//! (plotters) would add its font stack to the build for text this file writes as `<text>`.

use std::fmt::Write;

use crate::timeline::SecondFigures;

const WIDTH: f64 = 900.0;
const PANEL: f64 = 220.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const GAP: f64 = 60.0;

/// A "nice" upper bound for an axis: 1, 2 or 5 × a power of ten, at least `max`.
fn nice_ceiling(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|step| step * power).find(|bound| *bound >= max).unwrap_or(10.0 * power)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

struct Panel<'a> {
    title: &'a str,
    unit: &'a str,
    top: f64,
    series: Vec<(&'a str, &'a str, Vec<f64>)>,
}

fn panel(out: &mut String, seconds: &[u64], panel: &Panel) {
    let plot_width = WIDTH - LEFT - RIGHT;
    let max = panel.series.iter().flat_map(|(_, _, values)| values.iter().copied()).fold(0.0, f64::max);
    let ceiling = nice_ceiling(max);
    let first = *seconds.first().unwrap_or(&0) as f64;
    let span = (*seconds.last().unwrap_or(&0) as f64 - first).max(1.0);
    let x = |second: u64| LEFT + (second as f64 - first) / span * plot_width;
    let y = |value: f64| panel.top + PANEL - value / ceiling * PANEL;
    let _ = writeln!(out, r#"<text x="{LEFT}" y="{}" class="title">{}</text>"#, panel.top - 10.0, escape(panel.title));
    for tick in 0..=4 {
        let value = ceiling * tick as f64 / 4.0;
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" class="axis" text-anchor="end">{} {}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(value) + 4.0,
            format_value(value),
            panel.unit,
            y = y(value)
        );
    }
    for (name, colour, values) in &panel.series {
        let points: Vec<String> =
            seconds.iter().zip(values).map(|(second, value)| format!("{:.1},{:.1}", x(*second), y(*value))).collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"><title>{name}</title></polyline>"#,
            points.join(" ")
        );
    }
    let mut legend_x = WIDTH - RIGHT - 90.0 * panel.series.len() as f64;
    for (name, colour, _) in &panel.series {
        let _ = writeln!(
            out,
            r#"<rect x="{legend_x}" y="{}" width="12" height="3" fill="{colour}"/><text x="{}" y="{}" class="axis">{}</text>"#,
            panel.top - 14.0,
            legend_x + 16.0,
            panel.top - 10.0,
            escape(name)
        );
        legend_x += 90.0;
    }
}

fn format_value(value: f64) -> String {
    if value >= 1000.0 {
        format!("{:.0}k", value / 1000.0)
    } else if value >= 10.0 || value == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// The chart of a run's timeline, as an SVG document.
pub fn svg(title: &str, timeline: &[SecondFigures]) -> String {
    let height = TOP + 2.0 * PANEL + GAP + 50.0;
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">
<style>.title {{ font-size: 14px; font-weight: bold }} .axis {{ font-size: 11px; fill: #444 }}</style>
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="18" font-size="15">{}</text>
"##,
        escape(title)
    );
    let seconds: Vec<u64> = timeline.iter().map(|second| second.second).collect();
    let throughput = Panel {
        title: "Throughput",
        unit: "req/s",
        top: TOP + 20.0,
        series: vec![
            ("requests", "#1f77b4", timeline.iter().map(|s| s.requests as f64).collect()),
            ("failures", "#d62728", timeline.iter().map(|s| s.failures as f64).collect()),
        ],
    };
    panel(&mut out, &seconds, &throughput);
    let latency = Panel {
        title: "Latency percentiles",
        unit: "ms",
        top: TOP + 20.0 + PANEL + GAP,
        series: vec![
            ("p50", "#2ca02c", timeline.iter().map(|s| s.p50_ms).collect()),
            ("p95", "#ff7f0e", timeline.iter().map(|s| s.p95_ms).collect()),
            ("p99", "#9467bd", timeline.iter().map(|s| s.p99_ms).collect()),
        ],
    };
    panel(&mut out, &seconds, &latency);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" class="axis" text-anchor="middle">seconds into the run ({} to {})</text>"#,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        height - 12.0,
        seconds.first().unwrap_or(&0),
        seconds.last().unwrap_or(&0)
    );
    out += "</svg>\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_an_svg_with_a_line_per_series() {
        let timeline: Vec<SecondFigures> = (0..10)
            .map(|second| SecondFigures {
                second,
                requests: 100 + second,
                failures: 0,
                p50_ms: 1.0,
                p95_ms: 2.0,
                p99_ms: 3.5,
            })
            .collect();
        let svg = svg("onboarding <local>", &timeline);
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 5);
        assert!(svg.contains("onboarding &lt;local&gt;"));
        // Well-formed enough for an XML parser.
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(17_000.0), 20_000.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
    }
}
