//! Threshold rules: the per-scenario defaults (`load/thresholds.toml`, compiled in; another
//! file with `--thresholds-file`) and the ones given with `--threshold`.
//!
//! Rules are goose's own (`p95<50ms`, `error-rate<1%`, `rps>=1000`, `… for POST /path`): they
//! are checked here with goose's parser, so a typo is a usage error before anything starts,
//! and goose judges them at the end of the run.

use std::collections::BTreeMap;
use std::path::Path;

use goose::threshold::Threshold;

use crate::error::LoadError;
use crate::scenarios::ScenarioName;

/// The defaults shipped with the tool.
pub const DEFAULT_THRESHOLDS: &str = include_str!("../thresholds.toml");

#[derive(Debug, serde::Deserialize)]
struct ScenarioRules {
    rules: Vec<String>,
}

/// The rules of a run: the scenario's defaults from `file` (or the compiled-in ones) unless
/// `no_defaults`, then `extra`.
pub fn rules_for(
    scenario: ScenarioName,
    file: Option<&Path>,
    no_defaults: bool,
    extra: &[String],
) -> Result<Vec<String>, LoadError> {
    let mut rules = Vec::new();
    if !no_defaults {
        let (text, origin) = match file {
            Some(path) => (
                std::fs::read_to_string(path).map_err(|err| {
                    LoadError::Usage(format!("cannot read --thresholds-file {}: {err}", path.display()))
                })?,
                path.display().to_string(),
            ),
            None => (DEFAULT_THRESHOLDS.to_string(), "the built-in thresholds".to_string()),
        };
        let table: BTreeMap<String, ScenarioRules> =
            toml::from_str(&text).map_err(|err| LoadError::Usage(format!("{origin} is not valid: {err}")))?;
        if let Some(defaults) = table.get(scenario.as_str()) {
            rules.extend(defaults.rules.iter().cloned());
        }
    }
    rules.extend(extra.iter().cloned());
    for rule in &rules {
        rule.parse::<Threshold>().map_err(|err| {
            LoadError::Usage(format!(
                "threshold {rule:?} is not a rule: {err} (examples: p95<50ms, error-rate<1%, rps>=1000, \"p99<5ms for POST /api/v1/credentials/exchange\")"
            ))
        })?;
    }
    Ok(rules)
}

/// Every scenario's default rules, for `load list`.
pub fn defaults() -> BTreeMap<String, Vec<String>> {
    let table: BTreeMap<String, ScenarioRules> =
        toml::from_str(DEFAULT_THRESHOLDS).expect("the built-in thresholds parse");
    table.into_iter().map(|(name, rules)| (name, rules.rules)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_has_default_rules_that_goose_accepts() {
        for scenario in ScenarioName::ALL {
            let rules = rules_for(scenario, None, false, &[]).unwrap();
            assert!(!rules.is_empty(), "{scenario} has no default thresholds");
        }
    }

    #[test]
    fn rules_given_on_the_command_line_are_added_and_checked() {
        let rules = rules_for(ScenarioName::Onboarding, None, true, &["rps>=1000".into()]).unwrap();
        assert_eq!(rules, vec!["rps>=1000"]);
        let err = rules_for(ScenarioName::Onboarding, None, true, &["p95 below 50".into()]).unwrap_err();
        assert!(matches!(err, LoadError::Usage(_)));
        assert!(err.to_string().contains("p95<50ms"), "{err}");
    }

    #[test]
    fn a_thresholds_file_replaces_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "[webhooks]\nrules = [\"p99<1s\"]\n").unwrap();
        assert_eq!(rules_for(ScenarioName::Webhooks, Some(&path), false, &[]).unwrap(), vec!["p99<1s"]);
        assert!(rules_for(ScenarioName::Onboarding, Some(&path), false, &[]).unwrap().is_empty());
        std::fs::write(&path, "[webhooks\n").unwrap();
        assert!(matches!(rules_for(ScenarioName::Webhooks, Some(&path), false, &[]), Err(LoadError::Usage(_))));
    }
}
