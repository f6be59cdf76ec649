//! Onboarding: new customers sign up, each with an e-mail no other worker, user, iteration,
//! round or run uses, from a mix of sources (`gh_marketplace` among them).
//!
//! A signup must answer 201 with an API key and the trial credits. A 409 (the e-mail exists)
//! and a 429 (the per-IP signup limit) are counted apart, not as errors. It needs no fixtures.

use std::sync::Arc;

use billing_stack::{ApiRequest, Signup};
use goose::prelude::*;
use hyper::StatusCode;

use crate::context::RoundContext;
use crate::error::LoadError;
use crate::scenario::{About, BoxFuture, Prepared, Scenario, Setup};
use crate::scenarios::common;
use crate::target::Needs;

pub const REQUEST: &str = "POST /api/v1/customers";

/// Where signups come from, in the proportions they are sent.
pub const SOURCES: [Option<&str>; 5] =
    [None, Some("gh_marketplace"), Some("organic"), Some("gh_marketplace"), Some("referral")];

/// Credits every new customer starts with.
pub const TRIAL_CREDITS: i64 = billing_service::pricing::TRIAL_CREDITS as i64;

static ABOUT: About = About {
    name: "onboarding",
    description: "new customers sign up (POST /api/v1/customers) with e-mails unique across workers, users, iterations, rounds and runs, from a mix of sources including gh_marketplace; expects 201, an API key and the trial credits; 409 and 429 counted apart",
    requests: &[REQUEST],
    weight_in_all: 2,
    // What the embedded stack holds on the reference machine with about 2x headroom (p95
    // measured 56 ms; load/README.md), so a run fails on a real regression, not on noise.
    thresholds: &["p95<100ms", "error-rate<1%"],
    needs: Needs::NOTHING,
};

pub struct Onboarding;

impl Scenario for Onboarding {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn prepare<'a>(&'a self, _setup: &'a Setup<'a>) -> BoxFuture<'a, Result<Arc<dyn Prepared>, LoadError>> {
        Box::pin(async { Ok(Arc::new(Signups) as Arc<dyn Prepared>) })
    }
}

struct Signups;

impl Prepared for Signups {
    fn step<'a>(&'a self, user: &'a mut GooseUser, round: &'a RoundContext) -> BoxFuture<'a, TransactionResult> {
        Box::pin(sign_up(user, round))
    }
}

async fn sign_up(user: &mut GooseUser, round: &RoundContext) -> TransactionResult {
    let Some(started) = common::start_clock(round).await else { return common::idle().await };
    let state = common::state(user);
    state.iteration += 1;
    let email = format!("{}@example.com", round.run.unique("load", state.user, state.iteration));
    let source = SOURCES[(state.iteration as usize + state.user) % SOURCES.len()];
    let request = ApiRequest::signup(&email, "Load Test", source);
    common::send_and_record(user, round, started, REQUEST, &request, None, |answer| {
        common::expect(StatusCode::CREATED, answer, |body| check_signup(&request, body, &email))
    })
    .await?;
    Ok(())
}

/// A signup's answer: the customer asked for, with a key and the trial credits.
pub fn check_signup(request: &ApiRequest, body: &[u8], email: &str) -> Result<(), String> {
    let signup: Signup = request.decode(StatusCode::CREATED, body).map_err(|_| "not a signup answer".to_string())?;
    if !signup.email.eq_ignore_ascii_case(email) {
        return Err("another customer's e-mail".into());
    }
    if !signup.api_key.starts_with("bk_") {
        return Err("no API key".into());
    }
    if signup.credit_balance != TRIAL_CREDITS {
        return Err(format!("{} credits, not {TRIAL_CREDITS}", signup.credit_balance));
    }
    Ok(())
}
