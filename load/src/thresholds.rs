//! Threshold rules, in goose's `--threshold` syntax (`p95<50ms`, `error-rate<1%`,
//! `rps>=1000`, `p99<5ms for POST /api/v1/credentials/exchange`), and their judging.
//!
//! A run's rules are its scenario's defaults (each scenario file says its own; `all` qualifies
//! each part's latency rules with its requests), or the file `--thresholds-file` names (TOML,
//! `[scenario] rules = [...]`), plus any `--threshold`.
//!
//! goose parses every rule first, so the grammar and its messages are goose's own; this module
//! then judges the rules itself, on the figures of the tool's own histograms: goose can only
//! judge its own metrics of one process, while `load merge` must judge the same rules once over
//! every worker's merged histograms, and a rule must mean the same thing in both.

use std::collections::BTreeMap;
use std::path::Path;

use goose::threshold::Threshold;

use crate::error::LoadError;
use crate::scenarios::Selection;
use crate::summary::{EndpointFigures, ThresholdVerdict};

#[derive(Debug, serde::Deserialize)]
struct ScenarioRules {
    rules: Vec<String>,
}

/// The rules of a run: `selection`'s defaults, or those `file` lists for it, unless
/// `no_defaults`; then `extra`. Every rule is checked before anything starts.
pub fn rules_for(
    selection: &Selection,
    file: Option<&Path>,
    no_defaults: bool,
    extra: &[String],
) -> Result<Vec<String>, LoadError> {
    let mut rules = Vec::new();
    if !no_defaults {
        match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|err| {
                    LoadError::Usage(format!("cannot read --thresholds-file {}: {err}", path.display()))
                })?;
                let table: BTreeMap<String, ScenarioRules> = toml::from_str(&text).map_err(|err| {
                    LoadError::Usage(format!(
                        "{} is not a thresholds file ({err}): write [SCENARIO] rules = [\"p95<50ms\", …]",
                        path.display()
                    ))
                })?;
                if let Some(listed) = table.get(selection.name()) {
                    rules.extend(listed.rules.iter().cloned());
                }
            }
            None => rules.extend(selection.default_thresholds()),
        }
    }
    rules.extend(extra.iter().cloned());
    for rule in &rules {
        rule.parse::<Rule>().map_err(LoadError::Usage)?;
    }
    Ok(rules)
}

/// What a rule measures.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    /// A latency percentile, in percent.
    Percentile(f64),
    Average,
    Maximum,
    /// Failed requests, in percent of all.
    ErrorRate,
    /// Requests per second over the load time.
    Rps,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Operator {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// One rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    text: String,
    metric: Metric,
    operator: Operator,
    /// Milliseconds for a time, percent for the error rate, requests per second for `rps`.
    limit: f64,
    /// The request it judges (`POST /path`), or every request together.
    request: Option<String>,
}

impl std::str::FromStr for Rule {
    type Err = String;

    fn from_str(text: &str) -> Result<Rule, String> {
        let refused = |err: &dyn std::fmt::Display| {
            format!(
                "threshold {text:?} is not a rule: {err} (examples: p95<50ms, error-rate<1%, rps>=1000, \"p99<5ms for POST /api/v1/credentials/exchange\")"
            )
        };
        text.parse::<Threshold>().map_err(|err| refused(&err))?;
        let text = text.trim();
        let (expression, request) = match text.split_once(" for ") {
            Some((expression, request)) => (expression.trim(), Some(request.trim().to_string())),
            None => (text, None),
        };
        let at = expression.find(['<', '>']).ok_or_else(|| refused(&"no comparison"))?;
        let (name, rest) = expression.split_at(at);
        let (operator, value) = match rest.as_bytes() {
            [b'<', b'=', ..] => (Operator::LessOrEqual, &rest[2..]),
            [b'>', b'=', ..] => (Operator::GreaterOrEqual, &rest[2..]),
            [b'<', ..] => (Operator::Less, &rest[1..]),
            _ => (Operator::Greater, &rest[1..]),
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().to_ascii_lowercase();
        let number = |digits: &str| digits.trim().parse::<f64>().map_err(|_| refused(&"not a number"));
        let metric = match name.as_str() {
            "avg" => Metric::Average,
            "max" => Metric::Maximum,
            "error-rate" => Metric::ErrorRate,
            "rps" => Metric::Rps,
            percentile => Metric::Percentile(number(percentile.trim_start_matches('p'))?),
        };
        let limit = match metric {
            Metric::ErrorRate => number(value.trim_end_matches('%'))?,
            Metric::Rps => number(&value)?,
            _ => {
                if let Some(us) = value.strip_suffix("us") {
                    number(us)? / 1e3
                } else if let Some(ms) = value.strip_suffix("ms") {
                    number(ms)?
                } else if let Some(seconds) = value.strip_suffix('s') {
                    number(seconds)? * 1e3
                } else {
                    number(&value)?
                }
            }
        };
        Ok(Rule { text: text.to_string(), metric, operator, limit, request })
    }
}

impl Rule {
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Judges the rule on a run's figures: the named request's, or the total's.
    pub fn judge(&self, endpoints: &[EndpointFigures], total: &EndpointFigures) -> ThresholdVerdict {
        let figures = match &self.request {
            Some(request) => endpoints.iter().find(|endpoint| &endpoint.name == request),
            None => Some(total),
        };
        let observed = figures.filter(|figures| figures.requests > 0).map(|figures| match self.metric {
            Metric::Percentile(percent) => figures.latency.quantile_ms(percent / 100.0),
            Metric::Average => figures.mean_ms,
            Metric::Maximum => figures.max_ms,
            Metric::ErrorRate => figures.error_rate_percent(),
            Metric::Rps => figures.rps,
        });
        let Some(observed) = observed else {
            return ThresholdVerdict { rule: self.text.clone(), observed: "no samples".into(), passed: false };
        };
        let passed = match self.operator {
            Operator::Less => observed < self.limit,
            Operator::LessOrEqual => observed <= self.limit,
            Operator::Greater => observed > self.limit,
            Operator::GreaterOrEqual => observed >= self.limit,
        };
        let shown = match self.metric {
            Metric::ErrorRate => format!("{observed:.2}%"),
            Metric::Rps => format!("{observed:.1} req/s"),
            _ => format_ms(observed),
        };
        ThresholdVerdict { rule: self.text.clone(), observed: shown, passed }
    }
}

/// A latency for a person: `850us`, `2.41ms`, `1.20s`.
pub fn format_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{:.0}us", ms * 1e3)
    } else if ms < 1000.0 {
        format!("{ms:.2}ms")
    } else {
        format!("{:.2}s", ms / 1e3)
    }
}

