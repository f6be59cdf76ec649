//! A comparison's reports: the terminal table, `compare.json`, `compare.md` (for a
//! pull-request comment) and `compare.svg`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use super::model::{CompareReport, Outcome, RoundFigures, RoundRecord, SideDescription, SideName};
use super::stats::{Comparison, Figure, Verdict};
use crate::report::table::Table;

/// Every report of a comparison, by kind, as they will be once written.
pub fn paths(dir: &Path) -> BTreeMap<String, String> {
    [("json", "compare.json"), ("markdown", "compare.md"), ("chart", "compare.svg")]
        .into_iter()
        .map(|(kind, file)| (kind.to_string(), dir.join(file).display().to_string()))
        .collect()
}

pub fn write(dir: &Path, report: &CompareReport) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("compare.json"), serde_json::to_string_pretty(report).expect("a report serializes"))?;
    std::fs::write(dir.join("compare.md"), markdown(report))?;
    std::fs::write(dir.join("compare.svg"), super::chart::svg(report))?;
    Ok(())
}

/// A figure's value, with its unit.
pub fn value(figure: Figure, value: Option<f64>) -> String {
    let Some(value) = value else { return "no samples".into() };
    match figure {
        Figure::Throughput => format!("{} req/s", crate::report::svg::tick_label(value.round(), 1.0)),
        Figure::ErrorRate => format!("{value:.2} %"),
        Figure::CpuPerRequest => format!("{value:.1} µs"),
        _ => crate::report::tables::ms(value),
    }
}

/// The change, its interval and what would settle it, in words.
pub fn describe(comparison: &Comparison, confidence: f64) -> String {
    let (Some(estimate), Some(low), Some(high)) = (comparison.estimate, comparison.low, comparison.high) else {
        return comparison.note.clone().unwrap_or_else(|| "no comparison".into());
    };
    let level = confidence * 100.0;
    let mut text = if comparison.figure.is_difference() {
        format!("{estimate:+.2} points ({level:.0} % interval {low:+.2} to {high:+.2})")
    } else {
        format!("{:+.1} % (ratio {estimate:.3}, {level:.0} % interval {low:.3} to {high:.3})", (estimate - 1.0) * 100.0)
    };
    if comparison.verdict == Verdict::Inconclusive {
        if let Some(note) = &comparison.note {
            let _ = write!(text, "; {note}");
        }
        match comparison.pairs_needed {
            Some(pairs) => {
                let _ = write!(text, "; about {pairs} pairs of rounds would settle it at this noise");
            }
            None => text += "; it sits on the minimum effect: more rounds will not settle it (change --min-effect)",
        }
    }
    text
}

fn comparisons_table(report: &CompareReport) -> Table {
    let mut table = Table::new(
        &["endpoint", "figure", "base", "candidate", "change", "verdict"],
        &[false, false, true, true, false, false],
    );
    for endpoint in &report.endpoints {
        for (index, comparison) in endpoint.figures.iter().enumerate() {
            table.row(vec![
                if index == 0 { endpoint.endpoint.clone() } else { String::new() },
                comparison.figure.label().into(),
                value(comparison.figure, comparison.base),
                value(comparison.figure, comparison.candidate),
                describe(comparison, report.confidence),
                comparison.verdict.label().into(),
            ]);
        }
    }
    table
}

fn checks_table(report: &CompareReport) -> Option<Table> {
    if report.checks.values().all(Vec::is_empty) {
        return None;
    }
    let mut table = Table::new(&["side", "after-run check", "verdict", "what"], &[false, false, false, false]);
    for (side, checks) in &report.checks {
        for check in checks {
            let mut what = check.detail.clone();
            if !check.passed && !check.problems.is_empty() {
                what = format!("{what}: {}", check.problems.join("; "));
            }
            table.row(vec![
                side.label().into(),
                check.name.clone(),
                if check.passed { "PASS" } else { "FAIL" }.into(),
                what,
            ]);
        }
    }
    Some(table)
}

fn rounds_table(report: &CompareReport) -> Table {
    let mut table = Table::new(
        &["pair", "order", "endpoint", "base req/s", "candidate req/s", "base p95", "candidate p95"],
        &[true, false, false, true, true, true, true],
    );
    for pair in 1..=report.pairs {
        let of = |side: SideName| report.rounds.iter().find(|round| round.pair == pair && round.side == side);
        let (Some(base), Some(candidate)) = (of(SideName::Base), of(SideName::Candidate)) else { continue };
        let order = if base.position == 0 { "base first" } else { "candidate first" };
        for endpoint in base.endpoints.keys() {
            let figure = |round: &RoundRecord, pick: fn(&RoundFigures) -> f64| round.endpoints.get(endpoint).map(pick);
            table.row(vec![
                pair.to_string(),
                order.into(),
                endpoint.clone(),
                value(Figure::Throughput, figure(base, |f| f.rps)),
                value(Figure::Throughput, figure(candidate, |f| f.rps)),
                value(Figure::P95, figure(base, |f| f.p95_ms)),
                value(Figure::P95, figure(candidate, |f| f.p95_ms)),
            ]);
        }
    }
    table
}

