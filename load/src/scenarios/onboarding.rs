//! Onboarding: new customers sign up, each with an e-mail no other worker, user, iteration or
//! run uses, from a mix of sources (`gh_marketplace` among them).
//!
//! A signup must answer 201 with an API key and 5 trial credits. A 409 (the e-mail exists)
//! and a 429 (the per-IP signup limit) are counted apart, not as errors.

use billing_stack::{ApiRequest, Signup};
use goose::prelude::*;
use hyper::StatusCode;

use super::common;
use crate::context::LoadContext;

pub const PATH: &str = "/api/v1/customers";

/// Where signups come from, in the proportions they are sent.
pub const SOURCES: [Option<&str>; 5] =
    [None, Some("gh_marketplace"), Some("organic"), Some("gh_marketplace"), Some("referral")];

/// Credits every new customer starts with.
pub const TRIAL_CREDITS: i64 = billing_service::pricing::TRIAL_CREDITS as i64;

pub async fn sign_up(user: &mut GooseUser, context: &LoadContext) -> TransactionResult {
    let Some(started) = common::start_clock(context).await else { return common::idle().await };
    let state = common::state(user);
    state.iteration += 1;
    let email = format!("{}@example.com", context.run.unique("load", state.user, state.iteration));
    let source = SOURCES[(state.iteration as usize + state.user) % SOURCES.len()];
    let request = ApiRequest::signup(&email, "Load Test", source);
    common::send_and_record(user, context, started, PATH, &request, None, |answer| {
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
