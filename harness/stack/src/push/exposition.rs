//! The body of a push: a `prometheus-client` registry in the Prometheus text format 0.0.4, the format the
//! Pushgateway parses (Debian's 1.5.1 reads 0.0.4 text and protobuf, not OpenMetrics).
//!
//! `prometheus-client` is the encoder; it writes OpenMetrics text, which is 0.0.4 text almost line for line. Checked
//! against the real binary (see `tests/push.rs`), the differences are in the metric *descriptors* only, and this
//! module translates just those lines — samples pass through as the encoder wrote them:
//!
//! - A counter registered as `x` is described as `# TYPE x counter` but sampled as `x_total`. A 0.0.4 parser takes
//!   that for an empty family `x` and a new untyped family `x_total` (the gateway then serves
//!   `# TYPE x_total untyped` and loses the help). Its `# HELP`/`# TYPE`/`# UNIT` lines are renamed to `x_total`, so
//!   it arrives as the counter `x_total`, which is what Prometheus calls it.
//! - An info metric (`# TYPE x info`, sampled as `x_info`) has no 0.0.4 type: it becomes the gauge `x_info`
//!   (always 1), the 0.0.4 convention for info series.
//! - OpenMetrics' `unknown` is 0.0.4's `untyped`.
//! - Gauges and histograms (`_bucket{le=…}`, `_sum`, `_count`) are the same in both formats. The closing `# EOF` is
//!   left out ([`encode_registry`]); `# UNIT` lines are comments to a 0.0.4 parser and stay.
//!
//! Exemplars (`CounterWithExemplar`, `HistogramWithExemplars`) are OpenMetrics only: the Pushgateway rejects a push
//! that has them, with a 400 whose reason the error carries. Register plain counters and histograms for a push.
//!
//! `prometheus-client` writes label values verbatim (prometheus/client_rust#151), so a `"`, `\` or line feed in one
//! would break the whole push. [`LabelValue`] escapes them as both formats require; use it for any label whose value
//! is not known to be plain (names from users, URLs, error text).

use std::collections::HashMap;
use std::fmt::Write as _;

use prometheus_client::encoding::text::encode_registry;
use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};
use prometheus_client::registry::Registry;

/// A label value that is escaped when encoded (`\` → `\\`, `"` → `\"`, line feed → `\n`), unlike a `String`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct LabelValue(String);

impl LabelValue {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value as given, unescaped.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for LabelValue {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for LabelValue {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl EncodeLabelValue for LabelValue {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The registry as the Prometheus text format 0.0.4: what [`crate::push::Pushgateway::push`] sends.
pub fn encode(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut openmetrics = String::new();
    encode_registry(&mut openmetrics, registry)?;
    Ok(to_text_format(&openmetrics))
}

/// Rewrites the descriptor lines of counters, info metrics and `unknown` ones as described in the module docs.
fn to_text_format(openmetrics: &str) -> String {
    // A family's `# HELP` comes before its `# TYPE`: learn every family's kind first.
    let kinds: HashMap<&str, &str> =
        openmetrics.lines().filter_map(|line| line.strip_prefix("# TYPE ")?.rsplit_once(' ')).collect();
    let mut text = String::with_capacity(openmetrics.len() + 64);
    for line in openmetrics.lines() {
        match descriptor(line) {
            Some((keyword, name, rest)) => {
                let (suffix, text_kind) = match kinds.get(name).copied().unwrap_or_default() {
                    "counter" => ("_total", "counter"),
                    "info" => ("_info", "gauge"),
                    "unknown" => ("", "untyped"),
                    other => ("", other),
                };
                let rest = if keyword == "TYPE" { text_kind } else { rest };
                let _ = writeln!(text, "# {keyword} {name}{suffix} {rest}");
            }
            None => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}

/// `# HELP name text`, `# TYPE name kind` or `# UNIT name unit` as (keyword, name, rest).
fn descriptor(line: &str) -> Option<(&str, &str, &str)> {
    let rest = line.strip_prefix("# ")?;
    let (keyword, rest) = rest.split_once(' ')?;
    if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
        return None;
    }
    let (name, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((keyword, name, rest))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::metrics::info::Info;
    use prometheus_client::registry::Unit;

    use super::*;

    fn encoded(register: impl FnOnce(&mut Registry)) -> String {
        let mut registry = Registry::default();
        register(&mut registry);
        encode(&registry).unwrap()
    }

    #[test]
    fn a_counter_is_described_under_its_total_name_so_a_text_parser_keeps_it_a_counter() {
        let text = encoded(|r| {
            let requests = Counter::<u64>::default();
            requests.inc_by(3);
            r.register("load_requests", "Requests sent", requests);
        });
        assert_eq!(
            text,
            "# HELP load_requests_total Requests sent.\n# TYPE load_requests_total counter\nload_requests_total 3\n"
        );
    }

    #[test]
    fn a_counter_with_a_unit_keeps_its_unit_line_under_the_new_name() {
        let text = encoded(|r| {
            r.register_with_unit("busy", "Time spent", Unit::Seconds, Counter::<f64, AtomicU64>::default())
        });
        assert!(text.contains("# TYPE busy_seconds_total counter\n# UNIT busy_seconds_total seconds\n"), "{text}");
        assert!(text.contains("\nbusy_seconds_total 0"), "{text}");
    }

    #[test]
    fn gauges_and_histograms_pass_through_as_they_are_and_there_is_no_eof_line() {
        let text = encoded(|r| {
            let gauge = Gauge::<f64, AtomicU64>::default();
            gauge.set(1.25);
            r.register("run_duration_seconds", "How long", gauge);
            let latency = Histogram::new([0.1, 1.0]);
            latency.observe(0.05);
            latency.observe(0.5);
            r.register("latency_seconds", "Latency", latency);
        });
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                "# HELP run_duration_seconds How long.",
                "# TYPE run_duration_seconds gauge",
                "run_duration_seconds 1.25",
                "# HELP latency_seconds Latency.",
                "# TYPE latency_seconds histogram",
                "latency_seconds_sum 0.55",
                "latency_seconds_count 2",
                "latency_seconds_bucket{le=\"0.1\"} 1",
                "latency_seconds_bucket{le=\"1.0\"} 2",
                "latency_seconds_bucket{le=\"+Inf\"} 2",
            ]
        );
    }

    #[test]
    fn an_info_metric_becomes_a_gauge_named_info() {
        let text = encoded(|r| r.register("build", "Build", Info::new(vec![("version", "1.2")])));
        assert_eq!(text, "# HELP build_info Build.\n# TYPE build_info gauge\nbuild_info{version=\"1.2\"} 1\n");
    }

    #[test]
    fn label_values_escape_backslashes_quotes_and_line_feeds() {
        let text = encoded(|r| {
            let family = Family::<Vec<(&'static str, LabelValue)>, Gauge>::default();
            family.get_or_create(&vec![("target", LabelValue::new("C:\\path \"quoted\"\nnext ✓"))]).set(1);
            r.register("info", "Info", family);
        });
        assert!(text.contains(r#"info{target="C:\\path \"quoted\"\nnext ✓"} 1"#), "{text}");
    }
}
