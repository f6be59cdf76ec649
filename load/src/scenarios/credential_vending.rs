//! Credential vending: customers exchange their API keys for short-lived provider credentials,
//! one or two providers and a lifetime per request, from a pool of keys (created on the
//! embedded stack, read from the file `scripts/create-load-test-keys` writes for a remote one).
//!
//! Every answer is checked: the providers asked for, each token well formed, its expiry the
//! lifetime asked for from now. When the signing key is known (the embedded stack) a sample of
//! tokens is verified cryptographically as a provider would. Rate-limit hits (429) are counted
//! apart; the variant `--verify-rate-limit` makes the run fail unless the limit held for every
//! key (see [`RateLimitCheck`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use billing_stack::{ApiRequest, VendedCredentials};
use chrono::{DateTime, Utc};
use goose::prelude::*;
use hyper::StatusCode;

use crate::context::RoundContext;
use crate::error::LoadError;
use crate::scenario::{About, AfterRun, BoxFuture, Prepared, Scenario, Setup};
use crate::scenarios::common;
use crate::summary::CheckResult;
use crate::target::Needs;
use crate::transport::Answer;

pub const REQUEST: &str = "POST /api/v1/credentials/exchange";

/// The providers asked for, and the lifetimes, when the run does not say otherwise.
pub const PROVIDERS: [&str; 4] = ["github", "gitlab", "npm", "pypi"];
/// The service's default lifetime bounds (`CREDENTIAL_MIN_TTL_SECS`, `CREDENTIAL_MAX_TTL_SECS`).
pub const TTL_SECONDS: (u64, u64) = (60, 900);

/// One token in this many is verified with the signing key (HMAC and claims).
const VERIFY_ONE_IN: u64 = 16;

/// How far the service's clock may be from ours when checking an expiry.
const CLOCK_SLACK: Duration = Duration::from_secs(5);

/// API keys made on the embedded stack when `--fixtures` does not say.
const DEFAULT_KEYS: usize = 32;

static ABOUT: About = About {
    name: "credential-vending",
    description: "API keys from a pool exchange for credentials (POST /api/v1/credentials/exchange), one or two providers and a TTL each; checks the credentials and their expiry; 429 counted apart; --verify-rate-limit proves the limit holds",
    requests: &[REQUEST],
    weight_in_all: 6,
    // The embedded stack holds p95 2.4 ms on the reference machine: about 2x headroom.
    thresholds: &["p95<5ms", "error-rate<1%"],
    needs: Needs { api_keys: true, webhook_secret: false },
};

pub struct CredentialVending;

impl Scenario for CredentialVending {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn prepare<'a>(&'a self, setup: &'a Setup<'a>) -> BoxFuture<'a, Result<Arc<dyn Prepared>, LoadError>> {
        Box::pin(async move {
            let run = setup.run;
            let keys = match &setup.target.keys_file {
                Some(file) => crate::setup::shard(&file.api_keys, run.worker_index, run.workers),
                None => crate::setup::api_keys(&setup.api, run, setup.options.fixtures.unwrap_or(DEFAULT_KEYS).max(1))
                    .await
                    .map_err(|err| LoadError::setup("making API keys on the embedded stack", err))?,
            };
            if keys.is_empty() {
                return Err(LoadError::Usage(format!(
                    "worker {} of {} has no API key: the keys file needs at least one key per worker (scripts/create-load-test-keys --count N)",
                    run.worker_index, run.workers
                )));
            }
            let rate_limit = setup
                .options
                .verify_rate_limit
                .map(|limit| RateLimitCheck::new(limit.per_minute, limit.burst, keys.len()));
            Ok(Arc::new(VendingFixtures {
                keys,
                signing_key: setup.target.signing_key.clone(),
                rate_limit,
                verified: AtomicU64::new(0),
            }) as Arc<dyn Prepared>)
        })
    }
}

