//! The charts a person looks at — a run's `chart.svg` and a comparison's `compare.svg` — opened
//! in a real headless browser (Debian's Chromium driven by playwright-core, as the dashboard test
//! does): every label inside the picture, no two labels on top of each other, value axes that
//! read in order with distinct labels (1,500 never shown as "2k"), a time axis with ticks.

use std::collections::BTreeMap;
use std::path::Path;

use billing_load::compare::stats::{self, Figure, RoundSample, Settings};
use billing_load::compare::{
    CompareReport, EndpointComparison, Outcome, RoundFigures, RoundRecord, SERVER_SIDE, SideDescription, SideName,
};
use billing_load::latency::LatencyHistogram;
use billing_load::recorder::SecondFigures;
use billing_load::summary::Machine;
use serde_json::Value;

/// What the browser laid out.
struct Layout {
    width: f64,
    height: f64,
    texts: Vec<Value>,
}

async fn open_in_browser(svg: &str, dir: &Path, name: &str) -> Layout {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard");
    assert!(
        scripts.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run scripts/test (or `npm ci --prefix load/tests/dashboard`)"
    );
    let chart = dir.join(format!("{name}.svg"));
    std::fs::write(&chart, svg).unwrap();
    let screenshot = dir.join(format!("{name}.png"));
    let output = tokio::process::Command::new("node")
        .arg(scripts.join("chart-labels.mjs"))
        .arg(&chart)
        .arg(&screenshot)
        .current_dir(&scripts)
        .output()
        .await
        .expect("node runs");
    assert!(output.status.success(), "the browser failed: {}", String::from_utf8_lossy(&output.stderr));
    let read: Value = serde_json::from_slice(&output.stdout).expect("the script prints what it read");
    assert_eq!(&std::fs::read(&screenshot).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    if let Some(keep) = std::env::var_os("LOAD_CHART_SCREENSHOTS") {
        std::fs::copy(&screenshot, Path::new(&keep).join(format!("{name}.png"))).unwrap();
    }
    Layout {
        width: read["width"].as_f64().unwrap(),
        height: read["height"].as_f64().unwrap(),
        texts: read["texts"].as_array().unwrap().clone(),
    }
}

fn boxed(text: &Value) -> (f64, f64, f64, f64) {
    let number = |key: &str| text[key].as_f64().unwrap();
    (number("x"), number("y"), number("width"), number("height"))
}

/// Every label inside the picture and apart from every other.
fn assert_readable(layout: &Layout) {
    let texts: Vec<&Value> = layout.texts.iter().filter(|t| !t["text"].as_str().unwrap().is_empty()).collect();
    for text in &texts {
        let (x, y, width, height) = boxed(text);
        assert!(
            x >= -0.5 && y >= -0.5 && x + width <= layout.width + 0.5 && y + height <= layout.height + 0.5,
            "{text} is outside the {}x{} picture",
            layout.width,
            layout.height
        );
    }
    for (index, a) in texts.iter().enumerate() {
        for b in &texts[index + 1..] {
            let (ax, ay, aw, ah) = boxed(a);
            let (bx, by, bw, bh) = boxed(b);
            let overlap = (ax + aw).min(bx + bw) - ax.max(bx);
            let overlap_y = (ay + ah).min(by + bh) - ay.max(by);
            assert!(overlap <= 1.0 || overlap_y <= 1.0, "labels on top of each other: {a} and {b}");
        }
    }
}

/// The labels ending in `unit`, as numbers, in groups of one axis each (the same left edge of
/// the plot: right-anchored labels at the same x), each read top to bottom.
fn axis_values(layout: &Layout, unit: &str) -> Vec<Vec<f64>> {
    let mut axes: BTreeMap<i64, Vec<(f64, f64)>> = BTreeMap::new();
    for text in &layout.texts {
        let words = text["text"].as_str().unwrap();
        let Some(number) = words.strip_suffix(unit) else { continue };
        let value: f64 = number.trim().replace(',', "").parse().unwrap_or_else(|_| panic!("{words:?} is not a number"));
        let (x, y, width, _) = boxed(text);
        axes.entry(((x + width) / 5.0).round() as i64).or_default().push((y, value));
    }
    let mut by_panel = Vec::new();
    for mut labels in axes.into_values() {
        labels.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Split into panels where labels jump far apart vertically.
        let mut panel = vec![labels[0].1];
        for pair in labels.windows(2) {
            if pair[1].0 - pair[0].0 > 120.0 {
                by_panel.push(std::mem::take(&mut panel));
            }
            panel.push(pair[1].1);
        }
        by_panel.push(panel);
    }
    by_panel
}

fn assert_descending_and_distinct(axis: &[f64], what: &str) {
    assert!(axis.len() >= 3, "{what}: only {} labels: {axis:?}", axis.len());
    assert!(axis.windows(2).all(|pair| pair[0] > pair[1]), "{what} labels, top to bottom, must fall: {axis:?}");
}

fn second(at: i64, requests: u64, covered: f64, p95: f64) -> SecondFigures {
    let mut latency = LatencyHistogram::new();
    latency.record_us((p95 * 1e3) as u64, requests);
    SecondFigures {
        unix_second: at,
        requests,
        failures: 0,
        covered,
        p50_ms: p95 / 2.0,
        p95_ms: p95,
        p99_ms: p95 * 1.4,
        latency,
    }
}

#[tokio::test]
async fn a_runs_chart_reads_right_in_a_browser() {
    // A webhooks run as issue 15 saw it: about 1,500 req/s, p95 around 40 ms, a partial last second.
    let mut timeline: Vec<SecondFigures> =
        (0..30).map(|s| second(1_764_000_000 + s, 1_450 + (s as u64 * 37) % 120, 1.0, 38.0 + (s % 5) as f64)).collect();
    timeline.push(second(1_764_000_030, 210, 0.14, 41.0));
    let svg = billing_load::report::chart::svg("webhooks on http://127.0.0.1:8080", &timeline);
    let dir = tempfile::tempdir().unwrap();
    let layout = open_in_browser(&svg, dir.path(), "run-chart").await;
    assert_readable(&layout);
    let throughput = axis_values(&layout, " req/s");
    assert_eq!(throughput.len(), 1, "{throughput:?}");
    assert_descending_and_distinct(&throughput[0], "throughput");
    assert!(throughput[0].contains(&1_500.0) || throughput[0].iter().any(|v| *v > 1_500.0));
    let latency = axis_values(&layout, " ms");
    assert_descending_and_distinct(&latency[0], "latency");
    let times: Vec<f64> = layout
        .texts
        .iter()
        .filter_map(|t| t["text"].as_str().unwrap().strip_suffix(" s").and_then(|n| n.parse().ok()))
        .collect();
    assert!(times.len() >= 6, "the time axes have ticks: {times:?}");
    assert!(
        layout.texts.iter().any(|t| t["text"].as_str().unwrap().contains("left out")),
        "the partial second is said"
    );
}

fn comparison_report() -> CompareReport {
    let endpoint = "POST /api/v1/credentials/exchange";
    let (mut base, mut candidate, mut rounds) = (Vec::new(), Vec::new(), Vec::new());
    for pair in 1..=8usize {
        let machine = 1.0 + 0.1 * ((pair * 7) % 5) as f64 / 5.0;
        for (side, slower, samples) in [(SideName::Base, 1.0, &mut base), (SideName::Candidate, 1.15, &mut candidate)] {
            let mut latency = LatencyHistogram::new();
            for i in 0..2_000u64 {
                latency.record_us((2_000.0 * machine * slower * (1.0 + (i % 100) as f64 / 100.0)) as u64, 1);
            }
            let requests = (24_000.0 / (machine * slower)) as u64;
            let figures = RoundFigures {
                requests,
                failures: 0,
                rps: requests as f64 / 8.0,
                p50_ms: latency.quantile_ms(0.5),
                p95_ms: latency.quantile_ms(0.95),
                p99_ms: latency.quantile_ms(0.99),
            };
            let cpu_seconds = Some(requests as f64 * 40e-6 * slower);
            samples.push(RoundSample { requests, failures: 0, seconds: 8.0, latency, cpu_seconds });
            rounds.push(RoundRecord {
                pair,
                side,
                position: usize::from(side == SideName::Candidate),
                load_seconds: 8.0,
                cpu_us_per_request: cpu_seconds.map(|cpu| cpu * 1e6 / requests as f64),
                endpoints: BTreeMap::from([(endpoint.to_string(), figures)]),
            });
        }
    }
    let settings = Settings { resamples: 500, ..Settings::default() };
    let figures = Figure::ALL.iter().map(|figure| stats::compare(*figure, &base, &candidate, &settings)).collect();
    let cpu = vec![stats::compare(Figure::CpuPerRequest, &base, &candidate, &settings)];
    CompareReport {
        scenario: "credential-vending".into(),
        started_at: "2026-12-05T10:00:00Z".into(),
        duration_seconds: 150.0,
        machine: Machine { cores: 2, cpu_model: "test".into(), hostname: "test".into() },
        base: SideDescription { what: "old".into(), env: vec![] },
        candidate: SideDescription { what: "new".into(), env: vec![] },
        model: "closed".into(),
        users: 32,
        pairs: 8,
        round_seconds: 8.0,
        warm_up_seconds: 5.0,
        min_effect: 0.05,
        confidence: 0.95,
        seed: 1,
        rounds,
        endpoints: vec![
            EndpointComparison { endpoint: endpoint.into(), figures },
            EndpointComparison { endpoint: SERVER_SIDE.into(), figures: cpu },
        ],
        checks: BTreeMap::new(),
        outcome: Outcome::Regressed,
        reports: BTreeMap::new(),
    }
}

#[tokio::test]
async fn a_comparisons_chart_reads_right_in_a_browser() {
    let report = comparison_report();
    let svg = billing_load::compare::chart::svg(&report);
    let dir = tempfile::tempdir().unwrap();
    let layout = open_in_browser(&svg, dir.path(), "compare-chart").await;
    assert_readable(&layout);
    let throughput = axis_values(&layout, " req/s");
    assert_descending_and_distinct(&throughput[0], "throughput per round");
    let latency = axis_values(&layout, " ms");
    assert_descending_and_distinct(&latency[0], "p95 per round");
    // Each ratio axis (one per endpoint, at its own height), read left to right.
    let mut ratio_axes: BTreeMap<i64, Vec<(f64, f64)>> = BTreeMap::new();
    for text in &layout.texts {
        let Some(value) = text["text"].as_str().unwrap().strip_prefix('×').and_then(|v| v.parse().ok()) else {
            continue;
        };
        let (x, y, _, _) = boxed(text);
        ratio_axes.entry(y.round() as i64).or_default().push((x, value));
    }
    assert_eq!(ratio_axes.len(), 2, "a ratio axis for the endpoint and one for the server side's CPU");
    for ratios in ratio_axes.values_mut() {
        ratios.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(ratios.len() >= 3, "the ratio axis has ticks: {ratios:?}");
        assert!(ratios.windows(2).all(|pair| pair[0].1 < pair[1].1), "{ratios:?}");
    }
    let cpu = axis_values(&layout, " µs");
    assert_descending_and_distinct(&cpu[0], "CPU per request per round");
    for figure in ["throughput", "p50", "p95", "p99", "CPU per request"] {
        assert!(layout.texts.iter().any(|t| t["text"] == figure), "no row for {figure}");
    }
    let pairs = layout.texts.iter().filter(|t| t["text"].as_str().unwrap().parse::<u32>().is_ok()).count();
    assert!(pairs >= 8, "each pair of rounds is labelled on the round panels");
}
