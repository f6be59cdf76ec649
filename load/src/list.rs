//! `load list`: the scenarios, what each does, and their default thresholds.

use crate::scenarios::ScenarioName;
use crate::thresholds;

pub fn text() -> String {
    let defaults = thresholds::defaults();
    let mut out = String::new();
    for scenario in ScenarioName::ALL {
        out += &format!("{scenario}\n  {}\n", scenario.describe());
        out += &format!("  requests: {}\n", scenario.requests().join(", "));
        let rules = defaults.get(scenario.as_str()).cloned().unwrap_or_default();
        out += &format!(
            "  default thresholds: {}\n\n",
            if rules.is_empty() { "none".to_string() } else { rules.join(", ") }
        );
    }
    out += "Thresholds: load/thresholds.toml (built in; --thresholds-file replaces it, --threshold adds rules).\n";
    out
}