pub struct VendingFixtures {
    /// API keys; user *u* uses key *u* mod the pool's size.
    pub keys: Vec<String>,
    /// The service's credential signing key, when known.
    pub signing_key: Option<Vec<u8>>,
    /// Set by `--verify-rate-limit`: per-key tallies to prove the limit.
    pub rate_limit: Option<RateLimitCheck>,
    /// Tokens verified with the signing key.
    pub verified: AtomicU64,
}

impl Prepared for VendingFixtures {
    fn step<'a>(&'a self, user: &'a mut GooseUser, round: &'a RoundContext) -> BoxFuture<'a, TransactionResult> {
        Box::pin(exchange(self, user, round))
    }

    fn after_run<'a>(&'a self, after: &'a AfterRun) -> BoxFuture<'a, Vec<CheckResult>> {
        Box::pin(async move {
            let Some(check) = &self.rate_limit else { return Vec::new() };
            let problems = check.problems(after.load_time);
            let (accepted, limited) = check.totals();
            vec![CheckResult {
                name: "rate limit".into(),
                passed: problems.is_empty(),
                detail: format!(
                    "{accepted} exchanges let through and {limited} refused with 429 at {}/min, burst {}, per key",
                    check.per_minute, check.burst
                ),
                problems,
            }]
        })
    }
}

async fn exchange(fixtures: &VendingFixtures, user: &mut GooseUser, round: &RoundContext) -> TransactionResult {
    let Some(started) = common::start_clock(round).await else { return common::idle().await };
    let state = common::state(user);
    state.iteration += 1;
    let (user_index, iteration) = (state.user, state.iteration);
    let key_index = user_index % fixtures.keys.len();
    let pick = mix(user_index as u64, iteration);
    let first = PROVIDERS[(pick % 4) as usize];
    let second = PROVIDERS[((pick / 4) % 4) as usize];
    let providers: Vec<&str> =
        if pick.is_multiple_of(3) && first != second { vec![first, second] } else { vec![first] };
    let ttl = TTL_SECONDS.0 + (pick / 16) % (TTL_SECONDS.1 - TTL_SECONDS.0 + 1);
    let request = ApiRequest::exchange_credentials(&providers, Some(ttl));
    let verify = fixtures.signing_key.as_deref().filter(|_| pick.is_multiple_of(VERIFY_ONE_IN));
    let answer =
        common::send_and_record(user, round, started, REQUEST, &request, Some(&fixtures.keys[key_index]), |answer| {
            common::expect(StatusCode::OK, answer, |body| {
                check_credentials(&request, body, &providers, ttl, verify, Utc::now())
            })
        })
        .await;
    if verify.is_some()
        && answer.as_ref().is_ok_and(|answer| answer.as_ref().is_some_and(|a| a.status == StatusCode::OK))
    {
        fixtures.verified.fetch_add(1, Ordering::Relaxed);
    }
    if let (Some(check), Ok(Some(answer))) = (&fixtures.rate_limit, &answer) {
        check.count(key_index, answer);
    }
    answer.map(|_| ())
}

/// A cheap, well-spread number from a user and an iteration (no shared RNG on the hot path).
fn mix(user: u64, iteration: u64) -> u64 {
    let mut x = user.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ iteration.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 29)
}

