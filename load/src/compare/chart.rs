//! `compare.svg`: per endpoint, each pair's throughput and p95 for both sides (so a person sees
//! the noise the verdict had to see through), then each figure's candidate/base ratio with its
//! interval, against the band of "no change" (± the minimum effect).

use super::model::{CompareReport, EndpointComparison, RoundRecord, SERVER_SIDE, SideName};
use super::stats::Verdict;
use crate::report::svg::{Panel, document, escape, tick_label, ticks};

const WIDTH: f64 = 900.0;
const LEFT: f64 = 110.0;
const RIGHT: f64 = 30.0;
const PANEL: f64 = 150.0;
/// Room above a panel (title, legend) and below it (its axis).
const ABOVE: f64 = 40.0;
const BELOW: f64 = 50.0;
/// Room on the right of the ratio panel for each row's verdict.
const VERDICTS: f64 = 150.0;
const BASE_COLOUR: &str = "#1f77b4";
const CANDIDATE_COLOUR: &str = "#ff7f0e";

fn verdict_colour(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Regressed => "#d62728",
        Verdict::Improved => "#2ca02c",
        Verdict::NoChange => "#555555",
        Verdict::Inconclusive => "#9467bd",
    }
}

/// A figure of one round, as the round panels draw it.
type RoundValue = fn(&RoundRecord, &str) -> Option<f64>;

/// The round panels of an endpoint: what each draws, its title and unit.
fn round_panels(endpoint: &str) -> Vec<(RoundValue, &'static str, &'static str)> {
    if endpoint == SERVER_SIDE {
        vec![(|round, _| round.cpu_us_per_request, "CPU per request, per round", "µs")]
    } else {
        vec![
            (|round, endpoint| round.endpoints.get(endpoint).map(|f| f.rps), "throughput per round", "req/s"),
            (|round, endpoint| round.endpoints.get(endpoint).map(|f| f.p95_ms), "p95 per round", "ms"),
        ]
    }
}

/// The chart: for each endpoint, its round panels (each round's figure, both sides) and its
/// ratio panel (each figure's candidate/base ratio with its interval and verdict).
pub fn svg(report: &CompareReport) -> String {
    let panel_height = ABOVE + PANEL + BELOW;
    let blocks: f64 = report
        .endpoints
        .iter()
        .map(|endpoint| (round_panels(&endpoint.endpoint).len() + 1) as f64 * panel_height)
        .sum();
    let height = 60.0 + blocks.max(panel_height);
    let mut out = document(
        WIDTH,
        height,
        &format!("load compare {}: candidate against base", report.scenario),
        &format!(
            "{} pairs of {:.0} s rounds; intervals at {:.0} %; the grey band is ±{:.1} % (no change)",
            report.pairs,
            report.round_seconds,
            report.confidence * 100.0,
            report.min_effect * 100.0
        ),
    );
    let mut top = 60.0 + ABOVE;
    for endpoint in &report.endpoints {
        for (value_of, title, unit) in round_panels(&endpoint.endpoint) {
            rounds_panel(&mut out, report, &endpoint.endpoint, top, (value_of, title, unit));
            top += panel_height;
        }
        ratio_panel(&mut out, report, endpoint, top);
        top += panel_height;
    }
    out += "</svg>\n";
    out
}

