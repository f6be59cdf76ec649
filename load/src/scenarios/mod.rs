//! The scenarios, and the one registry that lists them — the shape of goose's
//! `examples/umami`: each kind of user is a file of its own that owns everything about it
//! (its name, what it does, its requests, its share of users in `all`, its default thresholds,
//! the fixtures it makes before the load, its step, and its after-run checks), [`common`] holds
//! the steps they share, and [`REGISTRY`] lists them, one line each.
//!
//! A new scenario is one file implementing [`Scenario`] (what one is: [`crate::scenario`]) (start from [`healthz`], the smallest)
//! and one line in [`REGISTRY`]; nothing else in the crate names it. `all` is not a scenario
//! of its own: it runs every registered scenario whose [`About::weight_in_all`] is above 0,
//! users split by those weights.

pub mod common;
pub mod credential_vending;
pub mod healthz;
pub mod onboarding;
pub mod webhooks;

use std::sync::Arc;

use goose::prelude::*;

use crate::context::RoundContext;
use crate::scenario::{Prepared, Scenario};
use crate::target::Needs;

/// Every scenario, one line each.
pub const REGISTRY: &[&dyn Scenario] =
    &[&onboarding::Onboarding, &credential_vending::CredentialVending, &webhooks::Webhooks, &healthz::Healthz];

/// The name that runs every scenario of [`REGISTRY`] with a weight in it, together.
pub const ALL: &str = "all";

/// What `load run SCENARIO` was asked for: one scenario, or `all`.
#[derive(Clone, Copy)]
pub struct Selection {
    name: &'static str,
    parts: &'static [&'static dyn Scenario],
    all: bool,
}

impl std::fmt::Debug for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl std::fmt::Display for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for Selection {
    fn eq(&self, other: &Selection) -> bool {
        self.name == other.name
    }
}

impl Selection {
    /// A registered scenario by name, or `all`.
    pub fn parse(name: &str) -> Result<Selection, String> {
        if name == ALL {
            return Ok(Selection { name: ALL, parts: REGISTRY, all: true });
        }
        REGISTRY
            .iter()
            .position(|scenario| scenario.about().name == name)
            .map(|index| Selection { name: REGISTRY[index].about().name, parts: &REGISTRY[index..=index], all: false })
            .ok_or_else(|| format!("{name:?} is not a scenario: choose one of {}", names().join(", ")))
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn is_all(&self) -> bool {
        self.all
    }

    /// The scenarios it runs, each with its share of the users.
    pub fn parts(&self) -> Vec<(&'static dyn Scenario, usize)> {
        if self.all {
            self.parts
                .iter()
                .filter(|scenario| scenario.about().weight_in_all > 0)
                .map(|scenario| (*scenario, scenario.about().weight_in_all))
                .collect()
        } else {
            self.parts.iter().map(|scenario| (*scenario, 1)).collect()
        }
    }

    /// Whether it runs the scenario called `name`.
    pub fn runs(&self, name: &str) -> bool {
        self.parts().iter().any(|(scenario, _)| scenario.about().name == name)
    }

    /// The requests it makes.
    pub fn requests(&self) -> Vec<&'static str> {
        self.parts().iter().flat_map(|(scenario, _)| scenario.about().requests.iter().copied()).collect()
    }

    /// Its default thresholds: a scenario's own; for `all`, each part's latency rules for its
    /// own requests (the parts' latencies differ by orders of magnitude) and one error rate
    /// over everything.
    pub fn default_thresholds(&self) -> Vec<String> {
        if !self.all {
            return self.parts[0].about().thresholds.iter().map(|rule| rule.to_string()).collect();
        }
        let mut rules = Vec::new();
        for (scenario, _) in self.parts() {
            for rule in scenario.about().thresholds.iter().filter(|rule| !rule.starts_with("error-rate")) {
                for request in scenario.about().requests {
                    rules.push(if rule.contains(" for ") { rule.to_string() } else { format!("{rule} for {request}") });
                }
            }
        }
        rules.push("error-rate<1%".into());
        rules
    }