/// Vended credentials: one per provider asked for, in order, each a `bkc_` token expiring
/// `ttl` seconds from `now`; verified with `signing_key` when given.
pub fn check_credentials(
    request: &ApiRequest,
    body: &[u8],
    providers: &[&str],
    ttl: u64,
    signing_key: Option<&[u8]>,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let vended: VendedCredentials =
        request.decode(StatusCode::OK, body).map_err(|_| "not a credentials answer".to_string())?;
    if vended.credentials.len() != providers.len() {
        return Err(format!("{} credentials for {} providers", vended.credentials.len(), providers.len()));
    }
    let expected = now + chrono::Duration::seconds(ttl as i64);
    let slack = chrono::Duration::from_std(CLOCK_SLACK).expect("a small duration");
    for (credential, provider) in vended.credentials.iter().zip(providers) {
        if credential.provider != *provider {
            return Err(format!("credential for {}, asked for {provider}", credential.provider));
        }
        if !credential.token.starts_with("bkc_") {
            return Err("a token that is not bkc_…".into());
        }
        let expires: DateTime<Utc> =
            credential.expires_at.parse().map_err(|_| "an expiry that is not a time".to_string())?;
        if (expires - expected).abs() > slack {
            return Err(format!("expires at {expires}, not {ttl} s from now"));
        }
        if let Some(key) = signing_key {
            let claims = billing_service::credentials::token::verify_credential(&credential.token, key, now)
                .map_err(|err| format!("token does not verify: {err}"))?;
            if claims.provider != *provider {
                return Err("signed for another provider".into());
            }
        }
    }
    Ok(())
}

/// The variant that verifies the rate limit holds: per key, how many exchanges were let through
/// and how many were refused, so that after the run no key was let through more than the
/// limit allows (its burst plus its rate over the run) and every refusal said when to retry.
pub struct RateLimitCheck {
    pub per_minute: u32,
    pub burst: u32,
    accepted: Vec<AtomicU64>,
    limited: Vec<AtomicU64>,
    without_retry_after: AtomicU64,
}

impl RateLimitCheck {
    pub fn new(per_minute: u32, burst: u32, keys: usize) -> RateLimitCheck {
        RateLimitCheck {
            per_minute,
            burst,
            accepted: (0..keys).map(|_| AtomicU64::new(0)).collect(),
            limited: (0..keys).map(|_| AtomicU64::new(0)).collect(),
            without_retry_after: AtomicU64::new(0),
        }
    }

    fn count(&self, key: usize, answer: &Answer) {
        match answer.status {
            StatusCode::OK => {
                self.accepted[key].fetch_add(1, Ordering::Relaxed);
            }
            StatusCode::TOO_MANY_REQUESTS => {
                self.limited[key].fetch_add(1, Ordering::Relaxed);
                let retry_after = answer.headers.get(hyper::header::RETRY_AFTER).and_then(|value| value.to_str().ok());
                if retry_after.and_then(|value| value.parse::<u64>().ok()).is_none_or(|secs| secs < 1) {
                    self.without_retry_after.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }

    /// What broke, if anything, for a run that lasted `elapsed`.
    pub fn problems(&self, elapsed: Duration) -> Vec<String> {
        let allowed = self.burst as f64 + self.per_minute as f64 * elapsed.as_secs_f64() / 60.0;
        let mut problems = Vec::new();
        let mut limited_total = 0;
        for (key, (accepted, limited)) in self.accepted.iter().zip(&self.limited).enumerate() {
            let accepted = accepted.load(Ordering::Relaxed);
            limited_total += limited.load(Ordering::Relaxed);
            // One more than the arithmetic allows: the bucket may refill during the last request.
            if accepted as f64 > allowed.floor() + 1.0 {
                problems.push(format!(
                    "key #{key}: {accepted} exchanges let through in {:.1} s, the limit allows {:.0} ({}/min, burst {})",
                    elapsed.as_secs_f64(),
                    allowed,
                    self.per_minute,
                    self.burst
                ));
            }
        }
        if limited_total == 0 {
            problems.push(
                "no exchange was refused with 429: the load never reached the limit, so it was not verified (more users or a longer run)"
                    .into(),
            );
        }
        let missing = self.without_retry_after.load(Ordering::Relaxed);
        if missing > 0 {
            problems.push(format!("{missing} answers 429 without a Retry-After of at least 1 s"));
        }
        problems
    }

    pub fn totals(&self) -> (u64, u64) {
        let sum = |counts: &[AtomicU64]| counts.iter().map(|count| count.load(Ordering::Relaxed)).sum();
        (sum(&self.accepted), sum(&self.limited))
    }
}