/// Judges every rule (each parsed when the run started, so they parse).
pub fn judge_all(rules: &[String], endpoints: &[EndpointFigures], total: &EndpointFigures) -> Vec<ThresholdVerdict> {
    rules
        .iter()
        .map(|rule| rule.parse::<Rule>().expect("checked when the run started").judge(endpoints, total))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::LatencyHistogram;

    fn figures(name: &str, latencies_ms: &[u64], failures: u64, rps: f64) -> EndpointFigures {
        let mut latency = LatencyHistogram::new();
        for ms in latencies_ms {
            latency.record(std::time::Duration::from_millis(*ms));
        }
        let tally = crate::recorder::EndpointTally {
            requests: latencies_ms.len() as u64,
            failures,
            conflicts: 0,
            rate_limited: 0,
            latency,
        };
        EndpointFigures::from_tally(name, &tally, rps)
    }

    fn judge(rule: &str, endpoint: &EndpointFigures) -> ThresholdVerdict {
        rule.parse::<Rule>().unwrap().judge(std::slice::from_ref(endpoint), endpoint)
    }

    #[test]
    fn every_scenario_has_default_rules_that_parse() {
        for selection in crate::scenarios::every_selection() {
            let rules = rules_for(&selection, None, false, &[]).unwrap();
            assert!(!rules.is_empty(), "{selection} has no default thresholds");
        }
    }

    #[test]
    fn latency_error_rate_and_throughput_rules_are_judged_on_the_figures() {
        let endpoint = figures("POST /x", &(1..=100).collect::<Vec<_>>(), 2, 1500.0);
        assert!(judge("p95<96ms", &endpoint).passed);
        let broke = judge("p95<90ms", &endpoint);
        assert!(!broke.passed);
        assert!(broke.observed.starts_with("95.0") && broke.observed.ends_with("ms"), "{}", broke.observed);
        assert!(judge("p99<=100ms", &endpoint).passed);
        assert!(judge("max<0.11s", &endpoint).passed && !judge("max<100ms", &endpoint).passed);
        assert!(judge("avg<51000us", &endpoint).passed);
        assert!(judge("error-rate<3%", &endpoint).passed && !judge("error-rate<2", &endpoint).passed);
        assert!(judge("rps>=1500", &endpoint).passed && !judge("rps>1500", &endpoint).passed);
        assert_eq!(judge("error-rate<1%", &endpoint).observed, "2.00%");
    }

    #[test]
    fn a_rule_for_one_request_judges_that_request_only_and_fails_without_samples() {
        let fast = figures("GET /fast", &[1, 1, 1], 0, 3.0);
        let slow = figures("GET /slow", &[500, 500], 0, 2.0);
        let total = figures("all", &[1, 1, 1, 500, 500], 0, 5.0);
        let endpoints = [fast, slow];
        let rule: Rule = "p95<10ms for GET /fast".parse().unwrap();
        assert!(rule.judge(&endpoints, &total).passed);
        let rule: Rule = "p95<10ms".parse().unwrap();
        assert!(!rule.judge(&endpoints, &total).passed);
        let rule: Rule = "p95<10ms for GET /nowhere".parse().unwrap();
        let verdict = rule.judge(&endpoints, &total);
        assert!(!verdict.passed && verdict.observed == "no samples");
    }

    #[test]
    fn rules_given_on_the_command_line_are_added_and_checked_with_examples() {
        let onboarding = Selection::parse("onboarding").unwrap();
        let rules = rules_for(&onboarding, None, true, &["rps>=1000".into()]).unwrap();
        assert_eq!(rules, vec!["rps>=1000"]);
        let err = rules_for(&onboarding, None, true, &["p95 below 50".into()]).unwrap_err();
        assert!(matches!(err, LoadError::Usage(_)));
        assert!(err.to_string().contains("p95<50ms"), "{err}");
        assert!("p100<2s".parse::<Rule>().is_err(), "goose refuses a rule that can never pass");
    }

    #[test]
    fn a_thresholds_file_replaces_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "[webhooks]\nrules = [\"p99<1s\"]\n").unwrap();
        let webhooks = Selection::parse("webhooks").unwrap();
        assert_eq!(rules_for(&webhooks, Some(&path), false, &[]).unwrap(), vec!["p99<1s"]);
        let onboarding = Selection::parse("onboarding").unwrap();
        assert!(rules_for(&onboarding, Some(&path), false, &[]).unwrap().is_empty());
        std::fs::write(&path, "[webhooks\n").unwrap();
        assert!(matches!(rules_for(&webhooks, Some(&path), false, &[]), Err(LoadError::Usage(_))));
    }
}
