//! A run's reports, all in `--report-dir`: goose's own HTML, Markdown and JSON reports
//! (`report.html`, `report.md`, `report.json`, written by goose), and this tool's summary as
//! JSON (`summary.json`), Markdown for a pull-request comment (`summary.md`) and a chart of
//! throughput and latency percentiles over time (`chart.svg`). The terminal gets the same
//! summary as a table.

pub mod chart;
pub mod junit;
pub mod svg;
pub mod table;
pub mod tables;

use std::collections::BTreeMap;
use std::path::Path;

use crate::summary::RunSummary;

/// goose's reports, by the name this tool lists them under, and the file goose writes.
pub const GOOSE_REPORTS: [(&str, &str); 3] =
    [("html", "report.html"), ("goose-md", "report.md"), ("goose-json", "report.json")];

/// Every report of the run, by kind, as they will be once written.
pub fn report_paths(dir: &Path) -> BTreeMap<String, String> {
    let mut reports: BTreeMap<String, String> =
        GOOSE_REPORTS.iter().map(|(kind, file)| (kind.to_string(), dir.join(file).display().to_string())).collect();
    for (kind, file) in [("json", "summary.json"), ("markdown", "summary.md"), ("chart", "chart.svg")] {
        reports.insert(kind.to_string(), dir.join(file).display().to_string());
    }
    reports
}

/// Writes this tool's reports (goose has written its own).
pub fn write(dir: &Path, summary: &RunSummary) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("summary.json"), serde_json::to_string_pretty(summary).expect("a summary serializes"))?;
    std::fs::write(dir.join("summary.md"), tables::markdown(summary))?;
    let title = format!("{} on {} — {}", summary.scenario, summary.target, summary.started_at);
    std::fs::write(dir.join("chart.svg"), chart::svg(&title, &summary.timeline))?;
    Ok(())
}
