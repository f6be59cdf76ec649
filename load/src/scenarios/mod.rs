//! The scenarios, registered with goose by name — the shape of goose's `examples/umami`:
//! this module registers them, [`common`] holds the shared steps, and each kind of user has a
//! file of its own.

pub mod common;
pub mod credential_vending;
pub mod onboarding;
pub mod webhooks;

use std::sync::Arc;

use goose::prelude::*;

use crate::context::SharedContext;

/// A scenario `load run` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioName {
    Onboarding,
    CredentialVending,
    Webhooks,
    /// The three together, weighted.
    All,
    /// `GET /healthz`: the tool's own ceiling, for the comparison with wrk.
    Healthz,
}

impl ScenarioName {
    pub const ALL: [ScenarioName; 5] = [
        ScenarioName::Onboarding,
        ScenarioName::CredentialVending,
        ScenarioName::Webhooks,
        ScenarioName::All,
        ScenarioName::Healthz,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioName::Onboarding => "onboarding",
            ScenarioName::CredentialVending => "credential-vending",
            ScenarioName::Webhooks => "webhooks",
            ScenarioName::All => "all",
            ScenarioName::Healthz => "healthz",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            ScenarioName::Onboarding => {
                "new customers sign up (POST /api/v1/customers) with e-mails unique across workers, users, iterations and runs, from a mix of sources including gh_marketplace; expects 201, an API key and 5 credits; 409 and 429 counted apart"
            }
            ScenarioName::CredentialVending => {
                "API keys from a pool exchange for credentials (POST /api/v1/credentials/exchange), one or two providers and a TTL each; checks the credentials and their expiry; 429 counted apart; --verify-rate-limit proves the limit holds"
            }
            ScenarioName::Webhooks => {
                "Stripe-signed events (subscription created/updated/deleted, invoice paid/payment failed, payment method attached/detached) about Pro customers that exist, 10 % duplicates; after the run: credits = 60 x distinct paid invoices, no event applied twice, every ledger consistent"
            }
            ScenarioName::All => "the three together: users split 6 credential vending : 2 onboarding : 2 webhooks",
            ScenarioName::Healthz => "GET /healthz only: the load tool's own ceiling, to compare with wrk",
        }
    }

    /// The scenarios whose fixtures a run of this one needs.
    pub fn parts(self) -> Vec<ScenarioName> {
        match self {
            ScenarioName::All => {
                vec![ScenarioName::CredentialVending, ScenarioName::Onboarding, ScenarioName::Webhooks]
            }
            other => vec![other],
        }
    }

    /// The requests this scenario makes, as goose and the thresholds name them.
    pub fn requests(self) -> Vec<&'static str> {
        match self {
            ScenarioName::Onboarding => vec!["POST /api/v1/customers"],
            ScenarioName::CredentialVending => vec!["POST /api/v1/credentials/exchange"],
            ScenarioName::Webhooks => vec!["POST /api/webhooks/stripe"],
            ScenarioName::Healthz => vec!["GET /healthz"],
            ScenarioName::All => ScenarioName::All.parts().into_iter().flat_map(ScenarioName::requests).collect(),
        }
    }

    /// The share of users in `all`.
    fn weight(self) -> usize {
        match self {
            ScenarioName::CredentialVending => 6,
            _ => 2,
        }
    }
}

impl std::fmt::Display for ScenarioName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

type Step = for<'r> fn(
    &'r mut GooseUser,
    &'r crate::context::LoadContext,
) -> std::pin::Pin<Box<dyn Future<Output = TransactionResult> + Send + 'r>>;

/// A goose transaction running `step` with the run's shared context.
fn transaction(name: &str, context: &SharedContext, step: Step) -> Transaction {
    let context = Arc::clone(context);
    Transaction::new(Arc::new(move |user| {
        let context = Arc::clone(&context);
        Box::pin(async move { step(user, &context).await })
    }))
    .set_name(name)
}

fn on_start(context: &SharedContext) -> Transaction {
    let context = Arc::clone(context);
    Transaction::new(Arc::new(move |user| {
        common::start_user(user, &context);
        Box::pin(async { Ok(()) })
    }))
    .set_name("connect")
    .set_on_start()
}

/// The goose scenarios of `name`, ready to register.
pub fn goose_scenarios(name: ScenarioName, context: &SharedContext) -> Result<Vec<Scenario>, GooseError> {
    let mut scenarios = Vec::new();
    for part in name.parts() {
        let step: Step = match part {
            ScenarioName::Onboarding => |user, context| Box::pin(onboarding::sign_up(user, context)),
            ScenarioName::CredentialVending => |user, context| Box::pin(credential_vending::exchange(user, context)),
            ScenarioName::Webhooks => |user, context| Box::pin(webhooks::deliver(user, context)),
            ScenarioName::Healthz => |user, context| Box::pin(healthz(user, context)),
            ScenarioName::All => unreachable!("`all` is made of the other scenarios"),
        };
        let mut scenario = Scenario::new(part.as_str())
            .register_transaction(on_start(context))
            .register_transaction(transaction(part.as_str(), context, step));
        if name == ScenarioName::All {
            scenario = scenario.set_weight(part.weight())?;
        }
        scenarios.push(scenario);
    }
    Ok(scenarios)
}

async fn healthz(user: &mut GooseUser, context: &crate::context::LoadContext) -> TransactionResult {
    let Some(started) = common::start_clock(context).await else { return common::idle().await };
    let request = billing_stack::ApiRequest::healthz();
    common::send_and_record(user, context, started, "/healthz", &request, None, |answer| {
        common::expect(hyper::StatusCode::OK, answer, |_| Ok(()))
    })
    .await?;
    Ok(())
}
