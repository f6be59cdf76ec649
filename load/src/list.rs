//! `load list`: the scenarios, what each does, its requests and its default thresholds.

use crate::scenarios;

pub fn text() -> String {
    let mut out = String::new();
    for selection in scenarios::every_selection() {
        out += &format!("{selection}\n  {}\n", selection.describe());
        out += &format!("  requests: {}\n", selection.requests().join(", "));
        let rules = selection.default_thresholds();
        out += &format!(
            "  default thresholds: {}\n\n",
            if rules.is_empty() { "none".to_string() } else { rules.join(", ") }
        );
    }
    out += "Thresholds: each scenario's own defaults (--thresholds-file replaces them, --threshold adds rules).\n";
    out
}
