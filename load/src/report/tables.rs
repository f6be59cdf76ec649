//! The run's summary as tables: plain text for the terminal, Markdown for a pull-request
//! comment. Both show the same things in the same order: per endpoint figures, threshold
//! verdicts, the baseline comparison, the open model, the after-run checks, and what broke.

use std::fmt::Write;

use super::table::Table;
use crate::summary::{RunSummary, describe_change};

/// A latency in milliseconds for a table.
pub fn ms(value: f64) -> String {
    if value < 10.0 { format!("{value:.2} ms") } else { format!("{value:.1} ms") }
}

fn endpoints(summary: &RunSummary) -> Table {
    let mut table = Table::new(
        &["endpoint", "requests", "req/s", "p50", "p95", "p99", "errors", "409", "429"],
        &[false, true, true, true, true, true, true, true, true],
    );
    for figures in summary.endpoints.iter().chain(std::iter::once(&summary.total)) {
        table.row(vec![
            figures.name.clone(),
            figures.requests.to_string(),
            format!("{:.0}", figures.rps),
            ms(figures.p50_ms),
            ms(figures.p95_ms),
            ms(figures.p99_ms),
            format!("{} ({:.2} %)", figures.failures, figures.error_rate_percent()),
            figures.conflicts.to_string(),
            figures.rate_limited.to_string(),
        ]);
    }
    table
}

fn thresholds(summary: &RunSummary) -> Option<Table> {
    if summary.thresholds.is_empty() {
        return None;
    }
    let mut table = Table::new(&["threshold", "observed", "verdict"], &[false, false, false]);
    for verdict in &summary.thresholds {
        table.row(vec![
            verdict.rule.clone(),
            verdict.observed.clone(),
            if verdict.passed { "PASS" } else { "FAIL" }.into(),
        ]);
    }
    Some(table)
}

fn baseline(summary: &RunSummary) -> Option<Table> {
    if summary.baseline.is_empty() {
        return None;
    }
    let mut table = Table::new(
        &["endpoint", "figure", "baseline", "now", "change", "verdict"],
        &[false, false, true, true, true, false],
    );
    for delta in &summary.baseline {
        table.row(vec![
            delta.endpoint.clone(),
            delta.metric.clone(),
            format!("{:.2}", delta.baseline),
            format!("{:.2}", delta.current),
            describe_change(delta),
            if delta.regressed { "REGRESSED" } else { "ok" }.into(),
        ]);
    }
    Some(table)
}

fn checks(summary: &RunSummary) -> Option<Table> {
    if summary.checks.is_empty() {
        return None;
    }
    let mut table = Table::new(&["after-run check", "verdict", "what"], &[false, false, false]);
    for check in &summary.checks {
        table.row(vec![check.name.clone(), if check.passed { "PASS" } else { "FAIL" }.into(), check.detail.clone()]);
    }
    Some(table)
}

fn broke(summary: &RunSummary) -> Option<Table> {
    let failures = summary.failures();
    if failures.is_empty() {
        return None;
    }
    let mut table = Table::new(&["what broke", "details"], &[false, false]);
    for (what, detail) in failures {
        table.row(vec![what, detail]);
    }
    Some(table)
}

fn heading(summary: &RunSummary) -> String {
    let model = match &summary.open_model {
        Some(open) => format!("open model, {:.0} req/s asked", open.asked_rate),
        None => format!("closed model, {} users", summary.users),
    };
    format!(
        "{} on {} ({}, worker {} of {}, {model}, {:.1} s)",
        summary.scenario,
        summary.target,
        summary.environment,
        summary.worker_index,
        summary.workers,
        summary.duration_seconds
    )
}

/// The terminal summary.
pub fn text(summary: &RunSummary) -> String {
    let mut out = format!("\n== load run: {} ==\n\n", heading(summary));
    out += &endpoints(summary).text();
    if let Some(open) = &summary.open_model {
        let _ = writeln!(out, "\n{}", open.note);
    }
    if let Some(co) = &summary.coordinated_omission {
        let _ = writeln!(out, "\n{co}");
    }
    for table in [thresholds(summary), baseline(summary), checks(summary), broke(summary)].into_iter().flatten() {
        out += "\n";
        out += &table.text();
    }
    if let Some(note) = &summary.baseline_note {
        let _ = writeln!(out, "\nbaseline: {note}");
    }
    let _ = writeln!(out, "\n{}", if summary.passed() { "PASSED" } else { "FAILED" });
    for (kind, path) in &summary.reports {
        let _ = writeln!(out, "  {kind:<10} {path}");
    }
    out
}

/// The Markdown summary, for a pull-request comment.
pub fn markdown(summary: &RunSummary) -> String {
    let verdict = if summary.passed() { "✅ passed" } else { "❌ failed" };
    let mut out = format!("### Load run {verdict}: {}\n\n", heading(summary));
    out += &endpoints(summary).markdown();
    if let Some(open) = &summary.open_model {
        let _ = writeln!(out, "\n{}", open.note);
    }
    if let Some(co) = &summary.coordinated_omission {
        let _ = writeln!(out, "\n{co}");
    }
    for (title, table) in [
        ("Thresholds", thresholds(summary)),
        ("Against the baseline", baseline(summary)),
        ("After-run checks", checks(summary)),
        ("What broke", broke(summary)),
    ] {
        if let Some(table) = table {
            let _ = writeln!(out, "\n#### {title}\n");
            out += &table.markdown();
        }
        if title == "Against the baseline"
            && let Some(note) = &summary.baseline_note
        {
            let _ = writeln!(out, "\n> {note}");
        }
    }
    out
}