    /// What its scenarios need of a deployed target.
    pub fn needs(&self) -> Needs {
        self.parts().iter().fold(Needs::NOTHING, |needs, (scenario, _)| needs.and(scenario.about().needs))
    }

    /// What it does, in words.
    pub fn describe(&self) -> String {
        if !self.all {
            return self.parts[0].about().description.to_string();
        }
        let split: Vec<String> =
            self.parts().iter().map(|(scenario, weight)| format!("{weight} {}", scenario.about().name)).collect();
        format!("every scenario together, users split {}", split.join(" : "))
    }
}

/// Every name `load run` takes.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|scenario| scenario.about().name).chain([ALL]).collect()
}

/// Every selection, for `load list`.
pub fn every_selection() -> Vec<Selection> {
    names().into_iter().map(|name| Selection::parse(name).expect("a registered name")).collect()
}

/// clap's parser for a scenario argument: the registered names (shown as the possible values
/// in `--help` and in the error for any other), each turned into its [`Selection`].
pub fn selection_parser() -> impl clap::builder::TypedValueParser<Value = Selection> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(names())
        .map(|name| Selection::parse(&name).expect("clap accepts only registered names"))
}

/// The goose scenarios of one round: for each part, a user that opens its connection and then
/// runs the part's step again and again.
pub fn goose_scenarios(
    selection: &Selection,
    prepared: &[(&'static dyn Scenario, Arc<dyn Prepared>)],
    round: &Arc<RoundContext>,
) -> Result<Vec<goose::goose::Scenario>, GooseError> {
    let mut scenarios = Vec::new();
    for ((scenario, weight), (_, part)) in selection.parts().into_iter().zip(prepared) {
        let name = scenario.about().name;
        let step = {
            let (round, part) = (Arc::clone(round), Arc::clone(part));
            Transaction::new(Arc::new(move |user| {
                let (round, part) = (Arc::clone(&round), Arc::clone(&part));
                Box::pin(async move { part.step(user, &round).await })
            }))
            .set_name(name)
        };
        let connect = {
            let round = Arc::clone(round);
            Transaction::new(Arc::new(move |user| {
                common::start_user(user, &round);
                Box::pin(async { Ok(()) })
            }))
            .set_name("connect")
            .set_on_start()
        };
        let mut goose_scenario =
            goose::goose::Scenario::new(name).register_transaction(connect).register_transaction(step);
        if selection.is_all() {
            goose_scenario = goose_scenario.set_weight(weight)?;
        }
        scenarios.push(goose_scenario);
    }
    Ok(scenarios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_scenario_has_a_unique_name_requests_and_rules_goose_accepts() {
        let mut seen = std::collections::BTreeSet::new();
        for scenario in REGISTRY {
            let about = scenario.about();
            assert!(seen.insert(about.name), "{} is registered twice", about.name);
            assert_ne!(about.name, ALL);
            assert!(!about.requests.is_empty(), "{} names no request", about.name);
            for request in about.requests {
                let (method, path) = request.split_once(' ').expect("METHOD /path");
                assert!(method.chars().all(|c| c.is_ascii_uppercase()) && path.starts_with('/'), "{request}");
            }
            for rule in about.thresholds {
                rule.parse::<crate::thresholds::Rule>().unwrap_or_else(|err| panic!("{}: {rule}: {err}", about.name));
            }
        }
    }

    #[test]
    fn all_runs_the_weighted_scenarios_with_per_request_latency_rules() {
        let all = Selection::parse(ALL).unwrap();
        let parts: Vec<&str> = all.parts().iter().map(|(scenario, _)| scenario.about().name).collect();
        assert_eq!(parts, ["onboarding", "credential-vending", "webhooks"]);
        assert!(!all.runs("healthz"));
        let rules = all.default_thresholds();
        assert!(rules.contains(&"p95<5ms for POST /api/v1/credentials/exchange".to_string()), "{rules:?}");
        assert_eq!(rules.iter().filter(|rule| rule.starts_with("error-rate")).count(), 1, "{rules:?}");
        assert!(all.describe().contains("6 credential-vending"), "{}", all.describe());
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let err = Selection::parse("checkout").unwrap_err();
        assert!(err.contains("onboarding") && err.contains("all"), "{err}");
    }
}