fn verdict_line(report: &CompareReport) -> String {
    let count = |verdict: Verdict| report.comparisons().filter(|(_, c)| c.verdict == verdict).count();
    let (regressed, inconclusive) = (count(Verdict::Regressed), count(Verdict::Inconclusive));
    let failed_checks = report.checks.values().flatten().filter(|check| !check.passed).count();
    match report.outcome {
        Outcome::Passed => format!(
            "PASSED: nothing regressed ({} no change, {} improved), every after-run check passed",
            count(Verdict::NoChange),
            count(Verdict::Improved)
        ),
        Outcome::Regressed => format!(
            "REGRESSED: {regressed} figure{} regressed beyond {:.1} %{}",
            if regressed == 1 { "" } else { "s" },
            report.min_effect * 100.0,
            if failed_checks > 0 { format!(", {failed_checks} after-run checks failed") } else { String::new() }
        ),
        Outcome::ChecksFailed => {
            format!("FAILED: {failed_checks} after-run check{} failed", if failed_checks == 1 { "" } else { "s" })
        }
        Outcome::Inconclusive => format!(
            "INCONCLUSIVE: nothing regressed, but {inconclusive} figure{} could not be told apart from a change of {:.1} % at this noise (see how many rounds would settle each)",
            if inconclusive == 1 { "" } else { "s" },
            report.min_effect * 100.0
        ),
    }
}

fn heading(report: &CompareReport) -> String {
    let load = if report.model == "open" { "open model".to_string() } else { format!("{} users", report.users) };
    format!(
        "{}: {} pairs of {:.0} s rounds, {load}, random order per pair (seed {}), minimum effect {:.1} %",
        report.scenario,
        report.pairs,
        report.round_seconds,
        report.seed,
        report.min_effect * 100.0
    )
}

fn side_line(name: &str, side: &SideDescription) -> String {
    if side.env.is_empty() {
        format!("{name}: {}", side.what)
    } else {
        format!("{name}: {} with {}", side.what, side.env.join(" "))
    }
}

/// The terminal report.
pub fn text(report: &CompareReport) -> String {
    let mut out = format!("\n== load compare {} ==\n", heading(report));
    let _ = writeln!(out, "  {}", side_line("base     ", &report.base));
    let _ = writeln!(out, "  {}", side_line("candidate", &report.candidate));
    let _ = writeln!(out, "  machine: {}\n", report.machine);
    out += &comparisons_table(report).text();
    if let Some(checks) = checks_table(report) {
        out += "\n";
        out += &checks.text();
    }
    let _ = writeln!(out, "\n{}", verdict_line(report));
    for (kind, path) in &report.reports {
        let _ = writeln!(out, "  {kind:<10} {path}");
    }
    out
}

/// The Markdown report, for a pull-request comment.
pub fn markdown(report: &CompareReport) -> String {
    let icon = match report.outcome {
        Outcome::Passed => "✅",
        Outcome::Regressed | Outcome::ChecksFailed => "❌",
        Outcome::Inconclusive => "❔",
    };
    let mut out = format!("### {icon} Load comparison — {}\n\n", heading(report));
    let _ = writeln!(out, "- {}", side_line("**base**", &report.base));
    let _ = writeln!(out, "- {}", side_line("**candidate**", &report.candidate));
    let _ = writeln!(out, "- machine: {}\n", report.machine);
    let _ = writeln!(out, "**{}**\n", verdict_line(report));
    out += &comparisons_table(report).markdown();
    if let Some(checks) = checks_table(report) {
        out += "\n#### After-run checks\n\n";
        out += &checks.markdown();
    }
    out += "\n<details><summary>Every round</summary>\n\n";
    out += &rounds_table(report).markdown();
    out += "\n</details>\n\n";
    let _ = writeln!(
        out,
        "Each figure is pooled over the rounds (percentiles from the merged histograms); the interval is a paired bootstrap over the pairs of rounds (expanded for few pairs). A figure **regressed** when its whole interval lies beyond the minimum effect in the bad direction, and is **inconclusive** when the interval is too wide to say."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comparison(figure: Figure, verdict: Verdict, estimate: f64, pairs_needed: Option<u64>) -> Comparison {
        Comparison {
            figure,
            base: Some(100.0),
            candidate: Some(100.0 * estimate),
            estimate: Some(estimate),
            low: Some(estimate - 0.05),
            high: Some(estimate + 0.05),
            verdict,
            pairs_needed,
            note: None,
        }
    }

    #[test]
    fn a_change_is_described_with_its_interval_and_what_would_settle_it() {
        let regressed = describe(&comparison(Figure::Throughput, Verdict::Regressed, 0.7, None), 0.95);
        assert_eq!(regressed, "-30.0 % (ratio 0.700, 95 % interval 0.650 to 0.750)");
        let open = describe(&comparison(Figure::P99, Verdict::Inconclusive, 1.02, Some(31)), 0.95);
        assert!(open.ends_with("about 31 pairs of rounds would settle it at this noise"), "{open}");
        let stuck = describe(&comparison(Figure::P99, Verdict::Inconclusive, 1.05, None), 0.95);
        assert!(stuck.contains("change --min-effect"), "{stuck}");
        let errors = describe(&comparison(Figure::ErrorRate, Verdict::NoChange, 0.1, None), 0.95);
        assert_eq!(errors, "+0.10 points (95 % interval +0.05 to +0.15)");
    }

    #[test]
    fn values_carry_their_units() {
        assert_eq!(value(Figure::Throughput, Some(31_234.4)), "31,234 req/s");
        assert_eq!(value(Figure::P95, Some(2.414)), "2.41 ms");
        assert_eq!(value(Figure::ErrorRate, None), "no samples");
    }
}
