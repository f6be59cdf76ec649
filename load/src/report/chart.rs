//! `chart.svg`: throughput and latency percentiles (p50, p95, p99) over the run, second by
//! second, in two panels sharing a time axis with ticks.
//!
//! Throughput is requests per second *of load*: the first and the last second of a run are
//! partial (the load starts and stops inside them), so each is scaled to the part it covered,
//! and one that covered less than half a second is left out (its rate would be noise).

use super::svg::{Panel, document, ticks, time_labels};
use crate::recorder::SecondFigures;

const WIDTH: f64 = 900.0;
const PANEL: f64 = 200.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 80.0;
const GAP: f64 = 90.0;

/// A second is drawn when the load covered at least this much of it.
const MIN_COVERED: f64 = 0.5;

/// The chart of a run's timeline, as an SVG document.
pub fn svg(title: &str, timeline: &[SecondFigures]) -> String {
    let shown: Vec<&SecondFigures> = timeline.iter().filter(|second| second.covered >= MIN_COVERED).collect();
    let first = shown.first().map_or(0, |second| second.unix_second);
    // A second is drawn at its middle, from the first second shown.
    let at = |second: &SecondFigures| (second.unix_second - first) as f64 + 0.5;
    let span = shown.last().map_or(1.0, |last| at(last) + 0.5).max(1.0);
    let height = TOP + 2.0 * PANEL + GAP + 60.0;
    let left_out = timeline.len() - shown.len();
    let mut out = document(
        WIDTH,
        height,
        title,
        &format!(
            "per second of load; partial first and last seconds scaled to the part they covered{}",
            if left_out > 0 { format!(", {left_out} under half a second left out") } else { String::new() }
        ),
    );

    let rates: Vec<(f64, f64)> = shown.iter().map(|second| (at(second), second.rate())).collect();
    let failures: Vec<(f64, f64)> = shown
        .iter()
        .map(|second| (at(second), second.failures as f64 / second.covered.max(f64::MIN_POSITIVE)))
        .collect();
    let peak = rates.iter().map(|(_, rate)| *rate).fold(0.0, f64::max);
    let y_ticks = ticks(0.0, peak.max(1.0), 4);
    let throughput =
        Panel { left: LEFT, top: TOP, width: WIDTH - LEFT - RIGHT, height: PANEL, x: (0.0, span), y: (0.0, y_ticks.2) };
    throughput.frame(&mut out, "Throughput", y_ticks, "req/s");
    throughput.line(&mut out, &rates, "#1f77b4", "requests per second");
    throughput.line(&mut out, &failures, "#d62728", "failures per second");
    throughput.legend(&mut out, &[("requests", "#1f77b4"), ("failures", "#d62728")]);
    throughput.x_axis(&mut out, &time_labels(span), "");

    let slowest = shown.iter().map(|second| second.p99_ms).fold(0.0, f64::max);
    let y_ticks = ticks(0.0, slowest.max(0.001), 4);
    let latency = Panel { top: TOP + PANEL + GAP, y: (0.0, y_ticks.2), ..throughput };
    latency.frame(&mut out, "Latency percentiles", y_ticks, "ms");
    let series = |pick: fn(&SecondFigures) -> f64| -> Vec<(f64, f64)> {
        shown.iter().map(|second| (at(second), pick(second))).collect()
    };
    latency.line(&mut out, &series(|s| s.p50_ms), "#2ca02c", "p50");
    latency.line(&mut out, &series(|s| s.p95_ms), "#ff7f0e", "p95");
    latency.line(&mut out, &series(|s| s.p99_ms), "#9467bd", "p99");
    latency.legend(&mut out, &[("p50", "#2ca02c"), ("p95", "#ff7f0e"), ("p99", "#9467bd")]);
    latency.x_axis(&mut out, &time_labels(span), "time into the run");
    out += "</svg>\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::LatencyHistogram;

    fn second(unix_second: i64, requests: u64, covered: f64) -> SecondFigures {
        SecondFigures {
            unix_second,
            requests,
            failures: 0,
            covered,
            p50_ms: 1.0,
            p95_ms: 2.0,
            p99_ms: 3.5,
            latency: LatencyHistogram::new(),
        }
    }

    #[test]
    fn the_chart_is_an_svg_with_a_line_per_series_and_time_ticks() {
        let timeline: Vec<SecondFigures> = (0..30).map(|s| second(1_700_000_000 + s, 1_500, 1.0)).collect();
        let svg = svg("onboarding <local>", &timeline);
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 5);
        assert!(svg.contains("onboarding &lt;local&gt;"));
        assert!(svg.contains(">5 s</text>") && svg.contains(">30 s</text>"), "{svg}");
        // 1,500 req/s on an axis of 0, 500, 1,000, 1,500: never rounded to "2k".
        assert!(svg.contains(">1,500 req/s</text>"), "{svg}");
        roxmltree::Document::parse(&svg).expect("well-formed XML");
    }

    #[test]
    fn a_partial_last_second_is_scaled_or_left_out_not_drawn_as_a_collapse() {
        let mut timeline: Vec<SecondFigures> = (0..5).map(|s| second(s, 1_000, 1.0)).collect();
        timeline.push(second(5, 600, 0.6));
        timeline.push(second(6, 100, 0.1));
        let svg = svg("t", &timeline);
        assert!(svg.contains("1 under half a second left out"), "{svg}");
        let throughput = svg.split("<polyline").nth(1).unwrap();
        let points = throughput.split("points=\"").nth(1).unwrap().split('"').next().unwrap();
        let ys: Vec<f64> = points.split(' ').map(|p| p.split(',').nth(1).unwrap().parse().unwrap()).collect();
        assert_eq!(ys.len(), 6, "the second under half covered is not drawn");
        assert!(ys.windows(2).all(|pair| (pair[0] - pair[1]).abs() < 0.5), "a flat line: {ys:?}");
    }
}