/// One figure of every round of an endpoint, base and candidate, by pair.
fn rounds_panel(
    out: &mut String,
    report: &CompareReport,
    endpoint: &str,
    top: f64,
    (value_of, title, unit): (RoundValue, &str, &str),
) {
    let series = |side: SideName| -> Vec<(f64, f64)> {
        report
            .rounds
            .iter()
            .filter(|round| round.side == side)
            .filter_map(|round| Some((round.pair as f64, value_of(round, endpoint)?)))
            .collect()
    };
    let (base, candidate) = (series(SideName::Base), series(SideName::Candidate));
    let values = base.iter().chain(&candidate).map(|(_, value)| *value);
    let (low, high) = values.fold((f64::MAX, 0.0f64), |(low, high), value| (low.min(value), high.max(value)));
    let y_ticks = if low <= high { ticks(low * 0.95, high * 1.05, 4) } else { ticks(0.0, 1.0, 4) };
    let panel = Panel {
        left: LEFT,
        top,
        width: WIDTH - LEFT - RIGHT,
        height: PANEL,
        x: (0.5, report.pairs as f64 + 0.5),
        y: (y_ticks.0, y_ticks.2),
    };
    panel.frame(out, &format!("{endpoint} — {title}"), y_ticks, unit);
    panel.line(out, &base, BASE_COLOUR, "base");
    panel.dots(out, &base, BASE_COLOUR, "base");
    panel.line(out, &candidate, CANDIDATE_COLOUR, "candidate");
    panel.dots(out, &candidate, CANDIDATE_COLOUR, "candidate");
    panel.legend(out, &[("base", BASE_COLOUR), ("candidate", CANDIDATE_COLOUR)]);
    let pair_step = (report.pairs as f64 / 10.0).ceil().max(1.0) as usize;
    let labels: Vec<(f64, String)> =
        (1..=report.pairs).step_by(pair_step).map(|pair| (pair as f64, pair.to_string())).collect();
    panel.x_axis(out, &labels, "pair of rounds");
}

/// An endpoint's ratios, one row per figure (the error rate is a difference, shown in the
/// tables), each with its interval, the no-change band and the verdict written on its right.
fn ratio_panel(out: &mut String, report: &CompareReport, endpoint: &EndpointComparison, top: f64) {
    let width = WIDTH - LEFT - RIGHT;
    let ratios: Vec<_> = endpoint
        .figures
        .iter()
        .filter(|comparison| !comparison.figure.is_difference())
        .filter_map(|comparison| Some((comparison, comparison.low?, comparison.estimate?, comparison.high?)))
        .collect();
    let (low, high) =
        ratios.iter().fold((1.0 - report.min_effect, 1.0 + report.min_effect), |(l, h), r| (l.min(r.1), h.max(r.3)));
    let x_ticks = ticks(low - 0.02, high + 0.02, 6);
    let rows = ratios.len().max(1) as f64;
    // Narrower than the round panels: each row's verdict is written on its right.
    let panel =
        Panel { left: LEFT, top, width: width - VERDICTS, height: PANEL, x: (x_ticks.0, x_ticks.2), y: (0.0, rows) };
    *out += &format!(
        "<text x=\"{LEFT}\" y=\"{:.1}\" class=\"title\">{} — candidate / base, with {:.0} % intervals</text>\n",
        top - 10.0,
        escape(&endpoint.endpoint),
        report.confidence * 100.0
    );
    panel.band(out, 1.0 - report.min_effect, 1.0 + report.min_effect, "#cccccc");
    let one = panel.x_at(1.0);
    *out += &format!(
        "<line x1=\"{one:.1}\" x2=\"{one:.1}\" y1=\"{top:.1}\" y2=\"{:.1}\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>\n",
        top + PANEL
    );
    for (row, (comparison, low, estimate, high)) in ratios.iter().enumerate() {
        let y = rows - 0.5 - row as f64;
        let colour = verdict_colour(comparison.verdict);
        panel.interval(out, y, *low, *estimate, *high, colour);
        *out += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"end\">{}</text>\n",
            LEFT - 8.0,
            panel.y_at(y) + 4.0,
            comparison.figure.label()
        );
        *out += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"axis\" style=\"fill: {colour}\">{} {:+.1} %</text>\n",
            LEFT + width - VERDICTS + 12.0,
            panel.y_at(y) + 4.0,
            comparison.verdict.label(),
            (estimate - 1.0) * 100.0
        );
    }
    let mut labels = Vec::new();
    let mut value = x_ticks.0;
    while value <= x_ticks.2 + x_ticks.1 / 2.0 {
        labels.push((value, format!("×{}", tick_label(value, x_ticks.1))));
        value += x_ticks.1;
    }
    panel.x_axis(out, &labels, "candidate / base (throughput: higher is better; latency and CPU: lower is better)");
}
